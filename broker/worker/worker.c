/* The network worker process: its own loop and curl multi, the real network stores opened
 * unchanged, and the request table of wire.h answered over fd 3. Files the stores read by
 * path (tokens, keys, CA bundles) come from root (LB_R_READ); logs and audit events go to
 * root, which writes them. */
#include "worker.h"
#include "chan.h"
#include "cleanup.h"
#include "confine.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "secmem.h"
#include "wire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define CHAN_FD		3
#define STATE_FD	4
#define READ_WAIT	5000 /* ms root has to answer a file read */
#define HEALTH_EVERY_MS 1000

struct wstore {
	uint32_t sid;
	lb_store *s;
	char *health_sent; /* the last health pushed to root (JSON text) */
	lb_store_cfg cfg;
	char *name, *type;
	struct wstore *next;
};

struct wfetch {
	uint32_t fid;
	lb_source src;
};

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's exit check stops the threads from a tracer it clones and attaches with
 * ptrace, which the filter refuses (it would report a fatal error): the confined worker turns
 * it off; root and the tests keep it. */
static int lsan_off;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return lsan_off;
}
#endif

static lb_loop *loop;
static lb_timer *health_timer;
static lb_chan *chan;
static lb_http *http;
static struct wstore *stores;
static uint32_t next_read_id;

static void send_msg(const lb_wire_msg *m)
{
	lb_err e = {0};

	if (chan)
		(void)lb_chan_send(chan, m, &e);
}

static void push_health(struct wstore *w, bool always);

static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void log_sink(enum lb_level lvl, const char *msg, const char *event, json_t *ev)
{
	if (event) {
		char name[64];
		char *fields = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
		snprintf(name, sizeof(name), "%s", event);
		printable(name);
		send_msg(&(lb_wire_msg){
		    .type = LB_R_AUDIT,
		    .ntext = 2,
		    .text = {{name, strlen(name)},
			     {fields ? fields : "{}", fields ? strlen(fields) : 2}}});
		lb_json_free(fields);
		return;
	}
	send_msg(&(lb_wire_msg){
	    .type = LB_R_LOG, .num = lvl, .ntext = 1, .text = {{msg, strnlen(msg, 1023)}}});
}

/* lb_read_secret_at(AT_FDCWD, path) in the worker: root reads the file if the store's
 * configuration names it. */
static int read_via_root(const char *path, size_t cap, lb_secbuf **out, lb_err *e)
{
	_cleanup_secbuf_ lb_secbuf *frame = NULL;
	lb_wire_msg r, m = {.type = LB_R_READ,
			    .id = ++next_read_id,
			    .num = (int64_t)cap,
			    .ntext = 1,
			    .text = {{path, strlen(path)}}};

	if (!chan)
		return lb_fail(e, 0, "open %s: no channel to lockboxd", path);
	if (lb_chan_call(chan, &m, LB_W_FILE, READ_WAIT, &frame, e) < 0)
		return lb_fail_wrap(e, "read %s through lockboxd", path);
	if (lb_wire_decode(frame->data, frame->len, &r, e) < 0)
		return -1;
	if (r.num != 0) {
		char why[512];
		if (lb_wire_text_copy(&r, 0, why, sizeof(why)) < 0)
			snprintf(why, sizeof(why), "read %s failed", path);
		return lb_fail(e, (int)r.num, "%s", why);
	}
	*out = lb_secbuf_dup(r.blob ? r.blob : (const unsigned char *)"", r.blob_len);
	return *out ? 0 : lb_fail(e, ENOMEM, "out of secure memory reading %s", path);
}

static struct wstore *store_of(uint32_t sid)
{
	for (struct wstore *w = stores; w; w = w->next)
		if (w->sid == sid)
			return w;
	return NULL;
}

static void wstore_free(struct wstore *w)
{
	lb_json_free(w->health_sent);
	json_decref(w->cfg.opts);
	free(w->name);
	free(w->type);
	free(w);
}

static void on_store_refresh(void *owner, const char *target)
{
	struct wstore *w = owner;

	send_msg(&(lb_wire_msg){
	    .type = LB_R_REFRESH, .ref = w->sid, .ntext = 1, .text = {{target, strlen(target)}}});
}

