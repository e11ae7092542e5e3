/*
 * kcgate-sim, Khaos Control web service, the methods: ImportOrders,
 * ExportOrderStatusEx, ExportStockStatus, GetStockList and GetSOPData,
 * answering in the shapes of Khaos's Web Integration Pack
 * (shared/ref/khaos/FACTS.md and the templates beside it). The protocol is
 * sim_khaos_soap.c, the control API sim_khaos_ctl.c; the
 * contract docs/khaos-soap.md, the sim's own choices docs/sim.md §4.
 */
#include "sim_khaos.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Stage given to a freshly imported order (10 = Staging). */
#define NEW_ORDER_STAGE 10
/* The sim's wording of a repeated ASSOCIATED_REF (the real one is unknown, FACTS.md §1.8). */
#define DUPLICATE_REASON "Order with associated ref '%s' already exists"

/* ---- ImportOrders ---- */

struct parsed_order {
	char *associated_ref;
	char *site;
	char *sales_source;
	char *order_date;
	char *company_name;
	char *currency;
	char *po_number;
	char *delivery_postcode;	/* DPOSTCODE, or IPOSTCODE when DELADDR is empty */
	char *header[6];	/* ORDER_AMOUNT, COURIER_CODE, DELIVERY_GRS/NET/TAX, ORDER_NOTE */
	struct sim_so_line *lines;
	size_t nlines;
	char *error;		/* why it is skipped */
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

/* Field limits, in characters (FACTS.md §1.7: the guide's where it and the
 * template differ, the template's elsewhere). Address elements without
 * their I/D prefix. */
static const struct {
	const char *name;
	size_t max;
} limits[] = {
	{ "COMPANY_CODE", 10 }, { "OTHER_REF", 30 },   { "WEB_USER", 50 },   { "COMPANY_NAME", 50 },
	{ "TAX_REFERENCE", 20 }, { "ADDRESS1", 35 },   { "ADDRESS2", 35 },   { "ADDRESS3", 35 },
	{ "TOWN", 35 },		{ "COUNTY", 35 },      { "POSTCODE", 10 },   { "TITLE", 20 },
	{ "FORENAME", 50 },	{ "SURNAME", 50 },     { "TEL", 19 },	     { "FAX", 30 },
	{ "MOBILE", 30 },	{ "EMAIL", 50 },       { "ASSOCIATED_REF", 15 }, { "PO_NUMBER", 30 },
	{ "ORDER_NOTE", 2000 }, { "INVOICE_NOTE", 2000 }, { "COURIER_NOTE", 255 }, { "ORDER_CURRENCY_CODE", 3 },
	{ "STOCK_DESC", 250 },	{ "EXTENDED_DESC", 150 },
};

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* ---- money: amounts as sent, in ten-thousandths (Khaos prices may have 4 decimals) ---- */

#define AMOUNT_SCALE 10000

/* "[-]digits[.d{1,4}]" into ten-thousandths; false if it is not that. */
static bool parse_amount(const char *s, long long *out)
{
	long long v = 0;
	int decimals = -1;
	bool neg = s && *s == '-', digits = false;

	if (!s)
		return false;
	for (s += neg; *s; s++) {
		if (*s == '.' && decimals < 0) {
			decimals = 0;
			continue;
		}
		if (*s < '0' || *s > '9' || decimals >= 4 || v > 100000000000LL)
			return false;
		v = v * 10 + (*s - '0');
		digits = true;
		if (decimals >= 0)
			decimals++;
	}
	if (!digits || decimals == 0)
		return false;
	for (int d = decimals < 0 ? 0 : decimals; d < 4; d++)
		v *= 10;
	*out = neg ? -v : v;
	return true;
}

/* n / d rounded half away from zero (d > 0). */
static long long round_div(__int128 n, long long d)
{
	return (long long)(n >= 0 ? (n + d / 2) / d : -((-n + d / 2) / d));
}

/* An amount for a message: "12.34", "-0.05". */
static void fmt_pennies(long long p, char out[32])
{
	snprintf(out, 32, "%s%lld.%02lld", p < 0 ? "-" : "", (p < 0 ? -p : p) / 100, (p < 0 ? -p : p) % 100);
}

/* The first element under @p parent (any depth) past its limit, as a reason. */
static char *over_limit(xmlNodePtr parent)
{
	for (xmlNodePtr c = sk_first_el(parent); c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		char *deeper = over_limit(c);
		if (deeper)
			return deeper;
		const char *name = (const char *)c->name;
		for (int pass = 0; pass < 2; pass++, name++) {
			for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
				if (strcmp(limits[i].name, name) != 0)
					continue;
				char *t = sk_text_of(c);
				size_t n = utf8_chars(t);
				free(t);
				if (n > limits[i].max)
					return msgf("%s: %zu characters, at most %zu allowed", (const char *)c->name, n,
						    limits[i].max);
			}
			if (pass == 0 && name[0] != 'I' && name[0] != 'D')
				break;
		}
	}
	return NULL;
}

