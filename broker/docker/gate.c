/* The posture gate of Docker targets: evaluate, refuse (audit, stop), admit before a refresh. */
#include "docker_int.h"
#include "metrics.h"
#include "engine.h"
#include "log.h"
#include "posture_eval.h"
#include "procfacts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the posture gate --- */

/* What the gate keeps per mount between checks (m->gate). */
struct dk_gate_cache {
	lb_procfacts_cache k; /* the container's kernel facts, while unchanged */
	/* The inspect facts of in.doc, which they reference: its address names it as long as
	 * they are kept (an inspect is replaced, never changed, by events.c and early.c). */
	lb_inspect_facts in;
	bool remap;
	uint64_t in_version; /* changes whenever in is parsed anew (one counter for all) */
	/* The last verdict of every check but no-secret-env, and what it was judged from: it
	 * holds while all of that is the same. no-secret-env is judged every time (it compares
	 * the env with the managed secrets, which change with every rotation). */
	bool judged;
	uint64_t judged_in, judged_k; /* in_version, the kernel facts' version (0: none) */
	int64_t judged_uid;
	uint32_t judged_require, judged_failed;
};

static struct dk_gate_cache *gate_cache(struct mount *m)
{
	if (!m->gate && (m->gate = calloc(1, sizeof(*m->gate))))
		lb_procfacts_cache_init(&m->gate->k);
	return m->gate;
}

/* The kernel facts of m's container: kept ones while its process and mount namespace are
 * the same (procfacts' cache), lockboxd's own mount table parsed once per change for all. */
static int cached_facts(struct lb_docker *d, struct dk_gate_cache *g, int pid,
			lb_kernel_facts *view, lb_err *e)
{
	bool parsed = false;

	if (!d->host_facts && (d->host_facts = malloc(sizeof(*d->host_facts))))
		lb_procfacts_host_init(d->host_facts);
	if (!d->host_facts)
		return lb_fail(e, 12, "out of memory");
	if (lb_procfacts_read_cached(&g->k, d->host_facts, pid, view, &parsed, e))
		return -1;
	lb_metric_inc(LB_M_POSTURE_CHECKS, parsed ? "parsed" : "cached");
	return 0;
}

/* The inspect facts of inspect: g's while they are of the same object (and remap mode), else
 * parsed and kept in g. *in borrows from g: not cleared by the caller. */
static int cached_inspect(struct lb_docker *d, struct dk_gate_cache *g, json_t *inspect,
			  lb_inspect_facts *in, lb_err *e)
{
	static uint64_t versions;

	if (!g->in.doc || g->in.doc != inspect || g->remap != d->remap) {
		lb_inspect_facts_clear(&g->in);
		g->in_version = ++versions;
		if (lb_inspect_facts_from_json(inspect, d->remap, &g->in, e))
			return -1;
		g->remap = d->remap;
	}
	*in = g->in;
	return 0;
}

/* The required checks that fail, without a report: lb_posture_verdict, with g's last
 * verdict of every check but no-secret-env while it was judged from the same facts. */
static uint32_t judge(struct lb_docker *d, struct dk_gate_cache *g, const lb_binding *bd,
		      const lb_inspect_facts *in, const lb_kernel_facts *kf)
{
	const uint32_t env = LB_CHECK_BIT(LB_CHECK_NO_SECRET_ENV);
	const lb_secret_hashes *h = lb_broker_hashes(d->b);
	uint64_t kver = kf ? g->k.version : 0;

	if (!g->judged || g->judged_in != g->in_version || g->judged_k != kver ||
	    g->judged_uid != in->uid || g->judged_require != bd->require) {
		g->judged_failed = lb_posture_verdict(bd->require, ~env, in, kf, h);
		g->judged = true;
		g->judged_in = g->in_version;
		g->judged_k = kver;
		g->judged_uid = in->uid;
		g->judged_require = bd->require;
	}
	return g->judged_failed | lb_posture_verdict(bd->require, env, in, kf, h);
}

void dk_gate_forget(struct mount *m)
{
	if (m->gate) {
		lb_procfacts_cache_clear(&m->gate->k);
		lb_inspect_facts_clear(&m->gate->in);
	}
	free(m->gate);
	m->gate = NULL;
}

void dk_gate_free(struct lb_docker *d)
{
	if (d->host_facts)
		lb_procfacts_host_clear(d->host_facts);
	free(d->host_facts);
	d->host_facts = NULL;
}

/* dk_gate, and with m what m's container was found to be is kept between checks: its
 * inspect facts, (pid > 0) its kernel facts, and its last verdict; rep is then made only
 * when refused (the report with every check's evidence costs more than the check). */