static void do_open(const lb_wire_msg *m)
{
	struct wstore *w = calloc(1, sizeof(*w));
	lb_store_env env = {.loop = loop,
			    .state_dirfd = STATE_FD,
			    .http = http,
			    .request_refresh = on_store_refresh};
	lb_err e = {0};

	if (!w || store_of(m->ref)) {
		free(w);
		lb_fail(&e, 0, "store id %u cannot be opened", m->ref);
		goto out;
	}
	w->sid = m->ref;
	w->name = lb_wire_text_dup(m, 0);
	w->type = lb_wire_text_dup(m, 1);
	w->cfg.opts = json_loadb(m->text[2].p, m->text[2].len, JSON_REJECT_DUPLICATES, NULL);
	w->cfg.name = w->name;
	w->cfg.type = w->type;
	env.owner = w;
	if (!w->name || !w->type || !json_is_object(w->cfg.opts)) {
		lb_fail(&e, 0, "store %s: options do not decode", w->name ? w->name : "?");
		wstore_free(w);
		goto out;
	}
	if (!lb_worker_runs(w->type)) {
		lb_fail(&e, 0, "store %s: type %s does not run in the network worker", w->name,
			w->type);
		wstore_free(w);
		goto out;
	}
	w->s = lb_store_open(&w->cfg, &env, &e);
	if (!w->s) {
		wstore_free(w);
		goto out;
	}
	w->next = stores;
	stores = w;
	push_health(w, true);
out:
	printable(e.msg);
	send_msg(&(lb_wire_msg){.type = LB_R_OPENED,
				.ref = m->ref,
				.num = e.msg[0] ? -1 : 0,
				.ntext = 1,
				.text = {{e.msg, strlen(e.msg)}}});
}

static void on_result(void *ctx, lb_fetch_result *res)
{
	struct wfetch *f = ctx;
	lb_wire_msg m = {.type = LB_R_RESULT, .id = f->fid, .num = res->not_after, .ntext = 2};
	lb_err e = {0};

	res->version[sizeof(res->version) - 1] = '\0';
	res->error[sizeof(res->error) - 1] = '\0';
	printable(res->version);
	printable(res->error);
	if (res->status != 0)
		m.flags |= LB_WIRE_FAILED;
	if (res->structured)
		m.flags |= LB_WIRE_STRUCTURED;
	if (res->keep)
		m.flags |= LB_WIRE_KEEP;
	m.text[0] = (lb_wire_text){res->version, strlen(res->version)};
	m.text[1] = (lb_wire_text){res->error, strlen(res->error)};
	if (res->status == 0 && res->value) {
		m.blob = res->value->data;
		m.blob_len = res->value->len;
	}
	if (chan && lb_chan_send(chan, &m, &e) < 0 && res->status == 0) {
		/* Over the frame cap: the fetch fails, with why. */
		char why[512];
		snprintf(why, sizeof(why), "%s:%s: the value does not cross to lockboxd: %s",
			 f->src.store, f->src.path, e.msg);
		printable(why);
		send_msg(&(lb_wire_msg){.type = LB_R_RESULT,
					.id = f->fid,
					.flags = LB_WIRE_FAILED,
					.ntext = 2,
					.text = {{"", 0}, {why, strlen(why)}}});
	}
	free(f);
	lb_timer_arm(health_timer, 0);
}

static void do_fetch(const lb_wire_msg *m)
{
	struct wstore *w = store_of(m->ref);
	struct wfetch *f = calloc(1, sizeof(*f));
	char target[256];
	lb_err e = {0};

	if (!f) {
		send_msg(&(lb_wire_msg){.type = LB_R_RESULT,
					.id = m->id,
					.flags = LB_WIRE_FAILED,
					.ntext = 2,
					.text = {{"", 0}, {"out of memory", 13}}});
		return;
	}
	f->fid = m->id;
	if (!w || lb_wire_source_decode(m->text[0].p, m->text[0].len, &f->src, &e) < 0 ||
	    lb_wire_text_copy(m, 1, target, sizeof(target)) < 0) {
		lb_fetch_result res = {.status = -1};
		snprintf(res.error, sizeof(res.error), "network worker: %s",
			 w ? (e.msg[0] ? e.msg : "bad target") : "no such store");
		on_result(f, &res);
		return;
	}
	/* Root's clock is this one (CLOCK_MONOTONIC); a value from the future is now. */
	f->src.asked_ns = m->num > 0 && (uint64_t)m->num <= lb_now_ns() ? (uint64_t)m->num : 0;
	lb_store_fetch(w->s, &f->src, target, on_result, f);
}

/* Health crosses when it changes: after results (a loop turn later) and every second. */
static void push_health(struct wstore *w, bool always)
{
	_cleanup_json_ json_t *h = lb_store_health(w->s);
	char *text = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	if (!text)
		return;
	if (!always && w->health_sent && strcmp(text, w->health_sent) == 0) {
		lb_json_free(text);
		return;
	}
	send_msg(&(lb_wire_msg){
	    .type = LB_R_HEALTH, .ref = w->sid, .ntext = 1, .text = {{text, strlen(text)}}});
	lb_json_free(w->health_sent);
	w->health_sent = text;
}

/* The worker's counters cross as a snapshot of its registry when they changed (root serves
 * them on /metrics with its own). */
