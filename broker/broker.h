/* lockboxd's state: config, stores, targets, the refresh pipeline and control commands. */
#ifndef LB_BROKER_H
#define LB_BROKER_H

#include <stdbool.h>
#include "config.h"
#include "control.h"
#include "loop.h"
#include "store.h"
#include "target.h"

typedef struct lb_broker lb_broker;

/* Takes ownership of cfg. Mounts/reuses targets, opens stores, starts the control socket. */
lb_broker *lb_broker_new(lb_loop *loop, lb_config *cfg, const char *config_path, lb_err *e);
void lb_broker_free(lb_broker *b);
/* Re-read the config file; on error the old config keeps running and errors are logged. */
int lb_broker_reload(lb_broker *b, lb_diag *d);
/* Refresh every target now (SIGUSR1). */
void lb_broker_refresh_all(lb_broker *b, const char *reason);
/* Persist state before exit; the tmpfs of live targets stay mounted. */
void lb_broker_shutdown(lb_broker *b);

/* For the Docker module: dynamic targets, keyed by volume name. */
struct lb_docker;
lb_target *lb_broker_target(lb_broker *b, const char *name);
lb_target *lb_broker_add_dynamic(lb_broker *b, const char *name, const char *binding, lb_err *e);
void lb_broker_drop_dynamic(lb_broker *b, const char *name, const char *reason);
void lb_broker_refresh_target(lb_broker *b, const char *name, const char *reason);
const lb_config *lb_broker_cfg(lb_broker *b);
/* The open store of that name, NULL if there is none (Swarm secrets fetch through it). */
lb_store *lb_broker_store(lb_broker *b, const char *name);
int lb_broker_run_dirfd(lb_broker *b);
int lb_broker_state_dirfd(lb_broker *b);
lb_http *lb_broker_http(lb_broker *b);
lb_loop *lb_broker_loop(lb_broker *b);
struct lb_secret_hashes;
/* Keyed hashes of every secret value delivered (for the no-secret-env check). */
struct lb_secret_hashes *lb_broker_hashes(lb_broker *b);

#endif
