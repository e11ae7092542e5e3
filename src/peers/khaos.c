/*
 * khaos.c: the Khaos Control SOAP client (ImportOrders, ExportOrderStatusEx,
 * ExportStockStatus, GetStockList), pure: builders fill a struct kcg_call,
 * parsers read a struct kcg_reply. The wire contract is docs/khaos-soap.md;
 * this file matches it as follows.
 *
 * Requests: SOAP 1.1 RPC. Envelope in the SOAP 1.1 namespace, the operation
 * element in [khaos] soap_namespace, every parameter an unqualified element
 * with xsi:type="xsd:string", every parameter of the method sent (empty when
 * there is nothing to say). Headers: Content-Type text/xml; charset=utf-8,
 * SOAPAction "<namespace>#<Method>" (quoted), and HTTP Basic credentials
 * when soap_user is set (the call is then marked secret). Everything is
 * built with libxml2's tree API: a value becomes a text node and libxml2
 * escapes it on output. The SALES_ORDERS document is built the same way,
 * serialised (UTF-8, no declaration) and set as the *text* of the Orders
 * parameter, so it travels escaped once more. Control characters that XML
 * 1.0 cannot carry (even escaped) become spaces.
 *
 * Answers: elements are found by local name (prefixes vary; the parsers get
 * no config, so the response's namespace is not checked), unknown elements
 * and attributes are ignored, SOAP-encoding href="#id" references are
 * followed. A document with a DTD is refused and entities are never
 * expanded or fetched. Outcomes:
 *  - no answer, or a 5xx/408/429 without a readable fault: -EAGAIN;
 *  - a fault whose code is Server (or Server.*): -EAGAIN;
 *  - a fault Client, VersionMismatch or MustUnderstand (whatever the HTTP
 *    status, 401 included): KCG_EPAYLOAD with the faultstring;
 *  - a 200 that is not the expected response: KCG_EPAYLOAD.
 * Every @p why is printable ASCII.
 *
 * Rules that are ours (docs/khaos-soap.md marks the facts as assumptions):
 *  - PAYMENT_TYPE is 3 (account): the marketplace, not the shopper, pays
 *    the seller; IS_NEW_CUSTOMER is -1 (Khaos booleans are -1/0);
 *  - country codes go out as ISO 3166 alpha-2, converted from Mirakl's
 *    alpha-3 (an unknown code is sent as it came);
 *  - lines already REFUSED or CANCELED on Mirakl are not booked;
 *  - a stock item is discontinued when STATUS is "Discontinued" (any case),
 *    active otherwise (see is_discontinued());
 *  - ExportOrderStatusEx asks with IncludeCancelled=1: an order booked and
 *    then cancelled in Khaos still exists for the exactly-once check.
 */
#include "kcgate/peers/khaos.h"
#include "kcgate/common.h"
#include "kcgate/peers/mirakl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#define SOAP_ENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP_ENC_NS "http://schemas.xmlsoap.org/soap/encoding/"
#define XSD_NS "http://www.w3.org/2001/XMLSchema"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define DEFAULT_NS "urn:KosWebIntf-IKosWeb"
#define READ_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

#define IS_NEW_CUSTOMER "-1"
#define PAYMENT_TYPE_ACCOUNT "3"
#define MAPPING_STOCK_CODE "1"
#define MAPPING_ASSOCIATED_REF "4"
#define DATE_TYPE_MODIFIED "1"
#define STATUS_DISCONTINUED "Discontinued"

