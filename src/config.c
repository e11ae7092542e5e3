/*
 * config.c: the INI parser over the tables of configuration keys (the
 * core's in config_keys.c, each flow's with the flow).
 *
 * Every key exists only in one table row: its section, name, type, default
 * (or "required"), bounds and where its value lands in struct kcg_config.
 * Parsing is one pass over the lines; each line is checked on its own so
 * that every problem is reported, not just the first. After the pass,
 * defaults are filled in and the combinations (TLS pairing, plain HTTP only
 * on loopback, what each webhook_auth mode needs, the order flow's keys that
 * go together) are checked.
 *
 * Secret values never appear in a message: errors about secrets say what is
 * wrong, never what the value was. Raw lines are never echoed either, since
 * a malformed line may hold a secret.
 */
#include "config_private.h"

#include "kcgate/common.h"
#include "kcgate/dynbuf.h"
#include "kcgate/flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define MAX_FILE_BYTES (1024 * 1024) /* a config file beyond this is a mistake */
#define MAX_LINE_BYTES 4096
#define MAX_NAME_LEN 64          /* section and key names (echoed in messages) */
#define MALFORMED "expected [section], key = value or a # comment"
#define MAX_URL_LEN 2048
#define TABLES_MAX 16



/* KCG_CFG_ENUM targets are written as int. */
_Static_assert(sizeof(enum kcg_webhook_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum kcg_log_level) == sizeof(int), "enum size");
static bool is_hostname(const char *h);


/* Every key: the core's, then each flow's (collected once). */
static const struct kcg_config_key *all_keys[KEYS_MAX];
static const struct kcg_config_keys *tables[TABLES_MAX];
static size_t n_all_keys, n_tables;
static pthread_once_t collect_once = PTHREAD_ONCE_INIT;

static void add_table(const struct kcg_config_keys *t)
{
	/* the limits are compile-time facts; a flow that breaks them fails every test */
	if (n_tables == TABLES_MAX || n_all_keys + t->n_keys > KEYS_MAX)
		abort();
	tables[n_tables++] = t;
	for (size_t i = 0; i < t->n_keys; i++)
		all_keys[n_all_keys++] = &t->keys[i];
}

static void collect_keys(void);

const struct kcg_config_key *const *kcg_config_keys_all(size_t *n)
{
	pthread_once(&collect_once, collect_keys);
	*n = n_all_keys;
	return all_keys;
}

static void collect_keys(void)
{
	add_table(&config_core_keys);
	for (const struct kcg_flow *const *f = kcg_flows; *f; f++)
		if ((*f)->config)
			add_table((*f)->config);
}

static void parser_init(struct parser *p, const char *name, struct kcg_config *cfg)
{
	*p = (struct parser){ .name = name, .cfg = cfg };
	kcg_dynbuf_init(&p->errors, MAX_MESSAGES_BYTES);
	kcg_dynbuf_init(&p->warnings, MAX_MESSAGES_BYTES);
}

/* Appends "NAME:LINE: [section] key: message\n" (the section/key parts only
 * when given) to the errors or the warnings. */
__attribute__((format(printf, 6, 7))) void config_report(struct parser *p, bool warn,
							  unsigned line, const char *section,
							  const char *key, const char *fmt, ...)
{
	struct kcg_dynbuf *b = warn ? &p->warnings : &p->errors;
	char head[2 * MAX_NAME_LEN + 32];
	char msg[1024];
	va_list ap;

	if (!warn)
		p->n_errors++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (section && key)
		snprintf(head, sizeof(head), ":%u: [%s] %s: ", line, section, key);
	else if (section)
		snprintf(head, sizeof(head), ":%u: [%s]: ", line, section);
	else if (key)
		snprintf(head, sizeof(head), ":%u: %s: ", line, key);
	else
		snprintf(head, sizeof(head), ":%u: ", line);
	if (p->oom)
		return;
	kcg_dynbuf_addstr(b, p->name);
	kcg_dynbuf_addstr(b, head);
	kcg_dynbuf_addstr(b, msg);
	kcg_dynbuf_add(b, "\n", 1);
	if (kcg_dynbuf_error(b))
		p->oom = true; /* -ENOMEM, or past MAX_MESSAGES_BYTES: the messages are lost either way */
}

