/* test_trace: sbcd's SIP trace (src/sbcd/tracectl.c): synthesized IPv4/IPv6 UDP records, the pcap file, limits, arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>

/* the module's static functions are what is tested: compile it here */
#include "../../src/sbcd/tracectl.c"

static struct event_base *base;
static struct sbcd sd;
static struct sbc_config *cfg;
static char dir[64];
static char sock[96];
static size_t nalloc_start;

static void msg_in(struct sip_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
}

static int setup(void **state)
{
	struct net_stream_cfg scfg = { .max_conns = 4, .max_per_source = 4, .idle_s = 30 };

	(void)state;
	nalloc_start = mem_nalloc();
	snprintf(dir, sizeof(dir), "/tmp/sbc-test-trace-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	base = event_base_new();
	assert_non_null(base);
	cfg = calloc(1, sizeof(*cfg));
	assert_non_null(cfg);
	snprintf(cfg->general.data_dir, sizeof(cfg->general.data_dir), "%s", dir);
	memset(&sd, 0, sizeof(sd));
	sd.base = base;
	sd.cfg = cfg;
	assert_int_equal(sip_transp_alloc(&sd.transp, base, &scfg, msg_in, NULL), 0);
	assert_int_equal(ctl_alloc(&sd.ctl, base, sock), 0);
	assert_int_equal(sbcd_trace_start(&sd), 0);
	assert_non_null(sd.trace);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	sbcd_trace_stop(&sd);
	assert_null(sd.trace);
	sd.ctl = mem_deref(sd.ctl);
	sd.transp = mem_deref(sd.transp);
	free(cfg);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mem_nalloc(), nalloc_start);
	return 0;
}

/* Ones' complement sum of buffers folded: 0xffff when a checksum in them is right. */
static uint16_t sum16(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint64_t add)
{
	uint64_t s = inet_csum_add(inet_csum_add(add, a, alen), b, blen);

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void sa_set(struct sockaddr_storage *sa, const char *ip, uint16_t port)
{
	assert_int_equal(net_sa_from_str(sa, ip, port), 0);
}

static const char MSG[] = "OPTIONS sip:sbc SIP/2.0\r\nContent-Length: 0\r\n\r\n!";  /* odd length */

/* Received from the remote end: IPv4, remote -> local, lengths and both checksums right. */
static void test_record_ipv4(void **state)
{
	struct sbcd_trace *tr = sd.trace;
	struct sockaddr_storage l, r;
	struct sip_trace_pkt p = { &l, &r, MSG, sizeof(MSG) - 1, ZONE_PUBLIC, SIP_PROTO_UDP, false };
	const uint8_t *ip = tr->pkt, *udp = tr->pkt + 20;
	uint8_t la[4], ra[4];
	size_t n;

	(void)state;
	sa_set(&l, "203.0.113.1", 5060);
	sa_set(&r, "198.51.100.7", 40001);
	n = pkt_build(tr, &p);
	assert_int_equal(n, 20 + 8 + p.len);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), n);
	assert_int_equal(ip[9], IPPROTO_UDP);
	inet_pton(AF_INET, "203.0.113.1", la);
	inet_pton(AF_INET, "198.51.100.7", ra);
	assert_memory_equal(ip + 12, ra, 4);
	assert_memory_equal(ip + 16, la, 4);
	assert_int_equal(sum16(ip, 20, NULL, 0, 0), 0xffff);
	assert_int_equal(get16(udp), 40001);
	assert_int_equal(get16(udp + 2), 5060);
	assert_int_equal(get16(udp + 4), 8 + p.len);
	assert_int_equal(sum16(ip + 12, 8, udp, 8 + p.len, IPPROTO_UDP + 8 + p.len), 0xffff);
	assert_memory_equal(udp + 8, MSG, p.len);

	/* sent: local -> remote */
	p.out = true;
	pkt_build(tr, &p);
	assert_memory_equal(ip + 12, la, 4);
	assert_memory_equal(ip + 16, ra, 4);
	assert_int_equal(get16(udp), 5060);
	assert_int_equal(get16(udp + 2), 40001);
	assert_int_equal(sum16(ip, 20, NULL, 0, 0), 0xffff);
	assert_int_equal(sum16(ip + 12, 8, udp, 8 + p.len, IPPROTO_UDP + 8 + p.len), 0xffff);
}

