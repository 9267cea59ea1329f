/* lb_template_parse and lb_template_render (policy/template.c): a template's text. An
 * accepted template renders with any bytes as its sources' values (each filter's refusals
 * are errors, never crashes); a refused one says why and where (an offset inside the text).
 * Input: VALUE \0 TEMPLATE (no NUL: the whole input is the template, values empty). */
#include "fuzz.h"

#include "secmem.h"
#include "template.h"

static lb_secbuf *value;

static const lb_secbuf *value_of(void *ctx, size_t i, lb_err *e)
{
	(void)ctx;
	if (i % 5 == 4) {
		lb_fail(e, 0, "source %zu failed", i);
		return NULL;
	}
	return value;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return lb_secmem_init();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	const char *text = nul ? (const char *)nul + 1 : (const char *)data;
	size_t tlen = nul ? size - (size_t)(nul - data) - 1 : size;
	char *copy = malloc(tlen ? tlen : 1);
	lb_template *t;
	lb_secbuf *out = NULL;
	lb_err e = {0};
	size_t off = 0;

	if (!copy)
		abort();
	if (tlen)
		memcpy(copy, text, tlen); /* exact size, not NUL-terminated: ASan sees overreads */
	value = lb_secbuf_dup(data, nul ? (size_t)(nul - data) : 0);
	FUZZ_ASSERT(value);
	t = lb_template_parse(copy, tlen, &off, &e);
	if (!t) {
		FUZZ_ASSERT(e.msg[0] != '\0');
		FUZZ_ASSERT(off <= tlen);
	} else {
		FUZZ_ASSERT(lb_template_nsources(t) <= LB_TEMPLATE_MAX_SOURCES);
		for (size_t i = 0; i < lb_template_nsources(t); i++) {
			FUZZ_ASSERT(lb_template_source(t, i)->store[0]);
			FUZZ_ASSERT(lb_template_source_offset(t, i) < tlen);
		}
		if (lb_template_render(t, value_of, NULL, &out, &e) == 0) {
			FUZZ_ASSERT(out);
			/* Literal text is copied through: without placeholders, out is the text. */
			if (!memchr(copy, '{', tlen))
				FUZZ_ASSERT(out->len == tlen && memcmp(out->data, copy, tlen) == 0);
		} else {
			FUZZ_ASSERT(!out && e.msg[0] != '\0');
		}
		lb_secbuf_free(out);
		lb_template_free(t);
	}
	lb_secbuf_free(value);
	free(copy);
	return 0;
}
