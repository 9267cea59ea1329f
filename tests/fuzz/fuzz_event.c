/* One line of dockerd's /events stream (lb_engine_event_decode, broker/docker/engine.c):
 * labels of any container, so any Docker user, make up most of it, and a line over the
 * 1 MiB cap arrives cut. Input: one byte (bit 0: the line was cut at the cap), then the
 * line without its '\n'. */
#include "fuzz.h"

#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line;
	json_t *ev;

	if (size < 1)
		return -1;
	line = malloc(size - 1 ? size - 1 : 1);
	if (!line)
		abort();
	memcpy(line, data + 1, size - 1);
	ev = lb_engine_event_decode(line, size - 1, data[0] & 1);
	FUZZ_ASSERT(!ev || json_is_object(ev));
	if (ev && (data[0] & 1))
		FUZZ_ASSERT(json_is_object(json_object_get(ev, "Actor")));
	json_decref(ev);
	free(line);
	return 0;
}
