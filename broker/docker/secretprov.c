/* POST /SecretProvider.GetSecret on the loop (see secretprov.h): the request parsed and
 * decided (secretprov_parse.c), the task's container spec from dockerd when the bindings
 * require posture checks, the value from the store, the suspended plugin request answered.
 * Nothing here waits: each step is a callback, and each request has a deadline. */
#include "docker_int.h"
#include "secretprov.h"
#include "engine.h"
#include "log.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP_DEADLINE_MS 20000 /* dockerd's plugin client gives up after 30 s */
/* Each one holds a suspended plugin connection for up to SP_DEADLINE_MS: half of them at
 * most, so VolumeDriver calls (Mount/Unmount for every container) always find one free. */
#define SP_INFLIGHT_MAX (LB_PLUGIN_CONN_MAX / 2)

struct sp_call {
	struct dk_secretprov *sp; /* NULL once the provider is gone (its fetch still runs) */
	lb_plugin_req *r;	  /* NULL once answered */
	lb_sp_request rq;
	lb_sp_decision dc;
	char target[LB_NAME_MAX + 1]; /* "swarm-TASKID": the store's key for leases */
	lb_timer *deadline;
	bool fetching; /* the store holds the call: its callback frees it */
	struct sp_call *next;
};

struct dk_secretprov {
	struct lb_docker *d;
	struct sp_call *calls;
	size_t n;
	struct dk_sp_leases *leases;
};

struct dk_secretprov *dk_sp_new(struct lb_docker *d)
{
	struct dk_secretprov *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	sp->d = d;
	if (!(sp->leases = dk_sp_leases_new(d))) {
		free(sp);
		return NULL;
	}
	return sp;
}

static void call_unlink(struct sp_call *c)
{
	if (!c->sp)
		return;
	for (struct sp_call **p = &c->sp->calls; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			c->sp->n--;
			break;
		}
	c->sp = NULL;
}

static void call_free(struct sp_call *c)
{
	call_unlink(c);
	lb_timer_free(c->deadline);
	free(c);
}

/* The error reply dockerd's dispatcher gets (and logs); logged and audited here too, since
 * the swarm does not show it to the user (docs/swarm.md). */
__attribute__((format(printf, 2, 3))) static void call_fail(struct sp_call *c, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lb_log(LB_ERROR, "%s (task %s, service %s)", msg, c->rq.task_id, c->rq.service_name);
	lb_audit("swarm_secret_refused",
		 json_pack("{s:s,s:s,s:s,s:s,s:s}", "secret", c->rq.secret_name, "task",
			   c->rq.task_id, "service", c->rq.service_name, "source",
			   c->dc.uri[0] ? c->dc.uri : c->rq.source, "reason", msg));
	if (c->r)
		lb_plugin_answer(c->r, json_pack("{s:s}", "Err", msg));
	c->r = NULL;
}

/* The reply's JSON text, in a sodium buffer: {"Value":"BASE64","DoNotReuse":B}. */
static lb_secbuf *value_reply(const lb_secbuf *v, bool leased)
{
	static const char head[] = "{\"Value\":\"", tail_t[] = "\",\"DoNotReuse\":true}",
			  tail_f[] = "\",\"DoNotReuse\":false}";
	const char *tail = leased ? tail_t : tail_f;
	size_t b64 = sodium_base64_ENCODED_LEN(v->len, sodium_base64_VARIANT_ORIGINAL);
	lb_secbuf *out = lb_secbuf_new(sizeof(head) - 1 + b64 - 1 + strlen(tail));
	char *p;

	if (!out)
		return NULL;
	p = (char *)out->data;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	sodium_bin2base64(p, b64, v->data, v->len, sodium_base64_VARIANT_ORIGINAL);
	p += b64 - 1;
	memcpy(p, tail, strlen(tail) + 1);
	return out;
}

static void on_fetched(void *ctx, lb_fetch_result *res)
{
	struct sp_call *c = ctx;
	_cleanup_secbuf_ lb_secbuf *v = NULL;
	lb_secbuf *body;
	lb_store *s;
	lb_err e = {0};

	c->fetching = false;
	/* A value without a lease keeps nothing in the store for this task, nor does one that
	 * no task got (the deadline answered first). */
	if ((!res->not_after || !c->r) && c->sp &&
	    (s = lb_broker_store(c->sp->d->b, c->dc.src.store)))
		lb_store_release(s, c->target);
	if (!c->sp || !c->r) { /* the provider went away, or the deadline answered */
		call_free(c);
		return;
	}
	if (res->status)
		call_fail(c, "lockbox: Swarm secret %s: %s: %s", c->rq.secret_name, c->dc.uri,
			  res->error);
	else if (!res->value)
		call_fail(c, "lockbox: Swarm secret %s: %s: the store gave no value",
			  c->rq.secret_name, c->dc.uri);
	else if (lb_store_select_field(res, &c->dc.src, &v, &e))
		call_fail(c, "lockbox: Swarm secret %s: %s: %s", c->rq.secret_name, c->dc.uri,
			  e.msg);
	else if (v->len == 0 || v->len >= 500 * 1024)
		call_fail(c,
			  "lockbox: Swarm secret %s: %s: %zu bytes (Swarm takes 1 byte to "
			  "500 KiB)",
			  c->rq.secret_name, c->dc.uri, v->len);
	else if (!(body = value_reply(v, res->not_after != 0)))
		call_fail(c, "lockbox: out of memory");
	else {
		lb_audit("swarm_secret",
			 json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "secret", c->rq.secret_name, "task",
				   c->rq.task_id, "service", c->rq.service_name, "binding",
				   c->dc.binding, "source", c->dc.uri, "leased",
				   res->not_after != 0));
		if (res->not_after)
			dk_sp_leases_add(c->sp->leases, c->rq.task_id, c->dc.src.store);
		lb_plugin_answer_secret(c->r, body);
		c->r = NULL;
	}
	call_free(c);
}

