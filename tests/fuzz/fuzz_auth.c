/* fuzz_auth: libFuzzer harness for the users-file parser, credential checks and auth_check: never crashes, never lets anyone in. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b2bua/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Arbitrary secrets: alice has both, bob MD5 only. */
static const char users[] =
	"alice:0c5a2c1a0d2a5b2d6d7e9a4a8c1f3b5e:"
	"7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
	"bob:5f4e1c2fb2b7ae0e0a3e7cb2bfd5bbf1:-\n";

static struct auth *a;
static struct sip_msg *msg;

static void init(void)
{
	struct config_auth cfg = {
		.local = false, .realm = "sbc.example", .users_file = "/nonexistent/sbc-fuzz-users",
		.algorithms = CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256, .nonce_ttl_s = 300,
	};

	if (auth_alloc(&a, &cfg, NULL, NULL) || sip_msg_alloc(&msg) ||
	    auth_users_load(a, "fixed", users, sizeof(users) - 1, NULL))
		abort();
}

/*
 * The first byte chooses the target: 0 the users file parser, 1 one
 * credentials header value, else a whole SIP request checked as
 * Authorization (bit 0 clear) or Proxy-Authorization.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config_errors errs;
	const char *p = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	const char *user;
	int err;

	if (!a)
		init();
	if (!size)
		return 0;
	if (data[0] == 0) {
		err = auth_users_load(a, "fuzz", p, len, &errs);
		if ((err && err != EINVAL && err != ENOMEM) || (err == EINVAL && !errs.n && !errs.dropped))
			abort();
		if (!err && auth_users_load(a, "fixed", users, sizeof(users) - 1, NULL))
			abort();
	} else if (data[0] == 1) {
		struct pl m = PL("REGISTER"), c = { p, len };
		enum auth_result r = auth_response_verify(a, &m, &c);

		if ((unsigned)r > AUTH_FAIL)
			abort();
	} else if (sip_msg_decode_raw(msg, p, len, 0, NULL) == 0 && msg->req) {
		/* nonces come from a random key: nothing the fuzzer writes can be ours */
		if (auth_check(a, msg, data[0] & 1, 1000, &user) == AUTH_OK)
			abort();
	}
	return 0;
}
