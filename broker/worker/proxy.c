/* Root's side of the network worker: its lifecycle (start, liveness deadline, restart with
 * backoff), the proxy stores behind the store vtable, and what root answers (file reads the
 * store configurations name; log lines and audit events it writes for the worker). Everything
 * the worker sends is checked like any untrusted input: wire.c's table first, then here. */
#include "worker.h"
#include "backoff.h"
#include "chan.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "worker_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PING_EVERY_MS	 5000
#define PING_DEADLINE_MS 15000 /* a worker silent this long is killed */
#define RESTART_FIRST_MS 500
#define RESTART_MAX_MS	 30000
#define STABLE_MS	 60000 /* a worker up this long ends the run of restarts */
#define FILE_CAP	 (1024u * 1024u)
#define NBUCKETS	 256u

enum wstate { W_DOWN, W_UP };

struct proxy {
	lb_worker *w;
	lb_store *s;
	uint32_t sid;
	bool closing, open_failed;
	char open_error[512];
	json_t *health; /* the last the worker said */
	char **paths;	/* absolute paths in the store's options: what it may read */
	size_t npaths;
	struct proxy *next;
};

struct pending {
	uint32_t fid;
	struct proxy *p;
	lb_fetch_cb cb;
	void *ctx;
	struct pending *next;
};

struct lb_worker {
	lb_loop *loop;
	int wdirfd;
	uid_t uid;
	gid_t gid;
	const char *id_source;
	enum wstate state;
	pid_t pid;
	int pidfd;
	lb_chan *chan;
	unsigned restarts;
	lb_backoff backoff;
	lb_timer *restart_timer, *ping_timer;
	uint32_t ping_seq, pong_seq;
	uint64_t started_ms, last_heard_ms;
	char last_exit[128];
	lb_metrics *metrics; /* the worker's last snapshot, served on /metrics with root's */
	struct proxy *proxies;
	struct pending *pending[NBUCKETS];
	uint32_t next_fid, next_sid;
};

static int exe_fd = -1;

static const char *const worker_types[] = {"vault",  "aws-sm",	 "aws-ssm",
					   "gcp-sm", "azure-kv", NULL};

int lb_worker_enable(lb_err *e)
{
	if (exe_fd >= 0)
		return 0;
	exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	return exe_fd < 0 ? lb_fail_errno(e, "open /proc/self/exe") : 0;
}

bool lb_worker_enabled(void)
{
	return exe_fd >= 0;
}

bool lb_worker_runs(const char *type)
{
	for (size_t i = 0; worker_types[i]; i++)
		if (strcmp(worker_types[i], type) == 0)
			return true;
	return false;
}

static void worker_down(lb_worker *w, const char *why);
static int worker_spawn(lb_worker *w, lb_err *e);

static int send_msg(lb_worker *w, const lb_wire_msg *m)
{
	lb_err e = {0};

	if (w->state != W_UP)
		return -1;
	if (lb_chan_send(w->chan, m, &e) < 0) {
		lb_log(LB_WARN, "network worker: cannot send: %s", e.msg);
		return -1;
	}
	return 0;
}

/* --- fetches in flight --- */

static struct pending **bucket(lb_worker *w, uint32_t fid)
{
	return &w->pending[fid % NBUCKETS];
}

static struct pending *pending_take(lb_worker *w, uint32_t fid)
{
	for (struct pending **q = bucket(w, fid); *q; q = &(*q)->next) {
		struct pending *pd = *q;
		if (pd->fid == fid) {
			*q = pd->next;
			return pd;
		}
	}
	return NULL;
}

static void fail_fetch(lb_fetch_cb cb, void *ctx, const char *store, const char *why)
{
	lb_fetch_result res = {.status = -1};

	snprintf(res.error, sizeof(res.error), "store %s: %s", store, why);
	cb(ctx, &res);
}

/* Answer every fetch of p (every fetch when p is NULL) with why. */
static void fail_pending(lb_worker *w, const struct proxy *p, const char *why)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct pending **q = &w->pending[i];
		while (*q) {
			struct pending *pd = *q;
			if (p && pd->p != p) {
				q = &pd->next;
				continue;
			}
			*q = pd->next;
			fail_fetch(pd->cb, pd->ctx, pd->p->s->name, why);
			free(pd);
			/* The callback may have added fetches to this bucket: start it over. */
			q = &w->pending[i];
		}
	}
}

/* --- the proxy store --- */

