/* What procfacts.c and procfacts_cache.c share: reading files of a /proc/PID directory.
 * Nothing else includes it. */
#ifndef LB_PROCFACTS_INT_H
#define LB_PROCFACTS_INT_H

#include "procfacts.h"

#include <stdbool.h>
#include <stddef.h>

/* /proc/PID as a dirfd (O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC), or -1. */
int lb_pf_open_proc_dir(int pid, lb_err *e);
/* All of fd from its current offset, at most cap - 1 bytes, NUL-terminated in a malloc'd
 * buffer; pid and name only name it in errors. */
int lb_pf_read_fd_capped(int fd, int pid, const char *name, size_t cap, char **out, lb_err *e);
/* NAME under dirfd (/proc/PID), the same way. */
int lb_pf_read_capped(int dirfd, int pid, const char *name, size_t cap, char **out, lb_err *e);
/* Every namespace's inode (readlink of ns/NAME) through dirfd. */
int lb_pf_read_ns(int dirfd, int pid, uint64_t ns[LB_NS_COUNT], lb_err *e);
/* The LSM label from attr/current (or attr/apparmor/current) into label; false when neither
 * can be read (no LSM that labels processes), a fact rather than an error. */
bool lb_pf_read_lsm(int dirfd, int pid, char label[LB_LSM_LABEL_MAX]);
/* The container part of k (everything but host_ns and host_mounts) through dirfd. */
int lb_pf_read_container(int dirfd, int pid, lb_kernel_facts *k, lb_err *e);

#endif
