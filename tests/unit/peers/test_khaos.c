/*
 * test_khaos.c: the Khaos Control client's operations (src/peers/khaos.c)
 * over the SOAP transport: the four calls as built (URL, method, headers,
 * the envelope and the SALES_ORDERS document read back with libxml2 and
 * XPath rather than compared as strings), escaping of hostile values, what
 * a sales order must hold, and every parse outcome: ok, not found,
 * refused, Client/Server faults, 5xx, 429, no answer, malformed. Answers
 * are shaped like kcgate-sim's (docs/khaos-soap.md). The transport alone
 * is test_khaos_soap.c; the Mirakl mapping is test_order_map.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "kcgate/common.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/net.h"

#include "khaos_fixtures.h"

/* The parsers' configuration: only the transport matters to them. */
static const struct kcg_khaos_config cfg = { .transport = "soap" };

/* ---- ImportOrders: the request ---- */

static char *dup(const char *s)
{
	char *out = strdup(s);
	assert_non_null(out);
	return out;
}

/* The sales order test_order_map.c's Mirakl order maps to. */
static struct kcg_khaos_sales_order sales_order(void)
{
	struct kcg_khaos_sales_order so = {
		.associated_ref = dup("ORD-1-A"),
		.company_name = dup("Jane Doe"),
		.invoice = { .address1 = dup("1 High Street"), .address2 = dup("Flat 2"), .town = dup("London"),
			     .county = dup("Greater London"), .postcode = dup("SW1A 1AA"), .country = dup("GBR"),
			     .forename = dup("Jane"), .surname = dup("Doe"), .tel = dup("+44 20"),
			     .email = dup("n@mirakl.example") },
		.delivery = { .address1 = dup("9 Rue X"), .town = dup("Paris"), .postcode = dup("75001"),
			      .country = dup("fra"), .forename = dup("Ann"), .surname = dup("Bee"), .tel = dup("+33 1"),
			      .email = dup("n@mirakl.example") },
		.has_date = true,
		.date_ms = 1795333327000ull, /* 2026-11-22T07:42:07Z */
		.amount = { .set = true, .value = 24.99 },
		.currency = dup("GBP"),
		.delivery_gross = { .set = true, .value = 4.99 },
		.po_number = dup("C-77"),
		.n_lines = 2,
	};
	so.lines = calloc(2, sizeof(so.lines[0]));
	assert_non_null(so.lines);
	so.lines[0] = (struct kcg_khaos_order_line){ .stock_code = dup("SKU-1"), .quantity = 2,
						      .price_gross = { true, 10 }, .description = dup("Widget") };
	so.lines[1] = (struct kcg_khaos_order_line){ .stock_code = dup("SKU-2"), .quantity = 1,
						      .price_gross = { true, 0.1 } };
	return so;
}

static void set(char **field, const char *value)
{
	free(*field);
	*field = value ? dup(value) : NULL;
}

static void test_import_mapping(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_khaos_sales_order so = sales_order();
	xmlDocPtr d = import_doc(&cfg, &so, true, NULL);

	assert_sales_orders_doc(d);

	xmlFreeDoc(d);
	kcg_khaos_sales_order_finish(&so);
}

static void test_import_hostile_values(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_khaos_sales_order so = sales_order();
	const char *first = "Zo\xc3\xab <O'Brien> & \"Co\"";
	const char *last = "\xc5\x81ukasz ]]> &amp; \xe2\x84\xa2";
	char name[128];
	snprintf(name, sizeof(name), "%s %s", first, last);
	set(&so.company_name, name);
	set(&so.invoice.forename, first);
	set(&so.invoice.surname, last);
	set(&so.invoice.address1, "<![CDATA[x]]> </Orders><evil/>");
	set(&so.invoice.address2, "tab\there\x01nul\x1f");
	set(&so.lines[0].stock_code, "A&B<\"x\">'");

	char *raw = NULL;
	xmlDocPtr d = import_doc(&cfg, &so, true, &raw);
	/* Nothing of the values reached the envelope as markup. */
	assert_null(strstr(raw, "<O'Brien>"));
	assert_null(strstr(raw, "<evil/>"));
	assert_null(strstr(raw, "<![CDATA["));
	assert_null(strstr(raw, "A&B"));
	free(raw);

	assert_xp(d, "//CUSTOMER_DETAIL/COMPANY_NAME", name);
	assert_xp(d, "//INVADDR/IFORENAME", first);
	assert_xp(d, "//INVADDR/ISURNAME", last);
	assert_xp(d, "//INVADDR/IADDRESS1", "<![CDATA[x]]> </Orders><evil/>");
	/* XML 1.0 cannot carry C0 controls: they become spaces. */
	assert_xp(d, "//INVADDR/IADDRESS2", "tab\there nul ");
	assert_xp(d, "//ORDER_ITEM[1]/STOCK_CODE", "A&B<\"x\">'");
	assert_xp(d, "//ORDER_HEADER/SITE", "MAIN & <1>");
	assert_xp(d, "count(//evil)", "0");
	xmlFreeDoc(d);
	kcg_khaos_sales_order_finish(&so);
}

