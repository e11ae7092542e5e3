/**
 * kcgate/flows/inriver.h: flow 4, inriver <-> Khaos Control.
 *
 * The Khaos stock code is the one key: an inriver item (entity of
 * [inriver] entity_type) is linked to the stock code held in its
 * [inriver] sku_field. kcgate writes into inriver only the Khaos-owned
 * fields named in [inriver.fields] (khaos_status, available, price,
 * last_sync), never anything else: marketing content is inriver's.
 *
 * Listener events (flows' on_event, source "inriver"):
 *  - EntityCreated / EntityUpdated -> job inriver.entity (lane inriver,
 *    subject the numeric id): summary (its type), the SKU field and the
 *    Khaos-owned fields in one read, a query for every item with that SKU
 *    (two or more: duplicate_sku), then the Khaos-owned values that differ
 *    from those the item holds: a person's edit of one is put back.
 *    After each write the SKU record expects its echo for
 *    [inriver] echo_window_s; an EntityUpdated of the item naming only
 *    Khaos-owned fields kcgate wrote, inside that window, is kcgate's own
 *    write coming back (kcg_inriver_echo): no job. Anything else naming
 *    an owned field is a person's edit: the job. No loop: the correction's
 *    echo is consumed too, and an unconsumed one only reads (equal values
 *    write nothing).
 *    A SKU that is no active Khaos stock code: identifier_drift (system
 *    inriver, owner ecommerce) and khaos_status = UNKNOWN_STOCK_CODE, and
 *    Khaos is asked about the code at once (a new code resolves it).
 *  - EntityDeleted of an item holding a code (or a job's 404 for it):
 *    when another item kcgate knows still holds the code (duplicate_sku's
 *    holders, entity_ids), that one takes the link; otherwise the SKU is
 *    "deleted in inriver": its Mirakl figure becomes 0 (the stock flow's
 *    next flush, every warehouse's) and archive_in_khaos (system khaos,
 *    owner operations) asks a person to archive the code, since Khaos has
 *    no archive call.
 * Khaos -> inriver: every item the SKU cache's poll reports (the stock
 * poller's changes, new codes included) whose Khaos-owned values differ
 * from what kcgate last wrote -> job inriver.push (which diffs against
 * that record too: no read) (lane inriver_push,
 * subject the code), due no earlier than write_interval_s after the last
 * write: one pending job per code coalesces every change meanwhile. No
 * item: created ([inriver] create_missing_items) or unlinked_sku (owner
 * ecommerce). Discontinued: khaos_status = DISCONTINUED is written only
 * once Mirakl shows nothing of the code (kcg_stock_code_get(): each
 * record's 0 confirmed by a COMPLETE import, or its line refused: no
 * offer); until then the code waits in inriver_wait.
 * Mapping audit (inriver.audit, daily and POST /admin/audit/skus): every
 * active code through mapuniquevalues (batches of 999), every item of the
 * type through a query: unlinked_sku, duplicate_sku, identifier_drift,
 * and Mirakl's view (ghost_sku from the stock flow's OF21 check).
 * Polling fallback ([inriver] listen = false): inriver.poll queries
 * LastModified GreaterThan the watermark every poll_interval_s.
 *
 * Databases: inriver_skus (stock code -> JSON {entity_id, entity_ids
 * (every holder when two or more, at most IR_HOLDERS_KEPT),
 * written{field: value}, written_ms, echo{entity_id, fields[], until_ms},
 * changed_ms, deleted_ms, deleted_id, heir_of (the deleted item whose
 * link an heir took, until the heir's own job confirms it holds the code)}),
 * inriver_ids (entity id, decimal -> stock code: the linked item and
 * every holder, so their deletes are heard of), inriver_wait (code ->
 * "" : discontinued, waiting for Mirakl's 0), inriver_audit ("last" ->
 * the last audit's summary).
 */
#ifndef KCGATE_FLOWS_INRIVER_H
#define KCGATE_FLOWS_INRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/flow.h"
#include "kcgate/store.h"

extern const struct kcg_flow kcg_flow_inriver;

#define KCG_EXC_IDENTIFIER_DRIFT "identifier_drift" /**< an inriver SKU that is no active Khaos stock code */
#define KCG_EXC_DUPLICATE_SKU "duplicate_sku"       /**< two or more inriver items with one SKU */
#define KCG_EXC_UNLINKED_SKU "unlinked_sku"         /**< an active Khaos code with no inriver item */
#define KCG_EXC_ARCHIVE_IN_KHAOS "archive_in_khaos" /**< the item was deleted in inriver: archive the code */

