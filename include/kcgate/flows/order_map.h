/**
 * kcgate/flows/order_map.h: a Mirakl order as a Khaos sales order.
 *
 * The one place where Mirakl's field names meet Khaos's: the order flow's
 * booking step (flows/orders.c) maps the Mirakl order it holds (OR11/OR12
 * shape) into a struct kcg_khaos_sales_order (peers/khaos.h) and hands
 * that to the Khaos client, which never reads a Mirakl field.
 *
 * | Khaos sales order | from the Mirakl order |
 * |---|---|
 * | associated_ref | `order_id` |
 * | has_date, date_ms | `created_date` |
 * | amount (ORDER_AMOUNT) | what the customer pays: `total_price`, plus every line's `taxes[]` and `shipping_taxes[]` when `order_tax_mode` is TAX_EXCLUDED |
 * | currency | `currency_iso_code` |
 * | delivery_gross (DELIVERY_GRS) | `shipping_price` (0 when free, never left out), TAX_INCLUDED |
 * | delivery_net + delivery_tax | `shipping_price` + the lines' `shipping_taxes[]`, TAX_EXCLUDED |
 * | courier_code | `shipping_type_code` through [shipping_methods]; none without that section |
 * | order_note (ORDER_NOTE) | "Pickup point: `shipping_pudo_id`. Ship by: `shipping_deadline`." (either part when present) |
 * | po_number | `commercial_id` |
 * | invoice, delivery | `customer.billing_address`, `customer.shipping_address`: each serves for both when the other is missing; names fall back to `customer.firstname`/`lastname`; email is `customer_notification_email` |
 * | company_name | the invoice address's `company`, else "`customer.firstname` `customer.lastname`" |
 * | lines | `order_lines` not REFUSED or CANCELED: `offer_sku`, `quantity`, `product_title`; the unit price is `price` / `quantity` (what was paid, promotions included; `price_unit` x `quantity` only when `price` is absent) |
 *
 * Money is counted in integer pennies. A line whose price does not divide
 * by its quantity is booked as two ORDER_ITEMs of the same stock code (n
 * at the lower penny, the rest one penny more), so the booked lines add up
 * to the line price exactly. TAX_INCLUDED lines go as PRICE_GRS;
 * TAX_EXCLUDED lines as PRICE_NET with the Khaos TAX_RATE code that
 * [khaos.tax_rates] gives for the line's `taxes[].code` (a line without
 * tax: code 2, zero-rated [XML-IMP]). The lines plus delivery must equal
 * ORDER_AMOUNT to the penny, else nothing is booked.
 *
 * Pure; never logs.
 */
#ifndef KCGATE_FLOWS_ORDER_MAP_H
#define KCGATE_FLOWS_ORDER_MAP_H

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/net.h"
#include "kcgate/peers/khaos.h"

/** The maps a booking reads ([shipping_methods], [khaos.tax_rates]); NULL = section absent. */
struct kcg_order_map_config {
	const struct kcg_config_map *shipping_methods; /**< NULL: no COURIER_CODE sent */
	const struct kcg_config_map *tax_rates;        /**< NULL: no TAX_EXCLUDED line with tax can be booked */
};

/** Why an order cannot be booked (with KCG_EPAYLOAD). */
enum kcg_order_map_fault {
	KCG_ORDER_MAP_OK = 0,
	KCG_ORDER_MAP_DATA,             /**< a field missing or malformed */
	KCG_ORDER_MAP_PRICE,            /**< price_mismatch: the amounts do not add up (or a line's taxes have several Khaos rates) */
	KCG_ORDER_MAP_TAX_CODE,         /**< price_mismatch too: a Mirakl tax code [khaos.tax_rates] does not map */
	KCG_ORDER_MAP_SHIPPING,         /**< unmapped_shipping_method: [shipping_methods] exists and lacks the code */
	KCG_ORDER_MAP_PARTIAL,          /**< order_unbookable: a live line has cancelations or refunds (their quantities are "informative only") */
};

/**
 * Maps the Mirakl order @p order into @p out (which then owns copies of
 * every value: free it with kcg_khaos_sales_order_finish()) with the maps
 * of @p mc (NULL: none). @return 0, -ENOMEM, or KCG_EPAYLOAD when the
 * order cannot be booked, *@p fault (when not NULL) saying why and @p why
 * naming the Mirakl field or code ("order X: order_lines[1].offer_sku
 * missing"). Data: order_id (without a comma: Khaos takes refs as CSV),
 * order_lines with at least one line to book, each such line's offer_sku,
 * whole quantity >= 1 and price (whole pennies, >= 0), total_price, a
 * created_date that is a date-time when present, order_tax_mode
 * TAX_INCLUDED (the default) or TAX_EXCLUDED. A line still live with
 * cancelations or refunds is not guessed at (Mirakl calls their quantities
 * informative only): KCG_ORDER_MAP_PARTIAL. On failure @p out is left
 * zeroed. @p why is "" on success.
 */
int kcg_order_map(const json_t *order, const struct kcg_order_map_config *mc, struct kcg_khaos_sales_order *out,
		  enum kcg_order_map_fault *fault, char why[KCG_ERROR_MAX]);

#endif
