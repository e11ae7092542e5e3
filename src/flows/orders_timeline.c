/*
 * orders_timeline.c: one order's life in time order (GET
 * /admin/orders/{id}/timeline, the console's Orders page): the order
 * record's own times, every job about the order (queued; done or dead with
 * its last answer), every exception about the order or a SKU it is held
 * on (raised with its message; resolved). A read: nothing here writes.
 */
#include "orders_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/jobs.h"
#include "kcgate/json.h"

#define TIMELINE_JOBS_SCAN 20000 /* job records looked at for one order's timeline */
#define TIMELINE_EXC_SCAN 10000  /* exception records looked at */

struct timeline {
	const char *order_id;
	const json_t *held_skus; /* the SKUs it is held on: their exceptions are its story too */
	json_t *entries;
	size_t scanned;
};

/* Is @p subject the order or a SKU it is held on? */
static bool about(const struct timeline *tl, const char *subject)
{
	return strcmp(subject, tl->order_id) == 0 || orders_listed(tl->held_skus, subject);
}

static void entry(json_t *entries, const char *at, const char *what, const char *cause, const char *ref_kind,
		  const char *ref)
{
	if (!at || !*at)
		return;
	json_array_append_new(entries, json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "at", at, "what", what, "cause", cause,
						 "ref_kind", ref_kind, "ref", ref));
}

static int timeline_job(const char *id, json_t *rec, void *arg)
{
	struct timeline *tl = arg;
	if (++tl->scanned > TIMELINE_JOBS_SCAN)
		return 1;
	if (!id || !rec || strcmp(kcg_json_str(rec, "subject"), tl->order_id) != 0)
		return 0;
	char what[160];
	const char *kind = kcg_json_str(rec, "kind"), *state = kcg_json_str(rec, "state");
	snprintf(what, sizeof(what), "job %s queued (%s lane)", kind, kcg_json_str(rec, "lane"));
	entry(tl->entries, kcg_json_str(rec, "created_at"), what, NULL, "job", id);
	if (strcmp(state, "pending") != 0) {
		snprintf(what, sizeof(what), "job %s %s after %lld attempt(s)", kind, state,
			 (long long)json_integer_value(json_object_get(rec, "attempts")));
		const char *err = kcg_json_str(rec, "last_error");
		entry(tl->entries, kcg_json_str(rec, "updated_at"), what, *err ? err : NULL, "job", id);
	}
	return 0;
}

static int timeline_fn(struct kcg_txn *t, void *arg)
{
	struct timeline *tl = arg;
	int rc = kcg_jobs_walk(t, NULL, timeline_job, tl);
	json_t *exc = NULL;
	if (rc == 0)
		rc = kcg_exc_list(t, -1, NULL, NULL, TIMELINE_EXC_SCAN, &exc);
	if (rc != 0)
		return rc;
	size_t i;
	json_t *e;
	char what[160];
	json_array_foreach(exc, i, e) {
		if (!about(tl, kcg_json_str(e, "subject")))
			continue;
		snprintf(what, sizeof(what), "exception %s raised for %s (%s, %s at fault)", kcg_json_str(e, "kind"),
			 kcg_json_str(e, "subject"), kcg_json_str(e, "severity"), kcg_json_str(e, "system"));
		entry(tl->entries, kcg_json_str(e, "first_seen"), what, kcg_json_str(e, "message"), "exception",
		      kcg_json_str(e, "id"));
		if (json_is_string(json_object_get(e, "resolved_at"))) {
			snprintf(what, sizeof(what), "exception %s resolved (%s)", kcg_json_str(e, "kind"),
				 kcg_json_str(e, "resolved_by"));
			entry(tl->entries, kcg_json_str(e, "resolved_at"), what, NULL, "exception", kcg_json_str(e, "id"));
		}
	}
	json_decref(exc);
	return 0;
}

/* The order's own times, as the order record keeps them. */
static void order_times(json_t *entries, const json_t *o)
{
	static const struct {
		const char *field, *what;
	} times[] = {
		{ "first_seen", "first seen by kcgate" }, { "accepted_at", "accepted on Mirakl" },
		{ "book_point_ms", "reached its booking point" }, { "booked_at", "booked in Khaos" },
		{ "shipped_at", "shipped (Khaos despatch sent to Mirakl)" }, { "finished_ms", "finished" },
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		const json_t *v = json_object_get(o, times[i].field);
		char buf[32];
		const char *at = json_string_value(v);
		if (json_is_integer(v) && json_integer_value(v) > 0) {
			kcg_format_time((uint64_t)json_integer_value(v), buf, sizeof(buf));
			at = buf;
		}
		entry(entries, at, times[i].what, NULL, "order", NULL);
	}
}

static int by_at(const void *a, const void *b)
{
	return strcmp(kcg_json_str(*(json_t *const *)a, "at"), kcg_json_str(*(json_t *const *)b, "at"));
}

int kcg_orders_timeline(struct kcg_store *store, const char *order_id, json_t **out)
{
	json_t *order;
	int rc = kcg_orders_get(store, order_id, &order);
	if (rc != 0)
		return rc;
	struct timeline tl = { order_id, json_object_get(order, "held_skus"), json_array(), 0 };
	order_times(tl.entries, order);
	rc = tl.entries ? kcg_store_read(store, timeline_fn, &tl) : -ENOMEM;
	size_t n = json_array_size(tl.entries);
	json_t **v = rc == 0 ? calloc(n ? n : 1, sizeof(*v)) : NULL;
	if (rc == 0 && !v)
		rc = -ENOMEM;
	if (rc != 0) {
		json_decref(order);
		json_decref(tl.entries);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(tl.entries, i));
	qsort(v, n, sizeof(*v), by_at);
	json_t *sorted = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(sorted, v[i]);
	free(v);
	json_decref(tl.entries);
	json_t *now = json_pack("{s:O?, s:O?, s:O?, s:O?}", "state", json_object_get(order, "state"), "mirakl_state",
				json_object_get(order, "mirakl_state"), "sales_order_code",
				json_object_get(order, "sales_order_code"), "held_skus", json_object_get(order, "held_skus"));
	*out = json_pack("{s:s, s:o, s:o, s:b}", "order_id", order_id, "now", now, "timeline", sorted,
			 "jobs_scan_complete", tl.scanned <= TIMELINE_JOBS_SCAN);
	json_decref(order);
	return *out ? 0 : -ENOMEM;
}