/** khaos_status values. */
#define KCG_INRIVER_OK "OK"
#define KCG_INRIVER_UNKNOWN "UNKNOWN_STOCK_CODE"
#define KCG_INRIVER_DISCONTINUED "DISCONTINUED"

/* ---- pure decisions (inriver_rules.c) ---- */

/** The Khaos-owned field ids of @p cfg ([inriver.fields]), at most 4, in
 * @p out; @return how many are configured. */
size_t kcg_inriver_owned(const struct kcg_inriver_config *cfg, const char *out[4]);

/**
 * Whether an EntityUpdated naming @p changed (a JSON array of
 * {"fieldTypeId"}) is kcgate's own write coming back, given @p expect, the
 * echo expected from the item (the SKU record's "echo": {"fields":[field
 * ids kcgate wrote], "until_ms"}, or NULL when none is): at least one field
 * is named, every one is Khaos-owned and among the expected fields, and
 * @p now_ms is before until_ms. Anything else naming an owned field is a
 * person's edit (false: the item is read and corrected). Pure.
 */
bool kcg_inriver_echo(const struct kcg_inriver_config *cfg, const json_t *changed, const json_t *expect,
		      uint64_t now_ms);

/** What Khaos says about a code, for the fields. */
struct kcg_inriver_khaos {
	bool known;          /**< in the SKU cache */
	bool discontinued;   /**< STATUS 4 */
	int64_t available;   /**< LEVEL */
	bool confirmed_zero; /**< Mirakl confirmed 0 by a COMPLETE import (or no Mirakl to unpublish) */
	int64_t price;       /**< [inriver] price_from, in 1/10,000 of the unit; -1: none */
};

/**
 * The Khaos-owned values to write, as a new object field -> value, only
 * fields named in [inriver.fields]: khaos_status (OK, UNKNOWN_STOCK_CODE,
 * DISCONTINUED once @p k says Mirakl shows 0; before that no status at
 * all), available and price (known codes; price when Khaos gave one, as a
 * JSON number), last_sync (@p now_iso, only alongside another change).
 * Values equal to @p have are left out: the item's real values as inriver
 * answered them (the entity job), or what kcgate last wrote to it (the
 * push job; NULL: nothing yet). An empty object means nothing to write.
 * Pure.
 */
json_t *kcg_inriver_values(const struct kcg_inriver_config *cfg, const struct kcg_inriver_khaos *k,
			   const json_t *have, const char *now_iso);

/** What inriver says about publishing a SKU to Mirakl. */
enum kcg_inriver_gate {
	KCG_INRIVER_GATE_OPEN, /**< publish Khaos's figure */
	KCG_INRIVER_GATE_ZERO, /**< publish 0: deleted in inriver, or unlinked when a link is required */
	KCG_INRIVER_GATE_HOLD, /**< send nothing yet: a link is required and no audit has mapped the catalogue */
};

/**
 * The gate for a SKU: 0 when its item was deleted in inriver, and when
 * unlinked while [stock] require_inriver_link is true, once the first
 * mapping audit has run (@p audited); before that an unlinked SKU is held
 * (neither 0 nor its figure: turning the rule on never zeroes a live
 * marketplace for a moment). Pure.
 */
enum kcg_inriver_gate kcg_inriver_gate_of(bool require_link, bool linked, bool deleted, bool audited);

/** "open", "zero", "hold". */
const char *kcg_inriver_gate_name(enum kcg_inriver_gate g);

/** When the next write to an item may go: @p last_write_ms + the interval, or now. Pure. */
uint64_t kcg_inriver_due(uint64_t now_ms, uint64_t last_write_ms, uint64_t interval_s);

/* ---- for other flows ---- */

/**
 * The gate for @p sku (kcg_inriver_gate_of() over the inriver records,
 * read in @p txn). Always open when the inriver records say nothing and
 * @p cfg does not require a link.
 */
enum kcg_inriver_gate kcg_inriver_sku_gate(struct kcg_txn *txn, const struct kcg_config *cfg, const char *sku);

/** GET /admin/skus/{code}: the SKU across Khaos, inriver and Mirakl (*@p out a new object). */
int kcg_inriver_sku_view(struct kcg_store *store, const struct kcg_config *cfg, const char *sku, json_t **out);

#endif
