/* The network-store engine's small parts (see netstore.h): helpers the providers share,
 * waiters and their queues, coalesced reads, and the gathered refresh requests to the
 * broker. */
#include "netstore.h"
#include "metrics.h"
#include "netstore_impl.h"
#include "fsutil.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_GATHER_MS 250

struct refreq {
	char target[LB_NAME_MAX + 1];
	struct refreq *next;
};

struct lb_nst_refresher {
	lb_store *s;
	lb_timer *timer;
	struct refreq *list;
};

void lb_nst_printable(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = ' ';
}

bool lb_nst_is_json_object(const lb_secbuf *v)
{
	json_t *j = json_loadb((const char *)v->data, v->len, 0, NULL);
	bool obj = json_is_object(j);

	json_decref(j);
	return obj;
}

int lb_nst_read_secret_file(const char *path, size_t cap, bool trim, lb_secbuf **out, lb_err *e)
{
	lb_secbuf *b = NULL;

	if (lb_read_secret_at(AT_FDCWD, path, cap, &b, e))
		return -1;
	while (trim && b->len && isspace(b->data[b->len - 1]))
		b->data[--b->len] = '\0';
	if (b->len == 0) {
		lb_secbuf_free(b);
		return lb_fail(e, 0, "%s is empty", path);
	}
	*out = b;
	return 0;
}

int lb_nst_http_header(lb_nst_http *h, const char *name, const void *value, size_t len)
{
	size_t n = strlen(name);
	lb_secbuf *b;

	if (h->nhdr >= LB_NST_MAX_HEADERS || !(b = lb_secbuf_new(n + 2 + len)))
		return -1;
	memcpy(b->data, name, n);
	memcpy(b->data + n, ": ", 2);
	memcpy(b->data + n + 2, value, len);
	b->data[b->len] = '\0';
	h->hdr[h->nhdr++] = b;
	return 0;
}

int lb_nst_http_header_line(lb_nst_http *h, const char *line)
{
	lb_secbuf *b;

	if (h->nhdr >= LB_NST_MAX_HEADERS || !(b = lb_secbuf_dup(line, strlen(line))))
		return -1;
	h->hdr[h->nhdr++] = b;
	return 0;
}

const lb_source *lb_nst_waiter_src(const lb_nst_waiter *w)
{
	return &w->src;
}

const char *lb_nst_waiter_target(const lb_nst_waiter *w)
{
	return w->target;
}

void lb_nst_waiter_reply(lb_nst_waiter *w, lb_fetch_result *res)
{
	w->cb(w->ctx, res);
	free(w);
}

void lb_nst_waiter_fail(lb_nst *ns, lb_nst_waiter *w, const char *fmt, ...)
{
	lb_fetch_result r = {.status = -1};
	char msg[420];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message is cut */
	va_end(ap);
	snprintf(r.error, sizeof(r.error), "%s store \"%s\": %s: %s", lb_nst_kind(ns),
		 lb_nst_name(ns), w->src.path, msg);
	lb_nst_waiter_reply(w, &r);
}

void lb_nst_waitq_push(lb_nst_waitq *q, lb_nst_waiter *w)
{
	w->next = NULL;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

lb_nst_waiter *lb_nst_waitq_pop(lb_nst_waitq *q)
{
	lb_nst_waiter *w = q->head;

	if (w) {
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
		w->next = NULL;
	}
	return w;
}

void lb_nst_waitq_fail(lb_nst *ns, lb_nst_waitq *q, const char *msg)
{
	lb_nst_waiter *w;

	while ((w = lb_nst_waitq_pop(q)))
		lb_nst_waiter_fail(ns, w, "%s", msg);
}

static void on_refresh_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct lb_nst_refresher *rf = ctx;
	struct refreq *list = rf->list;

	(void)loop;
	(void)t;
	/* The broker fetches from inside request_refresh: take the list first. */
	rf->list = NULL;
	while (list) {
		struct refreq *q = list;
		list = q->next;
		if (rf->s->env.request_refresh)
			rf->s->env.request_refresh(rf->s->env.owner, q->target);
		free(q);
	}
}

