/*
 * kcgate-sim, Mirakl control routes under /_sim/mirakl/ other than /orders
 * and /offers: the platform settings (GET/POST /settings), the carriers
 * (sim_mirakl_ship.c's) and what the platform or the customer does to an
 * order: /orders/{id}/cancel, /auto-refuse, /debit.
 */
#include "sim_mirakl.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEBIT_DELAY_MS 86400000LL
#define MAX_WINDOW_S 1000000000LL

static const char *const vis_names[] = {"shipping", "acceptance", "always"};

static json_t *settings_json(void)
{
	unsigned long queued, sent, failed;

	mk_webhook_counts(&queued, &sent, &failed);
	json_t *out = json_pack("{s:s, s:I, s:f, s:I, s:b, s:s?, s:b, s:I, s:{s:b, s:I, s:I, s:I}}",
		"address_visibility", vis_names[mk_set.vis],
		"debit_delay_ms", (json_int_t)mk_set.debit_delay_ms,
		"debit_failure_rate", mk_set.debit_failure_rate,
		"acceptance_window_s", (json_int_t)mk_set.acceptance_window_s,
		"partial_acceptance", mk_set.partial_acceptance,
		"webhook_url", mk_set.webhook_url,
		"webhook_secret_set", mk_set.keylen > 0,
		"seed", (json_int_t)mk_set.seed,
		"webhooks", "enabled", mk_set.webhook_url && mk_set.keylen,
		"queued", (json_int_t)queued, "sent", (json_int_t)sent, "failed", (json_int_t)failed);
	json_object_update_new(out, sim_mirakl_stock_settings_json());
	return out;
}

static bool int_field(json_t *v, long long lo, long long hi, long long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* POST: validate everything, then apply (left-out fields keep their value). Lock held. */
static void settings_post(json_t *body, struct sim_reply *r)
{
	static const char *const keys[] = {"address_visibility", "debit_delay_ms", "debit_failure_rate",
		"acceptance_window_s", "partial_acceptance", "webhook_url", "webhook_secret", "seed", "import_delay_ms",
		"stock_import_min_interval_ms", "warehouses", "error_report_drop"};
	const char *key;
	json_t *v;
	int vis = mk_set.vis;
	long long delay = mk_set.debit_delay_ms, window = mk_set.acceptance_window_s, seed = -1;
	double rate = mk_set.debit_failure_rate;
	bool partial = mk_set.partial_acceptance, url_given = false, secret_given = false;
	const char *url = NULL;
	unsigned char key_bytes[64];
	long keylen = 0;

	if (!json_is_object(body)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: JSON object expected");
		return;
	}
	if ((key = sim_unknown_key(body, keys, sizeof(keys) / sizeof(keys[0])))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "%s: unknown field", key);
		return;
	}
	if (!sim_mirakl_stock_settings_check(body, r))
		return;
	if ((v = json_object_get(body, "address_visibility"))) {
		vis = -1;
		for (int i = 0; i < 3; i++) {
			if (json_is_string(v) && strcmp(json_string_value(v), vis_names[i]) == 0)
				vis = i;
		}
		if (vis < 0) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"address_visibility: one of shipping, acceptance, always");
			return;
		}
	}
	if ((v = json_object_get(body, "debit_delay_ms")) && !int_field(v, 0, MAX_DEBIT_DELAY_MS, &delay)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "debit_delay_ms: integer 0..%lld",
			MAX_DEBIT_DELAY_MS);
		return;
	}
	if ((v = json_object_get(body, "acceptance_window_s")) && !int_field(v, 0, MAX_WINDOW_S, &window)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "acceptance_window_s: integer 0..%lld",
			MAX_WINDOW_S);
		return;
	}
	if ((v = json_object_get(body, "seed")) && !int_field(v, 0, 9007199254740991LL, &seed)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "seed: integer 0..2^53-1");
		return;
	}
	if ((v = json_object_get(body, "debit_failure_rate"))) {
		if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "debit_failure_rate: number 0..1");
			return;
		}
		rate = json_number_value(v);
	}
	if ((v = json_object_get(body, "partial_acceptance"))) {
		if (!json_is_boolean(v)) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "partial_acceptance: boolean");
			return;
		}
		partial = json_is_true(v);
	}
	if ((v = json_object_get(body, "webhook_url"))) {
		url_given = true;
		url = json_string_value(v);
		if (url && !*url)
			url = NULL;
		if ((!json_is_null(v) && !json_is_string(v)) ||
		    (url && !mk_webhook_url_ok(url))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"webhook_url: http://HOST[:PORT][/PATH], \"\" or null");
			return;
		}
	}
	if ((v = json_object_get(body, "webhook_secret"))) {
		const char *sec = json_string_value(v);

		secret_given = true;
		if (sec && *sec) {
			if (strncmp(sec, "whsec_", 6) == 0)
				keylen = sim_base64_decode(sec + 6, key_bytes, sizeof(key_bytes));
			else
				keylen = -1;
		}
		if ((!json_is_null(v) && !json_is_string(v)) || keylen < 0 || (sec && *sec && keylen == 0)) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"webhook_secret: whsec_<base64> of 1 to 64 bytes, \"\" or null");
			return;
		}
	}
	mk_set.vis = (enum mk_visibility)vis;
	mk_set.debit_delay_ms = delay;
	mk_set.acceptance_window_s = window;
	mk_set.debit_failure_rate = rate;
	mk_set.partial_acceptance = partial;
	if (seed >= 0)
		mk_set.seed = mk_set.rng = (uint64_t)seed;
	if (url_given) {
		free(mk_set.webhook_url);
		mk_set.webhook_url = url ? sim_strdup(url) : NULL;
	}
	if (secret_given) {
		memset(mk_set.key, 0, sizeof(mk_set.key));
		memcpy(mk_set.key, key_bytes, (size_t)keylen);
		mk_set.keylen = (size_t)keylen;
	}
	sim_mirakl_stock_settings_apply(body);
	mk_rescan();	/* the window or the delay may have moved a due time */
	sim_mirakl_advance();
	sim_reply_json(r, 200, settings_json());
}

