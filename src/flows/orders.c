/*
 * orders.c: flow 1, Mirakl orders into Khaos Control (see orders.h).
 *
 * Every decision that changes the order's record is made in a transaction
 * (a job's apply, or the outbox hook), together with the jobs it causes.
 * Steps only talk to the peers and hand what they learnt to their apply.
 */
#include "orders_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/log.h"
#include "kcgate/flows/order_map.h"
#include "kcgate/flows/orders_admin.h"
#include "kcgate/flows/skus.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/mirakl.h"

/* ---- states and decisions (pure) ---- */

static const char *const state_names[KCG_ORDER_STATES] = {
	[KCG_ORDER_SEEN] = "seen",
	[KCG_ORDER_HELD] = "held",
	[KCG_ORDER_ACCEPTED] = "accepted",
	[KCG_ORDER_BOOKED] = "booked",
	[KCG_ORDER_SHIPPED] = "shipped",
	[KCG_ORDER_CLOSED] = "closed",
	[KCG_ORDER_REFUSED] = "refused",
	[KCG_ORDER_AUTO_REFUSED] = "auto_refused",
	[KCG_ORDER_CANCELLED] = "cancelled",
};

const char *kcg_order_state_name(enum kcg_order_state state)
{
	return (unsigned)state < KCG_ORDER_STATES ? state_names[state] : "unknown";
}

int kcg_order_state_parse(const char *name)
{
	for (int i = 0; i < KCG_ORDER_STATES; i++)
		if (name && strcmp(state_names[i], name) == 0)
			return i;
	return -1;
}

bool kcg_order_state_final(enum kcg_order_state state)
{
	return state == KCG_ORDER_CLOSED || state == KCG_ORDER_REFUSED || state == KCG_ORDER_AUTO_REFUSED ||
	       state == KCG_ORDER_CANCELLED;
}

bool kcg_order_state_booked(enum kcg_order_state state)
{
	return state == KCG_ORDER_BOOKED || state == KCG_ORDER_SHIPPED;
}

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* Mirakl's order states, as the life sees them. A state Mirakl adds later
 * (enums grow) is none of these: kcgate waits. */
static bool mirakl_paid(const char *st) /* SHIPPING or later, not ended */
{
	return is(st, "SHIPPING") || is(st, "SHIPPED") || is(st, "TO_COLLECT") || is(st, "RECEIVED");
}

static bool mirakl_debit(const char *st)
{
	return is(st, "WAITING_DEBIT") || is(st, "WAITING_DEBIT_PAYMENT");
}

static bool str_set(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && *s;
}

bool kcg_order_address_usable(const json_t *order)
{
	const json_t *customer = json_object_get(order, "customer");
	const json_t *addr = json_object_get(customer, "shipping_address");
	return json_is_object(addr) && str_set(addr, "street_1") && str_set(addr, "city") && str_set(addr, "zip_code") &&
	       (str_set(addr, "lastname") || str_set(customer, "lastname"));
}

json_t *kcg_order_lines_withdrawn(const json_t *order)
{
	json_t *ids = json_array();
	size_t i;
	const json_t *line;
	if (!ids)
		return NULL;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		const char *st = json_string_value(json_object_get(line, "order_line_state"));
		const char *id = json_string_value(json_object_get(line, "order_line_id"));
		bool gone = is(st, "CANCELED") || is(st, "REFUSED") ||
			    json_array_size(json_object_get(line, "cancelations")) > 0 ||
			    json_array_size(json_object_get(line, "refunds")) > 0;
		if (gone && json_array_append_new(ids, json_string(id ? id : ""))) {
			json_decref(ids);
			return NULL;
		}
	}
	return ids;
}

bool kcg_order_at_point(enum kcg_book_when when, const json_t *order)
{
	const char *st = kcg_mirakl_order_state(order);
	return mirakl_paid(st) || (when == KCG_BOOK_ACCEPTED && mirakl_debit(st) && kcg_order_address_usable(order));
}

enum kcg_order_next kcg_order_next(enum kcg_order_state state, unsigned stuck, enum kcg_book_when when,
				   const json_t *order)
{
	const char *st = kcg_mirakl_order_state(order);
	if (kcg_order_state_final(state) || (unsigned)state >= KCG_ORDER_STATES)
		return KCG_NEXT_NOTHING; /* at its end; the snapshot is kept up to date */
	bool booked = kcg_order_state_booked(state);

	/* the ends, whatever came before (a dead job no longer matters) */
	if (is(st, "CLOSED"))
		return KCG_NEXT_CLOSED;
	if (is(st, "CANCELED"))
		return KCG_NEXT_CANCELLED;
	if (is(st, "REFUSED")) {
		const json_t *d = json_object_get(order, "acceptance_decision_date");
		return json_is_null(d) || !d ? KCG_NEXT_AUTO_REFUSED : KCG_NEXT_REFUSED;
	}

	if (booked) {
		if (state == KCG_ORDER_BOOKED && mirakl_paid(st) && !is(st, "SHIPPING"))
			return KCG_NEXT_SHIPPED;
		/* booked before acceptance (a record from before the order's life
		 * changed): accept it */
		if (is(st, "WAITING_ACCEPTANCE") && kcg_mirakl_order_waiting(order))
			return stuck & KCG_STUCK_ACCEPT ? KCG_NEXT_NOTHING : KCG_NEXT_ACCEPT;
		return KCG_NEXT_NOTHING;
	}

	/* seen, held or accepted: not in Khaos yet */
	if (is(st, "WAITING_ACCEPTANCE")) {
		if (state == KCG_ORDER_ACCEPTED)
			return KCG_NEXT_NOTHING; /* an older snapshot than our OR21 */
		return stuck & KCG_STUCK_ACCEPT ? KCG_NEXT_NOTHING : KCG_NEXT_CHECK_SKUS;
	}
	if (kcg_order_at_point(when, order)) {
		if (stuck & KCG_STUCK_BOOK)
			return KCG_NEXT_NOTHING; /* its booking died: a person retries it */
		return kcg_order_address_usable(order) ? KCG_NEXT_BOOK : KCG_NEXT_ADDRESS_MISSING;
	}
	if (mirakl_debit(st))
		return state == KCG_ORDER_ACCEPTED ? KCG_NEXT_NOTHING : KCG_NEXT_ACCEPTED;
	return KCG_NEXT_NOTHING; /* STAGING, or a state kcgate does not know */
}

bool kcg_order_is_late(enum kcg_order_state state, uint64_t deadline_ms, uint64_t alert_ms, uint64_t now_ms)
{
	bool open = state == KCG_ORDER_SEEN || state == KCG_ORDER_HELD;
	return open && deadline_ms && now_ms + alert_ms >= deadline_ms;
}

bool kcg_order_missing_in_khaos(enum kcg_order_state state, uint64_t point_ms, uint64_t alert_ms, uint64_t now_ms)
{
	bool waiting = state == KCG_ORDER_SEEN || state == KCG_ORDER_HELD || state == KCG_ORDER_ACCEPTED;
	return waiting && point_ms && now_ms >= point_ms + alert_ms;
}

bool kcg_order_forgotten(uint64_t created_ms, uint64_t retention_ms, uint64_t now_ms)
{
	return retention_ms && created_ms && now_ms > created_ms && now_ms - created_ms > retention_ms;
}

/* ---- stock (pure) ---- */

static bool line_withdrawn(const json_t *line)
{
	const char *st = json_string_value(json_object_get(line, "order_line_state"));
	return is(st, "CANCELED") || is(st, "REFUSED");
}

static int64_t line_quantity(const json_t *line)
{
	json_int_t q = json_integer_value(json_object_get(line, "quantity"));
	return q > 0 ? (int64_t)q : 0;
}

static bool listed(const json_t *list, const char *s)
{
	size_t i;
	const json_t *v;
	json_array_foreach(list, i, v) {
		if (s && is(json_string_value(v), s))
			return true;
	}
	return false;
}

static int64_t int_of(const json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}

