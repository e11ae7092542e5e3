/*
 * jobs_store.h: the store test_jobs.c and test_engine.c run the engine on:
 *
 *   jobs_store_open(dir, size, name, &store, &cfg)
 *       a fresh directory (tmpdir.h) holding a store with the job queue's
 *       and the exception register's databases (dead jobs raise there), and
 *       @p cfg's jobs and lanes set as both tests run them: retries from
 *       10 ms up to 1 s, a breaker after 3 failures, 4 workers a lane.
 *       Fails the test when the directory or the store cannot be made.
 *   jobs_store_close(store, dir)
 *       the store closed and its directory removed; fails the test when
 *       the directory stays.
 *
 * Static inline, so a test that uses only some of them builds warning-free.
 */
#ifndef KCG_TEST_JOBS_STORE_H
#define KCG_TEST_JOBS_STORE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcgate/config.h"
#include "kcgate/exceptions.h"
#include "kcgate/jobs.h"
#include "kcgate/store.h"

#include "tmpdir.h"

static inline void jobs_store_open(char *dir, size_t size, const char *name, struct kcg_store **store,
				   struct kcg_config *cfg)
{
	assert_int_equal(tmpdir_make(dir, size, name), 0);
	/* the databases of the queue and of the exception register (dead_job) */
	static const char *dbs[8];
	size_t n = 0;
	for (size_t i = 0; kcg_jobs_dbs[i]; i++)
		dbs[n++] = kcg_jobs_dbs[i];
	for (size_t i = 0; kcg_exc_dbs[i]; i++)
		dbs[n++] = kcg_exc_dbs[i];
	struct kcg_store_options so = { .path = dir, .map_size_bytes = 64u << 20, .dedupe_ttl_ms = 3600000,
					.max_batch = 64, .queue_limit = 1024, .dbs = dbs };
	assert_int_equal(kcg_store_open(&so, store, NULL), 0);
	cfg->jobs.max_age_h = 1;
	cfg->jobs.retry_base_ms = 10;
	cfg->jobs.retry_max_s = 1;
	cfg->jobs.breaker_failures = 3;
	cfg->jobs.breaker_cooldown_s = 60;
	cfg->jobs.max_reply_bytes = 1 << 20;
	cfg->lanes.mirakl = cfg->lanes.khaos = cfg->lanes.inriver = 4;
	cfg->lanes.alerts = 2;
	cfg->lanes.mirakl_stock = 1;
}

static inline void jobs_store_close(struct kcg_store *store, const char *dir)
{
	assert_int_equal(tmpdir_close_store(store, dir), 0);
}

#endif
