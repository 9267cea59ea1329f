/* The network-store engine (broker/stores/netstore.c) driven by a fake provider against a
 * small HTTP server on the same loop (no root, no Python): coalesced reads, backoff and the
 * one probe, faults of one batch counted once, refused credential -> refresh -> replay
 * once, requests queued while authenticating, close completing every waiter, and no
 * callback before fetch() returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netstore.h"

/* --- the server: answers GET /PATH by the script below; counts requests per path --- */

#define MAX_PATHS 32

struct route {
	char path[128];
	int statuses[8]; /* consumed in order; the last one repeats; 0 = 200 */
	size_t nstatus, next;
	int count;
	int hold;    /* this many requests are not answered until release() */
	int held_fd; /* the one held (-1 none) */
};

static struct route routes[MAX_PATHS];
static size_t nroutes;
static int listen_fd = -1, port;
static lb_loop *loop;

static struct route *route_of(const char *path)
{
	for (size_t i = 0; i < nroutes; i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	assert_true(nroutes < MAX_PATHS);
	snprintf(routes[nroutes].path, sizeof(routes[nroutes].path), "%s", path);
	routes[nroutes].held_fd = -1;
	return &routes[nroutes++];
}

static void script(const char *path, int s1, int s2)
{
	struct route *r = route_of(path);

	r->statuses[0] = s1;
	r->statuses[1] = s2;
	r->nstatus = s2 ? 2 : 1;
	r->next = 0;
}

static int count_of(const char *path)
{
	return route_of(path)->count;
}

struct conn {
	char buf[4096];
	size_t len;
};

static void answer(int fd, struct route *r)
{
	char reply[512], body[256];
	int status =
	    r->nstatus ? r->statuses[r->next < r->nstatus ? r->next : r->nstatus - 1] : 200;

	r->next++;
	if (!status)
		status = 200;
	snprintf(body, sizeof(body), "{\"value\":\"v-%s\"}", r->path);
	snprintf(reply, sizeof(reply),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
		 "%zu\r\nConnection: close\r\n\r\n%s",
		 status, strlen(body), body);
	assert_int_equal(write(fd, reply, strlen(reply)), (ssize_t)strlen(reply));
}

static void on_client(lb_loop *l, int fd, uint32_t events, void *ctx)
{
	struct conn *c = ctx;
	char path[128] = "";
	ssize_t n;
	struct route *r;

	(void)events;
	n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		if (!strstr(c->buf, "\r\n\r\n"))
			return;
	}
	lb_loop_del_fd(l, fd);
	if (n <= 0 || sscanf(c->buf, "GET /%127s ", path) != 1)
		path[0] = '\0';
	free(c);
	if (path[0]) {
		r = route_of(path);
		r->count++;
		if (r->hold > 0 && r->held_fd < 0) {
			r->hold--;
			r->held_fd = fd;
			return;
		}
		answer(fd, r);
	}
	close(fd);
}

/* Answers the request held on PATH. */
static void release(const char *path)
{
	struct route *r = route_of(path);

	assert_true(r->held_fd >= 0);
	answer(r->held_fd, r);
	close(r->held_fd);
	r->held_fd = -1;
}

static void on_accept(lb_loop *l, int fd, uint32_t events, void *ctx)
{
	// cppcheck-suppress nullPointer ; accept4(2) takes NULL addrlen (gnu.cfg says non-null)
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	struct conn *cn;

	(void)events;
	(void)ctx;
	if (c < 0)
		return;
	cn = calloc(1, sizeof(*cn));
	assert_non_null(cn);
	assert_int_equal(lb_loop_add_fd(l, c, EPOLLIN, on_client, cn), 0);
}

/* --- the fake provider --- */

enum auth_mode { AUTH_SYNC, AUTH_HTTP, AUTH_NEVER, AUTH_FAIL };

struct fake {
	enum auth_mode mode;
	int auths; /* authenticate() calls */
	unsigned gen;
};

static void on_token(lb_nst *ns, void *ctx, const lb_nst_reply *r)
{
	(void)ctx;
	if (r->verdict == LB_NST_OK)
		lb_nst_cred_ok(ns, 0, true);
	else
		lb_nst_cred_fail(ns, true, -1, "token", r->err.msg, "no token");
}

