/*
 * worker: password hashing (about 0.3 s of CPU each) on one thread of its
 * own, so the event loop never waits for it. Jobs go in under a mutex;
 * finished ones come back through a pipe the loop watches, and their
 * done handler runs on the loop. The thread touches nothing but jobs.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webd_int.h"

struct webd_worker {
	struct webd *w;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                         /* under lock */
	struct webd_job *todo, **todo_tail; /* under lock */
	struct webd_job *done;             /* under lock, any order */
	unsigned queued;                   /* loop side: submitted, not yet handed back */
	int pipe[2];                       /* the thread writes a byte per finished job */
	struct event *ev;
};

/* Free a job, its passwords wiped. */
static void job_free(struct webd_job *j)
{
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
}

/* A zeroed job; the caller fills the passwords and submits it. */
int webd_job_new(struct webd_job **jp, enum webd_job_kind kind, webd_job_h *done,
		 struct evhttp_request *req)
{
	struct webd_job *j = calloc(1, sizeof(*j));

	if (!j)
		return ENOMEM;
	j->kind = kind;
	j->done = done;
	j->req = req;
	*jp = j;
	return 0;
}

/* Hash pw into line with a fresh salt. */
static int job_hash(char *line, size_t size, const char *pw, size_t len)
{
	uint8_t salt[WEBD_PW_SALT_LEN];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return EIO;
	return webd_pw_hash(line, size, pw, len, WEBD_PW_ITER, salt, sizeof(salt));
}

/* The work itself, on the thread. */
static void job_run(struct webd_job *j)
{
	switch (j->kind) {
	case WEBD_JOB_VERIFY:
		j->result = webd_pw_verify(j->line, j->pw, j->pwlen);
		break;
	case WEBD_JOB_HASH:
		j->result = job_hash(j->line, sizeof(j->line), j->pw, j->pwlen);
		break;
	case WEBD_JOB_CHANGE:
		j->result = webd_pw_verify(j->line, j->pw, j->pwlen);
		if (!j->result)
			j->result = job_hash(j->line, sizeof(j->line), j->npw, j->npwlen);
		break;
	}
}

/* The thread: take a job, run it unlocked, hand it back and poke the loop. */
static void *worker_main(void *arg)
{
	struct webd_worker *wk = arg;

	pthread_mutex_lock(&wk->lock);
	for (;;) {
		struct webd_job *j;
		char one = 1;

		while (!wk->stop && !wk->todo)
			pthread_cond_wait(&wk->cond, &wk->lock);
		if (wk->stop)
			break;
		j = wk->todo;
		wk->todo = j->next;
		if (!wk->todo)
			wk->todo_tail = &wk->todo;
		pthread_mutex_unlock(&wk->lock);
		job_run(j);
		pthread_mutex_lock(&wk->lock);
		j->next = wk->done;
		wk->done = j;
		while (write(wk->pipe[1], &one, 1) == -1 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&wk->lock);
	return NULL;
}

/* Take the finished jobs back, oldest first. */
static struct webd_job *take_done(struct webd_worker *wk)
{
	struct webd_job *list, *rev = NULL;

	pthread_mutex_lock(&wk->lock);
	list = wk->done;
	wk->done = NULL;
	pthread_mutex_unlock(&wk->lock);
	while (list) {
		struct webd_job *next = list->next;

		list->next = rev;
		rev = list;
		list = next;
	}
	return rev;
}

/* On the loop: the pipe is readable; run the done handlers. */
static void worker_ready(evutil_socket_t fd, short what, void *arg)
{
	struct webd_worker *wk = arg;
	struct webd_job *j;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	j = take_done(wk);
	while (j) {
		struct webd_job *next = j->next;

		wk->queued--;
		j->done(wk->w, j);
		job_free(j);
		j = next;
	}
}

/* The thread and its pipe on w->base's loop. */
int webd_worker_alloc(struct webd_worker **wkp, struct webd *w)
{
	struct webd_worker *wk = calloc(1, sizeof(*wk));
	int err;

	if (!wk)
		return ENOMEM;
	wk->w = w;
	wk->todo_tail = &wk->todo;
	wk->pipe[0] = wk->pipe[1] = -1;
	pthread_mutex_init(&wk->lock, NULL);
	pthread_cond_init(&wk->cond, NULL);
	if (pipe2(wk->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		err = errno;
		goto out_free;
	}
	wk->ev = event_new(w->base, wk->pipe[0], EV_READ | EV_PERSIST, worker_ready, wk);
	if (!wk->ev || event_add(wk->ev, NULL) == -1) {
		err = ENOMEM;
		goto out_free;
	}
	err = pthread_create(&wk->thread, NULL, worker_main, wk);
	if (err)
		goto out_free;
	wk->started = true;
	*wkp = wk;
	return 0;

 out_free:
	webd_worker_free(wk);
	return err;
}

/* Queue j (the worker owns it from now on); EBUSY when WEBD_JOBS_MAX are waiting. */
int webd_worker_submit(struct webd_worker *wk, struct webd_job *j)
{
	if (wk->queued >= WEBD_JOBS_MAX)
		return EBUSY;
	j->next = NULL;
	pthread_mutex_lock(&wk->lock);
	*wk->todo_tail = j;
	wk->todo_tail = &j->next;
	pthread_cond_signal(&wk->cond);
	pthread_mutex_unlock(&wk->lock);
	wk->queued++;
	return 0;
}

/* Stop the thread (it finishes the job in hand); unfinished jobs end with ECANCELED. */
void webd_worker_free(struct webd_worker *wk)
{
	struct webd_job *lists[2];

	if (!wk)
		return;
	if (wk->started) {
		pthread_mutex_lock(&wk->lock);
		wk->stop = true;
		pthread_cond_signal(&wk->cond);
		pthread_mutex_unlock(&wk->lock);
		pthread_join(wk->thread, NULL);
	}
	lists[0] = take_done(wk);
	lists[1] = wk->todo;
	wk->todo = NULL;
	for (int i = 0; i < 2; i++) {
		for (struct webd_job *j = lists[i], *next; j; j = next) {
			next = j->next;
			if (i == 1)
				j->result = ECANCELED;
			j->done(wk->w, j);
			job_free(j);
		}
	}
	if (wk->ev)
		event_free(wk->ev);
	if (wk->pipe[0] >= 0)
		close(wk->pipe[0]);
	if (wk->pipe[1] >= 0)
		close(wk->pipe[1]);
	pthread_mutex_destroy(&wk->lock);
	pthread_cond_destroy(&wk->cond);
	free(wk);
}
