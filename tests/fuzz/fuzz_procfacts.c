/* /proc text of a container process (broker/docker/procfacts.c): status, uid_map/gid_map,
 * ns links, mountinfo, attr/current. The container shapes much of it (mount points,
 * paths with escapes, its own user namespace's maps).
 * Input: one byte choosing the parser (mod 7), then the text; for maps, uid_map and
 * gid_map are separated by the first '\0'; 5 is /proc/PID/cgroup against a fixed id, 6
 * /proc/PID/stat's starttime (the command name in it is the container's). */
#include "fuzz.h"

#include "procfacts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lb_kernel_facts k;
	lb_err e = {0};
	char *text, *gid;
	int r = 0;

	if (size < 1)
		return -1;
	text = fuzz_strndup(data + 1, size - 1);
	lb_kernel_facts_init(&k);
	switch (data[0] % 7) {
	case 0:
		r = lb_procfacts_parse_status(text, &k, &e);
		FUZZ_ASSERT(r < 0 || k.have_status);
		FUZZ_ASSERT(k.no_new_privs >= -1 && k.no_new_privs <= 1);
		FUZZ_ASSERT(k.seccomp >= -1 && k.seccomp <= 2);
		break;
	case 1: {
		size_t n = strlen(text);
		gid = n + 1 < size ? fuzz_strndup(data + 1 + n + 1, size - 1 - n - 1)
				   : fuzz_strndup(data, 0);
		r = lb_procfacts_parse_maps(text, gid, &k, &e);
		FUZZ_ASSERT(r < 0 || k.have_maps);
		free(gid);
		break;
	}
	case 2: {
		uint64_t ns[LB_NS_COUNT];
		r = lb_procfacts_parse_ns(text, ns, &e);
		break;
	}
	case 3:
		r = lb_procfacts_parse_mountinfo(text, &k.mounts, &e);
		for (size_t i = 0; r == 0 && i < k.mounts.n; i++)
			FUZZ_ASSERT(k.mounts.v[i].root && k.mounts.v[i].mountpoint &&
				    k.mounts.v[i].fstype);
		break;
	case 6: {
		uint64_t start = 0;
		r = lb_procfacts_parse_start(text, &start, &e);
		break;
	}
	case 5:
		(void)lb_procfacts_cgroup_names(
		    text, "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b");
		break;
	default:
		lb_procfacts_set_lsm(&k, text);
		FUZZ_ASSERT(strnlen(k.lsm_label, sizeof(k.lsm_label)) < sizeof(k.lsm_label));
		break;
	}
	FUZZ_ASSERT(r == 0 || (r == -1 && e.msg[0]));
	lb_kernel_facts_clear(&k);
	free(text);
	return 0;
}
