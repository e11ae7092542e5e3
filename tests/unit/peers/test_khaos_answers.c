/*
 * test_khaos_answers.c: the Khaos client reading answers in the shapes of
 * Khaos's Web Integration Pack (shared/ref/khaos/FACTS.md §1.3-1.4 and the
 * templates beside it): ImportOrders' TOrderImportResult (inline and as
 * SOAP-encoding multi-references), ExportOrderStatusEx's STATUS_LIST
 * (KSDXMLOrderStatusEx.xml), ExportStockStatus's STOCK_STATUS
 * (KSDXMLStockStatus.xml) and GetStockList's TStockList; DD/MM/YYYY
 * dates. The transport outcomes shared by every parser are test_khaos.c.
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

#include <libxml/tree.h>

#include "kcgate/common.h"
#include "kcgate/net.h"
#include "kcgate/peers/khaos.h"

#include "khaos_fixtures.h"

static const struct kcg_khaos_config cfg = { .transport = "soap" };

/* ---- ImportOrders ---- */

#define HEAD                                                                                                     \
	"<?xml version=\"1.0\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_ENV "\" xmlns:xsi=\"" XSI "\" "       \
	"xmlns:SOAP-ENC=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:NS2=\"urn:KosWebIntf\"><SOAP-ENV:Body>" \
	"<NS1:ImportOrdersResponse xmlns:NS1=\"" NS "\">"
#define MID "</NS1:ImportOrdersResponse>"
#define TAIL "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
#define IMPORTED(code, ref, msg)                                                                                 \
	"<item><SalesOrderCode>" code "</SalesOrderCode><AssociatedRef>" ref "</AssociatedRef><Msg>" msg         \
	"</Msg><URN/><OtherRef/></item>"
#define SKIPPED(ref, reason) "<item><OrderRef>" ref "</OrderRef><SkipReason>" reason "</SkipReason></item>"
/* An inline TOrderImportResult. */
#define RESULT(count, imported, skipped)                                                                         \
	HEAD "<return xsi:type=\"NS2:TOrderImportResult\"><ImportedCount>" count "</ImportedCount>"              \
	     "<OrderImport SOAP-ENC:arrayType=\"NS2:TOrderImport[]\">" imported "</OrderImport>"                    \
	     "<OrderSkipped>" skipped "</OrderSkipped></return>" MID TAIL

static int import_parse(const char *body, const char *ref, char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX])
{
	struct kcg_reply r = reply(200, body);
	memset(code, 'z', KCG_KHAOS_CODE_MAX);
	why[0] = '\0';
	int rc = kcg_khaos_import_parse(&cfg, &r, ref, code, why);
	assert_printable(why);
	kcg_reply_finish(&r);
	return rc;
}