static void fake_authenticate(lb_nst *ns)
{
	struct fake *f = lb_nst_data(ns);
	lb_nst_req req = {.method = "GET", .path = "token", .what = "token", .cred = LB_NST_NOCRED};

	f->auths++;
	f->gen++;
	switch (f->mode) {
	case AUTH_SYNC:
		lb_nst_cred_ok(ns, 0, true);
		return;
	case AUTH_HTTP:
		lb_nst_call_start(ns, &req, on_token, NULL);
		return;
	case AUTH_FAIL:
		lb_nst_cred_fail(ns, true, -1, "token", "refused", "no token: refused");
		return;
	case AUTH_NEVER:
		return;
	}
}

static int fake_prepare(lb_nst *ns, const lb_nst_req *req, lb_nst_http *h, lb_err *e)
{
	struct fake *f = lb_nst_data(ns);
	char tok[32];

	(void)e;
	snprintf(h->url, sizeof(h->url), "http://127.0.0.1:%d/%s", port, req->path);
	snprintf(tok, sizeof(tok), "tok%u", f->gen);
	return lb_nst_http_header(h, "Authorization", tok, strlen(tok));
}

static void fake_classify(lb_nst *ns, const lb_nst_req *req, const lb_http_resp *resp,
			  lb_nst_reply *r)
{
	(void)ns;
	(void)req;
	r->json = resp->body ? json_loadb((const char *)resp->body->data, resp->body->len, 0, NULL)
			     : NULL;
	if (resp->status == 200) {
		r->verdict = LB_NST_OK;
		return;
	}
	lb_fail(&r->err, 0, "HTTP %ld", resp->status);
	r->verdict = resp->status == 401			  ? LB_NST_REFRESH
		     : resp->status == 429 || resp->status >= 500 ? LB_NST_FAULT
								  : LB_NST_FINAL;
}

static int fake_read_request(lb_nst *ns, const lb_source *src, const char *target, lb_nst_req *req,
			     lb_err *e)
{
	(void)ns;
	(void)target;
	if (strcmp(src->path, "bad") == 0)
		return lb_fail(e, 0, "not a name");
	snprintf(req->method, sizeof(req->method), "GET");
	snprintf(req->path, sizeof(req->path), "%s%s%s", src->path, src->version[0] ? "@" : "",
		 src->version);
	snprintf(req->what, sizeof(req->what), "read %s", src->path);
	req->cred = LB_NST_CRED;
	return 0;
}

static unsigned last_cred_gen; /* of the last read's reply */

static int fake_read_parse(lb_nst *ns, const lb_source *src, const lb_nst_reply *r,
			   lb_fetch_result *res, lb_err *e)
{
	const char *v = json_string_value(json_object_get(r->json, "value"));

	(void)ns;
	(void)src;
	last_cred_gen = r->cred_gen;
	if (r->verdict != LB_NST_OK)
		return lb_fail(e, 0, "%s", r->err.msg);
	if (!v)
		return lb_fail(e, 0, "no value");
	res->value = lb_secbuf_dup(v, strlen(v));
	return res->value ? 0 : lb_fail(e, ENOMEM, "oom");
}

static const lb_nst_provider fake_provider = {
    .kind = "fake",
    .unauth_health = "authenticating",
    .authenticate = fake_authenticate,
    .prepare = fake_prepare,
    .classify = fake_classify,
    .read_request = fake_read_request,
    .read_parse = fake_read_parse,
    .free = free,
};

/* --- harness --- */

struct answer {
	int status;
	char value[64];
	char error[512];
	bool done;
};

static bool in_fetch;
static lb_store store;
static struct fake *fake;
static lb_http *http;

static void on_answer(void *ctx, lb_fetch_result *res)
{
	struct answer *a = ctx;

	assert_false(in_fetch); /* never before fetch() returned */
	assert_false(a->done);
	a->done = true;
	a->status = res->status;
	snprintf(a->value, sizeof(a->value), "%s",
		 res->value ? (const char *)res->value->data : "");
	snprintf(a->error, sizeof(a->error), "%s", res->error);
}

static void fetch(const char *path, const char *version, struct answer *a)
{
	lb_source src = {0};

	memset(a, 0, sizeof(*a));
	snprintf(src.store, sizeof(src.store), "fake");
	snprintf(src.path, sizeof(src.path), "%s", path);
	snprintf(src.version, sizeof(src.version), "%s", version);
	in_fetch = true;
	lb_nst_store_fetch(&store, &src, "t1", on_answer, a);
	in_fetch = false;
}

struct until {
	struct answer *a;
	size_t n;
	uint64_t deadline;
	uint64_t wait_ms; /* or: just run this long */
	uint64_t start;
};

