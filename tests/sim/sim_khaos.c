/*
 * kcgate-sim, Khaos Control web service, the methods: ExportOrderStatusEx,
 * ExportStockStatus, GetStockList and GetSOPData here, ImportOrders in
 * sim_khaos_import.c, answering in the shapes of Khaos's Web Integration Pack
 * (shared/ref/khaos/FACTS.md and the templates beside it). The protocol is
 * sim_khaos_soap.c, the control API sim_khaos_ctl.c; the
 * contract docs/khaos-soap.md, the sim's own choices docs/sim.md §4.
 */
#include "sim_khaos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- ExportOrderStatusEx ---- */

static const char *stage_desc(int id)
{
	switch (id) {
	case 1: return "CANCELLED";
	case 9: return "ORDERS_RELEASED";
	case 10: return "ORDERS_STAGING";
	case 11: return "ORDERS_AUTHORISEPAYMENT";
	case 12: return "PRINTPICKING";
	case 13: return "ORDERS_PACKBOXES";
	case 14: return "ORDERS_SHIP";
	case 15: return "ORDERS_PRINTINVOICES";
	case 16: return "ORDERS_ISSUEINVOICES";
	case 17: return "ORDERS_FUTURE_DATE";
	case 18: return "ORDERS_FUTURE_STOCK";
	case 19: return "ORDERS_FUTURE_HOLD";
	case 20: return "ORDERS_PROCESSING";
	case 21: return "ORDERS_FUTURE_TERMS";
	default: return id >= 70 && id <= 73 ? "ISSUED_CURRENT" : "UNKNOWN";
	}
}

/* DD/MM/YYYY, as ExportOrderStatusEx writes dates [XML-OSX]. */
static void ddmmyyyy(int64_t ms, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 16, "%d/%m/%Y", &tm);
}

/* Parse an optional date parameter; false (fault set) when invalid. */
static bool date_param(struct sim_soap_call *c, const char *name, int64_t *ms, bool *set, struct sim_reply *r)
{
	char *v = sk_param(c, name);
	bool ok = true;

	*set = false;
	if (v && *v) {
		ok = sim_parse_time(v, ms) == 0;
		*set = ok;
		if (!ok)
			sim_khaos_fault(r, 500, "Client", "%s: '%s' is not a date-time (YYYY-MM-DDTHH:MM:SS)", name, v);
	}
	free(v);
	return ok;
}

/* Boolean parameters of the call, each into *out; false (fault set) when one is not a Boolean. */
static bool bool_params(struct sim_soap_call *c, struct sim_reply *r, const char *const *names, bool *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *v = sk_param(c, names[i]);
		bool ok = sk_bool(v, &out[i]);
		if (!ok)
			sim_khaos_fault(r, 500, "Client", "%s: '%s' is not a Boolean (-1/0, true/false)", names[i], v);
		free(v);
		if (!ok)
			return false;
	}
	return true;
}

/* An integer parameter within [lo, hi] ("" gives @p dflt); false with a fault. */
static bool int_param(struct sim_soap_call *c, const char *name, long long lo, long long hi, long long dflt,
		      long long *out, struct sim_reply *r)
{
	char *v = sk_param(c, name);
	bool ok = true;
	*out = dflt;
	if (v && *v && sim_parse_ll(v, lo, hi, out) != 0) {
		sim_khaos_fault(r, 500, "Client", "%s: '%s' is not an integer in %lld..%lld", name, v, lo, hi);
		ok = false;
	}
	free(v);
	return ok;
}