static void test_import_result(void **state)
{
	char code[KCG_KHAOS_CODE_MAX], why[KCG_ERROR_MAX];

	/* Booked; ours is the second entry; whitespace between elements. */
	assert_int_equal(import_parse(RESULT("2", IMPORTED("SO1", "OTHER", "") "\n  " IMPORTED(" SO000002 ", "ORD-1", "ok"),
					     ""),
				      "ORD-1", code, why),
			 0);
	assert_string_equal(code, "SO000002");

	/* Skipped: the reason is Khaos's; nothing is booked. */
	assert_int_equal(import_parse(RESULT("0", "", SKIPPED("ORD-1", "Stock item &apos;SKU-9&apos; is discontinued")),
				      "ORD-1", code, why),
			 KCG_EPAYLOAD);
	assert_string_equal(why, "ImportOrders: Khaos refused order ORD-1: Stock item 'SKU-9' is discontinued");
	assert_string_equal(code, "");
	assert_int_equal(import_parse(RESULT("0", "", SKIPPED("ORD-1", "")), "ORD-1", code, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "no reason given"));

	/* Skipped as a repeat: booked already (the caller reads the code back). */
	static const char *const dup_reasons[] = { "Order already exists", "Duplicate associated ref ORD-1",
						   "ASSOCIATED_REF ORD-1 EXISTS" };
	char body[1024];
	for (size_t i = 0; i < 3; i++) {
		snprintf(body, sizeof(body), RESULT("0", "", SKIPPED("ORD-1", "%s")), dup_reasons[i]);
		assert_int_equal(import_parse(body, "ORD-1", code, why), KCG_EDUPLICATE);
		assert_non_null(strstr(why, "has order ORD-1 already"));
	}
	/* ... and a fault saying so (the other way Khaos may answer, FACTS.md §1.8). */
	assert_int_equal(import_parse("<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body><e:Fault><faultcode>e:Client"
				      "</faultcode><faultstring>Order ORD-1 already imported</faultstring></e:Fault>"
				      "</e:Body></e:Envelope>",
				      "ORD-1", code, why),
			 KCG_EDUPLICATE);

	/* Imported without a code; a code too long to keep: Khaos has it, so
	 * the caller reads the code back (never "booked" without one, never
	 * imported again). */
	assert_int_equal(import_parse(RESULT("1", IMPORTED("", "ORD-1", "odd"), ""), "ORD-1", code, why),
			 KCG_EDUPLICATE);
	assert_non_null(strstr(why, "without a usable sales order code: odd"));
	assert_int_equal(import_parse(RESULT("1",
					     IMPORTED("SO01234567890123456789012345678901234567890123456789012345678901234",
						      "ORD-1", ""),
					     ""),
				      "ORD-1", code, why),
			 KCG_EDUPLICATE);

	/* No entry for our ref, an empty result: the outcome is unknown (real
	 * Khaos may leave AssociatedRef blank), so the code is read back. */
	assert_int_equal(import_parse(RESULT("1", IMPORTED("SO1", "OTHER", ""), SKIPPED("ANOTHER", "x")), "ORD-1", code,
				      why),
			 KCG_EDUPLICATE);
	assert_non_null(strstr(why, "no entry for associated ref ORD-1"));
	assert_int_equal(import_parse(RESULT("0", "", ""), "ORD-1", code, why), KCG_EDUPLICATE);
	/* "already" or "duplicate" said of the content, not the order: a refusal */
	assert_int_equal(import_parse(RESULT("0", "", SKIPPED("ORD-1", "Stock item SKU-9 is already discontinued")),
				      "ORD-1", code, why),
			 KCG_EPAYLOAD);
	assert_non_null(strstr(why, "refused order ORD-1: Stock item SKU-9 is already discontinued"));
	assert_int_equal(import_parse(RESULT("0", "", SKIPPED("ORD-1", "Duplicate stock code SKU-9 in lines")), "ORD-1",
				      code, why),
			 KCG_EPAYLOAD);
	/* a stock code that no longer exists is a refusal, not a repeat */
	assert_int_equal(import_parse(RESULT("0", "", SKIPPED("ORD-1", "Stock code SKU-9 no longer exists")), "ORD-1",
				      code, why),
			 KCG_EPAYLOAD);
	assert_int_equal(import_parse(HEAD "<return/>" MID TAIL, "ORD-1", code, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "not a TOrderImportResult"));
	/* The old guessed shape (an array of {AssociatedRef, Imported}) is not an answer. */
	assert_int_equal(import_parse(HEAD "<return><item><AssociatedRef>ORD-1</AssociatedRef><SalesOrderCode>SO1"
					   "</SalesOrderCode><Imported>true</Imported></item></return>" MID TAIL,
				      "ORD-1", code, why),
			 KCG_EPAYLOAD);
}

