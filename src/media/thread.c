/* thread: the media thread: the bypass zones' rings served off sbcd's loop, on a CPU of their own. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "media/ring.h"
#include "media_int.h"

/*
 * The thread: waits on the rings of the bypass zones and the stop
 * eventfd, and serves a ready ring batch by batch, the engine's lock held
 * for each batch only (256 frames, about a millisecond at most): the
 * loop's calls into the engine (new streams, stats) wait that long.
 */
static void *media_thread(void *arg)
{
	struct media_engine *me = arg;
	struct pollfd pfd[MEDIA_ZONES + 1];
	struct media_zone *zn[MEDIA_ZONES];
	unsigned n = 0;

	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		if (!me->zone[z].bypass)
			continue;
		zn[n] = &me->zone[z];
		pfd[n].fd = ring_fd(zn[n]->ring);
		pfd[n].events = POLLIN;
		n++;
	}
	pfd[n].fd = me->stop_fd;
	pfd[n].events = POLLIN;
	for (;;) {
		if (poll(pfd, n + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_error("media: the media thread's poll failed: %s", strerror(errno));
			break;
		}
		if (pfd[n].revents)
			break;
		for (unsigned i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			for (unsigned b = 0; b < MEDIA_RING_WAKE_BATCHES; b++) {
				int got;

				pthread_mutex_lock(&me->lock);
				got = media_zone_ring_batch(zn[i]);
				pthread_mutex_unlock(&me->lock);
				if (got < MEDIA_RING_BUDGET)
					break;
			}
		}
	}
	return NULL;
}

/*
 * Pin attr's thread to cpu when this process may run there; else say so
 * and leave it to the scheduler. Returns the CPU pinned to, or -1.
 */
static int pin(pthread_attr_t *attr, int cpu)
{
	cpu_set_t allowed, one;

	if (cpu < 0)
		return -1;
	if (cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof(allowed), &allowed) == -1 ||
	    !CPU_ISSET(cpu, &allowed)) {
		log_warn("media: CPU %d is not available to sbcd: the media thread is not pinned", cpu);
		return -1;
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (pthread_attr_setaffinity_np(attr, sizeof(one), &one)) {
		log_warn("media: cannot pin the media thread to CPU %d: not pinned", cpu);
		return -1;
	}
	return cpu;
}

/* Move the bypass zones' rings from the loop onto the media thread (see media.h). */
int media_engine_thread(struct media_engine *me, int cpu)
{
	pthread_mutexattr_t ma;
	pthread_attr_t attr;
	sigset_t all, old;
	bool any = false;
	int err;

	if (!me || cpu < -1)
		return EINVAL;
	if (me->threaded)
		return EALREADY;
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		any |= me->zone[z].bypass;
	if (!any)
		return 0;
	me->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (me->stop_fd == -1)
		return errno;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	err = pthread_mutex_init(&me->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (err)
		goto out_fd;
	pthread_attr_init(&attr);
	me->thread_cpu = pin(&attr, cpu);
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		if (me->zone[z].bypass)
			event_del(me->zone[z].ev);
	/* the thread takes no signal: sbcd's loop handles them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	me->threaded = true;
	err = pthread_create(&me->thread, &attr, media_thread, me);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		me->threaded = false;
		for (unsigned z = 0; z < MEDIA_ZONES; z++)
			if (me->zone[z].bypass)
				event_add(me->zone[z].ev, NULL);
		pthread_mutex_destroy(&me->lock);
		goto out_fd;
	}
	pthread_setname_np(me->thread, "sbc-media");
	return 0;

 out_fd:
	close(me->stop_fd);
	me->stop_fd = -1;
	me->thread_cpu = -1;
	return err;
}

/* End the media thread, if it runs, and wait for it: the rings are the loop's again. */
void media_thread_stop(struct media_engine *me)
{
	uint64_t one = 1;

	if (!me->threaded)
		return;
	if (write(me->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_error("media: cannot tell the media thread to stop: %s", strerror(errno));
	pthread_join(me->thread, NULL);
	me->threaded = false;
	pthread_mutex_destroy(&me->lock);
	close(me->stop_fd);
	me->stop_fd = -1;
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		if (me->zone[z].bypass)
			event_add(me->zone[z].ev, NULL);
}
