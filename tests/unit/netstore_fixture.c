/* The fixture of unit_netstore and unit_netstore_auth: see netstore_fixture.h. */
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
#include "netstore_fixture.h"

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
lb_loop *loop;

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

void script(const char *path, int s1, int s2)
{
	struct route *r = route_of(path);

	r->statuses[0] = s1;
	r->statuses[1] = s2;
	r->nstatus = s2 ? 2 : 1;
	r->next = 0;
}

int count_of(const char *path)
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

void hold(const char *path)
{
	route_of(path)->hold++;
}

void release(const char *path)
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

unsigned last_cred_gen;

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

const lb_nst_provider fake_provider = {
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

bool in_fetch;
lb_store store;
struct fake *fake;
static lb_http *http;

void on_answer(void *ctx, lb_fetch_result *res)
{
	struct lbt_answer *a = ctx;

	assert_false(in_fetch); /* never before fetch() returned */
	lbt_answer_record(a, res);
	assert_int_equal(a->calls, 1);
}

void fetch(const char *path, const char *version, struct lbt_answer *a)
{
	fetch_asked(path, version, 0, a);
}

void fetch_asked(const char *path, const char *version, uint64_t asked_ns, struct lbt_answer *a)
{
	lb_source src = {.asked_ns = asked_ns};

	memset(a, 0, sizeof(*a));
	snprintf(src.store, sizeof(src.store), "fake");
	snprintf(src.path, sizeof(src.path), "%s", path);
	snprintf(src.version, sizeof(src.version), "%s", version);
	in_fetch = true;
	lb_nst_store_fetch(&store, &src, "t1", on_answer, a);
	in_fetch = false;
}

struct answers {
	const struct lbt_answer *a;
	size_t n;
};

static bool all_answered(void *arg)
{
	const struct answers *w = arg;

	for (size_t i = 0; i < w->n; i++)
		if (!w->a[i].calls)
			return false;
	return true;
}

void run(struct lbt_answer *a, size_t n, uint64_t ms)
{
	struct answers w = {a, n};

	if (n)
		lbt_run_until(loop, all_answered, &w);
	else
		lbt_run_for(loop, ms);
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

json_int_t health_int(const char *key)
{
	json_t *h = lb_nst_store_health(&store);
	json_int_t v = json_integer_value(json_object_get(h, key));

	json_decref(h);
	return v;
}

bool health_is(const char *want)
{
	json_t *h = lb_nst_store_health(&store);
	bool same = strcmp(json_string_value(json_object_get(h, "health")), want) == 0;

	json_decref(h);
	return same;
}

int netstore_run(const char *name, struct CMUnitTest *tests, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tests[i].setup_func = setup;
		tests[i].teardown_func = teardown;
	}
	if (lb_secmem_init() < 0)
		return 1;
	lb_log_set_level(LB_ERROR);
	return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}