/* The BOX elements and INVOICE_ITEMS of a despatched invoice (ShowItems). */
static void boxes_of(xmlNodePtr inv, const struct sim_sales_order *so)
{
	char d[16], buf[48];
	xmlNodePtr items = NULL;

	for (size_t b = 0; b < so->nboxes; b++) {
		const struct sim_box *bx = &so->boxes[b];
		if (bx->invoice_only)
			continue;
		xmlNodePtr box = sk_el(inv, "BOX", NULL);

		ddmmyyyy(bx->ship_ms, d);
		/* a box being packed is SHIPPED="0", dated and with its ref all the same */
		xmlNewProp(box, BAD_CAST "SHIPPED", BAD_CAST (bx->packed ? "0" : "-1"));
		xmlNewProp(box, BAD_CAST "SHIP_DATE", BAD_CAST d);
		xmlNewProp(box, BAD_CAST "COURIER", BAD_CAST bx->courier);
		xmlNewProp(box, BAD_CAST "CONSIGNMENT_REF", BAD_CAST bx->consignment_ref);
		xmlNewProp(box, BAD_CAST "TRACKING_URL", BAD_CAST bx->tracking_url);
		for (size_t k = 0; k < bx->nitems; k++) {
			xmlNodePtr it = sk_el(box, "BOX_ITEM", NULL);
			xmlNewProp(it, BAD_CAST "STOCK_CODE", BAD_CAST bx->items[k].stock_code);
			snprintf(buf, sizeof(buf), "%lld.00", bx->items[k].qty);
			xmlNewProp(it, BAD_CAST "QTY_SENT", BAD_CAST buf);
		}
	}
	for (size_t b = 0; b < so->nboxes; b++) {
		for (size_t k = 0; k < so->boxes[b].nitems && !so->boxes[b].invoice_only && !so->boxes[b].packed; k++) {
			if (!items)
				items = sk_el(inv, "INVOICE_ITEMS", NULL);
			xmlNodePtr it = sk_el(items, "INVOICE_ITEM", NULL);
			xmlNewProp(it, BAD_CAST "STOCK_CODE", BAD_CAST so->boxes[b].items[k].stock_code);
			snprintf(buf, sizeof(buf), "%lld.00", so->boxes[b].items[k].qty);
			xmlNewProp(it, BAD_CAST "QTY_SENT", BAD_CAST buf);
		}
	}
}

