/*
 * khaos.c: the Khaos Control client's requests (kcgate/peers/khaos.h):
 * ImportOrders, ExportOrderStatusEx, ExportStockStatus and GetStockList,
 * what each asks, over neutral structs. Reading the answers is
 * khaos_answers.c; how a call travels is the transport's
 * (khaos_transport.h), chosen by [khaos] transport. The facts are
 * shared/ref/khaos/FACTS.md (tags [WIG], [XML-IMP], ...); docs/khaos-soap.md
 * lists each one this file relies on.
 *
 * Requests: the parameters of the guide's signature, in its order
 * [WIG pp.5-21]; optional trailing ones are left out only where FACTS.md
 * says production clients do so. The SALES_ORDERS document is built with
 * libxml2's tree API (values become text nodes, escaped on output) in the
 * element order of KSDXMLImportFormat.xml, serialised (UTF-8, no
 * declaration) and sent as the text of the Orders parameter. Empty values
 * are left out rather than sent empty. A value longer than Khaos takes
 * [WIG p.29; XML-IMP] is refused with the element named, never cut.
 *
 * Rules that are ours (docs/khaos-soap.md):
 *  - PAYMENT_TYPE is 3 (account): the marketplace, not the shopper, pays
 *    the seller; IS_NEW_CUSTOMER is -1 (Khaos booleans are -1/0);
 *  - country codes go out as [khaos] country_format says (alpha-3 by
 *    default: Khaos documents 3-letter codes [XML-IMP 1.10]);
 *  - ExportOrderStatusEx asks with IncludeCancelled true: an order booked
 *    and then cancelled in Khaos still exists for the exactly-once check.
 * Every @p why is printable ASCII.
 */
#include "khaos_private.h"

#include "kcgate/common.h"
#include "kcgate/peers/iso3166.h"
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#define IS_NEW_CUSTOMER "-1"
#define PAYMENT_TYPE_ACCOUNT "3"
#define MAPPING_STOCK_CODE "1"
#define MAPPING_ASSOCIATED_REF "4"
#define MAPPING_NONE "1" /* "If no ID(s) are defined, set this to 1" [WIG] */
#define DATE_TYPE_REVISION "0"
#define STOCK_ITEM_TYPE_ALL "0"
#define EVER "2000-01-01T00:00:00" /* "changed since" for a first full read */
#define DEFAULT_TRANSPORT "soap"
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The transports [khaos] transport can name. */
static const struct kcg_khaos_transport *const transports[] = { &kcg_khaos_soap };

const struct kcg_khaos_transport *khaos_transport(const struct kcg_khaos_config *cfg)
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
	const struct kcg_khaos_transport *t = khaos_transport(cfg);
	*out = (struct kcg_call){ 0 };
	return t ? t->request(cfg, method, params, n_params, out) : -EINVAL;
}

/* A Boolean parameter as [khaos] booleans says ([WIG] writes -1/0; the
 * WSDL types are Boolean: unconfirmed, FACTS.md §1.3). */
static const char *flag(const struct kcg_khaos_config *cfg, bool v)
{
	if (cfg->booleans == KCG_KHAOS_TRUE_FALSE)
		return v ? "true" : "false";
	return v ? "-1" : "0";
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
		free(so->lines[i].tax_rate);
		free(so->lines[i].description);
	}
	free(so->lines);
	free(so->associated_ref);
	free(so->company_name);
	free(so->currency);
	free(so->po_number);
	free(so->order_note);
	free(so->courier_code);
	*so = (struct kcg_khaos_sales_order){ 0 };
}

/* The limits of FACTS.md §1.7 that apply to what kcgate sends: the
 * guide's [WIG p.29] where it and the template differ (ASSOCIATED_REF 15,
 * telephone 19), the template's [XML-IMP] elsewhere. An address element
 * is listed without its I/D prefix. */
