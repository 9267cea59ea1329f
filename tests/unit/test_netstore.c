/* The network-store engine (broker/stores/netstore.c), its reads: coalesced reads, no join of
 * a read already sent, backoff and the one probe, faults of one batch counted once, close
 * completing every waiter, no callback before fetch() returns, and cancels from inside
 * callbacks. The credential side is unit_netstore_auth; the fixture (fake provider, HTTP
 * server) is netstore_fixture.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "netstore_fixture.h"

static void test_coalescing(void **state)
{
	struct lbt_answer a[8];

	(void)state;
	for (int i = 0; i < 5; i++)
		fetch("a", "", &a[i]);
	fetch("b", "", &a[5]);
	fetch("b", "", &a[6]);
	fetch("a", "2", &a[7]);
	run(a, 8, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(a[i].status, 0);
	assert_string_equal(a[0].value, "v-a");
	assert_string_equal(a[6].value, "v-b");
	assert_string_equal(a[7].value, "v-a@2");
	assert_int_equal(count_of("a"), 1);
	assert_int_equal(count_of("b"), 1);
	assert_int_equal(count_of("a@2"), 1);
	assert_int_equal(fake->auths, 1);
	/* A new fetch after the read is done reads again. */
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(count_of("a"), 2);
	/* A name the provider refuses fails alone, named. */
	fetch("bad", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_non_null(strstr(a[0].error, "fake store \"fk\": bad: not a name"));
	assert_true(health_is("ok"));
}

/* A fetch of "a" asked for at asked_ns (0 = now) whose read has gone out and is held at the
 * server (at most 5 s). */
static void held_read_out(uint64_t asked_ns, struct lbt_answer *a)
{
	hold("a");
	fetch_asked("a", "", asked_ns, a);
	for (int i = 0; i < 500 && count_of("a") < 1; i++)
		run(NULL, 0, 10);
	assert_int_equal(count_of("a"), 1);
}

/* A fetch that comes after a read went out starts a read of its own: the store may have
 * answered the first before the change this fetch must see (kv put, then rotate). Fetches
 * while the read still waits to go out share it. */
static void test_no_join_after_send(void **state)
{
	struct lbt_answer a[3];

	(void)state;
	held_read_out(0, &a[0]);
	assert_int_equal(a[0].calls, 0);
	fetch("a", "", &a[1]);
	fetch("a", "", &a[2]); /* joins the second read, which has not gone out */
	run(&a[1], 2, 0);
	assert_int_equal(count_of("a"), 2);
	assert_int_equal(a[0].calls, 0);
	release("a");
	run(a, 1, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a[i].status, 0);
		assert_string_equal(a[i].value, "v-a");
	}
	assert_int_equal(count_of("a"), 2);
}

/* The fetches of one refresh pass are asked for together; one that reaches the store after
 * the pass's read went out (the worker got the pass in two reads of its channel) shares it:
 * 100 targets, one request (CI's asan integ_vault_auth counted 2 when joining stopped at the
 * send). */
static void test_join_when_asked_before_send(void **state)
{
	struct lbt_answer a[2];
	uint64_t asked = lb_now_ns();

	(void)state;
	held_read_out(asked, &a[0]);
	fetch_asked("a", "", asked, &a[1]);
	run(NULL, 0, 50); /* its turn: it joins the read under way */
	assert_int_equal(a[0].calls, 0);
	release("a");
	run(a, 2, 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(a[i].status, 0);
		assert_string_equal(a[i].value, "v-a");
	}
	assert_int_equal(count_of("a"), 1);
}

