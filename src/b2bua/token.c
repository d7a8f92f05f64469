/* token: authenticated, encrypted Contact tokens (AES-256-GCM, per-boot random keys with rotation). */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b2bua_int.h"

/*
 * Layout of the 38 raw bytes (docs/topology-hiding.md):
 *   [0]      key generation mod 256, clear, authenticated (AAD)
 *   [1..12]  nonce, clear (random: RAND_bytes, see nonce_next)
 *   [13..25] ciphertext of id (8, big-endian), epoch (4), kind<<4|zone<<2|leg (1)
 *   [26..37] GCM tag, 96 bits
 * The AAD is a format label followed by the generation byte, so a token of
 * another format or purpose never verifies as this one.
 */
#define TOKEN_AAD_LABEL "sbc-contact-token-1"
#define TOKEN_AAD_LABEL_LEN (sizeof(TOKEN_AAD_LABEL) - 1)

enum {
	OFF_GEN = 0,
	OFF_NONCE = 1,
	OFF_CT = OFF_NONCE + TOKEN_NONCE_LEN,
	OFF_TAG = OFF_CT + TOKEN_PLAIN_LEN,
};

/* One key: its generation and two cipher contexts keyed once, re-armed with a new IV per token. */
struct token_slot {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	uint64_t uses;
	uint8_t gen;
	bool set;
};

/*
 * Nonces are drawn from RAND_bytes (a fork-safe DRBG) 64 at a time: one
 * call costs about as much as the AES-GCM of a token, so drawing them one
 * by one would double the price of token_encode. A forked child must not
 * hand out the parent's remaining nonces under the same key, so a fork
 * empties every pool (token_fork_gen).
 */
#define TOKEN_NONCE_POOL 64

struct token_key {
	struct token_slot cur;
	struct token_slot prev;
	uint8_t pool[TOKEN_NONCE_POOL][TOKEN_NONCE_LEN];
	unsigned pool_left;
	unsigned pool_gen;
};

static unsigned token_fork_gen;
static pthread_once_t token_fork_once = PTHREAD_ONCE_INIT;

static void token_fork_child(void)
{
	token_fork_gen++;
}

static void token_fork_register(void)
{
	pthread_atfork(NULL, NULL, token_fork_child);
}

/* The next unused nonce of the pool, refilled when empty or after a fork. 0 or EIO. */
static int nonce_next(struct token_key *k, uint8_t nonce[TOKEN_NONCE_LEN])
{
	if (!k->pool_left || k->pool_gen != token_fork_gen) {
		if (RAND_bytes(&k->pool[0][0], sizeof(k->pool)) != 1) {
			k->pool_left = 0;
			return EIO;
		}
		k->pool_left = TOKEN_NONCE_POOL;
		k->pool_gen = token_fork_gen;
	}
	k->pool_left--;
	memcpy(nonce, k->pool[k->pool_left], TOKEN_NONCE_LEN);
	memset(k->pool[k->pool_left], 0, TOKEN_NONCE_LEN);
	return 0;
}

