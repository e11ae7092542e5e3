/*
 * stock_flush.c: the stock imports (flows/stock.h). stock.flush sends
 * every dirty SKU in one STO01; stock.import follows that import (STO02,
 * then STO03 for its error lines) and records what Mirakl took. One
 * import at a time; at most one STO01 per floor (60 s against Mirakl).
 */
#include "stock_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/orders.h"
#include "kcgate/log.h"
#include "kcgate/peers/mirakl_stock.h"

enum { PH_START, PH_SENT, PH_STATUS, PH_REPORT };

struct flush_line {
	char sku[KCG_STOCK_KEY_MAX]; /* the record's key: the code, or code 0x1F warehouse */
	int64_t qty;
	bool send;            /* false: only to be checked again (clean) */
};

/* What a flush collects in its read transaction; the run's blob. */
struct flush {
	const struct kcg_config *cfg;
	struct flush_line *v;
	size_t n, cap;
	size_t sending;
	char *csv;
	size_t csv_len;
	const char *skip;     /* why nothing is sent now, or NULL */
	uint64_t now;
};

static void flush_free(void *p)
{
	struct flush *f = p;
	free(f->v);
	free(f->csv);
	free(f);
}

static int flush_add(struct flush *f, const char *sku, int64_t qty, bool send)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		struct flush_line *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	struct flush_line *l = &f->v[f->n++];
	snprintf(l->sku, sizeof(l->sku), "%s", sku);
	l->qty = qty;
	l->send = send;
	f->sending += send;
	return 0;
}

/* One candidate (a record's key): send it, check it again, or leave it. */
static int consider(struct kcg_txn *t, struct flush *f, const char *key)
{
	struct kcg_stock_rec rec;
	int64_t qty;
	uint64_t reserved;
	char subject[KCG_STOCK_KEY_MAX];
	if (strlen(key) >= KCG_STOCK_KEY_MAX || kcg_stock_get(t, key, &rec) != 0)
		return 0; /* not a code Khaos reported: nothing to say about it */
	stock_subject(subject, key);
	bool show = stock_figure(t, f->cfg, key, &rec, &qty, &reserved);
	bool refused_open = show && rec.failed == qty && kcg_exc_is_open(t, KCG_EXC_STOCK_IMPORT_LINE, subject);
	if (show && kcg_stock_needs_push(&rec, qty, refused_open) && stock_sendable(key) &&
	    !stock_retired_unlisted(&rec))
		return flush_add(f, key, qty, true);
	return flush_add(f, key, 0, false); /* an unsendable one: its recheck raises and cleans it */
}

static int consider_key(struct kcg_txn *t, const char *sku, const MDB_val *v, void *arg)
{
	(void)v;
	return consider(t, arg, sku);
}

/* kcg_orders_reserved_each's and kcg_orders_unseen_each's argument. */
struct flush_arg {
	struct kcg_txn *t;
	struct flush *f;
};

/* A code orders hold units of: each of its records. */
static int code_fn(const char *sku, void *arg)
{
	struct flush_arg *a = arg;
	char keys[KCG_STOCK_SITES_MAX][KCG_STOCK_KEY_MAX];
	size_t n = stock_keys_of(a->f->cfg, sku, keys);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = consider(a->t, a->f, keys[i]);
	return rc;
}

static int reserved_fn(const char *sku, uint64_t n, void *arg)
{
	(void)n;
	return code_fn(sku, arg);
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(((const struct flush_line *)a)->sku, ((const struct flush_line *)b)->sku);
}

