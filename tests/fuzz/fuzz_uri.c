/* lb_source_parse: STORE:PATH[#FIELD][?version=N]. An accepted URI must survive the
 * lb_source_key round trip (that key is what stores fetch and cache by). */
#include "fuzz.h"

#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = fuzz_strndup(data, size);
	lb_source src, again;
	lb_err e = {0};
	char key[1024];

	if (lb_source_parse(uri, &src, &e) == 0) {
		FUZZ_ASSERT(src.store[0] && src.path[0]);
		FUZZ_ASSERT(!strchr(src.path, '#') && !strchr(src.path, '?'));
		FUZZ_ASSERT(src.path[0] != '/' && src.path[strlen(src.path) - 1] != '/');
		FUZZ_ASSERT(!strstr(src.path, "//"));
		FUZZ_ASSERT(!strchr(src.field, '/'));
		lb_source_key(&src, key, sizeof(key));
		FUZZ_ASSERT(lb_source_parse(key, &again, &e) == 0);
		FUZZ_ASSERT(strcmp(src.store, again.store) == 0);
		FUZZ_ASSERT(strcmp(src.path, again.path) == 0);
		FUZZ_ASSERT(strcmp(src.version, again.version) == 0);
		FUZZ_ASSERT(again.field[0] == '\0');
	} else {
		FUZZ_ASSERT(e.msg[0] != '\0');
	}
	free(uri);
	return 0;
}
