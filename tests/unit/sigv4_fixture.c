/* Shared by the SigV4 tests: see sigv4_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sigv4_fixture.h"

void sign_ok(const lb_sigv4_request *req, lb_sigv4_signed *s)
{
	lb_err e = {0};

	if (lb_sigv4_sign(req, s, &e))
		fail_msg("sign: %s", e.msg);
}
