/*
 * alerts_rules.c: the alerts' decisions and the parsing of their keys, as
 * pure functions (see kcgate/alerts.h): whether a raise is sent, when a
 * digest is due, hours with fractions, a time of day, mail addresses.
 */
#include "kcgate/alerts.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define HOURS_MAX 8760u
#define ADDRESS_MAX 254u
#define DAY_S 86400

const char *kcg_alert_reason_name(enum kcg_alert_reason r)
{
	switch (r) {
	case KCG_ALERT_NONE: return "none";
	case KCG_ALERT_NEW: return "new";
	case KCG_ALERT_REOPENED: return "reopened";
	case KCG_ALERT_REPEAT: return "repeat";
	}
	return "none";
}

enum kcg_alert_reason kcg_alert_repeat_due(bool open, uint64_t sent_ms, uint64_t now_ms, uint64_t repeat_ms)
{
	if (!open || !repeat_ms || !sent_ms || now_ms < sent_ms || now_ms - sent_ms < repeat_ms)
		return KCG_ALERT_NONE;
	return KCG_ALERT_REPEAT;
}

enum kcg_alert_reason kcg_alert_decide(enum kcg_exc_change change, enum kcg_exc_severity sev,
				       enum kcg_exc_severity min, uint64_t sent_ms, uint64_t now_ms,
				       uint64_t repeat_ms)
{
	if (sev < min)
		return KCG_ALERT_NONE;
	switch (change) {
	case KCG_EXC_NEW:
		return KCG_ALERT_NEW;
	case KCG_EXC_REOPENED:
		return KCG_ALERT_REOPENED;
	case KCG_EXC_AGAIN:
		/* open all along: sent already (maybe due again), or never sent */
		if (!sent_ms)
			return KCG_ALERT_NEW;
		return kcg_alert_repeat_due(true, sent_ms, now_ms, repeat_ms);
	}
	return KCG_ALERT_NONE;
}

int kcg_alert_parse_hours(const char *s, uint64_t *ms)
{
	uint64_t whole = 0, frac = 0;
	unsigned digits = 0, decimals = 0;
	const char *p = s;

	if (!s)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > HOURS_MAX)
			return -EINVAL;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++decimals > 3)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (!decimals)
			return -EINVAL;
	}
	if (*p || !digits)
		return -EINVAL;
	while (decimals++ < 3)
		frac *= 10;
	uint64_t thousandths = whole * 1000 + frac; /* of an hour: 3.6 s each */
	if (thousandths > HOURS_MAX * 1000u)
		return -EINVAL;
	*ms = thousandths * 3600;
	return 0;
}

static int two_digits(const char *s, unsigned max, unsigned *out)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -EINVAL;
	*out = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	return *out <= max ? 0 : -EINVAL;
}

int kcg_alert_parse_clock(const char *s, struct kcg_alert_clock *out)
{
	*out = (struct kcg_alert_clock){ 0 };
	if (!s)
		return -EINVAL;
	if (strcmp(s, "off") == 0) {
		out->off = true;
		return 0;
	}
	size_t n = strlen(s);
	if ((n != 5 && n != 8) || s[2] != ':' || (n == 8 && s[5] != ':'))
		return -EINVAL;
	if (two_digits(s, 23, &out->hour) || two_digits(s + 3, 59, &out->min) ||
	    (n == 8 && two_digits(s + 6, 59, &out->sec)))
		return -EINVAL;
	return 0;
}

/* Today's (local) time of day @p at, as epoch seconds, for day offset @p days. */
static time_t local_slot(const struct kcg_alert_clock *at, time_t now, int days)
{
	struct tm tm;
	localtime_r(&now, &tm);
	tm.tm_mday += days;
	tm.tm_hour = (int)at->hour;
	tm.tm_min = (int)at->min;
	tm.tm_sec = (int)at->sec;
	tm.tm_isdst = -1; /* whatever the zone says on that day */
	return mktime(&tm);
}

uint64_t kcg_alert_digest_due(const struct kcg_alert_clock *at, uint64_t now_ms, uint64_t last_ms,
			      uint64_t grace_ms, uint64_t *slot_out)
{
	*slot_out = 0;
	if (at->off)
		return 0;
	time_t now = (time_t)(now_ms / 1000);
	time_t slot = local_slot(at, now, 0);
	if (slot == (time_t)-1)
		return 0;
	if (slot > now)
		slot = local_slot(at, now, -1);
	if (slot == (time_t)-1 || slot < 0)
		return 0;
	uint64_t slot_ms = (uint64_t)slot * 1000u;
	if (slot_ms <= last_ms)
		return 0;
	*slot_out = slot_ms;
	/* A store that never sent one: only a slot just passed is sent. */
	if (last_ms == 0 && now_ms - slot_ms > grace_ms)
		return 0;
	return slot_ms;
}

bool kcg_alert_valid_address(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	if (!at || at == s || at == s + len - 1 || len > ADDRESS_MAX)
		return false;
	if (memchr(at + 1, '@', len - (size_t)(at - s) - 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"<>()[],;:\\", c))
			return false;
	}
	/* a domain of labels: no empty label */
	const char *d = at + 1, *end = s + len;
	if (*d == '.' || end[-1] == '.')
		return false;
	for (const char *p = d; p + 1 < end; p++)
		if (p[0] == '.' && p[1] == '.')
			return false;
	return true;
}

int kcg_alert_parse_from(const char *s, char addr[255])
{
	const char *lt = strchr(s, '<');
	const char *a = s;
	size_t n = strlen(s);

	if (lt) {
		const char *gt = strchr(lt, '>');
		if (!gt || gt[1] != '\0' || lt == s || lt[-1] != ' ')
			return -EINVAL;
		for (const char *p = s; p < lt - 1; p++) {
			unsigned char c = (unsigned char)*p;
			if (c < 0x20 || c >= 0x7f || strchr("\"<>\\", c))
				return -EINVAL;
		}
		a = lt + 1;
		n = (size_t)(gt - a);
	}
	if (!kcg_alert_valid_address(a, n))
		return -EINVAL;
	if (addr) {
		memcpy(addr, a, n);
		addr[n] = '\0';
	}
	return 0;
}

int kcg_alert_parse_list(const char *s, size_t max, json_t **out)
{
	*out = NULL;
	json_t *list = json_array();
	if (!list)
		return -ENOMEM;
	const char *p = s;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, ",");
		size_t len = n;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!kcg_alert_valid_address(p, len))
			goto fail;
		if (json_array_size(list) == max) {
			json_decref(list);
			return -E2BIG;
		}
		if (json_array_append_new(list, json_stringn(p, len)) != 0) {
			json_decref(list);
			return -ENOMEM;
		}
		if (!p[n])
			break;
		p += n + 1;
	}
	*out = list;
	return 0;
fail:
	json_decref(list);
	return -EINVAL;
}
