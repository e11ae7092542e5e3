/*
 * khaos_soap.c: the SOAP 1.1 transport of the Khaos client
 * (kcgate/peers/khaos_soap.h; the wire is docs/khaos-soap.md).
 *
 * Everything is built with libxml2's tree API: a parameter value becomes a
 * text node and libxml2 escapes it on output, so an XML document carried
 * in a string parameter (ImportOrders' Orders) travels escaped once more.
 * Answers are read with kcg_xml_read() (no network, no DTD, no entities).
 */
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/common.h"
#include "kcgate/peers/xml.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#define SOAP_ENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP_ENC_NS "http://schemas.xmlsoap.org/soap/encoding/"
#define XSD_NS "http://www.w3.org/2001/XMLSchema"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define WSDL_NS "http://schemas.xmlsoap.org/wsdl/"
#define WSDL_SOAP_NS "http://schemas.xmlsoap.org/wsdl/soap/"
#define AUTO_NS "auto"

/* The namespace learnt from the WSDL (soap_namespace = auto); "" until then. */
static pthread_mutex_t ns_lock = PTHREAD_MUTEX_INITIALIZER;
static char learnt_ns[KCG_KHAOS_NS_MAX];

void kcg_khaos_soap_learn(const char *ns)
{
	pthread_mutex_lock(&ns_lock);
	snprintf(learnt_ns, sizeof(learnt_ns), "%s", ns && strlen(ns) < sizeof(learnt_ns) ? ns : "");
	pthread_mutex_unlock(&ns_lock);
}

/* The namespace calls are made in: the configured one, the learnt one
 * (auto), or the fallback when none is configured. -EAGAIN while auto has
 * learnt nothing yet. */
static int service_ns(const struct kcg_khaos_config *cfg, char out[KCG_KHAOS_NS_MAX])
{
	const char *ns = cfg->soap_namespace;
	if (!ns || !*ns)
		ns = KCG_KHAOS_FALLBACK_NS;
	if (strcmp(ns, AUTO_NS) != 0) {
		snprintf(out, KCG_KHAOS_NS_MAX, "%s", ns);
		return strlen(ns) < KCG_KHAOS_NS_MAX ? 0 : -EINVAL;
	}
	pthread_mutex_lock(&ns_lock);
	memcpy(out, learnt_ns, sizeof(learnt_ns));
	pthread_mutex_unlock(&ns_lock);
	return *out ? 0 : -EAGAIN;
}

bool kcg_khaos_soap_ready(const struct kcg_khaos_config *cfg)
{
	char ns[KCG_KHAOS_NS_MAX];
	return service_ns(cfg, ns) == 0;
}

/* ---- requests ---- */

/* A SOAP request under construction. */
struct soap {
	struct kcg_xml_build b;
	xmlNodePtr op;
	xmlNsPtr xsi;
	char ns[KCG_KHAOS_NS_MAX];
};

/* The envelope down to the operation element. The caller frees s->b.doc
 * whatever happens. */
static int soap_begin(struct soap *s, const struct kcg_khaos_config *cfg, const char *method)
{
	*s = (struct soap){ 0 };
	int rc = service_ns(cfg, s->ns);
	if (rc != 0)
		return rc;
	s->b.doc = xmlNewDoc(BAD_CAST "1.0");
	if (!s->b.doc)
		return -ENOMEM;
	xmlNodePtr env = xmlNewDocNode(s->b.doc, NULL, BAD_CAST "Envelope", NULL);
	if (!env)
		return -ENOMEM;
	xmlDocSetRootElement(s->b.doc, env);
	xmlNsPtr soap = xmlNewNs(env, BAD_CAST SOAP_ENV_NS, BAD_CAST "soap");
	xmlNsPtr xsd = xmlNewNs(env, BAD_CAST XSD_NS, BAD_CAST "xsd");
	s->xsi = xmlNewNs(env, BAD_CAST XSI_NS, BAD_CAST "xsi");
	if (!soap || !xsd || !s->xsi)
		return -ENOMEM;
	xmlSetNs(env, soap);
	xmlNodePtr body = xmlNewDocNode(s->b.doc, soap, BAD_CAST "Body", NULL);
	if (!body)
		return -ENOMEM;
	xmlAddChild(env, body);
	if (!xmlNewNsProp(body, soap, BAD_CAST "encodingStyle", BAD_CAST SOAP_ENC_NS))
		return -ENOMEM;
	s->op = xmlNewDocNode(s->b.doc, NULL, BAD_CAST method, NULL);
	if (!s->op)
		return -ENOMEM;
	xmlAddChild(body, s->op);
	xmlNsPtr ns1 = xmlNewNs(s->op, BAD_CAST s->ns, BAD_CAST "ns1");
	if (!ns1)
		return -ENOMEM;
	xmlSetNs(s->op, ns1);
	return 0;
}

