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

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <openssl/crypto.h>

#define MAX_FILE_BYTES (1024 * 1024) /* a config file beyond this is a mistake */
#define MAX_LINE_BYTES 4096
#define MAX_SECRET_FILE_BYTES (64 * 1024)
#define MAX_NAME_LEN 64          /* section and key names (echoed in messages) */
#define WHSEC_PREFIX "whsec_"
#define WHSEC_MAX_BYTES 64       /* sizeof(kcg_source_auth.secrets[0]) */
#define MALFORMED "expected [section], key = value or a # comment"
#define MAX_URL_LEN 2048
/* TLS 1.2 and 1.3, ECDHE key exchange only (forward secrecy: no static RSA,
 * no finite-field DHE), AEAD ciphers only. */
#define DEFAULT_TLS_PRIORITIES \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-DHE-RSA:-DHE-DSS:-CIPHER-ALL:" \
	"+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:%SERVER_PRECEDENCE"
#define FLOW_PAIRING \
	"[mirakl] base_url and [khaos] soap_url go together: set both to run the order flow, or neither"

enum type {
	T_STRING,  /* char *, optionally checked */
	T_PATH,    /* char *, any path (the store directory is created later) */
	T_FILE,    /* char *, a path that must be a readable regular file now */
	T_URL,     /* char *, http(s) URL without query or fragment; trailing '/' stripped */
	T_U64,     /* uint64_t within min..max */
	T_ENUM,    /* an enum (int-sized) from choices */
	T_SECRET,  /* char *, an env:/file:/literal reference, resolved; min = shortest */
	T_WHSEC,   /* struct kcg_source_auth: secret of whsec_ keys, decoded */
	T_LISTEN,  /* listen_host + listen_port */
};

struct choice {
	const char *name;
	int value;
};

struct key {
	const char *section;
	const char *name;
	enum type type;
	bool required;
	const char *def;         /* default, parsed like a value from the file */
	uint64_t min, max;       /* T_U64 bounds; T_SECRET: min = shortest length */
	size_t offset;           /* into struct kcg_config */
	const struct choice *choices;
	/* extra validation; returns a reason (never containing the value) or NULL */
	const char *(*check)(const char *value);
	/* [mirakl]/[inriver]: the webhook_auth mode that uses this key */
	enum kcg_webhook_auth needs;
};

static const struct choice auth_choices[] = {
	{ "standard", KCG_AUTH_STANDARD },
	{ "token", KCG_AUTH_TOKEN },
	{ "basic", KCG_AUTH_BASIC },
	{ "none", KCG_AUTH_NONE },
	{ NULL, 0 },
};

static const struct choice log_choices[] = {
	{ "debug", KCG_LOG_DEBUG },
	{ "info", KCG_LOG_INFO },
	{ "warn", KCG_LOG_WARN },
	{ "error", KCG_LOG_ERROR },
	{ NULL, 0 },
};

/* T_ENUM targets are written as int. */
_Static_assert(sizeof(enum kcg_webhook_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum kcg_log_level) == sizeof(int), "enum size");

static const char *check_header_name(const char *v);
static const char *check_user(const char *v);
static const char *check_header_value(const char *v);
static const char *check_text(const char *v);
static const char *check_digits(const char *v);
static const char *check_transport(const char *v);
static const char *check_namespace(const char *v);
static const char *check_priorities(const char *v);
static const char *check_proxies(const char *v);
static bool is_hostname(const char *h);

#define OFF(field) offsetof(struct kcg_config, field)
#define U64(sec, key, d, lo, hi, field) \
	{ sec, key, T_U64, false, d, lo, hi, OFF(field), NULL, NULL, KCG_AUTH_UNSET }
#define STR(sec, key, type, d, field, check) \
	{ sec, key, type, false, d, 0, 0, OFF(field), NULL, check, KCG_AUTH_UNSET }
#define SECRET(sec, key, field, check) \
	{ sec, key, T_SECRET, false, NULL, 1, 0, OFF(field), NULL, check, KCG_AUTH_UNSET }