static const struct {
	const char *element;
	size_t max;
} limits[] = {
	{ "COMPANY_NAME", 50 },  { "ADDRESS1", 35 },	     { "ADDRESS2", 35 },	{ "TOWN", 35 },
	{ "COUNTY", 35 },	 { "POSTCODE", 10 },	     { "FORENAME", 50 },	{ "SURNAME", 50 },
	{ "TEL", 19 },		 { "EMAIL", 50 },	     { "ASSOCIATED_REF", KCG_KHAOS_REF_MAX },
	{ "PO_NUMBER", 30 },	 { "ORDER_CURRENCY_CODE", 3 }, { "STOCK_DESC", 250 },	{ "ORDER_NOTE", 2000 },
	{ "COURIER_CODE", 64 }, /* ours: the template gives none; a courier code is short */
};

size_t kcg_khaos_field_limit(const char *element)
{
	if (!element)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < N(limits); i++)
			if (strcmp(limits[i].element, element) == 0)
				return limits[i].max;
		/* IADDRESS1, DTOWN, ...: the address element without its prefix */
		if (pass == 0 && (element[0] == 'I' || element[0] == 'D'))
			element++;
		else
			break;
	}
	return 0;
}

/* @p value against @p element's limit; KCG_EPAYLOAD (why) when too long. */
static int fits(const char *ref, const char *element, const char *value, char why[KCG_ERROR_MAX])
{
	size_t max = kcg_khaos_field_limit(element);
	if (!value || !max || kcg_utf8_chars(value) <= max)
		return 0;
	kcg_why(why, "sales order %.20s: %s is %zu characters, Khaos takes at most %zu (not cut short)", ref, element,
		kcg_utf8_chars(value), max);
	return KCG_EPAYLOAD;
}

static bool blank(const char *s)
{
	return !s || !*s;
}

/* One address: its limits, and for the invoice address what the guide
 * requires (line 1, town, postcode, surname [WIG p.28]). */
