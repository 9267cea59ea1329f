/* The network-store engine (see netstore.h). */
#include "netstore.h"
#include "metrics.h"
#include "netstore_impl.h"
#include "backoff.h"
#include "cleanup.h"
#include "fsutil.h"
#include "layout.h"
#include "log.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQ_TIMEOUT_MS	 10000
#define REQ_MAX_BODY	 (1024 * 1024)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS	 60000

static void kick_soon(lb_nst *ns)
{
	if (!lb_timer_armed(ns->kick))
		lb_timer_arm(ns->kick, 0);
}

/* --- small things --- */

void *lb_nst_data(lb_nst *ns)
{
	return ns->data;
}

lb_store *lb_nst_store(lb_nst *ns)
{
	return ns->s;
}

const char *lb_nst_name(lb_nst *ns)
{
	return ns->s->name;
}

const char *lb_nst_kind(lb_nst *ns)
{
	return ns->kind;
}

bool lb_nst_closing(lb_nst *ns)
{
	return ns->closing;
}

static void q_push(struct callq *q, struct call *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

static struct call *q_pop(struct callq *q)
{
	struct call *c = q->head;

	if (c) {
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		c->next = NULL;
	}
	return c;
}

static bool q_unlink(struct callq *q, struct call *c)
{
	struct call *prev = NULL;

	for (struct call *x = q->head; x; prev = x, x = x->next)
		if (x == c) {
			if (prev)
				prev->next = c->next;
			else
				q->head = c->next;
			if (q->tail == c)
				q->tail = prev;
			c->next = NULL;
			return true;
		}
	return false;
}

static void call_free(struct call *c)
{
	lb_secbuf_free(c->req.body);
	lb_secbuf_free(c->req.xcred);
	json_decref(c->done.json);
	free(c);
}

/* --- faults --- */

static void set_last_error(lb_nst *ns, const char *what, const char *reason)
{
	snprintf(ns->last_error, sizeof(ns->last_error), "%s: %s", what, reason);
}

static void fault_report(lb_nst *ns, const char *what, const char *audit_path, const char *reason,
			 uint64_t wait)
{
	lb_log(LB_WARN, "%s store %s: %s: %s; backing off %llu ms", ns->kind, ns->s->name, what,
	       reason, (unsigned long long)wait);
	lb_audit("store_error", json_pack("{s:s,s:s,s:s,s:I}", "store", ns->s->name, "path",
					  audit_path && *audit_path ? audit_path : what, "reason",
					  reason, "backoff_ms", (json_int_t)wait));
}

static void call_fault(lb_nst *ns, struct call *c, const lb_nst_reply *r)
{
	uint64_t wait;

	set_last_error(ns, c->req.what, r->err.msg);
	wait = lb_backoff_fault(&ns->backoff, c->ticket, r->retry_after_s, lb_now_ms());
	if (wait) {
		ns->last_fault_cred = c->req.auth;
		fault_report(ns, c->req.what, c->req.audit_path, r->err.msg, wait);
	}
}

uint64_t lb_nst_backoff_wait_ms(lb_nst *ns)
{
	return lb_backoff_wait_ms(&ns->backoff, lb_now_ms());
}

/* --- the pipeline --- */

/* Completes c with a reply decided before sending, from the loop. */
static void call_defer(lb_nst *ns, struct call *c, enum lb_nst_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void call_defer(lb_nst *ns, struct call *c, enum lb_nst_verdict v, const char *fmt, ...)
{
	va_list ap;

	if (c->probe) {
		c->probe = false;
		lb_backoff_probe_lost(&ns->backoff);
	}
	c->done.verdict = v;
	c->done.retry_after_s = -1;
	c->done.replayed = c->replayed;
	va_start(ap, fmt);
	(void)vsnprintf(c->done.err.msg, sizeof(c->done.err.msg), fmt, ap); /* cut if long */
	va_end(ap);
	c->state = C_DONE;
	q_push(&ns->done, c);
	kick_soon(ns);
}

static void call_deliver(lb_nst *ns, struct call *c, const lb_nst_reply *r)
{
	c->cb(ns, c->ctx, r);
	call_free(c);
}

static bool cred_fresh(lb_nst *ns)
{
	return ns->have && ns->fresh && (!ns->refresh_at || (int64_t)time(NULL) < ns->refresh_at);
}

static void auth_start(lb_nst *ns)
{
	if (ns->authing || ns->closing)
		return;
	ns->authing = true;
	ns->fresh = false;
	if (ns->backoff.until_ms > lb_now_ms()) {
		char msg[600];
		snprintf(msg, sizeof(msg), "backing off for %llu s after: %s",
			 (unsigned long long)((ns->backoff.until_ms - lb_now_ms() + 999) / 1000),
			 ns->last_error);
		lb_nst_cred_fail(ns, false, -1, "", "", msg);
		return;
	}
	ns->p->authenticate(ns);
}

static void on_http(void *ctx, const lb_http_resp *resp);

/* lockbox_store_requests_total and its latency (issue 18). */
static void nst_count_request(lb_nst *ns, const struct call *c, enum lb_nst_verdict v)
{
	static const char *const outcome[] = {"ok", "final", "fault", "refresh"};
	const char *kind = c->req.auth ? "auth" : "api";

	lb_metric_inc(LB_M_STORE_REQUESTS, ns->s->name, ns->kind, kind, outcome[v]);
	lb_metric_observe(LB_M_STORE_REQUEST_SECONDS, lb_metrics_now() - c->sent, ns->s->name,
			  ns->kind, kind);
}

static void call_send(lb_nst *ns, struct call *c)
{
	lb_nst_http h = {0};
	const char *hdrs[LB_NST_MAX_HEADERS];
	lb_err e = {0};

	if (c->sent_ns)
		*c->sent_ns = lb_now_ns();
	h.opts.method = c->req.method[0] ? c->req.method : "GET";
	h.opts.ca_file = ns->ca_file;
	h.opts.ca_dir = ns->ca_dir;
	h.opts.client_cert = ns->client_cert;
	h.opts.client_key = ns->client_key;
	h.opts.timeout_ms = REQ_TIMEOUT_MS;
	h.opts.max_body = REQ_MAX_BODY;
	if (c->req.body) {
		h.opts.body = c->req.body->data;
		h.opts.body_len = c->req.body->len;
	}
	c->cred_gen = ns->cred_gen;
	if (ns->p->prepare(ns, &c->req, &h, &e)) {
		for (size_t i = 0; i < h.nhdr; i++)
			lb_secbuf_free(h.hdr[i]);
		lb_secbuf_free(h.body);
		call_defer(ns, c, LB_NST_FINAL, "%s", e.msg);
		return;
	}
	for (size_t i = 0; i < h.nhdr; i++)
		hdrs[i] = (const char *)h.hdr[i]->data;
	h.opts.url = h.url;
	h.opts.headers = hdrs;
	h.opts.nheaders = h.nhdr;
	if (h.body) {
		h.opts.body = h.body->data;
		h.opts.body_len = h.body->len;
	}
	c->ticket = lb_backoff_ticket(&ns->backoff);
	c->sent = lb_metrics_now();
	c->http = lb_http_start(ns->s->env.http, &h.opts, on_http, c, &e);
	for (size_t i = 0; i < h.nhdr; i++)
		lb_secbuf_free(h.hdr[i]);
	lb_secbuf_free(h.body);
	if (!c->http) {
		lb_nst_reply r = {.verdict = LB_NST_FAULT, .retry_after_s = -1};
		r.err = e;
		call_fault(ns, c, &r);
		c->probe = false;
		call_defer(ns, c, LB_NST_FAULT, "%s", e.msg);
		return;
	}
	c->state = C_FLIGHT;
	q_push(&ns->flight, c);
}

/* Backoff gate, credential gate, send. A request without the store's credential made while
 * authenticating (the login, a token lookup) passes the backoff gate: authenticate() runs
 * only outside a backoff wait (auth_start), often for the probe, which holds the gate and
 * waits for this very credential; gated, the login failed "retrying after" at every probe
 * and a store whose login was refused once never logged in again. */
static void call_step(lb_nst *ns, struct call *c)
{
	bool for_auth = ns->authing && c->req.cred != LB_NST_CRED;

	if (!c->probe && !for_auth) {
		switch (lb_backoff_gate(&ns->backoff, lb_now_ms())) {
		case LB_BACKOFF_GO:
			break;
		case LB_BACKOFF_PROBE:
			c->probe = true;
			break;
		case LB_BACKOFF_WAIT:
			if (ns->backoff.probing)
				call_defer(ns, c, LB_NST_FAULT, "retrying after: %s",
					   ns->last_error);
			else
				call_defer(
				    ns, c, LB_NST_FAULT, "backing off for %llu s after: %s",
				    (unsigned long long)((lb_nst_backoff_wait_ms(ns) + 999) / 1000),
				    ns->last_error);
			return;
		}
	}
	if (c->req.cred == LB_NST_CRED && !cred_fresh(ns)) {
		c->state = C_CRED_WAIT;
		q_push(&ns->cred_wait, c);
		auth_start(ns);
		return;
	}
	call_send(ns, c);
}

static void on_http(void *ctx, const lb_http_resp *resp)
{
	struct call *c = ctx;
	lb_nst *ns = c->ns;
	lb_nst_reply r = {.status = resp->status, .retry_after_s = resp->retry_after_s};

	c->http = NULL;
	q_unlink(&ns->flight, c);
	r.body = resp->body;
	r.replayed = c->replayed;
	r.cred_gen = c->cred_gen;
	if (resp->curl_code != 0) {
		r.verdict = LB_NST_FAULT;
		lb_fail(&r.err, 0, "%s", resp->error);
	} else {
		ns->p->classify(ns, &c->req, resp, &r);
	}
	if (r.verdict == LB_NST_REFRESH && (c->req.cred != LB_NST_CRED || c->replayed))
		r.verdict = LB_NST_FINAL;
	nst_count_request(ns, c, r.verdict);
	if (r.verdict == LB_NST_REFRESH) {
		/* The credential was refused (expired early, revoked): a new one, then once
		 * more. Replies signed with an older one do not drop the new one. */
		json_decref(r.json);
		c->replayed = true;
		if (c->probe) {
			c->probe = false;
			lb_backoff_probe_lost(&ns->backoff);
		}
		if (c->cred_gen == ns->cred_gen && ns->have) {
			lb_log(LB_WARN, "%s store %s: credential refused (%s); getting a new one",
			       ns->kind, ns->s->name, r.err.msg);
			ns->have = ns->fresh = false;
			if (ns->p->cred_drop)
				ns->p->cred_drop(ns);
		}
		c->state = C_READY;
		q_push(&ns->ready, c);
		kick_soon(ns);
		return;
	}
	if (r.drop_cred && c->cred_gen == ns->cred_gen) {
		ns->have = ns->fresh = false;
		if (ns->p->cred_drop)
			ns->p->cred_drop(ns);
	}
	if (r.verdict == LB_NST_FAULT)
		call_fault(ns, c, &r);
	else if (!c->req.auth || ns->last_fault_cred)
		lb_backoff_ok(&ns->backoff, c->ticket);
	if (c->probe && ns->backoff.probing)
		lb_backoff_probe_lost(&ns->backoff); /* its outcome is known, counted or not */
	call_deliver(ns, c, &r);
	json_decref(r.json);
}

void lb_nst_call_start(lb_nst *ns, const lb_nst_req *req, lb_nst_call_cb cb, void *ctx)
{
	lb_nst_call_start_flagged(ns, req, cb, ctx, NULL);
}

void lb_nst_call_start_flagged(lb_nst *ns, const lb_nst_req *req, lb_nst_call_cb cb, void *ctx,
			       uint64_t *sent_ns)
{
	struct call *c = calloc(1, sizeof(*c));

	if (!c) {
		lb_log(LB_ERROR, "%s store %s: out of memory for %s", ns->kind, ns->s->name,
		       req->what);
		lb_secbuf_free(req->body);
		lb_secbuf_free(req->xcred);
		return;
	}
	c->ns = ns;
	c->req = *req;
	c->cb = cb;
	c->ctx = ctx;
	c->sent_ns = sent_ns;
	if (ns->closing) {
		call_free(c);
		return;
	}
	c->state = C_READY;
	q_push(&ns->ready, c);
	kick_soon(ns);
}

static void cancel_in(lb_nst *ns, struct callq *q, const void *ctx, bool all)
{
	struct callq keep = {0};
	struct call *c;

	while ((c = q_pop(q))) {
		if (!all && c->ctx != ctx) {
			q_push(&keep, c);
			continue;
		}
		if (c->http)
			lb_http_cancel(c->http);
		if (c->probe)
			lb_backoff_probe_lost(&ns->backoff);
		call_free(c);
	}
	*q = keep;
}

void lb_nst_call_cancel(lb_nst *ns, void *ctx)
{
	struct callq *qs[] = {&ns->ready, &ns->cred_wait, &ns->flight, &ns->done};

	for (size_t i = 0; i < 4; i++)
		cancel_in(ns, qs[i], ctx, false);
}

/* --- credentials --- */

bool lb_nst_cred_have(lb_nst *ns)
{
	return ns->have;
}

bool lb_nst_cred_fresh(lb_nst *ns)
{
	return cred_fresh(ns);
}

bool lb_nst_cred_busy(lb_nst *ns)
{
	return ns->authing;
}

unsigned lb_nst_cred_gen(lb_nst *ns)
{
	return ns->cred_gen;
}

void lb_nst_cred_ok(lb_nst *ns, int64_t refresh_at, bool new_cred)
{
	struct call *c;

	ns->authing = false;
	lb_metric_inc(LB_M_LOGINS, ns->s->name, "ok");
	ns->have = ns->fresh = true;
	ns->refresh_at = refresh_at;
	if (new_cred)
		ns->cred_gen++;
	/* A credential ends a run of credential faults, not one of the secrets API. */
	if (ns->last_fault_cred) {
		lb_backoff_reset(&ns->backoff);
		ns->last_fault_cred = false;
	}
	while ((c = q_pop(&ns->cred_wait))) {
		c->state = C_READY;
		q_push(&ns->ready, c);
	}
	kick_soon(ns);
}

void lb_nst_cred_fail(lb_nst *ns, bool count, long retry_after_s, const char *what,
		      const char *reason, const char *for_waiters)
{
	struct call *c;

	ns->authing = false;
	lb_metric_inc(LB_M_LOGINS, ns->s->name, "failed");
	ns->have = ns->fresh = false;
	if (count) {
		uint64_t wait = lb_backoff_fault_now(&ns->backoff, retry_after_s, lb_now_ms());
		set_last_error(ns, what, reason);
		ns->last_fault_cred = true;
		fault_report(ns, what, NULL, reason, wait);
	}
	while ((c = q_pop(&ns->cred_wait))) {
		c->probe = false; /* fault_now ended the probe, or it was lost */
		call_defer(ns, c, LB_NST_FAULT, "%s", for_waiters);
	}
	if (!count && ns->backoff.probing)
		lb_backoff_probe_lost(&ns->backoff);
}

void lb_nst_cred_refresh(lb_nst *ns)
{
	ns->fresh = false;
	auth_start(ns);
}

/* --- waiters and reads --- */

/* --- the loop --- */

static size_t q_len(const struct callq *q)
{
	size_t n = 0;

	for (const struct call *c = q->head; c; c = c->next)
		n++;
	return n;
}

static void on_kick(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_nst *ns = ctx;
	size_t nd = q_len(&ns->done), nr = q_len(&ns->ready), nw = 0;
	lb_nst_waiter *w;
	struct call *c;

	(void)loop;
	(void)t;
	for (w = ns->incoming.head; w; w = w->next)
		nw++;
	/* Only what was queued when this turn began; what arrives meanwhile waits for the next
	 * turn of the loop. The queues stay the store's, so lb_nst_call_cancel from a callback
	 * reaches every call not yet run. */
	while (nd-- && (c = q_pop(&ns->done))) {
		lb_nst_reply r = c->done;
		c->done.json = NULL;
		call_deliver(ns, c, &r);
		json_decref(r.json);
	}
	while (nr-- && (c = q_pop(&ns->ready)))
		call_step(ns, c);
	while (nw-- && (w = lb_nst_waitq_pop(&ns->incoming))) {
		if (ns->p->fetch)
			ns->p->fetch(ns, w);
		else
			lb_nst_read_join(ns, w);
	}
	if (ns->done.head || ns->ready.head || ns->incoming.head)
		kick_soon(ns);
}

/* --- the store --- */

void lb_nst_store_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
			void *ctx)
{
	lb_nst *ns = s->priv;
	lb_nst_waiter *w = calloc(1, sizeof(*w));

	if (!w) {
		lb_fetch_result res = {.status = -1};
		snprintf(res.error, sizeof(res.error), "%s store \"%s\": out of memory", ns->kind,
			 s->name);
		cb(ctx, &res);
		return;
	}
	w->cb = cb;
	w->ctx = ctx;
	w->src = *src;
	if (!w->src.asked_ns)
		w->src.asked_ns = lb_now_ns(); /* asked now: no read sent before joins it */
	snprintf(w->target, sizeof(w->target), "%s", target ? target : "");
	if (ns->closing) {
		lb_nst_waiter_fail(ns, w, "store closed");
		return;
	}
	lb_nst_waitq_push(&ns->incoming, w);
	kick_soon(ns);
}

void lb_nst_store_release(lb_store *s, const char *target)
{
	lb_nst *ns = s->priv;

	lb_nst_refresh_forget(ns, target);
	if (ns->p->release)
		ns->p->release(ns, target);
}

json_t *lb_nst_store_health(lb_store *s)
{
	lb_nst *ns = s->priv;
	json_t *h =
	    json_pack("{s:s}", "health",
		      lb_backoff_failing(&ns->backoff) ? "degraded"
						       : (ns->have ? "ok" : ns->p->unauth_health));
	uint64_t wait = lb_backoff_wait_ms(&ns->backoff, lb_now_ms());

	if (!h)
		return NULL;
	if (ns->p->health) {
		json_t *x = ns->p->health(ns);
		json_object_update_missing(h, x);
		json_decref(x);
	}
	if (ns->last_error[0])
		json_object_set_new(h, "last_error", json_string(ns->last_error));
	if (wait && !ns->backoff.probing)
		json_object_set_new(h, "backoff_ms", json_integer((json_int_t)wait));
	return h;
}

static void ns_free(lb_nst *ns)
{
	if (ns->p->free)
		ns->p->free(ns->data);
	lb_timer_free(ns->kick);
	lb_nst_refresher_free(ns->refresher);
	free(ns->ca_file);
	free(ns->ca_dir);
	free(ns->client_cert);
	free(ns->client_key);
	free(ns);
}

void lb_nst_store_close(lb_store *s)
{
	lb_nst *ns = s->priv;
	struct callq *qs[] = {&ns->ready, &ns->cred_wait, &ns->flight, &ns->done};
	lb_nst_waitq pending = {0};
	lb_nst_waiter *w;

	if (!ns)
		return;
	ns->closing = true;
	/* No callback of a call runs after this. */
	for (size_t i = 0; i < 4; i++)
		cancel_in(ns, qs[i], NULL, true);
	while ((w = lb_nst_waitq_pop(&ns->incoming)))
		lb_nst_waitq_push(&pending, w);
	while (ns->reads) {
		struct read *rd = ns->reads;
		ns->reads = rd->next;
		while ((w = lb_nst_waitq_pop(&rd->waiters)))
			lb_nst_waitq_push(&pending, w);
		free(rd);
	}
	/* Answered while the store is still whole; a fetch from a callback sees closing. */
	lb_nst_waitq_fail(ns, &pending, "store closed");
	if (ns->p->close)
		ns->p->close(ns);
	ns_free(ns);
	s->priv = NULL;
}

static char *dup_opt(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

int lb_nst_open(lb_store *s, const lb_nst_provider *p, void *data, const lb_nst_tls *tls, lb_err *e)
{
	lb_nst *ns = calloc(1, sizeof(*ns));
	bool oom = false;

	if (!ns) {
		if (p->free)
			p->free(data);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	ns->s = s;
	ns->p = p;
	ns->kind = p->kind ? p->kind : s->ops->type;
	ns->data = data;
	lb_backoff_init(&ns->backoff, BACKOFF_FIRST_MS, BACKOFF_MAX_MS, true);
	if (tls) {
		ns->ca_file = dup_opt(tls->ca_file, &oom);
		ns->ca_dir = dup_opt(tls->ca_dir, &oom);
		ns->client_cert = dup_opt(tls->client_cert, &oom);
		ns->client_key = dup_opt(tls->client_key, &oom);
	}
	ns->kick = lb_timer_new(s->env.loop, on_kick, ns);
	ns->refresher = lb_nst_refresher_new(s);
	if (oom || !ns->kick || !ns->refresher) {
		ns_free(ns);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	s->priv = ns;
	return 0;
}

void lb_nst_request_refresh(lb_nst *ns, const char *target)
{
	if (!ns->closing)
		lb_nst_refresher_add(ns->refresher, target);
}

void lb_nst_refresh_forget(lb_nst *ns, const char *target)
{
	lb_nst_refresher_forget(ns->refresher, target);
}
