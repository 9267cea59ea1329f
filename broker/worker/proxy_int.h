/* Inside root's side of the network worker, between proxy.c (the proxy stores, the fetches
 * in flight, the worker's frames) and lifecycle.c (the process, its channel, liveness,
 * restarts); nothing else includes it but the unit test that plays a hostile worker
 * (tests/unit/test_proxy_frames.c, through lb_worker_new and lb_worker_attach). lifecycle.c
 * writes the process fields of lb_worker, proxy.c the proxies and fetches. */
#ifndef LB_PROXY_INT_H
#define LB_PROXY_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backoff.h"
#include "chan.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"
#include "wire.h"
#include "worker.h"

#define LB_PROXY_BUCKETS 256u /* fetches in flight, hashed by id */

enum wstate { W_DOWN, W_UP };

struct proxy {
	lb_worker *w;
	lb_store *s;
	uint32_t sid;
	bool closing, open_failed;
	char open_error[512];
	json_t *health; /* the last the worker said */
	char **paths;	/* absolute paths in the store's options: what it may read */
	size_t npaths;
	struct proxy *next;
};

struct pending {
	uint32_t fid;
	struct proxy *p;
	lb_fetch_cb cb;
	void *ctx;
	struct pending *next;
};

struct lb_worker {
	lb_loop *loop;
	int wdirfd;
	uid_t uid;
	gid_t gid;
	const char *id_source;
	enum wstate state;
	pid_t pid;
	int pidfd;
	lb_chan *chan;
	unsigned restarts;
	lb_backoff backoff;
	lb_timer *restart_timer, *ping_timer;
	uint32_t ping_seq, pong_seq;
	uint64_t started_ms, last_heard_ms;
	char last_exit[128];
	lb_metrics *metrics; /* the worker's last snapshot, served on /metrics with root's */
	struct proxy *proxies;
	struct pending *pending[LB_PROXY_BUCKETS];
	uint32_t next_fid, next_sid;
};

/* lifecycle.c: the worker's record on loop, with no process nor channel yet (lb_worker_start
 * makes one, gives it an identity and a state directory, then spawns). */
lb_worker *lb_worker_new(lb_loop *loop, lb_err *e);
/* The channel to a worker on fd, root's end of their socketpair (taken, closed on failure):
 * the worker is up, its frames go to the proxies, its liveness is watched. */
int lb_worker_attach(lb_worker *w, int fd, lb_err *e);
/* Queue m for the worker; -1 when it is down or m breaks the table (logged). */
int lb_worker_send(lb_worker *w, const lb_wire_msg *m);

/* proxy.c: one checked frame from the worker (all but LB_R_PONG, which is the lifecycle's). */
void lb_proxy_on_frame(lb_worker *w, const lb_wire_msg *m);
/* Answer every fetch of p (every fetch when p is NULL) with why. */
void lb_proxy_fail_pending(lb_worker *w, const struct proxy *p, const char *why);
/* The worker went down: every proxy's health is unknown, every fetch fails. */
void lb_proxy_worker_down(lb_worker *w);
/* A new worker is up: every proxy is opened in it again. */
void lb_proxy_reopen_all(lb_worker *w);

#endif
