/*
 * despatch_rules.c: the despatch flow's decisions as pure functions
 * (despatch.h): is everything sent, what next, which unit's tracking,
 * which carrier, the deadline, ST01's lines.
 */
#include "despatch_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/flows/orders.h"
#include "kcgate/json.h"

#define NAME_PREFIX "name:"
#define TRACKING_MARK "{tracking}"

static bool line_withdrawn(const json_t *line)
{
	const char *st = kcg_json_str(line, "order_line_state");
	return strcmp(st, "CANCELED") == 0 || strcmp(st, "REFUSED") == 0;
}

/* Adds every shipped unit's items into @p sent (stock code -> qty);
 * whether any shipped unit listed items. */
static bool sum_sent(const json_t *k, json_t *sent)
{
	size_t i, j;
	const json_t *u, *it;
	bool any = false;
	json_array_foreach(json_object_get(k, "units"), i, u) {
		if (!json_is_true(json_object_get(u, "shipped")))
			continue;
		json_array_foreach(json_object_get(u, "items"), j, it) {
			const char *code = kcg_json_str(it, "stock_code");
			json_int_t have = json_integer_value(json_object_get(sent, code));
			json_object_set_new(sent, code, json_integer(have + json_integer_value(json_object_get(it, "qty"))));
			any = true;
		}
	}
	return any;
}

/* A Mirakl line's quantity, bounded like the order flow's (-1 when past it). */
static json_int_t line_qty(const json_t *line)
{
	json_int_t q = json_integer_value(json_object_get(line, "quantity"));
	return q < 0 || q > KCG_ORDER_QTY_MAX ? -1 : q;
}

bool kcg_despatch_all_sent(const json_t *k, const json_t *order)
{
	/* COMPLETE (-1) is not enough: it says Khaos issued what its sales
	 * order holds, and a line the warehouse removed in Khaos is not on it
	 * any more: what was sent is checked against Mirakl's lines */
	json_t *sent = json_object();
	if (!sent)
		return false;
	bool all;
	if (sum_sent(k, sent)) {
		/* what each stock code needs across the order's live lines */
		json_t *need = json_object();
		size_t i;
		const json_t *line;
		json_array_foreach(json_object_get(order, "order_lines"), i, line) {
			if (line_withdrawn(line))
				continue;
			const char *sku = kcg_json_str(line, "offer_sku");
			json_int_t q = line_qty(line);
			if (q < 0) { /* past KCG_ORDER_QTY_MAX: never counted as sent */
				all = false;
				goto unbounded;
			}
			json_object_set_new(need, sku, json_integer(json_integer_value(json_object_get(need, sku)) + q));
		}
		const char *sku;
		json_t *q;
		all = json_object_size(need) > 0;
		json_object_foreach(need, sku, q) {
			if (json_integer_value(json_object_get(sent, sku)) < json_integer_value(q))
				all = false;
		}
	unbounded:
		json_decref(need);
	} else {
		/* no items listed: every unit shipped and the invoices' counts full */
		size_t i;
		const json_t *u;
		json_int_t sold = 0, sent_n = 0;
		all = json_array_size(json_object_get(k, "units")) > 0;
		json_array_foreach(json_object_get(k, "units"), i, u) {
			if (!json_is_true(json_object_get(u, "shipped")))
				all = false;
			sold += json_integer_value(json_object_get(u, "qty_sold"));
			sent_n += json_integer_value(json_object_get(u, "qty_sent"));
		}
		all = all && sold > 0 && sent_n >= sold;
	}
	json_decref(sent);
	return all;
}

