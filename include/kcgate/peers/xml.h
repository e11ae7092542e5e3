/**
 * kcgate/peers/xml.h: the libxml2 idioms the peer clients share.
 *
 * Building: a struct kcg_xml_build is a document under construction. Any
 * allocation failure sets its oom flag and later additions become no-ops,
 * so a builder checks once at the end. Values become text nodes (libxml2
 * escapes them on output); control characters that XML 1.0 cannot carry,
 * even escaped, become spaces first.
 *
 * Reading: peer answers are untrusted. kcg_xml_parse() never touches the
 * network, never expands entities and refuses any document with a DTD.
 * Before libxml2 sees a byte, a linear pre-scan (kcg_xml_scan()) bounds
 * what one answer may cost: at most KCG_XML_ELEMENTS_MAX elements and
 * KCG_XML_ATTRS_MAX attributes on any one element (libxml2's duplicate
 * attribute check is quadratic: 100,000 attributes on one element took
 * 15 s). libxml2's own limits stay on (no XML_PARSE_HUGE: text nodes up to
 * 10 MB, depth 256). Elements are found by local name, whatever their
 * prefix or namespace; text is taken without surrounding whitespace.
 *
 * Errors: libxml2 reports parse and encoding errors on stderr unless told
 * otherwise, which would break the JSON log. kcg_xml_init() installs a
 * structured error handler (for this thread and as the default of threads
 * to come) that prints nothing; the parse functions call it, and the first
 * error of a parse becomes part of kcg_xml_parse()'s why.
 *
 * Pure and thread-safe.
 */
#ifndef KCGATE_PEERS_XML_H
#define KCGATE_PEERS_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "kcgate/common.h"

#define KCG_XML_ELEMENTS_MAX 1000000 /**< most elements in one document read */
#define KCG_XML_ATTRS_MAX 64         /**< most attributes (namespace declarations included) on one element */
/** Most namespace declarations in scope at once, and most nested elements:
 * libxml2 2.9 walks every declaration in scope for each element, so
 * elements x declarations in scope is what a parse costs (a SOAP answer
 * has a handful in scope, a few levels deep). */
#define KCG_XML_NS_MAX 64
#define KCG_XML_DEPTH_MAX 256

/** A document under construction (see above). The caller frees @p doc. */
struct kcg_xml_build {
	xmlDocPtr doc;
	bool oom;
};

/**
 * Appends <name>text</name> (no namespace) to @p parent and returns it;
 * @p text may be NULL or "" (an empty element). NULL when out of memory
 * (b->oom is then set) or when b->oom or a NULL @p parent says an earlier
 * addition failed.
 */
xmlNodePtr kcg_xml_add(struct kcg_xml_build *b, xmlNodePtr parent, const char *name, const char *text);

/** kcg_xml_add() only when @p text is a non-empty string: empty values are left out. */
void kcg_xml_add_opt(struct kcg_xml_build *b, xmlNodePtr parent, const char *name, const char *text);

/**
 * Initialises libxml2 (once per process) and installs the silent
 * structured error handler (once per thread; see above). Idempotent, cheap.
 */
void kcg_xml_init(void);

/**
 * The pre-scan alone: a linear pass over @p len bytes counting elements and
 * each start tag's attributes, refusing DOCTYPE and other markup
 * declarations. Malformed input passes (libxml2 refuses it). @return 0, or
 * KCG_EPAYLOAD with @p why ("more than N elements", ...).
 */
int kcg_xml_scan(const char *buf, size_t len, char why[KCG_ERROR_MAX]);

/**
 * Parses untrusted XML (@p len bytes): the pre-scan, then libxml2 with no
 * network, no entity expansion, no DTD at all, nothing on stderr.
 * @return 0 with *@p out (the caller frees it with xmlFreeDoc()), or
 * KCG_EPAYLOAD with *@p out NULL and @p why saying what was wrong (empty,
 * past a cap, malformed with libxml2's first error, a DTD, no root).
 */
int kcg_xml_parse(const char *buf, size_t len, xmlDocPtr *out, char why[KCG_ERROR_MAX]);

/**
 * kcg_xml_parse() for an answer whose size the caller bounded (the call's
 * max_reply_bytes) and that carries one large text node (a SOAP string
 * result of many megabytes): the same pre-scan and refusals, only
 * libxml2's 10 MB cap on one text node is lifted (XML_PARSE_HUGE).
 */
int kcg_xml_parse_big_text(const char *buf, size_t len, xmlDocPtr *out, char why[KCG_ERROR_MAX]);

/**
 * The pre-scan for a document that is read as a stream (xmlTextReader),
 * never held as a tree: kcg_xml_scan()'s refusals (markup declarations,
 * attributes per element, namespaces in scope, depth) without the cap on
 * the number of elements, which only bounds a tree's memory.
 */
int kcg_xml_scan_stream(const char *buf, size_t len, char why[KCG_ERROR_MAX]);

/** kcg_xml_parse() without the why: the document, or NULL. */
xmlDocPtr kcg_xml_read(const char *buf, size_t len);

/** True when @p n is an element with local name @p name. NULL-safe. */
bool kcg_xml_named(xmlNodePtr n, const char *name);

/** The first element child of @p parent (NULL-safe), or NULL. */
xmlNodePtr kcg_xml_first(xmlNodePtr parent);

/** The next element sibling of @p n (NULL-safe), or NULL. */
xmlNodePtr kcg_xml_next(xmlNodePtr n);

/** The first element child of @p parent called @p name, or NULL. */
xmlNodePtr kcg_xml_child(xmlNodePtr parent, const char *name);

/**
 * The text content of @p n without surrounding whitespace, malloc'd ("" when
 * @p n is NULL). NULL only when out of memory.
 */
char *kcg_xml_text(xmlNodePtr n);

/** A malloc'd copy of @p s without surrounding whitespace; NULL when out of memory. */
char *kcg_xml_trim(const char *s);

#endif
