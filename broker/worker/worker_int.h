/* Inside the root side of privilege separation: lifecycle.c (the worker's lifecycle) and
 * spawn.c (the worker's identity, state directory and process). */
#ifndef LB_WORKER_INT_H
#define LB_WORKER_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* The unprivileged identity: the "lockbox" system user, else an unused uid/gid in
 * 61184-65519 (systemd's dynamic range). source: "lockbox user" or "dynamic". */
int lb_worker_identity(uid_t *uid, gid_t *gid, const char **source, lb_err *e);
/* state_dir/worker: created, owned by uid:gid, 0700, with what it holds; the Vault lease
 * files of earlier versions moved in. Returns its fd (O_DIRECTORY). */
int lb_worker_statedir(int state_dirfd, uid_t uid, gid_t gid, lb_err *e);
/* Fork and execute the worker (exe_fd: lockboxd itself) with chan_fd as its fd 3 and
 * wdirfd as fd 4, as uid:gid with no capability and no_new_privs. *pidfd watches it. */
pid_t lb_worker_spawn(int exe_fd, int chan_fd, int wdirfd, uid_t uid, gid_t gid,
		      const char *log_level, int *pidfd, lb_err *e);

#endif
