/*
 * kcgate-sim, Mirakl seller API: OR11 (list, with its filters, pages and
 * order_tax_mode), OR12 (one order) and OR21 (accept/refuse), and the
 * routing of every /mirakl request (offers to sim_mirakl_stock.c, shipping
 * calls to sim_mirakl_ship.c). The order's life they move is sim_mirakl.c's.
 */
#include "sim_mirakl.h"

#include <microhttpd.h>

#include <stdlib.h>
#include <string.h>

static const char *stored_tax_mode(const struct sim_order *o)
{
	const char *m = json_string_value(json_object_get(o->json, "order_tax_mode"));

	return m ? m : "";
}

/* ---- OR11's order_tax_mode: prices shown with or without their taxes ---- */

/* An amount in minor units (pennies), rounded half away from zero. */
static long long to_minor(json_t *v)
{
	double d = json_number_value(v) * 100;

	return (long long)(d + (d < 0 ? -0.5 : 0.5));
}

/* The sum of the "amount"s of a taxes array, in minor units. */
static long long tax_minor(json_t *taxes)
{
	long long sum = 0;
	size_t i;
	json_t *t;

	json_array_foreach(taxes, i, t) {
		if (json_is_number(json_object_get(t, "amount")))
			sum += to_minor(json_object_get(t, "amount"));
	}
	return sum;
}

/* obj[key] += delta (minor units) when obj[key] is a number. */
static void add_minor(json_t *obj, const char *key, long long delta)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_number(v) && delta)
		json_object_set_new(obj, key, json_real((double)(to_minor(v) + delta) / 100));
}

/* n * num / den rounded half away from zero (den != 0). */
static long long mul_div(long long n, long long num, long long den)
{
	long long q = n * num, h = (den < 0 ? -den : den) / 2;

	if (den < 0) {
		q = -q;
		den = -den;
	}
	return q >= 0 ? (q + h) / den : -((-q + h) / den);
}

/* Cancellations and refunds: amount and shipping_amount follow their own taxes. */
static void money_entries(json_t *arr, int sign)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		add_minor(e, "amount", sign * tax_minor(json_object_get(e, "taxes")));
		add_minor(e, "shipping_amount", sign * tax_minor(json_object_get(e, "shipping_taxes")));
	}
}

/*
 * @p v (a copy we own) as OR11 shows it with order_tax_mode @p mode: every
 * price field (OpenAPI: "price, unit price, shipping price, cancellation
 * amount, refund amount and order total prices") gets its taxes added
 * (TAX_EXCLUDED -> TAX_INCLUDED) or taken off (the reverse), in pennies.
 * A line's price_unit moves in proportion to its price (a promotion line's
 * unit price is before the promotion); a line with price 0 moves by its
 * taxes over its quantity. Without taxes nothing changes, as the OpenAPI
 * says.
 */
static void to_tax_mode(json_t *v, const char *mode)
{
	const char *cur = json_string_value(json_object_get(v, "order_tax_mode"));
	int sign = strcmp(mode, "TAX_INCLUDED") == 0 ? 1 : -1;
	long long all_t = 0, all_st = 0;
	size_t i;
	json_t *l;

	if (!cur || strcmp(cur, mode) == 0)
		return;
	json_array_foreach(json_object_get(v, "order_lines"), i, l) {
		long long t = sign * tax_minor(json_object_get(l, "taxes"));
		long long st = sign * tax_minor(json_object_get(l, "shipping_taxes"));
		json_t *price = json_object_get(l, "price"), *pu = json_object_get(l, "price_unit");
		json_t *q = json_object_get(l, "quantity");

		if (json_is_number(pu) && t) {
			long long old = json_is_number(price) ? to_minor(price) : 0;
			long long unit = to_minor(pu), qty = json_is_integer(q) ? json_integer_value(q) : 1;

			add_minor(l, "price_unit", (old ? mul_div(unit, old + t, old) : unit + mul_div(t, 1, qty > 0 ? qty : 1))
				- unit);
		}
		add_minor(l, "price", t);
		add_minor(l, "shipping_price", st);
		add_minor(l, "total_price", t + st);
		money_entries(json_object_get(l, "cancelations"), sign);
		money_entries(json_object_get(l, "refunds"), sign);
		all_t += t;
		all_st += st;
	}
	add_minor(v, "price", all_t);
	add_minor(v, "shipping_price", all_st);
	add_minor(v, "total_price", all_t + all_st);
	json_object_set_new(v, "order_tax_mode", json_string(mode));
}

/* A query parameter, NULL when absent or empty. */
static const char *qarg(struct sim_request *req, const char *name)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

