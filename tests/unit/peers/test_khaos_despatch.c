/*
 * test_khaos_despatch.c: ExportOrderStatusEx for despatch
 * (kcg_khaos_despatch_status: the date-range and by-ref forms) and its
 * reader (kcg_khaos_despatch_parse) on the shapes of
 * KSDXMLOrderStatusEx.xml: invoices, boxes, items, COMPLETE, CANCELLED,
 * DD/MM/YYYY dates, and the bounds on untrusted values.
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
#include "kcgate/json.h"
#include "kcgate/net.h"
#include "kcgate/peers/khaos.h"

#include "khaos_fixtures.h"

static const struct kcg_khaos_config pcfg = { .transport = "soap" };

static int parse_doc(const char *doc, json_t **orders)
{
	char why[KCG_ERROR_MAX] = "";
	struct kcg_reply r = khaos_string_reply("ExportOrderStatusEx", doc);
	int rc = kcg_khaos_despatch_parse(&pcfg, &r, orders, why);
	assert_printable(why);
	if (rc != 0)
		assert_true(*why);
	kcg_reply_finish(&r);
	return rc;
}

static void test_range_call(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_call c;
	/* 2024-03-01T10:00:00Z .. 10:05:30Z */
	struct kcg_khaos_status_query q = { NULL, 1709287200000ull, 1709287530000ull };
	assert_int_equal(kcg_khaos_despatch_status(&cfg, &q, &c), 0);
	xmlDocPtr d = check_envelope(&c, "ExportOrderStatusEx", true);
	assert_params(d, "ExportOrderStatusEx",
		      "IDs,MappingType,WebOnly,ConfirmedOnly,IncludeTracking,IncludeCancelled,DateFrom,DateTo,"
		      "InvoiceStageIDs,ShowItems");
	static const char *const want[][2] = {
		{ "IDs", "" },	     { "MappingType", "1" },	{ "WebOnly", "0" },
		{ "ConfirmedOnly", "0" }, { "IncludeTracking", "-1" }, { "IncludeCancelled", "-1" },
		{ "DateFrom", "2024-03-01T10:00:00" }, { "DateTo", "2024-03-01T10:05:30" },
		{ "InvoiceStageIDs", "" }, { "ShowItems", "-1" },
	};
	char e[256];
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(e, sizeof(e), "//k:ExportOrderStatusEx/%s", want[i][0]);
		assert_xp(d, e, want[i][1]);
	}
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	/* by reference: MappingType 4, no tracking filter, no dates */
	struct kcg_khaos_status_query r = { "MK-1,MK-2", 0, 0 };
	cfg.booleans = KCG_KHAOS_TRUE_FALSE;
	assert_int_equal(kcg_khaos_despatch_status(&cfg, &r, &c), 0);
	d = check_envelope(&c, "ExportOrderStatusEx", true);
	assert_xp(d, "//k:ExportOrderStatusEx/IDs", "MK-1,MK-2");
	assert_xp(d, "//k:ExportOrderStatusEx/MappingType", "4");
	assert_xp(d, "//k:ExportOrderStatusEx/IncludeTracking", "false");
	assert_xp(d, "//k:ExportOrderStatusEx/ShowItems", "true");
	assert_xp(d, "//k:ExportOrderStatusEx/DateFrom", "");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	/* neither refs nor a range; a range backwards */
	struct kcg_khaos_status_query none = { NULL, 0, 0 }, back = { NULL, 2000, 1000 };
	assert_int_equal(kcg_khaos_despatch_status(&cfg, &none, &c), -EINVAL);
	assert_int_equal(kcg_khaos_despatch_status(&cfg, &back, &c), -EINVAL);
}

