/* util: slices, reference-counted memory, output buffers, splicing, logging, time. */
#ifndef SBC_UTIL_H
#define SBC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

/*
 * Pointer-length slice into a buffer someone else owns. Never NUL-terminated;
 * an empty slice has l == 0 and p may be NULL.
 */
struct pl {
	const char *p;
	size_t l;
};

#define PL(s) ((struct pl){ (s), sizeof(s) - 1 })
#define PL_INIT { NULL, 0 }

struct pl pl_from_str(const char *s);
bool pl_isset(const struct pl *pl);
bool pl_eq(const struct pl *a, const struct pl *b);
bool pl_eq_str(const struct pl *a, const char *s);
bool pl_caseeq(const struct pl *a, const struct pl *b);
bool pl_caseeq_str(const struct pl *a, const char *s);
struct pl pl_trim(struct pl pl);
int pl_u32(const struct pl *pl, uint32_t *v);
int pl_strcpy(const struct pl *pl, char *buf, size_t size);
const char *pl_chr(const struct pl *pl, char c);
size_t pl_offset(const struct pl *outer, const struct pl *inner);

/* The value of a hex digit (either case), or -1. */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Drop the first n bytes (n <= pl->l). */
static inline void pl_advance(struct pl *pl, size_t n)
{
	pl->p += n;
	pl->l -= n;
}

/*
 * Reference-counted memory. mem_zalloc returns zeroed memory with one
 * reference; mem_deref drops one and calls the destructor, then frees, when
 * the last goes. mem_deref(NULL) is allowed and always returns NULL, so
 * "p = mem_deref(p);" clears the caller's pointer.
 */
typedef void (mem_destroy_h)(void *data);

void *mem_zalloc(size_t size, mem_destroy_h *dh);
void *mem_ref(void *data);
void *mem_deref(void *data);
unsigned mem_nrefs(const void *data);
size_t mem_nalloc(void);
void mem_fail_after(long n);
bool mem_fail_inject(void);

/* Byte buffer with reference count, used for received messages. */
struct buf {
	size_t size;   /* capacity of data[] */
	size_t len;    /* bytes in use */
	char data[];
};

int buf_alloc(struct buf **bp, size_t size);
int buf_from_mem(struct buf **bp, const void *data, size_t len);

/*
 * Output buffer over caller-provided memory; never grows. Every append
 * returns 0 or ENOSPC and leaves len unchanged on failure.
 */
struct wbuf {
	char *p;
	size_t size;
	size_t len;
};

void wbuf_init(struct wbuf *wb, char *mem, size_t size);
int wbuf_put(struct wbuf *wb, const void *data, size_t len);
int wbuf_put_pl(struct wbuf *wb, const struct pl *pl);
int wbuf_put_str(struct wbuf *wb, const char *s);
int wbuf_put_u32(struct wbuf *wb, uint32_t v);
int wbuf_printf(struct wbuf *wb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Splicing: write a source buffer with some byte ranges replaced, leaving
 * every other byte as it was. Ranges are offsets into the source; they must
 * not overlap (a zero-length range inserts). splice_write sorts them, stably:
 * inserts at one offset come out in the order given.
 */
struct splice {
	size_t off;
	size_t len;
	struct pl repl;
};

int splice_write(const char *src, size_t srclen, struct splice *sv, size_t sc,
		 struct wbuf *out);
size_t splice_delta_len(const struct splice *sv, size_t sc, size_t srclen);

/* Logging with levels to stderr or syslog. */
enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

int log_level_parse(const char *s, enum log_level *lvl);
const char *log_level_name(enum log_level lvl);
void log_setup(const char *ident, enum log_level lvl, bool use_syslog);
void log_set_level(enum log_level lvl);
bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_excerpt(char *out, size_t size, const char *data, size_t len);

#define LOG_EXCERPT_MAX 64

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

/*
 * Timers in a binary min-heap, driven by a clock the owner passes in (the
 * event loop's once-per-turn reading, or a test's own), so every timer of
 * the protocol code can be tested without sleeping. A struct tmr is
 * embedded in its owner; cancel it before freeing the owner.
 */
typedef void (tmr_h)(void *arg);

struct tmr {
	uint64_t due;         /* ms on the heap's clock */
	size_t idx;           /* position in the heap + 1; 0 when not armed */
	uint64_t seq;         /* start order, so equal due times fire in order */
	tmr_h *th;
	void *arg;
};

struct tmr_heap {
	struct tmr **v;
	size_t n, cap;
	uint64_t seq;
};

void tmr_heap_init(struct tmr_heap *hp);
void tmr_heap_close(struct tmr_heap *hp);
int tmr_start(struct tmr_heap *hp, struct tmr *t, uint64_t due, tmr_h *th, void *arg);
void tmr_cancel(struct tmr_heap *hp, struct tmr *t);
bool tmr_armed(const struct tmr *t);
uint64_t tmr_heap_next(const struct tmr_heap *hp);
unsigned tmr_heap_poll(struct tmr_heap *hp, uint64_t now);
size_t tmr_heap_count(const struct tmr_heap *hp);

/*
 * Intrusive hash table with chained buckets: the node is embedded in the
 * object, removal is O(1) without a lookup. Bucket count is fixed at init
 * (a power of two), so a table never reallocates under load; callers cap
 * what they insert. Keys that an attacker chooses (addresses, branches)
 * are hashed with hash_keyed(), SipHash-2-4 under a per-process random key.
 */
struct hnode {
	struct hnode *next;
	struct hnode **pprev;
	uint32_t hash;
};

struct htable {
	struct hnode **bucket;
	size_t mask;
	size_t count;
};

int htable_init(struct htable *t, size_t nbuckets);
void htable_close(struct htable *t);
void htable_add(struct htable *t, struct hnode *n, uint32_t hash);
void htable_del(struct htable *t, struct hnode *n);
bool hnode_linked(const struct hnode *n);
struct hnode *htable_first(const struct htable *t, uint32_t hash);
struct hnode *hnode_next_same(const struct hnode *n, uint32_t hash);

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);
uint32_t hash_keyed(const void *data, size_t len);
int random_bytes(void *buf, size_t len);
/* RFC 1071 checksum of big-endian words (hash.c): sum, then fold to the value to store. */
uint64_t inet_csum_add(uint64_t sum, const void *data, size_t len);
uint16_t inet_csum_fold(uint64_t sum);

/* Monotonic milliseconds; read once per loop turn by the caller. */
uint64_t time_mono_ms(void);
uint64_t time_mono_ns(void);

/* Write a file atomically: temp file in the same folder, fsync, rename. */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
int file_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
			 unsigned mode);
struct stat;
/* Read a regular file of at most max bytes (NUL-terminated, mem_deref it); sys.c has the details. */
int file_read_max(const char *path, size_t max, char **bufp, size_t *lenp, int *fdp,
		  struct stat *stp);
int file_read_max_at(int dirfd, const char *name, size_t max, char **bufp, size_t *lenp,
		     int *fdp, struct stat *stp);

#endif