void lb_nst_refresher_add(struct lb_nst_refresher *rf, const char *target)
{
	struct refreq *q, **p;

	if (!rf->s->env.request_refresh || !target[0])
		return;
	for (p = &rf->list; *p; p = &(*p)->next)
		if (strcmp((*p)->target, target) == 0)
			return;
	q = calloc(1, sizeof(*q));
	if (!q)
		return;
	snprintf(q->target, sizeof(q->target), "%s", target);
	*p = q;
	if (!lb_timer_armed(rf->timer))
		lb_timer_arm(rf->timer, REFRESH_GATHER_MS);
}

void lb_nst_refresher_forget(struct lb_nst_refresher *rf, const char *target)
{
	for (struct refreq **p = &rf->list; *p;) {
		struct refreq *q = *p;
		if (strcmp(q->target, target) == 0) {
			*p = q->next;
			free(q);
		} else {
			p = &q->next;
		}
	}
}

struct lb_nst_refresher *lb_nst_refresher_new(lb_store *s)
{
	struct lb_nst_refresher *rf = calloc(1, sizeof(*rf));

	if (!rf)
		return NULL;
	rf->s = s;
	rf->timer = lb_timer_new(s->env.loop, on_refresh_timer, rf);
	if (!rf->timer) {
		free(rf);
		return NULL;
	}
	return rf;
}

void lb_nst_refresher_free(struct lb_nst_refresher *rf)
{
	if (!rf)
		return;
	lb_timer_free(rf->timer);
	while (rf->list) {
		struct refreq *q = rf->list;
		rf->list = q->next;
		free(q);
	}
	free(rf);
}

/* --- coalesced reads --- */

static void read_unlink(lb_nst *ns, struct read *rd)
{
	for (struct read **p = &ns->reads; *p; p = &(*p)->next)
		if (*p == rd) {
			*p = rd->next;
			return;
		}
}

static void on_read_reply(lb_nst *ns, void *ctx, const lb_nst_reply *r)
{
	struct read *rd = ctx;
	lb_fetch_result res = {0};
	lb_err e = {0};
	lb_nst_waiter *w;

	read_unlink(ns, rd);
	if (ns->p->read_parse(ns, &rd->src, r, &res, &e)) {
		lb_fetch_result_clear(&res);
		lb_nst_waitq_fail(ns, &rd->waiters, e.msg[0] ? e.msg : "read failed");
	} else {
		while ((w = lb_nst_waitq_pop(&rd->waiters))) {
			lb_fetch_result one = res;
			lb_nst_waiter_reply(w, &one);
		}
		lb_fetch_result_clear(&res);
	}
	free(rd);
}

void lb_nst_read_join(lb_nst *ns, lb_nst_waiter *w)
{
	bool per_target = ns->p->read_per_target;
	lb_nst_req req = {0};
	lb_err e = {0};
	struct read *rd;

	for (rd = ns->reads; rd; rd = rd->next)
		if ((!rd->sent_ns || rd->sent_ns >= w->src.asked_ns) &&
		    strcmp(rd->src.path, w->src.path) == 0 &&
		    strcmp(rd->src.version, w->src.version) == 0 &&
		    (!per_target || strcmp(rd->target, w->target) == 0)) {
			lb_metric_inc(LB_M_STORE_COALESCED, ns->s->name);
			lb_nst_waitq_push(&rd->waiters, w);
			return;
		}
	if (ns->p->read_request(ns, &w->src, w->target, &req, &e)) {
		lb_nst_waiter_fail(ns, w, "%s", e.msg);
		return;
	}
	rd = calloc(1, sizeof(*rd));
	if (!rd) {
		lb_secbuf_free(req.body);
		lb_secbuf_free(req.xcred);
		lb_nst_waiter_fail(ns, w, "out of memory");
		return;
	}
	rd->ns = ns;
	rd->src = w->src;
	snprintf(rd->target, sizeof(rd->target), "%s", w->target);
	lb_nst_waitq_push(&rd->waiters, w);
	rd->next = ns->reads;
	ns->reads = rd;
	lb_nst_call_start_flagged(ns, &req, on_read_reply, rd, &rd->sent_ns);
}