/* The template's first ORDER_STATUS, trimmed: one invoice, two boxes. */
#define BOXED                                                                                                          \
	"<ORDER_STATUS SORDER_CODE=\"SO1234\" ASSOCIATED_REF=\"MK-1\"><COURIER>Royal Mail</COURIER>"                    \
	"<COMPLETE>0</COMPLETE><QTY_SOLD/><QTY_ASSIGNED/><INVOICES>"                                                   \
	"<INVOICE INVOICE_CODE=\"INV1\" SHIP_DATE=\"04/01/2009\" COURIER=\"Royal Mail\" CONSIGNMENT_REF=\"ABC12345\" " \
	"TRACKING_URL=\"http://t.example/ABC12345\" QTY_SOLD=\"3.00\" QTY_SENT=\"2.00\" MOVED=\"-1\">"                  \
	"<BOX SHIPPED=\"-1\" SHIP_DATE=\"02/01/2009\" COURIER=\"Royal Mail 48\" CONSIGNMENT_REF=\"BOX-1\" "            \
	"TRACKING_URL=\"http://t.example/BOX-1\"><BOX_ITEM STOCK_CODE=\"ABC\" QTY_SENT=\"2.00\"/></BOX>"              \
	"<BOX SHIPPED=\"0\" SHIP_DATE=\"\" CONSIGNMENT_REF=\"\"><BOX_ITEM STOCK_CODE=\"XYZ\" QTY_SENT=\"1\"/></BOX>"   \
	"<INVOICE_ITEMS><INVOICE_ITEM STOCK_CODE=\"ABC\" QTY_SENT=\"2.00\"/></INVOICE_ITEMS></INVOICE></INVOICES>"     \
	"</ORDER_STATUS>"

static void test_parse_boxes(void **state)
{
	json_t *orders;
	assert_int_equal(parse_doc("<?xml version=\"1.0\"?><STATUS_LIST>" BOXED "</STATUS_LIST>", &orders), 0);
	assert_int_equal(json_array_size(orders), 1);
	json_t *k = json_array_get(orders, 0), *units = json_object_get(k, "units");
	assert_string_equal(kcg_json_str(k, "ref"), "MK-1");
	assert_string_equal(kcg_json_str(k, "code"), "SO1234");
	assert_string_equal(kcg_json_str(k, "courier"), "Royal Mail");
	assert_false(json_is_true(json_object_get(k, "complete")));
	assert_false(json_is_true(json_object_get(k, "cancelled")));
	assert_int_equal(json_array_size(units), 2);
	json_t *b1 = json_array_get(units, 0), *b2 = json_array_get(units, 1);
	assert_true(json_is_true(json_object_get(b1, "box")));
	assert_true(json_is_true(json_object_get(b1, "shipped")));
	assert_string_equal(kcg_json_str(b1, "courier"), "Royal Mail 48"); /* the box's own, spaces kept */
	assert_string_equal(kcg_json_str(b1, "consignment"), "BOX-1");
	assert_string_equal(kcg_json_str(b1, "tracking_url"), "http://t.example/BOX-1");
	assert_true(kcg_json_u64(b1, "ship_ms") == 1230854400000ull); /* 02/01/2009 */
	json_t *it = json_array_get(json_object_get(b1, "items"), 0);
	assert_string_equal(kcg_json_str(it, "stock_code"), "ABC");
	assert_int_equal(json_integer_value(json_object_get(it, "qty")), 2);
	/* SHIPPED="0" and no date: not shipped, its missing values from the invoice */
	assert_false(json_is_true(json_object_get(b2, "shipped")));
	assert_string_equal(kcg_json_str(b2, "consignment"), "ABC12345");
	assert_string_equal(kcg_json_str(b2, "courier"), "Royal Mail");
	json_decref(orders);
}