/* The same keys for each webhook source. */
#define SOURCE_KEYS(S)                                                                         \
	{ #S, "webhook_auth", T_ENUM, true, NULL, 0, 0, OFF(S.mode), auth_choices, NULL,        \
	  KCG_AUTH_UNSET },                                                                    \
	{ #S, "webhook_secret", T_WHSEC, false, NULL, 0, 0, OFF(S), NULL, NULL,                \
	  KCG_AUTH_STANDARD },                                                                 \
	{ #S, "webhook_tolerance_s", T_U64, false, "300", 1, 86400, OFF(S.tolerance_s), NULL,  \
	  NULL, KCG_AUTH_STANDARD },                                                           \
	{ #S, "webhook_token", T_SECRET, false, NULL, 1, 0, OFF(S.token), NULL,                \
	  check_header_value, KCG_AUTH_TOKEN },                                                \
	{ #S, "webhook_token_header", T_STRING, false, "X-Webhook-Token", 0, 0,                \
	  OFF(S.token_header), NULL, check_header_name, KCG_AUTH_TOKEN },                      \
	{ #S, "webhook_user", T_STRING, false, NULL, 0, 0, OFF(S.user), NULL, check_user,      \
	  KCG_AUTH_BASIC },                                                                    \
	{ #S, "webhook_password", T_SECRET, false, NULL, 1, 0, OFF(S.password), NULL, NULL,    \
	  KCG_AUTH_BASIC }

