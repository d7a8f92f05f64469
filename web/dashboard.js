// dashboard.js: the cards, the blocked-packets chart, top offenders and SIP methods.

import * as api from './api.js';
import { $, fmtNum, setStat } from './util.js';
import { keyedTable } from './table.js';
import { blockedChart } from './chart.js';

const REG_EVERY = 5;           // registrations (a long list) every 5th poll
const METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'UPDATE',
	'INFO', 'REFER', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'other'];

let chart, top, methods;
let scale = 'second';
let prev = null;               // {started, t} of the previous poll, for calls per second
let tick = 0;

function setScale(s) {
	scale = s;
	$('#chart-scale-second').setAttribute('aria-pressed', String(s === 'second'));
	$('#chart-scale-minute').setAttribute('aria-pressed', String(s === 'minute'));
}

export function init() {
	chart = blockedChart($('#blocked-chart'), $('#chart-legend'), $('#chart-tip'));
	top = keyedTable($('#top-offenders'), [
		{ label: 'Source', value: (o) => o.source },
		{ label: 'Packets', value: (o) => fmtNum(o.packets), cls: 'num' },
		{ label: 'Reason', value: (o) => o.reason },
		{ label: 'Banned', value: (o) => (o.banned ? 'yes' : 'no') },
	], (o) => o.source, 'Nothing blocked yet');
	methods = keyedTable($('#sip-methods'), [
		{ label: 'Method', value: (m) => m.name },
		{ label: 'Received', value: (m) => fmtNum(m.rx), cls: 'num' },
		{ label: 'Sent', value: (m) => fmtNum(m.tx), cls: 'num' },
	], (m) => m.name, 'No SIP requests yet');
	for (const s of ['second', 'minute']) {
		$('#chart-scale-' + s).addEventListener('click', async () => {
			setScale(s);
			try {
				chart.set(await api.get('guard.timeline', { scale }));
			} catch (e) {
				/* the next poll shows the error */
			}
		});
	}
}

function link(node, zones, name) {
	const z = (zones || []).find((x) => x.name === name);
	const text = !z ? 'unknown' : z.link_up ? 'up' : 'down';
	setStat(node, text, text);
	node.classList.toggle('up', text === 'up');
	node.classList.toggle('down', text === 'down');
}

function cps(b2bua) {
	const now = performance.now();
	const started = b2bua ? b2bua.calls_started : undefined;
	const node = $('#stat-cps');
	if (started === undefined) {
		setStat(node, '–');
		prev = null;
		return;
	}
	if (prev && started >= prev.started && now > prev.t) {
		const v = (started - prev.started) / ((now - prev.t) / 1000);
		setStat(node, v.toFixed(1), v.toFixed(2));
	}
	prev = { started, t: now };
}

function showMethods(sip) {
	const rx = (sip && sip.methods_rx) || {};
	const tx = (sip && sip.methods_tx) || {};
	const names = METHODS.filter((m) => m in rx || m in tx)
		.concat(Object.keys(rx).filter((m) => !METHODS.includes(m)));
	methods.update(names.map((m) => ({ name: m, rx: rx[m] ?? 0, tx: tx[m] ?? 0 }))
		.filter((m) => m.rx > 0 || m.tx > 0));
}

export function enter() {
	prev = null;
	tick = 0;
}

export async function refresh() {
	const cmds = [['status'], ['stats'], ['guard.stats'], ['guard.top', { n: 10 }],
		['guard.timeline', { scale }]];
	const withRegs = tick++ % REG_EVERY === 0;
	if (withRegs)
		cmds.push(['registrations']);
	const [status, stats, guard, offenders, timeline, regs] = await api.getAll(cmds);
	const b2bua = api.good(stats) ? stats.b2bua : null;

	setStat($('#stat-calls'), fmtNum(b2bua ? b2bua.calls_active : null), b2bua ? b2bua.calls_active : null);
	setStat($('#stat-leaks'), fmtNum(b2bua ? b2bua.leaks_blocked : null), b2bua ? b2bua.leaks_blocked : null);
	cps(b2bua);
	if (api.good(guard)) {
		setStat($('#stat-blocked'), fmtNum(guard.blocked), guard.blocked);
		setStat($('#stat-bans'), fmtNum(guard.bans), guard.bans);
	}
	if (withRegs && api.good(regs))
		setStat($('#stat-registrations'), fmtNum(regs.total), regs.total);
	if (api.good(status)) {
		link($('#link-public'), status.zones, 'public');
		link($('#link-private'), status.zones, 'private');
	}
	if (api.good(timeline) && (!timeline.scale || timeline.scale === scale))
		chart.set(timeline);
	if (api.good(offenders))
		top.update(offenders);
	if (api.good(stats))
		showMethods(stats.sip);
	const failed = [status, stats, guard, offenders, timeline].find((r) => !api.good(r));
	if (failed)
		throw failed.__error;
}
