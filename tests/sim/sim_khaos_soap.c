/*
 * kcgate-sim, Khaos Control web service, the protocol half: SOAP 1.1
 * RPC/encoded requests on POST /khaos/soap/IKosWeb checked and parsed
 * (envelope, namespace, SOAPAction, the method's documented parameter
 * names in order), faults, the helpers that build answers, and the WSDL
 * at GET /khaos/wsdl/IKosWeb. The methods themselves are sim_khaos.c.
 * Facts: shared/ref/khaos/FACTS.md; the contract: docs/khaos-soap.md.
 */
#include "sim_khaos.h"

#include <microhttpd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XML_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* ---- XML reading ---- */

bool sk_is_el(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr sk_first_el(xmlNodePtr parent)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			return c;
	}
	return NULL;
}

xmlNodePtr sk_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
		if (sk_is_el(c, name))
			return c;
	}
	return NULL;
}

/* Trimmed text content of node @p n (malloc'd); NULL if n is NULL. */
char *sk_text_of(xmlNodePtr n)
{
	xmlChar *x;
	const char *s, *e;
	char *out;

	if (!n)
		return NULL;
	x = xmlNodeGetContent(n);
	s = x ? (const char *)x : "";
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	out = sim_xmalloc((size_t)(e - s) + 1);
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	xmlFree(x);
	return out;
}

char *sk_child_text(xmlNodePtr parent, const char *name)
{
	return sk_text_of(sk_child(parent, name));
}

/* A parameter of the call (unqualified RPC part), NULL when absent. */
char *sk_param(struct sim_soap_call *c, const char *name)
{
	return sk_child_text(c->op, name);
}

static bool ns_is(xmlNodePtr n, const char *uri)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, uri) == 0;
}


/* Parse an XML document from memory; on failure a reason in @p why. */
xmlDocPtr sk_parse_xml(const char *buf, size_t len, char *why, size_t whysz)
{
	xmlDocPtr doc;
	const xmlError *e;

	if (len > (size_t)INT32_MAX) {
		snprintf(why, whysz, "document too large");
		return NULL;
	}
	xmlResetLastError();
	doc = xmlReadMemory(buf, (int)len, "request.xml", NULL, XML_OPTS);
	if (!doc) {
		e = xmlGetLastError();
		snprintf(why, whysz, "not well-formed XML (line %d: %s)", e ? e->line : 0,
			e && e->message ? e->message : "parse error");
		/* libxml2 messages end with a newline. */
		why[strcspn(why, "\n")] = '\0';
		return NULL;
	}
	if (doc->intSubset) {
		snprintf(why, whysz, "a DTD is not allowed");
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* ---- XML writing ---- */


void sk_begin(struct soap_out *s, const char *method)
{
	char name[64];
	xmlNodePtr env, body;
	xmlNsPtr soap, ns1;

	s->doc = xmlNewDoc(BAD_CAST "1.0");
	env = xmlNewNode(NULL, BAD_CAST "Envelope");
	xmlDocSetRootElement(s->doc, env);
	soap = xmlNewNs(env, BAD_CAST SOAP_ENV_NS, BAD_CAST "SOAP-ENV");
	xmlSetNs(env, soap);
	xmlNewNs(env, BAD_CAST XSD_NS, BAD_CAST "xsd");
	s->xsi = xmlNewNs(env, BAD_CAST XSI_NS, BAD_CAST "xsi");
	s->enc = xmlNewNs(env, BAD_CAST SOAP_ENC_NS, BAD_CAST "SOAP-ENC");
	body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
	xmlNewNsProp(body, soap, BAD_CAST "encodingStyle", BAD_CAST SOAP_ENC_NS);
	snprintf(name, sizeof(name), "%sResponse", method);
	s->resp = xmlNewChild(body, NULL, BAD_CAST name, NULL);
	ns1 = xmlNewNs(s->resp, BAD_CAST sim.khaos_ns, BAD_CAST "NS1");
	xmlSetNs(s->resp, ns1);
}

/*
 * Append an unqualified element (RPC parts, fault children and the inner
 * documents carry no namespace; xmlNewChild() would inherit the parent's).
 * @p text, if any, becomes a text node that libxml2 escapes on output.
 */
xmlNodePtr sk_el(xmlNodePtr parent, const char *name, const char *text)
{
	xmlNodePtr n = xmlNewDocRawNode(parent->doc, NULL, BAD_CAST name, text ? BAD_CAST text : NULL);

	return xmlAddChild(parent, n);
}

/* Append <name xsi:type=type>text</name> to @p parent. */
xmlNodePtr sk_add_typed(struct soap_out *s, xmlNodePtr parent, const char *name,
			    const char *type, const char *text)
{
	xmlNodePtr n = sk_el(parent, name, text ? text : "");

	xmlNewNsProp(n, s->xsi, BAD_CAST "type", BAD_CAST type);
	return n;
}

void sk_reply_doc(struct sim_reply *r, unsigned status, xmlDocPtr doc)
{
	xmlChar *buf = NULL;
	int len = 0;

	xmlDocDumpFormatMemoryEnc(doc, &buf, &len, "UTF-8", 0);
	xmlFreeDoc(doc);
	if (!buf)
		abort();
	sim_reply_clear(r);
	r->status = status;
	r->body = sim_xmalloc((size_t)len + 1);
	memcpy(r->body, buf, (size_t)len);
	r->body[len] = '\0';
	r->len = (size_t)len;
	r->content_type = "text/xml; charset=utf-8";
	xmlFree(buf);
}

/* Finish a response whose single result is an XML document carried as a string. */
void sk_finish_string(struct soap_out *s, xmlDocPtr inner, struct sim_reply *r)
{
	xmlBufferPtr b = xmlBufferCreate();

	xmlNodeDump(b, inner, xmlDocGetRootElement(inner), 0, 0);
	sk_add_typed(s, s->resp, "return", "xsd:string", (const char *)xmlBufferContent(b));
	xmlBufferFree(b);
	xmlFreeDoc(inner);
	sk_reply_doc(r, 200, s->doc);
}

/* A multi-reference struct after the response element (Delphi's RPC/encoded
 * style): <NS2:type id="id" xsi:type="NS2:type">, a sibling in Body. */
xmlNodePtr sk_multiref(struct soap_out *s, xmlNsPtr types, const char *type, int id)
{
	char buf[64];
	xmlNodePtr n = xmlNewDocNode(s->doc, types, BAD_CAST type, NULL);
	xmlAddChild(s->resp->parent, n);
	snprintf(buf, sizeof(buf), "%d", id);
	xmlNewProp(n, BAD_CAST "id", BAD_CAST buf);
	snprintf(buf, sizeof(buf), "NS2:%s", type);
	xmlNewNsProp(n, s->xsi, BAD_CAST "type", BAD_CAST buf);
	return n;
}

/* An item of a SOAP-encoded array pointing at struct #id. */
void sk_href_item(xmlNodePtr arr, int id)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "#%d", id);
	xmlNewProp(sk_el(arr, "item", NULL), BAD_CAST "href", BAD_CAST buf);
}

