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
 *
 * A reload (SIGHUP, kcg_config_reload()) swaps a secret whose value
 * changed while the process runs, so every KCG_CFG_SECRET field is an
 * atomic pointer: a reader loads it ONCE per use into a local (two loads
 * may see two values). The value it replaced stays allocated until the
 * configuration is finished, so a reader's pointer never dangles.
 */
#ifndef KCGATE_CONFIG_H
#define KCGATE_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
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
	char *_Atomic token;    /**< token: the expected header value (a secret: see below) */
	char *token_header;     /**< token: the header name (default X-Webhook-Token) */
	char *user;             /**< basic */
	char *_Atomic password; /**< basic */
};

/* One struct per section; each key of the section is a field of it. */

struct kcg_server_config {
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
	uint64_t body_timeout_s;        /**< end of the headers to the end of the body */
	uint64_t max_connections_per_ip; /**< 0 = no limit */
	uint64_t health_reserve;        /**< connections beyond max_connections kept for /health/ */
	char *tls_priorities;           /**< GnuTLS priority string */
	char *trusted_proxies;          /**< addresses/CIDRs whose X-Forwarded-For is believed, or NULL */
	uint64_t admin_auth_burst;      /**< admin 401s per address before 429; 0 = no limit */
	uint64_t admin_auth_interval_s; /**< one more admin failure allowed per this many seconds */
};

struct kcg_store_config {
	char *path;
	uint64_t map_size_mb;
	uint64_t dedupe_ttl_h;
	uint64_t max_batch;         /**< most requests committed in one transaction */
	uint64_t queue_limit;       /**< most requests waiting for the writer */
	uint64_t retention_days;    /**< events and finished records older than this are deleted; 0 = keep all */
	uint64_t sweep_batch;       /**< most deletions per sweep transaction */
};

struct kcg_admin_config {
	char *_Atomic token;
};

/** [console]: the operations console's sign-in sessions (kcgate/session.h). */
struct kcg_console_config {
	uint64_t session_ttl_min;   /**< a session ends this long after its sign-in */
	uint64_t max_sessions;      /**< live sessions at most; signing in past it ends the oldest */
};

/** [mirakl] stock_rate_limits: whose call limits the stock flow keeps. */
enum kcg_rate_limits {
	KCG_RATE_MIRAKL, /**< Mirakl's: STO01 at most once a minute, STO02 every 15 s (the default) */
	KCG_RATE_SIM,    /**< kcgate-sim's, for tests only: the floors drop to 1 s (warned at start) */
};

/** [mirakl]: webhook authentication and the seller API. */
/** [mirakl] order_tax_mode: the price mode OR11 is asked for. */
enum kcg_tax_mode {
	KCG_TAX_PLATFORM, /**< not sent: the platform's default mode */
	KCG_TAX_INCLUDED, /**< order_tax_mode=TAX_INCLUDED */
	KCG_TAX_EXCLUDED, /**< order_tax_mode=TAX_EXCLUDED */
};

struct kcg_mirakl_config {
	struct kcg_source_auth webhook;
	char *base_url;             /**< everything before /api/..., no trailing slash */
	char *_Atomic api_key;      /**< secret; required with base_url */
	char *shop_id;              /**< optional */
	uint64_t timeout_s;
	/* the order flow's keys (declared in src/flows/orders.c) */
	int order_tax_mode;         /**< enum kcg_tax_mode: asked of every OR11 */
	uint64_t poll_interval_s;   /**< OR11 poll; never below 60 */
	uint64_t poll_overlap_s;    /**< start_update_date = watermark - overlap */
	uint64_t poll_max_pages;    /**< most OR11 pages one poll reads; the rest waits for the next poll */
	uint64_t first_poll_lookback_h; /**< the first poll (no watermark) reads orders updated this far back */
	uint64_t acceptance_window_h;
	uint64_t acceptance_alert_h;
	/* the stock flow's keys (declared in src/flows/stock.c) */
	uint64_t stock_flush_interval_s; /**< at most one STO01 per this; never below 60 against Mirakl */
	enum kcg_rate_limits stock_rate_limits;
};

