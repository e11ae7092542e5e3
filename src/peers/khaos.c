/*
 * khaos.c: the Khaos Control client's operations (kcgate/peers/khaos.h):
 * ImportOrders, ExportOrderStatusEx, ExportStockStatus and GetStockList,
 * what each asks and how each reads its result, over neutral structs. How
 * a call travels is the transport's (khaos_transport.h), chosen by
 * [khaos] transport. The wire contract is docs/khaos-soap.md; this file
 * matches it as follows.
 *
 * Requests: every parameter of the method is sent, in the documented
 * order, empty when there is nothing to say. The SALES_ORDERS document is
 * built with libxml2's tree API (values become text nodes, escaped on
 * output), serialised (UTF-8, no declaration) and sent as the text of the
 * Orders parameter. Empty values are left out rather than sent empty.
 *
 * Results: the three exports return a string holding an XML document;
 * ImportOrders returns a list of structs (or a single struct). Elements
 * are found by local name; unknown elements and attributes are ignored;
 * the root element's name of an export is not relied on.
 *
 * Rules that are ours (docs/khaos-soap.md marks the facts as assumptions):
 *  - PAYMENT_TYPE is 3 (account): the marketplace, not the shopper, pays
 *    the seller; IS_NEW_CUSTOMER is -1 (Khaos booleans are -1/0);
 *  - country codes go out as ISO 3166 alpha-2 (iso3166.h; an unknown code
 *    is sent as it came);
 *  - a stock item is discontinued when STATUS is "Discontinued" (any case),
 *    active otherwise (see is_discontinued());
 *  - ExportOrderStatusEx asks with IncludeCancelled=1: an order booked and
 *    then cancelled in Khaos still exists for the exactly-once check.
 * Every @p why is printable ASCII.
 */
#include "kcgate/peers/khaos.h"
#include "kcgate/common.h"
#include "kcgate/peers/iso3166.h"
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/khaos_transport.h"
#include "kcgate/peers/xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#define IS_NEW_CUSTOMER "-1"
#define PAYMENT_TYPE_ACCOUNT "3"
#define MAPPING_STOCK_CODE "1"
#define MAPPING_ASSOCIATED_REF "4"
#define DATE_TYPE_MODIFIED "1"
#define STATUS_DISCONTINUED "Discontinued"
#define DEFAULT_TRANSPORT "soap"
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The transports [khaos] transport can name. */
static const struct kcg_khaos_transport *const transports[] = { &kcg_khaos_soap };

/* The configured transport (the default when none is set), or NULL. */
static const struct kcg_khaos_transport *transport(const struct kcg_khaos_config *cfg)
{
	const char *name = cfg->transport && *cfg->transport ? cfg->transport : DEFAULT_TRANSPORT;
	for (size_t i = 0; i < N(transports); i++)
		if (strcmp(transports[i]->name, name) == 0)
			return transports[i];
	return NULL;
}

/* Builds the call of @p method through the configured transport. */
static int request(const struct kcg_khaos_config *cfg, const char *method, const struct kcg_khaos_param *params,
		   size_t n_params, struct kcg_call *out)
{
	const struct kcg_khaos_transport *t = transport(cfg);
	*out = (struct kcg_call){ 0 };
	return t ? t->request(cfg, method, params, n_params, out) : -EINVAL;
}

/* Opens an answer to @p method through the configured transport; on 0 the
 * caller closes it with close_answer(). */
static int open_answer(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *method,
		       struct kcg_khaos_answer *a, char why[KCG_ERROR_MAX])
{
	const struct kcg_khaos_transport *t = transport(cfg);
	*a = (struct kcg_khaos_answer){ 0 };
	if (!t) {
		kcg_why(why, "%s: [khaos] transport '%s' is not known", method, cfg->transport);
		return -EINVAL;
	}
	int rc = t->open(cfg, r, method, a, why);
	a->transport = t; /* set after: open() starts from a zeroed answer */
	return rc;
}

