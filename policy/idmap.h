/* User-namespace id maps: translate a consumer's uid/gid to the host id that owns its files. */
#ifndef LB_IDMAP_H
#define LB_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define LB_IDMAP_MAX 340 /* the kernel's limit on uid_map lines */

typedef struct lb_idmap {
	size_t n; /* 0 = identity */
	struct {
		uint32_t inside, outside, count;
	} r[LB_IDMAP_MAX];
} lb_idmap;

/* Literal map: lines "INSIDE OUTSIDE COUNT" separated by '\n' (the /proc/PID/uid_map format). */
int lb_idmap_parse(const char *text, lb_idmap *m, lb_err *e);
/* Syntax-only check of a map spec (literal, "subuid:USER", "pid:N"), for config validation. */
int lb_idmap_spec_check(const char *spec, lb_err *e);
/* Resolve a spec: literal, "subuid:USER" (/etc/subuid or /etc/subgid when gid), "pid:N"
 * (/proc/N/uid_map or gid_map). NULL or "" = identity. */
int lb_idmap_load(const char *spec, bool gid, lb_idmap *m, lb_err *e);
/* Parse subordinate-id file text (/etc/subuid format) for user (name or numeric uid string). */
int lb_idmap_from_subid(const char *text, const char *user, const char *user_id, lb_idmap *m,
			lb_err *e);
int lb_idmap_to_host(const lb_idmap *m, uint32_t id, uint32_t *host, lb_err *e);

#endif
