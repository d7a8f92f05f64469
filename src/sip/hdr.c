/* hdr: the one table of header names (long and compact forms), methods and character classes. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip_int.h"

struct hdr_name {
	const char *name;
	char compact;
};

static const struct hdr_name hdr_names[SIP_HDR__COUNT] = {
	[SIP_HDR_OTHER] = { "", 0 },
	[SIP_HDR_ACCEPT] = { "Accept", 0 },
	[SIP_HDR_ACCEPT_CONTACT] = { "Accept-Contact", 'a' },
	[SIP_HDR_ACCEPT_ENCODING] = { "Accept-Encoding", 0 },
	[SIP_HDR_ACCEPT_LANGUAGE] = { "Accept-Language", 0 },
	[SIP_HDR_ALERT_INFO] = { "Alert-Info", 0 },
	[SIP_HDR_ALLOW] = { "Allow", 0 },
	[SIP_HDR_ALLOW_EVENTS] = { "Allow-Events", 'u' },
	[SIP_HDR_AUTHENTICATION_INFO] = { "Authentication-Info", 0 },
	[SIP_HDR_AUTHORIZATION] = { "Authorization", 0 },
	[SIP_HDR_CALL_ID] = { "Call-ID", 'i' },
	[SIP_HDR_CALL_INFO] = { "Call-Info", 0 },
	[SIP_HDR_CONTACT] = { "Contact", 'm' },
	[SIP_HDR_CONTENT_DISPOSITION] = { "Content-Disposition", 0 },
	[SIP_HDR_CONTENT_ENCODING] = { "Content-Encoding", 'e' },
	[SIP_HDR_CONTENT_LANGUAGE] = { "Content-Language", 0 },
	[SIP_HDR_CONTENT_LENGTH] = { "Content-Length", 'l' },
	[SIP_HDR_CONTENT_TYPE] = { "Content-Type", 'c' },
	[SIP_HDR_CSEQ] = { "CSeq", 0 },
	[SIP_HDR_DATE] = { "Date", 0 },
	[SIP_HDR_DIVERSION] = { "Diversion", 0 },
	[SIP_HDR_ERROR_INFO] = { "Error-Info", 0 },
	[SIP_HDR_EVENT] = { "Event", 'o' },
	[SIP_HDR_EXPIRES] = { "Expires", 0 },
	[SIP_HDR_FROM] = { "From", 'f' },
	[SIP_HDR_HISTORY_INFO] = { "History-Info", 0 },
	[SIP_HDR_IDENTITY] = { "Identity", 'y' },
	[SIP_HDR_IDENTITY_INFO] = { "Identity-Info", 'n' },
	[SIP_HDR_IN_REPLY_TO] = { "In-Reply-To", 0 },
	[SIP_HDR_MAX_FORWARDS] = { "Max-Forwards", 0 },
	[SIP_HDR_MIME_VERSION] = { "MIME-Version", 0 },
	[SIP_HDR_MIN_EXPIRES] = { "Min-Expires", 0 },
	[SIP_HDR_MIN_SE] = { "Min-SE", 0 },
	[SIP_HDR_ORGANIZATION] = { "Organization", 0 },
	[SIP_HDR_P_ASSERTED_IDENTITY] = { "P-Asserted-Identity", 0 },
	[SIP_HDR_P_PREFERRED_IDENTITY] = { "P-Preferred-Identity", 0 },
	[SIP_HDR_PATH] = { "Path", 0 },
	[SIP_HDR_PRIORITY] = { "Priority", 0 },
	[SIP_HDR_PRIVACY] = { "Privacy", 0 },
	[SIP_HDR_PROXY_AUTHENTICATE] = { "Proxy-Authenticate", 0 },
	[SIP_HDR_PROXY_AUTHORIZATION] = { "Proxy-Authorization", 0 },
	[SIP_HDR_PROXY_REQUIRE] = { "Proxy-Require", 0 },
	[SIP_HDR_RACK] = { "RAck", 0 },
	[SIP_HDR_REASON] = { "Reason", 0 },
	[SIP_HDR_RECORD_ROUTE] = { "Record-Route", 0 },
	[SIP_HDR_REFER_TO] = { "Refer-To", 'r' },
	[SIP_HDR_REFERRED_BY] = { "Referred-By", 'b' },
	[SIP_HDR_REJECT_CONTACT] = { "Reject-Contact", 'j' },
	[SIP_HDR_REMOTE_PARTY_ID] = { "Remote-Party-ID", 0 },
	[SIP_HDR_REPLACES] = { "Replaces", 0 },
	[SIP_HDR_REPLY_TO] = { "Reply-To", 0 },
	[SIP_HDR_REQUEST_DISPOSITION] = { "Request-Disposition", 'd' },
	[SIP_HDR_REQUIRE] = { "Require", 0 },
	[SIP_HDR_RETRY_AFTER] = { "Retry-After", 0 },
	[SIP_HDR_ROUTE] = { "Route", 0 },
	[SIP_HDR_RSEQ] = { "RSeq", 0 },
	[SIP_HDR_SERVER] = { "Server", 0 },
	[SIP_HDR_SERVICE_ROUTE] = { "Service-Route", 0 },
	[SIP_HDR_SESSION_EXPIRES] = { "Session-Expires", 'x' },
	[SIP_HDR_SUBJECT] = { "Subject", 's' },
	[SIP_HDR_SUBSCRIPTION_STATE] = { "Subscription-State", 0 },
	[SIP_HDR_SUPPORTED] = { "Supported", 'k' },
	[SIP_HDR_TIMESTAMP] = { "Timestamp", 0 },
	[SIP_HDR_TO] = { "To", 't' },
	[SIP_HDR_UNSUPPORTED] = { "Unsupported", 0 },
	[SIP_HDR_USER_AGENT] = { "User-Agent", 0 },
	[SIP_HDR_VIA] = { "Via", 'v' },
	[SIP_HDR_WARNING] = { "Warning", 0 },
	[SIP_HDR_WWW_AUTHENTICATE] = { "WWW-Authenticate", 0 },
};

static const char *const method_names[SIP_METHOD__COUNT] = {
	[SIP_METHOD_UNKNOWN] = "",
	[SIP_METHOD_INVITE] = "INVITE",
	[SIP_METHOD_ACK] = "ACK",
	[SIP_METHOD_BYE] = "BYE",
	[SIP_METHOD_CANCEL] = "CANCEL",
	[SIP_METHOD_OPTIONS] = "OPTIONS",
	[SIP_METHOD_REGISTER] = "REGISTER",
	[SIP_METHOD_PRACK] = "PRACK",
	[SIP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
	[SIP_METHOD_NOTIFY] = "NOTIFY",
	[SIP_METHOD_PUBLISH] = "PUBLISH",
	[SIP_METHOD_INFO] = "INFO",
	[SIP_METHOD_REFER] = "REFER",
	[SIP_METHOD_MESSAGE] = "MESSAGE",
	[SIP_METHOD_UPDATE] = "UPDATE",
};

/*
 * Long names go into an open-addressing table keyed by a case-insensitive
 * hash, built once at start-up; compact names index a table by letter.
 */
