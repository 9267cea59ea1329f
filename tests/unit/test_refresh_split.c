/* A big pass split with a publisher child (broker/refresh_split.c, broker/pubfork.c): the
 * child's targets are committed after it, the pass's deliver lines come in the order of its
 * targets, and a child killed half-way leaves each of its targets with either the new
 * generation or its previous one (no half-built directory), with the next rotation working.
 * Real tmpfs mounts and a real loop; a fake store through the store vtable. Root for the
 * mounts (exits 77 without, unless LOCKBOX_MUST_WORK=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "generation.h"
#include "layout.h"
#include "log.h"
#include "pubfork.h"
#include "refresh.h"
#include "refresh_fixture.h"

/* 2 * LB_PUBFORK_MIN targets: the first NSMALL hold small secrets, the rest (the child's
 * share, the tail of the pass) a big one, so that the child is still writing when the pass
 * returns to the loop. */
#define NT     (2 * LB_PUBFORK_MIN)
#define NSMALL (NT / 4)
#define BIG    (512 * 1024)

struct fx {
	struct rfx f; /* first: the owner's callbacks get it */
	lb_store store;
	unsigned version;
};

static void fake_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
		       void *ctx)
{
	struct fx *x = s->priv;
	bool big = strcmp(src->path, "big") == 0;
	lb_fetch_result r = {0};

	(void)target;
	r.value = lb_secbuf_new(big ? BIG : 16);
	assert_non_null(r.value);
	memset(r.value->data, big ? 'B' : 'a', r.value->len);
	r.value->data[0] = (unsigned char)('0' + x->version % 10);
	snprintf(r.version, sizeof(r.version), "%u", x->version);
	cb(ctx, &r);
	lb_fetch_result_clear(&r);
}

static void fake_close(lb_store *s)
{
	(void)s;
}

static const lb_store_ops fake_ops = {.type = "fake", .fetch = fake_fetch, .close = fake_close};

static lb_store *own_store(struct rfx *f, const char *name)
{
	struct fx *x = (struct fx *)f;

	return strcmp(name, "fake") == 0 ? &x->store : NULL;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	char *text = malloc(64 * NT + 512);
	size_t len = 0;
	int rc;

	if (!x || !text) {
		free(x);
		free(text);
		return -1;
	}
	len += (size_t)sprintf(
	    text + len, "{\"stores\": {\"fake\": {\"type\": \"sealed\"}},\n"
			" \"bindings\": {\"small\": {\"secrets\": {\"a\": \"fake:a\"}},\n"
			"   \"big\": {\"secrets\": {\"a\": \"fake:a\", \"big\": \"fake:big\"}}},\n"
			" \"targets\": {");
	for (int i = 0; i < NT; i++)
		len += (size_t)sprintf(text + len, "%s\"t%03d\": {\"binding\": \"%s\"}",
				       i ? "," : "", i, i < NSMALL ? "small" : "big");
	sprintf(text + len, "}}\n");
	x->store.ops = &fake_ops;
	snprintf(x->store.name, sizeof(x->store.name), "fake");
	x->store.priv = x;
	x->version = 1;
	x->f.store = own_store;
	rc = rfx_setup(&x->f, "/tmp/lb-split", text, 4 << 20, true);
	free(text);
	if (rc < 0) {
		free(x);
		return -1;
	}
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	rfx_teardown(&x->f);
	free(x);
	return 0;
}

static void on_poll(lb_loop *loop, lb_timer *t, void *ctx)
{
	if (!lb_refresh_busy(ctx))
		lb_loop_stop(loop);
	else
		lb_timer_arm(t, 2);
}

/* The loop runs until no publisher child is out (the child's deadline bounds it). */
static void run_until_idle(struct fx *x)
{
	lb_timer *poll = lb_timer_new(x->f.loop, on_poll, x->f.r);

	lb_timer_arm(poll, 1);
	if (lb_refresh_busy(x->f.r))
		lb_loop_run(x->f.loop);
	lb_timer_free(poll);
	assert_false(lb_refresh_busy(x->f.r));
}

