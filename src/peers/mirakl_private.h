/*
 * mirakl_private.h: what the Mirakl client's files share (mirakl.c: the
 * orders' calls; mirakl_stock.c: the stock imports and OF21). Not installed.
 */
#ifndef KCGATE_PEERS_MIRAKL_PRIVATE_H
#define KCGATE_PEERS_MIRAKL_PRIVATE_H

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/dynbuf.h"
#include "kcgate/net.h"

/* Appends @p s percent-encoded; a failure sticks to @p b. */
void mirakl_buf_escaped(struct kcg_dynbuf *b, const char *s);

/* Starts @p b: base_url without a trailing slash, then @p path. */
void mirakl_buf_base(struct kcg_dynbuf *b, const struct kcg_mirakl_config *cfg, const char *path);

/* Fills what every Mirakl call shares (credentials, Accept, timeout); takes @p url. */
int mirakl_init_call(const struct kcg_mirakl_config *cfg, struct kcg_call *out, const char *what, const char *method,
		     struct kcg_dynbuf *url);

/* 1 for a 2xx answer; else -EAGAIN (transient), KCG_ENOTFOUND (404) or
 * KCG_EPAYLOAD, with @p why saying what Mirakl said. */
int mirakl_triage(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX]);

/* The success body as a JSON object, or NULL with why filled. */
json_t *mirakl_load_object(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX]);

#endif
