/* Root's handlers of the frames a network worker sends (broker/worker/proxy.c), fed by a
 * hostile worker: the test holds the worker's end of a real socketpair and writes frames with
 * the real encoder (or raw bytes), root reads them through its real channel and decoder. Root
 * must answer only the fetches it asked for, each once, to the target that asked; ignore
 * replies for unknown ids, stores it never opened or closed; read only the files a store
 * configuration names; drop log levels, audit events and health it cannot check; and take a
 * frame that breaks the table as the channel going down, never a crash (ASan build too).
 * Root's side is made as lb_worker_start makes it (lb_worker_new, lb_worker_attach), on the
 * test's socketpair instead of a process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "fetch_fixture.h"
#include "log.h"
#include "proxy_int.h"
#include "secmem.h"
#include "wire.h"

struct fake {
	lb_loop *loop;
	lb_worker *w;
	lb_chan *worker; /* the worker's end, played by the test */
	int fd;		 /* the worker's end, raw (for frames the encoder refuses to write) */
	lb_store_cfg cfg_a, cfg_b;
	lb_store *a, *b;
	uint32_t sid_a, sid_b, fid_a, fid_b;
	int opens, fetches;
	struct lbt_answer seen_a, seen_b; /* of the fetches for targets web and api */
	/* the LB_W_FILE answer to a READ */
	int files;
	int64_t file_errno;
	char file_blob[64];
	/* root's channel went down */
	char down[256];
	/* what reached root's log and audit */
	int forged_logs, refusals_other, audits, refreshes;
	char last_event[64], refresh_target[256];
	json_t *last_audit;
	char dir[64], allowed[128], other[128];
};

static struct fake *cur; /* for the log sink */

static void sink(enum lb_level lvl, const char *msg, const char *event, json_t *ev)
{
	(void)lvl;
	if (event) {
		cur->audits++;
		snprintf(cur->last_event, sizeof(cur->last_event), "%s", event);
		json_decref(cur->last_audit);
		cur->last_audit = json_deep_copy(ev);
	} else {
		if (strstr(msg, "network worker (pid 0) is down: ")) {
			snprintf(cur->down, sizeof(cur->down), "%s", msg);
			lb_loop_stop(cur->loop);
		}
		cur->forged_logs += strstr(msg, "forged") != NULL;
		cur->refusals_other +=
		    strstr(msg, "other.pem") && strstr(msg, "which no store names");
	}
}

static void on_refresh(void *owner, const char *target)
{
	struct fake *f = owner;

	f->refreshes++;
	snprintf(f->refresh_target, sizeof(f->refresh_target), "%s", target);
}

/* The worker's side: it records what root asks; a FILE answer with id 0 is the sync point. */
static void worker_frame(void *ctx, const lb_wire_msg *m)
{
	struct fake *f = ctx;

	switch (m->type) {
	case LB_W_OPEN:
		if (f->opens++ == 0)
			f->sid_a = m->ref;
		else
			f->sid_b = m->ref;
		break;
	case LB_W_FETCH:
		if (f->fetches++ == 0)
			f->fid_a = m->id;
		else
			f->fid_b = m->id;
		break;
	case LB_W_FILE:
		if (m->id == 0) {
			lb_loop_stop(f->loop);
			break;
		}
		f->files++;
		f->file_errno = m->num;
		snprintf(f->file_blob, sizeof(f->file_blob), "%.*s", (int)m->blob_len,
			 m->blob ? (const char *)m->blob : "");
		break;
	default:
		break;
	}
}

static void fake_worker_down(void *ctx, const char *why)
{
	(void)ctx;
	(void)why;
}

/* Run the loop until root has handled everything the worker sent so far: the worker asks
 * for a file no store names (id 0) and root's refusal comes back after the earlier frames,
 * which root handles in order. */
static void settle(struct fake *f)
{
	lb_wire_msg sync = {.type = LB_R_READ, .id = 0, .ntext = 1, .text = {{"/nonexistent", 12}}};

	assert_int_equal(lb_chan_send(f->worker, &sync, NULL), 0);
	lbt_run_until(f->loop, NULL, NULL);
}