static const struct key keys[] = {
	{ "server", "listen", T_LISTEN, true, NULL, 0, 0, OFF(listen_host), NULL, NULL, 0 },
	{ "server", "tls_cert", T_FILE, false, NULL, 0, 0, OFF(tls_cert), NULL, NULL, 0 },
	{ "server", "tls_key", T_FILE, false, NULL, 0, 0, OFF(tls_key), NULL, NULL, 0 },
	U64("server", "threads", "4", 1, 64, threads),
	U64("server", "max_body_bytes", "1048576", 1, 67108864, max_body_bytes),
	U64("server", "max_header_bytes", "16384", 1024, 1048576, max_header_bytes),
	U64("server", "max_connections", "1024", 1, 65536, max_connections),
	U64("server", "connection_timeout_s", "30", 1, 3600, connection_timeout_s),
	U64("server", "shutdown_timeout_s", "10", 0, 3600, shutdown_timeout_s),
	{ "server", "log_level", T_ENUM, false, "info", 0, 0, OFF(log_level), log_choices, NULL, 0 },
	/* hostile clients: deadlines, per-address and health slots, TLS, proxies, admin 401s */
	U64("server", "header_timeout_s", "10", 1, 300, header_timeout_s),
	U64("server", "handshake_timeout_s", "5", 1, 60, handshake_timeout_s),
	U64("server", "max_connections_per_ip", "0", 0, 65536, max_connections_per_ip),
	U64("server", "health_reserve", "8", 0, 1024, health_reserve),
	STR("server", "tls_priorities", T_STRING, DEFAULT_TLS_PRIORITIES, tls_priorities, check_priorities),
	STR("server", "trusted_proxies", T_STRING, NULL, trusted_proxies, check_proxies),
	U64("server", "admin_auth_burst", "20", 0, 100000, admin_auth_burst),
	U64("server", "admin_auth_interval_s", "3", 1, 3600, admin_auth_interval_s),

	{ "store", "path", T_PATH, true, NULL, 0, 0, OFF(store_path), NULL, NULL, 0 },
	U64("store", "map_size_mb", "1024", 1, 1048576, map_size_mb),
	U64("store", "dedupe_ttl_h", "72", 1, 8760, dedupe_ttl_h),
	U64("store", "max_batch", "256", 1, 65536, max_batch),
	U64("store", "queue_limit", "4096", 1, 1048576, queue_limit),

	{ "admin", "token", T_SECRET, true, NULL, 16, 0, OFF(admin_token), NULL,
	  check_header_value, 0 },

	SOURCE_KEYS(mirakl),
	SOURCE_KEYS(inriver),

	/* the seller API; api_key goes into the Authorization header as is */
	STR("mirakl", "base_url", T_URL, NULL, mirakl_base_url, NULL),
	SECRET("mirakl", "api_key", mirakl_api_key, check_header_value),
	STR("mirakl", "shop_id", T_STRING, NULL, mirakl_shop_id, check_digits),
	U64("mirakl", "timeout_s", "30", 1, 300, mirakl_timeout_s),
	/* Mirakl: poll OR11 every 5 minutes, at most once a minute */
	U64("mirakl", "poll_interval_s", "300", 60, 86400, mirakl_poll_interval_s),
	U64("mirakl", "poll_overlap_s", "300", 0, 86400, mirakl_poll_overlap_s),
	U64("mirakl", "acceptance_window_h", "72", 1, 720, mirakl_acceptance_window_h),
	U64("mirakl", "acceptance_alert_h", "12", 1, 720, mirakl_acceptance_alert_h),

	/* the namespace and where credentials go are unconfirmed (peers.md 3a) */
	STR("khaos", "transport", T_STRING, "soap", khaos_transport, check_transport),
	STR("khaos", "soap_url", T_URL, NULL, khaos_soap_url, NULL),
	STR("khaos", "soap_namespace", T_STRING, "urn:KosWebIntf-IKosWeb", khaos_soap_namespace,
	    check_namespace),
	SECRET("khaos", "soap_user", khaos_soap_user, check_text),
	SECRET("khaos", "soap_password", khaos_soap_password, check_text),
	STR("khaos", "site", T_STRING, NULL, khaos_site, check_text),
	STR("khaos", "sales_source", T_STRING, NULL, khaos_sales_source, check_text),
	STR("khaos", "company_class", T_STRING, NULL, khaos_company_class, check_text),
	U64("khaos", "timeout_s", "30", 1, 300, khaos_timeout_s),
	U64("khaos", "sku_refresh_s", "300", 10, 86400, khaos_sku_refresh_s),

	U64("jobs", "max_age_h", "72", 1, 720, jobs_max_age_h),
	U64("jobs", "retry_base_ms", "1000", 10, 600000, jobs_retry_base_ms),
	U64("jobs", "retry_max_s", "3600", 1, 86400, jobs_retry_max_s),
	U64("jobs", "breaker_failures", "10", 1, 10000, jobs_breaker_failures),
	U64("jobs", "breaker_cooldown_s", "30", 1, 3600, jobs_breaker_cooldown_s),
	U64("jobs", "max_reply_bytes", "8388608", 1024, 268435456, jobs_max_reply_bytes),

	U64("lanes", "mirakl", "4", 1, 64, lane_mirakl),
	U64("lanes", "khaos", "4", 1, 64, lane_khaos),
	U64("lanes", "inriver", "4", 1, 64, lane_inriver),
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* A growing message buffer (errors or warnings). */
struct sbuf {
	char *s;
	size_t len, cap;
};

struct parser {
	const char *name;
	struct kcg_config *cfg;
	struct sbuf errors, warnings;
	unsigned n_errors;
	bool oom;
	unsigned seen[N_KEYS]; /* line a key was set on; 0 = not in the file */
};

static void sb_append(struct parser *p, struct sbuf *b, const char *s, size_t n)
{
	if (p->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *s2 = realloc(b->s, cap);
		if (!s2) {
			p->oom = true;
			return;
		}
		b->s = s2;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Appends "NAME:LINE: [section] key: message\n" (the section/key parts only
 * when given) to the errors or the warnings. */
__attribute__((format(printf, 6, 7))) static void report(struct parser *p, bool warn,
							  unsigned line, const char *section,
							  const char *key, const char *fmt, ...)
{
	struct sbuf *b = warn ? &p->warnings : &p->errors;
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
	sb_append(p, b, p->name, strlen(p->name));
	sb_append(p, b, head, strlen(head));
	sb_append(p, b, msg, strlen(msg));
	sb_append(p, b, "\n", 1);
}

/* Copies @p s for a message with anything unprintable replaced by '?', so a
 * path from the file cannot put control characters on a terminal. */
static const char *printable(const char *s, char *buf, size_t cap)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	if (s[i] && cap > 4)
		memcpy(buf + cap - 4, "...", 4);
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
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, name) == 0)
			return keys[i].section;
	return NULL;
}

