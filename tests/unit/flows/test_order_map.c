/*
 * test_order_map.c: a Mirakl order as a Khaos sales order
 * (src/flows/order_map.c): the struct it fills, the SALES_ORDERS document
 * the Khaos client then builds from it (read back with libxml2 and XPath),
 * the address and name fallbacks, and every validation message.
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

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "kcgate/common.h"
#include "kcgate/flows/order_map.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/net.h"

#include "khaos_fixtures.h"

/* ---- Mirakl order -> SALES_ORDERS ---- */

static json_t *mirakl_order(void)
{
	json_error_t err;
	json_t *o = json_loads(
		"{\"order_id\":\"ORD-1-A\",\"commercial_id\":\"C-77\",\"order_state\":\"WAITING_ACCEPTANCE\","
		"\"created_date\":\"2026-11-22T08:42:07+01:00\",\"currency_iso_code\":\"GBP\",\"price\":20,"
		"\"shipping_price\":4.99,\"total_price\":24.99,\"customer_notification_email\":\"n@mirakl.example\","
		"\"customer\":{\"firstname\":\"Jane\",\"lastname\":\"Doe\",\"customer_id\":\"CU1\","
		"\"billing_address\":{\"street_1\":\"1 High Street\",\"street_2\":\"Flat 2\",\"city\":\"London\","
		"\"state\":\"Greater London\",\"zip_code\":\"SW1A 1AA\",\"country_iso_code\":\"GBR\",\"phone\":\"+44 20\"},"
		"\"shipping_address\":{\"street_1\":\"9 Rue X\",\"city\":\"Paris\",\"zip_code\":\"75001\","
		"\"country_iso_code\":\"FRA\",\"firstname\":\"Ann\",\"lastname\":\"Bee\",\"phone\":\"+33 1\"}},"
		"\"order_lines\":["
		"{\"order_line_id\":\"L1\",\"order_line_state\":\"WAITING_ACCEPTANCE\",\"offer_sku\":\"SKU-1\","
		"\"quantity\":2,\"price_unit\":10,\"price\":20,\"product_title\":\"Widget\"},"
		"{\"order_line_id\":\"L2\",\"order_line_state\":\"REFUSED\",\"offer_sku\":\"SKU-X\",\"quantity\":1,"
		"\"price_unit\":1},"
		"{\"order_line_id\":\"L3\",\"order_line_state\":\"WAITING_ACCEPTANCE\",\"offer_sku\":\"SKU-2\","
		"\"quantity\":1,\"price_unit\":0.1}]}",
		0, &err);
	assert_non_null(o);
	return o;
}

/* Maps @p order, builds ImportOrders for it and returns the SALES_ORDERS document
 * carried in Orders, parsed. */
static xmlDocPtr map_import_doc(const struct kcg_khaos_config *cfg, json_t *order, bool creds, char **raw)
{
	char why[KCG_ERROR_MAX] = "x";
	struct kcg_khaos_sales_order so;
	assert_int_equal(kcg_order_map(order, &so, why), 0);
	assert_string_equal(why, "");
	xmlDocPtr d = import_doc(cfg, &so, creds, raw);
	kcg_khaos_sales_order_finish(&so);
	return d;
}

