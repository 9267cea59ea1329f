/* Root's side of the network worker: the proxy stores behind the store vtable, the fetches
 * in flight, and what root answers (file reads the store configurations name; log lines,
 * audit events and metrics it takes from the worker). Everything the worker sends is checked
 * like any untrusted input: wire.c's table first, then here. The worker's lifecycle is
 * lifecycle.c. */
#include "worker.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "proxy_int.h"
#include "wire.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_CAP (1024u * 1024u)

static const char *const worker_types[] = {"vault",  "aws-sm",	 "aws-ssm",
					   "gcp-sm", "azure-kv", NULL};

bool lb_worker_runs(const char *type)
{
	for (size_t i = 0; worker_types[i]; i++)
		if (strcmp(worker_types[i], type) == 0)
			return true;
	return false;
}

/* --- fetches in flight --- */

static struct pending **bucket(lb_worker *w, uint32_t fid)
{
	return &w->pending[fid % LB_PROXY_BUCKETS];
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

void lb_proxy_fail_pending(lb_worker *w, const struct proxy *p, const char *why)
{
	for (size_t i = 0; i < LB_PROXY_BUCKETS; i++) {
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
	lb_worker_send(p->w, &(lb_wire_msg){.type = LB_W_OPEN,
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
	rc = lb_worker_send(
	    w, &(lb_wire_msg){.type = LB_W_FETCH,
			      .id = pd->fid,
			      .ref = p->sid,
			      /* when root asked: the worker's shared reads sent before it
			       * cannot answer this fetch (netstore_util.c) */
			      .num = (int64_t)(src->asked_ns ? src->asked_ns : lb_now_ns()),
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

	lb_worker_send(p->w, &(lb_wire_msg){.type = LB_W_RELEASE,
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
	lb_proxy_fail_pending(w, p, "store closed");
	lb_worker_send(w, &(lb_wire_msg){.type = LB_W_CLOSE, .ref = p->sid});
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
	lb_proxy_fail_pending(w, p, p->open_error);
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
	lb_worker_send(w, &r);
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

void lb_proxy_on_frame(lb_worker *w, const lb_wire_msg *m)
{
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
	case LB_R_METRICS:
		on_metrics(w, m);
		break;
	default: /* LB_R_PONG is the lifecycle's; a root->worker type from the worker: the
		  * table allows it, root ignores it */
		break;
	}
}

void lb_proxy_worker_down(lb_worker *w)
{
	for (struct proxy *p = w->proxies; p; p = p->next)
		set_health(p, NULL);
	lb_proxy_fail_pending(w, NULL, "the network worker went down; the last good value stays");
}

void lb_proxy_reopen_all(lb_worker *w)
{
	for (struct proxy *p = w->proxies; p; p = p->next) {
		p->open_failed = false;
		send_open(p);
	}
}