static void on_tick(lb_loop *l, lb_timer *t, void *ctx)
{
	struct until *u = ctx;
	bool all = u->n > 0;

	for (size_t i = 0; i < u->n; i++)
		all = all && u->a[i].done;
	if (all || lb_now_ms() >= u->deadline ||
	    (u->wait_ms && lb_now_ms() >= u->start + u->wait_ms)) {
		lb_loop_stop(l);
		return;
	}
	lb_timer_arm(t, 5);
}

/* Runs the loop until every answer is in (at most 10 s), or for ms when n == 0. */
static void run(struct answer *a, size_t n, uint64_t ms)
{
	struct until u = {.a = a, .n = n, .start = lb_now_ms(), .wait_ms = ms};
	lb_timer *t = lb_timer_new(loop, on_tick, &u);

	u.deadline = u.start + 10000;
	lb_timer_arm(t, 1);
	lb_loop_run(loop);
	lb_timer_free(t);
	for (size_t i = 0; i < n; i++)
		assert_true(a[i].done);
}

static int setup(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	lb_err e = {0};

	(void)state;
	memset(routes, 0, sizeof(routes));
	nroutes = 0;
	loop = lb_loop_new();
	http = lb_http_new(loop, &e);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!loop || !http || listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sl) ||
	    listen(listen_fd, 64) || getsockname(listen_fd, (struct sockaddr *)&sa, &sl))
		return -1;
	port = ntohs(sa.sin_port);
	lb_loop_add_fd(loop, listen_fd, EPOLLIN, on_accept, NULL);
	memset(&store, 0, sizeof(store));
	snprintf(store.name, sizeof(store.name), "fk");
	store.env.loop = loop;
	store.env.http = http;
	fake = calloc(1, sizeof(*fake));
	if (!fake || lb_nst_open(&store, &fake_provider, fake, NULL, &e))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].held_fd >= 0)
			close(routes[i].held_fd);
	if (store.priv)
		lb_nst_store_close(&store);
	lb_http_free(http);
	lb_loop_del_fd(loop, listen_fd);
	close(listen_fd);
	lb_loop_free(loop);
	return 0;
}

static json_int_t health_int(const char *key)
{
	json_t *h = lb_nst_store_health(&store);
	json_int_t v = json_integer_value(json_object_get(h, key));

	json_decref(h);
	return v;
}

static bool health_is(const char *want)
{
	json_t *h = lb_nst_store_health(&store);
	bool same = strcmp(json_string_value(json_object_get(h, "health")), want) == 0;

	json_decref(h);
	return same;
}

/* --- tests --- */

