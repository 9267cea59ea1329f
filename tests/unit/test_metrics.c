/* core/metrics: counters, gauges and histograms rendered as Prometheus text; label
 * escaping and cuts; wrong label counts ignored; the series cap; snapshots of one process
 * imported into another registry and merged at render (the worker relay of issue 15), with
 * hostile snapshots skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"
#include "secmem.h"

static char *render1(lb_metrics *m)
{
	size_t len = 0;
	char *text = lb_metrics_render(&m, 1, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static void assert_has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing \"%s\" in:\n%s", line, text);
}

static void test_counter_gauge(void **state)
{
	lb_metrics *m = lb_metrics_new();
	char *text;

	(void)state;
	lb_metrics_add(m, LB_M_ROTATIONS, 1, LB_MLABELS("web", "published"));
	lb_metrics_add(m, LB_M_ROTATIONS, 2, LB_MLABELS("web", "published"));
	lb_metrics_add(m, LB_M_ROTATIONS, 1, LB_MLABELS("db", "failed"));
	lb_metrics_add(m, LB_M_ROTATIONS, -5, LB_MLABELS("db", "failed")); /* counters only grow */
	lb_metrics_set(m, LB_M_CONTAINERS, 7, LB_MLABELS(NULL));
	lb_metrics_set(m, LB_M_CONTAINERS, 3, LB_MLABELS(NULL));
	lb_metrics_set(m, LB_M_ROTATIONS, 9, LB_MLABELS("web", "published")); /* not a gauge */
	text = render1(m);
	assert_has(text, "# HELP lockbox_rotations_total ");
	assert_has(text, "# TYPE lockbox_rotations_total counter\n");
	assert_has(text, "\nlockbox_rotations_total{binding=\"web\",outcome=\"published\"} 3\n");
	assert_has(text, "\nlockbox_rotations_total{binding=\"db\",outcome=\"failed\"} 1\n");
	assert_has(text, "# TYPE lockbox_containers gauge\nlockbox_containers 3\n");
	/* Families with no series are not written. */
	assert_null(strstr(text, "lockbox_leases_lost_total"));
	free(text);
	lb_metrics_clear(m, LB_M_ROTATIONS);
	text = render1(m);
	assert_null(strstr(text, "lockbox_rotations_total"));
	free(text);
	lb_metrics_free(m);
}

static void test_histogram(void **state)
{
	lb_metrics *m = lb_metrics_new();
	char *text;

	(void)state;
	lb_metrics_observe(m, LB_M_PUBLISH_SECONDS, 0.003, LB_MLABELS("web"));
	lb_metrics_observe(m, LB_M_PUBLISH_SECONDS, 0.2, LB_MLABELS("web"));
	lb_metrics_observe(m, LB_M_PUBLISH_SECONDS, 100, LB_MLABELS("web"));
	text = render1(m);
	assert_has(text, "# TYPE lockbox_publish_duration_seconds histogram\n");
	assert_has(text,
		   "lockbox_publish_duration_seconds_bucket{binding=\"web\",le=\"0.005\"} 1\n");
	assert_has(text, "lockbox_publish_duration_seconds_bucket{binding=\"web\",le=\"0.1\"} 1\n");
	assert_has(text,
		   "lockbox_publish_duration_seconds_bucket{binding=\"web\",le=\"0.25\"} 2\n");
	assert_has(text, "lockbox_publish_duration_seconds_bucket{binding=\"web\",le=\"30\"} 2\n");
	assert_has(text,
		   "lockbox_publish_duration_seconds_bucket{binding=\"web\",le=\"+Inf\"} 3\n");
	assert_has(text, "lockbox_publish_duration_seconds_sum{binding=\"web\"} 100.203");
	assert_has(text, "lockbox_publish_duration_seconds_count{binding=\"web\"} 3\n");
	free(text);
	lb_metrics_free(m);
}

