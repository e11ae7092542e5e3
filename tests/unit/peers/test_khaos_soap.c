/*
 * test_khaos_soap.c: the SOAP 1.1 transport of the Khaos client
 * (src/peers/khaos_soap.c) on its own: the envelope, namespaces, headers
 * and credentials of a request (read back with XPath), and how an answer
 * opens: the result part, references followed, and every fault and
 * transport outcome. test_khaos.c covers the same through the operations.
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
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/xml.h"

#include "khaos_xpath.h"
#include "net_fixtures.h"

static const struct kcg_khaos_transport *const t = &kcg_khaos_soap;

static struct kcg_khaos_config test_cfg(void)
{
	return (struct kcg_khaos_config){
		.transport = "soap",
		.soap_url = "https://erp.example/KhaosKSD.exe/soap/IKosWeb",
		.soap_namespace = NS,
		.soap_user = "gate",
		.soap_password = "s3cr:t",
		.timeout_s = 21,
	};
}

static void test_request(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	const struct kcg_khaos_param params[] = { { "B", "x<&>\"y\"" }, { "A", NULL }, { "C", "" } };
	struct kcg_call c;
	assert_int_equal(t->request(&cfg, "DoIt", params, 3, &c), 0);
	assert_string_equal(c.what, "DoIt");
	assert_string_equal(c.method, "POST");
	assert_string_equal(c.url, cfg.soap_url);
	assert_int_equal(c.timeout_s, 21);
	assert_string_equal(header(&c, "Content-Type"), "text/xml; charset=utf-8");
	assert_string_equal(header(&c, "SOAPAction"), "\"" NS "#DoIt\"");
	assert_string_equal(header(&c, "Accept"), "text/xml");
	assert_string_equal(header(&c, "Authorization"), "Basic Z2F0ZTpzM2NyOnQ="); /* gate:s3cr:t */
	assert_true(c.secret_headers);
	assert_int_equal(c.body_len, strlen(c.body));
	assert_true(strncmp(c.body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38) == 0);

	xmlDocPtr d = xmlReadMemory(c.body, (int)c.body_len, "t.xml", NULL, XML_PARSE_NONET);
	assert_non_null(d);
	assert_xp(d, "count(/soap:Envelope/soap:Header)", "0");
	assert_xp(d, "/soap:Envelope/soap:Body/@soap:encodingStyle", "http://schemas.xmlsoap.org/soap/encoding/");
	assert_xp(d, "count(/soap:Envelope/soap:Body/*)", "1");
	/* Parameters in the order given, unqualified, typed, empty when NULL. */
	assert_xp(d, "count(/soap:Envelope/soap:Body/k:DoIt/*)", "3");
	assert_xp(d, "name(/soap:Envelope/soap:Body/k:DoIt/*[1])", "B");
	assert_xp(d, "name(/soap:Envelope/soap:Body/k:DoIt/*[2])", "A");
	assert_xp(d, "count(/soap:Envelope/soap:Body/k:DoIt/*[namespace-uri() != ''])", "0");
	assert_xp(d, "count(/soap:Envelope/soap:Body/k:DoIt/*[@xsi:type = 'xsd:string'])", "3");
	assert_xp(d, "/soap:Envelope/soap:Body/k:DoIt/B", "x<&>\"y\"");
	assert_xp(d, "/soap:Envelope/soap:Body/k:DoIt/A", "");
	xmlFreeDoc(d);
	kcg_call_finish(&c);

	/* No user: no credentials; no namespace: the one seen in the wild. */
	cfg.soap_user = NULL;
	cfg.soap_namespace = "";
	assert_int_equal(t->request(&cfg, "M", NULL, 0, &c), 0);
	assert_null(header(&c, "Authorization"));
	assert_false(c.secret_headers);
	assert_string_equal(header(&c, "SOAPAction"), "\"urn:IKosWebIntf-IKosWeb#M\"");
	assert_non_null(strstr(c.body, "<ns1:M xmlns:ns1=\"urn:IKosWebIntf-IKosWeb\"/>"));
	kcg_call_finish(&c);
}

/* Opens @p body (HTTP @p status) as the answer to M; returns the outcome
 * and, on 0, the result's text in @p text (malloc'd). */
static int open_m(long status, const char *body, char **text, char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_reply r = reply(status, body);
	struct kcg_khaos_answer a;
	int rc = t->open(&cfg, &r, "M", &a, why);
	if (rc == 0) {
		*text = kcg_xml_text(a.result);
		t->close(&a);
		t->close(&a); /* zeroed: safe again */
	} else {
		assert_null(a.doc);
		assert_null(a.result);
		assert_true(strncmp(why, "M: ", 3) == 0);
	}
	kcg_reply_finish(&r);
	return rc;
}

#define ENV(body) "<e:Envelope xmlns:e=\"" SOAP_ENV "\"><e:Body>" body "</e:Body></e:Envelope>"
#define FAULT(code) ENV("<e:Fault><faultcode>" code "</faultcode><faultstring>why</faultstring></e:Fault>")

