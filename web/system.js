// system.js: the SIP trace page and the system page (status, restart, password).

import * as api from './api.js';
import { $, fact, fmtNum, fmtBytes, fmtDuration, relTime, say, setStat, confirmDialog, act } from './util.js';
import { keyedTable } from './table.js';

const MB = 1024 * 1024;
let zones;
let pollNow = () => {};
let fileKnown = false;    // a trace ran since sbcd started: its pcap file exists
let restarting = false;

function showTrace(st) {
	const dl = $('#trace-status');
	dl.replaceChildren();
	fact(dl, 'State', st.running ? 'running' : 'stopped');
	fact(dl, 'Packets', fmtNum(st.packets));
	fact(dl, 'Size', fmtBytes(st.bytes) + (st.max_bytes ? ' of at most ' + fmtBytes(st.max_bytes) : ''));
	fact(dl, 'Zone', st.zone || '–');
	fact(dl, 'Started', st.started ? relTime(st.started) : 'never');
	if (st.stopped)
		fact(dl, 'Stopped', relTime(st.stopped));
	if (st.reason && !st.running)
		fact(dl, 'Why it stopped', st.reason);
	fact(dl, 'Time limit', st.max_s ? fmtDuration(st.max_s) : '–');
	fact(dl, 'File', st.file || '–');
	dl.dataset.running = String(!!st.running);
	$('#trace-start').disabled = !!st.running;
	$('#trace-stop').disabled = !st.running;
	if (st.started || st.bytes > 0)
		fileKnown = true;
	$('#trace-download').hidden = !fileKnown;
	$('#trace-nofile').hidden = fileKnown;
}

export const tracePage = {
	init(poll) {
		pollNow = poll;
		$('#trace-form').addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const msg = $('#trace-message');
			const args = {
				max_bytes: Math.round(Number($('#trace-max-mb').value) * MB),
				max_s: Math.round(Number($('#trace-max-s').value)),
				zone: $('#trace-zone').value,
			};
			const r = await act($('#trace-start'), msg, () => api.post('trace.start', args));
			if (r !== undefined) {
				say(msg, 'Trace started');
				if (r && typeof r === 'object' && 'running' in r)
					showTrace(r);
				pollNow();
			}
		});
		$('#trace-stop').addEventListener('click', async () => {
			const msg = $('#trace-message');
			const r = await act($('#trace-stop'), msg, () => api.post('trace.stop', {}));
			if (r !== undefined) {
				say(msg, 'Trace stopped');
				if (r && typeof r === 'object' && 'running' in r)
					showTrace(r);
				pollNow();
			}
		});
	},
	enter() {
		say($('#trace-message'), '');
	},
	async refresh() {
		showTrace(await api.get('trace.status'));
	},
};

function showStatus(st) {
	$('#sys-version').textContent = st.version;
	setStat($('#sys-uptime'), fmtDuration(st.uptime_s), st.uptime_s);
	$('#sys-uptime').title = 'since ' + new Date(Date.now() - st.uptime_s * 1000).toLocaleString();
	$('#sys-pid').textContent = String(st.pid);
	$('#sys-config').textContent = st.config;
	zones.update(st.zones || []);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// After system.restart: poll status until sbcd answers with a new uptime (at most 60 s).
async function restart() {
	const msg = $('#sys-message');
	if (!await confirmDialog('Restart sbcd? Calls in progress are dropped; the SBC is away for a few seconds.', 'Restart'))
		return;
	const button = $('#sys-restart');
	let before = null;
	try {
		before = await api.get('status');
	} catch (e) {
		/* restart anyway */
	}
	const r = await act(button, msg, () => api.post('system.restart', {}));
	if (r === undefined)
		return;
	restarting = true;
	button.disabled = true;
	say(msg, 'Restarting sbcd…');
	const t0 = Date.now();
	try {
		while (Date.now() - t0 < 60000) {
			await sleep(1000);
			let st;
			try {
				st = await api.get('status');
			} catch (e) {
				if (e.status === 401)
					return;
				continue;
			}
			if (!before || st.uptime_s < before.uptime_s || st.pid !== before.pid) {
				showStatus(st);
				say(msg, `sbcd is back (${Math.round((Date.now() - t0) / 1000)} s)`);
				return;
			}
		}
		say(msg, 'sbcd did not come back within 60 s: check its log', 'error');
	} finally {
		restarting = false;
		button.disabled = false;
	}
}

export const systemPage = {
	init() {
		zones = keyedTable($('#sys-zones'), [
			{ label: 'Zone', value: (z) => z.name },
			{ label: 'Interface', value: (z) => z.interface },
			{ label: 'Address', value: (z) => z.address ?? 'not resolved' },
			{ label: 'Link', value: (z) => (z.link_up ? 'up' : 'down') },
		], (z) => z.name, 'No zones');
		$('#sys-restart').addEventListener('click', restart);
		$('#password-form').addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const msg = $('#password-message');
			const nw = $('#pw-new').value;
			if (nw !== $('#pw-new2').value) {
				say(msg, 'The new passwords differ', 'error');
				return;
			}
			const r = await act(ev.submitter, msg, () => api.changePassword($('#pw-old').value, nw)
				.catch((e) => { throw e.status === 401 ? new Error('Wrong current password') : e; }));
			if (r !== undefined) {
				say(msg, 'Password changed');
				$('#password-form').reset();
				return;
			}
			// A 401 here is a wrong current password, or a session that ended.
			const s = await api.session().catch(() => null);
			if (s && !s.logged_in)
				api.unauthorized();
		});
	},
	enter() {
		if (!restarting)
			say($('#sys-message'), '');
		say($('#password-message'), '');
	},
	async refresh() {
		if (!restarting)
			showStatus(await api.get('status'));
	},
};
