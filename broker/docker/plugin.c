#include "plugin.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "mhdloop.h"
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
	lb_mhdloop *srv;
	lb_plugin_handler handler;
	void *ctx;
	char *path;
	lb_plugin_req *pending; /* suspended, not answered yet */
};

/* One request: its body as it comes, then (answered later) its suspended connection. */
struct lb_plugin_req {
	lb_plugin *p;
	struct MHD_Connection *conn;
	char *buf;
	size_t len;
	bool too_big;
	bool in_handler; /* answered from inside its handler: replied at once */
	bool suspended;
	bool answered;
	/* Set by lb_plugin_answer(_secret), queued when MHD runs the handler again. */
	json_t *answer;
	lb_secbuf *raw;
	lb_plugin_req *next, **prev;
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

static json_t *parse_body(const char *ep, const char *body, size_t len, unsigned int *status,
			  json_t **req)
{
	json_error_t jerr;
	char msg[300];

	if (!len) {
		*req = json_object();
		return NULL;
	}
	*req = json_loadb(body, len, 0, &jerr);
	if (json_is_object(*req))
		return NULL;
	json_decref(*req);
	*req = NULL;
	snprintf(msg, sizeof(msg), "malformed %s request: %s", ep, jerr.text);
	return *status = 400, json_pack("{s:s}", "Err", msg);
}

static void free_secbuf(void *cls)
{
	lb_secbuf_free(cls);
}

/* A reply that holds secret bytes: sent from its sodium buffer, freed (zeroed) after. */
static enum MHD_Result reply_secret(struct MHD_Connection *conn, lb_secbuf *b)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, free_secbuf, b);
	enum MHD_Result rc;

	if (!r) {
		lb_secbuf_free(b);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/vnd.docker.plugins.v1+json");
	rc = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return rc;
}

/* The answer a request got (or "stopping" when the plugin goes away first). */
static enum MHD_Result reply_answer(lb_plugin_req *u)
{
	json_t *out = u->answer;
	lb_secbuf *raw = u->raw;

	u->answer = NULL;
	u->raw = NULL;
	if (raw)
		return reply_secret(u->conn, raw);
	return reply(u->conn, 200, out ? out : json_pack("{s:s}", "Err", "lockbox: stopping"));
}

json_t *lb_plugin_decode(const char *method, const char *url, const char *body, size_t len,
			 bool too_big, unsigned int *status, const char **endpoint, json_t **req)
{
	json_t *out;

	*req = NULL;
	*endpoint = NULL;
	*status = 200;
	if (strcmp(method, "POST") != 0)
		return *status = 405, json_pack("{s:s}", "Err", "POST only");
	if (too_big)
		return *status = 413, json_pack("{s:s}", "Err", "request too large");
	if (strcmp(url, "/Plugin.Activate") == 0)
		return json_pack("{s:[s,s]}", "Implements", "VolumeDriver", "secretprovider");
	if (strcmp(url, "/SecretProvider.GetSecret") == 0) {
		if ((out = parse_body("GetSecret", body, len, status, req)))
			return out;
		*endpoint = "GetSecret";
		return NULL;
	}
	if (strncmp(url, "/VolumeDriver.", 14) != 0)
		return *status = 404, json_pack("{s:s}", "Err", "unknown endpoint");
	for (const char *const *e = endpoints; *e; e++) {
		if (strcmp(*e, url + 14) != 0)
			continue;
		if ((out = parse_body(*e, body, len, status, req)))
			return out;
		*endpoint = *e;
		return NULL;
	}
	return *status = 404, json_pack("{s:s}", "Err", "unknown VolumeDriver endpoint");
}

static void unlink_pending(lb_plugin_req *r)
{
	if (!r->prev)
		return;
	*r->prev = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = NULL;
	r->prev = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	lb_plugin *p = cls;
	lb_plugin_req *u = *con_cls;
	json_t *req = NULL, *out;
	const char *ep = NULL;
	unsigned int status = 200;

	(void)version;
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return MHD_NO;
		u->p = p;
		u->conn = conn;
		*con_cls = u;
		return MHD_YES;
	}
	if (u->suspended) { /* resumed: answered, or the plugin is going away */
		u->suspended = false;
		return reply_answer(u);
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
	/* The body is not needed any more (a GetSecret's may hold labels; nothing secret). */
	free(u->buf);
	u->buf = NULL;
	u->len = 0;
	u->in_handler = true;
	out = p->handler(p->ctx, ep, req, u);
	u->in_handler = false;
	json_decref(req);
	if (out) {
		u->answered = true;
		return reply(conn, 200, out);
	}
	if (u->answered) /* a local store answered before the handler returned */
		return reply_answer(u);
	/* Answered later (lb_plugin_answer): the connection waits, the loop goes on. */
	u->suspended = true;
	u->next = p->pending;
	if (u->next)
		u->next->prev = &u->next;
	u->prev = &p->pending;
	p->pending = u;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static void answer(lb_plugin_req *r, json_t *body, lb_secbuf *raw)
{
	if (r->answered) { /* answered twice (a bug): do not leak */
		json_decref(body);
		lb_secbuf_free(raw);
		return;
	}
	r->answered = true;
	r->answer = body;
	r->raw = raw;
	if (r->in_handler || !r->suspended)
		return; /* replied when the handler returns */
	unlink_pending(r);
	MHD_resume_connection(r->conn);
	lb_mhdloop_kick(r->p->srv);
}

void lb_plugin_answer(lb_plugin_req *r, json_t *reply_body)
{
	answer(r, reply_body, NULL);
}

void lb_plugin_answer_secret(lb_plugin_req *r, lb_secbuf *body)
{
	answer(r, NULL, body);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	lb_plugin_req *u = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (u) {
		unlink_pending(u);
		json_decref(u->answer);
		lb_secbuf_free(u->raw);
		free(u->buf);
		free(u);
	}
	*con_cls = NULL;
}

lb_plugin *lb_plugin_listen(lb_loop *loop, const char *socket_path, lb_plugin_handler h, void *ctx,
			    lb_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	lb_plugin *p = calloc(1, sizeof(*p));
	char dir[sizeof(sa.sun_path)];
	_cleanup_close_ int dfd = -1, fd = -1;
	lb_mhdloop_opts o = {.on_request = on_request,
			     .cls = p,
			     .on_completed = on_completed,
			     .conn_max = LB_PLUGIN_CONN_MAX,
			     .timeout_s = 30,
			     .suspend_resume = true,
			     .what = socket_path};
	mode_t old;

	if (!p)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		lb_fail_errno(e, "plugin socket");
		goto fail;
	}
	/* dockerd runs as root: the socket is root's only. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		lb_fail_errno(e, "bind %s", socket_path);
		goto fail;
	}
	umask(old);
	if (listen(fd, 32) < 0) {
		lb_fail_errno(e, "listen %s", socket_path);
		goto fail;
	}
	o.listen_fd = steal_fd(fd);
	p->srv = lb_mhdloop_start(loop, &o, e);
	if (!p->srv)
		goto fail;
	return p;
fail:
	lb_plugin_free(p);
	return NULL;
}

void lb_plugin_free(lb_plugin *p)
{
	if (!p)
		return;
	/* MHD cannot stop with suspended connections: resume them (answered "stopping"). */
	while (p->pending)
		lb_plugin_answer(p->pending, NULL);
	lb_mhdloop_free(p->srv);
	if (p->path)
		unlink(p->path);
	free(p->path);
	free(p);
}