/* An unqualified RPC part <name xsi:type="xsd:string">value</name>. */
static void soap_param(struct soap *s, const char *name, const char *value)
{
	xmlNodePtr p = kcg_xml_add(&s->b, s->op, name, value);
	if (p && !xmlNewNsProp(p, s->xsi, BAD_CAST "type", BAD_CAST "xsd:string"))
		s->b.oom = true;
}

/* HTTP Basic credentials, when configured; the call is then secret. */
static int add_credentials(const struct kcg_khaos_config *cfg, struct kcg_call *out)
{
	/* each loaded once: a reload may swap them (config.h) */
	const char *user = cfg->soap_user, *pw = cfg->soap_password;
	if (!user || !*user)
		return 0;
	char *plain = NULL, *b64 = NULL;
	int rc = -ENOMEM;
	int n = asprintf(&plain, "%s:%s", user, pw ? pw : "");
	if (n < 0)
		return -ENOMEM;
	b64 = malloc(4 * (((size_t)n + 2) / 3) + 1);
	if (b64) {
		kcg_base64_encode((const unsigned char *)plain, (size_t)n, b64);
		out->secret_headers = true;
		rc = kcg_call_header(out, "Authorization: Basic %s", b64) ? -ENOMEM : 0;
		explicit_bzero(b64, strlen(b64));
	}
	explicit_bzero(plain, (size_t)n);
	free(plain);
	free(b64);
	return rc;
}

/* Serialises the envelope into @p out with the transport headers. Frees
 * the document whatever happens. */
static int soap_finish(struct soap *s, const struct kcg_khaos_config *cfg, const char *method, struct kcg_call *out)
{
	xmlChar *xml = NULL;
	int len = 0;
	int rc = -ENOMEM;

	*out = (struct kcg_call){ .what = method, .method = "POST", .timeout_s = (unsigned)cfg->timeout_s };
	if (s->b.oom)
		goto done;
	xmlDocDumpMemoryEnc(s->b.doc, &xml, &len, "UTF-8");
	if (!xml || len <= 0)
		goto done;
	out->body = strndup((const char *)xml, (size_t)len);
	out->body_len = (size_t)len;
	out->url = strdup(cfg->soap_url ? cfg->soap_url : "");
	if (!out->body || !out->url)
		goto fail_call;
	if (kcg_call_header(out, "Content-Type: text/xml; charset=utf-8") ||
	    kcg_call_header(out, "SOAPAction: \"%s#%s\"", s->ns, method) ||
	    kcg_call_header(out, "Accept: text/xml"))
		goto fail_call;
	if (add_credentials(cfg, out) != 0)
		goto fail_call;
	rc = 0;
	goto done;
fail_call:
	kcg_call_finish(out);
done:
	xmlFree(xml);
	xmlFreeDoc(s->b.doc);
	s->b.doc = NULL;
	return rc;
}

static int soap_request(const struct kcg_khaos_config *cfg, const char *method, const struct kcg_khaos_param *params,
			size_t n_params, struct kcg_call *out)
{
	struct soap s;

	*out = (struct kcg_call){ 0 };
	kcg_xml_init();
	int rc = soap_begin(&s, cfg, method);
	if (rc != 0) {
		xmlFreeDoc(s.b.doc);
		return rc;
	}
	for (size_t i = 0; i < n_params; i++)
		soap_param(&s, params[i].name, params[i].value);
	return soap_finish(&s, cfg, method, out);
}

/* ---- answers ---- */

static bool in_ns(xmlNodePtr n, const char *uri)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, uri) == 0;
}

