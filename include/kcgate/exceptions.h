/**
 * kcgate/exceptions.h: the register of everything a person must look at.
 *
 * One record per (kind, subject): raising the same kind for the same subject
 * again updates that record (last_seen, count, message) instead of adding
 * one; a resolved record that is raised again reopens. Each names the
 * system at fault and the team that owns the fix. Exceptions resolve
 * themselves when their cause is gone (the flows call kcg_exc_resolve()),
 * or by hand from the admin API.
 *
 * Databases (LMDB, in the store's environment):
 *   exceptions      id (ULID) -> JSON record
 *   exceptions_key  kind NUL subject -> id
 * Writes happen inside a caller's write transaction (struct kcg_txn), so an
 * exception commits together with whatever caused it.
 */
#ifndef KCGATE_EXCEPTIONS_H
#define KCGATE_EXCEPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/store.h"

/** Kinds kcgate raises (later issues add more). */
#define KCG_EXC_UNKNOWN_SKU "unknown_sku"
#define KCG_EXC_ACCEPTANCE_DEADLINE "acceptance_deadline"
#define KCG_EXC_UNPARSEABLE_WEBHOOK "unparseable_webhook"
#define KCG_EXC_DEAD_JOB "dead_job"
#define KCG_EXC_BOOKED_CANCELLED "booked_cancelled" /**< Mirakl cancelled, refused or refunded a booked order or line */
#define KCG_EXC_AUTO_REFUSED "auto_refused"         /**< Mirakl refused an order kcgate never decided */
#define KCG_EXC_ADDRESS_MISSING "address_missing"   /**< an order at its booking point has no usable shipping address */
#define KCG_EXC_KHAOS_REJECTED "khaos_rejected"     /**< Khaos refused to import an order (with its reason) */
#define KCG_EXC_MISSING_IN_KHAOS "missing_in_khaos" /**< an order at its booking point still has no Khaos sales order */
#define KCG_EXC_ORDER_REF_TOO_LONG "order_ref_too_long" /**< [khaos] order_ref_prefix + order id past Khaos's limit */
#define KCG_EXC_ORDER_UNBOOKABLE "order_unbookable" /**< Mirakl's order cannot be booked as it stands (a field past Khaos's limit, malformed data, a line withdrawn in part) */
#define KCG_EXC_PRICE_MISMATCH "price_mismatch" /**< an order's amounts do not add up to what the customer pays (or a tax code is unmapped): not booked */
#define KCG_EXC_UNMAPPED_SHIPPING_METHOD "unmapped_shipping_method" /**< [shipping_methods] has no courier for the order's shipping_type_code: it waits */
#define KCG_EXC_SHORT_STOCK "short_stock" /**< Khaos's available level (less kcgate's reservations) cannot cover an order */
#define KCG_EXC_WEBHOOK_TRUNCATED "webhook_truncated" /**< a webhook named more orders than one event may queue */
#define KCG_EXC_UNMAPPED_CARRIER "unmapped_carrier" /**< a Khaos courier [carriers] does not map (or maps to a code SH21 does not know): the despatch waits */
#define KCG_EXC_SHIPPING_DEADLINE "shipping_deadline" /**< a booked order near Mirakl's shipping_deadline and not shipped */
#define KCG_EXC_SHIPPED_CANCELLED "shipped_cancelled" /**< shipped in Khaos, but the Mirakl order is cancelled or refused */
#define KCG_EXC_DESPATCH_UNREADABLE "despatch_unreadable" /**< Khaos's despatch answer for one order is past what kcgate reads (boxes, items): that order is skipped, the rest go on */
#define KCG_EXC_DESPATCH_SHORT "despatch_short" /**< Khaos says the order is complete (all issued) while lines of the Mirakl order were never sent */
#define KCG_EXC_CARRIERS_UNAVAILABLE "carriers_unavailable" /**< Mirakl's carrier list (SH21) cannot be read (403, 404, unreadable): despatches to carrier codes wait */
#define KCG_EXC_KHAOS_CANCELLED "khaos_cancelled" /**< the Khaos sales order is cancelled while Mirakl still expects the order shipped */

#define KCG_EXC_FIELD_MAX 200     /**< longest kind, subject, system, owner (bytes) */
#define KCG_EXC_MESSAGE_MAX 2000  /**< longer messages are cut, on a character boundary */
#define KCG_EXC_SCAN_MAX 100000   /**< most records one list / count call examines */

/** The databases the register owns, NULL-terminated (for kcg_store_options.dbs). */
extern const char *const kcg_exc_dbs[];

/** Retention of resolved exceptions (owner "exceptions", for
 * kcg_store_options.owners): a resolved record goes once its resolution is
 * older than the horizon; raising it again before that reopens it. */
extern const struct kcg_retention_owner kcg_exc_retention;