static void test_import_multiref(void **state)
{
	char code[KCG_KHAOS_CODE_MAX], why[KCG_ERROR_MAX];
	/* Delphi's RPC/encoded style (kcgate-sim's): the struct, its arrays
	 * and their items are references to siblings of the response. */
	static const char multiref[] =
		HEAD "<return href=\"#1\"/>" MID
		"<NS2:TOrderImportResult id=\"1\"><ImportedCount>1</ImportedCount><OrderImport href=\"#5\"/>"
		"<OrderSkipped><item href=\"#3\"/></OrderSkipped></NS2:TOrderImportResult>"
		"<NS2:TOrderImport id=\"2\"><SalesOrderCode>S2</SalesOrderCode><AssociatedRef>ORD-1</AssociatedRef>"
		"</NS2:TOrderImport>"
		"<NS2:TOrderSkipped id=\"3\"><OrderRef>ORD-2</OrderRef><SkipReason>Unknown stock code</SkipReason>"
		"</NS2:TOrderSkipped>"
		"<SOAP-ENC:Array id=\"5\"><item href=\"#9\"/><item href=\"#2\"/></SOAP-ENC:Array>" TAIL;
	assert_int_equal(import_parse(multiref, "ORD-1", code, why), 0);
	assert_string_equal(code, "S2");
	assert_int_equal(import_parse(multiref, "ORD-2", code, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "Unknown stock code"));
	static const char dangling[] = HEAD "<return href=\"#9\"/>" MID TAIL;
	assert_int_equal(import_parse(dangling, "ORD-1", code, why), KCG_EPAYLOAD);
}

/* ---- ExportOrderStatusEx ---- */

/* KSDXMLOrderStatusEx.xml's first ORDER_STATUS, trimmed. */
#define ORDER_STATUS(so, ref, extra)                                                                             \
	"<ORDER_STATUS SORDER_CODE=\"" so "\" ASSOCIATED_REF=\"" ref "\">"                                         \
	"<COMPANY_NAME COMPANY_CODE=\"CU1234\" OTHER_REF=\"CU_WEBREF\">Test company</COMPANY_NAME>"              \
	"<ORDER_TYPE TYPE_ID=\"S\">Sales Order</ORDER_TYPE><COURIER>Royal Mail</COURIER>"                          \
	"<CURRENCY_CODE>GBP</CURRENCY_CODE><DATE_CREATED>01/01/2009</DATE_CREATED>"                              \
	"<DELIVERY_DATE>02/01/2009</DELIVERY_DATE><ITEMS_TOTAL NET_VALUE=\"100.00\">117.50</ITEMS_TOTAL>"         \
	"<COMPLETE>-1</COMPLETE><QTY_SOLD/><QTY_ASSIGNED/>" extra                                                 \
	"<INVOICES><INVOICE INVOICE_CODE=\"INV1234\" INVOICE_DATE=\"03/01/2009\" SHIP_DATE=\"04/01/2009\" "        \
	"ISSUE_DATE=\"05/01/2009\" INVOICE_STAGE_ID=\"19\" INVOICE_STAGE_DESC=\"MANUALHOLD\" COURIER=\"Royal Mail\" " \
	"CONSIGNMENT_REF=\"ABC12345\" TRACKING_URL=\"http://t.example/ABC12345\" QTY_SOLD=\"100.50\" "          \
	"QTY_SENT=\"90.50\" MOVED=\"-1\"><BOX SHIPPED=\"-1\"/></INVOICE></INVOICES></ORDER_STATUS>"

static int order_status(struct kcg_reply r, const char *ref, char code[KCG_KHAOS_CODE_MAX],
			struct kcg_khaos_order_info *info)
{
	char why[KCG_ERROR_MAX] = "";
	int rc = kcg_khaos_order_status_parse(&cfg, &r, ref, code, info, why);
	assert_printable(why);
	if (rc == KCG_ENOTFOUND)
		assert_non_null(strstr(why, ref));
	kcg_reply_finish(&r);
	return rc;
}