static void set_health(struct proxy *p, json_t *h)
{
	json_decref(p->health);
	p->health = h;
}

// NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's parser (2048 levels)
static void collect_paths(struct proxy *p, const json_t *v)
{
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_string(v) && json_string_value(v)[0] == '/') {
		char **n = realloc(p->paths, (p->npaths + 1) * sizeof(*n));
		if (!n)
			return;
		p->paths = n;
		if ((p->paths[p->npaths] = strdup(json_string_value(v))))
			p->npaths++;
	} else if (json_is_object(v)) {
		json_object_foreach ((json_t *)v, key, x)
			collect_paths(p, x);
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, x)
			collect_paths(p, x);
	}
}

/* The files the AWS credential chain reads by default (aws_creds.c), from root's own
 * environment, which the worker inherits. */
static void aws_default_paths(struct proxy *p)
{
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
	const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	char path[1024];
	_cleanup_json_ json_t *j = json_array();

	if (!j)
		return;
	if (file && *file)
		json_array_append_new(j, json_string(file));
	else if (home && *home && snprintf(path, sizeof(path), "%s/.aws/credentials", home) > 0)
		json_array_append_new(j, json_string(path));
	if (tok && *tok)
		json_array_append_new(j, json_string(tok));
	collect_paths(p, j);
}

/* A vault store logging in with METHOD: its aws login reads what the AWS chain reads, its
 * kubernetes login the service account token's default path (vault_auth.c). */
#define K8S_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"
static bool vault_auth_is(const lb_store_cfg *cfg, const char *method)
{
	const char *m =
	    json_string_value(json_object_get(json_object_get(cfg->opts, "auth"), "method"));

	return strcmp(cfg->type, "vault") == 0 && m && strcmp(m, method) == 0;
}

static void send_open(struct proxy *p)
{
	char *opts = json_dumps(p->s->cfg->opts, JSON_COMPACT);

	if (!opts) {
		p->open_failed = true;
		snprintf(p->open_error, sizeof(p->open_error), "out of memory");
		return;
	}
	send_msg(p->w, &(lb_wire_msg){.type = LB_W_OPEN,
				      .ref = p->sid,
				      .ntext = 3,
				      .text = {{p->s->name, strlen(p->s->name)},
					       {p->s->cfg->type, strlen(p->s->cfg->type)},
					       {opts, strlen(opts)}}});
	lb_json_free(opts);
	set_health(p, json_pack("{s:s}", "health", "starting"));
}

static void proxy_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
			void *ctx)
{
	struct proxy *p = s->priv;
	lb_worker *w = p->w;
	struct pending *pd;
	char *text;
	int rc;

	if (p->closing)
		return fail_fetch(cb, ctx, s->name, "store closed");
	if (p->open_failed)
		return fail_fetch(cb, ctx, s->name, p->open_error);
	if (w->state != W_UP)
		return fail_fetch(cb, ctx, s->name,
				  "the network worker is restarting; the last good value stays");
	pd = calloc(1, sizeof(*pd));
	text = lb_wire_source_encode(src);
	if (!pd || !text) {
		free(pd);
		lb_json_free(text);
		return fail_fetch(cb, ctx, s->name, "out of memory");
	}
	pd->fid = ++w->next_fid;
	rc = send_msg(
	    w, &(lb_wire_msg){.type = LB_W_FETCH,
			      .id = pd->fid,
			      .ref = p->sid,
			      .ntext = 2,
			      .text = {{text, strlen(text)},
				       {target ? target : "", target ? strlen(target) : 0}}});
	lb_json_free(text);
	if (rc < 0) {
		free(pd);
		return fail_fetch(cb, ctx, s->name, "the network worker does not take requests");
	}
	pd->p = p;
	pd->cb = cb;
	pd->ctx = ctx;
	pd->next = *bucket(w, pd->fid);
	*bucket(w, pd->fid) = pd;
}

static void proxy_release(lb_store *s, const char *target)
{
	struct proxy *p = s->priv;

	send_msg(p->w, &(lb_wire_msg){.type = LB_W_RELEASE,
				      .ref = p->sid,
				      .ntext = 1,
				      .text = {{target, strlen(target)}}});
}

/* The last health the worker pushed (it does when it changes, within a second). */
static json_t *proxy_health(lb_store *s)
{
	struct proxy *p = s->priv;

	if (p->open_failed)
		return json_pack("{s:s,s:s}", "health", "failed", "last_error", p->open_error);
	if (p->w->state != W_UP)
		return json_pack("{s:s,s:s}", "health", "degraded", "last_error",
				 "the network worker is restarting");
	return p->health ? json_deep_copy(p->health) : json_pack("{s:s}", "health", "starting");
}

