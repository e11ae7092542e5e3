/*
 * kcgate-sim, Khaos Control web service, the control API of the Khaos half
 * (docs/sim.md §5): stock, settings (dedupe), couriers, cancelling a sales
 * order as if in Khaos, the state and the reset. The methods are
 * sim_khaos.c, the protocol sim_khaos_soap.c.
 */
#include "sim_khaos.h"

#include <stdlib.h>
#include <string.h>

/* ---- the stock items, indexed by code (a big catalogue is 100,000) ---- */

static const char *stock_code(size_t i, void *arg)
{
	(void)arg;
	return sim.stock[i].code;
}

struct sim_stock *sk_find_stock(const char *code)
{
	long i = sim_index_find(&sim.stock_index, code, stock_code, NULL);
	return i < 0 ? NULL : &sim.stock[i];
}

struct sim_stock *sk_add_stock(const char *code)
{
	sim_grow((void **)&sim.stock, &sim.stock_cap, sim.nstock + 1, sizeof(*sim.stock));
	struct sim_stock *s = &sim.stock[sim.nstock++];
	*s = (struct sim_stock){.code = sim_strdup(code), .stock_id = ++sim.stock_seq, .status = -1, .site = 1,
				  .sell_price = "10.00"};
	sim_index_add(&sim.stock_index, sim.nstock - 1, sim.nstock, stock_code, NULL);
	return s;
}

/* {"generate":{"count":N,"prefix":"SKU-","available":A,"start":S}}: N
 * items PREFIX%07u from S (default 1), each with level A (default 100);
 * existing ones are set again. Lock not held. */
static void ctl_generate(json_t *g, struct sim_reply *r)
{
	json_t *count = json_object_get(g, "count"), *prefix = json_object_get(g, "prefix");
	json_t *av = json_object_get(g, "available"), *start = json_object_get(g, "start");
	if (!json_is_integer(count) || json_integer_value(count) < 1 || json_integer_value(count) > 1000000 ||
	    (prefix && (!json_is_string(prefix) || json_string_length(prefix) > 100)) || (av && !json_is_integer(av)) ||
	    (start && (!json_is_integer(start) || json_integer_value(start) < 0))) {
		sim_reply_ctl_error(r, 400, "invalid_payload",
			"generate: count 1..1000000, prefix a string (<= 100), available an integer, start >= 0");
		return;
	}
	const char *pre = prefix ? json_string_value(prefix) : "SKU-";
	long long n = json_integer_value(count), a = av ? json_integer_value(av) : 100;
	long long s0 = start ? json_integer_value(start) : 1;
	int64_t now_ms = sim_now_ms();
	char code[160];
	pthread_mutex_lock(&sim.lock);
	for (long long i = 0; i < n; i++) {
		snprintf(code, sizeof(code), "%s%07lld", pre, s0 + i);
		struct sim_stock *st = sk_find_stock(code);
		if (!st)
			st = sk_add_stock(code);
		st->available = a;
		st->changed_ms = now_ms;
	}
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:I}", "updated", (json_int_t)n));
}

