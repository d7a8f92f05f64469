/* fuzz_token: libFuzzer harness for token_decode: never crashes, never accepts anything token_encode did not produce. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b2bua/b2bua_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed key for this harness only (sbcd never takes a key from anyone). */
static const uint8_t fuzz_key[TOKEN_KEY_LEN] = {
	0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6f, 0x6e, 0x6c, 0x79, 0x2d, 0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x2d,
	0x6b, 0x65, 0x79, 0x2d, 0x6e, 0x6f, 0x74, 0x2d, 0x61, 0x2d, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74,
};

/*
 * Tokens token_encode produced under fuzz_key (generation 0), and what
 * they hold; tests/fuzz/seeds/token/ has them too. They are the only
 * inputs token_decode may accept.
 */
static const struct known {
	const char *text;
	struct b2bua_token t;
} known[] = {
	{ "APhamkmJgJMpeBmb3RxCSenxLjltxUDH-R9Edtw8k4arJLqryn0", { 1, 1, 0, 0, 1 } },
	{ "AL0VaYb9pD2LPEN_6WXUsH3r6DYhjfwp3UEvBTVm_NL4Uih5qrQ", { 2, 1, 1, 1, 7 } },
	{ "ANiHEvk1SXz34xerBQoixtV3GXHqM0D5tm7-zfrl0wJCCuBy7Ig",
	  { 0xfedcba9876543210ULL, 2, 0, 0, 0xffffffffu } },
	{ "AHfND1wDKn_wDqjYIvuHZRIk8sut0dgfk7Zdz2En-pPPiT0oHoU", { 0, 0, 0, 0, 0 } },
	{ "AHQaQY2N55FaNmd2saQZS8ImTzlqJYbhigPXbOZJTyKw_PROzdY", { UINT64_MAX, 15, 3, 3, 12345 } },
};

static struct token_key *cur;      /* fuzz_key is the current key */
static struct token_key *rotated;  /* fuzz_key is the previous key */
static struct token_key *other;    /* a random key: accepts none of them */

static bool same(const struct b2bua_token *a, const struct b2bua_token *b)
{
	return a->id == b->id && a->kind == b->kind && a->zone == b->zone && a->leg == b->leg &&
	       a->epoch == b->epoch;
}

static void init(void)
{
	struct b2bua_token t;

	if (token_key_alloc_with(&cur, fuzz_key) || token_key_alloc_with(&rotated, fuzz_key) ||
	    token_key_rotate(rotated) || token_key_alloc(&other))
		abort();
	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		struct pl pl = pl_from_str(known[i].text);

		if (token_decode(cur, &pl, &t) || !same(&t, &known[i].t) ||
		    token_decode(rotated, &pl, &t) || !same(&t, &known[i].t) ||
		    token_decode(other, &pl, &t) != EBADMSG)
			abort();
	}
}

/* Decode with k: accepted only if data is one of the known tokens, with its content. */
static void check_decode(const struct token_key *k, const uint8_t *data, size_t size, bool may)
{
	struct pl pl = { (const char *)data, size };
	struct b2bua_token t;
	int err = token_decode(k, &pl, &t);

	if (err == EBADMSG)
		return;
	if (err || !may || size != TOKEN_TEXT_LEN)
		abort();
	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		if (!memcmp(data, known[i].text, TOKEN_TEXT_LEN)) {
			if (!same(&t, &known[i].t))
				abort();
			return;
		}
	}
	abort();   /* a forgery */
}

/* The input's first bytes as token fields: encode, decode, compare. */
static void check_roundtrip(const uint8_t *data, size_t size)
{
	struct b2bua_token t = { 0 }, got;
	char text[TOKEN_TEXT_SIZE];
	struct pl pl = { text, TOKEN_TEXT_LEN };

	if (size < 15)
		return;
	memcpy(&t.id, data, 8);
	memcpy(&t.epoch, data + 8, 4);
	t.kind = data[12] & TOKEN_KIND_MAX;
	t.zone = data[13] & TOKEN_ZONE_MAX;
	t.leg = data[14] & TOKEN_LEG_MAX;
	if (token_encode(cur, &t, text, sizeof(text)) || strlen(text) != TOKEN_TEXT_LEN ||
	    token_decode(cur, &pl, &got) || !same(&t, &got) ||
	    token_decode(other, &pl, &got) != EBADMSG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cur)
		init();
	check_decode(cur, data, size, true);
	check_decode(rotated, data, size, true);
	check_decode(other, data, size, false);
	check_roundtrip(data, size);
	return 0;
}
