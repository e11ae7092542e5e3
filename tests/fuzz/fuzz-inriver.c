/*
 * fuzz-inriver.c: libFuzzer target for kcg_payload_inriver(), the parser of
 * the five /api/listeners/{event} bodies. The first input byte picks the call:
 * its low 7 bits mod 5 the event (so every event is reached with the flag
 * on and off), bit 7 the CloudEvents Content-Type flag; the rest is the
 * body. Checks a known return code and a printable, terminated message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[KCG_ERROR_MAX];
	enum kcg_inriver_event ev;
	bool cloudevent;
	size_t n;
	int r;

	if (size < 1)
		return 0;
	ev = (enum kcg_inriver_event)((data[0] & 0x7f) % 5);
	cloudevent = data[0] & 0x80;
	memset(why, 0xff, sizeof(why));
	r = kcg_payload_inriver(ev, cloudevent, (const char *)data + 1, size - 1, why);
	if (r != 0 && r != KCG_EJSON && r != KCG_EPAYLOAD && r != -ENOMEM)
		abort();
	n = strnlen(why, sizeof(why));
	if (n == sizeof(why) || (r != 0 && n == 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (why[i] < 0x20 || why[i] > 0x7e)
			abort();
	return 0;
}
