#include "engine.h"
#include "cleanup.h"
#include "backoff.h"
#include "log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENTS_LINE_MAX	 (1024 * 1024)
#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 30000

struct lb_engine {
	lb_loop *loop;
	lb_http *http;
	char *socket;
	lb_engine_handlers h;
	void *ctx;
	lb_http_req *events;
	char *line; /* partial event line */
	size_t line_len;
	size_t line_dropped; /* bytes of the current line past EVENTS_LINE_MAX */
	int64_t since_ns;    /* replay from here after a reconnect (last event, or connect time) */
	lb_timer *reconnect;
	lb_backoff backoff; /* reconnects (core/backoff) */
	bool connected;
	struct call *calls;
};

struct call {
	lb_engine *en;
	lb_http_req *req;
	lb_engine_cb cb;
	void *ctx;
	struct call *next;
};

static void start_events(lb_engine *en);

static void schedule_reconnect(lb_engine *en, const char *why)
{
	en->events = NULL;
	en->line_len = 0;
	en->line_dropped = 0;
	if (en->connected)
		lb_log(LB_WARN, "docker: event stream lost (%s); reconnecting", why);
	en->connected = false;
	lb_timer_arm(en->reconnect, lb_backoff_fault_now(&en->backoff, -1, lb_now_ms()));
}

/* Go's encoding/json writes an event's fields in struct order: status, id, from, Type,
 * Action, Actor {ID, Attributes}, scope, time, timeNano. What makes a line big is
 * Actor.Attributes (labels); the first structural ',"Attributes":' (a '"' after ',' cannot
 * be inside a string) is where the prefix that lockboxd needs ends. */
json_t *lb_engine_event_decode(const char *line, size_t len, bool truncated)
{
	static const char cut[] = ",\"Attributes\":";
	_cleanup_free_ char *head = NULL;
	const char *at = NULL;
	json_t *ev;

	if (!truncated) {
		ev = json_loadb(line, len, 0, NULL);
		if (json_is_object(ev))
			return ev;
		json_decref(ev);
		return NULL;
	}
	for (size_t i = 0; !at && len >= sizeof(cut) - 1 && i <= len - (sizeof(cut) - 1); i++)
		if (line[i] == ',' && memcmp(line + i, cut, sizeof(cut) - 1) == 0)
			at = line + i;
	if (!at || !(head = malloc((size_t)(at - line) + 3)))
		return NULL;
	memcpy(head, line, (size_t)(at - line));
	memcpy(head + (at - line), "}}", 3);
	// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees head
	ev = json_loadb(head, (size_t)(at - line) + 2, 0, NULL);
	if (json_is_object(ev) && json_is_object(json_object_get(ev, "Actor")))
		return ev;
	json_decref(ev);
	return NULL;
}

static void event_line(lb_engine *en)
{
	bool truncated = en->line_dropped > 0;
	json_t *ev = lb_engine_event_decode(en->line, en->line_len, truncated);
	json_t *t = json_object_get(ev, "timeNano");

	if (truncated)
		lb_log(LB_WARN,
		       "docker: event of %zu bytes (over %d) read without its attributes%s",
		       en->line_len + en->line_dropped, EVENTS_LINE_MAX,
		       ev ? "" : ", undecodable; reconciling");
	if (json_is_integer(t) && json_integer_value(t) > en->since_ns)
		en->since_ns = json_integer_value(t);
	if (ev)
		en->h.on_event(en->ctx, ev);
	else if (truncated)
		en->h.on_connected(en->ctx); /* a lost event: look at every container again */
	else
		lb_log(LB_WARN, "docker: malformed event ignored");
	json_decref(ev);
}

/* A line over EVENTS_LINE_MAX is kept up to the cap and the rest skipped: the stream is never
 * dropped for it (issue 13 defect 7: a 1.1 MB label blinded the stream). */
static bool on_events_data(void *ctx, const char *data, size_t len)
{
	lb_engine *en = ctx;

	if (!en->connected) {
		/* First bytes: the daemon answered. */
		en->connected = true;
		lb_backoff_reset(&en->backoff);
	}
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n') {
			if (en->line_len + 1 >= EVENTS_LINE_MAX)
				en->line_dropped++;
			else
				en->line[en->line_len++] = data[i];
			continue;
		}
		en->line[en->line_len] = '\0';
		if (en->line_len)
			event_line(en);
		en->line_len = 0;
		en->line_dropped = 0;
	}
	return true;
}

static void on_events_end(void *ctx, const lb_http_resp *r)
{
	lb_engine *en = ctx;
	char why[300];

	snprintf(why, sizeof(why), "%s", r->curl_code ? r->error : "closed by dockerd");
	if (r->status && r->status != 200)
		snprintf(why, sizeof(why), "HTTP %ld", r->status);
	schedule_reconnect(en, why);
}

