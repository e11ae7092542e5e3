/*
 * net_fixtures.h: call and reply helpers for the peer clients' unit tests
 * (test_mirakl.c, test_khaos.c, test_khaos_soap.c, test_order_map.c):
 *
 *   reply(status, body)        a struct kcg_reply as a peer would answer
 *                              (body copied; free with kcg_reply_finish());
 *   header(call, name)         the value of header @p name in a built call,
 *                              or NULL;
 *   assert_printable(why)      an error text fits KCG_ERROR_MAX and is
 *                              printable ASCII.
 *
 * Static inline, so a test that uses only some of them builds warning-free.
 */
#ifndef KCG_TEST_NET_FIXTURES_H
#define KCG_TEST_NET_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/net.h"

static inline struct kcg_reply reply(long status, const char *body)
{
	struct kcg_reply r = { .status = status, .retry_after_s = -1 };
	if (body) {
		r.body = strdup(body);
		r.len = strlen(body);
	}
	return r;
}

static inline const char *header(const struct kcg_call *c, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < c->n_headers; i++)
		if (strncmp(c->headers[i], name, n) == 0 && c->headers[i][n] == ':')
			return c->headers[i] + n + 2;
	return NULL;
}

static inline void assert_printable(const char *s)
{
	assert_true(strlen(s) < KCG_ERROR_MAX);
	for (const char *p = s; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

#endif