/* ISO 3166-1 alpha-3 -> alpha-2 (from iso-codes, plus Kosovo's XKX), sorted. */
static const char country_codes[][2][4] = {
	{ "ABW", "AW" }, { "AFG", "AF" }, { "AGO", "AO" }, { "AIA", "AI" }, { "ALA", "AX" }, { "ALB", "AL" },
	{ "AND", "AD" }, { "ARE", "AE" }, { "ARG", "AR" }, { "ARM", "AM" }, { "ASM", "AS" }, { "ATA", "AQ" },
	{ "ATF", "TF" }, { "ATG", "AG" }, { "AUS", "AU" }, { "AUT", "AT" }, { "AZE", "AZ" }, { "BDI", "BI" },
	{ "BEL", "BE" }, { "BEN", "BJ" }, { "BES", "BQ" }, { "BFA", "BF" }, { "BGD", "BD" }, { "BGR", "BG" },
	{ "BHR", "BH" }, { "BHS", "BS" }, { "BIH", "BA" }, { "BLM", "BL" }, { "BLR", "BY" }, { "BLZ", "BZ" },
	{ "BMU", "BM" }, { "BOL", "BO" }, { "BRA", "BR" }, { "BRB", "BB" }, { "BRN", "BN" }, { "BTN", "BT" },
	{ "BVT", "BV" }, { "BWA", "BW" }, { "CAF", "CF" }, { "CAN", "CA" }, { "CCK", "CC" }, { "CHE", "CH" },
	{ "CHL", "CL" }, { "CHN", "CN" }, { "CIV", "CI" }, { "CMR", "CM" }, { "COD", "CD" }, { "COG", "CG" },
	{ "COK", "CK" }, { "COL", "CO" }, { "COM", "KM" }, { "CPV", "CV" }, { "CRI", "CR" }, { "CUB", "CU" },
	{ "CUW", "CW" }, { "CXR", "CX" }, { "CYM", "KY" }, { "CYP", "CY" }, { "CZE", "CZ" }, { "DEU", "DE" },
	{ "DJI", "DJ" }, { "DMA", "DM" }, { "DNK", "DK" }, { "DOM", "DO" }, { "DZA", "DZ" }, { "ECU", "EC" },
	{ "EGY", "EG" }, { "ERI", "ER" }, { "ESH", "EH" }, { "ESP", "ES" }, { "EST", "EE" }, { "ETH", "ET" },
	{ "FIN", "FI" }, { "FJI", "FJ" }, { "FLK", "FK" }, { "FRA", "FR" }, { "FRO", "FO" }, { "FSM", "FM" },
	{ "GAB", "GA" }, { "GBR", "GB" }, { "GEO", "GE" }, { "GGY", "GG" }, { "GHA", "GH" }, { "GIB", "GI" },
	{ "GIN", "GN" }, { "GLP", "GP" }, { "GMB", "GM" }, { "GNB", "GW" }, { "GNQ", "GQ" }, { "GRC", "GR" },
	{ "GRD", "GD" }, { "GRL", "GL" }, { "GTM", "GT" }, { "GUF", "GF" }, { "GUM", "GU" }, { "GUY", "GY" },
	{ "HKG", "HK" }, { "HMD", "HM" }, { "HND", "HN" }, { "HRV", "HR" }, { "HTI", "HT" }, { "HUN", "HU" },
	{ "IDN", "ID" }, { "IMN", "IM" }, { "IND", "IN" }, { "IOT", "IO" }, { "IRL", "IE" }, { "IRN", "IR" },
	{ "IRQ", "IQ" }, { "ISL", "IS" }, { "ISR", "IL" }, { "ITA", "IT" }, { "JAM", "JM" }, { "JEY", "JE" },
	{ "JOR", "JO" }, { "JPN", "JP" }, { "KAZ", "KZ" }, { "KEN", "KE" }, { "KGZ", "KG" }, { "KHM", "KH" },
	{ "KIR", "KI" }, { "KNA", "KN" }, { "KOR", "KR" }, { "KWT", "KW" }, { "LAO", "LA" }, { "LBN", "LB" },
	{ "LBR", "LR" }, { "LBY", "LY" }, { "LCA", "LC" }, { "LIE", "LI" }, { "LKA", "LK" }, { "LSO", "LS" },
	{ "LTU", "LT" }, { "LUX", "LU" }, { "LVA", "LV" }, { "MAC", "MO" }, { "MAF", "MF" }, { "MAR", "MA" },
	{ "MCO", "MC" }, { "MDA", "MD" }, { "MDG", "MG" }, { "MDV", "MV" }, { "MEX", "MX" }, { "MHL", "MH" },
	{ "MKD", "MK" }, { "MLI", "ML" }, { "MLT", "MT" }, { "MMR", "MM" }, { "MNE", "ME" }, { "MNG", "MN" },
	{ "MNP", "MP" }, { "MOZ", "MZ" }, { "MRT", "MR" }, { "MSR", "MS" }, { "MTQ", "MQ" }, { "MUS", "MU" },
	{ "MWI", "MW" }, { "MYS", "MY" }, { "MYT", "YT" }, { "NAM", "NA" }, { "NCL", "NC" }, { "NER", "NE" },
	{ "NFK", "NF" }, { "NGA", "NG" }, { "NIC", "NI" }, { "NIU", "NU" }, { "NLD", "NL" }, { "NOR", "NO" },
	{ "NPL", "NP" }, { "NRU", "NR" }, { "NZL", "NZ" }, { "OMN", "OM" }, { "PAK", "PK" }, { "PAN", "PA" },
	{ "PCN", "PN" }, { "PER", "PE" }, { "PHL", "PH" }, { "PLW", "PW" }, { "PNG", "PG" }, { "POL", "PL" },
	{ "PRI", "PR" }, { "PRK", "KP" }, { "PRT", "PT" }, { "PRY", "PY" }, { "PSE", "PS" }, { "PYF", "PF" },
	{ "QAT", "QA" }, { "REU", "RE" }, { "ROU", "RO" }, { "RUS", "RU" }, { "RWA", "RW" }, { "SAU", "SA" },
	{ "SDN", "SD" }, { "SEN", "SN" }, { "SGP", "SG" }, { "SGS", "GS" }, { "SHN", "SH" }, { "SJM", "SJ" },
	{ "SLB", "SB" }, { "SLE", "SL" }, { "SLV", "SV" }, { "SMR", "SM" }, { "SOM", "SO" }, { "SPM", "PM" },
	{ "SRB", "RS" }, { "SSD", "SS" }, { "STP", "ST" }, { "SUR", "SR" }, { "SVK", "SK" }, { "SVN", "SI" },
	{ "SWE", "SE" }, { "SWZ", "SZ" }, { "SXM", "SX" }, { "SYC", "SC" }, { "SYR", "SY" }, { "TCA", "TC" },
	{ "TCD", "TD" }, { "TGO", "TG" }, { "THA", "TH" }, { "TJK", "TJ" }, { "TKL", "TK" }, { "TKM", "TM" },
	{ "TLS", "TL" }, { "TON", "TO" }, { "TTO", "TT" }, { "TUN", "TN" }, { "TUR", "TR" }, { "TUV", "TV" },
	{ "TWN", "TW" }, { "TZA", "TZ" }, { "UGA", "UG" }, { "UKR", "UA" }, { "UMI", "UM" }, { "URY", "UY" },
	{ "USA", "US" }, { "UZB", "UZ" }, { "VAT", "VA" }, { "VCT", "VC" }, { "VEN", "VE" }, { "VGB", "VG" },
	{ "VIR", "VI" }, { "VNM", "VN" }, { "VUT", "VU" }, { "WLF", "WF" }, { "WSM", "WS" }, { "XKX", "XK" },
	{ "YEM", "YE" }, { "ZAF", "ZA" }, { "ZMB", "ZM" }, { "ZWE", "ZW" },
};

