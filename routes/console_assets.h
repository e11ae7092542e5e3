/**
 * routes/console_assets.h: the console's files, built into the binary by
 * console/embed.py (console/meson.build). The table ends with a row whose
 * name is NULL.
 */
#ifndef KCGATE_CONSOLE_ASSETS_H
#define KCGATE_CONSOLE_ASSETS_H

#include <stddef.h>

struct kcg_console_asset {
	const char *name;          /**< the file name: served at /console/<name> */
	const char *content_type;
	const char *etag;          /**< quoted: "\"<16 hex digits of its SHA-256>\"" */
	const unsigned char *data;
	size_t len;
};

extern const struct kcg_console_asset kcg_console_assets[];

#endif
