/* Root's side of the network worker: its lifecycle (start, liveness deadline, restart with
 * backoff, stop, status) and its channel. The proxy stores and the handling of the worker's
 * frames are proxy.c. */
#include "worker.h"
#include "backoff.h"
#include "chan.h"
#include "cleanup.h"
#include "log.h"
#include "metrics.h"
#include "proxy_int.h"
#include "wire.h"
#include "worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PING_EVERY_MS	 5000
#define PING_DEADLINE_MS 15000 /* a worker silent this long is killed */
#define RESTART_FIRST_MS 500
#define RESTART_MAX_MS	 30000
#define STABLE_MS	 60000 /* a worker up this long ends the run of restarts */

static int exe_fd = -1;

int lb_worker_enable(lb_err *e)
{
	if (exe_fd >= 0)
		return 0;
	exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	return exe_fd < 0 ? lb_fail_errno(e, "open /proc/self/exe") : 0;
}

bool lb_worker_enabled(void)
{
	return exe_fd >= 0;
}

static void worker_down(lb_worker *w, const char *why);
static int worker_spawn(lb_worker *w, lb_err *e);

int lb_worker_send(lb_worker *w, const lb_wire_msg *m)
{
	lb_err e = {0};

	if (w->state != W_UP)
		return -1;
	if (lb_chan_send(w->chan, m, &e) < 0) {
		lb_log(LB_WARN, "network worker: cannot send: %s", e.msg);
		return -1;
	}
	return 0;
}

static void on_frame(void *ctx, const lb_wire_msg *m)
{
	lb_worker *w = ctx;

	w->last_heard_ms = lb_now_ms();
	if (m->type == LB_R_PONG)
		w->pong_seq = m->id;
	else
		lb_proxy_on_frame(w, m);
}

static void on_chan_down(void *ctx, const char *why)
{
	worker_down(ctx, why);
}

static void on_pidfd(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	worker_down(ctx, "the process exited");
}

static void reap(lb_worker *w)
{
	siginfo_t si = {0};

	if (w->pid <= 0)
		return;
	(void)pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
	/* pidfd polled readable or just killed: the exit is at most a moment away. */
	if (waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED) == 0) {
		if (si.si_code == CLD_EXITED)
			snprintf(w->last_exit, sizeof(w->last_exit), "exit status %d",
				 si.si_status);
		else
			snprintf(w->last_exit, sizeof(w->last_exit), "signal %d", si.si_status);
	}
	w->pid = 0;
}

static void worker_down(lb_worker *w, const char *why)
{
	uint64_t now = lb_now_ms(), wait;
	pid_t pid = w->pid;

	if (w->state != W_UP)
		return;
	w->state = W_DOWN;
	lb_chan_free(w->chan);
	w->chan = NULL;
	lb_loop_del_fd(w->loop, w->pidfd);
	reap(w);
	close(w->pidfd);
	w->pidfd = -1;
	lb_timer_disarm(w->ping_timer);
	if (now - w->started_ms >= STABLE_MS)
		lb_backoff_reset(&w->backoff);
	wait = lb_backoff_fault_now(&w->backoff, -1, now);
	lb_log(LB_ERROR, "network worker (pid %d) is down: %s (%s); restarting in %llu ms",
	       (int)pid, why, w->last_exit, (unsigned long long)wait);
	lb_audit("worker_down", json_pack("{s:i,s:s,s:s,s:I}", "pid", (int)pid, "reason", why,
					  "exit", w->last_exit, "restart_ms", (json_int_t)wait));
	lb_proxy_worker_down(w);
	lb_timer_arm(w->restart_timer, wait);
}

static void on_restart(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_worker *w = ctx;
	lb_err e = {0};

	(void)loop;
	(void)t;
	if (worker_spawn(w, &e) < 0) {
		uint64_t wait = lb_backoff_fault_now(&w->backoff, -1, lb_now_ms());
		lb_log(LB_ERROR, "network worker: %s; trying again in %llu ms", e.msg,
		       (unsigned long long)wait);
		lb_timer_arm(w->restart_timer, wait);
		return;
	}
	w->restarts++;
	lb_metric_inc0(LB_M_WORKER_RESTARTS);
	lb_audit("worker_restart",
		 json_pack("{s:i,s:i}", "pid", (int)w->pid, "restarts", (int)w->restarts));
	lb_proxy_reopen_all(w);
}

static void on_ping(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_worker *w = ctx;

	(void)loop;
	if (w->state != W_UP)
		return;
	if (w->pong_seq != w->ping_seq && lb_now_ms() - w->last_heard_ms >= PING_DEADLINE_MS) {
		worker_down(w, "it stopped answering (killed after the deadline)");
		return;
	}
	if (w->pong_seq == w->ping_seq)
		lb_worker_send(w, &(lb_wire_msg){.type = LB_W_PING, .id = ++w->ping_seq});
	lb_timer_arm(t, PING_EVERY_MS);
}

