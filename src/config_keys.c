/*
 * config_keys.c: the core's configuration keys (every section but the
 * flows' own keys, which each flow declares next to its code) and the
 * checks that involve several of them. The parser is config.c.
 */
#include "config_private.h"

#include "kcgate/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>

/* TLS 1.2 and 1.3, ECDHE key exchange only (forward secrecy: no static RSA,
 * no finite-field DHE), AEAD ciphers only. */
#define DEFAULT_TLS_PRIORITIES \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-DHE-RSA:-DHE-DSS:-CIPHER-ALL:" \
	"+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:%SERVER_PRECEDENCE"

static const struct kcg_config_choice auth_choices[] = {
	{ "standard", KCG_AUTH_STANDARD },
	{ "token", KCG_AUTH_TOKEN },
	{ "basic", KCG_AUTH_BASIC },
	{ "none", KCG_AUTH_NONE },
	{ NULL, 0 },
};

static const struct kcg_config_choice country_choices[] = {
	{ "alpha3", KCG_KHAOS_ALPHA3 },
	{ "alpha2", KCG_KHAOS_ALPHA2 },
	{ NULL, 0 },
};

static const struct kcg_config_choice boolean_choices[] = {
	{ "minus_one", KCG_KHAOS_MINUS_ONE },
	{ "true_false", KCG_KHAOS_TRUE_FALSE },
	{ NULL, 0 },
};

static const struct kcg_config_choice log_choices[] = {
	{ "debug", KCG_LOG_DEBUG },
	{ "info", KCG_LOG_INFO },
	{ "warn", KCG_LOG_WARN },
	{ "error", KCG_LOG_ERROR },
	{ NULL, 0 },
};

static const char *check_header_name(const char *v);
static const char *check_user(const char *v);
static const char *check_header_value(const char *v);
static const char *check_digits(const char *v);
static const char *check_site_id(const char *v);
static const char *check_ref_prefix(const char *v);
static const char *check_transport(const char *v);
static const char *check_namespace(const char *v);
static const char *check_priorities(const char *v);
static const char *check_proxies(const char *v);

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
	KCG_KEY_REQUIRED("server", "listen", server.listen_host, KCG_CFG_LISTEN),
	KCG_KEY_STR("server", "tls_cert", server.tls_cert, KCG_CFG_FILE, NULL, NULL),
	KCG_KEY_STR("server", "tls_key", server.tls_key, KCG_CFG_FILE, NULL, NULL),
	KCG_KEY_U64("server", "threads", server.threads, "4", 1, 64),
	KCG_KEY_U64("server", "max_body_bytes", server.max_body_bytes, "1048576", 1, 67108864),
	KCG_KEY_U64("server", "max_header_bytes", server.max_header_bytes, "16384", 1024, 1048576),
	KCG_KEY_U64("server", "max_connections", server.max_connections, "1024", 1, 65536),
	KCG_KEY_U64("server", "connection_timeout_s", server.connection_timeout_s, "30", 1, 3600),
	KCG_KEY_U64("server", "shutdown_timeout_s", server.shutdown_timeout_s, "10", 0, 3600),
	KCG_KEY_ENUM("server", "log_level", server.log_level, "info", log_choices),
	/* hostile clients: deadlines, per-address and health slots, TLS, proxies, admin 401s */
	KCG_KEY_U64("server", "header_timeout_s", server.header_timeout_s, "10", 1, 300),
	KCG_KEY_U64("server", "handshake_timeout_s", server.handshake_timeout_s, "5", 1, 60),
	KCG_KEY_U64("server", "body_timeout_s", server.body_timeout_s, "30", 1, 3600),
	KCG_KEY_U64("server", "max_connections_per_ip", server.max_connections_per_ip, "0", 0, 65536),
	KCG_KEY_U64("server", "health_reserve", server.health_reserve, "8", 0, 1024),
	KCG_KEY_STR("server", "tls_priorities", server.tls_priorities, KCG_CFG_STRING, DEFAULT_TLS_PRIORITIES,
		    check_priorities),
	KCG_KEY_STR("server", "trusted_proxies", server.trusted_proxies, KCG_CFG_STRING, NULL, check_proxies),
	KCG_KEY_U64("server", "admin_auth_burst", server.admin_auth_burst, "20", 0, 100000),
	KCG_KEY_U64("server", "admin_auth_interval_s", server.admin_auth_interval_s, "3", 1, 3600),

	KCG_KEY_REQUIRED("store", "path", store.path, KCG_CFG_PATH),
	KCG_KEY_U64("store", "map_size_mb", store.map_size_mb, "1024", 1, 1048576),
	KCG_KEY_U64("store", "dedupe_ttl_h", store.dedupe_ttl_h, "72", 1, 8760),
	KCG_KEY_U64("store", "max_batch", store.max_batch, "256", 1, 65536),
	KCG_KEY_U64("store", "queue_limit", store.queue_limit, "4096", 1, 1048576),
	KCG_KEY_U64("store", "retention_days", store.retention_days, "30", 0, 36500),
	KCG_KEY_U64("store", "sweep_batch", store.sweep_batch, "500", 10, 100000),

	{ .section = "admin", .name = "token", .type = KCG_CFG_SECRET, .required = true, .min = 16,
	  .offset = KCG_CONFIG_OFF(admin.token), .check = check_header_value },

	KCG_KEY_U64("console", "session_ttl_min", console.session_ttl_min, "480", 5, 10080),
	KCG_KEY_U64("console", "max_sessions", console.max_sessions, "32", 1, 1024),

	SOURCE_KEYS(mirakl),
	SOURCE_KEYS(inriver),

	/* the seller API; api_key goes into the Authorization header as is */
	KCG_KEY_STR("mirakl", "base_url", mirakl.base_url, KCG_CFG_URL, NULL, NULL),
	KCG_KEY_SECRET("mirakl", "api_key", mirakl.api_key, 1, check_header_value),
	KCG_KEY_STR("mirakl", "shop_id", mirakl.shop_id, KCG_CFG_STRING, NULL, check_digits),
	KCG_KEY_U64("mirakl", "timeout_s", mirakl.timeout_s, "30", 1, 300),

	/* the namespace, credentials, boolean and country encodings are
	 * unconfirmed (shared/ref/khaos/FACTS.md §5): configurable */
	KCG_KEY_STR("khaos", "transport", khaos.transport, KCG_CFG_STRING, "soap", check_transport),
	KCG_KEY_STR("khaos", "soap_url", khaos.soap_url, KCG_CFG_URL, NULL, NULL),
	KCG_KEY_STR("khaos", "soap_namespace", khaos.soap_namespace, KCG_CFG_STRING, "auto", check_namespace),
	KCG_KEY_SECRET("khaos", "soap_user", khaos.soap_user, 1, kcg_config_check_text),
	KCG_KEY_SECRET("khaos", "soap_password", khaos.soap_password, 1, kcg_config_check_text),
	KCG_KEY_STR("khaos", "site", khaos.site, KCG_CFG_STRING, NULL, kcg_config_check_text),
	KCG_KEY_STR("khaos", "sales_source", khaos.sales_source, KCG_CFG_STRING, NULL, kcg_config_check_text),
	KCG_KEY_STR("khaos", "company_class", khaos.company_class, KCG_CFG_STRING, NULL, kcg_config_check_text),
	KCG_KEY_STR("khaos", "order_ref_prefix", khaos.order_ref_prefix, KCG_CFG_STRING, NULL, check_ref_prefix),
	KCG_KEY_STR("khaos", "stock_site_id", khaos.stock_site_id, KCG_CFG_STRING, NULL, check_site_id),
	KCG_KEY_ENUM("khaos", "country_format", khaos.country_format, "alpha3", country_choices),
	KCG_KEY_ENUM("khaos", "booleans", khaos.booleans, "minus_one", boolean_choices),
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
	KCG_KEY_U64("lanes", "alerts", lanes.alerts, "2", 1, 16),
	KCG_KEY_U64("lanes", "mirakl_stock", lanes.mirakl_stock, "1", 1, 4),
	KCG_KEY_U64("lanes", "inriver_push", lanes.inriver_push, "2", 1, 64),
	KCG_KEY_U64("lanes", "alerts_mail", lanes.alerts_mail, "2", 1, 16),
};

