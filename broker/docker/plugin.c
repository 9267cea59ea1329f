#include "plugin.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "secmem.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct lb_plugin {
	lb_loop *loop;
	struct MHD_Daemon *mhd;
	int listen_fd;
	int mhd_epfd;
	lb_timer *timer;
	lb_plugin_handler handler;
	void *ctx;
	char *path;
};

struct upload {
	char *buf;
	size_t len;
	bool too_big;
};

static const char *const endpoints[] = {"Create", "Remove", "Mount",	    "Unmount", "Path",
					"Get",	  "List",   "Capabilities", NULL};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *r;
	enum MHD_Result rc;

	json_decref(body);
	if (!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	lb_json_free(text);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/vnd.docker.plugins.v1+json");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

json_t *lb_plugin_decode(const char *method, const char *url, const char *body, size_t len,
			 bool too_big, unsigned int *status, const char **endpoint, json_t **req)
{
	const char *ep;

	*req = NULL;
	*endpoint = NULL;
	*status = 200;
	if (strcmp(method, "POST") != 0)
		return *status = 405, json_pack("{s:s}", "Err", "POST only");
	if (too_big)
		return *status = 413, json_pack("{s:s}", "Err", "request too large");
	if (strcmp(url, "/Plugin.Activate") == 0)
		return json_pack("{s:[s]}", "Implements", "VolumeDriver");
	if (strncmp(url, "/VolumeDriver.", 14) != 0)
		return *status = 404, json_pack("{s:s}", "Err", "unknown endpoint");
	ep = url + 14;
	for (const char *const *e = endpoints; *e; e++) {
		json_error_t jerr;
		if (strcmp(*e, ep) != 0)
			continue;
		if (len) {
			*req = json_loadb(body, len, 0, &jerr);
			if (!json_is_object(*req)) {
				char msg[300];
				json_decref(*req);
				*req = NULL;
				snprintf(msg, sizeof(msg), "malformed %s request: %s", ep,
					 jerr.text);
				return *status = 400, json_pack("{s:s}", "Err", msg);
			}
		} else {
			*req = json_object();
		}
		*endpoint = *e;
		return NULL;
	}
	return *status = 404, json_pack("{s:s}", "Err", "unknown VolumeDriver endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	lb_plugin *p = cls;
	struct upload *u = *con_cls;
	json_t *req = NULL, *out;
	const char *ep = NULL;
	unsigned int status = 200;

	(void)version;
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return MHD_NO;
		*con_cls = u;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (u->len + *upload_data_size > LB_PLUGIN_REQ_MAX) {
			u->too_big = true;
		} else {
			char *nb = realloc(u->buf, u->len + *upload_data_size + 1);
			if (!nb)
				return MHD_NO;
			u->buf = nb;
			memcpy(u->buf + u->len, upload_data, *upload_data_size);
			u->len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	out = lb_plugin_decode(method, url, u->buf, u->len, u->too_big, &status, &ep, &req);
	if (out)
		return reply(conn, status, out);
	out = p->handler(p->ctx, ep, req);
	json_decref(req);
	return reply(conn, 200, out);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (u) {
		free(u->buf);
		free(u);
	}
	*con_cls = NULL;
}

static void rearm(lb_plugin *p)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	if (MHD_get_timeout(p->mhd, &timeout) == MHD_YES)
		lb_timer_arm(p->timer, timeout ? (uint64_t)timeout : 1);
	else
		lb_timer_disarm(p->timer);
}

static unsigned int connections(lb_plugin *p)
{
	const union MHD_DaemonInfo *i =
	    MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i ? i->num_connections : 0;
}

/* At its connection limit MHD takes the listen socket out of its epoll set and puts it back
 * only at the start of a later MHD_run; a run that closed connections may be the last event
 * for good, and clients then wait in the backlog (or get EAGAIN) forever (issue 13 defect
 * 6). So run again while a run closed connections: bounded, each pass closes at least one. */
static void run_mhd(lb_plugin *p)
{
	for (unsigned int pass = 0; pass <= LB_PLUGIN_CONN_MAX; pass++) {
		unsigned int before = connections(p);
		MHD_run(p->mhd);
		if (connections(p) >= before)
			break;
	}
	rearm(p);
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

lb_plugin *lb_plugin_listen(lb_loop *loop, const char *socket_path, lb_plugin_handler h, void *ctx,
			    lb_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	lb_plugin *p = calloc(1, sizeof(*p));
	const union MHD_DaemonInfo *info;
	char dir[sizeof(sa.sun_path)];
	_cleanup_close_ int dfd = -1;
	mode_t old;

	if (!p)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	p->listen_fd = -1;
	p->loop = loop;
	p->handler = h;
	p->ctx = ctx;
	if (strlen(socket_path) >= sizeof(sa.sun_path) || socket_path[0] != '/') {
		lb_fail(e, 0, "plugin socket %s: bad path", socket_path);
		goto fail;
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path));
	snprintf(dir, sizeof(dir), "%s", socket_path);
	*strrchr(dir, '/') = '\0';
	dfd = lb_open_dir_path(dir[0] ? dir : "/", true, 0755, e);
	if (dfd < 0)
		goto fail;
	unlinkat(dfd, strrchr(socket_path, '/') + 1, 0);
	p->path = strdup(socket_path);
	p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->listen_fd < 0) {
		lb_fail_errno(e, "plugin socket");
		goto fail;
	}
	/* dockerd runs as root: the socket is root's only. */
	old = umask(0177);
	if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		lb_fail_errno(e, "bind %s", socket_path);
		goto fail;
	}
	umask(old);
	if (listen(p->listen_fd, 32) < 0) {
		lb_fail_errno(e, "listen %s", socket_path);
		goto fail;
	}
	p->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, p,
	    MHD_OPTION_LISTEN_SOCKET, p->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)LB_PLUGIN_CONN_MAX, MHD_OPTION_END);
	if (!p->mhd) {
		lb_fail(e, 0, "libmicrohttpd could not serve %s", socket_path);
		goto fail;
	}
	info = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	p->mhd_epfd = info ? info->epoll_fd : -1;
	p->timer = lb_timer_new(loop, on_mhd_timer, p);
	if (p->mhd_epfd < 0 || !p->timer ||
	    lb_loop_add_fd(loop, p->mhd_epfd, EPOLLIN, on_mhd_fd, p) < 0) {
		lb_fail(e, 0, "cannot watch the plugin server of %s", socket_path);
		goto fail;
	}
	rearm(p);
	return p;
fail:
	lb_plugin_free(p);
	return NULL;
}

void lb_plugin_free(lb_plugin *p)
{
	if (!p)
		return;
	if (p->mhd) {
		if (p->mhd_epfd >= 0)
			lb_loop_del_fd(p->loop, p->mhd_epfd);
		MHD_stop_daemon(p->mhd);
	}
	lb_timer_free(p->timer);
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	if (p->path)
		unlink(p->path);
	free(p->path);
	free(p);
}