/* ---- building ---- */

/* A document under construction; any allocation failure sets oom and
 * later additions become no-ops, so builders check once at the end. */
struct build {
	xmlDocPtr doc;
	bool oom;
};

/* A copy of @p s that XML 1.0 can carry: C0 controls other than tab, LF
 * and CR become spaces, U+FFFE/U+FFFF become '?'. Input is valid UTF-8
 * (jansson and the config guarantee it). */
static char *xml_safe(const char *s)
{
	char *out = strdup(s);
	if (!out)
		return NULL;
	for (unsigned char *p = (unsigned char *)out; *p; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			*p = ' ';
		else if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
			p[0] = p[1] = p[2] = '?';
	}
	return out;
}

/* Appends <name>text</name> (no namespace) to @p parent; @p text may be
 * NULL (an empty element). The text is literal: libxml2 escapes it. */
static xmlNodePtr add(struct build *b, xmlNodePtr parent, const char *name, const char *text)
{
	if (b->oom || !parent)
		return NULL;
	xmlNodePtr n = xmlNewDocNode(b->doc, NULL, BAD_CAST name, NULL);
	if (!n)
		goto fail;
	xmlAddChild(parent, n);
	if (text && *text) {
		char *safe = xml_safe(text);
		xmlNodePtr t = safe ? xmlNewDocText(b->doc, BAD_CAST safe) : NULL;
		free(safe);
		if (!t)
			goto fail;
		xmlAddChild(n, t);
	}
	return n;
fail:
	b->oom = true;
	return NULL;
}

/* add() only when @p text is a non-empty string: empty values are left out. */
static void add_opt(struct build *b, xmlNodePtr parent, const char *name, const char *text)
{
	if (text && *text)
		add(b, parent, name, text);
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && *s ? s : NULL;
}

/* A JSON number as a decimal with at least two places ("10" -> "10.00",
 * "1.2345" kept). False when @p v is not a number of sane size. */
static bool money(const json_t *v, char out[48])
{
	if (!json_is_number(v))
		return false;
	double x = json_number_value(v);
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

static void add_money(struct build *b, xmlNodePtr parent, const char *name, const json_t *v)
{
	char m[48];
	if (money(v, m))
		add(b, parent, name, m);
}

static int cmp_country(const void *key, const void *elem)
{
	return strcmp(key, ((const char (*)[4])elem)[0]);
}

/* Mirakl's alpha-3 country code as alpha-2; anything else as it came. */
static const char *country2(const char *code)
{
	if (!code || strlen(code) != 3)
		return code;
	char up[4];
	for (int i = 0; i < 3; i++)
		up[i] = (char)(code[i] >= 'a' && code[i] <= 'z' ? code[i] - 32 : code[i]);
	up[3] = '\0';
	const char (*hit)[2][4] = bsearch(up, country_codes, sizeof(country_codes) / sizeof(country_codes[0]),
					  sizeof(country_codes[0]), cmp_country);
	return hit ? (*hit)[1] : code;
}

/* INVADDR (prefix 'I') or DELADDR ('D') from a Mirakl address; names fall
 * back to the customer's. @p addr may be NULL (Mirakl hides addresses
 * before acceptance on some platforms): then only names and email. */
static void add_address(struct build *b, xmlNodePtr parent, char prefix, const json_t *addr, const json_t *customer,
			const char *email)
{
	static const struct {
		const char *suffix, *key;
	} fields[] = {
		{ "ADDRESS1", "street_1" }, { "ADDRESS2", "street_2" }, { "TOWN", "city" },
		{ "COUNTY", "state" },      { "POSTCODE", "zip_code" },
	};
	char name[32];
	xmlNodePtr a = add(b, parent, prefix == 'I' ? "INVADDR" : "DELADDR", NULL);

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(name, sizeof(name), "%c%s", prefix, fields[i].suffix);
		add_opt(b, a, name, str(addr, fields[i].key));
	}
	snprintf(name, sizeof(name), "%cCOUNTRY_CODE", prefix);
	add_opt(b, a, name, country2(str(addr, "country_iso_code")));
	snprintf(name, sizeof(name), "%cFORENAME", prefix);
	add_opt(b, a, name, str(addr, "firstname") ? str(addr, "firstname") : str(customer, "firstname"));
	snprintf(name, sizeof(name), "%cSURNAME", prefix);
	add_opt(b, a, name, str(addr, "lastname") ? str(addr, "lastname") : str(customer, "lastname"));
	snprintf(name, sizeof(name), "%cTEL", prefix);
	add_opt(b, a, name, str(addr, "phone"));
	snprintf(name, sizeof(name), "%cEMAIL", prefix);
	add_opt(b, a, name, email);
}

