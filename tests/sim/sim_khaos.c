/*
 * kcgate-sim, Khaos Control web service: SOAP 1.1 RPC/encoded on
 * POST /khaos/soap/IKosWeb with ImportOrders, ExportOrderStatusEx,
 * ExportStockStatus and GetStockList. Every parameter is a string; XML
 * documents travel as escaped text. Requests are parsed and responses built
 * with libxml2's tree API only. The wire contract is docs/khaos-soap.md.
 */
#include "sim.h"

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

#define SOAP_ENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP_ENC_NS "http://schemas.xmlsoap.org/soap/encoding/"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define XSD_NS "http://www.w3.org/2001/XMLSchema"
/* Namespace of the TOrderImportResult type (assumed, Delphi style). */
#define TYPES_NS "urn:KosWebIntf"
/* Stage given to a freshly imported order (10 = Staging). */
#define NEW_ORDER_STAGE 10
#define XML_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

enum method {
	M_IMPORT_ORDERS,
	M_EXPORT_ORDER_STATUS_EX,
	M_EXPORT_STOCK_STATUS,
	M_GET_STOCK_LIST,
	M_COUNT,
};

static const char *const method_names[M_COUNT] = {
	"ImportOrders", "ExportOrderStatusEx", "ExportStockStatus", "GetStockList",
};

struct sim_soap_call {
	xmlDocPtr doc;
	xmlNodePtr op;
	enum method method;
};

/* ---- XML reading ---- */

static bool is_el(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr first_el(xmlNodePtr parent)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			return c;
	}
	return NULL;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next) {
		if (is_el(c, name))
			return c;
	}
	return NULL;
}

/* Trimmed text content of node @p n (malloc'd); NULL if n is NULL. */
static char *text_of(xmlNodePtr n)
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

static char *child_text(xmlNodePtr parent, const char *name)
{
	return text_of(child(parent, name));
}

/* A parameter of the call (unqualified RPC part), NULL when absent. */
static char *param(struct sim_soap_call *c, const char *name)
{
	return child_text(c->op, name);
}

static bool ns_is(xmlNodePtr n, const char *uri)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, uri) == 0;
}

static bool truthy(const char *s)
{
	return s && (strcmp(s, "1") == 0 || strcmp(s, "-1") == 0 || strcasecmp(s, "true") == 0);
}

/* Parse an XML document from memory; on failure a reason in @p why. */
static xmlDocPtr parse_xml(const char *buf, size_t len, char *why, size_t whysz)
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

struct soap_out {
	xmlDocPtr doc;
	xmlNodePtr resp;
	xmlNsPtr xsi;
	xmlNsPtr enc;
};

static void soap_begin(struct soap_out *s, const char *method)
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
static xmlNodePtr el(xmlNodePtr parent, const char *name, const char *text)
{
	xmlNodePtr n = xmlNewDocRawNode(parent->doc, NULL, BAD_CAST name, text ? BAD_CAST text : NULL);

	return xmlAddChild(parent, n);
}

/* Append <name xsi:type=type>text</name> to @p parent. */
static xmlNodePtr add_typed(struct soap_out *s, xmlNodePtr parent, const char *name,
			    const char *type, const char *text)
{
	xmlNodePtr n = el(parent, name, text ? text : "");

	xmlNewNsProp(n, s->xsi, BAD_CAST "type", BAD_CAST type);
	return n;
}

static void reply_doc(struct sim_reply *r, unsigned status, xmlDocPtr doc)
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
static void soap_finish_string(struct soap_out *s, xmlDocPtr inner, struct sim_reply *r)
{
	xmlBufferPtr b = xmlBufferCreate();

	xmlNodeDump(b, inner, xmlDocGetRootElement(inner), 0, 0);
	add_typed(s, s->resp, "return", "xsd:string", (const char *)xmlBufferContent(b));
	xmlBufferFree(b);
	xmlFreeDoc(inner);
	reply_doc(r, 200, s->doc);
}

static xmlDocPtr inner_doc(const char *root)
{
	xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");

	xmlDocSetRootElement(d, xmlNewNode(NULL, BAD_CAST root));
	return d;
}

static void add_text(xmlNodePtr parent, const char *name, const char *text)
{
	el(parent, name, text ? text : "");
}