static bool gate(struct lb_docker *d, struct mount *m, json_t *inspect, const lb_binding *bd,
		 int pid, int64_t uid, lb_posture_report *rep, char *line, size_t cap)
{
	struct dk_gate_cache *g = m ? gate_cache(m) : NULL;
	lb_inspect_facts own = {0}, in;
	lb_kernel_facts k, view;
	const lb_kernel_facts *kf = NULL;
	lb_err e = {0};
	uint32_t failed;
	int r = 0;

	line[0] = '\0';
	rep->failed = 0;
	lb_kernel_facts_init(&k);
	if (m && !g) {
		memset(rep, 0, sizeof(*rep));
		snprintf(line, cap, "lockbox: binding %s refused container: out of memory",
			 bd->name);
		return false;
	}
	if (g ? cached_inspect(d, g, inspect, &in, &e)
	      : lb_inspect_facts_from_json(inspect, d->remap, &own, &e)) {
		memset(rep, 0, sizeof(*rep));
		snprintf(line, cap, "lockbox: binding %s refused container: %s", bd->name, e.msg);
		return false;
	}
	if (!g)
		in = own;
	if (uid >= 0)
		in.uid = uid;
	if (pid > 0 && g) {
		r = cached_facts(d, g, pid, &view, &e);
		kf = &view; /* borrowed from the caches: not cleared here */
	} else if (pid > 0) {
		r = lb_procfacts_read(pid, &k, &e);
		if (!r)
			lb_metric_inc(LB_M_POSTURE_CHECKS, "parsed");
		kf = &k;
	}
	if (r) {
		memset(rep, 0, sizeof(*rep));
		snprintf(line, cap,
			 "lockbox: binding %s refused container: kernel facts unreadable: %s",
			 bd->name, e.msg);
		lb_inspect_facts_clear(&own);
		lb_kernel_facts_clear(&k);
		return false;
	}
	/* A mount's re-check (before every refresh pass) wants the verdict alone; the report,
	 * with every check's evidence, is made when something is refused, from the same facts
	 * (lb_posture_verdict decides exactly as lb_posture_evaluate). */
	failed = g ? judge(d, g, bd, &in, kf) : ~UINT32_C(0);
	if (failed) {
		failed = lb_posture_evaluate(bd->require, &in, kf, lb_broker_hashes(d->b), rep);
		if (failed)
			lb_posture_refusal_line(rep, bd->name, line, cap);
	}
	lb_inspect_facts_clear(&own);
	lb_kernel_facts_clear(&k);
	return failed == 0;
}

/* Evaluates the binding's requirements for a container: from inspect alone (pid 0, before
 * it runs) or from inspect and the kernel. Returns true when admitted; line gets the
 * refusal line and rep the whole report. */
bool dk_gate(struct lb_docker *d, json_t *inspect, const lb_binding *bd, int pid, int64_t uid,
	     lb_posture_report *rep, char *line, size_t cap)
{
	return gate(d, NULL, inspect, bd, pid, uid, rep, line, cap);
}

bool dk_gate_mount(struct lb_docker *d, struct mount *m, json_t *inspect, const lb_binding *bd,
		   int pid, int64_t uid, lb_posture_report *rep, char *line, size_t cap)
{
	return gate(d, m, inspect, bd, pid, uid, rep, line, cap);
}

static void on_stopped(void *ctx, long status, json_t *body, const char *err)
{
	char *id = ctx;

	(void)body;
	if (status != 204 && status != 304)
		lb_log(LB_WARN, "docker: stopping refused container %.12s failed: %s", id,
		       status ? "unexpected status" : err);
	free(id);
}

void dk_count_refusal(const lb_posture_report *rep)
{
	for (unsigned c = 0; c < LB_CHECK_COUNT; c++)
		if (rep->failed & LB_CHECK_BIT(c))
			lb_metric_inc(LB_M_POSTURE_REFUSALS, lb_check_name((enum lb_check)c));
}

/* One audit event with every reason; on_refuse stop (default) stops the container. */
void dk_refuse(struct lb_docker *d, const char *volume, const char *id, const lb_binding *bd,
	       const lb_posture_report *rep, const char *line)
{
	char path[160];
	char *cid;

	lb_log(LB_ERROR, "%s (container %.12s, volume %s)", line, id, volume);
	dk_count_refusal(rep);
	lb_audit("refused", json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "container", id, "volume",
				      volume, "binding", bd->name, "reason", line, "on_refuse",
				      bd->on_refuse_warn ? "warn" : "stop", "report",
				      lb_posture_report_json(rep)));
	if (bd->on_refuse_warn || !dk_id_ok(id) || !(cid = strdup(id)))
		return;
	snprintf(path, sizeof(path), "containers/%s/stop?t=10", id);
	if (lb_engine_call(d->en, "POST", path, on_stopped, cid) < 0)
		free(cid);
}

void dk_on_doom(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct lb_docker *d = ctx;
	size_t i;
	json_t *n;

	(void)loop;
	(void)t;
	json_array_foreach (d->doomed, i, n) {
		struct mount *m = dk_find_mount(d, json_string_value(n));
		if (m)
			dk_retire(d, m, "refused");
	}
	json_array_clear(d->doomed);
	dk_save_volumes(d);
}

bool lb_docker_admit(struct lb_docker *d, lb_target *t)
{
	struct mount *m = d ? dk_find_mount(d, t->name) : NULL;
	const lb_binding *bd = m ? lb_config_binding(lb_broker_cfg(d->b), m->v->binding) : NULL;
	lb_posture_report rep;
	char line[700];

	if (!m || !bd || !m->inspect)
		return true;
	if (dk_gate_mount(d, m, m->inspect, bd, t->pid, t->uid, &rep, line, sizeof(line)))
		return true;
	dk_refuse(d, m->v->name, m->container[0] ? m->container : "(not started)", bd, &rep, line);
	if (bd->on_refuse_warn)
		return true;
	/* We are inside a refresh pass that holds t: retire it on the next tick. */
	json_array_append_new(d->doomed, json_string(m->target));
	lb_timer_arm(d->doom_timer, 1);
	return false;
}