static int collect(struct kcg_txn *t, void *arg)
{
	struct flush *f = arg;
	json_t *state = stock_sync_get(t);
	const char *current = json_string_value(json_object_get(state, "current"));
	uint64_t last = (uint64_t)json_integer_value(json_object_get(state, "last_sto01_ms"));
	int rc = 0;
	if (current && *current)
		f->skip = "an import is still running";
	else if (last && f->now < last + kcg_stock_flush_floor_ms(f->cfg))
		f->skip = "the last STO01 was less than a minute ago";
	json_decref(state);
	if (f->skip)
		return 0;
	/* the dirty SKUs, those whose held-back units may have moved (held:
	 * the last figure counted some; reserved and unseen: orders hold some
	 * now), and the refused */
	rc = stock_each_key(t, DB_STOCK_DIRTY, consider_key, f);
	if (rc == 0)
		rc = stock_each_key(t, DB_STOCK_HELD, consider_key, f);
	/* refused lines: sent again once their exception is resolved by hand */
	if (rc == 0)
		rc = stock_each_key(t, DB_STOCK_REFUSED, consider_key, f);
	if (rc == 0) {
		struct flush_arg a = { t, f };
		rc = kcg_orders_reserved_each(t, reserved_fn, &a);
		/* booked units Khaos's level may not show yet */
		if (rc == 0)
			rc = kcg_orders_unseen_each(t, code_fn, &a);
	}
	if (rc != 0)
		return rc;
	/* a SKU in two of the sets is one line */
	if (f->n > 1)
		qsort(f->v, f->n, sizeof(*f->v), cmp_line);
	size_t w = 0;
	f->sending = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (w > 0 && strcmp(f->v[w - 1].sku, f->v[i].sku) == 0)
			continue;
		f->v[w++] = f->v[i];
		f->sending += f->v[i].send;
	}
	f->n = w;
	return 0;
}

/* Builds the CSV of the lines to send. */
static int build_csv(struct flush *f)
{
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, (size_t)1 << 31);
	kcg_dynbuf_addstr(&b, KCG_STOCK_CSV_HEADER);
	for (size_t i = 0; i < f->n; i++) {
		if (!f->v[i].send)
			continue;
		char sku[KCG_KHAOS_CODE_MAX];
		const char *wh = stock_key_split(f->v[i].sku, sku);
		struct kcg_stock_line line = { sku, f->v[i].qty, wh };
		int rc = kcg_mirakl_stock_csv_line(&b, &line);
		if (rc != 0 && rc != -EINVAL) {
			kcg_dynbuf_finish(&b);
			return rc;
		}
	}
	f->csv = kcg_dynbuf_take(&b, &f->csv_len);
	return f->csv ? 0 : -ENOMEM;
}

