/* The refresh pipeline (broker/refresh.c) with fake stores through the store vtable, a real
 * lb_loop and real target tmpfs mounts: publish, slow stores, batches that overlap, stores
 * that close under a batch. Needs root for the mounts (exits 77 without, unless
 * LOCKBOX_MUST_WORK=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "layout.h"
#include "refresh.h"
#include "refresh_fixture.h"

/* --- a fake store: answers now, later from the loop, or when the test says --- */

enum fake_mode { ANSWER_NOW, ANSWER_LATER, HOLD };

struct fake_call {
	struct fake *f;
	lb_fetch_cb cb;
	void *ctx;
	char value[64]; /* what the store held when the fetch came in */
	char version[16];
	bool open;
};

struct fake {
	lb_store *st; /* NULL once closed */
	bool listed;  /* the owner's store lookup finds it */
	enum fake_mode mode;
	char value[64];
	unsigned version;
	unsigned nfetch;
	struct fake_call calls[64];
	size_t ncalls;
	lb_loop *loop;
};

static void answer(struct fake_call *c, int status, const char *why)
{
	lb_fetch_result r = {.status = status};

	c->open = false;
	if (status == 0) {
		r.value = lb_secbuf_dup(c->value, strlen(c->value));
		snprintf(r.version, sizeof(r.version), "%s", c->version);
	} else {
		snprintf(r.error, sizeof(r.error), "%s", why);
	}
	c->cb(c->ctx, &r);
	lb_fetch_result_clear(&r);
}

static void on_later(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct fake_call *c = ctx;

	(void)loop;
	lb_timer_free(t);
	if (c->open)
		answer(c, 0, NULL);
}

static void fake_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
		       void *ctx)
{
	struct fake *f = s->priv;
	struct fake_call *c = &f->calls[f->ncalls++];

	(void)src;
	(void)target;
	assert_true(f->ncalls <= sizeof(f->calls) / sizeof(f->calls[0]));
	f->nfetch++;
	*c = (struct fake_call){.f = f, .cb = cb, .ctx = ctx, .open = true};
	snprintf(c->value, sizeof(c->value), "%s", f->value);
	snprintf(c->version, sizeof(c->version), "%u", f->version);
	if (f->mode == ANSWER_NOW)
		answer(c, 0, NULL);
	else if (f->mode == ANSWER_LATER)
		lb_timer_arm(lb_timer_new(f->loop, on_later, c), 10);
}

/* Answer the held fetches, oldest first (or only the one at index i). */
static void fake_release(struct fake *f, size_t i, int status)
{
	for (size_t k = 0; k < f->ncalls; k++)
		if (f->calls[k].open && (i == SIZE_MAX || k == i))
			answer(&f->calls[k], status, "store says no");
}

static void fake_close(lb_store *s)
{
	struct fake *f = s->priv;

	for (size_t k = 0; k < f->ncalls; k++)
		if (f->calls[k].open)
			answer(&f->calls[k], -1, "store closed");
	f->st = NULL;
	f->listed = false;
}

static const lb_store_ops fake_ops = {.type = "fake", .fetch = fake_fetch, .close = fake_close};
static const lb_store_ops fake_leased_ops = {
    .type = "fake-leased", .per_target = true, .fetch = fake_fetch, .close = fake_close};

/* --- the owner: what the broker is to the pipeline --- */

static const char config_text[] =
    "{\"stores\": {\"fast\": {\"type\": \"sealed\"}, \"slow\": {\"type\": \"sealed\"},\n"
    "             \"lease\": {\"type\": \"sealed\"}},\n"
    " \"bindings\": {\n"
    "   \"b_fast\": {\"secrets\": {\"a\": \"fast:a\"}},\n"
    "   \"b_slow\": {\"secrets\": {\"s\": \"slow:s\"}},\n"
    "   \"b_mixed\": {\"secrets\": {\"a\": \"fast:a\", \"s\": \"slow:s\"}},\n"
    "   \"b_lease\": {\"secrets\": {\"l\": \"lease:l\", \"s\": \"slow:s\"}}},\n"
    " \"targets\": {\"t_fast\": {\"binding\": \"b_fast\", \"uid\": 1000, \"gid\": 1000},\n"
    "             \"t_slow\": {\"binding\": \"b_slow\", \"uid\": 1000, \"gid\": 1000},\n"
    "             \"t_mixed\": {\"binding\": \"b_mixed\", \"uid\": 1000, \"gid\": 1000},\n"
    "             \"t_lease\": {\"binding\": \"b_lease\", \"uid\": 1000, \"gid\": 1000}}}\n";

enum { FAST, SLOW, LEASE, NSTORES };
enum { T_FAST, T_SLOW, T_MIXED, T_LEASE, NTARGETS };
static const char *const store_names[NSTORES] = {"fast", "slow", "lease"};

struct fx {
	struct rfx f; /* first: the owner's callbacks get it */
	struct fake stores[NSTORES];
	unsigned lookups; /* of stores by the pipeline */
};