/* The customer's display name: the invoice address's company, else
 * "firstname lastname". Malloc'd, or NULL when there is nothing. */
static char *customer_name(const json_t *customer, const json_t *inv)
{
	const char *company = str(inv, "company");
	if (company)
		return strdup(company);
	const char *f = str(customer, "firstname"), *l = str(customer, "lastname");
	if (!f && !l)
		return NULL;
	char *out = NULL;
	if (asprintf(&out, "%s%s%s", f ? f : "", f && l ? " " : "", l ? l : "") < 0)
		return NULL;
	return out;
}

/* A Mirakl line that is (still) to be booked. */
static bool line_bookable(const json_t *line)
{
	const char *st = str(line, "order_line_state");
	return !st || (strcmp(st, "REFUSED") != 0 && strcmp(st, "CANCELED") != 0);
}

/* The SALES_ORDERS document for one Mirakl order. @return 0, -ENOMEM or
 * KCG_EPAYLOAD (why names the field). */
static int sales_orders(const struct kcg_khaos_config *cfg, const json_t *order, struct build *b, char why[KCG_ERROR_MAX])
{
	const char *id = kcg_mirakl_order_id(order);
	const json_t *lines = json_object_get(order, "order_lines");
	const json_t *customer = json_object_get(order, "customer");
	const json_t *inv = json_object_get(customer, "billing_address");
	const json_t *del = json_object_get(customer, "shipping_address");
	const char *email = str(order, "customer_notification_email");
	size_t i, booked = 0;
	const json_t *line;
	char date[32] = "";

	if (!id || !*id) {
		kcg_why(why, "order_id missing");
		return KCG_EPAYLOAD;
	}
	/* ExportOrderStatusEx takes refs as CSV: a comma would break the
	 * exactly-once check, so such a ref is never booked. */
	if (strchr(id, ',')) {
		kcg_why(why, "order_id '%s' contains a comma (Khaos associated refs are sent as CSV)", id);
		return KCG_EPAYLOAD;
	}
	if (!json_is_array(lines) || json_array_size(lines) == 0) {
		kcg_why(why, "order %s: order_lines missing", id);
		return KCG_EPAYLOAD;
	}
	json_array_foreach(lines, i, line) {
		if (!line_bookable(line))
			continue;
		json_t *q = json_object_get(line, "quantity");
		if (!str(line, "offer_sku")) {
			kcg_why(why, "order %s: order_lines[%zu].offer_sku missing", id, i);
			return KCG_EPAYLOAD;
		}
		if (!json_is_integer(q) || json_integer_value(q) < 1) {
			kcg_why(why, "order %s: order_lines[%zu].quantity is not a whole number >= 1", id, i);
			return KCG_EPAYLOAD;
		}
		booked++;
	}
	if (booked == 0) {
		kcg_why(why, "order %s: order_lines has no line to book (all refused or canceled)", id);
		return KCG_EPAYLOAD;
	}
	const char *created = str(order, "created_date");
	if (created) {
		uint64_t ms;
		if (kcg_mirakl_parse_time(created, &ms) != 0) {
			kcg_why(why, "order %s: created_date '%s' is not a date-time", id, created);
			return KCG_EPAYLOAD;
		}
		time_t secs = (time_t)(ms / 1000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	}
	/* Without a billing address the shipping address serves for both. */
	if (!json_is_object(inv))
		inv = del;
	if (!json_is_object(del))
		del = inv;

	b->doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = b->doc ? xmlNewDocNode(b->doc, NULL, BAD_CAST "SALES_ORDERS", NULL) : NULL;
	if (!root)
		return -ENOMEM;
	xmlDocSetRootElement(b->doc, root);
	xmlNodePtr so = add(b, root, "SALES_ORDER", NULL);

	xmlNodePtr cd = add(b, so, "CUSTOMER_DETAIL", NULL);
	add(b, cd, "IS_NEW_CUSTOMER", IS_NEW_CUSTOMER);
	add_opt(b, cd, "COMPANY_CLASS", cfg->company_class);
	char *cname = customer_name(customer, inv);
	add_opt(b, cd, "COMPANY_NAME", cname);
	free(cname);
	xmlNodePtr addrs = add(b, cd, "ADDRESSES", NULL);
	add_address(b, addrs, 'I', inv, customer, email);
	add_address(b, addrs, 'D', del, customer, email);

	/* One payment for the whole order, by the marketplace. */
	char total[48] = "";
	if (money(json_object_get(order, "total_price"), total)) {
		xmlNodePtr pd = add(b, add(b, so, "PAYMENTS", NULL), "PAYMENT_DETAIL", NULL);
		add(b, pd, "PAYMENT_AMOUNT", total);
		add(b, pd, "PAYMENT_TYPE", PAYMENT_TYPE_ACCOUNT);
	}

	xmlNodePtr hdr = add(b, so, "ORDER_HEADER", NULL);
	add_opt(b, hdr, "ORDER_DATE", date);
	add_opt(b, hdr, "ORDER_AMOUNT", total);
	add_opt(b, hdr, "ORDER_CURRENCY_CODE", str(order, "currency_iso_code"));
	add_opt(b, hdr, "SITE", cfg->site);
	add(b, hdr, "ASSOCIATED_REF", id);
	add_opt(b, hdr, "SALES_SOURCE", cfg->sales_source);
	add_money(b, hdr, "DELIVERY_GRS", json_object_get(order, "shipping_price"));
	add_opt(b, hdr, "PO_NUMBER", str(order, "commercial_id"));

	xmlNodePtr items = add(b, so, "ORDER_ITEMS", NULL);
	json_array_foreach(lines, i, line) {
		if (!line_bookable(line))
			continue;
		char qty[32];
		snprintf(qty, sizeof(qty), "%lld", (long long)json_integer_value(json_object_get(line, "quantity")));
		xmlNodePtr it = add(b, items, "ORDER_ITEM", NULL);
		add(b, it, "STOCK_CODE", str(line, "offer_sku"));
		add(b, it, "MAPPING_TYPE", MAPPING_STOCK_CODE);
		add(b, it, "ORDER_QTY", qty);
		add_money(b, it, "PRICE_GRS", json_object_get(line, "price_unit"));
		add_opt(b, it, "STOCK_DESC", str(line, "product_title"));
	}
	return b->oom ? -ENOMEM : 0;
}

/* A SOAP request under construction. */
struct soap {
	struct build b;
	xmlNodePtr op;
	xmlNsPtr xsi;
	const char *method;
};

static int soap_begin(struct soap *s, const struct kcg_khaos_config *cfg, const char *method)
{
	const char *ns = cfg->soap_namespace && *cfg->soap_namespace ? cfg->soap_namespace
										 : DEFAULT_NS;
	*s = (struct soap){ .method = method };
	s->b.doc = xmlNewDoc(BAD_CAST "1.0");
	if (!s->b.doc)
		return -ENOMEM;
	xmlNodePtr env = xmlNewDocNode(s->b.doc, NULL, BAD_CAST "Envelope", NULL);
	if (!env)
		return -ENOMEM;
	xmlDocSetRootElement(s->b.doc, env);
	xmlNsPtr soap = xmlNewNs(env, BAD_CAST SOAP_ENV_NS, BAD_CAST "soap");
	xmlNsPtr xsd = xmlNewNs(env, BAD_CAST XSD_NS, BAD_CAST "xsd");
	s->xsi = xmlNewNs(env, BAD_CAST XSI_NS, BAD_CAST "xsi");
	if (!soap || !xsd || !s->xsi)
		return -ENOMEM;
	xmlSetNs(env, soap);
	xmlNodePtr body = xmlNewDocNode(s->b.doc, soap, BAD_CAST "Body", NULL);
	if (!body)
		return -ENOMEM;
	xmlAddChild(env, body);
	if (!xmlNewNsProp(body, soap, BAD_CAST "encodingStyle", BAD_CAST SOAP_ENC_NS))
		return -ENOMEM;
	s->op = xmlNewDocNode(s->b.doc, NULL, BAD_CAST method, NULL);
	if (!s->op)
		return -ENOMEM;
	xmlAddChild(body, s->op);
	xmlNsPtr ns1 = xmlNewNs(s->op, BAD_CAST ns, BAD_CAST "ns1");
	if (!ns1)
		return -ENOMEM;
	xmlSetNs(s->op, ns1);
	return 0;
}

/* An unqualified RPC part <name xsi:type="xsd:string">value</name>. */
static void soap_param(struct soap *s, const char *name, const char *value)
{
	xmlNodePtr p = add(&s->b, s->op, name, value);
	if (p && !xmlNewNsProp(p, s->xsi, BAD_CAST "type", BAD_CAST "xsd:string"))
		s->b.oom = true;
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

/* Serialises the envelope into @p out with the transport headers. Frees
 * the document whatever happens. */
static int soap_finish(struct soap *s, const struct kcg_khaos_config *cfg, struct kcg_call *out)
{
	const char *ns = cfg->soap_namespace && *cfg->soap_namespace ? cfg->soap_namespace
										 : DEFAULT_NS;
	xmlChar *xml = NULL;
	int len = 0;
	int rc = -ENOMEM;

	*out = (struct kcg_call){ .what = s->method, .method = "POST", .timeout_s = (unsigned)cfg->timeout_s };
	if (s->b.oom)
		goto done;
	xmlDocDumpMemoryEnc(s->b.doc, &xml, &len, "UTF-8");
	if (!xml || len <= 0)
		goto done;
	out->body = strndup((const char *)xml, (size_t)len);
	out->body_len = (size_t)len;
	out->url = strdup(cfg->soap_url ? cfg->soap_url : "");
	if (!out->body || !out->url)
		goto fail_call;
	if (kcg_call_header(out, "Content-Type: text/xml; charset=utf-8") ||
	    kcg_call_header(out, "SOAPAction: \"%s#%s\"", ns, s->method) || kcg_call_header(out, "Accept: text/xml"))
		goto fail_call;
	if (cfg->soap_user && *cfg->soap_user) {
		const char *pw = cfg->soap_password ? cfg->soap_password : "";
		char *plain = NULL, *b64 = NULL;
		int n = asprintf(&plain, "%s:%s", cfg->soap_user, pw);
		if (n < 0)
			goto fail_call;
		b64 = malloc(4 * (((size_t)n + 2) / 3) + 1);
		if (b64) {
			kcg_base64_encode((const unsigned char *)plain, (size_t)n, b64);
			out->secret_headers = true;
			rc = kcg_call_header(out, "Authorization: Basic %s", b64);
			explicit_bzero(b64, strlen(b64));
		}
		explicit_bzero(plain, (size_t)n);
		free(plain);
		free(b64);
		if (!b64 || rc != 0) {
			rc = -ENOMEM;
			goto fail_call;
		}
	}
	rc = 0;
	goto done;
fail_call:
	kcg_call_finish(out);
done:
	xmlFree(xml);
	xmlFreeDoc(s->b.doc);
	s->b.doc = NULL;
	return rc;
}

/* Khaos-style date parameter: "YYYY-MM-DDTHH:MM:SS" UTC, "" for 0. */
static void khaos_date(uint64_t ms, char out[32])
{
	out[0] = '\0';
	if (!ms)
		return;
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
}

int kcg_khaos_import_orders(const struct kcg_khaos_config *cfg, const json_t *order, struct kcg_call *out,
			    char why[KCG_ERROR_MAX])
{
	struct build inner = { 0 };
	struct soap s;

	*out = (struct kcg_call){ 0 };
	why[0] = '\0';
	xmlInitParser();
	int rc = sales_orders(cfg, order, &inner, why);
	if (rc != 0)
		goto fail_inner;
	char *text = dump_inner(inner.doc);
	if (!text) {
		rc = -ENOMEM;
		goto fail_inner;
	}
	rc = soap_begin(&s, cfg, "ImportOrders");
	if (rc == 0) {
		soap_param(&s, "Orders", text);
		rc = soap_finish(&s, cfg, out);
	} else {
		xmlFreeDoc(s.b.doc);
	}
	free(text);
fail_inner:
	if (rc == -ENOMEM)
		kcg_why(why, "out of memory");
	xmlFreeDoc(inner.doc);
	return rc;
}

int kcg_khaos_order_status(const struct kcg_khaos_config *cfg, const char *ref, struct kcg_call *out)
{
	struct soap s;

	*out = (struct kcg_call){ 0 };
	/* IDs is a CSV: a ref with a comma could match someone else's order. */
	if (!ref || !*ref || strchr(ref, ','))
		return -EINVAL;
	xmlInitParser();
	int rc = soap_begin(&s, cfg, "ExportOrderStatusEx");
	if (rc != 0) {
		xmlFreeDoc(s.b.doc);
		return rc;
	}
	soap_param(&s, "IDs", ref);
	soap_param(&s, "MappingType", MAPPING_ASSOCIATED_REF);
	soap_param(&s, "IncludeTracking", "0");
	soap_param(&s, "IncludeCancelled", "1");
	soap_param(&s, "DateFrom", "");
	soap_param(&s, "DateTo", "");
	soap_param(&s, "InvoiceStageIDs", "");
	return soap_finish(&s, cfg, out);
}

int kcg_khaos_stock_status(const struct kcg_khaos_config *cfg, const char *codes, uint64_t since_ms, struct kcg_call *out)
{
	struct soap s;
	char since[32];

	*out = (struct kcg_call){ 0 };
	xmlInitParser();
	int rc = soap_begin(&s, cfg, "ExportStockStatus");
	if (rc != 0) {
		xmlFreeDoc(s.b.doc);
		return rc;
	}
	khaos_date(since_ms, since);
	soap_param(&s, "StockCodes", codes ? codes : "");
	soap_param(&s, "MappingType", MAPPING_STOCK_CODE);
	soap_param(&s, "LastUpdated", since);
	soap_param(&s, "SiteID", cfg->site ? cfg->site : "");
	return soap_finish(&s, cfg, out);
}

int kcg_khaos_stock_list(const struct kcg_khaos_config *cfg, uint64_t since_ms, struct kcg_call *out)
{
	struct soap s;
	char since[32];

	*out = (struct kcg_call){ 0 };
	xmlInitParser();
	int rc = soap_begin(&s, cfg, "GetStockList");
	if (rc != 0) {
		xmlFreeDoc(s.b.doc);
		return rc;
	}
	khaos_date(since_ms, since);
	soap_param(&s, "DateType", DATE_TYPE_MODIFIED);
	soap_param(&s, "DateValue", since);
	soap_param(&s, "StockItemType", "");
	return soap_finish(&s, cfg, out);
}

/* ---- reading ---- */

static bool named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static bool in_ns(xmlNodePtr n, const char *uri)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, uri) == 0;
}