enum kcg_cover kcg_order_stock_decide(const json_t *order, const json_t *levels, const json_t *reserved,
				      enum kcg_cover_mode mode, json_t *shorts, json_t *refuse)
{
	json_t *used = json_object();
	size_t i;
	const json_t *line;
	bool nomem = !used || json_array_clear(refuse) != 0;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		if (nomem || line_withdrawn(line))
			continue;
		const char *sku = kcg_json_str(line, "offer_sku");
		const json_t *level = json_object_get(levels, sku);
		if (!json_is_integer(level))
			continue; /* not stock-controlled */
		int64_t need = line_quantity(line), have = (int64_t)json_integer_value(level);
		int64_t others = int_of(reserved, sku), taken = int_of(used, sku);
		if (need <= have - others - taken) {
			nomem = json_object_set_new(used, sku, json_integer((json_int_t)(taken + need))) != 0;
			continue;
		}
		nomem = json_array_append_new(shorts, json_pack("{s:s, s:s, s:I, s:I, s:I}", "line",
								kcg_json_str(line, "order_line_id"), "sku", sku, "need",
								(json_int_t)need, "available", (json_int_t)have,
								"reserved", (json_int_t)others)) != 0 ||
			json_array_append_new(refuse, json_string(kcg_json_str(line, "order_line_id"))) != 0;
	}
	json_decref(used);
	if (nomem)
		return KCG_COVER_HOLD;
	if (json_array_size(refuse) == 0)
		return KCG_COVER_ALL;
	if (mode == KCG_COVER_MODE_HOLD) {
		json_array_clear(refuse);
		return KCG_COVER_HOLD;
	}
	if (mode == KCG_COVER_MODE_REFUSE_ORDER) {
		json_array_clear(refuse);
		json_array_foreach(json_object_get(order, "order_lines"), i, line) {
			if (!line_withdrawn(line) &&
			    json_array_append_new(refuse, json_string(kcg_json_str(line, "order_line_id"))) != 0)
				return KCG_COVER_HOLD;
		}
	}
	return KCG_COVER_REFUSE;
}

json_t *kcg_order_reservation(enum kcg_order_state state, bool accepting, const json_t *order, const json_t *refused)
{
	json_t *res = json_object();
	size_t i;
	const json_t *line;
	if (!res || !(state == KCG_ORDER_ACCEPTED || (state == KCG_ORDER_SEEN && accepting)))
		return res;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		const char *sku = kcg_json_str(line, "offer_sku");
		int64_t q = line_quantity(line);
		if (line_withdrawn(line) || listed(refused, kcg_json_str(line, "order_line_id")) || !*sku ||
		    strlen(sku) > KCG_EXC_FIELD_MAX || q == 0)
			continue;
		if (json_object_set_new(res, sku, json_integer((json_int_t)(int_of(res, sku) + q))) != 0) {
			json_decref(res);
			return NULL;
		}
	}
	return res;
}

/* ---- the record and the open index ---- */

int orders_get_record(struct kcg_txn *t, const char *order_id, json_t **out)
{
	return kcg_txn_get_json(t, DB_ORDERS, order_id, strlen(order_id), out);
}

static void set_time(json_t *rec, const char *key, uint64_t ms)
{
	char buf[32];
	kcg_format_time(ms, buf, sizeof(buf));
	json_object_set_new(rec, key, json_string(buf));
}

/* A read callback: *io holds an order id (a JSON string) and gets its record. */
static int record_fn(struct kcg_txn *t, void *arg)
{
	json_t **io = arg;
	return orders_get_record(t, json_string_value(*io), io);
}

/* Calls @p fn for each record, in order id order, at most ORDERS_SCAN_MAX
 * (the admin list); parsed copies, so @p fn may collect, then write. */
int orders_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t scanned = 0;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_ORDERS), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && scanned++ < ORDERS_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		int r = json_is_object(rec) ? fn(rec, arg) : 0;
		json_decref(rec);
		if (r != 0) {
			rc = r;
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 1 ? 0 : rc;
}

int orders_open_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t scanned = 0;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_ORDERS_OPEN), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && scanned++ < ORDERS_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char id[ORDER_ID_MAX + 1];
		json_t *rec;
		if (k.mv_size > ORDER_ID_MAX)
			continue;
		memcpy(id, k.mv_data, k.mv_size);
		id[k.mv_size] = '\0';
		if (orders_get_record(t, id, &rec) != 0)
			continue; /* the index is kept in step; an unreadable record is skipped */
		int r = json_is_object(rec) ? fn(rec, arg) : 0;
		json_decref(rec);
		if (r != 0) {
			rc = r;
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 1 ? 0 : rc;
}

/* The record of @p order_id, or a new one in state "seen" (*created). */
static json_t *load_order(struct kcg_txn *t, const char *order_id, bool *created)
{
	json_t *rec = NULL;
	*created = false;
	if (orders_get_record(t, order_id, &rec) == 0 && json_is_object(rec))
		return rec;
	json_decref(rec);
	*created = true;
	rec = json_pack("{s:s, s:s}", "order_id", order_id, "state", state_names[KCG_ORDER_SEEN]);
	if (rec)
		set_time(rec, "first_seen", t->now_ms);
	return rec;
}

/* A record's state; a record with none (or an unknown one) counts as seen. */
enum kcg_order_state orders_state_of(const json_t *rec)
{
	int st = kcg_order_state_parse(kcg_json_str(rec, "state"));
	return st < 0 ? KCG_ORDER_SEEN : (enum kcg_order_state)st;
}

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

/* Moves orders_reserved from what the stored record reserved (@p before's
 * "reserved") to what @p rec reserves in its new state, and notes that in
 * @p rec: derived from the records alone, so a retry, a replay or a second
 * save changes nothing. */
static int move_reserved(struct kcg_txn *t, const json_t *before, json_t *rec)
{
	json_t *now = kcg_order_reservation(orders_state_of(rec), json_is_true(json_object_get(rec, "accepting")),
					    json_object_get(rec, "order"), json_object_get(rec, "refuse_lines"));
	if (!now)
		return -ENOMEM;
	const json_t *was = json_object_get(before, "reserved");
	const char *sku;
	json_t *q;
	int rc = 0;
	json_object_foreach(now, sku, q) {
		if (rc == 0)
			rc = reserved_add(t, sku, (int64_t)json_integer_value(q) - int_of(was, sku));
	}
	json_object_foreach((json_t *)was, sku, q) {
		if (rc == 0 && !json_object_get(now, sku))
			rc = reserved_add(t, sku, -(int64_t)json_integer_value(q));
	}
	if (rc == 0 && json_object_size(now) > 0)
		return json_object_set_new(rec, "reserved", now) ? -ENOMEM : 0;
	json_decref(now);
	json_object_del(rec, "reserved");
	return rc;
}

/* Held for short stock (not for an unknown SKU)? */
static bool held_short(const json_t *rec)
{
	return orders_state_of(rec) == KCG_ORDER_HELD && is(kcg_json_str(rec, "held_for"), KCG_EXC_SHORT_STOCK);
}

/* Writes the record and keeps orders_open in step (present iff the state
 * is not final) and orders_reserved (move_reserved()); an order no longer
 * held for short stock has its short_stock exception resolved. */