/* IPv6 ends give an IPv6 record; a v4-mapped remote an IPv4 one; mixed families the unspecified local address. */
static void test_record_ipv6_and_mixed(void **state)
{
	struct sbcd_trace *tr = sd.trace;
	struct sockaddr_storage l, r;
	struct sip_trace_pkt p = { &l, &r, MSG, sizeof(MSG) - 1, ZONE_PRIVATE, SIP_PROTO_TCP, true };
	const uint8_t *ip = tr->pkt, *udp = tr->pkt + 40;
	uint8_t la[16], ra[16], zero[16] = { 0 }, r4[4];
	size_t n;

	(void)state;
	sa_set(&l, "2001:db8::1", 5060);
	sa_set(&r, "2001:db8:0:1::99", 5070);
	inet_pton(AF_INET6, "2001:db8::1", la);
	inet_pton(AF_INET6, "2001:db8:0:1::99", ra);
	n = pkt_build(tr, &p);
	assert_int_equal(n, 40 + 8 + p.len);
	assert_int_equal(ip[0] >> 4, 6);
	assert_int_equal(get16(ip + 4), 8 + p.len);
	assert_int_equal(ip[6], IPPROTO_UDP);
	assert_memory_equal(ip + 8, la, 16);
	assert_memory_equal(ip + 24, ra, 16);
	assert_int_equal(get16(udp), 5060);
	assert_int_equal(get16(udp + 2), 5070);
	assert_int_equal(sum16(ip + 8, 32, udp, 8 + p.len, IPPROTO_UDP + 8 + p.len), 0xffff);

	/* local IPv4, remote IPv6: an IPv6 record from :: */
	sa_set(&l, "10.20.0.1", 5060);
	pkt_build(tr, &p);
	assert_int_equal(ip[0] >> 4, 6);
	assert_memory_equal(ip + 8, zero, 16);
	assert_memory_equal(ip + 24, ra, 16);
	assert_int_equal(sum16(ip + 8, 32, udp, 8 + p.len, IPPROTO_UDP + 8 + p.len), 0xffff);

	/* remote v4-mapped: IPv4 */
	sa_set(&r, "::ffff:10.20.0.10", 5060);
	n = pkt_build(tr, &p);
	assert_int_equal(n, 20 + 8 + p.len);
	assert_int_equal(ip[0], 0x45);
	inet_pton(AF_INET, "10.20.0.10", r4);
	assert_memory_equal(ip + 16, r4, 4);
	assert_int_equal(sum16(ip, 20, NULL, 0, 0), 0xffff);
	assert_int_equal(sum16(ip + 12, 8, ip + 20, 8 + p.len, IPPROTO_UDP + 8 + p.len), 0xffff);
}

static json_t *call(ctl_cmd_h *h, const char *args_json, int want, const char *want_err)
{
	json_t *args = json_loads(args_json, JSON_ALLOW_NUL, NULL), *res = NULL;
	char err[CTL_ERR_MAX] = "";
	int e;

	assert_non_null(args);
	e = h(args, &res, err, sizeof(err), sd.trace);
	json_decref(args);
	if (e != want)
		fail_msg("%s: got %d (%s), want %d", args_json, e, err, want);
	if (want_err && !strstr(err, want_err))
		fail_msg("%s: error \"%s\" lacks \"%s\"", args_json, err, want_err);
	if (e) {
		assert_null(res);
		return NULL;
	}
	assert_non_null(res);
	return res;
}