json_t *kcg_despatch_unsent(const json_t *k, const json_t *order)
{
	json_t *sent = json_object(), *out = json_array();
	size_t i;
	const json_t *line;
	if (!sent || !out) {
		json_decref(sent);
		json_decref(out);
		return NULL;
	}
	sum_sent(k, sent);
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		if (line_withdrawn(line))
			continue;
		const char *sku = kcg_json_str(line, "offer_sku");
		json_int_t q = line_qty(line), have = json_integer_value(json_object_get(sent, sku));
		json_int_t take = q < 0 ? 0 : have < q ? have : q;
		json_object_set_new(sent, sku, json_integer(have - take)); /* the next line of the SKU gets the rest */
		if (q < 0 || take < q) {
			char buf[200];
			snprintf(buf, sizeof(buf), "%.60s (%.60s: %lld of %lld sent)", kcg_json_str(line, "order_line_id"), sku,
				 (long long)take, (long long)(q < 0 ? 0 : q));
			json_array_append_new(out, json_string(buf));
		}
	}
	json_decref(sent);
	return out;
}

const json_t *kcg_despatch_unit(const json_t *k)
{
	size_t i;
	const json_t *u;
	json_array_foreach(json_object_get(k, "units"), i, u) {
		if (json_is_true(json_object_get(u, "shipped")))
			return u;
	}
	return NULL;
}

