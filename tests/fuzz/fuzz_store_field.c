/* lb_store_select_field: applies #FIELD (or the one-field rule) to a value a store fetched,
 * i.e. to bytes a remote server chose.
 * Input: FLAG FIELD '\n' VALUE. FLAG 'S' marks the value as structured (a JSON object of
 * fields, as KV stores return); anything else is an opaque value. FIELD may be empty. */
#include "fuzz.h"

#include "secmem.h"
#include "store.h"

FUZZ_INIT_SECMEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	lb_fetch_result res = {0};
	lb_source src = {.store = "fuzz", .path = "fuzz/path"};
	lb_secbuf *out = NULL;
	lb_err e = {0};
	size_t flen;

	if (size < 1)
		return -1;
	nl = memchr(data + 1, '\n', size - 1);
	if (!nl)
		return -1;
	flen = (size_t)(nl - (data + 1));
	if (flen >= sizeof(src.field) || memchr(data + 1, '\0', flen))
		return -1;
	memcpy(src.field, data + 1, flen);
	res.structured = data[0] == 'S';
	res.value = lb_secbuf_dup(nl + 1, size - flen - 2);
	if (!res.value)
		abort();
	if (lb_store_select_field(&res, &src, &out, &e) == 0) {
		FUZZ_ASSERT(out != NULL && out->data[out->len] == '\0');
		/* Without a field and structure the value passes through untouched. */
		if (!res.structured && !src.field[0])
			FUZZ_ASSERT(out->len == res.value->len &&
				    memcmp(out->data, res.value->data, out->len) == 0);
	} else {
		FUZZ_ASSERT(out == NULL && e.msg[0] != '\0');
	}
	lb_secbuf_free(out);
	lb_fetch_result_clear(&res);
	return 0;
}
