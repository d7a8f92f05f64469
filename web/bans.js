// bans.js: the active bans (filter, unban, allow) and the allow list.

import * as api from './api.js';
import { $, el, fmtNum, fmtDuration, relTime, say, confirmDialog, act } from './util.js';
import { keyedTable, matches, countText } from './table.js';

let bans, allow;
let lastBans = [];
let pollNow = () => {};

function expiresIn(b) {
	if (!b.expires)
		return '–';
	return { text: fmtDuration(b.expires - Date.now() / 1000), title: new Date(b.expires * 1000).toLocaleString() };
}

async function unban(b, button) {
	const msg = $('#bans-message');
	if (!await confirmDialog(`Lift the ban of ${b.source}? Its packets are let through again until it misbehaves.`, 'Unban'))
		return;
	const r = await act(button, msg, () => api.post('guard.unban', { source: b.source }));
	if (r !== undefined) {
		say(msg, `${b.source} unbanned`);
		pollNow();
	}
}

async function allowSource(cidr, note, button, msg) {
	const r = await act(button, msg, () => api.post('guard.allow.add', note ? { cidr, note } : { cidr }));
	if (r !== undefined) {
		say(msg, `${r && r.added ? r.added : cidr} allowed`);
		pollNow();
	}
	return r !== undefined;
}

async function allowBan(b, button) {
	if (!await confirmDialog(`Allow ${b.source}? It will never be rate limited or banned; its ban is lifted.`, 'Allow'))
		return;
	await allowSource(b.source, 'from the bans page', button, $('#bans-message'));
}

async function removeAllow(a, button) {
	const msg = $('#allow-message');
	if (!await confirmDialog(`Remove ${a.cidr} from the allow list? It can be limited and banned again.`, 'Remove'))
		return;
	const r = await act(button, msg, () => api.post('guard.allow.remove', { cidr: a.cidr }));
	if (r !== undefined) {
		say(msg, `${a.cidr} removed`);
		pollNow();
	}
}

function showBans() {
	const f = $('#bans-filter').value;
	const list = lastBans.filter((b) => matches(f, b.source, b.reason));
	const shown = bans.update(list);
	$('#bans-count').textContent = countText(shown, list.length, lastBans.length, fmtNum);
}

export function init(poll) {
	pollNow = poll;
	bans = keyedTable($('#bans-table'), [
		{ label: 'Source', value: (b) => b.source },
		{ label: 'Reason', value: (b) => b.reason },
		{ label: 'Packets', value: (b) => fmtNum(b.packets), cls: 'num' },
		{ label: 'First seen', value: (b) => relTime(b.first_seen) },
		{ label: 'Last seen', value: (b) => relTime(b.last_seen) },
		{ label: 'Expires in', value: expiresIn },
		{ label: 'Strikes', value: (b) => fmtNum(b.strikes), cls: 'num' },
		{ label: 'Actions', actions: (b) => {
			const u = el('button', { type: 'button', 'aria-label': 'Unban ' + b.source, text: 'Unban' });
			const a = el('button', { type: 'button', 'aria-label': 'Allow ' + b.source, text: 'Allow' });
			u.addEventListener('click', () => unban(b, u));
			a.addEventListener('click', () => allowBan(b, a));
			return [u, a];
		} },
	], (b) => b.source, 'No active bans');
	allow = keyedTable($('#allow-table'), [
		{ label: 'Network', value: (a) => a.cidr },
		{ label: 'Note', value: (a) => a.note || '' },
		{ label: 'Added', value: (a) => (a.added ? relTime(a.added) : '') },
		{ label: 'From', value: (a) => (a.runtime ? 'this page (runtime)' : 'configuration') },
		{ label: 'Actions', actions: (a) => {
			if (!a.runtime)
				return [];
			const b = el('button', { type: 'button', 'aria-label': 'Remove ' + a.cidr, text: 'Remove' });
			b.addEventListener('click', () => removeAllow(a, b));
			return [b];
		} },
	], (a) => (a.runtime ? 'r ' : 'c ') + a.cidr, 'The allow list is empty');

	$('#bans-filter').addEventListener('input', showBans);
	$('#allow-form').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const cidr = $('#allow-cidr').value.trim();
		const note = $('#allow-note').value.trim();
		const button = ev.submitter || $('#allow-form button');
		if (await allowSource(cidr, note, button, $('#allow-message'))) {
			$('#allow-cidr').value = '';
			$('#allow-note').value = '';
		}
	});
}

export function enter() {
	say($('#bans-message'), '');
	say($('#allow-message'), '');
}

export async function refresh() {
	const [b, a] = await api.getAll([['guard.bans'], ['guard.allow']]);
	if (api.good(b)) {
		lastBans = b.slice().sort((x, y) => (y.first_seen - x.first_seen) ||
			(x.source < y.source ? -1 : x.source > y.source ? 1 : 0));
		showBans();
	}
	if (api.good(a)) {
		allow.update([
			...(a.config || []).map((cidr) => ({ cidr, runtime: false })),
			...(a.runtime || []).map((r) => ({ ...r, runtime: true })),
		]);
	}
	if (!api.good(b))
		throw b.__error;
	if (!api.good(a))
		say($('#allow-message'), 'allow list: ' + a.__error.message, 'error');
}