/* "yyyy-mm-dd" or "yyyy-mm-dd hh:mm:ss" [XML-IMP] */
static bool template_date(const char *s)
{
	int y, mo, d, h, mi, se, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && s[n] == '\0' && n == 10)
		return true;
	n = 0;
	return sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) == 6 && s[n] == '\0' && n == 19;
}

/* "If empty delivery address details then the system will use invoice
 * address" [XML-IMP]: DELADDR's DPOSTCODE when any DELADDR field has a
 * value, else INVADDR's IPOSTCODE; NULL when the one used has none. */
static char *delivery_postcode(xmlNodePtr cd)
{
	xmlNodePtr addrs = sk_child(cd, "ADDRESSES"), del = sk_child(addrs, "DELADDR");
	bool empty = true;

	for (xmlNodePtr c = sk_first_el(del); c && empty; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		char *t = sk_text_of(c);
		empty = !*t;
		free(t);
	}
	char *pc = empty ? sk_child_text(sk_child(addrs, "INVADDR"), "IPOSTCODE") : sk_child_text(del, "DPOSTCODE");
	if (pc && !*pc) {
		free(pc);
		pc = NULL;
	}
	return pc;
}

/* The header fields kept for GET /_sim/state, in struct parsed_order's header[]. */
static const char *const header_fields[] = { "ORDER_AMOUNT", "COURIER_CODE", "DELIVERY_GRS",
					     "DELIVERY_NET", "DELIVERY_TAX", "ORDER_NOTE" };
static const bool header_money[] = { true, false, true, true, true, false };
enum { H_AMOUNT, H_COURIER, H_DEL_GRS, H_DEL_NET, H_DEL_TAX, H_NOTE };

