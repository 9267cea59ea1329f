/* The metrics registry: the families, their updates, the scrape hooks, the relayed registries
 * and snapshots between processes; see metrics.h. The text exposition is metrics_text.c. */
#include "metrics.h"
#include "metrics_priv.h"
#include "log.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOOKS_MAX  16
#define RELAYS_MAX 8

static const lb_metric_desc descs[LB_M_COUNT] = {
    [LB_M_BUILD_INFO] = {"lockbox_build_info",
			 "Always 1; the version of lockboxd in its label.",
			 LB_METRIC_GAUGE,
			 {"version", NULL}},
    [LB_M_START_TIME] = {"process_start_time_seconds",
			 "Start time of the process since the Unix epoch, in seconds.",
			 LB_METRIC_GAUGE,
			 {NULL}},
    [LB_M_RSS] = {"process_resident_memory_bytes",
		  "Resident memory size of the process, in bytes.",
		  LB_METRIC_GAUGE,
		  {NULL}},
    [LB_M_OPEN_FDS] = {"process_open_fds",
		       "Open file descriptors of the process.",
		       LB_METRIC_GAUGE,
		       {NULL}},
    [LB_M_STORE_REQUESTS] = {"lockbox_store_requests_total",
			     "Requests sent to a network store (request: api or auth), by "
			     "outcome (ok, final, fault, refresh).",
			     LB_METRIC_COUNTER,
			     {"store", "type", "request", "outcome", NULL}},
    [LB_M_STORE_REQUEST_SECONDS] = {"lockbox_store_request_duration_seconds",
				    "Time from sending a store request to its reply.",
				    LB_METRIC_HISTOGRAM,
				    {"store", "type", "request", NULL}},
    [LB_M_STORE_COALESCED] = {"lockbox_store_reads_coalesced_total",
			      "Reads that joined a read of the same secret already under way "
			      "(requests saved).",
			      LB_METRIC_COUNTER,
			      {"store", NULL}},
    [LB_M_STORE_UP] = {"lockbox_store_up",
		       "1 when the store is healthy, 0 while it is failing or backing off.",
		       LB_METRIC_GAUGE,
		       {"store", "type", NULL}},
    [LB_M_STORE_BACKOFF_SECONDS] = {"lockbox_store_backoff_seconds",
				    "Seconds left before the store is tried again (0: not backing "
				    "off).",
				    LB_METRIC_GAUGE,
				    {"store", NULL}},
    [LB_M_LEASE_RENEWALS] = {"lockbox_lease_renewals_total",
			     "Lease renewals, by outcome (ok, failed).",
			     LB_METRIC_COUNTER,
			     {"store", "outcome", NULL}},
    [LB_M_LEASE_REVOCATIONS] = {"lockbox_lease_revocations_total",
				"Lease revocations, by outcome (ok, failed).",
				LB_METRIC_COUNTER,
				{"store", "outcome", NULL}},
    [LB_M_LEASES_LOST] = {"lockbox_leases_lost_total",
			  "Leases that could not be kept (expired or refused before a new "
			  "one was had).",
			  LB_METRIC_COUNTER,
			  {"store", NULL}},
    [LB_M_TOKEN_RENEWALS] = {"lockbox_token_renewals_total",
			     "Renewals of the store's own token, by outcome (ok, failed).",
			     LB_METRIC_COUNTER,
			     {"store", "outcome", NULL}},
    [LB_M_LOGINS] = {"lockbox_logins_total",
		     "Logins (new credentials) of a store, by outcome (ok, failed).",
		     LB_METRIC_COUNTER,
		     {"store", "outcome", NULL}},
    [LB_M_ROTATIONS] = {"lockbox_rotations_total",
			"Refreshes of a target, by outcome (published: a new generation, "
			"unchanged, failed).",
			LB_METRIC_COUNTER,
			{"binding", "outcome", NULL}},
    [LB_M_PUBLISH_SECONDS] = {"lockbox_publish_duration_seconds",
			      "Time to write and switch to a new generation of a target.",
			      LB_METRIC_HISTOGRAM,
			      {"binding", NULL}},
    [LB_M_GENERATION_AGE_SECONDS] = {"lockbox_generation_age_seconds",
				     "Age of a target's current generation (Docker targets: the "
				     "oldest of the binding's, target=\"docker\").",
				     LB_METRIC_GAUGE,
				     {"binding", "target", NULL}},
    [LB_M_SECRET_EXPIRY_TIMESTAMP] = {"lockbox_secret_expiry_timestamp_seconds",
				      "Earliest not_after of a target's secrets since the Unix "
				      "epoch (targets with an expiring secret only).",
				      LB_METRIC_GAUGE,
				      {"binding", "target", NULL}},
    [LB_M_NOTIFY_SIGNALS] = {"lockbox_notify_signals_total",
			     "Signals sent to consumers after a new generation, by outcome "
			     "(sent, failed).",
			     LB_METRIC_COUNTER,
			     {"binding", "outcome", NULL}},
    [LB_M_POSTURE_REFUSALS] = {"lockbox_posture_refusals_total",
			       "Containers refused their secrets by a posture check.",
			       LB_METRIC_COUNTER,
			       {"check", NULL}},
    [LB_M_POSTURE_CHECKS] = {"lockbox_posture_checks_total",
			     "Posture checks of a running container, by where its kernel facts "
			     "came from (cached: the same process in the same mount namespace, "
			     "nothing but its status read; parsed: read from /proc).",
			     LB_METRIC_COUNTER,
			     {"result", NULL}},
    [LB_M_TARGETS] = {"lockbox_targets",
		      "Targets served (kind: static or docker).",
		      LB_METRIC_GAUGE,
		      {"kind", NULL}},
    [LB_M_CONTAINERS] = {"lockbox_containers",
			 "Containers with a lockbox volume served.",
			 LB_METRIC_GAUGE,
			 {NULL}},
    [LB_M_WORKER_RESTARTS] = {"lockbox_worker_restarts_total",
			      "Restarts of the network-store worker process.",
			      LB_METRIC_COUNTER,
			      {NULL}},
    [LB_M_SERIES_DROPPED] = {"lockbox_metrics_series_dropped_total",
			     "Updates dropped because a family had too many series.",
			     LB_METRIC_COUNTER,
			     {"family", NULL}},
};