static int cmp_orders(const void *a, const void *b)
{
	const struct sim_order *x = *(struct sim_order *const *)a;
	const struct sim_order *y = *(struct sim_order *const *)b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool in_list(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], s) == 0)
			return true;
	}
	return false;
}

struct time_filter {
	const char *param;
	int64_t ms;
	bool set;
};

/* OR11: GET /api/orders */
static void or11(struct sim_request *req, struct sim_reply *r)
{
	struct time_filter tf[4] = {
		{.param = "start_update_date"}, {.param = "end_update_date"},
		{.param = "start_date"}, {.param = "end_date"},
	};
	char **ids = NULL, **states = NULL;
	size_t nids = 0, nstates = 0, nmatch = 0;
	long long max = SIM_OR11_DEFAULT_MAX, offset = 0;
	bool paginate = true, desc = false;
	struct sim_order **match = NULL;
	const char *v, *tax_mode;
	json_t *orders, *out;
	char *dump;

	v = qarg(req, "paginate");
	if (v && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
		sim_reply_mirakl_error(r, 400, "paginate: expected true or false, got '%s'", v);
		return;
	}
	paginate = !v || strcmp(v, "true") == 0;
	v = qarg(req, "max");
	if (v && sim_parse_ll(v, 1, SIM_OR11_MAX, &max)) {
		sim_reply_mirakl_error(r, 400, "max: must be an integer between 1 and %d, got '%s'",
			SIM_OR11_MAX, v);
		return;
	}
	v = qarg(req, "offset");
	if (v && sim_parse_ll(v, 0, 1000000000, &offset)) {
		sim_reply_mirakl_error(r, 400, "offset: must be a non-negative integer, got '%s'", v);
		return;
	}
	v = qarg(req, "sort");
	if (v && strcmp(v, "dateCreated") != 0) {
		sim_reply_mirakl_error(r, 400, "sort: unsupported value '%s'", v);
		return;
	}
	v = qarg(req, "order");
	if (v && strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0) {
		sim_reply_mirakl_error(r, 400, "order: expected asc or desc, got '%s'", v);
		return;
	}
	desc = v && strcmp(v, "desc") == 0;
	tax_mode = qarg(req, "order_tax_mode");
	if (tax_mode && strcmp(tax_mode, "TAX_INCLUDED") != 0 && strcmp(tax_mode, "TAX_EXCLUDED") != 0) {
		sim_reply_mirakl_error(r, 400, "order_tax_mode: expected TAX_INCLUDED or TAX_EXCLUDED, got '%s'",
			tax_mode);
		return;
	}
	for (size_t i = 0; i < 4; i++) {
		v = qarg(req, tf[i].param);
		if (!v)
			continue;
		if (sim_parse_time(v, &tf[i].ms)) {
			sim_reply_mirakl_error(r, 400, "%s: invalid date-time '%s'", tf[i].param, v);
			return;
		}
		tf[i].set = true;
	}
	/* Mirakl subtracts a safety delta from start_update_date: overlaps are expected. */
	tf[0].ms -= sim.mirakl_update_delta_s * 1000;

	ids = sim_split_csv(qarg(req, "order_ids"), &nids);
	if (nids > SIM_OR11_MAX_IDS) {
		sim_reply_mirakl_error(r, 400, "order_ids: at most %d ids", SIM_OR11_MAX_IDS);
		goto out_ids;
	}
	states = sim_split_csv(qarg(req, "order_state_codes"), &nstates);
	for (size_t i = 0; i < nstates; i++) {
		if (!mk_valid_state(states[i])) {
			sim_reply_mirakl_error(r, 400, "order_state_codes: unknown order state '%s'",
				states[i]);
			goto out_states;
		}
	}

	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	match = sim_xmalloc(sizeof(*match) * (sim.norders + 1));
	for (size_t i = 0; i < sim.norders; i++) {
		struct sim_order *o = &sim.orders[i];
		const char *st = json_string_value(json_object_get(o->json, "order_state"));

		if (nids && !in_list(ids, nids, o->id))
			continue;
		if (nstates && !in_list(states, nstates, st ? st : ""))
			continue;
		if ((tf[0].set && o->updated_ms < tf[0].ms) || (tf[1].set && o->updated_ms > tf[1].ms) ||
		    (tf[2].set && o->created_ms < tf[2].ms) || (tf[3].set && o->created_ms > tf[3].ms))
			continue;
		match[nmatch++] = o;
	}
	qsort(match, nmatch, sizeof(*match), cmp_orders);
	orders = json_array();
	for (size_t k = 0; k < nmatch; k++) {
		size_t i = desc ? nmatch - 1 - k : k;

		if (paginate && (k < (size_t)offset || k >= (size_t)offset + (size_t)max))
			continue;
		json_t *view = mk_order_view(match[i]);

		if (tax_mode && strcmp(tax_mode, stored_tax_mode(match[i])) != 0) {
			json_t *conv = json_deep_copy(view);

			json_decref(view);
			to_tax_mode(conv, tax_mode);
			view = conv;
		}
		json_array_append_new(orders, view);
		/* a read by id after a repeated OR24 explains it (it finds SHIPPED) */
		if (nids && match[i]->repeat_unread)
			match[i]->repeat_unread = !sim_mirakl_ship_done(match[i]);
		/* a read by id that found it SHIPPED: a later OR24 had been told */
		if (nids && sim_mirakl_ship_done(match[i]))
			match[i]->read_shipped = true;
	}
	out = json_pack("{s:o, s:I}", "orders", orders, "total_count", (json_int_t)nmatch);
	/* Dump while locked: OR21 mutates the same JSON objects. */
	dump = sim_json_dump(out);
	pthread_mutex_unlock(&sim.lock);
	free(match);
	sim_reply_dumped(r, 200, dump);
out_states:
	sim_strv_free(states, nstates);
out_ids:
	sim_strv_free(ids, nids);
}