/** [orders] book_when: when an accepted order is booked in Khaos. */
enum kcg_book_when {
	KCG_BOOK_SHIPPING, /**< the order reached SHIPPING or later (paid, address visible) */
	KCG_BOOK_ACCEPTED, /**< past WAITING_ACCEPTANCE with a shipping address */
};

/**
 * A map section: arbitrary keys (letters, digits, '_', '-', '.'), each to a
 * value, e.g. [shipping_methods] (Mirakl shipping_type_code -> Khaos
 * courier code). Immutable once loaded: a reload (SIGHUP) publishes a new
 * map and chains the one it replaces behind it (@c older), so a reader
 * that loaded the old pointer may keep using it; the chain is freed with
 * the config (kcg_config_finish()). Reloads are rare and maps small.
 */
struct kcg_config_map {
	size_t n;
	struct kcg_config_map_entry {
		char *key;
		char *value;
		unsigned line;          /**< where it was set */
	} *entries;                 /**< in file order */
	struct kcg_config_map *older; /**< replaced by a reload, kept until the config is finished */
};

/** The value of @p key in @p m, or NULL (also when @p m is NULL). */
const char *kcg_config_map_get(const struct kcg_config_map *m, const char *key);

/** [orders] on_short_stock: an order Khaos's available level cannot cover. */
enum kcg_short_stock {
	KCG_SHORT_HOLD,   /**< held with a short_stock exception; a person decides */
	KCG_SHORT_REFUSE, /**< OR21 refuses the short lines, accepts the rest */
};

/** [orders] on_partial_disabled: Mirakl answered ORDER_PARTIAL_ACCEPTANCE_DISABLED. */
enum kcg_partial_disabled {
	KCG_PARTIAL_HOLD,   /**< the whole order held (short_stock) */
	KCG_PARTIAL_REFUSE, /**< the whole order refused (OR21, every line) */
};

/** [orders]: the order flow's life (keys declared in src/flows/orders.c). */
struct kcg_orders_config {
	enum kcg_book_when book_when;
	uint64_t book_alert_min;    /**< missing_in_khaos this long after the booking point */
	uint64_t import_refused_after_s; /**< the same ImportOrders fault for this long (3 times at least) is a refusal */
	/** [shipping_methods] (Mirakl shipping_type_code -> Khaos COURIER_CODE)
	 * and [khaos.tax_rates] (Mirakl tax code -> Khaos TAX_RATE code): NULL
	 * when the section is absent. Swapped by a reload: read them with
	 * atomic_load(), once per use. */
	struct kcg_config_map *_Atomic shipping_methods;
	struct kcg_config_map *_Atomic tax_rates;
	int accept_requires_stock;  /**< 1: Khaos's available level, less what kcgate reserved, must cover each line */
	enum kcg_short_stock on_short_stock;
	enum kcg_partial_disabled on_partial_disabled;
};

/** [despatch] mode: how Khaos's despatches reach Mirakl. */
enum kcg_despatch_mode {
	KCG_DESPATCH_MODE_ORDER,     /**< OR23 + OR24 once every line is sent */
	KCG_DESPATCH_MODE_SHIPMENTS, /**< ST01, one shipment per box or invoice as it goes */
};

/** [despatch] and [carriers]: Khaos despatches into Mirakl (flows/despatch.h). */
struct kcg_despatch_config {
	int enabled;                /**< 1 (default): runs with the order flow */
	uint64_t poll_interval_s;   /**< ExportOrderStatusEx by date range, this often */
	uint64_t poll_overlap_s;    /**< each poll starts this long before the last one's end */
	uint64_t first_lookback_h;  /**< a first poll (no watermark) looks back this far */
	uint64_t recheck_h;         /**< a booked order no poll covered for this long is read by ref */
	uint64_t recheck_batch;     /**< refs per by-ref read */
	enum kcg_despatch_mode mode;
	uint64_t deadline_alert_h;  /**< shipping_deadline this long before Mirakl's shipping_deadline */
	uint64_t watch_interval_s;  /**< the watch (SH21's age, the safety net, deadlines), this often */
	/** [carriers] (Khaos courier, as Khaos writes it -> Mirakl carrier code,
	 * or "name:<carrier name>[|<tracking URL template>]"): NULL when the
	 * section is absent. Swapped by a reload: atomic_load() once per use. */
	struct kcg_config_map *_Atomic carriers;
};

