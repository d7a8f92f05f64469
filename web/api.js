// api.js: the HTTP API of sbc-webd (docs/webd.md): session, CSRF token, sbcd commands.

let csrf = null;
let onUnauthorized = () => {};

export class ApiError extends Error {
	constructor(message, status, retryAfter) {
		super(message);
		this.status = status;
		this.retryAfter = retryAfter;
	}
}

export function setCsrf(token) {
	csrf = token || null;
}

// Called when an API answer says the session is gone (401).
export function setUnauthorizedHandler(fn) {
	onUnauthorized = fn;
}

export function unauthorized() {
	onUnauthorized();
}

// Paths whose 401 means "wrong password", not "logged out".
const NO_REDIRECT = new Set(['/api/login', '/api/setup', '/api/password', '/api/session']);

async function request(method, path, body) {
	const opts = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
	if (method === 'POST') {
		opts.headers['Content-Type'] = 'application/json';
		if (csrf)
			opts.headers['X-CSRF-Token'] = csrf;
		opts.body = JSON.stringify(body || {});
	}
	let res;
	try {
		res = await fetch(path, opts);
	} catch (e) {
		throw new ApiError('the web server does not answer', 0);
	}
	let data = null;
	try {
		data = await res.json();
	} catch (e) {
		data = null;
	}
	if (res.status === 401 && !NO_REDIRECT.has(path.split('?')[0]))
		onUnauthorized();
	if (!res.ok || !data || data.ok === false) {
		const msg = data && typeof data.error === 'string' ? data.error : `HTTP ${res.status} ${res.statusText}`;
		throw new ApiError(msg, res.status, Number(res.headers.get('Retry-After')) || 0);
	}
	return data;
}

export const session = () => request('GET', '/api/session');
export const login = (password) => request('POST', '/api/login', { password });
export const setup = (token, password) => request('POST', '/api/setup', { token, password });
export const logout = () => request('POST', '/api/logout', {});
export const changePassword = (oldPw, newPw) => request('POST', '/api/password', { old: oldPw, new: newPw });

// A read command of sbcd: its result.
export async function get(cmd, args) {
	let path = '/api/sbcd/' + encodeURIComponent(cmd);
	if (args && Object.keys(args).length)
		path += '?args=' + encodeURIComponent(JSON.stringify(args));
	return (await request('GET', path)).result;
}

// A change command of sbcd: its result.
export async function post(cmd, args) {
	return (await request('POST', '/api/sbcd/' + encodeURIComponent(cmd), args || {})).result;
}

// Several read commands at once (webd pipelines them to sbcd); a failed one is
// {error} in its place so one missing command does not blank the page.
// sbcd or webd down (no answer, 502, 504) or a lost session is thrown.
export async function getAll(cmds) {
	const out = await Promise.all(cmds.map(([cmd, args]) =>
		get(cmd, args).catch((e) => ({ __error: e }))));
	for (const r of out) {
		const e = r && r.__error;
		if (e && [0, 401, 502, 504].includes(e.status))
			throw e;
	}
	return out;
}

// A result of getAll that is not an error.
export const good = (r) => r !== null && r !== undefined && !r.__error;
