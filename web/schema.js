// schema.js: the sections and keys of sbc.ini with defaults and hints, for the
// configuration form. Source of truth: src/config/schema.c and docs/configuration.md;
// keep in step with them. sbcd validates: this only labels the fields.

// [key, default ('' = none), hint]
const ZONE = [
	['interface', '', 'network interface (required)'],
	['address', '', 'IP address; optional if the interface has one'],
	['advertise', '', 'address behind a 1:1 NAT'],
	['sip_udp', '5060', 'port, 0 = off'],
	['sip_tcp', '5060', 'port, 0 = off'],
	['sip_tls', '5061', 'port, 0 = off'],
	['tls_cert', '', 'path'],
	['tls_key', '', 'path'],
	['rtp_ports', '20000-29999', 'even start, e.g. 20000-29999'],
	['media', 'socket', 'socket | bypass | xdp'],
	['media_address', '', 'address for bypass/xdp media'],
	['prefix', '', 'prefix length of address; default 24 (IPv4), 64 (IPv6)'],
	['gateway', '', 'next hop on the subnet; public: the default route'],
	['routes', '', 'CIDR list reached through gateway, comma separated'],
	['mtu', '', '576-9000; default: as the kernel has it'],
];

export const SECTIONS = {
	general: [
		['data_dir', '/var/lib/sbc', 'path'],
		['log_level', 'info', 'error | warn | info | debug'],
		['log_target', 'stderr', 'stderr | syslog'],
		['product', 'sbc', 'Server / User-Agent name'],
		['control_socket', '/run/sbc/sbcd.sock', 'path (next start)'],
		['call_records_max_kb', '16384', '4-1048576; calls.jsonl rotated past this'],
	],
	public: ZONE,
	private: ZONE.map(([k, d, h]) => [k, k === 'sip_tls' ? '0' : k === 'rtp_ports' ? '30000-39999' : d, h]),
	sip: [
		['t1_ms', '500', '100-5000'],
		['t2_ms', '4000', '1000-64000'],
		['t4_ms', '5000', '1000-64000'],
		['tcp_idle_s', '300', '2-86400'],
		['max_connections', '1024', '1-1048576'],
		['max_connections_per_source', '16', '1-65535'],
		['max_transactions', '262144', '1024-4194304'],
		['max_calls', '0', '0-1000000, 0 = unlimited'],
		['max_cps', '0', '0-100000, 0 = unlimited'],
	],
	core: [
		['address', '', 'host or address of the PBX (required)'],
		['port', '5060', '1-65535'],
		['transport', 'udp', 'udp | tcp | tls'],
		['hide', '', 'names the leak checker hides, comma separated'],
	],
	trunk: [
		['zone', 'public', 'public | private'],
		['address', '', 'host or address (required)'],
		['port', '5060', '1-65535'],
		['transport', 'udp', 'udp | tcp | tls'],
		['allow', '', 'CIDR list; default the trunk address'],
		['max_calls', '0', '0-1000000, 0 = unlimited'],
		['register', 'no', 'yes | no'],
		['username', '', ''],
		['password', '', ''],
		['domain', '', 'host'],
		['expires', '3600', '60-86400'],
		['retry_s', '30', '1-600 (first wait after a failed registration)'],
	],
	registration: [
		['phone_expires', '60', '10-3600'],
		['core_expires', '3600', '60-86400'],
		['grace_s', '30', '0-3600'],
		['keepalive', 'options', 'off | options | crlf'],
		['keepalive_s', '30', '5-3600'],
	],
	auth: [
		['local', 'no', 'yes | no'],
		['realm', '', 'default: the public address'],
		['users_file', '', 'path; default DATA_DIR/users'],
		['algorithms', 'sha-256, md5', 'sha-256, md5'],
		['nonce_ttl_s', '300', '10-3600'],
		['reject', '403', '403 | silent'],
		['open', 'no', 'yes | no (lab only)'],
	],
	guard: [
		['enabled', 'yes', 'yes | no'],
		['table_size', '65536', '1024-4194304 (next start)'],
		['ban_time_s', '300', '1-604800'],
		['ban_time_max_s', '86400', '1-2592000'],
		['allow', '', 'CIDR list, comma separated'],
		['rate_packets', '200', '1-1000000 per source per second'],
		['rate_invite', '20', '1-100000 per source per second'],
		['rate_register', '20', '1-100000'],
		['rate_options', '20', '1-100000'],
		['rate_other', '50', '1-100000'],
		['trusted_reserve_pct', '30', '0-90 %'],
		['max_packet_size', '8192', '512-65535 bytes'],
		['scanner_agents', '', 'User-Agent substrings, comma separated'],
		['enum_threshold', '20', '1-100000'],
		['auth_fail_threshold', '10', '1-100000'],
		['malformed_threshold', '10', '1-100000'],
		['capacity_pps', '5000', '100-10000000'],
		['rate_user', '50', '1-100000'],
		['window_s', '60', '1-3600'],
		['toll_prefixes', '00, 011', 'comma separated'],
		['toll_threshold', '3', '1-100000'],
		['max_bans', '16384', '16-1048576 (next start)'],
		['kernel_drop', 'off', 'off | nftables (next start)'],
	],
	media: [
		['timeout_s', '60', '5-3600'],
		['policing', 'yes', 'yes | no'],
		['policing_factor', '3', '1-100'],
		['strict_source', 'yes', 'yes | no'],
		['max_streams', '10000', '1-1000000'],
		['cpu', 'any', 'any | CPU number of the media thread (next start)'],
	],
	web: [
		['listen', '', 'ADDRESS:PORT; default private address :443'],
		['cert', '', 'path'],
		['key', '', 'path'],
		['user', 'sbc-web', 'unix user'],
	],
};

// The page's groups: [id, title, section names or a test].
export const GROUPS = [
	['zones', 'Zones', ['public', 'private']],
	['core', 'Core', ['core']],
	['trunks', 'Trunks', (name) => name.startsWith('trunk:')],
	['limits', 'Limits', ['sip', 'guard']],
	['media', 'Media', ['media']],
	['registration', 'Registration', ['registration']],
	['auth', 'Auth', ['auth']],
	['web', 'Web', ['web']],
	['general', 'General', ['general']],
];

// The schema keys of a section name ("trunk:x" -> trunk keys), or [].
export function keysOf(section) {
	if (section.startsWith('trunk:'))
		return SECTIONS.trunk;
	return SECTIONS[section] || [];
}

export const TRUNK_NAME_RE = /^[a-z0-9_-]{1,32}$/;
