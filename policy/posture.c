#include "posture.h"

#include <string.h>

static const char *const check_names[LB_CHECK_COUNT] = {
    [LB_CHECK_NON_ROOT] = "non-root",
    [LB_CHECK_USERNS_REMAP] = "userns-remap",
    [LB_CHECK_CAP_DROP_ALL] = "cap-drop-all",
    [LB_CHECK_NO_NEW_PRIVILEGES] = "no-new-privileges",
    [LB_CHECK_SECCOMP] = "seccomp",
    [LB_CHECK_LSM] = "lsm",
    [LB_CHECK_READ_ONLY_ROOTFS] = "read-only-rootfs",
    [LB_CHECK_NO_PRIVILEGED] = "no-privileged",
    [LB_CHECK_NO_HOST_NAMESPACES] = "no-host-namespaces",
    [LB_CHECK_NO_DOCKER_SOCKET] = "no-docker-socket",
    [LB_CHECK_NO_SENSITIVE_MOUNTS] = "no-sensitive-mounts",
    [LB_CHECK_MEMORY_LIMIT] = "memory-limit",
    [LB_CHECK_PIDS_LIMIT] = "pids-limit",
    [LB_CHECK_NO_SECRET_ENV] = "no-secret-env",
};

int lb_check_from_name(const char *name)
{
	for (int i = 0; i < LB_CHECK_COUNT; i++)
		if (strcmp(name, check_names[i]) == 0)
			return i;
	return -1;
}

const char *lb_check_name(enum lb_check c)
{
	return (unsigned)c < LB_CHECK_COUNT ? check_names[c] : "?";
}
