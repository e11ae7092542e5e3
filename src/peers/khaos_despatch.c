/*
 * khaos_despatch.c: reading what Khaos says about despatch in an
 * ExportOrderStatusEx answer (kcg_khaos_despatch_parse(), khaos.h).
 * The shape is KSDXMLOrderStatusEx.xml [XML-OSX; FACTS.md §1.4-1.5]:
 * per INVOICE the attributes SHIP_DATE (DD/MM/YYYY, set by "Confirm
 * Shipment"), COURIER, CONSIGNMENT_REF, TRACKING_URL, QTY_SOLD, QTY_SENT;
 * per BOX SHIPPED (0/-1), SHIP_DATE, COURIER, CONSIGNMENT_REF,
 * TRACKING_URL and its BOX_ITEMs (STOCK_CODE, QTY_SENT); INVOICE_ITEMS;
 * COMPLETE (-1: all issued) and CANCELLED on the order. The answer is
 * untrusted: every value is bounded, nothing is cut short.
 */
#include "khaos_private.h"

#include "kcgate/common.h"
#include "kcgate/peers/xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#define METHOD "ExportOrderStatusEx"

/* An attribute's trimmed text ("" when absent); NULL when out of memory. */
static char *attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = n ? xmlGetNoNsProp(n, BAD_CAST name) : NULL;
	char *out = kcg_xml_trim(v ? (const char *)v : "");
	xmlFree(v);
	return out;
}

/* A Khaos quantity ("123.45", "2", "") as whole units (the fraction
 * dropped); -1 when it is not a number. */
