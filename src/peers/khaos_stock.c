/*
 * khaos_stock.c: ExportStockStatus's answer read as a stream
 * (kcgate/peers/khaos.h). The result is a string holding STOCK_STATUS /
 * STOCK_ITEM (attribute CODE; children LEVEL, STATUS 0-5,
 * BUILD_POTENTIAL_CHILDREN, SELL_PRICE, WEBSELL_PRICE, ...) [XML-SS;
 * FACTS.md §1.4]. A price kcgate cannot read is no price (-1): the item's
 * stock figures still count. A first run
 * reads the whole catalogue (100,000 items and more), so the inner
 * document is never built as a tree: libxml2's xmlTextReader walks it and
 * each item is handed over as soon as its end tag is read.
 *
 * What one answer may cost is bounded before the reader sees a byte: the
 * call's own size bound ([stock] max_answer_mb), kcg_xml_scan_stream()
 * (no DTD, attributes per element, namespaces, depth), at most
 * KCG_KHAOS_ITEMS_MAX items and 31 characters per number.
 */
#include "khaos_private.h"

#include "kcgate/common.h"
#include "kcgate/peers/xml.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlreader.h>

#define METHOD "ExportStockStatus"
#define NUM_MAX 32     /* longest number kept, NUL included */
#define ITEM_DEPTH_MAX 3 /* STOCK_ITEM under STOCK_STATUS, perhaps under one wrapper */

/* The blanks around a code or a number (none may be inside a number). */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* @p s without its surrounding blanks: where it starts, *@p n its length. */
static const char *blank_trim(const char *s, size_t *n)
{
	while (is_blank(*s))
		s++;
	*n = strlen(s);
	while (*n > 0 && is_blank(s[*n - 1]))
		(*n)--;
	return s;
}

/* A quantity: an optionally signed integer; a fraction (stock in units
 * of measure) is dropped. Empty means 0. */
