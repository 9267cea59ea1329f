/* Names of the posture checks a binding may `require` (DESIGN.md, "Posture gate"). */
#ifndef LB_POSTURE_H
#define LB_POSTURE_H

#include <stdint.h>

enum lb_check {
	LB_CHECK_NON_ROOT,
	LB_CHECK_USERNS_REMAP,
	LB_CHECK_CAP_DROP_ALL,
	LB_CHECK_NO_NEW_PRIVILEGES,
	LB_CHECK_SECCOMP,
	LB_CHECK_LSM,
	LB_CHECK_READ_ONLY_ROOTFS,
	LB_CHECK_NO_PRIVILEGED,
	LB_CHECK_NO_HOST_NAMESPACES,
	LB_CHECK_NO_DOCKER_SOCKET,
	LB_CHECK_NO_SENSITIVE_MOUNTS,
	LB_CHECK_MEMORY_LIMIT,
	LB_CHECK_PIDS_LIMIT,
	LB_CHECK_NO_SECRET_ENV,
	LB_CHECK_COUNT
};

#define LB_CHECK_BIT(c) (UINT32_C(1) << (c))
/* Applied when a binding has no `require`. */
#define LB_CHECKS_DEFAULT                                                                          \
	(LB_CHECK_BIT(LB_CHECK_NO_PRIVILEGED) | LB_CHECK_BIT(LB_CHECK_NO_DOCKER_SOCKET) |          \
	 LB_CHECK_BIT(LB_CHECK_NO_HOST_NAMESPACES) | LB_CHECK_BIT(LB_CHECK_NO_SECRET_ENV))

/* -1 when unknown. */
int lb_check_from_name(const char *name);
const char *lb_check_name(enum lb_check c);

#endif
