/* lockbox exec: verify, wait, export NAME_FILE paths, then run CMD. Not as PID 1 (and without
 * --restart-on-rotate or --init) lockbox replaces itself with CMD (execve): CMD keeps the pid,
 * its status is the caller's to see, and there is no second process. As PID 1, or asked to,
 * it runs CMD as a child and stays beside it as a tini-style init: every catchable signal is
 * blocked and collected with sigtimedwait, forwarded to the child, and every zombie is reaped
 * with waitpid(-1, WNOHANG). --restart-on-rotate learns about a new ..data through inotify,
 * whose fd raises SIGIO (O_ASYNC + F_SETSIG) so that the one sigtimedwait loop sees it too. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* Substrings that make an environment variable look like it holds a secret. */
static const char *const secret_words[] = {
    "PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY", "CREDENTIAL",
};

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !memcmp(s + len - n, suffix, n);
}

/* A plain search: the names are short and musl's two-way strstr costs a KiB of binary. */
static bool contains(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; *s; s++)
		if (!strncmp(s, word, n))
			return true;
	return false;
}

/* Names only: a value is never printed, not even in part. */
static int strict_check(void)
{
	char key[256];
	int rc = 0;

	for (char **e = environ; *e; e++) {
		size_t len = strcspn(*e, "=");

		if (len >= sizeof(key))
			len = sizeof(key) - 1;
		for (size_t i = 0; i < len; i++)
			key[i] = (char)((*e)[i] >= 'a' && (*e)[i] <= 'z' ? (*e)[i] - 32 : (*e)[i]);
		key[len] = '\0';
		if (ends_with(key, len, "_FILE") || ends_with(key, len, "_PATH"))
			continue;
		for (size_t w = 0; w < sizeof(secret_words) / sizeof(secret_words[0]); w++) {
			if (contains(key, secret_words[w])) {
				memcpy(key, *e, len);
				lb_say(2, "lockbox: strict check failed on environment: ", key,
				       " looks like a secret; deliver it as a file (", key,
				       "_FILE) instead\n", LB_END);
				rc = LB_EXIT_NOPERM;
				break;
			}
		}
	}
	return rc;
}

struct verify_all {
	struct lb_dir *d;
	const struct lb_opts *o;
	lb_err *err;
	int rc;
};

static void verify_entry(const struct lb_entry *e, void *arg)
{
	struct verify_all *v = arg;
	char name[LB_NAME_MAX + 1];
	size_t size;
	int fd;

	if (v->rc)
		return;
	memcpy(name, e->name, e->name_len);
	name[e->name_len] = '\0';
	/* lb_wait's last check opened and verified the --wait names in this same generation. */
	for (int i = 0; i < v->o->nnames; i++)
		if (!strcmp(v->o->names[i], name))
			return;
	v->rc = lb_secret_open(v->d, name, &fd, &size, v->err);
	if (!v->rc)
		close(fd);
}

/* The environment for CMD: ours minus any NAME_FILE we set, plus NAME_FILE=D/NAME for every
 * secret of the generation, sized in a first pass. Only the vector and the NAME_FILE strings
 * are new (ours are pointed to), so a few dozen variables fit in ENV_INLINE bytes of
 * lb_cmd_exec's frame: no mmap, munmap and page fault; more go to one anonymous mapping. */
#define ENV_INLINE 1024

struct cmd_env {
	char **vec;
	size_t map_len; /* 0 when vec is in area */
	char *area[ENV_INLINE / sizeof(char *)];
};

struct env_build {
	const char *dir;
	size_t count, bytes;
	char **vec;
	char *str;
	size_t n;
};

static void env_size(const struct lb_entry *e, void *arg)
{
	struct env_build *b = arg;

	b->count++;
	b->bytes += 2 * e->name_len + strlen(b->dir) + sizeof("_FILE=/");
}

static void env_add(const struct lb_entry *e, void *arg)
{
	struct env_build *b = arg;
	size_t dlen = strlen(b->dir);
	char *p = b->str;

	b->vec[b->n++] = p;
	for (size_t i = 0; i < e->name_len; i++) {
		char c = e->name[i];

		if (c == '.' || c == '-')
			c = '_';
		else if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		*p++ = c;
	}
	memcpy(p, "_FILE=", 6);
	p += 6;
	memcpy(p, b->dir, dlen);
	p += dlen;
	*p++ = '/';
	memcpy(p, e->name, e->name_len);
	p += e->name_len;
	*p++ = '\0';
	b->str = p;
}