static int save_order(struct kcg_txn *t, json_t *rec)
{
	set_time(rec, "updated_at", t->now_ms);
	const char *id = kcg_json_str(rec, "order_id");
	json_t *before = NULL;
	int rc = orders_get_record(t, id, &before);
	if (rc == KCG_ENOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = move_reserved(t, before, rec);
	if (rc == 0 && before && held_short(before) && !held_short(rec))
		rc = kcg_exc_resolve(t, KCG_EXC_SHORT_STOCK, id, "auto");
	json_decref(before);
	if (rc == KCG_ENOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = kcg_txn_put_json(t, DB_ORDERS, id, strlen(id), rec);
	if (rc != 0)
		return rc;
	MDB_val k = { strlen(id), (void *)id }, v = { 0, "" };
	MDB_dbi open = kcg_store_db(t->store, DB_ORDERS_OPEN);
	if (kcg_order_state_final(orders_state_of(rec))) {
		rc = mdb_del(t->txn, open, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	return mdb_put(t->txn, open, &k, &v, 0);
}

static void set_state(json_t *rec, enum kcg_order_state state)
{
	json_object_set_new(rec, "state", json_string(kcg_order_state_name(state)));
}

/* Mirakl's last_updated_date of @p order in ms, 0 when unknown. */
static uint64_t updated_ms(const json_t *order)
{
	uint64_t ms;
	const char *s = json_string_value(json_object_get(order, "last_updated_date"));
	return s && kcg_mirakl_parse_time(s, &ms) == 0 ? ms : 0;
}

/* Copies what the flow needs from a Mirakl order into the record. */
static void take_snapshot(const struct kcg_config *cfg, json_t *rec, const json_t *order)
{
	json_object_set(rec, "order", (json_t *)order);
	json_object_set_new(rec, "mirakl_state", json_string(kcg_mirakl_order_state(order) ? kcg_mirakl_order_state(order) : ""));
	uint64_t created;
	const char *cd = json_string_value(json_object_get(order, "created_date"));
	if (cd && kcg_mirakl_parse_time(cd, &created) == 0) {
		json_object_set_new(rec, "created_ms", json_integer((json_int_t)created));
		json_object_set_new(rec, "deadline_ms",
				    json_integer((json_int_t)(created + cfg->mirakl.acceptance_window_h * 3600000u)));
	}
}

/* The exceptions an open order may have raised that its end makes moot. */
static const char *const open_kinds[] = { KCG_EXC_ACCEPTANCE_DEADLINE, KCG_EXC_ADDRESS_MISSING, KCG_EXC_KHAOS_REJECTED,
					  KCG_EXC_ORDER_REF_TOO_LONG };

/* An order at its end: clear what it might have raised (a booking there is
 * no point retrying any more); the record goes after the retention horizon
 * (finished_ms is its mark). An order that reached its booking point and
 * CLOSED without a Khaos sales order keeps its missing_in_khaos open: that
 * is the report people need ("in Mirakl, never imported"); a cancelled or
 * refused one had nothing to ship. */
static int settle(struct kcg_txn *t, json_t *rec, enum kcg_order_state state)
{
	const char *id = kcg_json_str(rec, "order_id");
	set_state(rec, state);
	json_object_set_new(rec, "finished_ms", json_integer((json_int_t)t->now_ms));
	int rc = kcg_store_retain(t, DB_ORDERS, id, strlen(id), t->now_ms);
	for (size_t i = 0; rc == 0 && i < sizeof(open_kinds) / sizeof(open_kinds[0]); i++)
		rc = kcg_exc_resolve(t, open_kinds[i], id, "auto");
	bool never_booked = !*kcg_json_str(rec, "sales_order_code") && kcg_json_u64(rec, "book_point_ms");
	if (rc == 0 && !(state == KCG_ORDER_CLOSED && never_booked))
		rc = kcg_exc_resolve(t, KCG_EXC_MISSING_IN_KHAOS, id, "auto");
	return rc;
}

/* An order still to be accepted (on Mirakl too) whose alert time (deadline - alert) has passed? */
bool orders_is_late(const struct kcg_config *cfg, const json_t *rec, uint64_t now)
{
	const char *ms = kcg_json_str(rec, "mirakl_state");
	if (*ms && strcmp(ms, "WAITING_ACCEPTANCE") != 0 && strcmp(ms, "STAGING") != 0)
		return false; /* decided on Mirakl already (a held order accepted by hand) */
	return kcg_order_is_late(orders_state_of(rec), kcg_json_u64(rec, "deadline_ms"), cfg->mirakl.acceptance_alert_h * 3600000u,
				 now);
}

/* Raises (or refreshes) acceptance_deadline for one late order record. */
int orders_raise_deadline(struct kcg_txn *t, const json_t *rec)
{
	char when[32], msg[600];
	enum kcg_order_state state = orders_state_of(rec);
	bool held = state == KCG_ORDER_HELD, stock = held_short(rec);
	kcg_format_time(kcg_json_u64(rec, "deadline_ms"), when, sizeof(when));
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s must be accepted before %s or Mirakl refuses it automatically; it is %s%s. %s",
		 kcg_json_str(rec, "order_id"), when, kcg_order_state_name(state),
		 stock ? " (short stock)" : held ? " (unknown or discontinued SKU)" : ", not accepted yet",
		 stock  ? "Raise the stock in Khaos (see the short_stock exception) or accept/refuse by hand."
		 : held ? "Fix the SKU (see the unknown_sku exceptions) or accept/refuse by hand."
			: "Check the jobs of this order (GET /admin/jobs) and the Mirakl lane.");
	struct kcg_exc exc = {
		.kind = KCG_EXC_ACCEPTANCE_DEADLINE,
		.severity = KCG_SEV_CRITICAL,
		.system = stock ? "khaos" : held ? "mirakl" : "kcgate",
		.owner = held && !stock ? "ecommerce" : "operations",
		.subject = kcg_json_str(rec, "order_id"),
		.message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* Raises missing_in_khaos for a record at its booking point too long. */
int orders_raise_missing(struct kcg_txn *t, const json_t *rec, uint64_t alert_min)
{
	char since[32], msg[700];
	const char *id = kcg_json_str(rec, "order_id");
	const json_t *stuck = json_object_get(rec, "stuck_job");
	kcg_format_time(kcg_json_u64(rec, "book_point_ms"), since, sizeof(since));
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s is %s on Mirakl (paid and to be shipped) since %s, and after %" PRIu64 " minutes "
		 "Khaos still has no sales order for it (kcgate state %s%s%s). %s",
		 id, kcg_json_str(rec, "mirakl_state"), since, alert_min, kcg_order_state_name(orders_state_of(rec)),
		 stuck ? ", job " : "", stuck ? kcg_json_str(stuck, "id") : "",
		 "See its other exceptions (address_missing, khaos_rejected, unknown_sku, dead_job) and GET "
		 "/admin/orders/{id}; book it in Khaos by hand only if kcgate cannot.");
	struct kcg_exc exc = {
		.kind = KCG_EXC_MISSING_IN_KHAOS, .severity = KCG_SEV_CRITICAL, .system = "kcgate",
		.owner = "operations", .subject = id, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* Khaos has a sales order for an order Mirakl withdrew (all of it, or
 * the lines in @p lines): the warehouse must not ship it. */
static int raise_booked_cancelled(struct kcg_txn *t, const json_t *rec, const char *what, const json_t *lines)
{
	char msg[900], list[300] = "";
	size_t i, n = 0;
	const json_t *l;
	json_array_foreach(lines, i, l) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", json_string_value(l) ? json_string_value(l) : "");
		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
	}
	const char *id = kcg_json_str(rec, "order_id");
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s, booked in Khaos as sales order %s, was %s on Mirakl%s%s. Stop the despatch and "
		 "cancel %s in Khaos.",
		 id, kcg_json_str(rec, "sales_order_code"), what, n ? ": lines " : "", list,
		 n ? "those lines of the sales order" : "the sales order");
	struct kcg_exc exc = {
		.kind = KCG_EXC_BOOKED_CANCELLED, .severity = KCG_SEV_CRITICAL, .system = "mirakl",
		.owner = "operations", .subject = id, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* The lines Mirakl withdrew from a booked order that were not reported
 * yet: raise booked_cancelled once per new set. */
static int check_withdrawn(struct kcg_txn *t, json_t *rec, const json_t *order)
{
	json_t *lines = kcg_order_lines_withdrawn(order);
	if (!lines)
		return -ENOMEM;
	int rc = 0;
	if (json_array_size(lines) > 0 && !json_equal(lines, json_object_get(rec, "withdrawn_lines"))) {
		rc = raise_booked_cancelled(t, rec, "cancelled, refused or refunded in part", lines);
		if (rc == 0)
			json_object_set(rec, "withdrawn_lines", lines);
	}
	json_decref(lines);
	return rc;
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
static bool skus_good(struct kcg_txn *t, json_t *rec, const json_t *order, int *rc)
{
	json_t *held = json_array();
	if (!held) {
		*rc = -ENOMEM;
		return false;
	}
	*rc = check_skus(t, kcg_json_str(rec, "order_id"), order, held);
	bool good = *rc == 0 && json_array_size(held) == 0;
	if (*rc == 0 && !good) {
		set_state(rec, KCG_ORDER_HELD);
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
				 " of it reserved for orders accepted and not yet booked",
				 n ? "; " : "", kcg_json_str(sh, "line"), int_of(sh, "need"), kcg_json_str(sh, "sku"),
				 int_of(sh, "available"), int_of(sh, "reserved"));
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
static bool stock_good(struct kcg_txn *t, const struct kcg_config *cfg, json_t *rec, const json_t *order, int *rc)
{
	json_t *levels = json_object(), *reserved = json_object(), *shorts = json_array(), *refuse = json_array();
	const json_t *own = json_object_get(rec, "reserved"), *line;
	size_t i;
	bool good = false;
	*rc = levels && reserved && shorts && refuse ? 0 : -ENOMEM;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		const char *sku = kcg_json_str(line, "offer_sku");
		int64_t level;
		uint64_t all;
		bool controlled;
		if (*rc != 0 || !cfg->orders.accept_requires_stock || json_object_get(levels, sku))
			continue;
		if (kcg_skus_level(t, sku, &level, &controlled) != 0 || !controlled)
			continue; /* not stock-controlled: no level to respect */
		*rc = reserved_get(t, sku, &all);
		int64_t others = (int64_t)all - int_of(own, sku); /* this order's own share is not "others" */
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
		bool known = held_short(rec) && kcg_exc_is_open(t, KCG_EXC_SHORT_STOCK, id);
		json_t *skus = json_array(), *sh;
		json_array_foreach(shorts, i, sh) {
			if (skus && !listed(skus, kcg_json_str(sh, "sku")))
				json_array_append_new(skus, json_string(kcg_json_str(sh, "sku")));
		}
		set_state(rec, KCG_ORDER_HELD);
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

static int raise_address_missing(struct kcg_txn *t, const json_t *rec, const json_t *order)
{
	char msg[600];
	const char *id = kcg_json_str(rec, "order_id");
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s is %s (due to be booked in Khaos) but Mirakl shows no usable shipping address "
		 "(street_1, city, zip_code and a last name are needed). It is not booked; kcgate checks again at every "
		 "sync of the order. Check the order on Mirakl and the platform's address visibility setting.",
		 id, kcg_mirakl_order_state(order) ? kcg_mirakl_order_state(order) : "?");
	struct kcg_exc exc = {
		.kind = KCG_EXC_ADDRESS_MISSING, .severity = KCG_SEV_WARNING, .system = "mirakl",
		.owner = "operations", .subject = id, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

static int raise_auto_refused(struct kcg_txn *t, const json_t *rec, enum kcg_order_state was)
{
	char msg[600];
	const char *id = kcg_json_str(rec, "order_id");
	bool stock = held_short(rec), held = was == KCG_ORDER_HELD && !stock;
	snprintf(msg, sizeof(msg),
		 "Mirakl refused order %s automatically: nobody decided it within the acceptance window (kcgate had it "
		 "%s). Repeated automatic refusals count against the shop and can suspend it. %s",
		 id, kcg_order_state_name(was),
		 stock  ? "It was held for short stock (see short_stock): decide such orders by hand in time."
		 : held ? "Fix the unknown or discontinued SKUs (see unknown_sku)."
			: "Check why kcgate did not accept it (GET /admin/orders/{id}, its jobs, the Mirakl lane).");
	struct kcg_exc exc = {
		.kind = KCG_EXC_AUTO_REFUSED, .severity = KCG_SEV_CRITICAL,
		.system = stock ? "khaos" : held ? "mirakl" : "kcgate",
		.owner = held ? "ecommerce" : "operations", .subject = id, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* The order reached its booking point: note when (missing_in_khaos counts from there). */
static void mark_point(struct kcg_txn *t, json_t *rec)
{
	if (!kcg_json_u64(rec, "book_point_ms"))
		json_object_set_new(rec, "book_point_ms", json_integer((json_int_t)t->now_ms));
}

static void mark_accepted(struct kcg_txn *t, json_t *rec)
{
	set_state(rec, KCG_ORDER_ACCEPTED);
	if (!json_object_get(rec, "accepted_at"))
		set_time(rec, "accepted_at", t->now_ms);
}

/* The order's Khaos ASSOCIATED_REF: [khaos] order_ref_prefix + order id.
 * KCG_EPAYLOAD when it is longer than Khaos takes. */
/* Characters (UTF-8 code points) in @p s: Khaos's limits count those. */
static size_t chars_of(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int khaos_ref(const struct kcg_config *cfg, const char *order_id, char ref[ORDER_ID_MAX + 64])
{
	const char *prefix = cfg->khaos.order_ref_prefix ? cfg->khaos.order_ref_prefix : "";
	snprintf(ref, ORDER_ID_MAX + 64, "%s%s", prefix, order_id);
	return chars_of(ref) > KCG_KHAOS_REF_MAX || strlen(prefix) + strlen(order_id) >= ORDER_ID_MAX + 64 ? KCG_EPAYLOAD
														  : 0;
}

/* The associated ref the order is booked under: fixed the first time it is
 * to be booked (kept in the record and the booking job), so a change of
 * [khaos] order_ref_prefix never makes a retry ask for, and import under, a
 * second ref. */
static const char *booking_ref(const struct kcg_config *cfg, json_t *rec, const char *order_id,
			       char ref[ORDER_ID_MAX + 64])
{
	const char *kept = kcg_json_str(rec, "khaos_ref");
	if (*kept && strlen(kept) < ORDER_ID_MAX + 64) {
		memcpy(ref, kept, strlen(kept) + 1);
		return ref;
	}
	khaos_ref(cfg, order_id, ref); /* a ref too long is refused by the booking step */
	json_object_set_new(rec, "khaos_ref", json_string(ref));
	return ref;
}

/*
 * The heart of the flow: given the latest Mirakl order, move the record
 * and enqueue what comes next. Idempotent: running it twice with the same
 * order changes nothing the second time (jobs are one per kind and order).
 * An order older (last_updated_date) than the record's snapshot is not
 * taken: the record decides on what it knows.
 */
int orders_decide(struct kcg_txn *t, const struct kcg_config *cfg, const json_t *given)
{
	const char *id = kcg_mirakl_order_id(given);
	if (!id || strlen(id) > ORDER_ID_MAX)
		return 0;
	bool created;
	json_t *rec = load_order(t, id, &created);
	if (!rec)
		return -ENOMEM;
	const json_t *stored = json_object_get(rec, "order");
	const json_t *order = stored && updated_ms(stored) > updated_ms(given) ? stored : given;
	json_incref((json_t *)order);
	take_snapshot(cfg, rec, order);
	int rc = 0;
	/* older than the retention horizon and no record: finished and forgotten */
	if (created && kcg_order_forgotten(kcg_json_u64(rec, "created_ms"),
					   cfg->store.retention_days * 86400000u, t->now_ms)) {
		json_decref((json_t *)order);
		json_decref(rec);
		return 0;
	}

	enum kcg_order_state was = orders_state_of(rec);
	const char *dead = kcg_json_str(json_object_get(rec, "stuck_job"), "kind");
	/* a dead acceptance is over once Mirakl shows the order accepted (by hand) */
	if (strcmp(dead, "order.accept") == 0 && !is(kcg_mirakl_order_state(order), "WAITING_ACCEPTANCE")) {
		json_object_del(rec, "stuck_job");
		dead = "";
	}
	unsigned stuck = (strcmp(dead, "order.accept") == 0 ? KCG_STUCK_ACCEPT : 0) |
			 (strcmp(dead, "order.book") == 0 ? KCG_STUCK_BOOK : 0);
	enum kcg_order_next next = kcg_order_next(was, stuck, cfg->orders.book_when, order);
	/* at its booking point, even with its booking dead: missing_in_khaos counts from here */
	if (next == KCG_NEXT_NOTHING && (stuck & KCG_STUCK_BOOK) && !kcg_order_state_booked(was) &&
	    kcg_order_at_point(cfg->orders.book_when, order))
		mark_point(t, rec);
	switch (next) {
	case KCG_NEXT_NOTHING:
		break;
	case KCG_NEXT_CHECK_SKUS:
		/* decide at WAITING_ACCEPTANCE: accept only what Khaos can fill */
		if (skus_good(t, rec, order, &rc) && stock_good(t, cfg, rec, order, &rc)) {
			set_state(rec, KCG_ORDER_SEEN);
			rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.accept", id, NULL, 0, NULL);
		}
		break;
	case KCG_NEXT_ACCEPT:
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.accept", id, NULL, 0, NULL);
		break;
	case KCG_NEXT_ACCEPTED:
		mark_accepted(t, rec);
		rc = kcg_exc_resolve(t, KCG_EXC_ACCEPTANCE_DEADLINE, id, "auto");
		break;
	case KCG_NEXT_BOOK:
		mark_point(t, rec);
		/* accepted by hand (or held on a SKU): the SKUs are checked now */
		if (was != KCG_ORDER_ACCEPTED && !skus_good(t, rec, order, &rc))
			break;
		if (rc != 0)
			break;
		mark_accepted(t, rec);
		rc = kcg_exc_resolve(t, KCG_EXC_ADDRESS_MISSING, id, "auto");
		if (rc == 0)
			rc = kcg_exc_resolve(t, KCG_EXC_ACCEPTANCE_DEADLINE, id, "auto");
		if (rc == 0) {
			char ref[ORDER_ID_MAX + 64];
			json_t *payload = json_pack("{s:s}", "ref", booking_ref(cfg, rec, id, ref));
			rc = payload ? kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "order.book", id, payload, 0, NULL) : -ENOMEM;
			json_decref(payload);
		}
		break;
	case KCG_NEXT_ADDRESS_MISSING:
		mark_point(t, rec);
		if (was == KCG_ORDER_SEEN)
			mark_accepted(t, rec);
		if (!kcg_exc_is_open(t, KCG_EXC_ADDRESS_MISSING, id))
			rc = raise_address_missing(t, rec, order);
		break;
	case KCG_NEXT_SHIPPED:
		set_state(rec, KCG_ORDER_SHIPPED);
		set_time(rec, "shipped_at", t->now_ms);
		break;
	case KCG_NEXT_CLOSED:
		rc = settle(t, rec, KCG_ORDER_CLOSED);
		break;
	case KCG_NEXT_REFUSED:
	case KCG_NEXT_AUTO_REFUSED:
	case KCG_NEXT_CANCELLED: {
		enum kcg_order_state end = next == KCG_NEXT_CANCELLED ? KCG_ORDER_CANCELLED
					   : next == KCG_NEXT_REFUSED ? KCG_ORDER_REFUSED
								      : KCG_ORDER_AUTO_REFUSED;
		if (was == KCG_ORDER_BOOKED) /* before it shipped: the despatch must stop */
			rc = raise_booked_cancelled(t, rec, end == KCG_ORDER_CANCELLED ? "cancelled" : "refused", NULL);
		else if (end == KCG_ORDER_AUTO_REFUSED)
			rc = raise_auto_refused(t, rec, was);
		if (rc == 0)
			rc = settle(t, rec, end);
		break;
	}
	}
	if (rc == KCG_EDUPLICATE)
		rc = 0;
	/* a booked order keeps being watched for lines Mirakl withdraws before
	 * it ships (after: a refund or a return, nothing to stop) */
	if (rc == 0 && orders_state_of(rec) == KCG_ORDER_BOOKED)
		rc = check_withdrawn(t, rec, order);
	/* Late already when first seen (or re-seen): say so now, not at the next watch. */
	if (rc == 0 && orders_is_late(cfg, rec, t->now_ms) && !kcg_exc_is_open(t, KCG_EXC_ACCEPTANCE_DEADLINE, id))
		rc = orders_raise_deadline(t, rec);
	if (rc == 0)
		rc = save_order(t, rec);
	json_decref((json_t *)order);
	json_decref(rec);
	return rc;
}

/* ---- jobs ---- */

/*
 * A webhook named an order whose order.sync was already pending: that job
 * may be running, its OR11 read sent before this change. Note when
 * (hint_ms), so the running sync reads again (orders_on_event; a known
 * order only: an unknown one has no read in flight that could miss it).
 */
int orders_hint(struct kcg_txn *t, const char *order_id)
{
	json_t *rec;
	if (orders_get_record(t, order_id, &rec) != 0)
		return 0;
	json_object_set_new(rec, "hint_ms", json_integer((json_int_t)t->now_ms));
	int rc = save_order(t, rec);
	json_decref(rec);
	return rc;
}

struct hint_req {
	const char *id;
	uint64_t hint;
};

static int hint_fn(struct kcg_txn *t, void *arg)
{
	struct hint_req *h = arg;
	json_t *rec;
	if (orders_get_record(t, h->id, &rec) == 0) {
		h->hint = kcg_json_u64(rec, "hint_ms");
		json_decref(rec);
	}
	return 0;
}

#define SYNC_READS_MAX 4 /* reads one order.sync makes while webhooks keep coming */

/* order.sync: read the order (unless the poll brought it), then decide. */
static int sync_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *flow = run->ctx;
	json_t *order = json_object_get(run->result, "order");
	if (!order)
		return 0; /* Mirakl does not know the order: nothing to do */
	return orders_decide(t, flow->cfg, order);
}

static enum kcg_step order_sync(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];

	json_t *given = json_object_get(run->payload, "order");
	if (!given && (run->phase == PH_START || run->phase == PH_STATUS)) {
		/* PH_STATUS: a webhook came while the last read was under way */
		run->phase = PH_READ;
		json_decref(run->result);
		run->result = json_pack("{s:I}", "read_ms", (json_int_t)kcg_now_ms());
		return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call));
	}
	if (given) {
		run->result = json_object();
		json_object_set(run->result, "order", given);
	} else {
		json_t *order;
		int rc = kcg_mirakl_or11_one_parse(&run->reply, run->subject, &order, why);
		if (rc != 0 && rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, rc, why);
		if (rc == 0)
			json_object_set_new(run->result, "order", order);
		/* A webhook for this order arrived after this read was sent: the
		 * answer may predate the change it announces. Read again. */
		struct hint_req h = { run->subject, 0 };
		if (rc == 0 && run->n_calls < SYNC_READS_MAX && kcg_store_read(flow->store, hint_fn, &h) == 0 &&
		    h.hint >= kcg_json_u64(run->result, "read_ms")) {
			run->phase = PH_STATUS;
			return order_sync(run, ctx);
		}
	}
	run->apply = sync_apply;
	return KCG_STEP_DONE;
}

/* order.book: booked (result "code"), or what the fresh read said (result "order"). */
static int book_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	json_t *order = json_object_get(run->result, "order");
	const char *code = kcg_json_str(run->result, "code");
	if (!*code)
		return order ? orders_decide(t, cfg, order) : 0; /* not at its booking point after all */
	bool created;
	json_t *rec = load_order(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	int rc = 0;
	enum kcg_order_state state = orders_state_of(rec);
	json_object_del(rec, "stuck_job");
	json_object_set_new(rec, "sales_order_code", json_string(code));
	const json_t *stored = json_object_get(rec, "order");
	if (order && !(stored && updated_ms(stored) > updated_ms(order)))
		take_snapshot(cfg, rec, order); /* never over a newer one a sync stored meanwhile */
	if (!kcg_order_state_booked(state) && !kcg_order_state_final(state)) {
		set_state(rec, KCG_ORDER_BOOKED);
		set_time(rec, "booked_at", t->now_ms);
		/* lines withdrawn before the booking were left out of it: only
		 * those withdrawn after it are Khaos's problem */
		json_t *gone = order ? kcg_order_lines_withdrawn(order) : NULL;
		if (gone && json_array_size(gone) > 0)
			json_object_set(rec, "withdrawn_lines", gone);
		json_decref(gone);
		static const char *const done[] = { KCG_EXC_MISSING_IN_KHAOS, KCG_EXC_ADDRESS_MISSING, KCG_EXC_KHAOS_REJECTED,
						    KCG_EXC_PRICE_MISMATCH, KCG_EXC_UNMAPPED_SHIPPING_METHOD };
		for (size_t i = 0; rc == 0 && i < sizeof(done) / sizeof(done[0]); i++)
			rc = kcg_exc_resolve(t, done[i], run->subject, "auto");
	} else if (kcg_order_state_final(state) && state != KCG_ORDER_CLOSED) {
		/* Mirakl withdrew it while kcgate booked it */
		rc = raise_booked_cancelled(t, rec, state == KCG_ORDER_CANCELLED ? "cancelled" : "refused", NULL);
	}
	if (rc == 0)
		rc = save_order(t, rec);
	json_decref(rec);
	/* what happened on Mirakl meanwhile (shipped, lines withdrawn) */
	if (rc == 0 && order && !kcg_order_state_final(state))
		rc = orders_decide(t, cfg, order);
	return rc;
}

static enum kcg_step booked(struct kcg_job_run *run, const char *code)
{
	json_object_set_new(run->result, "code", json_string(code));
	run->apply = book_apply;
	return KCG_STEP_DONE;
}

/* order.book for an order whose Khaos ref would be too long: it is not
 * booked (never truncated: a cut ref could match another order). */
static int ref_too_long_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	const char *prefix = cfg->khaos.order_ref_prefix ? cfg->khaos.order_ref_prefix : "";
	char msg[600];
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s is not booked in Khaos: its associated ref '%s%s' ([khaos] order_ref_prefix + order "
		 "id) is longer than the %d characters Khaos takes. kcgate never cuts it short; shorten the prefix, "
		 "then POST /admin/jobs/%s/retry, or book the order by hand.",
		 run->subject, prefix, run->subject, KCG_KHAOS_REF_MAX, run->id);
	struct kcg_exc exc = {
		.kind = KCG_EXC_ORDER_REF_TOO_LONG, .severity = KCG_SEV_CRITICAL, .system = "kcgate",
		.owner = "operations", .subject = run->subject, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* order.book for an order the map refused (kcg_order_map()'s fault in
 * result "fault", its reason in "why"): not booked, a person told. An
 * unmapped shipping method waits for the map (SIGHUP retries it,
 * orders_reload()); a price mismatch needs the order looked at. */
static int map_failed_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	bool shipping = strcmp(kcg_json_str(run->result, "fault"), KCG_EXC_UNMAPPED_SHIPPING_METHOD) == 0;
	const char *why = kcg_json_str(run->result, "why");
	char msg[KCG_ERROR_MAX + 600];
	if (shipping)
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s is not booked in Khaos: %s. Add the code to [shipping_methods] (the Khaos "
			 "courier code) and reload the configuration (SIGHUP): the order is then booked by itself.",
			 run->subject, why);
	else
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s is not booked in Khaos: %s. kcgate books only what the customer paid, to the "
			 "penny. Check the order on Mirakl (prices, taxes, shipping); a tax code missing from "
			 "[khaos.tax_rates] is fixed there and by a reload (SIGHUP); otherwise book it by hand, or POST "
			 "/admin/jobs/%s/retry once Mirakl is right.",
			 run->subject, why, run->id);
	struct kcg_exc exc = {
		.kind = shipping ? KCG_EXC_UNMAPPED_SHIPPING_METHOD : KCG_EXC_PRICE_MISMATCH,
		.severity = KCG_SEV_CRITICAL,
		.system = shipping ? "kcgate" : "mirakl",
		.owner = shipping ? "operations" : "finance",
		.subject = run->subject,
		.message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* The order's money or method does not map: the job dies with its exception. */
static enum kcg_step map_failed(struct kcg_job_run *run, enum kcg_order_map_fault fault, const char *why)
{
	const char *kind = fault == KCG_ORDER_MAP_SHIPPING ? KCG_EXC_UNMAPPED_SHIPPING_METHOD : KCG_EXC_PRICE_MISMATCH;
	json_object_set_new(run->result, "fault", json_string(kind));
	json_object_set_new(run->result, "why", json_string(why));
	snprintf(run->error, sizeof(run->error), "%s: %.150s", kind, why);
	run->apply = map_failed_apply;
	return KCG_STEP_DEAD;
}

static enum kcg_step order_book(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX], code[KCG_KHAOS_CODE_MAX], ref[ORDER_ID_MAX + 64];
	int rc;

	/* the ref fixed when the booking was decided (booking_ref()); a job
	 * from before that computes it */
	const char *given = kcg_json_str(run->payload, "ref");
	bool too_long;
	if (*given && strlen(given) < sizeof(ref)) {
		memcpy(ref, given, strlen(given) + 1);
		too_long = chars_of(ref) > KCG_KHAOS_REF_MAX;
	} else {
		too_long = khaos_ref(flow->cfg, run->subject, ref) != 0;
	}
	switch (run->phase) {
	case PH_START: {
		/* Only an order still to be booked: it may have been booked,
		 * held or withdrawn while this job waited. */
		json_t *id = json_string(run->subject), *rec = id;
		rc = kcg_store_read(flow->store, record_fn, &rec);
		json_decref(id);
		enum kcg_order_state st = rc == 0 ? orders_state_of(rec) : KCG_ORDER_SEEN;
		bool go = rc == 0 && (st == KCG_ORDER_SEEN || st == KCG_ORDER_ACCEPTED);
		json_decref(rc == 0 ? rec : NULL);
		if (rc != 0 && rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, -EAGAIN, "cannot read the order record");
		if (!go)
			return KCG_STEP_DONE; /* nothing to book (any more) */
		if (too_long) {
			snprintf(run->error, sizeof(run->error), "associated ref '%.40s' is longer than %d characters",
				 ref, KCG_KHAOS_REF_MAX);
			run->apply = ref_too_long_apply;
			return KCG_STEP_DEAD;
		}
		if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
			return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
		run->result = json_object();
		/* Book what Mirakl says now: address, lines and state fresh. */
		run->phase = PH_READ;
		return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call));
	}
	case PH_READ: {
		json_t *order;
		rc = kcg_mirakl_or11_one_parse(&run->reply, run->subject, &order, why);
		if (rc != 0)
			return kcg_job_failed(run, rc == KCG_ENOTFOUND ? KCG_EPAYLOAD : rc, why);
		json_object_set_new(run->result, "order", order);
		if (kcg_order_next(KCG_ORDER_ACCEPTED, 0, flow->cfg->orders.book_when, order) != KCG_NEXT_BOOK) {
			/* withdrawn, or no address after all: the record follows. An
			 * earlier attempt may have sent ImportOrders before it was
			 * withdrawn (a lost answer, a crash): ask Khaos first, so a
			 * sales order it has is reported (booked_cancelled), never
			 * left to be shipped unseen. */
			if (run->attempts == 0) {
				run->apply = book_apply;
				return KCG_STEP_DONE;
			}
			json_object_set_new(run->result, "withdrawn", json_true());
		}
		/* Always ask first: an earlier attempt (or a crash) may have booked
		 * it without us learning so. */
		run->phase = PH_STATUS;
		return kcg_job_call(run, kcg_khaos_order_status(&flow->cfg->khaos, ref, &run->call));
	}
	case PH_STATUS: {
		rc = kcg_khaos_order_status_parse(&flow->cfg->khaos, &run->reply, ref, code, NULL, why);
		if (rc == 0)
			return booked(run, code);
		if (rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, rc, why);
		if (json_is_true(json_object_get(run->result, "withdrawn"))) {
			run->apply = book_apply; /* not in Khaos, and no longer to be booked */
			return KCG_STEP_DONE;
		}
		if (run->n_calls > 3) {
			/* ImportOrders said the ref exists, ExportOrderStatusEx says it
			 * does not: a person must look. */
			snprintf(run->error, sizeof(run->error),
				 "ImportOrders left the outcome for %.40s unclear (skipped as existing, or no code), and "
				 "ExportOrderStatusEx does not find it: a person must look in Khaos", ref);
			return KCG_STEP_DEAD;
		}
		run->phase = PH_IMPORT;
		struct kcg_khaos_sales_order so;
		/* the maps as they are now: a reload may swap them at any time */
		const struct kcg_order_map_config mc = {
			.shipping_methods = atomic_load(&flow->cfg->orders.shipping_methods),
			.tax_rates = atomic_load(&flow->cfg->orders.tax_rates),
		};
		enum kcg_order_map_fault fault;
		rc = kcg_order_map(json_object_get(run->result, "order"), &mc, &so, &fault, why);
		if (rc == KCG_EPAYLOAD && fault != KCG_ORDER_MAP_DATA)
			return map_failed(run, fault, why);
		if (rc == 0) {
			free(so.associated_ref);
			so.associated_ref = strdup(ref);
			rc = so.associated_ref ? kcg_khaos_import_orders(&flow->cfg->khaos, &so, &run->call, why) : -ENOMEM;
		}
		kcg_khaos_sales_order_finish(&so);
		if (rc == KCG_EPAYLOAD || rc == -EAGAIN)
			return kcg_job_failed(run, rc, why);
		return kcg_job_call(run, rc);
	}
	default:
		rc = kcg_khaos_import_parse(&flow->cfg->khaos, &run->reply, ref, code, why);
		if (rc == 0)
			return booked(run, code);
		if (rc == KCG_EDUPLICATE) {
			/* Khaos has it (skipped as a repeat) or may have it (an answer
			 * without a usable code): read its code, never import again. */
			run->phase = PH_STATUS;
			return kcg_job_call(run, kcg_khaos_order_status(&flow->cfg->khaos, ref, &run->call));
		}
		if (rc == KCG_EPAYLOAD) /* Khaos said no: say why, to a person (the dead hook) */
			json_object_set_new(run->result, "rejected", json_string(why));
		return kcg_job_failed(run, rc, why);
	}
}

/* order.accept: OR21 every waiting line; on doubt, read the order first. */
static int accept_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	bool created;
	json_t *rec = load_order(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	json_t *order = json_object_get(run->result, "order");
	int rc = 0;
	json_object_del(rec, "stuck_job");
	enum kcg_order_state st = orders_state_of(rec);
	if (json_is_true(json_object_get(run->result, "accepted")) && (st == KCG_ORDER_SEEN || st == KCG_ORDER_HELD)) {
		json_object_set_new(rec, "decided", json_true());
		mark_accepted(t, rec);
		rc = kcg_exc_resolve(t, KCG_EXC_ACCEPTANCE_DEADLINE, run->subject, "auto");
	} else if (json_is_true(json_object_get(run->result, "partial_disabled")) && st == KCG_ORDER_SEEN) {
		/* Mirakl takes all lines or none: decide again, on the whole order */
		json_object_set_new(rec, "partial_disabled", json_true());
		order = json_object_get(rec, "order");
	}
	json_incref(order);
	if (rc == 0)
		rc = save_order(t, rec);
	json_decref(rec);
	/* what Mirakl says now (already SHIPPING, or withdrawn) */
	if (rc == 0 && order)
		rc = orders_decide(t, cfg, order);
	json_decref(order);
	return rc;
}

static enum kcg_step accept_outcome(struct kcg_job_run *run, json_t *order, bool accepted)
{
	json_decref(run->result);
	run->result = json_pack("{s:b}", "accepted", accepted);
	if (order)
		json_object_set(run->result, "order", order);
	run->apply = accept_apply;
	return KCG_STEP_DONE;
}

/* Reads the record's snapshot of the order (the lines to accept) and the
 * lines kcgate refuses: {"order", "refuse"}; KCG_ENOTFOUND when the order
 * is no longer to be accepted (held again, accepted, withdrawn). */
static int snapshot_fn(struct kcg_txn *t, void *arg)
{
	json_t **io = arg;
	const char *id = json_string_value(*io);
	json_t *rec;
	int rc = orders_get_record(t, id, &rec);
	if (rc != 0)
		return rc;
	enum kcg_order_state st = orders_state_of(rec);
	json_t *order = json_object_get(rec, "order"), *refuse = json_object_get(rec, "refuse_lines");
	*io = (st == KCG_ORDER_SEEN || kcg_order_state_booked(st)) && order
		      ? json_pack("{s:O, s:o}", "order", order, "refuse", refuse ? json_incref(refuse) : json_array())
		      : NULL;
	json_decref(rec);
	return *io ? 0 : KCG_ENOTFOUND;
}

/* A job of this order died: remember it, so no poll re-creates it. A
 * booking Khaos refused says why, to a person. */
static int order_stuck(struct kcg_txn *t, struct kcg_job_run *run)
{
	bool created;
	json_t *rec = load_order(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	json_object_set_new(rec, "stuck_job", json_pack("{s:s, s:s}", "id", run->id, "kind", run->kind->name));
	int rc = 0;
	const char *reason = kcg_json_str(run->result, "rejected");
	if (*reason) {
		char msg[KCG_ERROR_MAX + 400];
		snprintf(msg, sizeof(msg),
			 "Khaos refused to import Mirakl order %s: %s. Nothing was booked and kcgate does not retry by "
			 "itself: fix the cause (stock item, customer data, Khaos set-up), then POST /admin/jobs/%s/retry.",
			 run->subject, reason, run->id);
		struct kcg_exc exc = {
			.kind = KCG_EXC_KHAOS_REJECTED, .severity = KCG_SEV_CRITICAL, .system = "khaos",
			.owner = "operations", .subject = run->subject, .message = msg,
		};
		rc = kcg_exc_raise(t, &exc, NULL);
	}
	if (rc == 0)
		rc = save_order(t, rec);
	json_decref(rec);
	return rc;
}

static enum kcg_step order_accept(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	int rc;

	switch (run->phase) {
	case PH_START: {
		json_t *id = json_string(run->subject), *snap = id;
		rc = kcg_store_read(flow->store, snapshot_fn, &snap);
		json_decref(id);
		if (rc == KCG_ENOTFOUND)
			return KCG_STEP_DONE; /* decided meanwhile (held again, accepted, withdrawn) */
		if (rc != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the order record");
		/* the lines kcgate refuses, for every OR21 of this run */
		run->result = json_pack("{s:O}", "refuse", json_object_get(snap, "refuse"));
		if (run->attempts > 0) {
			/* An earlier attempt may have gone through: look before acting. */
			json_decref(snap);
			run->phase = PH_READ;
			return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call));
		}
		run->phase = PH_ACCEPT;
		rc = kcg_mirakl_or21_decide(&flow->cfg->mirakl, json_object_get(snap, "order"),
					    json_object_get(run->result, "refuse"), &run->call);
		json_decref(snap);
		if (rc == KCG_EPAYLOAD) {
			/* No line waits in our snapshot: read what Mirakl says. */
			run->phase = PH_READ;
			rc = kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call);
		}
		return kcg_job_call(run, rc);
	}
	case PH_READ: {
		json_t *order;
		rc = kcg_mirakl_or11_one_parse(&run->reply, run->subject, &order, why);
		if (rc != 0)
			return kcg_job_failed(run, rc == KCG_ENOTFOUND ? KCG_EPAYLOAD : rc, why);
		enum kcg_step st;
		const char *ms = kcg_mirakl_order_state(order);
		if (kcg_mirakl_order_accepted(order)) {
			st = accept_outcome(run, order, true);
		} else if (is(ms, "CANCELED") || is(ms, "REFUSED") || is(ms, "CLOSED")) {
			st = accept_outcome(run, order, false);
		} else if (kcg_mirakl_order_waiting(order) && run->n_calls < 3) {
			run->phase = PH_ACCEPT;
			st = kcg_job_call(run, kcg_mirakl_or21_decide(&flow->cfg->mirakl, order,
								      json_object_get(run->result, "refuse"), &run->call));
		} else {
			snprintf(run->error, sizeof(run->error), "order %s is %s on Mirakl and cannot be accepted",
				 run->subject, ms ? ms : "in no state");
			st = KCG_STEP_DEAD;
		}
		json_decref(order);
		return st;
	}
	default:
		rc = kcg_mirakl_or21_parse(&run->reply, why);
		if (rc == 0 && json_array_size(json_object_get(run->result, "refuse")) > 0) {
			/* lines refused (perhaps all of them): the record follows what
			 * Mirakl made of it */
			run->phase = PH_READ;
			return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call));
		}
		if (rc == 0)
			return accept_outcome(run, NULL, true);
		if (rc == KCG_EPAYLOAD && kcg_mirakl_or21_partial_disabled(&run->reply)) {
			/* all lines or none: the apply decides again, per on_partial_disabled */
			json_object_set_new(run->result, "partial_disabled", json_true());
			run->apply = accept_apply;
			return KCG_STEP_DONE;
		}
		if (rc == KCG_EPAYLOAD && run->n_calls < 3) {
			/* 400: the state is not what we thought; read it. */
			run->phase = PH_READ;
			return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call));
		}
		return kcg_job_failed(run, rc, why);
	}
}

/* Orders held on @p sku get another order.sync (they re-read Mirakl). */
struct held_on {
	const char *sku;
	json_t *ids;
};

static int held_on_fn(json_t *rec, void *arg)
{
	struct held_on *h = arg;
	if (orders_state_of(rec) != KCG_ORDER_HELD)
		return 0;
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rec, "held_skus"), i, s)
		if (json_is_string(s) && strcmp(json_string_value(s), h->sku) == 0)
			return json_array_append_new(h->ids, json_string(kcg_json_str(rec, "order_id"))) ? -ENOMEM : 0;
	return 0;
}

