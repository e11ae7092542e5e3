/**
 * kcgate/mirakl.h: the Mirakl seller API client (OR11, OR12, OR21; and
 * SH21, OR23, OR24, ST01, ST11 in mirakl_ship.c).
 *
 * Pure: builds struct kcg_call and parses struct kcg_reply (see net.h).
 * Facts from ../shared/docs/peers.md §1 and Mirakl's OpenAPI extract:
 * `Authorization: <api key>` (no Bearer), `Accept: application/json`,
 * optional `shop_id` query, ISO-8601 dates with '+' encoded as %2B. Unknown
 * fields are ignored and enums kept as strings.
 *
 * Parse functions return 0, -EAGAIN (transient: retry later), KCG_ENOTFOUND
 * (the order does not exist), or KCG_EPAYLOAD (a final refusal or an answer
 * that makes no sense) with a sentence in @p why.
 */
#ifndef KCGATE_MIRAKL_H
#define KCGATE_MIRAKL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/net.h"

#define KCG_MIRAKL_PAGE_MAX 100 /**< OR11's largest page (`max`) */

/** What OR11 asks for. */
struct kcg_or11_query {
	const char *order_ids;        /**< comma list, or NULL */
	const char *state_codes;      /**< e.g. "WAITING_ACCEPTANCE", or NULL (every state) */
	uint64_t start_update_ms;     /**< 0: no start_update_date */
	uint64_t end_update_ms;       /**< 0: no end_update_date (a paged walk fixes it, so the set
	                                   it pages through does not grow under it) */
	unsigned offset;
	unsigned max;                 /**< 1..100 */
};

/** OR11 `GET /api/orders` with paginate=true. @return 0, -ENOMEM or -E2BIG (a URL past 64 KiB). */
int kcg_mirakl_or11(const struct kcg_mirakl_config *cfg, const struct kcg_or11_query *q, struct kcg_call *out);

/**
 * Parses an OR11 answer: *@p orders gets a new reference to the "orders"
 * array (at most KCG_MIRAKL_PAGE_MAX orders: a longer page is KCG_EPAYLOAD),
 * *@p total the total_count.
 */
int kcg_mirakl_or11_parse(const struct kcg_reply *r, json_t **orders, uint64_t *total, char why[KCG_ERROR_MAX]);

/**
 * OR11 for one order (`order_ids` = @p order_id): how kcgate reads an
 * order (OR12 is deprecated by Mirakl). @return as kcg_mirakl_or11().
 */
int kcg_mirakl_or11_one(const struct kcg_mirakl_config *cfg, const char *order_id, struct kcg_call *out);

/**
 * Parses the answer to kcg_mirakl_or11_one(): *@p order gets a new
 * reference to the order @p order_id; KCG_ENOTFOUND when the answer does
 * not hold it (Mirakl does not know the order).
 */
int kcg_mirakl_or11_one_parse(const struct kcg_reply *r, const char *order_id, json_t **order, char why[KCG_ERROR_MAX]);

/** OR12 `GET /api/orders/{order_id}` (deprecated by Mirakl: kcgate reads with kcg_mirakl_or11_one()). @return 0, -ENOMEM or -E2BIG (a URL past 64 KiB). */
int kcg_mirakl_or12(const struct kcg_mirakl_config *cfg, const char *order_id, struct kcg_call *out);
/** Parses OR12: *@p order gets a new reference to the order object. */
int kcg_mirakl_or12_parse(const struct kcg_reply *r, json_t **order, char why[KCG_ERROR_MAX]);

/**
 * OR21 `PUT /api/orders/{order_id}/accept` accepting every line of
 * @p order that is WAITING_ACCEPTANCE. @return 0, -ENOMEM, -E2BIG (a URL past
 * 64 KiB) or KCG_EPAYLOAD when no line waits for acceptance.
 */
int kcg_mirakl_or21(const struct kcg_mirakl_config *cfg, const json_t *order, struct kcg_call *out);
/**
 * OR21 deciding every waiting line of @p order: refused (accepted false)
 * when its order_line_id is in @p refuse (a JSON array of strings; NULL =
 * none), accepted otherwise. Returns as kcg_mirakl_or21().
 */
int kcg_mirakl_or21_decide(const struct kcg_mirakl_config *cfg, const json_t *order, const json_t *refuse,
			   struct kcg_call *out);
/** Parses OR21: 204 is 0; 400 (wrong state) is KCG_EPAYLOAD; 404 KCG_ENOTFOUND. */
int kcg_mirakl_or21_parse(const struct kcg_reply *r, char why[KCG_ERROR_MAX]);
/** Whether an OR21 answer is Mirakl's 400 ORDER_PARTIAL_ACCEPTANCE_DISABLED
 * (the shop must accept every line or refuse every line). */
bool kcg_mirakl_or21_partial_disabled(const struct kcg_reply *r);

/* Reading an order (the OR11/OR12 shape). */

