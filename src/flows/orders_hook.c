/*
 * orders_hook.c: the order flow's outbox hook. A new Mirakl event (inside
 * the transaction that stores it) becomes one order.sync job per order id
 * it names, at most FIND_MAX; a webhook naming none raises
 * unparseable_webhook, one naming more raises webhook_truncated. The event
 * is kept either way.
 */
#include "orders_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"

#define FIND_DEPTH 4              /* how deep a webhook body is searched for order ids */
#define FIND_MAX KCG_ORDER_IDS_MAX /* most order ids taken from one webhook */

/* The order ids found in one webhook: a set (one job per order even if
 * named twice), at most FIND_MAX; cut says more were named. */
struct found {
	json_t *ids;
	bool cut;
};

static void add_id(struct found *f, const json_t *v)
{
	const char *s = json_string_value(v);
	if (!s || !*s || strlen(s) > ORDER_ID_MAX || json_object_get(f->ids, s))
		return;
	if (json_object_size(f->ids) >= FIND_MAX) {
		f->cut = true;
		return;
	}
	json_object_set_new(f->ids, s, json_true());
}

/* Collects order ids from whatever shape a Mirakl webhook has: "order_id"
 * members (top level, under "data", in arrays), and "order_ids" lists.
 * The cap counts the set (an object: json_array_size() on it is 0). */
static void find_order_ids(const json_t *v, int depth, struct found *f)
{
	if (depth > FIND_DEPTH || f->cut)
		return;
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			find_order_ids(e, depth + 1, f);
			if (f->cut)
				return;
		}
		return;
	}
	if (!json_is_object(v))
		return;
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)v, key, val) {
		if (strcmp(key, "order_id") == 0 && json_is_string(val)) {
			add_id(f, val);
		} else if (strcmp(key, "order_ids") == 0 && json_is_array(val)) {
			size_t i;
			json_t *e;
			json_array_foreach(val, i, e) {
				add_id(f, e);
				if (f->cut)
					break;
			}
		} else {
			find_order_ids(val, depth + 1, f);
		}
		if (f->cut)
			return;
	}
}

bool kcg_order_ids_find(const json_t *body, json_t *ids)
{
	struct found f = { ids, false };
	find_order_ids(body, 0, &f);
	return f.cut;
}

/* The webhook named more orders than one event may cause jobs for. */
static int raise_cut(struct kcg_txn *t, const struct kcg_event_meta_ref *ev)
{
	char msg[600];
	snprintf(msg, sizeof(msg),
		 "Mirakl webhook event %s (kind %s) names more than %d order ids: an order.sync job was queued for the "
		 "first %d found, the rest were dropped. The event is kept (GET /admin/events/%s); the OR11 poll still "
		 "finds every order waiting for acceptance. Check why the operator sends so many ids in one webhook.",
		 ev->id, ev->kind, FIND_MAX, FIND_MAX, ev->id);
	struct kcg_exc exc = {
		.kind = KCG_EXC_WEBHOOK_TRUNCATED,
		.severity = KCG_SEV_WARNING,
		.system = "mirakl",
		.owner = "operations",
		.subject = ev->id,
		.message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

int orders_on_event(struct kcg_txn *t, const struct kcg_event_meta_ref *ev, struct kcg_flow_ctx *ctx)
{
	if (strcmp(ev->source, "mirakl") != 0)
		return 0;
	json_t *body = json_loadb(ev->body, ev->body_len, JSON_DECODE_ANY, NULL);
	json_t *ids = json_object(); /* a set: one job per order even if named twice */
	int rc = 0;
	if (!ids) {
		json_decref(body);
		return -ENOMEM;
	}
	if (body && kcg_order_ids_find(body, ids))
		rc = raise_cut(t, ev);
	if (rc == 0 && json_object_size(ids) == 0) {
		char msg[300];
		snprintf(msg, sizeof(msg),
			 "Mirakl webhook event %s (kind %s) names no order_id: it is kept (GET /admin/events/%s) and the "
			 "OR11 poll still finds changed orders. Check the operator's webhook payload format.",
			 ev->id, ev->kind, ev->id);
		struct kcg_exc exc = {
			.kind = KCG_EXC_UNPARSEABLE_WEBHOOK,
			.severity = KCG_SEV_WARNING,
			.system = "mirakl",
			.owner = "operations",
			.subject = ev->id,
			.message = msg,
		};
		rc = kcg_exc_raise(t, &exc, NULL);
	}
	const char *id;
	json_t *unused;
	json_object_foreach(ids, id, unused) {
		if (rc != 0)
			break;
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.sync", id, NULL, 0, NULL);
		/* one pending already: it may be running, its read sent before
		 * this change; the hint makes it read again */
		if (rc == KCG_EDUPLICATE)
			rc = orders_hint(t, id);
		if (rc != 0)
			break;
	}
	json_decref(ids);
	json_decref(body);
	return rc;
}
