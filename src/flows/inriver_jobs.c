/*
 * inriver_jobs.c: the inriver flow's two working jobs.
 *
 * inriver.entity (lane inriver, subject an entity's numeric id): a
 * listener event (or the poll) says the entity changed. Read its type, then
 * its SKU and the Khaos-owned fields in one call, ask inriver for every
 * item holding that SKU, then write the Khaos-owned fields whose values in
 * inriver differ from Khaos's: a person's edit of one is put back.
 *
 * inriver.push (lane inriver_push, subject a stock code): Khaos changed
 * the code. Find its item (the link, else a query), create one when
 * [inriver] create_missing_items, then write what differs from what it
 * last wrote (no read: Khaos changed, not the item). Due no earlier
 * than write_interval_s after the item's last write; a change while it
 * runs queues the next one from its apply (coalescing).
 *
 * Both write only kcg_inriver_values()' fields, all named in
 * [inriver.fields]; the effects (links, exceptions, what was written) are
 * the apply of the run's outcome.
 */
#include "inriver_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/skus.h"
#include "kcgate/json.h"
#include "kcgate/peers/inriver.h"

enum { P_START, P_TYPE, P_SKU, P_QUERY, P_EMPTY, P_CREATE, P_PUT };

#define DUPS_SHOWN 10 /* entity ids named in a duplicate_sku message */

/* What a step reads of the store: the SKU's record and Khaos's view. */
struct snap {
	const struct kcg_config *cfg;
	const char *sku;
	json_t *rec;
	struct kcg_inriver_khaos k;
};

static int snap_fn(struct kcg_txn *t, void *arg)
{
	struct snap *s = arg;
	s->rec = ir_rec_get(t, s->sku);
	ir_khaos(t, s->cfg, s->sku, &s->k);
	return 0;
}

static int take_snap(struct kcg_flow_ctx *flow, const char *sku, struct snap *s)
{
	*s = (struct snap){ .cfg = flow->cfg, .sku = sku };
	int rc = kcg_store_read(flow->store, snap_fn, s);
	if (rc != 0 || !s->rec) {
		json_decref(s->rec);
		s->rec = NULL;
		return rc ? rc : -ENOMEM;
	}
	return 0;
}

/* The values to write to entity @p id: against the values the item holds
 * when this run read them ("have", the entity job), else against what was
 * written to that very item (another item, or none yet: everything). */
static json_t *values_for(struct kcg_job_run *run, const struct snap *s, uint64_t id)
{
	char now[32];
	/* discontinued, Mirakl not yet at 0: the status waits (inriver_wait) */
	json_object_set_new(run->result, "wait", json_boolean(s->k.discontinued && !s->k.confirmed_zero));
	kcg_format_time(kcg_now_ms(), now, sizeof(now));
	const json_t *have = json_object_get(run->result, "have");
	if (!have)
		have = kcg_json_u64(s->rec, "entity_id") == id ? json_object_get(s->rec, "written") : NULL;
	return kcg_inriver_values(&s->cfg->inriver, &s->k, have, now);
}

static json_t *result(struct kcg_job_run *run)
{
	if (!run->result)
		run->result = json_object();
	return run->result;
}

static uint64_t res_id(struct kcg_job_run *run)
{
	return kcg_json_u64(run->result, "id");
}

/* Keeps in run->result the values to write to entity @p id (values_for;
 * @p s's record is released) and starts their PUT, or finishes when
 * nothing differs. */
static enum kcg_step put_or_done(struct kcg_job_run *run, struct kcg_flow_ctx *flow, struct snap *s, uint64_t id)
{
	json_t *values = values_for(run, s, id);
	json_decref(s->rec);
	s->rec = NULL;
	if (!values)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	json_object_set_new(run->result, "values", values);
	if (json_object_size(values) == 0)
		return KCG_STEP_DONE;
	run->phase = P_PUT;
	return kcg_job_call(run, kcg_inriver_fields_put(&flow->cfg->inriver, id, values, &run->call));
}

/* Entity "id" is gone from inriver (deleted meanwhile): nothing is linked
 * to it now, and the apply treats it as deleted (its delete event, when
 * it comes, finds nothing more to do; the poll never sends one). */