const double lb_metrics_bucket_bounds[LB_METRICS_NBUCKETS] = LB_METRICS_BUCKETS;

static struct {
	lb_metrics_hook fn;
	void *ctx;
} hooks[HOOKS_MAX];
static lb_metrics *proc;
static lb_metrics *relays[RELAYS_MAX];

const lb_metric_desc *lb_metric_desc_of(enum lb_metric_id id)
{
	return (unsigned)id < LB_M_COUNT ? &descs[id] : NULL;
}

size_t lb_metrics_nlabels(enum lb_metric_id id)
{
	size_t n = 0;

	while (n < LB_METRICS_LABELS_MAX && descs[id].labels[n])
		n++;
	return n;
}

double lb_metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

lb_metrics *lb_metrics_new(void)
{
	return calloc(1, sizeof(lb_metrics));
}

static void family_clear(struct family *f)
{
	for (size_t i = 0; i < f->n; i++)
		for (size_t j = 0; j < LB_METRICS_LABELS_MAX; j++)
			free(f->s[i].labels[j]);
	free(f->s);
	memset(f, 0, sizeof(*f));
}

void lb_metrics_free(lb_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < LB_M_COUNT; i++)
		family_clear(&m->f[i]);
	free(m);
}

lb_metrics *lb_metrics_proc(void)
{
	if (!proc)
		proc = lb_metrics_new();
	return proc;
}

void lb_metrics_proc_free(void)
{
	lb_metrics_free(proc);
	proc = NULL;
}

void lb_metrics_clear(lb_metrics *m, enum lb_metric_id id)
{
	if (m && (unsigned)id < LB_M_COUNT)
		family_clear(&m->f[id]);
}