static void push_metrics(void)
{
	static char *sent;
	_cleanup_json_ json_t *snap = NULL;
	char *text;

	lb_metrics_run_hooks(lb_metrics_proc());
	snap = lb_metrics_snapshot(lb_metrics_proc());
	text = snap ? json_dumps(snap, JSON_COMPACT) : NULL;
	if (!text || (sent && strcmp(text, sent) == 0)) {
		lb_json_free(text);
		return;
	}
	send_msg(&(lb_wire_msg){.type = LB_R_METRICS, .ntext = 1, .text = {{text, strlen(text)}}});
	lb_json_free(sent);
	sent = text;
}

static void on_health_timer(lb_loop *l, lb_timer *t, void *ctx)
{
	(void)l;
	(void)ctx;
	for (struct wstore *w = stores; w; w = w->next)
		push_health(w, false);
	push_metrics();
	lb_timer_arm(t, HEALTH_EVERY_MS);
}

static void do_health(const lb_wire_msg *m)
{
	struct wstore *w = store_of(m->ref);

	if (w)
		push_health(w, true);
}

static void do_close(const lb_wire_msg *m)
{
	for (struct wstore **p = &stores; *p; p = &(*p)->next) {
		struct wstore *w = *p;
		if (w->sid != m->ref)
			continue;
		*p = w->next;
		lb_store_close(w->s);
		wstore_free(w);
		return;
	}
}

static void on_frame(void *ctx, const lb_wire_msg *m)
{
	char target[256];

	(void)ctx;
	switch (m->type) {
	case LB_W_OPEN:
		do_open(m);
		break;
	case LB_W_FETCH:
		do_fetch(m);
		break;
	case LB_W_RELEASE: {
		struct wstore *w = store_of(m->ref);
		if (w && lb_wire_text_copy(m, 0, target, sizeof(target)) == 0)
			lb_store_release(w->s, target);
		break;
	}
	case LB_W_HEALTH:
		do_health(m);
		break;
	case LB_W_CLOSE:
		do_close(m);
		break;
	case LB_W_PING:
		send_msg(&(lb_wire_msg){.type = LB_R_PONG, .id = m->id});
		break;
	default: /* a late file reply (its call timed out), or a worker->root type */
		break;
	}
}

static void on_down(void *ctx, const char *why)
{
	(void)ctx;
	(void)why;
	/* Root is gone or sent what it must not: nothing left to serve. */
	lb_loop_stop(loop);
}

int lb_worker_main(int argc, char **argv)
{
	lb_err e = {0};
	int rc = 0;

	/* Only ever started by root's spawn, which dropped every privilege first. */
	if (getuid() == 0 || geteuid() == 0) {
		fprintf(stderr,
			"lockboxd --network-worker is started by lockboxd, never as root\n");
		return 64;
	}
	if (argc > 2 && strcmp(argv[2], "debug") == 0)
		lb_log_set_level(LB_DEBUG);
	/* Not dumpable before anything is read: the exec made it so again. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (lb_secmem_init() < 0)
		return 70;
	(void)signal(SIGPIPE, SIG_IGN);
	/* Stop signals for the whole group (systemd's stop, a terminal's ^C) are root's: the
	 * worker ends when root closes the channel (or, if root dies, by PDEATHSIG). */
	(void)signal(SIGTERM, SIG_IGN);
	(void)signal(SIGINT, SIG_IGN);
	(void)signal(SIGHUP, SIG_IGN);
	(void)signal(SIGUSR1, SIG_IGN);
	loop = lb_loop_new();
	http = loop ? lb_http_new(loop, &e) : NULL;
	health_timer = http ? lb_timer_new(loop, on_health_timer, NULL) : NULL;
	chan = health_timer ? lb_chan_new(loop, CHAN_FD, on_frame, on_down, NULL) : NULL;
	if (!chan) {
		fprintf(stderr, "lockboxd network worker: cannot start: %s\n", e.msg);
		return 70;
	}
	lb_timer_arm(health_timer, HEALTH_EVERY_MS);
	lb_log_set_sink(log_sink);
	lb_set_path_reader(read_via_root);
#if defined(__SANITIZE_ADDRESS__)
	lsan_off = 1;
#endif
	if (lb_worker_confine(STATE_FD, &e) < 0) {
		lb_log(LB_ERROR, "network worker: confinement failed: %s", e.msg);
		rc = 70;
	} else if (lb_loop_run(loop) < 0) {
		rc = 70;
	}
	while (stores) {
		struct wstore *w = stores;
		stores = w->next;
		lb_store_close(w->s);
		wstore_free(w);
	}
	lb_chan_free(chan);
	chan = NULL;
	lb_timer_free(health_timer);
	lb_http_free(http);
	lb_loop_free(loop);
	return rc;
}
