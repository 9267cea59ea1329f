/* The kernel's view of a running container for the posture gate: /proc/PID/status, uid_map,
 * gid_map, attr/current, ns/NAME and mountinfo, compared with lockboxd's own /proc/self. Every
 * parser also takes a text buffer, so that captured /proc files feed the same code in tests. */
#ifndef LB_PROCFACTS_H
#define LB_PROCFACTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "err.h"
#include "posture_eval.h"

/* Size caps of what is read (STYLE.md rule 7). mountinfo of a host with 1,000 targets is
 * ~300 KiB. */
#define LB_PROCFACTS_STATUS_MAX	   (64 * 1024)
#define LB_PROCFACTS_MAP_MAX	   (64 * 1024)
#define LB_PROCFACTS_ATTR_MAX	   4096
#define LB_PROCFACTS_MOUNTINFO_MAX (4 * 1024 * 1024)

/* Fill k (lb_kernel_facts_init first) for pid: the container part from /proc/PID, the host
 * part (host_ns, host_mounts) from lockboxd's own /proc/<getpid()>. Every file is opened under
 * a /proc/PID dirfd with O_NOFOLLOW|O_CLOEXEC and length-capped; errors name pid and file. An
 * unreadable attr/current (no LSM) is a fact (lsm_available false), not an error. */
int lb_procfacts_read(pid_t pid, lb_kernel_facts *k, lb_err *e);

/* Send sig to pid, the first process of container_id, while its cgroup names the container
 * (pidfd_open, then the cgroup, then pidfd_send_signal: a reused PID gets nothing). errno
 * ENOSYS when the kernel has no pidfds (before 5.3). */
int lb_procfacts_signal(pid_t pid, const char *container_id, int sig, lb_err *e);

/* /proc/PID/mountinfo alone (which tmpfs a container has at a path); replaces *out. */
int lb_procfacts_read_mountinfo(pid_t pid, lb_mounts *out, lb_err *e);

/* The parsers, on NUL-terminated text exactly as /proc gives it. */
/* Uid, Gid, NoNewPrivs, Seccomp, CapEff, CapPrm, CapBnd, CapAmb; sets have_status. */
int lb_procfacts_parse_status(const char *text, lb_kernel_facts *k, lb_err *e);
/* uid_map and gid_map text; sets have_maps. */
int lb_procfacts_parse_maps(const char *uid_map, const char *gid_map, lb_kernel_facts *k,
			    lb_err *e);
/* Lines as readlink(/proc/PID/ns/NAME) gives them: "net:[4026532181]". Names other than
 * lb_ns_name()'s are ignored; a missing one stays 0 (unknown). */
int lb_procfacts_parse_ns(const char *text, uint64_t ns[LB_NS_COUNT], lb_err *e);
/* /proc/PID/mountinfo; replaces *out. */
int lb_procfacts_parse_mountinfo(const char *text, lb_mounts *out, lb_err *e);
/* attr/current text (trailing newline or NUL allowed), or NULL when it could not be read. */
void lb_procfacts_set_lsm(lb_kernel_facts *k, const char *label);
/* The same into label alone (cut to fit); returns whether there was one (text not NULL). */
bool lb_procfacts_label(char label[LB_LSM_LABEL_MAX], const char *text);

/* Does /proc/PID/cgroup text name container id (64 hex digits, not part of a longer hex
 * run)? Docker puts each container in a cgroup whose path holds its id (/docker/ID,
 * docker-ID.scope), as any reader's cgroup namespace shows it. */
bool lb_procfacts_cgroup_names(const char *cgroup, const char *id);
/* The user namespace maps of a container's process as literal specs ("IN OUT COUNT" lines)
 * for a target's uid_map/gid_map, read once while the process is verifiably the
 * container's: its cgroup names container_id before and after the maps are read through the
 * same /proc/PID dirfd. A "pid:N" spec re-read at every publish could meet a reused PID
 * once the container had exited (issue 13 defect 12). */
int lb_procfacts_container_maps(pid_t pid, const char *container_id, char *uid_map, char *gid_map,
				size_t cap, lb_err *e);

