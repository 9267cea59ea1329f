/* The publisher child itself (broker/pubfork.c) on plain directories: what it holds (no fd
 * but its targets', no copy of a secret it does not write), how lockboxd waits for it when
 * it must (a signal is not the deadline; shutdown is bounded). A child is caught with
 * SIGSTOP; a test whose child was too fast to catch retries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "generation.h"
#include "layout.h"
#include "loop.h"
#include "pubfork.h"

/* Enough jobs with values big enough that the child is still writing a while after the
 * fork (a few ms per job under load, far less idle). */
#define NJOBS 200
#define VLEN  (128 * 1024)

struct fx {
	char dir[64];
	lb_loop *loop;
	lb_target *t[NJOBS];
	lb_publish_item items[NJOBS];
	lb_pubjob jobs[NJOBS];
	lb_secbuf *value;
	bool done;
	size_t nok;
	char why[256];
};

static void on_done(void *ctx, lb_pubjob *jobs, size_t n)
{
	struct fx *x = ctx;

	x->done = true;
	x->nok = 0;
	for (size_t i = 0; i < n; i++) {
		x->nok += jobs[i].ok;
		if (!jobs[i].ok && !x->why[0])
			snprintf(x->why, sizeof(x->why), "%s", jobs[i].err.msg);
	}
}

static int teardown(void **state);

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	int dfd;

	if (!x)
		return -1;
	*state = x;
	snprintf(x->dir, sizeof(x->dir), "/tmp/lb-pubfork-XXXXXX");
	x->loop = lb_loop_new();
	if (lb_secmem_init() < 0 || !mkdtemp(x->dir) || !x->loop ||
	    !(x->value = lb_secbuf_new(VLEN)))
		return teardown(state), -1;
	memset(x->value->data, 'v', VLEN);
	dfd = open(x->dir, O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < NJOBS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "t%03d", i);
		x->t[i] = calloc(1, sizeof(lb_target) + sizeof(name));
		if (!x->t[i] || mkdirat(dfd, name, 0700) < 0) {
			close(dfd);
			return teardown(state), -1;
		}
		x->t[i]->dirfd = openat(dfd, name, O_DIRECTORY | O_CLOEXEC);
		memcpy(x->t[i]->name, name, sizeof(name));
		x->items[i] = (lb_publish_item){.name = "s",
						.value = x->value,
						.version = "1",
						.source = "fake:s",
						.mode = 0400};
		x->jobs[i] = (lb_pubjob){.t = x->t[i],
					 .gen = 1,
					 .items = &x->items[i],
					 .n = 1,
					 .huid = getuid(),
					 .hgid = getgid(),
					 .names_changed = true};
	}
	close(dfd);
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	lb_err ignored;
	int fd = open(x->dir, O_DIRECTORY | O_CLOEXEC);

	for (int i = 0; i < NJOBS; i++) {
		if (!x->t[i])
			continue;
		if (x->t[i]->dirfd > 0)
			close(x->t[i]->dirfd);
		lb_remove_tree_at(fd, x->t[i]->name, true, &ignored);
		free(x->t[i]);
	}
	if (fd >= 0)
		close(fd);
	rmdir(x->dir);
	lb_secbuf_free(x->value);
	lb_loop_free(x->loop);
	free(x);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The publisher child of this process (this test has no other child at that moment). */
static pid_t find_child(void)
{
	char path[64], buf[64] = {0};
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	return n > 0 ? (pid_t)strtol(buf, NULL, 10) : -1;
}

static bool published(struct fx *x, int i)
{
	uint64_t gen = 0;

	return lb_gen_current(x->t[i]->dirfd, &gen) && gen == 1;
}

/* Start the child and stop it once it has published its first target; *caught: before its
 * last (else it was too fast: the caller retries). */
static lb_pubfork *start_caught(struct fx *x, pid_t *child, bool *caught)
{
	lb_err e = {0};
	lb_pubfork *p = lb_pubfork_start(x->loop, x->jobs, NJOBS, on_done, x, &e);

	if (!p)
		fail_msg("%s", e.msg);
	*child = find_child();
	assert_true(*child > 0);
	for (int i = 0; i < 10000 && !published(x, 0); i++)
		sleep_ms(1);
	assert_int_equal(kill(*child, SIGSTOP), 0);
	*caught = published(x, 0) && !published(x, NJOBS - 1);
	return p;
}

/* Remove what a round wrote, for the next one. */
static void reset(struct fx *x)
{
	for (int i = 0; i < NJOBS; i++) {
		unlinkat(x->t[i]->dirfd, LB_DATA_LINK, 0);
		unlinkat(x->t[i]->dirfd, "s", 0);
		lb_gen_remove(x->t[i]->dirfd, 1);
	}
	x->done = false;
	x->nok = 0;
	x->why[0] = '\0';
}

/* Is fd open in process pid? */
static bool has_fd(pid_t pid, int fd)
{
	char path[64], target[256];

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	return readlink(path, target, sizeof(target)) >= 0;
}

