// lists.js: the calls (with details and hang up), registrations and trunks pages.

import * as api from './api.js';
import { $, el, fact, fmtNum, fmtDuration, say, confirmDialog, act } from './util.js';
import { keyedTable, matches, countText } from './table.js';

let calls, regs, trunks, streams;
let details = null;       // the call in #call-details: {id, ended}, or null when closed
let lastCalls = { calls: [], total: 0 };
let lastRegs = { registrations: [], total: 0 };
let pollNow = () => {};

const peer = (p) => (p ? `${p.address}:${p.port}/${p.transport}` : '–');
const leg = (l) => (l ? `${l.zone}: ${peer(l.peer)}` : '–');
const expires = (s) => (s === null || s === undefined ? 'pending' : 'in ' + fmtDuration(s));
const zoneLeg = (c, zone) => (c.legs || []).find((l) => l.zone === zone);
const count = (v) => (typeof v === 'number' ? fmtNum(v) : '–');

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

// Open #call-details for call c; the next poll (at once) fills it.
function openDetails(c) {
	details = { id: c.id, ended: false };
	$('#call-details-id').textContent = String(c.id);
	say($('#call-details-status'), 'Loading…', 'info');
	$('#call-details-fields').replaceChildren();
	$('#call-details-body').hidden = true;
	streams.update([]);
	$('#call-details').hidden = false;
	$('#call-details').scrollIntoView({ block: 'nearest' });
	pollNow();
}

function closeDetails() {
	details = null;
	$('#call-details').hidden = true;
}

// The call is gone: its fields and streams go, "Call ended" stays until closed.
function detailsEnded() {
	details.ended = true;
	$('#call-details-body').hidden = true;
	$('#call-details-fields').replaceChildren();
	streams.update([]);
	say($('#call-details-status'), 'Call ended', 'info');
}

// One row per stream and zone, as sbcctl calls show prints them.
function streamRows(d) {
	const out = [];
	for (const s of d.streams || [])
		for (const zone of ['public', 'private'])
			out.push({ index: s.index, zone, z: s[zone] || {} });
	return out;
}

function showDetails(d) {
	const dl = $('#call-details-fields');
	const pub = zoneLeg(d, 'public'), priv = zoneLeg(d, 'private');
	dl.replaceChildren();
	fact(dl, 'Id', String(d.id));
	fact(dl, 'State', d.state);
	fact(dl, 'Duration', fmtDuration(d.duration));
	fact(dl, 'Answered', d.answered === null || d.answered === undefined ? 'not yet' : fmtDuration(d.answered) + ' ago');
	fact(dl, 'Caller', d.caller || '–');
	fact(dl, 'Callee', d.callee || '–');
	fact(dl, 'Trunk', d.trunk || '–');
	fact(dl, 'Public peer', pub ? peer(pub.peer) : '–');
	fact(dl, 'Private peer', priv ? peer(priv.peer) : '–');
	streams.update(streamRows(d));
	$('#call-details-body').hidden = false;
	say($('#call-details-status'), '');
}

// Poll the open call: gone from a complete calls list or "no call N" from
// calls.get means it ended (calls.get is then not asked again).
async function refreshDetails() {
	const id = details.id;
	if (!lastCalls.truncated && !lastCalls.calls.some((c) => c.id === id)) {
		detailsEnded();
		return;
	}
	let d;
	try {
		d = await api.get('calls.get', { id });
	} catch (e) {
		if (!details || details.id !== id)
			return;
		if (e.status === 400 && /^no call\b/.test(e.message))
			detailsEnded();
		else if ([0, 401, 502, 504].includes(e.status))
			throw e;
		else
			say($('#call-details-status'), e.message, 'error');
		return;
	}
	if (details && details.id === id && !details.ended)
		showDetails(d);
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
			const d = el('button', { type: 'button', 'aria-label': 'Details of call ' + c.id, 'aria-controls': 'call-details', text: 'Details' });
			d.addEventListener('click', () => openDetails(c));
			const b = el('button', { type: 'button', class: 'danger', 'aria-label': 'Hang up call ' + c.id, text: 'Hang up' });
			b.addEventListener('click', () => hangup(c, b));
			return [d, b];
		} },
	], (c) => c.id, 'No calls');
	streams = keyedTable($('#call-streams'), [
		{ label: 'Stream', value: (r) => String(r.index), cls: 'num' },
		{ label: 'Zone', value: (r) => r.zone },
		{ label: 'Port', value: (r) => (typeof r.z.port === 'number' ? String(r.z.port) : '–'), cls: 'num' },
		{ label: 'Packets', value: (r) => count(r.z.packets), cls: 'num' },
		{ label: 'Bytes', value: (r) => count(r.z.bytes), cls: 'num' },
		{ label: 'RTCP', value: (r) => count(r.z.rtcp_packets), cls: 'num' },
		{ label: 'Relayed', value: (r) => count(r.z.relayed), cls: 'num' },
		{ label: 'Dropped: source', value: (r) => count(r.z.dropped && r.z.dropped.source), cls: 'num' },
		{ label: 'Dropped: policing', value: (r) => count(r.z.dropped && r.z.dropped.policing), cls: 'num' },
		{ label: 'Dropped: no destination', value: (r) => count(r.z.dropped && r.z.dropped.no_dest), cls: 'num' },
		{ label: 'Lost', value: (r) => count(r.z.lost), cls: 'num' },
		{ label: 'Jitter (ms)', value: (r) => (typeof r.z.jitter_ms === 'number' ? r.z.jitter_ms.toFixed(2) : '–'), cls: 'num' },
		{ label: 'Latched', value: (r) => (r.z.latched ? `${r.z.latched.address}:${r.z.latched.port}` : '–') },
	], (r) => `${r.index} ${r.zone}`, 'No media streams');
	$('#call-details-close').addEventListener('click', closeDetails);
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
		if (details && !details.ended)
			await refreshDetails();
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
