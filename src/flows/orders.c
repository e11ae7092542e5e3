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

int orders_get_record(struct kcg_txn *t, const char *order_id, json_t **out)
{
	return kcg_txn_get_json(t, DB_ORDERS, order_id, strlen(order_id), out);
}

void orders_set_time(json_t *rec, const char *key, uint64_t ms)
{
	char buf[32];
	kcg_format_time(ms, buf, sizeof(buf));
	json_object_set_new(rec, key, json_string(buf));
}

/* A walk stopped at ORDERS_SCAN_MAX: said, never silent. */
static void scan_capped(const char *what)
{
	kcg_log(KCG_LOG_WARN, "order walk stopped at its cap: the records past it were not looked at",
		json_pack("{s:s, s:i}", "walk", what, "cap", ORDERS_SCAN_MAX));
}

/* Parsed copies, so @p fn may collect, then write. */
int orders_index_each(struct kcg_txn *t, const char *name, int (*fn)(json_t *rec, void *arg), void *arg)
{
	bool index = strcmp(name, DB_ORDERS) != 0;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t scanned = 0;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, name), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && scanned++ < ORDERS_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char id[ORDER_ID_MAX + 1];
		json_t *rec = NULL;
		if (!index) {
			rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		} else {
			if (k.mv_size > ORDER_ID_MAX)
				continue;
			memcpy(id, k.mv_data, k.mv_size);
			id[k.mv_size] = '\0';
			if (orders_get_record(t, id, &rec) != 0)
				continue; /* the index is kept in step; an unreadable record is skipped */
		}
		int r = json_is_object(rec) ? fn(rec, arg) : 0;
		json_decref(rec);
		if (r != 0) {
			rc = r;
			break;
		}
	}
	mdb_cursor_close(cur);
	if (rc == 0 && scanned > ORDERS_SCAN_MAX)
		scan_capped(name);
	return rc == MDB_NOTFOUND || rc == 1 ? 0 : rc;
}

int orders_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg)
{
	return orders_index_each(t, DB_ORDERS, fn, arg);
}

int orders_open_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg)
{
	return orders_index_each(t, DB_ORDERS_OPEN, fn, arg);
}

size_t orders_sku_key(char key[2 * ORDER_ID_MAX + 2], const char *sku, const char *id)
{
	size_t m = strlen(sku), n = strlen(id);
	if (!m || m > ORDER_ID_MAX || !n || n > ORDER_ID_MAX)
		return 0;
	memcpy(key, sku, m);
	key[m] = '\0';
	memcpy(key + m + 1, id, n);
	return m + 1 + n;
}

int orders_sku_walk(struct kcg_txn *t, const char *name, const char *sku,
		    int (*fn)(MDB_cursor *cur, const char *id, size_t n, const MDB_val *v, void *arg), void *arg)
{
	size_t m = strlen(sku);
	if (m == 0 || m > ORDER_ID_MAX)
		return 0;
	MDB_cursor *cur;
	MDB_val k = { m + 1, (void *)sku }, v; /* the prefix "<sku>\0": its NUL is the string's */
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, name), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size > m + 1 && memcmp(k.mv_data, sku, m + 1) == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		rc = fn(cur, (const char *)k.mv_data + m + 1, k.mv_size - m - 1, &v, arg);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int orders_held_keys(struct kcg_txn *t, const json_t *rec, bool put)
{
	if (!rec || orders_state_of(rec) != KCG_ORDER_HELD)
		return 0;
	const char *id = kcg_json_str(rec, "order_id");
	MDB_dbi dbi = kcg_store_db(t->store, DB_ORDERS_HELD);
	size_t i;
	const json_t *sku;
	int rc = 0;
	json_array_foreach(json_object_get(rec, "held_skus"), i, sku) {
		char key[2 * ORDER_ID_MAX + 2];
		MDB_val k = { orders_sku_key(key, json_string_value(sku) ? json_string_value(sku) : "", id), key },
			v = { 0, "" };
		if (!k.mv_size)
			continue;
		rc = put ? mdb_put(t->txn, dbi, &k, &v, 0) : mdb_del(t->txn, dbi, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc != 0)
			break;
	}
	return rc;
}

