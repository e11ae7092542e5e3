/**
 * kcgate/peers/khaos.h: the Khaos Control client: the operations kcgate
 * uses (ImportOrders, ExportOrderStatusEx, ExportStockStatus, GetStockList),
 * over neutral structs. The authority on the wire is Khaos's Web
 * Integration Pack as summarised in shared/ref/khaos/FACTS.md (with the
 * templates beside it); docs/khaos-soap.md says what kcgate sends and
 * reads, fact by fact.
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

#include <jansson.h>

#define KCG_KHAOS_CODE_MAX 64 /**< longest sales order / stock code kept */
/** Longest ASSOCIATED_REF, in characters: the guide's 15 (the template
 * says 50; FACTS.md §1.7 takes the safe one). Never truncated. */
#define KCG_KHAOS_REF_MAX 15
/** Most items (ImportOrders results, ORDER, STOCK_ITEM) one answer may
 * carry; a longer answer is refused whole (KCG_EPAYLOAD). Answers are also
 * bounded by kcg_xml_parse()'s caps and jobs.max_reply_bytes. */
#define KCG_KHAOS_ITEMS_MAX 200000

/** An amount of money in minor units (pennies: no floating error); left
 * out of the order when not @p set. */
struct kcg_khaos_money {
	bool set;
	int64_t minor;  /**< sent as a decimal with two places ("1234" -> "12.34"); within +-1e14 */
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
	char *country;  /**< ISO 3166-1, alpha-3 or alpha-2: sent as [khaos] country_format says (an unknown code as it is) */
	char *forename;
	char *surname;
	char *tel;
	char *email;
};

/** One ORDER_ITEM, by stock code (MAPPING_TYPE 1). */
struct kcg_khaos_order_line {
	char *stock_code;                   /**< STOCK_CODE, required */
	int64_t quantity;                   /**< ORDER_QTY, >= 1 */
	struct kcg_khaos_money price_gross; /**< PRICE_GRS, per unit (tax included) */
	struct kcg_khaos_money price_net;   /**< PRICE_NET, per unit (tax excluded): with tax_rate; one of the two is required */
	char *tax_rate;                     /**< TAX_RATE, a Khaos tax code (1 standard, 2 zero, 4 reduced, >4 user), with price_net */
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
	struct kcg_khaos_money amount;      /**< ORDER_AMOUNT (Khaos checks its total against it), and the one PAYMENT_DETAIL for it */
	char *currency;                     /**< ORDER_CURRENCY_CODE, optional */
	char *order_note;                   /**< ORDER_NOTE (2000 characters; on the delivery note), optional */
	/** DELIVERY_GRS, or DELIVERY_NET + DELIVERY_TAX (net wins when set): 0
	 * is free delivery; none set lets Khaos compute its own charge. */
	struct kcg_khaos_money delivery_gross;
	struct kcg_khaos_money delivery_net;
	struct kcg_khaos_money delivery_tax;
	char *courier_code;                 /**< COURIER_CODE, optional (Khaos's default courier when absent) */
	char *po_number;                    /**< PO_NUMBER, optional */
	struct kcg_khaos_order_line *lines; /**< ORDER_ITEMS, at least one */
	size_t n_lines;
};

/** Frees what @p so owns and zeroes it. NULL-safe; safe on a zeroed struct. */
void kcg_khaos_sales_order_finish(struct kcg_khaos_sales_order *so);

/**
 * ImportOrders with one SALES_ORDER (@p so): CUSTOMER_DETAIL (with both
 * addresses), PAYMENTS (when the amount is set), ORDER_HEADER,
 * ORDER_ITEMS, in the template's element order. @return 0, -ENOMEM,
 * -EAGAIN (the transport is not ready: the namespace is still to be
 * learnt), -EINVAL (unknown transport), or KCG_EPAYLOAD when @p so lacks
 * what Khaos needs or a value is longer than Khaos takes, with the
 * element named in @p why: an associated ref without a comma; an invoice
 * address with IADDRESS1, ITOWN, IPOSTCODE and ISURNAME (guide p.28); at
 * least one line, each with a stock code, a quantity >= 1 and a price;
 * and every limit of FACTS.md §1.7 (kcg_khaos_field_limit()). Nothing is
 * ever cut short. @p why is "" on success.
 */
int kcg_khaos_import_orders(const struct kcg_khaos_config *cfg, const struct kcg_khaos_sales_order *so,
			    struct kcg_call *out, char why[KCG_ERROR_MAX]);

/**
 * The longest value, in characters, Khaos takes in element @p element of
 * the SALES_ORDERS document (FACTS.md §1.7), or 0 when none is documented.
 */
