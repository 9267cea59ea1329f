/* Metrics: a small registry of counters, gauges and histograms, rendered in the Prometheus
 * text exposition format (version 0.0.4) for /metrics.
 *
 * - Every family is declared once, in the table in metrics.c (name, help, kind, label
 *   names), under an id of enum lb_metric_id: call sites say which family and give the
 *   label values, one line each:
 *       lb_metric_inc(LB_M_ROTATIONS, binding, "ok");
 *       lb_metric_observe(LB_M_PUBLISH_SECONDS, seconds, binding);
 *   The label values must come from small fixed sets: store, binding and static target
 *   names (the configuration's), outcome words, check names. Never a secret, never an
 *   unbounded value (a path, a container id: container ids only behind the off-by-default
 *   "metrics.container_ids" option). A family holds at most LB_METRICS_SERIES_MAX series;
 *   what would pass that is dropped and counted in lockbox_metrics_series_dropped_total.
 * - Histograms share one set of fixed buckets, in seconds (LB_METRICS_BUCKETS).
 * - Gauges that describe the present (generation age, RSS, backoff) are set at scrape time
 *   by hooks (lb_metrics_on_scrape), after lb_metric_clear() dropped the old series, so a
 *   target that is gone has no series left.
 *
 * Processes. Each process has its own registry (lb_metrics_proc(); the call sites write
 * there). A process that relays its counters to another one (the privilege-separated
 * worker, issue 15) sends lb_metrics_snapshot() of its registry — a JSON object of
 * absolute values, no secret in it — and the receiving side keeps it in a registry of its
 * own: lb_metrics_import() into an lb_metrics_new() registry, replacing the previous
 * snapshot of that process (absolute values, so a lost or repeated message does no harm).
 * lb_metrics_render() takes several registries and writes each family once: series with
 * the same labels in several registries are added up (a counter of a restarted worker
 * starts again from 0, which Prometheus's rate() and increase() treat as a reset).
 * lb_metrics_import() treats its input as hostile: unknown families, wrong label counts,
 * overlong values, non-finite numbers are skipped, and the series cap applies. */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "err.h"

#define LB_METRICS_LABELS_MAX	 4
#define LB_METRICS_SERIES_MAX	 1024 /* per family and registry */
#define LB_METRICS_LABEL_LEN_MAX 128  /* bytes of one label value (longer ones are cut) */
#define LB_METRICS_NBUCKETS	 12
/* The upper bounds of the histogram buckets, in seconds (+Inf is implied). */
#define LB_METRICS_BUCKETS                                                                         \
	{                                                                                          \
		0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30                        \
	}

enum lb_metric_kind { LB_METRIC_COUNTER, LB_METRIC_GAUGE, LB_METRIC_HISTOGRAM };

/* Every family lockbox exports; the order is the order of /metrics. */
enum lb_metric_id {
	LB_M_BUILD_INFO,	      /* gauge {version} = 1 */
	LB_M_START_TIME,	      /* process_start_time_seconds */
	LB_M_RSS,		      /* process_resident_memory_bytes */
	LB_M_OPEN_FDS,		      /* process_open_fds */
	LB_M_STORE_REQUESTS,	      /* {store,type,request,outcome} */
	LB_M_STORE_REQUEST_SECONDS,   /* histogram {store,type,request} */
	LB_M_STORE_COALESCED,	      /* {store}: reads that joined one under way */
	LB_M_STORE_UP,		      /* gauge {store,type}: 1 healthy, 0 degraded/failing */
	LB_M_STORE_BACKOFF_SECONDS,   /* gauge {store}: wait left before the next try */
	LB_M_LEASE_RENEWALS,	      /* {store,outcome} */
	LB_M_LEASE_REVOCATIONS,	      /* {store,outcome} */
	LB_M_LEASES_LOST,	      /* {store} */
	LB_M_TOKEN_RENEWALS,	      /* {store,outcome} */
	LB_M_LOGINS,		      /* {store,outcome} */
	LB_M_ROTATIONS,		      /* {binding,outcome} */
	LB_M_PUBLISH_SECONDS,	      /* histogram {binding} */
	LB_M_GENERATION_AGE_SECONDS,  /* gauge {binding,target} */
	LB_M_SECRET_EXPIRY_TIMESTAMP, /* gauge {binding,target}: earliest not_after */
	LB_M_NOTIFY_SIGNALS,	      /* {binding,outcome} */
	LB_M_POSTURE_REFUSALS,	      /* {check} */
	LB_M_POSTURE_CHECKS,	      /* {result}: cached | parsed */
	LB_M_TARGETS,		      /* gauge {kind}: static | docker */
	LB_M_CONTAINERS,	      /* gauge: containers served */
	LB_M_WORKER_RESTARTS,	      /* counter (privilege separation, issue 15) */
	LB_M_SERIES_DROPPED,	      /* {family}: series over LB_METRICS_SERIES_MAX */
	LB_M_COUNT
};

