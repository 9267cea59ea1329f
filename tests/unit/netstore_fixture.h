/* The fixture of unit_netstore and unit_netstore_auth: the network-store engine
 * (broker/stores/netstore.c) driven by a fake provider against a small HTTP server on the same
 * loop (no root, no Python), with a fresh loop, server and store for each test. */
#ifndef LOCKBOX_TESTS_UNIT_NETSTORE_FIXTURE_H
#define LOCKBOX_TESTS_UNIT_NETSTORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "fetch_fixture.h"
#include "netstore.h"

/* How the fake provider gets its credential: at once, by a GET /token to the server, never,
 * or refused at once. */
enum auth_mode { AUTH_SYNC, AUTH_HTTP, AUTH_NEVER, AUTH_FAIL };

struct fake {
	enum auth_mode mode;
	int auths; /* authenticate() calls */
	unsigned gen;
};

extern lb_loop *loop;
extern lb_store store;	  /* "fk", on fake_provider */
extern struct fake *fake; /* the provider's data of store */
extern const lb_nst_provider fake_provider;
extern bool in_fetch;	       /* set while fetch() runs: an answer then fails the test */
extern unsigned last_cred_gen; /* the cred_gen of the last read's reply */

/* The server answers GET /PATH with status S1, then S2 for ever (0 for S2: S1 for ever;
 * 0 for either: 200). Unscripted paths get 200 and {"value":"v-PATH"}. */
void script(const char *path, int s1, int s2);
/* How many requests for PATH the server had. */
int count_of(const char *path);
/* The next request for PATH is held, unanswered, until release(PATH) answers it. */
void hold(const char *path);
void release(const char *path);

/* Fetches PATH (PATH@VERSION when VERSION is not "") for target t1 into A. */
void fetch(const char *path, const char *version, struct lbt_answer *a);
/* The same, asked for at asked_ns (lb_now_ns; 0 = now), as root stamps a worker's fetch. */
void fetch_asked(const char *path, const char *version, uint64_t asked_ns, struct lbt_answer *a);
/* fetch()'s callback: records into CTX; fails on an answer from inside fetch() or a second. */
void on_answer(void *ctx, lb_fetch_result *res);
/* Runs the loop until every answer of A[0..N) is in, or for MS milliseconds when N is 0. */
void run(struct lbt_answer *a, size_t n, uint64_t ms);

/* The store's health object, field KEY as an integer, or whether "health" is WANT. */
json_int_t health_int(const char *key);
bool health_is(const char *want);

struct CMUnitTest;
/* A test binary's main(): libsodium, logs down to errors, then TESTS[0..N), each in a fresh
 * fixture (the setup and teardown of every entry are set here). */
int netstore_run(const char *name, struct CMUnitTest *tests, size_t n);

#endif
