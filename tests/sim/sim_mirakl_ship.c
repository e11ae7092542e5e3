/*
 * kcgate-sim, Mirakl seller API, shipping: SH21 (carriers), OR23
 * (tracking), OR24 (ship), ST01 (shipments), after the seller OpenAPI
 * extract (shared/ref/mirakl-mmp-seller-openapi.subset.json) and
 * shared/docs/peers.md:
 *  - SH21 lists the carriers set by POST /_sim/mirakl/carriers (SH21's own
 *    shape: {"carriers":[{"code","label","tracking_url"}]});
 *  - OR23 takes a registered carrier_code, or a carrier_name for an
 *    unregistered carrier (carrier_url optional), and a tracking_number
 *    (required for a registered carrier with a tracking URL); it stores
 *    the tracking in the order's shipping_carrier_code, shipping_company,
 *    shipping_tracking and shipping_tracking_url (OR11's fields);
 *  - OR24 has no body and works only in SHIPPING (-> SHIPPED); any other
 *    state is a 400, and a second OR24 on an order it shipped is counted
 *    (GET /_sim/state mirakl.repeated_ship_calls);
 *  - ST01 creates shipments (1..1000), each with its lines; shipped ones
 *    count against the lines, and an order whose lines are all shipped
 *    becomes SHIPPED. Errors per shipment inside a 201;
 *  - ST11 lists them (filter order_id, repeated or a comma list; seek
 *    pagination: limit, default 10, and an opaque page_token).
 */
#include "sim_mirakl.h"

#include <microhttpd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARRIERS_MAX 1000
#define TEXT_MAX 255

struct carrier {
	char *code, *label, *url;
};

static struct {
	struct carrier *list;
	size_t n;
	unsigned long repeated_ship_calls; /* OR24 on an order that was SHIPPED by an OR24 */
	unsigned long shipments;
	unsigned long shipment_errors; /* shipments ST01 refused (a repeat is refused on its quantities) */
	json_t *created; /* every shipment ST01 created, as ST11 lists it */
} ship;

static const struct carrier *find_carrier(const char *code)
{
	for (size_t i = 0; code && i < ship.n; i++)
		if (strcmp(ship.list[i].code, code) == 0)
			return &ship.list[i];
	return NULL;
}

static void carriers_free(void)
{
	for (size_t i = 0; i < ship.n; i++) {
		free(ship.list[i].code);
		free(ship.list[i].label);
		free(ship.list[i].url);
	}
	free(ship.list);
	ship.list = NULL;
	ship.n = 0;
}

void sim_mirakl_ship_reset(void)
{
	carriers_free();
	ship.repeated_ship_calls = 0;
	ship.shipments = 0;
	ship.shipment_errors = 0;
	json_decref(ship.created);
	ship.created = NULL;
}

json_t *sim_mirakl_ship_counters(void)
{
	return json_pack("{s:I, s:I, s:I}", "repeated_ship_calls", (json_int_t)ship.repeated_ship_calls, "shipments",
			 (json_int_t)ship.shipments, "shipment_errors", (json_int_t)ship.shipment_errors);
}

json_t *sim_mirakl_tracking_of(json_t *order)
{
	json_t *num = json_object_get(order, "shipping_tracking");
	if (!json_is_string(num) && !json_is_string(json_object_get(order, "shipping_company")))
		return json_null();
	return json_pack("{s:O?, s:O?, s:O?, s:O?}", "carrier_code", json_object_get(order, "shipping_carrier_code"),
			 "carrier_name", json_object_get(order, "shipping_company"), "tracking_number", num,
			 "tracking_url", json_object_get(order, "shipping_tracking_url"));
}

