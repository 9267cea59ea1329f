#include "control.h"
#include "cleanup.h"
#include "log.h"
#include "secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_DEADLINE_MS     5000
#define DEFERRED_DEADLINE_MS 25000
/* A request buffer starts at this and doubles as bytes arrive (never what the header
 * announces up front), within LB_CONTROL_PENDING_MAX for all connections together. */
#define REQ_CHUNK (16 * 1024)

struct conn {
	lb_control *ctl;
	int fd;
	unsigned char hdr[4];
	size_t hdr_len;
	lb_secbuf *req; /* may carry a secret (secret put); ->len is what arrived */
	size_t req_cap; /* bytes allocated for req (counted in ctl->pending) */
	size_t req_len; /* announced */
	char *reply;	/* 4-byte length + JSON, not secret */
	size_t reply_len, reply_off;
	lb_timer *deadline;
	uint64_t id;   /* for a deferred reply */
	bool deferred; /* the handler answers later through lb_control_reply */
	struct conn *next;
};

struct lb_control {
	lb_loop *loop;
	int fd;
	lb_control_handler handler;
	void *ctx;
	uint64_t next_id;
	struct conn *conns;
	size_t nconns;
	size_t pending; /* request bytes allocated over all connections */
	bool paused;	/* at LB_CONTROL_CONN_MAX: the listen socket is not watched */
};