static void test_labels(void **state)
{
	lb_metrics *m = lb_metrics_new();
	char longv[300];
	char *text;

	(void)state;
	lb_metrics_add(m, LB_M_LOGINS, 1, LB_MLABELS("a\"b\\c\nd", "ok"));
	text = render1(m);
	assert_has(text, "lockbox_logins_total{store=\"a\\\"b\\\\c\\nd\",outcome=\"ok\"} 1\n");
	free(text);
	/* Wrong number of label values: nothing happens. */
	lb_metrics_add(m, LB_M_LOGINS, 1, LB_MLABELS("only-one"));
	lb_metrics_add(m, LB_M_LOGINS, 1, LB_MLABELS("x", "ok", "extra"));
	text = render1(m);
	assert_null(strstr(text, "only-one"));
	assert_null(strstr(text, "extra"));
	free(text);
	/* A long value is cut to LB_METRICS_LABEL_LEN_MAX, at a character boundary, and the
	 * same long value finds the same series again. */
	memset(longv, 'x', sizeof(longv));
	memcpy(longv + LB_METRICS_LABEL_LEN_MAX - 1, "\xc3\xa9", 2);
	longv[sizeof(longv) - 1] = '\0';
	lb_metrics_add(m, LB_M_LEASES_LOST, 1, LB_MLABELS(longv));
	lb_metrics_add(m, LB_M_LEASES_LOST, 1, LB_MLABELS(longv));
	text = render1(m);
	{
		const char *p = strstr(text, "lockbox_leases_lost_total{store=\"");
		const char *q;
		assert_non_null(p);
		p += strlen("lockbox_leases_lost_total{store=\"");
		q = strchr(p, '"');
		assert_int_equal(q - p, LB_METRICS_LABEL_LEN_MAX - 1);
		assert_int_equal(strncmp(q, "\"} 2\n", 5), 0);
	}
	free(text);
	lb_metrics_free(m);
}

static void test_series_cap(void **state)
{
	lb_metrics *m = lb_metrics_new();
	char name[32], *text;

	(void)state;
	for (int i = 0; i < LB_METRICS_SERIES_MAX + 10; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		lb_metrics_add(m, LB_M_STORE_COALESCED, 1, LB_MLABELS(name));
	}
	text = render1(m);
	assert_has(text, "lockbox_store_reads_coalesced_total{store=\"s1023\"} 1\n");
	assert_null(strstr(text, "{store=\"s1024\"}"));
	assert_has(text, "lockbox_metrics_series_dropped_total{family="
			 "\"lockbox_store_reads_coalesced_total\"} 10\n");
	free(text);
	lb_metrics_free(m);
}

static void test_relay_merge(void **state)
{
	lb_metrics *worker = lb_metrics_new(), *relay = lb_metrics_new(), *root = lb_metrics_new();
	lb_metrics *regs[2] = {root, relay};
	json_t *snap;
	lb_err e = {0};
	char *text;

	(void)state;
	lb_metrics_add(worker, LB_M_STORE_REQUESTS, 4, LB_MLABELS("v", "vault", "api", "ok"));
	lb_metrics_observe(worker, LB_M_STORE_REQUEST_SECONDS, 0.02,
			   LB_MLABELS("v", "vault", "api"));
	lb_metrics_add(worker, LB_M_ROTATIONS, 1, LB_MLABELS("web", "published"));
	lb_metrics_add(root, LB_M_ROTATIONS, 2, LB_MLABELS("web", "published"));
	lb_metrics_add(root, LB_M_ROTATIONS, 1, LB_MLABELS("db", "published"));
	snap = lb_metrics_snapshot(worker);
	assert_int_equal(lb_metrics_import(relay, snap, &e), 0);
	/* A repeated snapshot replaces, it does not add, when the receiver resets first. */
	lb_metrics_reset(relay);
	assert_int_equal(lb_metrics_import(relay, snap, &e), 0);
	json_decref(snap);
	text = lb_metrics_render(regs, 2, NULL);
	assert_non_null(text);
	assert_has(text, "lockbox_store_requests_total{store=\"v\",type=\"vault\",request=\"api\","
			 "outcome=\"ok\"} 4\n");
	assert_has(text, "lockbox_store_request_duration_seconds_bucket{store=\"v\",type=\"vault\","
			 "request=\"api\",le=\"0.025\"} 1\n");
	/* One family, written once; same labels added up. */
	assert_has(text, "lockbox_rotations_total{binding=\"web\",outcome=\"published\"} 3\n");
	assert_has(text, "lockbox_rotations_total{binding=\"db\",outcome=\"published\"} 1\n");
	assert_non_null(strstr(text, "# TYPE lockbox_rotations_total"));
	assert_null(strstr(strstr(text, "# TYPE lockbox_rotations_total") + 1,
			   "# TYPE lockbox_rotations_total"));
	free(text);
	lb_metrics_free(worker);
	lb_metrics_free(relay);
	lb_metrics_free(root);
}

