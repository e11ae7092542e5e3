/*
 * orders_watch.c: the order flow's watchers and reads: the OR11 poll
 * (mirakl.poll), the acceptance deadline watch, the timers that start
 * them, the admin reads of order records and their retention.
 */
#include "orders_private.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/log.h"
#include "kcgate/peers/mirakl.h"

/*
 * mirakl.poll: OR11 for every order state, by update date, one page per
 * run. A poll (a walk) asks for orders updated between the watermark minus
 * mirakl.poll_overlap_s and its own start, fixed for the whole walk
 * (end_update_date), so the set it pages through cannot grow under it.
 * Each run's apply commits its page (an order.sync per order, carrying the
 * order) with the walk's cursor (where the next page starts) and, while
 * pages remain and the walk has read fewer than mirakl.poll_max_pages, a
 * new mirakl.poll due now: so a page is on disk before the next is asked
 * for, and memory holds one page at a time whatever total_count a peer
 * claims. A walk cut at the bound leaves its cursor; the next poll (the
 * timer's) goes on from there. If total_count changes under the walk
 * (an order in the window changed again and left it: offsets shifted, a
 * page may have been skipped) the walk starts again at offset 0, same
 * window. The watermark moves to the walk's start only when its last page
 * is committed.
 */
struct poll_state {
	uint64_t mark, from, started, offset, total;
};

static int poll_state_fn(struct kcg_txn *t, void *arg)
{
	struct poll_state *p = arg;
	p->mark = kcg_meta_get_u64(t, WATERMARK_POLL);
	p->started = kcg_meta_get_u64(t, CURSOR_STARTED);
	p->from = kcg_meta_get_u64(t, CURSOR_FROM);
	p->offset = kcg_meta_get_u64(t, CURSOR_OFFSET);
	p->total = kcg_meta_get_u64(t, CURSOR_TOTAL);
	return 0;
}

static int put_cursor(struct kcg_txn *t, uint64_t started, uint64_t from, uint64_t offset, uint64_t total)
{
	int rc = kcg_meta_put_u64(t, CURSOR_STARTED, started);
	if (rc == 0)
		rc = kcg_meta_put_u64(t, CURSOR_FROM, from);
	if (rc == 0)
		rc = kcg_meta_put_u64(t, CURSOR_OFFSET, offset);
	if (rc == 0)
		rc = kcg_meta_put_u64(t, CURSOR_TOTAL, total);
	return rc;
}

static int poll_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const json_t *res = run->result;
	json_t *orders = json_object_get(res, "orders");
	size_t i;
	json_t *o;
	uint64_t started = kcg_json_u64(res, "started_ms");
	/* kcgate's cut-over: the start of its first poll (orders_taken_over()) */
	int rc = kcg_meta_get_u64(t, CUTOVER) ? 0 : kcg_meta_put_u64(t, CUTOVER, started);
	json_array_foreach(orders, i, o) {
		const char *id = kcg_mirakl_order_id(o);
		if (rc != 0)
			break;
		if (!id || strlen(id) > ORDER_ID_MAX)
			continue;
		json_t *payload = json_pack("{s:O}", "order", o);
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.sync", id, payload, 0, NULL);
		json_decref(payload);
		/* A sync already pending may carry an older snapshot (or have read
		 * before this change): decide on this one now; the record keeps
		 * the newer of the two, so the pending one cannot undo it. */
		if (rc == KCG_EDUPLICATE)
			rc = orders_decide(t, ((struct kcg_flow_ctx *)run->ctx)->cfg, o);
	}
	if (rc != 0)
		return rc;
	uint64_t first_total = kcg_json_u64(res, "first_total");
	if (json_is_true(json_object_get(res, "last"))) {
		/* every page committed: the poll is over */
		rc = put_cursor(t, 0, 0, 0, 0);
		if (rc == 0 && kcg_json_u64(res, "total") >= first_total)
			rc = kcg_meta_put_u64(t, WATERMARK_POLL, started);
		return rc;
	}
	rc = put_cursor(t, started, kcg_json_u64(res, "from"), kcg_json_u64(res, "next_offset"), first_total);
	if (rc == 0 && json_is_true(json_object_get(res, "more"))) {
		json_t *payload = json_pack("{s:I}", "pages", (json_int_t)kcg_json_u64(res, "pages"));
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "mirakl.poll", "or11", payload, 0, NULL);
		json_decref(payload);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	return rc;
}

