/*
 * log.c: JSON lines on stderr, one write(2) each so threads never interleave.
 */
#include "kcgate/log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcgate/common.h"

static atomic_int min_level = KCG_LOG_INFO;

static const char *level_name(enum kcg_log_level level)
{
	switch (level) {
	case KCG_LOG_DEBUG: return "debug";
	case KCG_LOG_INFO: return "info";
	case KCG_LOG_WARN: return "warn";
	case KCG_LOG_ERROR: return "error";
	}
	return "info";
}

void kcg_log_set_level(enum kcg_log_level level)
{
	atomic_store(&min_level, (int)level);
}

int kcg_log_enabled(enum kcg_log_level level)
{
	return (int)level >= atomic_load(&min_level);
}

void kcg_log(enum kcg_log_level level, const char *msg, json_t *fields)
{
	if (!kcg_log_enabled(level)) {
		json_decref(fields);
		return;
	}
	char when[32];
	kcg_format_time(kcg_now_ms(), when, sizeof(when));
	json_t *line = json_pack("{s:s, s:s, s:s}", "time", when, "level", level_name(level), "msg", msg);
	if (!line) {
		json_decref(fields);
		return;
	}
	if (fields)
		json_object_update(line, fields);
	json_decref(fields);
	char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(line);
	if (!text)
		return;
	size_t len = strlen(text);
	char *out = realloc(text, len + 2);
	if (!out) {
		free(text);
		return;
	}
	out[len] = '\n';
	ssize_t w = write(STDERR_FILENO, out, len + 1);
	(void)w; /* nowhere left to report a failed log write */
	free(out);
}

void kcg_log_str(enum kcg_log_level level, const char *msg, const char *detail)
{
	if (!kcg_log_enabled(level))
		return;
	kcg_log(level, msg, detail ? json_pack("{s:s}", "detail", detail) : NULL);
}
