// ini.js: read and edit sbc.ini text in place (comments, order and spacing kept).
// Syntax as sbcd reads it (iniparser 4.1, docs/configuration.md "Syntax").

const SECTION_RE = /^\s*\[([^\]]*)\]\s*$/;
const KEY_RE = /^(\s*)([^=\s][^=]*?)(\s*=[ \t]*)(.*)$/;

// The value of a key line's right side, and what follows it (a comment).
function splitValue(rhs) {
	const q = rhs[0];
	if (q === '"' || q === "'") {
		const end = rhs.indexOf(q, 1);
		if (end > 0)
			return { value: rhs.slice(1, end), rest: rhs.slice(end + 1) };
	}
	const m = /^([^;#]*?)(\s*[;#].*)?$/.exec(rhs);
	return { value: m[1].trim(), rest: m[2] || '' };
}

/*
 * Parse text into {lines, sections}: sections in file order, each
 * {name (lowercase), header: line index (-1 for keys before any section),
 * last: index of its last key line (or the header), keys: Map name -> {first,
 * end (last line, continuation lines included), value}}.
 */
export function parse(text) {
	const lines = text.split('\n');
	const sections = [];
	let cur = { name: '', header: -1, last: -1, keys: new Map() };
	sections.push(cur);
	for (let i = 0; i < lines.length; i++) {
		const raw = lines[i].replace(/\r$/, '');
		const t = raw.trim();
		if (t === '' || t[0] === ';' || t[0] === '#')
			continue;
		const s = SECTION_RE.exec(raw);
		if (s) {
			cur = { name: s[1].trim().toLowerCase(), header: i, last: i, keys: new Map() };
			sections.push(cur);
			continue;
		}
		let joined = raw, end = i;
		while (/\\\s*$/.test(joined) && end + 1 < lines.length) {
			joined = joined.replace(/\\\s*$/, '') + lines[++end].replace(/\r$/, '');
		}
		const k = KEY_RE.exec(joined);
		if (k) {
			const name = k[2].trim().toLowerCase();
			if (!cur.keys.has(name))
				cur.keys.set(name, { first: i, end, value: splitValue(k[4]).value });
			cur.last = end;
		}
		i = end;
	}
	if (sections[0].keys.size === 0)
		sections.shift();
	return { lines, sections };
}

export function findSection(doc, name) {
	return doc.sections.find((s) => s.name === name.toLowerCase());
}

// The value of section.key, or undefined when the line is not there.
export function getValue(doc, section, key) {
	const s = findSection(doc, section);
	const k = s && s.keys.get(key.toLowerCase());
	return k ? k.value : undefined;
}

// A value as it must be written: quoted when it holds ; or # or edge spaces.
export function quote(v) {
	if (!/[;#]|^\s|\s$/.test(v))
		return v;
	return v.includes('"') ? "'" + v + "'" : '"' + v + '"';
}

// The width before ' =' in the section's first key line (to align a new line).
function eqColumn(doc, s) {
	for (const k of s.keys.values()) {
		const m = KEY_RE.exec(doc.lines[k.first]);
		if (m)
			return m[1].length + m[2].length + m[3].indexOf('=') - 1;
	}
	return 0;
}

/*
 * Set section.key to value in text and return the new text. The key's line is
 * rewritten in place (its comment kept); a new key goes after the section's
 * last key line; a missing section is added at the end; '' removes the line.
 */
export function setValue(text, section, key, value) {
	const doc = parse(text);
	const lines = doc.lines;
	const s = findSection(doc, section);
	const k = s && s.keys.get(key.toLowerCase());
	if (k) {
		if (value === '') {
			lines.splice(k.first, k.end - k.first + 1);
			return lines.join('\n');
		}
		const cr = /\r$/.test(lines[k.first]) ? '\r' : '';
		const m = KEY_RE.exec(lines[k.first].replace(/\r$/, ''));
		const rest = k.end === k.first ? splitValue(m[4]).rest : '';
		const eq = /\s$/.test(m[3]) ? m[3] : m[3] + ' ';
		lines.splice(k.first, k.end - k.first + 1, m[1] + m[2] + eq + quote(value) + rest + cr);
		return lines.join('\n');
	}
	if (value === '')
		return text;
	if (!s) {
		let t = text;
		if (t !== '' && !t.endsWith('\n'))
			t += '\n';
		return t + (t === '' ? '' : '\n') + '[' + section + ']\n' + key + ' = ' + quote(value) + '\n';
	}
	const pad = Math.max(key.length, eqColumn(doc, s));
	lines.splice(s.last + 1, 0, key.padEnd(pad) + ' = ' + quote(value));
	return lines.join('\n');
}

// Add an empty [name] section at the end (a new trunk).
export function addSection(text, name) {
	let t = text;
	if (t !== '' && !t.endsWith('\n'))
		t += '\n';
	return t + (t === '' ? '' : '\n') + '[' + name + ']\n';
}

// Remove a section: its header and every line up to its last key line.
export function removeSection(text, name) {
	const doc = parse(text);
	const s = findSection(doc, name);
	if (!s || s.header < 0)
		return text;
	doc.lines.splice(s.header, s.last - s.header + 1);
	return doc.lines.join('\n');
}
