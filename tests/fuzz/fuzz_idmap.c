/* Id maps: the literal uid_map grammar (lb_idmap_parse), the config-time spec check and the
 * /etc/subuid grammar (lb_idmap_from_subid).
 * Input: TEXT[\0USER[\0USER_ID]]; USER defaults to "lockbox", USER_ID to none. */
#include "fuzz.h"

#include "idmap.h"

/* Every range maps its first and last id to the right host id, and nothing overlaps. */
static void check_map(const lb_idmap *m)
{
	lb_err e = {0};

	FUZZ_ASSERT(m->n > 0 && m->n <= LB_IDMAP_MAX);
	for (size_t i = 0; i < m->n; i++) {
		uint32_t in = m->r[i].inside, count = m->r[i].count, host;

		FUZZ_ASSERT(count > 0);
		FUZZ_ASSERT((uint64_t)in + count <= (uint64_t)UINT32_MAX + 1);
		FUZZ_ASSERT((uint64_t)m->r[i].outside + count <= (uint64_t)UINT32_MAX + 1);
		FUZZ_ASSERT(lb_idmap_to_host(m, in, &host, &e) == 0 && host == m->r[i].outside);
		FUZZ_ASSERT(lb_idmap_to_host(m, in + (count - 1), &host, &e) == 0 &&
			    host == m->r[i].outside + (count - 1));
		for (size_t j = 0; j < i; j++) {
			uint32_t out = m->r[i].outside;

			FUZZ_ASSERT((uint64_t)in >= (uint64_t)m->r[j].inside + m->r[j].count ||
				    (uint64_t)m->r[j].inside >= (uint64_t)in + count);
			FUZZ_ASSERT((uint64_t)out >= (uint64_t)m->r[j].outside + m->r[j].count ||
				    (uint64_t)m->r[j].outside >= (uint64_t)out + count);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_strndup(data, size);
	const char *text = buf, *user = "lockbox", *user_id = NULL;
	size_t len = strlen(buf);
	lb_idmap *m = malloc(sizeof(*m));
	lb_err e = {0};
	int parsed;

	if (!m)
		abort();
	if (len < size) {
		user = buf + len + 1;
		if (len + 1 + strlen(user) < size)
			user_id = user + strlen(user) + 1;
	}
	parsed = lb_idmap_parse(text, m, &e);
	if (parsed == 0)
		check_map(m);
	else
		FUZZ_ASSERT(e.msg[0] != '\0');
	/* A literal map that parses is a valid spec. */
	FUZZ_ASSERT(lb_idmap_spec_check(text, &e) == 0 || parsed != 0);
	if (lb_idmap_from_subid(text, user, user_id, m, &e) == 0)
		check_map(m);
	free(m);
	free(buf);
	return 0;
}