static enum kcg_step gone(struct kcg_job_run *run)
{
	json_object_set_new(run->result, "gone", json_integer((json_int_t)res_id(run)));
	json_object_set_new(run->result, "id", json_integer(0));
	return KCG_STEP_DONE;
}

/* The PUT's answer: written, or the entity is gone. */
static enum kcg_step put_answer(struct kcg_job_run *run)
{
	char why[KCG_ERROR_MAX];
	int rc = kcg_inriver_fields_put_parse(&run->reply, why);
	if (rc == KCG_ENOTFOUND)
		return gone(run);
	if (rc != 0)
		return kcg_job_failed(run, rc, why);
	json_object_set_new(run->result, "wrote", json_true());
	return KCG_STEP_DONE;
}

/* ---- effects (also the audit's) ---- */

int ir_dup_effect(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, const json_t *ids)
{
	if (json_array_size(ids) <= 1)
		return ir_resolve(t, KCG_EXC_DUPLICATE_SKU, sku);
	char list[300] = "", view[400];
	size_t i, off = 0;
	json_t *el;
	json_array_foreach(ids, i, el) {
		if (i == DUPS_SHOWN || off >= sizeof(list) - 24)
			break;
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%" JSON_INTEGER_FORMAT, i ? ", " : "",
					json_integer_value(el));
	}
	ir_view_text(t, cfg, sku, view, sizeof(view));
	return ir_raise(t, KCG_EXC_DUPLICATE_SKU, "inriver", IR_OWNER, sku,
			"%zu inriver items have %s = %s (ids %s%s): the Khaos stock code is the one key, so one item "
			"must hold it. Merge or correct them in inriver; meanwhile kcgate writes Khaos's fields to "
			"one of them (the one it read last). %s; inriver: %zu items.",
			json_array_size(ids), cfg->inriver.sku_field, sku, list,
			json_array_size(ids) > DUPS_SHOWN ? ", ..." : "", view, json_array_size(ids));
}

int ir_drift_effect(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, uint64_t id)
{
	char view[400];
	ir_view_text(t, cfg, sku, view, sizeof(view));
	int rc = ir_raise(t, KCG_EXC_IDENTIFIER_DRIFT, "inriver", IR_OWNER, sku,
			  "inriver item %" PRIu64 " has %s = %s, which is no Khaos stock code: orders for it would fail "
			  "in Khaos. kcgate set %s = " KCG_INRIVER_UNKNOWN " on the item so inriver's publishing rules "
			  "can stop it. Correct the SKU in inriver, or create the code in Khaos (kcgate asks Khaos "
			  "again and clears this when the code appears). %s; inriver: item %" PRIu64 ".",
			  id, cfg->inriver.sku_field, sku,
			  cfg->inriver.field_khaos_status ? cfg->inriver.field_khaos_status : "(no khaos_status field)",
			  view, id);
	if (rc == 0 && strlen(sku) < KCG_KHAOS_CODE_MAX && strncmp(sku, "inriver:", 8) != 0)
		rc = kcg_skus_refresh_one(t, sku); /* a code new in Khaos resolves it at once */
	return rc;
}

int ir_unlinked_effect(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku)
{
	char view[400];
	ir_view_text(t, cfg, sku, view, sizeof(view));
	return ir_raise(t, KCG_EXC_UNLINKED_SKU, "inriver", IR_OWNER, sku,
			"Khaos stock code %s is active but no inriver %s has %s = %s: channels fed by inriver do not "
			"show it%s. Create the item in inriver (or set [inriver] create_missing_items = true). %s; "
			"inriver: no item.",
			sku, cfg->inriver.entity_type, cfg->inriver.sku_field, sku,
			cfg->stock.require_inriver_link == 1 ? ", and Mirakl gets 0 until it is linked "
							       "([stock] require_inriver_link)" : "",
			view);
}

