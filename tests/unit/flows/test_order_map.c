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
#include "kcgate/flows/orders.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/net.h"

#include "khaos_fixtures.h"

/* ---- Mirakl order -> SALES_ORDERS ---- */

static json_t *mirakl_order(void)
{
	json_error_t err;
	json_t *o = json_loads(
		"{\"order_id\":\"ORD-1-A\",\"commercial_id\":\"C-77\",\"order_state\":\"WAITING_ACCEPTANCE\","
		"\"created_date\":\"2026-11-22T08:42:07+01:00\",\"currency_iso_code\":\"GBP\",\"price\":20.1,"
		"\"shipping_price\":4.99,\"total_price\":25.09,\"customer_notification_email\":\"n@mirakl.example\","
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
	assert_int_equal(kcg_order_map(order, NULL, &so, NULL, why), 0);
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
	assert_int_equal(kcg_order_map(order, NULL, &so, NULL, why), 0);
	assert_string_equal(why, "");
	json_decref(order); /* the sales order holds copies */

	assert_string_equal(so.associated_ref, "ORD-1-A");
	assert_string_equal(so.company_name, "Jane Doe");
	assert_true(so.has_date);
	assert_true(so.date_ms == 1795333327000ull); /* 2026-11-22T08:42:07+01:00 */
	assert_true(so.amount.set && so.amount.minor == 2509);
	assert_true(so.delivery_gross.set && so.delivery_gross.minor == 499);
	assert_false(so.delivery_net.set);
	assert_null(so.courier_code); /* no [shipping_methods]: Khaos's default courier */
	assert_null(so.order_note);
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
	assert_true(so.lines[0].price_gross.set && so.lines[0].price_gross.minor == 1000);
	assert_string_equal(so.lines[0].description, "Widget");
	assert_string_equal(so.lines[1].stock_code, "SKU-2");
	assert_true(so.lines[1].price_gross.set && so.lines[1].price_gross.minor == 10);
	assert_null(so.lines[1].description);
	kcg_khaos_sales_order_finish(&so);
	kcg_khaos_sales_order_finish(&so); /* zeroed: safe again */

	/* A company on the billing address names the customer; no
	 * shipping_price is free delivery, still sent (0: Khaos never invents
	 * a charge); the line's price is what counts, not price_unit. */
	order = mirakl_order();
	json_object_set_new(json_object_get(json_object_get(order, "customer"), "billing_address"), "company",
			    json_string("ACME Ltd"));
	json_object_del(order, "shipping_price");
	json_object_set_new(order, "total_price", json_real(20.1));
	json_object_set_new(json_array_get(json_object_get(order, "order_lines"), 0), "price_unit", json_string("10"));
	assert_int_equal(kcg_order_map(order, NULL, &so, NULL, why), 0);
	assert_string_equal(so.company_name, "ACME Ltd");
	assert_true(so.delivery_gross.set && so.delivery_gross.minor == 0);
	assert_true(so.lines[0].price_gross.set && so.lines[0].price_gross.minor == 1000);
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
	json_object_del(order, "created_date");
	{
		struct kcg_khaos_sales_order so;
		struct kcg_call c;
		char why[KCG_ERROR_MAX];
		assert_int_equal(kcg_order_map(order, NULL, &so, NULL, why), 0);
		assert_string_equal(so.invoice.forename, "Jane");
		assert_string_equal(so.delivery.surname, "Doe");
		assert_null(so.invoice.address1);
		assert_true(so.amount.set && so.amount.minor == 2509);
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
	assert_int_equal(kcg_order_map(order, NULL, &so, NULL, why), 0);
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
		{ "{\"total_price\":null}", false, "total_price missing" },
		{ "{\"total_price\":\"25.09\"}", false, "total_price" },
		{ "{\"shipping_price\":4.995}", false, "shipping_price" },
		{ "{\"price\":-1}", true, "order_lines[0].price" },
		{ "{\"price\":10.001}", true, "order_lines[0].price" },
		{ "{\"order_tax_mode\":\"GROSS\"}", false, "order_tax_mode" },
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
		int rc = kcg_order_map(order, NULL, &so, NULL, why);
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
	assert_int_equal(kcg_order_map(order, NULL, &so, NULL, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "no line to book"));
	json_decref(order);
}


/* ---- money and method (issue 8 item 5) ---- */

/* A map from "k=v" pairs (the config parser's struct, built by hand). */
static struct kcg_config_map *map_of(const char *const *kv, size_t n)
{
	struct kcg_config_map *m = calloc(1, sizeof(*m));
	m->entries = calloc(n ? n : 1, sizeof(m->entries[0]));
	for (size_t i = 0; i < n; i++) {
		m->entries[i].key = strdup(kv[2 * i]);
		m->entries[i].value = strdup(kv[2 * i + 1]);
	}
	m->n = n;
	return m;
}

static void map_free(struct kcg_config_map *m)
{
	for (size_t i = 0; m && i < m->n; i++) {
		free(m->entries[i].key);
		free(m->entries[i].value);
	}
	if (m)
		free(m->entries);
	free(m);
}

static json_t *money_order(const char *text)
{
	json_error_t err;
	json_t *o = json_loads(text, 0, &err);
	if (!o)
		fail_msg("fixture: %s", err.text);
	json_t *base = mirakl_order();
	json_object_update(base, o);
	json_decref(o);
	return base;
}

static void test_money_tax_included(void **state)
{
	/* promotion: 3 at 9.99 listed, 25.00 paid: booked 2 x 8.33 + 1 x 8.34 */
	json_t *order = money_order(
		"{\"order_tax_mode\":\"TAX_INCLUDED\",\"shipping_price\":3.5,\"total_price\":28.5,\"price\":25,"
		"\"order_lines\":[{\"offer_sku\":\"SKU-1\",\"quantity\":3,\"price_unit\":9.99,\"price\":25.0,"
		"\"taxes\":[{\"code\":\"VAT20\",\"amount\":4.17}]}]}");
	struct kcg_khaos_sales_order so;
	enum kcg_order_map_fault fault = KCG_ORDER_MAP_DATA;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), 0);
	assert_int_equal(fault, KCG_ORDER_MAP_OK);
	assert_int_equal(so.n_lines, 2);
	assert_true(so.lines[0].quantity == 2 && so.lines[0].price_gross.minor == 833);
	assert_true(so.lines[1].quantity == 1 && so.lines[1].price_gross.minor == 834);
	assert_false(so.lines[0].price_net.set);
	assert_null(so.lines[0].tax_rate);
	assert_true(so.delivery_gross.set && so.delivery_gross.minor == 350);
	assert_true(so.amount.minor == 2850); /* taxes included: total_price */
	int64_t sum = so.delivery_gross.minor;
	for (size_t i = 0; i < so.n_lines; i++)
		sum += so.lines[i].quantity * so.lines[i].price_gross.minor;
	assert_true(sum == so.amount.minor);

	/* the document: PRICE_GRS per item, DELIVERY_GRS, ORDER_AMOUNT */
	struct kcg_khaos_config cfg = test_cfg();
	xmlDocPtr d = import_doc(&cfg, &so, true, NULL);
	assert_xp(d, "//ORDER_HEADER/ORDER_AMOUNT", "28.50");
	assert_xp(d, "//ORDER_HEADER/DELIVERY_GRS", "3.50");
	assert_xp(d, "count(//DELIVERY_NET)", "0");
	assert_xp(d, "//ORDER_ITEM[1]/PRICE_GRS", "8.33");
	assert_xp(d, "//ORDER_ITEM[2]/PRICE_GRS", "8.34");
	assert_xp(d, "//ORDER_ITEM[2]/STOCK_CODE", "SKU-1");
	assert_xp(d, "count(//PRICE_NET)", "0");
	xmlFreeDoc(d);
	kcg_khaos_sales_order_finish(&so);
	json_decref(order);
}

