/**
 * kcgate/peers/xml.h: the libxml2 idioms the peer clients share.
 *
 * Building: a struct kcg_xml_build is a document under construction. Any
 * allocation failure sets its oom flag and later additions become no-ops,
 * so a builder checks once at the end. Values become text nodes (libxml2
 * escapes them on output); control characters that XML 1.0 cannot carry,
 * even escaped, become spaces first.
 *
 * Reading: peer answers are untrusted. kcg_xml_read() never touches the
 * network, never expands entities and refuses any document with a DTD.
 * Elements are found by local name, whatever their prefix or namespace;
 * text is taken without surrounding whitespace.
 *
 * Pure and thread-safe once xmlInitParser() has run (the callers run it).
 */
#ifndef KCGATE_PEERS_XML_H
#define KCGATE_PEERS_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

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
 * Parses untrusted XML (@p len bytes): no network, no entity expansion,
 * no DTD at all. @return the document (the caller frees it with
 * xmlFreeDoc()), or NULL when it is empty, malformed, has a DTD or has no
 * root element.
 */
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