void sim_khaos_ctl_stock(json_t *body, struct sim_reply *r)
{
	json_t *items = json_object_get(body, "items"), *it;
	size_t i;
	int64_t now_ms = sim_now_ms();

	if (json_object_get(body, "generate")) {
		ctl_generate(json_object_get(body, "generate"), r);
		return;
	}
	if (!json_is_array(items)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "items: required array (or generate)");
		return;
	}
	json_array_foreach(items, i, it) {
		const char *code = json_string_value(json_object_get(it, "code"));
		json_t *av = json_object_get(it, "available"), *dis = json_object_get(it, "discontinued");
		json_t *st = json_object_get(it, "status");
		json_t *site = json_object_get(it, "site"), *build = json_object_get(it, "build_potential");

		json_t *levels = json_object_get(it, "levels"), *lv;
		const char *lk;
		bool levels_ok = !levels || (json_is_object(levels) && json_object_size(levels) <= SIM_SITES_MAX);
		json_object_foreach(levels_ok ? levels : NULL, lk, lv) {
			long long sid;
			levels_ok = levels_ok && json_is_integer(lv) && sim_parse_ll(lk, 1, 1000000, &sid) == 0;
		}
		if ((site && (!json_is_integer(site) || json_integer_value(site) < 0 ||
			      json_integer_value(site) > 1000000)) || (build && !json_is_integer(build)) || !levels_ok) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"items[%zu]: site must be a site id (0..1000000), build_potential an integer, levels an "
				"object of at most %d site ids to integers", i, SIM_SITES_MAX);
			return;
		}
		json_t *sp = json_object_get(it, "sell_price"), *wp = json_object_get(it, "websell_price");
		if ((sp && (!json_is_string(sp) || json_string_length(sp) >= 16)) ||
		    (wp && (!json_is_string(wp) || json_string_length(wp) >= 16))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"items[%zu]: sell_price and websell_price are the element's text, strings of at most 15 "
				"bytes", i);
			return;
		}
		if (!code || !*code || strlen(code) > 255) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "items[%zu].code: required string", i);
			return;
		}
		json_t *ro = json_object_get(it, "revised_only");
		if ((av && !json_is_integer(av)) || (dis && !json_is_boolean(dis)) || (ro && !json_is_boolean(ro)) ||
		    (st && (!json_is_integer(st) || json_integer_value(st) < -1 || json_integer_value(st) > 5))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"items[%zu]: available must be an integer, discontinued and revised_only booleans, status "
				"-1..5", i);
			return;
		}
	}
	pthread_mutex_lock(&sim.lock);
	json_array_foreach(items, i, it) {
		const char *code = json_string_value(json_object_get(it, "code"));
		json_t *av = json_object_get(it, "available"), *dis = json_object_get(it, "discontinued");
		json_t *st = json_object_get(it, "status");
		json_t *site = json_object_get(it, "site"), *build = json_object_get(it, "build_potential");
		struct sim_stock *s = sk_find_stock(code);

		if (!s)
			s = sk_add_stock(code);
		if (site)
			s->site = (int)json_integer_value(site);
		if (build)
			s->build = json_integer_value(build);
		if (av)
			s->available = json_integer_value(av);
		if (dis)
			s->discontinued = json_is_true(dis);
		if (st)
			s->status = (int)json_integer_value(st);
		json_t *sp = json_object_get(it, "sell_price"), *wp = json_object_get(it, "websell_price");
		if (sp)
			snprintf(s->sell_price, sizeof(s->sell_price), "%s", json_string_value(sp));
		if (wp)
			snprintf(s->websell_price, sizeof(s->websell_price), "%s", json_string_value(wp));
		json_t *levels = json_object_get(it, "levels"), *lv;
		const char *lk;
		if (levels) { /* held at several sites: one LEVEL each */
			s->n_at = 0;
			s->available = 0;
			json_object_foreach(levels, lk, lv) {
				long long sid = 0;
				sim_parse_ll(lk, 1, 1000000, &sid);
				s->at[s->n_at++] = (struct sim_site_level){ (int)sid, json_integer_value(lv) };
				s->available += json_integer_value(lv);
			}
		}
		/* revised_only: a revision of the record (a price, say) that
		 * ExportStockStatus's LastUpdated does not see; GetStockList does */
		if (json_is_true(json_object_get(it, "revised_only")))
			s->revised_ms = now_ms;
		else
			s->changed_ms = now_ms;
	}
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:I}", "updated", (json_int_t)json_array_size(items)));
}

/* The TAX_RATE codes of a UK Khaos as the import template describes them
 * (1 standard, 2 zero, 4 reduced), at today's UK rates. */
static const struct sim_tax_rate default_rates[] = { { "1", 2000 }, { "2", 0 }, { "4", 500 } };

bool sk_tax_rate(const char *code, long long *bp)
{
	const struct sim_tax_rate *t = sim.ntax_rates ? sim.tax_rates : default_rates;
	size_t n = sim.ntax_rates ? sim.ntax_rates : sizeof(default_rates) / sizeof(default_rates[0]);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].code, code) == 0) {
			*bp = t[i].bp;
			return true;
		}
	}
	return false;
}