static void test_parse_invoice_only(void **state)
{
	json_t *orders;
	/* no box: the invoice is the unit, with its INVOICE_ITEMS; COMPLETE -1; a
	 * cancelled one; one with no ASSOCIATED_REF is left out */
	const char *doc = "<STATUS_LIST><ORDER_STATUS SORDER_CODE=\"SO2\" ASSOCIATED_REF=\"MK-2\"><COMPLETE>-1</COMPLETE>"
			  "<INVOICES><INVOICE INVOICE_CODE=\"I2\" SHIP_DATE=\"31/12/2024\" COURIER=\"DPD\" "
			  "CONSIGNMENT_REF=\"D-9\" QTY_SOLD=\"1\" QTY_SENT=\"1\"><INVOICE_ITEMS>"
			  "<INVOICE_ITEM STOCK_CODE=\"S1\" QTY_SENT=\"1.00\"/></INVOICE_ITEMS></INVOICE></INVOICES>"
			  "</ORDER_STATUS><ORDER_STATUS SORDER_CODE=\"SO3\" ASSOCIATED_REF=\"MK-3\"><COMPLETE>0</COMPLETE>"
			  "<CANCELLED><REASON>why?</REASON></CANCELLED><INVOICES><INVOICE INVOICE_CODE=\"I3\" SHIP_DATE=\"\" "
			  "CONSIGNMENT_REF=\"\"/></INVOICES></ORDER_STATUS><ORDER_STATUS SORDER_CODE=\"SO4\"/></STATUS_LIST>";
	assert_int_equal(parse_doc(doc, &orders), 0);
	assert_int_equal(json_array_size(orders), 2);
	json_t *a = json_array_get(orders, 0), *b = json_array_get(orders, 1);
	assert_true(json_is_true(json_object_get(a, "complete")));
	json_t *u = json_array_get(json_object_get(a, "units"), 0);
	assert_false(json_is_true(json_object_get(u, "box")));
	assert_true(json_is_true(json_object_get(u, "shipped")));
	assert_string_equal(kcg_json_str(u, "courier"), "DPD");
	assert_int_equal(json_array_size(json_object_get(u, "items")), 1);
	assert_true(kcg_json_u64(u, "ship_ms") == 1735603200000ull); /* 31/12/2024 */
	assert_true(json_is_true(json_object_get(b, "cancelled")));
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(b, "units"), 0), "shipped")));
	json_decref(orders);

	/* nothing: an empty string, an empty list */
	assert_int_equal(parse_doc("", &orders), 0);
	assert_int_equal(json_array_size(orders), 0);
	json_decref(orders);
}