void lb_metrics_reset(lb_metrics *m)
{
	for (size_t i = 0; m && i < LB_M_COUNT; i++)
		family_clear(&m->f[i]);
}

/* The length a label value is stored with: at most LB_METRICS_LABEL_LEN_MAX bytes, cut at
 * a UTF-8 character boundary. */
static size_t label_len(const char *v)
{
	size_t len = strnlen(v, LB_METRICS_LABEL_LEN_MAX + 1);

	if (len > LB_METRICS_LABEL_LEN_MAX) {
		len = LB_METRICS_LABEL_LEN_MAX;
		while (len && ((unsigned char)v[len] & 0xc0) == 0x80)
			len--;
	}
	return len;
}

static bool label_eq(const char *stored, const char *v)
{
	size_t n = label_len(v);

	return strlen(stored) == n && memcmp(stored, v, n) == 0;
}

/* The series with these labels (made when absent). NULL when the family is full (*full set)
 * or out of memory, or when the labels do not fit the family. */
static struct series *series_find(lb_metrics *m, enum lb_metric_id id, const char *const *labels,
				  bool *full)
{
	static bool warned;
	struct family *f;
	size_t nl, given = 0;
	struct series *s;

	if (!m || (unsigned)id >= LB_M_COUNT || !labels)
		return NULL;
	nl = lb_metrics_nlabels(id);
	while (given <= LB_METRICS_LABELS_MAX && labels[given])
		given++;
	if (given != nl) {
		if (!warned)
			lb_log(LB_ERROR, "metric %s: %zu label values for %zu labels",
			       descs[id].name, given, nl);
		warned = true;
		return NULL;
	}
	f = &m->f[id];
	for (size_t i = 0; i < f->n; i++) {
		size_t j = 0;
		while (j < nl && label_eq(f->s[i].labels[j], labels[j]))
			j++;
		if (j == nl)
			return &f->s[i];
	}
	if (f->n >= LB_METRICS_SERIES_MAX) {
		*full = true;
		return NULL;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct series *ns = realloc(f->s, cap * sizeof(*ns));
		if (!ns)
			return NULL;
		f->s = ns;
		f->cap = cap;
	}
	s = &f->s[f->n];
	memset(s, 0, sizeof(*s));
	for (size_t j = 0; j < nl; j++) {
		s->labels[j] = strndup(labels[j], label_len(labels[j]));
		if (!s->labels[j]) {
			for (size_t k = 0; k < j; k++)
				free(s->labels[k]);
			return NULL;
		}
	}
	f->n++;
	return s;
}

/* series_find, counting a full family's dropped update. */
static struct series *series_of(lb_metrics *m, enum lb_metric_id id, const char *const *labels)
{
	bool full = false;
	struct series *s = series_find(m, id, labels, &full);
	struct series *dropped;

	if (full && id != LB_M_SERIES_DROPPED) {
		dropped = series_find(m, LB_M_SERIES_DROPPED, LB_MLABELS(descs[id].name), &full);
		if (dropped)
			dropped->v++;
	}
	return s;
}

/* a + b, kept finite (a relayed snapshot may add up to more than a double holds; a
 * non-finite value would not survive the next snapshot). */
static double finite_sum(double a, double b)
{
	double s = a + b;

	return isfinite(s) ? s : (s > 0 ? DBL_MAX : -DBL_MAX);
}

void lb_metrics_add(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels)
{
	struct series *s;

	if ((unsigned)id >= LB_M_COUNT || descs[id].kind == LB_METRIC_HISTOGRAM || !isfinite(v))
		return;
	if (descs[id].kind == LB_METRIC_COUNTER && v < 0)
		return;
	s = series_of(m, id, labels);
	if (s)
		s->v = finite_sum(s->v, v);
}

void lb_metrics_set(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels)
{
	struct series *s;

	if ((unsigned)id >= LB_M_COUNT || descs[id].kind != LB_METRIC_GAUGE || !isfinite(v))
		return;
	s = series_of(m, id, labels);
	if (s)
		s->v = v;
}

