/*
 * config.c: the INI parser and the one table of configuration keys.
 *
 * Every key exists only in keys[] below: its section, name, type, default
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
#include "kcgate/config.h"

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
#define MAX_SECRET_FILE_BYTES (64 * 1024)
#define MAX_MESSAGES_BYTES (16 * 1024 * 1024) /* errors (or warnings) of one file; past it: -ENOMEM */
#define MAX_NAME_LEN 64          /* section and key names (echoed in messages) */
#define WHSEC_PREFIX "whsec_"
#define WHSEC_MAX_BYTES 64       /* sizeof(kcg_source_auth.secrets[0]) */
#define MALFORMED "expected [section], key = value or a # comment"
#define MAX_URL_LEN 2048
#define KEYS_MAX 256             /* every key of every table */
#define TABLES_MAX 16

static const struct kcg_config_choice auth_choices[] = {
	{ "standard", KCG_AUTH_STANDARD },
	{ "token", KCG_AUTH_TOKEN },
	{ "basic", KCG_AUTH_BASIC },
	{ "none", KCG_AUTH_NONE },
	{ NULL, 0 },
};

static const struct kcg_config_choice log_choices[] = {
	{ "debug", KCG_LOG_DEBUG },
	{ "info", KCG_LOG_INFO },
	{ "warn", KCG_LOG_WARN },
	{ "error", KCG_LOG_ERROR },
	{ NULL, 0 },
};

/* KCG_CFG_ENUM targets are written as int. */
_Static_assert(sizeof(enum kcg_webhook_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum kcg_log_level) == sizeof(int), "enum size");

static const char *check_header_name(const char *v);
static const char *check_user(const char *v);
static const char *check_header_value(const char *v);
static const char *check_digits(const char *v);
static const char *check_transport(const char *v);
static const char *check_namespace(const char *v);
static bool is_hostname(const char *h);

#define WEBHOOK_KEY(S, key, kind, dflt, lo, hi, field, chk, mode)                                  \
	{ .section = #S, .name = (key), .type = (kind), .def = (dflt), .min = (lo), .max = (hi),    \
	  .offset = KCG_CONFIG_OFF(S.webhook field), .check = (chk), .needs = (mode) }

/* The same keys for each webhook source. */
#define SOURCE_KEYS(S)                                                                             \
	{ .section = #S, .name = "webhook_auth", .type = KCG_CFG_ENUM, .required = true,             \
	  .offset = KCG_CONFIG_OFF(S.webhook.mode), .choices = auth_choices },                        \
	WEBHOOK_KEY(S, "webhook_secret", KCG_CFG_WHSEC, NULL, 0, 0, , NULL, KCG_AUTH_STANDARD),       \
	WEBHOOK_KEY(S, "webhook_tolerance_s", KCG_CFG_U64, "300", 1, 86400, .tolerance_s, NULL,       \
		    KCG_AUTH_STANDARD),                                                                \
	WEBHOOK_KEY(S, "webhook_token", KCG_CFG_SECRET, NULL, 1, 0, .token, check_header_value,       \
		    KCG_AUTH_TOKEN),                                                                   \
	WEBHOOK_KEY(S, "webhook_token_header", KCG_CFG_STRING, "X-Webhook-Token", 0, 0, .token_header, \
		    check_header_name, KCG_AUTH_TOKEN),                                                \
	WEBHOOK_KEY(S, "webhook_user", KCG_CFG_STRING, NULL, 0, 0, .user, check_user, KCG_AUTH_BASIC), \
	WEBHOOK_KEY(S, "webhook_password", KCG_CFG_SECRET, NULL, 1, 0, .password, NULL, KCG_AUTH_BASIC)

