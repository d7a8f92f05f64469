/* fuzz_frame: libFuzzer harness for the fast-path frame parser and in-place rewrite: bounds, kinds, checksums after a rewrite. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A rewrite drawn from the input (FNV-1a of it seeds a xorshift), so the fuzzer steers it too. */
static void pick_rewrite(const uint8_t *data, size_t size, int af, struct frame_rewrite *rw)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t *p = (uint8_t *)rw;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < sizeof(*rw); i++) {
		h ^= h >> 12;
		h ^= h << 25;
		h ^= h >> 27;
		p[i] = (uint8_t)((h * 0x2545f4914f6cdd1dull) >> 56);
	}
	rw->vlan = h & 1;
	/* the right family most of the time; the wrong one must be refused */
	rw->af = (uint8_t)((h & 0x70) ? af : (af == AF_INET ? AF_INET6 : AF_INET));
}

/* What frame_parse says holds together and stays inside the frame. */
static void check_info(const struct frame_info *fi, int rc, size_t size)
{
	if (fi->kind >= FRAME_KIND__COUNT || fi->reason >= FRAME_REASON__COUNT)
		abort();
	if ((fi->kind == FRAME_MALFORMED) != (fi->reason != FRAME_R_NONE))
		abort();
	if ((rc == EBADMSG) != (fi->kind == FRAME_MALFORMED) || (rc && rc != EBADMSG))
		abort();
	if (fi->af && fi->kind != FRAME_MALFORMED && fi->l3_off + (size_t)fi->ip_len > size)
		abort();
	if (fi->kind == FRAME_FAST_UDP &&
	    (fi->l4_off <= fi->l3_off || fi->payload_off != fi->l4_off + 8 ||
	     fi->payload_off + (size_t)fi->payload_len != fi->l3_off + (size_t)fi->ip_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_info fi, fo;
	struct frame_rewrite rw;
	uint8_t *buf, *f, *before, *out = NULL;
	size_t out_len = 0;
	bool udp_ok, udp_none;
	int rc;

	/* exactly the frame and its head room: ASan sees any byte written or read beyond */
	buf = malloc(FRAME_HEADROOM + size);
	before = malloc(size + 1);
	if (!buf || !before)
		abort();
	f = buf + FRAME_HEADROOM;
	memcpy(f, data, size);
	rc = frame_parse(f, size, &fi);
	check_info(&fi, rc, size);
	if (fi.kind != FRAME_FAST_UDP) {
		pick_rewrite(data, size, AF_INET, &rw);
		if (frame_rewrite(f, &fi, &rw, &out, &out_len) != EINVAL)
			abort();
		goto out;
	}
	/* half the time, a correct UDP checksum first, so the check below always bites */
	if (size && (data[size - 1] & 1))
		frame_udp_csum_set(f, &fi);
	udp_none = fi.af == AF_INET && !f[fi.l4_off + 6] && !f[fi.l4_off + 7];
	udp_ok = frame_udp_csum_ok(f, &fi);
	pick_rewrite(data, size, fi.af, &rw);
	memcpy(before, f, size);
	rc = frame_rewrite(f, &fi, &rw, &out, &out_len);
	if (rc) {
		if (rc != EAFNOSUPPORT && rc != ETIMEDOUT)
			abort();
		if (memcmp(f, before, size))
			abort();   /* a refused rewrite writes nothing */
		goto out;
	}
	if (out < buf || out + out_len > f + size)
		abort();
	if (memcmp(out + out_len - fi.payload_len, before + fi.payload_off, fi.payload_len))
		abort();
	/* the result parses back as fast-path UDP (its IPv4 header checksum verified) */
	rc = frame_parse(out, out_len, &fo);
	check_info(&fo, rc, out_len);
	if (fo.kind != FRAME_FAST_UDP || fo.sport != rw.sport || fo.dport != rw.dport)
		abort();
	if (udp_none && (out[fo.l4_off + 6] || out[fo.l4_off + 7]))
		abort();   /* no checksum stays no checksum */
	if (udp_ok && !frame_udp_csum_ok(out, &fo))
		abort();
 out:
	free(before);
	free(buf);
	return 0;
}