/* What the guide requires of one SALES_ORDER [WIG p.28], checked in order. */
static void parse_sales_order(xmlNodePtr so, size_t idx, struct parsed_order *p)
{
	xmlNodePtr cd = sk_child(so, "CUSTOMER_DETAIL"), hdr = sk_child(so, "ORDER_HEADER");
	xmlNodePtr inv = sk_child(sk_child(cd, "ADDRESSES"), "INVADDR"), items = sk_child(so, "ORDER_ITEMS");
	static const char *const inv_required[] = { "IADDRESS1", "ITOWN", "IPOSTCODE", "ISURNAME" };
	size_t cap = 0, k = 0;

	p->associated_ref = hdr ? sk_child_text(hdr, "ASSOCIATED_REF") : NULL;
	if (!p->associated_ref)
		p->associated_ref = sim_strdup("");
	p->site = sk_child_text(hdr, "SITE");
	p->sales_source = sk_child_text(hdr, "SALES_SOURCE");
	p->order_date = sk_child_text(hdr, "ORDER_DATE");
	p->currency = sk_child_text(hdr, "ORDER_CURRENCY_CODE");
	p->po_number = sk_child_text(hdr, "PO_NUMBER");
	p->company_name = sk_child_text(cd, "COMPANY_NAME");
	p->delivery_postcode = delivery_postcode(cd);
	for (size_t i = 0; hdr && i < sizeof(header_fields) / sizeof(header_fields[0]); i++)
		p->header[i] = sk_child_text(hdr, header_fields[i]);
	if (!hdr || !*p->associated_ref) {
		p->error = msgf("SALES_ORDER %zu: ORDER_HEADER/ASSOCIATED_REF is compulsory", idx + 1);
		return;
	}
	char *isnew = sk_child_text(cd, "IS_NEW_CUSTOMER");
	bool b;
	if (!cd || !isnew || !sk_bool(isnew, &b) || !*isnew)
		p->error = msgf("CUSTOMER_DETAIL/IS_NEW_CUSTOMER is compulsory (-1 or 0)");
	free(isnew);
	for (size_t i = 0; !p->error && i < sizeof(inv_required) / sizeof(inv_required[0]); i++) {
		char *v = sk_child_text(inv, inv_required[i]);
		if (!v || !*v)
			p->error = msgf("INVADDR/%s is required", inv_required[i]);
		free(v);
	}
	if (!p->error)
		p->error = over_limit(so);
	if (!p->error && p->order_date && *p->order_date && !template_date(p->order_date))
		p->error = msgf("ORDER_DATE '%s': use yyyy-mm-dd or yyyy-mm-dd hh:mm:ss", p->order_date);
	for (size_t i = 0; !p->error && i < sizeof(header_fields) / sizeof(header_fields[0]); i++) {
		long long a;
		if (header_money[i] && p->header[i] && *p->header[i] && !parse_amount(p->header[i], &a))
			p->error = msgf("%s '%s' is not an amount", header_fields[i], p->header[i]);
	}
	for (xmlNodePtr it = items ? items->children : NULL; it && !p->error; it = it->next) {
		char *code, *qty, *map, *net, *grs;
		long long q = 0, amount;

		if (!sk_is_el(it, "ORDER_ITEM"))
			continue;
		k++;
		code = sk_child_text(it, "STOCK_CODE");
		qty = sk_child_text(it, "ORDER_QTY");
		map = sk_child_text(it, "MAPPING_TYPE");
		net = sk_child_text(it, "PRICE_NET");
		grs = sk_child_text(it, "PRICE_GRS");
		if (!code || !*code)
			p->error = msgf("ORDER_ITEM %zu: STOCK_CODE is compulsory", k);
		else if (!map || !*map)
			p->error = msgf("ORDER_ITEM %zu: MAPPING_TYPE is compulsory", k);
		else if (strcmp(map, "1") != 0 && strcmp(map, "-1") != 0)
			p->error = msgf("ORDER_ITEM %zu: MAPPING_TYPE '%s' not supported by the sim (1 = stock code)", k, map);
		else if (sim_parse_ll(qty, 1, 1000000, &q))
			p->error = msgf("ORDER_ITEM %zu: ORDER_QTY must be a whole number >= 1", k);
		else if ((!net || !*net) && (!grs || !*grs))
			p->error = msgf("ORDER_ITEM %zu: PRICE_NET or PRICE_GRS is required", k);
		else if ((net && *net && !parse_amount(net, &amount)) || (grs && *grs && !parse_amount(grs, &amount)))
			p->error = msgf("ORDER_ITEM %zu: PRICE_NET/PRICE_GRS '%s' is not an amount", k,
					net && *net && !parse_amount(net, &amount) ? net : grs);
		if (!p->error) {
			sim_grow((void **)&p->lines, &cap, p->nlines + 1, sizeof(*p->lines));
			p->lines[p->nlines] = (struct sim_so_line){ .stock_code = code, .quantity = q,
				.price_net = net && *net ? net : NULL, .price_grs = grs && *grs ? grs : NULL,
				.tax_rate = sk_child_text(it, "TAX_RATE") };
			if (net && *net)
				net = NULL;
			if (grs && *grs)
				grs = NULL;
			p->nlines++;
			code = NULL;
		}
		free(code);
		free(qty);
		free(map);
		free(net);
		free(grs);
	}
	if (!p->error && p->nlines == 0)
		p->error = msgf("SALES_ORDER %zu: at least one ORDER_ITEMS/ORDER_ITEM is required", idx + 1);
}