/* The record of @p order_id, or a new one in state "seen" (*created). */
json_t *orders_load(struct kcg_txn *t, const char *order_id, bool *created)
{
	json_t *rec = NULL;
	*created = false;
	if (orders_get_record(t, order_id, &rec) == 0 && json_is_object(rec))
		return rec;
	json_decref(rec);
	*created = true;
	rec = json_pack("{s:s, s:s}", "order_id", order_id, "state", kcg_order_state_name(KCG_ORDER_SEEN));
	if (rec)
		orders_set_time(rec, "first_seen", t->now_ms);
	return rec;
}

/* A record's state; a record with none (or an unknown one) counts as seen. */
enum kcg_order_state orders_state_of(const json_t *rec)
{
	int st = kcg_order_state_parse(kcg_json_str(rec, "state"));
	return st < 0 ? KCG_ORDER_SEEN : (enum kcg_order_state)st;
}

/* Writes the record and keeps orders_open in step (present iff the state
 * is not final), orders_held (orders_held_keys()) and orders_reserved
 * (orders_move_reserved()); an order no longer held for short stock has
 * its short_stock exception resolved. */
int orders_save(struct kcg_txn *t, json_t *rec)
{
	orders_set_time(rec, "updated_at", t->now_ms);
	const char *id = kcg_json_str(rec, "order_id");
	json_t *before = NULL;
	int rc = orders_get_record(t, id, &before);
	if (rc == KCG_ENOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = orders_move_reserved(t, before, rec);
	if (rc == 0 && before && orders_held_short(before) && !orders_held_short(rec))
		rc = kcg_exc_resolve(t, KCG_EXC_SHORT_STOCK, id, "auto");
	if (rc == 0)
		rc = orders_held_keys(t, before, false);
	if (rc == 0)
		rc = orders_held_keys(t, rec, true);
	json_decref(before);
	if (rc == KCG_ENOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = kcg_txn_put_json(t, DB_ORDERS, id, strlen(id), rec);
	if (rc != 0)
		return rc;
	MDB_val k = { strlen(id), (void *)id }, v = { 0, "" };
	MDB_dbi open = kcg_store_db(t->store, DB_ORDERS_OPEN), booked = kcg_store_db(t->store, DB_ORDERS_BOOKED);
	/* the booked index (the despatch watch walks it) in step with the state */
	rc = orders_state_of(rec) == KCG_ORDER_BOOKED ? mdb_put(t->txn, booked, &k, &v, 0) : mdb_del(t->txn, booked, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (kcg_order_state_final(orders_state_of(rec))) {
		rc = mdb_del(t->txn, open, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	return mdb_put(t->txn, open, &k, &v, 0);
}

void orders_set_state(json_t *rec, enum kcg_order_state state)
{
	json_object_set_new(rec, "state", json_string(kcg_order_state_name(state)));
}

/* Mirakl's last_updated_date of @p order in ms, 0 when unknown. */
uint64_t orders_updated_ms(const json_t *order)
{
	uint64_t ms;
	const char *s = json_string_value(json_object_get(order, "last_updated_date"));
	return s && kcg_mirakl_parse_time(s, &ms) == 0 ? ms : 0;
}

/* Copies what the flow needs from a Mirakl order into the record. */
void orders_take_snapshot(const struct kcg_config *cfg, json_t *rec, const json_t *order)
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
					  KCG_EXC_ORDER_REF_TOO_LONG, KCG_EXC_ORDER_UNBOOKABLE,
					  /* the despatch's: a cancelled (or closed) order has no deadline, nor a carrier to map */
					  KCG_EXC_SHIPPING_DEADLINE, KCG_EXC_UNMAPPED_CARRIER };

/* An order at its end: clear what it might have raised (a booking there is
 * no point retrying any more); the record goes after the retention horizon
 * (finished_ms is its mark). An order that reached its booking point and
 * CLOSED without a Khaos sales order keeps its missing_in_khaos open: that
 * is the report people need ("in Mirakl, never imported"); a cancelled or
 * refused one had nothing to ship. */
static int settle(struct kcg_txn *t, json_t *rec, enum kcg_order_state state)
{
	const char *id = kcg_json_str(rec, "order_id");
	orders_set_state(rec, state);
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
	bool held = state == KCG_ORDER_HELD, stock = orders_held_short(rec);
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
	const char *ms = kcg_json_str(rec, "mirakl_state"), *state = kcg_order_state_name(orders_state_of(rec));
	const char *job = stuck ? ", job " : "", *job_id = stuck ? kcg_json_str(stuck, "id") : "";
	kcg_format_time(kcg_json_u64(rec, "book_point_ms"), since, sizeof(since));
	if (strcmp(ms, "SHIPPING") != 0 && strcmp(ms, "WAITING_DEBIT") != 0 && strcmp(ms, "WAITING_DEBIT_PAYMENT") != 0)
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s is %s on Mirakl (paid since %s) but Khaos has no sales order for it: it was "
			 "shipped without Khaos (by hand, or while kcgate could not book it; kcgate state %s%s%s). kcgate "
			 "does not book it now (the warehouse would ship it again): enter it in Khaos as despatched, so "
			 "that stock and accounts agree, then resolve this.",
			 id, ms, since, state, job, job_id);
	else
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s is %s on Mirakl (paid and to be shipped) since %s, and after %" PRIu64 " minutes "
			 "Khaos still has no sales order for it (kcgate state %s%s%s). See its other exceptions "
			 "(address_missing, khaos_rejected, unknown_sku, dead_job) and GET /admin/orders/{id}; book it in "
			 "Khaos by hand only if kcgate cannot.",
			 id, ms, since, alert_min, state, job, job_id);
	/* at fault: Khaos when it refused the order, Mirakl when its order
	 * cannot be booked as it stands, else kcgate (not booked yet) */
	struct kcg_exc exc = {
		.kind = KCG_EXC_MISSING_IN_KHAOS, .severity = KCG_SEV_CRITICAL,
		.system = kcg_exc_is_open(t, KCG_EXC_KHAOS_REJECTED, id)     ? "khaos"
			  : kcg_exc_is_open(t, KCG_EXC_ORDER_UNBOOKABLE, id) ||
				    kcg_exc_is_open(t, KCG_EXC_PRICE_MISMATCH, id) ? "mirakl"
										 : "kcgate",
		.owner = "operations", .subject = id, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* Khaos has a sales order for an order Mirakl withdrew (all of it, or
 * the lines in @p lines): the warehouse must not ship it. */
int orders_raise_booked_cancelled(struct kcg_txn *t, const json_t *rec, const char *what, const json_t *lines)
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
	/* Khaos shipped it already: shipped_cancelled (recall the parcel) says
	 * what to do; "stop the despatch" would contradict it */
	if (kcg_exc_is_open(t, KCG_EXC_SHIPPED_CANCELLED, id))
		return 0;
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
		rc = orders_raise_booked_cancelled(t, rec, "cancelled, refused or refunded in part", lines);
		if (rc == 0)
			json_object_set(rec, "withdrawn_lines", lines);
	}
	json_decref(lines);
	return rc;
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
	bool stock = orders_held_short(rec), held = was == KCG_ORDER_HELD && !stock;
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

/* Whether kcgate has this order in its care: created after its cut-over
 * (the start of its first poll), or already taken to its booking point. */
static bool taken_over(struct kcg_txn *t, const json_t *rec)
{
	uint64_t cut = kcg_meta_get_u64(t, CUTOVER);
	return kcg_json_u64(rec, "book_point_ms") || (cut && kcg_json_u64(rec, "created_ms") >= cut);
}

/* The order reached its booking point: note when, by Mirakl's dates
 * (missing_in_khaos counts from there). */
static void mark_point(struct kcg_txn *t, json_t *rec, const json_t *order)
{
	if (!kcg_json_u64(rec, "book_point_ms"))
		json_object_set_new(rec, "book_point_ms", json_integer((json_int_t)kcg_order_point_ms(order, t->now_ms)));
}

void orders_mark_accepted(struct kcg_txn *t, json_t *rec)
{
	orders_set_state(rec, KCG_ORDER_ACCEPTED);
	if (!json_object_get(rec, "accepted_at"))
		orders_set_time(rec, "accepted_at", t->now_ms);
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
	json_t *rec = orders_load(t, id, &created);
	if (!rec)
		return -ENOMEM;
	const json_t *stored = json_object_get(rec, "order");
	const json_t *order = stored && orders_updated_ms(stored) > orders_updated_ms(given) ? stored : given;
	json_incref((json_t *)order);
	orders_take_snapshot(cfg, rec, order);
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
	if (strcmp(dead, "order.accept") == 0 && !orders_is(kcg_mirakl_order_state(order), "WAITING_ACCEPTANCE")) {
		json_object_del(rec, "stuck_job");
		dead = "";
	}
	unsigned stuck = (strcmp(dead, "order.accept") == 0 ? KCG_STUCK_ACCEPT : 0) |
			 (strcmp(dead, "order.book") == 0 ? KCG_STUCK_BOOK : 0);
	enum kcg_order_next next = kcg_order_next(was, stuck, cfg->orders.book_when, order);
	/* at its booking point, even with its booking dead: missing_in_khaos counts from here */
	if (next == KCG_NEXT_NOTHING && (stuck & KCG_STUCK_BOOK) && !kcg_order_state_booked(was) &&
	    kcg_order_at_point(cfg->orders.book_when, order))
		mark_point(t, rec, order);
	switch (next) {
	case KCG_NEXT_NOTHING:
		break;
	case KCG_NEXT_CHECK_SKUS:
		/* decide at WAITING_ACCEPTANCE: accept only what Khaos can fill */
		if (orders_skus_good(t, rec, order, &rc) && orders_stock_good(t, cfg, rec, order, &rc)) {
			orders_set_state(rec, KCG_ORDER_SEEN);
			rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.accept", id, NULL, 0, NULL);
		}
		break;
	case KCG_NEXT_ACCEPT:
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.accept", id, NULL, 0, NULL);
		break;
	case KCG_NEXT_ACCEPTED:
		orders_mark_accepted(t, rec);
		rc = kcg_exc_resolve(t, KCG_EXC_ACCEPTANCE_DEADLINE, id, "auto");
		break;
	case KCG_NEXT_BOOK:
		mark_point(t, rec, order);
		/* accepted by hand (or held on a SKU): the SKUs are checked now */
		if (was != KCG_ORDER_ACCEPTED && !orders_skus_good(t, rec, order, &rc))
			break;
		if (rc != 0)
			break;
		orders_mark_accepted(t, rec);
		rc = kcg_exc_resolve(t, KCG_EXC_ADDRESS_MISSING, id, "auto");
		if (rc == 0)
			rc = kcg_exc_resolve(t, KCG_EXC_ACCEPTANCE_DEADLINE, id, "auto");
		if (rc == 0) {
			char ref[ORDER_ID_MAX + 64];
			json_t *payload = json_pack("{s:s}", "ref", orders_booking_ref(cfg, rec, id, ref));
			rc = payload ? kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "order.book", id, payload, 0, NULL) : -ENOMEM;
			json_decref(payload);
		}
		break;
	case KCG_NEXT_ADDRESS_MISSING:
		mark_point(t, rec, order);
		if (was == KCG_ORDER_SEEN)
			orders_mark_accepted(t, rec);
		if (!kcg_exc_is_open(t, KCG_EXC_ADDRESS_MISSING, id))
			rc = raise_address_missing(t, rec, order);
		break;
	case KCG_NEXT_SHIPPED:
		orders_set_state(rec, KCG_ORDER_SHIPPED);
		orders_set_time(rec, "shipped_at", t->now_ms);
		break;
	case KCG_NEXT_SHIPPED_UNBOOKED:
		/* never booked now; one kcgate has taken over is reported at once
		 * (nothing will fix it by itself), one from before kcgate is not */
		if (!taken_over(t, rec))
			break;
		mark_point(t, rec, order);
		if (!kcg_exc_is_open(t, KCG_EXC_MISSING_IN_KHAOS, id))
			rc = orders_raise_missing(t, rec, cfg->orders.book_alert_min);
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
			rc = orders_raise_booked_cancelled(t, rec, end == KCG_ORDER_CANCELLED ? "cancelled" : "refused", NULL);
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
		rc = orders_save(t, rec);
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
	int rc = orders_save(t, rec);
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

/* A job of this order died: remember it, so no poll re-creates it. A
 * booking Khaos refused says why, to a person; a booking that dies past
 * [orders] book_alert_min (an order paid long before kcgate saw it)
 * raises missing_in_khaos now rather than at the next watch. */
static int order_stuck(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	bool created;
	json_t *rec = orders_load(t, run->subject, &created);
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
	if (rc == 0 && strcmp(run->kind->name, "order.book") == 0 &&
	    kcg_order_missing_in_khaos(orders_state_of(rec), kcg_json_u64(rec, "book_point_ms"),
				       cfg->orders.book_alert_min * 60000u, t->now_ms) &&
	    !kcg_exc_is_open(t, KCG_EXC_MISSING_IN_KHAOS, run->subject))
		rc = orders_raise_missing(t, rec, cfg->orders.book_alert_min);
	if (rc == 0)
		rc = orders_save(t, rec);
	json_decref(rec);
	return rc;
}

/* Orders held on @p sku get another order.sync (they re-read Mirakl). */
struct held_on {
	const char *sku;
	json_t *ids;
};

static int held_on_fn(json_t *rec, void *arg)
{
	struct held_on *h = arg;
	if (orders_state_of(rec) != KCG_ORDER_HELD || !orders_listed(json_object_get(rec, "held_skus"), h->sku))
		return 0;
	return json_array_append_new(h->ids, json_string(kcg_json_str(rec, "order_id"))) ? -ENOMEM : 0;
}

/* The ids of the orders held on @p sku, from orders_held: a range of keys
 * "<sku>\0...", however many other orders are open. */
static int held_on_key(MDB_cursor *cur, const char *id, size_t n, const MDB_val *v, void *arg)
{
	(void)cur;
	(void)v;
	return json_array_append_new(arg, json_stringn(id, n)) ? -ENOMEM : 0;
}

/* on_sku_active: the SKU cache learnt that @p sku is an active stock code.
 * Inside the refresh's write transaction: the index, not a walk of every
 * open order (a store from before it walks until the watch has built it). */
static int release_held(struct kcg_txn *t, const char *sku, struct kcg_flow_ctx *ctx)
{
	struct held_on h = { sku, json_array() };
	if (!h.ids)
		return -ENOMEM;
	int rc = kcg_meta_get_u64(t, HELD_INDEX_BUILT) ? orders_sku_walk(t, DB_ORDERS_HELD, sku, held_on_key, h.ids) : orders_open_each(t, held_on_fn, &h);
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

static const struct kcg_config_choice tax_mode_choices[] = {
	{ "platform", KCG_TAX_PLATFORM },
	{ "TAX_INCLUDED", KCG_TAX_INCLUDED },
	{ "TAX_EXCLUDED", KCG_TAX_EXCLUDED },
	{ NULL, 0 },
};

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
	/* the prices OR11 answers in (what the customer pays is booked either way) */
	KCG_KEY_ENUM("mirakl", "order_tax_mode", mirakl.order_tax_mode, "platform", tax_mode_choices),
	/* the first poll of a new store: the orders still in play, not the shop's history */
	KCG_KEY_U64("mirakl", "first_poll_lookback_h", mirakl.first_poll_lookback_h, "168", 1, 8760),
	KCG_KEY_U64("mirakl", "acceptance_window_h", mirakl.acceptance_window_h, "72", 1, 720),
	KCG_KEY_U64("mirakl", "acceptance_alert_h", mirakl.acceptance_alert_h, "12", 1, 720),
	/* the order's life: when it is booked, when its absence in Khaos is news */
	KCG_KEY_ENUM("orders", "book_when", orders.book_when, "shipping", book_when_choices),
	KCG_KEY_U64("orders", "book_alert_min", orders.book_alert_min, "30", 1, 10080),
	/* Khaos refuses an order's content with a Server fault too: one that
	 * keeps coming (3 times, over this long) is a refusal, not a hiccup */
	KCG_KEY_U64("orders", "import_refused_after_s", orders.import_refused_after_s, "300", 0, 86400),
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
static const struct kcg_job_kind kind_book = { "order.book", KCG_LANE_KHAOS, orders_book_step, order_stuck };
static const struct kcg_job_kind kind_accept = { "order.accept", KCG_LANE_MIRAKL, orders_accept_step, order_stuck };
static const struct kcg_job_kind kind_poll = { "mirakl.poll", KCG_LANE_MIRAKL, orders_mirakl_poll, NULL };

const struct kcg_flow kcg_flow_orders = {
	.name = "orders",
	.enabled = orders_enabled,
	.dbs = (const char *const[]){ DB_ORDERS, DB_ORDERS_OPEN, DB_ORDERS_RESERVED, DB_ORDERS_HELD, DB_ORDERS_UNSEEN,
				      DB_ORDERS_BOOKED, NULL },
	.config = &orders_config,
	.kinds = (const struct kcg_job_kind *const[]){ &kind_sync, &kind_book, &kind_accept, &kind_poll, NULL },
	.timers = orders_timers,
	.on_event = orders_on_event,
	.on_sku_active = release_held,
	.on_reload = orders_reload,
	.health = orders_health,
	.retention = &orders_retention,
	.routes = kcg_orders_routes,
	.n_routes = KCG_ORDERS_ROUTES,
};
