/*
 * khaos_xpath.h: reading Khaos SOAP requests back with libxml2 and XPath,
 * for test_khaos.c, test_khaos_soap.c and test_order_map.c:
 *
 *   SOAP_ENV, XSI, NS          the SOAP 1.1 envelope, XML Schema instance
 *                              and test service namespaces;
 *   xp(doc, expr)              string(expr) over @p doc with the prefixes
 *                              soap, xsi and k (NS) registered; malloc'd;
 *   assert_xp(doc, expr, want) string(expr) is @p want;
 *   parse(text)                @p text parsed (no network), never NULL.
 *
 * Static inline, so a test that uses only some of them builds warning-free.
 */
#ifndef KCG_TEST_KHAOS_XPATH_H
#define KCG_TEST_KHAOS_XPATH_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#define SOAP_ENV "http://schemas.xmlsoap.org/soap/envelope/"
#define XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS "urn:Test-IKosWeb"

/* string(@p expr) over @p doc with the prefixes soap, xsi and k (the
 * service namespace) registered; malloc'd. */
static inline char *xp(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(ctx, BAD_CAST "soap", BAD_CAST SOAP_ENV);
	xmlXPathRegisterNs(ctx, BAD_CAST "xsi", BAD_CAST XSI);
	xmlXPathRegisterNs(ctx, BAD_CAST "k", BAD_CAST NS);
	char full[512];
	snprintf(full, sizeof(full), "string(%s)", expr);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST full, ctx);
	assert_non_null(o);
	char *out = strdup((const char *)o->stringval);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return out;
}

static inline void assert_xp(xmlDocPtr doc, const char *expr, const char *want)
{
	char *got = xp(doc, expr);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got '%s', want '%s'", expr, got, want);
	free(got);
}

static inline xmlDocPtr parse(const char *text)
{
	xmlDocPtr d = xmlReadMemory(text, (int)strlen(text), "t.xml", NULL, XML_PARSE_NONET);
	assert_non_null(d);
	return d;
}

#endif
