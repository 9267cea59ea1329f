/* lb_config_parse: jansson, then the key-path position index (jsonpos.c), then validation of
 * every section, including the URI, unit and id-map grammars it calls. */
#include "fuzz.h"

#include "config.h"
#include "secmem.h"

FUZZ_INIT_SECMEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lb_diag d = {0};
	lb_config *cfg;
	char *text;

	if (size > LB_CONFIG_MAX)
		return -1;
	text = fuzz_strndup(data, size);
	cfg = lb_config_parse(text, "fuzz.json", &d);
	/* What a config keeps is its own (policy/config_mem.c): nothing points into the text. */
	free(text);
	/* Every rejection says why; an accepted config has nothing to say. */
	FUZZ_ASSERT(cfg ? d.n == 0 : d.n > 0);
	for (size_t i = 0; i < d.n; i++)
		FUZZ_ASSERT(strncmp(d.lines[i], "fuzz.json:", 10) == 0);
	if (cfg) {
		FUZZ_ASSERT(cfg->run_dir && cfg->run_dir[0] == '/');
		FUZZ_ASSERT(cfg->state_dir && cfg->state_dir[0] == '/');
		for (size_t i = 0; i < cfg->nstores; i++)
			FUZZ_ASSERT(lb_config_store(cfg, cfg->stores[i].name) != NULL);
		for (size_t i = 0; i < cfg->nbindings; i++) {
			const lb_binding *b = &cfg->bindings[i];

			FUZZ_ASSERT(lb_config_binding(cfg, b->name) == b);
			FUZZ_ASSERT(b->nsecrets > 0 && b->refresh_ms > 0 && b->grace_ms > 0);
			for (size_t j = 0; j < b->nsecrets; j++)
				FUZZ_ASSERT(lb_config_store(cfg, b->secrets[j].src.store) != NULL);
		}
		for (size_t i = 0; i < cfg->ntargets; i++) {
			FUZZ_ASSERT(cfg->targets[i].binding != NULL);
			FUZZ_ASSERT(lb_config_target(cfg, cfg->targets[i].name) ==
				    &cfg->targets[i]);
		}
	}
	lb_config_free(cfg);
	lb_diag_free(&d);
	return 0;
}