enum kcg_exc_severity { KCG_SEV_INFO, KCG_SEV_WARNING, KCG_SEV_CRITICAL };

/** What one raise says. Strings (UTF-8) are copied. */
struct kcg_exc {
	const char *kind;        /**< one of KCG_EXC_* */
	enum kcg_exc_severity severity;
	const char *system;      /**< at fault: "khaos", "mirakl", "inriver", "kcgate" */
	const char *owner;       /**< team: "operations", "finance", "ecommerce", "marketing" */
	const char *subject;     /**< what it is about: a SKU, an order id, a job id, an event id */
	const char *message;     /**< a sentence with the context needed to fix it */
};

/** What a raise did to the register. */
enum kcg_exc_change {
	KCG_EXC_NEW,       /**< first raise of (kind, subject) */
	KCG_EXC_REOPENED,  /**< it was resolved and is open again */
	KCG_EXC_AGAIN,     /**< it was open: raised again (last_seen, count, message updated) */
};

/** What the store's exception hook (store.h, kcg_exc_hook) sees of a raise.
 * Everything is borrowed for the call. */
struct kcg_exc_raised {
	const char *id;             /**< the exception's id */
	enum kcg_exc_change change;
	enum kcg_exc_severity severity; /**< of this raise */
	const json_t *record;       /**< the record as saved (fields as in kcg_exc_list()) */
};

/**
 * Raises (or updates, or reopens) the exception for (kind, subject) inside
 * @p txn, a write transaction. @p id (optional, KCG_ID_LEN + 1) gets its id.
 * @return 0, -EINVAL (missing field, kind/subject/system/owner empty, longer
 * than KCG_EXC_FIELD_MAX or not UTF-8; checked before anything is written)
 * or an LMDB / -errno code. The store's exception hook (if any) runs last,
 * in @p txn; its error is returned (the caller aborts @p txn).
 */
int kcg_exc_raise(struct kcg_txn *txn, const struct kcg_exc *exc, char *id);

/**
 * Marks the open exception for (kind, subject) resolved, now; nothing if
 * there is none or it is already resolved. @p how ("auto" or "manual") is
 * recorded (NULL = "auto"). @return 0, -EINVAL (kind, subject or how empty,
 * too long or not UTF-8) or an LMDB / -errno code.
 */
int kcg_exc_resolve(struct kcg_txn *txn, const char *kind, const char *subject, const char *how);

/** Resolves by id (the admin API), recorded as "manual"; an already
 * resolved one is left as it is. @return 0, KCG_ENOTFOUND, or an error. */
int kcg_exc_resolve_id(struct kcg_txn *txn, const char *id);

/** True if (kind, subject) has an open exception (read or write txn). */
bool kcg_exc_is_open(struct kcg_txn *txn, const char *kind, const char *subject);

/**
 * Lists exceptions newest first (by id, i.e. first raised; a reopened one
 * keeps its place) into a new JSON array (*@p out, the caller decrefs it), filtered
 * by @p open (-1 any, 0 resolved only, 1 open only), @p kind and @p owner
 * (NULL = any), at most @p limit. Each element: {"id","kind","severity",
 * "system","owner","subject","message","first_seen","last_seen","count",
 * "resolved_at" (null when open),"resolved_by" (null when open)}.
 * At most KCG_EXC_SCAN_MAX records are examined, so with filters the
 * list may miss older matches.
 * @return 0, -EINVAL (@p open not -1, 0 or 1) or an error (*@p out NULL).
 */
int kcg_exc_list(struct kcg_txn *txn, int open, const char *kind, const char *owner, size_t limit, json_t **out);

/** kcg_exc_list() with a @p severity filter too ("critical", "warning",
 * "info"; NULL = any). */
int kcg_exc_list_severity(struct kcg_txn *txn, int open, const char *kind, const char *owner, const char *severity,
			  size_t limit, json_t **out);

/**
 * Open exceptions per kind as a new JSON object {"unknown_sku": 2, ...}
 * (for /metrics): every order, despatch and core kind of the runbook
 * (kcgate/runbook.h) and every kind in the register,
 * 0 when none is open (at most KCG_EXC_SCAN_MAX records examined).
 * The caller decrefs *@p out. @return 0 or an error (*@p out NULL).
 */
int kcg_exc_open_counts(struct kcg_txn *txn, json_t **out);

/** "info", "warning", "critical". */
const char *kcg_exc_severity_name(enum kcg_exc_severity sev);

/** The severity named @p name, or -1 (also for NULL). */
int kcg_exc_severity_of(const char *name);

/** Reads exception @p id's record; *@p rec gets a new reference.
 * @return 0, KCG_ENOTFOUND, KCG_ESTORE or an LMDB / -errno code. */
int kcg_exc_read(struct kcg_txn *txn, const char *id, json_t **rec);

#endif
