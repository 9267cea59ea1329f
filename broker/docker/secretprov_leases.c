/* Leases handed to Swarm tasks (secretprov.h): swarm never tells a secret driver that a task
 * ended, so every SP_REAP_MS lockboxd lists the swarm's tasks (GET /tasks, one call) and
 * releases the store target "swarm-TASKID" (the lease is revoked) of each task that is gone or
 * in a final state. Kept in state_dir/swarm-leases.json ({"TASKID": ["STORE", ...]}), so that a
 * restarted broker still revokes them. Any error keeps every lease: a lease lapses at its max
 * TTL at the latest. */
#include "docker_int.h"
#include "secretprov.h"
#include "cleanup.h"
#include "engine.h"
#include "fsutil.h"
#include "log.h"
#include "secmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP_LEASES_FILE "swarm-leases.json"
#define SP_LEASES_MAX  10000
#define SP_REAP_MS     15000

struct dk_sp_leases {
	struct lb_docker *d;
	json_t *tasks; /* TASKID -> [store name, ...] */
	lb_timer *timer;
	bool listing; /* a GET /tasks is under way */
};

static void save(struct dk_sp_leases *l)
{
	char *text = json_dumps(l->tasks, JSON_COMPACT | JSON_SORT_KEYS);
	lb_err e = {0};

	if (!text)
		return;
	if (lb_write_replace_at(lb_broker_state_dirfd(l->d->b), SP_LEASES_FILE, text, strlen(text),
				0600, &e))
		lb_log(LB_ERROR, "docker: cannot save %s: %s", SP_LEASES_FILE, e.msg);
	lb_json_free(text);
}

static bool final_state(const char *s)
{
	static const char *const states[] = {"complete", "failed", "shutdown", "rejected",
					     "orphaned", "remove", NULL};

	for (const char *const *p = states; s && *p; p++)
		if (strcmp(s, *p) == 0)
			return true;
	return false;
}

static void on_tasks(void *ctx, long status, json_t *body, const char *err)
{
	struct dk_sp_leases *l = ctx;
	_cleanup_json_ json_t *live = json_object(); /* TASKID -> its Status.State */
	_cleanup_json_ json_t *gone = json_array();  /* [TASKID, state] */
	json_t *t, *stores;
	const char *id;
	size_t i, n = 0;

	l->listing = false;
	lb_timer_arm(l->timer, SP_REAP_MS);
	if (status != 200 || !json_is_array(body) || !live || !gone) {
		lb_log(LB_DEBUG, "docker: listing swarm tasks for their leases: %s",
		       status ? "unexpected status" : err);
		return;
	}
	json_array_foreach (body, i, t) {
		const char *tid = json_string_value(json_object_get(t, "ID"));
		const char *st =
		    json_string_value(json_object_get(json_object_get(t, "Status"), "State"));
		if (tid)
			json_object_set_new(live, tid, json_string(st ? st : ""));
	}
	json_object_foreach (l->tasks, id, stores) {
		json_t *st = json_object_get(live, id);
		if (!st || final_state(json_string_value(st)))
			json_array_append_new(
			    gone, json_pack("[s,s]", id, st ? json_string_value(st) : "gone"));
	}
	json_array_foreach (gone, i, t) {
		const char *tid = json_string_value(json_array_get(t, 0));
		char target[LB_NAME_MAX + 1];
		json_t *name;
		size_t k;
		snprintf(target, sizeof(target), "swarm-%s", tid);
		json_array_foreach (json_object_get(l->tasks, tid), k, name) {
			lb_store *s = lb_broker_store(l->d->b, json_string_value(name));
			if (s)
				lb_store_release(s, target);
		}
		lb_log(LB_INFO, "docker: swarm task %s is %s: its leases released", tid,
		       json_string_value(json_array_get(t, 1)));
		json_object_del(l->tasks, tid);
		n++;
	}
	if (n)
		save(l);
	if (!json_object_size(l->tasks))
		lb_timer_disarm(l->timer);
}

static void on_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct dk_sp_leases *l = ctx;

	(void)loop;
	(void)t;
	if (l->listing || !json_object_size(l->tasks))
		return;
	if (lb_engine_call(l->d->en, "GET", "tasks", on_tasks, l) < 0) {
		lb_timer_arm(l->timer, SP_REAP_MS);
		return;
	}
	l->listing = true;
}

struct dk_sp_leases *dk_sp_leases_new(struct lb_docker *d)
{
	struct dk_sp_leases *l = calloc(1, sizeof(*l));
	_cleanup_free_ char *text = NULL;
	json_t *root = NULL, *v;
	const char *id;
	lb_err e = {0};

	if (!l)
		return NULL;
	l->d = d;
	l->timer = lb_timer_new(lb_broker_loop(d->b), on_timer, l);
	l->tasks = json_object();
	if (!l->timer || !l->tasks) {
		dk_sp_leases_free(l);
		return NULL;
	}
	if (lb_read_at(lb_broker_state_dirfd(d->b), SP_LEASES_FILE, 4 * 1024 * 1024, &text, NULL,
		       &e) == 0)
		root = json_loads(text, 0, NULL);
	json_object_foreach (root, id, v) {
		if (json_object_size(l->tasks) >= SP_LEASES_MAX)
			break;
		if (json_is_array(v) && strlen(id) <= LB_SP_ID_MAX && lb_secret_name_valid(id))
			json_object_set(l->tasks, id, v);
	}
	json_decref(root);
	if (json_object_size(l->tasks))
		lb_timer_arm(l->timer, SP_REAP_MS);
	return l;
}

void dk_sp_leases_free(struct dk_sp_leases *l)
{
	if (!l)
		return;
	lb_timer_free(l->timer);
	json_decref(l->tasks);
	free(l);
}

void dk_sp_leases_add(struct dk_sp_leases *l, const char *task, const char *store)
{
	json_t *stores = l ? json_object_get(l->tasks, task) : NULL, *x;
	size_t i;

	if (!l)
		return;
	json_array_foreach (stores, i, x)
		if (strcmp(json_string_value(x), store) == 0)
			return;
	if (stores) {
		json_array_append_new(stores, json_string(store));
		save(l);
		return;
	}
	if (json_object_size(l->tasks) >= SP_LEASES_MAX) {
		lb_log(
		    LB_WARN,
		    "docker: %d swarm tasks hold leases already: task %s's lapses at its max TTL",
		    SP_LEASES_MAX, task);
		return;
	}
	json_object_set_new(l->tasks, task, json_pack("[s]", store));
	save(l);
	if (!lb_timer_armed(l->timer))
		lb_timer_arm(l->timer, SP_REAP_MS);
}
