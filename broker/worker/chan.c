#include "chan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <sodium.h>

#include "loop.h"

#define RBUF_FIRST (64u * 1024u)
#define RBUF_MAX   (LB_WIRE_MAX_FRAME + 64u * 1024u)
/* A peer that leaves this much unread is stuck: the channel goes down. */
#define SEND_MAX (256u * 1024u * 1024u)

struct out {
	lb_secbuf *frame;
	size_t off;
	struct out *next;
};

struct lb_chan {
	lb_loop *loop;
	int fd;
	lb_chan_frame_cb on_frame;
	lb_chan_down_cb on_down;
	void *ctx;
	lb_secbuf *rbuf; /* rbuf->len is the capacity; rlen is used */
	size_t rlen;
	struct out *head, *tail;
	size_t queued;
	bool want_out, down;
	bool batch;	/* lb_chan_batch: frames go out together on the next loop turn */
	int depth;	/* callbacks under way: free is deferred */
	bool freed;	/* free once they return */
	lb_timer *kick; /* frames read by lb_chan_call wait for the loop */
};

static void chan_destroy(lb_chan *c)
{
	struct out *o = c->head;

	while (o) {
		struct out *next = o->next;
		lb_secbuf_free(o->frame);
		free(o);
		o = next;
	}
	if (c->fd >= 0) {
		lb_loop_del_fd(c->loop, c->fd);
		close(c->fd);
	}
	lb_timer_free(c->kick);
	lb_secbuf_free(c->rbuf);
	free(c);
}

void lb_chan_free(lb_chan *c)
{
	if (!c)
		return;
	if (c->depth > 0) {
		c->freed = true;
		return;
	}
	chan_destroy(c);
}

static void go_down(lb_chan *c, const char *why)
{
	if (c->down)
		return;
	c->down = true;
	if (c->fd >= 0)
		lb_loop_del_fd(c->loop, c->fd);
	c->depth++;
	c->on_down(c->ctx, why);
	c->depth--;
}

static void want_out(lb_chan *c, bool on)
{
	if (c->down || c->want_out == on)
		return;
	c->want_out = on;
	(void)lb_loop_mod_fd(c->loop, c->fd, EPOLLIN | (on ? EPOLLOUT : 0u));
}

/* Every queued frame, gathered: one sendmsg carries up to FLUSH_IOV of them, so the peer
 * reads a batch of requests at once. -1: the socket failed (errno). */
#define FLUSH_IOV 64
static int flush(lb_chan *c)
{
	while (c->head) {
		struct iovec iov[FLUSH_IOV];
		struct msghdr mh = {.msg_iov = iov};
		ssize_t n;

		for (struct out *o = c->head; o && mh.msg_iovlen < FLUSH_IOV; o = o->next)
			iov[mh.msg_iovlen++] = (struct iovec){.iov_base = o->frame->data + o->off,
							      .iov_len = o->frame->len - o->off};
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -1;
		c->queued -= (size_t)n;
		while (n > 0 && c->head) { /* n never exceeds what the queued frames hold */
			struct out *o = c->head;
			size_t left = o->frame->len - o->off;

			if ((size_t)n < left) {
				o->off += (size_t)n;
				break;
			}
			n -= (ssize_t)left;
			c->head = o->next;
			if (!c->head)
				c->tail = NULL;
			lb_secbuf_free(o->frame);
			free(o);
		}
	}
	want_out(c, c->head != NULL);
	return 0;
}

void lb_chan_batch(lb_chan *c)
{
	c->batch = true;
}

static int grow(lb_chan *c, size_t need)
{
	size_t cap = c->rbuf ? c->rbuf->len : 0;
	lb_secbuf *nb;

	if (cap >= need)
		return 0;
	if (cap == 0)
		cap = RBUF_FIRST;
	while (cap < need)
		cap *= 2;
	if (cap > RBUF_MAX)
		cap = RBUF_MAX;
	nb = lb_secbuf_new(cap);
	if (!nb)
		return -1;
	if (c->rlen)
		memcpy(nb->data, c->rbuf->data, c->rlen);
	lb_secbuf_free(c->rbuf);
	c->rbuf = nb;
	return 0;
}

