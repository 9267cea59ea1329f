/* What the SigV4 tests share (unit_sigv4, unit_sigv4_rules): the example credentials of the
 * AWS documentation and of the aws-c-auth suite, and a signing that must succeed. */
#ifndef LOCKBOX_TESTS_UNIT_SIGV4_FIXTURE_H
#define LOCKBOX_TESTS_UNIT_SIGV4_FIXTURE_H

#include "sigv4.h"

#define AKID   "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* Signs REQ into S; fails the test with the signer's message when it refuses. */
void sign_ok(const lb_sigv4_request *req, lb_sigv4_signed *s);

#endif
