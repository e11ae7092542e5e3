/**
 * kcgate/log.h: one JSON object per line on stderr.
 *
 * Only the edges log (routes, http, main); library modules return codes.
 * Each line is written with a single write(2) so lines from different
 * threads never interleave. Nothing secret is ever passed in here: no
 * tokens, no signatures, no bodies.
 */
#ifndef KCGATE_LOG_H
#define KCGATE_LOG_H

#include <jansson.h>

#include "kcgate/config.h"

/** Lines below @p level are dropped. Default KCG_LOG_INFO. */
void kcg_log_set_level(enum kcg_log_level level);

/** True if a line at @p level would be written (to skip building it). */
int kcg_log_enabled(enum kcg_log_level level);

/**
 * Writes {"time","level","msg",...fields} as one line. @p fields (may be
 * NULL) is a JSON object whose members are appended; this call steals the
 * reference (json_decref()s it).
 */
void kcg_log(enum kcg_log_level level, const char *msg, json_t *fields);

/** Convenience: a line with one extra "detail" string member (may be NULL). */
void kcg_log_str(enum kcg_log_level level, const char *msg, const char *detail);

#endif
