// util.js: DOM building, number and time formatting, messages and the confirm dialog.

export const $ = (sel, root = document) => root.querySelector(sel);

// el('button', {class: 'x', onclick: f}, 'text', node...): no innerHTML anywhere.
export function el(tag, attrs = {}, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k.startsWith('on'))
			e.addEventListener(k.slice(2), v);
		else if (k === 'class')
			e.className = v;
		else if (k === 'text')
			e.textContent = v;
		else
			e.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children)
		if (c !== null && c !== undefined)
			e.append(c);
	return e;
}

// Append "label: value" to a <dl class="facts">: value a string or {text, title}.
export function fact(dl, label, value) {
	const v = typeof value === 'object' && value !== null ? value : { text: String(value ?? '–'), title: '' };
	dl.append(el('dt', { text: label }), el('dd', { title: v.title || null, text: v.text }));
}

const numFmt = new Intl.NumberFormat('en-US');

// 1234567 -> "1,234,567"; null or undefined -> "–".
export function fmtNum(n) {
	if (n === null || n === undefined || Number.isNaN(Number(n)))
		return '–';
	return numFmt.format(n);
}

// 1536 -> "1.5 KiB"
export function fmtBytes(n) {
	if (n === null || n === undefined)
		return '–';
	const units = ['B', 'KiB', 'MiB', 'GiB'];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return (i === 0 ? fmtNum(n) : n.toFixed(1)) + ' ' + units[i];
}

// Seconds -> "42 s", "3 min 12 s", "2 h 5 min", "3 d 4 h".
export function fmtDuration(s) {
	if (s === null || s === undefined)
		return '–';
	s = Math.max(0, Math.round(s));
	if (s < 60)
		return s + ' s';
	if (s < 3600)
		return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
	if (s < 86400)
		return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
	return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

// Compact: 1200 -> "1.2k" (chart axis).
export function fmtShort(n) {
	if (n >= 1e9)
		return +(n / 1e9).toFixed(1) + 'G';
	if (n >= 1e6)
		return +(n / 1e6).toFixed(1) + 'M';
	if (n >= 1e3)
		return +(n / 1e3).toFixed(1) + 'k';
	return String(+n.toFixed(2));
}

export function fmtAbs(unix) {
	return new Date(unix * 1000).toLocaleString();
}

// A unix time relative to now: {text: "3 min ago" | "in 4 min", title: absolute time}.
export function relTime(unix) {
	if (unix === null || unix === undefined || unix === 0)
		return { text: '–', title: '' };
	const d = Math.round(unix - Date.now() / 1000);
	const a = Math.abs(d);
	let t;
	if (a < 5)
		t = 'just now';
	else if (a < 60)
		t = a + ' s';
	else if (a < 3600)
		t = Math.floor(a / 60) + ' min';
	else if (a < 86400)
		t = Math.floor(a / 3600) + ' h';
	else
		t = Math.floor(a / 86400) + ' d';
	if (a >= 5)
		t = d < 0 ? t + ' ago' : 'in ' + t;
	return { text: t, title: fmtAbs(unix) };
}

// Show text in a message element: kind 'ok', 'error' or 'info' (neither); '' clears it.
export function say(node, text, kind = 'ok') {
	node.textContent = text;
	node.classList.toggle('error', kind === 'error');
	node.classList.toggle('ok', kind === 'ok' && text !== '');
}

// Set a card or field: text and the raw value in data-value for tests.
export function setStat(node, text, value) {
	if (node.textContent !== text)
		node.textContent = text;
	if (value === undefined || value === null)
		node.removeAttribute('data-value');
	else
		node.dataset.value = String(value);
}

let dialogResolve = null;

function dialogDone(ok) {
	const d = $('#confirm-dialog');
	if (d.open)
		d.close();
	if (dialogResolve) {
		const r = dialogResolve;
		dialogResolve = null;
		r(ok);
	}
}

export function dialogInit() {
	$('#confirm-ok').addEventListener('click', () => dialogDone(true));
	$('#confirm-cancel').addEventListener('click', () => dialogDone(false));
	$('#confirm-dialog').addEventListener('close', () => dialogDone(false));
}

// In-page confirmation (#confirm-dialog): resolves true on #confirm-ok.
export function confirmDialog(text, okLabel = 'OK') {
	dialogDone(false);
	$('#confirm-text').textContent = text;
	$('#confirm-ok').textContent = okLabel;
	$('#confirm-dialog').showModal();
	$('#confirm-cancel').focus();
	return new Promise((resolve) => { dialogResolve = resolve; });
}

// Run an action from a button: disable it meanwhile, show errors in msg.
export async function act(button, msg, fn) {
	if (button)
		button.disabled = true;
	try {
		return await fn();
	} catch (e) {
		if (msg)
			say(msg, e.message, 'error');
		return undefined;
	} finally {
		if (button)
			button.disabled = false;
	}
}