/* Lock held. */
static json_t *settings_json(void)
{
	const struct sim_tax_rate *t = sim.ntax_rates ? sim.tax_rates : default_rates;
	size_t n = sim.ntax_rates ? sim.ntax_rates : sizeof(default_rates) / sizeof(default_rates[0]);
	json_t *rates = json_object();

	for (size_t i = 0; i < n; i++)
		json_object_set_new(rates, t[i].code, json_real((double)t[i].bp / 100));
	return json_pack("{s:b, s:b, s:o}", "dedupe", !sim.no_dedupe, "allocate", sim.allocate, "tax_rates", rates);
}

/* {"1": 20, "4": 5, ...}: codes are whole numbers (1-9999), rates percent
 * 0..100 with at most two decimals. False when it is not that. */
static bool parse_rates(json_t *v, struct sim_tax_rate *out, size_t *n)
{
	const char *code;
	json_t *rate;

	*n = 0;
	if (!json_is_object(v) || json_object_size(v) == 0 || json_object_size(v) > 32)
		return false;
	json_object_foreach(v, code, rate) {
		size_t len = strlen(code);
		double pct = json_number_value(rate), bp = pct * 100;
		long long rbp = (long long)(bp + 0.5);

		if (len == 0 || len > 4 || strspn(code, "0123456789") != len || code[0] == '0' ||
		    !json_is_number(rate) || pct < 0 || pct > 100 || bp - (double)rbp > 1e-6 ||
		    (double)rbp - bp > 1e-6)
			return false;
		memcpy(out[*n].code, code, len + 1);
		out[*n].bp = rbp;
		(*n)++;
	}
	return true;
}

void sim_khaos_ctl_settings(json_t *body, struct sim_reply *r)
{
	struct sim_tax_rate rates[32];
	size_t nrates = 0;
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		if ((strcmp(key, "dedupe") == 0 || strcmp(key, "allocate") == 0) && json_is_boolean(v))
			continue;
		if (strcmp(key, "tax_rates") == 0 && parse_rates(v, rates, &nrates))
			continue;
		sim_reply_ctl_error(r, 400, "invalid_payload", "%s: dedupe or allocate (booleans) or tax_rates "
				    "({\"<code>\": percent 0..100, 2 decimals at most}, 1 to 32 codes) expected", key);
		return;
	}
	pthread_mutex_lock(&sim.lock);
	if (json_object_get(body, "dedupe"))
		sim.no_dedupe = !json_is_true(json_object_get(body, "dedupe"));
	if (nrates) {
		memcpy(sim.tax_rates, rates, sizeof(rates[0]) * nrates);
		sim.ntax_rates = nrates;
	}
	if (json_object_get(body, "allocate"))
		sim.allocate = json_is_true(json_object_get(body, "allocate"));
	json_t *answer = settings_json();
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, answer);
}

static void couriers_free(void)
{
	for (size_t i = 0; i < sim.ncouriers; i++) {
		free(sim.couriers[i].code);
		free(sim.couriers[i].name);
	}
	free(sim.couriers);
	sim.couriers = NULL;
	sim.ncouriers = 0;
}

void sim_khaos_ctl_couriers(json_t *body, struct sim_reply *r)
{
	json_t *list = json_object_get(body, "couriers"), *c;
	size_t i;
	if (!json_is_array(list)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "couriers: required array");
		return;
	}
	json_array_foreach(list, i, c) {
		const char *code = json_string_value(json_object_get(c, "code"));
		const char *name = json_string_value(json_object_get(c, "name"));
		if (!code || !name || strlen(code) > 64 || strlen(name) > 255) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "couriers[%zu]: code and name strings", i);
			return;
		}
	}
	pthread_mutex_lock(&sim.lock);
	couriers_free();
	sim.couriers = sim_xmalloc(sizeof(*sim.couriers) * (json_array_size(list) + 1));
	json_array_foreach(list, i, c) {
		sim.couriers[i].code = sim_strdup(json_string_value(json_object_get(c, "code")));
		sim.couriers[i].name = sim_strdup(json_string_value(json_object_get(c, "name")));
	}
	sim.ncouriers = json_array_size(list);
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:I}", "couriers", (json_int_t)json_array_size(list)));
}