static void add_num(xmlNodePtr parent, const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	add_text(parent, name, buf);
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
	add_text(fault, "faultcode", code);
	add_text(fault, "faultstring", msg);
	reply_doc(r, status, doc);
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
	doc = parse_xml(req->body ? req->body : "", req->body_len, why, sizeof(why));
	if (!doc) {
		sim_khaos_fault(r, 500, "Client", "Request: %s", why);
		goto fail_action;
	}
	env = xmlDocGetRootElement(doc);
	if (!is_el(env, "Envelope")) {
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
		if (is_el(n, "Header") && ns_is(n, SOAP_ENV_NS)) {
			for (xmlNodePtr h = first_el(n); h; h = h->next) {
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
		} else if (is_el(n, "Body") && ns_is(n, SOAP_ENV_NS)) {
			body = n;
		}
	}
	n = first_el(body);
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

/* ---- ImportOrders ---- */

struct parsed_order {
	char *associated_ref;
	char *site;
	char *sales_source;
	char *order_date;
	struct sim_so_line *lines;
	size_t nlines;
	char *error;		/* why it cannot be imported, before looking at stock */
	char *code;		/* sales order code once booked */
};

static char *msgf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *msgf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return sim_strdup(buf);
}

static void parse_sales_order(xmlNodePtr so, size_t idx, struct parsed_order *p)
{
	xmlNodePtr hdr = child(so, "ORDER_HEADER"), items = child(so, "ORDER_ITEMS");
	size_t cap = 0, k = 0;

	p->associated_ref = hdr ? child_text(hdr, "ASSOCIATED_REF") : NULL;
	if (!p->associated_ref)
		p->associated_ref = sim_strdup("");
	p->site = hdr ? child_text(hdr, "SITE") : NULL;
	p->sales_source = hdr ? child_text(hdr, "SALES_SOURCE") : NULL;
	p->order_date = hdr ? child_text(hdr, "ORDER_DATE") : NULL;
	if (!hdr) {
		p->error = msgf("SALES_ORDER %zu: ORDER_HEADER missing", idx + 1);
		return;
	}
	if (!child(so, "CUSTOMER_DETAIL")) {
		p->error = msgf("SALES_ORDER %zu: CUSTOMER_DETAIL missing", idx + 1);
		return;
	}
	for (xmlNodePtr it = items ? items->children : NULL; it; it = it->next) {
		char *code, *qty, *map;
		long long q = 0;

		if (!is_el(it, "ORDER_ITEM"))
			continue;
		k++;
		code = child_text(it, "STOCK_CODE");
		qty = child_text(it, "ORDER_QTY");
		map = child_text(it, "MAPPING_TYPE");
		if (!code || !*code)
			p->error = msgf("ORDER_ITEM %zu: STOCK_CODE missing", k);
		else if (map && *map && strcmp(map, "1") != 0)
			p->error = msgf("ORDER_ITEM %zu: MAPPING_TYPE '%s' not supported (1 = stock code)", k, map);
		else if (sim_parse_ll(qty, 1, 1000000, &q))
			p->error = msgf("ORDER_ITEM %zu: ORDER_QTY must be a whole number >= 1", k);
		if (!p->error) {
			sim_grow((void **)&p->lines, &cap, p->nlines + 1, sizeof(*p->lines));
			p->lines[p->nlines].stock_code = code;
			p->lines[p->nlines++].quantity = q;
			code = NULL;
		}
		free(code);
		free(qty);
		free(map);
		if (p->error)
			return;
	}
	if (p->nlines == 0)
		p->error = msgf("SALES_ORDER %zu: no ORDER_ITEMS/ORDER_ITEM", idx + 1);
}

static void parsed_free(struct parsed_order *p)
{
	free(p->associated_ref);
	free(p->site);
	free(p->sales_source);
	free(p->order_date);
	for (size_t i = 0; i < p->nlines; i++)
		free(p->lines[i].stock_code);
	free(p->lines);
	free(p->error);
	free(p->code);
}

static struct sim_stock *find_stock(const char *code)
{
	for (size_t i = 0; i < sim.nstock; i++) {
		if (strcmp(sim.stock[i].code, code) == 0)
			return &sim.stock[i];
	}
	return NULL;
}

/* Book one parsed order; lock held. Like Khaos, a repeated ASSOCIATED_REF books again. */
static void book(struct parsed_order *p, int64_t now_ms)
{
	struct sim_sales_order *so;
	char buf[32];

	for (size_t i = 0; i < p->nlines; i++) {
		if (!find_stock(p->lines[i].stock_code)) {
			p->error = msgf("ORDER_ITEM %zu: unknown stock code '%s'", i + 1, p->lines[i].stock_code);
			return;
		}
	}
	if (*p->associated_ref) {
		for (size_t i = 0; i < sim.nsos; i++) {
			if (strcmp(sim.sos[i].associated_ref, p->associated_ref) == 0) {
				sim.duplicates++;
				break;
			}
		}
	}
	sim_grow((void **)&sim.sos, &sim.sos_cap, sim.nsos + 1, sizeof(*sim.sos));
	so = &sim.sos[sim.nsos++];
	sim.so_seq++;
	*so = (struct sim_sales_order){0};
	snprintf(buf, sizeof(buf), "SO%06lu", sim.so_seq);
	so->code = sim_strdup(buf);
	snprintf(buf, sizeof(buf), "INV%06lu", sim.so_seq);
	so->invoice_code = sim_strdup(buf);
	so->associated_ref = sim_strdup(p->associated_ref);
	so->site = sim_strdup(p->site);
	so->sales_source = sim_strdup(p->sales_source);
	so->order_date = sim_strdup(p->order_date);
	so->stage = NEW_ORDER_STAGE;
	so->booked_ms = now_ms;
	so->lines = sim_xmalloc(sizeof(*so->lines) * p->nlines);
	so->nlines = p->nlines;
	for (size_t i = 0; i < p->nlines; i++) {
		so->lines[i].stock_code = sim_strdup(p->lines[i].stock_code);
		so->lines[i].quantity = p->lines[i].quantity;
	}
	p->code = sim_strdup(so->code);
}

static void import_orders(struct sim_soap_call *c, struct sim_reply *r)
{
	char *orders = param(c, "Orders"), why[512], arr[64];
	struct parsed_order *po = NULL;
	size_t n = 0, cap = 0;
	xmlDocPtr doc;
	xmlNodePtr root, ret;
	struct soap_out s;
	int64_t now_ms = sim_now_ms();

	if (!orders) {
		sim_khaos_fault(r, 500, "Client", "ImportOrders: parameter 'Orders' missing");
		return;
	}
	doc = parse_xml(orders, strlen(orders), why, sizeof(why));
	if (!doc) {
		sim_khaos_fault(r, 500, "Client", "ImportOrders: Orders: %s", why);
		goto out_orders;
	}
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, "SALES_ORDERS")) {
		sim_khaos_fault(r, 500, "Client", "ImportOrders: Orders: root element must be SALES_ORDERS");
		goto out_doc;
	}
	for (xmlNodePtr so = root->children; so; so = so->next) {
		if (!is_el(so, "SALES_ORDER"))
			continue;
		sim_grow((void **)&po, &cap, n + 1, sizeof(*po));
		po[n] = (struct parsed_order){0};
		parse_sales_order(so, n, &po[n]);
		n++;
	}
	pthread_mutex_lock(&sim.lock);
	for (size_t i = 0; i < n; i++) {
		if (!po[i].error)
			book(&po[i], now_ms);
	}
	pthread_mutex_unlock(&sim.lock);

	soap_begin(&s, "ImportOrders");
	xmlNewNs(s.resp, BAD_CAST TYPES_NS, BAD_CAST "NS2");
	ret = el(s.resp, "return", NULL);
	xmlNewNsProp(ret, s.xsi, BAD_CAST "type", BAD_CAST "SOAP-ENC:Array");
	snprintf(arr, sizeof(arr), "NS2:TOrderImportResult[%zu]", n);
	xmlNewNsProp(ret, s.enc, BAD_CAST "arrayType", BAD_CAST arr);
	for (size_t i = 0; i < n; i++) {
		xmlNodePtr item = el(ret, "item", NULL);

		xmlNewNsProp(item, s.xsi, BAD_CAST "type", BAD_CAST "NS2:TOrderImportResult");
		add_typed(&s, item, "AssociatedRef", "xsd:string", po[i].associated_ref);
		add_typed(&s, item, "SalesOrderCode", "xsd:string", po[i].code);
		add_typed(&s, item, "Imported", "xsd:boolean", po[i].error ? "false" : "true");
		add_typed(&s, item, "ErrorMessage", "xsd:string", po[i].error);
	}
	reply_doc(r, 200, s.doc);
	for (size_t i = 0; i < n; i++)
		parsed_free(&po[i]);
	free(po);
