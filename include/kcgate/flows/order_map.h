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
 * | amount | `total_price` |
 * | currency | `currency_iso_code` |
 * | delivery_gross | `shipping_price` |
 * | po_number | `commercial_id` |
 * | invoice, delivery | `customer.billing_address`, `customer.shipping_address`: each serves for both when the other is missing; names fall back to `customer.firstname`/`lastname`; email is `customer_notification_email` |
 * | company_name | the invoice address's `company`, else "`customer.firstname` `customer.lastname`" |
 * | lines | `order_lines` not REFUSED or CANCELED: `offer_sku`, `quantity`, `price_unit`, `product_title` |
 *
 * Pure; never logs.
 */
#ifndef KCGATE_FLOWS_ORDER_MAP_H
#define KCGATE_FLOWS_ORDER_MAP_H

#include <jansson.h>

#include "kcgate/net.h"
#include "kcgate/peers/khaos.h"

/**
 * Maps the Mirakl order @p order into @p out (which then owns copies of
 * every value: free it with kcg_khaos_sales_order_finish()). @return 0,
 * -ENOMEM, or KCG_EPAYLOAD when the order lacks what booking needs, with
 * the Mirakl field in @p why ("order X: order_lines[1].offer_sku
 * missing"): order_id (without a comma: Khaos takes refs as CSV),
 * order_lines with at least one line to book, each such line's offer_sku
 * and whole quantity >= 1, and a created_date that is a date-time when
 * present. On failure @p out is left zeroed. @p why is "" on success.
 */
int kcg_order_map(const json_t *order, struct kcg_khaos_sales_order *out, char why[KCG_ERROR_MAX]);

#endif
