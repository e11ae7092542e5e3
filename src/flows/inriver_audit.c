/*
 * inriver_audit.c: the mapping audit and the polling fallback.
 *
 * inriver.audit (lane inriver, subject "all"; daily, and POST
 * /admin/audit/skus): every active Khaos code through mapuniquevalues in
 * batches of KCG_INRIVER_MAP_BATCH, then every item of the entity type
 * (one query). A code mapped to no item is unlinked_sku, to several
 * duplicate_sku; an item no active code mapped to has its SKU read (at
 * most READ_MAX per audit) and, when that SKU is no Khaos code,
 * identifier_drift. Mirakl's side is the stock flow's OF21 check
 * (ghost_sku), which the audit starts. The links found are kept; a
 * summary goes to inriver_audit "last". The first audit (after the SKU
 * cache's first read) is the initial sync: codes it links that have
 * nothing written get a push; missing items are created by a push when
 * [inriver] create_missing_items.
 *
 * inriver.poll (lane inriver, subject "all"; [inriver] listen = false):
 * the items modified since the watermark (less IR_POLL_SKEW_MS) become
 * inriver.entity jobs, exactly as listener events would.
 */
#include "inriver_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/skus.h"
#include "kcgate/flows/stock.h"
#include "kcgate/json.h"
#include "kcgate/peers/inriver.h"

#define READ_MAX 500 /* unmapped items whose SKU one audit reads */
#define AUDIT_KEY "last"
#define AUDIT_PER_TXN 5000 /* codes per write transaction of the audit's outcome */

enum { A_START, A_MAP, A_ALL, A_READ };

static int add_code(const char *code, void *arg)
{
	return json_array_append_new(arg, json_string(code)) == 0 ? 0 : -ENOMEM;
}

static int codes_fn(struct kcg_txn *t, void *arg)
{
	return kcg_skus_each_active(t, add_code, arg);
}

/* The map call for the batch at "cursor" of "codes". */
static enum kcg_step map_batch(struct kcg_job_run *run, const struct kcg_inriver_config *ir)
{
	json_t *codes = json_object_get(run->result, "codes");
	size_t from = (size_t)kcg_json_u64(run->result, "cursor"), n = json_array_size(codes) - from;
	const char *batch[KCG_INRIVER_MAP_BATCH];
	if (n > KCG_INRIVER_MAP_BATCH)
		n = KCG_INRIVER_MAP_BATCH;
	for (size_t i = 0; i < n; i++)
		batch[i] = json_string_value(json_array_get(codes, from + i));
	json_object_set_new(run->result, "cursor", json_integer((json_int_t)(from + n)));
	run->phase = A_MAP;
	return kcg_job_call(run, kcg_inriver_map(ir, batch, n, &run->call));
}

static int audit_part(struct kcg_txn *t, struct kcg_job_run *run);

static enum kcg_step read_next(struct kcg_job_run *run, const struct kcg_inriver_config *ir)
{
	json_t *todo = json_object_get(run->result, "unmapped");
	size_t at = (size_t)kcg_json_u64(run->result, "read_at");
	if (at >= json_array_size(todo)) {
		run->apply_part = audit_part; /* a whole audit's effects, in parts (a retry writes nothing) */
		return KCG_STEP_DONE;
	}
	json_object_set_new(run->result, "read_at", json_integer((json_int_t)(at + 1)));
	const char *f[1] = { ir->sku_field };
	run->phase = A_READ;
	return kcg_job_call(run, kcg_inriver_fields_get(ir, (uint64_t)json_integer_value(json_array_get(todo, at)), f,
							 1, &run->call));
}

/* The ids of "all" no mapped code holds, at most READ_MAX. */
static void find_unmapped(json_t *r, json_t *all)
{
	json_t *seen = json_object(), *todo = json_array(), *ids, *el;
	const char *code;
	size_t i, cut = 0;
	char key[24];
	json_object_foreach(json_object_get(r, "map"), code, ids) {
		json_array_foreach(ids, i, el) {
			snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(el));
			json_object_set_new(seen, key, json_true());
		}
	}
	json_array_foreach(all, i, el) {
		snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(el));
		if (json_object_get(seen, key))
			continue;
		if (json_array_size(todo) < READ_MAX)
			json_array_append(todo, el);
		else
			cut++;
	}
	json_object_set_new(r, "unmapped", todo);
	json_object_set_new(r, "unread", json_integer((json_int_t)cut));
	json_object_set_new(r, "items", json_integer((json_int_t)json_array_size(all)));
	json_decref(seen);
}