static void close_answer(const struct kcg_khaos_config *cfg, struct kcg_khaos_answer *a)
{
	if (a->transport)
		a->transport->close(a);
}

/* ---- the sales order ---- */

void kcg_khaos_sales_order_finish(struct kcg_khaos_sales_order *so)
{
	if (!so)
		return;
	struct kcg_khaos_address *addrs[] = { &so->invoice, &so->delivery };
	for (size_t i = 0; i < N(addrs); i++) {
		struct kcg_khaos_address *a = addrs[i];
		char *fields[] = { a->address1, a->address2, a->town,     a->county, a->postcode,
				   a->country,  a->forename, a->surname, a->tel,    a->email };
		for (size_t k = 0; k < N(fields); k++)
			free(fields[k]);
	}
	for (size_t i = 0; so->lines && i < so->n_lines; i++) {
		free(so->lines[i].stock_code);
		free(so->lines[i].description);
	}
	free(so->lines);
	free(so->associated_ref);
	free(so->company_name);
	free(so->currency);
	free(so->po_number);
	*so = (struct kcg_khaos_sales_order){ 0 };
}

/* An amount as a decimal with at least two places ("10" -> "10.00",
 * "1.2345" kept). False when it is not set or not of sane size. */
static bool money(const struct kcg_khaos_money *m, char out[48])
{
	if (!m->set)
		return false;
	double x = m->value;
	if (!(x > -1e12 && x < 1e12))
		return false;
	if (x == 0)
		x = 0; /* no "-0.00" */
	snprintf(out, 48, "%.6f", x);
	char *dot = strchr(out, '.');
	char *end = out + strlen(out);
	while (end > dot + 3 && end[-1] == '0')
		*--end = '\0';
	return true;
}

static void add_money(struct kcg_xml_build *b, xmlNodePtr parent, const char *name, const struct kcg_khaos_money *m)
{
	char s[48];
	if (money(m, s))
		kcg_xml_add(b, parent, name, s);
}

