/*
 * fuzz-mirakl-reply.c: libFuzzer target for the Mirakl answer parsers
 * (kcg_mirakl_or11_parse, kcg_mirakl_or12_parse, and OR21's). The input is
 * a reply body, read as a 200 and as a 400 (the error-message path).
 * Besides crashes and leaks it checks: a known return code, a printable
 * and terminated why (non-empty on failure), and on success the shapes
 * callers index into (an array of objects, an object) plus the order
 * helpers run over every order.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/peers/mirakl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t cap, bool nonempty)
{
	size_t n = strnlen(s, cap);

	if (n == cap || (nonempty && n == 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

static void check_rc(int rc)
{
	if (rc != 0 && rc != -EAGAIN && rc != KCG_EPAYLOAD && rc != KCG_ENOTFOUND && rc != -ENOMEM)
		abort();
}

static void touch(const json_t *order)
{
	uint64_t ms;
	(void)kcg_mirakl_order_id(order);
	(void)kcg_mirakl_order_state(order);
	(void)kcg_mirakl_order_waiting(order);
	(void)kcg_mirakl_order_accepted(order);
	(void)kcg_mirakl_parse_time(json_string_value(json_object_get(order, "created_date")), &ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 400 };
	char *body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++) {
		struct kcg_reply r = { .status = statuses[s], .body = body, .len = size, .retry_after_s = -1 };
		char why[KCG_ERROR_MAX];
		json_t *orders = NULL, *order = NULL;
		uint64_t total = 0;
		int rc;

		memset(why, 0xff, sizeof(why));
		rc = kcg_mirakl_or11_parse(&r, &orders, &total, why);
		check_rc(rc);
		check_text(why, sizeof(why), rc != 0);
		if (rc == 0) {
			size_t i;
			json_t *o;
			if (!json_is_array(orders))
				abort();
			json_array_foreach(orders, i, o) {
				if (!json_is_object(o))
					abort();
				touch(o);
			}
			json_decref(orders);
		} else if (orders) {
			abort();
		}

		memset(why, 0xff, sizeof(why));
		rc = kcg_mirakl_or12_parse(&r, &order, why);
		check_rc(rc);
		check_text(why, sizeof(why), rc != 0);
		if (rc == 0) {
			if (!json_is_object(order))
				abort();
			touch(order);
			json_decref(order);
		} else if (order) {
			abort();
		}

		memset(why, 0xff, sizeof(why));
		rc = kcg_mirakl_or21_parse(&r, why);
		check_rc(rc);
		check_text(why, sizeof(why), rc != 0);
	}
	free(body);
	return 0;
}
