/* Swarm secrets from lockbox: the `secretprovider` side of the plugin socket
 * (POST /SecretProvider.GetSecret). A secret made with
 *   docker secret create --driver lockbox --label lockbox.source=vault:secret/web#password NAME
 * (or --label lockbox.binding=web --label lockbox.secret=db_password) gets its value from the
 * store when the swarm leader assigns a task that uses it. Only sources that a binding of the
 * configuration lists may be named; the binding's posture requirements are checked against the
 * task's container spec. See docs/swarm.md.
 *
 * The parser and the decision are pure (fuzz_secretprov, unit_secretprov); the rest is on the
 * loop: the task spec from dockerd, the fetch from the store, the suspended reply. */
#ifndef LB_SECRETPROV_H
#define LB_SECRETPROV_H

#include <stdint.h>
#include <jansson.h>
#include "config.h"
#include "err.h"
#include "plugin.h"
#include "uri.h"

#define LB_SP_ID_MAX	    64	/* swarm object ids: 25 lowercase letters and digits today */
#define LB_SP_TEXT_MAX	    255 /* names as dockerd sends them (Swarm's own limit is 64) */
#define LB_SP_LABEL_SOURCE  "lockbox.source"
#define LB_SP_LABEL_BINDING "lockbox.binding"
#define LB_SP_LABEL_SECRET  "lockbox.secret"

/* What one GetSecret request says (swarmkit's SecretsProviderRequest): every text printable
 * ASCII and NUL-terminated within its buffer. */
typedef struct lb_sp_request {
	char secret_name[LB_SP_TEXT_MAX + 1]; /* SecretName, required */
	char service_name[LB_SP_TEXT_MAX + 1];
	char task_name[LB_SP_TEXT_MAX + 1];
	char service_id[LB_SP_ID_MAX + 1];
	char task_id[LB_SP_ID_MAX + 1]; /* required: each task's value is its own store target */
	char node_id[LB_SP_ID_MAX + 1];
	/* The secret's lockbox.* labels; "" when absent. */
	char source[1024];
	char binding[LB_NAME_MAX + 1];
	char secret[LB_NAME_MAX + 1];
} lb_sp_request;

/* Parse a request body (an object). Unknown fields are dockerd's and ignored; a known field
 * of the wrong type or shape, an unknown lockbox.* label, or labels that name no secret are
 * errors that name the field. */
int lb_sp_parse(const json_t *req, lb_sp_request *out, lb_err *e);

typedef struct lb_sp_decision {
	lb_source src;		       /* what to fetch: the configured secret's source */
	char uri[1024];		       /* that source as configured, for messages */
	char binding[LB_NAME_MAX + 1]; /* the (first) binding that lists it */
	char secret[LB_NAME_MAX + 1];  /* its secret name in that binding */
	uint32_t require; /* the posture checks of every binding that lists the source */
	unsigned nbindings;
} lb_sp_decision;

/* Which configured secret the request names, if the configuration lets it: lockbox.binding +
 * lockbox.secret name one; lockbox.source must be the source of a secret that a binding lists
 * (of lockbox.binding's only, when that label is given too). Rendered secrets (templates) are
 * not served. e says why not, naming the Swarm secret and the source. */
int lb_sp_decide(const lb_config *cfg, const lb_sp_request *rq, lb_sp_decision *d, lb_err *e);

/* The container spec of a task (GET /tasks/ID: Spec.ContainerSpec and Spec.Resources) as a
 * container inspect document that lb_inspect_facts_from_json takes: what the posture gate can
 * judge before the container exists. NULL when the task has no container spec. New reference. */
json_t *lb_sp_task_inspect(const json_t *task);

/* ---- on the loop (secretprov.c), inside the Docker module ---- */

struct lb_docker;
struct dk_secretprov;

struct dk_secretprov *dk_sp_new(struct lb_docker *d);
/* Answers every request under way ("stopping"); free the engine first (its calls are
 * cancelled then) and the plugin after. NULL-safe. */
void dk_sp_free(struct dk_secretprov *sp);
/* The GetSecret handler: always answers through lb_plugin_answer(r) (now or later). */
json_t *dk_sp_get(struct dk_secretprov *sp, json_t *req, lb_plugin_req *r);

/* secretprov_leases.c: the tasks that hold a lease (target "swarm-TASKID" of a store), kept
 * in state_dir and released once the swarm lists the task no more or in a final state. */
struct dk_sp_leases;
struct dk_sp_leases *dk_sp_leases_new(struct lb_docker *d);
void dk_sp_leases_free(struct dk_sp_leases *l); /* NULL-safe; the engine goes first */
void dk_sp_leases_add(struct dk_sp_leases *l, const char *task, const char *store);

#endif