enum kcg_step orders_mirakl_poll(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	const struct kcg_mirakl_config *mc = &flow->cfg->mirakl;
	char why[KCG_ERROR_MAX];

	if (run->phase == PH_START) {
		struct poll_state p = { 0 };
		if (kcg_store_read(flow->store, poll_state_fn, &p) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the OR11 watermark");
		if (!p.started) {
			/* a new poll */
			uint64_t overlap = mc->poll_overlap_s * 1000u;
			/* whole seconds: OR11's dates have no fraction, so the same
			 * instant ends this walk and (as the watermark) starts the next */
			p.started = kcg_now_ms() / 1000u * 1000u;
			/* the first poll of a store: the orders still in play (waiting,
			 * paid, to be shipped), not the shop's whole history */
			uint64_t back = mc->first_poll_lookback_h * 3600000u;
			p.from = p.mark ? (p.mark > overlap ? p.mark - overlap : 0) : (p.started > back ? p.started - back : 0);
			p.offset = 0;
			p.total = 0;
		}
		run->result = json_pack("{s:I, s:I, s:I, s:I, s:I}", "started_ms", (json_int_t)p.started, "from",
					(json_int_t)p.from, "offset", (json_int_t)p.offset, "first_total", (json_int_t)p.total,
					"pages", (json_int_t)kcg_json_u64(run->payload, "pages"));
		if (!run->result)
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		run->phase = PH_READ;
		struct kcg_or11_query q = {
			.start_update_ms = p.from,
			.end_update_ms = p.started,
			.offset = p.offset > UINT32_MAX ? UINT32_MAX : (unsigned)p.offset,
			.max = KCG_MIRAKL_PAGE_MAX,
		};
		return kcg_job_call(run, kcg_mirakl_or11(mc, &q, &run->call));
	}

	json_t *orders;
	uint64_t total;
	int rc = kcg_mirakl_or11_parse(&run->reply, &orders, &total, why);
	if (rc != 0)
		return kcg_job_failed(run, rc, why);
	json_t *res = run->result;
	size_t got = json_array_size(orders);
	uint64_t offset = kcg_json_u64(res, "offset"), pages = kcg_json_u64(res, "pages") + 1;
	uint64_t next = offset + got, first = kcg_json_u64(res, "first_total");
	bool last = got == 0 || next >= total || next >= UINT32_MAX;
	json_t *tot = json_integer((json_int_t)(total > INT64_MAX ? INT64_MAX : total));
	json_object_set_new(res, "orders", orders);
	json_object_set(res, "total", tot);
	if (offset > 0 && first && total < first) {
		/* k orders left the fixed window under the walk (changed after its
		 * end: the next walk sees them): what followed shifted back at
		 * most k places, so read those k again rather than start over
		 * (a window that keeps shrinking would otherwise never end) */
		uint64_t k = first - total;
		next = offset > k ? offset - k : 0;
		last = false;
		json_object_set(res, "first_total", tot);
	} else if (offset > 0 && first && total > first) {
		/* grew (a fixed end_update_date should not let it): start again */
		next = 0;
		last = false;
		json_object_set(res, "first_total", tot);
	} else if (offset == 0 || !first) {
		json_object_set(res, "first_total", tot);
	}
	json_decref(tot);
	json_object_set_new(res, "next_offset", json_integer((json_int_t)next));
	json_object_set_new(res, "pages", json_integer((json_int_t)pages));
	json_object_set_new(res, "last", json_boolean(last));
	json_object_set_new(res, "more", json_boolean(!last && pages < mc->poll_max_pages));
	if (!last && pages >= mc->poll_max_pages)
		kcg_log(KCG_LOG_WARN, "OR11 poll stopped at mirakl.poll_max_pages; the rest is left for the next poll",
			json_pack("{s:I, s:I, s:I, s:I}", "pages", (json_int_t)pages, "next_offset", (json_int_t)next,
				  "total_count", (json_int_t)(total > INT64_MAX ? INT64_MAX : total), "poll_max_pages",
				  (json_int_t)mc->poll_max_pages));
	run->apply = poll_apply;
	return KCG_STEP_DONE;
}

/* ---- timers (engine thread) ---- */

static void poll_timer(struct kcg_engine *engine, void *ctx)
{
	kcg_flow_enqueue_now(ctx, KCG_LANE_MIRAKL, "mirakl.poll", "or11");
}

/*
 * The watch, every minute (and at start), over the open orders only (the
 * orders_open index): orders still not accepted close to Mirakl's
 * deadline (acceptance_deadline), orders at their booking point for
 * [orders] book_alert_min with no Khaos sales order (missing_in_khaos).
 * Found in a read transaction, raised in one write.
 */
struct watch {
	const struct kcg_config *cfg;
	json_t *late, *missing;
	struct kcg_txn *txn;
	uint64_t now;
};

static int watch_fn(json_t *rec, void *arg)
{
	struct watch *w = arg;
	const char *id = kcg_json_str(rec, "order_id");
	if (orders_is_late(w->cfg, rec, w->now) && !kcg_exc_is_open(w->txn, KCG_EXC_ACCEPTANCE_DEADLINE, id) &&
	    json_array_append(w->late, rec))
		return -ENOMEM;
	if (kcg_order_missing_in_khaos(orders_state_of(rec), kcg_json_u64(rec, "book_point_ms"),
				       w->cfg->orders.book_alert_min * 60000u, w->now) &&
	    !kcg_exc_is_open(w->txn, KCG_EXC_MISSING_IN_KHAOS, id) && json_array_append(w->missing, rec))
		return -ENOMEM;
	return 0;
}

static int watch_find(struct kcg_txn *t, void *arg)
{
	struct watch *w = arg;
	w->txn = t;
	w->now = t->now_ms;
	return orders_open_each(t, watch_fn, w);
}

static int watch_raise(struct kcg_txn *t, void *arg)
{
	struct watch *w = arg;
	size_t i;
	json_t *rec;
	int rc = 0;
	json_array_foreach(w->late, i, rec) {
		if (rc == 0)
			rc = orders_raise_deadline(t, rec);
	}
	json_array_foreach(w->missing, i, rec) {
		if (rc == 0)
			rc = orders_raise_missing(t, rec, w->cfg->orders.book_alert_min);
	}
	return rc;
}

/*
 * Records written before the orders_open (or orders_held) index existed
 * are not in it: the first watch of a store builds it once from every
 * record (at most ORDERS_SCAN_MAX), in one transaction, and notes so in
 * meta.
 */
#define OPEN_INDEX_BUILT "orders.open_index.v1"

struct index_build {
	struct kcg_txn *t;
	bool open, held; /* still to be built */
};

/* One record into the indexes still to be built (held records are open). */
static int index_one(json_t *rec, void *arg)
{
	struct index_build *b = arg;
	const char *id = kcg_json_str(rec, "order_id");
	int rc = 0;
	if (b->open && *id && strlen(id) <= ORDER_ID_MAX && !kcg_order_state_final(orders_state_of(rec))) {
		MDB_val k = { strlen(id), (void *)id }, v = { 0, "" };
		rc = mdb_put(b->t->txn, kcg_store_db(b->t->store, DB_ORDERS_OPEN), &k, &v, 0);
	}
	if (rc == 0 && b->held)
		rc = orders_held_keys(b->t, rec, true);
	return rc;
}

static int indexes_built(struct kcg_txn *t, void *arg)
{
	*(bool *)arg = kcg_meta_get_u64(t, OPEN_INDEX_BUILT) && kcg_meta_get_u64(t, HELD_INDEX_BUILT);
	return 0;
}

/* One walk: of every record while orders_open is to be built, else of
 * the open ones (orders_held alone). */
static int index_build(struct kcg_txn *t, void *arg)
{
	struct index_build b = { t, !kcg_meta_get_u64(t, OPEN_INDEX_BUILT), !kcg_meta_get_u64(t, HELD_INDEX_BUILT) };
	(void)arg;
	int rc = b.open ? orders_each(t, index_one, &b) : b.held ? orders_open_each(t, index_one, &b) : 0;
	if (rc == 0 && b.open)
		rc = kcg_meta_put_u64(t, OPEN_INDEX_BUILT, 1);
	if (rc == 0 && b.held)
		rc = kcg_meta_put_u64(t, HELD_INDEX_BUILT, 1);
	return rc;
}

static void watch_timer(struct kcg_engine *engine, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	/* the indexes: a write only while one is still to be built */
	bool have = false;
	int built = kcg_store_read(flow->store, indexes_built, &have);
	if (built == 0 && !have)
		built = kcg_store_write_sync(flow->store, index_build, NULL);
	if (built != 0)
		kcg_log_str(KCG_LOG_WARN, "cannot build the open-orders index", kcg_strerror(built));
	struct watch w = { flow->cfg, json_array(), json_array(), NULL, 0 };
	int rc = w.late && w.missing ? kcg_store_read(flow->store, watch_find, &w) : -ENOMEM;
	if (rc == 0 && json_array_size(w.late) + json_array_size(w.missing) > 0)
		rc = kcg_store_write_sync(flow->store, watch_raise, &w);
	if (rc != 0)
		kcg_log_str(KCG_LOG_WARN, "order watch (acceptance deadline, missing in Khaos) failed", kcg_strerror(rc));
	json_decref(w.late);
	json_decref(w.missing);
}

size_t orders_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap)
{
	if (cap < 2)
		return 2;
	out[0] = (struct kcg_engine_timer){ "mirakl.poll", cfg->mirakl.poll_interval_s * 1000u, poll_timer };
	out[1] = (struct kcg_engine_timer){ "orders.watch", 60000u, watch_timer };
	return 2;
}

