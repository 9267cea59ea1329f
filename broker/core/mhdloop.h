/* One libmicrohttpd daemon driven by the broker's loop: MHD's epoll fd nests in ours, a timer
 * follows MHD_get_timeout, and a run that closed connections is followed by another (see
 * mhdloop.c). The Docker plugin and /metrics both serve this way. */
#ifndef LB_MHDLOOP_H
#define LB_MHDLOOP_H

#include <microhttpd.h>
#include "err.h"
#include "loop.h"

typedef struct lb_mhdloop lb_mhdloop;

typedef struct lb_mhdloop_opts {
	int listen_fd; /* bound and listening; the mhdloop owns it from here (closed on error) */
	MHD_AccessHandlerCallback on_request;
	void *cls;				   /* on_request's and on_completed's */
	MHD_RequestCompletedCallback on_completed; /* optional */
	unsigned int conn_max, timeout_s;
	size_t mem_limit;    /* per connection; 0: MHD's default */
	bool suspend_resume; /* MHD_ALLOW_SUSPEND_RESUME: answers may come on a later turn */
	const char *what;    /* for messages: the socket path or address */
} lb_mhdloop_opts;

lb_mhdloop *lb_mhdloop_start(lb_loop *loop, const lb_mhdloop_opts *o, lb_err *e);
/* Run MHD on the next loop turn (after MHD_resume_connection, whose signal MHD's epoll fd
 * also carries: this makes it independent of that). */
void lb_mhdloop_kick(lb_mhdloop *m);
unsigned int lb_mhdloop_connections(lb_mhdloop *m);
/* Stops the daemon (connections closed; resume suspended ones first) and closes the socket.
 * NULL-safe. */
void lb_mhdloop_free(lb_mhdloop *m);

#endif
