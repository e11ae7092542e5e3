/*
 * fuzz-khaos-stock.c: libFuzzer target for the streaming ExportStockStatus
 * reader (kcg_khaos_stock_items_read: xmlTextReader over the inner
 * document, khaos_stock.c). The input is the inner document itself (what
 * the SOAP string result carries). Besides crashes and leaks it checks
 * the contract the SKU cache relies on: a known return code, a printable
 * and terminated why (non-empty on failure), items with a non-empty,
 * terminated code and a STATUS in -1..5 that agrees with discontinued,
 * and never more items handed over than STOCK_ITEM elements counted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/peers/khaos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_item(const struct kcg_stock_item *item, void *arg)
{
	size_t n = strnlen(item->code, sizeof(item->code));
	if (n == 0 || n == sizeof(item->code) || item->status < -1 || item->status > 5 ||
	    item->discontinued != (item->status == KCG_STOCK_DISCONTINUED))
		abort();
	(*(size_t *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[KCG_ERROR_MAX];
	size_t items = 0, count = 0;
	memset(why, 'x', sizeof(why));
	int rc = kcg_khaos_stock_items_read((const char *)data, size, on_item, &items, &count, why);
	if (rc != 0 && rc != KCG_EPAYLOAD && rc != -ENOMEM)
		abort();
	size_t n = strnlen(why, sizeof(why));
	if (n == sizeof(why) || (rc != 0 && n == 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (why[i] < 0x20 || why[i] > 0x7e)
			abort();
	if (items > count)
		abort();
	return 0;
}
