/*
 * kcgate-sim, Khaos Control web service: ImportOrders. Each SALES_ORDER of
 * the ORDERS document is checked (required fields, limits, dates,
 * ORDER_AMOUNT against its lines) and booked as a sales order or skipped with
 * a reason; an unknown or discontinued item is a fault, as Khaos's Web
 * Integration Pack answers (shared/ref/khaos/FACTS.md). The other methods
 * are in sim_khaos.c.
 */
#include "sim_khaos.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	xmlNodePtr res = sk_multiref(&s, types, "TOrderImportResult", 1);
	sk_add_typed(&s, res, "ImportedCount", "xsd:int", NULL);
	char cnt[32];
	snprintf(cnt, sizeof(cnt), "%zu", booked);
	xmlNodeSetContent(sk_child(res, "ImportedCount"), BAD_CAST cnt);
	xmlNodePtr imp = sk_encoded_array(&s, res, "OrderImport", "TOrderImport", booked);
	xmlNodePtr skip = sk_encoded_array(&s, res, "OrderSkipped", "TOrderSkipped", n - booked);
	for (size_t i = 0; i < n; i++) {
		xmlNodePtr it;
		if (!po[i].error) {
			sk_href_item(imp, next);
			it = sk_multiref(&s, types, "TOrderImport", next++);
			sk_add_typed(&s, it, "SalesOrderCode", "xsd:string", po[i].code);
			sk_add_typed(&s, it, "AssociatedRef", "xsd:string", po[i].associated_ref);
			sk_add_typed(&s, it, "Msg", "xsd:string", "");
			sk_add_typed(&s, it, "URN", "xsd:string", "");
			sk_add_typed(&s, it, "OtherRef", "xsd:string", "");
		} else {
			sk_href_item(skip, next);
			it = sk_multiref(&s, types, "TOrderSkipped", next++);
			sk_add_typed(&s, it, "OrderRef", "xsd:string", po[i].associated_ref);
			sk_add_typed(&s, it, "SkipReason", "xsd:string", po[i].error);
		}
	}
	sk_reply_doc(r, 200, s.doc);
}

void sk_import_orders(struct sim_soap_call *c, struct sim_reply *r)
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