bool despatch_listed(const json_t *list, const char *s)
{
	size_t i;
	const json_t *v;
	json_array_foreach(list, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

bool despatch_unit_listed(const json_t *list, const json_t *u)
{
	const char *key = kcg_json_str(u, "key");
	if (*key && despatch_listed(list, key))
		return true;
	/* records written before units had keys list consignment refs (no '#') */
	const char *cons = kcg_json_str(u, "consignment");
	size_t i;
	const json_t *v;
	json_array_foreach(list, i, v) {
		if (json_is_string(v) && !strchr(json_string_value(v), '#') && strcmp(json_string_value(v), cons) == 0)
			return true;
	}
	return false;
}

enum kcg_despatch_next kcg_despatch_next(enum kcg_despatch_mode mode, const json_t *k, const json_t *order,
					 const json_t *sent)
{
	if (json_is_true(json_object_get(k, "cancelled")))
		return KCG_DESPATCH_KHAOS_CANCELLED;
	if (!kcg_despatch_unit(k))
		return KCG_DESPATCH_NOTHING;
	if (mode == KCG_DESPATCH_MODE_SHIPMENTS) {
		size_t i;
		const json_t *u;
		json_array_foreach(json_object_get(k, "units"), i, u) {
			if (json_is_true(json_object_get(u, "shipped")) && !despatch_unit_listed(sent, u))
				return KCG_DESPATCH_SHIPMENTS;
		}
		return kcg_despatch_all_sent(k, order) ? KCG_DESPATCH_SHIP : KCG_DESPATCH_PARTIAL;
	}
	return kcg_despatch_all_sent(k, order) ? KCG_DESPATCH_SHIP : KCG_DESPATCH_PARTIAL;
}

/* Copies @p s into @p dst (@p cap bytes); false when it does not fit. */
static bool put(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/* The template with each "{tracking}" replaced by @p tracking. */
static bool expand(char *dst, size_t cap, const char *tpl, const char *tracking)
{
	size_t n = 0, tl = strlen(tracking), ml = strlen(TRACKING_MARK);
	for (const char *p = tpl; *p;) {
		if (strncmp(p, TRACKING_MARK, ml) == 0) {
			if (n + tl >= cap)
				return false;
			memcpy(dst + n, tracking, tl);
			n += tl;
			p += ml;
		} else {
			if (n + 1 >= cap)
				return false;
			dst[n++] = *p++;
		}
	}
	dst[n] = '\0';
	return true;
}

int kcg_despatch_carrier(const struct kcg_config_map *map, const json_t *sh21, const char *courier,
			 const char *consignment, const char *khaos_url, struct kcg_despatch_carrier *out,
			 char why[KCG_ERROR_MAX])
{
	*out = (struct kcg_despatch_carrier){ 0 };
	why[0] = '\0';
	const char *v = kcg_config_map_get(map, courier);
	if (!*courier) {
		kcg_why(why, "Khaos gives no courier for the despatch; [carriers] cannot map it");
		return KCG_ENOTFOUND;
	}
	if (!v) {
		kcg_why(why, "Khaos courier '%.80s' is not in [carriers]", courier);
		return KCG_ENOTFOUND;
	}
	if (strncmp(v, NAME_PREFIX, strlen(NAME_PREFIX)) == 0) {
		const char *name = v + strlen(NAME_PREFIX), *bar = strchr(name, '|');
		size_t n = bar ? (size_t)(bar - name) : strlen(name);
		bool ok = put(out->name, sizeof(out->name), name, n);
		if (ok && bar)
			ok = expand(out->url, sizeof(out->url), bar + 1, consignment);
		else if (ok && khaos_url && *khaos_url)
			ok = put(out->url, sizeof(out->url), khaos_url, strlen(khaos_url));
		if (!ok) {
			kcg_why(why, "[carriers] '%.80s': the carrier name or tracking URL is too long", courier);
			return KCG_ENOTFOUND;
		}
		return 0;
	}
	if (!sh21)
		return -EAGAIN;
	size_t i;
	const json_t *c;
	json_array_foreach(sh21, i, c) {
		if (strcmp(kcg_json_str(c, "code"), v) == 0)
			return put(out->code, sizeof(out->code), v, strlen(v)) ? 0 : KCG_ENOTFOUND;
	}
	kcg_why(why, "[carriers] maps Khaos courier '%.80s' to '%.80s', a carrier code Mirakl (SH21) does not list",
		courier, v);
	return KCG_ENOTFOUND;
}

const char *kcg_despatch_check_carrier(const char *value)
{
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "must not contain control characters";
	if (strncmp(value, NAME_PREFIX, strlen(NAME_PREFIX)) != 0)
		return strlen(value) > KCG_DESPATCH_TEXT_MAX ? "a Mirakl carrier code of at most 255 bytes expected" : NULL;
	const char *name = value + strlen(NAME_PREFIX), *bar = strchr(name, '|');
	size_t n = bar ? (size_t)(bar - name) : strlen(name);
	if (n == 0 || n > KCG_DESPATCH_TEXT_MAX)
		return "name: needs a carrier name of 1 to 255 bytes (name:<carrier name>[|<tracking URL template>])";
	if (bar && strncmp(bar + 1, "https://", 8) != 0 && strncmp(bar + 1, "http://", 7) != 0)
		return "the tracking URL template after '|' must be an http(s) URL ({tracking} stands for the consignment ref)";
	if (bar && strlen(bar + 1) > KCG_DESPATCH_URL_MAX)
		return "the tracking URL template is longer than 1000 bytes";
	return NULL;
}

bool kcg_despatch_deadline_near(uint64_t deadline_ms, uint64_t alert_ms, uint64_t now_ms)
{
	return deadline_ms && now_ms + alert_ms >= deadline_ms;
}

json_t *kcg_despatch_st01_lines(const json_t *unit, const json_t *order)
{
	json_t *out = json_array(), *left = json_object(); /* order_line_id -> quantity not yet placed */
	size_t i, j;
	const json_t *it, *line;
	if (!out || !left) {
		json_decref(out);
		json_decref(left);
		return NULL;
	}
	json_array_foreach(json_object_get(unit, "items"), i, it) {
		const char *code = kcg_json_str(it, "stock_code");
		json_int_t q = json_integer_value(json_object_get(it, "qty"));
		json_array_foreach(json_object_get(order, "order_lines"), j, line) {
			const char *lid = kcg_json_str(line, "order_line_id");
			if (q <= 0)
				break;
			if (line_withdrawn(line) || !*lid || strcmp(kcg_json_str(line, "offer_sku"), code) != 0)
				continue;
			json_t *l = json_object_get(left, lid);
			json_int_t room = l ? json_integer_value(l) : json_integer_value(json_object_get(line, "quantity"));
			json_int_t take = q < room ? q : room;
			if (take <= 0)
				continue;
			json_object_set_new(left, lid, json_integer(room - take));
			json_array_append_new(out, json_pack("{s:s, s:I}", "order_line_id", lid, "quantity", (json_int_t)take));
			q -= take;
		}
	}
	json_decref(left);
	return out;
}
