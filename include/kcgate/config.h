/**
 * kcgate/config.h: the configuration file.
 *
 * An INI file: `[section]`, `key = value`, `#` comments (whole lines, or after
 * whitespace). Every key is described by one table in config.c (section,
 * key, type, bounds, default, where it lands in struct kcg_config); that
 * table is the only place a key exists. Loading collects *every* error as
 * `FILE:LINE: [section] key: reason` instead of stopping at the first. A
 * problem with a key that is present (also one about a combination, e.g.
 * plain HTTP on a non-loopback listen) is reported on that key's line; line 0
 * means a missing key (required, or needed by the webhook_auth mode) or the
 * file as a whole. Problems not about one key drop that part:
 * `FILE:LINE: [section]: reason` or `FILE:LINE: reason`.
 *
 * Secrets (the admin token, webhook secrets, tokens and passwords) are
 * references: `env:NAME` reads the environment variable, `file:PATH` reads a
 * file (trailing newline stripped). A literal value is accepted with a
 * warning. Resolved secrets live only in memory and are never logged.
 */
#ifndef KCGATE_CONFIG_H
#define KCGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum kcg_webhook_auth {
	KCG_AUTH_UNSET = 0,  /**< not configured: an error at load time */
	KCG_AUTH_STANDARD,   /**< Standard Webhooks HMAC-SHA256 signatures */
	KCG_AUTH_TOKEN,      /**< a shared token in a header */
	KCG_AUTH_BASIC,      /**< HTTP Basic */
	KCG_AUTH_NONE,       /**< no authentication (explicit only; warned about) */
};

enum kcg_log_level { KCG_LOG_DEBUG, KCG_LOG_INFO, KCG_LOG_WARN, KCG_LOG_ERROR };

#define KCG_MAX_SECRETS 4 /**< whsec_ secrets accepted at once (rotation) */

/** How one webhook source ([mirakl] or [inriver]) authenticates its calls. */
struct kcg_source_auth {
	enum kcg_webhook_auth mode;
	/* standard: decoded HMAC keys from one or more `whsec_<base64>` values
	 * separated by spaces in webhook_secret (several = rotation) */
	unsigned char secrets[KCG_MAX_SECRETS][64];
	size_t secret_lens[KCG_MAX_SECRETS];
	size_t n_secrets;
	uint64_t tolerance_s;   /**< allowed clock skew of webhook-timestamp */
	char *token;            /**< token: the expected header value */
	char *token_header;     /**< token: the header name (default X-Webhook-Token) */
	char *user;             /**< basic */
	char *password;         /**< basic */
};

struct kcg_config {
	char *path; /**< the file this was loaded from */

	/* [server] */
	char *listen_host;          /**< from listen = host:port ([v6] allowed) */
	uint16_t listen_port;
	char *tls_cert;             /**< PEM path, or NULL for plain HTTP (loopback only) */
	char *tls_key;
	uint64_t threads;
	uint64_t max_body_bytes;
	uint64_t max_header_bytes;
	uint64_t max_connections;
	uint64_t connection_timeout_s;
	uint64_t shutdown_timeout_s;
	enum kcg_log_level log_level;
	uint64_t header_timeout_s;      /**< accept (or the previous answer) to the end of the headers */
	uint64_t handshake_timeout_s;   /**< accept to the first request line (TLS handshake included) */
	uint64_t max_connections_per_ip; /**< 0 = no limit */
	uint64_t health_reserve;        /**< connections beyond max_connections kept for /health/ */
	char *tls_priorities;           /**< GnuTLS priority string */
	char *trusted_proxies;          /**< addresses/CIDRs whose X-Forwarded-For is believed, or NULL */
	uint64_t admin_auth_burst;      /**< admin 401s per address before 429; 0 = no limit */
	uint64_t admin_auth_interval_s; /**< one more admin failure allowed per this many seconds */

	/* [store] */
	char *store_path;
	uint64_t map_size_mb;
	uint64_t dedupe_ttl_h;
	uint64_t max_batch;         /**< most requests committed in one transaction */
	uint64_t queue_limit;       /**< most requests waiting for the writer */

	/* [admin] */
	char *admin_token;

	/* [mirakl], [inriver]: webhook authentication */
	struct kcg_source_auth mirakl;
	struct kcg_source_auth inriver;

	/* [mirakl]: the seller API (the order flow runs only when both
	 * mirakl.base_url and khaos.soap_url are set) */
	char *mirakl_base_url;          /**< everything before /api/..., no trailing slash */
	char *mirakl_api_key;           /**< secret; required with base_url */
	char *mirakl_shop_id;           /**< optional */
	uint64_t mirakl_timeout_s;
	uint64_t mirakl_poll_interval_s;   /**< OR11 poll; never below 60 */
	uint64_t mirakl_poll_overlap_s;    /**< start_update_date = watermark - overlap */
	uint64_t mirakl_acceptance_window_h;
	uint64_t mirakl_acceptance_alert_h;

	/* [khaos] */
	char *khaos_transport;          /**< "soap" (the only one so far) */
	char *khaos_soap_url;           /**< the full .../soap/IKosWeb endpoint */
	char *khaos_soap_namespace;
	char *khaos_soap_user;          /**< secret, optional (with soap_password) */
	char *khaos_soap_password;
	char *khaos_site;
	char *khaos_sales_source;
	char *khaos_company_class;      /**< optional */
	uint64_t khaos_timeout_s;
	uint64_t khaos_sku_refresh_s;   /**< SKU cache refresh period */

	/* [jobs] */
	uint64_t jobs_max_age_h;        /**< retry horizon: a job older than this dies */
	uint64_t jobs_retry_base_ms;    /**< first backoff; doubles per attempt (+-20% jitter) */
	uint64_t jobs_retry_max_s;      /**< backoff ceiling */
	uint64_t jobs_breaker_failures; /**< consecutive failures that open a lane's breaker */
	uint64_t jobs_breaker_cooldown_s;
	uint64_t jobs_max_reply_bytes;  /**< longest peer answer read */

	/* [lanes]: concurrent calls per target system */
	uint64_t lane_mirakl;
	uint64_t lane_khaos;
	uint64_t lane_inriver;
};

/** True when the configuration enables the Mirakl -> Khaos order flow. */
#define KCG_CONFIG_FLOWS(cfg) ((cfg)->mirakl_base_url && (cfg)->khaos_soap_url)

/**
 * Reads and validates @p path into @p cfg (which the caller zeroes first).
 * Every error is appended as one line ("FILE:LINE: [section] key: reason\n")
 * to the malloc'd string *@p errors, every warning likewise to *@p warnings;
 * the caller frees both (either may stay NULL).
 * @return 0 when there were no errors, KCG_ECONFIG when there were some
 * (cfg is then partly filled: call kcg_config_finish() anyway), -ENOMEM.
 */
int kcg_config_load(const char *path, struct kcg_config *cfg, char **errors, char **warnings);

/**
 * Same as kcg_config_load() but from an in-memory buffer; @p name is used
 * in messages (and relative secret paths are read as given). For tests and
 * the fuzzer.
 */
int kcg_config_parse(const char *name, const char *text, size_t len, struct kcg_config *cfg,
		     char **errors, char **warnings);

/** Frees everything @p cfg owns (wiping secrets) and zeroes it. NULL-safe. */
void kcg_config_finish(struct kcg_config *cfg);

/** "standard", "token", "basic", "none" or "unset". */
const char *kcg_webhook_auth_name(enum kcg_webhook_auth mode);

#endif
