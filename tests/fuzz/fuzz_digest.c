/* fuzz_digest: libFuzzer harness for sip_digest_decode and sip_unquote of every field. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[2 * SIP_MAX_HDR_VALUE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl in = { (const char *)data, size };
	struct sip_digest dg;
	size_t n;
	int err;

	err = sip_digest_decode(&dg, &in);
	if (err && err != EBADMSG && err != EMSGSIZE)
		abort();
	if (!err) {
		const struct pl *f[] = { &dg.scheme, &dg.params, &dg.realm, &dg.nonce, &dg.opaque,
					 &dg.algorithm, &dg.qop, &dg.stale, &dg.domain,
					 &dg.username, &dg.uri, &dg.response, &dg.cnonce, &dg.nc,
					 &dg.userhash };

		if (!dg.scheme.l)
			abort();
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			const struct pl *pl = f[i];

			if (pl->l && (pl->p < in.p || pl->p + pl->l > in.p + in.l))
				abort();
			/* a field never holds its own closing quote unescaped */
			if (i >= 2 && pl->l && pl->p[pl->l - 1] == '\\' &&
			    (pl->l < 2 || pl->p[pl->l - 2] != '\\'))
				abort();
			if (sip_unquote(pl, scratch, sizeof(scratch), &n) || n > pl->l ||
			    scratch[n] != '\0')
				abort();
		}
		/* a second decode of the same text gives the same fields */
		{
			struct sip_digest again;

			if (sip_digest_decode(&again, &in) || memcmp(&again, &dg, sizeof(dg)))
				abort();
		}
	}
	/* any input unquotes into a buffer that is large enough */
	if (size < sizeof(scratch) && sip_unquote(&in, scratch, sizeof(scratch), &n))
		abort();
	if (sip_unquote(&in, scratch, 1, &n) != (size ? ENOSPC : 0))
		abort();
	return 0;
}
