/*
 * config_private.h: what config.c (the parser) and config_keys.c (the core's
 * keys and checks) share. Nothing else includes it.
 */
#ifndef KCGATE_CONFIG_PRIVATE_H
#define KCGATE_CONFIG_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "kcgate/config.h"

/* Blanks around names and values (a newline never reaches a value). */
static inline bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

#include "kcgate/dynbuf.h"

#define KEYS_MAX 256 /* every key of every table */
#define MAX_MESSAGES_BYTES (16 * 1024 * 1024) /* errors (or warnings) of one file; past it: -ENOMEM */
#define MAP_MAX 10000 /* keys of one map section */

/* The parser: one file's messages and which keys it set (config.c). */
struct parser {
	const char *name;
	struct kcg_config *cfg;
	struct kcg_dynbuf errors, warnings; /* parser_init() sets their cap */
	unsigned n_errors;
	bool oom;
	unsigned seen[KEYS_MAX]; /* line a key was set on; 0 = not in the file */
};

/* Appends "NAME:LINE: [section] key: message" to the errors or warnings. */
__attribute__((format(printf, 6, 7))) void config_report(struct parser *p, bool warn, unsigned line,
							  const char *section, const char *key, const char *fmt, ...);

/* @p s for a message, control characters as '?', cut with "..." to @p cap. */
const char *config_printable(const char *s, char *buf, size_t cap);

/* Wipes and frees a secret; NULL-safe. */
void config_free_secret(char *s);

/* Opens @p path read-only if it is a regular file: an fd, -EINVAL (not a
 * regular file) or -errno (config_secret.c). */
int config_open_regular(const char *path);

/* Reads at most @p cap bytes of @p fd into a malloc'd, NUL-terminated
 * *@p out: 0, -EFBIG (longer than cap), -ENOMEM or -errno. */
int config_read_fd(int fd, size_t cap, char **out, size_t *out_len);

/* Resolves the secret reference @p v of key @p k on @p line: a malloc'd
 * value, or NULL after reporting why (config_secret.c). */
char *config_resolve_secret(struct parser *p, const struct kcg_config_key *k, unsigned line, const char *v);

/* Decodes the whsec_ keys of @p v into @p target's secrets, reporting each
 * problem (config_secret.c). */
void config_decode_whsec(struct parser *p, const struct kcg_config_key *k, unsigned line, char *v,
			 struct kcg_source_auth *target);

/* Map sections (config_map.c): the slot of row @p k in @p cfg; the map of
 * @p k, created empty on its section header; one `key = value` of it; a
 * map and every older one it holds. */
struct kcg_config_map *_Atomic *config_map_slot(struct kcg_config *cfg, const struct kcg_config_key *k);
struct kcg_config_map *config_map_of(struct parser *p, const struct kcg_config_key *k);
void config_map_add(struct parser *p, const struct kcg_config_key *k, unsigned line, const char *key, const char *v);
void config_map_free(struct kcg_config_map *m);

/* The core's keys and their combination checks (config_keys.c). */
extern const struct kcg_config_keys config_core_keys;

/* What each [mirakl]/[inriver] webhook_auth mode needs and ignores, over
 * every key with a .needs (config.c: it reads which keys the file set). */
void config_webhook_checks(struct kcg_config_check *c);

#endif