static void fetch(struct sp_call *c)
{
	lb_store *s = lb_broker_store(c->sp->d->b, c->dc.src.store);

	if (!s) {
		call_fail(c, "lockbox: Swarm secret %s: %s: store %s is not open",
			  c->rq.secret_name, c->dc.uri, c->dc.src.store);
		call_free(c);
		return;
	}
	c->fetching = true;
	lb_store_fetch(s, &c->dc.src, c->target, on_fetched, c);
}

/* The posture gate on the task's container spec (pid 0: no kernel facts before it runs). */
static void on_task(void *ctx, long status, json_t *body, const char *err)
{
	struct sp_call *c = ctx;
	struct lb_docker *d = c->sp ? c->sp->d : NULL;
	_cleanup_json_ json_t *inspect = NULL;
	lb_binding bd = {.name = c->dc.binding, .require = c->dc.require};
	lb_posture_report rep;
	char line[700];

	if (!d || !c->r) {
		call_free(c);
		return;
	}
	if (status != 200 || !(inspect = lb_sp_task_inspect(body))) {
		call_fail(c, "lockbox: Swarm secret %s: cannot check the posture of task %s: %s",
			  c->rq.secret_name, c->rq.task_id,
			  status == 200 ? "it has no container spec"
			  : status	? "dockerd does not know the task"
					: err);
		call_free(c);
		return;
	}
	if (!dk_gate(d, inspect, &bd, 0, -1, &rep, line, sizeof(line))) {
		dk_count_refusal(&rep);
		call_fail(c, "%s (Swarm secret %s)", line, c->rq.secret_name);
		call_free(c);
		return;
	}
	fetch(c);
}

static void on_deadline(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct sp_call *c = ctx;

	(void)loop;
	(void)t;
	call_fail(c, "lockbox: Swarm secret %s: %s: no answer within %d s", c->rq.secret_name,
		  c->dc.uri, SP_DEADLINE_MS / 1000);
	/* The fetch or the inspect still holds c: its callback frees it (or dk_sp_free, for
	 * an inspect the engine cancels). */
}

json_t *dk_sp_get(struct dk_secretprov *sp, json_t *req, lb_plugin_req *r)
{
	struct sp_call *c = calloc(1, sizeof(*c));
	char path[128];
	lb_err e = {0};

	if (!c)
		return json_pack("{s:s}", "Err", "lockbox: out of memory");
	if (lb_sp_parse(req, &c->rq, &e)) {
		char msg[600];
		free(c);
		snprintf(msg, sizeof(msg), "lockbox: bad GetSecret request: %s", e.msg);
		lb_log(LB_WARN, "docker: %s", msg);
		return json_pack("{s:s}", "Err", msg);
	}
	c->r = r;
	c->sp = sp;
	c->next = sp->calls;
	sp->calls = c;
	sp->n++;
	if (sp->n > SP_INFLIGHT_MAX) {
		call_fail(c, "lockbox: Swarm secret %s: %d requests under way already",
			  c->rq.secret_name, SP_INFLIGHT_MAX);
	} else if (lb_sp_decide(lb_broker_cfg(sp->d->b), &c->rq, &c->dc, &e)) {
		call_fail(c, "lockbox: %s", e.msg);
	} else if (!(c->deadline = lb_timer_new(lb_broker_loop(sp->d->b), on_deadline, c))) {
		call_fail(c, "lockbox: out of memory");
	} else {
		snprintf(c->target, sizeof(c->target), "swarm-%s", c->rq.task_id);
		lb_timer_arm(c->deadline, SP_DEADLINE_MS);
		snprintf(path, sizeof(path), "tasks/%s", c->rq.task_id);
		/* From here c belongs to its callbacks (a local store answers, and frees c,
		 * before fetch returns): the plugin replies when this returns or later. */
		if (!c->dc.require)
			fetch(c);
		else if (lb_engine_call(sp->d->en, "GET", path, on_task, c) < 0)
			goto failed;
		return NULL;
	}
	call_free(c);
	return NULL; /* answered: the plugin replies when this returns */
failed:
	call_fail(c, "lockbox: Swarm secret %s: cannot ask dockerd for task %s", c->rq.secret_name,
		  c->rq.task_id);
	call_free(c);
	return NULL;
}

void dk_sp_free(struct dk_secretprov *sp)
{
	if (!sp)
		return;
	for (struct sp_call *c = sp->calls, *next; c; c = next) {
		next = c->next;
		c->sp = NULL; /* off the list, which goes now */
		if (c->r)
			lb_plugin_answer(c->r, json_pack("{s:s}", "Err", "lockbox: stopping"));
		c->r = NULL;
		lb_timer_free(c->deadline);
		c->deadline = NULL;
		if (!c->fetching) /* else its fetch callback frees it */
			call_free(c);
	}
	dk_sp_leases_free(sp->leases);
	free(sp);
}