static const struct kcg_config_key core_keys[] = {
	{ .section = "server", .name = "listen", .type = KCG_CFG_LISTEN, .required = true,
	  .offset = KCG_CONFIG_OFF(server.listen_host) },
	KCG_KEY_STR("server", "tls_cert", server.tls_cert, KCG_CFG_FILE, NULL, NULL),
	KCG_KEY_STR("server", "tls_key", server.tls_key, KCG_CFG_FILE, NULL, NULL),
	KCG_KEY_U64("server", "threads", server.threads, "4", 1, 64),
	KCG_KEY_U64("server", "max_body_bytes", server.max_body_bytes, "1048576", 1, 67108864),
	KCG_KEY_U64("server", "max_header_bytes", server.max_header_bytes, "16384", 1024, 1048576),
	KCG_KEY_U64("server", "max_connections", server.max_connections, "1024", 1, 65536),
	KCG_KEY_U64("server", "connection_timeout_s", server.connection_timeout_s, "30", 1, 3600),
	KCG_KEY_U64("server", "shutdown_timeout_s", server.shutdown_timeout_s, "10", 0, 3600),
	{ .section = "server", .name = "log_level", .type = KCG_CFG_ENUM, .def = "info",
	  .offset = KCG_CONFIG_OFF(server.log_level), .choices = log_choices },

	{ .section = "store", .name = "path", .type = KCG_CFG_PATH, .required = true,
	  .offset = KCG_CONFIG_OFF(store.path) },
	KCG_KEY_U64("store", "map_size_mb", store.map_size_mb, "1024", 1, 1048576),
	KCG_KEY_U64("store", "dedupe_ttl_h", store.dedupe_ttl_h, "72", 1, 8760),
	KCG_KEY_U64("store", "max_batch", store.max_batch, "256", 1, 65536),
	KCG_KEY_U64("store", "queue_limit", store.queue_limit, "4096", 1, 1048576),
	KCG_KEY_U64("store", "retention_days", store.retention_days, "30", 0, 36500),
	KCG_KEY_U64("store", "sweep_batch", store.sweep_batch, "1000", 10, 100000),

	{ .section = "admin", .name = "token", .type = KCG_CFG_SECRET, .required = true, .min = 16,
	  .offset = KCG_CONFIG_OFF(admin.token), .check = check_header_value },

	SOURCE_KEYS(mirakl),
	SOURCE_KEYS(inriver),

	/* the seller API; api_key goes into the Authorization header as is */
	KCG_KEY_STR("mirakl", "base_url", mirakl.base_url, KCG_CFG_URL, NULL, NULL),
	KCG_KEY_SECRET("mirakl", "api_key", mirakl.api_key, 1, check_header_value),
	KCG_KEY_STR("mirakl", "shop_id", mirakl.shop_id, KCG_CFG_STRING, NULL, check_digits),
	KCG_KEY_U64("mirakl", "timeout_s", mirakl.timeout_s, "30", 1, 300),

	/* the namespace and where credentials go are unconfirmed (peers.md 3a) */
	KCG_KEY_STR("khaos", "transport", khaos.transport, KCG_CFG_STRING, "soap", check_transport),
	KCG_KEY_STR("khaos", "soap_url", khaos.soap_url, KCG_CFG_URL, NULL, NULL),
	KCG_KEY_STR("khaos", "soap_namespace", khaos.soap_namespace, KCG_CFG_STRING, "urn:KosWebIntf-IKosWeb",
		    check_namespace),
	KCG_KEY_SECRET("khaos", "soap_user", khaos.soap_user, 1, kcg_config_check_text),
	KCG_KEY_SECRET("khaos", "soap_password", khaos.soap_password, 1, kcg_config_check_text),
	KCG_KEY_STR("khaos", "site", khaos.site, KCG_CFG_STRING, NULL, kcg_config_check_text),
	KCG_KEY_STR("khaos", "sales_source", khaos.sales_source, KCG_CFG_STRING, NULL, kcg_config_check_text),
	KCG_KEY_STR("khaos", "company_class", khaos.company_class, KCG_CFG_STRING, NULL, kcg_config_check_text),
	KCG_KEY_U64("khaos", "timeout_s", khaos.timeout_s, "30", 1, 300),

	KCG_KEY_U64("jobs", "max_age_h", jobs.max_age_h, "72", 1, 720),
	KCG_KEY_U64("jobs", "retry_base_ms", jobs.retry_base_ms, "1000", 10, 600000),
	KCG_KEY_U64("jobs", "retry_max_s", jobs.retry_max_s, "3600", 1, 86400),
	KCG_KEY_U64("jobs", "breaker_failures", jobs.breaker_failures, "10", 1, 10000),
	KCG_KEY_U64("jobs", "breaker_cooldown_s", jobs.breaker_cooldown_s, "30", 1, 3600),
	KCG_KEY_U64("jobs", "max_reply_bytes", jobs.max_reply_bytes, "8388608", 1024, 268435456),

	KCG_KEY_U64("lanes", "mirakl", lanes.mirakl, "4", 1, 64),
	KCG_KEY_U64("lanes", "khaos", lanes.khaos, "4", 1, 64),
	KCG_KEY_U64("lanes", "inriver", lanes.inriver, "4", 1, 64),
};

