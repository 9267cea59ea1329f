/* A framed channel over one end of the root/worker socketpair, on the loop: frames (wire.h)
 * are read into a secure buffer, checked and handed out one by one; sends are queued and
 * written as the socket takes them, so a side never blocks on its peer (the worker's
 * lb_chan_call, a bounded wait for a reply from root, is the one exception). */
#ifndef LB_CHAN_H
#define LB_CHAN_H

#include <stdint.h>

#include "err.h"
#include "loop.h"
#include "wire.h"

typedef struct lb_chan lb_chan;

/* A checked frame; valid during the call. The callback may free the channel. */
typedef void (*lb_chan_frame_cb)(void *ctx, const lb_wire_msg *m);
/* The channel is down (peer closed, I/O error, a frame that breaks the table, a peer that
 * does not read); why names it. No frame callback follows. */
typedef void (*lb_chan_down_cb)(void *ctx, const char *why);

/* Takes fd (made non-blocking). NULL: out of memory (fd is closed). */
lb_chan *lb_chan_new(lb_loop *loop, int fd, lb_chan_frame_cb on_frame, lb_chan_down_cb on_down,
		     void *ctx);
/* Safe from inside the channel's callbacks. */
void lb_chan_free(lb_chan *c);
/* Queue m. -1 with e: m breaks the table, or the channel is down. */
int lb_chan_send(lb_chan *c, const lb_wire_msg *m, lb_err *e);
/* From now on lb_chan_send only queues: everything sent in one loop turn is written together
 * when the turn is over. Root uses it, so that the fetches of one refresh pass reach the
 * worker as one read and its engine coalesces them (one store request for 100 targets). */
void lb_chan_batch(lb_chan *c);
/* Bytes queued, not yet written. */
size_t lb_chan_queued(const lb_chan *c);

/* Send m and wait (at most timeout_ms, poll on this socket only) for the frame of type
 * reply_type with id m->id; frames that arrive before it stay queued for the loop. The reply
 * is copied into *reply (a secure buffer holding the whole frame: decode it again with
 * lb_wire_decode). */
int lb_chan_call(lb_chan *c, const lb_wire_msg *m, uint8_t reply_type, int timeout_ms,
		 lb_secbuf **reply, lb_err *e);

#endif
