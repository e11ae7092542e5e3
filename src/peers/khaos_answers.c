/*
 * khaos_answers.c: the Khaos Control client reading answers
 * (kcgate/peers/khaos.h); the requests are khaos.c. Shapes from
 * shared/ref/khaos/FACTS.md §1.3-1.4 and the templates beside it:
 *
 *  - ImportOrders returns the struct TOrderImportResult: ImportedCount,
 *    OrderImport (array of TOrderImport: SalesOrderCode, AssociatedRef,
 *    Msg, ...), OrderSkipped (array of TOrderSkipped: OrderRef,
 *    SkipReason) [WIG; KSDL Order.php]. RPC/encoded: the struct, the
 *    arrays and their items may each be a SOAP-encoding reference, which
 *    the transport follows;
 *  - ExportOrderStatusEx returns a string holding STATUS_LIST /
 *    ORDER_STATUS with attributes SORDER_CODE and ASSOCIATED_REF, dates
 *    DD/MM/YYYY [XML-OSX];
 *  - ExportStockStatus: khaos_stock.c (read as a stream);
 *  - GetStockList returns the struct TStockList: Count, List (array of
 *    TStockInfo: StockCode, OtherRef, StockDesc, ParentCode,
 *    ParentOtherRef, LastUpdated) [WIG], rpc/encoded like
 *    TOrderImportResult (references followed the same way).
 *
 * Elements are found by local name; unknown elements and attributes are
 * ignored; the root element's name of a string result is not relied on.
 * Every @p why is printable ASCII.
 */
#include "khaos_private.h"

#include "kcgate/common.h"
#include "kcgate/peers/xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

int khaos_open(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *method,
	       struct kcg_khaos_answer *a, char why[KCG_ERROR_MAX])
{
	const struct kcg_khaos_transport *t = khaos_transport(cfg);
	*a = (struct kcg_khaos_answer){ 0 };
	if (!t) {
		kcg_why(why, "%s: [khaos] transport '%s' is not known", method, cfg->transport);
		return -EINVAL;
	}
	int rc = t->open(cfg, r, method, a, why);
	a->transport = t; /* set after: open() starts from a zeroed answer */
	return rc;
}

void khaos_close(struct kcg_khaos_answer *a)
{
	if (a->transport)
		a->transport->close(a);
}

/* The XML document carried as text in a string result. *@p inner stays
 * NULL when the string is empty (Khaos has nothing to say). */
int khaos_open_inner(const struct kcg_khaos_answer *a, const char *method, xmlDocPtr *inner, char why[KCG_ERROR_MAX])
{
	*inner = NULL;
	char *text = kcg_xml_text(a->result);
	if (!text) {
		kcg_why(why, "%s: out of memory", method);
		return -ENOMEM;
	}
	int rc = 0;
	if (*text) {
		char unread[KCG_ERROR_MAX];
		if (kcg_xml_parse(text, strlen(text), inner, unread) != 0) {
			kcg_why(why, "%s: the result is not an XML document kcgate reads: %s", method, unread);
			rc = KCG_EPAYLOAD;
		}
	}
	free(text);
	return rc;
}

/* Calls @p fn for each element called @p name in @p inner: the root itself
 * when it has that name, else the root's children of that name (the root's
 * own name is not relied on). Stops at fn's first non-zero value; more than
 * KCG_KHAOS_ITEMS_MAX of them are refused before the first is handed over. */
