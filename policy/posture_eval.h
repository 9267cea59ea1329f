/* Posture gate evaluation (DESIGN.md, "Posture gate"): pure functions from dockerd's inspect
 * and the kernel's view of a container to a per-check report. No I/O here; the kernel facts
 * are filled by broker/docker/procfacts.h. */
#ifndef LB_POSTURE_EVAL_H
#define LB_POSTURE_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "err.h"
#include "idmap.h"
#include "posture.h"
#include "secret_hash.h"

/* ---- facts from dockerd: GET /containers/ID/json (Engine API 1.41 shape) ---- */

typedef struct lb_inspect_facts {
	json_t *doc; /* the inspect object, referenced; every pointer below borrows from it */
	const char *id, *name;
	const char *user; /* Config.User ("" = root; the image's USER is already merged in) */
	/* The uid Config.User stands for: its numeric user part, or what the caller resolved a
	 * name to from the container's own /etc/passwd; -1 = unknown (non-root then fails). */
	int64_t uid;
	bool privileged, readonly_rootfs;
	const char *network_mode, *pid_mode, *ipc_mode, *uts_mode, *userns_mode;
	int64_t memory;	    /* HostConfig.Memory, 0 = unlimited */
	int64_t pids_limit; /* HostConfig.PidsLimit, 0 when null or <= 0 (unlimited) */
	const char *apparmor_profile, *process_label;
	const char *resolv_conf_path, *hostname_path, *hosts_path;
	/* JSON arrays (NULL when null/absent), validated to hold strings (objects for mounts
	 * and devices). */
	const json_t *cap_add, *cap_drop, *security_opt, *mounts, *devices, *env;
	/* From the caller: dockerd runs with --userns-remap (GET /info SecurityOptions has
	 * "name=userns"; see lb_info_has_security_option). */
	bool daemon_userns_remap;
	/* From the caller: daemon.json "no-new-privileges": true, which inspect does not show. */
	bool daemon_no_new_privileges;
} lb_inspect_facts;

/* Parse an inspect object; takes a reference on it. Wrong types are errors naming the field. */
int lb_inspect_facts_from_json(json_t *inspect, bool daemon_userns_remap, lb_inspect_facts *f,
			       lb_err *e);
void lb_inspect_facts_clear(lb_inspect_facts *f);

/* Does GET /info's SecurityOptions hold "name=NAME" (e.g. "userns", "apparmor", "selinux")? */
bool lb_info_has_security_option(const json_t *info, const char *name);

/* ---- facts from the kernel (filled by procfacts) ---- */

enum lb_ns { LB_NS_NET, LB_NS_PID, LB_NS_IPC, LB_NS_UTS, LB_NS_USER, LB_NS_MNT, LB_NS_COUNT };
const char *lb_ns_name(enum lb_ns ns); /* "net", "pid", ... as in /proc/PID/ns/ */

/* One line of /proc/PID/mountinfo, octal escapes decoded. */
typedef struct lb_mount {
	unsigned major, minor;
	char *root;	  /* path inside its filesystem */
	char *mountpoint; /* as the reading process sees it */
	char *fstype;
	bool ro; /* per-mount flags */
} lb_mount;

typedef struct lb_mounts {
	lb_mount *v;
	size_t n;
} lb_mounts;

void lb_mounts_clear(lb_mounts *m);

#define LB_LSM_LABEL_MAX 256