#define HNAME_SLOTS 256

static uint8_t hname_slot[HNAME_SLOTS];   /* enum sip_hdr_id, 0 = empty */
static char hname_lower[SIP_HDR__COUNT][24]; /* names in lower case, for the probe */
static uint8_t hname_len[SIP_HDR__COUNT];
static uint8_t hname_compact[26];
uint8_t sip_ctype_tab[256];

static inline unsigned char lc(char c)
{
	unsigned char u = (unsigned char)c;

	return (u >= 'A' && u <= 'Z') ? (unsigned char)(u | 0x20) : u;
}

/* Cheap hash: length and three characters; the table probe compares whole names. */
static unsigned hname_hash(const char *name, size_t len)
{
	unsigned h = (unsigned)len * 7u + lc(name[0]) * 31u + lc(name[len - 1]) * 131u +
		     lc(name[len / 2]) * 17u;

	return (h ^ (h >> 8)) & (HNAME_SLOTS - 1);
}

static void ctype_init(void)
{
	for (unsigned c = 0; c < 256; c++) {
		uint8_t f = 0;
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (alnum || strchr("-.!%*_+`'~", (int)c))
			f |= SIP_C_TOKEN;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			f |= SIP_C_WS;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
			f |= SIP_C_HEX;
		if (alnum || strchr("-_.!~*'()", (int)c))
			f |= SIP_C_UNRESERVED;
		if (alnum || strchr("-_.!~*'()&=+$,;?/%", (int)c))
			f |= SIP_C_USER;
		if (alnum || strchr("-_.!~*'()[]/:&+$%", (int)c))
			f |= SIP_C_PARAM;
		if (alnum || strchr("-.", (int)c))
			f |= SIP_C_HOST;
		if (alnum || strchr("-.!%*_+`'~()<>:\\\"/[]?{}", (int)c))
			f |= SIP_C_WORD;
		if (c == 0)
			f = 0;
		sip_ctype_tab[c] = f;
	}
}