/* Nothing sent: the candidates that need nothing leave stock_dirty. */
static int apply_clean(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct flush *f = run->blob;
	struct kcg_flow_ctx *ctx = run->ctx;
	for (size_t i = 0; f && i < f->n; i++) {
		struct kcg_stock_rec rec;
		if (f->v[i].send || kcg_stock_get(t, f->v[i].sku, &rec) != 0)
			continue;
		int rc = stock_recheck(t, ctx->cfg, f->v[i].sku, &rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* STO01 took the file: the import is in flight, each SKU with it. */
static int apply_sent(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct flush *f = run->blob;
	struct kcg_flow_ctx *ctx = run->ctx;
	const char *id = json_string_value(json_object_get(run->result, "import_id"));
	json_t *state = stock_sync_get(t);
	json_object_set_new(state, "current", json_string(id));
	json_object_set_new(state, "current_lines", json_integer((json_int_t)f->sending));
	json_object_set_new(state, "current_sent_ms", json_integer((json_int_t)t->now_ms));
	json_object_set_new(state, "last_sto01_ms", json_integer((json_int_t)t->now_ms));
	int rc = stock_sync_put(t, state);
	json_decref(state);
	MDB_val k = { strlen(id), (void *)id }, v = { f->csv_len, f->csv };
	if (rc == 0)
		rc = mdb_put(t->txn, kcg_store_db(t->store, DB_STOCK_IMPORTS), &k, &v, 0);
	for (size_t i = 0; rc == 0 && i < f->n; i++) {
		struct kcg_stock_rec rec;
		const struct flush_line *l = &f->v[i];
		if (kcg_stock_get(t, l->sku, &rec) != 0)
			continue;
		if (!l->send) {
			rc = stock_recheck(t, ctx->cfg, l->sku, &rec);
			continue;
		}
		/* In flight now: out of stock_dirty, unless its figure moved while
		 * the file was on its way (then it goes with the next import). The
		 * record is not written: the import's end checks it again. */
		int64_t qty;
		uint64_t reserved;
		bool show = stock_figure(t, ctx->cfg, l->sku, &rec, &qty, &reserved);
		rc = stock_dirty_set(t, l->sku, show && qty != l->qty);
	}
	if (rc == 0) {
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL_STOCK, "stock.import", id, NULL,
				      t->now_ms + kcg_stock_status_poll_ms(ctx->cfg), NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	return rc;
}

static enum kcg_step stock_flush(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX], id[KCG_MIRAKL_IMPORT_ID_MAX];

	if (run->phase == PH_START) {
		struct flush *f = calloc(1, sizeof(*f));
		if (!f)
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		f->cfg = flow->cfg;
		f->now = kcg_now_ms();
		run->blob = f;
		run->blob_free = flush_free;
		int rc = kcg_store_read(flow->store, collect, f);
		if (rc != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the stock records");
		if (f->skip || f->sending == 0) {
			run->apply = apply_clean;
			return KCG_STEP_DONE;
		}
		rc = build_csv(f);
		if (rc == 0)
			rc = kcg_mirakl_sto01(&flow->cfg->mirakl, f->csv, f->csv_len, &run->call);
		run->phase = PH_SENT;
		return kcg_job_call(run, rc);
	}
	int rc = kcg_mirakl_sto01_parse(&run->reply, id, why);
	if (rc != 0)
		return kcg_job_failed(run, rc, why);
	run->result = json_pack("{s:s}", "import_id", id);
	if (!run->result)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	kcg_log(KCG_LOG_INFO, "stock import sent",
		json_pack("{s:s, s:I}", "import_id", id, "lines", (json_int_t)((struct flush *)run->blob)->sending));
	run->apply = apply_sent;
	return KCG_STEP_DONE;
}

/* ---- the import's end ---- */

#define LINES_PER_TXN 5000 /* an import's lines recorded per write transaction */

struct ending {
	struct kcg_txn *t;
	const struct kcg_config *cfg;
	const char *id;
	bool failed_whole;     /* FAILED, or the job died: nothing was taken */
	const json_t *lines;   /* line number -> reason */
	const json_t *skus;    /* offer-sku -> reason */
	size_t from, to;       /* the file's lines of this part: [from, to) */
};

static int raise_line(struct kcg_txn *t, const char *id, const char *subject, int64_t qty, const char *reason)
{
	char msg[1000];
	snprintf(msg, sizeof(msg),
		 "Mirakl refused the stock line for offer '%.130s' (quantity %" PRId64 ") in import %s: %s. Usually the "
		 "offer does not exist on Mirakl: create it there (the drift check finds it and kcgate sends the figure "
		 "again), or, if the product is retired, discontinue it in Khaos (STATUS 4): kcgate then sends nothing "
		 "for it and resolves this. kcgate also sends this SKU again when its figure changes or when this "
		 "exception is resolved by hand.",
		 subject, qty, id, reason);
	struct kcg_exc exc = {
		.kind = KCG_EXC_STOCK_IMPORT_LINE, .severity = KCG_SEV_WARNING, .system = "mirakl",
		.owner = "ecommerce", .subject = subject, .message = msg,
	};
	int rc = kcg_exc_raise(t, &exc, NULL);
	return rc == -EINVAL ? 0 : rc;
}

static int ending_line(size_t line, char **f, size_t nf, void *arg)
{
	struct ending *e = arg;
	struct kcg_stock_rec rec;
	uint64_t q;
	char no[24], key[KCG_STOCK_KEY_MAX], subject[KCG_STOCK_KEY_MAX];
	if (line >= e->to)
		return 1; /* past this part: stop the walk */
	if (line < e->from || line == 1 || nf < 2 || kcg_parse_u64(f[1], 0, INT64_MAX, &q) != 0)
		return 0; /* another part's, or the header */
	stock_key(key, f[0], nf > 2 ? f[2] : NULL);
	stock_subject(subject, key);
	if (kcg_stock_get(e->t, key, &rec) != 0)
		return 0; /* a SKU kcgate no longer has */
	snprintf(no, sizeof(no), "%zu", line);
	const char *reason = json_string_value(json_object_get(e->lines, no));
	bool by_sku = false;
	if (!reason)
		by_sku = (reason = json_string_value(json_object_get(e->skus, f[0]))) != NULL;
	bool has_wh = nf > 2 && *f[2];
	int rc = 0;
	if (e->failed_whole) {
		/* nothing published: checked again below, so it goes with the next import */
	} else if (by_sku && has_wh) {
		/* a row naming only the offer-sku: which of its warehouses' lines
		 * failed is not known; none is published nor marked refused (the
		 * offer's exception says so), each goes again */
		rc = raise_line(e->t, e->id, f[0], (int64_t)q, reason);
	} else if (reason) {
		rec.failed = (int64_t)q;
		rc = raise_line(e->t, e->id, subject, (int64_t)q, reason);
		if (rc == 0)
			rc = stock_refused_set(e->t, key, true);
	} else {
		rec.published = (int64_t)q;
		rec.published_ms = e->t->now_ms;
		snprintf(rec.published_import, sizeof(rec.published_import), "%s", e->id);
		rec.failed = -1;
		rc = stock_refused_set(e->t, key, false);
		if (rc == 0)
			rc = kcg_exc_resolve(e->t, KCG_EXC_STOCK_IMPORT_LINE, subject, "auto");
		if (rc == 0) /* drift is the offer's (OF21 shows one quantity) */
			rc = kcg_exc_resolve(e->t, KCG_EXC_STOCK_DRIFT, f[0], "auto");
		rc = rc == -EINVAL ? 0 : rc;
	}
	if (rc == 0)
		rc = stock_put(e->t, key, &rec);
	if (rc == 0)
		rc = stock_recheck(e->t, e->cfg, key, &rec);
	return rc;
}

/* The lines [@p from, @p to) of import @p id, which ended (@p status
 * COMPLETE or FAILED; "DEAD" when its job died): each published, refused,
 * or back to dirty. @return 1 when the file has lines past @p to, 0 when
 * not (or the import ended already), or an error. */
static int end_lines(struct kcg_txn *t, const struct kcg_config *cfg, const char *id, const char *status,
		     const json_t *result, size_t from, size_t to)
{
	MDB_val k = { strlen(id), (void *)id }, v;
	int rc = mdb_get(t->txn, kcg_store_db(t->store, DB_STOCK_IMPORTS), &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0; /* ended already */
	if (rc != 0)
		return rc;
	struct ending e = { t, cfg, id, strcmp(status, "COMPLETE") != 0, json_object_get(result, "lines"),
			    json_object_get(result, "skus"), from, to };
	/* v points into the map: copied, the walk writes */
	char *csv = malloc(v.mv_size ? v.mv_size : 1);
	if (!csv)
		return -ENOMEM;
	memcpy(csv, v.mv_data, v.mv_size);
	rc = kcg_csv_each(csv, v.mv_size, 4, ending_line, &e);
	free(csv);
	return rc;
}

/* The import's end once every line is recorded: the file goes, the state
 * says what happened. */
static int end_import(struct kcg_txn *t, const char *id, const char *status, const json_t *result)
{
	MDB_val k = { strlen(id), (void *)id };
	int rc = mdb_del(t->txn, kcg_store_db(t->store, DB_STOCK_IMPORTS), &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	json_t *state = stock_sync_get(t);
	const char *current = json_string_value(json_object_get(state, "current"));
	if (current && strcmp(current, id) == 0) {
		json_object_del(state, "current");
		json_object_del(state, "current_lines");
		json_object_del(state, "current_sent_ms");
	}
	json_object_set_new(state, "last_import",
			    json_pack("{s:s, s:s, s:O?, s:O?, s:I}", "import_id", id, "status", status, "lines_in_success",
				      json_object_get(result, "success"), "lines_in_error", json_object_get(result, "error"),
				      "finished_ms", (json_int_t)t->now_ms));
	if (strcmp(status, "COMPLETE") == 0)
		json_object_set_new(state, "last_complete_ms", json_integer((json_int_t)t->now_ms));
	rc = stock_sync_put(t, state);
	json_decref(state);
	return rc;
}

/* apply_part: the lines of part run->part (the header is line 1). */
static int apply_lines(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *ctx = run->ctx;
	size_t from = 2 + (size_t)run->part * LINES_PER_TXN;
	return end_lines(t, ctx->cfg, run->subject, json_string_value(json_object_get(run->result, "status")),
			 run->result, from, from + LINES_PER_TXN);
}

static int apply_ended(struct kcg_txn *t, struct kcg_job_run *run)
{
	return end_import(t, run->subject, json_string_value(json_object_get(run->result, "status")), run->result);
}

/* The job died (Mirakl never said how the import ended): every line goes
 * back to dirty, in the transaction that records the death. */
static int import_dead(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *ctx = run->ctx;
	int rc = end_lines(t, ctx->cfg, run->subject, "DEAD", NULL, 0, SIZE_MAX);
	return rc < 0 ? rc : end_import(t, run->subject, "DEAD", NULL);
}

/* One row of STO03: by its line number when it has one; by its offer-sku
 * only when it has none (a row naming line 3 says nothing of line 4,
 * another warehouse's line of the same offer). */
static int report_line(uint64_t line, const char *sku, const char *reason, void *arg)
{
	json_t *r = arg;
	char no[24];
	json_object_set_new(r, "reported", json_integer(json_integer_value(json_object_get(r, "reported")) + 1));
	if (line) {
		snprintf(no, sizeof(no), "%" PRIu64, line);
		json_object_set_new(json_object_get(r, "lines"), no, json_string(reason));
	} else if (*sku) {
		json_object_set_new(json_object_get(r, "skus"), sku, json_string(reason));
	}
	return 0;
}

static int current_lines(struct kcg_txn *t, void *arg)
{
	json_t *state = stock_sync_get(t);
	*(uint64_t *)arg = (uint64_t)json_integer_value(json_object_get(state, "current_lines"));
	json_decref(state);
	return 0;
}

/* The import still runs: the next STO02 in kcg_stock_status_poll_ms()
 * (15 s against Mirakl), flat, as a new job (the engine's backoff is for
 * failures; a long import would otherwise be seen late and late again). */
static int apply_poll_again(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *ctx = run->ctx;
	json_t *state = stock_sync_get(t);
	const char *current = json_string_value(json_object_get(state, "current"));
	bool ours = current && strcmp(current, run->subject) == 0;
	json_decref(state);
	if (!ours)
		return 0; /* ended meanwhile (a replay): nothing to follow */
	int rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL_STOCK, "stock.import", run->subject, NULL,
				  t->now_ms + kcg_stock_status_poll_ms(ctx->cfg), NULL);
	return rc == KCG_EDUPLICATE ? 0 : rc;
}

static enum kcg_step stock_import(struct kcg_job_run *run, void *ctx)
{
	static const char *const names[] = { "WAITING", "RUNNING", "COMPLETE", "FAILED" };
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	struct kcg_sto02 st;

	switch (run->phase) {
	case PH_START:
		run->phase = PH_STATUS;
		return kcg_job_call(run, kcg_mirakl_sto02(&flow->cfg->mirakl, run->subject, &run->call));
	case PH_STATUS: {
		int rc = kcg_mirakl_sto02_parse(&run->reply, &st, why);
		if (rc != 0)
			return kcg_job_failed(run, rc == KCG_ENOTFOUND ? KCG_EPAYLOAD : rc, why);
		if (st.status == KCG_STO_WAITING || st.status == KCG_STO_RUNNING) {
			/* not a failure (no backoff, no attempt counted): this job is
			 * done and a fresh check is due after the flat STO02 interval */
			run->apply = apply_poll_again;
			return KCG_STEP_DONE;
		}
		/* Error lines Mirakl cannot name (no report): which lines failed is
		 * unknown, so none counts as published; all go again. */
		const char *status = st.status == KCG_STO_COMPLETE && st.lines_in_error > 0 && !st.has_error_report
					     ? "COMPLETE_WITHOUT_REPORT"
					     : names[st.status];
		run->result = json_pack("{s:s, s:I, s:I, s:{}, s:{}}", "status", status, "success",
					(json_int_t)st.lines_in_success, "error", (json_int_t)st.lines_in_error, "lines",
					"skus");
		if (!run->result)
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		kcg_log(KCG_LOG_INFO, "stock import ended",
			json_pack("{s:s, s:s, s:I, s:I}", "import_id", run->subject, "status", status,
				  "lines_in_success", (json_int_t)st.lines_in_success, "lines_in_error",
				  (json_int_t)st.lines_in_error));
		run->apply_part = apply_lines;
		run->apply = apply_ended;
		if (st.status != KCG_STO_COMPLETE || st.lines_in_error == 0 || !st.has_error_report)
			return KCG_STEP_DONE;
		run->phase = PH_REPORT;
		return kcg_job_call(run, kcg_mirakl_sto03(&flow->cfg->mirakl, run->subject, &run->call));
	}
	default: {
		uint64_t lines = 0;
		if (kcg_store_read(flow->store, current_lines, &lines) != 0 || lines == 0)
			lines = KCG_KHAOS_ITEMS_MAX;
		int rc = kcg_mirakl_sto03_parse(&run->reply, (size_t)lines, report_line, run->result, why);
		if (rc != 0) {
			run->apply = NULL;
			run->apply_part = NULL;
			return kcg_job_failed(run, rc == KCG_EPAYLOAD ? rc : -EAGAIN, why);
		}
		json_int_t reported = json_integer_value(json_object_get(run->result, "reported"));
		if (reported != json_integer_value(json_object_get(run->result, "error"))) {
			/* the report does not account for lines_in_error: which lines
			 * failed is not known, so none counts as published (all go again) */
			kcg_log(KCG_LOG_WARN, "stock import error report does not match its status",
				json_pack("{s:s, s:I, s:O?}", "import_id", run->subject, "reported", (json_int_t)reported,
					  "lines_in_error", json_object_get(run->result, "error")));
			json_object_set_new(run->result, "status", json_string("COMPLETE_WITHOUT_REPORT"));
			json_object_set_new(run->result, "lines", json_object());
			json_object_set_new(run->result, "skus", json_object());
		}
		return KCG_STEP_DONE;
	}
	}
}

const struct kcg_job_kind stock_kind_flush = { "stock.flush", KCG_LANE_MIRAKL_STOCK, stock_flush, NULL };
const struct kcg_job_kind stock_kind_import = { "stock.import", KCG_LANE_MIRAKL_STOCK, stock_import, import_dead };

void stock_flush_timer(struct kcg_engine *engine, void *ctx)
{
	(void)engine;
	kcg_flow_enqueue_now(ctx, KCG_LANE_MIRAKL_STOCK, "stock.flush", "all");
}
