/* An Engine API inspect body (GET /containers/ID/json) through the posture gate's inspect
 * side (policy/posture_eval.c): any Docker user shapes it (labels, env, mounts, user,
 * security options). Input: one byte of flags (bit 0: daemon runs --userns-remap), then
 * the body as dockerd would send it. Every check is evaluated, then the report and the
 * refusal line are made, as the gate and `lockboxctl audit` do. */
#include "fuzz.h"

#include "posture_eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lb_inspect_facts in = {0};
	lb_posture_report rep;
	lb_err e = {0};
	json_t *body, *rj;
	char line[700];
	uint32_t failed;

	if (size < 1)
		return -1;
	body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
	if (!body)
		return 0;
	if (lb_inspect_facts_from_json(body, data[0] & 1, &in, &e) == 0) {
		failed =
		    lb_posture_evaluate(LB_CHECK_BIT(LB_CHECK_COUNT) - 1, &in, NULL, NULL, &rep);
		FUZZ_ASSERT(failed == rep.failed);
		rj = lb_posture_report_json(&rep);
		FUZZ_ASSERT(rj);
		json_decref(rj);
		lb_posture_refusal_line(&rep, "fuzz", line, sizeof(line));
		FUZZ_ASSERT(strnlen(line, sizeof(line)) < sizeof(line));
		lb_inspect_facts_clear(&in);
	} else {
		FUZZ_ASSERT(e.msg[0]);
	}
	json_decref(body);
	return 0;
}
