/*
 * config_map.c: map sections ([shipping_methods], [khaos.tax_rates]: any
 * key, one checked value each) and the reload that swaps them (and the
 * secrets whose value changed) on SIGHUP.
 * A live map is never freed while the process runs: a reload publishes the
 * new map holding the old one (readers load the pointer once per use), and
 * kcg_config_finish() frees the chain.
 */
#include "config_private.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kcgate/dynbuf.h"

/* ---- map sections ---- */

struct kcg_config_map *_Atomic *config_map_slot(struct kcg_config *cfg, const struct kcg_config_key *k)
{
	return (struct kcg_config_map *_Atomic *)((char *)cfg + k->offset);
}

void config_map_free(struct kcg_config_map *m)
{
	while (m) {
		struct kcg_config_map *older = m->older;
		for (size_t i = 0; i < m->n; i++) {
			free(m->entries[i].key);
			free(m->entries[i].value);
		}
		free(m->entries);
		free(m);
		m = older;
	}
}

const char *kcg_config_map_get(const struct kcg_config_map *m, const char *key)
{
	for (size_t i = 0; m && key && i < m->n; i++)
		if (strcmp(m->entries[i].key, key) == 0)
			return m->entries[i].value;
	return NULL;
}

/* The map of section row @p k, created empty on its header (a section
 * present with no key is a map with no entry, not an absent one). */
struct kcg_config_map *config_map_of(struct parser *p, const struct kcg_config_key *k)
{
	struct kcg_config_map *_Atomic *slot = config_map_slot(p->cfg, k);
	struct kcg_config_map *m = atomic_load(slot);
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			p->oom = true;
		atomic_store(slot, m);
	}
	return m;
}

/* One `key = value` line of a map section. */
void config_map_add(struct parser *p, const struct kcg_config_key *k, unsigned line, const char *key, const char *v)
{
	struct kcg_config_map *m = config_map_of(p, k);
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->entries[i].key, key) == 0) {
			config_report(p, false, line, k->section, key, "duplicate key (first set on line %u)",
				      m->entries[i].line);
			return;
		}
	}
	if (!*v) {
		config_report(p, false, line, k->section, key, "value is empty");
		return;
	}
	const char *why = k->check ? k->check(v) : NULL;
	if (why) {
		config_report(p, false, line, k->section, key, "%s", why);
		return;
	}
	if (m->n >= MAP_MAX) {
		config_report(p, false, line, k->section, key, "more than %d keys in one section", MAP_MAX);
		return;
	}
	struct kcg_config_map_entry *e = realloc(m->entries, (m->n + 1) * sizeof(*e));
	if (!e) {
		p->oom = true;
		return;
	}
	m->entries = e;
	e[m->n] = (struct kcg_config_map_entry){ strdup(key), strdup(v), line };
	if (!e[m->n].key || !e[m->n].value) {
		free(e[m->n].key);
		free(e[m->n].value);
		p->oom = true;
		return;
	}
	m->n++;
}

/* ---- reload ---- */

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether key @p k has the same value in @p a and @p b. */
static bool same_value(const struct kcg_config_key *k, const struct kcg_config *a, const struct kcg_config *b)
{
	const void *x = (const char *)a + k->offset, *y = (const char *)b + k->offset;
	switch (k->type) {
	case KCG_CFG_STRING:
	case KCG_CFG_PATH:
	case KCG_CFG_FILE:
	case KCG_CFG_URL:
	case KCG_CFG_SECRET:
		return same_str(*(char *const *)x, *(char *const *)y);
	case KCG_CFG_LISTEN:
		return same_str(a->server.listen_host, b->server.listen_host) &&
		       a->server.listen_port == b->server.listen_port;
	case KCG_CFG_U64:
		return *(const uint64_t *)x == *(const uint64_t *)y;
	case KCG_CFG_ENUM:
		return *(const int *)x == *(const int *)y;
	case KCG_CFG_WHSEC: {
		const struct kcg_source_auth *s = x, *t = y;
		return s->n_secrets == t->n_secrets && memcmp(s->secret_lens, t->secret_lens, sizeof(s->secret_lens)) == 0 &&
		       CRYPTO_memcmp(s->secrets, t->secrets, sizeof(s->secrets)) == 0;
	}
	case KCG_CFG_MAP:
		return true;
	}
	return true;
}

/* "[section] a added, b removed, c changed; " for map @p k, into @p b. */
static void map_diff(struct kcg_dynbuf *b, const struct kcg_config_key *k, const struct kcg_config_map *old,
		     const struct kcg_config_map *now)
{
	struct kcg_dynbuf d;
	kcg_dynbuf_init(&d, MAX_MESSAGES_BYTES);
	if (!old != !now)
		kcg_dynbuf_addstr(&d, now ? " section added;" : " section removed;");
	for (size_t i = 0; now && i < now->n; i++) {
		const char *was = kcg_config_map_get(old, now->entries[i].key);
		if (!same_str(was, now->entries[i].value))
			kcg_dynbuf_printf(&d, " %s %s;", now->entries[i].key, was ? "changed" : "added");
	}
	for (size_t i = 0; old && i < old->n; i++)
		if (!kcg_config_map_get(now, old->entries[i].key))
			kcg_dynbuf_printf(&d, " %s removed;", old->entries[i].key);
	if (kcg_dynbuf_len(&d)) {
		kcg_dynbuf_printf(b, "%s[%s]", kcg_dynbuf_len(b) ? " " : "", k->section);
		kcg_dynbuf_add(b, kcg_dynbuf_ptr(&d), kcg_dynbuf_len(&d));
	}
	kcg_dynbuf_finish(&d);
}

