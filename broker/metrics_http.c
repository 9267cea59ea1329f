/* /metrics on a unix socket and, when configured, on TCP; see metrics_http.h. */
#include "metrics_http.h"
#include "cleanup.h"
#include "metrics.h"
#include "units.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_TIMEOUT_S 10

/* One listener: its socket, its MHD daemon, MHD's epoll fd nested in the loop. */
struct server {
	lb_loop *loop;
	struct MHD_Daemon *mhd;
	int listen_fd;
	int mhd_epfd;
	lb_timer *timer;
};

struct lb_metrics_http {
	struct server unix_srv, tcp_srv;
	int run_dirfd;
};

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
				  const char *type, char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	static int started;
	char *text;
	size_t len = 0;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		*con_cls = &started; /* first call: headers only */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is not read, only drained */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_text(conn, 405, "text/plain", strdup("GET only\n"), 9);
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, 404, "text/plain", strdup("only /metrics is here\n"), 22);
	text = lb_metrics_render_proc(&len);
	if (!text)
		return MHD_NO;
	return reply_text(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static void rearm(struct server *s)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	if (MHD_get_timeout(s->mhd, &timeout) == MHD_YES)
		lb_timer_arm(s->timer, timeout ? (uint64_t)timeout : 1);
	else
		lb_timer_disarm(s->timer);
}

static unsigned int connections(struct server *s)
{
	const union MHD_DaemonInfo *i =
	    MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i ? i->num_connections : 0;
}

/* As in docker/plugin.c: at its connection limit MHD stops watching the listen socket until
 * a later MHD_run, so run again while a run closed connections (bounded). */
static void run_mhd(struct server *s)
{
	for (unsigned int pass = 0; pass <= LB_METRICS_CONN_MAX; pass++) {
		unsigned int before = connections(s);
		MHD_run(s->mhd);
		if (connections(s) >= before)
			break;
	}
	rearm(s);
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

/* Serve on fd (bound and listening; the server owns it from here). */
static int serve(struct server *s, lb_loop *loop, int fd, const char *what, lb_err *e)
{
	const union MHD_DaemonInfo *info;

	s->loop = loop;
	s->listen_fd = fd;
	s->mhd =
	    MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned int)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
			     (unsigned int)LB_METRICS_CONN_MAX, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			     (size_t)32768, MHD_OPTION_END);
	if (!s->mhd)
		return lb_fail(e, 0, "libmicrohttpd could not serve %s", what);
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	s->mhd_epfd = info ? info->epoll_fd : -1;
	s->timer = lb_timer_new(loop, on_mhd_timer, s);
	if (s->mhd_epfd < 0 || !s->timer ||
	    lb_loop_add_fd(loop, s->mhd_epfd, EPOLLIN, on_mhd_fd, s) < 0) {
		s->mhd_epfd = -1;
		return lb_fail(e, 0, "cannot watch the metrics server of %s", what);
	}
	rearm(s);
	return 0;
}

static void server_stop(struct server *s)
{
	if (s->mhd) {
		if (s->mhd_epfd >= 0)
			lb_loop_del_fd(s->loop, s->mhd_epfd);
		MHD_stop_daemon(s->mhd);
	}
	lb_timer_free(s->timer);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
}

static int listen_unix(lb_metrics_http *h, const char *run_dir, lb_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	mode_t old;
	int rc;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, LB_METRICS_SOCK) >=
	    sizeof(sa.sun_path))
		return lb_fail(e, 0, "%s/%s: socket path too long", run_dir, LB_METRICS_SOCK);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return lb_fail_errno(e, "metrics socket");
	unlinkat(h->run_dirfd, LB_METRICS_SOCK, 0);
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "bind %s", sa.sun_path);
	if (fchmodat(h->run_dirfd, LB_METRICS_SOCK, 0600, 0) < 0 || listen(fd, 16) < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "listen %s", sa.sun_path);
	return serve(&h->unix_srv, h->unix_srv.loop, steal_fd(fd), sa.sun_path, e);
}

static int listen_tcp(lb_metrics_http *h, const char *addr, lb_err *e)
{
	struct sockaddr_storage sa;
	_cleanup_close_ int fd = -1;
	socklen_t len;
	int one = 1;

	if (lb_parse_listen(addr, &sa, &len) < 0)
		return lb_fail(e, 0, "metrics.listen \"%s\": not ADDRESS:PORT", addr);
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return lb_fail_errno(e, "metrics socket for %s", addr);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, len) < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "bind metrics.listen %s", addr);
	if (listen(fd, 16) < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "listen on %s", addr);
	return serve(&h->tcp_srv, h->tcp_srv.loop, steal_fd(fd), addr, e);
}

lb_metrics_http *lb_metrics_http_new(lb_loop *loop, int run_dirfd, const char *run_dir,
				     const char *listen, lb_err *e)
{
	lb_metrics_http *h = calloc(1, sizeof(*h));

	if (!h)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	h->run_dirfd = run_dirfd;
	h->unix_srv.loop = h->tcp_srv.loop = loop;
	h->unix_srv.listen_fd = h->tcp_srv.listen_fd = -1;
	h->unix_srv.mhd_epfd = h->tcp_srv.mhd_epfd = -1;
	if (listen_unix(h, run_dir, e) || (listen && listen_tcp(h, listen, e))) {
		lb_metrics_http_free(h);
		return NULL;
	}
	return h;
}

void lb_metrics_http_free(lb_metrics_http *h)
{
	if (!h)
		return;
	server_stop(&h->unix_srv);
	server_stop(&h->tcp_srv);
	if (h->unix_srv.mhd)
		unlinkat(h->run_dirfd, LB_METRICS_SOCK, 0);
	free(h);
}