/** [inriver]: webhook (listener) authentication, and the PIM flow's REST
 * client and life (keys declared in src/flows/inriver.c). */
struct kcg_inriver_config {
	struct kcg_source_auth webhook;
	char *base_url;             /**< everything before /api/v1.0.0/..., no trailing slash; NULL: the flow is off */
	char *api_key;              /**< secret (X-inRiver-APIKey); required with base_url */
	char *entity_type;          /**< the entity type carrying the SKU (Item) */
	char *sku_field;            /**< the field holding the Khaos stock code (ItemNumber) */
	uint64_t timeout_s;
	int listen;                 /**< 1: listener events drive it; 0: the LastModified poll does */
	uint64_t poll_interval_s;   /**< the poll's period (listen = false) */
	uint64_t write_interval_s;  /**< at most one write per item per this */
	int create_missing_items;   /**< 1: a Khaos code with no item gets one; 0: unlinked_sku */
	uint64_t audit_interval_s;  /**< the mapping audit's period (daily) */
	uint64_t max_items;         /**< most entity ids one query answer may hold */
	int price_from;             /**< 0: SELL_PRICE, 1: WEBSELL_PRICE (ExportStockStatus) */
	uint64_t echo_window_s;     /**< how long after a PUT its EntityUpdated counts as kcgate's own echo */
	/* [inriver.fields]: the inriver field of each Khaos-owned value; NULL = never written */
	char *field_khaos_status;   /**< OK / UNKNOWN_STOCK_CODE / DISCONTINUED */
	char *field_available;      /**< Khaos's available level */
	char *field_price;          /**< Khaos's price ([inriver] price_from) */
	char *field_last_sync;      /**< when kcgate last wrote the item (ISO-8601 UTC) */
};

/** [khaos] country_format: how ICOUNTRY_CODE/DCOUNTRY_CODE are sent. */
enum kcg_khaos_country {
	KCG_KHAOS_ALPHA3, /**< ISO 3166-1 alpha-3 (`GBR`): Khaos documents 3-letter codes */
	KCG_KHAOS_ALPHA2, /**< alpha-2 (`GB`) */
};

/** [khaos] booleans: how Boolean parameters are sent. */
enum kcg_khaos_booleans {
	KCG_KHAOS_MINUS_ONE,  /**< -1 / 0, as the guide writes them */
	KCG_KHAOS_TRUE_FALSE, /**< true / false (xsd:boolean) */
};

/** [khaos]: the Khaos Control web service. */
struct kcg_khaos_config {
	char *transport;            /**< "soap" (the only one so far) */
	char *soap_url;             /**< the full .../soap/IKosWeb endpoint */
	char *soap_namespace;       /**< "auto" (read from the WSDL at start), or the namespace itself */
	char *_Atomic soap_user;    /**< secret, optional (with soap_password) */
	char *_Atomic soap_password;
	char *site;
	char *sales_source;
	char *company_class;        /**< optional */
	char *order_ref_prefix;     /**< ASSOCIATED_REF = prefix + Mirakl order_id; "" by default */
	char *stock_site_id;        /**< ExportStockStatus SiteID (an integer, -1 = all sites); NULL = Khaos's default site */
	enum kcg_khaos_country country_format;
	enum kcg_khaos_booleans booleans;
	uint64_t timeout_s;
	/* the SKU cache's keys (declared in src/flows/skus.c) */
	uint64_t sku_refresh_s;     /**< SKU cache refresh period */
	uint64_t stock_list_interval_s; /**< GetStockList period (skus.revised), when a flow wants revised codes */
};