static const struct key *find_key(const char *section, const char *name, size_t *idx)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) {
			if (idx)
				*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}

static struct kcg_source_auth *source_of(struct kcg_config *cfg, const char *section)
{
	if (strcmp(section, "mirakl") == 0)
		return &cfg->mirakl;
	if (strcmp(section, "inriver") == 0)
		return &cfg->inriver;
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
static const char *check_text(const char *v)
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

/* A GnuTLS priority string, checked by GnuTLS itself. */
static const char *check_priorities(const char *v)
{
	gnutls_priority_t prio;
	const char *err = NULL;
	if (gnutls_priority_init2(&prio, v, &err, 0) != 0)
		return "not a valid GnuTLS priority string (see gnutls-cli --priority ... -l)";
	gnutls_priority_deinit(prio);
	return NULL;
}

static const char *check_proxies(const char *v)
{
	struct kcg_cidr list[KCG_CIDR_MAX];
	size_t n;
	int r = kcg_cidr_parse_list(v, list, KCG_CIDR_MAX, &n);
	if (r == -E2BIG)
		return "more than 64 addresses or blocks";
	if (r != 0 || n == 0)
		return "expected IP addresses or CIDR blocks (10.0.0.0/8, ::1) separated by spaces or commas";
	return NULL;
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
static char *resolve_secret(struct parser *p, const struct key *k, unsigned line, const char *v)
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
			struct stat st;
			/* a secret others can read is not a secret: say so (still used) */
			if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
				report(p, true, line, k->section, k->name,
				       "secret file %s is readable by %s (mode %04o): chmod 600 it",
				       printable(path, pbuf, sizeof(pbuf)),
				       (st.st_mode & S_IROTH) ? "everyone" : "its group",
				       (unsigned)(st.st_mode & 07777));
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
static void decode_whsec(struct parser *p, const struct key *k, unsigned line, char *v,
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

static void parse_listen(struct parser *p, const struct key *k, unsigned line, char *v)
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
	free(cfg->listen_host);
	cfg->listen_host = h;
	cfg->listen_port = (uint16_t)pn;
}

/* Stores @p v (trimmed, non-empty, writable) for key @p k found on @p line
 * (0 for a default). */
static void set_value(struct parser *p, const struct key *k, unsigned line, char *v)
{
	void *target = (char *)p->cfg + k->offset;
	char pbuf[256];
	const char *why;

	switch (k->type) {
	case T_STRING:
	case T_PATH:
	case T_FILE:
	case T_URL: {
		if (k->type == T_URL) {
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
		if (k->type == T_FILE) {
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
	case T_U64: {
		uint64_t n;
		if (kcg_parse_u64(v, k->min, k->max, &n) < 0) {
			report(p, false, line, k->section, k->name,
			       "expected a whole number from %" PRIu64 " to %" PRIu64, k->min, k->max);
			return;
		}
		*(uint64_t *)target = n;
		return;
	}
	case T_ENUM: {
		char list[128] = "";
		for (const struct choice *c = k->choices; c->name; c++) {
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
	case T_SECRET: {
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
	case T_WHSEC: {
		char *s = resolve_secret(p, k, line, v);
		if (!s)
			return;
		decode_whsec(p, k, line, s, target);
		free_secret(s);
		return;
	}
	case T_LISTEN:
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
	const struct key *k = find_key(*section, name, &idx);
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

/* The index of a key that exists in keys[] (the table is fixed). */
static size_t key_index(const char *section, const char *name)
{
	size_t i = 0;
	find_key(section, name, &i);
	return i;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * The order flow's combinations. As for TLS, a key present with a bad value
 * was reported already (and left its field NULL or 0): no second error.
 */
static void flow_checks(struct parser *p)
{
	struct kcg_config *cfg = p->cfg;
	size_t base_i = key_index("mirakl", "base_url");
	size_t api_key_i = key_index("mirakl", "api_key");
	size_t window_i = key_index("mirakl", "acceptance_window_h");
	size_t alert_i = key_index("mirakl", "acceptance_alert_h");
	size_t soap_i = key_index("khaos", "soap_url");
	size_t user_i = key_index("khaos", "soap_user");
	size_t password_i = key_index("khaos", "soap_password");
	size_t site_i = key_index("khaos", "site");
	size_t source_i = key_index("khaos", "sales_source");

	/* one without the other would run half a flow: orders read, never booked */
	if (cfg->mirakl_base_url && !p->seen[soap_i])
		report(p, false, p->seen[base_i], "mirakl", "base_url", FLOW_PAIRING);
	if (cfg->khaos_soap_url && !p->seen[base_i])
		report(p, false, p->seen[soap_i], "khaos", "soap_url", FLOW_PAIRING);

	if (cfg->mirakl_base_url && !p->seen[api_key_i])
		report(p, false, 0, "mirakl", "api_key", "required when base_url is set");
	if (cfg->mirakl_base_url && ends_with(cfg->mirakl_base_url, "/api"))
		report(p, true, p->seen[base_i], "mirakl", "base_url",
		       "ends in /api: base_url is everything before /api/ (kcgate appends "
		       "/api/orders, ...)");

	if (cfg->khaos_soap_url && !p->seen[site_i])
		report(p, false, 0, "khaos", "site", "required when soap_url is set");
	if (cfg->khaos_soap_url && !p->seen[source_i])
		report(p, false, 0, "khaos", "sales_source", "required when soap_url is set");
	if (cfg->khaos_soap_url && strstr(cfg->khaos_soap_url, "/wsdl/"))
		report(p, true, p->seen[soap_i], "khaos", "soap_url",
		       "looks like the WSDL address; calls go to the .../soap/IKosWeb endpoint");
	if (cfg->khaos_soap_user && !p->seen[password_i])
		report(p, false, 0, "khaos", "soap_password", "required when soap_user is set");
	if (cfg->khaos_soap_password && !p->seen[user_i])
		report(p, false, 0, "khaos", "soap_user", "required when soap_password is set");

	/* the alert must come before Mirakl refuses the order; both are >= 1
	 * when valid, 0 after a reported error */
	uint64_t window = cfg->mirakl_acceptance_window_h, alert = cfg->mirakl_acceptance_alert_h;
	if (window && alert && alert >= window) {
		if (p->seen[alert_i])
			report(p, false, p->seen[alert_i], "mirakl", "acceptance_alert_h",
			       "must be less than acceptance_window_h (%" PRIu64 ")", window);
		else
			report(p, false, p->seen[window_i], "mirakl", "acceptance_window_h",
			       "must be more than acceptance_alert_h (%" PRIu64 ", the default)",
			       alert);
	}
}

/* Defaults, required keys and the checks that involve several keys. */
static void finish_checks(struct parser *p)
{
	struct kcg_config *cfg = p->cfg;
	char buf[256];

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		if (p->seen[i])
			continue;
		if (k->def) {
			snprintf(buf, sizeof(buf), "%s", k->def);
			set_value(p, k, 0, buf);
		} else if (k->required) {
			report(p, false, 0, k->section, k->name, "required key missing");
		}
	}

	size_t cert_i, key_i, listen_i;
	find_key("server", "tls_cert", &cert_i);
	find_key("server", "tls_key", &key_i);
	find_key("server", "listen", &listen_i);
	/* a key given with a bad value was reported already: no second error */
	if (cfg->tls_cert && !p->seen[key_i])
		report(p, false, 0, "server", "tls_key", "required when tls_cert is set");
	if (cfg->tls_key && !p->seen[cert_i])
		report(p, false, 0, "server", "tls_cert", "required when tls_key is set");
	if (!p->seen[cert_i] && !p->seen[key_i] && cfg->listen_host &&
	    !is_loopback(cfg->listen_host))
		report(p, false, p->seen[listen_i], "server", "listen",
		       "plain HTTP (no tls_cert and tls_key) is only allowed on a loopback "
		       "address (127.x.x.x, ::1, localhost)");

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		struct kcg_source_auth *src = source_of(cfg, k->section);
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

	/* A replay inside the signature's tolerance must still meet its dedupe
	 * key: a key lives dedupe_ttl_h from first sight, a signed request is
	 * accepted tolerance_s either side of its timestamp, so a capture can
	 * be replayed up to 2 * tolerance_s after it was first delivered. */
	size_t ttl_i = key_index("store", "dedupe_ttl_h");
	uint64_t ttl_s = cfg->dedupe_ttl_h * 3600;
	const char *srcs[] = { "mirakl", "inriver" };
	for (size_t i = 0; i < 2; i++) {
		struct kcg_source_auth *src = source_of(cfg, srcs[i]);
		size_t tol_i = key_index(srcs[i], "webhook_tolerance_s");
		if (src->mode != KCG_AUTH_STANDARD || !ttl_s || !src->tolerance_s || 2 * src->tolerance_s <= ttl_s)
			continue;
		if (p->seen[tol_i])
			report(p, false, p->seen[tol_i], srcs[i], "webhook_tolerance_s",
			       "must be at most half of [store] dedupe_ttl_h (%" PRIu64 " s): a replayed "
			       "webhook would outlive its dedupe key", ttl_s / 2);
		else
			report(p, false, p->seen[ttl_i], "store", "dedupe_ttl_h",
			       "must be at least twice [%s] webhook_tolerance_s (%" PRIu64 " s, the default): "
			       "a replayed webhook would outlive its dedupe key", srcs[i], src->tolerance_s);
	}

	flow_checks(p);
}

/* Hands a message buffer to the caller's pointer (appending to what is there). */
static void hand_over(struct parser *p, struct sbuf *b, char **out)
{
	if (!b->s)
		return;
	if (!out) {
		free(b->s);
		return;
	}
	if (*out) {
		size_t old = strlen(*out);
		char *s = realloc(*out, old + b->len + 1);
		if (!s) {
			p->oom = true;
			free(b->s);
			return;
		}
		memcpy(s + old, b->s, b->len + 1);
		*out = s;
		free(b->s);
	} else {
		*out = b->s;
	}
}

int kcg_config_parse(const char *name, const char *text, size_t len, struct kcg_config *cfg,
		     char **errors, char **warnings)
{
	struct parser p = { .name = name ? name : "(config)", .cfg = cfg };
	char line[MAX_LINE_BYTES + 1];

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
		struct parser p = { .name = path, .cfg = cfg };
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

static void finish_source(struct kcg_source_auth *src)
{
	free_secret(src->token);
	free(src->token_header);
	free(src->user);
	free_secret(src->password);
	OPENSSL_cleanse(src->secrets, sizeof(src->secrets));
}

void kcg_config_finish(struct kcg_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->listen_host);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_priorities);
	free(cfg->trusted_proxies);
	free(cfg->store_path);
	free_secret(cfg->admin_token);
	finish_source(&cfg->mirakl);
	finish_source(&cfg->inriver);
	free(cfg->mirakl_base_url);
	free_secret(cfg->mirakl_api_key);
	free(cfg->mirakl_shop_id);
	free(cfg->khaos_transport);
	free(cfg->khaos_soap_url);
	free(cfg->khaos_soap_namespace);
	free_secret(cfg->khaos_soap_user);
	free_secret(cfg->khaos_soap_password);
	free(cfg->khaos_site);
	free(cfg->khaos_sales_source);
	free(cfg->khaos_company_class);
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