/* Read what the socket has. 1: bytes came, 0: none now, -1: down (why set). */
static int fill(lb_chan *c, const char **why)
{
	int got = 0;

	for (;;) {
		ssize_t n;
		if (c->rlen == c->rbuf->len) {
			if (c->rlen >= RBUF_MAX)
				return got; /* parse what is in before reading on */
			if (grow(c, c->rlen + 1) < 0) {
				*why = "out of secure memory for a frame";
				return -1;
			}
		}
		n = recv(c->fd, c->rbuf->data + c->rlen, c->rbuf->len - c->rlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return got;
		if (n < 0 && errno != ECONNRESET) {
			*why = "read failed";
			return -1;
		}
		if (n <= 0) {
			*why = "peer closed the channel";
			return -1;
		}
		c->rlen += (size_t)n;
		got = 1;
	}
}

/* The length of the whole frame at off, 0 when not all in, -1 when bad (e). */
static long frame_at(lb_chan *c, size_t off, lb_err *e)
{
	long n = lb_wire_frame_len(c->rbuf->data + off, c->rlen - off, e);

	if (n <= 0)
		return n;
	if (grow(c, off + (size_t)n) < 0)
		return lb_fail(e, ENOMEM, "out of secure memory for a frame");
	return (size_t)n <= c->rlen - off ? n : 0;
}

static void drop(lb_chan *c, size_t off, size_t n)
{
	memmove(c->rbuf->data + off, c->rbuf->data + off + n, c->rlen - off - n);
	c->rlen -= n;
	sodium_memzero(c->rbuf->data + c->rlen, n);
}

/* Hand out every whole frame in rbuf. Each leaves rbuf before its callback runs: the callback
 * may call lb_chan_call, which reads on into rbuf. */
static void dispatch(lb_chan *c)
{
	lb_err e = {0};

	while (!c->down && !c->freed) {
		_cleanup_secbuf_ lb_secbuf *f = NULL;
		lb_wire_msg m;
		long n = frame_at(c, 0, &e);
		if (n == 0)
			return;
		if (n > 0 && !(f = lb_secbuf_dup(c->rbuf->data, (size_t)n)))
			n = lb_fail(&e, ENOMEM, "out of secure memory for a frame");
		if (n < 0 || lb_wire_decode(f->data, f->len, &m, &e) < 0) {
			go_down(c, e.msg);
			return;
		}
		drop(c, 0, (size_t)n);
		c->depth++;
		c->on_frame(c->ctx, &m);
		c->depth--;
	}
}

static void finish(lb_chan *c)
{
	if (c->freed && c->depth == 0)
		chan_destroy(c);
}

static void on_io(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	lb_chan *c = ctx;
	const char *why = NULL;

	(void)loop;
	(void)fd;
	c->depth++;
	if ((events & EPOLLOUT) && flush(c) < 0)
		go_down(c, "write failed");
	if (!c->down && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		int r = fill(c, &why);
		dispatch(c);
		if (r < 0 && !c->freed)
			go_down(c, why);
		else if (!c->down && !c->freed && c->rlen >= RBUF_MAX)
			go_down(c, "frame over the cap");
	}
	c->depth--;
	finish(c);
}

static void on_kick(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_chan *c = ctx;

	(void)loop;
	(void)t;
	c->depth++;
	dispatch(c);
	c->depth--;
	finish(c);
}

lb_chan *lb_chan_new(lb_loop *loop, int fd, lb_chan_frame_cb on_frame, lb_chan_down_cb on_down,
		     void *ctx)
{
	lb_chan *c = calloc(1, sizeof(*c));
	int fl = fcntl(fd, F_GETFL);

	if (!c || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		free(c);
		close(fd);
		return NULL;
	}
	c->loop = loop;
	c->fd = fd;
	c->on_frame = on_frame;
	c->on_down = on_down;
	c->ctx = ctx;
	c->kick = lb_timer_new(loop, on_kick, c);
	if (!c->kick || grow(c, RBUF_FIRST) < 0 ||
	    lb_loop_add_fd(loop, fd, EPOLLIN, on_io, c) < 0) {
		chan_destroy(c);
		return NULL;
	}
	return c;
}

int lb_chan_send(lb_chan *c, const lb_wire_msg *m, lb_err *e)
{
	struct out *o;

	if (c->down)
		return lb_fail(e, 0, "the channel is down");
	o = calloc(1, sizeof(*o));
	if (!o)
		return lb_fail(e, ENOMEM, "out of memory");
	if (lb_wire_encode(m, &o->frame, e) < 0) {
		free(o);
		return -1;
	}
	c->queued += o->frame->len;
	if (c->tail)
		c->tail->next = o;
	else
		c->head = o;
	c->tail = o;
	if (c->queued > SEND_MAX) {
		go_down(c, "peer does not read (send queue over its cap)");
		return lb_fail(e, 0, "the channel is down");
	}
	if (c->batch) {
		want_out(c, true); /* written when this loop turn is over, with its siblings */
		return 0;
	}
	if (flush(c) < 0) {
		go_down(c, "write failed");
		return lb_fail(e, 0, "the channel is down");
	}
	return 0;
}

size_t lb_chan_queued(const lb_chan *c)
{
	return c->queued;
}

int lb_chan_call(lb_chan *c, const lb_wire_msg *m, uint8_t reply_type, int timeout_ms,
		 lb_secbuf **reply, lb_err *e)
{
	uint64_t deadline = lb_now_ms() + (uint64_t)timeout_ms;
	size_t scanned = 0;

	if (lb_chan_send(c, m, e) < 0)
		return -1;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN | (c->head ? POLLOUT : 0)};
		const char *why = NULL;
		uint64_t now;
		long n;

		/* Frames already in (skipping those scanned): is the reply among them? */
		while ((n = frame_at(c, scanned, e)) > 0) {
			const unsigned char *f = c->rbuf->data + scanned;
			lb_wire_msg r;
			if (lb_wire_decode(f, (size_t)n, &r, e) < 0) {
				go_down(c, e->msg);
				return -1;
			}
			if (r.type == reply_type && r.id == m->id) {
				*reply = lb_secbuf_dup(f, (size_t)n);
				drop(c, scanned, (size_t)n);
				if (c->rlen)
					lb_timer_arm(c->kick, 0);
				return *reply ? 0 : lb_fail(e, ENOMEM, "out of secure memory");
			}
			scanned += (size_t)n;
		}
		if (n < 0) {
			go_down(c, e->msg);
			return -1;
		}
		if (c->down)
			return lb_fail(e, 0, "the channel is down");
		now = lb_now_ms();
		if (now >= deadline)
			return lb_fail(e, ETIMEDOUT, "no answer from lockboxd within %d ms",
				       timeout_ms);
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return lb_fail_errno(e, "poll");
		if ((p.revents & POLLOUT) && flush(c) < 0) {
			go_down(c, "write failed");
			return lb_fail(e, 0, "the channel is down");
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (c->rlen >= RBUF_MAX) {
				go_down(c, "frame over the cap");
				return lb_fail(e, 0, "the channel is down");
			}
			if (fill(c, &why) < 0) {
				go_down(c, why);
				return lb_fail(e, 0, "the channel is down: %s", why);
			}
		}
		if (c->rlen > scanned)
			lb_timer_arm(c->kick, 0);
	}
}
