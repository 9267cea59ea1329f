/* The root/worker wire (broker/worker/wire.c, chan.c): frames round-trip, every way a frame
 * can break the table is refused, a source crosses whole, and a channel pair on a real loop
 * carries frames split across reads, a value at the cap, and a bounded call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "secmem.h"
#include "wire.h"

#define T(s)                                                                                       \
	{                                                                                          \
		.p = (s), .len = sizeof(s) - 1                                                     \
	}

static void test_roundtrip(void **state)
{
	static const unsigned char value[] = {'s', 0, 'e', 0xff, 'c'};
	lb_wire_msg m = {.type = LB_R_RESULT,
			 .flags = LB_WIRE_STRUCTURED | LB_WIRE_KEEP,
			 .id = 0xdeadbeef,
			 .num = -1234567890123LL,
			 .ntext = 2,
			 .text = {T("v3"), T("")},
			 .blob = value,
			 .blob_len = sizeof(value)},
		    d;
	lb_secbuf *f = NULL;
	lb_err e = {0};

	(void)state;
	assert_int_equal(lb_wire_encode(&m, &f, &e), 0);
	assert_int_equal(lb_wire_frame_len(f->data, f->len, &e), (long)f->len);
	assert_int_equal(lb_wire_frame_len(f->data, 3, &e), 0);
	assert_int_equal(lb_wire_decode(f->data, f->len, &d, &e), 0);
	assert_int_equal(d.type, LB_R_RESULT);
	assert_int_equal(d.flags, LB_WIRE_STRUCTURED | LB_WIRE_KEEP);
	assert_int_equal(d.id, 0xdeadbeef);
	assert_true(d.num == -1234567890123LL);
	assert_int_equal(d.ntext, 2);
	assert_int_equal(d.text[0].len, 2);
	assert_memory_equal(d.text[0].p, "v3", 2);
	assert_int_equal(d.text[1].len, 0);
	assert_int_equal(d.blob_len, sizeof(value));
	assert_memory_equal(d.blob, value, sizeof(value));
	/* Every shorter cut of the frame is refused. */
	for (size_t n = 0; n < f->len; n++)
		assert_int_equal(lb_wire_decode(f->data, n, &d, &e), -1);
	lb_secbuf_free(f);
}

static lb_secbuf *encode(const lb_wire_msg *m)
{
	lb_secbuf *f = NULL;
	lb_err e = {0};

	assert_int_equal(lb_wire_encode(m, &f, &e), 0);
	return f;
}

static void test_refused(void **state)
{
	lb_wire_msg m = {.type = LB_R_REFRESH, .ntext = 1, .text = {T("web")}}, d;
	lb_secbuf *f = encode(&m);
	lb_err e = {0};

	(void)state;
	assert_int_equal(lb_wire_decode(f->data, f->len, &d, &e), 0);
	f->data[4] = 200; /* unknown type */
	assert_int_equal(lb_wire_decode(f->data, f->len, &d, &e), -1);
	f->data[4] = LB_W_PING; /* a type without text, given one */
	assert_int_equal(lb_wire_decode(f->data, f->len, &d, &e), -1);
	f->data[4] = LB_R_REFRESH;
	f->data[5] = 0x80; /* a flag the type does not have */
	assert_int_equal(lb_wire_decode(f->data, f->len, &d, &e), -1);
	f->data[5] = 0;
	f->data[f->len - 2] = '\n'; /* a control byte in a target name */
	assert_int_equal(lb_wire_decode(f->data, f->len, &d, &e), -1);
	f->data[f->len - 2] = '\0';
	assert_int_equal(lb_wire_decode(f->data, f->len, &d, &e), -1);
	lb_secbuf_free(f);

	/* A text field longer than the table allows, both ways. */
	char big[300];
	memset(big, 'a', sizeof(big));
	m.text[0] = (lb_wire_text){big, sizeof(big)};
	assert_int_equal(lb_wire_encode(&m, &f, &e), -1);
	/* A blob where the type has none. */
	m.text[0] = (lb_wire_text)T("web");
	m.blob = (const unsigned char *)"x";
	m.blob_len = 1;
	assert_int_equal(lb_wire_encode(&m, &f, &e), -1);
	/* Over the frame cap, and a length prefix over it. */
	static unsigned char huge[LB_WIRE_MAX_FRAME];
	lb_wire_msg r = {.type = LB_W_FILE, .ntext = 1, .text = {T("")}, .blob = huge};
	r.blob_len = sizeof(huge);
	assert_int_equal(lb_wire_encode(&r, &f, &e), -1);
	unsigned char hdr[4] = {0xff, 0xff, 0xff, 0xff};
	assert_int_equal(lb_wire_frame_len(hdr, 4, &e), -1);
	memset(hdr, 0, sizeof(hdr));
	assert_int_equal(lb_wire_frame_len(hdr, 4, &e), -1);
}

