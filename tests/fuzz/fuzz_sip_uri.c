/* fuzz_sip_uri: libFuzzer harness for sip_uri_decode, its parameters and escapes, and addresses around it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[4 * SIP_MAX_HDR_VALUE];
static char wrapped[SIP_MAX_HDR_VALUE + 16];

static void inside(const struct pl *outer, const struct pl *pl)
{
	if (pl->l && (pl->p < outer->p || pl->p + pl->l > outer->p + outer->l))
		abort();
}

static void unescape(const struct pl *pl, bool must)
{
	size_t n;
	int err = sip_unescape(pl, scratch, sizeof(scratch), &n);

	if (err == EBADMSG && !must)
		return;
	if (err || n > pl->l || scratch[n] != '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl in = { (const char *)data, size }, c, n, v;
	struct sip_uri u, u2;
	struct sip_addr a;
	struct sip_contact ct;
	unsigned count = 0;

	unescape(&in, false);
	if (sip_uri_decode(&u, &in))
		goto addr;
	if (!pl_eq(&u.raw, &in))
		abort();
	inside(&in, &u.scheme);
	inside(&in, &u.user);
	inside(&in, &u.password);
	inside(&in, &u.host);
	inside(&in, &u.hostport);
	inside(&in, &u.params);
	inside(&in, &u.headers);
	inside(&in, &u.opaque);
	if (u.is_sip) {
		/* what decode accepted, unescape resolves */
		unescape(&u.user, true);
		unescape(&u.password, true);
		unescape(&u.headers, true);
		if (!u.host.l || !u.hostport.l || u.opaque.l)
			abort();
		if (u.host_type == SIP_HOST_IPV6 && u.hostport.p[0] != '[')
			abort();
		c = u.params;
		while (sip_param_next(&c, &n, &v)) {
			inside(&u.params, &n);
			inside(&u.params, &v);
			unescape(&n, true);
			unescape(&v, true);
			if (++count > SIP_MAX_PARAMS)
				abort();
		}
		sip_uri_param_get(&u, "transport", &v);
		sip_uri_param_get(&u, "lr", NULL);
	} else if (!u.opaque.l) {
		abort();
	}
	/* the same URI in angle brackets is a name-addr with that URI */
	if (size + 2 <= sizeof(wrapped)) {
		struct pl w = { wrapped, size + 2 };

		wrapped[0] = '<';
		memcpy(wrapped + 1, data, size);
		wrapped[size + 1] = '>';
		if (sip_addr_decode(&a, &w) || !a.angle || a.tag.l || a.params.l ||
		    sip_uri_decode(&u2, &a.auri) || u2.port != u.port || u2.is_sip != u.is_sip)
			abort();
	}
 addr:
	/* the input as a header value of the address kinds */
	if (!sip_addr_decode(&a, &in)) {
		inside(&in, &a.dname);
		inside(&in, &a.auri);
		inside(&in, &a.tag);
		inside(&in, &a.params);
		if (!a.auri.l || sip_uri_decode(&u2, &a.auri))
			abort();
	}
	if (!sip_contact_decode(&ct, &in) && !ct.star && !ct.addr.auri.l)
		abort();
	return 0;
}