/* Khaos-style date: "YYYY-MM-DDTHH:MM:SS" UTC. */
static void khaos_time(uint64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* A "changed since" date parameter: "" for 0 (ever). */
static void khaos_date(uint64_t ms, char out[32])
{
	out[0] = '\0';
	if (ms)
		khaos_time(ms, out);
}

/* INVADDR (prefix 'I') or DELADDR ('D'). */
static void add_address(struct kcg_xml_build *b, xmlNodePtr parent, char prefix, const struct kcg_khaos_address *a)
{
	const struct {
		const char *suffix, *value;
	} fields[] = {
		{ "ADDRESS1", a->address1 }, { "ADDRESS2", a->address2 },
		{ "TOWN", a->town },         { "COUNTY", a->county },
		{ "POSTCODE", a->postcode }, { "COUNTRY_CODE", kcg_iso3166_alpha2(a->country) },
		{ "FORENAME", a->forename }, { "SURNAME", a->surname },
		{ "TEL", a->tel },           { "EMAIL", a->email },
	};
	char name[32];
	xmlNodePtr el = kcg_xml_add(b, parent, prefix == 'I' ? "INVADDR" : "DELADDR", NULL);

	for (size_t i = 0; i < N(fields); i++) {
		snprintf(name, sizeof(name), "%c%s", prefix, fields[i].suffix);
		kcg_xml_add_opt(b, el, name, fields[i].value);
	}
}

/* What Khaos needs of a sales order. @return 0 or KCG_EPAYLOAD (why). */
static int check_order(const struct kcg_khaos_sales_order *so, char why[KCG_ERROR_MAX])
{
	const char *ref = so->associated_ref;
	if (!ref || !*ref) {
		kcg_why(why, "sales order: associated ref missing");
		return KCG_EPAYLOAD;
	}
	/* ExportOrderStatusEx takes refs as CSV: a comma would break the
	 * exactly-once check, so such a ref is never booked. */
	if (strchr(ref, ',')) {
		kcg_why(why, "sales order %s: the associated ref contains a comma (sent as CSV)", ref);
		return KCG_EPAYLOAD;
	}
	if (!so->lines || so->n_lines == 0) {
		kcg_why(why, "sales order %s: no order line", ref);
		return KCG_EPAYLOAD;
	}
	for (size_t i = 0; i < so->n_lines; i++) {
		if (!so->lines[i].stock_code || !*so->lines[i].stock_code) {
			kcg_why(why, "sales order %s: line %zu: stock code missing", ref, i + 1);
			return KCG_EPAYLOAD;
		}
		if (so->lines[i].quantity < 1) {
			kcg_why(why, "sales order %s: line %zu: quantity below 1", ref, i + 1);
			return KCG_EPAYLOAD;
		}
	}
	return 0;
}

/* The SALES_ORDERS document for @p so (checked). @return 0 or -ENOMEM. */
static int sales_orders(const struct kcg_khaos_config *cfg, const struct kcg_khaos_sales_order *so,
			struct kcg_xml_build *b)
{
	char date[32] = "", total[48] = "";

	b->doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = b->doc ? xmlNewDocNode(b->doc, NULL, BAD_CAST "SALES_ORDERS", NULL) : NULL;
	if (!root)
		return -ENOMEM;
	xmlDocSetRootElement(b->doc, root);
	xmlNodePtr order = kcg_xml_add(b, root, "SALES_ORDER", NULL);

	xmlNodePtr cd = kcg_xml_add(b, order, "CUSTOMER_DETAIL", NULL);
	kcg_xml_add(b, cd, "IS_NEW_CUSTOMER", IS_NEW_CUSTOMER);
	kcg_xml_add_opt(b, cd, "COMPANY_CLASS", cfg->company_class);
	kcg_xml_add_opt(b, cd, "COMPANY_NAME", so->company_name);
	xmlNodePtr addrs = kcg_xml_add(b, cd, "ADDRESSES", NULL);
	add_address(b, addrs, 'I', &so->invoice);
	add_address(b, addrs, 'D', &so->delivery);

	/* One payment for the whole order, by the marketplace. */
	if (money(&so->amount, total)) {
		xmlNodePtr pd = kcg_xml_add(b, kcg_xml_add(b, order, "PAYMENTS", NULL), "PAYMENT_DETAIL", NULL);
		kcg_xml_add(b, pd, "PAYMENT_AMOUNT", total);
		kcg_xml_add(b, pd, "PAYMENT_TYPE", PAYMENT_TYPE_ACCOUNT);
	}

	if (so->has_date)
		khaos_time(so->date_ms, date);
	xmlNodePtr hdr = kcg_xml_add(b, order, "ORDER_HEADER", NULL);
	kcg_xml_add_opt(b, hdr, "ORDER_DATE", date);
	kcg_xml_add_opt(b, hdr, "ORDER_AMOUNT", total);
	kcg_xml_add_opt(b, hdr, "ORDER_CURRENCY_CODE", so->currency);
	kcg_xml_add_opt(b, hdr, "SITE", cfg->site);
	kcg_xml_add(b, hdr, "ASSOCIATED_REF", so->associated_ref);
	kcg_xml_add_opt(b, hdr, "SALES_SOURCE", cfg->sales_source);
	add_money(b, hdr, "DELIVERY_GRS", &so->delivery_gross);
	kcg_xml_add_opt(b, hdr, "PO_NUMBER", so->po_number);

	xmlNodePtr items = kcg_xml_add(b, order, "ORDER_ITEMS", NULL);
	for (size_t i = 0; i < so->n_lines; i++) {
		const struct kcg_khaos_order_line *l = &so->lines[i];
		char qty[32];
		snprintf(qty, sizeof(qty), "%lld", (long long)l->quantity);
		xmlNodePtr it = kcg_xml_add(b, items, "ORDER_ITEM", NULL);
		kcg_xml_add(b, it, "STOCK_CODE", l->stock_code);
		kcg_xml_add(b, it, "MAPPING_TYPE", MAPPING_STOCK_CODE);
		kcg_xml_add(b, it, "ORDER_QTY", qty);
		add_money(b, it, "PRICE_GRS", &l->price_gross);
		kcg_xml_add_opt(b, it, "STOCK_DESC", l->description);
	}
	return b->oom ? -ENOMEM : 0;
}

/* Serialises @p doc's root element as UTF-8 without a declaration. */
static char *dump_inner(xmlDocPtr doc)
{
	xmlBufferPtr buf = xmlBufferCreate();
	if (!buf)
		return NULL;
	char *out = NULL;
	xmlSaveCtxtPtr save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL);
	if (save) {
		long n = xmlSaveDoc(save, doc);
		if (xmlSaveClose(save) >= 0 && n >= 0) {
			const char *c = (const char *)xmlBufferContent(buf);
			size_t len = strlen(c);
			while (len > 0 && c[len - 1] == '\n')
				len--; /* the saver's final newline is not part of the document */
			out = strndup(c, len);
		}
	}
	xmlBufferFree(buf);
	return out;
}

