/*
 * fuzz-inriver-reply.c: libFuzzer target for the inriver REST answer
 * parsers (entity summary, field values, query, mapuniquevalues, getempty,
 * createnew, the PUT's answer). The input is a reply body, read as a 200
 * and as a 400 (the refusal path). Besides crashes and leaks it checks: a
 * known return code, a printable and terminated why (non-empty on
 * failure), and on success the bounds callers rely on (ids positive and
 * at most the limit, values no longer than KCG_INRIVER_VALUE_MAX, a
 * terminated entity type).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/common.h"
#include "kcgate/peers/inriver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IDS_MAX 50

static void check_why(int rc, const char *why)
{
	size_t n = strnlen(why, KCG_ERROR_MAX);
	if (rc != 0 && rc != -EAGAIN && rc != KCG_EPAYLOAD && rc != KCG_ENOTFOUND && rc != -ENOMEM)
		abort();
	if (n == KCG_ERROR_MAX || (rc != 0 && rc != -ENOMEM && n == 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (why[i] < 0x20 || why[i] > 0x7e)
			abort();
}

static void check_ids(const json_t *ids, size_t max)
{
	size_t i;
	json_t *el;
	if (!json_is_array(ids) || json_array_size(ids) > max)
		abort();
	json_array_foreach(ids, i, el) if (!json_is_integer(el) || json_integer_value(el) <= 0) abort();
}

static void one(const struct kcg_reply *r)
{
	char why[KCG_ERROR_MAX], type[KCG_INRIVER_FIELD_MAX];
	json_t *j;
	uint64_t id;
	int rc = kcg_inriver_summary_parse(r, type, why);
	check_why(rc, why);
	if (rc == 0 && (strnlen(type, sizeof(type)) == sizeof(type) || !*type))
		abort();
	rc = kcg_inriver_fields_get_parse(r, &j, why);
	check_why(rc, why);
	if (rc == 0) {
		const char *k;
		json_t *v;
		if (!json_is_object(j))
			abort();
		json_object_foreach(j, k, v) if (json_is_string(v) && json_string_length(v) > KCG_INRIVER_VALUE_MAX) abort();
		json_decref(j);
	}
	rc = kcg_inriver_query_parse(r, IDS_MAX, &j, why);
	check_why(rc, why);
	if (rc == 0) {
		check_ids(j, IDS_MAX);
		json_decref(j);
	}
	rc = kcg_inriver_map_parse(r, &j, why);
	check_why(rc, why);
	if (rc == 0) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) {
			check_ids(v, 1000);
			if (json_array_size(v) == 0)
				abort();
		}
		json_decref(j);
	}
	rc = kcg_inriver_getempty_parse(r, &j, why);
	check_why(rc, why);
	if (rc == 0) {
		if (!json_is_array(json_object_get(j, "fieldValues")))
			abort();
		json_decref(j);
	}
	rc = kcg_inriver_createnew_parse(r, &id, why);
	check_why(rc, why);
	if (rc == 0 && id == 0)
		abort();
	check_why(kcg_inriver_fields_put_parse(r, why), why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	struct kcg_reply r = { .status = 200, .body = body, .len = size, .retry_after_s = -1 };
	one(&r);
	r.status = 400;
	one(&r);
	r.status = 429;
	one(&r);
	free(body);
	return 0;
}