__attribute__((constructor)) static void sip_tables_init(void)
{
	ctype_init();
	for (unsigned id = 1; id < SIP_HDR__COUNT; id++) {
		const struct hdr_name *hn = &hdr_names[id];
		unsigned slot = hname_hash(hn->name, strlen(hn->name));

		while (hname_slot[slot])
			slot = (slot + 1) & (HNAME_SLOTS - 1);
		hname_len[id] = (uint8_t)strlen(hn->name);
		if (hname_len[id] >= sizeof(hname_lower[id]))
			abort();   /* a table name longer than the probe copy: widen hname_lower */
		for (size_t i = 0; i < hname_len[id] && i + 1 < sizeof(hname_lower[id]); i++)
			hname_lower[id][i] = (char)lc(hn->name[i]);
		hname_slot[slot] = (uint8_t)id;
		if (hn->compact)
			hname_compact[hn->compact - 'a'] = (uint8_t)id;
	}
}

/* Header id of a name in any case, long or compact; SIP_HDR_OTHER if unknown. */
enum sip_hdr_id sip_hdr_id_lookup(const char *name, size_t len)
{
	unsigned slot;

	if (len == 1) {
		unsigned char c = lc(name[0]);

		return (c >= 'a' && c <= 'z') ? (enum sip_hdr_id)hname_compact[c - 'a']
					      : SIP_HDR_OTHER;
	}
	if (len == 0 || len > 32)
		return SIP_HDR_OTHER;
	slot = hname_hash(name, len);
	while (hname_slot[slot]) {
		unsigned id = hname_slot[slot];

		if (hname_len[id] == len) {
			const char *hn = hname_lower[id];
			size_t i = 0;

			while (i < len && hn[i] == (char)lc(name[i]))
				i++;
			if (i == len)
				return (enum sip_hdr_id)id;
		}
		slot = (slot + 1) & (HNAME_SLOTS - 1);
	}
	return SIP_HDR_OTHER;
}

const char *sip_hdr_name(enum sip_hdr_id id)
{
	return (unsigned)id < SIP_HDR__COUNT ? hdr_names[id].name : "";
}

/* Method names are case-sensitive (RFC 3261 7.1). */
enum sip_method sip_method_lookup(const struct pl *name)
{
	for (unsigned m = 1; m < SIP_METHOD__COUNT; m++) {
		if (pl_eq_str(name, method_names[m]))
			return (enum sip_method)m;
	}
	return SIP_METHOD_UNKNOWN;
}

const char *sip_method_name(enum sip_method m)
{
	return (unsigned)m < SIP_METHOD__COUNT ? method_names[m] : "";
}