xmlNodePtr sk_encoded_array(struct soap_out *s, xmlNodePtr parent, const char *name, const char *type, size_t n)
{
	char buf[64];
	xmlNodePtr arr = sk_el(parent, name, NULL);
	xmlNewNsProp(arr, s->xsi, BAD_CAST "type", BAD_CAST "SOAP-ENC:Array");
	snprintf(buf, sizeof(buf), "NS2:%s[%zu]", type, n);
	xmlNewNsProp(arr, s->enc, BAD_CAST "arrayType", BAD_CAST buf);
	return arr;
}

xmlDocPtr sk_inner_doc(const char *root)
{
	xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");

	xmlDocSetRootElement(d, xmlNewNode(NULL, BAD_CAST root));
	return d;
}

void sk_add_text(xmlNodePtr parent, const char *name, const char *text)
{
	sk_el(parent, name, text ? text : "");
}

void sk_add_num(xmlNodePtr parent, const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	sk_add_text(parent, name, buf);
}

void sim_khaos_fault(struct sim_reply *r, unsigned status, const char *faultcode, const char *fmt, ...)
{
	char msg[1024], code[64];
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr env = xmlNewNode(NULL, BAD_CAST "Envelope"), body, fault;
	xmlNsPtr soap;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(code, sizeof(code), "SOAP-ENV:%s", faultcode);
	xmlDocSetRootElement(doc, env);
	soap = xmlNewNs(env, BAD_CAST SOAP_ENV_NS, BAD_CAST "SOAP-ENV");
	xmlSetNs(env, soap);
	body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
	fault = xmlNewChild(body, soap, BAD_CAST "Fault", NULL);
	sk_add_text(fault, "faultcode", code);
	sk_add_text(fault, "faultstring", msg);
	sk_reply_doc(r, status, doc);
}

/* ---- request checks ---- */

