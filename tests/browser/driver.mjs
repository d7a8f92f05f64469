// driver.mjs: Debian's Chromium under playwright-core, driven by JSON lines.
//
//   ip netns exec NS node driver.mjs [--viewport 1280x800] [--chromium PATH]
//
// Launches Chromium headless (--no-sandbox: the tests run as root;
// ignoreHTTPSErrors: sbc-webd's certificate is self-signed), opens one page,
// then reads one JSON command per line on stdin and writes one JSON line per
// command on stdout, in order:
//
//   {"cmd": "goto", "url": "https://10.20.0.1/"}
//   {"ok": true, "value": ...}   or   {"ok": false, "error": "..."}
//
// Commands (timeout in ms, default 10000, on those that wait):
//   goto {url}                         load a page (waits for "load")
//   click {selector}                   click the first match
//   fill {selector, value}             type into an input or textarea
//   select {selector, value}           choose an <option>
//   text {selector}                    innerText of the first match
//   attr {selector, name}              an attribute of the first match (null if absent)
//   count {selector}                   how many elements match (no wait)
//   wait_for {selector, state}         attached|detached|visible|hidden
//   wait_text {selector, regexp, flags} until innerText matches; value: the text
//   screenshot {path, full_page}       PNG to path
//   eval {body, arg}                   runs `async (arg) => { BODY }` in the page; its result
//   fetch {url, method, headers, body} window.fetch from the page; value: {status, body}
//   console {clear}                    the problems seen so far (see below)
//   viewport {width, height}           resize the page
//   url                                the page's address now
//   close                              close the browser and exit 0
//
// Problems collected from the start (the "console" command returns them):
//   {kind: "console", text, url}  console.error / a browser error message
//   {kind: "http", text, url}     "Failed to load resource: ... status of N": an HTTP
//                                 error answer (the test decides which are expected)
//   {kind: "pageerror", text}     an uncaught exception in the page
//   {kind: "csp", text, url}      a securitypolicyviolation event (directive, blocked URI)
//   {kind: "crash"|"requestfailed", ...} the page crashed / a request got no answer
// Selectors are playwright's (CSS by default, `:has-text()`, `>>` chains).

import { chromium } from 'playwright-core';
import readline from 'node:readline';

const DEFAULT_TIMEOUT = 10000;

function parseArgs(argv) {
	const opts = { width: 1280, height: 800, chromium: '/usr/bin/chromium' };
	for (let i = 2; i < argv.length; i++) {
		const a = argv[i];
		const v = argv[i + 1];
		if (a === '--viewport' && v && /^\d+x\d+$/.test(v)) {
			[opts.width, opts.height] = v.split('x').map(Number);
			i++;
		} else if (a === '--chromium' && v) {
			opts.chromium = v;
			i++;
		} else {
			process.stderr.write(`driver.mjs: bad argument ${a}\n` +
				'usage: node driver.mjs [--viewport WxH] [--chromium PATH]\n');
			process.exit(2);
		}
	}
	return opts;
}

const problems = [];

function watch(page) {
	page.on('console', (msg) => {
		if (msg.type() !== 'error')
			return;
		const text = msg.text();
		const loc = msg.location();
		const kind = /^Failed to load resource: the server responded with a status of \d+/
			.test(text) ? 'http' : 'console';
		problems.push({ kind, text, url: (loc && loc.url) || '' });
	});
	page.on('pageerror', (err) =>
		problems.push({ kind: 'pageerror', text: String(err && err.stack || err) }));
	page.on('crash', () => problems.push({ kind: 'crash', text: 'the page crashed' }));
	page.on('requestfailed', (req) => {
		const f = req.failure();
		const text = f ? f.errorText : 'failed';
		// a navigation away aborts pending polls: not a problem of the page
		if (text === 'net::ERR_ABORTED')
			return;
		problems.push({ kind: 'requestfailed', text, url: req.url() });
	});
}