/** order_id, or NULL. */
const char *kcg_mirakl_order_id(const json_t *order);
/** order_state, or NULL. */
const char *kcg_mirakl_order_state(const json_t *order);
/** True when at least one line is WAITING_ACCEPTANCE. */
bool kcg_mirakl_order_waiting(const json_t *order);
/** True when no line is WAITING_ACCEPTANCE and at least one was accepted
 * (its state is past acceptance: SHIPPING, SHIPPED, ...). */
bool kcg_mirakl_order_accepted(const json_t *order);
/** Parses an ISO-8601 date-time ("2024-01-01T10:00:00Z", "+00:00", fractions) to Unix ms. @return 0 or -EINVAL. */
int kcg_mirakl_parse_time(const char *s, uint64_t *ms);

/* ---- shipping (mirakl_ship.c) ---- */

#define KCG_MIRAKL_CARRIERS_MAX 2000  /**< most carriers an SH21 answer may list */
#define KCG_MIRAKL_CARRIER_MAX 255    /**< longest carrier code or label (bytes) */
#define KCG_MIRAKL_URL_MAX 1000       /**< longest tracking URL (bytes) */
#define KCG_MIRAKL_SHIPMENTS_MAX 1000 /**< ST01's most shipments per call */

/** SH21 `GET /api/shipping/carriers` (Mirakl: at most once a day). @return 0, -ENOMEM, -E2BIG. */
int kcg_mirakl_sh21(const struct kcg_mirakl_config *cfg, struct kcg_call *out);

/**
 * Parses SH21: *@p carriers gets a new array of {"code", "label",
 * "tracking_url" ("" when none)}; a carrier without a code or a label, a
 * value past its bound, or more than KCG_MIRAKL_CARRIERS_MAX carriers is
 * KCG_EPAYLOAD.
 */
int kcg_mirakl_sh21_parse(const struct kcg_reply *r, json_t **carriers, char why[KCG_ERROR_MAX]);

/** What OR23 sends: exactly one of carrier_code (a registered carrier)
 * and carrier_name (an unregistered one, with an optional carrier_url). */
struct kcg_mirakl_tracking {
	const char *carrier_code;
	const char *carrier_name;
	const char *carrier_url;     /**< sent only with carrier_name */
	const char *tracking_number; /**< left out when empty */
};

/** OR23 `PUT /api/orders/{order_id}/tracking`. @return 0, -ENOMEM, -E2BIG,
 * or -EINVAL (no order id, or not exactly one of code and name). */
int kcg_mirakl_or23(const struct kcg_mirakl_config *cfg, const char *order_id, const struct kcg_mirakl_tracking *t,
		    struct kcg_call *out);

/** OR24 `PUT /api/orders/{order_id}/ship`: no body, no Content-Type. */
int kcg_mirakl_or24(const struct kcg_mirakl_config *cfg, const char *order_id, struct kcg_call *out);

/** Parses OR23 or OR24 (@p what): 204 is 0; 404 KCG_ENOTFOUND; 400
 * (OR24: the order is not SHIPPING) KCG_EPAYLOAD; transient -EAGAIN. */
int kcg_mirakl_ship_parse(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX]);

/** ST01 `POST /api/shipments` with @p shipments (1..KCG_MIRAKL_SHIPMENTS_MAX
 * objects of ST01's shape, copied). @return 0, -ENOMEM, -E2BIG, -EINVAL. */
int kcg_mirakl_st01(const struct kcg_mirakl_config *cfg, const json_t *shipments, struct kcg_call *out);

/**
 * Parses ST01 for @p order_id: 0 when shipment_success names it;
 * KCG_EPAYLOAD with Mirakl's message when shipment_errors does (or
 * neither does); 404 KCG_ENOTFOUND (the platform has no ST01); transient
 * -EAGAIN.
 */
int kcg_mirakl_st01_parse(const struct kcg_reply *r, const char *order_id, char why[KCG_ERROR_MAX]);

#define KCG_MIRAKL_TOKEN_MAX 255 /**< longest ST11 next_page_token kept */

/** ST11 `GET /api/shipments?order_id=` (a page: @p page_token NULL or "" for the first). */
int kcg_mirakl_st11(const struct kcg_mirakl_config *cfg, const char *order_id, const char *page_token,
		    struct kcg_call *out);

/**
 * Parses an ST11 page: adds to *@p matches (the caller zeroes it before
 * the first page) each shipment of @p order_id that carries
 * @p tracking_number and, when @p lines is not NULL, exactly those
 * shipment lines ({"order_line_id","quantity"}): two boxes of one
 * consignment ref are told apart by their lines; @p next gets the next page's token ("" on the last
 * page). A page of more than KCG_MIRAKL_SHIPMENTS_MAX shipments, or a
 * token past KCG_MIRAKL_TOKEN_MAX bytes, is KCG_EPAYLOAD.
 */
int kcg_mirakl_st11_find(const struct kcg_reply *r, const char *order_id, const char *tracking_number,
			 const json_t *lines, size_t *matches,
			 char next[KCG_MIRAKL_TOKEN_MAX + 1], char why[KCG_ERROR_MAX]);

/** Whether Mirakl order state @p state is SHIPPED or later (SHIPPED,
 * TO_COLLECT, RECEIVED, CLOSED). */
bool kcg_mirakl_state_shipped(const char *state);

#endif