static void test_open(void **state)
{
	char why[KCG_ERROR_MAX], *text = NULL;

	/* The result is `return`, else the only part; prefixes do not matter. */
	assert_int_equal(open_m(200, ENV("<x:MResponse xmlns:x=\"" NS "\"><return> r </return></x:MResponse>"), &text,
				why),
			 0);
	assert_string_equal(text, "r");
	free(text);
	assert_int_equal(open_m(200, ENV("<MResponse><other>o</other></MResponse>"), &text, why), 0);
	assert_string_equal(text, "o");
	free(text);
	/* A reference is followed. */
	assert_int_equal(open_m(200, ENV("<MResponse><return href=\"#7\"/></MResponse><s id=\"7\">ref</s>"), &text, why),
			 0);
	assert_string_equal(text, "ref");
	free(text);

	static const struct {
		long status;
		const char *body;
		int want;
		const char *why_has;
	} cases[] = {
		{ 500, FAULT("e:Client"), KCG_EPAYLOAD, "HTTP 500, fault Client: why" },
		{ 200, FAULT("Client.Auth"), KCG_EPAYLOAD, "fault Client.Auth" },
		{ 401, FAULT("e:Client"), KCG_EPAYLOAD, "HTTP 401" },
		{ 500, FAULT("e:VersionMismatch"), KCG_EPAYLOAD, "VersionMismatch" },
		{ 500, FAULT("e:MustUnderstand"), KCG_EPAYLOAD, "MustUnderstand" },
		{ 500, FAULT("e:Server"), -EAGAIN, "fault Server" },
		{ 200, FAULT("Server.Busy"), -EAGAIN, "fault Server.Busy" },
		{ 500, FAULT("e:ServerX"), -EAGAIN, "fault ServerX" },   /* unknown: the status decides */
		{ 400, FAULT("e:ServerX"), KCG_EPAYLOAD, "fault ServerX" },
		{ 400, FAULT(""), KCG_EPAYLOAD, "fault (none)" },
		{ 503, "<html/>", -EAGAIN, "HTTP 503" },
		{ 429, NULL, -EAGAIN, "HTTP 429" },
		{ 404, "nope", KCG_EPAYLOAD, "HTTP 404" },
		{ 200, "<Envelope><Body/></Envelope>", KCG_EPAYLOAD, "without a SOAP 1.1 envelope" },
		{ 200, ENV("<OtherResponse/>"), KCG_EPAYLOAD, "no MResponse element" },
		{ 200, ENV("<MResponse/>"), KCG_EPAYLOAD, "no result" },
		{ 200, ENV("<MResponse><return href=\"#9\"/></MResponse>"), KCG_EPAYLOAD, "no result" },
		{ 200, "<!DOCTYPE e [<!ENTITY x \"y\">]>" ENV("<MResponse><return>&x;</return></MResponse>"),
		  KCG_EPAYLOAD, "without a SOAP 1.1 envelope" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		int rc = open_m(cases[i].status, cases[i].body, &text, why);
		if (rc != cases[i].want || !strstr(why, cases[i].why_has))
			fail_msg("case %zu: rc %d why '%s'", i, rc, why);
	}

	/* No answer at all. */
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_reply r = { .transport_error = 7, .retry_after_s = -1 };
	snprintf(r.error, sizeof(r.error), "Couldn't connect to server");
	struct kcg_khaos_answer a;
	assert_int_equal(t->open(&cfg, &r, "M", &a, why), -EAGAIN);
	assert_non_null(strstr(why, "Couldn't connect"));
}

/* Where the WSDL is, from soap_url (both documented forms), and the
 * namespace read from it: the binding's soap:body first. */
static void test_wsdl(void **state)
{
	struct kcg_khaos_config cfg = test_cfg();
	struct kcg_call c;
	assert_int_equal(kcg_khaos_wsdl(&cfg, &c), 0);
	assert_string_equal(c.url, "https://erp.example/KhaosKSD.exe/wsdl/IKosWeb");
	kcg_call_finish(&c);
	cfg.soap_url = "http://office.example:8084/DemoSoap/KSDSoap/KhaosKSD.exe";
	assert_int_equal(kcg_khaos_wsdl(&cfg, &c), 0);
	assert_string_equal(c.url, "http://office.example:8084/DemoSoap/KSDSoap/KhaosKSD.exe/wsdl/IKosWeb");
	kcg_call_finish(&c);
	cfg.soap_url = "https://erp.example/other";
	assert_int_equal(kcg_khaos_wsdl(&cfg, &c), -EINVAL);

	char ns[KCG_KHAOS_NS_MAX], why[KCG_ERROR_MAX];
	struct kcg_reply r = reply(200,
		"<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\" "
		"xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" targetNamespace=\"http://tempuri.org/\">"
		"<binding name=\"IKosWebbinding\" type=\"IKosWeb\"><operation name=\"ImportOrders\"><input>"
		"<soap:body use=\"encoded\" namespace=\"urn:Elsewhere-IKosWeb\"/></input></operation></binding>"
		"</definitions>");
	assert_int_equal(kcg_khaos_wsdl_parse(&r, ns, why), 0);
	assert_string_equal(ns, "urn:Elsewhere-IKosWeb");
	kcg_reply_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_wsdl),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