/* What both jobs learnt, written with the outcome. */
static int apply_common(struct kcg_txn *t, struct kcg_job_run *run, const char *sku)
{
	struct kcg_flow_ctx *flow = run->ctx;
	const struct kcg_config *cfg = flow->cfg;
	json_t *r = run->result;
	uint64_t id = res_id(run);
	json_t *ids = json_object_get(r, "ids");
	json_t *rec = ir_rec_get(t, sku);
	int rc = 0;
	if (!rec)
		return -ENOMEM;
	if (ids)
		rc = ir_dup_effect(t, cfg, sku, ids);
	if (rc == 0 && ids)
		rc = ir_holders(t, cfg, sku, rec, ids);
	bool nolink = json_is_true(json_object_get(r, "nolink"));
	if (rc == 0 && id && !nolink)
		rc = ir_link(t, cfg, sku, id, rec);
	if (rc == 0 && !nolink && json_is_true(json_object_get(r, "wrote"))) {
		json_t *values = json_object_get(r, "values");
		ir_written(rec, values, t->now_ms, json_is_true(json_object_get(r, "created")) ? 0 : cfg->inriver.echo_window_s);
		const char *st = json_string_value(json_object_get(values, cfg->inriver.field_khaos_status));
		if (st && strcmp(st, KCG_INRIVER_DISCONTINUED) == 0)
			rc = ir_wait_set(t, sku, false); /* flagged: Mirakl showed 0 first */
		if (rc == 0)
			rc = ir_rec_put(t, sku, rec);
	}
	if (rc == 0 && json_is_true(json_object_get(r, "unknown")) && id)
		rc = ir_drift_effect(t, cfg, sku, id);
	else if (rc == 0 && id)
		rc = ir_resolve(t, KCG_EXC_IDENTIFIER_DRIFT, sku);
	if (rc == 0 && json_is_true(json_object_get(r, "unlinked")))
		rc = ir_unlinked_effect(t, cfg, sku);
	if (rc == 0 && (!id || nolink)) /* no item: no status to flag */
		rc = ir_wait_set(t, sku, false);
	else if (rc == 0 && json_is_true(json_object_get(r, "wait")))
		rc = ir_wait_set(t, sku, true);
	/* changed while this ran: the next write, no earlier than the interval allows */
	if (rc == 0 && kcg_json_u64(rec, "changed_ms") > kcg_json_u64(r, "start_ms"))
		rc = ir_push_later(t, cfg, sku, rec);
	json_decref(rec);
	return rc;
}

/* ---- inriver.entity ---- */

static int apply_entity(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *flow = run->ctx;
	const char *sku = kcg_json_str(run->result, "sku");
	uint64_t gone_id = kcg_json_u64(run->result, "gone"), id = gone_id ? gone_id : res_id(run);
	bool nolink = json_is_true(json_object_get(run->result, "nolink"));
	int rc = 0;
	if (id && (!nolink || gone_id)) {
		/* gone, no SKU, or one that fits: the drift raised under the
		 * item's own name (a SKU too long) is over */
		char subject[40];
		snprintf(subject, sizeof(subject), "inriver:%" PRIu64, id);
		rc = ir_resolve(t, KCG_EXC_IDENTIFIER_DRIFT, subject);
	}
	if (rc != 0)
		return rc;
	if (gone_id)
		return ir_entity_gone(t, flow->cfg, gone_id, NULL);
	/* not an item, no SKU (any more), or one too long to be a code:
	 * whatever it was linked to, it holds no more */
	if (id && (!*sku || nolink))
		rc = ir_unlink_id(t, flow->cfg, id);
	return rc == 0 && *sku ? apply_common(t, run, sku) : rc;
}

