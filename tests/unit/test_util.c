/* test_util: slices, reference-counted memory, bounded writer, splicing, timers, excerpts, atomic files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "unit.h"


static void test_pl_u32(void **state)
{
	struct pl a = PL("4294967295"), b = PL("4294967296"), c = PL("12a"), d = PL(""),
		  e = PL("-1"), f = PL("007");
	uint32_t v = 0;

	(void)state;
	assert_int_equal(pl_u32(&a, &v), 0);
	assert_int_equal(v, 4294967295u);
	assert_int_equal(pl_u32(&b, &v), EOVERFLOW);
	assert_int_equal(pl_u32(&c, &v), EINVAL);
	assert_int_equal(pl_u32(&d, &v), EINVAL);
	assert_int_equal(pl_u32(&e, &v), EINVAL);
	assert_int_equal(pl_u32(&f, &v), 0);
	assert_int_equal(v, 7);
}

static void test_pl_compare_trim(void **state)
{
	struct pl a = PL("Content-Length"), t = PL(" \t\r\n value \r\n ");
	char buf[6];

	(void)state;
	assert_true(pl_caseeq_str(&a, "content-LENGTH"));
	assert_false(pl_caseeq_str(&a, "content-lengthx"));
	assert_false(pl_eq_str(&a, "content-length"));
	assert_true(pl_eq_str(&a, "Content-Length"));
	t = pl_trim(t);
	assert_true(pl_eq_str(&t, "value"));
	assert_int_equal(pl_strcpy(&t, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "value");
	assert_int_equal(pl_strcpy(&t, buf, 5), ENOSPC);
}

static int destroyed;

static void count_destroy(void *data)
{
	(void)data;
	destroyed++;
}

static void test_mem_refs_and_destructor(void **state)
{
	struct buf *b;
	void *p;

	(void)state;
	destroyed = 0;
	p = mem_zalloc(16, count_destroy);
	assert_non_null(p);
	assert_int_equal(mem_nrefs(p), 1);
	assert_ptr_equal(mem_ref(p), p);
	assert_int_equal(mem_nrefs(p), 2);
	assert_null(mem_deref(p));
	assert_int_equal(mem_nrefs(p), 1);
	assert_int_equal(destroyed, 0);
	mem_deref(p);
	assert_int_equal(destroyed, 1);
	assert_int_equal(buf_from_mem(&b, "abc", 3), 0);
	assert_int_equal(b->len, 3);
	assert_memory_equal(b->data, "abc", 3);
	mem_deref(b);
	mem_fail_after(0);
	assert_null(mem_zalloc(8, NULL));
	assert_int_equal(buf_alloc(&b, 8), ENOMEM);
	mem_fail_after(-1);
	assert_null(mem_deref(NULL));
}

static void test_wbuf_bounds(void **state)
{
	char mem[8];
	struct wbuf wb;

	(void)state;
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(wbuf_put_str(&wb, "12345"), 0);
	assert_int_equal(wbuf_put_str(&wb, "6789"), ENOSPC);
	assert_int_equal(wb.len, 5);
	assert_int_equal(wbuf_put_u32(&wb, 42), 0);
	assert_int_equal(wb.len, 7);
	assert_memory_equal(mem, "1234542", 7);
	assert_int_equal(wbuf_printf(&wb, "%d", 12), ENOSPC);
	assert_int_equal(wb.len, 7);
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(wbuf_put_u32(&wb, 0), 0);
	assert_int_equal(wbuf_put_u32(&wb, 4294967295u), ENOSPC);
	assert_int_equal(wb.len, 1);
}

static void test_splice(void **state)
{
	const char *src = "Via: a\r\nTo: b\r\n\r\n";
	struct splice sv[3] = {
		{ 12, 1, PL("bob") },      /* To value */
		{ 5, 1, PL("SBC") },       /* Via value */
		{ 15, 0, PL("X: 1\r\n") }, /* insert before the empty line */
	};
	char mem[64];
	struct wbuf wb;

	(void)state;
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(splice_write(src, strlen(src), sv, 3, &wb), 0);
	assert_int_equal(wb.len, splice_delta_len(sv, 3, strlen(src)));
	assert_memory_equal(mem, "Via: SBC\r\nTo: bob\r\nX: 1\r\n\r\n", wb.len);

	/* overlapping ranges are refused and leave the output untouched */
	sv[0] = (struct splice){ 4, 4, PL("x") };
	sv[1] = (struct splice){ 6, 2, PL("y") };
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(splice_write(src, strlen(src), sv, 2, &wb), EINVAL);
	assert_int_equal(wb.len, 0);

	/* range past the end */
	sv[0] = (struct splice){ 10, 100, PL("x") };
	assert_int_equal(splice_write(src, strlen(src), sv, 1, &wb), EINVAL);

	/* too small an output */
	wbuf_init(&wb, mem, 4);
	assert_int_equal(splice_write(src, strlen(src), NULL, 0, &wb), ENOSPC);
	assert_int_equal(wb.len, 0);

	/* inserts at one offset keep their order */
	sv[0] = (struct splice){ 0, 0, PL("A") };
	sv[1] = (struct splice){ 0, 0, PL("B") };
	sv[2] = (struct splice){ 0, 0, PL("C") };
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(splice_write("z", 1, sv, 3, &wb), 0);
	assert_memory_equal(mem, "ABCz", 4);
}