static json_t *order_summary(struct sim_order *o)
{
	json_t *lines = json_array(), *l;
	size_t i;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		json_array_append_new(lines, json_pack("{s:O, s:O}",
			"order_line_id", json_object_get(l, "order_line_id"),
			"order_line_state", json_object_get(l, "order_line_state")));
	}
	return json_pack("{s:s, s:O, s:O?, s:o}", "order_id", o->id,
		"order_state", json_object_get(o->json, "order_state"),
		"acceptance_decision_date", json_object_get(o->json, "acceptance_decision_date"),
		"order_lines", lines);
}

static json_t *line_by_id(struct sim_order *o, const char *id)
{
	size_t i;
	json_t *l;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		const char *lid = json_string_value(json_object_get(l, "order_line_id"));

		if (lid && strcmp(lid, id) == 0)
			return l;
	}
	return NULL;
}

/* A cancellation's taxes: the line's (code, amount, rate), all of them
 * since the whole line is cancelled. */
static json_t *cancelled_taxes(json_t *l, const char *key)
{
	json_t *out = json_array(), *t;
	size_t i;

	json_array_foreach(json_object_get(l, key), i, t) {
		json_t *c = json_pack("{s:O, s:O}", "code", json_object_get(t, "code"),
			"amount", json_object_get(t, "amount"));

		if (json_object_get(t, "rate"))
			json_object_set(c, "rate", json_object_get(t, "rate"));
		json_array_append_new(out, c);
	}
	return out;
}