static void test_money_tax_excluded(void **state)
{
	static const char *const rates[] = { "GB-VAT-20", "1", "GB-VAT-5", "4" };
	struct kcg_config_map *tax = map_of(rates, 2);
	struct kcg_order_map_config mc = { .tax_rates = tax };
	/* net 2 x 10.00 (+4.00 VAT) and 1 x 5.00 (+0.25), shipping 4.00 net (+0.80) */
	json_t *order = money_order(
		"{\"order_tax_mode\":\"TAX_EXCLUDED\",\"shipping_price\":4,\"total_price\":29,\"price\":25,"
		"\"shipping_deadline\":\"2026-11-25T23:59:59Z\",\"shipping_pudo_id\":\"PUDO-42\","
		"\"order_lines\":[{\"offer_sku\":\"SKU-1\",\"quantity\":2,\"price_unit\":10,\"price\":20,"
		"\"taxes\":[{\"code\":\"GB-VAT-20\",\"amount\":4}],"
		"\"shipping_taxes\":[{\"code\":\"GB-VAT-20\",\"amount\":0.5}]},"
		"{\"offer_sku\":\"SKU-2\",\"quantity\":1,\"price_unit\":5,\"price\":5,"
		"\"taxes\":[{\"code\":\"GB-VAT-5\",\"amount\":0.25}],"
		"\"shipping_taxes\":[{\"code\":\"GB-VAT-20\",\"amount\":0.3}]},"
		"{\"offer_sku\":\"SKU-3\",\"quantity\":1,\"price\":7,\"order_line_state\":\"REFUSED\"}]}");
	struct kcg_khaos_sales_order so;
	enum kcg_order_map_fault fault;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), 0);
	assert_int_equal(so.n_lines, 2);
	assert_true(so.lines[0].price_net.set && so.lines[0].price_net.minor == 1000);
	assert_string_equal(so.lines[0].tax_rate, "1");
	assert_false(so.lines[0].price_gross.set);
	assert_true(so.lines[1].price_net.minor == 500);
	assert_string_equal(so.lines[1].tax_rate, "4");
	assert_true(so.delivery_net.set && so.delivery_net.minor == 400);
	assert_true(so.delivery_tax.set && so.delivery_tax.minor == 80);
	assert_false(so.delivery_gross.set);
	/* what the customer pays: 29.00 + 4.25 line taxes + 0.80 shipping taxes */
	assert_true(so.amount.minor == 3405);
	assert_string_equal(so.order_note, "Pickup point: PUDO-42. Ship by: 2026-11-25T23:59:59Z.");

	struct kcg_khaos_config cfg = test_cfg();
	xmlDocPtr d = import_doc(&cfg, &so, true, NULL);
	assert_xp(d, "//ORDER_HEADER/ORDER_AMOUNT", "34.05");
	assert_xp(d, "//ORDER_HEADER/DELIVERY_NET", "4.00");
	assert_xp(d, "//ORDER_HEADER/DELIVERY_TAX", "0.80");
	assert_xp(d, "count(//DELIVERY_GRS)", "0");
	assert_xp(d, "//ORDER_HEADER/ORDER_NOTE", "Pickup point: PUDO-42. Ship by: 2026-11-25T23:59:59Z.");
	assert_xp(d, "//ORDER_ITEM[1]/PRICE_NET", "10.00");
	assert_xp(d, "//ORDER_ITEM[1]/TAX_RATE", "1");
	assert_xp(d, "//ORDER_ITEM[2]/TAX_RATE", "4");
	assert_xp(d, "count(//PRICE_GRS)", "0");
	/* the template's order: PRICE_NET before TAX_RATE; notes and delivery in the header's */
	assert_xp(d, "name(//ORDER_ITEM[1]/ORDER_QTY/following-sibling::*[1])", "PRICE_NET");
	assert_xp(d, "name(//ORDER_ITEM[1]/PRICE_NET/following-sibling::*[1])", "TAX_RATE");
	assert_xp(d, "name(//ORDER_HEADER/ORDER_NOTE/following-sibling::*[1])", "DELIVERY_NET");
	xmlFreeDoc(d);
	kcg_khaos_sales_order_finish(&so);

	/* a line without taxes: Mirakl's price is the same in both modes, what
	 * the customer pays: booked gross with no TAX_RATE (Khaos applies the
	 * item's own rate), never as zero-rated */
	json_object_del(json_array_get(json_object_get(order, "order_lines"), 1), "taxes");
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), 0);
	assert_true(so.lines[1].price_gross.set && so.lines[1].price_gross.minor == 500);
	assert_false(so.lines[1].price_net.set);
	assert_null(so.lines[1].tax_rate);
	assert_string_equal(so.lines[0].tax_rate, "1");
	assert_true(so.amount.minor == 3380);
	kcg_khaos_sales_order_finish(&so);
	/* no shipping taxes on any line: delivery gross too */
	size_t k;
	json_t *ln;
	json_array_foreach(json_object_get(order, "order_lines"), k, ln)
		json_object_del(ln, "shipping_taxes");
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), 0);
	assert_true(so.delivery_gross.set && so.delivery_gross.minor == 400);
	assert_false(so.delivery_net.set || so.delivery_tax.set);
	assert_true(so.amount.minor == 3300);
	kcg_khaos_sales_order_finish(&so);

	/* an unmapped tax code: not booked, the code named */
	json_object_set_new(json_array_get(json_object_get(order, "order_lines"), 1), "taxes",
			    json_pack("[{s:s, s:f}]", "code", "FR-TVA", "amount", 1.0));
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_TAX_CODE);
	assert_non_null(strstr(why, "'FR-TVA' is not in [khaos.tax_rates]"));
	assert_null(so.lines);
	/* no [khaos.tax_rates] at all: the same */
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_TAX_CODE);
	/* two rates on one line: Khaos takes one */
	json_object_set_new(json_array_get(json_object_get(order, "order_lines"), 1), "taxes",
			    json_pack("[{s:s, s:f}, {s:s, s:f}]", "code", "GB-VAT-20", "amount", 1.0, "code", "GB-VAT-5",
				      "amount", 0.25));
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_PRICE);
	json_decref(order);
	map_free(tax);
}

