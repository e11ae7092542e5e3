/*
 * orders_watch.c: the order flow's watchers and reads: the OR11 poll
 * (mirakl.poll), the acceptance deadline watch, the timers that start
 * them, the admin reads of order records and their retention.
 */
#include "orders_private.h"

#include <errno.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/log.h"
#include "kcgate/peers/mirakl.h"

/* mirakl.poll: OR11 every page of orders waiting for acceptance. */
static int watermark_fn(struct kcg_txn *t, void *arg)
{
	*(uint64_t *)arg = kcg_meta_get_u64(t, WATERMARK_POLL);
	return 0;
}

static int poll_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	json_t *orders = json_object_get(run->result, "orders");
	size_t i;
	json_t *o;
	int rc = 0;
	json_array_foreach(orders, i, o) {
		const char *id = kcg_mirakl_order_id(o);
		if (!id || strlen(id) > ORDER_ID_MAX)
			continue;
		json_t *payload = json_pack("{s:O}", "order", o);
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.sync", id, payload, 0, NULL);
		json_decref(payload);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
		if (rc != 0)
			return rc;
	}
	return kcg_meta_put_u64(t, WATERMARK_POLL, kcg_json_u64(run->result, "started_ms"));
}

enum kcg_step orders_mirakl_poll(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];

	if (run->phase == PH_START) {
		uint64_t mark = 0;
		if (kcg_store_read(flow->store, watermark_fn, &mark) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the OR11 watermark");
		uint64_t overlap = flow->cfg->mirakl.poll_overlap_s * 1000u;
		run->result = json_pack("{s:[], s:I, s:I}", "orders", "started_ms", (json_int_t)kcg_now_ms(), "from",
					(json_int_t)(mark > overlap ? mark - overlap : 0));
		run->phase = PH_READ;
	} else {
		json_t *orders;
		uint64_t total;
		int rc = kcg_mirakl_or11_parse(&run->reply, &orders, &total, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		json_array_extend(json_object_get(run->result, "orders"), orders);
		size_t got = json_array_size(orders);
		json_decref(orders);
		size_t have = json_array_size(json_object_get(run->result, "orders"));
		if (got == 0 || have >= total) {
			run->apply = poll_apply;
			return KCG_STEP_DONE;
		}
	}
	struct kcg_or11_query q = {
		.state_codes = "WAITING_ACCEPTANCE",
		.start_update_ms = kcg_json_u64(run->result, "from"),
		.offset = (unsigned)json_array_size(json_object_get(run->result, "orders")),
		.max = KCG_MIRAKL_PAGE_MAX,
	};
	return kcg_job_call(run, kcg_mirakl_or11(&flow->cfg->mirakl, &q, &run->call));
}

/* ---- timers (engine thread) ---- */

static void poll_timer(struct kcg_engine *engine, void *ctx)
{
	kcg_flow_enqueue_now(ctx, KCG_LANE_MIRAKL, "mirakl.poll", "or11");
}

/* Orders still not accepted close to Mirakl's deadline. */
struct late {
	const struct kcg_config *cfg;
	json_t *recs;
	struct kcg_txn *txn;
	uint64_t now;
};

static int late_fn(json_t *rec, void *arg)
{
	struct late *l = arg;
	if (orders_is_late(l->cfg, rec, l->now) && !kcg_exc_is_open(l->txn, KCG_EXC_ACCEPTANCE_DEADLINE, kcg_json_str(rec, "order_id")))
		return json_array_append(l->recs, rec) ? -ENOMEM : 0;
	return 0;
}

static int find_late(struct kcg_txn *t, void *arg)
{
	struct late *l = arg;
	l->txn = t;
	l->now = t->now_ms;
	return orders_each(t, late_fn, l);
}

static int raise_late(struct kcg_txn *t, void *arg)
{
	struct late *l = arg;
	size_t i;
	json_t *rec;
	json_array_foreach(l->recs, i, rec) {
		int rc = orders_raise_deadline(t, rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void deadline_timer(struct kcg_engine *engine, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	struct late l = { flow->cfg, json_array(), NULL, 0 };
	int rc = kcg_store_read(flow->store, find_late, &l);
	if (rc == 0 && json_array_size(l.recs) > 0)
		rc = kcg_store_write_sync(flow->store, raise_late, &l);
	if (rc != 0)
		kcg_log_str(KCG_LOG_WARN, "acceptance deadline check failed", kcg_strerror(rc));
	json_decref(l.recs);
}

size_t orders_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out)
{
	out[0] = (struct kcg_engine_timer){ "mirakl.poll", cfg->mirakl.poll_interval_s * 1000u, poll_timer };
	out[1] = (struct kcg_engine_timer){ "acceptance.deadline", 60000u, deadline_timer };
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
	bool same = (st == KCG_ORDER_ACCEPTED || st == KCG_ORDER_CANCELLED) && kcg_json_u64(rec, "finished_ms") == finished_ms;
	json_decref(rec);
	if (!same)
		return KCG_ENOTFOUND;
	MDB_val k = { key_len, id };
	return mdb_del(t->txn, kcg_store_db(t->store, DB_ORDERS), &k, NULL);
}

const struct kcg_retention_owner orders_retention = { DB_ORDERS, expire };
