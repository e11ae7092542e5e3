/*
 * khaos_fixtures.h: what test_khaos.c and test_order_map.c both check a
 * Khaos request against:
 *
 *   test_cfg()                 a SOAP configuration with credentials, a
 *                              site, a sales source and a company class;
 *   check_envelope(c, m, creds) the transport and envelope of a call to m
 *                              (URL, headers, credentials, one operation,
 *                              unqualified xsd:string parameters); the
 *                              envelope, parsed;
 *   assert_params(d, m, want)  the call's parameter names, in order;
 *   import_doc(cfg, so, creds, raw) ImportOrders built for @p so, checked,
 *                              and the SALES_ORDERS document it carries,
 *                              parsed;
 *   khaos_string_reply(m, doc) an answer to m whose `return` string is doc
 *                              (ExportOrderStatusEx, ExportStockStatus);
 *   assert_sales_orders_doc(d) the SALES_ORDERS document of the reference
 *                              order (test_khaos.c's sales_order(), what
 *                              test_order_map.c's mirakl_order() maps to).
 *
 * It includes net_fixtures.h and khaos_xpath.h. Static inline, so a test
 * that uses only some of them builds warning-free.
 */
#ifndef KCG_TEST_KHAOS_FIXTURES_H
#define KCG_TEST_KHAOS_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/net.h"
#include "kcgate/peers/khaos.h"

#include "khaos_xpath.h"
#include "net_fixtures.h"

static inline struct kcg_khaos_config test_cfg(void)
{
	return (struct kcg_khaos_config){
		.soap_url = "https://erp.example/KhaosKSD.exe/soap/IKosWeb",
		.soap_namespace = NS,
		.soap_user = "gate",
		.soap_password = "s3cr:t",
		.site = "MAIN & <1>",
		.sales_source = "MIRAKL",
		.company_class = "Marketplace",
		.timeout_s = 21,
	};
}

/* Checks the transport and the envelope of @p c (a call to @p method) and
 * returns the envelope, parsed. */
static inline xmlDocPtr check_envelope(const struct kcg_call *c, const char *method, bool creds)
{
	char want[128];
	assert_string_equal(c->what, method);
	assert_string_equal(c->method, "POST");
	assert_string_equal(c->url, "https://erp.example/KhaosKSD.exe/soap/IKosWeb");
	assert_int_equal(c->timeout_s, 21);
	assert_string_equal(header(c, "Content-Type"), "text/xml; charset=utf-8");
	snprintf(want, sizeof(want), "\"" NS "#%s\"", method);
	assert_string_equal(header(c, "SOAPAction"), want);
	if (creds) {
		/* base64("gate:s3cr:t") */
		assert_string_equal(header(c, "Authorization"), "Basic Z2F0ZTpzM2NyOnQ=");
		assert_true(c->secret_headers);
	} else {
		assert_null(header(c, "Authorization"));
	}
	assert_non_null(c->body);
	assert_int_equal(c->body_len, strlen(c->body));

	xmlDocPtr d = parse(c->body);
	assert_xp(d, "count(/soap:Envelope/soap:Body)", "1");
	snprintf(want, sizeof(want), "count(/soap:Envelope/soap:Body/*)");
	assert_xp(d, want, "1");
	snprintf(want, sizeof(want), "count(/soap:Envelope/soap:Body/k:%s)", method);
	assert_xp(d, want, "1");
	/* Parameters: unqualified, each typed xsd:string. */
	snprintf(want, sizeof(want), "count(/soap:Envelope/soap:Body/k:%s/*[namespace-uri() != ''])", method);
	assert_xp(d, want, "0");
	snprintf(want, sizeof(want), "count(/soap:Envelope/soap:Body/k:%s/*[@xsi:type != 'xsd:string'])", method);
	assert_xp(d, want, "0");
	return d;
}

/* The parameter names of the call, in order, joined by commas. */
static inline void assert_params(xmlDocPtr d, const char *method, const char *want)
{
	char buf[512] = "";
	xmlNodePtr body = xmlDocGetRootElement(d)->children;
	while (body && body->type != XML_ELEMENT_NODE)
		body = body->next;
	xmlNodePtr op = body->children;
	while (op && op->type != XML_ELEMENT_NODE)
		op = op->next;
	assert_string_equal((const char *)op->name, method);
	for (xmlNodePtr p = op->children; p; p = p->next) {
		if (p->type != XML_ELEMENT_NODE)
			continue;
		if (*buf)
			strcat(buf, ",");
		strcat(buf, (const char *)p->name);
	}
	assert_string_equal(buf, want);
}

/* Builds ImportOrders for @p so and returns the SALES_ORDERS document
 * carried in Orders, parsed. */
