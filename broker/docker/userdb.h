/* A container's user database: which uid and gid Docker runs Config.User as.
 *
 * Docker 20.10 resolves Config.User when it starts a container, from the image's /etc/passwd
 * and /etc/group, with runc 1.1's libcontainer/user (GetExecUser, no defaults). lockboxd
 * must arrive at the same ids, so the matching here follows that code line by line
 * (docs/design.md "Consumer identity"): Go's bytes.TrimSpace on each line, ':'-split fields
 * with missing ones read as zero, numbers as strconv.Atoi (errors ignored: " 1000" is 0,
 * overflow clamps), the first matching entry wins, a passwd line of 64 KiB or more fails the
 * whole file (bufio.Scanner), '#' comments only in group. Where Docker would run with an id
 * outside 0..2^31-1 (it truncates to 32 bits), lockboxd refuses instead. */
#ifndef LB_USERDB_H
#define LB_USERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

/* Cap of each file read from a container (a larger one is refused). */
#define LB_USERDB_FILE_MAX (1024 * 1024)

/* Pure: resolve spec (Config.User; NULL or "" is the image default) against passwd and group
 * text (NULL: the file does not exist; not NUL-terminated, may hold NUL bytes). On error,
 * e names the user or group and why; *uid and *gid are untouched. */
int lb_userdb_resolve(const char *spec, const char *passwd, size_t passwd_len, const char *group,
		      size_t group_len, uint32_t *uid, uint32_t *gid, lb_err *e);

/* The uid spec resolves to whatever the files say (no user: 0; a number: that number), or
 * -1 when it names a user (or is out of range) and only the files can tell. */
int64_t lb_userdb_uid_hint(const char *spec);

/* Read path (relative, e.g. "etc/passwd") inside the root rootfd: resolved with
 * RESOLVE_IN_ROOT (symlinks stay inside the root, as Docker's FollowSymlinkInScope), opened
 * O_PATH first so that a FIFO or device is never opened, S_ISREG and the size cap checked
 * before a byte is read. Returns 0 with *text (malloc'd, NUL-terminated), 1 when the file
 * does not exist (*text NULL), -1 on error (not regular, too large, unreadable). */
int lb_userdb_read_in_root(int rootfd, const char *path, char **text, size_t *len, lb_err *e);

/* Pure: dockerd's remap user under --userns-remap. Its root dir (/info DockerRootDir) ends in
 * "/UID.GID" of the remap range; the user is the first /etc/subuid line "USER:UID:COUNT"
 * (subuid: len bytes, not NUL-terminated) whose start is that UID. False when the root dir
 * has no such ending (UID: 1 to 10 digits), no line matches, or the name does not fit cap. */
bool lb_userdb_remap_user(const char *root_dir, const char *subuid, size_t len, char *user,
			  size_t cap);

/* The ids a running container's Config.User resolves to, from /proc/PID/root. */
int lb_userdb_consumer_ids(int pid, const char *user, uint32_t *uid, uint32_t *gid, lb_err *e);

#endif
