/* sip_int: SIP private interface: character classes and scanners shared by the parsers. */
#ifndef SBC_SIP_INT_H
#define SBC_SIP_INT_H

#include "sip.h"

/* Bits of msg->parsed / msg->parse_err for the cached headers. */
enum {
	SIP_P_VIA = 1 << 0,
	SIP_P_FROM = 1 << 1,
	SIP_P_TO = 1 << 2,
	SIP_P_CSEQ = 1 << 3,
	SIP_P_RURI = 1 << 4,
};

/* Character classes of RFC 3261 25.1, one table. */
enum {
	SIP_C_TOKEN = 1 << 0,    /* token: alphanum -.!%*_+`'~ */
	SIP_C_WS = 1 << 1,       /* SP, HTAB, CR, LF (LWS once folded) */
	SIP_C_HEX = 1 << 2,
	SIP_C_UNRESERVED = 1 << 3,
	SIP_C_USER = 1 << 4,     /* unreserved / user-unreserved (& = + $ , ; ? /) */
	SIP_C_PARAM = 1 << 5,    /* paramchar: param-unreserved [ ] / : & + $ and unreserved */
	SIP_C_HOST = 1 << 6,     /* alphanum - . (and : [ ] for IPv6 references) */
	SIP_C_WORD = 1 << 7,     /* word of Call-ID: token plus ( ) < > : \ " / [ ] ? { } */
};

extern uint8_t sip_ctype_tab[256];

static inline bool sip_is(char c, uint8_t cls)
{
	return (sip_ctype_tab[(unsigned char)c] & cls) != 0;
}

/* Advance over LWS; returns the number of bytes skipped. */
static inline void sip_skip_ws(struct pl *pl)
{
	while (pl->l && sip_is(pl->p[0], SIP_C_WS)) {
		pl->p++;
		pl->l--;
	}
}

bool sip_scan_token(struct pl *cursor, struct pl *tok);
int sip_scan_quoted(struct pl *cursor, struct pl *inner);
bool sip_split_value(struct pl *rest, struct pl *val);
int sip_hostport_decode(const struct pl *hp, struct pl *host, uint16_t *port, uint8_t *type);
bool sip_escapes_valid(const struct pl *pl);
int sip_params_check(const struct pl *params);

/* One parameter sip_params_scan should pick out; found may be NULL. */
struct sip_param_want {
	struct pl name;
	struct pl *val;
	bool *found;
};

int sip_params_scan(const struct pl *params, const struct sip_param_want *wv, size_t wc);

#endif