static void test_source(void **state)
{
	lb_source s = {.store = "vault", .path = "secret/web", .field = "password", .version = "3"},
		  d;
	char *j = lb_wire_source_encode(&s);
	lb_err e = {0};

	(void)state;
	assert_non_null(j);
	assert_int_equal(lb_wire_source_decode(j, strlen(j), &d, &e), 0);
	assert_memory_equal(&s, &d, sizeof(s));
	lb_json_free(j);
	assert_int_equal(lb_wire_source_decode("{\"store\":\"v\"}", 13, &d, &e), -1);
	assert_int_equal(
	    lb_wire_source_decode("{\"store\":\"v\",\"path\":\"p\",\"x\":\"1\"}", 32, &d, &e), -1);
	const char *nul = "{\"store\":\"v\",\"path\":\"p\\u0000q\"}";
	assert_int_equal(lb_wire_source_decode(nul, strlen(nul), &d, &e), -1);
	char lng[700];
	int n = snprintf(lng, sizeof(lng), "{\"store\":\"v\",\"path\":\"%0600d\"}", 0);
	assert_int_equal(lb_wire_source_decode(lng, (size_t)n, &d, &e), -1);
}

/* Two channels on one loop. */
struct pair {
	lb_loop *loop;
	lb_chan *a, *b;
	int frames;
	size_t last_blob;
	char down[256];
};

static void on_frame(void *ctx, const lb_wire_msg *m)
{
	struct pair *p = ctx;

	p->frames++;
	p->last_blob = m->blob_len;
	if (m->type == LB_W_PING) {
		lb_wire_msg r = {.type = LB_R_PONG, .id = m->id};
		assert_int_equal(lb_chan_send(p->b, &r, NULL), 0);
	}
	if (p->frames == 3)
		lb_loop_stop(p->loop);
}

static void on_down(void *ctx, const char *why)
{
	struct pair *p = ctx;

	snprintf(p->down, sizeof(p->down), "%s", why);
	lb_loop_stop(p->loop);
}

static void test_chan(void **state)
{
	static unsigned char value[1024 * 1024];
	struct pair p = {0};
	int sv[2];
	lb_wire_msg big = {.type = LB_R_RESULT, .id = 1, .ntext = 2, .text = {T("1"), T("")}},
		    ping = {.type = LB_W_PING, .id = 7};
	lb_secbuf *reply = NULL;
	lb_err e = {0};

	(void)state;
	memset(value, 'v', sizeof(value));
	big.blob = value;
	big.blob_len = sizeof(value);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p.loop = lb_loop_new();
	p.a = lb_chan_new(p.loop, sv[0], on_frame, on_down, &p);
	p.b = lb_chan_new(p.loop, sv[1], on_frame, on_down, &p);
	assert_non_null(p.a);
	assert_non_null(p.b);
	/* A 1 MiB value (more than the socket takes at once) and two small frames. */
	assert_int_equal(lb_chan_send(p.a, &big, &e), 0);
	assert_true(lb_chan_queued(p.a) > 0);
	assert_int_equal(lb_chan_send(p.a, &(lb_wire_msg){.type = LB_R_PONG, .id = 2}, &e), 0);
	assert_int_equal(lb_chan_send(p.a, &(lb_wire_msg){.type = LB_R_PONG, .id = 3}, &e), 0);
	lb_loop_run(p.loop);
	assert_string_equal(p.down, "");
	assert_int_equal(p.frames, 3);
	assert_int_equal(lb_chan_queued(p.a), 0);

	/* A bounded call: b answers the ping from the loop... which does not run during the
	 * call, so it times out; the frame waits. */
	p.frames = 0;
	assert_int_equal(lb_chan_call(p.a, &ping, LB_R_PONG, 50, &reply, &e), -1);
	assert_int_equal(e.sys, ETIMEDOUT);

	/* The peer goes away: down, with a reason. */
	lb_chan_free(p.b);
	p.b = NULL;
	lb_loop_run(p.loop);
	assert_string_equal(p.down, "peer closed the channel");
	lb_chan_free(p.a);
	lb_loop_free(p.loop);
}

/* A peer that announces a frame over the cap is cut off. */
static void test_chan_hostile(void **state)
{
	struct pair p = {0};
	int sv[2];
	unsigned char hdr[4] = {0x7f, 0xff, 0xff, 0xff};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p.loop = lb_loop_new();
	p.a = lb_chan_new(p.loop, sv[0], on_frame, on_down, &p);
	assert_int_equal(write(sv[1], hdr, sizeof(hdr)), 4);
	lb_loop_run(p.loop);
	assert_non_null(strstr(p.down, "frame announces"));
	assert_int_equal(p.frames, 0);
	close(sv[1]);
	lb_chan_free(p.a);
	lb_loop_free(p.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),	 cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_source),	 cmocka_unit_test(test_chan),
	    cmocka_unit_test(test_chan_hostile),
	};

	if (lb_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
