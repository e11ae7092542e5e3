/*
 * flow.c: the flow registry (see flow.h). Adding a flow: one line in
 * kcg_flows[] below.
 */
#include "kcgate/flow.h"

#include <errno.h>
#include <stdio.h>

#include "kcgate/alerts.h"
#include "kcgate/exceptions.h"
#include "kcgate/flows/despatch.h"
#include "kcgate/flows/inriver.h"
#include "kcgate/flows/orders.h"
#include "kcgate/flows/skus.h"
#include "kcgate/flows/stock.h"
#include "kcgate/log.h"

const struct kcg_flow *const kcg_flows[] = {
	&kcg_flow_skus,
	&kcg_flow_orders,
	&kcg_flow_despatch,
	&kcg_flow_alerts,
	&kcg_flow_stock,
	&kcg_flow_inriver,
	NULL,
};

static int add_names(struct kcg_flow_set *set, size_t *n, const char *const *names)
{
	for (size_t i = 0; names && names[i]; i++) {
		if (*n == KCG_FLOWS_DBS_MAX)
			return -E2BIG;
		set->dbs[(*n)++] = names[i];
	}
	return 0;
}

int kcg_flow_set_init(struct kcg_flow_set *set, const struct kcg_config *cfg)
{
	size_t n_dbs = 0, n_kinds = 0, n_owners = 0;
	int rc;

	*set = (struct kcg_flow_set){ .ctx = { .cfg = cfg, .set = set } };
	rc = add_names(set, &n_dbs, kcg_jobs_dbs);
	if (rc == 0)
		rc = add_names(set, &n_dbs, kcg_exc_dbs);
	set->owners[n_owners++] = &kcg_jobs_retention;
	set->owners[n_owners++] = &kcg_exc_retention;
	for (const struct kcg_flow *const *f = kcg_flows; rc == 0 && *f; f++) {
		const struct kcg_flow *flow = *f;
		rc = add_names(set, &n_dbs, flow->dbs); /* every flow's: records stay readable */
		if (rc == 0 && flow->retention) { /* and expire */
			if (n_owners == KCG_RETENTION_OWNERS_MAX)
				return -E2BIG;
			set->owners[n_owners++] = flow->retention;
		}
		if (rc != 0 || !flow->enabled(cfg))
			continue;
		if (set->n_enabled == KCG_FLOWS_MAX)
			return -E2BIG;
		set->enabled[set->n_enabled++] = flow;
		for (size_t i = 0; flow->kinds && flow->kinds[i]; i++) {
			if (n_kinds == KCG_FLOWS_KINDS_MAX)
				return -E2BIG;
			set->kinds[n_kinds++] = flow->kinds[i];
		}
		if (flow->timers) {
			size_t cap = KCG_FLOWS_TIMERS_MAX - set->n_timers;
			size_t n = flow->timers(cfg, set->timers + set->n_timers, cap);
			if (n > cap)
				return -E2BIG;
			set->n_timers += n;
		}
	}
	set->dbs[n_dbs] = NULL;
	set->kinds[n_kinds] = NULL;
	return rc;
}

int kcg_flow_set_on_event(struct kcg_txn *txn, const struct kcg_event_meta_ref *ev, void *arg)
{
	struct kcg_flow_set *set = arg;
	for (size_t i = 0; i < set->n_enabled; i++) {
		if (!set->enabled[i]->on_event)
			continue;
		int rc = set->enabled[i]->on_event(txn, ev, &set->ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_flow_set_on_exception(struct kcg_txn *txn, const struct kcg_exc_raised *raised, void *arg)
{
	struct kcg_flow_set *set = arg;
	for (size_t i = 0; i < set->n_enabled; i++) {
		if (!set->enabled[i]->on_exception)
			continue;
		int rc = set->enabled[i]->on_exception(txn, raised, &set->ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_flow_set_health(struct kcg_txn *txn, struct kcg_flow_ctx *ctx, json_t *figures)
{
	const struct kcg_flow_set *set = ctx ? ctx->set : NULL;
	for (size_t i = 0; set && i < set->n_enabled; i++) {
		if (!set->enabled[i]->health)
			continue;
		int rc = set->enabled[i]->health(txn, ctx, figures);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_flow_health_add(json_t *figures, const char *name, const char *value)
{
	return json_array_append_new(figures, json_pack("{s:s, s:s}", "name", name, "value", value)) == 0 ? 0 : -ENOMEM;
}

int kcg_flow_health_time(json_t *figures, const char *name, uint64_t ms, uint64_t now_ms)
{
	char when[32], value[96];
	if (!ms)
		return kcg_flow_health_add(figures, name, "never");
	kcg_format_time(ms, when, sizeof(when));
	uint64_t ago = now_ms > ms ? (now_ms - ms) / 1000 : 0;
	snprintf(value, sizeof(value), "%s (%llu min ago)", when, (unsigned long long)(ago / 60));
	return kcg_flow_health_add(figures, name, value);
}

int kcg_flows_sku_active(struct kcg_txn *txn, const char *code, struct kcg_flow_ctx *ctx)
{
	const struct kcg_flow_set *set = ctx ? ctx->set : NULL;
	for (size_t i = 0; set && i < set->n_enabled; i++) {
		if (!set->enabled[i]->on_sku_active)
			continue;
		int rc = set->enabled[i]->on_sku_active(txn, code, ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_flows_stock_item(struct kcg_txn *txn, const struct kcg_stock_item *item, struct kcg_flow_ctx *ctx)
{
	const struct kcg_flow_set *set = ctx ? ctx->set : NULL;
	for (size_t i = 0; set && i < set->n_enabled; i++) {
		if (!set->enabled[i]->on_stock_item)
			continue;
		int rc = set->enabled[i]->on_stock_item(txn, item, ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_flows_metrics(struct kcg_store *store, const struct kcg_config *cfg, char **text)
{
	for (const struct kcg_flow *const *f = kcg_flows; *f; f++) {
		if (!(*f)->metrics)
			continue;
		int rc = (*f)->metrics(store, cfg, text);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_flow_set_reload(struct kcg_flow_set *set, size_t *n)
{
	int first = 0;
	*n = 0;
	for (size_t i = 0; i < set->n_enabled; i++) {
		size_t k = 0;
		if (!set->enabled[i]->on_reload)
			continue;
		int rc = set->enabled[i]->on_reload(&set->ctx, &k);
		*n += k;
		if (rc != 0 && first == 0)
			first = rc;
	}
	return first;
}

struct enqueue_req {
	enum kcg_lane lane;
	const char *kind;
	const char *subject;
};

static int enqueue_fn(struct kcg_txn *t, void *arg)
{
	struct enqueue_req *r = arg;
	int rc = kcg_jobs_enqueue(t, r->lane, r->kind, r->subject, NULL, 0, NULL);
	return rc == KCG_EDUPLICATE ? 0 : rc;
}

void kcg_flow_enqueue_now(struct kcg_flow_ctx *ctx, enum kcg_lane lane, const char *kind, const char *subject)
{
	struct enqueue_req r = { lane, kind, subject };
	int rc = kcg_store_write_sync(ctx->store, enqueue_fn, &r);
	if (rc != 0)
		kcg_log(KCG_LOG_WARN, "cannot schedule a job",
			json_pack("{s:s, s:s, s:s}", "kind", kind, "subject", subject, "detail", kcg_strerror(rc)));
}
