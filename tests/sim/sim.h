/*
 * kcgate-sim: an in-memory simulator of the peers kcgate talks to (Mirakl
 * seller API, Khaos Control SOAP web service), with a JSON control API for
 * tests and benchmarks. One mutex guards all state; libmicrohttpd runs one
 * thread per connection so a held (latency, timeout) request never stalls
 * the others. See docs/sim.md and docs/khaos-soap.md.
 */
#ifndef KCGATE_SIM_H
#define KCGATE_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/** Largest request body the sim accepts (413 above). */
#define SIM_MAX_BODY (8u * 1024u * 1024u)
#define SIM_SITES_MAX 8 /* Khaos sites one stock item may be held at; Mirakl warehouses */
#define SIM_STATE_LIST_MAX 1000 /* longer lists in GET /_sim/state become counts (big catalogues) */
/** Requests kept per system for GET /_sim/requests. */
#define SIM_LOG_CAP 1000
/** The first bytes of each answer kept in the request log (reply_body). */
#define SIM_LOG_REPLY_MAX 8192
/** Longest hold (latency_ms, timeout_ms) a fault may ask for. */
#define SIM_MAX_HOLD_MS 600000
/** Mirakl OR11 page size limits (documented: max <= 100, default 10). */
#define SIM_OR11_MAX 100
#define SIM_OR11_DEFAULT_MAX 10
/** Mirakl OR11: at most this many ids in order_ids. */
#define SIM_OR11_MAX_IDS 100

/** The peers; index into per-system arrays. */
enum sim_system {
	SIM_MIRAKL,
	SIM_KHAOS,
	SIM_INRIVER,
	SIM_ALERTS,	/* kcgate's alert webhooks land here (sim_alerts.c) */
	SIM_SMTP,	/* faults only: the SMTP sink (sim_alerts.c) */
	SIM_NSYSTEMS,
};

/** One request being received: allocated by the URI log callback. */
struct sim_request {
	struct MHD_Connection *conn;
	char *uri;		/* raw request target as received */
	const char *query;	/* raw query string (after '?') inside uri, "" if none */
	const char *method;
	const char *path;	/* decoded path, as libmicrohttpd hands it */
	char *body;		/* NUL-terminated, body_len bytes */
	size_t body_len;
	size_t body_cap;
	bool started;
	bool too_large;
};

/** What a handler answers. body is malloc'd (or NULL) and owned by the reply. */
struct sim_reply {
	unsigned status;
	char *body;
	size_t len;
	const char *content_type;
	const char *allow;	/* Allow header for 405 */
	const char *www_authenticate;
	long retry_after_s;	/* < 0: no Retry-After */
	bool drop;		/* close the connection without an answer */
};

/** A Mirakl order: the OR11-shaped JSON plus parsed keys for filtering. */
struct sim_order {
	json_t *json;
	const char *id;		/* points into json */
	int64_t created_ms;
	int64_t updated_ms;
	uint64_t seq;		/* creation order, tie-break for sorting */
	/* The order's life (docs/sim.md section 3, "The order's life"). */
	int64_t born_ms;	/* when the sim created it: the acceptance window runs from here */
	int64_t debit_start_ms;	/* when its accepted lines entered WAITING_DEBIT */
	bool debit_fail;	/* the debit's outcome, drawn at acceptance */
	bool was_accepted;	/* ever past WAITING_ACCEPTANCE (not refused): addresses at "acceptance" */
	bool was_shipping;	/* ever SHIPPING or later: addresses at "shipping" */
	bool shipped_by_or24;	/* an OR24 shipped it: a second one is a repeated ship call */
	json_t *shipped_qty;	/* order_line_id -> quantity shipped by ST01, or NULL */
	unsigned ship_calls;	/* OR24 calls received */
	bool repeat_unread;	/* a repeated OR24 not yet followed by a read of the order by id */
	unsigned ship_ok;	/* OR24 calls that shipped it (SHIPPING -> SHIPPED): one when exactly once */
	bool read_shipped;	/* a read by id found it SHIPPED since the last OR24 */
	unsigned repeat_blind;	/* repeated OR24 with no read by id that found SHIPPED since the previous OR24 */
};

/** A Khaos stock item. */
/**
 * An index by name over an array the caller owns (open addressing; a slot
 * holds an element's position + 1): fast finds in 100,000-element
 * catalogues. @p key_of gives element i's name.
 */
struct sim_index {
	size_t *slot;
	size_t cap;
};