static void parsed_free(struct parsed_order *p)
{
	free(p->associated_ref);
	free(p->site);
	free(p->sales_source);
	free(p->order_date);
	free(p->company_name);
	free(p->currency);
	free(p->po_number);
	free(p->delivery_postcode);
	for (size_t i = 0; i < sizeof(p->header) / sizeof(p->header[0]); i++)
		free(p->header[i]);
	for (size_t i = 0; i < p->nlines; i++) {
		free(p->lines[i].stock_code);
		free(p->lines[i].price_net);
		free(p->lines[i].price_grs);
		free(p->lines[i].tax_rate);
	}
	free(p->lines);
	free(p->error);
	free(p->code);
}

/* The stock item of each line of each order still to book must exist and
 * not be discontinued: "business errors such as a discontinued item also
 * come back as faults" [ERR]. The first that fails, as a faultstring
 * (malloc'd); NULL when all are fine. Lock held. */
static char *item_fault(struct parsed_order *po, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; !po[i].error && k < po[i].nlines; k++) {
			const char *code = po[i].lines[k].stock_code;
			struct sim_stock *st = sk_find_stock(code);

			if (!st)
				return msgf("ImportOrders: order '%s', ORDER_ITEM %zu: stock item '%s' not found "
					    "(MAPPING_TYPE 1, stock code)", po[i].associated_ref, k + 1, code);
			if (sk_stock_status(st) == 4)
				return msgf("ImportOrders: order '%s', ORDER_ITEM %zu: stock item '%s' is discontinued",
					    po[i].associated_ref, k + 1, code);
		}
	}
	return NULL;
}

/* A header amount in pennies (0 when absent); parse_sales_order checked it. */
static long long header_pennies(const struct parsed_order *p, int which)
{
	long long a = 0;

	if (p->header[which] && *p->header[which])
		parse_amount(p->header[which], &a);
	return round_div(a, AMOUNT_SCALE / 100);
}

/*
 * ORDER_AMOUNT is "Used to check against order total calculated in Khaos
 * Control" [XML-IMP]: the sim calculates it, per line qty x PRICE_GRS, or
 * qty x PRICE_NET plus tax at the TAX_RATE code's rate ("only net will be
 * actioned" when both are sent; no TAX_RATE: the standard rate, code 1),
 * each rounded to the penny, plus the delivery (DELIVERY_NET +
 * DELIVERY_TAX, else DELIVERY_GRS; -1 or none: 0), and skips the order when
 * ORDER_AMOUNT differs by a penny or more. What Khaos really does on a
 * mismatch is not documented (docs/sim.md §7). A reason, or NULL. Lock held.
 */
static char *money_check(const struct parsed_order *p)
{
	long long items = 0, tax = 0, delivery, amount;
	char a[32], b[32], c[32], d[32];

	for (size_t i = 0; i < p->nlines; i++) {
		const struct sim_so_line *l = &p->lines[i];
		long long price, bp;

		if (l->price_net) {
			const char *code = l->tax_rate && *l->tax_rate ? l->tax_rate : "1";
			if (!sk_tax_rate(code, &bp))
				return msgf("ORDER_ITEM %zu: TAX_RATE '%s' is not a tax rate code of this Khaos Control",
					    i + 1, code);
			parse_amount(l->price_net, &price);
			__int128 net = (__int128)price * l->quantity;
			items += round_div(net, AMOUNT_SCALE / 100);
			tax += round_div(net * bp, (long long)AMOUNT_SCALE / 100 * 10000);
		} else {
			parse_amount(l->price_grs, &price);
			items += round_div((__int128)price * l->quantity, AMOUNT_SCALE / 100);
		}
	}
	if (p->header[H_DEL_NET] && *p->header[H_DEL_NET])
		delivery = header_pennies(p, H_DEL_NET) + header_pennies(p, H_DEL_TAX);
	else
		delivery = header_pennies(p, H_DEL_GRS);
	if (header_pennies(p, H_DEL_NET) == -100 || header_pennies(p, H_DEL_GRS) == -100)
		delivery = 0;	/* -1: delivery disabled */
	if (!p->header[H_AMOUNT] || !*p->header[H_AMOUNT])
		return NULL;
	amount = header_pennies(p, H_AMOUNT);
	if (amount == items + tax + delivery)
		return NULL;
	fmt_pennies(amount, a);
	fmt_pennies(items + tax + delivery, b);
	fmt_pennies(items + tax, c);
	fmt_pennies(delivery, d);
	return msgf("ORDER_AMOUNT %s does not match the order total calculated in Khaos Control, %s "
		    "(items %s with tax + delivery %s)", a, b, c, d);
}