static int64_t quantity(const char *s)
{
	size_t n = strspn(s, "0123456789");
	const char *rest = s + n;
	if (*rest == '.')
		rest += 1 + strspn(rest + 1, "0123456789");
	if (*rest || n > 12)
		return n == 0 && !*s ? 0 : -1;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

struct walk {
	json_t *orders;
	json_t *problems; /* of the order being read */
	char *why;
};

static void problem(struct walk *w, const char *fmt, const char *a, const char *b)
{
	char msg[300];
	snprintf(msg, sizeof(msg), fmt, a, b);
	json_array_append_new(w->problems, json_string(msg));
}

/* A printable copy of @p s for a sentence, at most 40 bytes. */
static void shown(char out[41], const char *s)
{
	kcg_printable(out, 41, s, strlen(s), 0);
}

/* The items (@p item_name children of @p parent) as [{"stock_code","qty"}]. */
static int items_of(struct walk *w, xmlNodePtr parent, const char *item_name, json_t *items)
{
	size_t n = 0;
	for (xmlNodePtr c = kcg_xml_first(parent); c; c = kcg_xml_next(c)) {
		if (!kcg_xml_named(c, item_name))
			continue;
		if (++n > KCG_KHAOS_UNIT_ITEMS_MAX) {
			kcg_why(w->why, METHOD ": more than %d %s elements in one box or invoice", KCG_KHAOS_UNIT_ITEMS_MAX,
				item_name);
			return KCG_EPAYLOAD;
		}
		char *code = attr(c, "STOCK_CODE"), *qty = attr(c, "QTY_SENT");
		int rc = code && qty ? 0 : -ENOMEM;
		int64_t q = rc == 0 ? quantity(qty) : -1;
		if (rc == 0 && (!*code || strlen(code) >= KCG_KHAOS_CODE_MAX || q < 0)) {
			char s[41], t[41];
			shown(s, code);
			shown(t, qty);
			problem(w, "an item '%s' with QTY_SENT '%s' is not one kcgate reads (stock code up to 63 bytes, a quantity)",
				s, t);
		} else if (rc == 0 && q > 0) {
			rc = json_array_append_new(items, json_pack("{s:s, s:I}", "stock_code", code, "qty", (json_int_t)q))
				     ? -ENOMEM
				     : 0;
		}
		free(code);
		free(qty);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* One unit (a BOX, or an INVOICE packed in no box) appended to @p units. */
static int unit_of(struct walk *w, xmlNodePtr n, xmlNodePtr inv, const char *order_courier, bool box, size_t n_inv,
		   size_t n_box, json_t *units)
{
	if (json_array_size(units) >= KCG_KHAOS_UNITS_MAX) {
		kcg_why(w->why, METHOD ": more than %d invoices and boxes in one order", KCG_KHAOS_UNITS_MAX);
		return KCG_EPAYLOAD;
	}
	char *inv_code = attr(inv, "INVOICE_CODE"), *ship = attr(n, "SHIP_DATE"), *shipped = attr(n, "SHIPPED");
	char *courier = attr(n, "COURIER"), *cons = attr(n, "CONSIGNMENT_REF"), *url = attr(n, "TRACKING_URL");
	char *sold = attr(inv, "QTY_SOLD"), *sent = attr(inv, "QTY_SENT");
	char *inv_courier = attr(inv, "COURIER"), *inv_cons = attr(inv, "CONSIGNMENT_REF"), *inv_url = attr(inv, "TRACKING_URL");
	json_t *items = json_array(), *u = NULL;
	int rc = -ENOMEM;
	if (!inv_code || !ship || !shipped || !courier || !cons || !url || !sold || !sent || !inv_courier || !inv_cons ||
	    !inv_url || !items)
		goto out;
	/* a box says what the invoice does not; the order's courier last */
	const char *c = *courier ? courier : *inv_courier ? inv_courier : order_courier;
	const char *k = *cons ? cons : inv_cons;
	const char *t = *url ? url : inv_url;
	uint64_t ship_ms = 0;
	bool ok = true;
	char s1[41], s2[41];
	shown(s1, inv_code);
	if (*ship && kcg_khaos_parse_date(ship, &ship_ms) != 0) {
		shown(s2, ship);
		problem(w, "invoice %s: SHIP_DATE '%s' is not DD/MM/YYYY", s1, s2);
		ok = false;
	}
	if (strlen(c) > KCG_KHAOS_TEXT_MAX || strlen(k) > KCG_KHAOS_TEXT_MAX || strlen(t) > KCG_KHAOS_URL_MAX ||
	    strlen(inv_code) >= KCG_KHAOS_CODE_MAX) {
		problem(w, "invoice %s: a courier, consignment ref or tracking URL is longer than kcgate takes%s", s1, "");
		ok = false;
	}
	rc = items_of(w, box ? n : kcg_xml_child(n, "INVOICE_ITEMS"), box ? "BOX_ITEM" : "INVOICE_ITEM", items);
	if (rc != 0)
		goto out;
	/* a box marked not shipped is not, whatever its date */
	bool is_shipped = ok && ship_ms && *k && !(box && strcmp(shipped, "0") == 0);
	int64_t qs = quantity(sold), qt = quantity(sent);
	/* the unit's identity: its invoice (code and place, as two invoices
	 * may share a code) and its box's place in it; two boxes may share a
	 * consignment ref (the template has them) */
	char key[KCG_KHAOS_CODE_MAX + 48];
	snprintf(key, sizeof(key), "%s#%zu/%zu", ok ? inv_code : "", n_inv, n_box);
	u = json_pack("{s:s, s:s, s:b, s:b, s:I, s:s, s:s, s:s, s:I, s:I, s:O}", "key", key, "invoice", ok ? inv_code : "", "box", box,
		      "shipped", is_shipped, "ship_ms", (json_int_t)ship_ms, "courier", ok ? c : "", "consignment",
		      ok ? k : "", "tracking_url", ok ? t : "", "qty_sold", (json_int_t)(qs < 0 ? 0 : qs), "qty_sent",
		      (json_int_t)(qt < 0 ? 0 : qt), "items", items);
	rc = u && json_array_append_new(units, u) == 0 ? 0 : -ENOMEM;
out:
	json_decref(items);
	free(inv_code);
	free(ship);
	free(shipped);
	free(courier);
	free(cons);
	free(url);
	free(sold);
	free(sent);
	free(inv_courier);
	free(inv_cons);
	free(inv_url);
	return rc;
}

static int order_of(xmlNodePtr o, void *arg)
{
	struct walk *w = arg;
	char *ref = attr(o, "ASSOCIATED_REF"), *code = attr(o, "SORDER_CODE");
	char *complete = kcg_xml_text(kcg_xml_child(o, "COMPLETE"));
	char *courier = kcg_xml_text(kcg_xml_child(o, "COURIER"));
	json_t *units = json_array();
	int rc = -ENOMEM;
	w->problems = json_array();
	if (!ref || !code || !complete || !courier || !units || !w->problems)
		goto out;
	rc = 0;
	if (!*ref || strlen(ref) >= KCG_KHAOS_CODE_MAX || strlen(code) >= KCG_KHAOS_CODE_MAX)
		goto out; /* not an order kcgate could have booked */
	if (strlen(courier) > KCG_KHAOS_TEXT_MAX)
		courier[0] = '\0';
	size_t n_inv = 0;
	for (xmlNodePtr inv = kcg_xml_first(kcg_xml_child(o, "INVOICES")); inv && rc == 0; inv = kcg_xml_next(inv)) {
		if (!kcg_xml_named(inv, "INVOICE"))
			continue;
		if (++n_inv > KCG_KHAOS_UNITS_MAX) {
			kcg_why(w->why, METHOD ": more than %d invoices in one order", KCG_KHAOS_UNITS_MAX);
			rc = KCG_EPAYLOAD;
			break;
		}
		size_t n_box = 0;
		for (xmlNodePtr b = kcg_xml_first(inv); b && rc == 0; b = kcg_xml_next(b)) {
			if (!kcg_xml_named(b, "BOX"))
				continue;
			rc = unit_of(w, b, inv, courier, true, n_inv, ++n_box, units);
		}
		if (rc == 0 && !n_box)
			rc = unit_of(w, inv, inv, courier, false, n_inv, 0, units);
	}
	if (rc == KCG_EPAYLOAD) {
		/* one order past the caps: skipped (and named), never the whole
		 * answer refused: the others go on, the watermark moves */
		json_t *skip = json_pack("{s:s, s:s, s:s, s:[], s:[]}", "ref", ref, "code", code, "oversized", w->why, "units",
					 "problems");
		w->why[0] = '\0';
		rc = skip && json_array_append_new(w->orders, skip) == 0 ? 0 : -ENOMEM;
		goto out;
	}
	if (rc != 0)
		goto out;
	json_t *one = json_pack("{s:s, s:s, s:b, s:b, s:s, s:O, s:O}", "ref", ref, "code", code, "complete",
				strcmp(complete, "-1") == 0, "cancelled", kcg_xml_child(o, "CANCELLED") != NULL, "courier",
				courier, "units", units, "problems", w->problems);
	rc = one && json_array_append_new(w->orders, one) == 0 ? 0 : -ENOMEM;
out:
	json_decref(units);
	json_decref(w->problems);
	w->problems = NULL;
	free(ref);
	free(code);
	free(complete);
	free(courier);
	return rc;
}

int kcg_khaos_despatch_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, json_t **orders,
			     char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	xmlDocPtr inner = NULL;
	*orders = NULL;
	why[0] = '\0';
	int rc = khaos_open(cfg, r, METHOD, &a, why);
	if (rc != 0)
		return rc;
	struct walk w = { json_array(), NULL, why };
	rc = w.orders ? khaos_open_inner(&a, METHOD, &inner, why) : -ENOMEM;
	if (rc == 0)
		rc = khaos_each_el(inner, METHOD, "ORDER_STATUS", order_of, &w, why);
	if (rc == -ENOMEM)
		kcg_why(why, METHOD ": out of memory");
	if (rc == 0)
		*orders = w.orders;
	else
		json_decref(w.orders);
	xmlFreeDoc(inner);
	khaos_close(&a);
	return rc;
}

/* ---- GetSOPData: the couriers Khaos knows ---- */

static int courier_of(xmlNodePtr c, void *arg)
{
	json_t *list = arg;
	if (!kcg_xml_named(c, "COURIER"))
		return 0;
	char *code = attr(c, "CODE"), *name = kcg_xml_text(c);
	int rc = code && name ? 0 : -ENOMEM;
	/* a value past its bound is left out, never cut short */
	if (rc == 0 && strlen(code) < KCG_KHAOS_CODE_MAX && strlen(name) <= KCG_KHAOS_TEXT_MAX && (*code || *name) &&
	    json_array_size(list) < KCG_KHAOS_COURIERS_MAX)
		rc = json_array_append_new(list, json_pack("{s:s, s:s}", "code", code, "name", name)) ? -ENOMEM : 0;
	free(code);
	free(name);
	return rc;
}

static int couriers_of(xmlNodePtr cs, void *arg)
{
	for (xmlNodePtr c = kcg_xml_first(cs); c; c = kcg_xml_next(c)) {
		int rc = courier_of(c, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_khaos_sop_couriers_parse(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, json_t **couriers,
				 char why[KCG_ERROR_MAX])
{
	struct kcg_khaos_answer a;
	xmlDocPtr inner = NULL;
	*couriers = NULL;
	why[0] = '\0';
	int rc = khaos_open(cfg, r, "GetSOPData", &a, why);
	if (rc != 0)
		return rc;
	json_t *list = json_array();
	rc = list ? khaos_open_inner(&a, "GetSOPData", &inner, why) : -ENOMEM;
	if (rc == 0 && inner)
		rc = khaos_each_el(inner, "GetSOPData", "COURIERS", couriers_of, list, why);
	if (rc == -ENOMEM)
		kcg_why(why, "GetSOPData: out of memory");
	if (rc == 0)
		*couriers = list;
	else
		json_decref(list);
	xmlFreeDoc(inner);
	khaos_close(&a);
	return rc;
}