struct sim_stock {
	char *code;
	long long available;	/* LEVEL: set by the control API, lowered by bookings */
	long long allocated;	/* units booked by live (not cancelled) sales orders */
	bool discontinued;
	int status;		/* STATUS 0-5 as set, -1: from available/discontinued */
	int64_t changed_ms;	/* its last change: what ExportStockStatus's LastUpdated sees */
	int64_t revised_ms;	/* its last revision alone ("revised_only": not a change ExportStockStatus sees);
				   GetStockList's REVISION_DATE is the later of the two */
	unsigned long stock_id;
	long long build;	/* BUILD_POTENTIAL_CHILDREN */
	int site;		/* the Khaos site id holding it (1, the default site, unless set) */
	struct sim_site_level {
		int site;
		long long level;
	} at[SIM_SITES_MAX];	/* held at several sites ("levels"): one LEVEL each; available = their sum */
	size_t n_at;
	char sell_price[16];	/* SELL_PRICE as sent ("10.00" unless set) */
	char websell_price[16];	/* WEBSELL_PRICE as sent ("" until set: no element) */
};

/** A line of a Khaos sales order. */
struct sim_so_line {
	char *stock_code;
	long long quantity;
	char *price_net;	/* as sent, or NULL */
	char *price_grs;
	char *tax_rate;
	long long allocated;	/* units this line took from its item's LEVEL (0: not stock-controlled) */
};

/** A Khaos tax rate code (TAX_RATE) and its rate in hundredths of a percent. */
struct sim_tax_rate {
	char code[8];
	long long bp;
};

/** One item of a despatched box. */
struct sim_box_item {
	char *stock_code;
	long long qty;
};

/** A box despatched (POST /_sim/khaos/despatch): Confirm Shipment in Khaos. */
struct sim_box {
	char *courier;
	char *consignment_ref;
	char *tracking_url;	/* "" when none */
	int64_t ship_ms;
	struct sim_box_item *items;
	size_t nitems;
	bool invoice_only;	/* the single-parcel shape: an INVOICE of its own, no BOX (courier, consignment on the invoice) */
	bool packed;		/* being packed: BOX SHIPPED="0" (dated, with a consignment ref), nothing sent yet */
};

/** A Khaos sales order booked by ImportOrders. */
struct sim_sales_order {
	char *associated_ref;
	char *code;
	char *invoice_code;
	char *site;
	char *sales_source;
	char *order_date;
	char *company_name;
	char *currency;
	char *po_number;
	char *delivery_postcode;	/* where it goes (DELADDR, else INVADDR), or NULL */
	/* as sent, or NULL (GET /_sim/state) */
	char *order_amount;
	char *courier_code;
	char *delivery_grs;
	char *delivery_net;
	char *delivery_tax;
	char *order_note;
	struct sim_so_line *lines;
	size_t nlines;
	int stage;		/* invoice stage id (FACTS.md §1.6): 1 when cancelled */
	int64_t booked_ms;
	int64_t cancelled_ms;	/* 0: not cancelled */
	struct sim_box *boxes;	/* despatches, oldest first */
	size_t nboxes;
	int64_t tracking_ms;	/* the last tracking change (a despatch); 0: none */
};

/** A courier of GetSOPData. */
struct sim_courier {
	char *code;
	char *name;
};

/** Fault settings of one system, from POST /_sim/faults. */
struct sim_faults {
	bool active;
	double error_rate;
	double timeout_rate;
	double rate_limit_rate;
	unsigned status;
	long latency_ms;
	long timeout_ms;
	long retry_after_s;
	uint64_t seed;		/* as given (or picked), echoed by the control API */
	uint64_t rng;
};

/** One logged request. */
struct sim_log_entry {
	uint64_t seq;		/* across every system: the order of requests */
	char *method;
	char *path;
	char *query;
	char *content_type;
	char *body;
	size_t body_len;
	unsigned reply_status;	/* what the sim answered: 0 while unanswered, or dropped (a timeout fault) */
	char *reply_body;	/* its first SIM_LOG_REPLY_MAX bytes ("" when none) */
	size_t reply_len;
};

/** Ring buffer of the last SIM_LOG_CAP requests of one system. */
struct sim_log {
	struct sim_log_entry e[SIM_LOG_CAP];
	size_t next;
	size_t count;
};

/** All simulator state; every field below `lock` is guarded by it. */
struct sim_state {
	/* configuration, read-only after start */
	const char *mirakl_key;
	const char *inriver_key;	/* expected X-inRiver-APIKey, or NULL */
	char *khaos_basic;	/* expected "Basic <base64>" credentials, or NULL */
	const char *khaos_ns;
	long mirakl_update_delta_s;

