/**
 * kcgate/flows/despatch.h: flow 3, Khaos despatches into Mirakl.
 *
 * The warehouse ships in Khaos only. Every [despatch] poll_interval_s the
 * poller (despatch.poll, Khaos lane) asks ExportOrderStatusEx for the
 * orders with tracking changes in one date range (IncludeTracking,
 * ShowItems, IncludeCancelled): one call per poll however many orders are
 * open. The range runs from the watermark less poll_overlap_s to the
 * poll's start; the watermark moves to that start in the transaction that
 * commits what the answer said, never before. Booked orders no poll
 * covered for [despatch] recheck_h are read by reference (despatch.check:
 * IDs as a comma list, MappingType 4, recheck_batch refs a call), as a
 * safety net.
 *
 * Khaos's answer, per order (kcg_khaos_despatch_parse()): invoices and
 * boxes ("units") with SHIP_DATE, COURIER, CONSIGNMENT_REF, TRACKING_URL
 * and the items sent; COMPLETE; CANCELLED. A unit is shipped when it has
 * a ship date and a consignment ref. What follows (kcg_despatch_next()):
 *
 *   mode order (default): every Mirakl line sent -> despatch.ship: OR23
 *     (tracking: the first shipped unit's consignment ref, the carrier
 *     mapped from its courier) then OR24 (ship); some sent -> partial,
 *     waits;
 *   mode shipments: each shipped unit -> despatch.shipment: ST01 (one
 *     shipment with its lines, shipped); a platform without ST01 (404)
 *     falls back to OR23 + OR24 once every line is sent;
 *   CANCELLED in Khaos while Mirakl still expects the order shipped ->
 *     khaos_cancelled (operations);
 *   shipped in Khaos, Mirakl order cancelled or refused ->
 *     shipped_cancelled (operations: recall or refund).
 *
 * Exactly once: every run of despatch.ship reads the order first (OR11 by
 * order_ids), as a kill -9 between the effect and its commit raises no
 * attempt count: SHIPPED or later is done, CANCELED/REFUSED is
 * shipped_cancelled, SHIPPING sends OR23 then OR24; OR23's or OR24's 400
 * reads the order to find out why, and still SHIPPING is never retried
 * blindly: a carrier refusal parks (unmapped_carrier, SH21 read again at
 * most daily), any other kills the job with Mirakl's answer. Every run of
 * despatch.shipment lists the order's shipments first (ST11) and counts
 * one with its consignment ref and lines as done. Units are keyed by
 * invoice and box ("key"), not by consignment ref (two boxes may share
 * one). The order record (orders.h) becomes shipped with the carrier and
 * tracking (kcg_orders_mark_shipped()) only once Mirakl confirmed.
 *
 * Which order: Khaos's ASSOCIATED_REF is mapped through what was booked
 * (the order record's khaos_ref), so a changed [khaos] order_ref_prefix
 * still finds orders booked under the old one. An order kcgate accepted
 * but did not book, whose despatch Khaos reports (booked by hand), is
 * recorded booked (kcg_orders_booked_by_hand()) and despatched. An order
 * past the parser's caps is skipped with despatch_unreadable; COMPLETE
 * with Mirakl lines unsent raises despatch_short and sends no OR24.
 *
 * Carriers: [carriers] maps a Khaos courier, exactly as Khaos writes it
 * (spaces included), to a Mirakl carrier code that SH21 lists, or to
 * "name:<carrier name>" with an optional "|<tracking URL template>"
 * ("{tracking}" stands for the consignment ref) for a carrier Mirakl does
 * not register. SH21 (mirakl.carriers) is read at start when the cached
 * copy is missing or a day old, and at most daily after. An unmapped
 * courier, or a code SH21 does not list, kills the despatch job with
 * unmapped_carrier (operations) and parks the order; a reload (SIGHUP)
 * retries the parked jobs.
 *
 * The watch (despatch.watch, every minute; it walks the booked records,
 * kcg_orders_booked_each()): SH21's age (daily; hourly
 * after a refusal, with carriers_unavailable), the by-ref safety net, and
 * shipping_deadline (operations) for booked orders within [despatch]
 * deadline_alert_h of Mirakl's shipping_deadline and not shipped on
 * Mirakl (sending and parked records included). shipping_deadline,
 * unmapped_carrier and despatch_short resolve when the despatch or the
 * order ends; a parked job's dead_job as it parks (unmapped_carrier says
 * what to do).
 *
 * Databases: despatch (order_id -> JSON record: "state" waiting | partial
 * | sending | parked | shipped | khaos_cancelled | shipped_cancelled,
 * "ref", "checked_ms", the unit sent, the carrier, "units_queued" and
 * "units_sent" (unit keys));
 * despatch_carriers ("sh21" -> {"fetched_ms", "carriers"}; "sh21.failed"
 * -> {"ms", "why"}; "sh21.refusal_refresh" -> {"ms"}); despatch_couriers
 * (Khaos courier -> {"seen_ms", "orders"}: the couriers Khaos wrote, for
 * GET /admin/carriers). Watermark: "khaos.despatch.watermark" in meta.
 */