static const char b64url[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void slot_clear(struct token_slot *s)
{
	EVP_CIPHER_CTX_free(s->enc);   /* cleanses the key schedule */
	EVP_CIPHER_CTX_free(s->dec);
	memset(s, 0, sizeof(*s));
}

/* Key both contexts of s with key; the caller cleanses key. 0, ENOMEM or EIO. */
static int slot_init(struct token_slot *s, const uint8_t key[TOKEN_KEY_LEN], uint8_t gen)
{
	const EVP_CIPHER *c = EVP_aes_256_gcm();

	memset(s, 0, sizeof(*s));
	s->enc = EVP_CIPHER_CTX_new();
	s->dec = EVP_CIPHER_CTX_new();
	if (!s->enc || !s->dec) {
		slot_clear(s);
		return ENOMEM;
	}
	if (EVP_EncryptInit_ex(s->enc, c, NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(s->dec, c, NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_GCM_SET_IVLEN, TOKEN_NONCE_LEN, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_IVLEN, TOKEN_NONCE_LEN, NULL) != 1) {
		slot_clear(s);
		return EIO;
	}
	s->gen = gen;
	s->set = true;
	return 0;
}

/* A fresh slot with a random key. */
static int slot_random(struct token_slot *s, uint8_t gen)
{
	uint8_t key[TOKEN_KEY_LEN];
	int err = random_bytes(key, sizeof(key));

	if (!err)
		err = slot_init(s, key, gen);
	OPENSSL_cleanse(key, sizeof(key));
	return err;
}

static void token_key_destroy(void *data)
{
	struct token_key *k = data;

	slot_clear(&k->cur);
	slot_clear(&k->prev);
}

static int key_alloc(struct token_key **kp, const uint8_t *key)
{
	struct token_key *k;
	int err;

	if (!kp)
		return EINVAL;
	if (pthread_once(&token_fork_once, token_fork_register))
		return EIO;
	k = mem_zalloc(sizeof(*k), token_key_destroy);
	if (!k)
		return ENOMEM;
	err = key ? slot_init(&k->cur, key, 0) : slot_random(&k->cur, 0);
	if (err)
		goto out_free;
	*kp = k;
	return 0;

 out_free:
	mem_deref(k);
	return err;
}

/* A key set with a current key from the kernel's CSPRNG: the per-boot key. */
int token_key_alloc(struct token_key **kp)
{
	return key_alloc(kp, NULL);
}

/* A key set with a given current key: for tests and the fuzz harness only. */
int token_key_alloc_with(struct token_key **kp, const uint8_t key[TOKEN_KEY_LEN])
{
	if (!key)
		return EINVAL;
	return key_alloc(kp, key);
}

/*
 * Make a new random key current and keep the old one as previous, so the
 * tokens already handed out stay valid until token_key_retire. The new key
 * is built before anything is touched: on error the set is unchanged.
 */
int token_key_rotate(struct token_key *k)
{
	struct token_slot s;
	int err;

	if (!k)
		return EINVAL;
	err = slot_random(&s, (uint8_t)(k->cur.gen + 1));
	if (err)
		return err;
	slot_clear(&k->prev);
	k->prev = k->cur;
	k->cur = s;
	return 0;
}

/* Forget the previous key: the end of its grace period. */
void token_key_retire(struct token_key *k)
{
	if (k)
		slot_clear(&k->prev);
}

uint64_t token_key_uses(const struct token_key *k)
{
	return k ? k->cur.uses : 0;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void aad_make(uint8_t aad[TOKEN_AAD_LABEL_LEN + 1], uint8_t gen)
{
	memcpy(aad, TOKEN_AAD_LABEL, TOKEN_AAD_LABEL_LEN);
	aad[TOKEN_AAD_LABEL_LEN] = gen;
}

/* base64url without padding; out gets (n * 8 + 5) / 6 characters and a NUL. */
static void b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;
	char *o = out;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = b64url[v >> 18];
		*o++ = b64url[(v >> 12) & 63];
		*o++ = b64url[(v >> 6) & 63];
		*o++ = b64url[v & 63];
	}
	if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*o++ = b64url[v >> 18];
		*o++ = b64url[(v >> 12) & 63];
		*o++ = b64url[(v >> 6) & 63];
	} else if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*o++ = b64url[v >> 18];
		*o++ = b64url[(v >> 12) & 63];
	}
	*o = '\0';
}

static int b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decode exactly TOKEN_TEXT_LEN characters into TOKEN_RAW_LEN bytes. The
 * unused low bits of the last character must be zero, so one token has
 * exactly one spelling.
 */