static enum kcg_step entity_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	const struct kcg_inriver_config *ir = &flow->cfg->inriver;
	char why[KCG_ERROR_MAX];
	int rc;
	json_t *r = result(run);
	if (!r)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->apply = apply_entity;
	switch (run->phase) {
	case P_START: {
		uint64_t id;
		if (kcg_parse_u64(run->subject, 1, INT64_MAX, &id) != 0)
			return kcg_job_failed(run, KCG_EPAYLOAD, "inriver.entity: the subject is not an entity id");
		json_object_set_new(r, "id", json_integer((json_int_t)id));
		json_object_set_new(r, "start_ms", json_integer((json_int_t)kcg_now_ms()));
		run->phase = P_TYPE;
		return kcg_job_call(run, kcg_inriver_summary(ir, id, &run->call));
	}
	case P_TYPE: {
		char type[KCG_INRIVER_FIELD_MAX];
		rc = kcg_inriver_summary_parse(&run->reply, type, why);
		if (rc == KCG_ENOTFOUND)
			return gone(run);
		if (rc == 0 && strcmp(type, ir->entity_type) != 0) {
			json_object_set_new(r, "id", json_integer(0)); /* not an item */
			return KCG_STEP_DONE;
		}
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		/* the SKU and the Khaos-owned fields in one call: what to write is
		 * what differs from the item's real values (a person may have
		 * edited one; kcgate's record of what it wrote cannot tell) */
		const char *f[5] = { ir->sku_field };
		size_t n = 1 + kcg_inriver_owned(ir, f + 1);
		run->phase = P_SKU;
		return kcg_job_call(run, kcg_inriver_fields_get(ir, res_id(run), f, n, &run->call));
	}
	case P_SKU: {
		json_t *values;
		rc = kcg_inriver_fields_get_parse(&run->reply, &values, why);
		if (rc == KCG_ENOTFOUND)
			return gone(run);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		const char *sku = json_string_value(json_object_get(values, ir->sku_field));
		size_t len = sku ? strlen(sku) : 0;
		if (len > 0 && len < KCG_KHAOS_CODE_MAX)
			json_object_set_new(r, "sku", json_string(sku));
		const char *owned[4];
		size_t n = kcg_inriver_owned(ir, owned);
		json_t *have = json_object(); /* the owned fields' values in inriver (null: none) */
		if (!have) {
			json_decref(values);
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		}
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_object_get(values, owned[i]);
			json_object_set(have, owned[i], v ? v : json_null());
		}
		json_object_set_new(r, "have", have);
		json_decref(values); /* sku is gone with it */
		if (len == 0)
			return KCG_STEP_DONE; /* no SKU yet: the update that fills it brings it back */
		if (len >= KCG_KHAOS_CODE_MAX) {
			/* longer than any Khaos code: drift under the item's own name,
			 * UNKNOWN_STOCK_CODE written to it, never linked */
			char subject[40], now[32];
			snprintf(subject, sizeof(subject), "inriver:%" PRIu64, res_id(run));
			json_object_set_new(r, "sku", json_string(subject));
			json_object_set_new(r, "unknown", json_true());
			json_object_set_new(r, "nolink", json_true());
			struct kcg_inriver_khaos unknown = { .price = -1 };
			kcg_format_time(kcg_now_ms(), now, sizeof(now));
			json_t *put = kcg_inriver_values(ir, &unknown, json_object_get(r, "have"), now);
			if (!put)
				return kcg_job_failed(run, -EAGAIN, "out of memory");
			json_object_set_new(r, "values", put);
			if (json_object_size(put) == 0)
				return KCG_STEP_DONE;
			run->phase = P_PUT;
			return kcg_job_call(run, kcg_inriver_fields_put(ir, res_id(run), put, &run->call));
		}
		run->phase = P_QUERY;
		return kcg_job_call(run, kcg_inriver_query_sku(ir, kcg_json_str(r, "sku"), &run->call));
	}
	case P_QUERY: {
		json_t *ids;
		rc = kcg_inriver_query_parse(&run->reply, ir->max_items, &ids, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		if (!ir_holds(ids, res_id(run))) /* it holds the SKU, whatever the query's index says yet */
			json_array_insert_new(ids, 0, json_integer((json_int_t)res_id(run)));
		json_object_set_new(r, "ids", ids);
		struct snap s;
		if (take_snap(flow, kcg_json_str(r, "sku"), &s) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the SKU records");
		json_object_set_new(r, "unknown", json_boolean(!s.k.known));
		return put_or_done(run, flow, &s, res_id(run));
	}
	case P_PUT:
		return put_answer(run);
	default:
		return kcg_job_failed(run, KCG_EPAYLOAD, "inriver.entity: unknown phase");
	}
}

const struct kcg_job_kind ir_kind_entity = { KIND_ENTITY, KCG_LANE_INRIVER, entity_step, NULL };