static void test_import_left_out(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	cfg.company_class = NULL;
	cfg.soap_user = NULL;
	cfg.soap_password = NULL;
	struct kcg_khaos_sales_order so = sales_order();

	/* Nothing to say: no element, not an empty one. */
	struct kcg_khaos_address none = { 0 };
	free(so.invoice.address1);
	so.invoice.address1 = NULL;
	set(&so.invoice.address2, "");
	kcg_khaos_sales_order_finish(&(struct kcg_khaos_sales_order){ .delivery = so.delivery });
	so.delivery = none;
	so.amount.set = false;
	so.has_date = false;
	set(&so.company_name, NULL);
	set(&so.lines[0].description, NULL);
	so.lines[0].price_gross.set = false;
	so.delivery_gross = (struct kcg_khaos_money){ .set = true, .value = 2e12 }; /* not of sane size */
	xmlDocPtr d = import_doc(&cfg, &so, false, NULL);
	assert_xp(d, "count(//INVADDR/IADDRESS1)", "0");
	assert_xp(d, "count(//INVADDR/IADDRESS2)", "0");
	assert_xp(d, "count(//DELADDR)", "1");
	assert_xp(d, "count(//DELADDR/*)", "0");
	assert_xp(d, "count(//PAYMENTS)", "0");
	assert_xp(d, "count(//ORDER_AMOUNT)", "0");
	assert_xp(d, "count(//ORDER_DATE)", "0");
	assert_xp(d, "count(//COMPANY_CLASS)", "0");
	assert_xp(d, "count(//COMPANY_NAME)", "0");
	assert_xp(d, "count(//DELIVERY_GRS)", "0");
	assert_xp(d, "count(//ORDER_ITEM[1]/PRICE_GRS)", "0");
	assert_xp(d, "count(//ORDER_ITEM[1]/STOCK_DESC)", "0");
	assert_xp(d, "//ORDER_HEADER/ASSOCIATED_REF", "ORD-1-A");
	/* Alpha-3 in any case becomes alpha-2. */
	assert_xp(d, "//INVADDR/ICOUNTRY_CODE", "GB");
	xmlFreeDoc(d);

	/* A code that is not alpha-3 goes as it came; the default namespace
	 * is used when none is configured; -0 is 0. */
	set(&so.invoice.country, "ZZZ");
	so.amount = (struct kcg_khaos_money){ .set = true, .value = -0.0 };
	cfg.soap_namespace = NULL;
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_khaos_import_orders(&cfg, &so, &c, why), 0);
	assert_string_equal(header(&c, "SOAPAction"), "\"urn:KosWebIntf-IKosWeb#ImportOrders\"");
	assert_non_null(strstr(c.body, "&lt;ICOUNTRY_CODE&gt;ZZZ&lt;"));
	assert_non_null(strstr(c.body, "&lt;ORDER_AMOUNT&gt;0.00&lt;"));
	assert_non_null(strstr(c.body, "xmlns:ns1=\"urn:KosWebIntf-IKosWeb\""));
	assert_false(c.secret_headers);
	kcg_call_finish(&c);

	/* An unknown transport builds nothing. */
	cfg.transport = "carrier-pigeon";
	assert_int_equal(kcg_khaos_import_orders(&cfg, &so, &c, why), -EINVAL);
	assert_null(c.body);
	kcg_khaos_sales_order_finish(&so);
}