/* SOAPAction without surrounding quotes; NULL when the header is absent. */
static char *soap_action(struct sim_request *req)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "SOAPAction");
	size_t n;
	char *out;

	if (!v)
		return NULL;
	while (*v == ' ')
		v++;
	n = strlen(v);
	while (n && v[n - 1] == ' ')
		n--;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	out = sim_xmalloc(n + 1);
	memcpy(out, v, n);
	out[n] = '\0';
	return out;
}

/* The documented parameters of each method, in order [WIG pp.5-21]. */
static const char *const params_of[M_COUNT][9] = {
	[M_IMPORT_ORDERS] = { "Orders" },
	[M_EXPORT_ORDER_STATUS_EX] = { "IDs", "MappingType", "WebOnly", "ConfirmedOnly", "IncludeTracking",
				       "IncludeCancelled", "DateFrom", "DateTo", "InvoiceStageIDs" },
	[M_EXPORT_STOCK_STATUS] = { "StockCode", "MappingType", "LastUpdated", "SiteID", "PotentialLeadTime" },
	[M_GET_STOCK_LIST] = { "DateType", "DateValue", "StockItemType" },
	[M_GET_SOP_DATA] = { "Courier", "DelRate", "CourierBanding", "BOGOF", "SpecialOffer", "TelesalePrompt",
			     "KeyCode", "BarredItems" },
};

/* ExportOrderStatusEx's tenth parameter (the table holds nine). */
#define SHOW_ITEMS "ShowItems"

static const char *param_at(enum method m, size_t i)
{
	if (m == M_EXPORT_ORDER_STATUS_EX && i == 9)
		return SHOW_ITEMS;
	return i < 9 ? params_of[m][i] : NULL;
}

/* Every part of the call must be the method's parameter at its position
 * (RPC parts are positional; trailing ones may be left out). */
static bool params_ok(xmlNodePtr op, enum method m, struct sim_reply *r)
{
	size_t i = 0;
	for (xmlNodePtr p = sk_first_el(op); p; p = p->next) {
		if (p->type != XML_ELEMENT_NODE)
			continue;
		const char *want = param_at(m, i);
		if (!want || strcmp((const char *)p->name, want) != 0) {
			char list[300] = "";
			for (size_t k = 0; param_at(m, k); k++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? ", " : "",
					 param_at(m, k));
			sim_khaos_fault(r, 500, "Client", "%s: parameter %zu is '%s'; IKosWeb.%s takes (%s)",
					method_names[m], i + 1, (const char *)p->name, method_names[m], list);
			return false;
		}
		i++;
	}
	return true;
}