int khaos_each_el(xmlDocPtr inner, const char *method, const char *name, int (*fn)(xmlNodePtr n, void *arg), void *arg,
		   char why[KCG_ERROR_MAX])
{
	xmlNodePtr root = inner ? xmlDocGetRootElement(inner) : NULL;
	if (!root)
		return 0;
	if (kcg_xml_named(root, name))
		return fn(root, arg);
	size_t n = 0;
	for (xmlNodePtr c = kcg_xml_first(root); c; c = kcg_xml_next(c))
		if (kcg_xml_named(c, name) && ++n > KCG_KHAOS_ITEMS_MAX) {
			kcg_why(why, "%s: more than %d %s elements in one answer", method, KCG_KHAOS_ITEMS_MAX, name);
			return KCG_EPAYLOAD;
		}
	for (xmlNodePtr c = kcg_xml_first(root); c; c = kcg_xml_next(c)) {
		if (!kcg_xml_named(c, name))
			continue;
		int rc = fn(c, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Calls @p fn for each item of the SOAP-encoded array @p arr (a child of
 * a struct; itself possibly a reference), references followed. Stops at
 * fn's first non-zero value; a dangling reference is skipped. */
static int each_item(const struct kcg_khaos_answer *a, xmlNodePtr arr, const char *method,
		     int (*fn)(xmlNodePtr item, void *arg), void *arg, char why[KCG_ERROR_MAX])
{
	arr = arr ? a->transport->follow(a, arr) : NULL;
	size_t n = 0;
	for (xmlNodePtr it = kcg_xml_first(arr); it; it = kcg_xml_next(it))
		if (++n > KCG_KHAOS_ITEMS_MAX) {
			kcg_why(why, "%s: more than %d items in one array", method, KCG_KHAOS_ITEMS_MAX);
			return KCG_EPAYLOAD;
		}
	for (xmlNodePtr it = kcg_xml_first(arr); it; it = kcg_xml_next(it)) {
		xmlNodePtr item = a->transport->follow(a, it);
		int rc = item ? fn(item, arg) : 0;
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The text of @p parent's child @p name compared with @p want; -ENOMEM. */
static int child_is(xmlNodePtr parent, const char *name, const char *want)
{
	char *v = kcg_xml_text(kcg_xml_child(parent, name));
	if (!v)
		return -ENOMEM;
	int same = strcmp(v, want) == 0;
	free(v);
	return same;
}

/* ---- ImportOrders ---- */

/* Does a skip reason (or a fault) say the associated ref exists already?
 * The exact wording is unknown [FACTS.md §1.8, G]: "already" or
 * "duplicate", or "exists" said of the order or its reference (not "stock
 * code X no longer exists"). A wrong yes costs a read-back, never a
 * booking: the caller asks ExportOrderStatusEx. */
static bool says_duplicate(const char *reason)
{
	bool of_order = strcasestr(reason, "order") || strcasestr(reason, "ref");
	if (strcasestr(reason, "duplicate") && of_order)
		return true;
	/* "already exists", "already imported", "order ... already": not
	 * "stock item ... already discontinued" */
	if (strcasestr(reason, "already") &&
	    (strcasestr(reason, "exist") || strcasestr(reason, "import") || of_order) && !strcasestr(reason, "stock"))
		return true;
	return strcasestr(reason, "exists") && !strcasestr(reason, "no longer") && !strcasestr(reason, "not exist") &&
	       of_order;
}

struct import_find {
	const char *ref;
	char *code;
	char *why;
	int rc; /* 1 = nothing found yet */
};

static int import_item(xmlNodePtr item, void *arg)
{
	struct import_find *f = arg;
	int ours = child_is(item, "AssociatedRef", f->ref);
	if (ours <= 0)
		return ours;
	char *so = kcg_xml_text(kcg_xml_child(item, "SalesOrderCode"));
	char *msg = kcg_xml_text(kcg_xml_child(item, "Msg"));
	if (!so || !msg) {
		f->rc = -ENOMEM;
	} else if (!*so || strlen(so) >= KCG_KHAOS_CODE_MAX) {
		/* imported, but its code cannot be kept: read it back (never book again) */
		kcg_why(f->why, "ImportOrders: Khaos imported order %s without a usable sales order code%s%s", f->ref,
			*msg ? ": " : "", msg);
		f->rc = KCG_EDUPLICATE;
	} else {
		memcpy(f->code, so, strlen(so) + 1);
		f->rc = 0;
	}
	free(so);
	free(msg);
	return 1;
}

static int skipped_item(xmlNodePtr item, void *arg)
{
	struct import_find *f = arg;
	int ours = child_is(item, "OrderRef", f->ref);
	if (ours <= 0)
		return ours;
	char *reason = kcg_xml_text(kcg_xml_child(item, "SkipReason"));
	if (!reason) {
		f->rc = -ENOMEM;
		return 1;
	}
	if (says_duplicate(reason)) {
		kcg_why(f->why, "ImportOrders: Khaos has order %s already: %s", f->ref, reason);
		f->rc = KCG_EDUPLICATE;
	} else {
		kcg_why(f->why, "ImportOrders: Khaos refused order %s: %s", f->ref,
			*reason ? reason : "(no reason given)");
		f->rc = KCG_EPAYLOAD;
	}
	free(reason);
	return 1;
}

int kcg_khaos_import_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
			   char code[KCG_KHAOS_CODE_MAX], char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	code[0] = '\0';
	int rc = khaos_open(cfg, r, "ImportOrders", &a, why);
	if (rc != 0) {
		/* A duplicate may come back as a fault [FACTS.md §1.8]. */
		if (rc == KCG_EPAYLOAD && strstr(why, "fault") && says_duplicate(why))
			rc = KCG_EDUPLICATE;
		return rc;
	}
	xmlNodePtr res = a.result;
	struct import_find f = { .ref = ref, .code = code, .why = why, .rc = 1 };
	if (!kcg_xml_child(res, "ImportedCount") && !kcg_xml_child(res, "OrderImport") &&
	    !kcg_xml_child(res, "OrderSkipped")) {
		kcg_why(why, "ImportOrders: the result is not a TOrderImportResult");
		rc = KCG_EPAYLOAD;
		goto done;
	}
	rc = each_item(&a, kcg_xml_child(res, "OrderImport"), "ImportOrders", import_item, &f, why);
	if (rc == 0)
		rc = each_item(&a, kcg_xml_child(res, "OrderSkipped"), "ImportOrders", skipped_item, &f, why);
	if (rc == 1 || rc == 0)
		rc = f.rc;
	if (rc == 1) {
		/* Outcome unknown (no entry for our ref: real Khaos may leave
		 * AssociatedRef blank [FACTS.md §1.3, G]): the caller reads the
		 * code back with ExportOrderStatusEx and never imports again. */
		kcg_why(why, "ImportOrders: the result has no entry for associated ref %s: reading it back", ref);
		rc = KCG_EDUPLICATE;
	}
done:
	if (rc == -ENOMEM)
		kcg_why(why, "ImportOrders: out of memory");
	khaos_close(&a);
	return rc;
}

/* ---- ExportOrderStatusEx ---- */

int kcg_khaos_parse_date(const char *s, uint64_t *ms)
{
	unsigned d, m, y;
	int used = 0;
	if (!s || sscanf(s, "%2u/%2u/%4u%n", &d, &m, &y, &used) != 3 || s[used] != '\0' || used != 10)
		return -EINVAL;
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return -EINVAL;
	/* days since the epoch (Howard Hinnant's days_from_civil) */
	int yy = (int)y - (m <= 2);
	int era = yy / 400;
	unsigned yoe = (unsigned)(yy - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = (long)era * 146097 + (long)doe - 719468;
	*ms = (uint64_t)days * 86400000u;
	return 0;
}

/* An attribute's trimmed text, or "" ; NULL when out of memory. */
static char *attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = n ? xmlGetNoNsProp(n, BAD_CAST name) : NULL;
	char *out = kcg_xml_trim(v ? (const char *)v : "");
	xmlFree(v);
	return out;
}

/* Copies @p s into a KCG_KHAOS_CODE_MAX field when it fits ("" else). */
static void keep(char dst[KCG_KHAOS_CODE_MAX], const char *s)
{
	dst[0] = '\0';
	if (s && strlen(s) < KCG_KHAOS_CODE_MAX)
		memcpy(dst, s, strlen(s) + 1);
}

struct status_find {
	const char *ref;
	struct kcg_khaos_order_info *info;
};

static int status_order(xmlNodePtr o, void *arg)
{
	struct status_find *f = arg;
	char *aref = attr(o, "ASSOCIATED_REF");
	if (!aref)
		return -ENOMEM;
	bool ours = strcmp(aref, f->ref) == 0;
	free(aref);
	if (!ours)
		return 0;
	struct kcg_khaos_order_info *in = f->info;
	xmlNodePtr inv = kcg_xml_child(kcg_xml_child(o, "INVOICES"), "INVOICE");
	char *so = attr(o, "SORDER_CODE"), *complete = kcg_xml_text(kcg_xml_child(o, "COMPLETE"));
	char *created = kcg_xml_text(kcg_xml_child(o, "DATE_CREATED")), *stage = attr(inv, "INVOICE_STAGE_ID");
	char *cons = attr(inv, "CONSIGNMENT_REF"), *ship = attr(inv, "SHIP_DATE");
	int rc = -ENOMEM;
	if (so && complete && created && stage && cons && ship) {
		/* Existence is what counts; a code that cannot be kept is left empty. */
		*in = (struct kcg_khaos_order_info){ .stage = -1 };
		keep(in->code, so);
		keep(in->ref, f->ref);
		keep(in->consignment, cons);
		in->complete = strcmp(complete, "-1") == 0;
		in->cancelled = kcg_xml_child(o, "CANCELLED") != NULL;
		kcg_khaos_parse_date(created, &in->created_ms);
		kcg_khaos_parse_date(ship, &in->ship_ms);
		uint64_t st;
		if (kcg_parse_u64(stage, 0, 1000, &st) == 0)
			in->stage = (int)st;
		rc = 1;
	}
	free(so);
	free(complete);
	free(created);
	free(stage);
	free(cons);
	free(ship);
	return rc;
}

int kcg_khaos_order_status_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *ref,
				 char code[KCG_KHAOS_CODE_MAX], struct kcg_khaos_order_info *info,
				 char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	struct kcg_khaos_order_info mine;
	xmlDocPtr inner;
	code[0] = '\0';
	int rc = khaos_open(cfg, r, "ExportOrderStatusEx", &a, why);
	if (rc != 0)
		return rc;
	rc = khaos_open_inner(&a, "ExportOrderStatusEx", &inner, why);
	if (rc == 0) {
		struct status_find f = { .ref = ref, .info = info ? info : &mine };
		rc = khaos_each_el(inner, "ExportOrderStatusEx", "ORDER_STATUS", status_order, &f, why);
		if (rc == 1 && !f.info->code[0]) {
			/* it exists, but without a code kcgate can keep: never "booked" without one */
			kcg_why(why, "ExportOrderStatusEx: Khaos has order %s but its SORDER_CODE is empty or too long", ref);
			rc = KCG_EPAYLOAD;
		} else if (rc == 1) {
			memcpy(code, f.info->code, sizeof(f.info->code));
			rc = 0;
		} else if (rc == 0) {
			kcg_why(why, "ExportOrderStatusEx: Khaos has no order with associated ref %s", ref);
			rc = KCG_ENOTFOUND;
		} else if (rc == -ENOMEM) {
			kcg_why(why, "ExportOrderStatusEx: out of memory");
		}
	}
	xmlFreeDoc(inner);
	khaos_close(&a);
	return rc;
}

/* ---- GetStockList ---- */

/* A LastUpdated (xsd:dateTime, TDateTime): YYYY-MM-DDTHH:MM:SS, perhaps
 * with a fraction and a zone (ignored: Khaos's clock, FACTS.md §1.3), as
 * milliseconds since the epoch; 0 when it is not one. */
static uint64_t stock_info_time(const char *s)
{
	char day[11];
	unsigned h, mi, sec;
	int used = 0;
	uint64_t ms;
	if (strlen(s) < 19 || s[10] != 'T' || sscanf(s + 11, "%2u:%2u:%2u%n", &h, &mi, &sec, &used) != 3 ||
	    used != 8 || h > 23 || mi > 59 || sec > 60)
		return 0;
	/* the date part as the DD/MM/YYYY parser reads it */
	snprintf(day, sizeof(day), "%.2s/%.2s/%.4s", s + 8, s + 5, s);
	if (s[4] != '-' || s[7] != '-' || kcg_khaos_parse_date(day, &ms) != 0)
		return 0;
	return ms + ((uint64_t)h * 3600u + mi * 60u + sec) * 1000u;
}

struct stock_walk {
	int (*fn)(const struct kcg_khaos_stock_info *info, void *arg);
	void *arg;
	struct kcg_khaos_stock_list *list;
	char *why;
	char first[KCG_ERROR_MAX]; /* the first item skipped, said */
};

static int stock_list_item(xmlNodePtr it, void *arg)
{
	struct stock_walk *w = arg;
	char *code = kcg_xml_text(kcg_xml_child(it, "StockCode"));
	char *parent = kcg_xml_text(kcg_xml_child(it, "ParentCode"));
	char *when = kcg_xml_text(kcg_xml_child(it, "LastUpdated"));
	int rc = 0;
	if (!code || !parent || !when) {
		kcg_why(w->why, "GetStockList: out of memory");
		rc = -ENOMEM;
	} else if (!*code) {
		/* the key of a TStockInfo is missing: not the shape kcgate reads */
		kcg_why(w->why, "GetStockList: a TStockInfo without StockCode");
		rc = KCG_EPAYLOAD;
	} else if (strlen(code) >= KCG_KHAOS_CODE_MAX) {
		/* a code kcgate cannot keep (nor ask ExportStockStatus about
		 * alone): left out, said, the rest of the answer read */
		if (w->list->skipped++ == 0)
			kcg_why(w->first, "StockCode longer than %d bytes (it begins '%.40s')", KCG_KHAOS_CODE_MAX - 1,
				code);
	} else {
		struct kcg_khaos_stock_info info = { .updated_ms = stock_info_time(when) };
		keep(info.code, code);
		keep(info.parent_code, parent);
		w->list->listed++;
		rc = w->fn ? w->fn(&info, w->arg) : 0;
	}
	free(code);
	free(parent);
	free(when);
	return rc;
}

int kcg_khaos_stock_list_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r,
			       int (*fn)(const struct kcg_khaos_stock_info *info, void *arg), void *arg,
			       struct kcg_khaos_stock_list *list, char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	struct kcg_khaos_stock_list mine;
	if (!list)
		list = &mine;
	*list = (struct kcg_khaos_stock_list){ .count = -1 };
	int rc = khaos_open(cfg, r, "GetStockList", &a, why);
	if (rc != 0)
		return rc;
	why[0] = '\0';
	xmlNodePtr count = kcg_xml_child(a.result, "Count");
	if (!kcg_xml_child(a.result, "List") && !count) {
		kcg_why(why, "GetStockList: the result is not a TStockList");
		rc = KCG_EPAYLOAD;
		goto done;
	}
	char *n = kcg_xml_text(count);
	uint64_t v;
	if (!n) {
		kcg_why(why, "GetStockList: out of memory");
		rc = -ENOMEM;
		goto done;
	}
	if (kcg_parse_u64(n, 0, INT64_MAX, &v) == 0)
		list->count = (int64_t)v;
	free(n);
	struct stock_walk w = { .fn = fn, .arg = arg, .list = list, .why = why };
	rc = each_item(&a, kcg_xml_child(a.result, "List"), "GetStockList", stock_list_item, &w, why);
	if (rc == 0 && list->skipped) {
		kcg_why(why, "GetStockList: %zu TStockInfo skipped, the first: %s", list->skipped, w.first);
		kcg_printable(why, KCG_ERROR_MAX, why, strlen(why), 0);
	}
done:
	khaos_close(&a);
	return rc;
}
