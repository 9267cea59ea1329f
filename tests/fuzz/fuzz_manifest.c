/* The client's .manifest.json scanner (client/manifest.c, lb_manifest_scan): libc-only,
 * length-bounded (the buffer is not NUL-terminated), reads a file from a directory it does not
 * trust blindly. Built from the source file alone: the client has its own lb_err. */
#include "fuzz.h"

#include "lb.h"

struct seen {
	size_t n;
	const char *start, *end;
};

static void on_entry(const struct lb_entry *entry, void *arg)
{
	struct seen *s = arg;
	char name[LB_NAME_MAX + 1];

	/* Names point into the buffer, are valid secret names, and not_after is >= 0. */
	FUZZ_ASSERT(entry->name >= s->start && entry->name + entry->name_len <= s->end);
	FUZZ_ASSERT(entry->name_len > 0 && entry->name_len <= LB_NAME_MAX);
	memcpy(name, entry->name, entry->name_len);
	name[entry->name_len] = '\0';
	FUZZ_ASSERT(lb_secret_name_valid(name));
	FUZZ_ASSERT(!entry->has_not_after || entry->not_after >= 0);
	s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact copy without a terminator: the scanner must stay within len. */
	char *buf = malloc(size ? size : 1);
	struct seen seen = {0};
	int64_t generation;
	size_t err_off = (size_t)-1;
	const char *what = NULL;

	if (!buf)
		abort();
	if (size)
		memcpy(buf, data, size);
	seen.start = buf;
	seen.end = buf + size;
	if (lb_manifest_scan(buf, size, on_entry, &seen, &generation, &err_off, &what) < 0)
		FUZZ_ASSERT(what != NULL && err_off <= size);
	free(buf);
	return 0;
}