/* First byte of a target's secret file: the version digit it was written at. */
static char first_byte(struct fx *x, int i, const char *secret)
{
	char c = 0;
	int fd = openat(x->f.targets[i]->dirfd, secret, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && read(fd, &c, 1) != 1)
		c = 0;
	if (fd >= 0)
		close(fd);
	return c;
}

/* Every target's state in memory is what its disk says, and no half-built generation is
 * left beside the current one. */
static void assert_consistent(struct fx *x)
{
	for (int i = 0; i < NT; i++) {
		lb_target *t = x->f.targets[i];
		uint64_t cur = 0;
		char g[64];

		assert_true(lb_gen_current(t->dirfd, &cur));
		if (cur != t->generation)
			fail_msg("%s: ..data names generation %llu, lockboxd holds %llu", t->name,
				 (unsigned long long)cur, (unsigned long long)t->generation);
		lb_gen_name(t->generation + 1, g, sizeof(g));
		if (faccessat(t->dirfd, g, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			fail_msg("%s: a half-built %s is left", t->name, g);
		assert_false(t->publishing);
	}
}

static void rotate(struct fx *x)
{
	x->version++;
	lb_refresh_run(x->f.r, NULL, 0, "rotate");
}

/* A pass of NT targets goes to a child in part; the child's targets are published only when
 * it is gone, and every deliver line of the pass is there once, in the order of the targets,
 * naming the generation the target has. */
static void test_split_pass(void **state)
{
	struct fx *x = *state;
	_cleanup_free_ char *audit = NULL;
	const char *p;
	int next = 0;
	lb_err e = {0};

	rotate(x);
	run_until_idle(x);
	assert_consistent(x);
	lb_audit_close();
	assert_int_equal(unlinkat(x->f.statefd, "audit.jsonl", 0), 0);
	assert_int_equal(lb_audit_open(x->f.statefd), 0);
	rotate(x);
	/* The child's share is still out after the pass returned to the loop. */
	assert_true(lb_refresh_busy(x->f.r));
	assert_int_equal(x->f.targets[NT - 1]->generation, 1);
	run_until_idle(x);
	assert_consistent(x);
	for (int i = 0; i < NT; i++) {
		assert_int_equal(x->f.targets[i]->generation, 2);
		assert_int_equal(first_byte(x, i, "a"), '3');
	}
	assert_int_equal(lb_read_at(x->f.statefd, "audit.jsonl", 1 << 20, &audit, NULL, &e), 0);
	for (p = strstr(audit, "\"event\":\"deliver\""); p;
	     p = strstr(p + 1, "\"event\":\"deliver\"")) {
		char want[64];
		const char *line_end = strchr(p, '\n');

		snprintf(want, sizeof(want), "\"target\":\"t%03d\"", next);
		if (!strstr(p, want) || strstr(p, want) > line_end)
			fail_msg("deliver line %d is not t%03d's: %.120s", next, next, p);
		assert_non_null(strstr(p, "\"generation\":2"));
		next++;
	}
	assert_int_equal(next, NT);
}

/* The publisher child of the pass, found among this process's children. */
static pid_t find_child(void)
{
	char path[64], buf[256] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? (pid_t)strtol(buf, NULL, 10) : -1;
}

/* A child killed half-way: each of its targets has the new generation or its previous one,
 * lockboxd's state says the same, nothing half-built is left, and the next rotation
 * publishes every target. */
static void test_child_killed_midway(void **state)
{
	struct fx *x = *state;
	bool midway = false;

	rotate(x);
	run_until_idle(x);
	for (int attempt = 0; attempt < 5 && !midway; attempt++) {
		pid_t child;
		int done = 0, nchild = 0;
		char now;

		rotate(x);
		now = (char)('0' + x->version % 10);
		child = find_child();
		assert_true(child > 0);
		assert_int_equal(kill(child, SIGSTOP), 0);
		for (int i = 0; i < NT; i++)
			if (x->f.targets[i]->publishing) { /* the child's */
				nchild++;
				done += first_byte(x, i, "big") == now;
			}
		midway = done > 0 && done < nchild;
		assert_int_equal(kill(child, midway ? SIGKILL : SIGCONT), 0);
		if (midway)
			kill(child, SIGCONT);
		run_until_idle(x);
		assert_consistent(x);
		for (int i = NSMALL; i < NT && midway; i++) {
			char b = first_byte(x, i, "big");
			/* New, or the previous good one (never missing). */
			assert_true(b == now || b == (char)('0' + (x->version - 1) % 10));
		}
	}
	if (!midway)
		fail_msg("the child was never caught half-way in 5 rotations");
	rotate(x);
	run_until_idle(x);
	assert_consistent(x);
	for (int i = 0; i < NT; i++)
		assert_int_equal(first_byte(x, i, "a"), (char)('0' + x->version % 10));
}

static void on_stop(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)t;
	(void)ctx;
	lb_loop_stop(loop);
}

/* The loop runs for ms (timers due meanwhile fire). */
static void run_for(struct fx *x, uint64_t ms)
{
	lb_timer *stop = lb_timer_new(x->f.loop, on_stop, NULL);

	lb_timer_arm(stop, ms);
	lb_loop_run(x->f.loop);
	lb_timer_free(stop);
}

struct answer {
	struct fx *x;
	bool ran;
	unsigned settled; /* state saves when the answer went out */
};

static void on_idle(void *ctx)
{
	struct answer *a = ctx;

	a->ran = true;
	a->settled = a->x->f.settled;
}

/* A split pass is answered (secret put, rotate: lb_refresh_when_idle) as soon as the child's
 * share is committed; the state save and the GC (the settled hook: tens of ms, and seconds
 * of GC with 10,000 targets) come right after, not before. */
static void test_answer_before_state_save(void **state)
{
	struct fx *x = *state;
	struct answer a = {.x = x};
	unsigned before;

	rotate(x);
	run_until_idle(x);
	run_for(x, 20);
	before = x->f.settled;
	rotate(x);
	assert_true(lb_refresh_busy(x->f.r));
	assert_true(lb_refresh_when_idle(x->f.r, on_idle, &a));
	run_until_idle(x);
	assert_true(a.ran);
	assert_int_equal(a.settled, before);
	run_for(x, 20);
	assert_int_equal(x->f.settled, before + 1);
}

/* Two rotates within a child's write window: the second pass's wants for the child's targets
 * wait for it and are applied when it is done (they were dropped: 71 of 128 targets kept the
 * old value), and lb_refresh_settle (what reload calls before it frees the old config)
 * returns with no child out, also when finishing one started the next. */
static void test_settle_leaves_no_child(void **state)
{
	struct fx *x = *state;

	rotate(x);
	run_until_idle(x);
	rotate(x); /* pass A: a child takes its tail */
	assert_true(lb_refresh_busy(x->f.r));
	rotate(x); /* pass B: its tail targets wait for A's child */
	lb_refresh_settle(x->f.r);
	if (lb_refresh_busy(x->f.r))
		fail_msg("lb_refresh_settle returned with a publisher child still out");
	run_until_idle(x);
	run_for(x, 50);
	for (int i = 0; i < NT; i++)
		if (first_byte(x, i, "a") != '0' + (char)x->version)
			fail_msg("t%03d holds version %c after the rotate to %u (gen %llu)", i,
				 first_byte(x, i, "a"), x->version,
				 (unsigned long long)x->f.targets[i]->generation);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_split_pass, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_child_killed_midway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_answer_before_state_save, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settle_leaves_no_child, setup, teardown),
	};

	if (rfx_need_root("test_refresh_split") >= 0)
		return rfx_need_root("test_refresh_split");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