static void feed(unsigned n, size_t len, unsigned zone)
{
	static char big[4096];
	struct sockaddr_storage l, r;
	struct sip_trace_pkt p = { &l, &r, big, len, zone, SIP_PROTO_UDP, false };

	memset(big, 'x', sizeof(big));
	memcpy(big, "MESSAGE ", 8);
	sa_set(&l, "10.20.0.1", 5060);
	sa_set(&r, "10.20.0.10", 5060);
	for (unsigned i = 0; i < n; i++)
		on_packet(&p, sd.trace);
}

/* Records in a capture file and its link type; -1 if libpcap cannot read it. */
static int count_records(const char *path, int *dlt, size_t *total)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, eb);
	struct pcap_pkthdr *h;
	const u_char *d;
	int n = 0;

	if (!pc)
		return -1;
	*dlt = pcap_datalink(pc);
	*total = 0;
	while (pcap_next_ex(pc, &h, &d) == 1) {
		assert_int_equal(h->caplen, h->len);
		*total += h->caplen;
		n++;
	}
	pcap_close(pc);
	return n;
}

/* start, records through the transport's hook, stop: a 0600 raw-IP capture with exactly those records. */
static void test_file_round_trip(void **state)
{
	char path[128], args[256];
	struct stat st;
	json_t *s;
	int dlt;
	size_t total;
	struct sockaddr_storage src;

	(void)state;
	s = call(cmd_status, "{}", 0, NULL);
	assert_false(json_is_true(json_object_get(s, "running")));
	assert_true(json_is_null(json_object_get(s, "started")));
	assert_true(json_is_null(json_object_get(s, "reason")));
	json_decref(s);
	snprintf(path, sizeof(path), "%s/trace.pcap", dir);
	s = call(cmd_start, "{}", 0, NULL);
	assert_string_equal(json_string_value(json_object_get(s, "file")), path);
	assert_int_equal(json_integer_value(json_object_get(s, "bytes")), 24);
	json_decref(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 24);
	json_decref(call(cmd_start, "{}", EBUSY, "a trace is already running"));

	feed(3, 300, ZONE_PRIVATE);
	/* through the transport: the hook is set while running */
	sa_set(&src, "10.20.0.10", 5060);
	sip_transp_input(sd.transp, ZONE_PRIVATE, SIP_PROTO_UDP, 0, &src, "not SIP", 7);
	assert_int_equal(sd.trace->packets, 4);
	on_tick(-1, 0, sd.trace);   /* flushed: readable while running */
	assert_int_equal(count_records(path, &dlt, &total), 4);

	s = call(cmd_stop, "{}", 0, NULL);
	assert_string_equal(json_string_value(json_object_get(s, "reason")), "operator");
	assert_int_equal(json_integer_value(json_object_get(s, "packets")), 4);
	assert_false(json_is_null(json_object_get(s, "stopped")));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "bytes")), st.st_size);
	json_decref(s);
	assert_int_equal(count_records(path, &dlt, &total), 4);
	assert_int_equal(dlt, DLT_RAW);
	assert_int_equal(total, 3 * (20 + 8 + 300) + 20 + 8 + 7);
	assert_int_equal((size_t)st.st_size, 24 + 4 * 16 + total);
	/* stopped: the hook is off, nothing more is written */
	sip_transp_input(sd.transp, ZONE_PRIVATE, SIP_PROTO_UDP, 0, &src, "not SIP", 7);
	assert_int_equal(sd.trace->packets, 4);
	/* stopping again: the same status, no error */
	s = call(cmd_stop, "{}", 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(s, "packets")), 4);
	json_decref(s);

	/* a second trace replaces the first file whole */
	snprintf(args, sizeof(args), "{\"file\": \"%s\", \"zone\": \"public\"}", path);
	json_decref(call(cmd_start, args, 0, NULL));
	feed(2, 100, ZONE_PRIVATE);   /* not this zone */
	feed(1, 100, ZONE_PUBLIC);
	json_decref(call(cmd_stop, "{}", 0, NULL));
	assert_int_equal(count_records(path, &dlt, &total), 1);
}

