/* What a parsed config keeps (issue 19: ≤ 2 KiB per target in lockboxd): compact structs, its
 * names and paths in one block, and a name index per kind. The JSON tree the parse walked
 * (~700 bytes per static target with its "t:NAME" index entry) is freed once parsed. */
#include "config_priv.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The index reads an entry's name at offset 0 of its struct. */
_Static_assert(offsetof(lb_binding, name) == 0, "lb_binding starts with its name");
_Static_assert(offsetof(lb_target_cfg, name) == 0, "lb_target_cfg starts with its name");

static size_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 32));
}

static const char *name_at(const void *base, size_t stride, size_t i)
{
	return *(const char *const *)(const void *)((const char *)base + i * stride);
}

int lb_cfg_index_build(lb_cfg_index *ix, const void *base, size_t stride, size_t n)
{
	size_t cap = 8;

	while (cap < 2 * n) /* at most half full: short probes */
		cap *= 2;
	free(ix->slot);
	ix->slot = calloc(cap, sizeof(*ix->slot));
	ix->mask = ix->slot ? cap - 1 : 0;
	if (!ix->slot)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t h = name_hash(name_at(base, stride, i)) & ix->mask;

		while (ix->slot[h])
			h = (h + 1) & ix->mask;
		ix->slot[h] = (uint32_t)(i + 1);
	}
	return 0;
}

/* Position + 1 of name, 0 when absent. */
static size_t index_find(const lb_cfg_index *ix, const void *base, size_t stride, const char *name)
{
	size_t h;

	if (!ix->slot)
		return 0;
	for (h = name_hash(name) & ix->mask; ix->slot[h]; h = (h + 1) & ix->mask)
		if (strcmp(name_at(base, stride, ix->slot[h] - 1), name) == 0)
			return ix->slot[h];
	return 0;
}

/* Copies *slot to block + off (block NULL: only counts); returns the next offset. */
static size_t place(const char **slot, char *block, size_t off)
{
	size_t n;

	if (!*slot)
		return off;
	n = strlen(*slot) + 1;
	if (block) {
		memcpy(block + off, *slot, n);
		*slot = block + off;
	}
	return off + n;
}

/* Every string a struct points at, in one walk: counted (block NULL), then moved. */
static size_t move_strings(lb_config *c, char *block)
{
	const char **top[] = {&c->run_dir, &c->state_dir, &c->docker_socket, &c->plugin_socket,
			      &c->metrics_listen};
	size_t off = 0;

	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		off = place(top[i], block, off);
	for (size_t i = 0; i < c->nstores; i++) {
		off = place(&c->stores[i].name, block, off);
		off = place(&c->stores[i].type, block, off);
	}
	for (size_t i = 0; i < c->nbindings; i++)
		off = place(&c->bindings[i].name, block, off);
	for (size_t i = 0; i < c->ntargets; i++) {
		off = place(&c->targets[i].name, block, off);
		off = place(&c->targets[i].uid_map, block, off);
		off = place(&c->targets[i].gid_map, block, off);
	}
	return off;
}

int lb_cfg_compact(lb_config *c)
{
	size_t n = move_strings(c, NULL);

	c->strings = malloc(n ? n : 1);
	if (!c->strings)
		return -1;
	move_strings(c, c->strings);
	return 0;
}

void lb_config_free(lb_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nbindings; i++) {
		for (size_t j = 0; j < c->bindings[i].nsecrets; j++)
			lb_template_free(c->bindings[i].secrets[j].tmpl);
		free(c->bindings[i].secrets);
		json_decref(c->bindings[i].match);
	}
	for (size_t i = 0; i < c->nstores; i++)
		json_decref(c->stores[i].opts);
	free(c->bindings);
	free(c->stores);
	free(c->targets);
	free(c->binding_index.slot);
	free(c->target_index.slot);
	free(c->strings);
	free(c);
}

const lb_binding *lb_config_binding(const lb_config *c, const char *name)
{
	size_t i = index_find(&c->binding_index, c->bindings, sizeof(*c->bindings), name);

	return i ? &c->bindings[i - 1] : NULL;
}

const lb_store_cfg *lb_config_store(const lb_config *c, const char *name)
{
	for (size_t i = 0; i < c->nstores; i++)
		if (strcmp(c->stores[i].name, name) == 0)
			return &c->stores[i];
	return NULL;
}

const lb_target_cfg *lb_config_target(const lb_config *c, const char *name)
{
	size_t i = index_find(&c->target_index, c->targets, sizeof(*c->targets), name);

	return i ? &c->targets[i - 1] : NULL;
}
