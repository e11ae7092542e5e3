/*
 * orders_accept.c: the order.accept step. OR21 for every line still
 * waiting (refusing the lines short of stock when on_short_stock = refuse);
 * a retry reads the order first (OR11 by order_ids): lines already decided
 * count as done. ORDER_PARTIAL_ACCEPTANCE_DISABLED makes the flow decide
 * again on the whole order.
 */
#include "orders_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/peers/mirakl.h"

/* order.accept: OR21 every waiting line; on doubt, read the order first. */
static int accept_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	bool created;
	json_t *rec = orders_load(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	json_t *order = json_object_get(run->result, "order");
	int rc = 0;
	json_object_del(rec, "stuck_job");
	enum kcg_order_state st = orders_state_of(rec);
	if (json_is_true(json_object_get(run->result, "accepted")) && (st == KCG_ORDER_SEEN || st == KCG_ORDER_HELD)) {
		json_object_set_new(rec, "decided", json_true());
		orders_mark_accepted(t, rec);
		rc = kcg_exc_resolve(t, KCG_EXC_ACCEPTANCE_DEADLINE, run->subject, "auto");
	} else if (json_is_true(json_object_get(run->result, "partial_disabled")) && st == KCG_ORDER_SEEN) {
		/* Mirakl takes all lines or none: decide again, on the whole order */
		json_object_set_new(rec, "partial_disabled", json_true());
		order = json_object_get(rec, "order");
	}
	json_incref(order);
	if (rc == 0)
		rc = orders_save(t, rec);
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

enum kcg_step orders_accept_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	int rc;

	switch (run->phase) {
	case PH_START: {
		/* the record's snapshot of the order (the lines to accept), while
		 * it is still to be accepted */
		json_t *rec = NULL;
		rc = kcg_orders_get(flow->store, run->subject, &rec);
		enum kcg_order_state st = rc == 0 ? orders_state_of(rec) : KCG_ORDER_SEEN;
		const json_t *order = json_object_get(rec, "order"), *refuse = json_object_get(rec, "refuse_lines");
		if (rc == KCG_ENOTFOUND || (rc == 0 && (!order || (st != KCG_ORDER_SEEN && !kcg_order_state_booked(st))))) {
			json_decref(rec);
			return KCG_STEP_DONE; /* decided meanwhile (held again, accepted, withdrawn) */
		}
		if (rc != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the order record");
		/* the lines kcgate refuses, for every OR21 of this run */
		run->result = json_pack("{s:o}", "refuse", refuse ? json_incref((json_t *)refuse) : json_array());
		if (run->attempts > 0) {
			/* An earlier attempt may have gone through: look before acting. */
			json_decref(rec);
			run->phase = PH_READ;
			return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call));
		}
		run->phase = PH_ACCEPT;
		rc = kcg_mirakl_or21_decide(&flow->cfg->mirakl, order, json_object_get(run->result, "refuse"), &run->call);
		json_decref(rec);
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
		} else if (orders_is(ms, "CANCELED") || orders_is(ms, "REFUSED") || orders_is(ms, "CLOSED")) {
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