typedef struct lb_metric_desc {
	const char *name;
	const char *help;
	enum lb_metric_kind kind;
	const char *labels[LB_METRICS_LABELS_MAX + 1]; /* NULL-terminated */
} lb_metric_desc;

const lb_metric_desc *lb_metric_desc_of(enum lb_metric_id id);

typedef struct lb_metrics lb_metrics;

lb_metrics *lb_metrics_new(void);
void lb_metrics_free(lb_metrics *m);
/* This process's registry (made on first use; never NULL unless out of memory, and then
 * every call below does nothing). */
lb_metrics *lb_metrics_proc(void);
/* Frees this process's registry (at exit, so that LSan sees nothing left). */
void lb_metrics_proc_free(void);

/* labels: the family's label values in order, NULL-terminated (use the macros). A wrong
 * count is a programming error: the call does nothing (and logs it once). */
void lb_metrics_add(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels);
void lb_metrics_set(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels);
/* Gauges that aggregate several things into one series: keeps the larger (smaller) of the
 * series' value and v; a new series starts at v. */
void lb_metrics_gauge_max(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels);
void lb_metrics_gauge_min(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels);
/* A histogram observation (v in seconds). */
void lb_metrics_observe(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels);
/* Drops every series of a family (a scrape hook, before it sets the gauges anew). */
void lb_metrics_clear(lb_metrics *m, enum lb_metric_id id);
/* Drops every series of every family (before lb_metrics_import of a new snapshot). */
void lb_metrics_reset(lb_metrics *m);

/* CLOCK_MONOTONIC in seconds, for latencies (finer than lb_now_ms). */
double lb_metrics_now(void);

/* One-line call sites on this process's registry. */
#define LB_MLABELS(...)	       ((const char *const[]){__VA_ARGS__, NULL})
#define lb_metric_inc(id, ...) lb_metrics_add(lb_metrics_proc(), (id), 1.0, LB_MLABELS(__VA_ARGS__))
#define lb_metric_add(id, v, ...)                                                                  \
	lb_metrics_add(lb_metrics_proc(), (id), (v), LB_MLABELS(__VA_ARGS__))
#define lb_metric_set(id, v, ...)                                                                  \
	lb_metrics_set(lb_metrics_proc(), (id), (v), LB_MLABELS(__VA_ARGS__))
#define lb_metric_observe(id, v, ...)                                                              \
	lb_metrics_observe(lb_metrics_proc(), (id), (v), LB_MLABELS(__VA_ARGS__))
/* A family without labels: lb_metric_inc0(id), lb_metric_set0(id, v). */
#define lb_metric_inc0(id)    lb_metrics_add(lb_metrics_proc(), (id), 1.0, LB_MLABELS(NULL))
#define lb_metric_set0(id, v) lb_metrics_set(lb_metrics_proc(), (id), (v), LB_MLABELS(NULL))

/* Called before every render of this process's registry (in the order registered) to set
 * the gauges of the present. At most 16 hooks; the same (fn, ctx) is registered once. */
typedef void (*lb_metrics_hook)(lb_metrics *m, void *ctx);
int lb_metrics_on_scrape(lb_metrics_hook fn, void *ctx);
void lb_metrics_off_scrape(lb_metrics_hook fn, const void *ctx);
/* Runs the hooks (lb_metrics_render does not: the server calls this first). */
void lb_metrics_run_hooks(lb_metrics *m);

/* The text exposition of n registries merged (see above). Returns a malloc'd string,
 * *len its length; NULL when out of memory. */
char *lb_metrics_render(lb_metrics *const *regs, size_t n, size_t *len);

/* Registries of other processes (kept up to date with lb_metrics_import) that /metrics
 * serves with this process's: at most 8; the caller keeps ownership and detaches before
 * freeing. */
int lb_metrics_relay_attach(lb_metrics *relay);
void lb_metrics_relay_detach(const lb_metrics *relay);
/* What /metrics serves: runs the scrape hooks, then renders this process's registry merged
 * with the attached ones. */
char *lb_metrics_render_proc(size_t *len);

/* A JSON snapshot of m (absolute values), for relaying to another process:
 * {"v":1,"families":{"NAME":[{"l":["a","b"],"v":1.0} | {"l":[...],"b":[counts...],
 * "s":sum,"c":count}]}} */
json_t *lb_metrics_snapshot(const lb_metrics *m);
/* Adds a snapshot's series to m (normally an empty or lb_metrics_reset registry). Returns
 * the number of series skipped as malformed; -1 with e when snap is not a snapshot. */
int lb_metrics_import(lb_metrics *m, const json_t *snap, lb_err *e);

#endif
