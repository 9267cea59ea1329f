/* Docker integration: volume plugin + Engine API events -> per-container dynamic targets. */
#ifndef LB_DOCKER_H
#define LB_DOCKER_H

#include <stdbool.h>
#include "broker.h"

struct lb_docker;

/* Loads state_dir/docker-volumes.json, serves the plugin socket, follows dockerd's events. */
struct lb_docker *lb_docker_new(lb_broker *b, lb_err *e);
void lb_docker_free(struct lb_docker *d);
/* Is name ("@KEY") a mount of a lockbox volume (so RUN_DIR/t/name is not stale)? NULL-safe. */
bool lb_docker_claims(struct lb_docker *d, const char *name);
/* The posture gate before a rotation: false refuses (the target is retired right after the
 * refresh pass and the binding's on_refuse applied). NULL-safe. */
bool lb_docker_admit(struct lb_docker *d, lb_target *t);
/* A dynamic target got a new generation: notify its container of a rotation (only when
 * new_bytes: secret bytes changed, not just a lease's expiry). NULL-safe. */
void lb_docker_published(struct lb_docker *d, lb_target *t, bool new_bytes);

/* `lockboxctl targets`: volume, container id and name of a Docker target. NULL-safe. */
void lb_docker_describe(struct lb_docker *d, const lb_target *t, json_t *o);
/* The targets of the container named ref (its name, or its id or an id prefix of at least
 * 4 digits), for `lockboxctl rotate`. Always an array; NULL-safe. */
json_t *lb_docker_targets_of(struct lb_docker *d, const char *ref);

/* `lockboxctl status`: {"driver","plugin_socket","socket","connected","api_version",
 * "server_version"} (new reference). */
json_t *lb_docker_status(struct lb_docker *d);

struct lb_control;
/* `lockboxctl audit`: the posture report of each container (all running ones when
 * containers is NULL or empty), answered later through lb_control_reply(ctl, id). */
void lb_docker_audit(struct lb_docker *d, json_t *containers, struct lb_control *ctl, uint64_t id);

#endif