static void test_order_status(void **state)
{
	char code[KCG_KHAOS_CODE_MAX];
	struct kcg_khaos_order_info in;
	const char *doc = "<?xml version=\"1.0\"?>\n<STATUS_LIST>\n" ORDER_STATUS("SO1", "OTHER", "")
		ORDER_STATUS("SO1234", "SO_WEBREF", "<CANCELLED><CANCELLED_DATE_TIME>2011-06-06</CANCELLED_DATE_TIME>"
						     "<REASON>why?</REASON></CANCELLED>") "</STATUS_LIST>";
	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", doc), "SO_WEBREF", code, &in), 0);
	assert_string_equal(code, "SO1234");
	assert_string_equal(in.code, "SO1234");
	assert_string_equal(in.ref, "SO_WEBREF");
	assert_true(in.complete);
	assert_true(in.cancelled);
	assert_true(in.created_ms == 1230768000000ull); /* 01/01/2009 */
	assert_true(in.ship_ms == 1231027200000ull);    /* 04/01/2009 */
	assert_int_equal(in.stage, 19);
	assert_string_equal(in.consignment, "ABC12345");
	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", doc), "OTHER", code, NULL), 0);
	assert_string_equal(code, "SO1");

	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", doc), "NOPE", code, &in), KCG_ENOTFOUND);
	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", ""), "X", code, NULL), KCG_ENOTFOUND);
	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", "<STATUS_LIST/>"), "X", code, NULL),
			 KCG_ENOTFOUND);
	/* The old guessed shape (ORDER with child elements) is not found. */
	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", "<ORDER_STATUSES><ORDER><ASSOCIATED_REF>X"
									 "</ASSOCIATED_REF></ORDER></ORDER_STATUSES>"),
				      "X", code, NULL),
			 KCG_ENOTFOUND);
	/* One order alone as the root; no invoice; escaped values. */
	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", "<ORDER_STATUS SORDER_CODE=\" SO5 \" "
									 "ASSOCIATED_REF=\"A&amp;&lt;B\"><COMPLETE>0"
									 "</COMPLETE></ORDER_STATUS>"),
				      "A&<B", code, &in),
			 0);
	assert_string_equal(code, "SO5");
	assert_false(in.complete);
	assert_false(in.cancelled);
	assert_int_equal(in.stage, -1);
	assert_true(in.created_ms == 0);
	assert_int_equal(order_status(khaos_string_reply("ExportOrderStatusEx", "<STATUS_LIST><ORDER_STATUS>"), "X", code, NULL),
			 KCG_EPAYLOAD);
}

