/*
 * orders_stock.c: what the flow asks of Khaos's stock before it accepts:
 * every line's SKU an active stock code (unknown_sku, held), and with
 * accept_requires_stock the available level, less what other accepted but
 * unbooked orders reserve (orders_reserved), covering the quantity
 * (short_stock: held, or the short lines refused). The reserved counts move
 * only with the record's state, on every save (orders_move_reserved). A
 * booking ends its reservation, but the SKU cache's level was read before
 * it (Khaos lowers LEVEL when it allocates the order): the booked units
 * count (orders_unseen) until the cache holds a level read after the
 * booking, so they are never free to sell twice in between.
 */
#include "orders_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/skus.h"

/* What orders kcgate accepted and has not booked hold of @p sku. */
static int reserved_get(struct kcg_txn *t, const char *sku, uint64_t *out)
{
	MDB_val k = { strlen(sku), (void *)sku }, v;
	*out = 0;
	int rc = mdb_get(t->txn, kcg_store_db(t->store, DB_ORDERS_RESERVED), &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size == sizeof(*out))
		memcpy(out, v.mv_data, sizeof(*out));
	return rc;
}

int kcg_orders_reserved(struct kcg_txn *t, const char *sku, uint64_t *out)
{
	return reserved_get(t, sku, out);
}