out_doc:
	xmlFreeDoc(doc);
out_orders:
	free(orders);
}

/* ---- ExportOrderStatusEx ---- */

static const char *stage_name(int id)
{
	switch (id) {
	case 1: return "Cancelled";
	case 9: return "Released";
	case 10: return "Staging";
	case 11: return "Authorise payment";
	case 12: return "Picking";
	case 13: return "Packing";
	case 14: return "Shipping";
	case 15: return "Invoice print";
	case 16: return "Issue invoices";
	case 17: return "Future date";
	case 18: return "Future stock";
	case 19: return "Manual hold";
	case 20: return "Processing";
	case 21: return "Account terms";
	default: return id >= 70 && id <= 73 ? "Issued" : "Unknown";
	}
}

/* Parse an optional date parameter; false (fault set) when invalid. */
static bool date_param(struct sim_soap_call *c, const char *name, int64_t *ms, bool *set,
		       struct sim_reply *r)
{
	char *v = param(c, name);
	bool ok = true;

	*set = false;
	if (v && *v) {
		ok = sim_parse_time(v, ms) == 0;
		*set = ok;
		if (!ok)
			sim_khaos_fault(r, 500, "Client", "%s: '%s' is not a date-time (YYYY-MM-DDTHH:MM:SS)",
				name, v);
	}
	free(v);
	return ok;
}

