#include "pubfork.h"
#include "fsutil.h"
#include "generation.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { JOB_NOT_DONE, JOB_DONE, JOB_FAILED };

/* What the child reports, in memory shared with it: no pipe that could fill up, nothing to
 * read while it runs. Read only after it is reaped, and then only as a hint: the disk says
 * what was published. */
struct result {
	int state;
	int sys;
	char msg[256];
};

struct lb_pubfork {
	lb_loop *loop;
	lb_pubjob *jobs;
	size_t n;
	pid_t pid;
	int pidfd; /* -1: none could be opened; the child was killed at once */
	lb_timer *deadline;
	uint64_t deadline_at; /* lb_now_ms() when the child is killed */
	struct result *res;   /* n of them, MAP_SHARED */
	size_t reslen;
	lb_pubfork_done done;
	void *ctx;
	const char *killed; /* by us: why ("at its deadline"), else NULL */
	/* What the child may hold, made before the fork (it allocates nothing). */
	unsigned char *stage; /* the values it writes: private, mlocked, not dumped */
	size_t stagelen;
	const lb_secbuf **orig; /* the distinct values, sorted by address */
	lb_secbuf *staged;	/* per distinct value, its copy in stage */
	size_t nstaged;
	lb_publish_item *scratch; /* a job's items with staged values (the child's) */
	int *keep;		  /* the jobs' target fds, sorted: every other fd is closed */
	size_t nkeep;
};

/* Generous: the work is ~50 µs per target on an idle host, a few ms under ASan and load. */
static uint64_t deadline_ms(size_t n)
{
	return 10000 + 10 * (uint64_t)n;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const void *const *)a,
		  y = (uintptr_t) * (const void *const *)b;

	return (x > y) - (x < y);
}

/* Every sodium buffer of lockboxd is wiped in a forked child (secmem.c, MADV_WIPEONFORK): the
 * values the child writes are copied here first, each distinct one once (a value shared by
 * every target, the common case, is one copy), into a private mapping that is locked, kept
 * out of core dumps and shared with the child copy-on-write (lockboxd does not write it while
 * the child runs). Wiped and unmapped by lockboxd once the child is gone. */
static int stage_values(lb_pubfork *p, lb_err *e)
{
	size_t nv = 0, maxn = 1, cap, off = 0;

	for (size_t i = 0; i < p->n; i++) {
		nv += p->jobs[i].n;
		maxn = p->jobs[i].n > maxn ? p->jobs[i].n : maxn;
	}
	p->orig = calloc(nv + 1, sizeof(const lb_secbuf *));
	p->scratch = calloc(maxn, sizeof(*p->scratch));
	if (!p->orig || !p->scratch)
		return lb_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; k < p->jobs[i].n; k++)
			if (p->jobs[i].items[k].value)
				p->orig[p->nstaged++] = p->jobs[i].items[k].value;
	qsort(p->orig, p->nstaged, sizeof(const lb_secbuf *), cmp_ptr);
	nv = p->nstaged;
	p->nstaged = 0;
	for (size_t i = 0; i < nv; i++)
		if (p->nstaged == 0 || p->orig[i] != p->orig[p->nstaged - 1]) {
			p->orig[p->nstaged++] = p->orig[i];
			p->stagelen += p->orig[i]->len + 1;
		}
	p->staged = calloc(p->nstaged + 1, sizeof(*p->staged));
	if (!p->staged)
		return lb_fail(e, ENOMEM, "out of memory");
	cap = p->stagelen ? p->stagelen : 1;
	p->stage = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->stage == MAP_FAILED) {
		p->stage = NULL;
		return lb_fail_errno(e, "publisher child: map its values");
	}
	(void)madvise(p->stage, cap, MADV_DONTDUMP);
	(void)mlock(p->stage, cap); /* as sodium_malloc: best effort (RLIMIT_MEMLOCK) */
	for (size_t i = 0; i < p->nstaged; i++) {
		p->staged[i].data = p->stage + off;
		p->staged[i].len = p->orig[i]->len;
		memcpy(p->staged[i].data, p->orig[i]->data, p->orig[i]->len + 1);
		off += p->orig[i]->len + 1;
	}
	return 0;
}