static void test_coalescing(void **state)
{
	struct answer a[8];

	(void)state;
	for (int i = 0; i < 5; i++)
		fetch("a", "", &a[i]);
	fetch("b", "", &a[5]);
	fetch("b", "", &a[6]);
	fetch("a", "2", &a[7]);
	run(a, 8, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(a[i].status, 0);
	assert_string_equal(a[0].value, "v-a");
	assert_string_equal(a[6].value, "v-b");
	assert_string_equal(a[7].value, "v-a@2");
	assert_int_equal(count_of("a"), 1);
	assert_int_equal(count_of("b"), 1);
	assert_int_equal(count_of("a@2"), 1);
	assert_int_equal(fake->auths, 1);
	/* A new fetch after the read is done reads again. */
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(count_of("a"), 2);
	/* A name the provider refuses fails alone, named. */
	fetch("bad", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_non_null(strstr(a[0].error, "fake store \"fk\": bad: not a name"));
	assert_true(health_is("ok"));
}

/* A fetch that comes after a read went out starts a read of its own: the store may have
 * answered the first before the change this fetch must see (kv put, then rotate). Fetches
 * while the read still waits to go out share it. */
static void test_no_join_after_send(void **state)
{
	struct answer a[3];

	(void)state;
	route_of("a")->hold = 1;
	fetch("a", "", &a[0]);
	for (int i = 0; i < 500 && count_of("a") < 1; i++)
		run(NULL, 0, 10);
	assert_int_equal(count_of("a"), 1);
	assert_false(a[0].done);
	fetch("a", "", &a[1]);
	fetch("a", "", &a[2]); /* joins the second read, which has not gone out */
	run(&a[1], 2, 0);
	assert_int_equal(count_of("a"), 2);
	assert_false(a[0].done);
	release("a");
	run(a, 1, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a[i].status, 0);
		assert_string_equal(a[i].value, "v-a");
	}
	assert_int_equal(count_of("a"), 2);
}

static void test_backoff_and_probe(void **state)
{
	struct answer a[3];

	(void)state;
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_non_null(strstr(a[0].error, "HTTP 503"));
	assert_true(health_is("degraded"));
	assert_in_range(health_int("backoff_ms"), 1, 1100);
	/* While it lasts, reads fail at once, without a request. */
	fetch("y", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_non_null(strstr(a[0].error, "backing off for"));
	assert_int_equal(count_of("y"), 0);
	/* After it, one read goes first (the probe); the others wait for its outcome. */
	run(NULL, 0, 1200);
	fetch("y", "", &a[0]);
	fetch("z", "", &a[1]);
	run(a, 2, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(a[1].status, -1);
	assert_non_null(strstr(a[1].error, "retrying after: read x: HTTP 503"));
	assert_int_equal(count_of("y"), 1);
	assert_int_equal(count_of("z"), 0);
	assert_true(health_is("ok"));
	/* The probe's success ended the run: everything goes again. */
	fetch("z", "", &a[0]);
	fetch("w", "", &a[1]);
	run(a, 2, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(a[1].status, 0);
}

static void test_probe_fault_doubles(void **state)
{
	struct answer a[1];

	(void)state;
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	run(NULL, 0, 1200);
	fetch("x", "", &a[0]); /* the probe fails too: the next wait is the second step */
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_in_range(health_int("backoff_ms"), 1500, 2200);
}

/* Three reads sent together, all throttled: one fault, one step (not 4 s). */
static void test_batch_counted_once(void **state)
{
	struct answer a[4];

	(void)state;
	script("p", 429, 0);
	script("q", 503, 0);
	script("r", 503, 0);
	fetch("p", "", &a[0]);
	fetch("q", "", &a[1]);
	fetch("r", "", &a[2]);
	fetch("s", "", &a[3]); /* a success in the same batch does not end the run */
	run(a, 4, 0);
	assert_int_equal(count_of("p") + count_of("q") + count_of("r") + count_of("s"), 4);
	assert_int_equal(a[3].status, 0);
	assert_true(health_is("degraded"));
	assert_in_range(health_int("backoff_ms"), 1, 1100);
}

static void test_replay_once(void **state)
{
	struct answer a[2];

	(void)state;
	script("t", 401, 200);
	fetch("t", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(count_of("t"), 2);
	assert_int_equal(fake->auths, 2); /* the first, then one after the refusal */
	/* Refused again after the replay: a final error, no loop. */
	script("u", 401, 0);
	fetch("u", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_int_equal(count_of("u"), 2);
	assert_int_equal(fake->auths, 3);
	assert_true(health_is("ok"));
	/* Two reads refused with the same credential: one refresh for both. */
	script("m", 401, 200);
	script("n", 401, 200);
	fetch("m", "", &a[0]);
	fetch("n", "", &a[1]);
	run(a, 2, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(a[1].status, 0);
	assert_int_equal(fake->auths, 4);
}

static void test_queue_while_authenticating(void **state)
{
	struct answer a[3];

	(void)state;
	fake->mode = AUTH_HTTP;
	fetch("a", "", &a[0]);
	fetch("b", "", &a[1]);
	fetch("c", "", &a[2]);
	run(a, 3, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(a[i].status, 0);
	assert_int_equal(count_of("token"), 1);
	assert_int_equal(fake->auths, 1);
	/* A refused token request fails the queue and backs off. */
	lb_nst_store_close(&store);
	fake = calloc(1, sizeof(*fake));
	assert_int_equal(lb_nst_open(&store, &fake_provider, fake, NULL, &(lb_err){0}), 0);
	fake->mode = AUTH_FAIL;
	fetch("a", "", &a[0]);
	fetch("b", "", &a[1]);
	run(a, 2, 0);
	assert_non_null(strstr(a[0].error, "no token: refused"));
	assert_non_null(strstr(a[1].error, "refused")); /* or backing off after it */
	assert_int_equal(fake->auths, 1);
	assert_true(health_is("degraded"));
}

/* A refused login backs off; the probe after the wait logs in again (its credential
 * request is not held behind the probe it serves) and the store recovers. */
static void test_login_after_refused_login(void **state)
{
	struct answer a[1];

	(void)state;
	fake->mode = AUTH_HTTP;
	script("token", 403, 200);
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_true(health_is("degraded"));
	run(NULL, 0, 1300);
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(count_of("token"), 2);
	assert_int_equal(a[0].status, 0);
	assert_string_equal(a[0].value, "v-a");
	assert_true(health_is("ok"));
}

/* A reply says which credential it was sent with (the vault store replaces the leases of
 * an old token by it): the generation moves with each new credential, and a replay after a
 * refusal carries the new one. */
static void test_reply_cred_gen(void **state)
{
	struct answer a[1];
	lb_nst *ns = store.priv;

	(void)state;
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(lb_nst_cred_gen(ns), 1);
	assert_int_equal(last_cred_gen, 1);
	script("t", 401, 200);
	fetch("t", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(lb_nst_cred_gen(ns), 2);
	assert_int_equal(last_cred_gen, 2);
	lb_nst_cred_ok(ns, 0, false); /* the same credential again: no move */
	fetch("b", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(last_cred_gen, 2);
}

static struct answer late;

static void on_closed(void *ctx, lb_fetch_result *res)
{
	struct answer *a = ctx;
	lb_source src = {.path = "again"};

	a->done = true;
	a->status = res->status;
	snprintf(a->error, sizeof(a->error), "%s", res->error);
	/* A fetch from inside a close callback is answered at once, as closed. */
	if (!late.done)
		lb_nst_store_fetch(&store, &src, "t1", on_answer, &late);
}

static void test_close_completes_all(void **state)
{
	struct answer a[4];
	lb_source src = {.path = "d"};

	(void)state;
	fake->mode = AUTH_NEVER;
	fetch("a", "", &a[0]);
	fetch("a", "", &a[1]);
	fetch("b", "", &a[2]);
	run(NULL, 0, 50);
	assert_true(health_is("authenticating"));
	memset(&a[3], 0, sizeof(a[3]));
	memset(&late, 0, sizeof(late));
	lb_nst_store_fetch(&store, &src, "t1", on_closed, &a[3]); /* not routed yet */
	lb_nst_store_close(&store);
	for (int i = 0; i < 4; i++) {
		assert_true(a[i].done);
		assert_non_null(strstr(a[i].error, "store closed"));
	}
	assert_true(late.done);
	assert_non_null(strstr(late.error, "store closed"));
	assert_int_equal(count_of("a"), 0);
}

static struct answer chain[2];

static void on_chained(void *ctx, lb_fetch_result *res)
{
	lb_source src = {.path = "k2"};

	on_answer(ctx, res);
	in_fetch = true; /* the second answer must not come from inside this fetch */
	lb_nst_store_fetch(&store, &src, "t1", on_answer, &chain[1]);
	in_fetch = false;
}

static void test_reentrancy(void **state)
{
	lb_source src = {.path = "k1"};
	struct answer a[1];

	(void)state;
	/* Even an answer known at once (backoff) comes from the loop. */
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	fetch("x", "", &a[0]);
	assert_false(a[0].done);
	run(a, 1, 0);
	/* A fetch from inside a callback is answered later, from the loop. */
	run(NULL, 0, 1200);
	memset(chain, 0, sizeof(chain));
	in_fetch = true;
	lb_nst_store_fetch(&store, &src, "t1", on_chained, &chain[0]);
	in_fetch = false;
	run(chain, 2, 0);
	assert_int_equal(chain[0].status, 0);
	assert_int_equal(chain[1].status, 0);
}

static int cb_a, cb_b;

static void on_call_b(lb_nst *ns, void *ctx, const lb_nst_reply *r)
{
	(void)ns;
	(void)ctx;
	(void)r;
	cb_b++;
}

static void on_call_a(lb_nst *ns, void *ctx, const lb_nst_reply *r)
{
	(void)r;
	cb_a++;
	lb_nst_call_cancel(ns, ctx); /* the other call, already answered, never calls back */
}

/* A callback that cancels another call of the same turn (a lease freed by its neighbour's
 * answer) is obeyed: the cancelled call's context may be gone. */
static void test_cancel_from_callback(void **state)
{
	struct answer a[1];
	lb_nst_req req = {.method = "GET", .path = "x", .what = "x", .cred = LB_NST_NOCRED};
	int tag_b;

	(void)state;
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	cb_a = cb_b = 0;
	/* Both are refused by the backoff in one turn, then answered in the next. */
	lb_nst_call_start(store.priv, &req, on_call_a, &tag_b);
	lb_nst_call_start(store.priv, &req, on_call_b, &tag_b);
	run(NULL, 0, 50);
	assert_int_equal(cb_a, 1);
	assert_int_equal(cb_b, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_join_after_send, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backoff_and_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_fault_doubles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_counted_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_while_authenticating, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_after_refused_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_cred_gen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_completes_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reentrancy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup, teardown),
	};

	if (lb_secmem_init() < 0)
		return 1;
	lb_log_set_level(LB_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