/* ---- admin ---- */

struct get_req {
	const char *id;
	json_t *out;
};

static int get_fn(struct kcg_txn *t, void *arg)
{
	struct get_req *g = arg;
	return orders_get_record(t, g->id, &g->out);
}

int kcg_orders_get(struct kcg_store *store, const char *order_id, json_t **out)
{
	struct get_req g = { order_id, NULL };
	int rc = kcg_store_read(store, get_fn, &g);
	if (rc == 0)
		*out = g.out;
	return rc;
}

struct list_req {
	const char *state;
	size_t limit;
	json_t *out;
};

static int list_one(json_t *rec, void *arg)
{
	struct list_req *l = arg;
	if (json_array_size(l->out) >= l->limit)
		return 1;
	if (l->state && strcmp(kcg_json_str(rec, "state"), l->state) != 0)
		return 0;
	json_object_del(rec, "order"); /* the list stays small: GET one for the snapshot */
	return json_array_append(l->out, rec) ? -ENOMEM : 0;
}

static int list_fn(struct kcg_txn *t, void *arg)
{
	return orders_each(t, list_one, arg);
}

int kcg_orders_list(struct kcg_store *store, const char *state, size_t limit, json_t **out)
{
	struct list_req l = { state, limit, json_array() };
	int rc = kcg_store_read(store, list_fn, &l);
	if (rc != 0) {
		json_decref(l.out);
		return rc;
	}
	*out = l.out;
	return 0;
}