/* ---- the requests ---- */

int kcg_khaos_import_orders(const struct kcg_khaos_config *cfg, const struct kcg_khaos_sales_order *so,
			    struct kcg_call *out, char why[KCG_ERROR_MAX])
{
	struct kcg_xml_build inner = { 0 };
	char *text = NULL;

	*out = (struct kcg_call){ 0 };
	why[0] = '\0';
	int rc = check_order(so, why);
	if (rc != 0)
		return rc;
	kcg_xml_init();
	rc = sales_orders(cfg, so, &inner);
	if (rc != 0)
		goto fail_inner;
	text = dump_inner(inner.doc);
	if (!text) {
		rc = -ENOMEM;
		goto fail_inner;
	}
	const struct kcg_khaos_param params[] = { { "Orders", text } };
	rc = request(cfg, "ImportOrders", params, N(params), out);
	free(text);
fail_inner:
	if (rc == -ENOMEM)
		kcg_why(why, "out of memory");
	xmlFreeDoc(inner.doc);
	return rc;
}

int kcg_khaos_order_status(const struct kcg_khaos_config *cfg, const char *ref, struct kcg_call *out)
{
	*out = (struct kcg_call){ 0 };
	/* IDs is a CSV: a ref with a comma could match someone else's order. */
	if (!ref || !*ref || strchr(ref, ','))
		return -EINVAL;
	const struct kcg_khaos_param params[] = {
		{ "IDs", ref },
		{ "MappingType", MAPPING_ASSOCIATED_REF },
		{ "IncludeTracking", "0" },
		{ "IncludeCancelled", "1" },
		{ "DateFrom", "" },
		{ "DateTo", "" },
		{ "InvoiceStageIDs", "" },
	};
	return request(cfg, "ExportOrderStatusEx", params, N(params), out);
}

int kcg_khaos_stock_status(const struct kcg_khaos_config *cfg, const char *codes, uint64_t since_ms, struct kcg_call *out)
{
	char since[32];
	khaos_date(since_ms, since);
	const struct kcg_khaos_param params[] = {
		{ "StockCodes", codes ? codes : "" },
		{ "MappingType", MAPPING_STOCK_CODE },
		{ "LastUpdated", since },
		{ "SiteID", cfg->site ? cfg->site : "" },
	};
	return request(cfg, "ExportStockStatus", params, N(params), out);
}

int kcg_khaos_stock_list(const struct kcg_khaos_config *cfg, uint64_t since_ms, struct kcg_call *out)
{
	char since[32];
	khaos_date(since_ms, since);
	const struct kcg_khaos_param params[] = {
		{ "DateType", DATE_TYPE_MODIFIED },
		{ "DateValue", since },
		{ "StockItemType", "" },
	};
	return request(cfg, "GetStockList", params, N(params), out);
}