/* on_sku_active: the SKU cache learnt that @p sku is an active stock code. */
static int release_held(struct kcg_txn *t, const char *sku, struct kcg_flow_ctx *ctx)
{
	struct held_on h = { sku, json_array() };
	int rc = orders_open_each(t, held_on_fn, &h);
	size_t i;
	json_t *id;
	json_array_foreach(h.ids, i, id) {
		if (rc != 0)
			break;
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.sync", json_string_value(id), NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	json_decref(h.ids);
	return rc;
}

/* ---- a reload ---- */

/* Orders whose booking died on a map (an open unmapped_shipping_method or
 * price_mismatch and a dead order.book): their job ids. */
struct waiting_map {
	struct kcg_txn *t;
	json_t *jobs;
};

static int waiting_map_fn(json_t *rec, void *arg)
{
	struct waiting_map *w = arg;
	const char *id = kcg_json_str(rec, "order_id");
	const json_t *stuck = json_object_get(rec, "stuck_job");
	if (!stuck || strcmp(kcg_json_str(stuck, "kind"), "order.book") != 0)
		return 0;
	if (!kcg_exc_is_open(w->t, KCG_EXC_UNMAPPED_SHIPPING_METHOD, id) && !kcg_exc_is_open(w->t, KCG_EXC_PRICE_MISMATCH, id))
		return 0;
	return json_array_append_new(w->jobs, json_string(kcg_json_str(stuck, "id"))) ? -ENOMEM : 0;
}

static int waiting_map_read(struct kcg_txn *t, void *arg)
{
	struct waiting_map *w = arg;
	w->t = t;
	return orders_open_each(t, waiting_map_fn, w);
}

/* on_reload: the maps changed; every booking that died on one is retried
 * (it re-reads the order and maps it with the new maps; one that still
 * does not map dies again with its exception). A price mismatch from
 * Mirakl's own numbers is retried too: harmless, it dies again. */
static int orders_reload(struct kcg_flow_ctx *ctx, size_t *n)
{
	struct waiting_map w = { NULL, json_array() };
	*n = 0;
	if (!w.jobs)
		return -ENOMEM;
	int rc = kcg_store_read(ctx->store, waiting_map_read, &w);
	size_t i;
	json_t *job;
	json_array_foreach(w.jobs, i, job) {
		if (rc != 0)
			break;
		int r = kcg_jobs_retry(ctx->store, json_string_value(job));
		if (r == 0)
			(*n)++;
		else if (r != -EINVAL && r != KCG_ENOTFOUND) /* no longer dead: moved on meanwhile */
			rc = r;
	}
	json_decref(w.jobs);
	return rc;
}

/* [shipping_methods] values: Khaos courier codes (GetSOPData COURIERS/@CODE). */
static const char *check_courier(const char *v)
{
	const char *why = kcg_config_check_text(v);
	if (why)
		return why;
	return strlen(v) > 64 ? "a Khaos courier code of at most 64 characters expected" : NULL;
}

/* [khaos.tax_rates] values: Khaos TAX_RATE codes, whole numbers (1 standard,
 * 2 zero, 4 reduced, >4 user-defined [XML-IMP]). */
static const char *check_tax_rate(const char *v)
{
	uint64_t n;
	return kcg_parse_u64(v, 1, 999, &n) < 0 ? "expected a Khaos tax code, a whole number from 1 to 999 (1 standard, "
						  "2 zero, 4 reduced, >4 user-defined)"
						: NULL;
}

/* ---- the flow ---- */

#define FLOW_PAIRING \
	"[mirakl] base_url and [khaos] soap_url go together: set both to run the order flow, or neither"

static bool orders_enabled(const struct kcg_config *cfg)
{
	return cfg->mirakl.base_url && cfg->khaos.soap_url;
}

static void orders_checks(struct kcg_config_check *c, const struct kcg_config *cfg)
{
	/* one without the other would run half a flow: orders read, never booked */
	if (cfg->mirakl.base_url && !kcg_config_line(c, &cfg->khaos.soap_url))
		kcg_config_error(c, &cfg->mirakl.base_url, FLOW_PAIRING);
	if (cfg->khaos.soap_url && !kcg_config_line(c, &cfg->mirakl.base_url))
		kcg_config_error(c, &cfg->khaos.soap_url, FLOW_PAIRING);

	/* the alert must come before Mirakl refuses the order; both are >= 1
	 * when valid, 0 after a reported error */
	uint64_t window = cfg->mirakl.acceptance_window_h, alert = cfg->mirakl.acceptance_alert_h;
	if (window && alert && alert >= window) {
		if (kcg_config_line(c, &cfg->mirakl.acceptance_alert_h))
			kcg_config_error(c, &cfg->mirakl.acceptance_alert_h,
					 "must be less than acceptance_window_h (%" PRIu64 ")", window);
		else
			kcg_config_error(c, &cfg->mirakl.acceptance_window_h,
					 "must be more than acceptance_alert_h (%" PRIu64 ", the default)", alert);
	}
}

static const struct kcg_config_choice book_when_choices[] = {
	{ "shipping", KCG_BOOK_SHIPPING },
	{ "accepted", KCG_BOOK_ACCEPTED },
	{ NULL, 0 },
};

static const struct kcg_config_choice bool_choices[] = {
	{ "true", 1 },
	{ "false", 0 },
	{ NULL, 0 },
};

static const struct kcg_config_choice short_stock_choices[] = {
	{ "hold", KCG_SHORT_HOLD },
	{ "refuse", KCG_SHORT_REFUSE },
	{ NULL, 0 },
};

static const struct kcg_config_choice partial_disabled_choices[] = {
	{ "hold", KCG_PARTIAL_HOLD },
	{ "refuse", KCG_PARTIAL_REFUSE },
	{ NULL, 0 },
};

static const struct kcg_config_key orders_keys[] = {
	/* Mirakl: poll OR11 every 5 minutes, at most once a minute */
	KCG_KEY_U64("mirakl", "poll_interval_s", mirakl.poll_interval_s, "300", 60, 86400),
	KCG_KEY_U64("mirakl", "poll_overlap_s", mirakl.poll_overlap_s, "300", 0, 86400),
	/* pages (of 100 orders) one poll reads, each committed before the next */
	KCG_KEY_U64("mirakl", "poll_max_pages", mirakl.poll_max_pages, "50", 1, 100000),
	KCG_KEY_U64("mirakl", "acceptance_window_h", mirakl.acceptance_window_h, "72", 1, 720),
	KCG_KEY_U64("mirakl", "acceptance_alert_h", mirakl.acceptance_alert_h, "12", 1, 720),
	/* the order's life: when it is booked, when its absence in Khaos is news */
	KCG_KEY_ENUM("orders", "book_when", orders.book_when, "shipping", book_when_choices),
	KCG_KEY_U64("orders", "book_alert_min", orders.book_alert_min, "30", 1, 10080),
	/* maps, reloaded by SIGHUP: Mirakl shipping_type_code -> Khaos
	 * COURIER_CODE; Mirakl tax code -> Khaos TAX_RATE code */
	KCG_KEY_MAP("shipping_methods", orders.shipping_methods, check_courier),
	KCG_KEY_MAP("khaos.tax_rates", orders.tax_rates, check_tax_rate),
	/* decide at WAITING_ACCEPTANCE: Khaos's stock must cover the lines */
	KCG_KEY_ENUM("orders", "accept_requires_stock", orders.accept_requires_stock, "true", bool_choices),
	KCG_KEY_ENUM("orders", "on_short_stock", orders.on_short_stock, "hold", short_stock_choices),
	KCG_KEY_ENUM("orders", "on_partial_disabled", orders.on_partial_disabled, "hold", partial_disabled_choices),
};

static const struct kcg_config_keys orders_config = {
	orders_keys, sizeof(orders_keys) / sizeof(orders_keys[0]), orders_checks
};

static const struct kcg_job_kind kind_sync = { "order.sync", KCG_LANE_MIRAKL, order_sync, NULL };
static const struct kcg_job_kind kind_book = { "order.book", KCG_LANE_KHAOS, order_book, order_stuck };
static const struct kcg_job_kind kind_accept = { "order.accept", KCG_LANE_MIRAKL, order_accept, order_stuck };
static const struct kcg_job_kind kind_poll = { "mirakl.poll", KCG_LANE_MIRAKL, orders_mirakl_poll, NULL };

const struct kcg_flow kcg_flow_orders = {
	.name = "orders",
	.enabled = orders_enabled,
	.dbs = (const char *const[]){ DB_ORDERS, DB_ORDERS_OPEN, DB_ORDERS_RESERVED, NULL },
	.config = &orders_config,
	.kinds = (const struct kcg_job_kind *const[]){ &kind_sync, &kind_book, &kind_accept, &kind_poll, NULL },
	.timers = orders_timers,
	.on_event = orders_on_event,
	.on_sku_active = release_held,
	.on_reload = orders_reload,
	.retention = &orders_retention,
	.routes = kcg_orders_routes,
	.n_routes = KCG_ORDERS_ROUTES,
};