static void test_dates(void **state)
{
	uint64_t ms = 1;
	assert_int_equal(kcg_khaos_parse_date("01/01/1970", &ms), 0);
	assert_true(ms == 0);
	assert_int_equal(kcg_khaos_parse_date("29/02/2024", &ms), 0);
	assert_true(ms == 1709164800000ull);
	assert_int_equal(kcg_khaos_parse_date("31/12/2026", &ms), 0);
	assert_true(ms == 1798675200000ull);
	static const char *const bad[] = { "", "2009-01-01", "1/1/2009", "32/01/2009", "29/02/2023", "01/13/2009",
					   "01/01/2009 10:00", "00/01/2009", "01/01/1969" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kcg_khaos_parse_date(bad[i], &ms) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
}

/* ---- ExportStockStatus ---- */

static int count_item(const struct kcg_stock_item *item, void *arg)
{
	int64_t *sum = arg;
	sum[0]++;
	sum[1] += item->available;
	return 0;
}

/* The reader streams: a whole catalogue (150,000 items, 1.2 M elements:
 * past the tree parser's element cap) is read; past KCG_KHAOS_ITEMS_MAX
 * items, a DTD, or a document cut short is refused with a reason. */
static void test_stock_stream(void **state)
{
	(void)state;
	char why[KCG_ERROR_MAX];
	size_t cap = (size_t)KCG_KHAOS_ITEMS_MAX * 120 + 1000, n = 0, count;
	char *doc = malloc(cap);
	assert_non_null(doc);
	n += (size_t)sprintf(doc, "<STOCK_STATUS SITE=\"Main Site\">");
	for (int i = 0; i < 150000; i++)
		n += (size_t)sprintf(doc + n, "<STOCK_ITEM CODE=\"S%06d\"><A/><B/><C/><D/><LEVEL>2</LEVEL><STATUS>0</STATUS>"
					     "</STOCK_ITEM>", i);
	size_t mid = n;
	strcpy(doc + n, "</STOCK_STATUS>");
	int64_t sum[2] = { 0, 0 };
	assert_int_equal(kcg_khaos_stock_items_read(doc, strlen(doc), count_item, sum, &count, why), 0);
	assert_true(sum[0] == 150000 && sum[1] == 300000 && count == 150000);
	/* cut short: refused (the items before were handed over: the caller keeps none of a failure) */
	assert_int_equal(kcg_khaos_stock_items_read(doc, mid - 10, count_item, sum, &count, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "not well-formed"));
	assert_printable(why);
	/* more than KCG_KHAOS_ITEMS_MAX items */
	n = mid;
	for (int i = 150000; i <= KCG_KHAOS_ITEMS_MAX; i++)
		n += (size_t)sprintf(doc + n, "<STOCK_ITEM CODE=\"S%06d\"/>", i);
	strcpy(doc + n, "</STOCK_STATUS>");
	assert_int_equal(kcg_khaos_stock_items_read(doc, strlen(doc), count_item, sum, &count, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "more than"));
	free(doc);
	static const char *const bad[] = {
		"<!DOCTYPE S [<!ENTITY e \"1\">]><S><STOCK_ITEM CODE=\"X\"><LEVEL>&e;</LEVEL></STOCK_ITEM></S>",
	};
	/* an item that cannot be read is skipped (named in why), the rest kept */
	static const char skip[] =
		"<S><STOCK_ITEM CODE=\"X\"><LEVEL>123456789012345678901234567890123</LEVEL></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"Y\"><LEVEL>4</LEVEL><STATUS>9</STATUS></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"Z\"><LEVEL>abc</LEVEL></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"0123456789012345678901234567890123456789012345678901234567890123\"><LEVEL>1</LEVEL>"
		"</STOCK_ITEM><STOCK_ITEM CODE=\"OK\"><LEVEL>5</LEVEL><STATUS>0</STATUS></STOCK_ITEM></S>";
	sum[0] = sum[1] = 0;
	assert_int_equal(kcg_khaos_stock_items_read(skip, strlen(skip), count_item, sum, &count, why), 0);
	assert_true(sum[0] == 1 && sum[1] == 5 && count == 5);
	assert_non_null(strstr(why, "4 STOCK_ITEM skipped"));
	assert_non_null(strstr(why, "'X'"));
	assert_printable(why);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kcg_khaos_stock_items_read(bad[i], strlen(bad[i]), count_item, sum, &count, why),
				 KCG_EPAYLOAD);
		assert_printable(why);
	}
	/* several sites' blocks under one wrapper, CDATA, blanks around numbers */
	static const char sites[] = "<W><STOCK_STATUS SITE=\"1\"><STOCK_ITEM CODE=\"X\"><LEVEL> 7 </LEVEL>"
				    "<BUILD_POTENTIAL_CHILDREN><![CDATA[3]]></BUILD_POTENTIAL_CHILDREN></STOCK_ITEM>"
				    "</STOCK_STATUS><STOCK_STATUS SITE=\"2\"><STOCK_ITEM CODE=\"X\"><LEVEL>2</LEVEL>"
				    "</STOCK_ITEM></STOCK_STATUS></W>";
	sum[0] = sum[1] = 0;
	assert_int_equal(kcg_khaos_stock_items_read(sites, strlen(sites), count_item, sum, &count, why), 0);
	assert_true(sum[0] == 2 && sum[1] == 9);
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
	struct kcg_reply r = khaos_string_reply("ExportStockStatus", inner);
	why[0] = '\0';
	int rc = kcg_khaos_stock_status_parse(&cfg, &r, collect_item, it, why);
	assert_printable(why);
	kcg_reply_finish(&r);
	return rc;
}