static xmlNodePtr first_el(xmlNodePtr parent)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

static xmlNodePtr next_el(xmlNodePtr n)
{
	for (n = n ? n->next : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

/* The first element child called @p name, whatever its namespace. */
static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = first_el(parent); c; c = next_el(c))
		if (named(c, name))
			return c;
	return NULL;
}

/* Text content of @p n without surrounding whitespace (malloc'd; "" when n
 * is NULL); NULL only when out of memory. */
static char *text_of(xmlNodePtr n)
{
	xmlChar *x = n ? xmlNodeGetContent(n) : NULL;
	const char *s = x ? (const char *)x : "";
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	char *out = strndup(s, len);
	xmlFree(x);
	return out;
}

/* Parses untrusted XML: no network, no entity expansion, no DTD at all. */
static xmlDocPtr read_xml(const char *buf, size_t len)
{
	if (!buf || len == 0 || len > (size_t)INT32_MAX)
		return NULL;
	xmlDocPtr doc = xmlReadMemory(buf, (int)len, "khaos.xml", NULL, READ_OPTS);
	if (doc && (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc))) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* Follows a SOAP-encoding reference (href="#id") to the element with that
 * id anywhere under @p body; @p n itself when it has no href. NULL when
 * the reference points nowhere. */
static xmlNodePtr deref(xmlNodePtr body, xmlNodePtr n)
{
	xmlChar *href = xmlGetNoNsProp(n, BAD_CAST "href");
	if (!href)
		return n;
	xmlNodePtr hit = NULL;
	if (href[0] == '#') {
		/* Depth-first walk without recursion. */
		xmlNodePtr c = first_el(body);
		while (c && !hit) {
			xmlChar *id = xmlGetNoNsProp(c, BAD_CAST "id");
			if (id && strcmp((const char *)id, (const char *)href + 1) == 0)
				hit = c;
			xmlFree(id);
			if (hit)
				break;
			xmlNodePtr down = first_el(c);
			if (down) {
				c = down;
				continue;
			}
			while (c && c != body && !next_el(c))
				c = c->parent;
			c = c && c != body ? next_el(c) : NULL;
		}
	}
	xmlFree(href);
	return hit;
}

