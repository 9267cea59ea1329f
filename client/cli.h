/* Pieces of the `lockbox` binary that main.c, wait.c and exec.c share (not in the library). */
#ifndef LOCKBOX_CLIENT_CLI_H
#define LOCKBOX_CLIENT_CLI_H

#include <signal.h>

#include "lb.h"

struct lb_opts {
	const char *dir;
	unsigned flags;
	int64_t timeout_ms; /* 0: check once, do not wait */
	int64_t grace_ms;   /* --restart-on-rotate: SIGTERM to SIGKILL */
	bool strict;
	bool restart;
	/* exec: stay beside CMD as its init when not PID 1 too */
	bool init;
	const char **names; /* get: NAME; wait and exec --wait: NAME... */
	int nnames;
	char **cmd; /* exec: CMD... after -- */
};

/* Writes the pieces up to LB_END to FD as one write (one line stays one line). */
__attribute__((sentinel)) void lb_say(int fd, ...);
void lb_say_err(const lb_err *err);
int64_t lb_now_ms(void);

/* Waits (inotify on D, no polling) until ..data exists and every NAME in it opens and passes
 * lb_secret_open. TIMEOUT_MS 0 checks once. LB_EXIT_TEMPFAIL when the deadline passes;
 * 128+signal when a signal of STOP (blocked by the caller; NULL for none) comes first. The
 * inotify watch and the signalfd for STOP are made only when the first check fails. */
int lb_wait(struct lb_dir *d, const char *const *names, int n, int64_t timeout_ms,
	    const sigset_t *stop, lb_err *err);

/* After a failure with RC 66 or 75: what lockboxd wrote into D/..status.json (why secrets
 * are missing), printable bytes only, on stderr. */
void lb_say_status(const struct lb_dir *d, int rc);

int lb_cmd_exec(const struct lb_opts *o);

#endif