static void core_checks(struct kcg_config_check *c, const struct kcg_config *cfg);

const struct kcg_config_keys config_core_keys = {
	core_keys, sizeof(core_keys) / sizeof(core_keys[0]), core_checks
};

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

/* Khaos's SiteID: an integer, -1 meaning every site. */
static const char *check_site_id(const char *v)
{
	uint64_t n;
	if (strcmp(v, "-1") == 0 || kcg_parse_u64(v, 0, INT32_MAX, &n) == 0)
		return NULL;
	return "expected a Khaos site id (a whole number) or -1 (all sites)";
}

/* Part of ASSOCIATED_REF: short, printable, no comma (refs travel as CSV). */
static const char *check_ref_prefix(const char *v)
{
	if (strlen(v) >= 15)
		return "too long: ASSOCIATED_REF (prefix + order id) is at most 15 characters";
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == ',')
			return "expected printable ASCII without spaces or commas";
	return NULL;
}

/* "auto" (from the WSDL), or an XML namespace name: a URI, a scheme, no
 * whitespace or quotes. */
static const char *check_namespace(const char *v)
{
	if (strcmp(v, "auto") == 0)
		return NULL;
	const char *colon = strchr(v, ':');
	bool ok = colon && colon != v;
	for (const char *c = v; *c && ok; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || strchr("\"'<>&", *c))
			ok = false;
	return ok ? NULL : "expected auto or a URI without whitespace, e.g. urn:IKosWebIntf-IKosWeb";
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

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
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

	config_webhook_checks(c);

	/* A replay inside the signature's tolerance must still meet its dedupe
	 * key: a key lives dedupe_ttl_h from first sight, a signed request is
	 * accepted tolerance_s either side of its timestamp, so a capture can
	 * be replayed up to 2 * tolerance_s after it was first delivered. */
	uint64_t ttl_s = cfg->store.dedupe_ttl_h * 3600;
	const struct {
		const char *name;
		const struct kcg_source_auth *src;
	} srcs[] = { { "mirakl", &cfg->mirakl.webhook }, { "inriver", &cfg->inriver.webhook } };
	for (size_t i = 0; i < 2; i++) {
		const struct kcg_source_auth *src = srcs[i].src;
		if (src->mode != KCG_AUTH_STANDARD || !ttl_s || !src->tolerance_s || 2 * src->tolerance_s <= ttl_s)
			continue;
		if (kcg_config_line(c, &src->tolerance_s))
			kcg_config_error(c, &src->tolerance_s,
					 "must be at most half of [store] dedupe_ttl_h (%" PRIu64 " s): a replayed "
					 "webhook would outlive its dedupe key",
					 ttl_s / 2);
		else
			kcg_config_error(c, &cfg->store.dedupe_ttl_h,
					 "must be at least twice [%s] webhook_tolerance_s (%" PRIu64 " s, the default): "
					 "a replayed webhook would outlive its dedupe key",
					 srcs[i].name, src->tolerance_s);
	}


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

const char *kcg_config_type_name(enum kcg_config_type type)
{
	static const char *const names[] = { "string", "path", "file", "url", "number",
					     "enum", "secret", "whsec", "listen", "map" };
	return (size_t)type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}
