/* libmicrohttpd on the broker's loop; see mhdloop.h. */
#include "mhdloop.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct lb_mhdloop {
	lb_loop *loop;
	struct MHD_Daemon *mhd;
	int listen_fd;
	int mhd_epfd;
	unsigned int conn_max;
	lb_timer *timer;
};

static void rearm(lb_mhdloop *m)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	if (MHD_get_timeout(m->mhd, &timeout) == MHD_YES)
		lb_timer_arm(m->timer, timeout ? (uint64_t)timeout : 1);
	else
		lb_timer_disarm(m->timer);
}

unsigned int lb_mhdloop_connections(lb_mhdloop *m)
{
	const union MHD_DaemonInfo *i =
	    MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i ? i->num_connections : 0;
}

/* At its connection limit MHD takes the listen socket out of its epoll set and puts it back
 * only at the start of a later MHD_run; a run that closed connections may be the last event
 * for good, and clients then wait in the backlog (or get EAGAIN) forever (issue 13 defect
 * 6). So run again while a run closed connections: bounded, each pass closes at least one. */
static void run_mhd(lb_mhdloop *m)
{
	for (unsigned int pass = 0; pass <= m->conn_max; pass++) {
		unsigned int before = lb_mhdloop_connections(m);
		MHD_run(m->mhd);
		if (lb_mhdloop_connections(m) >= before)
			break;
	}
	rearm(m);
}

static void on_mhd_fd(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	run_mhd(ctx);
}

static void on_mhd_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	run_mhd(ctx);
}

void lb_mhdloop_kick(lb_mhdloop *m)
{
	lb_timer_arm(m->timer, 1);
}

lb_mhdloop *lb_mhdloop_start(lb_loop *loop, const lb_mhdloop_opts *o, lb_err *e)
{
	lb_mhdloop *m = calloc(1, sizeof(*m));
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (!m) {
		close(o->listen_fd);
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	}
	m->loop = loop;
	m->listen_fd = o->listen_fd;
	m->mhd_epfd = -1;
	m->conn_max = o->conn_max;
	if (o->suspend_resume)
		flags |= MHD_ALLOW_SUSPEND_RESUME;
	m->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, o->on_request, o->cls, MHD_OPTION_LISTEN_SOCKET, o->listen_fd,
	    MHD_OPTION_NOTIFY_COMPLETED, o->on_completed, o->cls, MHD_OPTION_CONNECTION_TIMEOUT,
	    o->timeout_s, MHD_OPTION_CONNECTION_LIMIT, o->conn_max,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->mem_limit ? o->mem_limit : (size_t)32768,
	    MHD_OPTION_END);
	if (!m->mhd) {
		lb_fail(e, 0, "libmicrohttpd could not serve %s", o->what);
		goto fail;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	m->mhd_epfd = info ? info->epoll_fd : -1;
	m->timer = lb_timer_new(loop, on_mhd_timer, m);
	if (m->mhd_epfd < 0 || !m->timer ||
	    lb_loop_add_fd(loop, m->mhd_epfd, EPOLLIN, on_mhd_fd, m) < 0) {
		m->mhd_epfd = -1;
		lb_fail(e, 0, "cannot watch the HTTP server of %s", o->what);
		goto fail;
	}
	rearm(m);
	return m;
fail:
	lb_mhdloop_free(m);
	return NULL;
}

void lb_mhdloop_free(lb_mhdloop *m)
{
	if (!m)
		return;
	if (m->mhd) {
		if (m->mhd_epfd >= 0)
			lb_loop_del_fd(m->loop, m->mhd_epfd);
		MHD_stop_daemon(m->mhd);
	}
	lb_timer_free(m->timer);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	free(m);
}
