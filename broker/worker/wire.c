#include "wire.h"

#include <stddef.h>
#include <string.h>
#include <jansson.h>

#include "cleanup.h"

#define FIXED_LEN (1u + 1u + 4u + 4u + 8u + 1u) /* type flags id ref num ntext */

/* One row per message type: its text fields (most and least count, each one's cap, whether
 * it must be printable because it reaches a log line) and whether it may carry a blob. */
typedef struct wire_spec {
	uint8_t type;
	uint8_t min_text, max_text;
	uint32_t cap[LB_WIRE_MAX_TEXT];
	bool printable[LB_WIRE_MAX_TEXT];
	bool blob;
	uint8_t flags; /* the flag bits it may carry */
} wire_spec;

#define K 1024u
static const wire_spec specs[] = {
    {LB_W_OPEN, 3, 3, {63, 31, 64 * K}, {true, true, false}, false, 0},
    {LB_W_FETCH, 2, 2, {4 * K, 255}, {false, true}, false, 0},
    {LB_W_RELEASE, 1, 1, {255}, {true}, false, 0},
    {LB_W_HEALTH, 0, 0, {0}, {false}, false, 0},
    {LB_W_CLOSE, 0, 0, {0}, {false}, false, 0},
    {LB_W_FILE, 1, 1, {511}, {true}, true, 0},
    {LB_W_PING, 0, 0, {0}, {false}, false, 0},
    {LB_R_OPENED, 1, 1, {511}, {true}, false, 0},
    {LB_R_RESULT,
     2,
     2,
     {63, 511},
     {true, true},
     true,
     LB_WIRE_FAILED | LB_WIRE_STRUCTURED | LB_WIRE_KEEP},
    {LB_R_REFRESH, 1, 1, {255}, {true}, false, 0},
    {LB_R_HEALTH, 1, 1, {16 * K}, {false}, false, 0},
    {LB_R_AUDIT, 2, 2, {63, 16 * K}, {true, false}, false, 0},
    {LB_R_LOG, 1, 1, {1023}, {false}, false, 0},
    {LB_R_READ, 1, 1, {4095}, {true}, false, 0},
    {LB_R_PONG, 0, 0, {0}, {false}, false, 0},
    {LB_R_METRICS, 1, 1, {1024 * K}, {false}, false, 0},
};