static void test_import_hostile(void **state)
{
	lb_metrics *m = lb_metrics_new();
	lb_err e = {0};
	json_t *snap;
	char *text;

	(void)state;
	snap = json_pack("{s:i}", "v", 2);
	assert_int_equal(lb_metrics_import(m, snap, &e), -1);
	json_decref(snap);
	snap = json_loads(
	    "{\"v\":1,\"families\":{"
	    "\"nope_total\":[{\"l\":[],\"v\":1}],"
	    "\"lockbox_logins_total\":[{\"l\":[\"a\"],\"v\":1},{\"l\":[\"a\",\"ok\"],\"v\":\"x\"},"
	    "{\"l\":[\"a\",1],\"v\":1},{\"l\":[\"a\",\"ok\"],\"v\":-3},{\"l\":[\"b\",\"ok\"],\"v\":"
	    "5}],"
	    "\"lockbox_publish_duration_seconds\":[{\"l\":[\"w\"],\"b\":[1],\"s\":1,\"c\":1},"
	    "{\"l\":[\"w\"],\"b\":[0,0,0,0,0,0,0,0,0,0,0,9],\"s\":1,\"c\":2},"
	    "{\"l\":[\"w\"],\"b\":[1,0,0,0,0,0,0,0,0,0,0,0],\"s\":0.001,\"c\":2}]}}",
	    0, NULL);
	assert_non_null(snap);
	/* Skipped: unknown family, 1 label of 2, string value, non-string label, 2 histograms
	 * with bad buckets. A negative counter is taken as a series but adds nothing. */
	assert_int_equal(lb_metrics_import(m, snap, &e), 6);
	json_decref(snap);
	text = render1(m);
	assert_has(text, "lockbox_logins_total{store=\"b\",outcome=\"ok\"} 5\n");
	assert_has(text, "lockbox_publish_duration_seconds_count{binding=\"w\"} 2\n");
	assert_null(strstr(text, "nope_total"));
	free(text);
	lb_metrics_free(m);
}

static int hook_calls;
static void hook(lb_metrics *m, void *ctx)
{
	hook_calls++;
	lb_metrics_clear(m, LB_M_GENERATION_AGE_SECONDS);
	lb_metrics_set(m, LB_M_GENERATION_AGE_SECONDS, *(double *)ctx, LB_MLABELS("web", "web"));
}

static void test_scrape_hooks(void **state)
{
	double age = 12.5;
	char *text;

	(void)state;
	assert_int_equal(lb_metrics_on_scrape(hook, &age), 0);
	assert_int_equal(lb_metrics_on_scrape(hook, &age), 0); /* once */
	lb_metric_inc(LB_M_NOTIFY_SIGNALS, "web", "sent");
	lb_metrics_run_hooks(lb_metrics_proc());
	assert_int_equal(hook_calls, 1);
	text = render1(lb_metrics_proc());
	assert_has(text, "lockbox_generation_age_seconds{binding=\"web\",target=\"web\"} 12.5\n");
	assert_has(text, "lockbox_notify_signals_total{binding=\"web\",outcome=\"sent\"} 1\n");
	free(text);
	lb_metrics_off_scrape(hook, &age);
	lb_metrics_run_hooks(lb_metrics_proc());
	assert_int_equal(hook_calls, 1);
	lb_metrics_proc_free();
}

static void test_gauge_max_min_relay(void **state)
{
	lb_metrics *relay = lb_metrics_new();
	char *text;

	(void)state;
	lb_metrics_gauge_max(relay, LB_M_GENERATION_AGE_SECONDS, 5, LB_MLABELS("web", "docker"));
	lb_metrics_gauge_max(relay, LB_M_GENERATION_AGE_SECONDS, 9, LB_MLABELS("web", "docker"));
	lb_metrics_gauge_max(relay, LB_M_GENERATION_AGE_SECONDS, 2, LB_MLABELS("web", "docker"));
	lb_metrics_gauge_min(relay, LB_M_SECRET_EXPIRY_TIMESTAMP, 500, LB_MLABELS("web", "docker"));
	lb_metrics_gauge_min(relay, LB_M_SECRET_EXPIRY_TIMESTAMP, 300, LB_MLABELS("web", "docker"));
	lb_metrics_gauge_min(relay, LB_M_SECRET_EXPIRY_TIMESTAMP, 400, LB_MLABELS("web", "docker"));
	lb_metric_inc(LB_M_ROTATIONS, "web", "published");
	assert_int_equal(lb_metrics_relay_attach(relay), 0);
	text = lb_metrics_render_proc(NULL);
	assert_has(text, "lockbox_generation_age_seconds{binding=\"web\",target=\"docker\"} 9\n");
	assert_has(text,
		   "lockbox_secret_expiry_timestamp_seconds{binding=\"web\",target=\"docker\"} "
		   "300\n");
	assert_has(text, "lockbox_rotations_total{binding=\"web\",outcome=\"published\"} 1\n");
	free(text);
	lb_metrics_relay_detach(relay);
	text = lb_metrics_render_proc(NULL);
	assert_null(strstr(text, "lockbox_generation_age_seconds"));
	free(text);
	lb_metrics_free(relay);
	lb_metrics_proc_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counter_gauge), cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_labels),	  cmocka_unit_test(test_series_cap),
	    cmocka_unit_test(test_relay_merge),	  cmocka_unit_test(test_import_hostile),
	    cmocka_unit_test(test_scrape_hooks),  cmocka_unit_test(test_gauge_max_min_relay),
	};

	if (lb_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