void sim_khaos_ctl_cancel(const char *ref, struct sim_reply *r)
{
	size_t n = 0;
	int64_t now = sim_now_ms();
	pthread_mutex_lock(&sim.lock);
	for (size_t i = 0; i < sim.nsos; i++) {
		struct sim_sales_order *so = &sim.sos[i];

		if (strcmp(so->associated_ref, ref) != 0)
			continue;
		so->stage = SK_CANCELLED_STAGE;
		if (!so->cancelled_ms)
			so->cancelled_ms = now;
		/* what the order allocated goes back to stock */
		for (size_t k = 0; k < so->nlines; k++) {
			struct sim_stock *st = sk_find_stock(so->lines[k].stock_code);

			if (st && so->lines[k].allocated) {
				st->available += so->lines[k].allocated;
				st->allocated -= so->lines[k].allocated;
				if (st->n_at) /* to the first of its sites, where it came from */
					st->at[0].level += so->lines[k].allocated;
				st->changed_ms = now;
			}
			so->lines[k].allocated = 0;
		}
		n++;
	}
	pthread_mutex_unlock(&sim.lock);
	if (n == 0)
		sim_reply_ctl_error(r, 404, "not_found", "no sales order with associated ref %s", ref);
	else
		sim_reply_json(r, 200, json_pack("{s:I}", "cancelled", (json_int_t)n));
}

/* What line @p code of @p so has sent so far; lock held. */
static long long sent_of(const struct sim_sales_order *so, const char *code)
{
	long long n = 0;
	for (size_t b = 0; b < so->nboxes; b++)
		for (size_t k = 0; k < so->boxes[b].nitems && !so->boxes[b].packed; k++)
			if (strcmp(so->boxes[b].items[k].stock_code, code) == 0)
				n += so->boxes[b].items[k].qty;
	return n;
}

static long long ordered_of(const struct sim_sales_order *so, const char *code)
{
	long long n = 0;
	for (size_t k = 0; k < so->nlines; k++)
		if (strcmp(so->lines[k].stock_code, code) == 0)
			n += so->lines[k].quantity;
	return n;
}

bool sk_all_sent(const struct sim_sales_order *so)
{
	for (size_t k = 0; k < so->nlines; k++)
		if (sent_of(so, so->lines[k].stock_code) < ordered_of(so, so->lines[k].stock_code))
			return false;
	return so->nlines > 0;
}

static bool text_ok(json_t *v, size_t max, bool required)
{
	if (!v || json_is_null(v))
		return !required;
	return json_is_string(v) && strlen(json_string_value(v)) <= max && (!required || *json_string_value(v));
}

