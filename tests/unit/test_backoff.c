/* core/backoff: exponential steps with a cap, jitter bounds, Retry-After, one probe after a
 * run of faults, replies of one batch counted once, and a success of an old batch ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "backoff.h"

static void test_steps_and_cap(void **state)
{
	lb_backoff b;
	uint64_t now = 1000, want[] = {1000, 2000, 4000, 8000, 8000};

	(void)state;
	lb_backoff_init(&b, 1000, 8000, false);
	assert_int_equal(lb_backoff_gate(&b, now), LB_BACKOFF_GO);
	for (size_t i = 0; i < 5; i++) {
		uint64_t t = lb_backoff_ticket(&b);
		assert_int_equal(lb_backoff_fault(&b, t, -1, now), want[i]);
		assert_true(lb_backoff_failing(&b));
		assert_int_equal(lb_backoff_wait_ms(&b, now), want[i]);
		assert_int_equal(lb_backoff_gate(&b, now), LB_BACKOFF_WAIT);
		now += want[i];
		assert_int_equal(lb_backoff_gate(&b, now), LB_BACKOFF_PROBE);
	}
	lb_backoff_ok(&b, lb_backoff_ticket(&b));
	assert_false(lb_backoff_failing(&b));
	assert_int_equal(lb_backoff_gate(&b, now), LB_BACKOFF_GO);
	assert_int_equal(lb_backoff_fault(&b, lb_backoff_ticket(&b), -1, now), 1000);
}

static void test_jitter_bounds(void **state)
{
	(void)state;
	for (int i = 0; i < 1000; i++) {
		lb_backoff b;
		uint64_t w;

		lb_backoff_init(&b, 1000, 60000, true);
		w = lb_backoff_fault(&b, 0, -1, 0);
		assert_in_range(w, 900, 1100);
		w = lb_backoff_fault(&b, lb_backoff_ticket(&b), -1, 0);
		assert_in_range(w, 1800, 2200);
	}
	assert_int_equal(lb_jitter_ms(3), 3);
}

static void test_retry_after(void **state)
{
	lb_backoff b;

	(void)state;
	lb_backoff_init(&b, 1000, 4000, false);
	assert_int_equal(lb_backoff_fault(&b, 0, 7, 0), 7000);	     /* longer than a step */
	assert_int_equal(lb_backoff_fault(&b, 1, 1, 0), 2000);	     /* shorter: the step */
	assert_int_equal(lb_backoff_fault(&b, 2, 100000, 0), 40000); /* ten caps at most */
}

/* Three requests sent together, all throttled: one fault (AWS went 1,013 -> 2,104 ms for
 * two replies of one batch, then a success of the same batch reset it). */
static void test_batch_counts_once(void **state)
{
	lb_backoff b;
	uint64_t t1, t2, t3;

	(void)state;
	lb_backoff_init(&b, 1000, 60000, false);
	t1 = lb_backoff_ticket(&b);
	t2 = lb_backoff_ticket(&b);
	t3 = lb_backoff_ticket(&b);
	assert_int_equal(lb_backoff_fault(&b, t1, -1, 0), 1000);
	assert_int_equal(lb_backoff_fault(&b, t2, -1, 0), 0);
	lb_backoff_ok(&b, t3); /* a success of the same batch: no reset */
	assert_true(lb_backoff_failing(&b));
	assert_int_equal(lb_backoff_wait_ms(&b, 0), 1000);
	/* The next batch (the probe) counts. */
	assert_int_equal(lb_backoff_gate(&b, 1000), LB_BACKOFF_PROBE);
	assert_int_equal(lb_backoff_fault(&b, lb_backoff_ticket(&b), -1, 1000), 2000);
}

static void test_one_probe(void **state)
{
	lb_backoff b;
	uint64_t old;

	(void)state;
	lb_backoff_init(&b, 1000, 60000, false);
	old = lb_backoff_ticket(&b);
	lb_backoff_fault(&b, old, -1, 0);
	assert_int_equal(lb_backoff_gate(&b, 999), LB_BACKOFF_WAIT);
	assert_int_equal(lb_backoff_gate(&b, 1000), LB_BACKOFF_PROBE);
	/* Everything else waits for the probe's outcome, however late. */
	assert_int_equal(lb_backoff_gate(&b, 1000), LB_BACKOFF_WAIT);
	assert_int_equal(lb_backoff_gate(&b, 50000), LB_BACKOFF_WAIT);
	assert_int_equal(lb_backoff_wait_ms(&b, 50000), 1000);
	/* A late fault of the old batch changes nothing: the probe is still out. */
	assert_int_equal(lb_backoff_fault(&b, old, -1, 50000), 0);
	assert_int_equal(lb_backoff_gate(&b, 50000), LB_BACKOFF_WAIT);
	/* A lost probe lets another go. */
	lb_backoff_probe_lost(&b);
	assert_int_equal(lb_backoff_gate(&b, 50000), LB_BACKOFF_PROBE);
	lb_backoff_ok(&b, lb_backoff_ticket(&b));
	assert_int_equal(lb_backoff_gate(&b, 50000), LB_BACKOFF_GO);
	assert_int_equal(lb_backoff_gate(&b, 50000), LB_BACKOFF_GO);
}

static void test_untracked_fault(void **state)
{
	lb_backoff b;

	(void)state;
	lb_backoff_init(&b, 500, 30000, false);
	assert_int_equal(lb_backoff_fault_now(&b, -1, 0), 500);
	assert_int_equal(lb_backoff_fault_now(&b, -1, 0), 1000);
	lb_backoff_reset(&b);
	assert_int_equal(lb_backoff_wait_ms(&b, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_steps_and_cap), cmocka_unit_test(test_jitter_bounds),
	    cmocka_unit_test(test_retry_after),	  cmocka_unit_test(test_batch_counts_once),
	    cmocka_unit_test(test_one_probe),	  cmocka_unit_test(test_untracked_fault),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