/* OR12: GET /api/orders/{order_id} */
static void or12(const char *id, struct sim_reply *r)
{
	struct sim_order *o;
	char *dump = NULL;

	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	o = sim_mirakl_find(id);
	if (o)
		dump = sim_json_dump(mk_order_view(o));
	pthread_mutex_unlock(&sim.lock);
	if (!o) {
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
		return;
	}
	sim_reply_dumped(r, 200, dump);
}

json_t *mk_json_body(struct sim_request *req, struct sim_reply *r)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
	if (!sim_media_type_is(ct, "application/json")) {
		sim_reply_mirakl_error(r, 415, "Content type '%s' not supported, use application/json", ct ? ct : "");
		return NULL;
	}
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		sim_reply_mirakl_error(r, 400, "VALIDATION_ERROR: body is not a JSON object");
		return NULL;
	}
	return body;
}

/* Validate the OR21 body shape before looking at the order. */
static bool or21_shape(json_t *lines, struct sim_reply *r)
{
	size_t i;
	json_t *l;

	if (!json_is_array(lines)) {
		sim_reply_mirakl_error(r, 400, "VALIDATION_ERROR: order_lines: required array");
		return false;
	}
	json_array_foreach(lines, i, l) {
		const char *id;

		if (json_is_null(l)) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_LINE_NULL_ELEMENT: order_lines[%zu] is null", i);
			return false;
		}
		id = json_string_value(json_object_get(l, "id"));
		if (!json_is_object(l) || !id || !*id || !json_is_boolean(json_object_get(l, "accepted"))) {
			sim_reply_mirakl_error(r, 400,
				"VALIDATION_ERROR: order_lines[%zu]: 'id' (string) and 'accepted' (boolean) are required", i);
			return false;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(id, json_string_value(json_object_get(json_array_get(lines, k), "id"))) == 0) {
				sim_reply_mirakl_error(r, 400,
					"ORDER_LINE_DUPLICATE_ID: order line '%s' appears twice", id);
				return false;
			}
		}
	}
	return true;
}

static json_t *decision_for(json_t *lines, const char *line_id)
{
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l) {
		if (strcmp(json_string_value(json_object_get(l, "id")), line_id) == 0)
			return l;
	}
	return NULL;
}