static void gauge_cmp(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels,
		      bool max)
{
	struct series *s;
	size_t before;

	if ((unsigned)id >= LB_M_COUNT || descs[id].kind != LB_METRIC_GAUGE || !m || !isfinite(v))
		return;
	before = m->f[id].n;
	s = series_of(m, id, labels);
	if (s && (m->f[id].n != before || (max ? v > s->v : v < s->v)))
		s->v = v;
}

void lb_metrics_gauge_max(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels)
{
	gauge_cmp(m, id, v, labels, true);
}

void lb_metrics_gauge_min(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels)
{
	gauge_cmp(m, id, v, labels, false);
}

void lb_metrics_observe(lb_metrics *m, enum lb_metric_id id, double v, const char *const *labels)
{
	struct series *s;

	if ((unsigned)id >= LB_M_COUNT || descs[id].kind != LB_METRIC_HISTOGRAM || !isfinite(v))
		return;
	if (v < 0)
		v = 0;
	s = series_of(m, id, labels);
	if (!s)
		return;
	s->v = finite_sum(s->v, v);
	s->count++;
	for (size_t i = 0; i < LB_METRICS_NBUCKETS; i++)
		if (v <= lb_metrics_bucket_bounds[i]) {
			s->bucket[i]++;
			break;
		}
}

int lb_metrics_on_scrape(lb_metrics_hook fn, void *ctx)
{
	for (size_t i = 0; i < HOOKS_MAX; i++)
		if (hooks[i].fn == fn && hooks[i].ctx == ctx)
			return 0;
	for (size_t i = 0; i < HOOKS_MAX; i++)
		if (!hooks[i].fn) {
			hooks[i].fn = fn;
			hooks[i].ctx = ctx;
			return 0;
		}
	return -1;
}

void lb_metrics_off_scrape(lb_metrics_hook fn, const void *ctx)
{
	for (size_t i = 0; i < HOOKS_MAX; i++)
		if (hooks[i].fn == fn && hooks[i].ctx == ctx)
			hooks[i].fn = NULL;
}

void lb_metrics_run_hooks(lb_metrics *m)
{
	for (size_t i = 0; m && i < HOOKS_MAX; i++)
		if (hooks[i].fn)
			hooks[i].fn(m, hooks[i].ctx);
}

/* --- relaying between processes --- */

int lb_metrics_relay_attach(lb_metrics *relay)
{
	for (size_t i = 0; i < RELAYS_MAX; i++)
		if (relays[i] == relay)
			return 0;
	for (size_t i = 0; i < RELAYS_MAX; i++)
		if (!relays[i]) {
			relays[i] = relay;
			return 0;
		}
	return -1;
}

void lb_metrics_relay_detach(const lb_metrics *relay)
{
	for (size_t i = 0; i < RELAYS_MAX; i++)
		if (relays[i] == relay)
			relays[i] = NULL;
}

char *lb_metrics_render_proc(size_t *len)
{
	lb_metrics *regs[RELAYS_MAX + 1];
	size_t n = 0;

	regs[n++] = lb_metrics_proc();
	lb_metrics_run_hooks(regs[0]);
	for (size_t i = 0; i < RELAYS_MAX; i++)
		if (relays[i])
			regs[n++] = relays[i];
	return lb_metrics_render(regs, n, len);
}