/* MappingType must be present and equal @p want. */
static bool mapping_param(struct sim_soap_call *c, const char *want, struct sim_reply *r)
{
	char *v = param(c, "MappingType");
	bool ok = v && strcmp(v, want) == 0;

	if (!ok)
		sim_khaos_fault(r, 500, "Client", "%s: MappingType must be %s (got '%s')",
			method_names[c->method], want, v ? v : "(missing)");
	free(v);
	return ok;
}

static void export_order_status(struct sim_soap_call *c, struct sim_reply *r)
{
	char *ids_s = NULL, *stages_s = NULL, *inc_cancel = NULL;
	char **ids = NULL, **stages = NULL;
	size_t nids = 0, nstages = 0;
	long long *stage_ids = NULL;
	int64_t from = 0, to = 0;
	bool from_set, to_set;
	xmlDocPtr inner;
	xmlNodePtr root;
	struct soap_out s;

	if (!mapping_param(c, "4", r) || !date_param(c, "DateFrom", &from, &from_set, r) ||
	    !date_param(c, "DateTo", &to, &to_set, r))
		return;
	ids_s = param(c, "IDs");
	stages_s = param(c, "InvoiceStageIDs");
	inc_cancel = param(c, "IncludeCancelled");
	ids = sim_split_csv(ids_s, &nids);
	stages = sim_split_csv(stages_s, &nstages);
	stage_ids = sim_xmalloc(sizeof(*stage_ids) * (nstages + 1));
	for (size_t i = 0; i < nstages; i++) {
		if (sim_parse_ll(stages[i], 0, 1000, &stage_ids[i])) {
			sim_khaos_fault(r, 500, "Client", "InvoiceStageIDs: '%s' is not a stage id", stages[i]);
			goto out;
		}
	}
	inner = inner_doc("ORDER_STATUSES");
	root = xmlDocGetRootElement(inner);
	pthread_mutex_lock(&sim.lock);
	for (size_t i = 0; i < sim.nsos; i++) {
		struct sim_sales_order *so = &sim.sos[i];
		xmlNodePtr o, invs, inv;
		bool hit = nids == 0;

		for (size_t k = 0; k < nids && !hit; k++)
			hit = strcmp(ids[k], so->associated_ref) == 0;
		if (!hit || (from_set && so->booked_ms < from) || (to_set && so->booked_ms > to))
			continue;
		if (so->stage == 1 && !truthy(inc_cancel))
			continue;
		hit = nstages == 0;
		for (size_t k = 0; k < nstages && !hit; k++)
			hit = stage_ids[k] == so->stage;
		if (!hit)
			continue;
		o = el(root, "ORDER", NULL);
		add_text(o, "ASSOCIATED_REF", so->associated_ref);
		add_text(o, "SALES_ORDER_CODE", so->code);
		invs = el(o, "INVOICES", NULL);
		inv = el(invs, "INVOICE", NULL);
		add_text(inv, "INVOICE_CODE", so->invoice_code);
		add_num(inv, "INVOICE_STAGE_ID", so->stage);
		add_text(inv, "INVOICE_STAGE", stage_name(so->stage));
	}
	pthread_mutex_unlock(&sim.lock);
	soap_begin(&s, method_names[c->method]);
	soap_finish_string(&s, inner, r);
out:
	free(stage_ids);
	sim_strv_free(ids, nids);
	sim_strv_free(stages, nstages);
	free(ids_s);
	free(stages_s);
	free(inc_cancel);
}