/* OR21 under the lock: check the state rules, then apply the decisions. */
static void or21_apply(struct sim_order *o, json_t *lines, struct sim_reply *r)
{
	json_t *olines = json_object_get(o->json, "order_lines");
	const char *st;
	char now[32];
	bool any_accepted = false;
	size_t i;
	json_t *l;
	int64_t now_ms = sim_now_ms();

	st = json_string_value(json_object_get(o->json, "order_state"));
	if (!st || strcmp(st, "WAITING_ACCEPTANCE") != 0) {
		sim_reply_mirakl_error(r, 400,
			"ORDER_INVALID_STATE: order '%s' is in state %s, expected WAITING_ACCEPTANCE",
			o->id, st ? st : "(none)");
		return;
	}
	json_array_foreach(lines, i, l) {
		const char *id = json_string_value(json_object_get(l, "id"));
		json_t *ol = NULL;
		size_t k;
		json_t *c;

		json_array_foreach(olines, k, c) {
			const char *cid = json_string_value(json_object_get(c, "order_line_id"));

			if (cid && strcmp(cid, id) == 0)
				ol = c;
		}
		if (!ol) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_LINE_NOT_FOUND: order line '%s' is not part of order '%s'", id, o->id);
			return;
		}
		st = json_string_value(json_object_get(ol, "order_line_state"));
		if (!st || strcmp(st, "WAITING_ACCEPTANCE") != 0) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_INVALID_STATE: order line '%s' is in state %s, expected WAITING_ACCEPTANCE",
				id, st ? st : "(none)");
			return;
		}
	}
	json_array_foreach(olines, i, l) {
		const char *lst = json_string_value(json_object_get(l, "order_line_state"));
		const char *lid = json_string_value(json_object_get(l, "order_line_id"));

		if (lst && strcmp(lst, "WAITING_ACCEPTANCE") == 0 && !decision_for(lines, lid ? lid : "")) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_LINE_ACCEPTANCE_DECISION_MISSING: no decision for order line '%s'",
				lid ? lid : "");
			return;
		}
	}
	if (!mk_set.partial_acceptance) {
		bool yes = false, no = false;

		json_array_foreach(lines, i, l) {
			if (json_is_true(json_object_get(l, "accepted")))
				yes = true;
			else
				no = true;
		}
		if (yes && no) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_PARTIAL_ACCEPTANCE_DISABLED: partial acceptance is disabled for this shop: "
				"accept or refuse every line of order '%s'", o->id);
			return;
		}
	}
	/* Every check passed: accepted lines start the debit, refused ones end. */
	sim_fmt_iso(now_ms, now);
	json_array_foreach(olines, i, l) {
		const char *lid = json_string_value(json_object_get(l, "order_line_id"));
		json_t *d = decision_for(lines, lid ? lid : "");
		bool acc;

		if (!d)
			continue;
		acc = json_is_true(json_object_get(d, "accepted"));
		any_accepted = any_accepted || acc;
		if (!acc)
			mk_offer_stock(l, +1);
		json_object_set_new(l, "order_line_state", json_string(acc ? "WAITING_DEBIT" : "REFUSED"));
		json_object_set_new(l, "last_updated_date", json_string(now));
	}
	json_object_set_new(o->json, "acceptance_decision_date", json_string(now));
	if (any_accepted) {
		o->debit_start_ms = now_ms;
		/* One draw per accepted order: the outcomes follow the order of OR21 calls. */
		o->debit_fail = sim_uniform(&mk_set.rng) < mk_set.debit_failure_rate;
	}
	mk_commit(o, now_ms, "REFUSED");
	/* A debit delay of 0 runs the whole debit now. */
	mk_advance_order(o, now_ms);
	sim_reply_empty(r, 204);
}

/* OR21: PUT /api/orders/{order_id}/accept */
static void or21(struct sim_request *req, const char *id, struct sim_reply *r)
{
	json_t *body, *lines;
	struct sim_order *o;

	pthread_mutex_lock(&sim.lock);
	o = sim_mirakl_find(id);
	pthread_mutex_unlock(&sim.lock);
	if (!o) {
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
		return;
	}
	body = mk_json_body(req, r);
	if (!body)
		return;
	lines = json_object_get(body, "order_lines");
	if (!or21_shape(lines, r))
		goto out;
	pthread_mutex_lock(&sim.lock);
	/* Look again: a reset may have run while the body was checked. */
	sim_mirakl_advance();
	o = sim_mirakl_find(id);
	if (o)
		or21_apply(o, lines, r);
	pthread_mutex_unlock(&sim.lock);
	if (!o)
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
out:
	json_decref(body);
}

static void advance_locked(void)
{
	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	pthread_mutex_unlock(&sim.lock);
}

void sim_mirakl_handle(struct sim_request *req, const char *subpath, struct sim_reply *r)
{
	const char *m = req->method;
	const char *rest;
	const char *slash;
	char id[512];
	size_t n;

	if (strncmp(subpath, "/api/offers", 11) == 0 && (!subpath[11] || subpath[11] == '/')) {
		sim_mirakl_stock_handle(req, subpath, r);
		return;
	}
	advance_locked();
	if (sim_mirakl_ship_handle(req, subpath, NULL, NULL, r))
		return;
	if (strcmp(subpath, "/api/orders") == 0) {
		if (!sim_mirakl_method_is(m, "GET", r))
			return;
		or11(req, r);
		return;
	}
	if (strncmp(subpath, "/api/orders/", 12) != 0 || !subpath[12])
		goto not_found;
	rest = subpath + 12;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(id))
		goto not_found;
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!slash) {
		if (!sim_mirakl_method_is(m, "GET", r))
			return;
		or12(id, r);
		return;
	}
	if (sim_mirakl_ship_handle(req, subpath, id, slash, r))
		return;
	if (strcmp(slash, "/accept") == 0) {
		if (!sim_mirakl_method_is(m, "PUT", r))
			return;
		or21(req, id, r);
		return;
	}
not_found:
	sim_reply_mirakl_error(r, 404, "Not Found: %s", subpath);
}
