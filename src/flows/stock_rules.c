/*
 * stock_rules.c: the stock flow's decisions as pure functions
 * (flows/stock.h): the figure Mirakl should show, whether a SKU must be
 * sent, its buffer, staleness.
 */
#include "kcgate/flows/stock.h"

#include <string.h>

void kcg_stock_rec_init(struct kcg_stock_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->version = KCG_STOCK_REC_VERSION;
	rec->status = -1;
	rec->published = rec->failed = rec->mirakl = -1;
}

bool kcg_stock_publishable(const struct kcg_stock_rules *rules, int64_t level, int64_t build, int status,
			   uint64_t buffer, uint64_t reserved, int64_t *qty)
{
	*qty = 0;
	if (status == KCG_STOCK_DISCONTINUED)
		return true; /* discontinued: nothing to sell */
	if (status == KCG_STOCK_NOT_CONTROLLED) {
		if (rules->uncontrolled == KCG_STOCK_LEAVE)
			return false;
		*qty = rules->uncontrolled;
		return true;
	}
	/* in 128 bits: a hostile LEVEL near INT64_MAX plus a build potential must not wrap */
	__int128 v = level;
	if (rules->include_build && build > 0)
		v += build;
	v -= (__int128)buffer;
	v -= (__int128)reserved;
	if (v < 0)
		v = 0;
	if (v > INT64_MAX / 2)
		v = INT64_MAX / 2;
	*qty = (int64_t)v;
	return true;
}

bool kcg_stock_needs_push(const struct kcg_stock_rec *rec, int64_t qty, bool line_refused_open)
{
	if (rec->published == qty)
		return false;
	if (rec->failed == qty && line_refused_open)
		return false; /* Mirakl refused this very figure: wait for a fix */
	return true;
}

uint64_t kcg_stock_buffer_of(const struct kcg_config_map *buffers, const char *sku, uint64_t dflt)
{
	const char *v = kcg_config_map_get(buffers, sku);
	uint64_t b;
	if (v && kcg_parse_u64(v, 0, 1000000000, &b) == 0)
		return b;
	return dflt;
}

struct kcg_stock_ages kcg_stock_ages(uint64_t now_ms, uint64_t start_ms, uint64_t last_poll_ms,
				     uint64_t last_complete_ms, bool waiting, uint64_t stale_ms)
{
	struct kcg_stock_ages a = { .waiting = waiting };
	uint64_t poll = last_poll_ms ? last_poll_ms : start_ms;
	uint64_t done = last_complete_ms ? last_complete_ms : start_ms;
	a.poll_age_ms = now_ms > poll ? now_ms - poll : 0;
	a.import_age_ms = now_ms > done ? now_ms - done : 0;
	a.stale = a.poll_age_ms > stale_ms || (waiting && a.import_age_ms > stale_ms);
	return a;
}

uint64_t kcg_stock_flush_floor_ms(const struct kcg_config *cfg)
{
	return cfg->mirakl.stock_rate_limits == KCG_RATE_SIM ? 1000u : 60000u;
}

uint64_t kcg_stock_status_poll_ms(const struct kcg_config *cfg)
{
	return cfg->mirakl.stock_rate_limits == KCG_RATE_SIM ? 1000u : 15000u;
}
