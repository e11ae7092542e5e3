/*
 * inriver_rules.c: the inriver flow's decisions as pure functions (see
 * flows/inriver.h): which fields are Khaos's, whether an update is kcgate's
 * own write echoed back (or a person's edit), what to write, whether a SKU may be published,
 * when the next write may go. Unit-tested by tests/unit/flows/test_inriver.c.
 */
#include "kcgate/flows/inriver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/peers/khaos.h"

size_t kcg_inriver_owned(const struct kcg_inriver_config *cfg, const char *out[4])
{
	const char *all[4] = { cfg->field_khaos_status, cfg->field_available, cfg->field_price, cfg->field_last_sync };
	size_t n = 0;
	for (size_t i = 0; i < 4; i++)
		if (all[i] && *all[i])
			out[n++] = all[i];
	return n;
}

static bool is_owned(const struct kcg_inriver_config *cfg, const char *field)
{
	const char *owned[4];
	size_t n = kcg_inriver_owned(cfg, owned);
	for (size_t i = 0; i < n; i++)
		if (strcmp(owned[i], field) == 0)
			return true;
	return false;
}

static bool in_list(const json_t *list, const char *field)
{
	size_t i;
	json_t *el;
	json_array_foreach(list, i, el) {
		const char *f = json_string_value(el);
		if (f && strcmp(f, field) == 0)
			return true;
	}
	return false;
}

bool kcg_inriver_echo(const struct kcg_inriver_config *cfg, const json_t *changed, const json_t *expect,
		      uint64_t now_ms)
{
	size_t i;
	json_t *el;
	if (!json_is_array(changed) || json_array_size(changed) == 0)
		return false; /* nothing named: read it, it may be anything */
	const json_t *fields = json_object_get(expect, "fields");
	json_int_t until = json_integer_value(json_object_get(expect, "until_ms"));
	if (!json_is_array(fields) || until <= 0 || (uint64_t)until <= now_ms)
		return false; /* no write of kcgate's is due back: a person's edit */
	json_array_foreach(changed, i, el) {
		const char *f = json_string_value(json_object_get(el, "fieldTypeId"));
		if (!f || !is_owned(cfg, f) || !in_list(fields, f))
			return false;
	}
	return true;
}

/* A number, or a string that is one whole ("20.00"), as a double. */
static bool number_of(const json_t *j, double *out)
{
	const char *s = json_string_value(j);
	char *end;
	if (json_is_number(j)) {
		*out = json_number_value(j);
		return true;
	}
	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return *end == '\0' && errno == 0 && *out == *out && *out - *out == 0; /* not NaN, not infinite */
}

/* Whether inriver's @p have is the value @p v: the same JSON, or the same
 * number to 1/10,000 in another type (a Double field may answer 20 for
 * 20.0, a String field "20.00"): such an answer is no change to write. */
static bool same_value(const json_t *have, const json_t *v)
{
	double a, b, half = 0.5 / KCG_KHAOS_PRICE_SCALE;
	if (json_equal(have, v))
		return true;
	return number_of(have, &a) && number_of(v, &b) && a - b < half && b - a < half;
}

/* Sets @p field to @p v in @p out unless @p have holds that value already. */
static void put(json_t *out, const json_t *have, const char *field, json_t *v)
{
	if (!field || !*field || !v) {
		json_decref(v);
		return;
	}
	if (same_value(json_object_get(have, field), v)) {
		json_decref(v);
		return;
	}
	json_object_set_new(out, field, v);
}

json_t *kcg_inriver_values(const struct kcg_inriver_config *cfg, const struct kcg_inriver_khaos *k,
			   const json_t *have, const char *now_iso)
{
	json_t *out = json_object();
	if (!out)
		return NULL;
	const char *status = NULL;
	if (!k->known)
		status = KCG_INRIVER_UNKNOWN;
	else if (!k->discontinued)
		status = KCG_INRIVER_OK;
	else if (k->confirmed_zero)
		status = KCG_INRIVER_DISCONTINUED;
	/* discontinued, Mirakl not yet at 0: the status waits (unpublished first, then flagged) */
	if (status)
		put(out, have, cfg->field_khaos_status, json_string(status));
	if (k->known)
		put(out, have, cfg->field_available, json_integer((json_int_t)k->available));
	if (k->known && k->price >= 0)
		put(out, have, cfg->field_price, json_real((double)k->price / KCG_KHAOS_PRICE_SCALE));
	if (json_object_size(out) > 0 && now_iso)
		put(out, have, cfg->field_last_sync, json_string(now_iso));
	return out;
}

enum kcg_inriver_gate kcg_inriver_gate_of(bool require_link, bool linked, bool deleted, bool audited)
{
	if (deleted)
		return KCG_INRIVER_GATE_ZERO;
	if (linked || !require_link)
		return KCG_INRIVER_GATE_OPEN;
	return audited ? KCG_INRIVER_GATE_ZERO : KCG_INRIVER_GATE_HOLD;
}

const char *kcg_inriver_gate_name(enum kcg_inriver_gate g)
{
	static const char *const names[] = { "open", "zero", "hold" };
	return (unsigned)g < 3 ? names[g] : "unknown";
}

uint64_t kcg_inriver_due(uint64_t now_ms, uint64_t last_write_ms, uint64_t interval_s)
{
	uint64_t next = last_write_ms ? last_write_ms + interval_s * 1000u : 0;
	return next > now_ms ? next : now_ms;
}