/** [stock] uncontrolled_quantity for STATUS 5: leave the offer alone, or this quantity. */
#define KCG_STOCK_LEAVE (-1)

/** [stock]: Khaos stock to Mirakl (keys declared in src/flows/stock.c). */
struct kcg_stock_config {
	int enabled;                /**< 1: the flow runs (with [mirakl] base_url and [khaos] soap_url) */
	uint64_t poll_interval_s;   /**< ExportStockStatus changes-only poll */
	uint64_t poll_overlap_s;    /**< LastUpdated = watermark - overlap */
	char *sites;                /**< SiteID: an integer, -1 = all; NULL = [khaos] stock_site_id */
	uint64_t max_answer_mb;     /**< longest ExportStockStatus answer read */
	uint64_t buffer;            /**< held back from every SKU's figure */
	int include_build_potential; /**< 1: LEVEL + BUILD_POTENTIAL_CHILDREN */
	char *uncontrolled_quantity; /**< "leave" or an integer, for STATUS 5 */
	uint64_t stale_after_s;     /**< stock_sync_stale past this age */
	uint64_t drift_check_interval_s;
	uint64_t drift_page_delay_ms; /**< pause between two OF21 pages */
	int require_inriver_link;   /**< 1: publishable only when linked in inriver (declared in src/flows/inriver.c) */
	/** [stock.buffers] (stock code -> buffer) and [stock.warehouses] (Khaos
	 * site id -> Mirakl warehouse-code): NULL when absent. Read with atomic_load(). */
	struct kcg_config_map *_Atomic buffers;
	struct kcg_config_map *_Atomic warehouses;
};

struct kcg_jobs_config {
	uint64_t max_age_h;         /**< retry horizon: a job older than this dies */
	uint64_t retry_base_ms;     /**< first backoff; doubles per attempt (+-20% jitter) */
	uint64_t retry_max_s;       /**< backoff ceiling */
	uint64_t breaker_failures;  /**< consecutive failures that open a lane's breaker */
	uint64_t breaker_cooldown_s;
	uint64_t max_reply_bytes;   /**< longest peer answer read */
};

/** [lanes]: concurrent calls per target system. */
struct kcg_lanes_config {
	uint64_t mirakl;
	uint64_t khaos;
	uint64_t inriver;
	uint64_t alerts;            /**< alert webhook posts sent at once */
	uint64_t mirakl_stock;  /**< the stock imports' own lane (STO01-03, OF21) */
	uint64_t inriver_push;  /**< Khaos -> inriver field writes: low priority, apart from listener work */
	uint64_t alerts_mail;   /**< alert mails sent at once: their own lane, apart from the webhook */
};

/** [alerts] and [alerts.mail_to]: who is told what broke (keys declared
 * in src/alerts.c, the story in kcgate/alerts.h). */
struct kcg_alerts_config {
	char *_Atomic webhook_url;  /**< secret (it is the credential); NULL = no webhook */
	int webhook_format;         /**< enum kcg_alert_format (alerts.h) */
	char *smtp_url;             /**< smtp:// or smtps://host[:port]; NULL = no mail */
	char *_Atomic smtp_user;    /**< secret, optional (with smtp_password) */
	char *_Atomic smtp_password;
	char *mail_from;            /**< "addr" or "Name <addr>" */
	/** [alerts.mail_to]: team -> comma-separated addresses; NULL when the
	 * section is absent. Swapped by a reload: atomic_load() once per use. */
	struct kcg_config_map *_Atomic mail_to;
	int min_severity;           /**< enum kcg_exc_severity */
	char *repeat_h;             /**< hours, fractions allowed; "0" = never */
	char *digest_at;            /**< local "HH:MM[:SS]" or "off" */
	uint64_t delay_s;           /**< an exception is sent only if still open this long after its raise */
	uint64_t timeout_s;         /**< one webhook post or one mail */
	uint64_t max_attempts;      /**< a send dies after this many failed attempts */
	uint64_t coalesce_s;        /**< per-SKU kinds: at most one alert per (kind, team) this often, the rest summed up */
};