/* ---- the outcome ---- */

static int audit_code(struct kcg_txn *t, const struct kcg_config *cfg, const char *code, const json_t *ids)
{
	json_t *rec = ir_rec_get(t, code);
	int rc = 0;
	if (!rec)
		return -ENOMEM;
	if (json_array_size(ids) == 0) {
		uint64_t was = kcg_json_u64(rec, "entity_id");
		if (json_object_get(rec, "deleted_ms")) {
			; /* deleted in inriver: archive_in_khaos says what to do */
		} else if (was) {
			/* the linked item holds the code no more: deleted (a delete
			 * never heard of: the poll, a lost event) or its SKU changed.
			 * Its entity job finds out which (a 404 is its delete; a SKU
			 * moved leaves the code unlinked: unlinked_sku, or created) */
			char subject[24];
			snprintf(subject, sizeof(subject), "%" PRIu64, was);
			rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER, KIND_ENTITY, subject, NULL, 0, NULL);
			rc = rc == KCG_EDUPLICATE ? 0 : rc;
		} else if (cfg->inriver.create_missing_items == 1) {
			rc = ir_push_later(t, cfg, code, rec); /* the push creates the item */
		} else {
			rc = ir_unlinked_effect(t, cfg, code);
		}
		if (rc == 0 && cfg->stock.require_inriver_link == 1)
			rc = kcg_stock_recheck_sku(t, cfg, code); /* held until now: 0 */
		json_decref(rec);
		return rc;
	}
	rc = ir_dup_effect(t, cfg, code, ids);
	if (rc == 0)
		rc = ir_holders(t, cfg, code, rec, ids);
	uint64_t was = kcg_json_u64(rec, "entity_id");
	/* one of several holders has the link: it keeps it */
	uint64_t id = ir_holds(ids, was) ? was : (uint64_t)json_integer_value(json_array_get(ids, 0));
	if (rc == 0 && was != id)
		rc = ir_link(t, cfg, code, id, rec);
	else if (rc == 0)
		rc = ir_resolve(t, KCG_EXC_UNLINKED_SKU, code);
	if (rc == 0 && json_object_size(json_object_get(rec, "written")) == 0)
		rc = ir_push_later(t, cfg, code, rec); /* linked, nothing of Khaos's written yet */
	json_decref(rec);
	return rc;
}

/* The codes of one part, then (the last part) the items read, the
 * summary and Mirakl's check. Each part is its own write transaction
 * (the engine's apply_part: a 100,000-code catalogue is never one
 * transaction); a part applied twice raises the same exceptions again
 * (counted twice) and links nothing new. */