static void test_money_mismatch(void **state)
{
	/* lines 20.10 + delivery 4.99 = 25.09; Mirakl says 25.10: not booked */
	json_t *order = mirakl_order();
	json_object_set_new(order, "total_price", json_real(25.10));
	struct kcg_khaos_sales_order so;
	enum kcg_order_map_fault fault;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_PRICE);
	assert_non_null(strstr(why, "make 25.09, not the 25.10"));
	assert_null(so.lines);
	assert_printable(why);
	/* many lines of floating-point prices add up to the penny */
	json_t *lines = json_array();
	for (int i = 0; i < 30; i++)
		json_array_append_new(lines, json_pack("{s:s, s:i, s:f}", "offer_sku", "SKU-1", "quantity", 1, "price", 0.1));
	json_object_set_new(order, "order_lines", lines);
	json_object_set_new(order, "shipping_price", json_real(0.2));
	json_object_set_new(order, "total_price", json_real(3.2));
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), 0);
	assert_true(so.amount.minor == 320 && so.delivery_gross.minor == 20);
	kcg_khaos_sales_order_finish(&so);
	/* free delivery: 0, sent */
	json_object_set_new(order, "shipping_price", json_real(0));
	json_object_set_new(order, "total_price", json_real(3.0));
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), 0);
	assert_true(so.delivery_gross.set && so.delivery_gross.minor == 0);
	struct kcg_khaos_config cfg = test_cfg();
	xmlDocPtr d = import_doc(&cfg, &so, true, NULL);
	assert_xp(d, "//ORDER_HEADER/DELIVERY_GRS", "0.00");
	xmlFreeDoc(d);
	kcg_khaos_sales_order_finish(&so);
	json_decref(order);
}