static int check_address(const char *ref, char prefix, const struct kcg_khaos_address *a, char why[KCG_ERROR_MAX])
{
	const struct {
		const char *suffix, *value;
		bool required;
	} f[] = {
		{ "ADDRESS1", a->address1, true }, { "ADDRESS2", a->address2, false }, { "TOWN", a->town, true },
		{ "COUNTY", a->county, false },	    { "POSTCODE", a->postcode, true },  { "FORENAME", a->forename, false },
		{ "SURNAME", a->surname, true },    { "TEL", a->tel, false },		{ "EMAIL", a->email, false },
	};
	char name[32];
	for (size_t i = 0; i < N(f); i++) {
		snprintf(name, sizeof(name), "%c%s", prefix, f[i].suffix);
		if (prefix == 'I' && f[i].required && blank(f[i].value)) {
			kcg_why(why, "sales order %.20s: %s missing (Khaos requires it)", ref, name);
			return KCG_EPAYLOAD;
		}
		int rc = fits(ref, name, f[i].value, why);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* What Khaos needs of a sales order. @return 0 or KCG_EPAYLOAD (why). */
static int check_order(const struct kcg_khaos_sales_order *so, char why[KCG_ERROR_MAX])
{
	const char *ref = so->associated_ref;
	int rc;
	if (blank(ref)) {
		kcg_why(why, "sales order: ASSOCIATED_REF missing");
		return KCG_EPAYLOAD;
	}
	/* ExportOrderStatusEx takes refs as CSV: a comma would break the
	 * exactly-once check, so such a ref is never booked. */
	if (strchr(ref, ',')) {
		kcg_why(why, "sales order %.20s: the associated ref contains a comma (sent as CSV)", ref);
		return KCG_EPAYLOAD;
	}
	if ((rc = fits(ref, "ASSOCIATED_REF", ref, why)) != 0 || (rc = fits(ref, "COMPANY_NAME", so->company_name, why)) != 0 ||
	    (rc = fits(ref, "PO_NUMBER", so->po_number, why)) != 0 ||
	    (rc = fits(ref, "ORDER_CURRENCY_CODE", so->currency, why)) != 0 ||
	    (rc = fits(ref, "ORDER_NOTE", so->order_note, why)) != 0 ||
	    (rc = fits(ref, "COURIER_CODE", so->courier_code, why)) != 0 ||
	    (rc = check_address(ref, 'I', &so->invoice, why)) != 0 || (rc = check_address(ref, 'D', &so->delivery, why)) != 0)
		return rc;
	if (!so->lines || so->n_lines == 0) {
		kcg_why(why, "sales order %.20s: no order line", ref);
		return KCG_EPAYLOAD;
	}
	for (size_t i = 0; i < so->n_lines; i++) {
		const struct kcg_khaos_order_line *l = &so->lines[i];
		if (blank(l->stock_code)) {
			kcg_why(why, "sales order %.20s: line %zu: STOCK_CODE missing", ref, i + 1);
			return KCG_EPAYLOAD;
		}
		if (l->quantity < 1) {
			kcg_why(why, "sales order %.20s: line %zu: ORDER_QTY below 1", ref, i + 1);
			return KCG_EPAYLOAD;
		}
		if (!l->price_gross.set && !l->price_net.set) {
			kcg_why(why, "sales order %.20s: line %zu: PRICE_GRS or PRICE_NET missing (Khaos requires a price)",
				ref, i + 1);
			return KCG_EPAYLOAD;
		}
		if ((rc = fits(ref, "STOCK_DESC", l->description, why)) != 0)
			return rc;
	}
	return 0;
}

#define MONEY_MAX 100000000000000LL /* minor units: 1e12 pounds */

/* An amount in minor units as a decimal with two places (1234 -> "12.34",
 * -5 -> "-0.05"). False when it is not set or not of sane size. */
static bool money(const struct kcg_khaos_money *m, char out[48])
{
	if (!m->set || m->minor <= -MONEY_MAX || m->minor >= MONEY_MAX)
		return false;
	long long v = m->minor, a = v < 0 ? -v : v;
	snprintf(out, 48, "%s%lld.%02lld", v < 0 ? "-" : "", a / 100, a % 100);
	return true;
}

static void add_money(struct kcg_xml_build *b, xmlNodePtr parent, const char *name, const struct kcg_khaos_money *m)
{
	char s[48];
	if (money(m, s))
		kcg_xml_add(b, parent, name, s);
}

/* A date-time in UTC with @p sep between date and time. */
static void khaos_time(uint64_t ms, char sep, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	char *t = strchr(out, 'T');
	if (t)
		*t = sep;
}

/* A "changed since" DateTime parameter, YYYY-MM-DDTHH:MM:SS [WIG p.27]. */
static void khaos_since(uint64_t ms, char out[32])
{
	if (ms)
		khaos_time(ms, 'T', out);
	else
		snprintf(out, 32, "%s", EVER);
}

/* INVADDR (prefix 'I') or DELADDR ('D'), in the template's order. */
static void add_address(const struct kcg_khaos_config *cfg, struct kcg_xml_build *b, xmlNodePtr parent, char prefix,
			const struct kcg_khaos_address *a)
{
	const char *country = cfg->country_format == KCG_KHAOS_ALPHA2 ? kcg_iso3166_alpha2(a->country)
								       : kcg_iso3166_alpha3(a->country);
	const struct {
		const char *suffix, *value;
	} fields[] = {
		{ "ADDRESS1", a->address1 }, { "ADDRESS2", a->address2 }, { "TOWN", a->town },
		{ "COUNTY", a->county },     { "POSTCODE", a->postcode }, { "COUNTRY_CODE", country },
		{ "FORENAME", a->forename }, { "SURNAME", a->surname },	  { "TEL", a->tel },
		{ "EMAIL", a->email },
	};
	char name[32];
	xmlNodePtr el = kcg_xml_add(b, parent, prefix == 'I' ? "INVADDR" : "DELADDR", NULL);

	for (size_t i = 0; i < N(fields); i++) {
		snprintf(name, sizeof(name), "%c%s", prefix, fields[i].suffix);
		kcg_xml_add_opt(b, el, name, fields[i].value);
	}
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
	add_address(cfg, b, addrs, 'I', &so->invoice);
	add_address(cfg, b, addrs, 'D', &so->delivery);

	/* One payment for the whole order, by the marketplace. */
	if (money(&so->amount, total)) {
		xmlNodePtr pd = kcg_xml_add(b, kcg_xml_add(b, order, "PAYMENTS", NULL), "PAYMENT_DETAIL", NULL);
		kcg_xml_add(b, pd, "PAYMENT_AMOUNT", total);
		kcg_xml_add(b, pd, "PAYMENT_TYPE", PAYMENT_TYPE_ACCOUNT);
	}

	/* "yyyy-mm-dd or yyyy-mm-dd hh:mm:ss, other date formats SHOULD NOT
	 * BE USED" [XML-IMP] */
	if (so->has_date)
		khaos_time(so->date_ms, ' ', date);
	xmlNodePtr hdr = kcg_xml_add(b, order, "ORDER_HEADER", NULL);
	kcg_xml_add_opt(b, hdr, "ORDER_DATE", date);
	kcg_xml_add_opt(b, hdr, "ORDER_AMOUNT", total);
	kcg_xml_add_opt(b, hdr, "ORDER_CURRENCY_CODE", so->currency);
	kcg_xml_add_opt(b, hdr, "SITE", cfg->site);
	kcg_xml_add(b, hdr, "ASSOCIATED_REF", so->associated_ref);
	kcg_xml_add_opt(b, hdr, "ORDER_NOTE", so->order_note);
	/* "Use net & tax (VAT) OR grs" [XML-IMP] */
	if (so->delivery_net.set) {
		add_money(b, hdr, "DELIVERY_NET", &so->delivery_net);
		add_money(b, hdr, "DELIVERY_TAX", &so->delivery_tax);
	} else {
		add_money(b, hdr, "DELIVERY_GRS", &so->delivery_gross);
	}
	kcg_xml_add_opt(b, hdr, "COURIER_CODE", so->courier_code);
	kcg_xml_add_opt(b, hdr, "PO_NUMBER", so->po_number);
	kcg_xml_add_opt(b, hdr, "SALES_SOURCE", cfg->sales_source);

	xmlNodePtr items = kcg_xml_add(b, order, "ORDER_ITEMS", NULL);
	for (size_t i = 0; i < so->n_lines; i++) {
		const struct kcg_khaos_order_line *l = &so->lines[i];
		char qty[32];
		snprintf(qty, sizeof(qty), "%lld", (long long)l->quantity);
		xmlNodePtr it = kcg_xml_add(b, items, "ORDER_ITEM", NULL);
		kcg_xml_add(b, it, "STOCK_CODE", l->stock_code);
		kcg_xml_add(b, it, "MAPPING_TYPE", MAPPING_STOCK_CODE);
		kcg_xml_add_opt(b, it, "STOCK_DESC", l->description);
		kcg_xml_add(b, it, "ORDER_QTY", qty);
		/* "Use either net OR grs. If both are used only net will be
		 * actioned"; another rate than standard needs net + TAX_RATE [XML-IMP] */
		if (l->price_net.set) {
			add_money(b, it, "PRICE_NET", &l->price_net);
			kcg_xml_add_opt(b, it, "TAX_RATE", l->tax_rate);
		} else {
			add_money(b, it, "PRICE_GRS", &l->price_gross);
		}
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
	else if (rc == -EAGAIN)
		kcg_why(why, "the Khaos namespace is not known yet");
	xmlFreeDoc(inner.doc);
	return rc;
}

int kcg_khaos_order_status(const struct kcg_khaos_config *cfg, const char *ref, struct kcg_call *out)
{
	*out = (struct kcg_call){ 0 };
	/* IDs is a CSV: a ref with a comma could match someone else's order. */
	if (!ref || !*ref || strchr(ref, ','))
		return -EINVAL;
	/* The guide's ten parameters, in order [WIG; FACTS.md §1.3]. */
	const struct kcg_khaos_param params[] = {
		{ "IDs", ref },
		{ "MappingType", MAPPING_ASSOCIATED_REF },
		{ "WebOnly", flag(cfg, false) },
		{ "ConfirmedOnly", flag(cfg, false) },
		{ "IncludeTracking", flag(cfg, false) },
		{ "IncludeCancelled", flag(cfg, true) },
		{ "DateFrom", "" },
		{ "DateTo", "" },
		{ "InvoiceStageIDs", "" },
		{ "ShowItems", flag(cfg, false) },
	};
	return request(cfg, "ExportOrderStatusEx", params, N(params), out);
}

int kcg_khaos_despatch_status(const struct kcg_khaos_config *cfg, const struct kcg_khaos_status_query *q,
			      struct kcg_call *out)
{
	char from[32] = "", to[32] = "";
	*out = (struct kcg_call){ 0 };
	bool by_ref = q->ids && *q->ids;
	if (!by_ref && (!q->to_ms || q->from_ms >= q->to_ms))
		return -EINVAL;
	if (!by_ref) {
		khaos_time(q->from_ms, 'T', from);
		khaos_time(q->to_ms, 'T', to);
	}
	/* The guide's ten parameters, in order [WIG; FACTS.md §1.3]: by
	 * reference (MappingType 4), or by date range with tracking changes
	 * ("If no ID(s) are defined, set this to 1"). Cancelled orders are
	 * asked for too: a cancellation is news for the despatch flow. */
	const struct kcg_khaos_param params[] = {
		{ "IDs", by_ref ? q->ids : "" },
		{ "MappingType", by_ref ? MAPPING_ASSOCIATED_REF : MAPPING_NONE },
		{ "WebOnly", flag(cfg, false) },
		{ "ConfirmedOnly", flag(cfg, false) },
		{ "IncludeTracking", flag(cfg, !by_ref) },
		{ "IncludeCancelled", flag(cfg, true) },
		{ "DateFrom", from },
		{ "DateTo", to },
		{ "InvoiceStageIDs", "" },
		{ "ShowItems", flag(cfg, true) },
	};
	return request(cfg, "ExportOrderStatusEx", params, N(params), out);
}

int kcg_khaos_stock_status(const struct kcg_khaos_config *cfg, const char *codes, uint64_t since_ms, struct kcg_call *out)
{
	char since[32];
	khaos_since(since_ms, since);
	const struct kcg_khaos_param params[] = {
		{ "StockCode", codes ? codes : "" },
		{ "MappingType", MAPPING_STOCK_CODE },
		{ "LastUpdated", since },
		{ "SiteID", cfg->stock_site_id },
		{ "PotentialLeadTime", flag(cfg, false) },
	};
	/* SiteID "if omitted, results for the default stock site" [WIG]; the
	 * trailing optional parameters go with it [FACTS.md §1.3]. */
	return request(cfg, "ExportStockStatus", params, cfg->stock_site_id && *cfg->stock_site_id ? 5 : 3, out);
}

int kcg_khaos_stock_list(const struct kcg_khaos_config *cfg, uint64_t since_ms, struct kcg_call *out)
{
	char since[32];
	khaos_since(since_ms, since);
	const struct kcg_khaos_param params[] = {
		{ "DateType", DATE_TYPE_REVISION },
		{ "DateValue", since },
		{ "StockItemType", STOCK_ITEM_TYPE_ALL },
	};
	return request(cfg, "GetStockList", params, N(params), out);
}

int kcg_khaos_sop_couriers(const struct kcg_khaos_config *cfg, struct kcg_call *out)
{
	/* GetSOPData's eight booleans in order; only the couriers [WIG; XML-SOP] */
	const struct kcg_khaos_param params[] = {
		{ "Courier", flag(cfg, true) },		{ "DelRate", flag(cfg, false) },
		{ "CourierBanding", flag(cfg, false) }, { "BOGOF", flag(cfg, false) },
		{ "SpecialOffer", flag(cfg, false) },	{ "TelesalePrompt", flag(cfg, false) },
		{ "KeyCode", flag(cfg, false) },	{ "BarredItems", flag(cfg, false) },
	};
	return request(cfg, "GetSOPData", params, N(params), out);
}