static int audit_part(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *flow = run->ctx;
	const struct kcg_config *cfg = flow->cfg;
	json_t *r = run->result, *codes = json_object_get(r, "codes"), *map = json_object_get(r, "map");
	size_t n_codes = json_array_size(codes), from = (size_t)run->part * AUDIT_PER_TXN;
	int rc = 0;
	if (run->part == 0) {
		/* first: the figures rechecked below see the catalogue as mapped (held -> 0) */
		rc = kcg_meta_put_u64(t, META_IR_AUDITED, t->now_ms);
		if (rc != 0)
			return rc;
	}
	if (from < n_codes) {
		for (size_t i = from; i < n_codes && i < from + AUDIT_PER_TXN; i++) {
			const char *code = json_string_value(json_array_get(codes, i));
			rc = audit_code(t, cfg, code, json_object_get(map, code));
			if (rc != 0)
				return rc;
		}
		return 1; /* the last part (items and summary) follows */
	}
	size_t linked = 0, unlinked = 0, duplicate = 0, drift = 0;
	const char *key;
	json_t *sku;
	json_object_foreach(json_object_get(r, "read"), key, sku) {
		uint64_t id;
		const char *s = json_string_value(sku);
		bool disc;
		if (!s || !*s || kcg_parse_u64(key, 1, INT64_MAX, &id) != 0 || strlen(s) >= KCG_KHAOS_CODE_MAX)
			continue; /* no SKU yet: content in the making, not drift */
		if (kcg_skus_active(t, s, &disc) || disc)
			continue; /* a code Khaos knows (discontinued ones follow the lifecycle) */
		drift++;
		rc = ir_drift_effect(t, cfg, s, id);
		if (rc != 0)
			return rc;
	}
	/* the counts from the map itself, not from the parts: they may have been applied twice */
	json_t *el;
	size_t i;
	json_array_foreach(codes, i, el) {
		size_t k = json_array_size(json_object_get(map, json_string_value(el)));
		unlinked += k == 0;
		linked += k > 0;
		duplicate += k > 1;
	}
	json_t *counts = NULL;
	size_t ghosts = 0;
	if (kcg_exc_open_counts(t, &counts) == 0)
		ghosts = (size_t)kcg_json_u64(counts, KCG_EXC_GHOST_SKU);
	json_decref(counts);
	char at[32];
	kcg_format_time(t->now_ms, at, sizeof(at));
	json_t *sum = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "at", at, "codes",
				(json_int_t)n_codes, "items", (json_int_t)kcg_json_u64(r, "items"), "linked",
				(json_int_t)linked, "unlinked", (json_int_t)unlinked, "duplicate",
				(json_int_t)duplicate, "identifier_drift", (json_int_t)drift, "ghost_sku_open",
				(json_int_t)ghosts, "items_unread", (json_int_t)kcg_json_u64(r, "unread"));
	rc = sum ? kcg_txn_put_json(t, DB_IR_AUDIT, AUDIT_KEY, strlen(AUDIT_KEY), sum) : -ENOMEM;
	json_decref(sum);
	if (rc == 0 && ir_stock_runs(cfg)) { /* Mirakl's view: the OF21 pass (ghost_sku, stock_drift) */
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL_STOCK, "stock.drift", "0", NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	return rc;
}

static enum kcg_step audit_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	const struct kcg_inriver_config *ir = &flow->cfg->inriver;
	char why[KCG_ERROR_MAX];
	int rc;
	if (!run->result)
		run->result = json_object();
	json_t *r = run->result;
	if (!r)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	switch (run->phase) {
	case A_START: {
		json_t *codes = json_array();
		if (!codes || kcg_store_read(flow->store, codes_fn, codes) != 0) {
			json_decref(codes);
			return kcg_job_failed(run, -EAGAIN, "cannot read the SKU cache");
		}
		json_object_set_new(r, "codes", codes);
		json_object_set_new(r, "map", json_object());
		json_object_set_new(r, "read", json_object());
		if (json_array_size(codes) > 0)
			return map_batch(run, ir);
		run->phase = A_ALL;
		return kcg_job_call(run, kcg_inriver_query_modified(ir, 0, &run->call));
	}
	case A_MAP: {
		json_t *map;
		rc = kcg_inriver_map_parse(&run->reply, &map, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		json_object_update(json_object_get(r, "map"), map);
		json_decref(map);
		if (kcg_json_u64(r, "cursor") < json_array_size(json_object_get(r, "codes")))
			return map_batch(run, ir);
		run->phase = A_ALL;
		return kcg_job_call(run, kcg_inriver_query_modified(ir, 0, &run->call));
	}
	case A_ALL: {
		json_t *all;
		rc = kcg_inriver_query_parse(&run->reply, ir->max_items, &all, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		find_unmapped(r, all);
		json_decref(all);
		return read_next(run, ir);
	}
	case A_READ: {
		json_t *values;
		rc = kcg_inriver_fields_get_parse(&run->reply, &values, why);
		if (rc != 0 && rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, rc, why);
		if (rc == 0) {
			size_t at = (size_t)kcg_json_u64(r, "read_at") - 1;
			char key[24];
			snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_array_get(json_object_get(r, "unmapped"), at)));
			const char *sku = json_string_value(json_object_get(values, ir->sku_field));
			json_object_set_new(json_object_get(r, "read"), key, json_string(sku ? sku : ""));
			json_decref(values);
		}
		return read_next(run, ir);
	}
	default:
		return kcg_job_failed(run, KCG_EPAYLOAD, "inriver.audit: unknown phase");
	}
}

