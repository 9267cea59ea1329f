/* Swarm secret requests (lb_sp_parse, lb_sp_decide, lb_sp_task_inspect; broker/docker/
 * secretprov_parse.c): the body of POST /SecretProvider.GetSecret, which carries labels any
 * user of `docker secret create` chose. Input: the JSON body. The same document is also read
 * as a GET /tasks/ID answer: what lb_sp_task_inspect makes of it must be an inspect document
 * the posture gate accepts. */
#include "fuzz.h"

#include "posture_eval.h"
#include "secretprov.h"

static lb_config *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char text[] =
	    "{\"stores\":{\"local\":{\"type\":\"sealed\"}},\"bindings\":{"
	    "\"web\":{\"secrets\":{\"db\":\"local:web/db#password\",\"api\":\"local:web/api\","
	    "\"t\":{\"template\":\"{{ local:web/api }}\"}},\"require\":[\"non-root\"]},"
	    "\"batch\":{\"secrets\":{\"pw\":\"local:web/db#password\"}}}}";
	lb_diag d = {0};

	(void)argc;
	(void)argv;
	cfg = lb_config_parse(text, "fuzz.json", &d);
	lb_diag_free(&d);
	if (!cfg)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL), *in;
	lb_sp_request rq;
	lb_sp_decision dc;
	lb_err e = {0};

	if (!req)
		return -1;
	if (lb_sp_parse(req, &rq, &e) == 0) {
		fuzz_check_printable(rq.secret_name, sizeof(rq.secret_name));
		fuzz_check_printable(rq.service_name, sizeof(rq.service_name));
		fuzz_check_printable(rq.task_name, sizeof(rq.task_name));
		fuzz_check_printable(rq.task_id, sizeof(rq.task_id));
		fuzz_check_printable(rq.source, sizeof(rq.source));
		FUZZ_ASSERT(rq.secret_name[0] && rq.task_id[0]);
		FUZZ_ASSERT(rq.source[0] || (rq.binding[0] && rq.secret[0]));
		if (lb_sp_decide(cfg, &rq, &dc, &e) == 0) {
			FUZZ_ASSERT(dc.nbindings >= 1 && lb_config_binding(cfg, dc.binding));
			FUZZ_ASSERT(strcmp(dc.src.store, "local") == 0);
		} else {
			fuzz_check_text(e.msg, sizeof(e.msg));
		}
	} else {
		fuzz_check_text(e.msg, sizeof(e.msg));
	}
	in = lb_sp_task_inspect(req);
	if (in) {
		lb_inspect_facts f;
		FUZZ_ASSERT(lb_inspect_facts_from_json(in, false, &f, &e) == 0);
		lb_inspect_facts_clear(&f);
		json_decref(in);
	}
	json_decref(req);
	return 0;
}