static bool env_overridden(const char *var, char **ours, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t klen = strcspn(ours[i], "=") + 1;

		if (!strncmp(var, ours[i], klen))
			return true;
	}
	return false;
}

static void env_free(struct cmd_env *ce)
{
	if (ce->vec && ce->map_len)
		munmap(ce->vec, ce->map_len);
	ce->vec = NULL;
	ce->map_len = 0;
}

static char **env_build(struct lb_dir *d, struct cmd_env *ce, lb_err *err)
{
	struct env_build b = {.dir = d->path};
	size_t nenv = 0, mine, len;
	char **vec = ce->area;

	while (environ[nenv])
		nenv++;
	lb_manifest_each(d, env_size, &b);
	len = (nenv + b.count + 1) * sizeof(char *) + b.bytes;
	if (len > sizeof(ce->area)) {
		vec = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (vec == MAP_FAILED) {
			lb_fail(err, LB_EXIT_FAILURE, "environment", d->path, NULL,
				lb_errstr(errno), LB_END);
			return NULL;
		}
		ce->map_len = len;
	}
	ce->vec = vec;
	b.vec = vec;
	b.str = (char *)(vec + nenv + b.count + 1);
	lb_manifest_each(d, env_add, &b);
	mine = b.n;
	for (size_t i = 0; i < nenv; i++)
		if (!env_overridden(environ[i], vec, mine))
			vec[b.n++] = environ[i];
	vec[b.n] = NULL;
	return vec;
}

/* Verifies every secret of the current generation (the --wait names lb_wait just verified
 * are not opened again) and builds CMD's environment for it. Only right after lb_wait. */
static char **prepare(struct lb_dir *d, const struct lb_opts *o, struct cmd_env *ce, lb_err *err)
{
	struct verify_all v = {.d = d, .o = o, .err = err};

	lb_manifest_each(d, verify_entry, &v);
	if (v.rc)
		return NULL;
	return env_build(d, ce, err);
}

/* execvp's PATH search, smaller than musl's execvpe. Like musl, no sh fallback on ENOEXEC. */
LB_NOINLINE static void exec_search(char **cmd, char **env)
{
	const char *path = getenv("PATH"), *end;
	size_t nlen = strlen(cmd[0]), dlen;
	int first_err = ENOENT;
	char buf[4096];

	if (!path)
		path = "/usr/local/bin:/bin:/usr/bin";
	for (;; path = end + 1) {
		end = strchrnul(path, ':');
		dlen = (size_t)(end - path);
		if (dlen + nlen + 2 <= sizeof(buf)) {
			memcpy(buf, path, dlen);
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, cmd[0], nlen + 1);
			execve(dlen ? buf : buf + 1, cmd, env);
			/* Keep looking past a directory without it; remember a real refusal. */
			if (errno != ENOENT && errno != ENOTDIR && first_err == ENOENT)
				first_err = errno;
		}
		if (!*end)
			break;
	}
	errno = first_err;
}

static void exec_path(char **cmd, char **env)
{
	if (strchr(cmd[0], '/') || !*cmd[0])
		execve(cmd[0], cmd, env);
	else
		exec_search(cmd, env);
}

/* A notify signal (SIGHUP, SIGUSR1, SIGUSR2: what a binding's notify may be) that came
 * before CMD runs is about files CMD has not read yet: it starts with the new ones. Passed
 * on (or left pending across execve), it would reach CMD before its handler exists and end
 * it. Standard signals do not queue: each is pending once at most, so three takes empty the
 * set; the bound only stops a sender that keeps signalling from holding CMD back. */
static void drop_notify(void)
{
	const struct timespec zero = {0, 0};
	sigset_t notify;

	sigemptyset(&notify);
	sigaddset(&notify, SIGHUP);
	sigaddset(&notify, SIGUSR1);
	sigaddset(&notify, SIGUSR2);
	for (int i = 0; i < 8 && sigtimedwait(&notify, NULL, &zero) > 0; i++)
		;
}

/* After a failed execve of CMD: the message, and 127 when there is no such file, else 126 (as
 * shells answer). errno is taken before lb_say, whose write could change it. */
static int exec_failed(const char *cmd)
{
	int e = errno;

	lb_say(2, "lockbox: exec check failed on ", cmd, ": ", lb_errstr(e), "\n", LB_END);
	return e == ENOENT ? 127 : 126;
}