static void unstage_values(lb_pubfork *p)
{
	size_t cap = p->stagelen ? p->stagelen : 1;

	if (p->stage) {
		sodium_memzero(p->stage, p->stagelen);
		munlock(p->stage, cap);
		munmap(p->stage, cap);
	}
	free(p->staged);
	free(p->orig);
	free(p->scratch);
	free(p->keep);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The fds the child keeps: its jobs' target roots (stdin, stdout and stderr too). */
static int keep_fds(lb_pubfork *p, lb_err *e)
{
	p->keep = calloc(p->n + 1, sizeof(int));
	if (!p->keep)
		return lb_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		p->keep[i] = p->jobs[i].t->dirfd;
	qsort(p->keep, p->n, sizeof(int), cmp_int);
	for (size_t i = 0; i < p->n; i++)
		if (p->nkeep == 0 || p->keep[i] != p->keep[p->nkeep - 1])
			p->keep[p->nkeep++] = p->keep[i];
	return 0;
}

/* The loop's epoll, the worker's socket, the control socket and its clients, other targets:
 * nothing of it is the child's business. */
static void close_others(const lb_pubfork *p)
{
	unsigned from = 3;

	for (size_t i = 0; i < p->nkeep; i++) {
		unsigned fd = (unsigned)p->keep[i];
		if (fd > from)
			(void)syscall(SYS_close_range, from, fd - 1, 0);
		if (fd >= from)
			from = fd + 1;
	}
	(void)syscall(SYS_close_range, from, ~0U, 0);
}

/* Job j's items with the staged copies of their values. */
static const lb_publish_item *child_items(lb_pubfork *p, const lb_pubjob *j)
{
	for (size_t k = 0; k < j->n; k++) {
		const lb_secbuf *v = j->items[k].value;
		const lb_secbuf **at =
		    v ? bsearch(&v, p->orig, p->nstaged, sizeof(const lb_secbuf *), cmp_ptr) : NULL;

		p->scratch[k] = j->items[k];
		p->scratch[k].value = at ? &p->staged[at - p->orig] : NULL;
	}
	return p->scratch;
}

/* The child: file work only. No loop, no log or audit line (that would also write the
 * parent's held audit lines a second time), no atexit handler: _exit. */
static void child_run(pid_t parent, lb_pubfork *p)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	close_others(p);
	/* mlock is not inherited: the stage is locked again (if lockboxd unmaps its copy
	 * meanwhile, the pages left to the child still cannot be swapped out). */
	if (p->stage)
		(void)mlock(p->stage, p->stagelen ? p->stagelen : 1);
	for (size_t i = 0; i < p->n; i++) {
		const lb_pubjob *j = &p->jobs[i];
		const lb_publish_item *items = child_items(p, j);
		lb_err e = {0};

		if (lb_gen_write(j->t->dirfd, j->t->name, j->gen, j->gen - 1, items, j->n, j->huid,
				 j->hgid, j->names_changed, &e) == 0) {
			p->res[i].state = JOB_DONE;
			continue;
		}
		p->res[i].sys = e.sys;
		snprintf(p->res[i].msg, sizeof(p->res[i].msg), "%s", e.msg);
		p->res[i].state = JOB_FAILED;
	}
	if (p->stage)
		sodium_memzero(p->stage, p->stagelen);
	_exit(0);
}