/* POST /_sim/mirakl/carriers, SH21's shape; lock not held. */
void sim_mirakl_ctl_carriers(json_t *body, struct sim_reply *r)
{
	json_t *list = json_object_get(body, "carriers"), *c;
	size_t i;
	if (!json_is_array(list) || json_array_size(list) > CARRIERS_MAX) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "carriers: required array of at most %d", CARRIERS_MAX);
		return;
	}
	json_array_foreach(list, i, c) {
		const char *code = json_string_value(json_object_get(c, "code"));
		const char *label = json_string_value(json_object_get(c, "label"));
		json_t *url = json_object_get(c, "tracking_url");
		if (!code || !*code || strlen(code) > TEXT_MAX || !label || strlen(label) > TEXT_MAX ||
		    (url && !json_is_string(url) && !json_is_null(url))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
					    "carriers[%zu]: code and label strings (SH21 requires both), tracking_url a string", i);
			return;
		}
	}
	pthread_mutex_lock(&sim.lock);
	carriers_free();
	ship.list = sim_xmalloc(sizeof(*ship.list) * (json_array_size(list) + 1));
	json_array_foreach(list, i, c) {
		const char *url = json_string_value(json_object_get(c, "tracking_url"));
		ship.list[i].code = sim_strdup(json_string_value(json_object_get(c, "code")));
		ship.list[i].label = sim_strdup(json_string_value(json_object_get(c, "label")));
		ship.list[i].url = sim_strdup(url ? url : "");
	}
	ship.n = json_array_size(list);
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:I}", "carriers", (json_int_t)json_array_size(list)));
}

static void sh21(struct sim_reply *r)
{
	json_t *list = json_array();
	pthread_mutex_lock(&sim.lock);
	for (size_t i = 0; i < ship.n; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s*}", "code", ship.list[i].code, "label",
						      ship.list[i].label, "tracking_url",
						      *ship.list[i].url ? ship.list[i].url : NULL));
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:o}", "carriers", list));
}

static const char *str_of(json_t *o, const char *key, bool *bad)
{
	json_t *v = json_object_get(o, key);
	if (v && !json_is_string(v) && !json_is_null(v))
		*bad = true;
	const char *s = json_string_value(v);
	if (s && strlen(s) > TEXT_MAX * 4)
		*bad = true;
	return s && *s ? s : NULL;
}

/* Checks a tracking object (OR23's body or ST01's tracking); lock held.
 * NULL when good, else the error message. @p url_key is "carrier_url"
 * (OR23) or "tracking_url" (ST01). */
static const char *tracking_error(json_t *t, const char *url_key, char *msg, size_t cap)
{
	bool bad = false;
	const char *code = str_of(t, "carrier_code", &bad), *name = str_of(t, "carrier_name", &bad);
	const char *num = str_of(t, "tracking_number", &bad);
	str_of(t, url_key, &bad);
	str_of(t, "carrier_standard_code", &bad);
	if (bad)
		return "VALIDATION_ERROR: carrier_code, carrier_name, carrier_url and tracking_number are strings";
	if (code) {
		const struct carrier *c = find_carrier(code);
		if (!c) {
			snprintf(msg, cap, "VALIDATION_ERROR: carrier_code '%.100s' is not a registered carrier (SH21); "
				 "name an unregistered carrier with carrier_name", code);
			return msg;
		}
		if (*c->url && !num)
			return "VALIDATION_ERROR: tracking_number is mandatory for a registered carrier with a tracking URL";
		return NULL;
	}
	if (!name)
		return "VALIDATION_ERROR: carrier_code (a registered carrier) or carrier_name (an unregistered one) is mandatory";
	return NULL;
}

static void set_or_null(json_t *o, const char *key, json_t *t, const char *from)
{
	json_t *v = json_object_get(t, from);
	json_object_set(o, key, json_is_string(v) && *json_string_value(v) ? v : json_null());
}

/* Stores a tracking in the order (OR11's fields); lock held. */
static void store_tracking(struct sim_order *o, json_t *t, const char *url_key)
{
	const char *code = json_string_value(json_object_get(t, "carrier_code"));
	const struct carrier *c = code && *code ? find_carrier(code) : NULL;
	set_or_null(o->json, "shipping_carrier_code", t, "carrier_code");
	set_or_null(o->json, "shipping_tracking", t, "tracking_number");
	if (c) {
		json_object_set_new(o->json, "shipping_company", json_string(c->label));
		/* registered: the carrier's URL as SH21 lists it ({trackingId} left as is: the sim does not fill it) */
		json_object_set_new(o->json, "shipping_tracking_url", *c->url ? json_string(c->url) : json_null());
	} else {
		set_or_null(o->json, "shipping_company", t, "carrier_name");
		set_or_null(o->json, "shipping_tracking_url", t, url_key);
	}
}