void sim_khaos_ctl_despatch(json_t *body, struct sim_reply *r)
{
	const char *ref = json_string_value(json_object_get(body, "associated_ref"));
	json_t *items = json_object_get(body, "items"), *it;
	size_t i;
	if (!text_ok(json_object_get(body, "associated_ref"), 255, true) ||
	    !text_ok(json_object_get(body, "courier"), 255, true) ||
	    !text_ok(json_object_get(body, "consignment_ref"), 255, true) ||
	    !text_ok(json_object_get(body, "tracking_url"), 1000, false) || (items && !json_is_array(items))) {
		sim_reply_ctl_error(r, 400, "invalid_payload",
				    "associated_ref, courier and consignment_ref: required strings; tracking_url: a string; "
				    "items: an array");
		return;
	}
	json_array_foreach(items, i, it) {
		json_t *q = json_object_get(it, "qty");
		if (!text_ok(json_object_get(it, "stock_code"), 64, true) || !json_is_integer(q) || json_integer_value(q) < 1) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "items[%zu]: stock_code and qty >= 1", i);
			return;
		}
	}
	pthread_mutex_lock(&sim.lock);
	struct sim_sales_order *so = NULL;
	for (size_t k = 0; k < sim.nsos && !so; k++)
		if (strcmp(sim.sos[k].associated_ref, ref) == 0)
			so = &sim.sos[k];
	const char *err = !so ? "no sales order with that associated ref" : so->cancelled_ms ? "the sales order is cancelled" : NULL;
	struct sim_box box = {0};
	json_array_foreach(err ? NULL : items, i, it) {
		const char *code = json_string_value(json_object_get(it, "stock_code"));
		long long q = json_integer_value(json_object_get(it, "qty"));
		if (q + sent_of(so, code) > ordered_of(so, code)) {
			err = "an item is not on the order, or more is sent than was ordered";
			break;
		}
	}
	if (err) {
		pthread_mutex_unlock(&sim.lock);
		sim_reply_ctl_error(r, err[0] == 'n' ? 404 : 409, err[0] == 'n' ? "not_found" : "conflict", "%s", err);
		return;
	}
	box.items = sim_xmalloc(sizeof(*box.items) * (items ? json_array_size(items) + 1 : so->nlines + 1));
	if (items) {
		json_array_foreach(items, i, it) {
			box.items[box.nitems].stock_code = sim_strdup(json_string_value(json_object_get(it, "stock_code")));
			box.items[box.nitems++].qty = json_integer_value(json_object_get(it, "qty"));
		}
	} else {
		for (size_t k = 0; k < so->nlines; k++) {
			long long left = ordered_of(so, so->lines[k].stock_code) - sent_of(so, so->lines[k].stock_code);
			bool dup = false;
			for (size_t x = 0; x < box.nitems; x++)
				dup = dup || strcmp(box.items[x].stock_code, so->lines[k].stock_code) == 0;
			if (left > 0 && !dup) {
				box.items[box.nitems].stock_code = sim_strdup(so->lines[k].stock_code);
				box.items[box.nitems++].qty = left;
			}
		}
	}
	const char *url = json_string_value(json_object_get(body, "tracking_url"));
	box.courier = sim_strdup(json_string_value(json_object_get(body, "courier")));
	box.consignment_ref = sim_strdup(json_string_value(json_object_get(body, "consignment_ref")));
	box.tracking_url = sim_strdup(url ? url : "");
	box.ship_ms = sim_now_ms();
	const char *shape = json_string_value(json_object_get(body, "shape"));
	box.invoice_only = shape && !strcmp(shape, "invoice");
	box.packed = shape && !strcmp(shape, "packed");
	so->boxes = realloc(so->boxes, sizeof(*so->boxes) * (so->nboxes + 1));
	if (!so->boxes)
		abort();
	so->boxes[so->nboxes++] = box;
	so->tracking_ms = box.ship_ms;
	/* the invoice moves on: being shipped, then issued once everything is sent */
	so->stage = sk_all_sent(so) ? 70 : 14;
	bool complete = sk_all_sent(so);
	size_t n = box.nitems;
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:I, s:b}", "items", (json_int_t)n, "complete", complete));
}