/* A SOAP answer, opened. */
struct answer {
	xmlDocPtr doc;
	xmlNodePtr body;
	xmlNodePtr ret; /* the result part, references followed */
};

/*
 * Reads the envelope of an answer to @p method. @return 0 with @p a->ret
 * set (the caller frees a->doc), or the final code with @p why filled.
 */
static int open_answer(const struct kcg_reply *r, const char *method, struct answer *a, char why[KCG_ERROR_MAX])
{
	char ex[KCG_ERROR_MAX];

	*a = (struct answer){ 0 };
	why[0] = '\0';
	if (r->transport_error != 0 || r->status == 0) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", method, ex);
		return -EAGAIN;
	}
	xmlInitParser();
	a->doc = read_xml(r->body, r->len);
	xmlNodePtr env = a->doc ? xmlDocGetRootElement(a->doc) : NULL;
	if (env && named(env, "Envelope") && in_ns(env, SOAP_ENV_NS)) {
		for (xmlNodePtr c = first_el(env); c; c = next_el(c))
			if (named(c, "Body") && in_ns(c, SOAP_ENV_NS))
				a->body = c;
	}
	xmlNodePtr first = first_el(a->body);
	if (first && named(first, "Fault") && in_ns(first, SOAP_ENV_NS)) {
		char *code = text_of(child(first, "faultcode"));
		char *msg = text_of(child(first, "faultstring"));
		int rc = -ENOMEM;
		if (code && msg) {
			const char *local = strrchr(code, ':') ? strrchr(code, ':') + 1 : code;
			if (strncmp(local, "Server", 6) == 0 && (local[6] == '\0' || local[6] == '.'))
				rc = -EAGAIN;
			else if ((strncmp(local, "Client", 6) == 0 && (local[6] == '\0' || local[6] == '.')) ||
				 strcmp(local, "VersionMismatch") == 0 || strcmp(local, "MustUnderstand") == 0)
				rc = KCG_EPAYLOAD;
			else
				rc = kcg_reply_transient(r) ? -EAGAIN : KCG_EPAYLOAD;
			kcg_why(why, "%s: HTTP %ld, fault %s: %s", method, r->status, *local ? local : "(none)", msg);
		} else {
			kcg_why(why, "%s: out of memory", method);
		}
		free(code);
		free(msg);
		xmlFreeDoc(a->doc);
		*a = (struct answer){ 0 };
		return rc;
	}
	if (kcg_reply_transient(r)) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", method, ex);
		xmlFreeDoc(a->doc);
		*a = (struct answer){ 0 };
		return -EAGAIN;
	}
	if (r->status < 200 || r->status > 299) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", method, ex);
		goto fail_payload;
	}
	if (!a->body) {
		kcg_why(why, "%s: HTTP %ld without a SOAP 1.1 envelope", method, r->status);
		goto fail_payload;
	}
	char want[64];
	snprintf(want, sizeof(want), "%sResponse", method);
	xmlNodePtr resp = child(a->body, want);
	if (!resp) {
		kcg_why(why, "%s: the answer has no %s element", method, want);
		goto fail_payload;
	}
	/* Delphi names a function result "return"; take the only part else. */
	xmlNodePtr ret = child(resp, "return");
	if (!ret)
		ret = first_el(resp);
	a->ret = ret ? deref(a->body, ret) : NULL;
	if (!a->ret) {
		kcg_why(why, "%s: the answer has no result", method);
		goto fail_payload;
	}
	return 0;