bool sim_mirakl_ship_done(const struct sim_order *o)
{
	const char *st = json_string_value(json_object_get(o->json, "order_state"));
	return st && (!strcmp(st, "SHIPPED") || !strcmp(st, "TO_COLLECT") || !strcmp(st, "RECEIVED") ||
		      !strcmp(st, "CLOSED"));
}

static bool shippable(const char *st)
{
	return !strcmp(st, "SHIPPING") || !strcmp(st, "SHIPPED") || !strcmp(st, "TO_COLLECT");
}

static void or23(struct sim_request *req, const char *id, struct sim_reply *r)
{
	char msg[300];
	json_t *body = mk_json_body(req, r);
	if (!body)
		return;
	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	struct sim_order *o = sim_mirakl_find(id);
	const char *err = o ? tracking_error(body, "carrier_url", msg, sizeof(msg)) : NULL;
	const char *st = o ? json_string_value(json_object_get(o->json, "order_state")) : NULL;
	if (!o)
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
	else if (err)
		sim_reply_mirakl_error(r, 400, "%s", err);
	else if (!shippable(st ? st : ""))
		sim_reply_mirakl_error(r, 400, "ORDER_INVALID_STATE: order '%s' is %s: tracking is taken from SHIPPING on",
				       id, st ? st : "");
	else {
		store_tracking(o, body, "carrier_url");
		sim_mirakl_touch(o);
		sim_reply_empty(r, 204);
	}
	pthread_mutex_unlock(&sim.lock);
	json_decref(body);
}

static void ship_lines(struct sim_order *o)
{
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		const char *st = json_string_value(json_object_get(l, "order_line_state"));
		if (st && !strcmp(st, "SHIPPING"))
			json_object_set_new(l, "order_line_state", json_string("SHIPPED"));
	}
}

static void or24(struct sim_request *req, const char *id, struct sim_reply *r)
{
	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	struct sim_order *o = sim_mirakl_find(id);
	const char *st = o ? json_string_value(json_object_get(o->json, "order_state")) : NULL;
	if (!o) {
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
	} else if (o->ship_calls++, req->body_len) {
		sim_reply_mirakl_error(r, 400, "VALIDATION_ERROR: OR24 takes no body");
	} else if (st && !strcmp(st, "SHIPPING")) {
		ship_lines(o);
		o->shipped_by_or24 = true;
		o->ship_ok++;
		o->read_shipped = false;
		sim_mirakl_commit(o, "SHIPPED");
		sim_reply_empty(r, 204);
	} else {
		if (o->shipped_by_or24) {
			ship.repeated_ship_calls++;
			o->repeat_unread = true;
			/* sent without a read by id that found it SHIPPED since the previous OR24 */
			if (!o->read_shipped)
				o->repeat_blind++;
			o->read_shipped = false;
		}
		sim_reply_mirakl_error(r, 400, "ORDER_INVALID_STATE: order '%s' is %s, not SHIPPING", id, st ? st : "");
	}
	pthread_mutex_unlock(&sim.lock);
}

