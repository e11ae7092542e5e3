/*
 * kcgate-sim, Mirakl control: POST /_sim/mirakl/orders creates orders from
 * what a test gives (an OR11-shaped object, or an array of them), every
 * field it leaves out filled with a plausible default; the offers'
 * quantities go down as Mirakl's do when an order is created.
 */
#include "sim_mirakl.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
#define SHIPPING_DAYS 5

/* Set o[key] = v unless it holds a non-null value; steals v. */
static void set_default(json_t *o, const char *key, json_t *v)
{
	json_t *cur = json_object_get(o, key);

	if (cur && !json_is_null(cur)) {
		json_decref(v);
		return;
	}
	json_object_set_new(o, key, v);
}

static json_t *default_address(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		"firstname", "Jane", "lastname", "Doe", "street_1", "1 High Street",
		"street_2", "", "city", "London", "zip_code", "SW1A 1AA",
		"country", "United Kingdom", "country_iso_code", "GBR", "phone", "+44 20 7946 0000");
}

static double cents(double v)
{
	return (double)(long long)(v * 100 + (v < 0 ? -0.5 : 0.5)) / 100;
}

/* taxes[] / shipping_taxes[]: {"code","amount"} each, tax_calculation_rule filled. */
static bool fill_taxes(json_t *l, const char *key)
{
	json_t *arr, *t;
	size_t i;

	set_default(l, key, json_array());
	arr = json_object_get(l, key);
	if (!json_is_array(arr))
		return false;
	json_array_foreach(arr, i, t) {
		if (!json_is_object(t) || !json_is_string(json_object_get(t, "code")) ||
		    !json_is_number(json_object_get(t, "amount")))
			return false;
		set_default(t, "tax_calculation_rule", json_string("PROPORTIONAL_TO_AMOUNT"));
	}
	return true;
}

/* Fill the line defaults; returns an error message or NULL. */
static const char *fill_line(json_t *l, size_t idx, const char *order_id, const char *state,
			     const char *created, const char *updated, char *buf, size_t bufsz)
{
	json_t *q, *pu;
	double price;

	if (!json_is_object(l))
		return "order_lines[]: each line must be an object";
	snprintf(buf, bufsz, "%s-%zu", order_id, idx + 1);
	set_default(l, "order_line_id", json_string(buf));
	if (!json_is_string(json_object_get(l, "order_line_id")))
		return "order_line_id: must be a string";
	set_default(l, "order_line_index", json_integer((json_int_t)idx + 1));
	set_default(l, "offer_sku", json_string("SKU-1"));
	if (!json_is_string(json_object_get(l, "offer_sku")))
		return "offer_sku: must be a string";
	set_default(l, "quantity", json_integer(1));
	q = json_object_get(l, "quantity");
	if (!json_is_integer(q) || json_integer_value(q) < 1)
		return "quantity: must be an integer >= 1";
	set_default(l, "price_unit", json_real(10.0));
	pu = json_object_get(l, "price_unit");
	if (!json_is_number(pu))
		return "price_unit: must be a number";
	price = json_number_value(pu) * (double)json_integer_value(q);
	set_default(l, "price", json_real(price));
	set_default(l, "shipping_price", json_real(0));
	if (!json_is_number(json_object_get(l, "price")) || !json_is_number(json_object_get(l, "shipping_price")))
		return "price, shipping_price: must be numbers";
	set_default(l, "total_price", json_real(json_number_value(json_object_get(l, "price")) +
		json_number_value(json_object_get(l, "shipping_price"))));
	if (!fill_taxes(l, "taxes"))
		return "taxes: must be an array of {\"code\": string, \"amount\": number}";
	if (!fill_taxes(l, "shipping_taxes"))
		return "shipping_taxes: must be an array of {\"code\": string, \"amount\": number}";
	/* A promotion: the line price is below unit price x quantity. */
	price = json_number_value(json_object_get(l, "price"));
	if (!json_object_get(l, "promotions")) {
		double off = cents(json_number_value(pu) * (double)json_integer_value(q) - price);

		snprintf(buf, bufsz, "SIM-PROMO-%zu", idx + 1);
		json_object_set_new(l, "promotions", off > 0 ? json_pack("[{s:s, s:b, s:f, s:{s:s, s:f, s:s}}]",
			"id", buf, "apportioned", 0, "deduced_amount", off, "configuration",
			"type", "AMOUNT_OFF", "amount_off", off, "internal_description", "kcgate-sim promotion") :
			json_array());
	}
	if (!json_is_array(json_object_get(l, "promotions")))
		return "promotions: must be an array";
	set_default(l, "order_line_state", json_string(state));
	if (!json_is_string(json_object_get(l, "order_line_state")) ||
	    !mk_valid_state(json_string_value(json_object_get(l, "order_line_state"))))
		return "order_line_state: unknown state";
	set_default(l, "created_date", json_string(created));
	set_default(l, "last_updated_date", json_string(updated));
	set_default(l, "offer_id", json_integer((json_int_t)idx + 1000));
	set_default(l, "offer_state_code", json_string("11"));
	set_default(l, "product_sku", json_sprintf("MKP-%s", json_string_value(json_object_get(l, "offer_sku"))));
	set_default(l, "product_title", json_sprintf("Product %s", json_string_value(json_object_get(l, "offer_sku"))));
	set_default(l, "description", json_string(""));
	set_default(l, "category_code", json_string("CAT"));
	set_default(l, "category_label", json_string("Category"));
	set_default(l, "can_refund", json_false());
	set_default(l, "commission_fee", json_real(0));
	set_default(l, "commission_rate_vat", json_real(0));
	set_default(l, "commission_vat", json_real(0));
	set_default(l, "total_commission", json_real(0));
	set_default(l, "cancelations", json_array());
	set_default(l, "refunds", json_array());
	set_default(l, "product_medias", json_array());
	set_default(l, "order_line_additional_fields", json_array());
	return NULL;
}