static void conn_close(struct conn *c)
{
	for (struct conn **p = &c->ctl->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	lb_loop_del_fd(c->ctl->loop, c->fd);
	close(c->fd);
	lb_timer_free(c->deadline);
	lb_secbuf_free(c->req);
	c->ctl->pending -= c->req_cap;
	c->ctl->nconns--;
	if (c->ctl->paused && c->ctl->nconns < LB_CONTROL_CONN_MAX) {
		c->ctl->paused = false;
		lb_loop_mod_fd(c->ctl->loop, c->ctl->fd, EPOLLIN);
	}
	free(c->reply);
	free(c);
}

/* Room for at least one more byte of the request: double the buffer (at most to what was
 * announced), within the total cap. Returns false when the request must be dropped. */
static bool req_grow(struct conn *c)
{
	size_t cap = c->req_cap ? c->req_cap * 2 : REQ_CHUNK;
	lb_secbuf *nb;

	if (cap > c->req_len)
		cap = c->req_len;
	if (c->ctl->pending - c->req_cap + cap > LB_CONTROL_PENDING_MAX) {
		lb_log(LB_WARN,
		       "control: request of %zu bytes dropped (%zu bytes of other requests "
		       "pending, at most %d)",
		       c->req_len, c->ctl->pending - c->req_cap, LB_CONTROL_PENDING_MAX);
		return false;
	}
	nb = lb_secbuf_new(cap);
	if (!nb)
		return false;
	nb->len = 0;
	if (c->req) {
		memcpy(nb->data, c->req->data, c->req->len);
		nb->len = c->req->len;
		lb_secbuf_free(c->req);
	}
	c->ctl->pending += cap - c->req_cap;
	c->req = nb;
	c->req_cap = cap;
	return true;
}

static void conn_timeout(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	struct conn *c = ctx;

	if (c->deferred)
		lb_log(LB_WARN, "control: no answer within %d ms; request dropped",
		       DEFERRED_DEADLINE_MS);
	else
		lb_log(LB_WARN, "control: client did not finish its request within %d ms",
		       CONN_DEADLINE_MS);
	conn_close(c);
}

static void set_reply(struct conn *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t n = text ? strlen(text) : 0;

	json_decref(reply);
	c->reply = malloc(n + 4);
	if (!c->reply) {
		lb_json_free(text);
		return;
	}
	c->reply[0] = (char)(n >> 24);
	c->reply[1] = (char)(n >> 16);
	c->reply[2] = (char)(n >> 8);
	c->reply[3] = (char)n;
	memcpy(c->reply + 4, text, n);
	c->reply_len = n + 4;
	lb_json_free(text);
}

json_t *lb_control_request(const unsigned char *body, size_t len, lb_control_handler h, void *ctx,
			   uint64_t id)
{
	json_t *req = json_loadb((const char *)body, len, 0, NULL);
	json_t *reply;

	if (!json_is_object(req))
		reply = json_pack("{s:b,s:s}", "ok", 0, "error",
				  "malformed request (not a JSON object)");
	else
		reply = h(ctx, req, id);
	json_decref(req);
	return reply;
}

static void conn_dispatch(struct conn *c)
{
	json_t *reply =
	    lb_control_request(c->req->data, c->req->len, c->ctl->handler, c->ctl->ctx, c->id);

	lb_secbuf_free(c->req);
	c->req = NULL;
	c->ctl->pending -= c->req_cap;
	c->req_cap = 0;
	if (!reply) {
		/* The handler answers later (it waits for dockerd, say). */
		c->deferred = true;
		lb_loop_mod_fd(c->ctl->loop, c->fd, 0);
		lb_timer_arm(c->deadline, DEFERRED_DEADLINE_MS);
		return;
	}
	set_reply(c, reply);
}

void lb_control_reply(lb_control *ctl, uint64_t id, json_t *reply)
{
	for (struct conn *c = ctl->conns; c; c = c->next)
		if (c->id == id && c->deferred) {
			c->deferred = false;
			set_reply(c, reply);
			if (!c->reply) {
				conn_close(c);
				return;
			}
			lb_loop_mod_fd(ctl->loop, c->fd, EPOLLOUT);
			return;
		}
	json_decref(reply); /* the client gave up */
}

static void conn_io(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct conn *c = ctx;
	ssize_t n;

	if (c->deferred) {
		/* Waiting for the handler: only a hang-up matters. */
		if (events & (EPOLLHUP | EPOLLERR))
			goto drop;
		return;
	}
	if (!c->reply) {
		if (c->hdr_len < 4) {
			n = read(fd, c->hdr + c->hdr_len, 4 - c->hdr_len);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0)
				goto drop;
			c->hdr_len += (size_t)n;
			if (c->hdr_len < 4)
				return;
			c->req_len = (size_t)c->hdr[0] << 24 | (size_t)c->hdr[1] << 16 |
				     (size_t)c->hdr[2] << 8 | c->hdr[3];
			if (c->req_len == 0 || c->req_len > LB_CONTROL_REQ_MAX) {
				lb_log(LB_WARN, "control: request of %zu bytes refused",
				       c->req_len);
				goto drop;
			}
		}
		if ((!c->req || c->req->len == c->req_cap) && !req_grow(c))
			goto drop;
		n = read(fd, c->req->data + c->req->len, c->req_cap - c->req->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			goto drop;
		c->req->len += (size_t)n;
		if (c->req->len < c->req_len)
			return;
		conn_dispatch(c);
		if (c->deferred)
			return;
		if (!c->reply)
			goto drop;
		lb_loop_mod_fd(loop, fd, EPOLLOUT);
	}
	n = write(fd, c->reply + c->reply_off, c->reply_len - c->reply_off);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		goto drop;
	c->reply_off += (size_t)n;
	if (c->reply_off < c->reply_len)
		return;
drop:
	conn_close(c);
}

static void on_accept(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	lb_control *ctl = ctx;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	int cfd;

	(void)events;
	// cppcheck-suppress nullPointer ; accept4 takes NULL for the peer address (accept(2))
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		lb_log(LB_WARN, "control: refused connection: SO_PEERCRED: %s", strerror(errno));
		close(cfd);
		return;
	}
	if (cred.uid != 0) {
		lb_log(LB_WARN, "control: refused connection from uid %u (root only)",
		       (unsigned)cred.uid);
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	c->ctl = ctl;
	c->fd = cfd;
	c->id = ++ctl->next_id;
	c->next = ctl->conns;
	ctl->conns = c;
	c->deadline = lb_timer_new(loop, conn_timeout, c);
	if (!c->deadline || lb_loop_add_fd(loop, cfd, EPOLLIN, conn_io, c) < 0) {
		ctl->conns = c->next;
		lb_timer_free(c->deadline);
		close(cfd);
		free(c);
		return;
	}
	lb_timer_arm(c->deadline, CONN_DEADLINE_MS);
	/* At the cap, later clients wait in the backlog until a connection closes. */
	if (++ctl->nconns >= LB_CONTROL_CONN_MAX) {
		ctl->paused = true;
		lb_loop_mod_fd(loop, ctl->fd, 0);
	}
}

static int sock_addr(const char *run_dir, struct sockaddr_un *sa, lb_err *e)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", run_dir,
			     LB_CONTROL_SOCK) >= sizeof(sa->sun_path))
		return lb_fail(e, 0, "%s/%s: socket path too long", run_dir, LB_CONTROL_SOCK);
	return 0;
}