/* ---- the results ---- */

/* The XML document carried as text in a string result. *@p inner stays
 * NULL when the string is empty (Khaos has nothing to say). */
static int open_inner(const struct kcg_khaos_answer *a, const char *method, xmlDocPtr *inner, char why[KCG_ERROR_MAX])
{
	*inner = NULL;
	char *text = kcg_xml_text(a->result);
	if (!text) {
		kcg_why(why, "%s: out of memory", method);
		return -ENOMEM;
	}
	int rc = 0;
	if (*text) {
		char unread[KCG_ERROR_MAX];
		if (kcg_xml_parse(text, strlen(text), inner, unread) != 0) {
			kcg_why(why, "%s: the result is not an XML document kcgate reads: %s", method, unread);
			rc = KCG_EPAYLOAD;
		}
	}
	free(text);
	return rc;
}

/* Calls @p fn for each element called @p name in @p inner: the root itself
 * when it has that name, else the root's children of that name (the root's
 * own name is not relied on). Stops at fn's first non-zero value; more than
 * KCG_KHAOS_ITEMS_MAX of them are refused before the first is handed over. */
static int each_el(xmlDocPtr inner, const char *method, const char *name, int (*fn)(xmlNodePtr n, void *arg), void *arg,
		   char why[KCG_ERROR_MAX])
{
	xmlNodePtr root = inner ? xmlDocGetRootElement(inner) : NULL;
	if (!root)
		return 0;
	if (kcg_xml_named(root, name))
		return fn(root, arg);
	size_t n = 0;
	for (xmlNodePtr c = kcg_xml_first(root); c; c = kcg_xml_next(c))
		if (kcg_xml_named(c, name) && ++n > KCG_KHAOS_ITEMS_MAX) {
			kcg_why(why, "%s: more than %d %s elements in one answer", method, KCG_KHAOS_ITEMS_MAX, name);
			return KCG_EPAYLOAD;
		}
	for (xmlNodePtr c = kcg_xml_first(root); c; c = kcg_xml_next(c)) {
		if (!kcg_xml_named(c, name))
			continue;
		int rc = fn(c, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* An Imported flag that says no. */
static bool said_no(const char *flag)
{
	return strcasecmp(flag, "false") == 0 || strcmp(flag, "0") == 0;
}

/* One TOrderImportResult: 1 when it is not about @p ref, else the outcome. */
static int import_item(xmlNodePtr item, const char *ref, char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX])
{
	char *aref = kcg_xml_text(kcg_xml_child(item, "AssociatedRef"));
	if (!aref)
		return -ENOMEM;
	bool ours = strcmp(aref, ref) == 0;
	free(aref);
	if (!ours)
		return 1;
	char *so = kcg_xml_text(kcg_xml_child(item, "SalesOrderCode"));
	char *imported = kcg_xml_text(kcg_xml_child(item, "Imported"));
	char *err = kcg_xml_text(kcg_xml_child(item, "ErrorMessage"));
	int rc;
	if (!so || !imported || !err) {
		kcg_why(why, "ImportOrders: out of memory");
		rc = -ENOMEM;
	} else if (said_no(imported) || !*so) {
		kcg_why(why, "ImportOrders: Khaos refused order %s: %s", ref,
		    *err ? err : "Khaos returned no sales order code");
		rc = KCG_EPAYLOAD;
	} else if (strlen(so) >= KCG_KHAOS_CODE_MAX) {
		kcg_why(why, "ImportOrders: order %s: sales order code longer than %d characters", ref,
		    KCG_KHAOS_CODE_MAX - 1);
		rc = KCG_EPAYLOAD;
	} else {
		memcpy(code, so, strlen(so) + 1);
		rc = 0;
	}
	free(so);
	free(imported);
	free(err);
	return rc;
}

int kcg_khaos_import_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
			   char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	code[0] = '\0';
	int rc = open_answer(cfg, r, "ImportOrders", &a, why);
	if (rc != 0)
		return rc;
	if (kcg_xml_child(a.result, "AssociatedRef")) {
		/* A single struct rather than an array. */
		rc = import_item(a.result, ref, code, why);
	} else {
		/* One order was sent: a long result is not an answer to it. */
		size_t n = 0;
		for (xmlNodePtr it = kcg_xml_first(a.result); it; it = kcg_xml_next(it))
			n++;
		rc = 1;
		if (n > KCG_KHAOS_ITEMS_MAX) {
			kcg_why(why, "ImportOrders: more than %d result items in one answer", KCG_KHAOS_ITEMS_MAX);
			rc = KCG_EPAYLOAD;
		}
		for (xmlNodePtr it = kcg_xml_first(a.result); it && rc == 1; it = kcg_xml_next(it)) {
			xmlNodePtr item = a.transport->follow(&a, it);
			if (item)
				rc = import_item(item, ref, code, why);
		}
	}
	if (rc == 1) {
		/* Outcome unknown: the caller must ask ExportOrderStatusEx before
		 * booking again (Khaos would book a duplicate). */
		kcg_why(why, "ImportOrders: the result has no entry for associated ref %s", ref);
		rc = KCG_EPAYLOAD;
	}
	close_answer(cfg, &a);
	return rc;
}

struct status_find {
	const char *ref;
	char *code;
};

static int status_order(xmlNodePtr o, void *arg)
{
	struct status_find *f = arg;
	char *aref = kcg_xml_text(kcg_xml_child(o, "ASSOCIATED_REF"));
	if (!aref)
		return -ENOMEM;
	bool ours = strcmp(aref, f->ref) == 0;
	free(aref);
	if (!ours)
		return 0;
	/* Existence is what counts; a code that cannot be kept is left empty. */
	char *so = kcg_xml_text(kcg_xml_child(o, "SALES_ORDER_CODE"));
	if (!so)
		return -ENOMEM;
	if (strlen(so) < KCG_KHAOS_CODE_MAX)
		memcpy(f->code, so, strlen(so) + 1);
	free(so);
	return 1;
}

int kcg_khaos_order_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
				 char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	xmlDocPtr inner;
	code[0] = '\0';
	int rc = open_answer(cfg, r, "ExportOrderStatusEx", &a, why);
	if (rc != 0)
		return rc;
	rc = open_inner(&a, "ExportOrderStatusEx", &inner, why);
	if (rc == 0) {
		struct status_find f = { .ref = ref, .code = code };
		rc = each_el(inner, "ExportOrderStatusEx", "ORDER", status_order, &f, why);
		if (rc == 1) {
			rc = 0;
		} else if (rc == 0) {
			kcg_why(why, "ExportOrderStatusEx: Khaos has no order with associated ref %s", ref);
			rc = KCG_ENOTFOUND;
		} else if (rc == -ENOMEM) {
			kcg_why(why, "ExportOrderStatusEx: out of memory");
		}
	}
	xmlFreeDoc(inner);
	close_answer(cfg, &a);
	return rc;
}