static void proxy_close(lb_store *s)
{
	struct proxy *p = s->priv;
	lb_worker *w = p->w;

	p->closing = true;
	fail_pending(w, p, "store closed");
	send_msg(w, &(lb_wire_msg){.type = LB_W_CLOSE, .ref = p->sid});
	for (struct proxy **q = &w->proxies; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	for (size_t i = 0; i < p->npaths; i++)
		free(p->paths[i]);
	free(p->paths);
	json_decref(p->health);
	free(p);
}

static int proxy_open_unused(lb_store *s, lb_err *e)
{
	return lb_fail(e, 0, "store %s: a proxy is opened by lb_worker_store_open", s->name);
}

/* One vtable per store type: type and per_target are the real store's. */
static lb_store_ops proxy_ops[8];

static const lb_store_ops *ops_for(const char *type)
{
	const lb_store_ops *real = lb_store_ops_of(type);
	size_t i;

	if (!real)
		return NULL;
	for (i = 0; i < sizeof(proxy_ops) / sizeof(proxy_ops[0]) && proxy_ops[i].type; i++)
		if (strcmp(proxy_ops[i].type, type) == 0)
			return &proxy_ops[i];
	if (i == sizeof(proxy_ops) / sizeof(proxy_ops[0]))
		return NULL;
	proxy_ops[i] = (lb_store_ops){.type = real->type,
				      .per_target = real->per_target,
				      .open = proxy_open_unused,
				      .fetch = proxy_fetch,
				      .release = proxy_release,
				      .health = proxy_health,
				      .close = proxy_close};
	return &proxy_ops[i];
}

lb_store *lb_worker_store_open(lb_worker *w, const lb_store_cfg *cfg, const lb_store_env *env,
			       lb_err *e)
{
	const lb_store_ops *ops = ops_for(cfg->type);
	lb_store *s;
	struct proxy *p;

	if (!ops)
		return lb_fail(e, 0, "store %s: unsupported type %s", cfg->name, cfg->type), NULL;
	s = calloc(1, sizeof(*s));
	p = calloc(1, sizeof(*p));
	if (!s || !p) {
		free(s);
		free(p);
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	}
	s->ops = ops;
	s->cfg = cfg;
	s->env = *env;
	s->priv = p;
	snprintf(s->name, sizeof(s->name), "%s", cfg->name);
	p->w = w;
	p->s = s;
	p->sid = ++w->next_sid;
	collect_paths(p, cfg->opts);
	if (strncmp(cfg->type, "aws-", 4) == 0 || vault_auth_is(cfg, "aws"))
		aws_default_paths(p);
	if (vault_auth_is(cfg, "kubernetes") &&
	    !json_object_get(json_object_get(cfg->opts, "auth"), "token_file")) {
		_cleanup_json_ json_t *k8s = json_string(K8S_TOKEN_FILE); /* the login's default */
		collect_paths(p, k8s);
	}
	p->next = w->proxies;
	w->proxies = p;
	send_open(p);
	return s;
}

/* --- what the worker sends --- */

static struct proxy *proxy_of(lb_worker *w, uint32_t sid)
{
	for (struct proxy *p = w->proxies; p; p = p->next)
		if (p->sid == sid && !p->closing)
			return p;
	return NULL;
}

static void on_opened(lb_worker *w, const lb_wire_msg *m)
{
	struct proxy *p = proxy_of(w, m->ref);

	if (!p || m->num == 0)
		return;
	p->open_failed = true;
	if (lb_wire_text_copy(m, 0, p->open_error, sizeof(p->open_error)) < 0 || !p->open_error[0])
		snprintf(p->open_error, sizeof(p->open_error), "cannot be opened");
	lb_log(LB_ERROR, "store %s: %s", p->s->name, p->open_error);
	fail_pending(w, p, p->open_error);
}

static void on_result(lb_worker *w, const lb_wire_msg *m)
{
	struct pending *pd = pending_take(w, m->id);
	lb_fetch_result res = {0};

	if (!pd)
		return; /* answered already (closed, or the worker restarted) */
	res.status = (m->flags & LB_WIRE_FAILED) ? -1 : 0;
	res.structured = (m->flags & LB_WIRE_STRUCTURED) != 0;
	res.keep = (m->flags & LB_WIRE_KEEP) != 0;
	res.not_after = m->num < 0 ? 0 : m->num;
	if (lb_wire_text_copy(m, 0, res.version, sizeof(res.version)) < 0 ||
	    lb_wire_text_copy(m, 1, res.error, sizeof(res.error)) < 0)
		res.status = -1;
	if (res.status == 0 && m->blob) {
		res.value = lb_secbuf_dup(m->blob, m->blob_len);
		if (!res.value) {
			res.status = -1;
			snprintf(res.error, sizeof(res.error), "out of secure memory");
		}
	}
	if (res.status == 0 && !res.value && !res.keep) {
		res.status = -1;
		snprintf(res.error, sizeof(res.error), "store %s: the worker sent no value",
			 pd->p->s->name);
	}
	if (res.status != 0 && !res.error[0])
		snprintf(res.error, sizeof(res.error), "store %s: fetch failed", pd->p->s->name);
	pd->cb(pd->ctx, &res);
	lb_fetch_result_clear(&res);
	free(pd);
}

static void on_health(lb_worker *w, const lb_wire_msg *m)
{
	struct proxy *p = proxy_of(w, m->ref);
	json_t *h;

	if (!p)
		return;
	h = json_loadb(m->text[0].p, m->text[0].len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(h) || !json_is_string(json_object_get(h, "health"))) {
		json_decref(h);
		return;
	}
	set_health(p, h);
}

static bool event_name_ok(const lb_wire_msg *m)
{
	if (m->text[0].len == 0)
		return false;
	for (size_t i = 0; i < m->text[0].len; i++)
		if (!islower((unsigned char)m->text[0].p[i]) && m->text[0].p[i] != '_')
			return false;
	return true;
}

static void on_audit(const lb_wire_msg *m)
{
	char event[64];
	json_t *ev;

	if (!event_name_ok(m) || lb_wire_text_copy(m, 0, event, sizeof(event)) < 0)
		return;
	ev = json_loadb(m->text[1].p, m->text[1].len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ev)) {
		json_decref(ev);
		return;
	}
	/* The worker cannot pass its fields off as root's. */
	json_object_del(ev, "ts");
	json_object_del(ev, "audit");
	json_object_del(ev, "event");
	lb_audit(event, ev);
}

