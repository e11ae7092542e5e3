/*
 * fuzz-khaos.c: libFuzzer target for the Khaos SOAP answer parsers
 * (kcg_khaos_import_parse, kcg_khaos_order_status_parse,
 * kcg_khaos_stock_status_parse, kcg_khaos_stock_list_parse,
 * kcg_khaos_despatch_parse), and through
 * them the SOAP transport's answer reader (khaos_soap.c). The input is
 * a reply body, read once as a 200 and once as a 500. Besides crashes and
 * leaks it checks the contract callers rely on: a known return code, a
 * printable and terminated why (non-empty on failure), a terminated code,
 * and stock items with a non-empty code.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/peers/khaos.h"

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

static void check_rc(int rc, bool notfound_ok, bool duplicate_ok)
{
	if (rc != 0 && rc != -EAGAIN && rc != KCG_EPAYLOAD && rc != -ENOMEM && !(notfound_ok && rc == KCG_ENOTFOUND) &&
	    !(duplicate_ok && rc == KCG_EDUPLICATE))
		abort();
}

static int on_item(const struct kcg_stock_item *item, void *arg)
{
	size_t n = strnlen(item->code, sizeof(item->code));
	if (n == 0 || n == sizeof(item->code) || item->status < -1 || item->status > 5 ||
	    item->discontinued != (item->status == KCG_STOCK_DISCONTINUED))
		abort();
	return 0;
}

/* A TStockInfo: a non-empty code that fits, a parent that fits; counts them. */
static int on_info(const struct kcg_khaos_stock_info *info, void *arg)
{
	size_t n = strnlen(info->code, sizeof(info->code));
	if (n == 0 || n == sizeof(info->code) || strnlen(info->parent_code, sizeof(info->parent_code)) ==
							  sizeof(info->parent_code))
		abort();
	++*(size_t *)arg;
	return 0;
}

/* What the despatch reader promises: bounded refs, consignments, couriers
 * and URLs; a shipped unit has a ship date and a consignment ref. */
static void check_despatch(int rc, json_t *orders)
{
	size_t i, j;
	json_t *k, *u;
	if ((rc == 0) != (orders != NULL) || (orders && !json_is_array(orders)))
		abort();
	json_array_foreach(orders, i, k) {
		const char *ref = json_string_value(json_object_get(k, "ref"));
		if (!ref || !*ref || strlen(ref) >= KCG_KHAOS_CODE_MAX ||
		    json_array_size(json_object_get(k, "units")) > KCG_KHAOS_UNITS_MAX)
			abort();
		json_array_foreach(json_object_get(k, "units"), j, u) {
			const char *cons = json_string_value(json_object_get(u, "consignment"));
			const char *url = json_string_value(json_object_get(u, "tracking_url"));
			const char *courier = json_string_value(json_object_get(u, "courier"));
			if (!cons || !url || !courier || strlen(cons) > KCG_KHAOS_TEXT_MAX ||
			    strlen(courier) > KCG_KHAOS_TEXT_MAX || strlen(url) > KCG_KHAOS_URL_MAX ||
			    json_array_size(json_object_get(u, "items")) > KCG_KHAOS_UNIT_ITEMS_MAX)
				abort();
			if (json_is_true(json_object_get(u, "shipped")) &&
			    (!*cons || json_integer_value(json_object_get(u, "ship_ms")) <= 0))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 500 };
	static const struct kcg_khaos_config cfg = { .transport = "soap" };
	/* The reply body is NUL-terminated by contract (net.h). */
	char *body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';

	for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++) {
		struct kcg_reply r = { .status = statuses[s], .body = body, .len = size, .retry_after_s = -1 };
		char code[KCG_KHAOS_CODE_MAX], why[KCG_ERROR_MAX];
		int rc;

		memset(code, 0xff, sizeof(code));
		memset(why, 0xff, sizeof(why));
		rc = kcg_khaos_import_parse(&cfg, &r, "ORD-1", code, why);
		check_rc(rc, false, true);
		check_text(code, sizeof(code), rc == 0);
		check_text(why, sizeof(why), rc != 0);

		memset(code, 0xff, sizeof(code));
		memset(why, 0xff, sizeof(why));
		struct kcg_khaos_order_info info;
		memset(&info, 0xff, sizeof(info));
		rc = kcg_khaos_order_status_parse(&cfg, &r, "ORD-1", code, &info, why);
		check_rc(rc, true, false);
		check_text(code, sizeof(code), false);
		if (rc == 0 && (strnlen(info.code, sizeof(info.code)) == sizeof(info.code) ||
				strcmp(info.ref, "ORD-1") != 0 ||
				strnlen(info.consignment, sizeof(info.consignment)) == sizeof(info.consignment)))
			abort();
		check_text(why, sizeof(why), rc != 0);

		memset(why, 0xff, sizeof(why));
		rc = kcg_khaos_stock_status_parse(&cfg, &r, on_item, NULL, why);
		check_rc(rc, false, false);
		check_text(why, sizeof(why), rc != 0);

		memset(why, 0xff, sizeof(why));
		size_t seen = 0;
		struct kcg_khaos_stock_list list;
		rc = kcg_khaos_stock_list_parse(&cfg, &r, on_info, &seen, &list, why);
		check_rc(rc, false, false);
		/* why says every skip; what was handed over is what was counted */
		check_text(why, sizeof(why), rc != 0 || (rc == 0 && list.skipped > 0));
		if (rc == 0 && (seen != list.listed || list.count < -1 || seen > KCG_KHAOS_ITEMS_MAX))
			abort();

		memset(why, 0xff, sizeof(why));
		json_t *orders = NULL;
		rc = kcg_khaos_despatch_parse(&cfg, &r, &orders, why);
		check_rc(rc, false, false);
		check_text(why, sizeof(why), rc != 0);
		check_despatch(rc, orders);
		json_decref(orders);
	}
	free(body);
	return 0;
}