static lb_store *own_store(struct rfx *f, const char *name)
{
	struct fx *x = (struct fx *)f;

	x->lookups++;
	for (size_t i = 0; i < NSTORES; i++)
		if (x->stores[i].listed && strcmp(store_names[i], name) == 0)
			return x->stores[i].st;
	return NULL;
}

static void close_stores(struct rfx *f)
{
	struct fx *x = (struct fx *)f;

	for (size_t i = 0; i < NSTORES; i++)
		lb_store_close(x->stores[i].st);
}

static int teardown(void **state)
{
	struct fx *x = *state;

	rfx_teardown(&x->f);
	free(x);
	return 0;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	*state = x;
	x->f.store = own_store;
	x->f.close_stores = close_stores;
	for (size_t i = 0; i < NSTORES; i++) {
		struct fake *f = &x->stores[i];
		f->st = calloc(1, sizeof(*f->st));
		if (!f->st) {
			for (size_t k = 0; k < i; k++)
				free(x->stores[k].st);
			free(x);
			return -1;
		}
		f->st->ops = i == LEASE ? &fake_leased_ops : &fake_ops;
		snprintf(f->st->name, sizeof(f->st->name), "%s", store_names[i]);
		f->st->priv = f;
		f->listed = true;
		f->version = 1;
		snprintf(f->value, sizeof(f->value), "%s-v1", store_names[i]);
	}
	/* A failed setup closes (and frees) the stores too. */
	if (rfx_setup(&x->f, "/tmp/lb-refresh", config_text, 1 << 20, false) < 0) {
		free(x);
		return -1;
	}
	for (size_t i = 0; i < NSTORES; i++)
		x->stores[i].loop = x->f.loop;
	return 0;
}

/* --- helpers --- */

static void refresh(struct fx *x, const char *name, const char *reason)
{
	const char *names[1] = {name};

	lb_refresh_run(x->f.r, name ? names : NULL, name ? 1 : 0, reason);
}