static void test_stock_status(void **state)
{
	char why[KCG_ERROR_MAX];
	struct items it = { 0 };
	/* KSDXMLStockStatus.xml, trimmed, plus items with STATUS 4 and 5. */
	static const char doc[] =
		"<?xml version=\"1.0\"?><STOCK_STATUS SITE=\"Main Site\">"
		"<STOCK_ITEM CODE=\"BM101901\" ID=\"A3567\" DESC=\"Black T-Shirt Size L\"><BUY_PRICE>99.00</BUY_PRICE>"
		"<SELL_PRICE>100.00</SELL_PRICE><SAFE_LEVEL>1</SAFE_LEVEL><MIN_LEVEL>1</MIN_LEVEL><LEVEL>53</LEVEL>"
		"<STATUS>0</STATUS><LEAD_TIME>2009-08-27</LEAD_TIME><BUILD_POTENTIAL_CHILDREN>123"
		"</BUILD_POTENTIAL_CHILDREN><BUILD_POTENTIAL_PARENTS>123</BUILD_POTENTIAL_PARENTS></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"BM101902\" ID=\"A3508\" OTHER_REF=\"ABCSTOCK\"><LEVEL>0</LEVEL><STATUS>1</STATUS>"
		"</STOCK_ITEM>"
		"<STOCK_ITEM CODE=\" A&amp;B \"><LEVEL> 7.5000 </LEVEL><STATUS>4</STATUS></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"SKU-5\"><LEVEL>-3</LEVEL><STATUS>5</STATUS></STOCK_ITEM>"
		"<STOCK_ITEM CODE=\"SKU-6\"/>"
		"<OTHER CODE=\"no\"/></STOCK_STATUS>";
	assert_int_equal(stock_status(doc, &it, why), 0);
	assert_int_equal(it.n, 5);
	assert_string_equal(it.v[0].code, "BM101901");
	assert_true(it.v[0].available == 53 && it.v[0].build_potential == 123);
	assert_int_equal(it.v[0].status, KCG_STOCK_IN_STOCK);
	assert_false(it.v[0].discontinued);
	assert_int_equal(it.v[1].status, KCG_STOCK_ALLOCATED);
	assert_false(it.v[1].discontinued);
	assert_string_equal(it.v[2].code, "A&B");
	assert_true(it.v[2].available == 7);
	assert_int_equal(it.v[2].status, KCG_STOCK_DISCONTINUED);
	assert_true(it.v[2].discontinued);
	assert_int_equal(it.v[3].status, KCG_STOCK_NOT_CONTROLLED);
	assert_false(it.v[3].discontinued);
	assert_true(it.v[3].available == -3);
	assert_int_equal(it.v[4].status, -1);
	assert_true(it.v[4].available == 0 && it.v[4].build_potential == 0);
	/* prices in 1/10,000 of the unit; none: -1 */
	assert_true(it.v[0].sell_price == 1000000 && it.v[0].websell_price == -1);
	assert_true(it.v[1].sell_price == -1 && it.v[4].sell_price == -1);

	/* a price that cannot be read is no price; the item still counts */
	static const char priced[] = "<S><STOCK_ITEM CODE=\"P\"><SELL_PRICE> 12.5 </SELL_PRICE>"
				     "<WEBSELL_PRICE>-1.00</WEBSELL_PRICE><LEVEL>3</LEVEL></STOCK_ITEM></S>";
	it = (struct items){ 0 };
	assert_int_equal(stock_status(priced, &it, why), 0);
	assert_true(it.n == 1 && it.v[0].available == 3 && it.v[0].sell_price == 125000 && it.v[0].websell_price == -1);
	int64_t pr;
	assert_int_equal(kcg_khaos_parse_price("0.0001", &pr), 0);
	assert_true(pr == 1);
	assert_int_equal(kcg_khaos_parse_price("99999999999.9999", &pr), 0);
	assert_true(pr == 999999999999999LL);
	static const char *const not_prices[] = { "", ".5", "1.", "1.23456", "+1", "-1", "1e3", "1,00", "123456789012",
						  " 1" };
	for (size_t i = 0; i < sizeof(not_prices) / sizeof(not_prices[0]); i++)
		assert_int_equal(kcg_khaos_parse_price(not_prices[i], &pr), -EINVAL);

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
		"<S><STOCK_ITEM CODE=\"X\"><BUILD_POTENTIAL_CHILDREN>x</BUILD_POTENTIAL_CHILDREN></STOCK_ITEM></S>",
		/* the old guessed words, and codes past 5 */
		"<S><STOCK_ITEM CODE=\"X\"><STATUS>Discontinued</STATUS></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"X\"><STATUS>6</STATUS></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"X\"><STATUS>-1</STATUS></STOCK_ITEM></S>",
		"<S><STOCK_ITEM CODE=\"0123456789012345678901234567890123456789012345678901234567890123\"/></S>",
	};
	/* one item that cannot be read is skipped and named (why), not the
	 * whole answer refused (it froze the catalogue): the good one is kept */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc2[400];
		snprintf(doc2, sizeof(doc2), "<W>%s<S><STOCK_ITEM CODE=\"GOOD\"><LEVEL>2</LEVEL></STOCK_ITEM></S></W>",
			 bad[i]);
		it = (struct items){ 0 };
		if (stock_status(doc2, &it, why) != 0)
			fail_msg("refused %s: %s", bad[i], why);
		assert_int_equal(it.n, 1);
		assert_string_equal(it.v[0].code, "GOOD");
		assert_non_null(strstr(why, "1 STOCK_ITEM skipped"));
	}
	/* a document cut short is still refused whole */
	it = (struct items){ 0 };
	assert_int_equal(stock_status("<S><STOCK_ITEM", &it, why), KCG_EPAYLOAD);
	assert_int_equal(it.n, 0);
}

