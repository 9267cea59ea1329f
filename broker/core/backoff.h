/* One backoff for everything that retries: the network stores, the broker's per-target
 * retries and the Engine API reconnect.
 *
 * Capped exponential with jitter (each wait is the step * (1 ± 10%)), a server's
 * Retry-After honoured (up to ten times the cap), and two rules that keep a burst from
 * counting as many faults:
 * - replies of one batch count once: a request takes a ticket when it is sent; a fault or a
 *   success reported with a ticket older than the last counted fault belongs to a batch
 *   already judged and changes nothing;
 * - one probe after a run of faults: once the wait is over, one request may go (the probe);
 *   the others are refused until its outcome is known.
 * Times are CLOCK_MONOTONIC milliseconds passed in by the caller (lb_now_ms()), so that the
 * rules can be tested without waiting. */
#ifndef LB_BACKOFF_H
#define LB_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lb_backoff {
	uint64_t first_ms, max_ms; /* the first step and the cap of a step */
	bool jitter;
	uint64_t step_ms;  /* 0: not in a run of faults */
	uint64_t until_ms; /* no request before this (monotonic) */
	uint64_t epoch;	   /* counted faults so far; a ticket is the epoch when sent */
	bool probing;	   /* the probe is out */
} lb_backoff;

enum lb_backoff_gate {
	LB_BACKOFF_GO,	  /* send */
	LB_BACKOFF_PROBE, /* send: it is the probe, report its outcome */
	LB_BACKOFF_WAIT,  /* refuse: the wait is not over, or the probe is out */
};

void lb_backoff_init(lb_backoff *b, uint64_t first_ms, uint64_t max_ms, bool jitter);
/* May a request go now? A PROBE answer marks the probe as out. */
enum lb_backoff_gate lb_backoff_gate(lb_backoff *b, uint64_t now);
/* The ticket a request carries from its sending to its outcome. */
uint64_t lb_backoff_ticket(const lb_backoff *b);
/* A fault. Returns the wait it starts (ms), or 0 when the ticket's batch was counted
 * already (then nothing changes). */
uint64_t lb_backoff_fault(lb_backoff *b, uint64_t ticket, long retry_after_s, uint64_t now);
/* A success (or an answer that shows the service works): ends the run of faults, unless
 * the ticket is older than the last counted fault. */
void lb_backoff_ok(lb_backoff *b, uint64_t ticket);
/* The request sent as the probe went nowhere (cancelled): another may be the probe. */
void lb_backoff_probe_lost(lb_backoff *b);
/* A fault whose request is not tracked (a failed credential fetch): always counted. */
uint64_t lb_backoff_fault_now(lb_backoff *b, long retry_after_s, uint64_t now);
/* ms until a request may go (0 = now); while the probe is out, the wait of a step. */
uint64_t lb_backoff_wait_ms(const lb_backoff *b, uint64_t now);
/* In a run of faults (degraded). */
bool lb_backoff_failing(const lb_backoff *b);
void lb_backoff_reset(lb_backoff *b);

/* ms * (1 ± 10%): spreads waits and renewals so that stores and brokers don't march in
 * step. */
uint64_t lb_jitter_ms(uint64_t ms);

#endif
