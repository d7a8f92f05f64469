// lists.js: the calls (with hang up), registrations and trunks pages.

import * as api from './api.js';
import { $, el, fmtNum, fmtDuration, say, confirmDialog, act } from './util.js';
import { keyedTable, matches, countText } from './table.js';

let calls, regs, trunks;
let lastCalls = { calls: [], total: 0 };
let lastRegs = { registrations: [], total: 0 };
let pollNow = () => {};

const peer = (p) => (p ? `${p.address}:${p.port}/${p.transport}` : '–');
const leg = (l) => (l ? `${l.zone}: ${peer(l.peer)}` : '–');
const expires = (s) => (s === null || s === undefined ? 'pending' : 'in ' + fmtDuration(s));

async function hangup(c, button) {
	const msg = $('#calls-message');
	const who = `${c.caller || '?'} → ${c.callee || '?'}`;
	if (!await confirmDialog(`Hang up call ${c.id} (${who})?`, 'Hang up'))
		return;
	const r = await act(button, msg, () => api.post('calls.hangup', { id: c.id }));
	if (r !== undefined) {
		say(msg, `Call ${c.id} hung up`);
		pollNow();
	}
}

function showCalls() {
	const f = $('#calls-filter').value;
	const list = lastCalls.calls.filter((c) => matches(f, c.caller, c.callee, c.trunk, c.state,
		...(c.legs || []).map((l) => l.peer && l.peer.address)));
	const shown = calls.update(list);
	$('#calls-count').textContent = countText(shown, list.length, lastCalls.total, fmtNum) +
		(lastCalls.truncated ? ' (sbcd listed only part)' : '');
}

function showRegs() {
	const f = $('#registrations-filter').value;
	const list = lastRegs.registrations.filter((r) => matches(f, r.aor, r.contact && r.contact.address));
	const shown = regs.update(list);
	$('#registrations-count').textContent = countText(shown, list.length, lastRegs.total, fmtNum) +
		(lastRegs.truncated ? ' (sbcd listed only part)' : '');
}

export function init(poll) {
	pollNow = poll;
	calls = keyedTable($('#calls-table'), [
		{ label: 'Id', value: (c) => String(c.id), cls: 'num' },
		{ label: 'Caller', value: (c) => c.caller || '–' },
		{ label: 'Callee', value: (c) => c.callee || '–' },
		{ label: 'State', value: (c) => c.state },
		{ label: 'Duration', value: (c) => fmtDuration(c.duration) },
		{ label: 'Trunk', value: (c) => c.trunk || '–' },
		{ label: "Caller's side", value: (c) => leg(c.legs && c.legs[0]) },
		{ label: "Callee's side", value: (c) => leg(c.legs && c.legs[1]) },
		{ label: 'Actions', actions: (c) => {
			const b = el('button', { type: 'button', class: 'danger', 'aria-label': 'Hang up call ' + c.id, text: 'Hang up' });
			b.addEventListener('click', () => hangup(c, b));
			return [b];
		} },
	], (c) => c.id, 'No calls');
	regs = keyedTable($('#registrations-table'), [
		{ label: 'Address of record', value: (r) => r.aor },
		{ label: 'Contact', value: (r) => peer(r.contact) },
		{ label: 'Behind NAT', value: (r) => (r.nat ? 'yes' : 'no') },
		{ label: 'Expires at the SBC', value: (r) => expires(r.phone_expires) },
		{ label: 'Expires at the core', value: (r) => (r.core_expires === null ? 'not registered' : expires(r.core_expires)) },
	], (r) => r.aor + ' ' + peer(r.contact), 'No registrations');
	trunks = keyedTable($('#trunks-table'), [
		{ label: 'Name', value: (t) => t.name },
		{ label: 'Zone', value: (t) => t.zone },
		{ label: 'Address', value: (t) => `${t.address}:${t.port}/${t.transport}` },
		{ label: 'Active calls', value: (t) => fmtNum(t.active), cls: 'num' },
		{ label: 'Max calls', value: (t) => (t.max_calls ? fmtNum(t.max_calls) : 'unlimited'), cls: 'num' },
		{ label: 'Registration', value: (t) => t.registration },
		{ label: 'Last code', value: (t) => (t.last_code === null || t.last_code === undefined ? '–' : String(t.last_code)) },
	], (t) => t.name, 'No trunks configured');
	$('#calls-filter').addEventListener('input', showCalls);
	$('#registrations-filter').addEventListener('input', showRegs);
}

export const callsPage = {
	enter() { say($('#calls-message'), ''); },
	async refresh() {
		lastCalls = await api.get('calls');
		showCalls();
	},
};

export const regsPage = {
	async refresh() {
		lastRegs = await api.get('registrations');
		showRegs();
	},
};

export const trunksPage = {
	async refresh() {
		const r = await api.get('trunks');
		trunks.update(r.trunks);
		$('#trunks-count').textContent = '(' + fmtNum(r.total) + ')';
	},
};