#ifndef KCGATE_FLOWS_DESPATCH_H
#define KCGATE_FLOWS_DESPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/flow.h"
#include "kcgate/net.h"

extern const struct kcg_flow kcg_flow_despatch;

/** What Khaos's word on an order asks for next. */
enum kcg_despatch_next {
	KCG_DESPATCH_NOTHING,         /**< nothing shipped yet */
	KCG_DESPATCH_PARTIAL,         /**< some shipped (order mode: wait for the rest) */
	KCG_DESPATCH_SHIP,            /**< every line sent: OR23 + OR24 */
	KCG_DESPATCH_SHIPMENTS,       /**< shipments mode: shipped units not yet sent go to ST01 */
	KCG_DESPATCH_KHAOS_CANCELLED, /**< Khaos cancelled the sales order */
};

/**
 * Whether Khaos order @p k (one object of kcg_khaos_despatch_parse()) has
 * sent every line of Mirakl order @p order: the shipped units' items
 * cover each line's quantity by offer_sku (lines CANCELED or REFUSED need
 * nothing; a quantity past KCG_ORDER_QTY_MAX is never covered); or, when
 * no shipped unit lists items, every unit is shipped and their QTY_SENT
 * reaches their QTY_SOLD. COMPLETE is not enough on its own: a line the
 * warehouse removed from the sales order leaves it COMPLETE with the line
 * unsent. Pure.
 */
bool kcg_despatch_all_sent(const json_t *k, const json_t *order);

/**
 * The live lines of Mirakl order @p order that Khaos order @p k's shipped
 * units do not cover, as a new array of sentences ("<line id> (<sku>: n
 * of q sent)"); NULL out of memory. Pure.
 */
json_t *kcg_despatch_unsent(const json_t *k, const json_t *order);

/**
 * The decision: @p mode, Khaos order @p k, Mirakl order @p order, the
 * consignment refs already sent by ST01 (@p sent, an array; NULL = none).
 * Pure.
 */
enum kcg_despatch_next kcg_despatch_next(enum kcg_despatch_mode mode, const json_t *k, const json_t *order,
					 const json_t *sent);

/** The unit whose tracking OR23 carries: the first shipped one in Khaos's
 * order, or NULL. Pure. */
const json_t *kcg_despatch_unit(const json_t *k);

#define KCG_DESPATCH_TEXT_MAX 255
#define KCG_DESPATCH_URL_MAX 1000

/** The carrier OR23 (or ST01) names. */
struct kcg_despatch_carrier {
	char code[KCG_DESPATCH_TEXT_MAX + 1]; /**< a registered carrier's code, or "" */
	char name[KCG_DESPATCH_TEXT_MAX + 1]; /**< an unregistered carrier's name, or "" */
	char url[KCG_DESPATCH_URL_MAX + 1];   /**< its tracking URL (with a name only), or "" */
};

/**
 * Maps Khaos courier @p courier through [carriers] (@p map) for a parcel
 * with consignment ref @p consignment and Khaos's tracking URL
 * @p khaos_url: a code must be one of @p sh21's (an array of {"code"});
 * "name:<name>[|<template>]" gives the name and the URL (the template
 * with "{tracking}" replaced, else Khaos's URL). @return 0; KCG_ENOTFOUND
 * with the reason in @p why (not in the map; a code SH21 does not list;
 * a URL too long); -EAGAIN when @p sh21 is NULL (not read yet) and a code
 * must be checked. Pure.
 */
int kcg_despatch_carrier(const struct kcg_config_map *map, const json_t *sh21, const char *courier,
			 const char *consignment, const char *khaos_url, struct kcg_despatch_carrier *out,
			 char why[KCG_ERROR_MAX]);

/** A [carriers] value's check: a carrier code (printable, up to 255
 * bytes) or "name:<name>[|<http(s) URL template>]"; NULL when good. */
const char *kcg_despatch_check_carrier(const char *value);

/** Is a shipping deadline @p deadline_ms (0 = unknown) within @p alert_ms
 * at @p now_ms? Pure. */
bool kcg_despatch_deadline_near(uint64_t deadline_ms, uint64_t alert_ms, uint64_t now_ms);

/**
 * ST01's shipment_lines for unit @p unit of Mirakl order @p order: each
 * item's quantity placed on the order's lines with that offer_sku (not
 * CANCELED or REFUSED), at most each line's quantity, as a new array of
 * {"order_line_id", "quantity"} (empty when nothing maps; NULL out of
 * memory). Pure.
 */
json_t *kcg_despatch_st01_lines(const json_t *unit, const json_t *order);

#endif