/* ---- the posture re-check cache (issue 19) ----
 * A Docker target's posture is checked again before every refresh pass. Its container's
 * kernel facts are kept while everything they depend on that a running process (or the
 * host's LSM policy) can change in place is the same: the process (PID and its start time),
 * every namespace it is in, and its LSM label. Then nothing is parsed but /proc/PID/status
 * (which execve of a setuid file changes in place), and not even that when
 * lb_procfacts_status_frozen. lockboxd's own mount table (~300 KiB with 1,000 targets, read
 * per container before) is parsed again only after the kernel says it changed.
 * Why each part of the key: the user namespace holds the uid/gid maps, and a process that
 * unshares one (CLONE_NEWUSER needs no privilege when seccomp allows it) has every
 * capability in it, which its status then shows: a kept "no capabilities" would be wrong;
 * the mount namespace holds the mounts; net, pid, ipc and uts are what no-host-namespaces
 * compares; the label is what the lsm check judges (change_profile, setcon, or a profile
 * the host switched to complain mode change it without a new process). */
typedef struct lb_procfacts_key {
	int pid;
	uint64_t start;		  /* field 22 of /proc/PID/stat: clock ticks after boot */
	uint64_t ns[LB_NS_COUNT]; /* inodes of /proc/PID/ns/NAME, 0 = unknown */
	bool lsm_available;
	char lsm_label[LB_LSM_LABEL_MAX];
} lb_procfacts_key;

typedef struct lb_procfacts_cache {
	bool valid;
	lb_procfacts_key key;
	lb_kernel_facts k; /* the container part; host_ns and host_mounts stay empty */
	/* lockboxd's mounts on a device that one of the container's is on, in their order:
	 * all that a container mount's host path can come from (the posture rules look no
	 * further), so that a check costs O(container mounts), not O(all host mounts), which
	 * grow with every container. Shallow copies of lb_procfacts_host's entries, rebuilt
	 * when its gen moves; only the array is ours. */
	lb_mounts host_view;
	uint64_t host_gen;
	/* Changes whenever the facts lb_procfacts_read_cached gives may differ from the last
	 * ones (parsed anew, a status that changed, a new host view): a verdict judged from
	 * facts of one version holds for every read of that version. Unique over lockboxd's
	 * life (one counter for all caches), 0 while nothing is kept. */
	uint64_t version;
} lb_procfacts_cache;

typedef struct lb_procfacts_host {
	int mountinfo_fd; /* kept open: poll() gives POLLPRI once the mount table changed */
	bool valid;
	uint64_t gen; /* counts the parses of mounts */
	uint64_t ns[LB_NS_COUNT];
	bool no_lsm; /* no LSM labels processes on this kernel: labels are not read */
	lb_mounts mounts;
	/* Indices of mounts ordered by device (then by index): a container's host view is
	 * found by device in O(log n) instead of a scan of the whole table per container (with
	 * 12,500 host mounts, one rebuild for 100 containers took ~30 ms of CPU). */
	uint32_t *by_dev;
} lb_procfacts_host;

void lb_procfacts_cache_init(lb_procfacts_cache *c);
void lb_procfacts_cache_clear(lb_procfacts_cache *c);
void lb_procfacts_host_init(lb_procfacts_host *h);
void lb_procfacts_host_clear(lb_procfacts_host *h);
/* Does c hold the facts of the process now describes? (valid, same PID, start time,
 * namespaces and LSM label; an unknown part is never a match.) */
bool lb_procfacts_cache_fresh(const lb_procfacts_cache *c, const lb_procfacts_key *now);
/* Can nothing in k's status change that a posture check reads, while the process lives? No
 * new privileges (execve cannot raise them), no permitted, effective or ambient capability
 * (setuid cannot pick a new id, capset cannot add one), one uid and one gid (nothing to
 * switch between); the bounding set and seccomp only shrink or tighten, which a kept value
 * judges more strictly, never less. Then a re-check does not read status again. (All of
 * this within one user namespace: a new one is a new key, see lb_procfacts_key.) */
bool lb_procfacts_status_frozen(const lb_kernel_facts *k);
/* starttime (field 22) of /proc/PID/stat text; the command name may hold anything. */
int lb_procfacts_parse_start(const char *stat, uint64_t *start, lb_err *e);
/* The facts lb_procfacts_read gives, from c and h where they are still true, else read (and
 * kept); *parsed says which. *view borrows from c and h (valid until either is read again or
 * cleared): never lb_kernel_facts_clear it. On error c is cleared. */
int lb_procfacts_read_cached(lb_procfacts_cache *c, lb_procfacts_host *h, pid_t pid,
			     lb_kernel_facts *view, bool *parsed, lb_err *e);

#endif