static void cancel_line(json_t *l, const char *now)
{
	json_t *c = json_object_get(l, "cancelations");
	char id[600];

	if (!json_is_array(c)) {
		json_object_set_new(l, "cancelations", json_array());
		c = json_object_get(l, "cancelations");
	}
	snprintf(id, sizeof(id), "%s-C%zu", json_string_value(json_object_get(l, "order_line_id")),
		json_array_size(c) + 1);
	if (!mk_line_ended(mk_line_state(l)))
		mk_offer_stock(l, +1);
	json_array_append_new(c, json_pack("{s:s, s:s, s:O, s:O, s:O, s:f, s:[], s:f, s:s, s:o, s:o}",
		"id", id, "created_date", now,
		"amount", json_object_get(l, "price"),
		"shipping_amount", json_object_get(l, "shipping_price"),
		"quantity", json_object_get(l, "quantity"),
		"commission_amount", 0.0, "commission_taxes", "commission_total_amount", 0.0,
		"reason_code", "SIM_CANCEL", "taxes", cancelled_taxes(l, "taxes"),
		"shipping_taxes", cancelled_taxes(l, "shipping_taxes")));
	json_object_set_new(l, "order_line_state", json_string("CANCELED"));
	json_object_set_new(l, "last_updated_date", json_string(now));
}

/* Shipped (or further): Mirakl cancels a line only before its shipment. */
static bool is_shipped(const char *s)
{
	return strcmp(s, "SHIPPED") == 0 || strcmp(s, "TO_COLLECT") == 0 || strcmp(s, "RECEIVED") == 0;
}

/* POST /_sim/mirakl/orders/{id}/cancel [{"lines":[ids]}]; lock held. */
static void ctl_cancel(struct sim_order *o, json_t *body, struct sim_reply *r)
{
	json_t *ids = body ? json_object_get(body, "lines") : NULL, *v;
	int64_t now_ms = sim_now_ms();
	char now[32];
	size_t i, n = 0;

	if (body && (!json_is_object(body) || json_object_size(body) != (ids ? 1u : 0u))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: {} or {\"lines\": [order line ids]}");
		return;
	}
	sim_fmt_iso(now_ms, now);
	if (ids) {
		if (!json_is_array(ids) || json_array_size(ids) == 0) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "lines: a non-empty array of order line ids");
			return;
		}
		json_array_foreach(ids, i, v) {
			json_t *l = json_is_string(v) ? line_by_id(o, json_string_value(v)) : NULL;

			if (!l) {
				sim_reply_ctl_error(r, 400, "invalid_payload", "lines[%zu]: not a line of order %s",
					i, o->id);
				return;
			}
			if (mk_is_final(mk_line_state(l))) {
				sim_reply_ctl_error(r, 409, "invalid_state", "order line %s is %s: nothing to cancel",
					json_string_value(v), mk_line_state(l));
				return;
			}
			if (is_shipped(mk_line_state(l))) {
				sim_reply_ctl_error(r, 409, "invalid_state",
					"order line %s is %s: Mirakl cancels only before shipment (refund it instead)",
					json_string_value(v), mk_line_state(l));
				return;
			}
		}
		json_array_foreach(ids, i, v) {
			json_t *l = line_by_id(o, json_string_value(v));

			if (!mk_is_final(mk_line_state(l))) {	/* a line named twice */
				cancel_line(l, now);
				n++;
			}
		}
	} else {
		json_array_foreach(json_object_get(o->json, "order_lines"), i, v) {
			if (is_shipped(mk_line_state(v))) {
				sim_reply_ctl_error(r, 409, "invalid_state",
					"order %s: line %s is %s: Mirakl cancels only before shipment (name the lines "
					"still to ship)", o->id, json_string_value(json_object_get(v, "order_line_id")),
					mk_line_state(v));
				return;
			}
		}
		json_array_foreach(json_object_get(o->json, "order_lines"), i, v) {
			if (!mk_is_final(mk_line_state(v))) {
				cancel_line(v, now);
				n++;
			}
		}
		if (!n) {
			sim_reply_ctl_error(r, 409, "invalid_state", "order %s is %s: nothing to cancel",
				o->id, mk_order_state(o));
			return;
		}
	}
	mk_commit(o, now_ms, "CANCELED");
	sim_reply_json(r, 200, order_summary(o));
}