json_t *lb_metrics_snapshot(const lb_metrics *m)
{
	json_t *fams = json_object();

	for (size_t id = 0; m && id < LB_M_COUNT; id++) {
		const struct family *f = &m->f[id];
		size_t nl = lb_metrics_nlabels((enum lb_metric_id)id);
		json_t *arr;

		if (!f->n)
			continue;
		arr = json_array();
		for (size_t i = 0; i < f->n; i++) {
			json_t *l = json_array(), *o;
			for (size_t j = 0; j < nl; j++)
				json_array_append_new(l, json_string(f->s[i].labels[j]));
			if (descs[id].kind == LB_METRIC_HISTOGRAM) {
				json_t *b = json_array();
				for (size_t k = 0; k < LB_METRICS_NBUCKETS; k++)
					json_array_append_new(
					    b, json_integer((json_int_t)f->s[i].bucket[k]));
				o = json_pack("{s:o,s:o,s:f,s:I}", "l", l, "b", b, "s", f->s[i].v,
					      "c", (json_int_t)f->s[i].count);
			} else {
				o = json_pack("{s:o,s:f}", "l", l, "v", f->s[i].v);
			}
			json_array_append_new(arr, o);
		}
		json_object_set_new(fams, descs[id].name, arr);
	}
	return json_pack("{s:i,s:o}", "v", 1, "families", fams);
}

static bool number_of(const json_t *j, double *out)
{
	if (!json_is_number(j))
		return false;
	*out = json_number_value(j);
	return isfinite(*out);
}

/* One series of a snapshot; false when malformed. */
static bool import_series(lb_metrics *m, enum lb_metric_id id, const json_t *o)
{
	const json_t *l = json_object_get(o, "l");
	const char *labels[LB_METRICS_LABELS_MAX + 1] = {NULL};
	size_t nl = lb_metrics_nlabels(id);
	struct series *s;
	double v;

	if (!json_is_array(l) || json_array_size(l) != nl)
		return false;
	for (size_t j = 0; j < nl; j++) {
		labels[j] = json_string_value(json_array_get(l, j));
		if (!labels[j] || strlen(labels[j]) > LB_METRICS_LABEL_LEN_MAX)
			return false;
	}
	if (descs[id].kind != LB_METRIC_HISTOGRAM) {
		if (!number_of(json_object_get(o, "v"), &v))
			return false;
		if (descs[id].kind == LB_METRIC_GAUGE)
			lb_metrics_set(m, id, v, labels);
		else
			lb_metrics_add(m, id, v, labels);
		return true;
	}
	{
		const json_t *b = json_object_get(o, "b");
		json_int_t c = json_integer_value(json_object_get(o, "c"));
		uint64_t counts[LB_METRICS_NBUCKETS];
		uint64_t total = 0;

		if (!json_is_array(b) || json_array_size(b) != LB_METRICS_NBUCKETS ||
		    !json_is_integer(json_object_get(o, "c")) || c < 0 ||
		    !number_of(json_object_get(o, "s"), &v) || v < 0)
			return false;
		for (size_t k = 0; k < LB_METRICS_NBUCKETS; k++) {
			json_int_t x = json_integer_value(json_array_get(b, k));
			if (!json_is_integer(json_array_get(b, k)) || x < 0 || x > c)
				return false;
			counts[k] = (uint64_t)x;
			total += counts[k];
		}
		if (total > (uint64_t)c)
			return false;
		s = series_of(m, id, labels);
		if (!s)
			return true; /* the cap counted it */
		s->v = finite_sum(s->v, v);
		s->count += (uint64_t)c;
		for (size_t k = 0; k < LB_METRICS_NBUCKETS; k++)
			s->bucket[k] += counts[k];
	}
	return true;
}

int lb_metrics_import(lb_metrics *m, const json_t *snap, lb_err *e)
{
	const json_t *fams = json_object_get(snap, "families");
	const char *name;
	json_t *arr;
	int skipped = 0;

	if (!json_is_object(snap) || json_integer_value(json_object_get(snap, "v")) != 1 ||
	    !json_is_object(fams))
		return lb_fail(e, 0, "metrics snapshot: not a version 1 snapshot");
	json_object_foreach ((json_t *)fams, name, arr) {
		size_t id = 0, i;
		json_t *o;

		while (id < LB_M_COUNT && strcmp(descs[id].name, name) != 0)
			id++;
		if (id == LB_M_COUNT || !json_is_array(arr)) {
			skipped++;
			continue;
		}
		json_array_foreach (arr, i, o)
			if (!import_series(m, (enum lb_metric_id)id, o))
				skipped++;
	}
	return skipped;
}
