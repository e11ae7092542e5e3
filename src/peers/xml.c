/*
 * xml.c: the libxml2 idioms the peer clients share (kcgate/peers/xml.h):
 * building with one oom flag, reading untrusted XML by local name, the
 * pre-scan that bounds what one answer may cost before libxml2 sees it,
 * and the structured error handler that keeps libxml2 off stderr.
 */
#include "kcgate/peers/xml.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "kcgate/common.h"
#include "kcgate/net.h"

/* No XML_PARSE_HUGE: libxml2's own limits (text nodes of 10 MB, depth 256,
 * names of 50 kB) stay on. */
#define READ_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* ---- libxml2's errors: kept, never printed ---- */

/* The first error of the parse running on this thread, for the caller's
 * why; libxml2 reports through the handler below instead of stderr. */
static _Thread_local char last_error[120];
static _Thread_local bool thread_ready;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void on_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	if (!e || e->level < XML_ERR_ERROR || last_error[0])
		return;
	char msg[100];
	const char *text = e->message ? e->message : "error";
	kcg_printable(msg, sizeof(msg), text, strlen(text), KCG_PRINT_SQUEEZE | KCG_PRINT_ELLIPSIS);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == ' ')
		msg[--n] = '\0';
	snprintf(last_error, sizeof(last_error), "line %d: %s", e->line, msg);
}

/* The generic channel too (the fallback of code paths without a
 * structured one): silent. */
static void on_generic(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

static void init_process(void)
{
	xmlInitParser();
	/* the defaults of threads whose libxml2 state does not exist yet */
	xmlThrDefSetStructuredErrorFunc(NULL, on_error);
	xmlThrDefSetGenericErrorFunc(NULL, on_generic);
}

void kcg_xml_init(void)
{
	pthread_once(&init_once, init_process);
	if (!thread_ready) {
		/* libxml2's error handlers are per thread: this one's, which may
		 * have been made before the defaults above were set */
		xmlSetStructuredErrorFunc(NULL, on_error);
		xmlSetGenericErrorFunc(NULL, on_generic);
		thread_ready = true;
	}
}

/* ---- the pre-scan ---- */

static const char *find2(const char *p, const char *end, const char *pat)
{
	size_t n = strlen(pat);
	for (; p && (size_t)(end - p) >= n; p++) {
		p = memchr(p, pat[0], (size_t)(end - p));
		if (!p || (size_t)(end - p) < n)
			return NULL;
		if (memcmp(p, pat, n) == 0)
			return p;
	}
	return NULL;
}

static int scan(const char *buf, size_t len, size_t max_elements, char why[KCG_ERROR_MAX])
{
	const char *p = buf, *end = buf + len;
	size_t elements = 0, depth = 0, in_scope = 0;
	unsigned char declared[KCG_XML_DEPTH_MAX]; /* namespace declarations of each open element */
	while (p < end) {
		p = memchr(p, '<', (size_t)(end - p));
		if (!p)
			break;
		const char *q = p + 1;
		if (q < end && (*q == '?' || *q == '!')) {
			const char *close;
			if (end - q >= 3 && memcmp(q, "!--", 3) == 0)
				close = find2(q + 3, end, "-->");
			else if (end - q >= 8 && memcmp(q, "![CDATA[", 8) == 0)
				close = find2(q + 8, end, "]]>");
			else if (*q == '?')
				close = find2(q + 1, end, "?>");
			else {
				kcg_why(why, "a DTD or markup declaration (refused)");
				return KCG_EPAYLOAD;
			}
			if (!close)
				return 0; /* unterminated: libxml2 says it is malformed */
			p = close + 2;
			continue;
		}
		if (q < end && *q == '/') {
			if (depth > 0) /* an end tag: its element's declarations go out of scope */
				in_scope -= declared[--depth];
			p = q;
			continue; /* its '>' is found as text */
		}
		if (++elements > max_elements) {
			kcg_why(why, "more than %zu elements", max_elements);
			return KCG_EPAYLOAD;
		}
		/* A start tag: every '=' outside a quoted value begins an attribute. */
		size_t attrs = 0, ns = 0;
		char quote = 0;
		for (; q < end; q++) {
			if (quote) {
				const char *c = memchr(q, quote, (size_t)(end - q));
				if (!c)
					return 0;
				q = c;
				quote = 0;
			} else if (*q == '"' || *q == '\'') {
				quote = *q;
			} else if (*q == 'x' && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r') &&
				   end - q >= 5 && memcmp(q, "xmlns", 5) == 0) {
				ns++;
			} else if (*q == '=') {
				if (++attrs > KCG_XML_ATTRS_MAX) {
					kcg_why(why, "an element with more than %d attributes", KCG_XML_ATTRS_MAX);
					return KCG_EPAYLOAD;
				}
			} else if (*q == '>' || *q == '<') {
				break;
			}
		}
		if (in_scope + ns > KCG_XML_NS_MAX) {
			kcg_why(why, "more than %d namespace declarations in scope", KCG_XML_NS_MAX);
			return KCG_EPAYLOAD;
		}
		if (q < end && *q == '>' && q[-1] != '/') { /* opened, not self-closing */
			if (depth == KCG_XML_DEPTH_MAX) {
				kcg_why(why, "elements nested more than %d deep", KCG_XML_DEPTH_MAX);
				return KCG_EPAYLOAD;
			}
			declared[depth++] = (unsigned char)ns; /* ns <= KCG_XML_NS_MAX here */
			in_scope += ns;
		}
		p = q;
	}
	return 0;
}

int kcg_xml_scan(const char *buf, size_t len, char why[KCG_ERROR_MAX])
{
	return scan(buf, len, KCG_XML_ELEMENTS_MAX, why);
}

int kcg_xml_scan_stream(const char *buf, size_t len, char why[KCG_ERROR_MAX])
{
	return scan(buf, len, SIZE_MAX, why);
}

static int parse(const char *buf, size_t len, int opts, xmlDocPtr *out, char why[KCG_ERROR_MAX])
{
	char scan[KCG_ERROR_MAX];
	*out = NULL;
	if (!buf || len == 0) {
		kcg_why(why, "empty");
		return KCG_EPAYLOAD;
	}
	if (len > (size_t)INT32_MAX) {
		kcg_why(why, "longer than 2 GB");
		return KCG_EPAYLOAD;
	}
	if (kcg_xml_scan(buf, len, scan) != 0) {
		kcg_why(why, "%s", scan);
		return KCG_EPAYLOAD;
	}
	kcg_xml_init();
	last_error[0] = '\0';
	xmlDocPtr doc = xmlReadMemory(buf, (int)len, "peer.xml", NULL, opts);
	if (!doc) {
		kcg_why(why, "not well-formed XML (%s)", last_error[0] ? last_error : "no detail");
		return KCG_EPAYLOAD;
	}
	if (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc)) {
		kcg_why(why, "%s", xmlDocGetRootElement(doc) ? "a DTD (refused)" : "no root element");
		xmlFreeDoc(doc);
		return KCG_EPAYLOAD;
	}
	*out = doc;
	return 0;
}

