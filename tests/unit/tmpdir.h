/*
 * tmpdir.h: a fresh directory for a test's store, for the unit tests that
 * run on a real LMDB environment (test_store.c, test_exceptions.c,
 * test_retention.c, test_jobs.c, test_engine.c):
 *
 *   tmpdir_make(dir, size, name)  @p dir made a new directory
 *                                 "$KCG_TEST_TMP/name-XXXXXX" (/tmp when
 *                                 unset or empty); 0, or -1;
 *   tmpdir_remove(dir)            @p dir and all below it removed (links
 *                                 not followed); 0, or -1;
 *   tmpdir_close_store(store, dir) the store closed, then its directory
 *                                 removed; what tmpdir_remove() returns;
 *   tmpdir_teardown(store, dir, f) the same, then the fixture @p f freed;
 *                                 0, for a cmocka teardown to return.
 *
 * Static inline, so a test that uses only some of them builds warning-free.
 */
#ifndef KCG_TEST_TMPDIR_H
#define KCG_TEST_TMPDIR_H

#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "kcgate/store.h"

static inline int tmpdir_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline int tmpdir_make(char *dir, size_t size, const char *name)
{
	const char *base = getenv("KCG_TEST_TMP");
	snprintf(dir, size, "%s/%s-XXXXXX", base && *base ? base : "/tmp", name);
	return mkdtemp(dir) ? 0 : -1;
}

static inline int tmpdir_remove(const char *dir)
{
	return nftw(dir, tmpdir_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static inline int tmpdir_close_store(struct kcg_store *store, const char *dir)
{
	kcg_store_close(store);
	return tmpdir_remove(dir);
}

static inline int tmpdir_teardown(struct kcg_store *store, const char *dir, void *f)
{
	tmpdir_close_store(store, dir);
	free(f);
	return 0;
}

#endif