/* One ST01 shipment; lock held. NULL when created, else its error. */
static const char *one_shipment(json_t *s, char *msg, size_t cap, json_t *success)
{
	const char *id = json_string_value(json_object_get(s, "order_id"));
	json_t *lines = json_object_get(s, "shipment_lines"), *l, *t = json_object_get(s, "tracking");
	json_t *shipped_v = json_object_get(s, "shipped");
	size_t i;
	struct sim_order *o = id ? sim_mirakl_find(id) : NULL;
	if (!id || !*id)
		return "order_id: required";
	if (!o) {
		snprintf(msg, cap, "ORDER_NOT_FOUND: order '%.100s' does not exist", id);
		return msg;
	}
	const char *st = json_string_value(json_object_get(o->json, "order_state"));
	if (!st || strcmp(st, "SHIPPING") != 0) {
		snprintf(msg, cap, "ORDER_INVALID_STATE: order '%.100s' is %s, not SHIPPING", id, st ? st : "");
		return msg;
	}
	if (!json_is_array(lines) || json_array_size(lines) == 0)
		return "shipment_lines: at least one line";
	if (shipped_v && !json_is_boolean(shipped_v))
		return "shipped: a boolean";
	if (t && !json_is_object(t))
		return "tracking: an object";
	const char *err = t ? tracking_error(t, "tracking_url", msg, cap) : NULL;
	if (err)
		return err;
	json_t *want = json_object(); /* order_line_id -> quantity of this shipment */
	json_array_foreach(lines, i, l) {
		const char *lid = json_string_value(json_object_get(l, "order_line_id"));
		json_t *q = json_object_get(l, "quantity");
		json_t *line = NULL, *x;
		size_t k;
		json_array_foreach(json_object_get(o->json, "order_lines"), k, x) {
			const char *xid = json_string_value(json_object_get(x, "order_line_id"));
			if (lid && xid && !strcmp(lid, xid))
				line = x;
		}
		if (!line || !json_is_integer(q) || json_integer_value(q) < 1) {
			json_decref(want);
			snprintf(msg, cap, "shipment_lines[%zu]: an order_line_id of the order and a quantity >= 1", i);
			return msg;
		}
		json_int_t left = json_integer_value(json_object_get(line, "quantity")) -
				  json_integer_value(json_object_get(o->shipped_qty, lid)) -
				  json_integer_value(json_object_get(want, lid));
		if (json_integer_value(q) > left) {
			json_decref(want);
			snprintf(msg, cap, "shipment_lines[%zu]: quantity %lld is more than the %lld left to ship on line %.60s",
				 i, (long long)json_integer_value(q), (long long)left, lid);
			return msg;
		}
		json_object_set_new(want, lid, json_integer(json_integer_value(json_object_get(want, lid)) +
							   json_integer_value(q)));
	}
	/* created: shipped ones count against the lines */
	bool all = true;
	size_t k;
	json_t *x;
	json_array_foreach(json_object_get(o->json, "order_lines"), k, x) {
		const char *xid = json_string_value(json_object_get(x, "order_line_id"));
		if (!xid)
			continue;
		json_int_t done = json_integer_value(json_object_get(o->shipped_qty, xid));
		if (json_is_true(shipped_v))
			done += json_integer_value(json_object_get(want, xid));
		if (!o->shipped_qty)
			o->shipped_qty = json_object();
		json_object_set_new(o->shipped_qty, xid, json_integer(done));
		const char *ls = json_string_value(json_object_get(x, "order_line_state"));
		if (ls && !strcmp(ls, "SHIPPING") && done < json_integer_value(json_object_get(x, "quantity")))
			all = false;
	}
	json_decref(want);
	if (t)
		store_tracking(o, t, "tracking_url");
	char sid[64], now[32];
	ship.shipments++;
	snprintf(sid, sizeof(sid), "SHIP-%lu", ship.shipments);
	sim_fmt_iso(sim_now_ms(), now);
	json_array_append_new(success, json_pack("{s:s, s:s, s:s, s:s}", "id", sid, "order_id", id, "created_date", now,
						 "last_updated_date", now));
	if (!ship.created)
		ship.created = json_array();
	json_t *trk = json_object();
	const char *keys[] = { "carrier_code", "carrier_name", "tracking_number", "tracking_url" };
	for (size_t k2 = 0; t && k2 < 4; k2++)
		if (json_is_string(json_object_get(t, keys[k2])))
			json_object_set(trk, keys[k2], json_object_get(t, keys[k2]));
	json_array_append_new(ship.created, json_pack("{s:s, s:s, s:s, s:s, s:o, s:O}", "id", sid, "order_id", id,
						      "created_date", now, "status", json_is_true(shipped_v) ? "SHIPPED" : "SHIPPING",
						      "tracking", trk, "shipment_lines", lines));
	if (json_is_true(shipped_v) && all) {
		ship_lines(o);
		sim_mirakl_commit(o, "SHIPPED");
	} else {
		sim_mirakl_touch(o);
	}
	return NULL;
}