/* Book one parsed order; lock held. A repeated ASSOCIATED_REF is skipped
 * (Khaos dedupes on it [WIG p.28]) unless dedupe is off: then it books
 * again and counts as a duplicate. Its items exist and are not
 * discontinued (item_fault). Booking allocates: each stock-controlled
 * item's LEVEL ("Amount of stock available to be sold" [XML-SS]) goes down
 * by the quantity, and its last change moves. */
static void book(struct parsed_order *p, int64_t now_ms)
{
	struct sim_sales_order *so;
	char buf[32];

	/* a courier must exist (GetSOPData's list, POST /_sim/khaos/couriers) */
	const char *courier = p->header[H_COURIER];
	if (courier && *courier) {
		size_t k = 0;
		while (k < sim.ncouriers && strcmp(sim.couriers[k].code, courier) != 0)
			k++;
		if (k == sim.ncouriers) {
			p->error = msgf("COURIER_CODE '%s' does not exist", courier);
			return;
		}
	}
	p->error = money_check(p);
	if (p->error)
		return;
	for (size_t i = 0; i < sim.nsos; i++) {
		if (strcmp(sim.sos[i].associated_ref, p->associated_ref) != 0)
			continue;
		if (!sim.no_dedupe) {
			sim.skipped++;
			p->error = msgf(DUPLICATE_REASON, p->associated_ref);
			return;
		}
		sim.duplicates++;
		break;
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
	so->site = sim_strdup(p->site ? p->site : "");
	so->sales_source = sim_strdup(p->sales_source ? p->sales_source : "");
	so->order_date = sim_strdup(p->order_date ? p->order_date : "");
	so->company_name = sim_strdup(p->company_name ? p->company_name : "");
	so->currency = sim_strdup(p->currency && *p->currency ? p->currency : "GBP");
	so->po_number = sim_strdup(p->po_number ? p->po_number : "");
	so->delivery_postcode = p->delivery_postcode;
	p->delivery_postcode = NULL;
	so->stage = NEW_ORDER_STAGE;
	so->booked_ms = now_ms;
	so->lines = sim_xmalloc(sizeof(*so->lines) * p->nlines);
	so->nlines = p->nlines;
	for (size_t i = 0; i < p->nlines; i++) {
		struct sim_stock *st = sk_find_stock(p->lines[i].stock_code);

		so->lines[i] = p->lines[i];
		p->lines[i] = (struct sim_so_line){ 0 };
		/* Khaos allocates a booked line: LEVEL is "available to be sold" [XML-SS] */
		if (st && sim.allocate && sk_stock_status(st) != 5) {	/* 5: not stock-controlled */
			st->available -= so->lines[i].quantity;
			st->allocated += so->lines[i].quantity;
			so->lines[i].allocated = so->lines[i].quantity;
			st->changed_ms = now_ms;
			if (st->n_at) /* from the first of its sites */
				st->at[0].level -= so->lines[i].quantity;
		}
	}
	char **keep[] = { &so->order_amount, &so->courier_code, &so->delivery_grs, &so->delivery_net,
			  &so->delivery_tax, &so->order_note };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		*keep[i] = p->header[i] && *p->header[i] ? p->header[i] : NULL;
		if (*keep[i])
			p->header[i] = NULL;
	}
	p->code = sim_strdup(so->code);
}

