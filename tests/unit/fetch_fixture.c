/* Shared fixture of the store engine tests: see fetch_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fetch_fixture.h"

void lbt_answer_record(void *ctx, lb_fetch_result *res)
{
	struct lbt_answer *a = ctx;

	a->calls++;
	a->status = res->status;
	snprintf(a->error, sizeof(a->error), "%s", res->error);
	a->value[0] = '\0';
	if (res->value)
		snprintf(a->value, sizeof(a->value), "%.*s", (int)res->value->len,
			 (const char *)res->value->data);
}

struct run {
	bool (*done)(void *arg);
	void *arg;
	uint64_t end;	/* lbt_run_for: a normal end */
	uint64_t limit; /* LBT_RUN_MAX_MS after the start: the test fails */
	bool timed_out;
};

static void on_tick(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct run *r = ctx;
	uint64_t now = lb_now_ms();

	if ((r->done && r->done(r->arg)) || (r->end && now >= r->end)) {
		lb_loop_stop(loop);
		return;
	}
	if (now >= r->limit) {
		r->timed_out = true;
		lb_loop_stop(loop);
		return;
	}
	lb_timer_arm(t, r->done ? 5 : r->end ? r->end - now : r->limit - now);
}

static void run(lb_loop *loop, struct run *r)
{
	lb_timer *t = lb_timer_new(loop, on_tick, r);

	assert_non_null(t);
	r->limit = lb_now_ms() + LBT_RUN_MAX_MS;
	lb_timer_arm(t, 1);
	lb_loop_run(loop);
	lb_timer_free(t);
	if (r->timed_out)
		fail_msg("the loop did not settle within %d ms", LBT_RUN_MAX_MS);
}

void lbt_run_until(lb_loop *loop, bool (*done)(void *arg), void *arg)
{
	struct run r = {.done = done, .arg = arg};

	run(loop, &r);
}

void lbt_run_for(lb_loop *loop, uint64_t ms)
{
	struct run r = {.end = lb_now_ms() + ms};

	run(loop, &r);
}