/* ---- inriver.push ---- */

static int apply_push(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *flow = run->ctx;
	if (kcg_json_u64(run->result, "gone"))
		return ir_entity_gone(t, flow->cfg, kcg_json_u64(run->result, "gone"), NULL);
	return apply_common(t, run, run->subject);
}

static enum kcg_step push_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	const struct kcg_config *cfg = flow->cfg;
	const struct kcg_inriver_config *ir = &cfg->inriver;
	char why[KCG_ERROR_MAX];
	struct snap s;
	int rc;
	json_t *r = result(run);
	if (!r)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->apply = apply_push;
	switch (run->phase) {
	case P_START: {
		json_object_set_new(r, "start_ms", json_integer((json_int_t)kcg_now_ms()));
		if (take_snap(flow, run->subject, &s) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the SKU records");
		uint64_t id = kcg_json_u64(s.rec, "entity_id");
		bool deleted = json_object_get(s.rec, "deleted_ms") != NULL;
		json_object_set_new(r, "unknown", json_boolean(!s.k.known));
		if (id && !deleted) {
			json_object_set_new(r, "id", json_integer((json_int_t)id));
			return put_or_done(run, flow, &s, id);
		}
		json_decref(s.rec);
		if (deleted || !s.k.known)
			return KCG_STEP_DONE; /* deleted in inriver, or a code Khaos does not know: nothing to write */
		run->phase = P_QUERY;
		return kcg_job_call(run, kcg_inriver_query_sku(ir, run->subject, &run->call));
	}
	case P_QUERY: {
		json_t *ids;
		rc = kcg_inriver_query_parse(&run->reply, ir->max_items, &ids, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		json_object_set_new(r, "ids", ids);
		if (take_snap(flow, run->subject, &s) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the SKU records");
		bool active = s.k.known && !s.k.discontinued;
		if (json_array_size(ids) == 0) {
			json_decref(s.rec);
			json_object_del(r, "ids");
			if (!active)
				return KCG_STEP_DONE; /* no item for a code that is not live: nothing is missing */
			if (ir->create_missing_items != 1) {
				json_object_set_new(r, "unlinked", json_true());
				return KCG_STEP_DONE;
			}
			run->phase = P_EMPTY;
			return kcg_job_call(run, kcg_inriver_getempty(ir, &run->call));
		}
		uint64_t id = (uint64_t)json_integer_value(json_array_get(ids, 0));
		json_object_set_new(r, "id", json_integer((json_int_t)id));
		return put_or_done(run, flow, &s, id);
	}
	case P_EMPTY: {
		json_t *model;
		rc = kcg_inriver_getempty_parse(&run->reply, &model, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		if (take_snap(flow, run->subject, &s) != 0) {
			json_decref(model);
			return kcg_job_failed(run, -EAGAIN, "cannot read the SKU records");
		}
		json_t *values = values_for(run, &s, 0);
		json_decref(s.rec);
		json_t *with_sku = json_deep_copy(values);
		if (!values || !with_sku || json_object_set_new(with_sku, ir->sku_field, json_string(run->subject))) {
			json_decref(values);
			json_decref(with_sku);
			json_decref(model);
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		}
		json_object_set_new(r, "values", values);
		run->phase = P_CREATE;
		rc = kcg_inriver_createnew(ir, model, with_sku, &run->call);
		json_decref(with_sku);
		json_decref(model);
		return kcg_job_call(run, rc);
	}
	case P_CREATE: {
		uint64_t id;
		rc = kcg_inriver_createnew_parse(&run->reply, &id, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		json_object_set_new(r, "id", json_integer((json_int_t)id));
		json_object_set_new(r, "created", json_true());
		json_object_set_new(r, "wrote", json_true());
		return KCG_STEP_DONE;
	}
	case P_PUT:
		return put_answer(run);
	default:
		return kcg_job_failed(run, KCG_EPAYLOAD, "inriver.push: unknown phase");
	}
}

const struct kcg_job_kind ir_kind_push = { KIND_PUSH, KCG_LANE_INRIVER_PUSH, push_step, NULL };
