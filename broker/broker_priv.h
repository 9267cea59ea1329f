/* Inside the broker: the state that broker.c (lifecycle, dynamic targets), reload.c (config,
 * stores, static targets) and commands.c (control socket, read only) share. Other modules
 * use broker.h. */
#ifndef LB_BROKER_PRIV_H
#define LB_BROKER_PRIV_H

#include <time.h>
#include "broker.h"
#include "refresh.h"
#include "secret_hash.h"

struct lb_broker {
	lb_loop *loop;
	lb_config *cfg;
	char *config_path;
	int run_dirfd, state_dirfd, tdirfd;
	lb_store **stores; /* parallel to cfg->stores */
	lb_target **targets;
	size_t ntargets;
	lb_target **tindex; /* name -> target (broker.c), tindex_cap slots */
	size_t tindex_cap;
	lb_timer **binding_timers; /* parallel to cfg->bindings */
	lb_timer *gc_timer;
	lb_control *ctl;
	struct lb_metrics_http *metrics; /* /metrics (metrics_broker.c) */
	lb_http *http;
	struct lb_worker *worker; /* runs the network stores (broker/worker); NULL: in-process */
	struct lb_docker *docker;
	lb_secret_hashes *hashes;
	lb_refresh *refresh;
	time_t started;
};

/* broker.c */
const lb_binding *broker_binding_of(lb_broker *b, const char *target);
void broker_reindex(lb_broker *b);
void broker_save_state(lb_broker *b);

/* reload.c */
/* Stores for cfg. A store whose configuration did not change is carried over from old
 * (same session, token and leases); old[i] is then set to NULL so that it is not closed. */
lb_store **broker_open_stores(lb_broker *b, lb_config *cfg, lb_store **old, size_t nold, lb_err *e);
void broker_close_stores(lb_store **s, size_t n);
/* Every store drops what it holds for the target (leases are revoked). */
void broker_release_target(lb_broker *b, const char *name);
/* Mount the targets of cfg (reusing live ones), unmount those that cfg no longer has. */
int broker_sync_targets(lb_broker *b, lb_config *cfg, lb_err *e);
/* Entries of RUN_DIR/t that no configured target claims are left by an earlier config. */
void broker_remove_stale(lb_broker *b);
int broker_start_binding_timers(lb_broker *b);
void broker_stop_binding_timers(lb_broker *b);

/* metrics_broker.c: /metrics served, the gauges of the present set at each scrape. */
int broker_metrics_start(lb_broker *b, lb_err *e);
/* When the target's current generation was switched in (the ..data link's time); false
 * when it has none. */
bool broker_generation_time(const lb_target *t, struct timespec *ts);
void broker_metrics_stop(lb_broker *b);

/* commands.c: the control socket's handler (lb_control_handler, ctx is the broker). */
json_t *broker_handle_command(void *ctx, json_t *req, uint64_t id);

#endif