/* A live line with cancelations or refunds before booking: not guessed at
 * (their quantities are "informative only"); a cancelled line with its
 * cancelation is simply left out. */
static void test_partly_withdrawn(void **state)
{
	json_t *order = mirakl_order();
	json_t *lines = json_object_get(order, "order_lines");
	struct kcg_khaos_sales_order so;
	enum kcg_order_map_fault fault;
	char why[KCG_ERROR_MAX];
	json_object_set_new(json_array_get(lines, 1), "cancelations", json_pack("[{s:i}]", "quantity", 1));
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), 0);
	assert_int_equal(fault, KCG_ORDER_MAP_OK);
	kcg_khaos_sales_order_finish(&so);
	json_object_set_new(json_array_get(lines, 0), "cancelations", json_pack("[{s:i}]", "quantity", 1));
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_PARTIAL);
	assert_non_null(strstr(why, "order_lines[0] (L1) is live with 1 cancelation(s) and 0 refund(s)"));
	assert_null(so.lines);
	json_object_set_new(json_array_get(lines, 0), "cancelations", json_array());
	json_object_set_new(json_array_get(lines, 2), "refunds", json_pack("[{s:s}]", "id", "R-1"));
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_PARTIAL);
	assert_non_null(strstr(why, "(L3) is live with 0 cancelation(s) and 1 refund(s)"));
	json_decref(order);
	/* a quantity past KCG_ORDER_QTY_MAX is not an order (and never overflows the money) */
	order = mirakl_order();
	json_object_set_new(json_array_get(json_object_get(order, "order_lines"), 0), "quantity",
			    json_integer(KCG_ORDER_QTY_MAX + 1));
	assert_int_equal(kcg_order_map(order, NULL, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_DATA);
	assert_non_null(strstr(why, "order_lines[0].quantity is not a whole number from 1 to 1000000"));
	json_decref(order);
}

