/*
 * bench-orders-history: ./dev bench orders --history N. Whether the order
 * flow's periodic work grows with the orders it has finished.
 *
 *   bench-orders-history [--history N] [--open M] [--dir DIR]
 *
 * 1. Opens two stores (in a temporary directory, or DIR) with the order
 *    flow's databases, as kcgate does, and writes M open orders into each
 *    (default 1,000: a busy day in flight, booked and waiting to ship, a
 *    tenth of them past their booking point with no Khaos sales order).
 * 2. Writes N finished order records into the second (default 1,000,000:
 *    closed, with their Khaos sales order and a realistic Mirakl snapshot
 *    each, finished within the retention horizon so they stay), through
 *    the same orders_save() and retention index the flow uses.
 * 3. Times rounds of the periodic work on both stores, alternately, so
 *    that whatever else the machine does weighs on both alike: the first
 *    store is the baseline.
 *
 * One round is what the flow does on its own every minute whatever comes
 * in: the orders.watch timer (acceptance deadlines and missing_in_khaos
 * over the open orders), a retention sweep (nothing due: the horizon has
 * not passed) and the apply of one OR11 page (100 orders decided against
 * their records, as the poll does). Each figure is the median of 9 rounds,
 * after one warm-up round.
 *
 * Prints the machine, then as its last line
 *   orders-history: history=<N> open=<M> watch_ms=<w> baseline_watch_ms=<b>
 *   ratio=<w/b> sweep_ms=<s> page_ms=<p> baseline_page_ms=<q> load_s=<l>
 * or "orders-history: FAILED: <why>" with exit status 1.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../../src/flows/orders_private.h"
#include "kcgate/config.h"
#include "kcgate/flow.h"
#include "kcgate/store.h"
#include "kcgate/common.h"

#define DAY_MS (24ull * 3600 * 1000)
#define CHUNK 5000
#define ROUNDS 9
#define PAGE 100

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int fail(const char *why)
{
	printf("orders-history: FAILED: %s\n", why);
	return 1;
}

/* What kcgate needs to run the order flow (nothing here is contacted). */
static const char config_text[] = "[server]\n"
				  "listen = 127.0.0.1:1\n"
				  "[store]\n"
				  "path = unused\n"
				  "[admin]\n"
				  "token = bench-admin-token-0123456789abcdef\n"
				  "[mirakl]\n"
				  "webhook_auth = none\n"
				  "base_url = http://127.0.0.1:1/mirakl\n"
				  "api_key = bench\n"
				  "[inriver]\n"
				  "webhook_auth = none\n"
				  "[khaos]\n"
				  "soap_url = http://127.0.0.1:1/khaos\n"
				  "site = 1\n"
				  "sales_source = MIRAKL\n";

/* A Mirakl order as OR11 shows it, in @p state, @p age_ms old. */
static json_t *mirakl_order(const char *id, const char *state, uint64_t now, uint64_t age_ms)
{
	char created[32], updated[32];
	kcg_format_time(now - age_ms, created, sizeof(created));
	kcg_format_time(now - age_ms / 2, updated, sizeof(updated));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:[{s:s, s:s, s:s, s:i, s:f, s:f}, "
			 "{s:s, s:s, s:s, s:i, s:f, s:f}], s:{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}}",
			 "order_id", id, "commercial_id", id, "order_state", state, "created_date", created,
			 "last_updated_date", updated, "acceptance_decision_date", created, "total_price", 42.5,
			 "shipping_price", 3.5, "order_lines", "order_line_id", "L-1", "offer_sku", "SKU-0001",
			 "order_line_state", state, "quantity", 2, "price", 24.0, "price_unit", 12.0, "order_line_id",
			 "L-2", "offer_sku", "SKU-0002", "order_line_state", state, "quantity", 1, "price", 15.0,
			 "price_unit", 15.0, "customer", "firstname", "Ada", "lastname", "Lovelace", "shipping_address",
			 "street_1", "12 Analytical Row", "city", "London", "zip_code", "N1 9GU", "country_iso_code",
			 "GBR", "lastname", "Lovelace");
}

struct load {
	const struct kcg_config *cfg;
	uint64_t first, n, now;
	bool finished;
};