/*
 * SOAP-encoding references (href="#id") may point to any element under
 * Body. The elements with an id are indexed once per answer (a sorted
 * array), so following n references costs n log n, not n walks of the
 * body (32,000 items took 9 s that way).
 */
struct id_entry {
	const char *id;   /* the attribute's text node content, owned by the document */
	xmlChar *owned;   /* set when the value had to be assembled (entity refs, several nodes) */
	xmlNodePtr node;
	size_t order;     /* document order: the first element with an id wins, as before */
};

struct id_index {
	size_t n;
	struct id_entry e[];
};

static int entry_cmp(const void *a, const void *b)
{
	const struct id_entry *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void index_free(struct id_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n; i++)
		xmlFree(ix->e[i].owned);
	free(ix);
}

/* The no-namespace "id" attribute of @p n, or NULL. */
static xmlAttrPtr id_attr(xmlNodePtr n)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		if (!a->ns && strcmp((const char *)a->name, "id") == 0)
			return a;
	return NULL;
}

/* Every element with an id under @p body, in one walk. NULL with *oom
 * when out of memory; NULL without it when there is none. */
static struct id_index *index_build(xmlNodePtr body, bool *oom)
{
	size_t cap = 0, n = 0;
	struct id_index *ix = NULL;
	*oom = false;
	xmlNodePtr c = kcg_xml_first(body);
	while (c) {
		xmlAttrPtr a = id_attr(c);
		if (a) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct id_index *bigger = realloc(ix, sizeof(*ix) + ncap * sizeof(ix->e[0]));
				if (!bigger)
					goto fail;
				ix = bigger;
				ix->n = n;
				cap = ncap;
			}
			struct id_entry *e = &ix->e[n];
			*e = (struct id_entry){ .node = c, .order = n };
			xmlNodePtr t = a->children;
			if (t && t->type == XML_TEXT_NODE && !t->next && t->content) {
				e->id = (const char *)t->content;
			} else {
				e->owned = xmlNodeListGetString(c->doc, a->children, 1);
				if (!e->owned)
					e->owned = xmlStrdup(BAD_CAST "");
				if (!e->owned)
					goto fail;
				e->id = (const char *)e->owned;
			}
			ix->n = ++n;
		}
		xmlNodePtr down = kcg_xml_first(c);
		if (down) {
			c = down;
			continue;
		}
		while (c && c != body && !kcg_xml_next(c))
			c = c->parent;
		c = c && c != body ? kcg_xml_next(c) : NULL;
	}
	if (ix)
		qsort(ix->e, ix->n, sizeof(ix->e[0]), entry_cmp);
	return ix;
fail:
	*oom = true;
	index_free(ix);
	return NULL;
}

/* Follows a SOAP-encoding reference (href="#id") to the first element
 * with that id anywhere under Body; @p n itself when it has no href. NULL
 * when the reference points nowhere. */
static xmlNodePtr soap_follow(const struct kcg_khaos_answer *a, xmlNodePtr n)
{
	xmlChar *href = xmlGetNoNsProp(n, BAD_CAST "href");
	if (!href)
		return n;
	xmlNodePtr hit = NULL;
	const struct id_index *ix = a->index;
	if (href[0] == '#' && ix) {
		/* the leftmost entry with that id: the first in document order */
		const char *want = (const char *)href + 1;
		size_t lo = 0, hi = ix->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (strcmp(ix->e[mid].id, want) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < ix->n && strcmp(ix->e[lo].id, want) == 0)
			hit = ix->e[lo].node;
	}
	xmlFree(href);
	return hit;
}

static void soap_close(struct kcg_khaos_answer *a)
{
	index_free(a->index);
	xmlFreeDoc(a->doc);
	*a = (struct kcg_khaos_answer){ 0 };
}