/* ---- stock ---- */

static int cmp_stock(const void *a, const void *b)
{
	return strcmp((*(struct sim_stock *const *)a)->code, (*(struct sim_stock *const *)b)->code);
}

/* Stock items (sorted by code) filtered by codes and changed-since; lock held. */
static struct sim_stock **select_stock(char **codes, size_t ncodes, bool since_set, int64_t since,
				       size_t *count)
{
	struct sim_stock **v = sim_xmalloc(sizeof(*v) * (sim.nstock + 1));
	size_t n = 0;

	for (size_t i = 0; i < sim.nstock; i++) {
		bool hit = ncodes == 0;

		for (size_t k = 0; k < ncodes && !hit; k++)
			hit = strcmp(codes[k], sim.stock[i].code) == 0;
		if (hit && (!since_set || sim.stock[i].changed_ms >= since))
			v[n++] = &sim.stock[i];
	}
	qsort(v, n, sizeof(*v), cmp_stock);
	*count = n;
	return v;
}

static void stock_common(struct sim_soap_call *c, struct sim_reply *r, bool full)
{
	char *codes_s = full ? param(c, "StockCodes") : NULL, ts[32];
	char **codes = NULL;
	size_t ncodes = 0, n;
	int64_t since = 0;
	bool since_set;
	struct sim_stock **sel;
	xmlDocPtr inner;
	xmlNodePtr root;
	struct soap_out s;

	if (full && !mapping_param(c, "1", r))
		goto out;
	if (!date_param(c, full ? "LastUpdated" : "DateValue", &since, &since_set, r))
		goto out;
	codes = sim_split_csv(codes_s, &ncodes);
	inner = inner_doc(full ? "STOCK_STATUS" : "STOCK_LIST");
	root = xmlDocGetRootElement(inner);
	pthread_mutex_lock(&sim.lock);
	sel = select_stock(codes, ncodes, since_set, since, &n);
	for (size_t i = 0; i < n; i++) {
		xmlNodePtr it = el(root, "STOCK_ITEM", NULL);

		xmlNewProp(it, BAD_CAST "CODE", BAD_CAST sel[i]->code);
		add_num(it, "STOCK_ID", (long long)sel[i]->stock_id);
		if (full) {
			add_num(it, "LEVEL", sel[i]->available);
			add_num(it, "BUILD_POTENTIAL_CHILDREN", 0);
			add_text(it, "STATUS", sel[i]->discontinued ? "Discontinued" : "Active");
			add_num(it, "LEAD_TIME", 0);
		}
		sim_fmt_khaos(sel[i]->changed_ms, ts);
		add_text(it, "LAST_UPDATED", ts);
	}
	pthread_mutex_unlock(&sim.lock);
	free(sel);
	soap_begin(&s, method_names[c->method]);
	soap_finish_string(&s, inner, r);
out:
	sim_strv_free(codes, ncodes);
	free(codes_s);
}

const char *sim_khaos_method(const struct sim_soap_call *c)
{
	return c->method < M_COUNT ? method_names[c->method] : "Unknown";
}

