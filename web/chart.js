// chart.js: the stacked area chart of guard.timeline on a <canvas>, with its legend and tooltip.

import { el, fmtNum, fmtShort } from './util.js';

// Every guard reason (src/guard/guard.h), in drawing order, with its colour.
export const REASONS = [
	['flood', '#d62728'], ['rate', '#ff7f0e'], ['capacity', '#8c564b'],
	['user_flood', '#e377c2'], ['scanner', '#1f77b4'], ['enumeration', '#9467bd'],
	['cracking', '#17becf'], ['malformed', '#7f7f7f'], ['oversized', '#bcbd22'],
	['toll_fraud', '#2ca02c'], ['rtp_source', '#393b79'], ['rtp_policing', '#e7ba52'],
];
const OTHER_COLOUR = '#444444';

function colourOf(reason) {
	const r = REASONS.find(([n]) => n === reason);
	return r ? r[1] : OTHER_COLOUR;
}

// 1, 2, 5 x 10^k at or above v (the grid step: the y axis ends on 1-4 steps).
function niceCeil(v) {
	if (v <= 0)
		return 1;
	const p = Math.pow(10, Math.floor(Math.log10(v)));
	for (const m of [1, 2, 5, 10])
		if (m * p >= v)
			return m * p;
	return 10 * p;
}

function hhmm(unix, withSeconds) {
	const d = new Date(unix * 1000);
	const two = (n) => String(n).padStart(2, '0');
	return two(d.getHours()) + ':' + two(d.getMinutes()) + (withSeconds ? ':' + two(d.getSeconds()) : '');
}

export function blockedChart(canvas, legend, tip) {
	let data = null;     // the last guard.timeline result
	const PAD = { l: 48, r: 8, t: 8, b: 22 };

	// The reasons of a timeline in REASONS order, unknown ones after.
	function series(tl) {
		const names = Object.keys(tl.reasons || {});
		const known = REASONS.map(([n]) => n).filter((n) => names.includes(n));
		return known.concat(names.filter((n) => !known.includes(n)).sort());
	}

	function drawLegend(tl, names) {
		legend.replaceChildren(...names.map((n) => {
			const sum = (tl.reasons[n] || []).reduce((a, b) => a + b, 0);
			const sw = el('span', { class: 'swatch', 'aria-hidden': 'true' });
			sw.style.backgroundColor = colourOf(n);
			return el('li', { 'data-reason': n }, sw, n + ' ', el('span', { class: 'muted', text: fmtNum(sum) }));
		}));
	}

	function draw() {
		const tl = data;
		const w = Math.max(200, canvas.parentElement.clientWidth);
		const h = w < 500 ? 180 : 240;
		const dpr = window.devicePixelRatio || 1;
		canvas.style.width = w + 'px';
		canvas.style.height = h + 'px';
		canvas.width = Math.round(w * dpr);
		canvas.height = Math.round(h * dpr);
		const g = canvas.getContext('2d');
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, w, h);
		if (!tl)
			return;
		const names = series(tl);
		const n = names.reduce((m, r) => Math.max(m, tl.reasons[r].length), 0);
		const stack = new Array(n).fill(0);
		let total = 0;
		for (const r of names)
			tl.reasons[r].forEach((v, i) => { stack[i] += v; total += v; });
		const peak = Math.max(...stack, 0);
		const step = Math.max(1, niceCeil(peak / 4));
		const rows = Math.max(1, Math.ceil(peak / step));
		const top = rows * step;
		const pw = w - PAD.l - PAD.r, ph = h - PAD.t - PAD.b;
		const x = (i) => PAD.l + (n <= 1 ? pw : (i * pw) / (n - 1));
		const y = (v) => PAD.t + ph - (v / top) * ph;

		g.font = '11px system-ui, sans-serif';
		g.fillStyle = '#555';
		g.strokeStyle = '#e3e3e3';
		g.lineWidth = 1;
		g.textAlign = 'right';
		g.textBaseline = 'middle';
		for (let k = 0; k <= rows; k++) {
			const v = k * step, yy = Math.round(y(v)) + 0.5;
			g.beginPath();
			g.moveTo(PAD.l, yy);
			g.lineTo(w - PAD.r, yy);
			g.stroke();
			g.fillText(fmtShort(v), PAD.l - 4, yy);
		}
		g.textAlign = 'center';
		g.textBaseline = 'top';
		const first = tl.end - (n - 1) * tl.step;
		const ticks = w < 500 ? 2 : 4;
		for (let k = 0; k <= ticks; k++) {
			const i = Math.round(((n - 1) * k) / ticks);
			g.textAlign = k === 0 ? 'left' : k === ticks ? 'right' : 'center';
			g.fillText(hhmm(first + i * tl.step, tl.step < 60 && w >= 500), x(i), h - PAD.b + 5);
		}

		const base = new Array(n).fill(0);
		for (const r of names) {
			const vals = tl.reasons[r];
			if (!vals.some((v) => v > 0))
				continue;
			g.beginPath();
			g.moveTo(x(0), y(base[0] + (vals[0] || 0)));
			for (let i = 1; i < n; i++)
				g.lineTo(x(i), y(base[i] + (vals[i] || 0)));
			for (let i = n - 1; i >= 0; i--)
				g.lineTo(x(i), y(base[i]));
			g.closePath();
			g.fillStyle = colourOf(r);
			g.globalAlpha = 0.8;
			g.fill();
			g.globalAlpha = 1;
			for (let i = 0; i < n; i++)
				base[i] += vals[i] || 0;
		}
		canvas.dataset.total = String(total);
		canvas.dataset.points = String(n);
		canvas.dataset.scale = tl.scale || '';
		canvas.setAttribute('aria-label', 'Blocked packets per reason: ' + fmtNum(total) + ' in ' + n + ' slots');
		drawLegend(tl, names);
	}

	function showTip(ev) {
		const tl = data;
		if (!tl) {
			tip.hidden = true;
			return;
		}
		const names = series(tl);
		const n = names.reduce((m, r) => Math.max(m, tl.reasons[r].length), 0);
		const rect = canvas.getBoundingClientRect();
		const pw = rect.width - PAD.l - PAD.r;
		const i = Math.round(((ev.clientX - rect.left - PAD.l) / pw) * (n - 1));
		if (n === 0 || i < 0 || i >= n) {
			tip.hidden = true;
			return;
		}
		const t = tl.end - (n - 1 - i) * tl.step;
		const lines = names.filter((r) => tl.reasons[r][i] > 0).map((r) => r + ': ' + fmtNum(tl.reasons[r][i]));
		tip.replaceChildren(el('strong', { text: hhmm(t, tl.step < 60) }),
			...(lines.length ? lines : ['nothing blocked']).map((s) => el('div', { text: s })));
		tip.hidden = false;
		const left = Math.min(ev.clientX - rect.left + 12, rect.width - tip.offsetWidth - 4);
		tip.style.left = Math.max(0, left) + 'px';
		tip.style.top = '8px';
	}

	canvas.addEventListener('mousemove', showTip);
	canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
	let lastWidth = 0;
	new ResizeObserver(() => {
		const w = canvas.parentElement.clientWidth;
		if (w !== lastWidth && w > 0) {
			lastWidth = w;
			draw();
		}
	}).observe(canvas.parentElement);

	return {
		set(tl) {
			data = tl;
			draw();
		},
	};
}
