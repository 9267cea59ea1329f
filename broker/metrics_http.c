/* /metrics on a unix socket and, when configured, on TCP; see metrics_http.h. */
#include "metrics_http.h"
#include "cleanup.h"
#include "metrics.h"
#include "mhdloop.h"
#include "units.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_TIMEOUT_S 10

struct lb_metrics_http {
	lb_loop *loop;
	lb_mhdloop *unix_srv, *tcp_srv;
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

/* Serve on fd (bound and listening; the server owns it from here). */
static int serve(lb_metrics_http *h, lb_mhdloop **srv, int fd, const char *what, lb_err *e)
{
	lb_mhdloop_opts o = {.listen_fd = fd,
			     .on_request = on_request,
			     .conn_max = LB_METRICS_CONN_MAX,
			     .timeout_s = CONN_TIMEOUT_S,
			     .mem_limit = 32768,
			     .what = what};

	*srv = lb_mhdloop_start(h->loop, &o, e);
	return *srv ? 0 : -1;
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
	return serve(h, &h->unix_srv, steal_fd(fd), sa.sun_path, e);
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
	return serve(h, &h->tcp_srv, steal_fd(fd), addr, e);
}

lb_metrics_http *lb_metrics_http_new(lb_loop *loop, int run_dirfd, const char *run_dir,
				     const char *listen, lb_err *e)
{
	lb_metrics_http *h = calloc(1, sizeof(*h));

	if (!h)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	h->run_dirfd = run_dirfd;
	h->loop = loop;
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
	if (h->unix_srv)
		unlinkat(h->run_dirfd, LB_METRICS_SOCK, 0);
	lb_mhdloop_free(h->unix_srv);
	lb_mhdloop_free(h->tcp_srv);
	free(h);
}