/* A multi-reference struct after the response element (Delphi's RPC/encoded
 * style): <NS2:type id="id" xsi:type="NS2:type">, a sibling in Body. */
static xmlNodePtr multiref(struct soap_out *s, xmlNsPtr types, const char *type, int id)
{
	char buf[64];
	xmlNodePtr n = xmlNewDocNode(s->doc, types, BAD_CAST type, NULL);
	xmlAddChild(s->resp->parent, n);
	snprintf(buf, sizeof(buf), "%d", id);
	xmlNewProp(n, BAD_CAST "id", BAD_CAST buf);
	snprintf(buf, sizeof(buf), "NS2:%s", type);
	xmlNewNsProp(n, s->xsi, BAD_CAST "type", BAD_CAST buf);
	return n;
}

/* An item of a SOAP-encoded array pointing at struct #id. */
static void href_item(xmlNodePtr arr, int id)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "#%d", id);
	xmlNewProp(sk_el(arr, "item", NULL), BAD_CAST "href", BAD_CAST buf);
}

static xmlNodePtr encoded_array(struct soap_out *s, xmlNodePtr parent, const char *name, const char *type, size_t n)
{
	char buf[64];
	xmlNodePtr arr = sk_el(parent, name, NULL);
	xmlNewNsProp(arr, s->xsi, BAD_CAST "type", BAD_CAST "SOAP-ENC:Array");
	snprintf(buf, sizeof(buf), "NS2:%s[%zu]", type, n);
	xmlNewNsProp(arr, s->enc, BAD_CAST "arrayType", BAD_CAST buf);
	return arr;
}

/* TOrderImportResult [WIG]: ImportedCount, OrderImport[], OrderSkipped[]. */
static void import_answer(struct parsed_order *po, size_t n, struct sim_reply *r)
{
	struct soap_out s;
	size_t booked = 0;
	int next = 2;

	for (size_t i = 0; i < n; i++)
		booked += po[i].error == NULL;
	sk_begin(&s, "ImportOrders");
	xmlNsPtr types = xmlNewNs(xmlDocGetRootElement(s.doc), BAD_CAST TYPES_NS, BAD_CAST "NS2");
	xmlNewProp(sk_el(s.resp, "return", NULL), BAD_CAST "href", BAD_CAST "#1");
	xmlNodePtr res = multiref(&s, types, "TOrderImportResult", 1);
	sk_add_typed(&s, res, "ImportedCount", "xsd:int", NULL);
	char cnt[32];
	snprintf(cnt, sizeof(cnt), "%zu", booked);
	xmlNodeSetContent(sk_child(res, "ImportedCount"), BAD_CAST cnt);
	xmlNodePtr imp = encoded_array(&s, res, "OrderImport", "TOrderImport", booked);
	xmlNodePtr skip = encoded_array(&s, res, "OrderSkipped", "TOrderSkipped", n - booked);
	for (size_t i = 0; i < n; i++) {
		xmlNodePtr it;
		if (!po[i].error) {
			href_item(imp, next);
			it = multiref(&s, types, "TOrderImport", next++);
			sk_add_typed(&s, it, "SalesOrderCode", "xsd:string", po[i].code);
			sk_add_typed(&s, it, "AssociatedRef", "xsd:string", po[i].associated_ref);
			sk_add_typed(&s, it, "Msg", "xsd:string", "");
			sk_add_typed(&s, it, "URN", "xsd:string", "");
			sk_add_typed(&s, it, "OtherRef", "xsd:string", "");
		} else {
			href_item(skip, next);
			it = multiref(&s, types, "TOrderSkipped", next++);
			sk_add_typed(&s, it, "OrderRef", "xsd:string", po[i].associated_ref);
			sk_add_typed(&s, it, "SkipReason", "xsd:string", po[i].error);
		}
	}
	sk_reply_doc(r, 200, s.doc);
}