int kcg_xml_parse(const char *buf, size_t len, xmlDocPtr *out, char why[KCG_ERROR_MAX])
{
	return parse(buf, len, READ_OPTS, out, why);
}

int kcg_xml_parse_big_text(const char *buf, size_t len, xmlDocPtr *out, char why[KCG_ERROR_MAX])
{
	return parse(buf, len, READ_OPTS | XML_PARSE_HUGE, out, why);
}

/* A copy of @p s that XML 1.0 can carry: C0 controls other than tab, LF
 * and CR become spaces, U+FFFE/U+FFFF become '?'. Input is valid UTF-8
 * (jansson and the config guarantee it). */
static char *xml_safe(const char *s)
{
	char *out = strdup(s);
	if (!out)
		return NULL;
	for (unsigned char *p = (unsigned char *)out; *p; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			*p = ' ';
		else if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
			p[0] = p[1] = p[2] = '?';
	}
	return out;
}

xmlNodePtr kcg_xml_add(struct kcg_xml_build *b, xmlNodePtr parent, const char *name, const char *text)
{
	if (b->oom || !parent)
		return NULL; /* an earlier failure, already recorded */
	xmlNodePtr n = xmlNewDocNode(b->doc, NULL, BAD_CAST name, NULL);
	if (!n)
		goto fail;
	xmlAddChild(parent, n);
	if (text && *text) {
		char *safe = xml_safe(text);
		xmlNodePtr t = safe ? xmlNewDocText(b->doc, BAD_CAST safe) : NULL;
		free(safe);
		if (!t)
			goto fail;
		xmlAddChild(n, t);
	}
	return n;
fail:
	b->oom = true;
	return NULL;
}

void kcg_xml_add_opt(struct kcg_xml_build *b, xmlNodePtr parent, const char *name, const char *text)
{
	if (text && *text)
		kcg_xml_add(b, parent, name, text);
}

xmlDocPtr kcg_xml_read(const char *buf, size_t len)
{
	char why[KCG_ERROR_MAX];
	xmlDocPtr doc;
	return kcg_xml_parse(buf, len, &doc, why) == 0 ? doc : NULL;
}

bool kcg_xml_named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr kcg_xml_first(xmlNodePtr parent)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

xmlNodePtr kcg_xml_next(xmlNodePtr n)
{
	for (n = n ? n->next : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

xmlNodePtr kcg_xml_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = kcg_xml_first(parent); c; c = kcg_xml_next(c))
		if (kcg_xml_named(c, name))
			return c;
	return NULL;
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *kcg_xml_trim(const char *s)
{
	while (space(*s))
		s++;
	size_t len = strlen(s);
	while (len > 0 && space(s[len - 1]))
		len--;
	return strndup(s, len);
}

char *kcg_xml_text(xmlNodePtr n)
{
	xmlChar *x = n ? xmlNodeGetContent(n) : NULL;
	char *out = kcg_xml_trim(x ? (const char *)x : "");
	xmlFree(x);
	return out;
}