static void core_checks(struct kcg_config_check *c, const struct kcg_config *cfg);

static const struct kcg_config_keys core_table = {
	core_keys, sizeof(core_keys) / sizeof(core_keys[0]), core_checks
};

struct parser {
	const char *name;
	struct kcg_config *cfg;
	struct kcg_dynbuf errors, warnings; /* parser_init() sets their cap */
	unsigned n_errors;
	bool oom;
	unsigned seen[KEYS_MAX]; /* line a key was set on; 0 = not in the file */
};

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

static void collect_keys(void)
{
	add_table(&core_table);
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
__attribute__((format(printf, 6, 7))) static void report(struct parser *p, bool warn,
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
static const char *printable(const char *s, char *buf, size_t cap)
{
	kcg_printable(buf, cap, s, strlen(s), KCG_PRINT_ELLIPSIS);
	return buf;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
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

static const char *known_section(const char *name)
{
	for (size_t i = 0; i < n_all_keys; i++)
		if (strcmp(all_keys[i]->section, name) == 0)
			return all_keys[i]->section;
	return NULL;
}

static const struct kcg_config_key *find_key(const char *section, const char *name, size_t *idx)
{
	for (size_t i = 0; i < n_all_keys; i++) {
		if (strcmp(all_keys[i]->section, section) == 0 && strcmp(all_keys[i]->name, name) == 0) {
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

static void free_secret(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static const char *check_header_name(const char *v)
{
	/* RFC 9110 token characters */
	for (const char *c = v; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *c)))
			return "not a valid HTTP header name";
	}
	return NULL;
}

static const char *check_user(const char *v)
{
	/* HTTP Basic joins user and password with the first ':' */
	if (strchr(v, ':'))
		return "must not contain ':'";
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "must not contain control characters";
	return NULL;
}

/* A secret compared against a header value: HTTP strips surrounding
 * whitespace and forbids control characters, so such a secret never matches. */
static const char *check_header_value(const char *v)
{
	size_t n = strlen(v);
	if (n > 0 && (is_blank(v[0]) || is_blank(v[n - 1]) || v[0] == '\n' || v[n - 1] == '\n'))
		return "must not start or end with whitespace";
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return "must not contain control characters";
	return NULL;
}

/* Free text that ends up in XML or a header (Khaos site, sales source, SOAP
 * credentials): XML 1.0 cannot carry most control characters. */
const char *kcg_config_check_text(const char *v)
{
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "must not contain control characters";
	return NULL;
}

static const char *check_digits(const char *v)
{
	for (const char *c = v; *c; c++)
		if (*c < '0' || *c > '9')
			return "expected digits only";
	return NULL;
}

static const char *check_transport(const char *v)
{
	if (strcmp(v, "soap") != 0)
		return "expected soap (the Khaos Cloud channel is not supported yet)";
	return NULL;
}

/* An XML namespace name is a URI: a scheme, no whitespace or quotes. */
static const char *check_namespace(const char *v)
{
	const char *colon = strchr(v, ':');
	bool ok = colon && colon != v;
	for (const char *c = v; *c && ok; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || strchr("\"'<>&", *c))
			ok = false;
	return ok ? NULL : "expected a URI without whitespace, e.g. urn:KosWebIntf-IKosWeb";
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

/*
 * Opens @p path for reading without blocking on FIFOs or devices and checks
 * that it is a regular file. @return the fd, or -errno (-EINVAL when it is
 * not a regular file).
 */
static int open_regular(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/*
 * Reads at most @p cap bytes from @p fd into a new NUL-terminated buffer.
 * @return 0, -EFBIG when there is more, -ENOMEM or -errno.
 */
static int read_fd(int fd, size_t cap, char **out, size_t *out_len)
{
	size_t len = 0, alloc = 4096;
	char *buf = malloc(alloc);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == alloc) {
			/* grow past cap by one byte so "more than cap" is detectable */
			size_t want = alloc * 2 > cap + 1 ? cap + 1 : alloc * 2;
			if (want <= alloc) {
				OPENSSL_cleanse(buf, len);
				free(buf);
				return -EFBIG;
			}
			char *b2 = malloc(want);
			if (!b2) {
				OPENSSL_cleanse(buf, len);
				free(buf);
				return -ENOMEM;
			}
			memcpy(b2, buf, len);
			OPENSSL_cleanse(buf, len);
			free(buf);
			buf = b2;
			alloc = want;
		}
		ssize_t n = read(fd, buf + len, alloc - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			OPENSSL_cleanse(buf, len);
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			OPENSSL_cleanse(buf, len);
			free(buf);
			return -EFBIG;
		}
	}
	/* len < alloc here: the buffer grows before every read, so the NUL fits */
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

/*
 * Resolves a secret reference: env:NAME, file:PATH or a literal (warned
 * about). @return a malloc'd copy (the caller wipes and frees it), or NULL
 * after reporting the problem.
 */
static char *resolve_secret(struct parser *p, const struct kcg_config_key *k, unsigned line, const char *v)
{
	char pbuf[256];
	char *out = NULL;

	if (strncmp(v, "env:", 4) == 0) {
		const char *name = v + 4;
		bool ok = *name && !(*name >= '0' && *name <= '9');
		for (const char *c = name; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '_'))
				ok = false;
		if (!ok) {
			report(p, false, line, k->section, k->name,
			       "env: needs an environment variable name (letters, digits, _)");
			return NULL;
		}
		const char *val = getenv(name);
		if (!val) {
			report(p, false, line, k->section, k->name,
			       "environment variable %s is not set",
			       printable(name, pbuf, sizeof(pbuf)));
			return NULL;
		}
		out = strdup(val);
		if (!out)
			p->oom = true;
		return out;
	}

	if (strncmp(v, "file:", 5) == 0) {
		const char *path = v + 5;
		size_t len = 0;
		if (!*path) {
			report(p, false, line, k->section, k->name, "file: needs a path");
			return NULL;
		}
		int fd = open_regular(path);
		int r = fd;
		if (fd >= 0) {
			r = read_fd(fd, MAX_SECRET_FILE_BYTES, &out, &len);
			close(fd);
		}
		if (r == -ENOMEM) {
			p->oom = true;
			return NULL;
		}
		if (r == -EINVAL) {
			report(p, false, line, k->section, k->name,
			       "secret file %s is not a regular file",
			       printable(path, pbuf, sizeof(pbuf)));
			return NULL;
		}
		if (r == -EFBIG) {
			report(p, false, line, k->section, k->name,
			       "secret file %s is larger than 64 KiB",
			       printable(path, pbuf, sizeof(pbuf)));
			return NULL;
		}
		if (r < 0) {
			report(p, false, line, k->section, k->name, "cannot read secret file %s: %s",
			       printable(path, pbuf, sizeof(pbuf)), strerror(-r));
			return NULL;
		}
		/* editors add one trailing newline; strip exactly one */
		if (len > 0 && out[len - 1] == '\n') {
			out[--len] = '\0';
			if (len > 0 && out[len - 1] == '\r')
				out[--len] = '\0';
		}
		if (memchr(out, '\0', len)) {
			report(p, false, line, k->section, k->name,
			       "secret file %s contains a NUL byte", printable(path, pbuf, sizeof(pbuf)));
			OPENSSL_cleanse(out, len);
			free(out);
			return NULL;
		}
		return out;
	}

	report(p, true, line, k->section, k->name,
	       "literal secret in config file; use env:NAME or file:PATH");
	out = strdup(v);
	if (!out)
		p->oom = true;
	return out;
}

/* Decodes the space-separated whsec_<base64> keys of @p v into @p src. */
static void decode_whsec(struct parser *p, const struct kcg_config_key *k, unsigned line, char *v,
			 struct kcg_source_auth *src)
{
	unsigned char tmp[3 * 4096 / 4];
	size_t n = 0;
	bool bad = false;

	for (char *tok = v; *tok;) {
		while (*tok && strchr(" \t\r\n", *tok))
			tok++;
		if (!*tok)
			break;
		size_t tl = strcspn(tok, " \t\r\n");
		n++;
		if (n > KCG_MAX_SECRETS) {
			report(p, false, line, k->section, k->name, "more than %d secrets",
			       KCG_MAX_SECRETS);
			bad = true;
			break;
		}
		size_t pl = strlen(WHSEC_PREFIX);
		int r = -EINVAL;
		if (tl > pl && strncmp(tok, WHSEC_PREFIX, pl) == 0)
			r = kcg_base64_decode(tok + pl, tl - pl, tmp, sizeof(tmp));
		if (r < 0) {
			report(p, false, line, k->section, k->name,
			       "secret %zu is not whsec_<base64>", n);
			bad = true;
		} else if (r == 0 || r > WHSEC_MAX_BYTES) {
			report(p, false, line, k->section, k->name,
			       "secret %zu must decode to 1 to %d bytes", n, WHSEC_MAX_BYTES);
			bad = true;
		} else if (!bad) {
			memcpy(src->secrets[n - 1], tmp, (size_t)r);
			src->secret_lens[n - 1] = (size_t)r;
			src->n_secrets = n;
		}
		tok += tl;
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (n == 0) {
		report(p, false, line, k->section, k->name, "no secret given");
		bad = true;
	}
	if (bad) {
		/* all or nothing: a half-decoded list would hide the error */
		OPENSSL_cleanse(src->secrets, sizeof(src->secrets));
		memset(src->secret_lens, 0, sizeof(src->secret_lens));
		src->n_secrets = 0;
	}
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
			report(p, false, line, k->section, k->name,
			       "expected host:port (IPv6 as [::1]:8443)");
			return;
		}
		*close = '\0';
		host = v + 1;
		port = close + 2;
		if (inet_pton(AF_INET6, host, addr) != 1) {
			report(p, false, line, k->section, k->name,
			       "expected an IPv6 address inside [ ]");
			return;
		}
	} else {
		char *colon = strrchr(v, ':');
		if (!colon || colon == v) {
			report(p, false, line, k->section, k->name,
			       "expected host:port (IPv6 as [::1]:8443)");
			return;
		}
		*colon = '\0';
		host = v;
		port = colon + 1;
		if (strchr(host, ':')) {
			report(p, false, line, k->section, k->name,
			       "an IPv6 address needs brackets, e.g. [::1]:8443");
			return;
		}
		if (!is_hostname(host)) {
			report(p, false, line, k->section, k->name, "invalid host name");
			return;
		}
	}
	uint64_t pn;
	if (kcg_parse_u64(port, 1, 65535, &pn) < 0) {
		report(p, false, line, k->section, k->name,
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
				report(p, false, line, k->section, k->name, "%s", why);
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
				report(p, false, line, k->section, k->name, "%s", why);
				return;
			}
		}
		if (k->type == KCG_CFG_FILE) {
			int fd = open_regular(v);
			if (fd == -EINVAL)
				report(p, false, line, k->section, k->name, "%s is not a regular file",
				       printable(v, pbuf, sizeof(pbuf)));
			else if (fd < 0)
				report(p, false, line, k->section, k->name, "cannot read %s: %s",
				       printable(v, pbuf, sizeof(pbuf)), strerror(-fd));
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
			report(p, false, line, k->section, k->name,
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
		report(p, false, line, k->section, k->name, "expected one of %s", list);
		return;
	}
	case KCG_CFG_SECRET: {
		char *s = resolve_secret(p, k, line, v);
		if (!s)
			return;
		if (k->min && strlen(s) < k->min) {
			report(p, false, line, k->section, k->name,
			       "too short: a secret of at least %" PRIu64 " characters is needed",
			       k->min);
			free_secret(s);
			return;
		}
		if (k->check) {
			why = k->check(s);
			if (why) {
				report(p, false, line, k->section, k->name, "%s", why);
				free_secret(s);
				return;
			}
		}
		free_secret(*(char **)target);
		*(char **)target = s;
		return;
	}
	case KCG_CFG_WHSEC: {
		char *s = resolve_secret(p, k, line, v);
		if (!s)
			return;
		decode_whsec(p, k, line, s, target);
		free_secret(s);
		return;
	}
	case KCG_CFG_LISTEN:
		parse_listen(p, k, line, v);
		return;
	}
}

static bool is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
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
			report(p, false, line, NULL, NULL, MALFORMED);
			return;
		}
		char *rest = close + 1;
		while (is_blank(*rest))
			rest++;
		if (*rest && *rest != '#') {
			report(p, false, line, NULL, NULL, MALFORMED);
			return;
		}
		*close = '\0';
		char *name = trim(s + 1);
		if (!valid_name(name)) {
			report(p, false, line, NULL, NULL, MALFORMED);
			return;
		}
		*section = known_section(name);
		*in_unknown = !*section;
		if (!*section)
			report(p, false, line, name, NULL, "unknown section");
		return;
	}

	char *eq = strchr(s, '=');
	if (!eq) {
		report(p, false, line, NULL, NULL, MALFORMED);
		return;
	}
	*eq = '\0';
	char *name = trim(s);
	if (!valid_name(name)) {
		report(p, false, line, NULL, NULL, MALFORMED);
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
		report(p, false, line, NULL, name, "key outside of any [section]");
		return;
	}
	size_t idx;
	const struct kcg_config_key *k = find_key(*section, name, &idx);
	if (!k) {
		report(p, false, line, *section, name, "unknown key");
		return;
	}
	if (p->seen[idx]) {
		report(p, false, line, k->section, k->name, "duplicate key (first set on line %u)",
		       p->seen[idx]);
		return;
	}
	p->seen[idx] = line;
	if (!*v) {
		report(p, false, line, k->section, k->name, "value is empty");
		return;
	}
	set_value(p, k, line, v);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
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
	report(p, warn, p->seen[i], k->section, k->name, "%s", msg);
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
static void webhook_checks(struct parser *p)
{
	for (size_t i = 0; i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		struct kcg_source_auth *src = source_of(p->cfg, k->section);
		if (!src || src->mode == KCG_AUTH_UNSET)
			continue;
		/* the seller API keys of [mirakl] have nothing to do with webhooks */
		if (k->needs == KCG_AUTH_UNSET) {
			if (src->mode == KCG_AUTH_NONE && strcmp(k->name, "webhook_auth") == 0)
				report(p, true, p->seen[i], k->section, k->name,
				       "authentication disabled");
			continue;
		}
		if (src->mode == k->needs && !p->seen[i] && !k->def)
			report(p, false, 0, k->section, k->name, "required when webhook_auth = %s",
			       kcg_webhook_auth_name(src->mode));
		else if (src->mode != k->needs && p->seen[i])
			report(p, true, p->seen[i], k->section, k->name,
			       "ignored: webhook_auth = %s does not use it",
			       kcg_webhook_auth_name(src->mode));
	}
}

/*
 * The core keys' combinations. A key given with a bad value was reported
 * already (and left its field NULL or 0): no second error.
 */
static void core_checks(struct kcg_config_check *c, const struct kcg_config *cfg)
{
	const struct kcg_server_config *srv = &cfg->server;
	const struct kcg_mirakl_config *mk = &cfg->mirakl;
	const struct kcg_khaos_config *kh = &cfg->khaos;

	if (srv->tls_cert && !kcg_config_line(c, &srv->tls_key))
		kcg_config_error(c, &srv->tls_key, "required when tls_cert is set");
	if (srv->tls_key && !kcg_config_line(c, &srv->tls_cert))
		kcg_config_error(c, &srv->tls_cert, "required when tls_key is set");
	if (!kcg_config_line(c, &srv->tls_cert) && !kcg_config_line(c, &srv->tls_key) && srv->listen_host &&
	    !is_loopback(srv->listen_host))
		kcg_config_error(c, &srv->listen_host,
				 "plain HTTP (no tls_cert and tls_key) is only allowed on a loopback "
				 "address (127.x.x.x, ::1, localhost)");

	webhook_checks((struct parser *)c);


	if (mk->base_url && !kcg_config_line(c, &mk->api_key))
		kcg_config_error(c, &mk->api_key, "required when base_url is set");
	if (mk->base_url && ends_with(mk->base_url, "/api"))
		kcg_config_warn(c, &mk->base_url,
				"ends in /api: base_url is everything before /api/ (kcgate appends "
				"/api/orders, ...)");

	if (kh->soap_url && !kcg_config_line(c, &kh->site))
		kcg_config_error(c, &kh->site, "required when soap_url is set");
	if (kh->soap_url && !kcg_config_line(c, &kh->sales_source))
		kcg_config_error(c, &kh->sales_source, "required when soap_url is set");
	if (kh->soap_url && strstr(kh->soap_url, "/wsdl/"))
		kcg_config_warn(c, &kh->soap_url,
				"looks like the WSDL address; calls go to the .../soap/IKosWeb endpoint");
	if (kh->soap_user && !kcg_config_line(c, &kh->soap_password))
		kcg_config_error(c, &kh->soap_password, "required when soap_user is set");
	if (kh->soap_password && !kcg_config_line(c, &kh->soap_user))
		kcg_config_error(c, &kh->soap_user, "required when soap_password is set");
}

/* Defaults, required keys, then every table's combination checks. */
static void finish_checks(struct parser *p)
{
	char buf[64];

	for (size_t i = 0; i < n_all_keys; i++) {
		const struct kcg_config_key *k = all_keys[i];
		if (p->seen[i])
			continue;
		if (k->def) {
			snprintf(buf, sizeof(buf), "%s", k->def);
			set_value(p, k, 0, buf);
		} else if (k->required) {
			report(p, false, 0, k->section, k->name, "required key missing");
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
		report(&p, false, 0, NULL, NULL, "file is larger than 1 MiB");
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
			report(&p, false, lineno, NULL, NULL, "line is longer than %d bytes",
			       MAX_LINE_BYTES);
			continue;
		}
		if (memchr(start, '\0', n)) {
			report(&p, false, lineno, NULL, NULL, "line contains a NUL byte");
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
		r = read_fd(fd, MAX_FILE_BYTES + 1, &text, &len);
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
		report(&p, false, 0, NULL, NULL, "cannot read: %s", strerror(-r));
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
			free_secret(*(char **)target);
			break;
		case KCG_CFG_U64:
		case KCG_CFG_ENUM:
		case KCG_CFG_WHSEC: /* decoded keys sit in the struct: wiped below */
			break;
		}
	}
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
