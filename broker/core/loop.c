#include "loop.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct watch {
	int fd;
	lb_io_cb cb;
	void *ctx;
	struct watch *next; /* all watches, for lookup and deferred free */
};

struct lb_timer {
	lb_loop *loop;
	lb_timer_cb cb;
	void *ctx;
	uint64_t deadline; /* 0 = disarmed */
	bool dead;
	struct lb_timer *next;
};

struct lb_loop {
	int epfd;
	int tfd;
	bool stop;
	struct watch *watches;
	struct lb_timer *timers;
	bool timers_dirty;
};

uint64_t lb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t lb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

lb_loop *lb_loop_new(void)
{
	lb_loop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.data.ptr = NULL; /* NULL marks the timerfd */
	if (loop->epfd < 0 || loop->tfd < 0 ||
	    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->tfd, &ev) < 0) {
		lb_loop_free(loop);
		return NULL;
	}
	return loop;
}

static void reap(lb_loop *loop)
{
	struct watch **w = &loop->watches;
	struct lb_timer **t = &loop->timers;

	while (*w) {
		if ((*w)->fd < 0) {
			struct watch *dead = *w;
			*w = dead->next;
			free(dead);
		} else {
			w = &(*w)->next;
		}
	}
	while (*t) {
		if ((*t)->dead) {
			struct lb_timer *dead = *t;
			*t = dead->next;
			free(dead);
		} else {
			t = &(*t)->next;
		}
	}
}

void lb_loop_free(lb_loop *loop)
{
	if (!loop)
		return;
	for (struct watch *w = loop->watches; w; w = w->next)
		w->fd = -1;
	for (struct lb_timer *t = loop->timers; t; t = t->next)
		t->dead = true;
	reap(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->tfd >= 0)
		close(loop->tfd);
	free(loop);
}

static struct watch *find_watch(lb_loop *loop, int fd)
{
	for (struct watch *w = loop->watches; w; w = w->next)
		if (w->fd == fd)
			return w;
	return NULL;
}

int lb_loop_add_fd(lb_loop *loop, int fd, uint32_t events, lb_io_cb cb, void *ctx)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = {.events = events};

	if (!w)
		return -1;
	w->fd = fd;
	w->cb = cb;
	w->ctx = ctx;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return -1;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int lb_loop_mod_fd(lb_loop *loop, int fd, uint32_t events)
{
	struct watch *w = find_watch(loop, fd);
	struct epoll_event ev = {.events = events};

	if (!w)
		return -1;
	ev.data.ptr = w;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void lb_loop_del_fd(lb_loop *loop, int fd)
{
	struct watch *w = find_watch(loop, fd);

	if (!w)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fd = -1; /* freed by reap() once no callback can still see it */
}

void lb_loop_stop(lb_loop *loop)
{
	loop->stop = true;
}

static void rearm_timerfd(lb_loop *loop)
{
	uint64_t min = 0, now = lb_now_ms();
	struct itimerspec its = {0};

	for (struct lb_timer *t = loop->timers; t; t = t->next)
		if (!t->dead && t->deadline && (!min || t->deadline < min))
			min = t->deadline;
	if (min) {
		uint64_t delta = min > now ? min - now : 1;
		its.it_value.tv_sec = (time_t)(delta / 1000);
		its.it_value.tv_nsec = (long)(delta % 1000) * 1000000L;
	}
	timerfd_settime(loop->tfd, 0, &its, NULL);
	loop->timers_dirty = false;
}

static void run_timers(lb_loop *loop)
{
	uint64_t expirations;

	if (read(loop->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		lb_log(LB_WARN, "timerfd read failed: %s", strerror(errno));
	for (;;) {
		uint64_t now = lb_now_ms();
		struct lb_timer *due = NULL;

		for (struct lb_timer *t = loop->timers; t; t = t->next)
			if (!t->dead && t->deadline && t->deadline <= now &&
			    (!due || t->deadline < due->deadline))
				due = t;
		if (!due)
			break;
		due->deadline = 0;
		due->cb(loop, due, due->ctx);
	}
	loop->timers_dirty = true;
}

int lb_loop_run(lb_loop *loop)
{
	struct epoll_event evs[32];

	loop->stop = false;
	while (!loop->stop) {
		int n;

		if (loop->timers_dirty)
			rearm_timerfd(loop);
		n = epoll_wait(loop->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			struct watch *w = evs[i].data.ptr;

			if (!w)
				run_timers(loop);
			else if (w->fd >= 0)
				w->cb(loop, w->fd, evs[i].events, w->ctx);
		}
		reap(loop);
	}
	return 0;
}

lb_timer *lb_timer_new(lb_loop *loop, lb_timer_cb cb, void *ctx)
{
	lb_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = loop;
	t->cb = cb;
	t->ctx = ctx;
	t->next = loop->timers;
	loop->timers = t;
	return t;
}

void lb_timer_arm(lb_timer *t, uint64_t after_ms)
{
	t->deadline = lb_now_ms() + (after_ms ? after_ms : 1);
	t->loop->timers_dirty = true;
}

void lb_timer_disarm(lb_timer *t)
{
	t->deadline = 0;
	t->loop->timers_dirty = true;
}

bool lb_timer_armed(const lb_timer *t)
{
	return t->deadline != 0;
}

void lb_timer_free(lb_timer *t)
{
	if (!t)
		return;
	t->dead = true;
	t->deadline = 0;
	t->loop->timers_dirty = true;
}