/* The child holds its targets' fds and nothing else of lockboxd's (the test's marker stands
 * for the loop's epoll, the control socket, other targets), and none of lockboxd's secret
 * bytes but the ones it writes: a secret buffer it does not write reads as zeros in it. */
static void test_child_holds_only_its_own(void **state)
{
	struct fx *x = *state;
	lb_secbuf *other = lb_secbuf_dup("other-secret-canary", 19);
	int marker = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_non_null(other);
	assert_true(marker >= 0);
	for (int round = 0; round < 5; round++) {
		pid_t child;
		bool caught;
		lb_pubfork *p = start_caught(x, &child, &caught);
		char path[64], seen[19] = {0};
		int mem;

		if (caught) {
			assert_false(has_fd(child, marker));
			assert_true(has_fd(child, x->t[0]->dirfd));
			assert_true(has_fd(child, x->t[NJOBS - 1]->dirfd));
			snprintf(path, sizeof(path), "/proc/%d/mem", (int)child);
			mem = open(path, O_RDONLY | O_CLOEXEC);
			assert_true(mem >= 0);
			assert_int_equal(
			    pread(mem, seen, sizeof(seen), (off_t)(uintptr_t)other->data),
			    sizeof(seen));
			close(mem);
			assert_memory_not_equal(seen, "other-secret-canary", sizeof(seen));
		}
		kill(child, SIGCONT);
		lb_pubfork_finish(p, LB_PUBFORK_WAIT_MS);
		assert_true(x->done);
		assert_int_equal(x->nok, NJOBS);
		/* The values it wrote are the real ones, not the wiped pages. */
		for (int i = 0; i < NJOBS; i += NJOBS - 1) {
			char c = 0;
			int fd = openat(x->t[i]->dirfd, LB_DATA_LINK "/s", O_RDONLY | O_CLOEXEC);
			assert_true(fd >= 0);
			assert_int_equal(pread(fd, &c, 1, VLEN - 1), 1);
			close(fd);
			assert_int_equal(c, 'v');
		}
		reset(x);
		if (caught) {
			close(marker);
			lb_secbuf_free(other);
			return;
		}
	}
	fail_msg("the child was never caught before its last target in 5 rounds");
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A signal while lockboxd waits for the child (shutdown, reload) is not its deadline: the
 * wait goes on, and the child's work counts. Before, poll's EINTR killed the child. */
static void test_finish_retries_after_a_signal(void **state)
{
	struct fx *x = *state;
	struct sigaction sa = {.sa_handler = on_usr1}, old;

	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0); /* no SA_RESTART */
	for (int round = 0; round < 5; round++) {
		pid_t child, helper;
		bool caught;
		lb_pubfork *p = start_caught(x, &child, &caught);
		int st = 0;

		/* A helper interrupts the wait, then lets the child go on. */
		helper = fork();
		assert_true(helper >= 0);
		if (helper == 0) {
			sleep_ms(100);
			kill(getppid(), SIGUSR1);
			sleep_ms(100);
			kill(child, SIGCONT);
			_exit(0);
		}
		lb_pubfork_finish(p, LB_PUBFORK_WAIT_MS);
		assert_int_equal(waitpid(helper, &st, 0), helper);
		assert_true(x->done);
		if (x->nok != NJOBS)
			fail_msg("%zu of %d published after a signal: %s", x->nok, NJOBS, x->why);
		reset(x);
		if (caught) {
			sigaction(SIGUSR1, &old, NULL);
			return;
		}
	}
	fail_msg("the child was never caught before its last target in 5 rounds");
}

/* Shutdown waits for a stopped (hung) child at most the bound given, not its deadline
 * (10 s + 10 ms per target: 110 s at 10,000, more than systemd's TimeoutStopSec): it is
 * killed and its targets keep what they had, nothing half-built. The limit asserted is a
 * generous sanity bound (the deadline here is 12 s). */
static void test_finish_is_bounded(void **state)
{
	struct fx *x = *state;

	for (int round = 0; round < 5; round++) {
		pid_t child;
		bool caught;
		lb_pubfork *p = start_caught(x, &child, &caught);
		uint64_t t0 = lb_now_ms();

		if (!caught) {
			kill(child, SIGCONT);
			lb_pubfork_finish(p, LB_PUBFORK_WAIT_MS);
			reset(x);
			continue;
		}
		lb_pubfork_finish(p, 200);
		assert_true(lb_now_ms() - t0 < 8000);
		assert_true(x->done);
		assert_true(x->nok < NJOBS);
		assert_non_null(strstr(x->why, "killed"));
		for (int i = 0; i < NJOBS; i++) {
			char g[64];
			if (published(x, i))
				continue;
			lb_gen_name(1, g, sizeof(g));
			if (faccessat(x->t[i]->dirfd, g, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				fail_msg("%s: a half-built %s is left", x->t[i]->name, g);
		}
		reset(x);
		return;
	}
	fail_msg("the child was never caught before its last target in 5 rounds");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_child_holds_only_its_own, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_finish_retries_after_a_signal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_finish_is_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