/* Everything under a gone target's tmpfs, wiped (its mount is detached already). */
static void wipe_all(int fd)
{
	int dfd = openat(fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	lb_err ignored;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			lb_remove_tree_at(fd, de->d_name, true, &ignored);
	closedir(d);
}

/* Each job's outcome from the disk: ..data names the new generation, or the half-built
 * directory (if any) goes and the target keeps its previous one. */
static void reconcile(lb_pubfork *p, const char *how)
{
	for (size_t i = 0; i < p->n; i++) {
		lb_pubjob *j = &p->jobs[i];
		const struct result *r = &p->res[i];
		uint64_t cur = 0;

		if (!j->t) {
			if (j->wipe_fd >= 0) {
				wipe_all(j->wipe_fd);
				close(j->wipe_fd);
				j->wipe_fd = -1;
			}
			continue;
		}
		if (r->state == JOB_DONE || (lb_gen_current(j->t->dirfd, &cur) && cur == j->gen)) {
			j->ok = true;
			if (r->state != JOB_DONE && j->names_changed) {
				lb_err ignored; /* swapped in, its links not yet pruned */
				lb_gen_prune_links(j->t->dirfd, j->t->name, j->items, j->n,
						   &ignored);
			}
			continue;
		}
		lb_gen_remove(j->t->dirfd, j->gen);
		if (r->state == JOB_FAILED) {
			j->err.sys = r->sys;
			snprintf(j->err.msg, sizeof(j->err.msg), "%s", r->msg);
		} else {
			j->err.sys = 0;
			snprintf(j->err.msg, sizeof(j->err.msg),
				 "target %s: generation %llu not published: the publisher child %s",
				 j->t->name, (unsigned long long)j->gen, how);
		}
	}
}

static void reap(lb_pubfork *p)
{
	lb_pubfork_done done = p->done;
	void *ctx = p->ctx;
	lb_pubjob *jobs = p->jobs;
	size_t n = p->n;
	char how[96];
	int st = 0;

	if (p->pidfd >= 0) {
		lb_loop_del_fd(p->loop, p->pidfd);
		close(p->pidfd);
	}
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (p->killed)
		snprintf(how, sizeof(how), "(pid %d) was killed %s", (int)p->pid, p->killed);
	else if (WIFSIGNALED(st))
		snprintf(how, sizeof(how), "(pid %d) died of signal %d", (int)p->pid, WTERMSIG(st));
	else
		snprintf(how, sizeof(how), "(pid %d) exited (status %d) before this target",
			 (int)p->pid, WEXITSTATUS(st));
	if (p->killed || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		lb_log(LB_ERROR, "publisher child %s", how);
	reconcile(p, how);
	munmap(p->res, p->reslen);
	unstage_values(p);
	lb_timer_free(p->deadline);
	free(p);
	done(ctx, jobs, n);
}

static void on_exit_fd(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	reap(ctx);
}

static void kill_child(lb_pubfork *p, const char *why)
{
	p->killed = why;
	if (p->pidfd < 0 || syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0) < 0)
		kill(p->pid, SIGKILL); /* not reaped yet: the pid is still the child's */
}

static void on_deadline(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_pubfork *p = ctx;

	(void)loop;
	(void)t;
	kill_child(p, "at its deadline");
	if (p->pidfd < 0)
		reap(p); /* no pidfd to wait on: it dies now, the wait is short */
}

lb_pubfork *lb_pubfork_start(lb_loop *loop, lb_pubjob *jobs, size_t n, lb_pubfork_done done,
			     void *ctx, lb_err *e)
{
	lb_pubfork *p = calloc(1, sizeof(*p));
	pid_t parent = getpid();

	if (!p)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	p->loop = loop;
	p->jobs = jobs;
	p->n = n;
	p->done = done;
	p->ctx = ctx;
	p->pidfd = -1;
	p->reslen = (n ? n : 1) * sizeof(struct result);
	p->res = mmap(NULL, p->reslen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p->deadline = lb_timer_new(loop, on_deadline, p);
	if (p->res == MAP_FAILED || !p->deadline) {
		lb_fail_errno(e, "publisher child: shared result page");
		goto fail;
	}
	if (stage_values(p, e) || keep_fds(p, e))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		jobs[i].ok = false;
		jobs[i].wipe_fd = -1;
	}
	/* Without a pidfd the loop could not wait for the child (kernel before 5.3, or no fd
	 * left): the pass is written here instead. */
	{
		int probe = (int)syscall(SYS_pidfd_open, parent, 0);

		if (probe < 0) {
			lb_fail_errno(e, "pidfd_open");
			goto fail;
		}
		close(probe);
	}
	p->pid = fork();
	if (p->pid < 0) {
		lb_fail_errno(e, "fork the publisher child");
		goto fail;
	}
	if (p->pid == 0)
		child_run(parent, p);
	p->deadline_at = lb_now_ms() + deadline_ms(n);
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd >= 0 && lb_loop_add_fd(loop, p->pidfd, EPOLLIN, on_exit_fd, p) < 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	/* Without a pidfd on the loop the child is stopped at the next turn; its targets are
	 * reconciled like those of a crashed child. */
	lb_timer_arm(p->deadline, p->pidfd >= 0 ? deadline_ms(n) : 0);
	return p;
fail:
	if (p->res != MAP_FAILED && p->res)
		munmap(p->res, p->reslen);
	unstage_values(p);
	lb_timer_free(p->deadline);
	free(p);
	return NULL;
}

void lb_pubfork_finish(lb_pubfork *p, uint64_t max_ms)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	uint64_t now = lb_now_ms();
	uint64_t until = now + max_ms < p->deadline_at ? now + max_ms : p->deadline_at;
	bool gone = false;

	/* A signal (EINTR) is not the deadline: the wait goes on for the time left. */
	while (p->pidfd >= 0) {
		uint64_t left = until > now ? until - now : 0;
		int rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);

		if (rc > 0) {
			gone = true;
			break;
		}
		if (rc == 0 || errno != EINTR)
			break;
		now = lb_now_ms();
	}
	if (!gone)
		kill_child(p, lb_now_ms() >= p->deadline_at
				  ? "at its deadline"
				  : "at the end of lockboxd's wait for it");
	reap(p);
}

void lb_pubfork_forget(lb_pubfork *p, const lb_target *t)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->jobs[i].t == t) {
			p->jobs[i].wipe_fd = fcntl(t->dirfd, F_DUPFD_CLOEXEC, 0);
			p->jobs[i].t = NULL;
		}
}