/* dockerd answers the events request with headers at once, but sends no body until an
 * event happens; a ping tells us it is up so that we can reconcile right away. */
static void on_ping(void *ctx, long status, json_t *body, const char *err)
{
	lb_engine *en = ctx;

	(void)body;
	(void)err;
	if (status == 200 && en->events) {
		en->connected = true;
		lb_backoff_reset(&en->backoff);
		if (!en->since_ns) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			en->since_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		}
		en->h.on_connected(en->ctx);
	}
}

static void start_events(lb_engine *en)
{
	char url[512], since[64] = "";
	const char *filters = "{\"type\":[\"container\"],\"event\":[\"create\",\"start\",\"die\","
			      "\"destroy\"]}";
	char *enc = curl_easy_escape(NULL, filters, 0);
	lb_http_opts o = {.url = url, .unix_socket = en->socket, .on_data = on_events_data};
	lb_err e = {0};

	/* After a loss, dockerd replays what happened since the last event seen (or since the
	 * stream was up): nothing in the gap is missed; a replayed event is handled twice,
	 * which every handler tolerates (inspect again, retire what is gone). */
	if (en->since_ns)
		snprintf(since, sizeof(since), "since=%lld.%09lld&",
			 (long long)(en->since_ns / 1000000000),
			 (long long)(en->since_ns % 1000000000));
	snprintf(url, sizeof(url), "http://docker/" LB_ENGINE_API "/events?%sfilters=%s", since,
		 enc ? enc : "");
	curl_free(enc);
	en->events = lb_http_start(en->http, &o, on_events_end, en, &e);
	if (!en->events) {
		schedule_reconnect(en, e.msg);
		return;
	}
	lb_engine_call(en, "GET", "_ping", on_ping, en);
}

static void on_reconnect(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	start_events(ctx);
}

lb_engine *lb_engine_new(lb_loop *loop, lb_http *http, const char *socket,
			 const lb_engine_handlers *h, void *ctx, lb_err *e)
{
	lb_engine *en = calloc(1, sizeof(*en));

	if (!en)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	en->loop = loop;
	en->http = http;
	en->socket = strdup(socket);
	en->h = *h;
	en->ctx = ctx;
	lb_backoff_init(&en->backoff, RECONNECT_MIN_MS, RECONNECT_MAX_MS, true);
	en->line = malloc(EVENTS_LINE_MAX);
	en->reconnect = lb_timer_new(loop, on_reconnect, en);
	if (!en->socket || !en->line || !en->reconnect) {
		lb_engine_free(en);
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	}
	start_events(en);
	return en;
}

void lb_engine_free(lb_engine *en)
{
	if (!en)
		return;
	lb_http_cancel(en->events);
	while (en->calls) {
		struct call *c = en->calls;
		en->calls = c->next;
		lb_http_cancel(c->req);
		free(c);
	}
	lb_timer_free(en->reconnect);
	free(en->line);
	free(en->socket);
	free(en);
}

static void on_call_done(void *ctx, const lb_http_resp *r)
{
	struct call *c = ctx;
	json_t *body = NULL;

	for (struct call **p = &c->en->calls; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	if (r->body && r->body->len)
		body = json_loadb((const char *)r->body->data, r->body->len, 0, NULL);
	c->cb(c->ctx, r->curl_code ? 0 : r->status, body, r->curl_code ? r->error : "");
	json_decref(body);
	free(c);
}

int lb_engine_call(lb_engine *en, const char *method, const char *path, lb_engine_cb cb, void *ctx)
{
	struct call *c = calloc(1, sizeof(*c));
	char url[1024];
	lb_http_opts o = {.method = method,
			  .url = url,
			  .unix_socket = en->socket,
			  .timeout_ms = 10000,
			  .max_body = 8 * 1024 * 1024};
	lb_err e = {0};

	if (!c)
		return -1;
	snprintf(url, sizeof(url), "http://docker/%s%s",
		 strcmp(path, "_ping") ? LB_ENGINE_API "/" : "", path);
	if (strcmp(method, "POST") == 0) {
		o.body = "";
		o.body_len = 0;
	}
	c->en = en;
	c->cb = cb;
	c->ctx = ctx;
	c->req = lb_http_start(en->http, &o, on_call_done, c, &e);
	if (!c->req) {
		free(c);
		lb_log(LB_ERROR, "docker: %s", e.msg);
		return -1;
	}
	c->next = en->calls;
	en->calls = c;
	return 0;
}

bool lb_engine_connected(const lb_engine *en)
{
	return en && en->connected;
}
