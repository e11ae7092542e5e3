/**
 * kcgate/json.h: the two readers every module's JSON records need, so a
 * missing or mistyped member reads as "" or 0 instead of NULL.
 */
#ifndef KCGATE_JSON_H
#define KCGATE_JSON_H

#include <stdint.h>

#include <jansson.h>

/** The string member @p key of @p obj, or "" (missing, not a string, @p obj NULL). */
static inline const char *kcg_json_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

/** The integer member @p key of @p obj when positive, else 0. */
static inline uint64_t kcg_json_u64(const json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));
	return v > 0 ? (uint64_t)v : 0;
}

#endif
