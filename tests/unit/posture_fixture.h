/* What the posture tests share (test_posture.c, test_procfacts_parse.c): the captured
 * fixtures (tests/unit/fixtures/inspect/, from tests/docker/capture_inspect.sh: dockerd 20.10
 * with --userns-remap=default) loaded through the product's parsers, and an evaluation that
 * checks lb_posture_verdict against lb_posture_evaluate on every call. */
#ifndef LB_TEST_POSTURE_FIXTURE_H
#define LB_TEST_POSTURE_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "posture_eval.h"

#define BIT(c)	   LB_CHECK_BIT(LB_CHECK_##c)
#define ALL_CHECKS ((UINT32_C(1) << LB_CHECK_COUNT) - 1)
/* Every check but lsm: the capturing host has neither AppArmor nor SELinux, so lsm fails
 * every container there (DESIGN.md); it has its own tests. */
#define ALL_BUT_LSM (ALL_CHECKS & ~BIT(LSM))

/* A fixture file's text (malloc'd), NULL when it is not there. */
char *pf_slurp(const char *name);
bool pf_fixture_exists(const char *name);
/* The capturing dockerd ran with userns-remap (its /info SecurityOptions). */
bool pf_daemon_remap(void);
/* VARIANT.json, parsed. */
json_t *pf_load_json(const char *variant);
/* Inspect facts from j (its reference is taken over), or from VARIANT.json. */
void pf_load_inspect_json(json_t *j, lb_inspect_facts *f);
void pf_load_inspect(const char *variant, lb_inspect_facts *f);
/* The kernel facts of a captured container, through the same parsers procfacts uses; false
 * when the variant has no /proc capture. */
bool pf_load_kernel(const char *variant, lb_kernel_facts *k);
char *pf_failed_names(uint32_t mask, char *buf, size_t len);
void pf_expect_failed(const char *what, const lb_posture_report *rep, uint32_t want);
void pf_expect_no_disagreement(const char *what, const lb_posture_report *rep);
/* lb_posture_evaluate, and lb_posture_verdict on the same facts must agree with it: for
 * require (the same failed bits), for every check (each check's pass), and check by check. */
uint32_t pf_evaluate(uint32_t require, const lb_inspect_facts *in, const lb_kernel_facts *k,
		     const lb_secret_hashes *hashes, lb_posture_report *rep);

#endif