typedef struct lb_kernel_facts {
	int pid;
	/* /proc/PID/status, as lockboxd's (the host's) namespaces see it. */
	uint32_t uid[4], gid[4]; /* real, effective, saved, filesystem */
	int no_new_privs;	 /* 0 / 1, -1 = line missing */
	int seccomp;		 /* 0 disabled, 1 strict, 2 filter, -1 = line missing */
	uint64_t cap_eff, cap_prm, cap_bnd, cap_amb;
	bool have_status;
	lb_idmap uid_map, gid_map; /* /proc/PID/uid_map, gid_map */
	bool have_maps;
	/* attr/current, else attr/apparmor/current, trailing newline removed; lsm_available
	 * false when neither can be read (no AppArmor, no SELinux). */
	bool lsm_available;
	char lsm_label[LB_LSM_LABEL_MAX];
	/* Namespace inodes of the container and of lockboxd itself (/proc/self/ns); 0 = unknown. */
	uint64_t ns[LB_NS_COUNT], host_ns[LB_NS_COUNT];
	lb_mounts mounts;      /* /proc/PID/mountinfo */
	lb_mounts host_mounts; /* /proc/self/mountinfo: resolves a container mount's host path */
} lb_kernel_facts;

void lb_kernel_facts_init(lb_kernel_facts *k);
void lb_kernel_facts_clear(lb_kernel_facts *k);

/* ---- the report ---- */

#define LB_EVIDENCE_MAX 384
/* A disagreement's reason quotes both sources' evidence. */
#define LB_REASON_MAX (2 * LB_EVIDENCE_MAX + 256)

typedef struct lb_posture_result {
	bool required; /* in the require set given to lb_posture_evaluate */
	bool pass;
	bool kernel_checked; /* the kernel had a say (kernel facts given and the check has a
				kernel source) */
	bool disagree;	     /* inspect and kernel gave different verdicts (then pass = false) */
	char inspect[LB_EVIDENCE_MAX]; /* e.g. `User="1000"` */
	char kernel[LB_EVIDENCE_MAX];  /* e.g. `Uid 101000/... = container uid 1000 ...`; "" when
					  the kernel had no say */
	char reason[LB_REASON_MAX];    /* short and human, "" when pass: "runs as root" */
} lb_posture_result;

typedef struct lb_posture_report {
	uint32_t require;
	uint32_t failed; /* LB_CHECK_BITs of required checks that failed; 0 = admitted */
	bool kernel;	 /* kernel facts were given */
	char container[80], name[128];
	lb_posture_result check[LB_CHECK_COUNT]; /* every check, indexed by enum lb_check */
} lb_posture_report;

/* Decide every check (required or not, so that an audit shows all of them); a required one
 * that fails sets its bit in the result and in rep->failed. kernel is NULL before the
 * container starts; hashes NULL when lockbox manages no secret yet. Both sources must pass:
 * if they disagree the check fails and its reason says which source said what. */
uint32_t lb_posture_evaluate(uint32_t require, const lb_inspect_facts *in, const lb_kernel_facts *k,
			     const lb_secret_hashes *hashes, lb_posture_report *rep);

/* The verdict alone: which required checks among only (LB_CHECK_BITs) fail, decided by the
 * same rules on the same facts as lb_posture_evaluate (so the same bits as its result masked
 * with only) without formatting any evidence or reason. For lockboxd's re-check before every
 * refresh pass; lb_posture_evaluate gives the report when something fails. */
uint32_t lb_posture_verdict(uint32_t require, uint32_t only, const lb_inspect_facts *in,
			    const lb_kernel_facts *k, const lb_secret_hashes *hashes);

/* {"container","name","ok","kernel_checked","failed":[names],"checks":[{"check","required",
 * "pass","disagree","reason","inspect","kernel"}]} — "kernel" is null when it had no say.
 * NULL on allocation failure. */
json_t *lb_posture_report_json(const lb_posture_report *rep);

/* "lockbox: binding web refused container: runs as root (non-root), has CAP_SYS_ADMIN
 * (cap-drop-all)": every failed required check, one line, no newline. Returns the length it
 * needed (snprintf style); the text is cut short when buf is too small. */
size_t lb_posture_refusal_line(const lb_posture_report *rep, const char *binding, char *buf,
			       size_t len);

/* "CAP_SYS_ADMIN" for 21; NULL beyond the known set. */
const char *lb_cap_name(unsigned cap);

#endif
