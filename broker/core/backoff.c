#include "backoff.h"

#include <sodium.h>

void lb_backoff_init(lb_backoff *b, uint64_t first_ms, uint64_t max_ms, bool jitter)
{
	*b = (lb_backoff){.first_ms = first_ms ? first_ms : 1, .max_ms = max_ms, .jitter = jitter};
	if (b->max_ms < b->first_ms)
		b->max_ms = b->first_ms;
}

enum lb_backoff_gate lb_backoff_gate(lb_backoff *b, uint64_t now)
{
	if (!b->step_ms)
		return LB_BACKOFF_GO;
	if (b->probing || now < b->until_ms)
		return LB_BACKOFF_WAIT;
	b->probing = true;
	return LB_BACKOFF_PROBE;
}

uint64_t lb_backoff_ticket(const lb_backoff *b)
{
	return b->epoch;
}

uint64_t lb_backoff_fault_now(lb_backoff *b, long retry_after_s, uint64_t now)
{
	uint64_t wait;

	b->probing = false;
	b->epoch++;
	b->step_ms = b->step_ms ? b->step_ms * 2 : b->first_ms;
	if (b->step_ms > b->max_ms)
		b->step_ms = b->max_ms;
	wait = b->jitter ? lb_jitter_ms(b->step_ms) : b->step_ms;
	if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > wait)
		wait = (uint64_t)retry_after_s * 1000;
	if (wait > 10 * b->max_ms)
		wait = 10 * b->max_ms;
	b->until_ms = now + wait;
	return wait;
}

uint64_t lb_backoff_fault(lb_backoff *b, uint64_t ticket, long retry_after_s, uint64_t now)
{
	if (ticket < b->epoch)
		return 0;
	return lb_backoff_fault_now(b, retry_after_s, now);
}

void lb_backoff_ok(lb_backoff *b, uint64_t ticket)
{
	if (ticket < b->epoch)
		return;
	lb_backoff_reset(b);
}

void lb_backoff_probe_lost(lb_backoff *b)
{
	b->probing = false;
}

uint64_t lb_backoff_wait_ms(const lb_backoff *b, uint64_t now)
{
	if (!b->step_ms)
		return 0;
	if (b->probing)
		return b->step_ms;
	return b->until_ms > now ? b->until_ms - now : 0;
}

bool lb_backoff_failing(const lb_backoff *b)
{
	return b->step_ms != 0;
}

void lb_backoff_reset(lb_backoff *b)
{
	b->step_ms = 0;
	b->until_ms = 0;
	b->probing = false;
}

uint64_t lb_jitter_ms(uint64_t ms)
{
	uint64_t spread = ms / 5;

	if (spread == 0 || spread > UINT32_MAX)
		return ms;
	return ms - spread / 2 + randombytes_uniform((uint32_t)spread + 1);
}
