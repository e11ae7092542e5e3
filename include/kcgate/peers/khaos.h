/**
 * kcgate/khaos.h: the Khaos Control web service client (SOAP 1.1, RPC
 * style, every parameter a string; see ../shared/docs/peers.md §3a and
 * docs/khaos-soap.md for the exact envelopes).
 *
 * Pure: builds struct kcg_call and parses struct kcg_reply (net.h). XML is
 * built and read with libxml2 only; XML documents travel inside string
 * parameters as escaped text. Namespace and credentials come from [khaos].
 *
 * Parse functions return 0, -EAGAIN (transient: no answer, 5xx without a
 * Client fault, 429), KCG_ENOTFOUND where stated, or KCG_EPAYLOAD (a SOAP
 * Client fault or an answer that makes no sense) with a sentence in @p why.
 */
#ifndef KCGATE_KHAOS_H
#define KCGATE_KHAOS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/net.h"

#define KCG_KHAOS_CODE_MAX 64 /**< longest sales order / stock code kept */

/**
 * ImportOrders with one SALES_ORDER mapped from a Mirakl order (OR11/OR12
 * shape): ASSOCIATED_REF = order_id, SITE and SALES_SOURCE and
 * COMPANY_CLASS from config, customer and both addresses, ORDER_ITEMS by
 * stock code (MAPPING_TYPE 1 = offer_sku) with quantity and gross unit
 * price, shipping price as DELIVERY_GRS, ORDER_AMOUNT = total_price, one
 * PAYMENT_DETAIL for the total. @return 0, -ENOMEM, or KCG_EPAYLOAD when
 * the order lacks what Khaos needs (says which field in @p why).
 */
int kcg_khaos_import_orders(const struct kcg_khaos_config *cfg, const json_t *order, struct kcg_call *out,
			    char why[KCG_ERROR_MAX]);

/**
 * Parses ImportOrders' result for associated ref @p ref: 0 with the sales
 * order code in @p code; KCG_EPAYLOAD when Khaos refused the order (why).
 */
int kcg_khaos_import_parse(const struct kcg_reply *r, const char *ref, char code[KCG_KHAOS_CODE_MAX],
			   char why[KCG_ERROR_MAX]);

/** ExportOrderStatusEx for one associated ref (MappingType 4). */
int kcg_khaos_order_status(const struct kcg_khaos_config *cfg, const char *ref, struct kcg_call *out);

/**
 * Parses ExportOrderStatusEx: 0 with the sales order code when Khaos has an
 * order with associated ref @p ref; KCG_ENOTFOUND when it has none.
 */
int kcg_khaos_order_status_parse(const struct kcg_reply *r, const char *ref, char code[KCG_KHAOS_CODE_MAX],
				 char why[KCG_ERROR_MAX]);

/**
 * ExportStockStatus for @p codes (comma list; "" = all) changed since
 * @p since_ms (0 = ever), MappingType 1, SiteID from config.
 */
int kcg_khaos_stock_status(const struct kcg_khaos_config *cfg, const char *codes, uint64_t since_ms, struct kcg_call *out);

/** One STOCK_ITEM of an ExportStockStatus answer. */
struct kcg_stock_item {
	char code[KCG_KHAOS_CODE_MAX];
	int64_t available;            /**< LEVEL */
	bool discontinued;            /**< from STATUS (see docs/khaos-soap.md) */
};

/**
 * Parses ExportStockStatus, calling @p fn for each item (stops and returns
 * fn's value if it is non-zero).
 */
int kcg_khaos_stock_status_parse(const struct kcg_reply *r, int (*fn)(const struct kcg_stock_item *item, void *arg),
				 void *arg, char why[KCG_ERROR_MAX]);

/** GetStockList: stock codes changed since @p since_ms (DateType/DateValue; 0 = ever). */
int kcg_khaos_stock_list(const struct kcg_khaos_config *cfg, uint64_t since_ms, struct kcg_call *out);

/** Parses GetStockList, calling @p fn for each stock code. */
int kcg_khaos_stock_list_parse(const struct kcg_reply *r, int (*fn)(const char *code, void *arg), void *arg,
			       char why[KCG_ERROR_MAX]);

#endif