int kcg_khaos_parse_level(const char *s, int64_t *out)
{
	char ip[24];
	uint64_t v = 0;
	bool neg = *s == '-', sign = *s == '-' || *s == '+';
	if (sign)
		s++;
	size_t n = strspn(s, "0123456789");
	const char *rest = s + n;
	if (*rest == '.')
		rest += 1 + strspn(rest + 1, "0123456789");
	if (*rest || n >= sizeof(ip) || (n == 0 && (sign || *s)))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (n > 0 && kcg_parse_u64(ip, 0, INT64_MAX, &v) != 0)
		return -EINVAL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

int kcg_khaos_parse_price(const char *s, int64_t *out)
{
	size_t n = strspn(s, "0123456789"), f = 0;
	if (n == 0 || n > 11)
		return -EINVAL;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	if (s[n] == '.') {
		f = strspn(s + n + 1, "0123456789");
		if (f == 0 || f > 4 || s[n + 1 + f])
			return -EINVAL;
	} else if (s[n]) {
		return -EINVAL;
	}
	for (size_t i = 0; i < 4; i++)
		v = v * 10 + (i < f ? s[n + 1 + i] - '0' : 0);
	*out = v;
	return 0;
}

/* A price child's text, or -1 (absent, empty or not a price: the item's
 * figures still count). */
static int64_t price_of(const char *text, bool too_long)
{
	int64_t v;
	return !too_long && kcg_khaos_parse_price(text, &v) == 0 ? v : -1;
}

/* STATUS: 0-5 [XML-SS], -1 when empty or absent. */
static int parse_status(const char *s, int *out)
{
	uint64_t v;
	*out = -1;
	if (!*s)
		return 0;
	if (kcg_parse_u64(s, 0, KCG_STOCK_NOT_CONTROLLED, &v) != 0)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

enum field { F_NONE, F_LEVEL, F_STATUS, F_BUILD, F_SELL, F_WEBSELL, F_COUNT };

/* One item being read. */
struct item_read {
	int depth;             /* the STOCK_ITEM's depth; -1 outside an item */
	enum field field;      /* the child being read */
	char code[KCG_KHAOS_CODE_MAX];
	bool code_bad;         /* missing or too long */
	char text[F_COUNT][NUM_MAX];
	size_t len[F_COUNT];
	bool too_long[F_COUNT];
};

static enum field field_of(const xmlChar *name)
{
	if (xmlStrEqual(name, BAD_CAST "LEVEL"))
		return F_LEVEL;
	if (xmlStrEqual(name, BAD_CAST "STATUS"))
		return F_STATUS;
	if (xmlStrEqual(name, BAD_CAST "BUILD_POTENTIAL_CHILDREN"))
		return F_BUILD;
	if (xmlStrEqual(name, BAD_CAST "SELL_PRICE"))
		return F_SELL;
	if (xmlStrEqual(name, BAD_CAST "WEBSELL_PRICE"))
		return F_WEBSELL;
	return F_NONE;
}

static void item_start(struct item_read *it, xmlTextReaderPtr rd, int depth)
{
	memset(it, 0, sizeof(*it));
	it->depth = depth;
	xmlChar *code = xmlTextReaderGetAttribute(rd, BAD_CAST "CODE");
	size_t n = 0;
	/* the code as Khaos has it, surrounding blanks aside */
	const char *c = code ? blank_trim((const char *)code, &n) : NULL;
	if (n == 0 || n >= sizeof(it->code))
		it->code_bad = true;
	if (c) /* no CODE attribute: c is NULL, and memcpy may not be given it even for 0 bytes */
		memcpy(it->code, c, n < sizeof(it->code) ? n : sizeof(it->code) - 1); /* a bad one's start names it */
	xmlFree(code);
}

static void field_text(struct item_read *it, const char *s)
{
	enum field f = it->field;
	for (; *s; s++) {
		if (is_blank(*s))
			continue; /* a number has no blank inside; surrounding ones go */
		if (it->len[f] + 1 >= NUM_MAX) {
			it->too_long[f] = true;
			return;
		}
		it->text[f][it->len[f]++] = *s;
	}
}

/* The item is complete: checked, then handed to @p fn. An item that
 * cannot be read (no CODE or one too long, LEVEL or
 * BUILD_POTENTIAL_CHILDREN not a number, STATUS outside 0-5) is skipped:
 * *@p skipped counts it, @p first gets the first one's description. */
static int item_end(struct item_read *it, int (*fn)(const struct kcg_stock_item *, void *), void *arg,
		    size_t *skipped, char first[KCG_ERROR_MAX])
{
	struct kcg_stock_item item = { 0 };
	char why[KCG_ERROR_MAX] = "", name[KCG_KHAOS_CODE_MAX];
	it->depth = -1;
	snprintf(name, sizeof(name), "%s", it->code); /* made printable below */
	if (it->code_bad)
		kcg_why(why, "a STOCK_ITEM with no CODE, or one longer than %d bytes (it begins '%.40s')",
			KCG_KHAOS_CODE_MAX - 1, name);
	else if (it->too_long[F_LEVEL] || it->too_long[F_BUILD] ||
		 kcg_khaos_parse_level(it->text[F_LEVEL], &item.available) ||
		 kcg_khaos_parse_level(it->text[F_BUILD], &item.build_potential))
		kcg_why(why, "STOCK_ITEM '%s': LEVEL '%.20s' or BUILD_POTENTIAL_CHILDREN '%.20s' is not a number", name,
			it->text[F_LEVEL], it->text[F_BUILD]);
	else if (it->too_long[F_STATUS] || parse_status(it->text[F_STATUS], &item.status) != 0)
		kcg_why(why, "STOCK_ITEM '%s': STATUS '%.20s' is not a code 0-5", name, it->text[F_STATUS]);
	if (why[0]) {
		kcg_printable(why, sizeof(why), why, strlen(why), 0); /* the fields' text too */
		if ((*skipped)++ == 0)
			memcpy(first, why, KCG_ERROR_MAX);
		return 0;
	}
	memcpy(item.code, it->code, sizeof(item.code));
	item.discontinued = item.status == KCG_STOCK_DISCONTINUED;
	item.sell_price = price_of(it->text[F_SELL], it->too_long[F_SELL]);
	item.websell_price = price_of(it->text[F_WEBSELL], it->too_long[F_WEBSELL]);
	return fn ? fn(&item, arg) : 0;
}

int kcg_khaos_stock_items_read(const char *text, size_t len, int (*fn)(const struct kcg_stock_item *item, void *arg),
			       void *arg, size_t *count, char why[KCG_ERROR_MAX])
{
	char scan[KCG_ERROR_MAX], first[KCG_ERROR_MAX] = "";
	struct item_read it = { .depth = -1 };
	size_t n = 0, skipped = 0;
	int rc = 0, ret;

	*count = 0;
	why[0] = '\0';
	if (len == 0)
		return 0; /* an empty string: nothing changed */
	if (len > INT_MAX) {
		kcg_why(why, METHOD ": the result is longer than 2 GB");
		return KCG_EPAYLOAD;
	}
	if (kcg_xml_scan_stream(text, len, scan) != 0) {
		kcg_why(why, METHOD ": the result is refused: %s", scan);
		return KCG_EPAYLOAD;
	}
	kcg_xml_init();
	xmlTextReaderPtr rd = xmlReaderForMemory(text, (int)len, "stock.xml", NULL,
						 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!rd) {
		kcg_why(why, METHOD ": out of memory");
		return -ENOMEM;
	}
	while (rc == 0 && (ret = xmlTextReaderRead(rd)) == 1) {
		int type = xmlTextReaderNodeType(rd), depth = xmlTextReaderDepth(rd);
		switch (type) {
		case XML_READER_TYPE_DOCUMENT_TYPE:
		case XML_READER_TYPE_ENTITY_REFERENCE:
			kcg_why(why, METHOD ": the result has a DTD or an entity (refused)");
			rc = KCG_EPAYLOAD;
			break;
		case XML_READER_TYPE_ELEMENT: {
			const xmlChar *name = xmlTextReaderConstLocalName(rd);
			bool empty = xmlTextReaderIsEmptyElement(rd) == 1;
			if (it.depth < 0) {
				if (depth > ITEM_DEPTH_MAX || !xmlStrEqual(name, BAD_CAST "STOCK_ITEM"))
					break;
				if (++n > KCG_KHAOS_ITEMS_MAX) {
					kcg_why(why, METHOD ": more than %d STOCK_ITEM elements in one answer",
						KCG_KHAOS_ITEMS_MAX);
					rc = KCG_EPAYLOAD;
					break;
				}
				item_start(&it, rd, depth);
				if (empty)
					rc = item_end(&it, fn, arg, &skipped, first);
			} else if (depth == it.depth + 1 && !empty) {
				it.field = field_of(name);
			}
			break;
		}
		case XML_READER_TYPE_TEXT:
		case XML_READER_TYPE_CDATA:
			if (it.depth >= 0 && it.field != F_NONE && depth == it.depth + 2)
				field_text(&it, (const char *)xmlTextReaderConstValue(rd));
			break;
		case XML_READER_TYPE_END_ELEMENT:
			if (it.depth >= 0 && depth == it.depth + 1)
				it.field = F_NONE;
			else if (it.depth >= 0 && depth == it.depth)
				rc = item_end(&it, fn, arg, &skipped, first);
			break;
		default:
			break;
		}
	}
	if (rc == 0 && ret != 0) {
		kcg_why(why, METHOD ": the result is not well-formed XML (near line %d)",
			xmlTextReaderGetParserLineNumber(rd));
		rc = KCG_EPAYLOAD;
	}
	xmlFreeTextReader(rd);
	*count = n;
	if (rc == 0 && skipped)
		kcg_why(why, "%zu STOCK_ITEM skipped, the first: %s", skipped, first);
	return rc;
}

/* The result's text without copying it when it is one text node (the
 * usual case: a copy of a 20 MB string is 20 MB more at the peak). */
static const char *result_text(xmlNodePtr result, char **copy, size_t *len)
{
	const char *s = NULL;
	*copy = NULL;
	if (result && result->children && !result->children->next &&
	    (result->children->type == XML_TEXT_NODE || result->children->type == XML_CDATA_SECTION_NODE))
		s = (const char *)result->children->content;
	else if (result && result->children && !(s = *copy = kcg_xml_text(result)))
		return NULL; /* out of memory */
	return blank_trim(s ? s : "", len);
}

int kcg_khaos_stock_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
				 int (*fn)(const struct kcg_stock_item *item, void *arg), void *arg,
				 char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	char *copy;
	size_t len, count;
	int rc = khaos_open(cfg, r, METHOD, &a, why);
	if (rc != 0)
		return rc;
	const char *text = result_text(a.result, &copy, &len);
	if (!text) {
		kcg_why(why, METHOD ": out of memory");
		rc = -ENOMEM;
	} else {
		rc = kcg_khaos_stock_items_read(text, len, fn, arg, &count, why);
	}
	free(copy);
	khaos_close(&a);
	return rc;
}