/* ---- GetStockList ---- */

struct codes {
	char v[4][KCG_KHAOS_CODE_MAX];
	char parent[4][KCG_KHAOS_CODE_MAX];
	uint64_t when[4];
	size_t n;
	struct kcg_khaos_stock_list list;
};

static int collect_code(const struct kcg_khaos_stock_info *info, void *arg)
{
	struct codes *c = arg;
	snprintf(c->parent[c->n], sizeof(c->parent[0]), "%s", info->parent_code);
	c->when[c->n] = info->updated_ms;
	snprintf(c->v[c->n++], sizeof(c->v[0]), "%s", info->code);
	return strcmp(info->code, "STOP") == 0 ? -7 : 0;
}

#define LIST_HEAD                                                                                                \
	"<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body><x:GetStockListResponse xmlns:x=\"" NS "\">"
#define LIST_MID "</x:GetStockListResponse>"
#define LIST_TAIL "</e:Body></e:Envelope>"

static int stock_list(const char *body, struct codes *c, char why[KCG_ERROR_MAX])
{
	struct kcg_reply r = reply(200, body);
	*c = (struct codes){ 0 };
	int rc = kcg_khaos_stock_list_parse(&cfg, &r, collect_code, c, &c->list, why);
	assert_printable(why);
	kcg_reply_finish(&r);
	return rc;
}

static void test_stock_list(void **state)
{
	char why[KCG_ERROR_MAX] = "";
	struct codes c;
	/* TStockList {Count, List of TStockInfo}, as multi-references. */
	assert_int_equal(stock_list(LIST_HEAD "<return href=\"#1\"/>" LIST_MID
					      "<T id=\"1\"><Count>2</Count><List><item href=\"#2\"/><item href=\"#3\"/>"
					      "</List></T><I id=\"2\"><StockCode>SKU-1</StockCode><OtherRef/>"
					      "<LastUpdated>2026-01-01T00:00:00</LastUpdated></I>"
					      "<I id=\"3\"><StockCode> SKU-2 </StockCode></I>" LIST_TAIL,
				    &c, why),
			 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0], "SKU-1");
	assert_string_equal(c.v[1], "SKU-2");
	/* Inline; the callback's value stops the walk. */
	assert_int_equal(stock_list(LIST_HEAD "<return><Count>2</Count><List><item><StockCode>STOP</StockCode></item>"
					      "<item><StockCode>never</StockCode></item></List></return>" LIST_MID LIST_TAIL,
				    &c, why),
			 -7);
	assert_int_equal(c.n, 1);
	assert_int_equal(stock_list(LIST_HEAD "<return><Count>0</Count><List/></return>" LIST_MID LIST_TAIL, &c, why), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(stock_list(LIST_HEAD "<return><Count>1</Count><List><item><StockCode/></item></List></return>"
					      LIST_MID LIST_TAIL,
				    &c, why),
			 KCG_EPAYLOAD);
	/* The old guessed shape (a string holding STOCK_LIST) is not a TStockList. */
	struct kcg_reply r = khaos_string_reply("GetStockList", "<STOCK_LIST><STOCK_ITEM CODE=\"SKU-1\"/></STOCK_LIST>");
	c = (struct codes){ 0 };
	assert_int_equal(kcg_khaos_stock_list_parse(&cfg, &r, collect_code, &c, NULL, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "not a TStockList"));
	kcg_reply_finish(&r);
}

