/*
 * fuzz-mirakl-reply.c: libFuzzer target for the Mirakl answer parsers
 * (kcg_mirakl_or11_parse, kcg_mirakl_or12_parse, and OR21's; the stock
 * calls' STO01, STO02, STO03 and OF21 parsers). The input is
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
#include "kcgate/peers/mirakl_stock.h"

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

static int on_line(uint64_t line, const char *sku, const char *reason, void *arg)
{
	(*(size_t *)arg)++;
	if (line == 0 && !*sku)
		abort(); /* a report line names a line or an offer */
	check_text(reason, 300, true);
	if (strnlen(sku, KCG_MIRAKL_SKU_MAX) == KCG_MIRAKL_SKU_MAX)
		abort();
	return 0;
}

static int on_offer(const char *sku, int64_t q, void *arg)
{
	(*(size_t *)arg)++;
	if (!kcg_mirakl_stock_sku_ok(sku) || q < 0)
		abort();
	return 0;
}

static void stock_parsers(const struct kcg_reply *r)
{
	char why[KCG_ERROR_MAX], id[KCG_MIRAKL_IMPORT_ID_MAX];
	struct kcg_sto02 st;
	size_t n = 0, page = 0;
	uint64_t total;
	int rc;

	memset(why, 0xff, sizeof(why));
	rc = kcg_mirakl_sto01_parse(r, id, why);
	check_rc(rc);
	check_text(why, sizeof(why), rc != 0);
	if (rc == 0 && (!*id || strnlen(id, sizeof(id)) == sizeof(id)))
		abort();
	memset(why, 0xff, sizeof(why));
	rc = kcg_mirakl_sto02_parse(r, &st, why);
	check_rc(rc);
	check_text(why, sizeof(why), rc != 0);
	if (rc == 0 && st.status > KCG_STO_FAILED)
		abort();
	why[0] = '\0';
	rc = kcg_mirakl_sto03_parse(r, 50, on_line, &n, why);
	check_rc(rc);
	check_text(why, sizeof(why), rc == KCG_EPAYLOAD);
	if (n > 50)
		abort();
	memset(why, 0xff, sizeof(why));
	n = 0;
	rc = kcg_mirakl_of21_parse(r, on_offer, &n, &total, &page, why);
	check_rc(rc);
	check_text(why, sizeof(why), rc != 0);
	if (rc == 0 && (page != n || page > 100))
		abort();
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

		stock_parsers(&r);
	}
	free(body);
	return 0;
}