struct sim_soap_call *sim_khaos_prepare(struct sim_request *req, struct sim_reply *r)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
	struct sim_soap_call *c = NULL;
	char why[512], *action = NULL, expect[300];
	xmlNodePtr env, n, body = NULL;
	xmlDocPtr doc;
	int m;

	if (strcmp(req->method, "POST") != 0) {
		sim_khaos_fault(r, 405, "Client", "Method %s not allowed: SOAP calls are POSTed",
			req->method);
		r->allow = "POST";
		return NULL;
	}
	if (!sim_media_type_is(ct, "text/xml")) {
		sim_khaos_fault(r, 415, "Client", "SOAP 1.1 requests need Content-Type text/xml");
		return NULL;
	}
	action = soap_action(req);
	if (!action) {
		sim_khaos_fault(r, 500, "Client", "SOAPAction header missing");
		return NULL;
	}
	doc = sk_parse_xml(req->body ? req->body : "", req->body_len, why, sizeof(why));
	if (!doc) {
		sim_khaos_fault(r, 500, "Client", "Request: %s", why);
		goto fail_action;
	}
	env = xmlDocGetRootElement(doc);
	if (!sk_is_el(env, "Envelope")) {
		sim_khaos_fault(r, 500, "Client", "Request: root element must be soap:Envelope");
		goto fail_doc;
	}
	if (!ns_is(env, SOAP_ENV_NS)) {
		sim_khaos_fault(r, 500, "VersionMismatch",
			"Envelope namespace must be " SOAP_ENV_NS " (SOAP 1.1)");
		goto fail_doc;
	}
	for (n = env->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (sk_is_el(n, "Header") && ns_is(n, SOAP_ENV_NS)) {
			for (xmlNodePtr h = sk_first_el(n); h; h = h->next) {
				xmlChar *mu;

				if (h->type != XML_ELEMENT_NODE)
					continue;
				mu = xmlGetNsProp(h, BAD_CAST "mustUnderstand", BAD_CAST SOAP_ENV_NS);
				if (mu && strcmp((const char *)mu, "1") == 0) {
					sim_khaos_fault(r, 500, "MustUnderstand",
						"Header %s is not understood", (const char *)h->name);
					xmlFree(mu);
					goto fail_doc;
				}
				xmlFree(mu);
			}
		} else if (sk_is_el(n, "Body") && ns_is(n, SOAP_ENV_NS)) {
			body = n;
		}
	}
	n = sk_first_el(body);
	if (!n) {
		sim_khaos_fault(r, 500, "Client", "Request: soap:Body with one operation element expected");
		goto fail_doc;
	}
	if (!n->ns || strcmp((const char *)n->ns->href, sim.khaos_ns) != 0) {
		sim_khaos_fault(r, 500, "Client", "Operation %s: namespace must be %s", (const char *)n->name,
			sim.khaos_ns);
		goto fail_doc;
	}
	for (m = 0; m < M_COUNT; m++) {
		if (strcmp((const char *)n->name, method_names[m]) == 0)
			break;
	}
	if (m == M_COUNT) {
		sim_khaos_fault(r, 500, "Client", "No method named '%s' is supported by interface 'IKosWeb'",
			(const char *)n->name);
		goto fail_doc;
	}
	if (!params_ok(n, (enum method)m, r))
		goto fail_doc;
	snprintf(expect, sizeof(expect), "%s#%s", sim.khaos_ns, method_names[m]);
	if (*action && strcmp(action, expect) != 0) {
		sim_khaos_fault(r, 500, "Client", "SOAPAction must be empty or \"%s\"", expect);
		goto fail_doc;
	}
	c = sim_xmalloc(sizeof(*c));
	c->doc = doc;
	c->op = n;
	c->method = (enum method)m;
	free(action);
	return c;
fail_doc:
	xmlFreeDoc(doc);
fail_action:
	free(action);
	return NULL;
}

const char *const method_names[M_COUNT] = {
	"ImportOrders", "ExportOrderStatusEx", "ExportStockStatus", "GetStockList", "GetSOPData",
};

bool sk_bool(const char *s, bool *out)
{
	if (!s || !*s || strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0) {
		*out = false;
		return true;
	}
	if (strcmp(s, "-1") == 0 || strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0) {
		*out = true;
		return true;
	}
	return false;
}

/* ---- the WSDL ---- */

static xmlNodePtr wsdl_el(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *attr, const char *value)
{
	xmlNodePtr n = xmlNewChild(parent, ns, BAD_CAST name, NULL);
	if (attr)
		xmlNewProp(n, BAD_CAST attr, BAD_CAST value);
	return n;
}

/* <xs:complexType name=@name><xs:sequence> with the (name, type) members. */
static void wsdl_struct(xmlNodePtr schema, xmlNsPtr xs, const char *name, const char *const *members)
{
	xmlNodePtr seq = wsdl_el(wsdl_el(schema, xs, "complexType", "name", name), xs, "sequence", NULL, NULL);

	for (size_t i = 0; members[i]; i += 2) {
		xmlNodePtr e = wsdl_el(seq, xs, "element", "name", members[i]);
		xmlNewProp(e, BAD_CAST "type", BAD_CAST members[i + 1]);
	}
}

/* A SOAP-encoded array type of @item, as Delphi declares its dynamic arrays. */
static void wsdl_array(xmlNodePtr schema, xmlNsPtr xs, xmlNsPtr wsdl, const char *name, const char *item)
{
	char buf[128];
	xmlNodePtr ct = wsdl_el(schema, xs, "complexType", "name", name);
	xmlNodePtr rs = wsdl_el(wsdl_el(ct, xs, "complexContent", NULL, NULL), xs, "restriction", "base",
				"soapenc:Array");
	wsdl_el(rs, xs, "sequence", NULL, NULL);
	xmlNodePtr at = wsdl_el(rs, xs, "attribute", "ref", "soapenc:arrayType");
	snprintf(buf, sizeof(buf), "ns1:%s[]", item);
	xmlNewNsProp(at, wsdl, BAD_CAST "arrayType", BAD_CAST buf);
}

