/* File operations relative to a directory fd, never following symlinks (STYLE.md rule 5). */
#ifndef LB_FSUTIL_H
#define LB_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "err.h"
#include "secmem.h"

/* Open an absolute path component by component with O_NOFOLLOW, creating missing
 * directories with mode (owner root). Returns a directory fd. */
int lb_open_dir_path(const char *path, bool create, mode_t mode, lb_err *e);
/* Open a subdirectory of dirfd without following symlinks. */
int lb_open_dir_at(int dirfd, const char *name, lb_err *e);
/* Create name (O_EXCL) under dirfd with data, then fchown/fchmod on the fd. */
int lb_write_new_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		    uid_t uid, gid_t gid, lb_err *e);
/* Replace name atomically (write .name.tmp, fsync it, renameat, fsync dirfd): for state
 * files that must outlive a power loss, owner root. Without the directory's fsync the rename
 * itself may be lost, and with it the new file (the old one comes back, or none). */
int lb_write_replace_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			lb_err *e);
/* The same for a file that must not exist yet (EEXIST when it does: two creators cannot both
 * win, renameat2 RENAME_NOREPLACE) and must outlive a power loss once made (sealed.key). */
int lb_write_create_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		       lb_err *e);
/* Same as lb_write_replace_at without either fsync: for tmpfs (run_dir) and for state that can
 * be rebuilt (targets.json is rewritten after every refresh pass and the tmpfs manifests are
 * the truth). */
int lb_write_cache_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		      lb_err *e);
/* fsync of a directory: a name made or removed in it reaches the disk. what names it in E. */
int lb_sync_dir(int dirfd, const char *what, lb_err *e);
/* Calls FN for every entry of directory PATH under DIRFD ("." for DIRFD itself) but "." and
 * "..". The directory is opened anew (O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC: DIRFD keeps its
 * position, a symlink at PATH is refused); FN gets that directory's fd, valid during the call,
 * and may remove the entry it is given. FN returns 0 to go on; anything else ends the walk and
 * is returned. -1 with E filled when the directory cannot be opened or read. */
typedef int (*lb_dir_fn)(int dirfd, const char *name, void *arg);
int lb_dir_each(int dirfd, const char *path, lb_dir_fn fn, void *arg, lb_err *e);
/* Read a regular file (at most cap bytes) into a malloc'd NUL-terminated buffer. */
int lb_read_at(int dirfd, const char *name, size_t cap, char **out, size_t *len, lb_err *e);
/* Same from an open fd (name only for messages). */
int lb_read_fd(int fd, const char *name, size_t cap, char **out, size_t *len, lb_err *e);
/* Same into a secure buffer. */
int lb_read_secret_at(int dirfd, const char *name, size_t cap, lb_secbuf **out, lb_err *e);
/* Where lb_read_secret_at(AT_FDCWD, PATH) reads from in a process that may not open files
 * itself: the privilege-separated network worker asks root (broker/worker). NULL = open. */
typedef int (*lb_path_reader)(const char *path, size_t cap, lb_secbuf **out, lb_err *e);
void lb_set_path_reader(lb_path_reader fn);
bool lb_path_reader_set(void);
/* Remove name (file, symlink or directory tree) under dirfd. With wipe, regular files are
 * overwritten with zeros before they are unlinked. ENOENT is success. */
int lb_remove_tree_at(int dirfd, const char *name, bool wipe, lb_err *e);

#endif