size_t kcg_khaos_field_limit(const char *element);

/**
 * Parses ImportOrders' TOrderImportResult (ImportedCount, OrderImport[]
 * of SalesOrderCode/AssociatedRef/Msg, OrderSkipped[] of
 * OrderRef/SkipReason; structs and arrays may be SOAP-encoding
 * references) for associated ref @p ref: 0 with the sales order code in
 * @p code; KCG_EDUPLICATE when Khaos has or may have it without a code
 * kcgate can keep: skipped because the ref exists already (a skip reason
 * or a fault saying so), imported without a usable code, or an answer
 * with no entry for @p ref (the caller reads the code back with
 * ExportOrderStatusEx and never imports again); KCG_EPAYLOAD when Khaos
 * refused it (its reason in @p why).
 */
int kcg_khaos_import_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
			   char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX]);

/**
 * ExportOrderStatusEx for one associated ref: the guide's ten parameters
 * in order (IDs, MappingType 4, WebOnly, ConfirmedOnly, IncludeTracking
 * false, IncludeCancelled true, DateFrom, DateTo, InvoiceStageIDs empty,
 * ShowItems false; booleans as [khaos] booleans says). -EINVAL for an
 * empty ref or one with a comma (IDs is a CSV: it could match someone
 * else's order); -EAGAIN while the transport is not ready.
 */
int kcg_khaos_order_status(const struct kcg_khaos_config *cfg, const char *ref, struct kcg_call *out);

/** One ORDER_STATUS of an ExportOrderStatusEx answer (KSDXMLOrderStatusEx.xml). */
struct kcg_khaos_order_info {
	char code[KCG_KHAOS_CODE_MAX];  /**< SORDER_CODE ("" when too long to keep) */
	char ref[KCG_KHAOS_CODE_MAX];   /**< ASSOCIATED_REF */
	bool complete;                  /**< COMPLETE -1 */
	bool cancelled;                 /**< a CANCELLED element is present */
	uint64_t created_ms;            /**< DATE_CREATED (DD/MM/YYYY, UTC midnight); 0 when absent */
	int stage;                      /**< the first INVOICE's INVOICE_STAGE_ID; -1 when none */
	char consignment[KCG_KHAOS_CODE_MAX]; /**< the first INVOICE's CONSIGNMENT_REF */
	uint64_t ship_ms;               /**< the first INVOICE's SHIP_DATE; 0 when absent */
};

/**
 * A Khaos DD/MM/YYYY date (as ExportOrderStatusEx writes them) as
 * milliseconds since the epoch at UTC midnight. @return 0 or -EINVAL.
 */
int kcg_khaos_parse_date(const char *s, uint64_t *ms);

/**
 * Parses ExportOrderStatusEx: 0 with the sales order code when Khaos has an
 * order with associated ref @p ref (and @p info filled, when not NULL);
 * KCG_ENOTFOUND when it has none.
 */
int kcg_khaos_order_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
				 char code[KCG_KHAOS_CODE_MAX], struct kcg_khaos_order_info *info,
				 char why[KCG_ERROR_MAX]);

/** What the despatch flow asks ExportOrderStatusEx (kcg_khaos_despatch_status()). */
struct kcg_khaos_status_query {
	const char *ids;  /**< associated refs as a comma list (MappingType 4), or NULL: the date-range form */
	uint64_t from_ms; /**< the date range (with ids NULL): DateFrom, */
	uint64_t to_ms;   /**< DateTo (sent as UTC YYYY-MM-DDTHH:MM:SS), from < to */
};

/**
 * ExportOrderStatusEx for despatch: by reference (@p q->ids, MappingType 4,
 * IncludeTracking false), or by date range (MappingType 1, IncludeTracking
 * true: "sales orders with tracking changes within the specified date
 * range"); IncludeCancelled and ShowItems (invoice items and boxes) true
 * in both. The caller checks each ref (no comma: IDs is a CSV). @return 0,
 * -ENOMEM, -EAGAIN (transport not ready), -EINVAL (no ids and no range).
 */
int kcg_khaos_despatch_status(const struct kcg_khaos_config *cfg, const struct kcg_khaos_status_query *q,
			      struct kcg_call *out);

/** Bounds of what kcg_khaos_despatch_parse() keeps. */
#define KCG_KHAOS_UNITS_MAX 200    /**< invoices + boxes of one order */
#define KCG_KHAOS_UNIT_ITEMS_MAX 1000 /**< items of one box or invoice */
#define KCG_KHAOS_TEXT_MAX 255     /**< COURIER, CONSIGNMENT_REF (bytes) */
#define KCG_KHAOS_URL_MAX 1000     /**< TRACKING_URL (bytes) */