struct kcg_config {
	char *path; /**< the file this was loaded from */
	struct kcg_server_config server;
	struct kcg_store_config store;
	struct kcg_admin_config admin;
	struct kcg_console_config console;
	struct kcg_mirakl_config mirakl;
	struct kcg_inriver_config inriver;
	struct kcg_khaos_config khaos;
	struct kcg_jobs_config jobs;
	struct kcg_lanes_config lanes;
	struct kcg_orders_config orders;
	struct kcg_despatch_config despatch;
	struct kcg_alerts_config alerts;
	struct kcg_stock_config stock;
	struct kcg_config_map *retired; /**< maps whose section a reload removed (chained by older) */
	char **retired_secrets;     /**< secret values a reload replaced (wiped and freed by finish) */
	size_t n_retired_secrets;
};

/*
 * The key table. Core keys live in config.c; a flow declares its own keys
 * (struct kcg_flow.config) next to its code. A row is built with one of the
 * KCG_KEY_* macros below; kcg_config_finish() frees each by its type.
 */
enum kcg_config_type {
	KCG_CFG_STRING,  /**< char *, optionally checked */
	KCG_CFG_PATH,    /**< char *, any path (the store directory is created later) */
	KCG_CFG_FILE,    /**< char *, a path that must be a readable regular file now */
	KCG_CFG_URL,     /**< char *, http(s) URL without query or fragment; trailing '/' stripped */
	KCG_CFG_U64,     /**< uint64_t within min..max */
	KCG_CFG_ENUM,    /**< an enum (int-sized) from choices */
	KCG_CFG_SECRET,  /**< char *, an env:/file:/literal reference, resolved; min = shortest */
	KCG_CFG_WHSEC,   /**< struct kcg_source_auth: secret of whsec_ keys, decoded */
	KCG_CFG_LISTEN,  /**< server.listen_host + server.listen_port */
	KCG_CFG_MAP,     /**< a whole section of arbitrary keys: struct kcg_config_map *_Atomic; check() per value */
};

struct kcg_config_choice {
	const char *name;
	int value;
};

struct kcg_config_key {
	const char *section;
	const char *name;
	enum kcg_config_type type;
	bool required;
	const char *def;                 /**< default, parsed like a value from the file */
	uint64_t min, max;               /**< U64 bounds; SECRET: min = shortest length */
	size_t offset;                   /**< of the field in struct kcg_config */
	const struct kcg_config_choice *choices; /**< ENUM: NULL-terminated */
	/** Extra validation: a reason (never containing the value) or NULL. */
	const char *(*check)(const char *value);
	/** [mirakl]/[inriver]: the webhook_auth mode that uses this key. */
	enum kcg_webhook_auth needs;
	/** MAP: keys as a peer writes them (printable, spaces inside), not
	 * just letters, digits, '_', '-', '.'. */
	bool free_keys;
};

#define KCG_CONFIG_OFF(field) offsetof(struct kcg_config, field)
#define KCG_KEY_U64(sec, key, field, dflt, lo, hi) \
	{ .section = (sec), .name = (key), .type = KCG_CFG_U64, .def = (dflt), .min = (lo), .max = (hi), \
	  .offset = KCG_CONFIG_OFF(field) }
#define KCG_KEY_STR(sec, key, field, kind, dflt, chk) \
	{ .section = (sec), .name = (key), .type = (kind), .def = (dflt), .offset = KCG_CONFIG_OFF(field), \
	  .check = (chk) }
#define KCG_KEY_ENUM(sec, key, field, dflt, list) \
	{ .section = (sec), .name = (key), .type = KCG_CFG_ENUM, .def = (dflt), .offset = KCG_CONFIG_OFF(field), \
	  .choices = (list) }
/** A key with no default that must be in the file. */
#define KCG_KEY_REQUIRED(sec, key, field, kind) \
	{ .section = (sec), .name = (key), .type = (kind), .required = true, .offset = KCG_CONFIG_OFF(field) }