/* The outcome of a Fault element, with why filled. */
static int read_fault(const struct kcg_reply *r, const char *method, xmlNodePtr fault, char why[KCG_ERROR_MAX])
{
	char *code = kcg_xml_text(kcg_xml_child(fault, "faultcode"));
	char *msg = kcg_xml_text(kcg_xml_child(fault, "faultstring"));
	int rc = -ENOMEM;
	if (code && msg) {
		const char *local = strrchr(code, ':') ? strrchr(code, ':') + 1 : code;
		if (strncmp(local, "Server", 6) == 0 && (local[6] == '\0' || local[6] == '.'))
			rc = -EAGAIN;
		else if ((strncmp(local, "Client", 6) == 0 && (local[6] == '\0' || local[6] == '.')) ||
			 strcmp(local, "VersionMismatch") == 0 || strcmp(local, "MustUnderstand") == 0)
			rc = KCG_EPAYLOAD;
		else
			rc = kcg_reply_transient(r) ? -EAGAIN : KCG_EPAYLOAD;
		kcg_why(why, "%s: HTTP %ld, fault %s: %s", method, r->status, *local ? local : "(none)", msg);
	} else {
		kcg_why(why, "%s: out of memory", method);
	}
	free(code);
	free(msg);
	return rc;
}

static int soap_open(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *method,
		     struct kcg_khaos_answer *a, char why[KCG_ERROR_MAX])
{
	char ex[KCG_ERROR_MAX];
	int rc = KCG_EPAYLOAD;

	*a = (struct kcg_khaos_answer){ 0 };
	why[0] = '\0';
	if (r->transport_error != 0 || r->status == 0) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", method, ex);
		return -EAGAIN;
	}
	char unread[KCG_ERROR_MAX] = "";
	/* ExportStockStatus's string result is the whole catalogue on a first
	 * run: its size is bounded by the call ([stock] max_answer_mb), so
	 * its one text node may pass libxml2's 10 MB. */
	if (strcmp(method, "ExportStockStatus") == 0)
		kcg_xml_parse_big_text(r->body, r->len, &a->doc, unread);
	else
		kcg_xml_parse(r->body, r->len, &a->doc, unread);
	xmlNodePtr env = a->doc ? xmlDocGetRootElement(a->doc) : NULL;
	if (env && kcg_xml_named(env, "Envelope") && in_ns(env, SOAP_ENV_NS)) {
		for (xmlNodePtr c = kcg_xml_first(env); c; c = kcg_xml_next(c))
			if (kcg_xml_named(c, "Body") && in_ns(c, SOAP_ENV_NS))
				a->scope = c;
	}
	xmlNodePtr first = kcg_xml_first(a->scope);
	if (first && kcg_xml_named(first, "Fault") && in_ns(first, SOAP_ENV_NS)) {
		rc = read_fault(r, method, first, why);
		goto fail;
	}
	if (kcg_reply_transient(r)) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", method, ex);
		rc = -EAGAIN;
		goto fail;
	}
	if (r->status < 200 || r->status > 299) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", method, ex);
		goto fail;
	}
	if (!a->scope && !a->doc) {
		kcg_why(why, "%s: HTTP %ld without a SOAP 1.1 envelope (the answer is refused: %s)", method, r->status, unread);
		goto fail;
	}
	if (!a->scope) {
		kcg_why(why, "%s: HTTP %ld without a SOAP 1.1 envelope", method, r->status);
		goto fail;
	}
	bool oom;
	a->index = index_build(a->scope, &oom);
	if (oom) {
		kcg_why(why, "%s: out of memory", method);
		rc = -ENOMEM;
		goto fail;
	}
	char want[64];
	snprintf(want, sizeof(want), "%sResponse", method);
	xmlNodePtr resp = kcg_xml_child(a->scope, want);
	if (!resp) {
		kcg_why(why, "%s: the answer has no %s element", method, want);
		goto fail;
	}
	/* Delphi names a function result "return"; take the only part else. */
	xmlNodePtr ret = kcg_xml_child(resp, "return");
	if (!ret)
		ret = kcg_xml_first(resp);
	a->result = ret ? soap_follow(a, ret) : NULL;
	if (!a->result) {
		kcg_why(why, "%s: the answer has no result", method);
		goto fail;
	}
	return 0;
fail:
	soap_close(a);
	return rc;
}

/* ---- the WSDL ---- */