/* Build a complete order from @p in (an OR11-shaped object); lock held. */
static const char *fill_order(json_t *o, int64_t now_ms, struct sim_order *out)
{
	char buf[600], created[64], updated[64], ship[32];
	const char *id, *state, *err;
	json_t *lines, *cust, *l;
	double price = 0, shipping = 0;
	size_t i;
	uint64_t seq = sim.order_seq + 1;

	snprintf(buf, sizeof(buf), "SIM%06llu-A", (unsigned long long)seq);
	set_default(o, "order_id", json_string(buf));
	id = json_string_value(json_object_get(o, "order_id"));
	if (!id || !*id || strlen(id) > 256 || strchr(id, '/') || strchr(id, ','))
		return "order_id: must be a non-empty string without '/' or ',' (at most 256 chars)";
	if (sim_mirakl_find(id))
		return "order_id: an order with this id exists";
	snprintf(buf, sizeof(buf), "SIM%06llu", (unsigned long long)seq);
	set_default(o, "commercial_id", json_string(buf));
	set_default(o, "order_state", json_string("WAITING_ACCEPTANCE"));
	state = json_string_value(json_object_get(o, "order_state"));
	if (!state || !mk_valid_state(state))
		return "order_state: unknown state";
	sim_fmt_iso(now_ms, created);
	sim_fmt_iso(now_ms + SHIPPING_DAYS * DAY_MS, ship);
	set_default(o, "created_date", json_string(created));
	set_default(o, "last_updated_date", json_string(created));
	if (sim_parse_time(json_string_value(json_object_get(o, "created_date")), &out->created_ms))
		return "created_date: not an ISO-8601 date-time";
	if (sim_parse_time(json_string_value(json_object_get(o, "last_updated_date")), &out->updated_ms))
		return "last_updated_date: not an ISO-8601 date-time";
	snprintf(created, sizeof(created), "%s", json_string_value(json_object_get(o, "created_date")));
	snprintf(updated, sizeof(updated), "%s", json_string_value(json_object_get(o, "last_updated_date")));
	/* Null until the shop decides (OR21); an order created past acceptance was decided at creation. */
	if (!json_object_get(o, "acceptance_decision_date"))
		json_object_set_new(o, "acceptance_decision_date",
			mk_life_rank(state) >= MK_RANK_WAITING_DEBIT ? json_string(created) : json_null());
	if (!json_is_null(json_object_get(o, "acceptance_decision_date")) &&
	    !json_is_string(json_object_get(o, "acceptance_decision_date")))
		return "acceptance_decision_date: must be a string or null";
	set_default(o, "shipping_deadline", json_string(ship));
	set_default(o, "currency_iso_code", json_string("GBP"));
	set_default(o, "shipping_type_code", json_string("STD"));
	set_default(o, "shipping_type_label", json_string("Standard"));
	set_default(o, "shipping_zone_code", json_string("UK"));
	set_default(o, "shipping_zone_label", json_string("United Kingdom"));
	set_default(o, "can_cancel", json_false());
	set_default(o, "can_shop_ship", json_true());
	set_default(o, "fully_refunded", json_false());
	set_default(o, "has_customer_message", json_false());
	set_default(o, "has_incident", json_false());
	set_default(o, "has_invoice", json_false());
	set_default(o, "leadtime_to_ship", json_integer(2));
	set_default(o, "order_tax_mode", json_string("TAX_INCLUDED"));
	if (!json_is_string(json_object_get(o, "order_tax_mode")) ||
	    (strcmp(json_string_value(json_object_get(o, "order_tax_mode")), "TAX_INCLUDED") != 0 &&
	     strcmp(json_string_value(json_object_get(o, "order_tax_mode")), "TAX_EXCLUDED") != 0))
		return "order_tax_mode: TAX_INCLUDED or TAX_EXCLUDED";
	if (!json_is_string(json_object_get(o, "commercial_id")) ||
	    !json_is_string(json_object_get(o, "shipping_type_code")))
		return "commercial_id, shipping_type_code: must be strings";
	set_default(o, "paymentType", json_string("CREDIT_CARD"));
	set_default(o, "payment_type", json_string("CREDIT_CARD"));
	set_default(o, "payment_workflow", json_string("PAY_ON_ACCEPTANCE"));
	set_default(o, "total_commission", json_real(0));
	/* An order field (OR11_Response_200_Orders), not the customer's. */
	snprintf(buf, sizeof(buf), "sim-%06llu@notify.example", (unsigned long long)seq);
	set_default(o, "customer_notification_email", json_string(buf));
	if (!json_is_string(json_object_get(o, "customer_notification_email")))
		return "customer_notification_email: must be a string";
	set_default(o, "fulfillment", json_pack("{s:{s:s}}", "center", "code", "DEFAULT"));
	snprintf(buf, sizeof(buf), "CUST-%06llu", (unsigned long long)seq);
	set_default(o, "customer", json_pack("{s:s, s:s, s:s, s:s}", "customer_id", buf,
		"firstname", "Jane", "lastname", "Doe", "civility", ""));
	cust = json_object_get(o, "customer");
	if (!json_is_object(cust))
		return "customer: must be an object";
	set_default(cust, "customer_id", json_string(buf));
	set_default(cust, "firstname", json_string("Jane"));
	set_default(cust, "lastname", json_string("Doe"));
	/* A partial address gets the default's street, city, postcode and
	 * country (a test gives what it cares about; Khaos needs line 1, town
	 * and postcode); names stay the test's (kcgate falls back to the
	 * customer's). An empty one ({}) stays empty: an order with no usable
	 * address (address_missing). */
	for (int k = 0; k < 2; k++) {
		static const char *const place[] = { "street_1", "city", "zip_code", "country", "country_iso_code" };
		const char *which = k ? "shipping_address" : "billing_address";
		json_t *given = json_object_get(cust, which), *dflt = default_address();
		for (size_t f = 0; json_object_size(given) > 0 && f < sizeof(place) / sizeof(place[0]); f++)
			if (!json_object_get(given, place[f]))
				json_object_set(given, place[f], json_object_get(dflt, place[f]));
		set_default(cust, which, json_incref(dflt));
		json_decref(dflt);
	}
	set_default(o, "order_lines", json_pack("[{}]"));
	lines = json_object_get(o, "order_lines");
	if (!json_is_array(lines) || json_array_size(lines) == 0)
		return "order_lines: must be a non-empty array";
	json_array_foreach(lines, i, l) {
		const char *lid;

		err = fill_line(l, i, id, state, created, updated, buf, sizeof(buf));
		if (err)
			return err;
		lid = json_string_value(json_object_get(l, "order_line_id"));
		for (size_t k = 0; k < i; k++) {
			if (strcmp(lid, json_string_value(json_object_get(json_array_get(lines, k),
				"order_line_id"))) == 0)
				return "order_line_id: duplicate line id";
		}
		price += json_number_value(json_object_get(l, "price"));
		shipping += json_number_value(json_object_get(l, "shipping_price"));
	}
	set_default(o, "price", json_real(price));
	set_default(o, "shipping_price", json_real(shipping));
	set_default(o, "total_price", json_real(price + shipping));
	if (!json_object_get(o, "promotions")) {
		json_t *applied = json_array(), *p;
		double off = 0;
		size_t k;

		json_array_foreach(lines, i, l) {
			json_array_foreach(json_object_get(l, "promotions"), k, p) {
				json_array_append(applied, p);
				off += json_number_value(json_object_get(p, "deduced_amount"));
			}
		}
		json_object_set_new(o, "promotions", json_pack("{s:o, s:f}", "applied_promotions", applied,
			"total_deduced_amount", cents(off)));
	}
	out->json = o;
	out->id = id;
	out->seq = seq;
	out->born_ms = now_ms;
	mk_mark_flags(out);
	if (mk_has_line_in(out, "WAITING_DEBIT") || mk_has_line_in(out, "WAITING_DEBIT_PAYMENT")) {
		/* Created mid-debit: the debit runs from now. */
		out->debit_start_ms = now_ms;
		out->debit_fail = sim_uniform(&mk_set.rng) < mk_set.debit_failure_rate;
	}
	return NULL;
}