#define KCG_KEY_SECRET(sec, key, field, shortest, chk) \
	{ .section = (sec), .name = (key), .type = KCG_CFG_SECRET, .min = (shortest), \
	  .offset = KCG_CONFIG_OFF(field), .check = (chk) }

/** A map section (its row's name is "*"): every key of @p sec lands in a
 * struct kcg_config_map; @p chk checks each value. Reloadable (SIGHUP). */
#define KCG_KEY_MAP(sec, field, chk) \
	{ .section = (sec), .name = "*", .type = KCG_CFG_MAP, .offset = KCG_CONFIG_OFF(field), .check = (chk) }
/** A map section whose keys are a peer's names, spaces included
 * ("Royal Mail 48 = RM"). */
#define KCG_KEY_MAP_FREE(sec, field, chk) \
	{ .section = (sec), .name = "*", .type = KCG_CFG_MAP, .offset = KCG_CONFIG_OFF(field), .check = (chk), \
	  .free_keys = true }

/** The parser as a module's combination checks see it. */
struct kcg_config_check;

/** A module's keys and the checks that involve several of them. */
struct kcg_config_keys {
	const struct kcg_config_key *keys;
	size_t n_keys;
	/** Optional: run after every key has its value or default. A key given
	 * with a bad value was reported already and left its field NULL or 0. */
	void (*check)(struct kcg_config_check *c, const struct kcg_config *cfg);
};

/** The line @p field (a field of the config being checked) was set on; 0 = not in the file. */
unsigned kcg_config_line(const struct kcg_config_check *c, const void *field);

/** Reports an error about the key of @p field, on its line (0 when it is not in the file). */
__attribute__((format(printf, 3, 4))) void kcg_config_error(struct kcg_config_check *c, const void *field,
							     const char *fmt, ...);

/** Same as kcg_config_error() but a warning. */
__attribute__((format(printf, 3, 4))) void kcg_config_warn(struct kcg_config_check *c, const void *field,
							    const char *fmt, ...);

/** Checks a value is a plain printable text (no control characters). For KCG_KEY_* rows. */
const char *kcg_config_check_text(const char *value);

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

/**
 * A reload: publishes @p fresh's map sections in @p live (an atomic store
 * per map; the replaced map stays readable, chained behind the new one)
 * and takes them from @p fresh. Other keys are not applied: they need a
 * restart. *@p changes gets what changed in the maps ("[shipping_methods]
 * EXP added; ..."), *@p restart the other keys whose value differs
 * ("[server] threads, ..."); each malloc'd, NULL when nothing. Only one
 * thread may reload. @return 0 or -ENOMEM (then nothing was published).
 */
int kcg_config_reload_maps(struct kcg_config *live, struct kcg_config *fresh, char **changes, char **restart);

/** Every key of every table (the core's, then each flow's, in table
 * order); *@p n gets their count. What `kcgate --list-keys` prints and
 * conf/kcgate.conf.example is checked against. */
const struct kcg_config_key *const *kcg_config_keys_all(size_t *n);

/** "string", "path", "file", "url", "number", "enum", "secret", "whsec",
 * "listen" or "map". */
const char *kcg_config_type_name(enum kcg_config_type type);

/**
 * A reload: kcg_config_reload_maps(), and also every secret whose value
 * changed (re-read from its env: or file: reference) is swapped into
 * @p live (an atomic store; the replaced value is kept until finish) and
 * taken from @p fresh; *@p secrets gets their names ("[admin] token,
 * [mirakl] api_key"; malloc'd, NULL when none; never the values). A
 * secret added or removed, and the whsec_ keys of webhook_secret (decoded
 * into arrays), still need a restart (*@p restart). @return 0 or -ENOMEM
 * (nothing published).
 */
int kcg_config_reload(struct kcg_config *live, struct kcg_config *fresh, char **changes, char **secrets,
		      char **restart);

/** Frees everything @p cfg owns (wiping secrets) and zeroes it. NULL-safe. */
void kcg_config_finish(struct kcg_config *cfg);

/** "standard", "token", "basic", "none" or "unset". */
const char *kcg_webhook_auth_name(enum kcg_webhook_auth mode);

#endif