struct fire_log {
	int order[16];
	int n;
	struct tmr_heap *hp;
	struct tmr *rearm;
};

static struct fire_log flog;

static void on_fire(void *arg)
{
	int id = (int)(intptr_t)arg;

	flog.order[flog.n++] = id;
	if (id == 3 && flog.rearm) {
		/* re-arm a timer from inside a handler, already due */
		tmr_start(flog.hp, flog.rearm, 5, on_fire, (void *)(intptr_t)9);
		flog.rearm = NULL;
	}
}

static void test_tmr_order_cancel_rearm(void **state)
{
	struct tmr_heap hp;
	struct tmr t[6] = { 0 };

	(void)state;
	memset(&flog, 0, sizeof(flog));
	tmr_heap_init(&hp);
	flog.hp = &hp;
	assert_int_equal(tmr_heap_next(&hp), UINT64_MAX);
	assert_int_equal(tmr_start(&hp, &t[0], 30, on_fire, (void *)0), 0);
	assert_int_equal(tmr_start(&hp, &t[1], 10, on_fire, (void *)1), 0);
	assert_int_equal(tmr_start(&hp, &t[2], 20, on_fire, (void *)2), 0);
	assert_int_equal(tmr_start(&hp, &t[3], 10, on_fire, (void *)3), 0);
	assert_int_equal(tmr_start(&hp, &t[4], 40, on_fire, (void *)4), 0);
	assert_int_equal(tmr_heap_next(&hp), 10);
	tmr_cancel(&hp, &t[2]);
	assert_false(tmr_armed(&t[2]));
	tmr_cancel(&hp, &t[2]);      /* twice is harmless */
	assert_int_equal(tmr_heap_count(&hp), 4);

	assert_int_equal(tmr_heap_poll(&hp, 9), 0);
	flog.rearm = &t[5];
	assert_int_equal(tmr_heap_poll(&hp, 10), 3);   /* 1, 3, then 9 re-armed at 5 */
	assert_int_equal(flog.order[0], 1);
	assert_int_equal(flog.order[1], 3);
	assert_int_equal(flog.order[2], 9);
	/* restart moves a timer */
	assert_int_equal(tmr_start(&hp, &t[4], 15, on_fire, (void *)4), 0);
	assert_int_equal(tmr_heap_next(&hp), 15);
	assert_int_equal(tmr_heap_poll(&hp, 100), 2);
	assert_int_equal(flog.order[3], 4);
	assert_int_equal(flog.order[4], 0);
	assert_int_equal(tmr_heap_count(&hp), 0);
	tmr_heap_close(&hp);
}

static void test_tmr_many(void **state)
{
	enum { N = 1000 };
	static struct tmr t[N];
	struct tmr_heap hp;
	uint64_t last = 0;

	(void)state;
	memset(&flog, 0, sizeof(flog));
	tmr_heap_init(&hp);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(tmr_start(&hp, &t[i], (i * 7919u) % 1000u, on_fire, NULL), 0);
	for (unsigned i = 0; i < N; i += 3)
		tmr_cancel(&hp, &t[i]);
	/* the heap hands out due times in order */
	while (tmr_heap_count(&hp)) {
		uint64_t next = tmr_heap_next(&hp);

		assert_true(next >= last);
		last = next;
		flog.n = 0;
		tmr_heap_poll(&hp, next);
	}
	tmr_heap_close(&hp);

	/* a fresh heap must grow for its first timer: that growth may fail */
	tmr_heap_init(&hp);
	mem_fail_after(0);
	assert_int_equal(tmr_start(&hp, &t[0], 1, on_fire, NULL), ENOMEM);
	mem_fail_after(-1);
	assert_false(tmr_armed(&t[0]));
	assert_int_equal(tmr_heap_count(&hp), 0);
	tmr_heap_close(&hp);
}