static void test_import_invalid_order(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	static const char *const cases[] = { "no ref", "empty ref", "comma", "no lines", "no code", "qty 0" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kcg_khaos_sales_order so = sales_order();
		if (i == 0)
			set(&so.associated_ref, NULL);
		else if (i == 1)
			set(&so.associated_ref, "");
		else if (i == 2)
			set(&so.associated_ref, "A,B");
		else if (i == 3)
			so.n_lines = 0; /* the lines are still freed by finish() */
		else if (i == 4)
			set(&so.lines[1].stock_code, "");
		else
			so.lines[0].quantity = 0;
		struct kcg_call c;
		char why[KCG_ERROR_MAX] = "";
		int rc = kcg_khaos_import_orders(&cfg, &so, &c, why);
		if (rc != KCG_EPAYLOAD)
			fail_msg("%s: rc %d why '%s'", cases[i], rc, why);
		assert_printable(why);
		assert_true(strncmp(why, "sales order", 11) == 0);
		assert_null(c.body);
		if (i == 3)
			so.n_lines = 2;
		kcg_khaos_sales_order_finish(&so);
	}
}

/* ---- the other requests ---- */

static void test_order_status_call(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_call c;
	assert_int_equal(kcg_khaos_order_status(&cfg, "ORD<&>-1", &c), 0);
	xmlDocPtr d = check_envelope(&c, "ExportOrderStatusEx", true);
	assert_params(d, "ExportOrderStatusEx",
		      "IDs,MappingType,IncludeTracking,IncludeCancelled,DateFrom,DateTo,InvoiceStageIDs");
	const char *p = "/soap:Envelope/soap:Body/k:ExportOrderStatusEx/";
	char e[256];
	static const char *const want[][2] = {
		{ "IDs", "ORD<&>-1" }, { "MappingType", "4" }, { "IncludeTracking", "0" },
		{ "IncludeCancelled", "1" }, { "DateFrom", "" }, { "DateTo", "" }, { "InvoiceStageIDs", "" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(e, sizeof(e), "%s%s", p, want[i][0]);
		assert_xp(d, e, want[i][1]);
	}
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	assert_int_equal(kcg_khaos_order_status(&cfg, "A,B", &c), -EINVAL);
	assert_int_equal(kcg_khaos_order_status(&cfg, "", &c), -EINVAL);
	assert_null(c.body);
}

static void test_stock_calls(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_call c;
	assert_int_equal(kcg_khaos_stock_status(&cfg, "SKU-1,SKU&2", 1795333327123ull, &c), 0);
	xmlDocPtr d = check_envelope(&c, "ExportStockStatus", true);
	assert_params(d, "ExportStockStatus", "StockCodes,MappingType,LastUpdated,SiteID");
	assert_xp(d, "//k:ExportStockStatus/StockCodes", "SKU-1,SKU&2");
	assert_xp(d, "//k:ExportStockStatus/MappingType", "1");
	assert_xp(d, "//k:ExportStockStatus/LastUpdated", "2026-11-22T07:42:07");
	assert_xp(d, "//k:ExportStockStatus/SiteID", "MAIN & <1>");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	assert_int_equal(kcg_khaos_stock_status(&cfg, NULL, 0, &c), 0);
	d = check_envelope(&c, "ExportStockStatus", true);
	assert_xp(d, "//k:ExportStockStatus/StockCodes", "");
	assert_xp(d, "//k:ExportStockStatus/LastUpdated", "");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	assert_int_equal(kcg_khaos_stock_list(&cfg, 1795333327999ull, &c), 0);
	d = check_envelope(&c, "GetStockList", true);
	assert_params(d, "GetStockList", "DateType,DateValue,StockItemType");
	assert_xp(d, "//k:GetStockList/DateType", "1");
	assert_xp(d, "//k:GetStockList/DateValue", "2026-11-22T07:42:07");
	assert_xp(d, "//k:GetStockList/StockItemType", "");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	assert_int_equal(kcg_khaos_stock_list(&cfg, 0, &c), 0);
	d = check_envelope(&c, "GetStockList", true);
	assert_xp(d, "//k:GetStockList/DateValue", "");
	xmlFreeDoc(d);
	kcg_call_finish(&c);
}

/* ---- answers ---- */

/* A sim-shaped answer whose `return` is the string @p inner (escaped by
 * libxml2), with element prefixes as a Delphi server writes them. */
static char *string_answer(const char *method, const char *inner)
{
	xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr env = xmlNewNode(NULL, BAD_CAST "Envelope");
	xmlDocSetRootElement(d, env);
	xmlNsPtr soap = xmlNewNs(env, BAD_CAST SOAP_ENV, BAD_CAST "SOAP-ENV");
	xmlSetNs(env, soap);
	xmlNsPtr xsi = xmlNewNs(env, BAD_CAST XSI, BAD_CAST "xsi");
	xmlNodePtr body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
	char name[64];
	snprintf(name, sizeof(name), "%sResponse", method);
	xmlNodePtr resp = xmlNewChild(body, NULL, BAD_CAST name, NULL);
	xmlSetNs(resp, xmlNewNs(resp, BAD_CAST NS, BAD_CAST "NS1"));
	xmlNodePtr ret = xmlNewDocRawNode(d, NULL, BAD_CAST "return", BAD_CAST inner);
	xmlAddChild(resp, ret);
	xmlNewNsProp(ret, xsi, BAD_CAST "type", BAD_CAST "xsd:string");
	xmlChar *buf;
	int len;
	xmlDocDumpMemoryEnc(d, &buf, &len, "UTF-8");
	char *out = strdup((const char *)buf);
	xmlFree(buf);
	xmlFreeDoc(d);
	return out;
}

static struct kcg_reply string_reply(const char *method, const char *inner)
{
	char *body = string_answer(method, inner);
	struct kcg_reply r = reply(200, body);
	free(body);
	return r;
}

#define IMPORT_HEAD                                                                                              \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_ENV "\" "      \
	"xmlns:xsi=\"" XSI "\" xmlns:SOAP-ENC=\"http://schemas.xmlsoap.org/soap/encoding/\">"                  \
	"<SOAP-ENV:Body><NS1:ImportOrdersResponse xmlns:NS1=\"" NS "\" xmlns:NS2=\"urn:KosWebIntf\">"
#define IMPORT_TAIL "</NS1:ImportOrdersResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"
#define ITEM(ref, code, ok, err)                                                                                 \
	"<item xsi:type=\"NS2:TOrderImportResult\"><AssociatedRef xsi:type=\"xsd:string\">" ref "</AssociatedRef>" \
	"<SalesOrderCode xsi:type=\"xsd:string\">" code "</SalesOrderCode><Imported xsi:type=\"xsd:boolean\">" ok \
	"</Imported><ErrorMessage xsi:type=\"xsd:string\">" err "</ErrorMessage></item>"
#define ARRAY(items) "<return xsi:type=\"SOAP-ENC:Array\" SOAP-ENC:arrayType=\"NS2:TOrderImportResult[1]\">" items "</return>"

static int import_parse(const char *body, long status, const char *ref, char code[KCG_KHAOS_CODE_MAX],
			char why[KCG_ERROR_MAX])
{
	struct kcg_reply r = reply(status, body);
	memset(code, 'z', KCG_KHAOS_CODE_MAX);
	why[0] = '\0';
	int rc = kcg_khaos_import_parse(&cfg, &r, ref, code, why);
	assert_printable(why);
	kcg_reply_finish(&r);
	return rc;
}

static void test_import_parse(void **state)
{
	char code[KCG_KHAOS_CODE_MAX], why[KCG_ERROR_MAX];

	/* Booked; ours is the second entry; whitespace between elements. */
	assert_int_equal(import_parse(IMPORT_HEAD ARRAY(ITEM("OTHER", "SO1", "true", "") "\n  "
							ITEM("ORD-1", "SO000002", "true", "")) IMPORT_TAIL,
				      200, "ORD-1", code, why),
			 0);
	assert_string_equal(code, "SO000002");

	/* Refused, with and without a reason. */
	assert_int_equal(import_parse(IMPORT_HEAD ARRAY(ITEM("ORD-1", "", "false",
							     "ORDER_ITEM 1: unknown stock code &apos;SKU-9&apos;"))
					      IMPORT_TAIL,
				      200, "ORD-1", code, why),
			 KCG_EPAYLOAD);
	assert_string_equal(why, "ImportOrders: Khaos refused order ORD-1: ORDER_ITEM 1: unknown stock code 'SKU-9'");
	assert_string_equal(code, "");
	assert_int_equal(import_parse(IMPORT_HEAD ARRAY(ITEM("ORD-1", "", "true", "")) IMPORT_TAIL, 200, "ORD-1",
				      code, why),
			 KCG_EPAYLOAD);
	assert_non_null(strstr(why, "no sales order code"));
	assert_int_equal(import_parse(IMPORT_HEAD ARRAY(ITEM("ORD-1", "SO9", "0", "")) IMPORT_TAIL, 200, "ORD-1",
				      code, why),
			 KCG_EPAYLOAD);

	/* No entry for our ref (outcome unknown), and an empty array. */
	assert_int_equal(import_parse(IMPORT_HEAD ARRAY(ITEM("OTHER", "SO1", "true", "")) IMPORT_TAIL, 200, "ORD-1",
				      code, why),
			 KCG_EPAYLOAD);
	assert_non_null(strstr(why, "no entry for associated ref ORD-1"));
	assert_int_equal(import_parse(IMPORT_HEAD "<return/>" IMPORT_TAIL, 200, "ORD-1", code, why), KCG_EPAYLOAD);

	/* A sales order code too long to keep. */
	assert_int_equal(import_parse(IMPORT_HEAD ARRAY(ITEM("ORD-1", "SO0123456789012345678901234567890123456789"
									      "0123456789012345678901234567890",
								"true", ""))
					      IMPORT_TAIL,
				      200, "ORD-1", code, why),
			 KCG_EPAYLOAD);

	/* A single struct instead of an array, no Imported flag. */
	assert_int_equal(import_parse(IMPORT_HEAD "<return><AssociatedRef>ORD-1</AssociatedRef>"
						  "<SalesOrderCode> SO7 </SalesOrderCode></return>" IMPORT_TAIL,
				      200, "ORD-1", code, why),
			 0);
	assert_string_equal(code, "SO7");

	/* SOAP-encoding multi-references, other prefixes. */
	static const char multiref[] =
		"<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body>"
		"<x:ImportOrdersResponse xmlns:x=\"" NS "\"><return href=\"#1\"/></x:ImportOrdersResponse>"
		"<a:Array xmlns:a=\"urn:a\" id=\"1\"><item href=\"#2\"/><item href=\"#3\"/></a:Array>"
		"<b:R xmlns:b=\"urn:b\" id=\"2\"><AssociatedRef>X</AssociatedRef><SalesOrderCode>S1</SalesOrderCode></b:R>"
		"<b:R xmlns:b=\"urn:b\" id=\"3\"><AssociatedRef>ORD-1</AssociatedRef><SalesOrderCode>S2</SalesOrderCode>"
		"<Imported>true</Imported></b:R>"
		"</e:Body></e:Envelope>";
	assert_int_equal(import_parse(multiref, 200, "ORD-1", code, why), 0);
	assert_string_equal(code, "S2");
	static const char dangling[] = "<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body>"
				       "<x:ImportOrdersResponse xmlns:x=\"" NS "\"><return href=\"#9\"/>"
				       "</x:ImportOrdersResponse></e:Body></e:Envelope>";
	assert_int_equal(import_parse(dangling, 200, "ORD-1", code, why), KCG_EPAYLOAD);
}

/* A fault answer. */
static char *fault(const char *code, const char *msg)
{
	char *out = NULL;
	assert_true(asprintf(&out,
			     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_ENV
			     "\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>%s</faultcode><faultstring>%s</faultstring>"
			     "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>",
			     code, msg) > 0);
	return out;
}

static int item_sink(const struct kcg_stock_item *item, void *arg)
{
	return 0;
}

static int code_sink(const char *code, void *arg)
{
	return 0;
}

/* Runs all four parsers on one answer; each must give @p want. */
static void expect_all(long status, const char *body, int want, const char *why_has)
{
	static const char *const names[] = { "ImportOrders", "ExportOrderStatusEx", "ExportStockStatus",
					     "GetStockList" };
	for (int k = 0; k < 4; k++) {
		struct kcg_reply r = reply(status, body);
		if (status == 0) {
			r.transport_error = 28;
			snprintf(r.error, sizeof(r.error), "Operation timed out after 21000 milliseconds");
		}
		char code[KCG_KHAOS_CODE_MAX] = "", why[KCG_ERROR_MAX] = "";
		int rc;
		if (k == 0)
			rc = kcg_khaos_import_parse(&cfg, &r, "ORD-1", code, why);
		else if (k == 1)
			rc = kcg_khaos_order_status_parse(&cfg, &r, "ORD-1", code, why);
		else if (k == 2)
			rc = kcg_khaos_stock_status_parse(&cfg, &r, item_sink, NULL, why);
		else
			rc = kcg_khaos_stock_list_parse(&cfg, &r, code_sink, NULL, why);
		if (rc != want || (why_has && !strstr(why, why_has)) || strncmp(why, names[k], strlen(names[k])) != 0)
			fail_msg("%s, HTTP %ld: rc %d why '%s' (want %d, '%s')", names[k], status, rc, why, want,
				 why_has ? why_has : "");
		assert_printable(why);
		kcg_reply_finish(&r);
	}
}

static void test_faults_and_transport(void **state)
{
	char *f;

	f = fault("SOAP-ENV:Client", "MappingType must be 4 (got &apos;1&apos;) \xc3\xa9");
	expect_all(500, f, KCG_EPAYLOAD, "HTTP 500, fault Client: MappingType must be 4 (got '1') ??");
	expect_all(200, f, KCG_EPAYLOAD, "fault Client");
	free(f);
	f = fault("Client.Auth", "Authentication failed");
	expect_all(401, f, KCG_EPAYLOAD, "Authentication failed");
	free(f);
	f = fault("SOAP-ENV:VersionMismatch", "SOAP 1.1 please");
	expect_all(500, f, KCG_EPAYLOAD, "VersionMismatch");
	free(f);
	f = fault("SOAP-ENV:MustUnderstand", "Header Auth is not understood");
	expect_all(500, f, KCG_EPAYLOAD, "MustUnderstand");
	free(f);
	f = fault("SOAP-ENV:Server", "Simulated failure");
	expect_all(500, f, -EAGAIN, "HTTP 500, fault Server: Simulated failure");
	expect_all(503, f, -EAGAIN, "fault Server");
	free(f);
	f = fault("SOAP-ENV:Server", "Too Many Requests");
	expect_all(429, f, -EAGAIN, "HTTP 429");
	free(f);
	/* A fault code nobody defined: the HTTP status decides. */
	f = fault("x:Weird", "hm");
	expect_all(500, f, -EAGAIN, "fault Weird");
	expect_all(400, f, KCG_EPAYLOAD, "fault Weird");
	free(f);

	expect_all(502, "<html><body>Bad gateway</body></html>", -EAGAIN, "HTTP 502");
	expect_all(500, "", -EAGAIN, "HTTP 500");
	expect_all(429, NULL, -EAGAIN, "HTTP 429");
	expect_all(0, NULL, -EAGAIN, "timeout: Operation timed out");
	expect_all(404, "<html>Not here</html>", KCG_EPAYLOAD, "HTTP 404");
	expect_all(301, NULL, KCG_EPAYLOAD, "HTTP 301");

	/* 200s that make no sense. */
	expect_all(200, NULL, KCG_EPAYLOAD, "without a SOAP 1.1 envelope");
	expect_all(200, "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_ENV "\"><SOAP-ENV:Body>", KCG_EPAYLOAD,
		   "without a SOAP 1.1 envelope");
	expect_all(200, "{\"json\":true}", KCG_EPAYLOAD, "without a SOAP 1.1 envelope");
	expect_all(200, "<Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\"><Body/></Envelope>", KCG_EPAYLOAD,
		   "without a SOAP 1.1 envelope");
	expect_all(200, "<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body><x:OtherResponse xmlns:x=\"" NS "\"/>"
			"</e:Body></e:Envelope>",
		   KCG_EPAYLOAD, "Response element");
	expect_all(200, "<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body/></e:Envelope>", KCG_EPAYLOAD,
		   "Response element");
	/* A DTD (entity expansion, external entities) is refused outright. */
	expect_all(200, "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
			"<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body>&x;</e:Body></e:Envelope>",
		   KCG_EPAYLOAD, "without a SOAP 1.1 envelope");
}

static int order_status(struct kcg_reply *r, const char *ref, char code[KCG_KHAOS_CODE_MAX])
{
	char why[KCG_ERROR_MAX] = "";
	int rc = kcg_khaos_order_status_parse(&cfg, r, ref, code, why);
	assert_printable(why);
	if (rc == KCG_ENOTFOUND)
		assert_non_null(strstr(why, ref));
	kcg_reply_finish(r);
	return rc;
}

static void test_order_status_parse(void **state)
{
	char code[KCG_KHAOS_CODE_MAX];
	static const char two[] =
		"<?xml version=\"1.0\"?>\n<ORDER_STATUSES>\n"
		"  <ORDER><ASSOCIATED_REF>OTHER</ASSOCIATED_REF><SALES_ORDER_CODE>SO1</SALES_ORDER_CODE></ORDER>\n"
		"  <ORDER><ASSOCIATED_REF> ORD-1 </ASSOCIATED_REF><SALES_ORDER_CODE>SO2</SALES_ORDER_CODE>"
		"<INVOICES><INVOICE><INVOICE_STAGE_ID>10</INVOICE_STAGE_ID></INVOICE></INVOICES></ORDER>\n"
		"  <ORDER><ASSOCIATED_REF>ORD-1</ASSOCIATED_REF><SALES_ORDER_CODE>SO3</SALES_ORDER_CODE></ORDER>\n"
		"</ORDER_STATUSES>";
	struct kcg_reply r = string_reply("ExportOrderStatusEx", two);
	assert_int_equal(order_status(&r, "ORD-1", code), 0);
	assert_string_equal(code, "SO2"); /* booked twice: the first one */
	r = string_reply("ExportOrderStatusEx", two);
	assert_int_equal(order_status(&r, "ORD-9", code), KCG_ENOTFOUND);
	assert_string_equal(code, "");
	r = string_reply("ExportOrderStatusEx", "<ORDER_STATUSES/>");
	assert_int_equal(order_status(&r, "ORD-1", code), KCG_ENOTFOUND);
	r = string_reply("ExportOrderStatusEx", "");
	assert_int_equal(order_status(&r, "ORD-1", code), KCG_ENOTFOUND);
	/* Another root name; a matching order without a code still exists. */
	r = string_reply("ExportOrderStatusEx", "<X><ORDER><ASSOCIATED_REF>ORD-1</ASSOCIATED_REF></ORDER></X>");
	assert_int_equal(order_status(&r, "ORD-1", code), 0);
	assert_string_equal(code, "");
	r = string_reply("ExportOrderStatusEx", "<ORDER><ASSOCIATED_REF>ORD-1</ASSOCIATED_REF>"
						"<SALES_ORDER_CODE>SO5</SALES_ORDER_CODE></ORDER>");
	assert_int_equal(order_status(&r, "ORD-1", code), 0);
	assert_string_equal(code, "SO5");
	/* Values with markup characters come back unescaped once. */
	r = string_reply("ExportOrderStatusEx", "<S><ORDER><ASSOCIATED_REF>A&amp;&lt;B</ASSOCIATED_REF>"
						"<SALES_ORDER_CODE>SO6</SALES_ORDER_CODE></ORDER></S>");
	assert_int_equal(order_status(&r, "A&<B", code), 0);
	assert_string_equal(code, "SO6");
	r = string_reply("ExportOrderStatusEx", "<ORDER_STATUSES><ORDER>");
	assert_int_equal(order_status(&r, "ORD-1", code), KCG_EPAYLOAD);
	r = string_reply("ExportOrderStatusEx", "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>");
	assert_int_equal(order_status(&r, "ORD-1", code), KCG_EPAYLOAD);
}

struct items {
	struct kcg_stock_item v[8];
	size_t n;
	size_t stop_after;
};

static int collect_item(const struct kcg_stock_item *item, void *arg)
{
	struct items *it = arg;
	it->v[it->n++] = *item;
	return it->n == it->stop_after ? 42 : 0;
}

static int stock_status(const char *inner, struct items *it, char why[KCG_ERROR_MAX])
{
	struct kcg_reply r = string_reply("ExportStockStatus", inner);
	why[0] = '\0';
	int rc = kcg_khaos_stock_status_parse(&cfg, &r, collect_item, it, why);
	assert_printable(why);
	kcg_reply_finish(&r);
	return rc;
}

static void test_stock_status_parse(void **state)
{
	char why[KCG_ERROR_MAX];
	struct items it = { 0 };
	static const char doc[] =
		"<STOCK_STATUS>"
		"<STOCK_ITEM CODE=\"SKU-1\"><STOCK_ID>1</STOCK_ID><LEVEL>12</LEVEL><STATUS>Active</STATUS></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"SKU-2\"><LEVEL>-3</LEVEL><STATUS>Discontinued</STATUS></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\" A&amp;B \"><LEVEL> 7.5000 </LEVEL><STATUS>DISCONTINUED</STATUS></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"SKU-4\"><STATUS>Discontinued soon</STATUS></STOCK_ITEM>"
		"<OTHER CODE=\"no\"/>"
		"</STOCK_STATUS>";
	assert_int_equal(stock_status(doc, &it, why), 0);
	assert_int_equal(it.n, 4);
	assert_string_equal(it.v[0].code, "SKU-1");
	assert_true(it.v[0].available == 12);
	assert_false(it.v[0].discontinued);
	assert_string_equal(it.v[1].code, "SKU-2");
	assert_true(it.v[1].available == -3);
	assert_true(it.v[1].discontinued);
	assert_string_equal(it.v[2].code, "A&B");
	assert_true(it.v[2].available == 7);
	assert_true(it.v[2].discontinued);
	assert_string_equal(it.v[3].code, "SKU-4");
	assert_true(it.v[3].available == 0);
	assert_false(it.v[3].discontinued);

	/* The callback's non-zero value stops the walk and is returned. */
	it = (struct items){ .stop_after = 2 };
	assert_int_equal(stock_status(doc, &it, why), 42);
	assert_int_equal(it.n, 2);

	it = (struct items){ 0 };
	assert_int_equal(stock_status("", &it, why), 0);
	assert_int_equal(stock_status("<STOCK_STATUS/>", &it, why), 0);
	assert_int_equal(it.n, 0);

	static const char *const bad[] = {
		"<S><STOCK_ITEM><LEVEL>1</LEVEL></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"\"><LEVEL>1</LEVEL></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"X\"><LEVEL>ten</LEVEL></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"X\"><LEVEL>1e3</LEVEL></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"X\"><LEVEL>99999999999999999999</LEVEL></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"X\"><LEVEL>-</LEVEL></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"0123456789012345678901234567890123456789012345678901234567890123\"/></S>",
		"<S><STOCK_ITEM",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		it = (struct items){ 0 };
		if (stock_status(bad[i], &it, why) != KCG_EPAYLOAD)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(it.n, 0);
	}
}

struct codes {
	char v[4][32];
	size_t n;
};

static int collect_code(const char *code, void *arg)
{
	struct codes *c = arg;
	snprintf(c->v[c->n++], sizeof(c->v[0]), "%s", code);
	return strcmp(code, "STOP") == 0 ? -7 : 0;
}

static void test_stock_list_parse(void **state)
{
	char why[KCG_ERROR_MAX] = "";
	struct codes c = { 0 };
	struct kcg_reply r = string_reply("GetStockList", "<STOCK_LIST><STOCK_ITEM CODE=\"SKU-1\"><STOCK_ID>1</STOCK_ID>"
							  "</STOCK_ITEM><STOCK_ITEM><STOCK_CODE>SKU-2</STOCK_CODE>"
							  "</STOCK_ITEM></STOCK_LIST>");
	assert_int_equal(kcg_khaos_stock_list_parse(&cfg, &r, collect_code, &c, why), 0);
	kcg_reply_finish(&r);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0], "SKU-1");
	assert_string_equal(c.v[1], "SKU-2");

	c = (struct codes){ 0 };
	r = string_reply("GetStockList", "<L><STOCK_ITEM CODE=\"STOP\"/><STOCK_ITEM CODE=\"never\"/></L>");
	assert_int_equal(kcg_khaos_stock_list_parse(&cfg, &r, collect_code, &c, why), -7);
	kcg_reply_finish(&r);
	assert_int_equal(c.n, 1);

	c = (struct codes){ 0 };
	r = string_reply("GetStockList", "<L><STOCK_ITEM/></L>");
	assert_int_equal(kcg_khaos_stock_list_parse(&cfg, &r, collect_code, &c, why), KCG_EPAYLOAD);
	kcg_reply_finish(&r);
	r = string_reply("GetStockList", "not xml");
	assert_int_equal(kcg_khaos_stock_list_parse(&cfg, &r, collect_code, &c, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "not an XML document"));
	kcg_reply_finish(&r);
	assert_int_equal(c.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import_mapping),
		cmocka_unit_test(test_import_hostile_values),
		cmocka_unit_test(test_import_left_out),
		cmocka_unit_test(test_import_invalid_order),
		cmocka_unit_test(test_order_status_call),
		cmocka_unit_test(test_stock_calls),
		cmocka_unit_test(test_import_parse),
		cmocka_unit_test(test_faults_and_transport),
		cmocka_unit_test(test_order_status_parse),
		cmocka_unit_test(test_stock_status_parse),
		cmocka_unit_test(test_stock_list_parse),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}

