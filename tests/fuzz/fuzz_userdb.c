/* A container's /etc/passwd and /etc/group against Config.User (broker/docker/userdb.c):
 * the container writes both files, any Docker user writes the spec.
 * Input: SPEC '\n' PASSWD [ '\0' GROUP ] (no '\0': no group file; an empty PASSWD part
 * before '\0' is an empty file; "-\0" at the start of PASSWD means no passwd file). */
#include "fuzz.h"

#include "userdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size), *nul;
	const char *pw, *gr = NULL;
	size_t pwl, grl = 0;
	char *spec, *pwc, *grc = NULL;
	uint32_t uid = 7, gid = 7;
	int64_t hint;
	lb_err e = {0};
	int r;

	if (!nl || memchr(data, '\0', (size_t)(nl - data)))
		return -1;
	spec = fuzz_strndup(data, (size_t)(nl - data));
	pw = (const char *)nl + 1;
	pwl = size - (size_t)(nl + 1 - data);
	nul = memchr(pw, '\0', pwl);
	if (nul) {
		gr = (const char *)nul + 1;
		grl = pwl - (size_t)((const char *)nul + 1 - pw);
		pwl = (size_t)((const char *)nul - pw);
	}
	/* Exact-size heap copies so that ASan sees a read past either file. */
	pwc = malloc(pwl ? pwl : 1);
	if (!pwc)
		abort();
	memcpy(pwc, pw, pwl);
	if (gr) {
		grc = malloc(grl ? grl : 1);
		if (!grc)
			abort();
		memcpy(grc, gr, grl);
	}
	r = lb_userdb_resolve(spec, pwl == 1 && pw[0] == '-' ? NULL : pwc, pwl, grc, grl, &uid,
			      &gid, &e);
	hint = lb_userdb_uid_hint(spec);
	if (r == 0) {
		FUZZ_ASSERT(uid <= 2147483647u && gid <= 2147483647u);
		/* Whatever the files say, no user is uid 0 and a number is that number. */
		FUZZ_ASSERT(hint < 0 || (int64_t)uid == hint);
	} else {
		FUZZ_ASSERT(r == -1 && uid == 7 && gid == 7 && e.msg[0]);
		FUZZ_ASSERT(strnlen(e.msg, sizeof(e.msg)) < sizeof(e.msg));
	}
	free(spec);
	free(pwc);
	free(grc);
	return 0;
}