// Runs before any script of every document (not subject to the page's CSP).
function cspListener() {
	document.addEventListener('securitypolicyviolation', (e) => {
		window.__sbcCsp(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}` +
			` at ${e.sourceFile || ''}:${e.lineNumber || 0}`, e.documentURI);
	});
}

function need(c, ...names) {
	for (const n of names)
		if (c[n] === undefined || c[n] === null)
			throw new Error(`${c.cmd}: missing "${n}"`);
}

async function innerText(page, sel, timeout) {
	const loc = page.locator(sel).first();
	await loc.waitFor({ state: 'attached', timeout });
	return loc.innerText({ timeout });
}

async function waitText(page, c, timeout) {
	const re = new RegExp(c.regexp, c.flags || '');
	const deadline = Date.now() + timeout;
	let last = null;
	for (;;) {
		const loc = page.locator(c.selector).first();
		if (await loc.count() > 0) {
			try {
				last = await loc.innerText({ timeout: 1000 });
			} catch (e) {
				last = null;      // detached between count and read: look again
			}
			if (last !== null && re.test(last))
				return last;
		}
		if (Date.now() >= deadline)
			throw new Error(`wait_text: ${c.selector} did not match /${c.regexp}/${c.flags || ''}` +
				` within ${timeout} ms; text: ${JSON.stringify(last)}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

async function pageFetch(page, c) {
	return page.evaluate(async (a) => {
		const init = { method: a.method || 'GET', headers: a.headers || {}, credentials: 'same-origin' };
		if (a.body !== undefined && a.body !== null)
			init.body = a.body;
		const r = await fetch(a.url, init);
		return { status: r.status, body: await r.text() };
	}, { url: c.url, method: c.method, headers: c.headers, body: c.body });
}

async function run(browser, page, c) {
	const timeout = Number.isInteger(c.timeout) ? c.timeout : DEFAULT_TIMEOUT;
	switch (c.cmd) {
	case 'goto':
		need(c, 'url');
		await page.goto(c.url, { waitUntil: 'load', timeout });
		return page.url();
	case 'click':
		need(c, 'selector');
		await page.locator(c.selector).first().click({ timeout });
		return null;
	case 'fill':
		need(c, 'selector', 'value');
		await page.locator(c.selector).first().fill(String(c.value), { timeout });
		return null;
	case 'select':
		need(c, 'selector', 'value');
		return page.locator(c.selector).first().selectOption(String(c.value), { timeout });
	case 'text':
		need(c, 'selector');
		return innerText(page, c.selector, timeout);
	case 'attr':
		need(c, 'selector', 'name');
		await page.locator(c.selector).first().waitFor({ state: 'attached', timeout });
		return page.locator(c.selector).first().getAttribute(c.name, { timeout });
	case 'count':
		need(c, 'selector');
		return page.locator(c.selector).count();
	case 'wait_for':
		need(c, 'selector');
		await page.locator(c.selector).first().waitFor({ state: c.state || 'visible', timeout });
		return null;
	case 'wait_text':
		need(c, 'selector', 'regexp');
		return waitText(page, c, timeout);
	case 'screenshot':
		need(c, 'path');
		await page.screenshot({ path: c.path, fullPage: !!c.full_page, timeout });
		return c.path;
	case 'eval':
		need(c, 'body');
		return page.evaluate(`(async (arg) => { ${c.body} })(${JSON.stringify(c.arg ?? null)})`);
	case 'fetch':
		need(c, 'url');
		return pageFetch(page, c);
	case 'console': {
		const out = problems.slice();
		if (c.clear)
			problems.length = 0;
		return out;
	}
	case 'viewport':
		need(c, 'width', 'height');
		await page.setViewportSize({ width: c.width, height: c.height });
		return null;
	case 'url':
		return page.url();
	case 'close':
		await browser.close();
		return null;
	default:
		throw new Error(`unknown command ${JSON.stringify(c.cmd)}`);
	}
}

function reply(obj) {
	let line;
	try {
		line = JSON.stringify(obj);
	} catch (e) {
		line = JSON.stringify({ ok: false, error: `answer not serialisable: ${e.message}` });
	}
	process.stdout.write(line + '\n');
}

async function main() {
	const opts = parseArgs(process.argv);
	const browser = await chromium.launch({
		executablePath: opts.chromium,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
	});
	const context = await browser.newContext({
		ignoreHTTPSErrors: true,
		viewport: { width: opts.width, height: opts.height },
	});
	await context.exposeFunction('__sbcCsp', (text, url) => problems.push({ kind: 'csp', text, url }));
	await context.addInitScript(cspListener);
	const page = await context.newPage();
	watch(page);
	reply({ ok: true, value: { ready: true, version: browser.version() } });

	const rl = readline.createInterface({ input: process.stdin, terminal: false });
	for await (const line of rl) {
		if (!line.trim())
			continue;
		let c;
		try {
			c = JSON.parse(line);
			if (typeof c !== 'object' || c === null || typeof c.cmd !== 'string')
				throw new Error('a command is an object with a "cmd" string');
		} catch (e) {
			reply({ ok: false, error: `bad command line: ${e.message}` });
			continue;
		}
		try {
			const value = await run(browser, page, c);
			reply({ ok: true, value: value === undefined ? null : value });
		} catch (e) {
			reply({ ok: false, error: String(e && e.message || e) });
		}
		if (c.cmd === 'close')
			process.exit(0);
	}
	// stdin closed: the test is gone
	await browser.close().catch(() => {});
	process.exit(0);
}

main().catch((e) => {
	reply({ ok: false, error: `driver failed to start: ${e && e.stack || e}` });
	process.exit(1);
});