static void test_backoff_and_probe(void **state)
{
	struct lbt_answer a[3];

	(void)state;
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_non_null(strstr(a[0].error, "HTTP 503"));
	assert_true(health_is("degraded"));
	assert_in_range(health_int("backoff_ms"), 1, 1100);
	/* While it lasts, reads fail at once, without a request. */
	fetch("y", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_non_null(strstr(a[0].error, "backing off for"));
	assert_int_equal(count_of("y"), 0);
	/* After it, one read goes first (the probe); the others wait for its outcome. */
	run(NULL, 0, 1200);
	fetch("y", "", &a[0]);
	fetch("z", "", &a[1]);
	run(a, 2, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(a[1].status, -1);
	assert_non_null(strstr(a[1].error, "retrying after: read x: HTTP 503"));
	assert_int_equal(count_of("y"), 1);
	assert_int_equal(count_of("z"), 0);
	assert_true(health_is("ok"));
	/* The probe's success ended the run: everything goes again. */
	fetch("z", "", &a[0]);
	fetch("w", "", &a[1]);
	run(a, 2, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(a[1].status, 0);
}

static void test_probe_fault_doubles(void **state)
{
	struct lbt_answer a[1];

	(void)state;
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	run(NULL, 0, 1200);
	fetch("x", "", &a[0]); /* the probe fails too: the next wait is the second step */
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_in_range(health_int("backoff_ms"), 1500, 2200);
}

/* Three reads sent together, all throttled: one fault, one step (not 4 s). */
static void test_batch_counted_once(void **state)
{
	struct lbt_answer a[4];

	(void)state;
	script("p", 429, 0);
	script("q", 503, 0);
	script("r", 503, 0);
	fetch("p", "", &a[0]);
	fetch("q", "", &a[1]);
	fetch("r", "", &a[2]);
	fetch("s", "", &a[3]); /* a success in the same batch does not end the run */
	run(a, 4, 0);
	assert_int_equal(count_of("p") + count_of("q") + count_of("r") + count_of("s"), 4);
	assert_int_equal(a[3].status, 0);
	assert_true(health_is("degraded"));
	assert_in_range(health_int("backoff_ms"), 1, 1100);
}

static struct lbt_answer late;

static void on_closed(void *ctx, lb_fetch_result *res)
{
	lb_source src = {.path = "again"};

	lbt_answer_record(ctx, res);
	/* A fetch from inside a close callback is answered at once, as closed. */
	if (!late.calls)
		lb_nst_store_fetch(&store, &src, "t1", on_answer, &late);
}

static void test_close_completes_all(void **state)
{
	struct lbt_answer a[4];
	lb_source src = {.path = "d"};

	(void)state;
	fake->mode = AUTH_NEVER;
	fetch("a", "", &a[0]);
	fetch("a", "", &a[1]);
	fetch("b", "", &a[2]);
	run(NULL, 0, 50);
	assert_true(health_is("authenticating"));
	memset(&a[3], 0, sizeof(a[3]));
	memset(&late, 0, sizeof(late));
	lb_nst_store_fetch(&store, &src, "t1", on_closed, &a[3]); /* not routed yet */
	lb_nst_store_close(&store);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(a[i].calls, 1);
		assert_non_null(strstr(a[i].error, "store closed"));
	}
	assert_int_equal(late.calls, 1);
	assert_non_null(strstr(late.error, "store closed"));
	assert_int_equal(count_of("a"), 0);
}

static struct lbt_answer chain[2];

static void on_chained(void *ctx, lb_fetch_result *res)
{
	lb_source src = {.path = "k2"};

	on_answer(ctx, res);
	in_fetch = true; /* the second answer must not come from inside this fetch */
	lb_nst_store_fetch(&store, &src, "t1", on_answer, &chain[1]);
	in_fetch = false;
}

static void test_reentrancy(void **state)
{
	lb_source src = {.path = "k1"};
	struct lbt_answer a[1];

	(void)state;
	/* Even an answer known at once (backoff) comes from the loop. */
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	fetch("x", "", &a[0]);
	assert_int_equal(a[0].calls, 0);
	run(a, 1, 0);
	/* A fetch from inside a callback is answered later, from the loop. */
	run(NULL, 0, 1200);
	memset(chain, 0, sizeof(chain));
	in_fetch = true;
	lb_nst_store_fetch(&store, &src, "t1", on_chained, &chain[0]);
	in_fetch = false;
	run(chain, 2, 0);
	assert_int_equal(chain[0].status, 0);
	assert_int_equal(chain[1].status, 0);
}

static int cb_a, cb_b;

static void on_call_b(lb_nst *ns, void *ctx, const lb_nst_reply *r)
{
	(void)ns;
	(void)ctx;
	(void)r;
	cb_b++;
}

static void on_call_a(lb_nst *ns, void *ctx, const lb_nst_reply *r)
{
	(void)r;
	cb_a++;
	lb_nst_call_cancel(ns, ctx); /* the other call, already answered, never calls back */
}

/* A callback that cancels another call of the same turn (a lease freed by its neighbour's
 * answer) is obeyed: the cancelled call's context may be gone. */
static void test_cancel_from_callback(void **state)
{
	struct lbt_answer a[1];
	lb_nst_req req = {.method = "GET", .path = "x", .what = "x", .cred = LB_NST_NOCRED};
	int tag_b;

	(void)state;
	script("x", 503, 0);
	fetch("x", "", &a[0]);
	run(a, 1, 0);
	cb_a = cb_b = 0;
	/* Both are refused by the backoff in one turn, then answered in the next. */
	lb_nst_call_start(store.priv, &req, on_call_a, &tag_b);
	lb_nst_call_start(store.priv, &req, on_call_b, &tag_b);
	run(NULL, 0, 50);
	assert_int_equal(cb_a, 1);
	assert_int_equal(cb_b, 0);
}

int main(void)
{
	struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_coalescing),
	    cmocka_unit_test(test_no_join_after_send),
	    cmocka_unit_test(test_join_when_asked_before_send),
	    cmocka_unit_test(test_backoff_and_probe),
	    cmocka_unit_test(test_probe_fault_doubles),
	    cmocka_unit_test(test_batch_counted_once),
	    cmocka_unit_test(test_close_completes_all),
	    cmocka_unit_test(test_reentrancy),
	    cmocka_unit_test(test_cancel_from_callback),
	};

	return netstore_run("netstore", tests, sizeof(tests) / sizeof(tests[0]));
}
