/* lb_metrics_import (broker/core/metrics.c): the metrics snapshot a privilege-separated
 * worker relays to root (issue 15/18) is the worker's word, so hostile. Whatever it says,
 * the import skips what is malformed, the series cap holds, and the registry it fills
 * renders, snapshots and imports again to the same text (a round trip). */
#include "fuzz.h"

#include "metrics.h"
#include "secmem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (lb_secmem_init() < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *snap = json_loadb((const char *)data, size, 0, NULL), *again;
	lb_metrics *m = lb_metrics_new(), *m2 = lb_metrics_new();
	char *text, *text2;
	size_t len = 0;
	lb_err e = {0};

	FUZZ_ASSERT(m && m2);
	if (snap && lb_metrics_import(m, snap, &e) >= 0) {
		text = lb_metrics_render(&m, 1, &len);
		FUZZ_ASSERT(text && strlen(text) == len);
		again = lb_metrics_snapshot(m);
		FUZZ_ASSERT(lb_metrics_import(m2, again, &e) == 0);
		text2 = lb_metrics_render(&m2, 1, NULL);
		FUZZ_ASSERT(text2 && strcmp(text, text2) == 0);
		json_decref(again);
		free(text);
		free(text2);
	}
	json_decref(snap);
	lb_metrics_free(m);
	lb_metrics_free(m2);
	return 0;
}