void sim_khaos_handle(struct sim_soap_call *c, struct sim_reply *r)
{
	switch (c->method) {
	case M_IMPORT_ORDERS:
		import_orders(c, r);
		break;
	case M_EXPORT_ORDER_STATUS_EX:
		export_order_status(c, r);
		break;
	case M_EXPORT_STOCK_STATUS:
		stock_common(c, r, true);
		break;
	case M_GET_STOCK_LIST:
		stock_common(c, r, false);
		break;
	case M_COUNT:
		break;
	}
}

/* ---- control API ---- */

void sim_khaos_ctl_stock(json_t *body, struct sim_reply *r)
{
	json_t *items = json_object_get(body, "items"), *it;
	size_t i;
	int64_t now_ms = sim_now_ms();

	if (!json_is_array(items)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "items: required array");
		return;
	}
	json_array_foreach(items, i, it) {
		const char *code = json_string_value(json_object_get(it, "code"));
		json_t *av = json_object_get(it, "available"), *dis = json_object_get(it, "discontinued");

		if (!code || !*code || strlen(code) > 255) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "items[%zu].code: required string", i);
			return;
		}
		if ((av && !json_is_integer(av)) || (dis && !json_is_boolean(dis))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"items[%zu]: available must be an integer, discontinued a boolean", i);
			return;
		}
	}
	pthread_mutex_lock(&sim.lock);
	json_array_foreach(items, i, it) {
		const char *code = json_string_value(json_object_get(it, "code"));
		json_t *av = json_object_get(it, "available"), *dis = json_object_get(it, "discontinued");
		struct sim_stock *s = find_stock(code);

		if (!s) {
			sim_grow((void **)&sim.stock, &sim.stock_cap, sim.nstock + 1, sizeof(*sim.stock));
			s = &sim.stock[sim.nstock++];
			*s = (struct sim_stock){.code = sim_strdup(code), .stock_id = ++sim.stock_seq};
		}
		if (av)
			s->available = json_integer_value(av);
		if (dis)
			s->discontinued = json_is_true(dis);
		s->changed_ms = now_ms;
	}
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:I}", "updated", (json_int_t)json_array_size(items)));
}

json_t *sim_khaos_state(void)
{
	json_t *sos = json_array(), *stock = json_array();

	for (size_t i = 0; i < sim.nsos; i++) {
		struct sim_sales_order *so = &sim.sos[i];
		json_t *lines = json_array();

		for (size_t k = 0; k < so->nlines; k++) {
			json_array_append_new(lines, json_pack("{s:s, s:I}", "stock_code",
				so->lines[k].stock_code, "quantity", (json_int_t)so->lines[k].quantity));
		}
		json_array_append_new(sos, json_pack("{s:s, s:s, s:s, s:s, s:o}",
			"associated_ref", so->associated_ref, "sales_order_code", so->code,
			"site", so->site, "sales_source", so->sales_source, "lines", lines));
	}
	for (size_t i = 0; i < sim.nstock; i++) {
		json_array_append_new(stock, json_pack("{s:s, s:I, s:b}", "code", sim.stock[i].code,
			"available", (json_int_t)sim.stock[i].available,
			"discontinued", sim.stock[i].discontinued));
	}
	return json_pack("{s:o, s:I, s:o}", "sales_orders", sos,
		"duplicate_orders", (json_int_t)sim.duplicates, "stock", stock);
}

void sim_khaos_reset(void)
{
	for (size_t i = 0; i < sim.nsos; i++) {
		struct sim_sales_order *so = &sim.sos[i];

		free(so->associated_ref);
		free(so->code);
		free(so->invoice_code);
		free(so->site);
		free(so->sales_source);
		free(so->order_date);
		for (size_t k = 0; k < so->nlines; k++)
			free(so->lines[k].stock_code);
		free(so->lines);
	}
	free(sim.sos);
	sim.sos = NULL;
	sim.nsos = sim.sos_cap = 0;
	sim.so_seq = 0;
	sim.duplicates = 0;
	for (size_t i = 0; i < sim.nstock; i++)
		free(sim.stock[i].code);
	free(sim.stock);
	sim.stock = NULL;
	sim.nstock = sim.stock_cap = 0;
	sim.stock_seq = 0;
}