static void test_parse_untrusted(void **state)
{
	json_t *orders;
	char *big = malloc(4096), doc[8192];
	memset(big, 'x', 1100);
	big[1100] = '\0';
	/* a consignment past the bound and a date that is not DD/MM/YYYY: the unit
	 * is not shipped, with a problem said; never cut short */
	snprintf(doc, sizeof(doc),
		 "<STATUS_LIST><ORDER_STATUS SORDER_CODE=\"S\" ASSOCIATED_REF=\"R\"><INVOICES>"
		 "<INVOICE INVOICE_CODE=\"I\" SHIP_DATE=\"01/01/2024\" COURIER=\"C\" CONSIGNMENT_REF=\"%s\"/>"
		 "<INVOICE INVOICE_CODE=\"J\" SHIP_DATE=\"2024-01-01\" COURIER=\"C\" CONSIGNMENT_REF=\"K\"/>"
		 "<INVOICE INVOICE_CODE=\"L\" SHIP_DATE=\"01/01/2024\" COURIER=\"C\" CONSIGNMENT_REF=\"K\">"
		 "<INVOICE_ITEMS><INVOICE_ITEM STOCK_CODE=\"\" QTY_SENT=\"1\"/><INVOICE_ITEM STOCK_CODE=\"A\" "
		 "QTY_SENT=\"lots\"/></INVOICE_ITEMS></INVOICE></INVOICES></ORDER_STATUS></STATUS_LIST>",
		 big);
	free(big);
	assert_int_equal(parse_doc(doc, &orders), 0);
	json_t *k = json_array_get(orders, 0), *units = json_object_get(k, "units");
	assert_int_equal(json_array_size(units), 3);
	assert_false(json_is_true(json_object_get(json_array_get(units, 0), "shipped")));
	assert_string_equal(kcg_json_str(json_array_get(units, 0), "consignment"), "");
	assert_false(json_is_true(json_object_get(json_array_get(units, 1), "shipped")));
	assert_true(json_is_true(json_object_get(json_array_get(units, 2), "shipped")));
	assert_int_equal(json_array_size(json_object_get(json_array_get(units, 2), "items")), 0);
	assert_int_equal(json_array_size(json_object_get(k, "problems")), 4);
	json_decref(orders);

	/* more boxes than kcgate reads in one order: that order is skipped
	 * (named, "oversized"), the next one still read: one order must not
	 * stall every other (it used to refuse the whole answer) */
	size_t cap = 200 + (KCG_KHAOS_UNITS_MAX + 1) * 40;
	char *many = malloc(cap + 200);
	size_t n = (size_t)sprintf(many, "<STATUS_LIST><ORDER_STATUS SORDER_CODE=\"S\" ASSOCIATED_REF=\"R\"><INVOICES><INVOICE>");
	for (int i = 0; i <= KCG_KHAOS_UNITS_MAX; i++)
		n += (size_t)sprintf(many + n, "<BOX SHIPPED=\"0\"/>");
	sprintf(many + n, "</INVOICE></INVOICES></ORDER_STATUS><ORDER_STATUS SORDER_CODE=\"S2\" ASSOCIATED_REF=\"R2\">"
			  "<INVOICES><INVOICE INVOICE_CODE=\"I\"/></INVOICES></ORDER_STATUS></STATUS_LIST>");
	assert_int_equal(parse_doc(many, &orders), 0);
	assert_int_equal(json_array_size(orders), 2);
	assert_string_equal(kcg_json_str(json_array_get(orders, 0), "ref"), "R");
	assert_non_null(strstr(kcg_json_str(json_array_get(orders, 0), "oversized"), "more than"));
	assert_int_equal(json_array_size(json_object_get(json_array_get(orders, 0), "units")), 0);
	assert_string_equal(kcg_json_str(json_array_get(orders, 1), "ref"), "R2");
	assert_string_equal(kcg_json_str(json_array_get(json_object_get(json_array_get(orders, 1), "units"), 0), "key"),
			    "I#1/0");
	json_decref(orders);
	free(many);

	/* not XML in the string; a fault */
	assert_int_equal(parse_doc("<STATUS_LIST><oops", &orders), KCG_EPAYLOAD);
	char why[KCG_ERROR_MAX];
	struct kcg_reply r = reply(503, "busy");
	assert_int_equal(kcg_khaos_despatch_parse(&pcfg, &r, &orders, why), -EAGAIN);
	kcg_reply_finish(&r);
}

/* GetSOPData: the couriers, bounded (a code too long left out, not cut) */
static void test_sop_couriers(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_call c;
	assert_int_equal(kcg_khaos_sop_couriers(&cfg, &c), 0);
	xmlDocPtr d = check_envelope(&c, "GetSOPData", true);
	assert_params(d, "GetSOPData", "Courier,DelRate,CourierBanding,BOGOF,SpecialOffer,TelesalePrompt,KeyCode,BarredItems");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	char why[KCG_ERROR_MAX] = "";
	json_t *list = NULL;
	struct kcg_reply r = khaos_string_reply(
		"GetSOPData", "<SOPDATA><COURIERS><COURIER CODE=\"RM48\">Royal Mail 48</COURIER>"
			      "<COURIER CODE=\"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\">Too long</COURIER>"
			      "<COURIER CODE=\"YOD\">Yodel Xpress</COURIER></COURIERS></SOPDATA>");
	assert_int_equal(kcg_khaos_sop_couriers_parse(&pcfg, &r, &list, why), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(kcg_json_str(json_array_get(list, 0), "code"), "RM48");
	assert_string_equal(kcg_json_str(json_array_get(list, 1), "name"), "Yodel Xpress");
	json_decref(list);
	kcg_reply_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_call),
		cmocka_unit_test(test_parse_boxes),
		cmocka_unit_test(test_parse_invoice_only),
		cmocka_unit_test(test_parse_untrusted),
		cmocka_unit_test(test_sop_couriers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