/**
 * Parses an ExportOrderStatusEx answer (KSDXMLOrderStatusEx.xml) for
 * despatch: *@p orders gets a new JSON array, one object per ORDER_STATUS
 * with a usable ASSOCIATED_REF:
 *
 *   {"ref", "code", "complete": bool (COMPLETE -1), "cancelled": bool
 *    (a CANCELLED element), "courier" (the order's COURIER),
 *    "units": [{"key" ("<invoice code>#<invoice place>/<box place>", 0
 *               for an invoice packed in no box: the unit's identity),
 *               "invoice", "box": bool, "shipped": bool, "ship_ms",
 *               "courier", "consignment", "tracking_url",
 *               "qty_sold", "qty_sent", "items": [{"stock_code", "qty"}]}],
 *    "problems": [sentences]}
 *
 * A unit is a BOX (with its BOX_ITEMs) or, for an invoice packed in no
 * box, the INVOICE (with its INVOICE_ITEMs); its courier, consignment and
 * tracking URL fall back to the invoice's, then the order's courier. It
 * is shipped when it carries a SHIP_DATE (DD/MM/YYYY) and a
 * CONSIGNMENT_REF (a BOX SHIPPED="0" is not). Quantities are whole units
 * (a fraction is dropped). A value past its bound, or a date that is not
 * DD/MM/YYYY, leaves its unit unshipped with a sentence in "problems"
 * (never cut short). An order of more than KCG_KHAOS_UNITS_MAX units or
 * KCG_KHAOS_UNIT_ITEMS_MAX items in a unit is kept as {"ref", "code",
 * "oversized": the reason, "units": [], "problems": []}: skipped, the
 * rest of the answer read.
 */
int kcg_khaos_despatch_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, json_t **orders,
			     char why[KCG_ERROR_MAX]);

/** GetSOPData(Courier = true, the seven other flags false): the couriers
 * Khaos knows [XML-SOP]. */
int kcg_khaos_sop_couriers(const struct kcg_khaos_config *cfg, struct kcg_call *out);

#define KCG_KHAOS_COURIERS_MAX 1000 /**< couriers kept from one GetSOPData answer */

/**
 * Parses GetSOPData's answer: *@p couriers gets a new array of {"code",
 * "name"} from SOPDATA/COURIERS/COURIER (CODE attribute, the name as
 * text), at most KCG_KHAOS_COURIERS_MAX; a code of 64 bytes or more or a
 * name past KCG_KHAOS_TEXT_MAX leaves that courier out. @return 0,
 * KCG_EPAYLOAD, a transport error.
 */
int kcg_khaos_sop_couriers_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, json_t **couriers,
				 char why[KCG_ERROR_MAX]);

/**
 * ExportStockStatus(StockCode, MappingType, LastUpdated[, SiteID,
 * PotentialLeadTime]) for @p codes (comma list; "" = all) changed since
 * @p since_ms (0 = ever: sent as 2000-01-01T00:00:00), MappingType 1.
 * SiteID and PotentialLeadTime (0) are sent only when [khaos]
 * stock_site_id is set: without it Khaos answers for its default site.
 */
int kcg_khaos_stock_status(const struct kcg_khaos_config *cfg, const char *codes, uint64_t since_ms, struct kcg_call *out);

/** STATUS codes of KSDXMLStockStatus.xml. */
enum {
	KCG_STOCK_IN_STOCK = 0,
	KCG_STOCK_ALLOCATED = 1,
	KCG_STOCK_DUE_IN = 2,
	KCG_STOCK_NOT_DUE = 3,
	KCG_STOCK_DISCONTINUED = 4,  /**< "Discontinued (unavailable)" */
	KCG_STOCK_NOT_CONTROLLED = 5, /**< levels are not tracked for it */
};

/** One STOCK_ITEM of an ExportStockStatus answer. */
struct kcg_stock_item {
	char code[KCG_KHAOS_CODE_MAX];
	int64_t available;            /**< LEVEL: "amount of stock available to be sold" */
	int64_t build_potential;      /**< BUILD_POTENTIAL_CHILDREN (0 when absent) */
	int status;                   /**< STATUS 0-5 (KCG_STOCK_*), -1 when absent */
	bool discontinued;            /**< status == KCG_STOCK_DISCONTINUED */
	int site;                     /**< the SiteID asked for (set by the caller; 0 when none was sent) */
	int64_t sell_price;           /**< SELL_PRICE in 1/10,000 of the currency unit; -1 when absent or unreadable */
	int64_t websell_price;        /**< WEBSELL_PRICE, the same way */
};

