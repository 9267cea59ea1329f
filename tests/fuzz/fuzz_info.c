/* dockerd's GET /info and the host's /etc/subuid, as lockboxd reads them at each connection
 * (broker/docker/events.c learn_remap): lb_info_has_security_option (policy/posture_eval.c)
 * and lb_userdb_remap_user (broker/docker/userdb.c).
 * Input: an /info body, '\0', /etc/subuid text (no '\0': the body only, an empty subuid). */
#include "fuzz.h"

#include <jansson.h>

#include "posture_eval.h"
#include "userdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t il = nul ? (size_t)(nul - data) : size;
	size_t sl = nul ? size - il - 1 : 0;
	json_t *info = json_loadb((const char *)data, il, 0, NULL);
	char *subuid = malloc(sl ? sl : 1), user[160];
	const char *root, *base;

	if (!subuid)
		abort();
	if (sl)
		memcpy(subuid, nul + 1, sl); /* exact size: ASan sees a read past it */
	(void)lb_info_has_security_option(info, "userns");
	(void)lb_info_has_security_option(info, "");
	root = json_string_value(json_object_get(info, "DockerRootDir"));
	if (lb_userdb_remap_user(root, subuid, sl, user, sizeof(user))) {
		/* A name from one line, before its first ':', whose start is the root dir's UID. */
		fuzz_check_text(user, sizeof(user));
		FUZZ_ASSERT(user[0] && !strchr(user, ':') && !strchr(user, '\n'));
		base = strrchr(root, '/');
		FUZZ_ASSERT(base && base[1] >= '0' && base[1] <= '9' && strchr(base, '.'));
	}
	/* Too small a buffer never overflows. */
	(void)lb_userdb_remap_user(root, subuid, sl, user, 1);
	free(subuid);
	json_decref(info);
	return 0;
}
