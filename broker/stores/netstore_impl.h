/* Internal to the network-store engine (netstore.c, netstore_util.c). */
#ifndef LB_NETSTORE_IMPL_H
#define LB_NETSTORE_IMPL_H

#include "backoff.h"
#include "layout.h"
#include "netstore.h"

struct lb_nst_waiter {
	lb_fetch_cb cb;
	void *ctx;
	lb_source src;
	char target[LB_NAME_MAX + 1];
	lb_nst_waiter *next;
};

enum call_state { C_READY, C_CRED_WAIT, C_FLIGHT, C_DONE };

struct call {
	lb_nst *ns;
	lb_nst_req req;
	lb_nst_call_cb cb;
	void *ctx;
	enum call_state state;
	lb_http_req *http;
	bool replayed, probe;
	uint64_t ticket;
	double sent; /* lb_metrics_now() when sent */
	uint64_t
	    *sent_ns; /* set (lb_now_ns) when the request is handed to HTTP (a shared read's) */
	unsigned cred_gen;
	lb_nst_reply done; /* a reply decided before sending (C_DONE) */
	struct call *next;
};

struct callq {
	struct call *head, *tail;
};

/* A read shared by every fetch of one key that was asked for before its request went out.
 * A fetch asked for later does not join it: the store may have answered before a change the
 * fetch was asked to see (`vault kv put`, then `lockboxctl rotate`), so it starts a read of
 * its own. Root stamps each fetch when its pass issues it; a pass issues all of them in one
 * loop turn and sends them when the turn ends, so every one is stamped before the worker
 * can send a read for any: they share one read even when they reach the worker in two reads
 * of its channel. */
struct read {
	lb_nst *ns;
	lb_source src;
	char target[LB_NAME_MAX + 1];
	uint64_t sent_ns; /* 0 = not gone out yet */
	lb_nst_waitq waiters;
	struct read *next;
};

struct lb_nst {
	lb_store *s;
	const lb_nst_provider *p;
	const char *kind;
	void *data;
	char *ca_file, *ca_dir, *client_cert, *client_key;

	lb_backoff backoff;
	char last_error[512];
	bool last_fault_cred;

	/* credential */
	bool have, fresh, authing;
	int64_t refresh_at;
	unsigned cred_gen;

	struct callq ready, cred_wait, flight, done;
	lb_nst_waitq incoming;
	struct read *reads;
	lb_timer *kick;
	struct lb_nst_refresher *refresher;
	bool closing;
};

/* lb_nst_call_start whose *sent_ns is set when the request is handed to HTTP (it outlives the
 * call: close cancels calls before it frees reads). */
void lb_nst_call_start_flagged(lb_nst *ns, const lb_nst_req *req, lb_nst_call_cb cb, void *ctx,
			       uint64_t *sent_ns);

/* Refresh requests to the broker, gathered for 250 ms and sent from the loop. */
struct lb_nst_refresher;
struct lb_nst_refresher *lb_nst_refresher_new(lb_store *s);
void lb_nst_refresher_add(struct lb_nst_refresher *rf, const char *target);
void lb_nst_refresher_forget(struct lb_nst_refresher *rf, const char *target);
void lb_nst_refresher_free(struct lb_nst_refresher *rf);

#endif
