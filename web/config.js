// config.js: the configuration page: sbc.ini as forms per section and as raw
// text, validated and applied by sbcd (config.validate, config.apply).

import * as api from './api.js';
import * as ini from './ini.js';
import { GROUPS, keysOf, TRUNK_NAME_RE } from './schema.js';
import { $, el, say, confirmDialog, act } from './util.js';

let base = null;      // the text as sbcd last gave it
let text = '';        // the text being edited
let mode = 'form';

const form = () => $('#config-form');

function setDirty() {
	$('#config-dirty').hidden = base === null || text === base;
	if (mode === 'form')
		$('#config-raw').value = text;
}

// Copy every form field that differs from the text into the text.
function syncForm() {
	if (mode !== 'form')
		return;
	for (const input of form().querySelectorAll('input[name]')) {
		const dot = input.name.indexOf('.');
		const sec = input.name.slice(0, dot), key = input.name.slice(dot + 1);
		const cur = ini.getValue(ini.parse(text), sec, key) ?? '';
		const v = input.value.trim();
		if (v !== cur)
			text = ini.setValue(text, sec, key, v);
	}
	setDirty();
}

function field(sec, key, def, hint, value, unknown) {
	const id = 'cfg-' + sec.replace(':', '-') + '-' + key;
	const secret = key === 'password';
	const input = el('input', {
		id, name: sec + '.' + key, type: secret ? 'password' : 'text', value: value ?? '',
		placeholder: def ? 'default: ' + def : '', spellcheck: 'false', autocomplete: secret ? 'new-password' : 'off',
		'aria-describedby': id + '-hint',
	});
	input.addEventListener('change', syncForm);
	return el('div', { class: 'field' },
		el('label', { for: id, text: key }),
		input,
		el('small', { id: id + '-hint', class: unknown ? 'hint error' : 'hint', text: unknown ? 'not a known key' : hint }),
		el('small', { class: 'field-error', role: 'alert' }));
}

function addKeyRow(sec) {
	const k = el('input', { 'aria-label': `new key in [${sec}]`, placeholder: 'key', class: 'new-key', spellcheck: 'false' });
	const v = el('input', { 'aria-label': `value of the new key in [${sec}]`, placeholder: 'value', class: 'new-value', spellcheck: 'false' });
	const b = el('button', { type: 'button', text: 'Add key' });
	b.addEventListener('click', () => {
		const key = k.value.trim().toLowerCase();
		if (!/^[a-z0-9_]+$/.test(key) || v.value.trim() === '') {
			say($('#config-status'), 'A new key needs a name (a-z, 0-9, _) and a value', 'error');
			return;
		}
		syncForm();
		text = ini.setValue(text, sec, key, v.value.trim());
		render();
		setDirty();
	});
	return el('div', { class: 'add-key' }, k, v, b);
}

function sectionBox(doc, sec) {
	const s = ini.findSection(doc, sec);
	const known = keysOf(sec);
	const fields = known.map(([k, d, h]) => field(sec, k, d, h, s && s.keys.has(k) ? s.keys.get(k).value : '', false));
	if (s)
		for (const [k, v] of s.keys)
			if (!known.some(([n]) => n === k))
				fields.push(field(sec, k, '', '', v.value, true));
	const legend = el('legend', { text: '[' + sec + ']' + (s ? '' : ' (not in the file: defaults apply)') });
	const box = el('fieldset', { class: 'section', 'data-section': sec }, legend, ...fields, addKeyRow(sec));
	if (sec.startsWith('trunk:')) {
		const rm = el('button', { type: 'button', class: 'danger', text: 'Remove trunk ' + sec.slice(6) });
		rm.addEventListener('click', async () => {
			if (!await confirmDialog(`Remove [${sec}] from the file? Apply to make it so.`, 'Remove'))
				return;
			syncForm();
			text = ini.removeSection(text, sec);
			render();
			setDirty();
		});
		box.append(el('div', { class: 'buttons' }, rm));
	}
	return box;
}

function addTrunkRow() {
	const n = el('input', { id: 'cfg-new-trunk', placeholder: 'trunk name', spellcheck: 'false', 'aria-label': 'new trunk name' });
	const b = el('button', { type: 'button', text: 'Add trunk' });
	b.addEventListener('click', () => {
		const name = n.value.trim().toLowerCase();
		if (!TRUNK_NAME_RE.test(name)) {
			say($('#config-status'), 'A trunk name is 1-32 characters of a-z, 0-9, _ and -', 'error');
			return;
		}
		syncForm();
		if (!ini.findSection(ini.parse(text), 'trunk:' + name))
			text = ini.addSection(text, 'trunk:' + name);
		render();
		setDirty();
	});
	return el('div', { class: 'add-key' }, n, b);
}