static void on_log(const lb_wire_msg *m)
{
	char msg[1024];

	if (m->num < LB_DEBUG || m->num > LB_ERROR || lb_wire_text_copy(m, 0, msg, sizeof(msg)) < 0)
		return;
	lb_log((enum lb_level)m->num, "%s", msg);
}

static bool path_allowed(lb_worker *w, const char *path)
{
	for (struct proxy *p = w->proxies; p; p = p->next)
		for (size_t i = 0; !p->closing && i < p->npaths; i++)
			if (strcmp(p->paths[i], path) == 0)
				return true;
	return false;
}

static void on_read(lb_worker *w, const lb_wire_msg *m)
{
	_cleanup_secbuf_ lb_secbuf *b = NULL;
	char path[4096];
	lb_err e = {0};
	size_t cap = m->num > 0 && (uint64_t)m->num < FILE_CAP ? (size_t)m->num : FILE_CAP;
	lb_wire_msg r = {.type = LB_W_FILE, .id = m->id, .ntext = 1};

	if (lb_wire_text_copy(m, 0, path, sizeof(path)) < 0)
		return;
	if (!path_allowed(w, path)) {
		lb_fail(&e, EACCES, "open %s: not a file the store configuration names", path);
		lb_log(LB_WARN, "network worker asked for %s, which no store names: refused", path);
	} else {
		(void)lb_read_secret_at(AT_FDCWD, path, cap, &b, &e);
	}
	if (b) {
		r.blob = b->data;
		r.blob_len = b->len;
	} else {
		r.num = e.sys ? e.sys : EIO;
		for (char *c = e.msg; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = ' ';
		r.text[0] = (lb_wire_text){e.msg, strnlen(e.msg, 511)};
	}
	send_msg(w, &r);
}

static void on_metrics(lb_worker *w, const lb_wire_msg *m)
{
	_cleanup_json_ json_t *snap =
	    json_loadb(m->text[0].p, m->text[0].len, JSON_REJECT_DUPLICATES, NULL);
	lb_err e = {0};

	if (!json_is_object(snap))
		return;
	lb_metrics_reset(w->metrics);
	if (lb_metrics_import(w->metrics, snap, &e) < 0)
		lb_log(LB_WARN, "network worker: metrics refused: %s", e.msg);
}

static void on_frame(void *ctx, const lb_wire_msg *m)
{
	lb_worker *w = ctx;

	w->last_heard_ms = lb_now_ms();
	switch (m->type) {
	case LB_R_OPENED:
		on_opened(w, m);
		break;
	case LB_R_RESULT:
		on_result(w, m);
		break;
	case LB_R_REFRESH: {
		struct proxy *p = proxy_of(w, m->ref);
		char target[256];
		if (p && p->s->env.request_refresh &&
		    lb_wire_text_copy(m, 0, target, sizeof(target)) == 0)
			p->s->env.request_refresh(p->s->env.owner, target);
		break;
	}
	case LB_R_HEALTH:
		on_health(w, m);
		break;
	case LB_R_AUDIT:
		on_audit(m);
		break;
	case LB_R_LOG:
		on_log(m);
		break;
	case LB_R_READ:
		on_read(w, m);
		break;
	case LB_R_PONG:
		w->pong_seq = m->id;
		break;
	case LB_R_METRICS:
		on_metrics(w, m);
		break;
	default: /* a root->worker type from the worker: the table allows it, root ignores it */
		break;
	}
}

/* --- lifecycle --- */

static void on_chan_down(void *ctx, const char *why)
{
	worker_down(ctx, why);
}

static void on_pidfd(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	worker_down(ctx, "the process exited");
}

static void reap(lb_worker *w)
{
	siginfo_t si = {0};

	if (w->pid <= 0)
		return;
	(void)pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
	/* pidfd polled readable or just killed: the exit is at most a moment away. */
	if (waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED) == 0) {
		if (si.si_code == CLD_EXITED)
			snprintf(w->last_exit, sizeof(w->last_exit), "exit status %d",
				 si.si_status);
		else
			snprintf(w->last_exit, sizeof(w->last_exit), "signal %d", si.si_status);
	}
	w->pid = 0;
}