static bool b64url_decode_token(const char *in, uint8_t out[TOKEN_RAW_LEN])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < TOKEN_TEXT_LEN; i++) {
		int v = b64url_val((unsigned char)in[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < TOKEN_RAW_LEN)
				out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return o == TOKEN_RAW_LEN && acc == 0;
}

/*
 * Encode t under the current key with a fresh random nonce. Not
 * thread-safe: the key's cipher contexts are shared (event-loop thread).
 */
int token_encode(struct token_key *k, const struct b2bua_token *t, char *out, size_t size)
{
	uint8_t raw[TOKEN_RAW_LEN], pt[TOKEN_PLAIN_LEN], aad[TOKEN_AAD_LABEL_LEN + 1];
	uint8_t fin[16];
	struct token_slot *s;
	int n, err = 0;

	if (!k || !t || !out)
		return EINVAL;
	if (t->kind > TOKEN_KIND_MAX || t->zone > TOKEN_ZONE_MAX || t->leg > TOKEN_LEG_MAX)
		return EINVAL;
	if (size < TOKEN_TEXT_SIZE)
		return ENOSPC;
	s = &k->cur;
	if (s->uses >= TOKEN_KEY_MAX_USES)
		return EOVERFLOW;

	raw[OFF_GEN] = s->gen;
	if (nonce_next(k, raw + OFF_NONCE))
		return EIO;
	put_be64(pt, t->id);
	pt[8] = (uint8_t)(t->epoch >> 24);
	pt[9] = (uint8_t)(t->epoch >> 16);
	pt[10] = (uint8_t)(t->epoch >> 8);
	pt[11] = (uint8_t)t->epoch;
	pt[12] = (uint8_t)(t->kind << 4 | t->zone << 2 | t->leg);
	aad_make(aad, s->gen);

	if (EVP_EncryptInit_ex(s->enc, NULL, NULL, NULL, raw + OFF_NONCE) != 1 ||
	    EVP_EncryptUpdate(s->enc, NULL, &n, aad, sizeof(aad)) != 1 ||
	    EVP_EncryptUpdate(s->enc, raw + OFF_CT, &n, pt, TOKEN_PLAIN_LEN) != 1 ||
	    n != TOKEN_PLAIN_LEN ||
	    EVP_EncryptFinal_ex(s->enc, fin, &n) != 1 || n != 0 ||
	    EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_GCM_GET_TAG, TOKEN_TAG_LEN, raw + OFF_TAG) != 1) {
		err = EIO;
		goto out;
	}
	s->uses++;
	b64url_encode(raw, TOKEN_RAW_LEN, out);
 out:
	OPENSSL_cleanse(pt, sizeof(pt));
	return err;
}

/*
 * Authenticate and decrypt. The generation byte picks the key without any
 * cryptography, so a token of a retired or unknown key costs nothing; a
 * wrong tag is found by OpenSSL in constant time. Same thread rule as
 * token_encode.
 */
int token_decode(const struct token_key *k, const struct pl *text, struct b2bua_token *t)
{
	uint8_t raw[TOKEN_RAW_LEN], pt[TOKEN_PLAIN_LEN], aad[TOKEN_AAD_LABEL_LEN + 1];
	uint8_t fin[16];
	const struct token_slot *s;
	int n, err = EBADMSG;

	if (!k || !text || !t)
		return EINVAL;
	if (text->l != TOKEN_TEXT_LEN || !text->p || !b64url_decode_token(text->p, raw))
		return EBADMSG;
	if (k->cur.set && raw[OFF_GEN] == k->cur.gen)
		s = &k->cur;
	else if (k->prev.set && raw[OFF_GEN] == k->prev.gen)
		s = &k->prev;
	else
		return EBADMSG;
	aad_make(aad, raw[OFF_GEN]);

	if (EVP_DecryptInit_ex(s->dec, NULL, NULL, NULL, raw + OFF_NONCE) != 1 ||
	    EVP_DecryptUpdate(s->dec, NULL, &n, aad, sizeof(aad)) != 1 ||
	    EVP_DecryptUpdate(s->dec, pt, &n, raw + OFF_CT, TOKEN_PLAIN_LEN) != 1 ||
	    n != TOKEN_PLAIN_LEN ||
	    EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_TAG, TOKEN_TAG_LEN, raw + OFF_TAG) != 1 ||
	    EVP_DecryptFinal_ex(s->dec, fin, &n) != 1)
		goto out;
	t->id = get_be64(pt);
	t->epoch = (uint32_t)pt[8] << 24 | (uint32_t)pt[9] << 16 | (uint32_t)pt[10] << 8 | pt[11];
	t->kind = pt[12] >> 4;
	t->zone = (pt[12] >> 2) & 3;
	t->leg = pt[12] & 3;
	err = 0;
 out:
	OPENSSL_cleanse(pt, sizeof(pt));
	return err;
}
