/**
 * kcgate/peers/khaos.h: the Khaos Control client: the operations kcgate
 * uses (ImportOrders, ExportOrderStatusEx, ExportStockStatus, GetStockList),
 * over neutral structs. See ../shared/docs/peers.md §3 and
 * docs/khaos-soap.md for the exact wire.
 *
 * Pure: builders fill a struct kcg_call, parsers read a struct kcg_reply
 * (net.h); nothing here touches the network. Each operation says what to
 * ask (a method and its string parameters) and how to read the result;
 * how that travels (envelope, namespace, credentials, faults) is the
 * transport's, chosen by [khaos] transport (khaos_transport.h; "soap", the
 * default, is khaos_soap.h). XML is built and read with libxml2 only.
 *
 * The client speaks Khaos: a sales order to book is a struct
 * kcg_khaos_sales_order whose fields are named for the SALES_ORDERS
 * elements they fill. Turning another peer's order into one is the
 * caller's business (flows/order_map.h for Mirakl).
 *
 * Builders return 0, -ENOMEM or -EINVAL (a transport that is not known).
 * Parsers return 0, -EAGAIN (transient: no answer, 5xx without a Client
 * fault, 429), KCG_ENOTFOUND where stated, or KCG_EPAYLOAD (a Client
 * fault or an answer that makes no sense) with a printable sentence in
 * @p why.
 */
#ifndef KCGATE_KHAOS_H
#define KCGATE_KHAOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcgate/config.h"
#include "kcgate/net.h"

#define KCG_KHAOS_CODE_MAX 64 /**< longest sales order / stock code kept */
/** Most items (ImportOrders results, ORDER, STOCK_ITEM) one answer may
 * carry; a longer answer is refused whole (KCG_EPAYLOAD). Answers are also
 * bounded by kcg_xml_parse()'s caps and jobs.max_reply_bytes. */
#define KCG_KHAOS_ITEMS_MAX 200000

/** An amount of money; left out of the order when not @p set. */
struct kcg_khaos_money {
	bool set;
	double value;   /**< sent with at least two decimals; must be within +-1e12 */
};

/**
 * INVADDR or DELADDR (the same names with prefix I or D). Every string is
 * optional (NULL or "" is left out) and owned by the sales order.
 */
struct kcg_khaos_address {
	char *address1;
	char *address2;
	char *town;
	char *county;
	char *postcode;
	char *country;  /**< ISO 3166-1, alpha-3 or alpha-2: sent as alpha-2 (an unknown code as it is) */
	char *forename;
	char *surname;
	char *tel;
	char *email;
};

/** One ORDER_ITEM, by stock code (MAPPING_TYPE 1). */
struct kcg_khaos_order_line {
	char *stock_code;                   /**< STOCK_CODE, required */
	int64_t quantity;                   /**< ORDER_QTY, >= 1 */
	struct kcg_khaos_money price_gross; /**< PRICE_GRS, per unit */
	char *description;                  /**< STOCK_DESC, optional */
};

/**
 * One SALES_ORDER. Owns every string and the lines (malloc'd);
 * kcg_khaos_sales_order_finish() frees them. SITE, SALES_SOURCE and
 * COMPANY_CLASS come from [khaos], IS_NEW_CUSTOMER and PAYMENT_TYPE are
 * the client's own (docs/khaos-soap.md), so they are not here.
 */
struct kcg_khaos_sales_order {
	char *associated_ref;               /**< ASSOCIATED_REF: the exactly-once key; required, no comma */
	char *company_name;                 /**< COMPANY_NAME, optional */
	struct kcg_khaos_address invoice;   /**< INVADDR */
	struct kcg_khaos_address delivery;  /**< DELADDR */
	bool has_date;
	uint64_t date_ms;                   /**< ORDER_DATE (sent as UTC) when has_date */
	struct kcg_khaos_money amount;      /**< ORDER_AMOUNT, and the one PAYMENT_DETAIL for it */
	char *currency;                     /**< ORDER_CURRENCY_CODE, optional */
	struct kcg_khaos_money delivery_gross; /**< DELIVERY_GRS */
	char *po_number;                    /**< PO_NUMBER, optional */
	struct kcg_khaos_order_line *lines; /**< ORDER_ITEMS, at least one */
	size_t n_lines;
};

/** Frees what @p so owns and zeroes it. NULL-safe; safe on a zeroed struct. */
void kcg_khaos_sales_order_finish(struct kcg_khaos_sales_order *so);

/**
 * ImportOrders with one SALES_ORDER (@p so): CUSTOMER_DETAIL (with both
 * addresses), PAYMENTS (when the amount is set), ORDER_HEADER,
 * ORDER_ITEMS. @return 0, -ENOMEM, -EINVAL (unknown transport), or
 * KCG_EPAYLOAD when @p so lacks what Khaos needs (an associated ref
 * without a comma, a line, a stock code and a quantity >= 1 per line;
 * says which in @p why). @p why is "" on success.
 */
int kcg_khaos_import_orders(const struct kcg_khaos_config *cfg, const struct kcg_khaos_sales_order *so,
			    struct kcg_call *out, char why[KCG_ERROR_MAX]);

/**
 * Parses ImportOrders' result for associated ref @p ref: 0 with the sales
 * order code in @p code; KCG_EPAYLOAD when Khaos refused the order (why).
 */
int kcg_khaos_import_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
			   char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX]);

/**
 * ExportOrderStatusEx for one associated ref (MappingType 4, cancelled
 * orders included). -EINVAL for an empty ref or one with a comma (IDs is a
 * CSV: it could match someone else's order).
 */
int kcg_khaos_order_status(const struct kcg_khaos_config *cfg, const char *ref, struct kcg_call *out);

/**
 * Parses ExportOrderStatusEx: 0 with the sales order code when Khaos has an
 * order with associated ref @p ref; KCG_ENOTFOUND when it has none.
 */
int kcg_khaos_order_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
				 char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX]);

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
int kcg_khaos_stock_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
				 int (*fn)(const struct kcg_stock_item *item, void *arg), void *arg,
				 char why[KCG_ERROR_MAX]);

/** GetStockList: stock codes changed since @p since_ms (DateType/DateValue; 0 = ever). */
int kcg_khaos_stock_list(const struct kcg_khaos_config *cfg, uint64_t since_ms, struct kcg_call *out);

/** Parses GetStockList, calling @p fn for each stock code. */
int kcg_khaos_stock_list_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
			       int (*fn)(const char *code, void *arg), void *arg, char why[KCG_ERROR_MAX]);

#endif