static void worker_down(lb_worker *w, const char *why)
{
	uint64_t now = lb_now_ms(), wait;
	pid_t pid = w->pid;

	if (w->state != W_UP)
		return;
	w->state = W_DOWN;
	lb_chan_free(w->chan);
	w->chan = NULL;
	lb_loop_del_fd(w->loop, w->pidfd);
	reap(w);
	close(w->pidfd);
	w->pidfd = -1;
	lb_timer_disarm(w->ping_timer);
	if (now - w->started_ms >= STABLE_MS)
		lb_backoff_reset(&w->backoff);
	wait = lb_backoff_fault_now(&w->backoff, -1, now);
	lb_log(LB_ERROR, "network worker (pid %d) is down: %s (%s); restarting in %llu ms",
	       (int)pid, why, w->last_exit, (unsigned long long)wait);
	lb_audit("worker_down", json_pack("{s:i,s:s,s:s,s:I}", "pid", (int)pid, "reason", why,
					  "exit", w->last_exit, "restart_ms", (json_int_t)wait));
	for (struct proxy *p = w->proxies; p; p = p->next)
		set_health(p, NULL);
	fail_pending(w, NULL, "the network worker went down; the last good value stays");
	lb_timer_arm(w->restart_timer, wait);
}

static void on_restart(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_worker *w = ctx;
	lb_err e = {0};

	(void)loop;
	(void)t;
	if (worker_spawn(w, &e) < 0) {
		uint64_t wait = lb_backoff_fault_now(&w->backoff, -1, lb_now_ms());
		lb_log(LB_ERROR, "network worker: %s; trying again in %llu ms", e.msg,
		       (unsigned long long)wait);
		lb_timer_arm(w->restart_timer, wait);
		return;
	}
	w->restarts++;
	lb_metric_inc0(LB_M_WORKER_RESTARTS);
	lb_audit("worker_restart",
		 json_pack("{s:i,s:i}", "pid", (int)w->pid, "restarts", (int)w->restarts));
	for (struct proxy *p = w->proxies; p; p = p->next) {
		p->open_failed = false;
		send_open(p);
	}
}

static void on_ping(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_worker *w = ctx;

	(void)loop;
	if (w->state != W_UP)
		return;
	if (w->pong_seq != w->ping_seq && lb_now_ms() - w->last_heard_ms >= PING_DEADLINE_MS) {
		worker_down(w, "it stopped answering (killed after the deadline)");
		return;
	}
	if (w->pong_seq == w->ping_seq)
		send_msg(w, &(lb_wire_msg){.type = LB_W_PING, .id = ++w->ping_seq});
	lb_timer_arm(t, PING_EVERY_MS);
}

