/* cdr: one JSON line per call appended to data_dir/calls.jsonl, flushed to disk within a second. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "call.h"

enum { CDR_SYNC_MS = 1000 };

static void iso_time(char *buf, size_t size, uint64_t mono_ms, uint64_t now_mono)
{
	struct timespec ts;
	time_t t;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec - (time_t)((now_mono - mono_ms) / 1000);
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * fdatasync takes 1 to 15 ms on this kind of disk: on the event loop it
 * stalled every call for that long once a second under load. A thread of
 * its own does it instead; the loop only says "there is something to
 * sync" (at most once per CDR_SYNC_MS, so records are batched). The
 * thread touches nothing but the descriptors and this struct: the one
 * written now, and after a rotation the previous one, which it syncs and
 * closes (the loop must not close what the thread may be syncing).
 */
struct cdr_syncer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	int old_fd;     /* the file before the last rotation, to sync and close; -1 */
	bool started;   /* the thread runs (made at the first sync: after sbcd -d forks) */
	bool dirty;     /* records written since the thread last synced */
	bool stop;
};

static void sync_close(int fd)
{
	if (fdatasync(fd) == -1)
		log_warn("calls.jsonl: fdatasync: %s", strerror(errno));
	close(fd);
}

static void *cdr_syncer_main(void *arg)
{
	struct cdr_syncer *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		int fd, old;

		while (!s->dirty && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->dirty)
			break;
		s->dirty = false;
		fd = s->fd;
		old = s->old_fd;
		s->old_fd = -1;
		pthread_mutex_unlock(&s->mu);
		if (old != -1)
			sync_close(old);
		if (fdatasync(fd) == -1)
			log_warn("calls.jsonl: fdatasync: %s", strerror(errno));
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void cdr_sync(void *arg)
{
	struct b2bua *b = arg;
	struct cdr_syncer *s = b->cdr_syncer;

	if (!s)
		return;
	if (!s->started) {
		int err = pthread_create(&s->th, NULL, cdr_syncer_main, s);

		if (err) {
			log_warn("calls.jsonl: no sync thread (%s): syncing here", strerror(err));
			if (s->old_fd != -1)
				sync_close(s->old_fd);
			s->old_fd = -1;
			if (fdatasync(s->fd) == -1)
				log_warn("calls.jsonl: fdatasync: %s", strerror(errno));
			return;
		}
		s->started = true;
	}
	pthread_mutex_lock(&s->mu);
	s->dirty = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* data_dir/calls.jsonl, plus suffix; ENAMETOOLONG. */
static int cdr_path(const struct b2bua *b, const char *suffix, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/calls.jsonl%s", b->bc.cfg->general.data_dir, suffix);

	return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

/* Open data_dir/calls.jsonl for appending (owner-only); its size into *bytes. -1 and errno. */
static int cdr_file_open(const struct b2bua *b, uint64_t *bytes)
{
	char path[512];
	struct stat st;
	int fd, err = cdr_path(b, "", path, sizeof(path));

	if (err) {
		errno = err;
		return -1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		err = errno;
		log_error("%s: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	*bytes = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return fd;
}

/*
 * calls.jsonl grew past [general] call_records_max_kb: it becomes
 * calls.jsonl.1 (replacing the one before) and a new calls.jsonl is
 * started, so the records take at most about twice the limit on the data
 * partition. The old descriptor goes to the syncer, which syncs and
 * closes it. On failure the file just goes on growing (logged).
 */
static void cdr_rotate(struct b2bua *b)
{
	struct cdr_syncer *s = b->cdr_syncer;
	char path[512], old[512];
	uint64_t bytes;
	int fd;

	if (cdr_path(b, "", path, sizeof(path)) || cdr_path(b, ".1", old, sizeof(old)))
		return;
	if (rename(path, old) == -1) {
		log_warn("calls.jsonl: cannot rotate to calls.jsonl.1: %s", strerror(errno));
		b->cdr_bytes = 0;   /* try again after another limit's worth */
		return;
	}
	fd = cdr_file_open(b, &bytes);
	if (fd == -1)
		return;    /* logged; records go on into calls.jsonl.1 */
	pthread_mutex_lock(&s->mu);
	s->fd = fd;
	if (s->started && s->old_fd == -1) {
		s->old_fd = b->cdr_fd;
		s->dirty = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
	} else {
		/*
		 * No syncer yet, or it has not taken the file before yet (two
		 * rotations within a second): this one is synced here. A sync
		 * of it the thread may be in holds its own reference.
		 */
		pthread_mutex_unlock(&s->mu);
		sync_close(b->cdr_fd);
	}
	b->cdr_fd = fd;
	b->cdr_bytes = bytes;
	log_info("calls.jsonl: rotated to calls.jsonl.1 at %u KiB",
		 b->bc.cfg->general.call_records_max_kb);
}

/* Open data_dir/calls.jsonl for appending (owner-only) and start its syncer. */
int cdr_open(struct b2bua *b)
{
	struct cdr_syncer *s;

	b->cdr_fd = -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	b->cdr_fd = cdr_file_open(b, &b->cdr_bytes);
	if (b->cdr_fd == -1) {
		int err = errno;

		free(s);
		return err;
	}
	s->fd = b->cdr_fd;
	s->old_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	b->cdr_syncer = s;
	return 0;
}

/* Sync what was written, stop the syncer, close the file. */
void cdr_close(struct b2bua *b)
{
	struct cdr_syncer *s = b->cdr_syncer;

	tmr_cancel(&b->tmrs, &b->cdr_tmr);
	if (s) {
		pthread_mutex_lock(&s->mu);
		s->dirty = true;    /* a last sync, whatever the timer said */
		s->stop = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		if (s->started)
			pthread_join(s->th, NULL);
		else if (fdatasync(s->fd) == -1)
			log_warn("calls.jsonl: fdatasync: %s", strerror(errno));
		if (s->old_fd != -1)
			sync_close(s->old_fd);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		b->cdr_syncer = NULL;
	}
	if (b->cdr_fd != -1)
		close(b->cdr_fd);
	b->cdr_fd = -1;
}

/*
 * One stream's counters in the record, each a [public, private] pair by
 * the zone the packets were received on (as calls.get, docs/b2bua.md).
 */
static json_t *stream_record(unsigned idx, const struct media_stream_stats *st)
{
#define PAIR(v) (json_int_t)(v)[0], (json_int_t)(v)[1]
	return json_pack("{s:i, s:[I,I], s:[I,I], s:[I,I], s:[I,I], s:[f,f],"
			 " s:{s:[I,I], s:[I,I], s:[I,I], s:[I,I]}}",
			 "stream", (int)idx,
			 "packets", PAIR(st->packets),
			 "bytes", PAIR(st->bytes),
			 "rtcp_packets", PAIR(st->rtcp_packets),
			 "lost", PAIR(st->lost),
			 "jitter_ms", st->jitter_ms[0], st->jitter_ms[1],
			 "dropped",
			 "source", PAIR(st->dropped_source),
			 "policing", PAIR(st->dropped_policing),
			 "no_dest", PAIR(st->dropped_no_dest),
			 "no_neighbour", PAIR(st->dropped_no_neighbour));
#undef PAIR
}

/*
 * The call's record: both legs' Call-IDs, from, to, source, times, cause,
 * media counters. Written with one write(2) on an O_APPEND file, so lines
 * never interleave; made durable by the next sync (at most CDR_SYNC_MS).
 */
void call_record(struct call *c)
{
	struct b2bua *b = c->b;
	char start[32], answer[32] = "", end[32], src[NET_ADDRSTRLEN];
	json_t *o, *media;
	char *line;
	size_t n;

	if (b->cdr_fd == -1)
		return;
	iso_time(start, sizeof(start), c->start_ms, b->now);
	if (c->answer_ms)
		iso_time(answer, sizeof(answer), c->answer_ms, b->now);
	iso_time(end, sizeof(end), c->end_ms, b->now);
	snprintf(src, sizeof(src), "%s", leg_s(&c->leg[LEG_A], LS_SOURCE));
	media = json_array();
	for (unsigned i = 0; c->ms && i < MEDIA_MAX_STREAMS; i++) {
		struct media_stream_stats st;

		if (media_stream_stats(c->ms, i, &st))
			continue;
		json_array_append_new(media, stream_record(i, &st));
	}
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:f, s:i, s:s, s:o}",
		      "id", (json_int_t)c->id,
		      "a_call_id", leg_s(&c->leg[LEG_A], LS_CALLID),
		      "b_call_id", leg_s(&c->leg[LEG_B], LS_CALLID),
		      "from", leg_s(&c->leg[LEG_A], LS_RURI),
		      "to", leg_s(&c->leg[LEG_B], LS_TARGET),
		      "source", src,
		      "start", start,
		      "answer", answer[0] ? answer : NULL,
		      "end", end,
		      "duration_s", c->answer_ms ? (double)(c->end_ms - c->answer_ms) / 1000.0 : 0.0,
		      "final", (int)c->final_code,
		      "cause", c->cause,
		      "media", media);
	if (!o) {
		/* jansson refuses strings that are not UTF-8: say so rather than lose it quietly */
		log_warn("call %llu: no call record (a value is not UTF-8)", (unsigned long long)c->id);
		return;
	}
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!line)
		return;
	n = strlen(line);
	line[n] = '\n';
	if (write(b->cdr_fd, line, n + 1) != (ssize_t)(n + 1))
		log_warn("calls.jsonl: write: %s", strerror(errno));
	else
		b->cdr_bytes += n + 1;
	free(line);
	if (b->cdr_bytes > (uint64_t)b->bc.cfg->general.call_records_max_kb * 1024)
		cdr_rotate(b);
	if (!tmr_armed(&b->cdr_tmr))
		tmr_start(&b->tmrs, &b->cdr_tmr, b->now + CDR_SYNC_MS, cdr_sync, b);
}