/* Create one order from a control body element; lock held. */
static const char *create_one(json_t *in, const char **id_out)
{
	struct sim_order ord = {0};
	json_t *o;
	const char *err;

	if (!json_is_object(in))
		return "body: an order must be a JSON object";
	o = json_deep_copy(in);
	err = fill_order(o, sim_now_ms(), &ord);
	if (err) {
		json_decref(o);
		return err;
	}
	sim_grow((void **)&sim.orders, &sim.orders_cap, sim.norders + 1, sizeof(*sim.orders));
	sim.orders[sim.norders++] = ord;
	{ /* the offers' quantities go down as the order is created */
		size_t i;
		json_t *l;
		json_array_foreach(json_object_get(o, "order_lines"), i, l)
			if (!mk_line_ended(mk_line_state(l)) && strcmp(mk_line_state(l), "CLOSED") != 0)
				mk_offer_stock(l, -1);
	}
	sim.order_seq = ord.seq;
	*id_out = ord.id;
	mk_webhook(&sim.orders[sim.norders - 1], "ORDER_CREATED");
	mk_note_due(&sim.orders[sim.norders - 1]);
	return NULL;
}

void sim_mirakl_ctl_orders(json_t *body, struct sim_reply *r)
{
	const char *err = NULL, *id = NULL;
	json_t *ids;
	size_t i;
	json_t *el;

	if (!json_is_array(body)) {
		pthread_mutex_lock(&sim.lock);
		err = create_one(body, &id);
		if (!err) {
			sim_reply_json(r, 201, json_pack("{s:s}", "order_id", id));
		}
		pthread_mutex_unlock(&sim.lock);
		if (err)
			sim_reply_ctl_error(r, strstr(err, "exists") ? 409 : 400, "invalid_order", "%s", err);
		return;
	}
	/* An array creates several orders; it stops at the first bad one. */
	ids = json_array();
	pthread_mutex_lock(&sim.lock);
	json_array_foreach(body, i, el) {
		err = create_one(el, &id);
		if (err)
			break;
		json_array_append_new(ids, json_string(id));
	}
	pthread_mutex_unlock(&sim.lock);
	if (err) {
		sim_reply_ctl_error(r, strstr(err, "exists") ? 409 : 400, "invalid_order",
			"orders[%zu]: %s (%zu created before it)", i, err, json_array_size(ids));
		json_decref(ids);
		return;
	}
	sim_reply_json(r, 201, json_pack("{s:o}", "order_ids", ids));
}