json_t *sim_khaos_state(void)
{
	json_t *sos = json_array(), *stock = json_array();

	for (size_t i = 0; i < sim.nsos; i++) {
		struct sim_sales_order *so = &sim.sos[i];
		json_t *lines = json_array();

		for (size_t k = 0; k < so->nlines; k++) {
			json_array_append_new(lines, json_pack("{s:s, s:I, s:s?, s:s?, s:s?}", "stock_code",
				so->lines[k].stock_code, "quantity", (json_int_t)so->lines[k].quantity,
				"price_net", so->lines[k].price_net, "price_grs", so->lines[k].price_grs,
				"tax_rate", so->lines[k].tax_rate));
		}
		json_t *boxes = json_array();
		for (size_t b = 0; b < so->nboxes; b++)
			json_array_append_new(boxes, json_pack("{s:s, s:s, s:s, s:I}", "courier", so->boxes[b].courier,
				"consignment_ref", so->boxes[b].consignment_ref, "tracking_url", so->boxes[b].tracking_url,
				"items", (json_int_t)so->boxes[b].nitems));
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:o, s:o, s:b}",
			"associated_ref", so->associated_ref, "sales_order_code", so->code,
			"site", so->site, "sales_source", so->sales_source, "po_number", so->po_number,
			"delivery_postcode", so->delivery_postcode,
			"cancelled", so->cancelled_ms != 0, "lines", lines, "despatches", boxes,
			"complete", sk_all_sent(so));
		json_object_update_new(o, json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "order_amount",
			so->order_amount, "courier_code", so->courier_code, "delivery_grs", so->delivery_grs,
			"delivery_net", so->delivery_net, "delivery_tax", so->delivery_tax, "order_note", so->order_note));
		json_array_append_new(sos, o);
	}
	/* a big catalogue is a count only (GET /_sim/state stays small) */
	for (size_t i = 0; sim.nstock <= SIM_STATE_LIST_MAX && i < sim.nstock; i++) {
		json_t *o = json_pack("{s:s, s:I, s:b, s:i, s:I, s:i}", "code", sim.stock[i].code,
			"available", (json_int_t)sim.stock[i].available,
			"discontinued", sim.stock[i].discontinued, "status", sk_stock_status(&sim.stock[i]),
			"build_potential", (json_int_t)sim.stock[i].build, "site", sim.stock[i].site);
		if (sim.stock[i].n_at) {
			json_t *lv = json_object();
			char k[16];
			for (size_t a = 0; a < sim.stock[i].n_at; a++) {
				snprintf(k, sizeof(k), "%d", sim.stock[i].at[a].site);
				json_object_set_new(lv, k, json_integer(sim.stock[i].at[a].level));
			}
			json_object_set_new(o, "levels", lv);
		}
		json_array_append_new(stock, o);
	}
	return json_pack("{s:o, s:I, s:I, s:b, s:o, s:I}", "sales_orders", sos,
		"duplicate_orders", (json_int_t)sim.duplicates, "skipped_duplicates", (json_int_t)sim.skipped,
		"dedupe", !sim.no_dedupe, "stock", stock, "stock_count", (json_int_t)sim.nstock);
}

void sim_khaos_reset(void)
{
	for (size_t i = 0; i < sim.nsos; i++) {
		struct sim_sales_order *so = &sim.sos[i];

		free(so->associated_ref);
		free(so->code);
		free(so->invoice_code);
		free(so->site);
		free(so->sales_source);
		free(so->order_date);
		free(so->company_name);
		free(so->currency);
		free(so->po_number);
		free(so->delivery_postcode);
		free(so->order_amount);
		free(so->courier_code);
		free(so->delivery_grs);
		free(so->delivery_net);
		free(so->delivery_tax);
		free(so->order_note);
		for (size_t k = 0; k < so->nlines; k++) {
			free(so->lines[k].stock_code);
			free(so->lines[k].price_net);
			free(so->lines[k].price_grs);
			free(so->lines[k].tax_rate);
		}
		free(so->lines);
		for (size_t b = 0; b < so->nboxes; b++) {
			free(so->boxes[b].courier);
			free(so->boxes[b].consignment_ref);
			free(so->boxes[b].tracking_url);
			for (size_t k = 0; k < so->boxes[b].nitems; k++)
				free(so->boxes[b].items[k].stock_code);
			free(so->boxes[b].items);
		}
		free(so->boxes);
	}
	free(sim.sos);
	sim.sos = NULL;
	sim.nsos = sim.sos_cap = 0;
	sim.so_seq = 0;
	sim.duplicates = 0;
	sim.skipped = 0;
	sim.no_dedupe = false;
	sim.ntax_rates = 0;
	sim.allocate = true;
	couriers_free();
	for (size_t i = 0; i < sim.nstock; i++)
		free(sim.stock[i].code);
	free(sim.stock);
	sim.stock = NULL;
	sim.nstock = sim.stock_cap = 0;
	sim.stock_seq = 0;
	sim_index_free(&sim.stock_index);
}