/* Writes records first .. first+n-1: finished (closed, retained) or open. */
static int load_fn(struct kcg_txn *t, void *arg)
{
	struct load *l = arg;
	for (uint64_t i = l->first; i < l->first + l->n; i++) {
		char id[40], so[24];
		snprintf(id, sizeof(id), "%s-%08llu-A", l->finished ? "F" : "O", (unsigned long long)i);
		snprintf(so, sizeof(so), "SO%08llu", (unsigned long long)i);
		uint64_t age = l->finished ? DAY_MS + i % (20 * DAY_MS) : 3600000u + i % 7200000u;
		json_t *rec = json_pack("{s:s, s:s}", "order_id", id, "sales_order_code", so);
		json_t *order = mirakl_order(id, l->finished ? "CLOSED" : "SHIPPING", l->now, age);
		orders_take_snapshot(l->cfg, rec, order);
		json_decref(order);
		orders_set_time(rec, "accepted_ms", l->now - age + 60000);
		orders_set_time(rec, "book_point_ms", l->now - age + 120000);
		if (l->finished) {
			orders_set_state(rec, KCG_ORDER_CLOSED);
			orders_set_time(rec, "finished_ms", l->now - age / 2);
		} else if (i % 10 == 0) { /* past its booking point, no sales order yet */
			orders_set_state(rec, KCG_ORDER_ACCEPTED);
			json_object_del(rec, "sales_order_code");
		} else {
			orders_set_state(rec, KCG_ORDER_BOOKED);
		}
		int rc = orders_save(t, rec);
		if (rc == 0 && l->finished)
			rc = kcg_store_retain(t, DB_ORDERS, id, strlen(id), l->now - age / 2);
		json_decref(rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int load(struct kcg_store *s, const struct kcg_config *cfg, bool finished, uint64_t n, uint64_t now)
{
	for (uint64_t first = 0; first < n; first += CHUNK) {
		struct load l = { cfg, first, n - first < CHUNK ? n - first : CHUNK, now, finished };
		int rc = kcg_store_write_sync(s, load_fn, &l);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* One OR11 page: PAGE open orders decided against their records. */
struct page {
	const struct kcg_config *cfg;
	uint64_t now, round;
	uint64_t open;
};

static int page_fn(struct kcg_txn *t, void *arg)
{
	struct page *p = arg;
	for (uint64_t i = 0; i < PAGE; i++) {
		char id[40];
		uint64_t n = (p->round * PAGE + i * 7) % p->open;
		snprintf(id, sizeof(id), "O-%08llu-A", (unsigned long long)n);
		json_t *order = mirakl_order(id, "SHIPPING", p->now, 3600000u);
		int rc = orders_decide(t, p->cfg, order);
		json_decref(order);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *ns)
{
	qsort(ns, ROUNDS, sizeof(*ns), cmp_u64);
	return (double)ns[ROUNDS / 2] / 1e6;
}

struct figures {
	double watch_ms, sweep_ms, page_ms;
};

/* One store measured: its flows' ctx, its timings. */
struct side {
	struct kcg_flow_ctx ctx;
	uint64_t w[ROUNDS], sw[ROUNDS], pg[ROUNDS];
};

/* One round on @p side, its figures in slot @p r. */
static int round_once(struct side *side, const struct kcg_engine_timer *watch, uint64_t open, int r)
{
	uint64_t t0 = kcg_mono_ns();
	watch->fn(NULL, &side->ctx);
	uint64_t t1 = kcg_mono_ns();
	uint64_t removed = 0;
	int rc = kcg_store_sweep(side->ctx.store, kcg_now_ms(), &removed);
	uint64_t t2 = kcg_mono_ns();
	struct page p = { side->ctx.cfg, kcg_now_ms(), (uint64_t)r, open };
	if (rc == 0)
		rc = kcg_store_write_sync(side->ctx.store, page_fn, &p);
	uint64_t t3 = kcg_mono_ns();
	if (rc == 0 && removed != 0)
		rc = -EINVAL; /* nothing is past the horizon */
	side->w[r] = t1 - t0;
	side->sw[r] = t2 - t1;
	side->pg[r] = t3 - t2;
	return rc;
}

/* The rounds, alternating between the two stores so that whatever else
 * the machine does weighs on both alike; a warm-up round each first. */
static int measure(struct side sides[2], const struct kcg_flow_set *set, uint64_t open, struct figures f[2])
{
	const struct kcg_engine_timer *watch = NULL;
	for (size_t i = 0; i < set->n_timers; i++)
		if (strcmp(set->timers[i].name, "orders.watch") == 0)
			watch = &set->timers[i];
	if (!watch)
		return -ENOENT;
	for (int r = -1; r < ROUNDS; r++)
		for (int i = 0; i < 2; i++) {
			int rc = round_once(&sides[i], watch, open, r < 0 ? 0 : r);
			if (rc != 0)
				return rc;
		}
	for (int i = 0; i < 2; i++)
		f[i] = (struct figures){ median_ms(sides[i].w), median_ms(sides[i].sw), median_ms(sides[i].pg) };
	return 0;
}

static int open_store(const char *dir, const char *name, const struct kcg_flow_set *set, struct kcg_store **out)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct kcg_store_options opt = {
		.path = path,
		.map_size_bytes = 64ull << 30,
		.dedupe_ttl_ms = 72 * 3600 * 1000ull,
		.max_batch = 1000,
		.queue_limit = 4000,
		.dbs = set->dbs,
		.owners = set->owners,
		.retention_ms = 30 * DAY_MS,
		.sweep_batch = 500,
		.sweep_interval_ms = 24 * 3600 * 1000ull, /* only the sweeps asked for */
	};
	const char *why = NULL;
	int rc = kcg_store_open(&opt, out, &why);
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", path, why ? why : "cannot open");
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t history = 1000000, open = 1000;
	char dir[512] = "";
	static const struct option opts[] = {
		{ "history", required_argument, NULL, 'n' },
		{ "open", required_argument, NULL, 'o' },
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'n' && kcg_parse_u64(optarg, 0, 100000000, &history) == 0)
			continue;
		if (o == 'o' && kcg_parse_u64(optarg, 1, 1000000, &open) == 0)
			continue;
		if (o == 'd' && strlen(optarg) < sizeof(dir) - 32) {
			snprintf(dir, sizeof(dir), "%s", optarg);
			continue;
		}
		fprintf(stderr, "usage: bench-orders-history [--history N] [--open M] [--dir DIR]\n");
		return 2;
	}
	struct kcg_config cfg = { 0 };
	char *errs = NULL, *warns = NULL;
	if (kcg_config_parse("bench.conf", config_text, sizeof(config_text) - 1, &cfg, &errs, &warns) != 0) {
		fprintf(stderr, "%s\n", errs ? errs : "");
		return fail("the bench's configuration");
	}
	free(errs);
	free(warns);
	static struct kcg_flow_set set;
	if (kcg_flow_set_init(&set, &cfg) != 0)
		return fail("the flow set");

	bool own_dir = !*dir;
	if (own_dir) {
		snprintf(dir, sizeof(dir), "/tmp/kcg-bench-history-XXXXXX");
		if (!mkdtemp(dir))
			return fail("mkdtemp");
	}
	struct utsname u;
	uname(&u);
	printf("machine: %s %s, %ld cores\n", u.machine, u.release, sysconf(_SC_NPROCESSORS_ONLN));

	uint64_t now = kcg_now_ms();
	struct kcg_store *base_store, *hist_store;
	if (open_store(dir, "baseline", &set, &base_store) != 0 || open_store(dir, "history", &set, &hist_store) != 0)
		return fail("cannot open the stores");
	if (load(base_store, &cfg, false, open, now) != 0 || load(hist_store, &cfg, false, open, now) != 0)
		return fail("writing the open orders");
	uint64_t t0 = kcg_mono_ns();
	if (load(hist_store, &cfg, true, history, now) != 0)
		return fail("writing the finished orders");
	double load_s = (double)(kcg_mono_ns() - t0) / 1e9;
	fprintf(stderr, "wrote %llu finished orders in %.1f s\n", (unsigned long long)history, load_s);
	struct side sides[2] = { { .ctx = set.ctx }, { .ctx = set.ctx } };
	sides[0].ctx.store = base_store;
	sides[1].ctx.store = hist_store;
	struct figures f[2];
	if (measure(sides, &set, open, f) != 0)
		return fail("the rounds");
	kcg_store_close(base_store);
	kcg_store_close(hist_store);
	kcg_config_finish(&cfg);
	if (own_dir)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	printf("orders-history: history=%llu open=%llu watch_ms=%.3f baseline_watch_ms=%.3f ratio=%.2f sweep_ms=%.3f "
	       "page_ms=%.3f baseline_page_ms=%.3f load_s=%.1f\n",
	       (unsigned long long)history, (unsigned long long)open, f[1].watch_ms, f[0].watch_ms,
	       f[0].watch_ms > 0 ? f[1].watch_ms / f[0].watch_ms : 0, f[1].sweep_ms, f[1].page_ms, f[0].page_ms, load_s);
	return 0;
}