static const wire_spec *spec_of(uint8_t type)
{
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (specs[i].type == type)
			return &specs[i];
	return NULL;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int check_text(const wire_spec *sp, size_t i, const char *p, size_t len, lb_err *e)
{
	if (len > sp->cap[i])
		return lb_fail(e, 0, "frame type %u: field %zu is %zu bytes (at most %u)", sp->type,
			       i, len, sp->cap[i]);
	for (size_t j = 0; j < len; j++) {
		unsigned char c = (unsigned char)p[j];
		if (c == 0)
			return lb_fail(e, 0, "frame type %u: field %zu holds a NUL byte", sp->type,
				       i);
		if (sp->printable[i] && (c < 0x20 || c == 0x7f))
			return lb_fail(e, 0, "frame type %u: field %zu holds a control byte",
				       sp->type, i);
	}
	return 0;
}

int lb_wire_encode(const lb_wire_msg *m, lb_secbuf **out, lb_err *e)
{
	const wire_spec *sp = spec_of(m->type);
	size_t len = LB_WIRE_HDR + FIXED_LEN, off = 0;
	lb_secbuf *b;

	if (!sp)
		return lb_fail(e, 0, "frame type %u is not in the table", m->type);
	if (m->ntext < sp->min_text || m->ntext > sp->max_text || (m->flags & ~sp->flags) ||
	    (m->blob && !sp->blob))
		return lb_fail(e, 0, "frame type %u: fields do not match the table", m->type);
	for (size_t i = 0; i < m->ntext; i++) {
		if (check_text(sp, i, m->text[i].p, m->text[i].len, e))
			return -1;
		len += 4 + m->text[i].len;
	}
	if (m->blob)
		len += m->blob_len;
	if (len > LB_WIRE_MAX_FRAME)
		return lb_fail(e, 0, "frame type %u: %zu bytes (at most %u)", m->type, len,
			       LB_WIRE_MAX_FRAME);
	b = lb_secbuf_new(len);
	if (!b)
		return lb_fail(e, ENOMEM, "out of secure memory");
	put32(b->data, (uint32_t)(len - LB_WIRE_HDR));
	off = LB_WIRE_HDR;
	b->data[off++] = m->type;
	b->data[off++] = m->flags;
	put32(b->data + off, m->id);
	put32(b->data + off + 4, m->ref);
	put32(b->data + off + 8, (uint32_t)((uint64_t)m->num >> 32));
	put32(b->data + off + 12, (uint32_t)(uint64_t)m->num);
	off += 16;
	b->data[off++] = (unsigned char)m->ntext;
	for (size_t i = 0; i < m->ntext; i++) {
		put32(b->data + off, (uint32_t)m->text[i].len);
		if (m->text[i].len)
			memcpy(b->data + off + 4, m->text[i].p, m->text[i].len);
		off += 4 + m->text[i].len;
	}
	if (m->blob && m->blob_len)
		memcpy(b->data + off, m->blob, m->blob_len);
	*out = b;
	return 0;
}

long lb_wire_frame_len(const unsigned char *buf, size_t len, lb_err *e)
{
	uint32_t n;

	if (len < LB_WIRE_HDR)
		return 0;
	n = get32(buf);
	if (n < FIXED_LEN || n > LB_WIRE_MAX_FRAME - LB_WIRE_HDR)
		return lb_fail(e, 0, "frame announces %u bytes (%u to %u)", n, FIXED_LEN,
			       LB_WIRE_MAX_FRAME - LB_WIRE_HDR);
	return (long)n + (long)LB_WIRE_HDR;
}

int lb_wire_decode(const unsigned char *buf, size_t len, lb_wire_msg *m, lb_err *e)
{
	const wire_spec *sp;
	long flen = lb_wire_frame_len(buf, len, e);
	size_t off = LB_WIRE_HDR;

	memset(m, 0, sizeof(*m));
	if (flen < 0)
		return -1;
	if (flen == 0 || (size_t)flen != len)
		return lb_fail(e, 0, "frame of %zu bytes announces %ld", len, flen);
	m->type = buf[off++];
	m->flags = buf[off++];
	sp = spec_of(m->type);
	if (!sp)
		return lb_fail(e, 0, "frame type %u is not in the table", m->type);
	if (m->flags & ~sp->flags)
		return lb_fail(e, 0, "frame type %u: unknown flags 0x%x", m->type, m->flags);
	m->id = get32(buf + off);
	m->ref = get32(buf + off + 4);
	m->num = (int64_t)((uint64_t)get32(buf + off + 8) << 32 | get32(buf + off + 12));
	off += 16;
	m->ntext = buf[off++];
	if (m->ntext < sp->min_text || m->ntext > sp->max_text)
		return lb_fail(e, 0, "frame type %u: %zu text fields (%u to %u)", m->type, m->ntext,
			       sp->min_text, sp->max_text);
	for (size_t i = 0; i < m->ntext; i++) {
		uint32_t tl;
		if (len - off < 4)
			return lb_fail(e, 0, "frame type %u: field %zu cut short", m->type, i);
		tl = get32(buf + off);
		off += 4;
		if (tl > len - off)
			return lb_fail(e, 0, "frame type %u: field %zu runs past the frame",
				       m->type, i);
		if (check_text(sp, i, (const char *)buf + off, tl, e))
			return -1;
		m->text[i].p = (const char *)buf + off;
		m->text[i].len = tl;
		off += tl;
	}
	if (off < len) {
		if (!sp->blob)
			return lb_fail(e, 0, "frame type %u: %zu bytes left over", m->type,
				       len - off);
		m->blob = buf + off;
		m->blob_len = len - off;
	}
	return 0;
}

int lb_wire_text_copy(const lb_wire_msg *m, size_t i, char *dst, size_t cap)
{
	if (i >= m->ntext || m->text[i].len >= cap)
		return -1;
	if (m->text[i].len)
		memcpy(dst, m->text[i].p, m->text[i].len);
	dst[m->text[i].len] = '\0';
	return 0;
}

char *lb_wire_text_dup(const lb_wire_msg *m, size_t i)
{
	return i < m->ntext ? strndup(m->text[i].p ? m->text[i].p : "", m->text[i].len) : NULL;
}

/* Every field of lb_source, once: a new field is one row here. */
static const struct {
	const char *key;
	size_t off, cap;
} source_fields[] = {
    {"store", offsetof(lb_source, store), sizeof(((lb_source *)0)->store)},
    {"path", offsetof(lb_source, path), sizeof(((lb_source *)0)->path)},
    {"field", offsetof(lb_source, field), sizeof(((lb_source *)0)->field)},
    {"version", offsetof(lb_source, version), sizeof(((lb_source *)0)->version)},
    {"params", offsetof(lb_source, params), sizeof(((lb_source *)0)->params)},
};
#define NSOURCE_FIELDS (sizeof(source_fields) / sizeof(source_fields[0]))

char *lb_wire_source_encode(const lb_source *src)
{
	_cleanup_json_ json_t *o = json_object();
	char *s;

	if (!o)
		return NULL;
	for (size_t i = 0; i < NSOURCE_FIELDS; i++) {
		const char *v = (const char *)src + source_fields[i].off;
		if (v[0] && json_object_set_new(o, source_fields[i].key, json_string(v)))
			return NULL;
	}
	s = json_dumps(o, JSON_COMPACT);
	return s;
}

int lb_wire_source_decode(const char *json, size_t len, lb_source *src, lb_err *e)
{
	_cleanup_json_ json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	const char *key;
	json_t *v;

	memset(src, 0, sizeof(*src));
	if (!json_is_object(o))
		return lb_fail(e, 0, "source is not a JSON object");
	json_object_foreach (o, key, v) {
		size_t i;
		for (i = 0; i < NSOURCE_FIELDS; i++)
			if (strcmp(key, source_fields[i].key) == 0)
				break;
		if (i == NSOURCE_FIELDS)
			return lb_fail(e, 0, "source has an unknown field");
		if (!json_is_string(v) || json_string_length(v) >= source_fields[i].cap ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return lb_fail(e, 0, "source field %s is not a string that fits",
				       source_fields[i].key);
		memcpy((char *)src + source_fields[i].off, json_string_value(v),
		       json_string_length(v) + 1);
	}
	if (!src->store[0] || !src->path[0])
		return lb_fail(e, 0, "source has no store or path");
	return 0;
}