	pthread_mutex_t lock;
	pthread_cond_t wake;	/* broadcast on reset and stop: ends holds */
	uint64_t generation;
	bool stopping;

	struct sim_order *orders;
	size_t norders, orders_cap;
	uint64_t order_seq;

	struct sim_sales_order *sos;
	size_t nsos, sos_cap;
	unsigned long so_seq;
	unsigned long duplicates;	/* repeated ASSOCIATED_REFs booked (dedupe off) */
	unsigned long skipped;		/* repeated ASSOCIATED_REFs skipped (dedupe on) */
	bool no_dedupe;			/* POST /_sim/khaos/settings {"dedupe":false} */
	struct sim_tax_rate tax_rates[32];	/* POST /_sim/khaos/settings {"tax_rates":{}} */
	size_t ntax_rates;			/* 0: the defaults (sim_khaos_ctl.c) */
	bool allocate;			/* {"allocate":true}: a booked line takes its quantity off LEVEL */

	struct sim_courier *couriers;
	size_t ncouriers;

	struct sim_stock *stock;
	size_t nstock, stock_cap;
	unsigned long stock_seq;
	struct sim_index stock_index;	/* by code (sim_khaos_ctl.c) */

	unsigned long calls[SIM_NSYSTEMS];
	struct sim_faults faults[SIM_NSYSTEMS];
	struct sim_log log[SIM_NSYSTEMS];
	uint64_t log_seq;
};

/* ---- sim_inriver.c (section 9 of docs/sim.md) ---- */

/** A request under /inriver (@p sub: the rest of the path). Lock not held. */
void sim_inriver_handle(struct sim_request *req, const char *sub, struct sim_reply *r);
/** POST /_sim/inriver/entities. Lock not held. */
void sim_inriver_ctl_entities(json_t *body, struct sim_reply *r);
/** The other /_sim/inriver endpoints (@p sub after "/_sim/inriver"; @p body the
 * request's JSON, or NULL when it had none). Lock not held. */
void sim_inriver_ctl(const char *method, const char *sub, const json_t *body, struct sim_reply *r);
/** The "inriver" part of GET /_sim/state; lock held. */
json_t *sim_inriver_state(void);
/** Forgets every entity and write; lock held. */
void sim_inriver_reset(void);

/* ---- sim_hostile.c (section 8 of docs/sim.md) ---- */

/** POST /_sim/hostile. Lock not held. */
void sim_hostile_ctl(json_t *body, struct sim_reply *r);
/** Forgets the hostile settings; lock held. */
void sim_hostile_reset(void);
/** Answers a Mirakl call the hostile way when set (OR11 pages); lock not held. */
bool sim_hostile_mirakl(struct sim_request *req, const char *sub, struct sim_reply *r);
/** Answers a Khaos call (@p method) in the hostile shape when set; lock not held. */
bool sim_hostile_khaos(const char *method, struct sim_reply *r);

/* ---- sim_alerts.c (section 9 of docs/sim.md) ---- */

struct sockaddr_storage;
/** POST /alerts/...: records the webhook, answers 200 "ok"; lock not held. */
void sim_alerts_webhook(struct sim_request *req, const char *sub, struct sim_reply *r);
/** Starts the SMTP sink on @p ss; *@p port gets the port bound. 0 or -errno. */
int sim_smtp_start(const struct sockaddr_storage *ss, unsigned *port);
/** Stops accepting SMTP connections. */
void sim_smtp_stop(void);
/** GET /_sim/alerts: the webhooks and mails received; lock held. */
json_t *sim_alerts_state(void);
/** Forgets them; lock held. */
void sim_alerts_reset(void);

/** The one simulator instance. */
extern struct sim_state sim;

/* ---- sim.c, for sim_ctl.c ---- */

/** "mirakl", "khaos", ... by enum sim_system; the index of @p s or -1. */
extern const char *const sim_system_names[SIM_NSYSTEMS];
int sim_system_by_name(const char *s);
/** Every peer's state and settings and the request log, forgotten; lock held. */
void sim_forget_all(void);

/* ---- sim_ctl.c ---- */

/** A request under /_sim (@p p its path). */
void sim_control(struct sim_request *req, const char *p, struct sim_reply *r);

/* ---- sim_util.c ---- */