/* @p s for a message with anything unprintable replaced by '?' (and "..."
 * when cut), so a path from the file cannot put control characters on a
 * terminal. Returns @p buf. */
const char *config_printable(const char *s, char *buf, size_t cap)
{
	kcg_printable(buf, cap, s, strlen(s), KCG_PRINT_ELLIPSIS);
	return buf;
}


/* Trims in place: returns the first non-blank character, ends the string
 * after the last one. */
static char *trim(char *s)
{
	while (is_blank(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Section and key names: short and plain, so they are safe to echo. */
static bool valid_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return n > 0 && n <= MAX_NAME_LEN;
}

/* A key of a map section that takes keys as a peer writes them
 * (free_keys: "Royal Mail 48", "Colissimo Expédition"): printable UTF-8,
 * inner spaces allowed, at most MAX_NAME_LEN bytes. */
static bool valid_free_key(const char *s)
{
	size_t n = 0, k;
	while (s[n]) {
		if (!(k = kcg_utf8_printable(s + n)))
			return false;
		n += k;
	}
	return n > 0 && n <= MAX_NAME_LEN;
}

static const char *known_section(const char *name)
{
	for (size_t i = 0; i < n_all_keys; i++)
		if (strcmp(all_keys[i]->section, name) == 0)
			return all_keys[i]->section;
	return NULL;
}

/* A key's row; in a map section, the section's one row (every key). */
static const struct kcg_config_key *find_key(const char *section, const char *name, size_t *idx)
{
	for (size_t i = 0; i < n_all_keys; i++) {
		if (strcmp(all_keys[i]->section, section) == 0 &&
		    (all_keys[i]->type == KCG_CFG_MAP || strcmp(all_keys[i]->name, name) == 0)) {
			if (idx)
				*idx = i;
			return all_keys[i];
		}
	}
	return NULL;
}

/* The key whose value lands at @p field (the first, for a webhook source's
 * mode and secret, which share an offset: webhook_auth). */
static size_t key_of_field(const struct parser *p, const void *field, const struct kcg_config_key **k)
{
	size_t off = (size_t)((const char *)field - (const char *)p->cfg);
	for (size_t i = 0; i < n_all_keys; i++) {
		if (all_keys[i]->offset == off) {
			*k = all_keys[i];
			return i;
		}
	}
	abort(); /* a check named a field no key sets: a programming error */
}

static struct kcg_source_auth *source_of(struct kcg_config *cfg, const char *section)
{
	if (strcmp(section, "mirakl") == 0)
		return &cfg->mirakl.webhook;
	if (strcmp(section, "inriver") == 0)
		return &cfg->inriver.webhook;
	return NULL;
}

void config_free_secret(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/*
 * An http:// or https:// URL the clients put paths after: a host, maybe a
 * port and a path; no credentials (they belong in secrets), no query or
 * fragment (the clients add their own), nothing a request line cannot carry.
 */
static const char *check_url(const char *v)
{
	const char *rest;

	if (strncmp(v, "https://", 8) == 0)
		rest = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		rest = v + 7;
	else
		return "expected a URL starting with http:// or https://";
	if (strlen(v) > MAX_URL_LEN)
		return "longer than 2048 characters";
	for (const char *c = v; *c; c++) {
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return "must not contain whitespace, control or non-ASCII characters";
		if (*c == '?' || *c == '#')
			return "must not contain a query (?) or fragment (#)";
	}
	size_t alen = strcspn(rest, "/");
	if (memchr(rest, '@', alen))
		return "must not contain credentials (user@host): use the secret keys";
	char auth[264]; /* a host name of up to 253 characters and a port */
	if (alen == 0)
		return "expected a host after ://";
	if (alen >= sizeof(auth))
		return "invalid host name";
	memcpy(auth, rest, alen);
	auth[alen] = '\0';
	char *host = auth, *port = NULL;
	if (auth[0] == '[') {
		unsigned char a6[sizeof(struct in6_addr)];
		char *close = strchr(auth, ']');
		if (!close || (close[1] && close[1] != ':'))
			return "invalid host name";
		*close = '\0';
		host = auth + 1;
		if (close[1])
			port = close + 2;
		if (inet_pton(AF_INET6, host, a6) != 1)
			return "expected an IPv6 address inside [ ]";
	} else {
		char *colon = strchr(auth, ':');
		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
		if (!*host)
			return "expected a host after ://";
		if (!is_hostname(host))
			return "invalid host name";
	}
	uint64_t pn;
	if (port && kcg_parse_u64(port, 1, 65535, &pn) < 0)
		return "expected a port number from 1 to 65535";
	return NULL;
}

static bool is_hostname(const char *h)
{
	size_t n = 0;
	for (; h[n]; n++) {
		char c = h[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return n > 0 && n <= 253;
}

static void parse_listen(struct parser *p, const struct kcg_config_key *k, unsigned line, char *v)
{
	struct kcg_config *cfg = p->cfg;
	char *host, *port;
	unsigned char addr[sizeof(struct in6_addr)];

	if (v[0] == '[') {
		char *close = strchr(v, ']');
		if (!close || close[1] != ':') {
			config_report(p, false, line, k->section, k->name,
			       "expected host:port (IPv6 as [::1]:8443)");
			return;
		}
		*close = '\0';
		host = v + 1;
		port = close + 2;
		if (inet_pton(AF_INET6, host, addr) != 1) {
			config_report(p, false, line, k->section, k->name,
			       "expected an IPv6 address inside [ ]");
			return;
		}
	} else {
		char *colon = strrchr(v, ':');
		if (!colon || colon == v) {
			config_report(p, false, line, k->section, k->name,
			       "expected host:port (IPv6 as [::1]:8443)");
			return;
		}
		*colon = '\0';
		host = v;
		port = colon + 1;
		if (strchr(host, ':')) {
			config_report(p, false, line, k->section, k->name,
			       "an IPv6 address needs brackets, e.g. [::1]:8443");
			return;
		}
		if (!is_hostname(host)) {
			config_report(p, false, line, k->section, k->name, "invalid host name");
			return;
		}
	}
	uint64_t pn;
	if (kcg_parse_u64(port, 1, 65535, &pn) < 0) {
		config_report(p, false, line, k->section, k->name,
		       "expected a port number from 1 to 65535");
		return;
	}
	char *h = strdup(host);
	if (!h) {
		p->oom = true;
		return;
	}
	free(cfg->server.listen_host);
	cfg->server.listen_host = h;
	cfg->server.listen_port = (uint16_t)pn;
}

/* Stores @p v (trimmed, non-empty, writable) for key @p k found on @p line
 * (0 for a default). */
static void set_value(struct parser *p, const struct kcg_config_key *k, unsigned line, char *v)
{
	void *target = (char *)p->cfg + k->offset;
	char pbuf[256];
	const char *why;

	switch (k->type) {
	case KCG_CFG_STRING:
	case KCG_CFG_PATH:
	case KCG_CFG_FILE:
	case KCG_CFG_URL: {
		if (k->type == KCG_CFG_URL) {
			why = check_url(v);
			if (why) {
				config_report(p, false, line, k->section, k->name, "%s", why);
				return;
			}
			/* the clients append "/api/..." or nothing: one form only */
			size_t n = strlen(v);
			while (n > 0 && v[n - 1] == '/')
				v[--n] = '\0';
		}
		if (k->check) {
			why = k->check(v);
			if (why) {
				config_report(p, false, line, k->section, k->name, "%s", why);
				return;
			}
		}
		if (k->type == KCG_CFG_FILE) {
			int fd = config_open_regular(v);
			if (fd == -EINVAL)
				config_report(p, false, line, k->section, k->name, "%s is not a regular file",
				       config_printable(v, pbuf, sizeof(pbuf)));
			else if (fd < 0)
				config_report(p, false, line, k->section, k->name, "cannot read %s: %s",
				       config_printable(v, pbuf, sizeof(pbuf)), strerror(-fd));
			else
				close(fd);
			/* stored anyway: the TLS pairing check should not also fire */
		}
		char *s = strdup(v);
		if (!s) {
			p->oom = true;
			return;
		}
		free(*(char **)target);
		*(char **)target = s;
		return;
	}
	case KCG_CFG_U64: {
		uint64_t n;
		if (kcg_parse_u64(v, k->min, k->max, &n) < 0) {
			config_report(p, false, line, k->section, k->name,
			       "expected a whole number from %" PRIu64 " to %" PRIu64, k->min, k->max);
			return;
		}
		*(uint64_t *)target = n;
		return;
	}
	case KCG_CFG_ENUM: {
		char list[128] = "";
		for (const struct kcg_config_choice *c = k->choices; c->name; c++) {
			if (strcmp(c->name, v) == 0) {
				*(int *)target = c->value;
				return;
			}
			if (c != k->choices)
				strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			strncat(list, c->name, sizeof(list) - strlen(list) - 1);
		}
		config_report(p, false, line, k->section, k->name, "expected one of %s", list);
		return;
	}
	case KCG_CFG_SECRET: {
		char *s = config_resolve_secret(p, k, line, v);
		if (!s)
			return;
		if (k->min && strlen(s) < k->min) {
			config_report(p, false, line, k->section, k->name,
			       "too short: a secret of at least %" PRIu64 " characters is needed",
			       k->min);
			config_free_secret(s);
			return;
		}
		if (k->check) {
			why = k->check(s);
			if (why) {
				config_report(p, false, line, k->section, k->name, "%s", why);
				config_free_secret(s);
				return;
			}
		}
		config_free_secret(*(char **)target);
		*(char **)target = s;
		return;
	}
	case KCG_CFG_WHSEC: {
		char *s = config_resolve_secret(p, k, line, v);
		if (!s)
			return;
		config_decode_whsec(p, k, line, s, target);
		config_free_secret(s);
		return;
	}
	case KCG_CFG_LISTEN:
		parse_listen(p, k, line, v);
		return;
	case KCG_CFG_MAP:
		return; /* filled key by key (map_add) */
	}
}

/* One line (NUL-terminated, writable, no '\n'). */
static void parse_line(struct parser *p, unsigned line, char *s, const char **section,
		       bool *in_unknown)
{
	s = trim(s);
	if (!*s || *s == '#')
		return;

	if (*s == '[') {
		char *close = strchr(s, ']');
		if (!close) {
			config_report(p, false, line, NULL, NULL, MALFORMED);
			return;
		}
		char *rest = close + 1;
		while (is_blank(*rest))
			rest++;
		if (*rest && *rest != '#') {
			config_report(p, false, line, NULL, NULL, MALFORMED);
			return;
		}
		*close = '\0';
		char *name = trim(s + 1);
		if (!valid_name(name)) {
			config_report(p, false, line, NULL, NULL, MALFORMED);
			return;
		}
		*section = known_section(name);
		*in_unknown = !*section;
		if (!*section) {
			config_report(p, false, line, name, NULL, "unknown section");
			return;
		}
		size_t idx;
		const struct kcg_config_key *k = find_key(*section, "", &idx);
		if (k && k->type == KCG_CFG_MAP) {
			if (!p->seen[idx])
				p->seen[idx] = line;
			config_map_of(p, k);
		}
		return;
	}

	char *eq = strchr(s, '=');
	if (!eq) {
		config_report(p, false, line, NULL, NULL, MALFORMED);
		return;
	}
	*eq = '\0';
	char *name = trim(s);
	size_t map_idx;
	const struct kcg_config_key *map = *section ? find_key(*section, "", &map_idx) : NULL;
	bool free_key = map && map->type == KCG_CFG_MAP && map->free_keys;
	if (free_key ? !valid_free_key(name) : !valid_name(name)) {
		config_report(p, false, line, NULL, NULL, MALFORMED);
		return;
	}
	char *v = eq + 1;
	while (is_blank(*v))
		v++;
	/* a comment starts at a '#' that begins the value or follows whitespace */
	for (char *c = v; *c; c++) {
		if (*c == '#' && (c == v || is_blank(c[-1]))) {
			*c = '\0';
			break;
		}
	}
	v = trim(v);

	if (*in_unknown)
		return; /* reported once, at the section header */
	if (!*section) {
		config_report(p, false, line, NULL, name, "key outside of any [section]");
		return;
	}
	size_t idx;
	const struct kcg_config_key *k = find_key(*section, name, &idx);
	if (!k) {
		config_report(p, false, line, *section, name, "unknown key");
		return;
	}
	if (k->type == KCG_CFG_MAP) {
		config_map_add(p, k, line, name, v);
		return;
	}
	if (p->seen[idx]) {
		config_report(p, false, line, k->section, k->name, "duplicate key (first set on line %u)",
		       p->seen[idx]);
		return;
	}
	p->seen[idx] = line;
	if (!*v) {
		config_report(p, false, line, k->section, k->name, "value is empty");
		return;
	}
	set_value(p, k, line, v);
}

/* The checks API (config.h): a struct kcg_config_check is the parser. */
unsigned kcg_config_line(const struct kcg_config_check *c, const void *field)
{
	const struct parser *p = (const struct parser *)c;
	const struct kcg_config_key *k;
	return p->seen[key_of_field(p, field, &k)];
}

static void vreport_field(struct parser *p, bool warn, const void *field, const char *fmt, va_list ap)
{
	const struct kcg_config_key *k;
	size_t i = key_of_field(p, field, &k);
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	config_report(p, warn, p->seen[i], k->section, k->name, "%s", msg);
}

void kcg_config_error(struct kcg_config_check *c, const void *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport_field((struct parser *)c, false, field, fmt, ap);
	va_end(ap);
}

void kcg_config_warn(struct kcg_config_check *c, const void *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport_field((struct parser *)c, true, field, fmt, ap);
	va_end(ap);
}

/* What each webhook_auth mode needs, and what it ignores. */
void config_webhook_checks(struct kcg_config_check *c)
{
	struct parser *p = (struct parser *)c;
	for (size_t i = 0; i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		struct kcg_source_auth *src = source_of(p->cfg, k->section);
		if (!src || src->mode == KCG_AUTH_UNSET)
			continue;
		/* the seller API keys of [mirakl] have nothing to do with webhooks */
		if (k->needs == KCG_AUTH_UNSET) {
			if (src->mode == KCG_AUTH_NONE && strcmp(k->name, "webhook_auth") == 0)
				config_report(p, true, p->seen[i], k->section, k->name,
				       "authentication disabled");
			continue;
		}
		if (src->mode == k->needs && !p->seen[i] && !k->def)
			config_report(p, false, 0, k->section, k->name, "required when webhook_auth = %s",
			       kcg_webhook_auth_name(src->mode));
		else if (src->mode != k->needs && p->seen[i])
			config_report(p, true, p->seen[i], k->section, k->name,
			       "ignored: webhook_auth = %s does not use it",
			       kcg_webhook_auth_name(src->mode));
	}
}

/* Defaults, required keys, then every table's combination checks. */
static void finish_checks(struct parser *p)
{
	char buf[256]; /* the longest default: server.tls_priorities */

	for (size_t i = 0; i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		if (p->seen[i] || k->type == KCG_CFG_MAP)
			continue;
		if (k->def) {
			if (strlen(k->def) >= sizeof(buf))
				abort(); /* a table row's default longer than any value: a programming error */
			snprintf(buf, sizeof(buf), "%s", k->def);
			set_value(p, k, 0, buf);
		} else if (k->required) {
			config_report(p, false, 0, k->section, k->name, "required key missing");
		}
	}
	for (size_t t = 0; t < n_tables; t++)
		if (tables[t]->check)
			tables[t]->check((struct kcg_config_check *)p, p->cfg);
}

/* Hands a message buffer to the caller's pointer (appending to what is
 * there); @p b is left empty. */
static void hand_over(struct parser *p, struct kcg_dynbuf *b, char **out)
{
	size_t len = kcg_dynbuf_len(b);
	if (len == 0 || !out) {
		kcg_dynbuf_finish(b);
		return;
	}
	if (*out) {
		size_t old = strlen(*out);
		char *s = realloc(*out, old + len + 1);
		if (!s) {
			p->oom = true;
			kcg_dynbuf_finish(b);
			return;
		}
		memcpy(s + old, kcg_dynbuf_ptr(b), len + 1);
		*out = s;
		kcg_dynbuf_finish(b);
	} else {
		*out = kcg_dynbuf_take(b, NULL);
	}
}

int kcg_config_parse(const char *name, const char *text, size_t len, struct kcg_config *cfg,
		     char **errors, char **warnings)
{
	struct parser p;
	char line[MAX_LINE_BYTES + 1];

	pthread_once(&collect_once, collect_keys);
	parser_init(&p, name ? name : "(config)", cfg);

	if (!cfg->path) {
		cfg->path = strdup(p.name);
		if (!cfg->path)
			p.oom = true;
	}

	if (len > MAX_FILE_BYTES) {
		config_report(&p, false, 0, NULL, NULL, "file is larger than 1 MiB");
		goto out;
	}

	const char *section = NULL;
	bool in_unknown = false;
	unsigned lineno = 0;
	size_t pos = 0;
	/* skip a UTF-8 byte order mark */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n > MAX_LINE_BYTES) {
			config_report(&p, false, lineno, NULL, NULL, "line is longer than %d bytes",
			       MAX_LINE_BYTES);
			continue;
		}
		if (memchr(start, '\0', n)) {
			config_report(&p, false, lineno, NULL, NULL, "line contains a NUL byte");
			continue;
		}
		memcpy(line, start, n);
		line[n] = '\0';
		parse_line(&p, lineno, line, &section, &in_unknown);
	}
	/* the line buffer may have held a literal secret */
	OPENSSL_cleanse(line, sizeof(line));

	finish_checks(&p);
out:
	hand_over(&p, &p.errors, errors);
	hand_over(&p, &p.warnings, warnings);
	if (p.oom)
		return -ENOMEM;
	return p.n_errors ? KCG_ECONFIG : 0;
}

int kcg_config_load(const char *path, struct kcg_config *cfg, char **errors, char **warnings)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if (!cfg->path) {
		cfg->path = strdup(path);
		if (!cfg->path)
			return -ENOMEM;
	}
	int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	if (fd >= 0) {
		/* one byte past the limit, so that kcg_config_parse reports it */
		r = config_read_fd(fd, MAX_FILE_BYTES + 1, &text, &len);
		if (r == -EFBIG) {
			r = 0;
			len = MAX_FILE_BYTES + 1;
		}
		close(fd);
	}
	if (r == -ENOMEM)
		return -ENOMEM;
	if (r < 0) {
		struct parser p;
		parser_init(&p, path, cfg);
		config_report(&p, false, 0, NULL, NULL, "cannot read: %s", strerror(-r));
		hand_over(&p, &p.errors, errors);
		return p.oom ? -ENOMEM : KCG_ECONFIG;
	}
	if (!text) {
		/* too large: the parser reports it from the length alone */
		return kcg_config_parse(path, "", len, cfg, errors, warnings);
	}
	r = kcg_config_parse(path, text, len, cfg, errors, warnings);
	/* the text may hold literal secrets */
	OPENSSL_cleanse(text, len);
	free(text);
	return r;
}

void kcg_config_finish(struct kcg_config *cfg)
{
	if (!cfg)
		return;
	pthread_once(&collect_once, collect_keys);
	for (size_t i = 0; i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		void *target = (char *)cfg + k->offset;
		switch (k->type) {
		case KCG_CFG_STRING:
		case KCG_CFG_PATH:
		case KCG_CFG_FILE:
		case KCG_CFG_URL:
		case KCG_CFG_LISTEN: /* its field is server.listen_host */
			free(*(char **)target);
			break;
		case KCG_CFG_SECRET:
			config_free_secret(*(char **)target);
			break;
		case KCG_CFG_MAP:
			config_map_free(atomic_load(config_map_slot(cfg, k)));
			break;
		case KCG_CFG_U64:
		case KCG_CFG_ENUM:
		case KCG_CFG_WHSEC: /* decoded keys sit in the struct: wiped below */
			break;
		}
	}
	config_map_free(cfg->retired);
	for (size_t i = 0; i < cfg->n_retired_secrets; i++)
		config_free_secret(cfg->retired_secrets[i]);
	free(cfg->retired_secrets);
	free(cfg->path);
	OPENSSL_cleanse(cfg, sizeof(*cfg));
}

const char *kcg_webhook_auth_name(enum kcg_webhook_auth mode)
{
	switch (mode) {
	case KCG_AUTH_STANDARD: return "standard";
	case KCG_AUTH_TOKEN: return "token";
	case KCG_AUTH_BASIC: return "basic";
	case KCG_AUTH_NONE: return "none";
	case KCG_AUTH_UNSET: break;
	}
	return "unset";
}