static void test_log_excerpt(void **state)
{
	char out[256], big[200];

	(void)state;
	log_excerpt(out, sizeof(out), "INVITE\r\n\0x", 10);
	assert_string_equal(out, "INVITE\\x0d\\x0a\\x00x");
	memset(big, 'A', sizeof(big));
	log_excerpt(out, sizeof(out), big, sizeof(big));
	assert_int_equal(strlen(out), LOG_EXCERPT_MAX + 3);
	assert_string_equal(out + LOG_EXCERPT_MAX, "...");
	log_excerpt(out, 8, big, sizeof(big));
	assert_true(strlen(out) < 8);
}

static void test_log_level_parse(void **state)
{
	enum log_level l;

	(void)state;
	assert_int_equal(log_level_parse("DEBUG", &l), 0);
	assert_int_equal(l, LOG_LVL_DEBUG);
	assert_int_equal(log_level_parse("verbose", &l), -1);
	assert_string_equal(log_level_name(LOG_LVL_WARN), "warn");
}

static void test_file_write_atomic(void **state)
{
	char dir[] = "/tmp/sbc-test-XXXXXX", path[64], buf[32];
	struct stat st;
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(file_write_atomic(path, "old", 3, 0600), 0);
	assert_int_equal(file_write_atomic(path, "new!", 4, 0600), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "new!", 4);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);  /* no temp file left behind */
	assert_int_equal(file_write_atomic("/nonexistent-dir/x", "a", 1, 0600), ENOENT);
}

/*
 * file_write_atomic_at / file_read_max_at: relative to a folder's fd; a
 * stale temp file and a symbolic link at the name are replaced, never
 * written through; a link is refused by the reader; no temp file is left.
 */