int kcg_orders_reserved_each(struct kcg_txn *t, int (*fn)(const char *sku, uint64_t n, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char sku[KCG_EXC_FIELD_MAX + 1];
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_ORDERS_RESERVED), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t n;
		if (k.mv_size == 0 || k.mv_size >= sizeof(sku) || v.mv_size != sizeof(n))
			continue; /* not a record this module writes */
		memcpy(sku, k.mv_data, k.mv_size);
		sku[k.mv_size] = '\0';
		memcpy(&n, v.mv_data, sizeof(n));
		rc = fn(sku, n, arg);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int reserved_add(struct kcg_txn *t, const char *sku, int64_t delta)
{
	uint64_t n;
	int rc = reserved_get(t, sku, &n);
	if (rc != 0 || delta == 0)
		return rc;
	n = delta < 0 && (uint64_t)-delta > n ? 0 : n + (uint64_t)delta;
	MDB_val k = { strlen(sku), (void *)sku }, v = { sizeof(n), &n };
	MDB_dbi db = kcg_store_db(t->store, DB_ORDERS_RESERVED);
	if (n == 0) {
		rc = mdb_del(t->txn, db, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	return mdb_put(t->txn, db, &k, &v, 0);
}

/* A booking of @p qty units of @p sku (order @p id) at @p ms, not yet in a level. */
static int unseen_put(struct kcg_txn *t, const char *sku, const char *id, uint64_t qty, uint64_t ms)
{
	char key[2 * ORDER_ID_MAX + 2];
	uint64_t val[2] = { qty, ms };
	MDB_val k = { orders_sku_key(key, sku, id), key }, v = { sizeof(val), val };
	return k.mv_size && qty ? mdb_put(t->txn, kcg_store_db(t->store, DB_ORDERS_UNSEEN), &k, &v, 0) : 0;
}

/* The units of @p sku booked at or after @p read_ms (not in the cache's
 * level); with @p prune, the entries the level has seen are deleted on
 * the way (a write transaction). */
struct unseen_sum {
	uint64_t read_ms, n;
	bool prune;
};

static int unseen_add(MDB_cursor *cur, const char *id, size_t n, const MDB_val *v, void *arg)
{
	struct unseen_sum *u = arg;
	uint64_t val[2] = { 0, 0 };
	(void)id;
	(void)n;
	if (v->mv_size == sizeof(val))
		memcpy(val, v->mv_data, sizeof(val));
	if (u->read_ms && val[1] < u->read_ms)
		return u->prune ? mdb_cursor_del(cur, 0) : 0; /* the level has it */
	u->n += val[0] > KCG_ORDER_QTY_MAX ? KCG_ORDER_QTY_MAX : val[0];
	return 0;
}

static int unseen_count(struct kcg_txn *t, const char *sku, uint64_t read_ms, bool prune, uint64_t *out)
{
	struct unseen_sum u = { read_ms, 0, prune };
	int rc = orders_sku_walk(t, DB_ORDERS_UNSEEN, sku, unseen_add, &u);
	*out = u.n;
	return rc;
}

int kcg_orders_held_back(struct kcg_txn *t, const char *sku, uint64_t read_ms, uint64_t *n)
{
	uint64_t reserved = 0, booked = 0;
	*n = 0;
	int rc = reserved_get(t, sku, &reserved);
	if (rc == 0)
		rc = unseen_count(t, sku, read_ms, false, &booked);
	if (rc != 0)
		return rc;
	/* both are bounded per order line; their sum stays far below 2^63 */
	*n = reserved > KCG_HELD_BACK_MAX - booked ? KCG_HELD_BACK_MAX : reserved + booked;
	return 0;
}

int kcg_orders_unseen_each(struct kcg_txn *t, int (*fn)(const char *sku, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char sku[ORDER_ID_MAX + 1], last[ORDER_ID_MAX + 1] = "";
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_ORDERS_UNSEEN), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *nul = memchr(k.mv_data, '\0', k.mv_size);
		size_t m = nul ? (size_t)(nul - (const char *)k.mv_data) : 0;
		if (m == 0 || m > ORDER_ID_MAX)
			continue; /* not a record this module writes */
		memcpy(sku, k.mv_data, m);
		sku[m] = '\0';
		if (strcmp(sku, last) == 0)
			continue; /* one call per code */
		memcpy(last, sku, m + 1);
		rc = fn(sku, arg);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Moves orders_reserved from what the stored record reserved (@p before's
 * "reserved") to what @p rec reserves in its new state, and notes that in
 * @p rec: derived from the records alone, so a retry, a replay or a second
 * save changes nothing. */
int orders_move_reserved(struct kcg_txn *t, const json_t *before, json_t *rec)
{
	json_t *now = kcg_order_reservation(orders_state_of(rec), json_is_true(json_object_get(rec, "accepting")),
					    json_object_get(rec, "order"), json_object_get(rec, "refuse_lines"));
	if (!now)
		return -ENOMEM;
	const json_t *was = json_object_get(before, "reserved");
	const char *sku, *id = kcg_json_str(rec, "order_id");
	/* booked now: what it reserved stays counted until a level shows it */
	bool booked = kcg_order_state_booked(orders_state_of(rec)) && before &&
		      !kcg_order_state_booked(orders_state_of(before));
	json_t *q;
	int rc = 0;
	json_object_foreach(now, sku, q) {
		if (rc == 0)
			rc = reserved_add(t, sku, (int64_t)json_integer_value(q) - orders_int_of(was, sku));
	}
	json_object_foreach((json_t *)was, sku, q) {
		if (rc == 0 && !json_object_get(now, sku))
			rc = reserved_add(t, sku, -(int64_t)json_integer_value(q));
		if (rc == 0 && booked && !json_object_get(now, sku) && json_integer_value(q) > 0)
			rc = unseen_put(t, sku, id, (uint64_t)json_integer_value(q), t->now_ms);
	}
	if (rc == 0 && json_object_size(now) > 0)
		return json_object_set_new(rec, "reserved", now) ? -ENOMEM : 0;
	json_decref(now);
	json_object_del(rec, "reserved");
	return rc;
}

/* Held for short stock (not for an unknown SKU)? */
bool orders_held_short(const json_t *rec)
{
	return orders_state_of(rec) == KCG_ORDER_HELD && orders_is(kcg_json_str(rec, "held_for"), KCG_EXC_SHORT_STOCK);
}

/*
 * Every line's SKU must be an active Khaos stock code (the SKU cache).
 * Raises unknown_sku per code (asking Khaos about it at once) and sets
 * *held. @return 0 or an error.
 */
static int check_skus(struct kcg_txn *t, const char *id, const json_t *order, json_t *held)
{
	json_t *line;
	size_t i;
	int rc = 0;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		const char *sku = kcg_json_str(line, "offer_sku");
		bool discontinued;
		if (*sku && strlen(sku) <= KCG_EXC_FIELD_MAX && kcg_skus_active(t, sku, &discontinued))
			continue;
		if (!*sku || strlen(sku) > KCG_EXC_FIELD_MAX) {
			/* No usable SKU at all: the exception is about the order. */
			json_array_append_new(held, json_string(""));
			char msg[300];
			snprintf(msg, sizeof(msg), "Mirakl order %s, line %s has %s offer_sku. The order is held; fix "
				 "the offer on Mirakl, then accept or refuse the order by hand.",
				 id, kcg_json_str(line, "order_line_id"), *sku ? "an overlong" : "no");
			struct kcg_exc bad = {
				.kind = KCG_EXC_UNKNOWN_SKU, .severity = KCG_SEV_CRITICAL, .system = "mirakl",
				.owner = "ecommerce", .subject = id, .message = msg,
			};
			rc = kcg_exc_raise(t, &bad, NULL);
			if (rc != 0)
				return rc;
			continue;
		}
		json_array_append_new(held, json_string(sku));
		char msg[600];
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s, line %s: offer_sku '%.100s' is %s. The order is held: neither accepted, booked "
			 "in Khaos nor refused. Fix the offer's SKU on Mirakl or the stock item in Khaos; kcgate goes on "
			 "once the SKU is an active stock code.",
			 id, kcg_json_str(line, "order_line_id"), sku,
			 discontinued ? "a discontinued Khaos stock code" : "not a Khaos stock code kcgate knows");
		struct kcg_exc exc = {
			.kind = KCG_EXC_UNKNOWN_SKU, .severity = KCG_SEV_CRITICAL, .system = "mirakl",
			.owner = "ecommerce", .subject = sku, .message = msg,
		};
		rc = kcg_exc_raise(t, &exc, NULL);
		/* Ask Khaos about this code now rather than at the next refresh. */
		if (rc == 0)
			rc = kcg_skus_refresh_one(t, sku);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* A not-yet-booked order whose SKUs must be good before the next step:
 * held (false) or good (true, held_skus cleared); *rc gets an error. */
bool orders_skus_good(struct kcg_txn *t, json_t *rec, const json_t *order, int *rc)
{
	json_t *held = json_array();
	if (!held) {
		*rc = -ENOMEM;
		return false;
	}
	*rc = check_skus(t, kcg_json_str(rec, "order_id"), order, held);
	bool good = *rc == 0 && json_array_size(held) == 0;
	if (*rc == 0 && !good) {
		orders_set_state(rec, KCG_ORDER_HELD);
		json_object_set(rec, "held_skus", held);
		json_object_set_new(rec, "held_for", json_string(KCG_EXC_UNKNOWN_SKU));
		json_object_del(rec, "accepting");
	} else if (good) {
		json_object_del(rec, "held_skus");
	}
	json_decref(held);
	return good;
}

/* The order is held: Khaos's available stock does not cover @p shorts. */
static int raise_short_stock(struct kcg_txn *t, const json_t *rec, const json_t *shorts)
{
	char list[900] = "", msg[1500];
	size_t i, n = 0;
	const json_t *sh;
	json_array_foreach(shorts, i, sh) {
		int w = snprintf(list + n, sizeof(list) - n,
				 "%sline %s: %" PRId64 " x '%.100s', Khaos available %" PRId64 ", %" PRId64
				 " of it reserved for orders accepted and not yet booked (or booked since Khaos's "
				 "level was read)",
				 n ? "; " : "", kcg_json_str(sh, "line"), orders_int_of(sh, "need"), kcg_json_str(sh, "sku"),
				 orders_int_of(sh, "available"), orders_int_of(sh, "reserved"));
		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
	}
	const char *id = kcg_json_str(rec, "order_id");
	bool partial = json_is_true(json_object_get(rec, "partial_disabled"));
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s is held: Khaos's stock does not cover it (%s).%s It is neither accepted nor refused: "
		 "accept or refuse it on Mirakl by hand (kcgate follows), or raise the stock in Khaos (kcgate accepts it "
		 "once a stock refresh shows enough). Mirakl refuses it by itself at the end of the acceptance window.",
		 id, list,
		 partial ? " Mirakl does not take a partial acceptance on this shop (ORDER_PARTIAL_ACCEPTANCE_DISABLED)."
			 : "");
	struct kcg_exc exc = {
		.kind = KCG_EXC_SHORT_STOCK, .severity = KCG_SEV_WARNING, .system = "khaos",
		.owner = "operations", .subject = id, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/*
 * The stock part of the decision at WAITING_ACCEPTANCE (with every SKU
 * active): with [orders] accept_requires_stock, Khaos's available levels
 * less what other orders reserved must cover the lines. True when the
 * order is to be accepted (the lines to refuse, if any, in "refuse_lines";
 * "accepting" set, so its lines count as reserved from now on); false when
 * it is held (short_stock) or on an error (*rc).
 */
bool orders_stock_good(struct kcg_txn *t, const struct kcg_config *cfg, json_t *rec, const json_t *order, int *rc)
{
	json_t *levels = json_object(), *reserved = json_object(), *shorts = json_array(), *refuse = json_array();
	const json_t *own = json_object_get(rec, "reserved"), *line;
	size_t i;
	bool good = false;
	*rc = levels && reserved && shorts && refuse ? 0 : -ENOMEM;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		const char *sku = kcg_json_str(line, "offer_sku");
		int64_t level;
		uint64_t all, booked = 0, read_ms;
		bool controlled;
		if (*rc != 0 || !cfg->orders.accept_requires_stock || json_object_get(levels, sku))
			continue;
		if (kcg_skus_level(t, sku, &level, &controlled, &read_ms) != 0 || !controlled)
			continue; /* not stock-controlled: no level to respect */
		*rc = reserved_get(t, sku, &all);
		if (*rc == 0)
			*rc = unseen_count(t, sku, read_ms, true, &booked);
		/* this order's own share is not "others"; bookings the level has not seen are */
		int64_t others = (int64_t)(all + booked) - orders_int_of(own, sku);
		if (*rc == 0 && (json_object_set_new(levels, sku, json_integer((json_int_t)level)) ||
				 json_object_set_new(reserved, sku, json_integer(others > 0 ? (json_int_t)others : 0))))
			*rc = -ENOMEM;
	}
	if (*rc != 0)
		goto out;
	bool partial = json_is_true(json_object_get(rec, "partial_disabled"));
	enum kcg_cover_mode mode = cfg->orders.on_short_stock == KCG_SHORT_HOLD ? KCG_COVER_MODE_HOLD
				   : !partial					 ? KCG_COVER_MODE_REFUSE_LINES
				   : cfg->orders.on_partial_disabled == KCG_PARTIAL_HOLD ? KCG_COVER_MODE_HOLD
											 : KCG_COVER_MODE_REFUSE_ORDER;
	enum kcg_cover cover = kcg_order_stock_decide(order, levels, reserved, mode, shorts, refuse);
	if (cover == KCG_COVER_HOLD) {
		const char *id = kcg_json_str(rec, "order_id");
		bool known = orders_held_short(rec) && kcg_exc_is_open(t, KCG_EXC_SHORT_STOCK, id);
		json_t *skus = json_array(), *sh;
		json_array_foreach(shorts, i, sh) {
			if (skus && !orders_listed(skus, kcg_json_str(sh, "sku")))
				json_array_append_new(skus, json_string(kcg_json_str(sh, "sku")));
		}
		orders_set_state(rec, KCG_ORDER_HELD);
		json_object_set_new(rec, "held_skus", skus ? skus : json_array());
		json_object_set_new(rec, "held_for", json_string(KCG_EXC_SHORT_STOCK));
		json_object_del(rec, "accepting");
		*rc = raise_short_stock(t, rec, shorts);
		/* newly held: ask Khaos for these levels now, not at the next refresh */
		json_array_foreach(json_object_get(rec, "held_skus"), i, sh) {
			if (*rc == 0 && !known)
				*rc = kcg_skus_refresh_one(t, json_string_value(sh));
		}
		goto out;
	}
	good = true;
	json_object_set_new(rec, "accepting", json_true());
	json_object_del(rec, "held_skus");
	json_object_del(rec, "held_for");
	if (json_array_size(refuse) > 0)
		json_object_set(rec, "refuse_lines", refuse);
	else
		json_object_del(rec, "refuse_lines");
out:
	json_decref(levels);
	json_decref(reserved);
	json_decref(shorts);
	json_decref(refuse);
	return good;
}
