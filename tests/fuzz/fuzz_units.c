/* The small value grammars of the config (units.h): every input goes through all five. */
#include "fuzz.h"

#include <netinet/in.h>
#include <strings.h>

#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	uint64_t ms, bytes;
	unsigned mode;
	int sig, again;
	struct sockaddr_storage sa;
	socklen_t salen = 0;

	if (lb_parse_duration(s, &ms) == 0)
		FUZZ_ASSERT(ms > 0);
	if (lb_parse_size(s, &bytes) == 0)
		FUZZ_ASSERT(bytes > 0);
	if (lb_parse_mode(s, &mode) == 0)
		FUZZ_ASSERT(mode <= 0755 && !(mode & 07022));
	if (lb_parse_signal(s, &sig) == 0) {
		const char *name = lb_signal_name(sig);

		/* Every accepted signal has a name that parses back to it. */
		FUZZ_ASSERT(strncmp(name, "SIG", 3) == 0);
		FUZZ_ASSERT(lb_parse_signal(name, &again) == 0 && again == sig);
		FUZZ_ASSERT(lb_parse_signal(name + 3, &again) == 0 && again == sig);
	}
	if (lb_parse_listen(s, &sa, &salen) == 0)
		FUZZ_ASSERT((sa.ss_family == AF_INET && salen == sizeof(struct sockaddr_in)) ||
			    (sa.ss_family == AF_INET6 && salen == sizeof(struct sockaddr_in6)));
	free(s);
	return 0;
}
