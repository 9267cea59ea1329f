#include "pubfork.h"
#include "fsutil.h"
#include "generation.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
	struct result *res; /* n of them, MAP_SHARED */
	size_t reslen;
	lb_pubfork_done done;
	void *ctx;
	bool killed; /* by us, at its deadline */
};

/* Generous: the work is ~50 µs per target on an idle host, a few ms under ASan and load. */
static uint64_t deadline_ms(size_t n)
{
	return 10000 + 10 * (uint64_t)n;
}

static void each_value(lb_pubjob *jobs, size_t n, void (*fn)(const lb_secbuf *v))
{
	const lb_secbuf *last = NULL;

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < jobs[i].n; k++) {
			const lb_secbuf *v = jobs[i].items[k].value;
			if (v && v != last)
				fn(v);
			last = v ? v : last;
		}
}

/* The child's only secret bytes are the ones it writes. fork does not pass mlock on: they are
 * locked again here, so that if lockboxd frees (and zeroes) its copy meanwhile, the page
 * left to the child still cannot be swapped out; wiped before exit. */
static void lock_value(const lb_secbuf *v)
{
	(void)mlock(v->data, v->len + 1);
}

static void wipe_value(const lb_secbuf *v)
{
	sodium_memzero(v->data, v->len);
}

/* The child: file work only. No loop, no log or audit line (that would also write the
 * parent's held audit lines a second time), no atexit handler: _exit. */
static void child_run(pid_t parent, lb_pubjob *jobs, size_t n, struct result *res)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	each_value(jobs, n, lock_value);
	for (size_t i = 0; i < n; i++) {
		const lb_pubjob *j = &jobs[i];
		lb_err e = {0};

		if (lb_gen_write(j->t->dirfd, j->t->name, j->gen, j->gen - 1, j->items, j->n,
				 j->huid, j->hgid, j->names_changed, &e) == 0) {
			res[i].state = JOB_DONE;
			continue;
		}
		res[i].sys = e.sys;
		snprintf(res[i].msg, sizeof(res[i].msg), "%s", e.msg);
		res[i].state = JOB_FAILED;
	}
	each_value(jobs, n, wipe_value);
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
		snprintf(how, sizeof(how), "(pid %d) was killed at its deadline", (int)p->pid);
	else if (WIFSIGNALED(st))
		snprintf(how, sizeof(how), "(pid %d) died of signal %d", (int)p->pid, WTERMSIG(st));
	else
		snprintf(how, sizeof(how), "(pid %d) exited (status %d) before this target",
			 (int)p->pid, WEXITSTATUS(st));
	if (p->killed || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		lb_log(LB_ERROR, "publisher child %s", how);
	reconcile(p, how);
	munmap(p->res, p->reslen);
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

static void kill_child(lb_pubfork *p)
{
	p->killed = true;
	if (p->pidfd < 0 || syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0) < 0)
		kill(p->pid, SIGKILL); /* not reaped yet: the pid is still the child's */
}

static void on_deadline(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_pubfork *p = ctx;

	(void)loop;
	(void)t;
	kill_child(p);
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
		child_run(parent, jobs, n, p->res);
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
	lb_timer_free(p->deadline);
	free(p);
	return NULL;
}

void lb_pubfork_finish(lb_pubfork *p)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	int left = (int)deadline_ms(p->n);

	if (p->pidfd >= 0 && poll(&pfd, 1, left) <= 0)
		kill_child(p);
	if (p->pidfd < 0)
		kill_child(p);
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