static int take_text(struct kcg_dynbuf *b, char **out)
{
	*out = NULL;
	if (kcg_dynbuf_error(b)) {
		kcg_dynbuf_finish(b);
		return -ENOMEM;
	}
	if (kcg_dynbuf_len(b))
		*out = kcg_dynbuf_take(b, NULL);
	kcg_dynbuf_finish(b);
	return 0;
}

static char *_Atomic *secret_slot(struct kcg_config *cfg, const struct kcg_config_key *k)
{
	return (char *_Atomic *)((char *)cfg + k->offset);
}

/* A secret rotated by the reload: both values set and different. */
static bool rotates(const struct kcg_config_key *k, struct kcg_config *live, struct kcg_config *fresh)
{
	return k->type == KCG_CFG_SECRET && atomic_load(secret_slot(live, k)) && atomic_load(secret_slot(fresh, k)) &&
	       !same_value(k, live, fresh);
}

static void add_name(struct kcg_dynbuf *b, const struct kcg_config_key *k)
{
	kcg_dynbuf_printf(b, "%s[%s] %s", kcg_dynbuf_len(b) ? ", " : "", k->section, k->name);
}

/* The reload, with the secrets rotated when @p secrets is not NULL. */
static int reload(struct kcg_config *live, struct kcg_config *fresh, char **changes, char **secrets, char **restart)
{
	struct kcg_dynbuf sec;
	size_t n_rotate = 0;
	kcg_dynbuf_init(&sec, MAX_MESSAGES_BYTES);
	if (secrets)
		*secrets = NULL;
	struct kcg_dynbuf ch, rs;
	size_t n_all_keys;
	const struct kcg_config_key *const *all_keys = kcg_config_keys_all(&n_all_keys);
	kcg_dynbuf_init(&ch, MAX_MESSAGES_BYTES);
	kcg_dynbuf_init(&rs, MAX_MESSAGES_BYTES);
	*changes = *restart = NULL;
	for (size_t i = 0; i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		if (k->type == KCG_CFG_MAP) {
			map_diff(&ch, k, atomic_load(config_map_slot(live, k)), atomic_load(config_map_slot(fresh, k)));
			continue;
		}
		if (same_value(k, live, fresh))
			continue;
		if (secrets && rotates(k, live, fresh)) {
			add_name(&sec, k);
			n_rotate++;
			continue;
		}
		add_name(&rs, k);
	}
	/* room to keep every value a rotation replaces, before anything is published */
	char **kept = NULL;
	if (n_rotate) {
		kept = realloc(live->retired_secrets, (live->n_retired_secrets + n_rotate) * sizeof(*kept));
		if (kept)
			live->retired_secrets = kept;
	}
	if ((n_rotate && !kept) || take_text(&ch, changes) != 0 || take_text(&rs, restart) != 0 ||
	    (secrets && take_text(&sec, secrets) != 0)) {
		kcg_dynbuf_finish(&ch);
		kcg_dynbuf_finish(&rs);
		kcg_dynbuf_finish(&sec);
		free(*changes);
		free(*restart);
		*changes = *restart = NULL;
		if (secrets) {
			free(*secrets);
			*secrets = NULL;
		}
		return -ENOMEM;
	}
	kcg_dynbuf_finish(&sec);
	/* secrets: the new value in, the old one kept (a reader may hold it) */
	for (size_t i = 0; secrets && i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		if (!rotates(k, live, fresh))
			continue;
		char *now = atomic_exchange(secret_slot(fresh, k), NULL);
		live->retired_secrets[live->n_retired_secrets++] = atomic_exchange(secret_slot(live, k), now);
	}
	/* publish: the new map first holds the old, so no reader's map is ever freed */
	for (size_t i = 0; i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		if (k->type != KCG_CFG_MAP)
			continue;
		struct kcg_config_map *now = atomic_load(config_map_slot(fresh, k));
		struct kcg_config_map *old = atomic_load(config_map_slot(live, k));
		if (now) {
			now->older = old;
			atomic_store(config_map_slot(live, k), now);
		} else if (old) {
			/* the section was removed: the old chain stays readable,
			 * kept in live->retired until the config is finished */
			atomic_store(config_map_slot(live, k), NULL);
			struct kcg_config_map *tail = old;
			while (tail->older)
				tail = tail->older;
			tail->older = live->retired;
			live->retired = old;
		}
		atomic_store(config_map_slot(fresh, k), NULL);
	}
	return 0;
}

int kcg_config_reload_maps(struct kcg_config *live, struct kcg_config *fresh, char **changes, char **restart)
{
	return reload(live, fresh, changes, NULL, restart);
}

int kcg_config_reload(struct kcg_config *live, struct kcg_config *fresh, char **changes, char **secrets,
		      char **restart)
{
	return reload(live, fresh, changes, secrets, restart);
}