const struct kcg_job_kind ir_kind_audit = { KIND_AUDIT, KCG_LANE_INRIVER, audit_step, NULL };

struct audit_due {
	uint64_t interval_ms;
	bool due;
};

/* The first audit runs once the SKU cache has read Khaos's catalogue (it
 * links every item in bulk: no query per code), then every interval. */
static int audit_due_fn(struct kcg_txn *t, void *arg)
{
	struct audit_due *d = arg;
	uint64_t last = kcg_meta_get_u64(t, META_IR_AUDIT);
	d->due = kcg_meta_get_u64(t, META_SKUS_WATERMARK) != 0 && (last == 0 || t->now_ms >= last + d->interval_ms);
	return 0;
}

static int audit_start_fn(struct kcg_txn *t, void *arg)
{
	(void)arg;
	int rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER, KIND_AUDIT, "all", NULL, 0, NULL);
	if (rc != 0 && rc != KCG_EDUPLICATE)
		return rc;
	return kcg_meta_put_u64(t, META_IR_AUDIT, t->now_ms); /* once per interval, even if it fails */
}

void ir_audit_timer(struct kcg_engine *engine, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	struct audit_due d = { ctx->cfg->inriver.audit_interval_s * 1000u, false };
	if (kcg_store_read(ctx->store, audit_due_fn, &d) == 0 && d.due &&
	    kcg_store_write_sync(ctx->store, audit_start_fn, NULL) == 0)
		kcg_engine_kick(engine);
}

/* ---- the poll ---- */

static int poll_wm_fn(struct kcg_txn *t, void *arg)
{
	*(uint64_t *)arg = kcg_meta_get_u64(t, META_IR_POLL);
	return 0;
}

static int apply_poll(struct kcg_txn *t, struct kcg_job_run *run)
{
	json_t *ids = json_object_get(run->result, "ids"), *el;
	size_t i;
	json_array_foreach(ids, i, el) {
		char subject[24];
		snprintf(subject, sizeof(subject), "%" JSON_INTEGER_FORMAT, json_integer_value(el));
		int rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER, KIND_ENTITY, subject, NULL, 0, NULL);
		if (rc != 0 && rc != KCG_EDUPLICATE)
			return rc;
	}
	uint64_t start = kcg_json_u64(run->result, "start_ms");
	if (!start)
		return 0;
	return kcg_meta_put_u64(t, META_IR_POLL, start > IR_POLL_SKEW_MS ? start - IR_POLL_SKEW_MS : 1);
}

static enum kcg_step poll_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	const struct kcg_inriver_config *ir = &flow->cfg->inriver;
	char why[KCG_ERROR_MAX];
	if (!run->result)
		run->result = json_object();
	if (!run->result)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->apply = apply_poll;
	if (run->phase == 0) {
		uint64_t wm = 0;
		json_object_set_new(run->result, "start_ms", json_integer((json_int_t)kcg_now_ms()));
		if (kcg_store_read(flow->store, poll_wm_fn, &wm) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the poll's watermark");
		if (wm == 0)
			return KCG_STEP_DONE; /* the first poll starts the clock; the audit covers what came before */
		run->phase = 1;
		return kcg_job_call(run, kcg_inriver_query_modified(ir, wm, &run->call));
	}
	json_t *ids;
	int rc = kcg_inriver_query_parse(&run->reply, ir->max_items, &ids, why);
	if (rc != 0) {
		json_object_del(run->result, "start_ms"); /* the watermark stays */
		return kcg_job_failed(run, rc, why);
	}
	json_object_set_new(run->result, "ids", ids);
	return KCG_STEP_DONE;
}

const struct kcg_job_kind ir_kind_poll = { KIND_POLL, KCG_LANE_INRIVER, poll_step, NULL };

void ir_poll_timer(struct kcg_engine *engine, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	kcg_flow_enqueue_now(ctx, KCG_LANE_INRIVER, KIND_POLL, "all");
	kcg_engine_kick(engine);
}