/* The result types the answers use (sim_khaos.c), in TYPES_NS. */
static void wsdl_types(xmlNodePtr defs, xmlNsPtr w, xmlNsPtr xs, xmlNsPtr wp)
{
	static const char *const import_result[] = { "ImportedCount", "xs:int", "OrderImport", "ns1:TOrderImportArray",
		"OrderSkipped", "ns1:TOrderSkippedArray", NULL };
	static const char *const order_import[] = { "SalesOrderCode", "xs:string", "AssociatedRef", "xs:string",
		"Msg", "xs:string", "URN", "xs:string", "OtherRef", "xs:string", NULL };
	static const char *const order_skipped[] = { "OrderRef", "xs:string", "SkipReason", "xs:string", NULL };
	static const char *const stock_list[] = { "Count", "xs:int", "List", "ns1:TStockArray", NULL };
	static const char *const stock_info[] = { "StockCode", "xs:string", "OtherRef", "xs:string", "StockDesc",
		"xs:string", "ParentCode", "xs:string", "ParentOtherRef", "xs:string", "LastUpdated", "xs:dateTime", NULL };
	xmlNodePtr schema = wsdl_el(wsdl_el(defs, w, "types", NULL, NULL), xs, "schema", "targetNamespace", TYPES_NS);

	wsdl_struct(schema, xs, "TOrderImportResult", import_result);
	wsdl_array(schema, xs, wp, "TOrderImportArray", "TOrderImport");
	wsdl_struct(schema, xs, "TOrderImport", order_import);
	wsdl_array(schema, xs, wp, "TOrderSkippedArray", "TOrderSkipped");
	wsdl_struct(schema, xs, "TOrderSkipped", order_skipped);
	wsdl_struct(schema, xs, "TStockList", stock_list);
	wsdl_array(schema, xs, wp, "TStockArray", "TStockInfo");
	wsdl_struct(schema, xs, "TStockInfo", stock_info);
}

static const char *part_type(const char *pn)
{
	static const char *const booleans[] = { "WebOnly", "ConfirmedOnly", "IncludeTracking", "IncludeCancelled",
		"ShowItems", "PotentialLeadTime", "Courier", "DelRate", "CourierBanding", "BOGOF", "SpecialOffer",
		"TelesalePrompt", "KeyCode", "BarredItems" };
	static const char *const ints[] = { "MappingType", "SiteID", "DateType", "StockItemType" };
	static const char *const dates[] = { "DateFrom", "DateTo", "DateValue", "LastUpdated" };

	for (size_t i = 0; i < sizeof(booleans) / sizeof(booleans[0]); i++)
		if (strcmp(pn, booleans[i]) == 0)
			return "xs:boolean";
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (strcmp(pn, ints[i]) == 0)
			return "xs:int";
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		if (strcmp(pn, dates[i]) == 0)
			return "xs:dateTime";
	return "xs:string";
}

/*
 * The WSDL as a Delphi (WebBroker TWSDLHTMLPublish) service publishes it:
 * the document's targetNamespace is the publisher's (http://tempuri.org/,
 * Delphi's default), not the interface's; the interface namespace
 * (urn:<Unit>-<Interface>, --khaos-namespace) is only in each soap:body
 * namespace and soapAction (<ns>#<Method>); messages are named
 * <Method><n>Request/Response; result types live in their own schema
 * namespace. A client that calls in the targetNamespace fails, as it would
 * against Khaos.
 */