static void send_w(struct fake *f, const lb_wire_msg *m)
{
	assert_int_equal(lb_chan_send(f->worker, m, NULL), 0);
}

static lb_store *open_store(struct fake *f, const lb_store_cfg *cfg)
{
	lb_store_env env = {.loop = f->loop, .request_refresh = on_refresh, .owner = f};
	lb_err e = {0};
	lb_store *s = lb_worker_store_open(f->w, cfg, &env, &e);

	assert_non_null(s);
	return s;
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	lb_source src = {.store = "a", .path = "kv/web", .field = "password"};
	lb_err e = {0};
	int sv[2];
	FILE *fp;

	assert_non_null(f);
	cur = f;
	lb_log_set_sink(sink);
	snprintf(f->dir, sizeof(f->dir), "/tmp/lb_proxy_frames.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->allowed, sizeof(f->allowed), "%s/ca.pem", f->dir);
	snprintf(f->other, sizeof(f->other), "%s/other.pem", f->dir);
	assert_non_null(fp = fopen(f->allowed, "w"));
	assert_true(fputs("allowed-bytes", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_non_null(fp = fopen(f->other, "w"));
	assert_true(fputs("other-bytes", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	/* Store a names one file; store b none. */
	f->cfg_a = (lb_store_cfg){.name = "a", .type = "vault"};
	f->cfg_b = (lb_store_cfg){.name = "b", .type = "vault"};
	f->cfg_a.opts = json_pack("{s:s,s:s,s:s}", "type", "vault", "address", "https://vault.test",
				  "ca_file", f->allowed);
	f->cfg_b.opts = json_pack("{s:s,s:s}", "type", "vault", "address", "https://vault.test");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->loop = lb_loop_new();
	assert_non_null(f->loop);
	/* Root's side as lb_worker_start makes it, on a channel to the test instead of a process.
	 */
	f->w = lb_worker_new(f->loop, &e);
	assert_non_null(f->w);
	assert_int_equal(lb_worker_attach(f->w, sv[0], &e), 0);
	f->fd = dup(sv[1]);
	f->worker = lb_chan_new(f->loop, sv[1], worker_frame, fake_worker_down, f);
	assert_non_null(f->worker);
	f->a = open_store(f, &f->cfg_a);
	f->b = open_store(f, &f->cfg_b);
	f->a->ops->fetch(f->a, &src, "web", lbt_answer_record, &f->seen_a);
	snprintf(src.store, sizeof(src.store), "b");
	f->b->ops->fetch(f->b, &src, "api", lbt_answer_record, &f->seen_b);
	settle(f);
	assert_int_equal(f->opens, 2);
	assert_int_equal(f->fetches, 2);
	assert_int_not_equal(f->sid_a, f->sid_b);
	assert_int_not_equal(f->fid_a, f->fid_b);
	assert_int_equal(f->seen_a.calls + f->seen_b.calls, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	lb_store_close(f->a);
	lb_store_close(f->b);
	json_decref(f->cfg_a.opts);
	json_decref(f->cfg_b.opts);
	lb_worker_free(f->w);
	lb_chan_free(f->worker);
	lb_loop_free(f->loop);
	close(f->fd);
	unlink(f->allowed);
	unlink(f->other);
	rmdir(f->dir);
	json_decref(f->last_audit);
	lb_log_set_sink(NULL);
	free(f);
	return 0;
}

static void send_result(struct fake *f, uint32_t fid, const char *value)
{
	lb_wire_msg m = {.type = LB_R_RESULT,
			 .id = fid,
			 .ntext = 2,
			 .text = {{"v1", 2}, {"", 0}},
			 .blob = (const unsigned char *)value,
			 .blob_len = value ? strlen(value) : 0};

	send_w(f, &m);
}

/* Replies for fetches root never asked for: other ids, one in the same bucket as a pending
 * one (ids are hashed into 256 buckets), the extremes. Nobody is answered. */
static void test_unknown_fetch_ids(void **state)
{
	struct fake *f = *state;
	const uint32_t ids[] = {0, UINT32_MAX, f->fid_a + 256, f->fid_a + LB_PROXY_BUCKETS * 7,
				f->fid_b + 1000};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		send_result(f, ids[i], "forged");
	settle(f);
	assert_int_equal(f->seen_a.calls, 0);
	assert_int_equal(f->seen_b.calls, 0);
	/* The real ones still work, each for its own target. */
	send_result(f, f->fid_b, "api-value");
	settle(f);
	assert_int_equal(f->seen_a.calls, 0);
	assert_int_equal(f->seen_b.calls, 1);
	assert_int_equal(f->seen_b.status, 0);
	assert_string_equal(f->seen_b.value, "api-value");
}

/* A second reply to an answered fetch is dropped: the target keeps the first. */
static void test_duplicate_reply(void **state)
{
	struct fake *f = *state;

	send_result(f, f->fid_a, "first");
	send_result(f, f->fid_a, "second");
	send_result(f, f->fid_a, NULL);
	settle(f);
	assert_int_equal(f->seen_a.calls, 1);
	assert_string_equal(f->seen_a.value, "first");
	assert_int_equal(f->seen_b.calls, 0);
}

/* A reply after the fetch was cancelled (its store closed) reaches nobody; the cancel itself
 * answered the fetch once, as a failure. */
static void test_reply_after_cancel(void **state)
{
	struct fake *f = *state;
	uint32_t sid_b = f->sid_b;
	lb_wire_msg refresh = {
	    .type = LB_R_REFRESH, .ref = sid_b, .ntext = 1, .text = {{"api", 3}}};
	lb_wire_msg opened = {.type = LB_R_OPENED,
			      .ref = sid_b,
			      .num = -1,
			      .ntext = 1,
			      .text = {{"late failure", 12}}};
	lb_wire_msg health = {
	    .type = LB_R_HEALTH, .ref = sid_b, .ntext = 1, .text = {{"{\"health\":\"ok\"}", 15}}};

	lb_store_close(f->b);
	f->b = NULL;
	assert_int_equal(f->seen_b.calls, 1);
	assert_int_equal(f->seen_b.status, -1);
	assert_non_null(strstr(f->seen_b.error, "store closed"));
	send_result(f, f->fid_b, "too-late");
	send_w(f, &refresh);
	send_w(f, &opened);
	send_w(f, &health);
	settle(f);
	assert_int_equal(f->seen_b.calls, 1);
	assert_int_equal(f->seen_a.calls, 0);
	assert_int_equal(f->refreshes, 0);
	/* Store a is untouched by what was said about b. */
	send_result(f, f->fid_a, "web-value");
	settle(f);
	assert_int_equal(f->seen_a.calls, 1);
	assert_string_equal(f->seen_a.value, "web-value");
}

/* A success without a value (and without "keep") is a failure, not an empty secret. */
static void test_result_without_value(void **state)
{
	struct fake *f = *state;

	send_result(f, f->fid_a, NULL);
	settle(f);
	assert_int_equal(f->seen_a.calls, 1);
	assert_int_equal(f->seen_a.status, -1);
	assert_non_null(strstr(f->seen_a.error, "the worker sent no value"));
}

/* Frames about stores root never opened change nothing; about a store it did, only that one. */
static void test_unknown_store_refs(void **state)
{
	struct fake *f = *state;
	const uint32_t refs[] = {0, UINT32_MAX, f->sid_b + 100};
	json_t *h;

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		lb_wire_msg opened = {.type = LB_R_OPENED,
				      .ref = refs[i],
				      .num = -1,
				      .ntext = 1,
				      .text = {{"forged", 6}}};
		lb_wire_msg refresh = {
		    .type = LB_R_REFRESH, .ref = refs[i], .ntext = 1, .text = {{"web", 3}}};
		lb_wire_msg health = {.type = LB_R_HEALTH,
				      .ref = refs[i],
				      .ntext = 1,
				      .text = {{"{\"health\":\"ok\"}", 15}}};
		send_w(f, &opened);
		send_w(f, &refresh);
		send_w(f, &health);
	}
	settle(f);
	assert_int_equal(f->refreshes, 0);
	assert_int_equal(f->seen_a.calls + f->seen_b.calls, 0);
	h = f->a->ops->health(f->a);
	assert_string_equal(json_string_value(json_object_get(h, "health")), "starting");
	json_decref(h);
	/* Health that is not an object with a string "health" is dropped. */
	{
		lb_wire_msg bad[] = {
		    {.type = LB_R_HEALTH, .ref = f->sid_a, .ntext = 1, .text = {{"[1]", 3}}},
		    {.type = LB_R_HEALTH,
		     .ref = f->sid_a,
		     .ntext = 1,
		     .text = {{"{\"health\":1}", 12}}},
		    {.type = LB_R_HEALTH,
		     .ref = f->sid_a,
		     .ntext = 1,
		     .text = {{"{\"health\":", 10}}},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			send_w(f, &bad[i]);
	}
	settle(f);
	h = f->a->ops->health(f->a);
	assert_string_equal(json_string_value(json_object_get(h, "health")), "starting");
	json_decref(h);
	/* The refresh of a store root opened reaches that store's owner. */
	{
		lb_wire_msg refresh = {
		    .type = LB_R_REFRESH, .ref = f->sid_a, .ntext = 1, .text = {{"web", 3}}};
		send_w(f, &refresh);
	}
	settle(f);
	assert_int_equal(f->refreshes, 1);
	assert_string_equal(f->refresh_target, "web");
	/* A store's open failure fails that store's fetches only. */
	{
		lb_wire_msg opened = {.type = LB_R_OPENED,
				      .ref = f->sid_b,
				      .num = -1,
				      .ntext = 1,
				      .text = {{"bad token", 9}}};
		send_w(f, &opened);
	}
	settle(f);
	assert_int_equal(f->seen_a.calls, 0);
	assert_int_equal(f->seen_b.calls, 1);
	assert_int_equal(f->seen_b.status, -1);
	assert_non_null(strstr(f->seen_b.error, "bad token"));
}

static void send_read(struct fake *f, uint32_t id, const char *path, int64_t cap)
{
	lb_wire_msg m = {
	    .type = LB_R_READ, .id = id, .num = cap, .ntext = 1, .text = {{path, strlen(path)}}};

	send_w(f, &m);
}

/* The worker reads only files a store's configuration names, whatever cap it asks. */
static void test_reads(void **state)
{
	struct fake *f = *state;
	char dotted[256];

	send_read(f, 7, f->other, 0);
	settle(f);
	assert_int_equal(f->files, 1);
	assert_int_equal(f->file_errno, EACCES);
	assert_string_equal(f->file_blob, "");
	assert_int_equal(f->refusals_other, 1);
	/* The same file by another spelling is not the named file. */
	snprintf(dotted, sizeof(dotted), "%s/./ca.pem", f->dir);
	send_read(f, 8, dotted, 0);
	settle(f);
	assert_int_equal(f->files, 2);
	assert_int_equal(f->file_errno, EACCES);
	/* The named one, with caps out of range either way. */
	send_read(f, 9, f->allowed, INT64_MAX);
	settle(f);
	assert_int_equal(f->files, 3);
	assert_int_equal(f->file_errno, 0);
	assert_string_equal(f->file_blob, "allowed-bytes");
	send_read(f, 10, f->allowed, -1);
	settle(f);
	assert_int_equal(f->files, 4);
	assert_string_equal(f->file_blob, "allowed-bytes");
	/* A cap shorter than the file: refused, not cut. */
	send_read(f, 11, f->allowed, 3);
	settle(f);
	assert_int_equal(f->files, 5);
	assert_int_not_equal(f->file_errno, 0);
	assert_string_equal(f->file_blob, "");
}

/* Log levels out of range and audit events with names root would not write are dropped; the
 * worker cannot pass its fields off as root's. Metrics that are not a snapshot change
 * nothing. */
static void test_log_audit_metrics(void **state)
{
	struct fake *f = *state;
	const int64_t levels[] = {-1, LB_ERROR + 1, INT64_MAX, INT64_MIN};
	const char *const events[] = {"Bad", "worker-down", "a b", "x\xc3\xa9"};
	const char *fields = "{\"ts\":1,\"audit\":\"other\",\"event\":\"forged\",\"store\":\"a\"}";

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		lb_wire_msg m = {
		    .type = LB_R_LOG, .num = levels[i], .ntext = 1, .text = {{"forged", 6}}};
		send_w(f, &m);
	}
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		lb_wire_msg m = {
		    .type = LB_R_AUDIT,
		    .ntext = 2,
		    .text = {{events[i], strlen(events[i])}, {fields, strlen(fields)}}};
		send_w(f, &m);
	}
	{
		lb_wire_msg m = {
		    .type = LB_R_AUDIT, .ntext = 2, .text = {{"lease_renewed", 13}, {"[1,2]", 5}}};
		send_w(f, &m);
	}
	{
		lb_wire_msg m = {.type = LB_R_METRICS, .ntext = 1, .text = {{"{\"v\":2}", 7}}};
		send_w(f, &m);
	}
	settle(f);
	assert_int_equal(f->audits, 0);
	assert_int_equal(f->forged_logs, 0);
	{
		lb_wire_msg m = {.type = LB_R_AUDIT,
				 .ntext = 2,
				 .text = {{"lease_renewed", 13}, {fields, strlen(fields)}}};
		send_w(f, &m);
	}
	settle(f);
	assert_int_equal(f->audits, 1);
	assert_string_equal(f->last_event, "lease_renewed");
	assert_null(json_object_get(f->last_audit, "ts"));
	assert_null(json_object_get(f->last_audit, "audit"));
	assert_null(json_object_get(f->last_audit, "event"));
	assert_string_equal(json_string_value(json_object_get(f->last_audit, "store")), "a");
}

/* A frame that breaks the table: root's channel goes down with a reason, no handler sees it,
 * the worker is taken for down and the fetches fail; nothing is delivered. */
static void expect_down_after(struct fake *f, const unsigned char *frame, size_t len)
{
	assert_int_equal(write(f->fd, frame, len), (ssize_t)len);
	lbt_run_until(f->loop, NULL, NULL);
	assert_true(f->down[0] != '\0');
	assert_int_equal(f->seen_a.calls, 1);
	assert_int_equal(f->seen_a.status, -1);
	assert_string_equal(f->seen_a.value, "");
	assert_int_equal(f->seen_b.calls, 1);
	assert_int_equal(f->seen_b.status, -1);
}

/* A RESULT for a pending fetch announcing a frame of almost 4 GiB. */
static void test_huge_frame(void **state)
{
	struct fake *f = *state;
	unsigned char huge[] = {0xff, 0xff, 0xff, 0xf0, LB_R_RESULT, 0};

	expect_down_after(f, huge, sizeof(huge));
}

/* A RESULT for a pending fetch whose first text field claims 4 GiB inside a 40-byte frame:
 * length(4) type(1) flags(1) id(4) ref(4) num(8) ntext(1), then the fields' lengths. */
static void test_lying_text_length(void **state)
{
	struct fake *f = *state;
	unsigned char lying[40] = {0, 0, 0, 36, LB_R_RESULT};

	lying[6] = (unsigned char)(f->fid_a >> 24);
	lying[7] = (unsigned char)(f->fid_a >> 16);
	lying[8] = (unsigned char)(f->fid_a >> 8);
	lying[9] = (unsigned char)f->fid_a;
	lying[22] = 2;		     /* two text fields */
	memset(lying + 23, 0xff, 4); /* the first one's length */
	expect_down_after(f, lying, sizeof(lying));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unknown_fetch_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_after_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_result_without_value, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_store_refs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_audit_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_huge_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lying_text_length, setup, teardown),
	};

	if (lb_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