int kcg_khaos_wsdl(const struct kcg_khaos_config *cfg, struct kcg_call *out)
{
	*out = (struct kcg_call){ .what = "WSDL", .method = "GET", .timeout_s = (unsigned)cfg->timeout_s };
	const char *url = cfg->soap_url ? cfg->soap_url : "";
	const char *soap = NULL;
	for (const char *p = strstr(url, "/soap/"); p; p = strstr(p + 1, "/soap/"))
		soap = p; /* the last one: the path's, not a host's */
	size_t n = strlen(url);
	int made;
	if (soap)
		made = asprintf(&out->url, "%.*s/wsdl/%s", (int)(soap - url), url, soap + 6);
	else if (n > 4 && strcasecmp(url + n - 4, ".exe") == 0)
		made = asprintf(&out->url, "%s/wsdl/IKosWeb", url); /* the documented ".../KhaosKSD.exe" form */
	else
		return -EINVAL;
	if (made < 0) {
		out->url = NULL;
		return -ENOMEM;
	}
	if (kcg_call_header(out, "Accept: text/xml") || add_credentials(cfg, out) != 0) {
		kcg_call_finish(out);
		return -ENOMEM;
	}
	return 0;
}

/* The namespace attribute of the first soap:body under a WSDL binding. */
static char *binding_ns(xmlNodePtr defs)
{
	for (xmlNodePtr b = kcg_xml_first(defs); b; b = kcg_xml_next(b)) {
		if (!kcg_xml_named(b, "binding") || !in_ns(b, WSDL_NS))
			continue;
		for (xmlNodePtr op = kcg_xml_first(b); op; op = kcg_xml_next(op))
			for (xmlNodePtr io = kcg_xml_first(op); io; io = kcg_xml_next(io))
				for (xmlNodePtr body = kcg_xml_first(io); body; body = kcg_xml_next(body))
					if (kcg_xml_named(body, "body") && in_ns(body, WSDL_SOAP_NS)) {
						xmlChar *ns = xmlGetNoNsProp(body, BAD_CAST "namespace");
						if (ns) {
							char *out = kcg_xml_trim((const char *)ns);
							xmlFree(ns);
							return out;
						}
					}
	}
	return NULL;
}

int kcg_khaos_wsdl_parse(const struct kcg_reply *r, char ns[KCG_KHAOS_NS_MAX], char why[KCG_ERROR_MAX])
{
	char ex[KCG_ERROR_MAX], unread[KCG_ERROR_MAX] = "";
	xmlDocPtr doc = NULL;
	ns[0] = '\0';
	why[0] = '\0';
	if (r->transport_error != 0 || r->status == 0 || kcg_reply_transient(r)) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "WSDL: %s", ex);
		return -EAGAIN;
	}
	if (r->status < 200 || r->status > 299) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "WSDL: %s", ex);
		return KCG_EPAYLOAD;
	}
	if (kcg_xml_parse(r->body, r->len, &doc, unread) != 0) {
		kcg_why(why, "WSDL: not an XML document kcgate reads: %s", unread);
		return KCG_EPAYLOAD;
	}
	int rc = KCG_EPAYLOAD;
	xmlNodePtr defs = xmlDocGetRootElement(doc);
	if (!kcg_xml_named(defs, "definitions") || !in_ns(defs, WSDL_NS)) {
		kcg_why(why, "WSDL: the root element is not wsdl:definitions");
		goto done;
	}
	/* rpc/encoded calls are made in the binding's soap:body namespace;
	 * the document's targetNamespace when the binding names none. */
	char *found = binding_ns(defs);
	if (!found || !*found) {
		free(found);
		xmlChar *tns = xmlGetNoNsProp(defs, BAD_CAST "targetNamespace");
		found = tns ? kcg_xml_trim((const char *)tns) : NULL;
		xmlFree(tns);
	}
	if (!found || !*found) {
		kcg_why(why, "WSDL: neither a soap:body namespace nor a targetNamespace");
	} else if (strlen(found) >= KCG_KHAOS_NS_MAX || strpbrk(found, " \t\r\n\"'<>&") || !strchr(found, ':')) {
		kcg_why(why, "WSDL: the namespace is not a URI kcgate can use");
	} else {
		memcpy(ns, found, strlen(found) + 1);
		rc = 0;
	}
	free(found);
done:
	xmlFreeDoc(doc);
	return rc;
}

const struct kcg_khaos_transport kcg_khaos_soap = {
	.name = "soap",
	.request = soap_request,
	.open = soap_open,
	.follow = soap_follow,
	.close = soap_close,
};
