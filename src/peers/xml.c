/*
 * xml.c: the libxml2 idioms the peer clients share (kcgate/peers/xml.h):
 * building with one oom flag, reading untrusted XML by local name.
 */
#include "kcgate/peers/xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#define READ_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

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
	if (!buf || len == 0 || len > (size_t)INT32_MAX)
		return NULL;
	xmlDocPtr doc = xmlReadMemory(buf, (int)len, "peer.xml", NULL, READ_OPTS);
	if (doc && (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc))) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
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