/* The one place that reads STATUS (docs/khaos-soap.md §4.3). */
static bool is_discontinued(const char *status)
{
	return strcasecmp(status, STATUS_DISCONTINUED) == 0;
}

/* LEVEL: an optionally signed integer, a fraction (stock in units of
 * measure) is dropped. Empty means 0. */
static int parse_level(const char *s, int64_t *out)
{
	char ip[24];
	uint64_t v = 0;
	bool neg = *s == '-', sign = *s == '-' || *s == '+';
	if (sign)
		s++;
	size_t n = strspn(s, "0123456789");
	const char *rest = s + n;
	if (*rest == '.')
		rest += 1 + strspn(rest + 1, "0123456789");
	if (*rest || n >= sizeof(ip) || (n == 0 && (sign || *s)))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (n > 0 && kcg_parse_u64(ip, 0, INT64_MAX, &v) != 0)
		return -EINVAL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

struct stock_walk {
	int (*item_fn)(const struct kcg_stock_item *item, void *arg);
	int (*code_fn)(const char *code, void *arg);
	void *arg;
	char *why;
};

/* CODE attribute, else a STOCK_CODE child; malloc'd, NULL when out of memory. */
static char *item_code(xmlNodePtr it)
{
	xmlChar *attr = xmlGetNoNsProp(it, BAD_CAST "CODE");
	if (!attr)
		return kcg_xml_text(kcg_xml_child(it, "STOCK_CODE"));
	char *out = kcg_xml_trim((const char *)attr);
	xmlFree(attr);
	return out;
}

static int stock_status_item(xmlNodePtr it, void *arg)
{
	struct stock_walk *w = arg;
	struct kcg_stock_item item = { 0 };
	char *code = item_code(it), *level = NULL, *status = NULL;
	int rc;

	level = kcg_xml_text(kcg_xml_child(it, "LEVEL"));
	status = kcg_xml_text(kcg_xml_child(it, "STATUS"));
	if (!code || !level || !status) {
		kcg_why(w->why, "ExportStockStatus: out of memory");
		rc = -ENOMEM;
	} else if (!*code || strlen(code) >= KCG_KHAOS_CODE_MAX) {
		kcg_why(w->why, "ExportStockStatus: STOCK_ITEM with %s CODE", *code ? "a too long" : "no");
		rc = KCG_EPAYLOAD;
	} else if (parse_level(level, &item.available) != 0) {
		kcg_why(w->why, "ExportStockStatus: STOCK_ITEM %s: LEVEL '%s' is not a number", code, level);
		rc = KCG_EPAYLOAD;
	} else {
		memcpy(item.code, code, strlen(code) + 1);
		item.discontinued = is_discontinued(status);
		rc = w->item_fn(&item, w->arg);
	}
	free(code);
	free(level);
	free(status);
	return rc;
}

int kcg_khaos_stock_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
				 int (*fn)(const struct kcg_stock_item *item, void *arg), void *arg,
				 char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	xmlDocPtr inner;
	int rc = open_answer(cfg, r, "ExportStockStatus", &a, why);
	if (rc != 0)
		return rc;
	rc = open_inner(&a, "ExportStockStatus", &inner, why);
	if (rc == 0) {
		struct stock_walk w = { .item_fn = fn, .arg = arg, .why = why };
		rc = each_el(inner, "ExportStockStatus", "STOCK_ITEM", stock_status_item, &w, why);
	}
	xmlFreeDoc(inner);
	close_answer(cfg, &a);
	return rc;
}

static int stock_list_item(xmlNodePtr it, void *arg)
{
	struct stock_walk *w = arg;
	char *code = item_code(it);
	int rc;
	if (!code) {
		kcg_why(w->why, "GetStockList: out of memory");
		rc = -ENOMEM;
	} else if (!*code) {
		kcg_why(w->why, "GetStockList: STOCK_ITEM with no CODE");
		rc = KCG_EPAYLOAD;
	} else {
		rc = w->code_fn(code, w->arg);
	}
	free(code);
	return rc;
}

int kcg_khaos_stock_list_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
			       int (*fn)(const char *code, void *arg), void *arg, char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	xmlDocPtr inner;
	int rc = open_answer(cfg, r, "GetStockList", &a, why);
	if (rc != 0)
		return rc;
	rc = open_inner(&a, "GetStockList", &inner, why);
	if (rc == 0) {
		struct stock_walk w = { .code_fn = fn, .arg = arg, .why = why };
		rc = each_el(inner, "GetStockList", "STOCK_ITEM", stock_list_item, &w, why);
	}
	xmlFreeDoc(inner);
	close_answer(cfg, &a);
	return rc;
}