static const char *log_level_name(void)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	return names[lb_log_level()];
}

static int worker_spawn(lb_worker *w, lb_err *e)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return lb_fail_errno(e, "socketpair for the network worker");
	pid = lb_worker_spawn(exe_fd, sv[1], w->wdirfd, w->uid, w->gid, log_level_name(), &w->pidfd,
			      e);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -1;
	}
	w->pid = pid;
	w->chan = lb_chan_new(w->loop, sv[0], on_frame, on_chan_down, w);
	if (!w->chan || lb_loop_add_fd(w->loop, w->pidfd, EPOLLIN, on_pidfd, w) < 0) {
		lb_chan_free(w->chan);
		w->chan = NULL;
		reap(w);
		close(w->pidfd);
		w->pidfd = -1;
		return lb_fail(e, ENOMEM, "cannot watch the network worker");
	}
	lb_chan_batch(w->chan); /* one refresh pass's fetches reach the worker together */
	w->state = W_UP;
	w->started_ms = w->last_heard_ms = lb_now_ms();
	w->pong_seq = w->ping_seq;
	lb_timer_arm(w->ping_timer, PING_EVERY_MS);
	lb_log(LB_INFO, "network worker started: pid %d, uid %u gid %u (%s)", (int)pid,
	       (unsigned)w->uid, (unsigned)w->gid, w->id_source);
	return 0;
}

lb_worker *lb_worker_start(lb_loop *loop, int state_dirfd, lb_err *e)
{
	lb_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	w->loop = loop;
	w->wdirfd = w->pidfd = -1;
	lb_backoff_init(&w->backoff, RESTART_FIRST_MS, RESTART_MAX_MS, true);
	w->restart_timer = lb_timer_new(loop, on_restart, w);
	w->ping_timer = lb_timer_new(loop, on_ping, w);
	w->metrics = lb_metrics_new();
	if (!w->restart_timer || !w->ping_timer || !w->metrics ||
	    lb_metrics_relay_attach(w->metrics) < 0 ||
	    lb_worker_identity(&w->uid, &w->gid, &w->id_source, e) < 0 ||
	    (w->wdirfd = lb_worker_statedir(state_dirfd, w->uid, w->gid, e)) < 0 ||
	    worker_spawn(w, e) < 0) {
		lb_worker_free(w);
		return NULL;
	}
	return w;
}

void lb_worker_free(lb_worker *w)
{
	if (!w)
		return;
	/* Proxies are closed by now (broker_close_stores); anything left fails. */
	fail_pending(w, NULL, "lockboxd is stopping");
	lb_chan_free(w->chan);
	if (w->pid > 0) {
		struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
		/* Its channel closed, the worker closes its stores and exits. */
		(void)poll(&p, 1, 2000);
		lb_loop_del_fd(w->loop, w->pidfd);
		reap(w);
	}
	if (w->pidfd >= 0)
		close(w->pidfd);
	if (w->wdirfd >= 0)
		close(w->wdirfd);
	lb_timer_free(w->restart_timer);
	lb_timer_free(w->ping_timer);
	if (w->metrics) {
		lb_metrics_relay_detach(w->metrics);
		lb_metrics_free(w->metrics);
	}
	free(w);
}

/* VmRSS of a process in KiB (0 when unknown). */
static long rss_kib(pid_t pid)
{
	char path[64], text[4096];
	const char *p;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pid <= 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (n = read(fd, text, sizeof(text) - 1)) <= 0)
		return 0;
	text[n] = '\0';
	p = strstr(text, "\nVmRSS:");
	// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
	return p ? strtol(p + 8, NULL, 10) : 0;
}

json_t *lb_worker_status(const lb_worker *w)
{
	return json_pack("{s:s,s:i,s:i,s:i,s:s,s:i,s:s,s:I,s:I}", "state",
			 w->state == W_UP ? "up" : "restarting", "pid", (int)w->pid, "uid",
			 (int)w->uid, "gid", (int)w->gid, "identity", w->id_source, "restarts",
			 (int)w->restarts, "last_exit", w->last_exit, "rss_kib",
			 (json_int_t)rss_kib(w->pid), "root_rss_kib",
			 (json_int_t)rss_kib(getpid()));
}