/* ---- for the despatch flow ---- */

int kcg_orders_record(struct kcg_txn *t, const char *order_id, json_t **out)
{
	return orders_get_record(t, order_id, out);
}

int kcg_orders_open_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg)
{
	return orders_open_each(t, fn, arg);
}

/* A store from before the booked index: the booked records put in it once. */
static int booked_build_one(json_t *rec, void *arg)
{
	struct kcg_txn *t = arg;
	const char *id = kcg_json_str(rec, "order_id");
	if (orders_state_of(rec) != KCG_ORDER_BOOKED || !*id)
		return 0;
	MDB_val k = { strlen(id), (void *)id }, v = { 0, "" };
	return mdb_put(t->txn, kcg_store_db(t->store, DB_ORDERS_BOOKED), &k, &v, 0);
}

int kcg_orders_booked_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg)
{
	if (!kcg_meta_get_u64(t, ORDERS_BOOKED_BUILT)) {
		int rc = orders_open_each(t, booked_build_one, t);
		if (rc == 0)
			rc = kcg_meta_put_u64(t, ORDERS_BOOKED_BUILT, 1);
		if (rc != 0)
			return rc;
	}
	return orders_index_each(t, DB_ORDERS_BOOKED, fn, arg);
}

int kcg_orders_mark_shipped(struct kcg_txn *t, const char *order_id, const json_t *tracking)
{
	json_t *rec;
	int rc = orders_get_record(t, order_id, &rec);
	if (rc != 0)
		return rc == KCG_ENOTFOUND ? 0 : rc;
	enum kcg_order_state st = orders_state_of(rec);
	if (st == KCG_ORDER_BOOKED) {
		orders_set_state(rec, KCG_ORDER_SHIPPED);
		orders_set_time(rec, "shipped_at", t->now_ms);
	}
	json_object_set(rec, "tracking", (json_t *)tracking);
	rc = orders_save(t, rec);
	json_decref(rec);
	return rc;
}

/* ---- retention ---- */

/* A record still at the end it reached at @p finished_ms goes. */
static int expire(struct kcg_txn *t, const void *key, size_t key_len, uint64_t finished_ms)
{
	char id[ORDER_ID_MAX + 1];
	json_t *rec;
	if (key_len > ORDER_ID_MAX)
		return KCG_ENOTFOUND;
	memcpy(id, key, key_len);
	id[key_len] = '\0';
	int rc = orders_get_record(t, id, &rec);
	if (rc != 0)
		return rc == KCG_ESTORE ? KCG_ENOTFOUND : rc;
	enum kcg_order_state st = orders_state_of(rec);
	bool same = kcg_order_state_final(st) && kcg_json_u64(rec, "finished_ms") == finished_ms;
	json_decref(rec);
	if (!same)
		return KCG_ENOTFOUND;
	MDB_val k = { key_len, id };
	return mdb_del(t->txn, kcg_store_db(t->store, DB_ORDERS), &k, NULL);
}

const struct kcg_retention_owner orders_retention = { DB_ORDERS, expire };

/* The digest's figures of the order flow: the last complete OR11 poll. */
int orders_health(struct kcg_txn *t, struct kcg_flow_ctx *ctx, json_t *figures)
{
	return kcg_flow_health_time(figures, "Mirakl orders (OR11 poll): last complete poll began",
				    kcg_meta_get_u64(t, WATERMARK_POLL), t->now_ms);
}