/* What kcgate keeps of a TStockInfo, in the shapes an rpc/encoded answer
 * may take; Count as stated; codes it cannot keep skipped and said. */
static void test_stock_list_shapes(void **state)
{
	char why[KCG_ERROR_MAX] = "";
	struct codes c;
	/* the array itself a reference, items in a namespace of their own
	 * (the complex types' namespace is unknown: local names count) */
	assert_int_equal(stock_list(LIST_HEAD "<return href=\"#1\"/>" LIST_MID
					      "<T id=\"1\" xmlns:t=\"urn:whatever\"><t:Count>1</t:Count><t:List href=\"#4\"/></T>"
					      "<A id=\"4\"><item href=\"#5\"/><item href=\"#99\"/></A>"
					      "<t:I id=\"5\" xmlns:t=\"urn:other\"><t:StockCode>KID-1</t:StockCode>"
					      "<t:ParentCode>PARENT</t:ParentCode><t:LastUpdated>2026-11-22T07:42:07.123+01:00"
					      "</t:LastUpdated></t:I>" LIST_TAIL,
				    &c, why),
			 0);
	assert_int_equal(c.n, 1); /* the dangling #99 is passed over */
	assert_string_equal(c.v[0], "KID-1");
	assert_string_equal(c.parent[0], "PARENT");
	assert_int_equal(c.when[0], 1795333327000ull);
	assert_int_equal(c.list.count, 1);
	assert_int_equal(c.list.listed, 1);
	assert_string_equal(why, "");
	/* Count larger than the list (a truncated answer?): said as it is */
	assert_int_equal(stock_list(LIST_HEAD "<return><Count>7</Count><List><item><StockCode>A</StockCode>"
					      "<LastUpdated>yesterday</LastUpdated></item></List></return>" LIST_MID LIST_TAIL,
				    &c, why),
			 0);
	assert_int_equal(c.list.count, 7);
	assert_int_equal(c.list.listed, 1);
	assert_int_equal(c.when[0], 0); /* unreadable: 0 */
	/* no Count, or not a number: -1 */
	assert_int_equal(stock_list(LIST_HEAD "<return><Count>many</Count><List/></return>" LIST_MID LIST_TAIL, &c, why),
			 0);
	assert_int_equal(c.list.count, -1);
	/* a code kcgate cannot keep: skipped, said, the rest read */
	char body[1024], longcode[KCG_KHAOS_CODE_MAX + 1];
	memset(longcode, 'L', KCG_KHAOS_CODE_MAX);
	longcode[KCG_KHAOS_CODE_MAX] = '\0';
	snprintf(body, sizeof(body),
		 LIST_HEAD "<return><Count>2</Count><List><item><StockCode>%s</StockCode></item>"
			   "<item><StockCode>SKU-9</StockCode><ParentCode>%s</ParentCode></item></List></return>" LIST_MID
			   LIST_TAIL,
		 longcode, longcode);
	assert_int_equal(stock_list(body, &c, why), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0], "SKU-9");
	assert_string_equal(c.parent[0], ""); /* too long to keep */
	assert_int_equal(c.list.skipped, 1);
	assert_int_equal(c.list.listed, 1);
	assert_non_null(strstr(why, "GetStockList: 1 TStockInfo skipped"));
	assert_non_null(strstr(why, "longer than 63 bytes"));
	/* a fault is a fault */
	struct kcg_reply r = reply(500, "<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body><e:Fault><faultcode>e:Client</faultcode>"
				 "<faultstring>DateValue: bad</faultstring></e:Fault></e:Body></e:Envelope>");
	assert_int_equal(kcg_khaos_stock_list_parse(&cfg, &r, collect_code, &c, NULL, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "DateValue: bad"));
	kcg_reply_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import_result), cmocka_unit_test(test_import_multiref),
		cmocka_unit_test(test_order_status),  cmocka_unit_test(test_dates),
		cmocka_unit_test(test_stock_status),
		cmocka_unit_test(test_stock_stream),  cmocka_unit_test(test_stock_list), cmocka_unit_test(test_stock_list_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