static void st01(struct sim_request *req, struct sim_reply *r)
{
	json_t *body = mk_json_body(req, r), *list, *s;
	size_t i;
	if (!body)
		return;
	list = json_object_get(body, "shipments");
	if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > 1000) {
		sim_reply_mirakl_error(r, 400, "VALIDATION_ERROR: shipments: 1 to 1000 shipments");
		json_decref(body);
		return;
	}
	json_t *errors = json_array(), *success = json_array();
	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	json_array_foreach(list, i, s) {
		char msg[300];
		const char *err = json_is_object(s) ? one_shipment(s, msg, sizeof(msg), success) : "not an object";
		if (err)
			ship.shipment_errors++;
		if (err)
			json_array_append_new(errors, json_pack("{s:s?, s:s}", "order_id",
								json_string_value(json_object_get(s, "order_id")), "message", err));
	}
	pthread_mutex_unlock(&sim.lock);
	json_decref(body);
	sim_reply_json(r, 201, json_pack("{s:o, s:o}", "shipment_errors", errors, "shipment_success", success));
}

/* ST11 GET /api/shipments: order_id filters (repeated or a comma list), limit 1..100 (default 10),
 * page_token from the previous page. */
static void st11(struct sim_request *req, struct sim_reply *r)
{
	const char *lim = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
	const char *tok = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "page_token");
	long long limit = 10, offset = 0;
	if (lim && sim_parse_ll(lim, 1, 100, &limit)) {
		sim_reply_mirakl_error(r, 400, "limit: an integer from 1 to 100");
		return;
	}
	if (tok && (tok[0] != 'o' || sim_parse_ll(tok + 1, 0, 1000000000, &offset))) {
		sim_reply_mirakl_error(r, 400, "page_token: not a token this API gave");
		return;
	}
	/* order_id may be repeated: the raw query holds every one */
	size_t nids = 0;
	char **ids = NULL;
	for (const char *q = req->query; q && *q;) {
		size_t n = strcspn(q, "&");
		if (n > 9 && strncmp(q, "order_id=", 9) == 0) {
			char *v = strndup(q + 9, n - 9);
			size_t k = 0;
			char **more = sim_split_csv(v, &k);
			ids = realloc(ids, sizeof(*ids) * (nids + k + 1));
			for (size_t i = 0; i < k; i++)
				ids[nids++] = more[i];
			free(more);
			free(v);
		}
		q += n + (q[n] == '&');
	}
	json_t *data = json_array(), *sh;
	size_t i, seen = 0;
	bool more = false;
	pthread_mutex_lock(&sim.lock);
	json_array_foreach(ship.created, i, sh) {
		bool hit = nids == 0;
		for (size_t k = 0; k < nids && !hit; k++)
			hit = strcmp(ids[k], json_string_value(json_object_get(sh, "order_id"))) == 0;
		if (!hit)
			continue;
		if ((long long)seen++ < offset)
			continue;
		if ((long long)json_array_size(data) == limit) {
			more = true;
			break;
		}
		json_array_append(data, sh);
	}
	json_t *out = json_pack("{s:o}", "data", data);
	pthread_mutex_unlock(&sim.lock);
	char next[32];
	snprintf(next, sizeof(next), "o%lld", offset + limit);
	json_object_set_new(out, "next_page_token", more ? json_string(next) : json_null());
	sim_strv_free(ids, nids);
	sim_reply_json(r, 200, out);
}

/* Routes of this half: 1 when @p subpath (/api/...) was one of them. */
int sim_mirakl_ship_handle(struct sim_request *req, const char *subpath, const char *order_id, const char *suffix,
			   struct sim_reply *r)
{
	const char *m = req->method, *want = NULL;
	void (*fn)(struct sim_request *, const char *, struct sim_reply *) = NULL;
	if (!order_id && !strcmp(subpath, "/api/shipping/carriers")) {
		if (strcmp(m, "GET") != 0)
			want = "GET";
		else
			sh21(r);
	} else if (!order_id && !strcmp(subpath, "/api/shipments")) {
		if (!strcmp(m, "GET"))
			st11(req, r);
		else if (strcmp(m, "POST") != 0)
			want = "GET, POST";
		else
			st01(req, r);
	} else if (order_id && !strcmp(suffix, "/tracking")) {
		fn = or23;
	} else if (order_id && !strcmp(suffix, "/ship")) {
		fn = or24;
	} else {
		return 0;
	}
	if (fn && strcmp(m, "PUT") != 0)
		want = "PUT";
	else if (fn)
		fn(req, order_id, r);
	if (want) {
		sim_reply_mirakl_error(r, 405, "Request method '%s' not supported", m);
		r->allow = want;
	}
	return 1;
}
