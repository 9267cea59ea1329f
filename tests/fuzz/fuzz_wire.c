/* The root/worker wire (broker/worker/wire.c): what root reads from its unprivileged network
 * worker is hostile input once the worker is taken over.
 * Input: a byte stream of frames as the channel reads it (4-byte length, body, ...). Each
 * whole frame is decoded; a decoded frame must encode back to the same bytes, its text must
 * lie inside the frame and keep the table's rules, and a source in it is decoded too. */
#include "fuzz.h"

#include "secmem.h"
#include "wire.h"

FUZZ_INIT_SECMEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		lb_err e = {0};
		lb_wire_msg m;
		lb_secbuf *again = NULL;
		long n = lb_wire_frame_len(data + off, size - off, &e);
		unsigned char *frame;

		if (n <= 0 || (size_t)n > size - off)
			break;
		/* An exact-size copy, so that ASan sees any read past the frame. */
		frame = malloc((size_t)n);
		if (!frame)
			abort();
		memcpy(frame, data + off, (size_t)n);
		if (lb_wire_decode(frame, (size_t)n, &m, &e) == 0) {
			FUZZ_ASSERT(m.ntext <= LB_WIRE_MAX_TEXT);
			for (size_t i = 0; i < m.ntext; i++) {
				FUZZ_ASSERT(m.text[i].len == 0 ||
					    ((const unsigned char *)m.text[i].p >= frame &&
					     (const unsigned char *)m.text[i].p + m.text[i].len <=
						 frame + n));
				FUZZ_ASSERT(memchr(m.text[i].p, 0, m.text[i].len) == NULL);
			}
			FUZZ_ASSERT(lb_wire_encode(&m, &again, &e) == 0);
			FUZZ_ASSERT(again->len == (size_t)n &&
				    memcmp(again->data, frame, again->len) == 0);
			lb_secbuf_free(again);
			if (m.type == LB_W_FETCH) {
				lb_source src;
				if (lb_wire_source_decode(m.text[0].p, m.text[0].len, &src, &e) ==
				    0) {
					fuzz_check_text(src.store, sizeof(src.store));
					fuzz_check_text(src.path, sizeof(src.path));
					FUZZ_ASSERT(src.store[0] && src.path[0]);
				}
			}
		} else {
			fuzz_check_printable(e.msg, sizeof(e.msg));
		}
		free(frame);
		off += (size_t)n;
	}
	return 0;
}