static void order_status(xmlNodePtr root, const struct sim_sales_order *so, bool show_items)
{
	char buf[64], d[16];
	long long qty = 0;
	xmlNodePtr o = sk_el(root, "ORDER_STATUS", NULL), n;

	for (size_t k = 0; k < so->nlines; k++)
		qty += so->lines[k].quantity;
	xmlNewProp(o, BAD_CAST "SORDER_CODE", BAD_CAST so->code);
	xmlNewProp(o, BAD_CAST "ASSOCIATED_REF", BAD_CAST so->associated_ref);
	n = sk_el(o, "COMPANY_NAME", so->company_name);
	xmlNewProp(n, BAD_CAST "COMPANY_CODE", BAD_CAST "");
	xmlNewProp(n, BAD_CAST "OTHER_REF", BAD_CAST "");
	xmlNewProp(sk_el(o, "ORDER_TYPE", "Sales Order"), BAD_CAST "TYPE_ID", BAD_CAST "S");
	/* the order's courier is the booking's COURIER_CODE, not a parcel's */
	sk_el(o, "COURIER", so->courier_code);
	sk_add_text(o, "CURRENCY_CODE", so->currency);
	ddmmyyyy(so->booked_ms, d);
	sk_add_text(o, "DATE_CREATED", d);
	sk_el(o, "DELIVERY_DATE", NULL);
	sk_add_text(o, "COMPLETE", sk_all_sent(so) ? "-1" : "0");
	sk_add_num(o, "QTY_SOLD", qty);
	sk_add_num(o, "QTY_ASSIGNED", so->nboxes ? qty : 0);
	if (so->cancelled_ms) {
		xmlNodePtr cx = sk_el(o, "CANCELLED", NULL);
		time_t t = (time_t)(so->cancelled_ms / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
		sk_add_text(cx, "CANCELLED_DATE_TIME", buf);
		sk_add_text(cx, "REASON", "cancelled in kcgate-sim");
		sk_add_text(cx, "USER_NAME", "sim");
	}
	xmlNodePtr invs = sk_el(o, "INVOICES", NULL);
	xmlNodePtr inv = sk_el(invs, "INVOICE", NULL);
	xmlNewProp(inv, BAD_CAST "INVOICE_CODE", BAD_CAST so->invoice_code);
	xmlNewProp(inv, BAD_CAST "INVOICE_DATE", BAD_CAST d);
	const struct sim_box *first = NULL;
	char ship[16] = "";
	long long sent = 0, apart = 0;
	for (size_t b = 0; b < so->nboxes; b++) {
		if (so->boxes[b].packed)
			continue;
		for (size_t k = 0; k < so->boxes[b].nitems; k++)
			*(so->boxes[b].invoice_only ? &apart : &sent) += so->boxes[b].items[k].qty;
		if (!first && !so->boxes[b].invoice_only)
			first = &so->boxes[b];
	}
	if (first)
		ddmmyyyy(first->ship_ms, ship);
	qty -= apart; /* the main invoice holds what no invoice of its own took */
	xmlNewProp(inv, BAD_CAST "SHIP_DATE", BAD_CAST ship);
	xmlNewProp(inv, BAD_CAST "ISSUE_DATE", BAD_CAST "");
	snprintf(buf, sizeof(buf), "%d", so->stage);
	xmlNewProp(inv, BAD_CAST "INVOICE_STAGE_ID", BAD_CAST buf);
	xmlNewProp(inv, BAD_CAST "INVOICE_STAGE_DESC", BAD_CAST stage_desc(so->stage));
	xmlNewProp(inv, BAD_CAST "COURIER", BAD_CAST (first ? first->courier : ""));
	xmlNewProp(inv, BAD_CAST "CONSIGNMENT_REF", BAD_CAST (first ? first->consignment_ref : ""));
	xmlNewProp(inv, BAD_CAST "TRACKING_URL", BAD_CAST (first ? first->tracking_url : ""));
	snprintf(buf, sizeof(buf), "%lld.00", qty);
	xmlNewProp(inv, BAD_CAST "QTY_SOLD", BAD_CAST buf);
	snprintf(buf, sizeof(buf), "%lld.00", sent);
	xmlNewProp(inv, BAD_CAST "QTY_SENT", BAD_CAST buf);
	xmlNewProp(inv, BAD_CAST "MOVED", BAD_CAST "-1");
	if (show_items)
		boxes_of(inv, so);
	/* the single-parcel shape: each its own INVOICE, courier and
	 * consignment on the invoice, INVOICE_ITEMS, no BOX [XML-OSX] */
	size_t n_apart = 0;
	for (size_t b = 0; b < so->nboxes; b++) {
		const struct sim_box *bx = &so->boxes[b];
		long long n = 0;
		if (!bx->invoice_only)
			continue;
		xmlNodePtr iv = sk_el(invs, "INVOICE", NULL);
		snprintf(buf, sizeof(buf), "%s-%zu", so->invoice_code, ++n_apart);
		xmlNewProp(iv, BAD_CAST "INVOICE_CODE", BAD_CAST buf);
		xmlNewProp(iv, BAD_CAST "INVOICE_DATE", BAD_CAST d);
		ddmmyyyy(bx->ship_ms, ship);
		xmlNewProp(iv, BAD_CAST "SHIP_DATE", BAD_CAST ship);
		xmlNewProp(iv, BAD_CAST "ISSUE_DATE", BAD_CAST ship);
		xmlNewProp(iv, BAD_CAST "INVOICE_STAGE_ID", BAD_CAST "70");
		xmlNewProp(iv, BAD_CAST "INVOICE_STAGE_DESC", BAD_CAST stage_desc(70));
		xmlNewProp(iv, BAD_CAST "COURIER", BAD_CAST bx->courier);
		xmlNewProp(iv, BAD_CAST "CONSIGNMENT_REF", BAD_CAST bx->consignment_ref);
		xmlNewProp(iv, BAD_CAST "TRACKING_URL", BAD_CAST bx->tracking_url);
		for (size_t k = 0; k < bx->nitems; k++)
			n += bx->items[k].qty;
		snprintf(buf, sizeof(buf), "%lld.00", n);
		xmlNewProp(iv, BAD_CAST "QTY_SOLD", BAD_CAST buf);
		xmlNewProp(iv, BAD_CAST "QTY_SENT", BAD_CAST buf);
		xmlNewProp(iv, BAD_CAST "MOVED", BAD_CAST "-1");
		if (!show_items)
			continue;
		xmlNodePtr items = sk_el(iv, "INVOICE_ITEMS", NULL);
		for (size_t k = 0; k < bx->nitems; k++) {
			xmlNodePtr it = sk_el(items, "INVOICE_ITEM", NULL);
			xmlNewProp(it, BAD_CAST "STOCK_CODE", BAD_CAST bx->items[k].stock_code);
			snprintf(buf, sizeof(buf), "%lld.00", bx->items[k].qty);
			xmlNewProp(it, BAD_CAST "QTY_SENT", BAD_CAST buf);
		}
	}
}

static void export_order_status(struct sim_soap_call *c, struct sim_reply *r)
{
	static const char *const flags[] = { "WebOnly", "ConfirmedOnly", "IncludeTracking", "IncludeCancelled",
					     "ShowItems" };
	bool flag[5];
	char *ids_s = NULL, *stages_s = NULL;
	char **ids = NULL, **stages = NULL;
	size_t nids = 0, nstages = 0;
	long long *stage_ids = NULL, mapping;
	int64_t from = 0, to = 0;
	bool from_set, to_set;
	struct soap_out s;

	if (!int_param(c, "MappingType", 1, 4, 0, &mapping, r) || !bool_params(c, r, flags, flag, 5) ||
	    !date_param(c, "DateFrom", &from, &from_set, r) || !date_param(c, "DateTo", &to, &to_set, r))
		return;
	ids_s = sk_param(c, "IDs");
	stages_s = sk_param(c, "InvoiceStageIDs");
	ids = sim_split_csv(ids_s, &nids);
	/* "If no ID(s) are defined, set this to 1" [WIG] */
	if (mapping != 3 && mapping != 4 && !(mapping == 1 && nids == 0)) {
		sim_khaos_fault(r, 500, "Client", "ExportOrderStatusEx: MappingType %lld: the sim knows 3 (SORDER_CODE) "
				"and 4 (ASSOCIATED_REF), and 1 without IDs", mapping);
		goto out;
	}
	if (nids == 0 && !(from_set && to_set)) {
		sim_khaos_fault(r, 500, "Client", "ExportOrderStatusEx: IDs is optional only when DateFrom and DateTo are set");
		goto out;
	}
	stages = sim_split_csv(stages_s, &nstages);
	stage_ids = sim_xmalloc(sizeof(*stage_ids) * (nstages + 1));
	for (size_t i = 0; i < nstages; i++) {
		if (sim_parse_ll(stages[i], 0, 1000, &stage_ids[i])) {
			sim_khaos_fault(r, 500, "Client", "InvoiceStageIDs: '%s' is not a stage id", stages[i]);
			goto out;
		}
	}
	xmlDocPtr inner = sk_inner_doc("STATUS_LIST");
	xmlNodePtr root = xmlDocGetRootElement(inner);
	pthread_mutex_lock(&sim.lock);
	for (size_t i = 0; i < sim.nsos; i++) {
		struct sim_sales_order *so = &sim.sos[i];
		const char *key = mapping == 3 ? so->code : so->associated_ref;
		bool hit = nids == 0;

		for (size_t k = 0; k < nids && !hit; k++)
			hit = strcmp(ids[k], key) == 0;
		/* the range: the order's date, or (IncludeTracking) a tracking
		 * change in it, or (IncludeCancelled) its cancellation */
		bool in_range = !(from_set && so->booked_ms < from) && !(to_set && so->booked_ms > to);
		if (!in_range && flag[2] && so->tracking_ms)
			in_range = !(from_set && so->tracking_ms < from) && !(to_set && so->tracking_ms > to);
		if (!in_range && flag[3] && so->cancelled_ms)
			in_range = !(from_set && so->cancelled_ms < from) && !(to_set && so->cancelled_ms > to);
		if (!hit || !in_range)
			continue;
		if (so->cancelled_ms && !flag[3])
			continue;
		hit = nstages == 0;
		for (size_t k = 0; k < nstages && !hit; k++)
			hit = stage_ids[k] == so->stage;
		if (hit)
			order_status(root, so, flag[4]);
	}
	pthread_mutex_unlock(&sim.lock);
	sk_begin(&s, method_names[c->method]);
	sk_finish_string(&s, inner, r);
out:
	free(stage_ids);
	sim_strv_free(ids, nids);
	sim_strv_free(stages, nstages);
	free(ids_s);
	free(stages_s);
}

/* ---- stock ---- */

static int cmp_stock(const void *a, const void *b)
{
	return strcmp((*(struct sim_stock *const *)a)->code, (*(struct sim_stock *const *)b)->code);
}

/* GetStockList's REVISION_DATE: the later of the item's last change and
 * its last revision alone. */
static int64_t revised_at(const struct sim_stock *st)
{
	return st->revised_ms > st->changed_ms ? st->revised_ms : st->changed_ms;
}

/* Stock items (sorted by code) filtered by codes, changed-since (the last
 * change, or with @p revision the revision date) and site (-1 every site);
 * lock held. */
static struct sim_stock **select_stock(char **codes, size_t ncodes, bool since_set, int64_t since, long long site,
				       bool revision, size_t *count)
{
	struct sim_stock **v = sim_xmalloc(sizeof(*v) * (sim.nstock + 1));
	size_t n = 0;

	for (size_t i = 0; i < sim.nstock; i++) {
		bool hit = ncodes == 0;

		for (size_t k = 0; k < ncodes && !hit; k++)
			hit = strcmp(codes[k], sim.stock[i].code) == 0;
		bool at = site < 0 || (!sim.stock[i].n_at && sim.stock[i].site == site);
		for (size_t a = 0; !at && a < sim.stock[i].n_at; a++)
			at = sim.stock[i].at[a].site == site;
		int64_t when = revision ? revised_at(&sim.stock[i]) : sim.stock[i].changed_ms;
		if (hit && (!since_set || when >= since) && at)
			v[n++] = &sim.stock[i];
	}
	qsort(v, n, sizeof(*v), cmp_stock);
	*count = n;
	return v;
}

/* STATUS [XML-SS] at level @p level: 0 in stock, 1 all allocated (none left
 * to sell, some allocated to sales orders), 3 out of stock (not due), 4
 * discontinued; or the status set through the control API. */
static int status_at(const struct sim_stock *st, long long level)
{
	if (st->status >= 0)
		return st->status;
	if (st->discontinued)
		return 4;
	if (level > 0)
		return 0;
	return st->allocated > 0 ? 1 : 3;
}

int sk_stock_status(const struct sim_stock *st)
{
	return status_at(st, st->available);
}

/* One STOCK_ITEM of @p st at level @p level. */
static void stock_item(xmlNodePtr root, const struct sim_stock *st, long long level)
{
	char buf[32];
	xmlNodePtr it = sk_el(root, "STOCK_ITEM", NULL);
	xmlNewProp(it, BAD_CAST "CODE", BAD_CAST st->code);
	snprintf(buf, sizeof(buf), "A%lu", st->stock_id);
	xmlNewProp(it, BAD_CAST "ID", BAD_CAST buf);
	xmlNewProp(it, BAD_CAST "DESC", BAD_CAST st->code);
	sk_add_text(it, "SELL_PRICE", st->sell_price);
	if (st->websell_price[0])
		sk_add_text(it, "WEBSELL_PRICE", st->websell_price);
	sk_add_num(it, "LEVEL", level);
	sk_add_num(it, "STATUS", status_at(st, level));
	sk_el(it, "LEAD_TIME", NULL);
	sk_add_num(it, "BUILD_POTENTIAL_CHILDREN", st->build);
}

static void export_stock_status(struct sim_soap_call *c, struct sim_reply *r)
{
	static const char *const flags[] = { "PotentialLeadTime" };
	char *codes_s = sk_param(c, "StockCode");
	char **codes = NULL;
	size_t ncodes = 0, n;
	long long mapping, site;
	int64_t since = 0;
	bool since_set, lead;
	struct soap_out s;

	if (!int_param(c, "MappingType", 0, 4, 1, &mapping, r) || !int_param(c, "SiteID", -1, 1000000, 0, &site, r) ||
	    !bool_params(c, r, flags, &lead, 1) || !date_param(c, "LastUpdated", &since, &since_set, r))
		goto out;
	if (mapping != 1) {
		sim_khaos_fault(r, 500, "Client", "ExportStockStatus: MappingType %lld: the sim knows 1 (STOCK_CODE)",
				mapping);
		goto out;
	}
	codes = sim_split_csv(codes_s, &ncodes);
	xmlDocPtr inner = sk_inner_doc("STOCK_STATUS");
	xmlNodePtr root = xmlDocGetRootElement(inner);
	xmlNewProp(root, BAD_CAST "SITE", BAD_CAST (site == -1 ? "All Sites" : "Main Site"));
	pthread_mutex_lock(&sim.lock);
	/* SiteID: "if omitted, results for the default stock site" (1 here);
	 * -1 every site [WIG] */
	struct sim_stock **sel = select_stock(codes, ncodes, since_set, since, site ? site : 1, false, &n);
	long long want = site ? site : 1;
	for (size_t i = 0; i < n; i++) {
		if (!sel[i]->n_at) {
			stock_item(root, sel[i], sel[i]->available);
			continue;
		}
		/* held at several sites: that site's level; every site's with -1 */
		for (size_t a = 0; a < sel[i]->n_at; a++)
			if (want < 0 || sel[i]->at[a].site == want)
				stock_item(root, sel[i], sel[i]->at[a].level);
	}
	pthread_mutex_unlock(&sim.lock);
	free(sel);
	sk_begin(&s, method_names[c->method]);
	sk_finish_string(&s, inner, r);
out:
	sim_strv_free(codes, ncodes);
	free(codes_s);
}

/* GetStockList: TStockList {Count, List of TStockInfo} [WIG]. DateType 0
 * (revision), 1 (launch) and 2 (movement) all read the item's revision
 * date (its last change, or a later revision alone: "revised_only"); -1
 * (Keystone's module sends it) is taken as 0. Items changed at or after
 * DateValue. */
static void get_stock_list(struct sim_soap_call *c, struct sim_reply *r)
{
	long long type, item_type;
	int64_t since = 0;
	bool since_set;
	size_t n;
	struct soap_out s;
	char ts[32];

	if (!int_param(c, "DateType", -1, 2, 0, &type, r) || !int_param(c, "StockItemType", 0, 2, 0, &item_type, r) ||
	    !date_param(c, "DateValue", &since, &since_set, r))
		return;
	sk_begin(&s, method_names[c->method]);
	xmlNsPtr types = xmlNewNs(xmlDocGetRootElement(s.doc), BAD_CAST TYPES_NS, BAD_CAST "NS2");
	xmlNewProp(sk_el(s.resp, "return", NULL), BAD_CAST "href", BAD_CAST "#1");
	xmlNodePtr list = sk_multiref(&s, types, "TStockList", 1);
	pthread_mutex_lock(&sim.lock);
	struct sim_stock **sel = select_stock(NULL, 0, since_set, since, -1, true, &n);
	sk_add_num(list, "Count", (long long)n);
	xmlNodePtr arr = sk_encoded_array(&s, list, "List", "TStockInfo", n);
	for (size_t i = 0; i < n; i++) {
		sk_href_item(arr, (int)i + 2);
		xmlNodePtr it = sk_multiref(&s, types, "TStockInfo", (int)i + 2);
		sk_add_typed(&s, it, "StockCode", "xsd:string", sel[i]->code);
		sk_add_typed(&s, it, "OtherRef", "xsd:string", "");
		sk_add_typed(&s, it, "StockDesc", "xsd:string", sel[i]->code);
		sk_add_typed(&s, it, "ParentCode", "xsd:string", "");
		sk_add_typed(&s, it, "ParentOtherRef", "xsd:string", "");
		sim_fmt_khaos(revised_at(sel[i]), ts);
		sk_add_typed(&s, it, "LastUpdated", "xsd:dateTime", ts);
	}
	pthread_mutex_unlock(&sim.lock);
	free(sel);
	sk_reply_doc(r, 200, s.doc);
}

/* GetSOPData: SOPDATA with COURIERS when Courier is true [XML-SOP]. */
static void get_sop_data(struct sim_soap_call *c, struct sim_reply *r)
{
	static const char *const flags[] = { "Courier", "DelRate", "CourierBanding", "BOGOF", "SpecialOffer",
					     "TelesalePrompt", "KeyCode", "BarredItems" };
	bool flag[8];
	struct soap_out s;

	if (!bool_params(c, r, flags, flag, 8))
		return;
	xmlDocPtr inner = sk_inner_doc("SOPDATA");
	xmlNodePtr root = xmlDocGetRootElement(inner);
	if (flag[0]) {
		xmlNodePtr cs = sk_el(root, "COURIERS", NULL);
		pthread_mutex_lock(&sim.lock);
		for (size_t i = 0; i < sim.ncouriers; i++)
			xmlNewProp(sk_el(cs, "COURIER", sim.couriers[i].name), BAD_CAST "CODE",
				   BAD_CAST sim.couriers[i].code);
		pthread_mutex_unlock(&sim.lock);
	}
	sk_begin(&s, method_names[c->method]);
	sk_finish_string(&s, inner, r);
}

const char *sim_khaos_method(const struct sim_soap_call *c)
{
	return c->method < M_COUNT ? method_names[c->method] : "Unknown";
}

void sim_khaos_handle(struct sim_soap_call *c, struct sim_reply *r)
{
	switch (c->method) {
	case M_IMPORT_ORDERS:
		sk_import_orders(c, r);
		break;
	case M_EXPORT_ORDER_STATUS_EX:
		export_order_status(c, r);
		break;
	case M_EXPORT_STOCK_STATUS:
		export_stock_status(c, r);
		break;
	case M_GET_STOCK_LIST:
		get_stock_list(c, r);
		break;
	case M_GET_SOP_DATA:
		get_sop_data(c, r);
		break;
	case M_COUNT:
		break;
	}
}