// Build the forms from text.
function render() {
	const doc = ini.parse(text);
	const names = doc.sections.map((s) => s.name);
	const used = new Set();
	const groups = [];
	for (const [id, title, which] of GROUPS) {
		const secs = typeof which === 'function' ? names.filter(which) : which;
		secs.forEach((s) => used.add(s));
		groups.push([id, title, secs]);
	}
	const other = names.filter((s) => !used.has(s));
	if (other.length)
		groups.push(['other', 'Other sections', other]);
	const jump = $('#config-jump');
	jump.replaceChildren();
	form().replaceChildren(...groups.map(([id, title, secs]) => {
		const a = el('a', { href: '#/config', text: title });
		a.addEventListener('click', (ev) => {
			ev.preventDefault();
			$('#cfg-group-' + id).scrollIntoView({ behavior: 'smooth' });
		});
		jump.append(a);
		const g = el('section', { id: 'cfg-group-' + id, class: 'panel cfg-group' }, el('h2', { text: title }),
			...secs.map((s) => sectionBox(doc, s)));
		if (id === 'trunks')
			g.append(addTrunkRow());
		return g;
	}));
}

function clearErrors() {
	$('#config-errors').replaceChildren();
	for (const i of form().querySelectorAll('[aria-invalid]'))
		i.removeAttribute('aria-invalid');
	for (const e of form().querySelectorAll('.field-error'))
		e.textContent = '';
}

// One <li> per error line; the fields they name are marked.
function showErrors(lines, more) {
	clearErrors();
	const list = $('#config-errors');
	for (const line of lines) {
		list.append(el('li', { text: line }));
		const m = /\[([^\]]+)\] ([A-Za-z0-9_]+): (.*)$/.exec(line);
		const input = m && form().querySelector(`input[name="${CSS.escape(m[1].toLowerCase() + '.' + m[2].toLowerCase())}"]`);
		if (input) {
			input.setAttribute('aria-invalid', 'true');
			input.parentElement.querySelector('.field-error').textContent = m[3];
		}
	}
	if (more)
		list.append(el('li', { text: `(${more} more errors not shown)` }));
}

async function load() {
	const r = await api.get('config.get');
	base = text = r.text;
	$('#config-path').textContent = r.path;
	$('#config-raw').value = text;
	render();
	setDirty();
}

async function validate() {
	syncForm();
	const status = $('#config-status');
	say(status, '');
	const r = await act($('#config-validate'), status, () => api.post('config.validate', { text }));
	if (!r)
		return;
	showErrors(r.errors || [], r.more);
	say(status, r.valid ? 'Valid: sbcd accepts this configuration' : 'Not valid: see the errors below',
		r.valid ? 'ok' : 'error');
}

async function apply() {
	syncForm();
	const status = $('#config-status');
	say(status, '');
	clearErrors();
	const button = $('#config-apply');
	const disk = await act(button, status, () => api.get('config.get'));
	if (!disk)
		return;
	if (disk.text !== base && disk.text !== text &&
	    !await confirmDialog('The file changed on disk since it was loaded here. Apply this version anyway (the other changes are lost)?', 'Apply anyway'))
		return;
	say(status, 'Applying…');
	try {
		button.disabled = true;
		await api.post('config.apply', { text });
	} catch (e) {
		say(status, 'Not applied: ' + e.message, 'error');
		if (e.message.startsWith('invalid configuration')) {
			const v = await api.post('config.validate', { text }).catch(() => null);
			if (v)
				showErrors(v.errors || [], v.more);
		} else {
			showErrors([e.message], 0);
		}
		return;
	} finally {
		button.disabled = false;
	}
	await act(null, status, load);
	say(status, 'Applied at ' + new Date().toLocaleTimeString());
}

function setMode(m) {
	if (m === mode)
		return;
	if (m === 'raw') {
		syncForm();
		$('#config-raw').value = text;
	}
	mode = m;
	if (m === 'form')
		render();
	$('#config-form').hidden = m !== 'form';
	$('#config-jump').hidden = m !== 'form';
	$('#config-raw-box').hidden = m !== 'raw';
	$('#config-mode-form').setAttribute('aria-pressed', String(m === 'form'));
	$('#config-mode-raw').setAttribute('aria-pressed', String(m === 'raw'));
}

export function init() {
	$('#config-validate').addEventListener('click', validate);
	$('#config-apply').addEventListener('click', apply);
	$('#config-reload').addEventListener('click', async () => {
		if (text !== base && !await confirmDialog('Drop the changes made here and read the file again?', 'Reload'))
			return;
		clearErrors();
		say($('#config-status'), '');
		await act($('#config-reload'), $('#config-status'), load);
	});
	$('#config-mode-form').addEventListener('click', () => setMode('form'));
	$('#config-mode-raw').addEventListener('click', () => setMode('raw'));
	$('#config-raw').addEventListener('input', () => {
		text = $('#config-raw').value;
		setDirty();
	});
}

// Entering the page reads the file, unless there are unapplied edits.
export async function enter() {
	if (base !== null && text !== base)
		return;
	try {
		await load();
	} catch (e) {
		say($('#config-status'), e.message, 'error');
	}
}