/* The content of a target's secret file ("" when there is none). */
static const char *content(struct fx *x, int t, const char *secret)
{
	static char buf[128];
	int fd = openat(x->f.targets[t]->dirfd, secret, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void on_deadline(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)t;
	*(bool *)ctx = true;
	lb_loop_stop(loop);
}

struct waiter {
	bool (*cond)(struct fx *);
	struct fx *x;
};

static void on_poll(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct waiter *w = ctx;

	if (w->cond(w->x))
		lb_loop_stop(loop);
	else
		lb_timer_arm(t, 5);
}

/* Runs the loop until cond holds or ms pass; returns whether cond holds. */
static bool run_until(struct fx *x, bool (*cond)(struct fx *), uint64_t ms)
{
	bool late = false;
	struct waiter w = {cond, x};
	lb_timer *dl = lb_timer_new(x->f.loop, on_deadline, &late);
	lb_timer *poll = lb_timer_new(x->f.loop, on_poll, &w);

	if (!cond(x)) {
		lb_timer_arm(dl, ms);
		lb_timer_arm(poll, 1);
		lb_loop_run(x->f.loop);
	}
	lb_timer_free(dl);
	lb_timer_free(poll);
	return cond(x);
}

static bool fast_published(struct fx *x)
{
	return x->f.targets[T_FAST]->generation > 0;
}

static bool saved(struct fx *x)
{
	return x->f.settled > 0;
}

/* --- tests --- */

/* The basics: a target gets its secret, an unchanged store means no new generation, a new
 * version means a new one. */
static void test_publish(void **state)
{
	struct fx *x = *state;

	refresh(x, "t_fast", "start");
	assert_int_equal(x->f.targets[T_FAST]->generation, 1);
	assert_string_equal(content(x, T_FAST, "a"), "fast-v1");
	refresh(x, "t_fast", "refresh");
	assert_int_equal(x->f.targets[T_FAST]->generation, 1);
	x->stores[FAST].version = 2;
	strcpy(x->stores[FAST].value, "fast-v2");
	refresh(x, "t_fast", "refresh");
	assert_int_equal(x->f.targets[T_FAST]->generation, 2);
	assert_string_equal(content(x, T_FAST, "a"), "fast-v2");
	assert_true(x->f.settled >= 2);
}

/* Defect 5: a store that never answers must not hold back targets that do not use it. */
static void test_slow_store_does_not_hold_back_others(void **state)
{
	struct fx *x = *state;

	x->stores[FAST].mode = ANSWER_LATER; /* a network store that answers at once */
	x->stores[SLOW].mode = HOLD;	     /* one that accepted and never replies */
	refresh(x, NULL, "start");
	assert_true(run_until(x, fast_published, 2000));
	assert_string_equal(content(x, T_FAST, "a"), "fast-v1");
	assert_int_equal(x->f.targets[T_SLOW]->generation, 0);
	assert_int_equal(x->f.targets[T_MIXED]->generation, 0);
	/* Its state is saved while the batch is still out. */
	assert_true(run_until(x, saved, 2000));
	/* The hanging store gives up (its HTTP timeout): the mixed target publishes what it
	 * has, the slow one keeps nothing and is retried. */
	fake_release(&x->stores[SLOW], SIZE_MAX, -1);
	assert_int_equal(x->f.targets[T_MIXED]->generation, 1);
	assert_string_equal(content(x, T_MIXED, "a"), "fast-v1");
	assert_string_equal(content(x, T_MIXED, "s"), "");
	assert_int_equal(x->f.targets[T_SLOW]->generation, 0);
	assert_true(lb_backoff_failing(&x->f.targets[T_SLOW]->retry));
}

static bool fast_at_v2(struct fx *x)
{
	return strcmp(content(x, T_FAST, "a"), "fast-v2") == 0;
}

/* Defect 5, second half: a target that mixes stores keeps its last good files while the
 * slow store is out, and gets the new ones when it answers. */
static void test_mixed_target_keeps_last_good_meanwhile(void **state)
{
	struct fx *x = *state;

	refresh(x, NULL, "start");
	assert_int_equal(x->f.targets[T_MIXED]->generation, 1);
	x->stores[FAST].mode = ANSWER_LATER;
	x->stores[FAST].version = 2;
	strcpy(x->stores[FAST].value, "fast-v2");
	x->stores[SLOW].mode = HOLD;
	refresh(x, NULL, "SIGUSR1");
	assert_true(run_until(x, fast_at_v2, 2000));
	assert_int_equal(x->f.targets[T_MIXED]->generation, 1);
	assert_string_equal(content(x, T_MIXED, "a"), "fast-v1");
	assert_string_equal(content(x, T_MIXED, "s"), "slow-v1");
	fake_release(&x->stores[SLOW], SIZE_MAX, 0);
	assert_int_equal(x->f.targets[T_MIXED]->generation, 2);
	assert_string_equal(content(x, T_MIXED, "a"), "fast-v2");
	assert_string_equal(content(x, T_MIXED, "s"), "slow-v1");
}

/* Defect 2: a batch that started before a rotation and finishes after it must not publish
 * the old version again. */
static void test_older_batch_does_not_roll_back(void **state)
{
	struct fx *x = *state;
	struct fake *s = &x->stores[SLOW];

	refresh(x, "t_slow", "start");
	assert_string_equal(content(x, T_SLOW, "s"), "slow-v1");
	s->mode = HOLD;
	refresh(x, NULL, "reload"); /* its fetch of slow:s reads v1 and hangs */
	s->version = 2;		    /* secret put */
	strcpy(s->value, "slow-v2");
	s->mode = ANSWER_NOW;
	refresh(x, "t_slow", "secret-put");
	assert_string_equal(content(x, T_SLOW, "s"), "slow-v2");
	fake_release(s, SIZE_MAX, 0); /* the reload batch finishes now, with v1 */
	assert_string_equal(content(x, T_SLOW, "s"), "slow-v2");
	assert_string_equal(lb_target_held(x->f.targets[T_SLOW], "s")->version, "2");
}

/* ... but an older batch's good answer still replaces a file that no newer batch could
 * fetch: it is newer than what the target holds. */
static void test_older_batch_fills_what_newer_could_not(void **state)
{
	struct fx *x = *state;
	struct fake *s = &x->stores[SLOW];

	s->mode = HOLD;
	refresh(x, "t_slow", "start"); /* call 0 */
	s->version = 2;
	strcpy(s->value, "slow-v2");
	refresh(x, "t_slow", "rotate"); /* call 1 */
	fake_release(s, 1, -1);		/* the newer batch fails */
	assert_int_equal(x->f.targets[T_SLOW]->generation, 0);
	fake_release(s, 0, 0); /* the older one brings v1: better than nothing */
	assert_string_equal(content(x, T_SLOW, "s"), "slow-v1");
}

/* Defect 4: stores replaced under a batch (a reload carries one over and closes another,
 * whose close completes our fetch). The batch must not look the stores up again: a leased
 * (per-target) source fetched before the reload is still the target's. */
static void test_batch_survives_store_replacement(void **state)
{
	struct fx *x = *state;

	x->stores[SLOW].mode = HOLD;
	refresh(x, "t_lease", "start");
	assert_int_equal(x->stores[LEASE].nfetch, 1);
	assert_int_equal(x->f.targets[T_LEASE]->generation, 0);
	/* Reload: the old table no longer has the leased store (it moved to the new one),
	 * and the slow store is closed. Stores are asked for only when a batch starts. */
	x->stores[LEASE].listed = false;
	x->lookups = 0;
	lb_store_close(x->stores[SLOW].st);
	assert_int_equal(x->lookups, 0);
	assert_int_equal(x->f.targets[T_LEASE]->generation, 1);
	assert_string_equal(content(x, T_LEASE, "l"), "lease-v1");
	x->stores[LEASE].listed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_store_does_not_hold_back_others, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_mixed_target_keeps_last_good_meanwhile, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_older_batch_does_not_roll_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_older_batch_fills_what_newer_could_not, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_batch_survives_store_replacement, setup, teardown),
	};

	if (rfx_need_root("test_refresh") >= 0)
		return rfx_need_root("test_refresh");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