static void test_map_fields(void **state)
{
	json_t *order = mirakl_order();
	struct kcg_khaos_sales_order so;
	char why[KCG_ERROR_MAX] = "x";
	assert_int_equal(kcg_order_map(order, &so, why), 0);
	assert_string_equal(why, "");
	json_decref(order); /* the sales order holds copies */

	assert_string_equal(so.associated_ref, "ORD-1-A");
	assert_string_equal(so.company_name, "Jane Doe");
	assert_true(so.has_date);
	assert_true(so.date_ms == 1795333327000ull); /* 2026-11-22T08:42:07+01:00 */
	assert_true(so.amount.set && so.amount.value == 24.99);
	assert_true(so.delivery_gross.set && so.delivery_gross.value == 4.99);
	assert_string_equal(so.currency, "GBP");
	assert_string_equal(so.po_number, "C-77");

	/* The billing address, names from the customer; country as Mirakl sent it. */
	assert_string_equal(so.invoice.address1, "1 High Street");
	assert_string_equal(so.invoice.address2, "Flat 2");
	assert_string_equal(so.invoice.town, "London");
	assert_string_equal(so.invoice.county, "Greater London");
	assert_string_equal(so.invoice.postcode, "SW1A 1AA");
	assert_string_equal(so.invoice.country, "GBR");
	assert_string_equal(so.invoice.forename, "Jane");
	assert_string_equal(so.invoice.surname, "Doe");
	assert_string_equal(so.invoice.tel, "+44 20");
	assert_string_equal(so.invoice.email, "n@mirakl.example");
	/* The shipping address has names of its own; what it lacks stays NULL. */
	assert_string_equal(so.delivery.address1, "9 Rue X");
	assert_null(so.delivery.address2);
	assert_null(so.delivery.county);
	assert_string_equal(so.delivery.country, "FRA");
	assert_string_equal(so.delivery.forename, "Ann");
	assert_string_equal(so.delivery.surname, "Bee");
	assert_string_equal(so.delivery.email, "n@mirakl.example");

	/* The REFUSED line is not booked. */
	assert_int_equal(so.n_lines, 2);
	assert_string_equal(so.lines[0].stock_code, "SKU-1");
	assert_true(so.lines[0].quantity == 2);
	assert_true(so.lines[0].price_gross.set && so.lines[0].price_gross.value == 10);
	assert_string_equal(so.lines[0].description, "Widget");
	assert_string_equal(so.lines[1].stock_code, "SKU-2");
	assert_true(so.lines[1].price_gross.set && so.lines[1].price_gross.value == 0.1);
	assert_null(so.lines[1].description);
	kcg_khaos_sales_order_finish(&so);
	kcg_khaos_sales_order_finish(&so); /* zeroed: safe again */

	/* A company on the billing address names the customer; absent amounts are not set. */
	order = mirakl_order();
	json_object_set_new(json_object_get(json_object_get(order, "customer"), "billing_address"), "company",
			    json_string("ACME Ltd"));
	json_object_del(order, "shipping_price");
	json_object_set_new(json_array_get(json_object_get(order, "order_lines"), 0), "price_unit", json_string("10"));
	assert_int_equal(kcg_order_map(order, &so, why), 0);
	assert_string_equal(so.company_name, "ACME Ltd");
	assert_false(so.delivery_gross.set);
	assert_false(so.lines[0].price_gross.set);
	kcg_khaos_sales_order_finish(&so);
	json_decref(order);
}

static void test_import_mapping(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	json_t *order = mirakl_order();
	xmlDocPtr d = map_import_doc(&cfg, order, true, NULL);

	assert_sales_orders_doc(d);

	xmlFreeDoc(d);
	json_decref(order);
}