lb_control *lb_control_listen(lb_loop *loop, int run_dirfd, const char *run_dir,
			      lb_control_handler h, void *ctx, lb_err *e)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	lb_control *ctl;
	mode_t old;
	int rc;

	if (sock_addr(run_dir, &sa, e))
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return lb_fail_errno(e, "control socket"), NULL;
	unlinkat(run_dirfd, LB_CONTROL_SOCK, 0);
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "bind %s", sa.sun_path), NULL;
	if (fchmodat(run_dirfd, LB_CONTROL_SOCK, 0600, 0) < 0 || listen(fd, 16) < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "listen %s", sa.sun_path), NULL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	ctl->loop = loop;
	ctl->handler = h;
	ctl->ctx = ctx;
	ctl->fd = fd;
	if (lb_loop_add_fd(loop, fd, EPOLLIN, on_accept, ctl) < 0) {
		free(ctl);
		return lb_fail_errno(e, "watch %s", sa.sun_path), NULL;
	}
	steal_fd(fd);
	return ctl;
}

void lb_control_close(lb_control *c)
{
	struct conn *conn;

	if (!c)
		return;
	while ((conn = c->conns)) {
		c->conns = conn->next; /* off the list before conn_close frees it */
		conn_close(conn);
	}
	lb_loop_del_fd(c->loop, c->fd);
	close(c->fd);
	free(c);
}

static int io_all(int fd, void *buf, size_t len, bool writing, lb_err *e)
{
	unsigned char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
		ssize_t n;

		/* lockboxctl waits at most 30 s for the broker. */
		if (poll(&pfd, 1, 30000) <= 0)
			return lb_fail(e, ETIMEDOUT, "control socket: broker did not answer");
		n = writing ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return lb_fail(e, n < 0 ? errno : EPIPE, "control socket: %s failed",
				       writing ? "write" : "read");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lb_control_call(const char *run_dir, json_t *req, json_t **reply, lb_err *e)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *rbuf = NULL;
	unsigned char hdr[4];
	char *text;
	size_t n;
	int rc;

	if (sock_addr(run_dir, &sa, e))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lb_fail_errno(e, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			lb_fail_errno(e, "connect %s", sa.sun_path);
			return LB_CONTROL_NO_BROKER;
		}
		return lb_fail_errno(e, "connect %s", sa.sun_path);
	}
	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		return lb_fail(e, ENOMEM, "out of memory");
	n = strlen(text);
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	rc = io_all(fd, hdr, 4, true, e) || io_all(fd, text, n, true, e) ? -1 : 0;
	lb_json_free(text);
	if (rc)
		return -1;
	if (io_all(fd, hdr, 4, false, e))
		return -1;
	n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > LB_CONTROL_REPLY_MAX)
		return lb_fail(e, 0, "control socket: reply of %zu bytes refused", n);
	rbuf = malloc(n);
	if (!rbuf)
		return lb_fail(e, ENOMEM, "control socket: no memory for a reply of %zu bytes", n);
	if (io_all(fd, rbuf, n, false, e))
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees rbuf
		return -1;
	*reply = json_loadb(rbuf, n, 0, NULL);
	if (!json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		return lb_fail(e, 0, "control socket: malformed reply");
	}
	return 0;
}