static const char *log_level_name(void)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	return names[lb_log_level()];
}

static int worker_spawn(lb_worker *w, lb_err *e)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return lb_fail_errno(e, "socketpair for the network worker");
	pid = lb_worker_spawn(exe_fd, sv[1], w->wdirfd, w->uid, w->gid, log_level_name(), &w->pidfd,
			      e);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -1;
	}
	w->pid = pid;
	if (lb_loop_add_fd(w->loop, w->pidfd, EPOLLIN, on_pidfd, w) < 0) {
		close(sv[0]);
		goto unwatched;
	}
	if (lb_worker_attach(w, sv[0], e) < 0) {
		lb_loop_del_fd(w->loop, w->pidfd);
		goto unwatched;
	}
	lb_log(LB_INFO, "network worker started: pid %d, uid %u gid %u (%s)", (int)pid,
	       (unsigned)w->uid, (unsigned)w->gid, w->id_source);
	return 0;
unwatched:
	reap(w);
	close(w->pidfd);
	w->pidfd = -1;
	return lb_fail(e, ENOMEM, "cannot watch the network worker");
}

lb_worker *lb_worker_new(lb_loop *loop, lb_err *e)
{
	lb_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	w->loop = loop;
	w->wdirfd = w->pidfd = -1;
	lb_backoff_init(&w->backoff, RESTART_FIRST_MS, RESTART_MAX_MS, true);
	w->restart_timer = lb_timer_new(loop, on_restart, w);
	w->ping_timer = lb_timer_new(loop, on_ping, w);
	w->metrics = lb_metrics_new();
	if (!w->restart_timer || !w->ping_timer || !w->metrics ||
	    lb_metrics_relay_attach(w->metrics) < 0) {
		lb_worker_free(w);
		return lb_fail(e, ENOMEM, "network worker: out of memory or metrics relays"), NULL;
	}
	return w;
}

int lb_worker_attach(lb_worker *w, int fd, lb_err *e)
{
	w->chan = lb_chan_new(w->loop, fd, on_frame, on_chan_down, w);
	if (!w->chan)
		return lb_fail(e, ENOMEM, "network worker: no memory for its channel");
	lb_chan_batch(w->chan); /* one refresh pass's fetches reach the worker together */
	w->state = W_UP;
	w->started_ms = w->last_heard_ms = lb_now_ms();
	w->pong_seq = w->ping_seq;
	lb_timer_arm(w->ping_timer, PING_EVERY_MS);
	return 0;
}

lb_worker *lb_worker_start(lb_loop *loop, int state_dirfd, lb_err *e)
{
	lb_worker *w = lb_worker_new(loop, e);

	if (!w)
		return NULL;
	if (lb_worker_identity(&w->uid, &w->gid, &w->id_source, e) < 0 ||
	    (w->wdirfd = lb_worker_statedir(state_dirfd, w->uid, w->gid, e)) < 0 ||
	    worker_spawn(w, e) < 0) {
		lb_worker_free(w);
		return NULL;
	}
	return w;
}

void lb_worker_free(lb_worker *w)
{
	if (!w)
		return;
	/* Proxies are closed by now (broker_close_stores); anything left fails. */
	lb_proxy_fail_pending(w, NULL, "lockboxd is stopping");
	lb_chan_free(w->chan);
	if (w->pid > 0) {
		struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
		/* Its channel closed, the worker closes its stores and exits. */
		(void)poll(&p, 1, 2000);
		lb_loop_del_fd(w->loop, w->pidfd);
		reap(w);
	}
	if (w->pidfd >= 0)
		close(w->pidfd);
	if (w->wdirfd >= 0)
		close(w->wdirfd);
	lb_timer_free(w->restart_timer);
	lb_timer_free(w->ping_timer);
	if (w->metrics) {
		lb_metrics_relay_detach(w->metrics);
		lb_metrics_free(w->metrics);
	}
	free(w);
}

/* VmRSS of a process in KiB (0 when unknown). */
static long rss_kib(pid_t pid)
{
	char path[64], text[4096];
	const char *p;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pid <= 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (n = read(fd, text, sizeof(text) - 1)) <= 0)
		return 0;
	text[n] = '\0';
	p = strstr(text, "\nVmRSS:");
	// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
	return p ? strtol(p + 8, NULL, 10) : 0;
}

json_t *lb_worker_status(const lb_worker *w)
{
	return json_pack("{s:s,s:i,s:i,s:i,s:s,s:i,s:s,s:I,s:I}", "state",
			 w->state == W_UP ? "up" : "restarting", "pid", (int)w->pid, "uid",
			 (int)w->uid, "gid", (int)w->gid, "identity", w->id_source, "restarts",
			 (int)w->restarts, "last_exit", w->last_exit, "rss_kib",
			 (json_int_t)rss_kib(w->pid), "root_rss_kib",
			 (json_int_t)rss_kib(getpid()));
}