void sim_khaos_wsdl(struct sim_request *req, struct sim_reply *r)
{
	char buf[600];
	if (strcmp(req->method, "GET") != 0) {
		sim_khaos_fault(r, 405, "Client", "Method %s not allowed: the WSDL is read with GET", req->method);
		r->allow = "GET";
		return;
	}
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr defs = xmlNewNode(NULL, BAD_CAST "definitions");
	xmlDocSetRootElement(doc, defs);
	xmlNsPtr w = xmlNewNs(defs, BAD_CAST "http://schemas.xmlsoap.org/wsdl/", NULL);
	xmlNsPtr xs = xmlNewNs(defs, BAD_CAST XSD_NS, BAD_CAST "xs");
	xmlSetNs(defs, w);
	xmlNewProp(defs, BAD_CAST "name", BAD_CAST "IKosWebservice");
	xmlNewProp(defs, BAD_CAST "targetNamespace", BAD_CAST WSDL_TNS);
	xmlNewNs(defs, BAD_CAST WSDL_TNS, BAD_CAST "tns");
	xmlNsPtr soap = xmlNewNs(defs, BAD_CAST "http://schemas.xmlsoap.org/wsdl/soap/", BAD_CAST "soap");
	xmlNewNs(defs, BAD_CAST SOAP_ENC_NS, BAD_CAST "soapenc");
	xmlNewNs(defs, BAD_CAST "http://schemas.xmlsoap.org/wsdl/mime/", BAD_CAST "mime");
	xmlNewNs(defs, BAD_CAST TYPES_NS, BAD_CAST "ns1");
	/* a prefixed twin of the default namespace, for the arrayType attributes */
	xmlNsPtr wp = xmlNewNs(defs, BAD_CAST "http://schemas.xmlsoap.org/wsdl/", BAD_CAST "wsdl");
	wsdl_types(defs, w, xs, wp);
	for (int m = 0; m < M_COUNT; m++) {
		for (int io = 0; io < 2; io++) {
			snprintf(buf, sizeof(buf), "%s%d%s", method_names[m], m, io ? "Response" : "Request");
			xmlNodePtr msg = wsdl_el(defs, w, "message", "name", buf);
			if (io) {
				xmlNodePtr part = wsdl_el(msg, w, "part", "name", "return");
				xmlNewProp(part, BAD_CAST "type", BAD_CAST (m == M_IMPORT_ORDERS ? "ns1:TOrderImportResult"
					: m == M_GET_STOCK_LIST ? "ns1:TStockList" : "xs:string"));
				continue;
			}
			for (size_t k = 0; param_at((enum method)m, k); k++) {
				const char *pn = param_at((enum method)m, k);
				xmlNodePtr part = wsdl_el(msg, w, "part", "name", pn);
				xmlNewProp(part, BAD_CAST "type", BAD_CAST part_type(pn));
			}
		}
	}
	xmlNodePtr pt = wsdl_el(defs, w, "portType", "name", "IKosWeb");
	xmlNodePtr binding = wsdl_el(defs, w, "binding", "name", "IKosWebbinding");
	xmlNewProp(binding, BAD_CAST "type", BAD_CAST "tns:IKosWeb");
	xmlNodePtr sb = wsdl_el(binding, soap, "binding", "style", "rpc");
	xmlNewProp(sb, BAD_CAST "transport", BAD_CAST "http://schemas.xmlsoap.org/soap/http");
	for (int m = 0; m < M_COUNT; m++) {
		char in[128], out[128];
		snprintf(in, sizeof(in), "tns:%s%dRequest", method_names[m], m);
		snprintf(out, sizeof(out), "tns:%s%dResponse", method_names[m], m);
		xmlNodePtr op = wsdl_el(pt, w, "operation", "name", method_names[m]);
		wsdl_el(op, w, "input", "message", in);
		wsdl_el(op, w, "output", "message", out);
		xmlNodePtr bop = wsdl_el(binding, w, "operation", "name", method_names[m]);
		snprintf(buf, sizeof(buf), "%s#%s", sim.khaos_ns, method_names[m]);
		xmlNewProp(wsdl_el(bop, soap, "operation", "soapAction", buf), BAD_CAST "style", BAD_CAST "rpc");
		for (int io = 0; io < 2; io++) {
			xmlNodePtr x = wsdl_el(bop, w, io ? "output" : "input", "message", io ? out : in);
			xmlNodePtr body = wsdl_el(x, soap, "body", "use", "encoded");
			xmlNewProp(body, BAD_CAST "encodingStyle", BAD_CAST SOAP_ENC_NS);
			xmlNewProp(body, BAD_CAST "namespace", BAD_CAST sim.khaos_ns);
		}
	}
	xmlNodePtr svc = wsdl_el(defs, w, "service", "name", "IKosWebservice");
	xmlNodePtr port = wsdl_el(svc, w, "port", "name", "IKosWebPort");
	xmlNewProp(port, BAD_CAST "binding", BAD_CAST "tns:IKosWebbinding");
	/* Delphi writes the absolute address the WSDL was read at, soap for wsdl */
	const char *host = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Host");
	if (host && *host && strlen(host) < 256 && !strpbrk(host, " /\"<>"))
		snprintf(buf, sizeof(buf), "http://%s/khaos/soap/IKosWeb", host);
	else
		snprintf(buf, sizeof(buf), "/khaos/soap/IKosWeb");
	wsdl_el(port, soap, "address", "location", buf);
	sk_reply_doc(r, 200, doc);
}

bool sim_khaos_is_write(const struct sim_soap_call *call)
{
	return call && call->method == M_IMPORT_ORDERS;
}

void sim_khaos_call_free(struct sim_soap_call *call)
{
	if (!call)
		return;
	xmlFreeDoc(call->doc);
	free(call);
}

