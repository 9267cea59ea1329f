/* Privilege separation (issue 15): lockboxd's network worker and, on the root side, the
 * proxy store that hands every network store's work to it.
 *
 * Root forks and re-executes itself as the worker (`lockboxd --network-worker`), which runs
 * every network store (HTTP, TLS, JSON, credentials) unprivileged and seccomp-confined and
 * answers the fixed table of requests in wire.h. The rest of the broker sees proxies behind
 * the store vtable (store.h) and does not know. See docs/design.md, "Privilege separation". */
#ifndef LB_WORKER_H
#define LB_WORKER_H

#include <stdbool.h>
#include <jansson.h>

#include "err.h"
#include "loop.h"
#include "store.h"

typedef struct lb_worker lb_worker;

/* --- root side (lifecycle.c, proxy.c) --- */

/* lockboxd calls this once at start: later brokers run their network stores in a worker
 * (re-executing this binary); without it (tests linking the broker) stores run in-process. */
int lb_worker_enable(lb_err *e);
bool lb_worker_enabled(void);
/* Is this store type run by the worker? (every network store; not sealed) */
bool lb_worker_runs(const char *type);
/* Start the worker: its state directory (state_dir/worker, owned by its uid) and process. */
lb_worker *lb_worker_start(lb_loop *loop, int state_dirfd, lb_err *e);
/* Stops the worker (closing its channel; SIGKILL after a short grace). */
void lb_worker_free(lb_worker *w);
/* A proxy for the store cfg names, opened in the worker (asynchronously: a store that fails
 * to open there answers every fetch with why, and its health says "failed"). */
lb_store *lb_worker_store_open(lb_worker *w, const lb_store_cfg *cfg, const lb_store_env *env,
			       lb_err *e);
/* {"pid":..., "uid":..., "restarts":..., "state":...} for status. */
json_t *lb_worker_status(const lb_worker *w);

/* --- the worker process (worker.c) --- */

/* main() of `lockboxd --network-worker`: the channel is fd 3, its state directory fd 4. */
int lb_worker_main(int argc, char **argv);

#endif
