// app.js: login, hash routes, live polling; the pages live in their own modules.

import * as api from './api.js';
import { $, say, dialogInit } from './util.js';
import * as dashboard from './dashboard.js';
import * as bans from './bans.js';
import * as lists from './lists.js';
import * as config from './config.js';
import { tracePage, systemPage } from './system.js';

const POLL_MS = 2000;
const PW_MIN = 10, PW_MAX = 128;

// Route name -> {init?, enter?, refresh?} (refresh is polled while shown).
const pages = {
	dashboard, bans, calls: lists.callsPage, registrations: lists.regsPage,
	trunks: lists.trunksPage, config, trace: tracePage, system: systemPage,
};
const titles = {
	dashboard: 'Dashboard', bans: 'Bans', calls: 'Calls', registrations: 'Registrations',
	trunks: 'Trunks', config: 'Configuration', trace: 'SIP trace', system: 'System',
};

let current = 'dashboard';
let loggedIn = false;
let timer = null;
let gen = 0;             // a poll loop runs only while gen is unchanged

function banner(err) {
	const b = $('#global-error');
	b.hidden = !err;
	b.textContent = err ? err.message : '';
}

function stopPolling() {
	clearTimeout(timer);
	timer = null;
	gen++;
}

async function tick(g) {
	timer = null;
	const page = pages[current];
	try {
		await page.refresh();
		if (g === gen)
			banner(null);
	} catch (e) {
		if (g === gen && loggedIn)
			banner(e);
	}
	if (g === gen && loggedIn && document.visibilityState === 'visible')
		timer = setTimeout(() => tick(g), POLL_MS);
}

// (Re)start the current page's polling now; also used after an action.
function startPolling() {
	stopPolling();
	if (!loggedIn || document.visibilityState !== 'visible' || !pages[current].refresh)
		return;
	tick(gen);
}

function route() {
	const m = /^#\/([a-z]+)/.exec(location.hash);
	let name = m && m[1];
	if (!pages[name]) {
		name = 'dashboard';
		history.replaceState(null, '', '#/dashboard');
	}
	if (!loggedIn)
		return;
	stopPolling();
	current = name;
	for (const n of Object.keys(pages))
		$('#view-' + n).hidden = n !== name;
	for (const a of document.querySelectorAll('#nav a'))
		a.toggleAttribute('aria-current', a.getAttribute('href') === '#/' + name);
	if (a11yMenuOpen())
		toggleMenu(false);
	document.title = 'sbc – ' + titles[name];
	banner(null);
	const page = pages[name];
	Promise.resolve(page.enter ? page.enter() : null).finally(() => {
		if (current === name)
			startPolling();
	});
}

const a11yMenuOpen = () => $('#menu-button').getAttribute('aria-expanded') === 'true';

function toggleMenu(open) {
	$('#menu-button').setAttribute('aria-expanded', String(open));
	$('#nav').classList.toggle('open', open);
}

function showLogin(kind) {
	loggedIn = false;
	stopPolling();
	api.setCsrf(null);
	$('#app-view').hidden = true;
	$('#login-view').hidden = false;
	$('#login-form').hidden = kind !== 'login';
	$('#setup-form').hidden = kind !== 'setup';
	(kind === 'setup' ? $('#setup-token') : $('#login-password')).focus();
}

function enterApp(csrf) {
	api.setCsrf(csrf);
	loggedIn = true;
	say($('#login-error'), '');
	$('#login-view').hidden = true;
	$('#app-view').hidden = false;
	route();
}

// Ask webd what to show: the setup form, the login form or the app.
async function boot(message) {
	let s;
	try {
		s = await api.session();
	} catch (e) {
		showLogin('login');
		say($('#login-error'), e.message, 'error');
		return;
	}
	if (s.logged_in) {
		enterApp(s.csrf);
		return;
	}
	showLogin(s.setup ? 'setup' : 'login');
	if (message)
		say($('#login-error'), message, 'error');
}

function loginMessage(e) {
	if (e.status === 401)
		return 'Wrong password';
	if (e.status === 429)
		return `Too many attempts, try again in ${e.retryAfter || 60} s`;
	return e.message;
}

async function onLogin(ev) {
	ev.preventDefault();
	const err = $('#login-error');
	const button = ev.submitter;
	button.disabled = true;
	try {
		const r = await api.login($('#login-password').value);
		$('#login-password').value = '';
		enterApp(r.csrf);
	} catch (e) {
		if (e.status === 409) {
			showLogin('setup');
			say(err, 'No password is set yet: enter the setup token', 'error');
		} else {
			say(err, loginMessage(e), 'error');
			$('#login-password').select();
		}
	} finally {
		button.disabled = false;
	}
}

async function onSetup(ev) {
	ev.preventDefault();
	const err = $('#login-error');
	const pw = $('#setup-password').value;
	const n = new TextEncoder().encode(pw).length;
	if (pw !== $('#setup-password2').value)
		return say(err, 'The two passwords differ', 'error');
	if (n < PW_MIN || n > PW_MAX)
		return say(err, `The password must be ${PW_MIN} to ${PW_MAX} bytes long`, 'error');
	const button = ev.submitter;
	button.disabled = true;
	try {
		const r = await api.setup($('#setup-token').value.trim(), pw);
		$('#setup-form').reset();
		enterApp(r.csrf);
	} catch (e) {
		if (e.status === 409) {
			showLogin('login');
			say(err, 'A password is already set: log in', 'error');
		} else {
			say(err, e.status === 403 ? 'Wrong setup token' : loginMessage(e), 'error');
		}
	} finally {
		button.disabled = false;
	}
}

function init() {
	dialogInit();
	dashboard.init();
	bans.init(startPolling);
	lists.init(startPolling);
	config.init();
	tracePage.init(startPolling);
	systemPage.init();
	api.setUnauthorizedHandler(() => {
		if (loggedIn) {
			stopPolling();
			loggedIn = false;
			boot('Your session ended: log in again');
		}
	});
	$('#login-form').addEventListener('submit', onLogin);
	$('#setup-form').addEventListener('submit', onSetup);
	$('#logout-button').addEventListener('click', async () => {
		stopPolling();
		loggedIn = false;
		await api.logout().catch(() => null);
		// a fresh page: nothing of the session stays in the DOM or in memory
		location.reload();
	});
	$('#menu-button').addEventListener('click', () => toggleMenu(!a11yMenuOpen()));
	window.addEventListener('hashchange', route);
	document.addEventListener('visibilitychange', () => {
		if (document.visibilityState === 'visible')
			startPolling();
		else
			stopPolling();
	});
	boot();
}

init();