static void test_file_at(void **state)
{
	char dir[] = "/tmp/sbc-test-XXXXXX", tmp[64], target[64];
	struct stat st;
	size_t len = 99;
	char *buf = NULL;
	int dfd, fd = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	snprintf(tmp, sizeof(tmp), "%s/f.tmp.%ld", dir, (long)getpid());
	snprintf(target, sizeof(target), "%s/target", dir);

	assert_int_equal(file_write_atomic_at(dfd, "f", "one", 3, 0640), 0);
	assert_int_equal(symlink(target, tmp), 0);   /* a stale temp name, as a link */
	assert_int_equal(file_write_atomic_at(dfd, "f", "two!", 4, 0600), 0);
	assert_int_equal(access(target, F_OK), -1);  /* not written through the link */
	assert_int_equal(file_read_max_at(dfd, "f", 4, &buf, &len, NULL, &st), 0);
	assert_int_equal(len, 4);
	assert_string_equal(buf, "two!");
	assert_int_equal(st.st_mode & 0777, 0600);
	buf = mem_deref(buf);
	assert_int_equal(file_read_max_at(dfd, "f", 3, &buf, &len, NULL, NULL), EFBIG);
	assert_null(buf);
	assert_int_equal(file_read_max_at(dfd, "f", 100, &buf, &len, &fd, NULL), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 4);
	close(fd);
	buf = mem_deref(buf);

	assert_int_equal(symlinkat("f", dfd, "link"), 0);
	assert_int_equal(file_read_max_at(dfd, "link", 100, &buf, &len, NULL, NULL), EINVAL);
	assert_int_equal(file_read_max_at(dfd, "none", 100, &buf, &len, NULL, NULL), ENOENT);
	assert_null(buf);
	assert_int_equal(file_write_atomic_at(dfd, "link", "x", 1, 0600), 0);   /* replaced */
	assert_int_equal(lstat(tmp, &st), -1);
	snprintf(tmp, sizeof(tmp), "%s/link", dir);
	assert_int_equal(lstat(tmp, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(file_read_max(tmp, 100, &buf, &len, NULL, NULL), 0);
	assert_string_equal(buf, "x");
	buf = mem_deref(buf);
	assert_int_equal(file_write_atomic_at(dfd, "", "x", 1, 0600), EINVAL);

	assert_int_equal(unlinkat(dfd, "f", 0), 0);
	assert_int_equal(unlinkat(dfd, "link", 0), 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);   /* nothing else left behind */
}

/* file_read_max: the whole file, NUL-terminated; refusals by kind; the fd kept on request. */
static void test_file_read_max(void **state)
{
	char dir[] = "/tmp/sbc-test-XXXXXX", path[64], fifo[64];
	struct stat st;
	size_t len = 99;
	char *buf = NULL;
	int fd = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(fifo, sizeof(fifo), "%s/p", dir);
	assert_int_equal(file_write_atomic(path, "12345678", 8, 0640), 0);

	assert_int_equal(file_read_max(path, 8, &buf, &len, NULL, &st), 0);  /* exactly max */
	assert_int_equal(len, 8);
	assert_string_equal(buf, "12345678");
	assert_int_equal(st.st_mode & 0777, 0640);
	buf = mem_deref(buf);

	assert_int_equal(file_read_max(path, 7, &buf, &len, NULL, NULL), EFBIG);
	assert_null(buf);

	assert_int_equal(file_read_max(path, 100, &buf, &len, &fd, NULL), 0);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 8);   /* the same open file, read to its end */
	close(fd);
	buf = mem_deref(buf);

	assert_int_equal(file_write_atomic(path, "", 0, 0600), 0);
	assert_int_equal(file_read_max(path, 100, &buf, &len, NULL, NULL), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	buf = mem_deref(buf);

	assert_int_equal(mkfifo(fifo, 0600), 0);   /* refused at once, not waited on */
	assert_int_equal(file_read_max(fifo, 100, &buf, &len, NULL, NULL), EINVAL);
	assert_int_equal(file_read_max(dir, 100, &buf, &len, NULL, NULL), EINVAL);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "-missing");
	assert_int_equal(file_read_max(path, 100, &buf, &len, NULL, NULL), ENOENT);
	assert_null(buf);

	unlink(fifo);
	path[strlen(path) - strlen("-missing")] = '\0';
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/* RFC 1071 section 3's example: the words sum to 0xddf2, the checksum is 0x220d. */
static void test_inet_csum(void **state)
{
	static const uint8_t v[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	static const uint8_t odd[] = { 0x12, 0x34, 0x56 };

	(void)state;
	assert_int_equal(inet_csum_fold(inet_csum_add(0, v, sizeof(v))), 0x220d);
	/* split anywhere on a word boundary: the same */
	assert_int_equal(inet_csum_fold(inet_csum_add(inet_csum_add(0, v, 4), v + 4, 4)), 0x220d);
	/* an odd last byte is padded with zero: 0x1234 + 0x5600 */
	assert_int_equal(inet_csum_fold(inet_csum_add(0, odd, 3)), (uint16_t)~0x6834);
	assert_int_equal(inet_csum_fold(0), 0xffff);
}

struct item {
	struct hnode hn;
	uint32_t key;
};

static void test_siphash_vectors(void **state)
{
	uint8_t key[16], msg[64];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* reference vectors of the SipHash paper (64-bit output, little-endian) */
	assert_true(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
	assert_true(siphash24(key, msg, 8) == 0x93f5f5799a932462ULL);
	assert_int_equal(hash_keyed("abc", 3), hash_keyed("abc", 3));
}

static void test_htable(void **state)
{
	enum { N = 500 };
	static struct item it[N];
	struct htable t;
	unsigned found = 0;

	(void)state;
	assert_int_equal(htable_init(&t, 64), 0);
	for (uint32_t i = 0; i < N; i++) {
		it[i].key = i;
		memset(&it[i].hn, 0, sizeof(it[i].hn));
		assert_false(hnode_linked(&it[i].hn));
		htable_add(&t, &it[i].hn, hash_keyed(&i, sizeof(i)));
	}
	assert_int_equal(t.count, N);
	for (uint32_t i = 0; i < N; i += 2)
		htable_del(&t, &it[i].hn);
	htable_del(&t, &it[0].hn);    /* twice is harmless */
	assert_int_equal(t.count, N / 2);
	for (uint32_t i = 0; i < N; i++) {
		uint32_t h = hash_keyed(&i, sizeof(i));
		bool hit = false;

		for (struct hnode *n = htable_first(&t, h); n; n = hnode_next_same(n, h)) {
			if (container_of(n, struct item, hn)->key == i)
				hit = true;
		}
		assert_int_equal(hit, i % 2 == 1);
		found += hit;
	}
	assert_int_equal(found, N / 2);
	htable_close(&t);
	mem_fail_after(0);
	assert_int_equal(htable_init(&t, 8), ENOMEM);
	mem_fail_after(-1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pl_u32, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_pl_compare_trim, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_mem_refs_and_destructor, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_wbuf_bounds, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_splice, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_tmr_order_cancel_rearm, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_tmr_many, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_log_excerpt, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_log_level_parse, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_file_read_max, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_inet_csum, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_file_write_atomic, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_file_at, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_siphash_vectors, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_htable, unit_leak_setup, unit_leak_teardown),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
