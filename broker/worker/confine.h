/* The network worker's confinement, in two steps (both also run by tests/unit/test_confine.c
 * in a child):
 * 1. lb_worker_drop_privileges, between fork and exec as root: every capability out of the
 *    bounding set, no supplementary groups, uid and gid (all three of each) the worker's,
 *    which clears every other capability set, then no_new_privs. System calls only.
 * 2. lb_worker_confine, in the worker once its loop, curl and channel are up: not dumpable,
 *    then the seccomp allow-list (libseccomp): what curl, OpenSSL, jansson and the loop need.
 *    Files may be opened read-only (the uid keeps root's files shut); written, renamed and
 *    removed only under the state directory fd it was handed (statefd). No exec, mount,
 *    ptrace, no new process (threads only: curl's resolver), no socket but IPv4/IPv6
 *    stream/datagram, route netlink (getaddrinfo) and socketpairs. Anything else: EPERM. */
#ifndef LB_CONFINE_H
#define LB_CONFINE_H

#include <sys/types.h>

#include "err.h"

/* 0, or the step that failed (as an exit code for the child: 72 caps, 73 ids, 74 nnp). */
int lb_worker_drop_privileges(uid_t uid, gid_t gid);
int lb_worker_confine(int statefd, lb_err *e);

#endif