/* Not PID 1 and nothing to watch once CMD runs: CMD replaces us, as `chamber exec` and
 * `aws-vault exec` do. It keeps our pid, process group and parent, and its status is its
 * own (a signal that ends it is seen as that signal, not as 128+N from us). Every fd of ours
 * is O_CLOEXEC. Pending notify signals are dropped first; then CMD gets the caller's mask
 * back. A stop signal (SIGTERM, SIGINT, SIGQUIT) that came after the checks is still pending
 * and now delivered with the caller's dispositions: by default it ends this process before
 * CMD runs, with that signal, as it would have ended CMD when forwarded to it (and one the
 * caller blocks stays pending for CMD). Returns only when execve failed. */
static int exec_replace(char **cmd, char **env, const sigset_t *orig)
{
	drop_notify();
	sigprocmask(SIG_SETMASK, orig, NULL);
	exec_path(cmd, env);
	return exec_failed(cmd[0]);
}

/* CMD's process is a clone(CLONE_VM|CLONE_VFORK) on a stack of ours, as musl's posix_spawn
 * makes it: it shares our memory until it execs, so starting it copies no page table and our
 * pages take no copy-on-write fault afterwards (lockbox exec -- true was 1.29x true with
 * fork, whose atfork and lock machinery was also 4 KiB of the binary). We wait meanwhile.
 * The child writes nothing of ours that we read later: no handler is installed (every signal
 * is blocked or default until execve), env goes to execve, not into environ. */
struct spawn_args {
	char **cmd, **env;
	const sigset_t *mask;
	bool tty;
};

static int spawn_child(void *arg)
{
	const struct spawn_args *a = arg;

	/* Own process group, in the terminal's foreground when ours was (tini's isolate_child):
	 * a ^C from the tty then reaches CMD once, not once directly and once more through us.
	 * SIGTTOU is blocked here, so a group not in the foreground may still call tcsetpgrp. */
	setpgid(0, 0);
	if (a->tty)
		tcsetpgrp(0, getpgrp());
	sigprocmask(SIG_SETMASK, a->mask, NULL);
	exec_path(a->cmd, a->env);
	_exit(exec_failed(a->cmd[0]));
}

/* Our process group when it has the terminal on fd 0 in the foreground, else 0: then CMD
 * takes the terminal (spawn_child) and tty_take_back returns it. Unlike tini, a lockbox that
 * runs in the background (`lockbox exec --init ... &` from a shell with job control) does not
 * take the terminal from the caller's shell (tini's own TODO: "it's not OK to steal the
 * foreground"). tcgetpgrp is one ioctl, as isatty was, and fails with ENOTTY without a
 * controlling terminal. */
static pid_t tty_foreground(void)
{
	pid_t fg = tcgetpgrp(0);

	return fg > 0 && fg == getpgrp() ? fg : 0;
}

/* CMD ended: the terminal comes back to our group, which had it before. Left with CMD's gone
 * group, the terminal's ^C reached nobody while a restart waited for its secrets, and the
 * caller (our group, e.g. a shell without job control, or PID 1 of a `docker run -t`) was in
 * the background once we exited: its next read of the terminal got SIGTTIN or EIO. SIGTTOU is
 * blocked in this process, so tcsetpgrp works from the background. */
static void tty_take_back(pid_t ours)
{
	pid_t fg;

	if (!ours)
		return;
	fg = tcgetpgrp(0);
	if (fg > 0 && fg != ours)
		tcsetpgrp(0, ours);
}