/** Wall-clock time in milliseconds since the epoch. */
int64_t sim_now_ms(void);
/** Format @p ms as "YYYY-MM-DDTHH:MM:SSZ" (Mirakl style) into @p out. */
void sim_fmt_iso(int64_t ms, char out[32]);
/** Format @p ms as "YYYY-MM-DDTHH:MM:SS" (Khaos style, UTC, no zone). */
void sim_fmt_khaos(int64_t ms, char out[32]);
/**
 * Parse an ISO-8601 date-time: YYYY-MM-DD[T| ]HH:MM[:SS[.frac]][Z|+HH[:]MM|-HH[:]MM].
 * A space where the zone sign belongs is read as '+' (an unencoded '+' in a
 * query string arrives as a space). No zone means UTC. Returns 0 or -EINVAL.
 */
int sim_parse_time(const char *s, int64_t *ms);
/** Parse a decimal integer within [min, max]; 0 or -EINVAL/-ERANGE. */
int sim_parse_ll(const char *s, long long min, long long max, long long *out);
/** Duplicate a string; aborts on out-of-memory (the sim is a test tool). */
char *sim_strdup(const char *s);
/** malloc that aborts on out-of-memory. */
void *sim_xmalloc(size_t n);
/** realloc that aborts on out-of-memory. */
void *sim_xrealloc(void *p, size_t n);
/** Grow an array of @p size-byte elements so that it holds @p need. */
void sim_grow(void **arr, size_t *cap, size_t need, size_t size);
/** A JSON string from bytes, replacing invalid UTF-8 by U+FFFD. New reference. */
json_t *sim_json_string_lossy(const char *s, size_t n);
/** Base64 of @p n bytes; caller frees. */
char *sim_base64(const unsigned char *in, size_t n);
/** Decode standard base64 (padding optional) into @p out (@p cap bytes); length or -1. */
long sim_base64_decode(const char *in, unsigned char *out, size_t cap);
/** HMAC-SHA256 of the concatenation of @p nparts parts with @p key. */
void sim_hmac_sha256(const unsigned char *key, size_t keylen, const void *const *parts,
		     const size_t *lens, size_t nparts, unsigned char mac[32]);
/** splitmix64 step: the sims' reproducible generator. */
uint64_t sim_splitmix64(uint64_t *s);
/** A draw in [0, 1) from sim_splitmix64. */
double sim_uniform(uint64_t *s);
/** Split a comma-separated list into trimmed, non-empty items; caller frees with sim_strv_free. */
char **sim_split_csv(const char *s, size_t *count);
/** Free a list from sim_split_csv. */
void sim_strv_free(char **v, size_t n);
/** Case-insensitive prefix test: does @p s start with media type @p type (params allowed)? */
bool sim_media_type_is(const char *s, const char *type);

typedef const char *(*sim_key_of)(size_t i, void *arg);
/** Indexes element @p i (the array now holds @p n); grows and re-indexes the first n as needed. */
void sim_index_add(struct sim_index *x, size_t i, size_t n, sim_key_of key_of, void *arg);
/** The position of the element named @p key, or -1. */
long sim_index_find(const struct sim_index *x, const char *key, sim_key_of key_of, void *arg);
void sim_index_free(struct sim_index *x);

/** Set @p r to a JSON reply; steals @p j. */
void sim_reply_json(struct sim_reply *r, unsigned status, json_t *j);
/** @p j (stolen) as compact JSON, malloc'd (aborts when out of memory): for
 * JSON that shares objects with the live state, dumped under the lock and
 * replied after it with sim_reply_dumped(), which takes @p s. */
char *sim_json_dump(json_t *j);
void sim_reply_dumped(struct sim_reply *r, unsigned status, char *s);
/** Set @p r to a Mirakl-style error: {"message": ..., "status": N}. */
void sim_reply_mirakl_error(struct sim_reply *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** Whether Mirakl method @p m is @p want; else @p r is Mirakl's 405 (its
 * message, Allow: @p want, a literal) and false. */