static void test_courier(void **state)
{
	static const char *const methods[] = { "STD", "RM48", "EXP", "DPD-NEXT" };
	struct kcg_config_map *ship = map_of(methods, 2);
	struct kcg_config_map *empty = map_of(NULL, 0);
	struct kcg_order_map_config mc = { .shipping_methods = ship };
	json_t *order = mirakl_order();
	struct kcg_khaos_sales_order so;
	enum kcg_order_map_fault fault;
	char why[KCG_ERROR_MAX];

	json_object_set_new(order, "shipping_type_code", json_string("EXP"));
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), 0);
	assert_string_equal(so.courier_code, "DPD-NEXT");
	struct kcg_khaos_config cfg = test_cfg();
	xmlDocPtr d = import_doc(&cfg, &so, true, NULL);
	assert_xp(d, "//ORDER_HEADER/COURIER_CODE", "DPD-NEXT");
	assert_xp(d, "name(//ORDER_HEADER/DELIVERY_GRS/following-sibling::*[1])", "COURIER_CODE");
	xmlFreeDoc(d);
	kcg_khaos_sales_order_finish(&so);

	/* once the section exists, every code must be mapped */
	json_object_set_new(order, "shipping_type_code", json_string("COLLECT"));
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_SHIPPING);
	assert_non_null(strstr(why, "shipping_type_code 'COLLECT' is not in [shipping_methods]"));
	assert_null(so.associated_ref);
	mc.shipping_methods = empty; /* present, empty: nothing maps */
	json_object_set_new(order, "shipping_type_code", json_string("STD"));
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_SHIPPING);
	json_object_del(order, "shipping_type_code");
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), KCG_EPAYLOAD);
	assert_int_equal(fault, KCG_ORDER_MAP_SHIPPING);
	/* without the section: no courier, Khaos's default */
	mc.shipping_methods = NULL;
	json_object_set_new(order, "shipping_type_code", json_string("COLLECT"));
	assert_int_equal(kcg_order_map(order, &mc, &so, &fault, why), 0);
	assert_null(so.courier_code);
	d = import_doc(&cfg, &so, true, NULL);
	assert_xp(d, "count(//COURIER_CODE)", "0");
	xmlFreeDoc(d);
	kcg_khaos_sales_order_finish(&so);
	json_decref(order);
	map_free(ship);
	map_free(empty);
}

/* A note over Khaos's 2000 characters is refused with the element named, not cut. */
static void test_note_limit(void **state)
{
	json_t *order = mirakl_order();
	char big[2100];
	memset(big, 'P', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(order, "shipping_pudo_id", json_string(big));
	struct kcg_khaos_sales_order so;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_order_map(order, NULL, &so, NULL, why), 0);
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_call c;
	assert_int_equal(kcg_khaos_import_orders(&cfg, &so, &c, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "ORDER_NOTE"));
	kcg_khaos_sales_order_finish(&so);
	json_decref(order);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_fields),
		cmocka_unit_test(test_import_mapping),
		cmocka_unit_test(test_import_addresses_fallback),
		cmocka_unit_test(test_import_required_fields),
		cmocka_unit_test(test_money_tax_included),
		cmocka_unit_test(test_money_tax_excluded),
		cmocka_unit_test(test_money_mismatch),
		cmocka_unit_test(test_partly_withdrawn),
		cmocka_unit_test(test_courier),
		cmocka_unit_test(test_note_limit),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
