/* What the broker is to the refresh pipeline (lb_refresh_owner), for the unit tests that drive
 * the pipeline with fake stores, a real lb_loop and real target tmpfs mounts
 * (test_refresh.c, test_refresh_split.c): one copy of the owner, the setup and the teardown.
 * A test's own fixture starts with a struct rfx and supplies its stores. */
#ifndef LB_TEST_REFRESH_FIXTURE_H
#define LB_TEST_REFRESH_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "refresh.h"

struct rfx {
	char dir[64];
	int tdirfd;
	int statefd; /* the audit log's directory; -1 unless rfx_setup was asked for it */
	lb_loop *loop;
	lb_config *cfg;
	lb_target **targets; /* every target of the config, in its order; uid and gid 1000 */
	size_t ntargets;
	lb_secret_hashes *hashes;
	lb_refresh *r;
	unsigned settled; /* times the pipeline called the owner's settled hook */
	/* The test's: its stores by name (the owner's store lookup), and what closes them
	 * (teardown, after the pipeline stopped and before it is freed; may be NULL). */
	lb_store *(*store)(struct rfx *x, const char *name);
	void (*close_stores)(struct rfx *x);
};

/* Everything of x but store and close_stores, set by the caller first: a temp directory
 * (prefix like "/tmp/lb-refresh"), the config from text with its targets on tmpfs of
 * tmpfs_size bytes, the pipeline; with audit, an audit log in the directory. 0, or -1 with
 * everything made freed (cmocka runs no teardown after a failed setup). */
int rfx_setup(struct rfx *x, const char *prefix, const char *config_text, uint64_t tmpfs_size,
	      bool audit);
void rfx_teardown(struct rfx *x);
/* Tests need root for the mounts: main() returns this without (77 = skipped, or 1 under
 * LOCKBOX_MUST_WORK=1), or -1 with root. */
int rfx_need_root(const char *test);

#endif