static void import_orders(struct sim_soap_call *c, struct sim_reply *r)
{
	char *orders = sk_param(c, "Orders"), why[512];
	struct parsed_order *po = NULL;
	size_t n = 0, cap = 0;
	xmlDocPtr doc;
	xmlNodePtr root;
	int64_t now_ms = sim_now_ms();

	if (!orders) {
		sim_khaos_fault(r, 500, "Client", "ImportOrders: parameter 'Orders' missing");
		return;
	}
	doc = sk_parse_xml(orders, strlen(orders), why, sizeof(why));
	if (!doc) {
		sim_khaos_fault(r, 500, "Client", "ImportOrders: Orders: %s", why);
		goto out_orders;
	}
	root = xmlDocGetRootElement(doc);
	if (!sk_is_el(root, "SALES_ORDERS")) {
		sim_khaos_fault(r, 500, "Client", "ImportOrders: Orders: root element must be SALES_ORDERS");
		goto out_doc;
	}
	for (xmlNodePtr so = root->children; so; so = so->next) {
		if (!sk_is_el(so, "SALES_ORDER"))
			continue;
		sim_grow((void **)&po, &cap, n + 1, sizeof(*po));
		po[n] = (struct parsed_order){0};
		parse_sales_order(so, n, &po[n]);
		n++;
	}
	pthread_mutex_lock(&sim.lock);
	char *fault = item_fault(po, n);
	for (size_t i = 0; !fault && i < n; i++) {
		if (!po[i].error)
			book(&po[i], now_ms);
	}
	pthread_mutex_unlock(&sim.lock);
	if (fault) {
		/* a business error: the whole call fails, nothing is booked */
		sim_khaos_fault(r, 500, "Server", "%s", fault);
		free(fault);
	} else {
		import_answer(po, n, r);
	}
	for (size_t i = 0; i < n; i++)
		parsed_free(&po[i]);
	free(po);
out_doc:
	xmlFreeDoc(doc);
out_orders:
	free(orders);
}

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

/* Stock items (sorted by code) filtered by codes, changed-since and site
 * (-1 every site); lock held. */
static struct sim_stock **select_stock(char **codes, size_t ncodes, bool since_set, int64_t since, long long site,
				       size_t *count)
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
		if (hit && (!since_set || sim.stock[i].changed_ms >= since) && at)
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
	sk_add_text(it, "SELL_PRICE", "10.00");
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
	struct sim_stock **sel = select_stock(codes, ncodes, since_set, since, site ? site : 1, &n);
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
 * (revision), 1 (launch) and 2 (movement) all read the sim's one change
 * time; -1 (Keystone's module sends it) is taken as 0. */
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
	xmlNodePtr list = multiref(&s, types, "TStockList", 1);
	pthread_mutex_lock(&sim.lock);
	struct sim_stock **sel = select_stock(NULL, 0, since_set, since, -1, &n);
	sk_add_num(list, "Count", (long long)n);
	xmlNodePtr arr = encoded_array(&s, list, "List", "TStockInfo", n);
	for (size_t i = 0; i < n; i++) {
		href_item(arr, (int)i + 2);
		xmlNodePtr it = multiref(&s, types, "TStockInfo", (int)i + 2);
		sk_add_typed(&s, it, "StockCode", "xsd:string", sel[i]->code);
		sk_add_typed(&s, it, "OtherRef", "xsd:string", "");
		sk_add_typed(&s, it, "StockDesc", "xsd:string", sel[i]->code);
		sk_add_typed(&s, it, "ParentCode", "xsd:string", "");
		sk_add_typed(&s, it, "ParentOtherRef", "xsd:string", "");
		sim_fmt_khaos(sel[i]->changed_ms, ts);
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
		import_orders(c, r);
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