/* max_bytes: the record that would pass it ends the trace; the file is never larger. */
static void test_max_bytes_and_max_s(void **state)
{
	char path[128];
	struct stat st;
	json_t *s;
	int dlt;
	size_t total;
	uint64_t packets;

	(void)state;
	snprintf(path, sizeof(path), "%s/trace.pcap", dir);
	json_decref(call(cmd_start, "{\"max_bytes\": 1048576}", 0, NULL));
	feed(1000, 4000, ZONE_PUBLIC);
	assert_false(sd.trace->running);
	s = call(cmd_status, "{}", 0, NULL);
	assert_string_equal(json_string_value(json_object_get(s, "reason")), "max_bytes");
	packets = (uint64_t)json_integer_value(json_object_get(s, "packets"));
	assert_int_equal(packets, (1048576 - 24) / (16 + 28 + 4000));
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= 1048576);
	assert_int_equal(json_integer_value(json_object_get(s, "bytes")), st.st_size);
	json_decref(s);
	assert_int_equal(count_records(path, &dlt, &total), (int)packets);

	json_decref(call(cmd_start, "{\"max_s\": 1}", 0, NULL));
	on_tick(-1, 0, sd.trace);
	assert_true(sd.trace->running);
	sd.trace->started_ms -= 1000;   /* a second later, as the tick sees it */
	on_tick(-1, 0, sd.trace);
	assert_false(sd.trace->running);
	s = call(cmd_status, "{}", 0, NULL);
	assert_string_equal(json_string_value(json_object_get(s, "reason")), "max_s");
	json_decref(s);
}

static void test_arguments(void **state)
{
	char path[128], args[256];
	FILE *f;

	(void)state;
	json_decref(call(cmd_start, "{\"max_bytes\": 1048575}", EINVAL, "\"max_bytes\" must be"));
	json_decref(call(cmd_start, "{\"max_bytes\": 1073741825}", EINVAL, "max_bytes"));
	json_decref(call(cmd_start, "{\"max_s\": 0}", EINVAL, "\"max_s\" must be"));
	json_decref(call(cmd_start, "{\"max_s\": \"1\"}", EINVAL, "max_s"));
	json_decref(call(cmd_start, "{\"zone\": \"dmz\"}", EINVAL, "\"zone\" must be"));
	json_decref(call(cmd_start, "{\"file\": \"rel.pcap\"}", EINVAL, "absolute path"));
	json_decref(call(cmd_start, "{\"file\": \"/a/\\u0000b\"}", EINVAL, "absolute path"));
	json_decref(call(cmd_start, "{\"file\": \"/tmp/\"}", EINVAL, "absolute path"));
	json_decref(call(cmd_start, "{\"x\": 1}", EINVAL, "\"x\""));
	json_decref(call(cmd_status, "{\"x\": 1}", EINVAL, "\"x\""));
	json_decref(call(cmd_stop, "{\"x\": 1}", EINVAL, "\"x\""));
	/* a file that is not a capture is not replaced; a folder neither */
	snprintf(path, sizeof(path), "%s/keep.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);
	snprintf(args, sizeof(args), "{\"file\": \"%s\"}", path);
	json_decref(call(cmd_start, args, EEXIST, "not a capture file"));
	snprintf(args, sizeof(args), "{\"file\": \"%s\"}", dir);
	json_decref(call(cmd_start, args, EEXIST, "not a regular file"));
	snprintf(args, sizeof(args), "{\"file\": \"%s/no/such.pcap\"}", dir);
	json_decref(call(cmd_start, args, ENOENT, "no/such.pcap"));
	assert_false(sd.trace->running);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_ipv4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_ipv6_and_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_bytes_and_max_s, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
	};

	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
