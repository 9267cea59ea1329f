/* Shared by the posture gate's files (posture_eval.c, posture_facts.c, posture_rules_*.c);
 * nothing else includes it. Each posture_rules_*.c holds one family of checks; a check
 * fills two sides, what inspect says (in) and what the kernel shows (k, NO_SAY when it has
 * no kernel source or there are no kernel facts). */
#ifndef LB_POSTURE_RULES_H
#define LB_POSTURE_RULES_H

#include "posture_eval.h"

/* ---- bounded text buffers (posture_eval.c) ---- */

typedef struct sb {
	char *p;
	size_t cap, len;
	bool cut;
} sb;

void lb_pe_sb_init(sb *b, char *buf, size_t cap);
void lb_pe_sb_add(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text that came from outside (inspect fields, env names, paths): printable ASCII only, the
 * rest as \xNN, at most max bytes of it (STYLE.md rule 8). */
void lb_pe_sb_untrusted(sb *b, const char *s, size_t max);
/* A JSON array of strings as "[a b c]", each escaped and cut at each_max bytes. */
void lb_pe_string_list(sb *b, const json_t *a, size_t each_max);

/* ---- one check's two sides ---- */

enum { NO_SAY = -1, FAIL = 0, PASS = 1 };

typedef struct side {
	int v;
	/* lb_posture_verdict: only v counts; ev and why are cut from the start, so that
	 * nothing is formatted into them. A check must decide v from the facts alone, never
	 * from what ev or why hold. */
	bool quiet;
	sb ev, why;
	char evbuf[LB_EVIDENCE_MAX], whybuf[LB_EVIDENCE_MAX];
} side;

typedef struct ctx {
	const lb_inspect_facts *in;
	const lb_kernel_facts *k; /* NULL before start */
	const lb_secret_hashes *h;
} ctx;

/* The first failure gives the reason; later ones are joined with "; ". */
void lb_pe_side_fail(side *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* posture_facts.c: the uid a Config.User stands for when that is decidable without the
 * image's /etc/passwd (-1 when not). */
int64_t lb_pe_user_uid(const char *user);

/* posture_rules_user.c: who the process is */
void lb_pe_check_non_root(const ctx *c, side *in, side *k);
void lb_pe_check_userns_remap(const ctx *c, side *in, side *k);
void lb_pe_check_cap_drop_all(const ctx *c, side *in, side *k);
/* posture_rules_confine.c: what confines it */
void lb_pe_check_no_new_privileges(const ctx *c, side *in, side *k);
void lb_pe_check_seccomp(const ctx *c, side *in, side *k);
void lb_pe_check_lsm(const ctx *c, side *in, side *k);
void lb_pe_check_read_only_rootfs(const ctx *c, side *in, side *k);
void lb_pe_check_no_privileged(const ctx *c, side *in, side *k);
void lb_pe_check_no_host_namespaces(const ctx *c, side *in, side *k);
void lb_pe_check_memory_limit(const ctx *c, side *in, side *k);
void lb_pe_check_pids_limit(const ctx *c, side *in, side *k);
/* posture_rules_mounts.c: what of the host it sees */
void lb_pe_check_no_docker_socket(const ctx *c, side *in, side *k);
void lb_pe_check_no_sensitive_mounts(const ctx *c, side *in, side *k);
/* posture_rules_env.c: what its environment holds */
void lb_pe_check_no_secret_env(const ctx *c, side *in, side *k);

#endif