static inline xmlDocPtr import_doc(const struct kcg_khaos_config *cfg, const struct kcg_khaos_sales_order *so,
				   bool creds, char **raw)
{
	struct kcg_call c;
	char why[KCG_ERROR_MAX] = "x";
	assert_int_equal(kcg_khaos_import_orders(cfg, so, &c, why), 0);
	assert_string_equal(why, "");
	xmlDocPtr env = check_envelope(&c, "ImportOrders", creds);
	assert_params(env, "ImportOrders", "Orders");
	char *inner = xp(env, "/soap:Envelope/soap:Body/k:ImportOrders/Orders");
	/* The document is text: no element children, no XML declaration. */
	assert_xp(env, "count(/soap:Envelope/soap:Body/k:ImportOrders/Orders/*)", "0");
	assert_true(strncmp(inner, "<SALES_ORDERS>", 14) == 0);
	xmlDocPtr d = parse(inner);
	free(inner);
	if (raw)
		*raw = strdup(c.body);
	xmlFreeDoc(env);
	kcg_call_finish(&c);
	return d;
}

/* The SALES_ORDERS document @p d of the reference order, built with
 * test_cfg(): its parts in order, the customer and both addresses, the
 * payment, the header, and the two booked lines. */
static inline void assert_sales_orders_doc(xmlDocPtr d)
{
	assert_xp(d, "count(/SALES_ORDERS/SALES_ORDER)", "1");
	/* Children in the documented order. */
	assert_xp(d, "name(/SALES_ORDERS/SALES_ORDER/*[1])", "CUSTOMER_DETAIL");
	assert_xp(d, "name(/SALES_ORDERS/SALES_ORDER/*[2])", "PAYMENTS");
	assert_xp(d, "name(/SALES_ORDERS/SALES_ORDER/*[3])", "ORDER_HEADER");
	assert_xp(d, "name(/SALES_ORDERS/SALES_ORDER/*[4])", "ORDER_ITEMS");

	const char *cd = "/SALES_ORDERS/SALES_ORDER/CUSTOMER_DETAIL/";
	char e[256];
	static const char *const want_cd[][2] = {
		{ "IS_NEW_CUSTOMER", "-1" },
		{ "COMPANY_CLASS", "Marketplace" },
		{ "COMPANY_NAME", "Jane Doe" },
		{ "ADDRESSES/INVADDR/IADDRESS1", "1 High Street" },
		{ "ADDRESSES/INVADDR/IADDRESS2", "Flat 2" },
		{ "ADDRESSES/INVADDR/ITOWN", "London" },
		{ "ADDRESSES/INVADDR/ICOUNTY", "Greater London" },
		{ "ADDRESSES/INVADDR/IPOSTCODE", "SW1A 1AA" },
		{ "ADDRESSES/INVADDR/ICOUNTRY_CODE", "GBR" }, /* alpha-3 by default [XML-IMP 1.10] */
		{ "ADDRESSES/INVADDR/IFORENAME", "Jane" },
		{ "ADDRESSES/INVADDR/ISURNAME", "Doe" },
		{ "ADDRESSES/INVADDR/ITEL", "+44 20" },
		{ "ADDRESSES/INVADDR/IEMAIL", "n@mirakl.example" },
		{ "ADDRESSES/DELADDR/DADDRESS1", "9 Rue X" },
		{ "ADDRESSES/DELADDR/DTOWN", "Paris" },
		{ "ADDRESSES/DELADDR/DPOSTCODE", "75001" },
		{ "ADDRESSES/DELADDR/DCOUNTRY_CODE", "FRA" }, /* "fra" upper-cased */
		{ "ADDRESSES/DELADDR/DFORENAME", "Ann" },
		{ "ADDRESSES/DELADDR/DSURNAME", "Bee" },
		{ "ADDRESSES/DELADDR/DTEL", "+33 1" },
		{ "count(ADDRESSES/DELADDR/DADDRESS2)", "0" }, /* empty values are left out */
	};
	for (size_t i = 0; i < sizeof(want_cd) / sizeof(want_cd[0]); i++) {
		if (strncmp(want_cd[i][0], "count(", 6) == 0)
			snprintf(e, sizeof(e), "count(%s%s", cd, want_cd[i][0] + 6);
		else
			snprintf(e, sizeof(e), "%s%s", cd, want_cd[i][0]);
		assert_xp(d, e, want_cd[i][1]);
	}
	assert_xp(d, "/SALES_ORDERS/SALES_ORDER/PAYMENTS/PAYMENT_DETAIL/PAYMENT_AMOUNT", "25.09");
	assert_xp(d, "/SALES_ORDERS/SALES_ORDER/PAYMENTS/PAYMENT_DETAIL/PAYMENT_TYPE", "3");

	const char *h = "/SALES_ORDERS/SALES_ORDER/ORDER_HEADER/";
	static const char *const want_h[][2] = {
		{ "ORDER_DATE", "2026-11-22 07:42:07" }, /* UTC, "yyyy-mm-dd hh:mm:ss" [XML-IMP] */
		{ "ORDER_AMOUNT", "25.09" }, /* 2 x 10.00 + 0.10 + 4.99 delivery */
		{ "ORDER_CURRENCY_CODE", "GBP" },
		{ "SITE", "MAIN & <1>" },
		{ "ASSOCIATED_REF", "ORD-1-A" },
		{ "SALES_SOURCE", "MIRAKL" },
		{ "DELIVERY_GRS", "4.99" },
		{ "PO_NUMBER", "C-77" },
	};
	for (size_t i = 0; i < sizeof(want_h) / sizeof(want_h[0]); i++) {
		snprintf(e, sizeof(e), "%s%s", h, want_h[i][0]);
		assert_xp(d, e, want_h[i][1]);
	}
	/* The template's element order (KSDXMLImportFormat.xml). */
	static const char *const order_h[] = { "ORDER_DATE", "ORDER_AMOUNT", "ORDER_CURRENCY_CODE", "SITE",
					       "ASSOCIATED_REF", "DELIVERY_GRS", "PO_NUMBER", "SALES_SOURCE" };
	for (size_t i = 0; i < sizeof(order_h) / sizeof(order_h[0]); i++) {
		snprintf(e, sizeof(e), "name(/SALES_ORDERS/SALES_ORDER/ORDER_HEADER/*[%zu])", i + 1);
		assert_xp(d, e, order_h[i]);
	}
	static const char *const order_it[] = { "STOCK_CODE", "MAPPING_TYPE", "STOCK_DESC", "ORDER_QTY", "PRICE_GRS" };
	for (size_t i = 0; i < sizeof(order_it) / sizeof(order_it[0]); i++) {
		snprintf(e, sizeof(e), "name(/SALES_ORDERS/SALES_ORDER/ORDER_ITEMS/ORDER_ITEM[1]/*[%zu])", i + 1);
		assert_xp(d, e, order_it[i]);
	}

	/* The REFUSED line is not booked. */
	const char *it = "/SALES_ORDERS/SALES_ORDER/ORDER_ITEMS/ORDER_ITEM";
	snprintf(e, sizeof(e), "count(%s)", it);
	assert_xp(d, e, "2");
	snprintf(e, sizeof(e), "%s[1]/STOCK_CODE", it);
	assert_xp(d, e, "SKU-1");
	snprintf(e, sizeof(e), "%s[1]/MAPPING_TYPE", it);
	assert_xp(d, e, "1");
	snprintf(e, sizeof(e), "%s[1]/ORDER_QTY", it);
	assert_xp(d, e, "2");
	snprintf(e, sizeof(e), "%s[1]/PRICE_GRS", it);
	assert_xp(d, e, "10.00");
	snprintf(e, sizeof(e), "%s[1]/STOCK_DESC", it);
	assert_xp(d, e, "Widget");
	snprintf(e, sizeof(e), "%s[2]/STOCK_CODE", it);
	assert_xp(d, e, "SKU-2");
	snprintf(e, sizeof(e), "%s[2]/PRICE_GRS", it);
	assert_xp(d, e, "0.10");
	snprintf(e, sizeof(e), "count(%s[2]/STOCK_DESC)", it);
	assert_xp(d, e, "0");
}

/* An answer to @p method whose `return` is the string @p inner (escaped by
 * libxml2), as Khaos sends its XML documents. */
static inline struct kcg_reply khaos_string_reply(const char *method, const char *inner)
{
	xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr env = xmlNewNode(NULL, BAD_CAST "Envelope");
	xmlDocSetRootElement(d, env);
	xmlNsPtr soap = xmlNewNs(env, BAD_CAST SOAP_ENV, BAD_CAST "SOAP-ENV");
	xmlSetNs(env, soap);
	xmlNodePtr body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
	char name[64];
	snprintf(name, sizeof(name), "%sResponse", method);
	xmlNodePtr resp = xmlNewChild(body, NULL, BAD_CAST name, NULL);
	xmlSetNs(resp, xmlNewNs(resp, BAD_CAST NS, BAD_CAST "NS1"));
	xmlAddChild(resp, xmlNewDocRawNode(d, NULL, BAD_CAST "return", BAD_CAST inner));
	xmlChar *buf;
	int len;
	xmlDocDumpMemoryEnc(d, &buf, &len, "UTF-8");
	struct kcg_reply r = reply(200, (const char *)buf);
	xmlFree(buf);
	xmlFreeDoc(d);
	return r;
}

#endif