/**
 * Parses ExportStockStatus, calling @p fn for each item as it is read
 * (stops and returns fn's value if it is non-zero). The inner document is
 * read as a stream (xmlTextReader), never held as a tree; the answer's
 * size is the call's bound. An empty result is no item. KCG_EPAYLOAD for
 * an item without a usable CODE, a LEVEL or BUILD_POTENTIAL_CHILDREN that
 * is not a number (empty = 0), a STATUS outside 0-5, more than
 * KCG_KHAOS_ITEMS_MAX items, a DTD, or XML that is not well-formed (items
 * before the fault were handed over already: the caller keeps nothing of
 * a failed parse).
 */
int kcg_khaos_stock_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
				 int (*fn)(const struct kcg_stock_item *item, void *arg), void *arg,
				 char why[KCG_ERROR_MAX]);

/** The inner document of kcg_khaos_stock_status_parse() alone (@p len
 * bytes of XML text), for tests and the fuzzer; *@p count gets the
 * STOCK_ITEM elements seen. */
int kcg_khaos_stock_items_read(const char *text, size_t len, int (*fn)(const struct kcg_stock_item *item, void *arg),
			       void *arg, size_t *count, char why[KCG_ERROR_MAX]);

/** LEVEL or BUILD_POTENTIAL_CHILDREN: an optionally signed integer, a
 * fraction dropped, empty = 0. @return 0 or -EINVAL. */
int kcg_khaos_parse_level(const char *s, int64_t *out);

#define KCG_KHAOS_PRICE_SCALE 10000 /**< prices are kept in 1/10,000 of the unit (Khaos shows 2 to 4 places) */

/** SELL_PRICE or WEBSELL_PRICE: digits with at most 4 decimal places
 * ("100.00"), at most 10^11 units, in 1/KCG_KHAOS_PRICE_SCALE of the unit.
 * @return 0, or -EINVAL (empty, signed, or otherwise not a price). */
int kcg_khaos_parse_price(const char *s, int64_t *out);

/**
 * GetStockList(DateType 0 = REVISION_DATE, DateValue, StockItemType 0 =
 * all) [WIG]: the stock codes revised since @p since_ms (0 = ever: sent as
 * 2000-01-01T00:00:00). What "revised" covers (a price, a description, a
 * new code; not stock movements, which are DateType 2) is Khaos's word,
 * unconfirmed (docs/khaos-soap.md §4.4).
 */
int kcg_khaos_stock_list(const struct kcg_khaos_config *cfg, uint64_t since_ms, struct kcg_call *out);

/** One TStockInfo of a GetStockList answer (what kcgate keeps of it). */
struct kcg_khaos_stock_info {
	char code[KCG_KHAOS_CODE_MAX];        /**< StockCode, trimmed; never empty */
	char parent_code[KCG_KHAOS_CODE_MAX]; /**< ParentCode (an SCS child's parent); "" when none or too long */
	uint64_t updated_ms;                  /**< LastUpdated (read as UTC, zone ignored); 0 when absent or unreadable */
};

/** What a GetStockList answer says of itself. */
struct kcg_khaos_stock_list {
	int64_t count;  /**< its Count; -1 when absent or not a number */
	size_t listed;  /**< TStockInfo handed over */
	size_t skipped; /**< TStockInfo left out: a StockCode of KCG_KHAOS_CODE_MAX bytes or more */
};

/**
 * Parses GetStockList's TStockList (Count, List: an array of TStockInfo
 * {StockCode, OtherRef, StockDesc, ParentCode, ParentOtherRef,
 * LastUpdated}; elements matched by local name, whatever their namespace:
 * the complex types' namespace is unknown [FACTS.md §1.1 G]). The struct,
 * the array and each item may be inline or SOAP-encoding references
 * (href/id), which are followed; a dangling one is passed over. Calls
 * @p fn (may be NULL) for each item in order; a non-zero value stops the
 * walk and is returned. @p list (optional) gets Count and what was read.
 * @return 0 (with @p why naming the first skipped item when some were
 * skipped, else ""), KCG_EPAYLOAD for a result that is not a TStockList,
 * a TStockInfo without StockCode, or more than KCG_KHAOS_ITEMS_MAX items
 * (items before the fault may have been handed over: the caller keeps
 * nothing of a failed parse), or a transport error.
 */
int kcg_khaos_stock_list_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
			       int (*fn)(const struct kcg_khaos_stock_info *info, void *arg), void *arg,
			       struct kcg_khaos_stock_list *list, char why[KCG_ERROR_MAX]);

#endif
