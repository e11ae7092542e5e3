/*
 * fuzz-mirakl.c: libFuzzer target for kcg_payload_mirakl(), the parser of
 * POST /webhooks/mirakl bodies. Besides crashes and leaks it checks the
 * contract callers rely on: a known return code, a non-empty printable
 * kind, and a printable, terminated message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/payload.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];
	int r;

	/* Poison the outputs so an unwritten byte shows up as unterminated. */
	memset(kind, 0xff, sizeof(kind));
	memset(why, 0xff, sizeof(why));
	r = kcg_payload_mirakl((const char *)data, size, kind, why);
	if (r != 0 && r != KCG_EJSON && r != KCG_EPAYLOAD && r != -ENOMEM)
		abort();
	check_text(kind, sizeof(kind), true);
	check_text(why, sizeof(why), r != 0);
	return 0;
}