static pid_t spawn(char **cmd, char **env, const sigset_t *child_mask, pid_t tty)
{
	/* exec_path's 4 KiB buffer, lb_say's line and libc's frames. */
	static char stack[16384] __attribute__((aligned(16)));
	struct spawn_args a = {cmd, env, child_mask, tty != 0};

	return clone(spawn_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
}

static int watch_rotation(const char *dir)
{
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

	if (fd < 0)
		return -1;
	/* Raw fcntl: these three need none of the argument juggling of musl's wrapper. */
	if (inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0 ||
	    syscall(SYS_fcntl, fd, F_SETOWN, getpid()) < 0 ||
	    syscall(SYS_fcntl, fd, F_SETSIG, SIGIO) < 0 ||
	    syscall(SYS_fcntl, fd, F_SETFL, O_ASYNC | O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True when the batch of events holds a new ..data: one rename is one rotation. */
LB_NOINLINE static bool drain_rotation(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool rotated = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			if (ev->len && !strcmp(ev->name, LB_DATA_LINK))
				rotated = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return rotated;
}

static int exit_status(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int lb_cmd_exec(const struct lb_opts *o)
{
	const char *strict_env = getenv("LOCKBOX_STRICT");
	sigset_t all, orig, stop;
	struct cmd_env ce = {.vec = NULL, .map_len = 0};
	struct lb_dir d;
	lb_err err;
	char **env = NULL;
	int64_t kill_at = -1;
	bool restarting = false, pid1;
	int ifd = -1, rc, status;
	pid_t child, pid, tty;

	if ((o->strict || (strict_env && !strcmp(strict_env, "1"))) && strict_check())
		return LB_EXIT_NOPERM;
	/* Synchronous signals must stay deliverable to us; everything else is collected from
	 * now on: forwarded to CMD once it runs beside us, or left pending for exec_replace. While
	 * secrets are awaited the stop signals end the wait (lb_wait reads them from a signalfd):
	 * as PID 1 nothing else would, short of SIGKILL. SIGHUP is not one: it is lockboxd's notify
	 * (files changed), which the wait sees on its own; one that came while waiting is dropped
	 * before CMD starts (drop_notify). */
	sigfillset(&all);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGABRT);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	sigprocmask(SIG_SETMASK, &all, &orig);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGQUIT);

	lb_dir_init(&d);
	rc = lb_dir_open(&d, o->dir, o->flags, &err);
	if (!rc)
		rc = lb_wait(&d, o->names, o->nnames, o->timeout_ms, &stop, &err);
	if (rc)
		goto fail;
	env = prepare(&d, o, &ce, &err);
	if (!env) {
		rc = err.code;
		goto fail;
	}

	/* Nothing keeps us once CMD runs: become CMD. */
	pid1 = getpid() == 1;
	if (!pid1 && !o->restart && !o->init) {
		rc = exec_replace(o->cmd, env, &orig);
		goto out;
	}
	/* --init or --restart-on-rotate, not PID 1: become the subreaper so orphans of CMD are
	 * still ours to reap. */
	if (!pid1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (o->restart) {
		ifd = watch_rotation(d.path);
		if (ifd < 0) {
			rc = lb_fail(&err, LB_EXIT_FAILURE, "rotation", d.path, NULL,
				     "inotify: ", lb_errstr(errno), LB_END);
			goto fail;
		}
	}

	drop_notify();
	tty = tty_foreground();
	child = spawn(o->cmd, env, &orig, tty);
	if (child < 0) {
		rc = lb_fail(&err, LB_EXIT_FAILURE, "exec", o->cmd[0], NULL,
			     "fork: ", lb_errstr(errno), LB_END);
		goto fail;
	}
	for (;;) {
		struct timespec ts, *tsp = NULL;
		siginfo_t info;
		int sig;

		if (kill_at >= 0) {
			int64_t left = kill_at - lb_now_ms();

			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (long)(left % 1000) * 1000000;
			tsp = &ts;
		}
		sig = sigtimedwait(&all, &info, tsp);
		if (sig < 0 && errno == EAGAIN) {
			kill(child, SIGKILL);
			kill_at = -1;
		} else if (sig == SIGIO && info.si_code > 0 && ifd >= 0 && info.si_fd == ifd) {
			if (drain_rotation(ifd) && !restarting) {
				restarting = true;
				kill(child, SIGTERM);
				kill_at = lb_now_ms() + o->grace_ms;
			}
		} else if (sig > 0 && sig != SIGCHLD) {
			/* Someone stopping us wins over a restart in progress. */
			if (sig == SIGTERM || sig == SIGINT)
				restarting = false;
			kill(child, sig);
		}

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid != child)
				continue;
			tty_take_back(tty);
			if (!restarting) {
				rc = exit_status(status);
				goto out;
			}
			restarting = false;
			kill_at = -1;
			env_free(&ce);
			rc = lb_wait(&d, o->names, o->nnames, o->timeout_ms, &stop, &err);
			env = rc ? NULL : prepare(&d, o, &ce, &err);
			if (!env) {
				rc = err.code;
				goto fail;
			}
			drop_notify();
			child = spawn(o->cmd, env, &orig, tty);
			if (child < 0) {
				rc = lb_fail(&err, LB_EXIT_FAILURE, "exec", o->cmd[0], NULL,
					     "fork: ", lb_errstr(errno), LB_END);
				goto fail;
			}
		}
	}
fail:
	lb_say_err(&err);
	lb_say_status(&d, rc);
out:
	env_free(&ce);
	if (ifd >= 0)
		close(ifd);
	lb_dir_close(&d);
	return rc;
}
