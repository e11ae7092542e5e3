/*
 * test_khaos.c: the Khaos Control client's operations (src/peers/khaos.c)
 * over the SOAP transport: the four calls as built (URL, method, headers,
 * the envelope and the SALES_ORDERS document read back with libxml2 and
 * XPath rather than compared as strings), escaping of hostile values, what
 * a sales order must hold and the field limits, and the transport
 * outcomes every parser shares: Client/Server faults, 5xx, 429, no answer,
 * malformed. The answers' shapes (the templates') are
 * test_khaos_answers.c; the transport alone is test_khaos_soap.c; the
 * Mirakl mapping is test_order_map.c.
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
		.amount = { .set = true, .minor = 2509 },
		.currency = dup("GBP"),
		.delivery_gross = { .set = true, .minor = 499 },
		.po_number = dup("C-77"),
		.n_lines = 2,
	};
	so.lines = calloc(2, sizeof(so.lines[0]));
	assert_non_null(so.lines);
	so.lines[0] = (struct kcg_khaos_order_line){ .stock_code = dup("SKU-1"), .quantity = 2,
						      .price_gross = { true, 1000 }, .description = dup("Widget") };
	so.lines[1] = (struct kcg_khaos_order_line){ .stock_code = dup("SKU-2"), .quantity = 1,
						      .price_gross = { true, 10 } };
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
	set(&so.invoice.county, NULL);
	set(&so.invoice.address2, "");
	kcg_khaos_sales_order_finish(&(struct kcg_khaos_sales_order){ .delivery = so.delivery });
	so.delivery = none;
	so.amount.set = false;
	so.has_date = false;
	set(&so.company_name, NULL);
	set(&so.lines[0].description, NULL);
	so.delivery_gross = (struct kcg_khaos_money){ .set = true, .minor = 200000000000000LL }; /* not of sane size */
	xmlDocPtr d = import_doc(&cfg, &so, false, NULL);
	assert_xp(d, "count(//INVADDR/ICOUNTY)", "0");
	assert_xp(d, "count(//INVADDR/IADDRESS2)", "0");
	assert_xp(d, "count(//DELADDR)", "1");
	assert_xp(d, "count(//DELADDR/*)", "0");
	assert_xp(d, "count(//PAYMENTS)", "0");
	assert_xp(d, "count(//ORDER_AMOUNT)", "0");
	assert_xp(d, "count(//ORDER_DATE)", "0");
	assert_xp(d, "count(//COMPANY_CLASS)", "0");
	assert_xp(d, "count(//COMPANY_NAME)", "0");
	assert_xp(d, "count(//DELIVERY_GRS)", "0");
	assert_xp(d, "count(//ORDER_ITEM[1]/STOCK_DESC)", "0");
	assert_xp(d, "//ORDER_HEADER/ASSOCIATED_REF", "ORD-1-A");
	/* Alpha-3 by default; alpha-2 when asked ([khaos] country_format). */
	assert_xp(d, "//INVADDR/ICOUNTRY_CODE", "GBR");
	xmlFreeDoc(d);
	cfg.country_format = KCG_KHAOS_ALPHA2;
	d = import_doc(&cfg, &so, false, NULL);
	assert_xp(d, "//INVADDR/ICOUNTRY_CODE", "GB");
	xmlFreeDoc(d);
	cfg.country_format = KCG_KHAOS_ALPHA3;
	set(&so.invoice.country, "gb");
	d = import_doc(&cfg, &so, false, NULL);
	assert_xp(d, "//INVADDR/ICOUNTRY_CODE", "GBR"); /* alpha-2 in becomes alpha-3 */
	xmlFreeDoc(d);

	/* A code that is not ISO goes as it came; the fallback namespace
	 * is used when none is configured; 0 is 0.00. */
	set(&so.invoice.country, "ZZZ");
	so.amount = (struct kcg_khaos_money){ .set = true, .minor = 0 };
	cfg.soap_namespace = NULL;
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_khaos_import_orders(&cfg, &so, &c, why), 0);
	assert_string_equal(header(&c, "SOAPAction"), "\"urn:IKosWebIntf-IKosWeb#ImportOrders\"");
	assert_non_null(strstr(c.body, "&lt;ICOUNTRY_CODE&gt;ZZZ&lt;"));
	assert_non_null(strstr(c.body, "&lt;ORDER_AMOUNT&gt;0.00&lt;"));
	assert_non_null(strstr(c.body, "xmlns:ns1=\"urn:IKosWebIntf-IKosWeb\""));
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
	static const char *const cases[] = { "no ref", "empty ref", "comma", "no lines", "no code", "qty 0",
					     "no price", "no IADDRESS1", "no ITOWN", "no IPOSTCODE", "no ISURNAME",
					     "ref 16", "PO 31", "tel 20", "postcode 11", "desc 251", "currency 4",
					     "name 51 chars" };
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
		else if (i == 5)
			so.lines[0].quantity = 0;
		else if (i == 6)
			so.lines[1].price_gross.set = false;
		else if (i == 7)
			set(&so.invoice.address1, "");
		else if (i == 8)
			set(&so.invoice.town, NULL);
		else if (i == 9)
			set(&so.invoice.postcode, "");
		else if (i == 10)
			set(&so.invoice.surname, NULL);
		else if (i == 11)
			set(&so.associated_ref, "ORD-0123456789AB");
		else if (i == 12)
			set(&so.po_number, "P123456789012345678901234567890");
		else if (i == 13)
			set(&so.delivery.tel, "+33 1 23 45 67 89 012");
		else if (i == 14)
			set(&so.delivery.postcode, "75001-12345");
		else if (i == 15) {
			char d[252];
			memset(d, 'd', 251);
			d[251] = '\0';
			set(&so.lines[0].description, d);
		} else if (i == 16)
			set(&so.currency, "GBPX");
		else
			/* 51 characters, 102 bytes: limits count characters */
			set(&so.company_name, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					      "\xc3\xa9");
		struct kcg_call c;
		char why[KCG_ERROR_MAX] = "";
		int rc = kcg_khaos_import_orders(&cfg, &so, &c, why);
		if (rc != KCG_EPAYLOAD)
			fail_msg("%s: rc %d why '%s'", cases[i], rc, why);
		assert_printable(why);
		assert_true(strncmp(why, "sales order", 11) == 0);
		static const char *const named[] = { [6] = "PRICE_GRS", [7] = "IADDRESS1", [8] = "ITOWN",
						     [9] = "IPOSTCODE", [10] = "ISURNAME", [11] = "ASSOCIATED_REF is 16",
						     [12] = "PO_NUMBER is 31", [13] = "DTEL is 21", [14] = "DPOSTCODE",
						     [15] = "STOCK_DESC is 251", [16] = "ORDER_CURRENCY_CODE",
						     [17] = "COMPANY_NAME is 51" };
		if (i < sizeof(named) / sizeof(named[0]) && named[i] && !strstr(why, named[i]))
			fail_msg("%s: why '%s' does not name %s", cases[i], why, named[i]);
		assert_null(c.body);
		if (i == 3)
			so.n_lines = 2;
		kcg_khaos_sales_order_finish(&so);
	}
}

