/* The frames lockboxd (root) and its network worker exchange over their socketpair: one fixed
 * table of messages each way, every one the same shape, so that one small pure codec checks
 * them all. This is the worker's whole interface to root (issue 15).
 *
 * A frame is a 4-byte big-endian length, then: type (1 byte), flags (1), id (4), ref (4),
 * num (8, signed), the count of text fields (1), each text field as a 4-byte length and its
 * bytes (no NUL inside), then the blob (the rest of the frame: secret bytes, a value or a
 * file's contents). Integers are big-endian. Which fields a type has, and how long each may
 * be, is in the table in wire.c; a frame that breaks it is refused as a whole. */
#ifndef LB_WIRE_H
#define LB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "secmem.h"
#include "uri.h"

/* The longest frame either side accepts (a value is at most 1 MiB, like an HTTP reply). */
#define LB_WIRE_MAX_FRAME (1024u * 1024u + 64u * 1024u)
#define LB_WIRE_HDR	  4u
#define LB_WIRE_MAX_TEXT  4

enum lb_wire_type {
	/* root -> worker */
	LB_W_OPEN = 1, /* ref = store id; text: name, type, options (JSON object) */
	LB_W_FETCH,    /* id = fetch id, ref = store id; num = when asked (lb_now_ns);
			* text: source (JSON), target */
	LB_W_RELEASE,  /* ref = store id; text: target */
	LB_W_HEALTH,   /* ref = store id */
	LB_W_CLOSE,    /* ref = store id */
	LB_W_FILE,     /* id = read id; num = errno (0: blob is the file); text: error */
	LB_W_PING,     /* id = sequence */
	/* worker -> root */
	LB_R_OPENED = 64, /* ref = store id; num = 0 or -1; text: error */
	LB_R_RESULT,	  /* id = fetch id; num = not_after; flags; text: version, error;
			     blob: value */
	LB_R_REFRESH,	  /* ref = store id; text: target */
	LB_R_HEALTH,	  /* ref = store id; text: health (JSON object) */
	LB_R_AUDIT,	  /* text: event, fields (JSON object) */
	LB_R_LOG,	  /* num = level; text: message */
	LB_R_READ,	  /* id = read id; num = cap; text: path */
	LB_R_PONG,	  /* id = sequence */
	LB_R_METRICS,	  /* text: its metrics registry (lb_metrics_snapshot JSON) */
};

/* LB_R_RESULT flags */
#define LB_WIRE_FAILED	   0x01u
#define LB_WIRE_STRUCTURED 0x02u
#define LB_WIRE_KEEP	   0x04u

typedef struct lb_wire_text {
	const char *p; /* not NUL-terminated in a decoded frame */
	size_t len;
} lb_wire_text;

typedef struct lb_wire_msg {
	uint8_t type, flags;
	uint32_t id, ref;
	int64_t num;
	size_t ntext;
	lb_wire_text text[LB_WIRE_MAX_TEXT];
	const unsigned char *blob; /* NULL = none */
	size_t blob_len;
} lb_wire_msg;

/* The whole frame (length prefix included) in a new secure buffer. -1 with e when m breaks
 * the table (a programming error, or an over-long value/file: the caller says which). */
int lb_wire_encode(const lb_wire_msg *m, lb_secbuf **out, lb_err *e);

/* The length a frame announces: 0 = need more bytes (len < 4), -1 with e = over the cap or
 * empty, else the whole frame's length (prefix included). */
long lb_wire_frame_len(const unsigned char *buf, size_t len, lb_err *e);

/* Decode one whole frame (prefix included, exactly its length). m's text and blob point into
 * buf. Checks the type, the fields and lengths the table gives it, that text holds no NUL
 * (and no control byte where it reaches a log), and that nothing is left over. */
int lb_wire_decode(const unsigned char *buf, size_t len, lb_wire_msg *m, lb_err *e);

/* Copy text field i into dst (cap bytes, NUL-terminated); -1 when it does not fit. */
int lb_wire_text_copy(const lb_wire_msg *m, size_t i, char *dst, size_t cap);
/* A malloc'd NUL-terminated copy of text field i (NULL: out of memory). */
char *lb_wire_text_dup(const lb_wire_msg *m, size_t i);

/* A source as the JSON text that crosses (every field of lb_source, by one table), and back;
 * decoding checks each field's length and refuses unknown keys. */
/* The encoded source: free it with lb_json_free. */
char *lb_wire_source_encode(const lb_source *src);
int lb_wire_source_decode(const char *json, size_t len, lb_source *src, lb_err *e);

#endif
