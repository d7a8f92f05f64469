/* sdp private interface: helpers shared by the decoder, the accessors and the rewriter. */
#ifndef SBC_SDP_INT_H
#define SBC_SDP_INT_H

#include "sdp/sdp.h"

/* The level an attribute lookup works on: a media, or the session for NULL. */
static inline const struct sdp_level *sdp_level_of(const struct sdp_session *s,
						   const struct sdp_media *m)
{
	return m ? &m->lvl : &s->lvl;
}

/* First byte of a line (its type letter). */
static inline const char *sdp_line_start(const struct sdp_line *ln)
{
	return ln->val.p - 2;
}

/* Bytes of a line with its "x=" and its line end. */
static inline size_t sdp_line_size(const struct sdp_line *ln)
{
	return ln->val.l + 2 + ln->eol;
}

bool sdp_ip4_decode(const struct pl *pl, uint8_t b[4]);
bool sdp_ip6_decode(const struct pl *pl, uint8_t b[16]);

#endif
