// table.js: a table whose rows are kept by key across updates, so polling
// does not rebuild rows (buttons stay put under the pointer).

import { el } from './util.js';

export const MAX_ROWS = 1000;

/*
 * columns: [{label, value(item) -> string | {text, title}, cls?}] or
 * {label, actions(item) -> [buttons]} (made once per row).
 * key(item) -> a string that names the row (data-key on the <tr>).
 */
export function keyedTable(table, columns, key, emptyText) {
	const tbody = table.tBodies[0];
	const rows = new Map();
	const empty = el('tr', { class: 'empty' }, el('td', { colspan: columns.length, text: emptyText }));

	function fill(tr, item) {
		columns.forEach((col, i) => {
			const td = tr.cells[i];
			if (col.actions) {
				if (!td.firstChild)
					td.append(...col.actions(item));
				return;
			}
			let v = col.value(item);
			if (v === null || v === undefined)
				v = '';
			const text = typeof v === 'object' ? v.text : String(v);
			const title = typeof v === 'object' ? v.title : '';
			if (td.textContent !== text)
				td.textContent = text;
			if ((td.title || '') !== (title || ''))
				td.title = title || '';
		});
	}

	function makeRow(k) {
		const tr = el('tr', { 'data-key': k });
		for (const col of columns)
			tr.append(el('td', { 'data-label': col.label, class: col.cls || (col.actions ? 'actions' : null) }));
		return tr;
	}

	// Show items in this order; returns how many were shown.
	function update(items) {
		const shown = items.slice(0, MAX_ROWS);
		const seen = new Set();
		let prev = null;
		for (const item of shown) {
			const k = String(key(item));
			if (seen.has(k))
				continue;
			seen.add(k);
			let tr = rows.get(k);
			if (!tr) {
				tr = makeRow(k);
				rows.set(k, tr);
			}
			fill(tr, item);
			const want = prev ? prev.nextSibling : tbody.firstChild;
			if (want !== tr)
				tbody.insertBefore(tr, want);
			prev = tr;
		}
		for (const [k, tr] of rows) {
			if (!seen.has(k)) {
				tr.remove();
				rows.delete(k);
			}
		}
		if (seen.size === 0 && !empty.isConnected)
			tbody.append(empty);
		else if (seen.size > 0 && empty.isConnected)
			empty.remove();
		return seen.size;
	}

	return { update, row: (k) => rows.get(String(k)) };
}

// Case-insensitive substring filter over the given fields' text.
export function matches(filter, ...fields) {
	const f = filter.trim().toLowerCase();
	if (!f)
		return true;
	return fields.some((x) => String(x ?? '').toLowerCase().includes(f));
}

// "12" or "1,000 of 12,000 shown" for the count beside a heading.
export function countText(shown, matching, total, fmtNum) {
	if (matching === total && shown === total)
		return '(' + fmtNum(total) + ')';
	if (shown < matching)
		return '(' + fmtNum(shown) + ' of ' + fmtNum(matching) + ' matching shown, ' + fmtNum(total) + ' in all)';
	return '(' + fmtNum(matching) + ' of ' + fmtNum(total) + ')';
}