/* POST /_sim/mirakl/orders/{id}/auto-refuse; lock held. */
static void ctl_auto_refuse(struct sim_order *o, json_t *body, struct sim_reply *r)
{
	if (body && (!json_is_object(body) || json_object_size(body))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: none or {}");
		return;
	}
	if (strcmp(mk_order_state(o), "WAITING_ACCEPTANCE") != 0) {
		sim_reply_ctl_error(r, 409, "invalid_state", "order %s is %s, not WAITING_ACCEPTANCE",
			o->id, mk_order_state(o));
		return;
	}
	mk_auto_refuse(o, sim_now_ms());
	sim_reply_json(r, 200, order_summary(o));
}

/* POST /_sim/mirakl/orders/{id}/debit [{"fail":bool}]: finish the debit now; lock held. */
static void ctl_debit(struct sim_order *o, json_t *body, struct sim_reply *r)
{
	json_t *fail = body ? json_object_get(body, "fail") : NULL;

	if (body && (!json_is_object(body) || json_object_size(body) != (fail ? 1u : 0u) ||
		     (fail && !json_is_boolean(fail)))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: none, {} or {\"fail\": boolean}");
		return;
	}
	if (!mk_has_line_in(o, "WAITING_DEBIT") && !mk_has_line_in(o, "WAITING_DEBIT_PAYMENT")) {
		sim_reply_ctl_error(r, 409, "invalid_state", "order %s is %s: no line waiting for its debit",
			o->id, mk_order_state(o));
		return;
	}
	if (fail)
		o->debit_fail = json_is_true(fail);
	mk_debit_steps(o, sim_now_ms(), true, true);
	sim_reply_json(r, 200, order_summary(o));
}

void sim_mirakl_ctl(const char *method, const char *sub, json_t *body, struct sim_reply *r)
{
	static const struct {
		const char *suffix;
		void (*fn)(struct sim_order *, json_t *, struct sim_reply *);
	} actions[] = {{"/cancel", ctl_cancel}, {"/auto-refuse", ctl_auto_refuse}, {"/debit", ctl_debit}};
	const char *rest, *slash;
	char id[512];
	size_t n;

	if (strcmp(sub, "/settings") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
			sim_reply_ctl_error(r, 405, "method_not_allowed", "use GET or POST");
			r->allow = "GET, POST";
			return;
		}
		pthread_mutex_lock(&sim.lock);
		if (strcmp(method, "POST") == 0)
			settings_post(body, r);
		else
			sim_reply_json(r, 200, settings_json());
		pthread_mutex_unlock(&sim.lock);
		return;
	}
	if (strcmp(sub, "/carriers") == 0) {
		if (strcmp(method, "POST") != 0 || !body) {
			sim_reply_ctl_error(r, strcmp(method, "POST") ? 405 : 400,
					    strcmp(method, "POST") ? "method_not_allowed" : "invalid_payload",
					    strcmp(method, "POST") ? "use POST" : "a JSON body {\"carriers\":[...]} is required");
			if (strcmp(method, "POST") != 0)
				r->allow = "POST";
			return;
		}
		sim_mirakl_ctl_carriers(body, r);
		return;
	}
	if (strncmp(sub, "/orders/", 8) != 0)
		goto not_found;
	rest = sub + 8;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : 0;
	if (!slash || n == 0 || n >= sizeof(id))
		goto not_found;
	memcpy(id, rest, n);
	id[n] = '\0';
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		struct sim_order *o;

		if (strcmp(slash, actions[i].suffix) != 0)
			continue;
		if (strcmp(method, "POST") != 0) {
			sim_reply_ctl_error(r, 405, "method_not_allowed", "use POST");
			r->allow = "POST";
			return;
		}
		pthread_mutex_lock(&sim.lock);
		sim_mirakl_advance();
		o = sim_mirakl_find(id);
		if (o)
			actions[i].fn(o, body, r);
		else
			sim_reply_ctl_error(r, 404, "not_found", "no Mirakl order %s", id);
		pthread_mutex_unlock(&sim.lock);
		return;
	}
not_found:
	sim_reply_ctl_error(r, 404, "not_found", "no control endpoint /_sim/mirakl%s", sub);
}