fail_payload:
	xmlFreeDoc(a->doc);
	*a = (struct answer){ 0 };
	return KCG_EPAYLOAD;
}

/* The XML document carried as text in a string result. *@p inner stays
 * NULL when the string is empty (Khaos has nothing to say). */
static int open_inner(const struct answer *a, const char *method, xmlDocPtr *inner, char why[KCG_ERROR_MAX])
{
	*inner = NULL;
	char *text = text_of(a->ret);
	if (!text) {
		kcg_why(why, "%s: out of memory", method);
		return -ENOMEM;
	}
	int rc = 0;
	if (*text) {
		*inner = read_xml(text, strlen(text));
		if (!*inner) {
			kcg_why(why, "%s: the result is not an XML document", method);
			rc = KCG_EPAYLOAD;
		}
	}
	free(text);
	return rc;
}

/* Calls @p fn for each element called @p name in @p inner: the root itself
 * when it has that name, else the root's children of that name (the root's
 * own name is not relied on). Stops at fn's first non-zero value. */
static int each_el(xmlDocPtr inner, const char *name, int (*fn)(xmlNodePtr n, void *arg), void *arg)
{
	xmlNodePtr root = inner ? xmlDocGetRootElement(inner) : NULL;
	if (!root)
		return 0;
	if (named(root, name))
		return fn(root, arg);
	for (xmlNodePtr c = first_el(root); c; c = next_el(c)) {
		if (!named(c, name))
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
	char *aref = text_of(child(item, "AssociatedRef"));
	if (!aref)
		return -ENOMEM;
	bool ours = strcmp(aref, ref) == 0;
	free(aref);
	if (!ours)
		return 1;
	char *so = text_of(child(item, "SalesOrderCode"));
	char *imported = text_of(child(item, "Imported"));
	char *err = text_of(child(item, "ErrorMessage"));
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

int kcg_khaos_import_parse(const struct kcg_reply *r, const char *ref, char code[KCG_KHAOS_CODE_MAX],
			   char why[KCG_ERROR_MAX])
{
	struct answer a;
	code[0] = '\0';
	int rc = open_answer(r, "ImportOrders", &a, why);
	if (rc != 0)
		return rc;
	if (child(a.ret, "AssociatedRef")) {
		/* A single struct rather than an array. */
		rc = import_item(a.ret, ref, code, why);
	} else {
		rc = 1;
		for (xmlNodePtr it = first_el(a.ret); it && rc == 1; it = next_el(it)) {
			xmlNodePtr item = deref(a.body, it);
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
	xmlFreeDoc(a.doc);
	return rc;
}

struct status_find {
	const char *ref;
	char *code;
};

static int status_order(xmlNodePtr o, void *arg)
{
	struct status_find *f = arg;
	char *aref = text_of(child(o, "ASSOCIATED_REF"));
	if (!aref)
		return -ENOMEM;
	bool ours = strcmp(aref, f->ref) == 0;
	free(aref);
	if (!ours)
		return 0;
	/* Existence is what counts; a code that cannot be kept is left empty. */
	char *so = text_of(child(o, "SALES_ORDER_CODE"));
	if (!so)
		return -ENOMEM;
	if (strlen(so) < KCG_KHAOS_CODE_MAX)
		memcpy(f->code, so, strlen(so) + 1);
	free(so);
	return 1;
}

int kcg_khaos_order_status_parse(const struct kcg_reply *r, const char *ref, char code[KCG_KHAOS_CODE_MAX],
				 char why[KCG_ERROR_MAX])
{
	struct answer a;
	xmlDocPtr inner;
	code[0] = '\0';
	int rc = open_answer(r, "ExportOrderStatusEx", &a, why);
	if (rc != 0)
		return rc;
	rc = open_inner(&a, "ExportOrderStatusEx", &inner, why);
	if (rc == 0) {
		struct status_find f = { .ref = ref, .code = code };
		rc = each_el(inner, "ORDER", status_order, &f);
		if (rc == 1) {
			rc = 0;
		} else if (rc == 0) {
			kcg_why(why, "ExportOrderStatusEx: Khaos has no order with associated ref %s", ref);
			rc = KCG_ENOTFOUND;
		} else {
			kcg_why(why, "ExportOrderStatusEx: out of memory");
		}
	}
	xmlFreeDoc(inner);
	xmlFreeDoc(a.doc);
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
		return text_of(child(it, "STOCK_CODE"));
	const char *s = (const char *)attr;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	char *out = strndup(s, len);
	xmlFree(attr);
	return out;
}

static int stock_status_item(xmlNodePtr it, void *arg)
{
	struct stock_walk *w = arg;
	struct kcg_stock_item item = { 0 };
	char *code = item_code(it), *level = NULL, *status = NULL;
	int rc;

	level = text_of(child(it, "LEVEL"));
	status = text_of(child(it, "STATUS"));
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

int kcg_khaos_stock_status_parse(const struct kcg_reply *r, int (*fn)(const struct kcg_stock_item *item, void *arg),
				 void *arg, char why[KCG_ERROR_MAX])
{
	struct answer a;
	xmlDocPtr inner;
	int rc = open_answer(r, "ExportStockStatus", &a, why);
	if (rc != 0)
		return rc;
	rc = open_inner(&a, "ExportStockStatus", &inner, why);
	if (rc == 0) {
		struct stock_walk w = { .item_fn = fn, .arg = arg, .why = why };
		rc = each_el(inner, "STOCK_ITEM", stock_status_item, &w);
	}
	xmlFreeDoc(inner);
	xmlFreeDoc(a.doc);
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

int kcg_khaos_stock_list_parse(const struct kcg_reply *r, int (*fn)(const char *code, void *arg), void *arg,
			       char why[KCG_ERROR_MAX])
{
	struct answer a;
	xmlDocPtr inner;
	int rc = open_answer(r, "GetStockList", &a, why);
	if (rc != 0)
		return rc;
	rc = open_inner(&a, "GetStockList", &inner, why);
	if (rc == 0) {
		struct stock_walk w = { .code_fn = fn, .arg = arg, .why = why };
		rc = each_el(inner, "STOCK_ITEM", stock_list_item, &w);
	}
	xmlFreeDoc(inner);
	xmlFreeDoc(a.doc);
	return rc;
}