bool sim_mirakl_method_is(const char *m, const char *want, struct sim_reply *r);
/** Set @p r to a control API error: {"error": code, "message": ...}. */
void sim_reply_ctl_error(struct sim_reply *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** The first key of object @p obj (a control body) that is not one of the
 * @p n @p keys, or NULL. */
const char *sim_unknown_key(json_t *obj, const char *const *keys, size_t n);
/** Set @p r to an empty reply with @p status. */
void sim_reply_empty(struct sim_reply *r, unsigned status);
/** Free the body of @p r and reset it to an empty 500. */
void sim_reply_clear(struct sim_reply *r);

/* ---- sim_mirakl*.c (private parts: sim_mirakl.h) ---- */

/** Handle a request under /mirakl (auth and faults already applied). */
void sim_mirakl_handle(struct sim_request *req, const char *subpath, struct sim_reply *r);
/* ---- sim_mirakl_stock.c (offers and stock imports) ---- */

/** /api/offers and /api/offers/stock/imports...; lock not held. */
void sim_mirakl_stock_handle(struct sim_request *req, const char *sub, struct sim_reply *r);
/** POST /_sim/mirakl/offers; lock not held. */
void sim_mirakl_ctl_offers(json_t *body, struct sim_reply *r);
/** The stock settings: check (false: @p r holds the 400), apply, show; lock held. */
bool sim_mirakl_stock_settings_check(json_t *body, struct sim_reply *r);
void sim_mirakl_stock_settings_apply(json_t *body);
json_t *sim_mirakl_stock_settings_json(void);
/** "offers", "offers_count", "stock_imports" of GET /_sim/state (?sku= filters); lock held. */
json_t *sim_mirakl_stock_state(const char *skus);
/** An order took (@p delta < 0) or gave back (> 0) units of offer @p sku,
 * as Mirakl does at an order's creation and at a line's refusal or
 * cancellation (never below 0; nothing when there is no such offer); lock held. */
void sim_mirakl_stock_order(const char *sku, long long delta);
/** Forgets offers, imports and stock settings; lock held. */
void sim_mirakl_stock_reset(void);

/** POST /_sim/mirakl/orders. */
void sim_mirakl_ctl_orders(json_t *body, struct sim_reply *r);
/** Add the "mirakl" part of GET /_sim/state; lock held. */
json_t *sim_mirakl_state(const char *skus);
/** Drop all Mirakl state and settings, forget queued webhooks; lock held. */
void sim_mirakl_reset(void);
/** Run the order life up to now (time-driven changes); lock held. */
void sim_mirakl_advance(void);
/** Start the Mirakl background threads (life ticker, webhook sender). */
void sim_mirakl_start(void);
/** Stop the life ticker (call with sim.stopping set; lock not held). */
void sim_mirakl_stop(void);
/**
 * A control route under /_sim/mirakl/ other than /orders: settings and
 * /orders/{id}/cancel|auto-refuse|debit. @p sub is the path after
 * "/_sim/mirakl"; @p body may be NULL. Lock not held.
 */
void sim_mirakl_ctl(const char *method, const char *sub, json_t *body, struct sim_reply *r);

/* ---- sim_khaos.c ---- */

/** A parsed SOAP call (opaque outside sim_khaos.c). */
struct sim_soap_call;
/**
 * Check and parse a SOAP request to /khaos/soap/IKosWeb. On a protocol error
 * returns NULL with @p r set to the fault; else a call to pass to
 * sim_khaos_handle() and free with sim_khaos_call_free().
 */
struct sim_soap_call *sim_khaos_prepare(struct sim_request *req, struct sim_reply *r);
/** Is the call a write (ImportOrders)? */
bool sim_khaos_is_write(const struct sim_soap_call *call);
/** Run a prepared call. */
void sim_khaos_handle(struct sim_soap_call *call, struct sim_reply *r);
/** Free a prepared call (NULL is fine). */
void sim_khaos_call_free(struct sim_soap_call *call);
/** The method name of a prepared Khaos call. */
const char *sim_khaos_method(const struct sim_soap_call *call);
/** Set @p r to a SOAP 1.1 Fault with HTTP @p status. */
void sim_khaos_fault(struct sim_reply *r, unsigned status, const char *faultcode, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** GET /khaos/wsdl/IKosWeb: the WSDL. */
void sim_khaos_wsdl(struct sim_request *req, struct sim_reply *r);
/** POST /_sim/khaos/stock. */
void sim_khaos_ctl_stock(json_t *body, struct sim_reply *r);
/** POST /_sim/khaos/settings. */
void sim_khaos_ctl_settings(json_t *body, struct sim_reply *r);
/** POST /_sim/khaos/couriers. */
void sim_khaos_ctl_couriers(json_t *body, struct sim_reply *r);
/** POST /_sim/khaos/orders/{associated_ref}/cancel. */
void sim_khaos_ctl_cancel(const char *ref, struct sim_reply *r);
/** POST /_sim/khaos/despatch {"associated_ref","courier","consignment_ref",
 * "tracking_url"?, "items"?:[{"stock_code","qty"}]}: a box shipped (without
 * items: everything not sent yet). Lock not held. */
void sim_khaos_ctl_despatch(json_t *body, struct sim_reply *r);
/** The "khaos" part of GET /_sim/state; lock held. */
json_t *sim_khaos_state(void);
/** Drop all Khaos state; lock held. */
void sim_khaos_reset(void);

#endif
