/* What the unit tests of store engines share (unit_netstore*, unit_proxy_frames): a record of
 * what a fetch's callback saw, and runs of the real loop that end by a deadline. */
#ifndef LOCKBOX_TESTS_UNIT_FETCH_FIXTURE_H
#define LOCKBOX_TESTS_UNIT_FETCH_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "store.h"

/* How long a run may last before the test fails: far beyond anything a test waits for. */
#define LBT_RUN_MAX_MS 10000

/* What one fetch's callback saw: how often it was called and the last result. */
struct lbt_answer {
	int calls;
	int status;
	char value[64];
	char error[512];
};

/* An lb_fetch_cb for CTX = struct lbt_answer. */
void lbt_answer_record(void *ctx, lb_fetch_result *res);

/* Runs LOOP until DONE(ARG) holds (checked every 5 ms) or, with DONE NULL, until a callback
 * stops the loop; fails the test after LBT_RUN_MAX_MS. */
void lbt_run_until(lb_loop *loop, bool (*done)(void *arg), void *arg);

/* Runs LOOP for MS milliseconds, whatever happens meanwhile. */
void lbt_run_for(lb_loop *loop, uint64_t ms);

#endif
