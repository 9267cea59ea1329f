/* Shared by the libFuzzer harnesses and standalone_main.c, which replays a corpus through a
 * harness without libFuzzer (the gcc build, ctest label "fuzz"). */
#ifndef LB_FUZZ_H
#define LB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Optional, as in libFuzzer: a harness with nothing to set up leaves it out. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
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

/* A text field a parser filled: NUL-terminated within its buffer. */
static inline void fuzz_check_text(const char *s, size_t cap)
{
	FUZZ_ASSERT(strnlen(s, cap) < cap);
}

/* The same, and printable ASCII only (error messages that reach logs). */
static inline void fuzz_check_printable(const char *s, size_t cap)
{
	FUZZ_ASSERT(strnlen(s, cap) < cap);
	for (; *s; s++)
		FUZZ_ASSERT(*s >= 0x20 && *s < 0x7f);
}

/* The LLVMFuzzerInitialize of a harness whose parser fills secure buffers (secmem.h). */
#define FUZZ_INIT_SECMEM()                                                                         \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                                          \
	{                                                                                          \
		(void)argc;                                                                        \
		(void)argv;                                                                        \
		if (lb_secmem_init() < 0)                                                          \
			abort();                                                                   \
		return 0;                                                                          \
	}

#endif