static void test_import_addresses_fallback(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	cfg.company_class = NULL;
	cfg.soap_user = NULL;
	cfg.soap_password = NULL;
	json_t *order = mirakl_order();
	json_t *cust = json_object_get(order, "customer");
	json_object_set_new(cust, "billing_address", json_null());

	/* No billing address: the shipping address serves for both. */
	xmlDocPtr d = map_import_doc(&cfg, order, false, NULL);
	assert_xp(d, "//INVADDR/IADDRESS1", "9 Rue X");
	assert_xp(d, "//INVADDR/ICOUNTRY_CODE", "FRA");
	assert_xp(d, "//INVADDR/IFORENAME", "Ann");
	assert_xp(d, "//DELADDR/DADDRESS1", "9 Rue X");
	assert_xp(d, "count(//COMPANY_CLASS)", "0");
	xmlFreeDoc(d);

	/* Neither (Mirakl may hide them before acceptance): the mapping has
	 * names only, and Khaos requires an invoice address (IADDRESS1,
	 * ITOWN, IPOSTCODE, ISURNAME [WIG p.28]): the order is refused with
	 * the element named, not sent half empty. */
	json_object_del(cust, "shipping_address");
	json_object_del(order, "total_price");
	json_object_del(order, "created_date");
	{
		struct kcg_khaos_sales_order so;
		struct kcg_call c;
		char why[KCG_ERROR_MAX];
		assert_int_equal(kcg_order_map(order, &so, why), 0);
		assert_string_equal(so.invoice.forename, "Jane");
		assert_string_equal(so.delivery.surname, "Doe");
		assert_null(so.invoice.address1);
		assert_false(so.amount.set);
		assert_false(so.has_date);
		assert_int_equal(kcg_khaos_import_orders(&cfg, &so, &c, why), KCG_EPAYLOAD);
		assert_non_null(strstr(why, "IADDRESS1 missing"));
		assert_null(c.body);
		kcg_khaos_sales_order_finish(&so);
	}

	/* A code that is not ISO goes as it came; the fallback namespace
	 * is used when none is configured. */
	json_object_set_new(cust, "shipping_address", json_pack("{s:s, s:s, s:s, s:s}", "street_1", "x", "city", "y",
								 "zip_code", "z", "country_iso_code", "ZZZ"));
	cfg.soap_namespace = NULL;
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	struct kcg_khaos_sales_order so;
	assert_int_equal(kcg_order_map(order, &so, why), 0);
	assert_int_equal(kcg_khaos_import_orders(&cfg, &so, &c, why), 0);
	kcg_khaos_sales_order_finish(&so);
	assert_string_equal(header(&c, "SOAPAction"), "\"urn:IKosWebIntf-IKosWeb#ImportOrders\"");
	assert_non_null(strstr(c.body, "&lt;ICOUNTRY_CODE&gt;ZZZ&lt;"));
	assert_non_null(strstr(c.body, "xmlns:ns1=\"urn:IKosWebIntf-IKosWeb\""));
	assert_false(c.secret_headers);
	kcg_call_finish(&c);
	json_decref(order);
}

static void test_import_required_fields(void **state)
{
	static const struct {
		const char *patch; /* merged into the order / first line */
		bool line;
		const char *why_has;
	} cases[] = {
		{ "{\"order_id\":null}", false, "order_id missing" },
		{ "{\"order_id\":\"\"}", false, "order_id missing" },
		{ "{\"order_id\":\"A,B\"}", false, "comma" },
		{ "{\"order_lines\":[]}", false, "order_lines missing" },
		{ "{\"order_lines\":null}", false, "order_lines missing" },
		{ "{\"offer_sku\":null}", true, "order_lines[0].offer_sku missing" },
		{ "{\"offer_sku\":\"\"}", true, "order_lines[0].offer_sku missing" },
		{ "{\"quantity\":0}", true, "order_lines[0].quantity" },
		{ "{\"quantity\":\"2\"}", true, "order_lines[0].quantity" },
		{ "{\"created_date\":\"yesterday\"}", false, "created_date" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *order = mirakl_order();
		json_t *patch = json_loads(cases[i].patch, 0, NULL);
		json_t *target = cases[i].line ? json_array_get(json_object_get(order, "order_lines"), 0) : order;
		const char *k;
		json_t *v;
		json_object_foreach(patch, k, v) {
			if (json_is_null(v))
				json_object_del(target, k);
			else
				json_object_set(target, k, v);
		}
		struct kcg_khaos_sales_order so;
		char why[KCG_ERROR_MAX] = "";
		int rc = kcg_order_map(order, &so, why);
		if (rc != KCG_EPAYLOAD || !strstr(why, cases[i].why_has))
			fail_msg("%s: rc %d why '%s'", cases[i].patch, rc, why);
		assert_null(so.associated_ref);
		assert_null(so.lines);
		assert_printable(why);
		json_decref(patch);
		json_decref(order);
	}
	/* Every line refused: nothing to book. */
	json_t *order = mirakl_order();
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(order, "order_lines"), i, l)
		json_object_set_new(l, "order_line_state", json_string("CANCELED"));
	struct kcg_khaos_sales_order so;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_order_map(order, &so, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "no line to book"));
	json_decref(order);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_fields),
		cmocka_unit_test(test_import_mapping),
		cmocka_unit_test(test_import_addresses_fallback),
		cmocka_unit_test(test_import_required_fields),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
