/* The network-store engine (broker/stores/netstore.c), its credential: a refused credential
 * -> refresh -> replay once, requests queued while authenticating, a login after a refused
 * login, and the credential generation a reply carries. Fixture: netstore_fixture.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "netstore_fixture.h"

static void test_replay_once(void **state)
{
	struct lbt_answer a[2];

	(void)state;
	script("t", 401, 200);
	fetch("t", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(count_of("t"), 2);
	assert_int_equal(fake->auths, 2); /* the first, then one after the refusal */
	/* Refused again after the replay: a final error, no loop. */
	script("u", 401, 0);
	fetch("u", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_int_equal(count_of("u"), 2);
	assert_int_equal(fake->auths, 3);
	assert_true(health_is("ok"));
	/* Two reads refused with the same credential: one refresh for both. */
	script("m", 401, 200);
	script("n", 401, 200);
	fetch("m", "", &a[0]);
	fetch("n", "", &a[1]);
	run(a, 2, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(a[1].status, 0);
	assert_int_equal(fake->auths, 4);
}

static void test_queue_while_authenticating(void **state)
{
	struct lbt_answer a[3];

	(void)state;
	fake->mode = AUTH_HTTP;
	fetch("a", "", &a[0]);
	fetch("b", "", &a[1]);
	fetch("c", "", &a[2]);
	run(a, 3, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(a[i].status, 0);
	assert_int_equal(count_of("token"), 1);
	assert_int_equal(fake->auths, 1);
	/* A refused token request fails the queue and backs off. */
	lb_nst_store_close(&store);
	fake = calloc(1, sizeof(*fake));
	assert_int_equal(lb_nst_open(&store, &fake_provider, fake, NULL, &(lb_err){0}), 0);
	fake->mode = AUTH_FAIL;
	fetch("a", "", &a[0]);
	fetch("b", "", &a[1]);
	run(a, 2, 0);
	assert_non_null(strstr(a[0].error, "no token: refused"));
	assert_non_null(strstr(a[1].error, "refused")); /* or backing off after it */
	assert_int_equal(fake->auths, 1);
	assert_true(health_is("degraded"));
}

/* A refused login backs off; the probe after the wait logs in again (its credential
 * request is not held behind the probe it serves) and the store recovers. */
static void test_login_after_refused_login(void **state)
{
	struct lbt_answer a[1];

	(void)state;
	fake->mode = AUTH_HTTP;
	script("token", 403, 200);
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, -1);
	assert_true(health_is("degraded"));
	run(NULL, 0, 1300);
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(count_of("token"), 2);
	assert_int_equal(a[0].status, 0);
	assert_string_equal(a[0].value, "v-a");
	assert_true(health_is("ok"));
}

/* A reply says which credential it was sent with (the vault store replaces the leases of
 * an old token by it): the generation moves with each new credential, and a replay after a
 * refusal carries the new one. */
static void test_reply_cred_gen(void **state)
{
	struct lbt_answer a[1];
	lb_nst *ns = store.priv;

	(void)state;
	fetch("a", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(lb_nst_cred_gen(ns), 1);
	assert_int_equal(last_cred_gen, 1);
	script("t", 401, 200);
	fetch("t", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(a[0].status, 0);
	assert_int_equal(lb_nst_cred_gen(ns), 2);
	assert_int_equal(last_cred_gen, 2);
	lb_nst_cred_ok(ns, 0, false); /* the same credential again: no move */
	fetch("b", "", &a[0]);
	run(a, 1, 0);
	assert_int_equal(last_cred_gen, 2);
}

int main(void)
{
	struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replay_once),
	    cmocka_unit_test(test_queue_while_authenticating),
	    cmocka_unit_test(test_login_after_refused_login),
	    cmocka_unit_test(test_reply_cred_gen),
	};

	return netstore_run("netstore_auth", tests, sizeof(tests) / sizeof(tests[0]));
}
