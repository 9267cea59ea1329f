/* Shared by the libFuzzer harnesses and standalone_main.c, which replays a corpus through a
 * harness without libFuzzer (the gcc build, ctest label "fuzz"). */
#ifndef LB_FUZZ_H
#define LB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An exact-size NUL-terminated heap copy, so that ASan sees any read past the input. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

__attribute__((noreturn)) static inline void fuzz_assert_fail(const char *cond, const char *file,
							      int line)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, cond);
	abort();
}

/* Invariants a parser promised; a violation is reported like a sanitizer finding. */
#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_assert_fail(#cond, __FILE__, __LINE__);                               \
	} while (0)

#endif