static void test_import_limits_at_max(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_khaos_sales_order so = sales_order();
	set(&so.associated_ref, "ORD-0123456789A");      /* 15 */
	set(&so.invoice.tel, "+44 20 7946 0000 12");      /* 19 */
	set(&so.po_number, "P12345678901234567890123456789"); /* 30 */
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_khaos_import_orders(&cfg, &so, &c, why), 0);
	kcg_call_finish(&c);
	assert_int_equal(kcg_khaos_field_limit("ASSOCIATED_REF"), 15);
	assert_int_equal(kcg_khaos_field_limit("ITEL"), 19);
	assert_int_equal(kcg_khaos_field_limit("DPOSTCODE"), 10);
	assert_int_equal(kcg_khaos_field_limit("SITE"), 0);
	kcg_khaos_sales_order_finish(&so);
}

/* ---- the other requests ---- */

static void test_order_status_call(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_call c;
	assert_int_equal(kcg_khaos_order_status(&cfg, "ORD<&>-1", &c), 0);
	xmlDocPtr d = check_envelope(&c, "ExportOrderStatusEx", true);
	/* The guide's ten parameters, in its order [WIG; FACTS.md §1.3]. */
	assert_params(d, "ExportOrderStatusEx",
		      "IDs,MappingType,WebOnly,ConfirmedOnly,IncludeTracking,IncludeCancelled,DateFrom,DateTo,"
		      "InvoiceStageIDs,ShowItems");
	const char *p = "/soap:Envelope/soap:Body/k:ExportOrderStatusEx/";
	char e[256];
	static const char *const want[][2] = {
		{ "IDs", "ORD<&>-1" }, { "MappingType", "4" },	   { "WebOnly", "0" },
		{ "ConfirmedOnly", "0" }, { "IncludeTracking", "0" }, { "IncludeCancelled", "-1" },
		{ "DateFrom", "" },	  { "DateTo", "" },	      { "InvoiceStageIDs", "" },
		{ "ShowItems", "0" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(e, sizeof(e), "%s%s", p, want[i][0]);
		assert_xp(d, e, want[i][1]);
	}
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	/* [khaos] booleans = true_false */
	cfg.booleans = KCG_KHAOS_TRUE_FALSE;
	assert_int_equal(kcg_khaos_order_status(&cfg, "ORD-1", &c), 0);
	d = check_envelope(&c, "ExportOrderStatusEx", true);
	assert_xp(d, "//k:ExportOrderStatusEx/IncludeCancelled", "true");
	assert_xp(d, "//k:ExportOrderStatusEx/ShowItems", "false");
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
	/* Without [khaos] stock_site_id: Khaos's default site, the optional
	 * trailing parameters left out. */
	assert_int_equal(kcg_khaos_stock_status(&cfg, "SKU-1,SKU&2", 1795333327123ull, &c), 0);
	xmlDocPtr d = check_envelope(&c, "ExportStockStatus", true);
	assert_params(d, "ExportStockStatus", "StockCode,MappingType,LastUpdated");
	assert_xp(d, "//k:ExportStockStatus/StockCode", "SKU-1,SKU&2");
	assert_xp(d, "//k:ExportStockStatus/MappingType", "1");
	assert_xp(d, "//k:ExportStockStatus/LastUpdated", "2026-11-22T07:42:07");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	cfg.stock_site_id = "-1";
	assert_int_equal(kcg_khaos_stock_status(&cfg, NULL, 0, &c), 0);
	d = check_envelope(&c, "ExportStockStatus", true);
	assert_params(d, "ExportStockStatus", "StockCode,MappingType,LastUpdated,SiteID,PotentialLeadTime");
	assert_xp(d, "//k:ExportStockStatus/StockCode", "");
	assert_xp(d, "//k:ExportStockStatus/LastUpdated", "2000-01-01T00:00:00");
	assert_xp(d, "//k:ExportStockStatus/SiteID", "-1");
	assert_xp(d, "//k:ExportStockStatus/PotentialLeadTime", "0");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	assert_int_equal(kcg_khaos_stock_list(&cfg, 1795333327999ull, &c), 0);
	d = check_envelope(&c, "GetStockList", true);
	assert_params(d, "GetStockList", "DateType,DateValue,StockItemType");
	assert_xp(d, "//k:GetStockList/DateType", "0"); /* REVISION_DATE */
	assert_xp(d, "//k:GetStockList/DateValue", "2026-11-22T07:42:07");
	assert_xp(d, "//k:GetStockList/StockItemType", "0");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	assert_int_equal(kcg_khaos_stock_list(&cfg, 0, &c), 0);
	d = check_envelope(&c, "GetStockList", true);
	assert_xp(d, "//k:GetStockList/DateValue", "2000-01-01T00:00:00");
	xmlFreeDoc(d);
	kcg_call_finish(&c);
}

/* ---- answers (the shapes themselves: test_khaos_answers.c) ---- */

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

static int code_sink(const struct kcg_khaos_stock_info *info, void *arg)
{
	(void)info;
	(void)arg;
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
			rc = kcg_khaos_order_status_parse(&cfg, &r, "ORD-1", code, NULL, why);
		else if (k == 2)
			rc = kcg_khaos_stock_status_parse(&cfg, &r, item_sink, NULL, why);
		else
			rc = kcg_khaos_stock_list_parse(&cfg, &r, code_sink, NULL, NULL, why);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import_mapping),
		cmocka_unit_test(test_import_hostile_values),
		cmocka_unit_test(test_import_left_out),
		cmocka_unit_test(test_import_invalid_order),
		cmocka_unit_test(test_import_limits_at_max),
		cmocka_unit_test(test_order_status_call),
		cmocka_unit_test(test_stock_calls),
		cmocka_unit_test(test_faults_and_transport),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}

