/*
 * mirakl_private.h: what the Mirakl client's files share: the orders
 * calls (mirakl.c), the shipping calls (mirakl_ship.c), the stock imports
 * and OF21 (mirakl_stock.c). Not installed.
 */
#ifndef KCGATE_PEERS_MIRAKL_PRIVATE_H
#define KCGATE_PEERS_MIRAKL_PRIVATE_H

#include <jansson.h>

#include "kcgate/dynbuf.h"
#include "kcgate/peers/mirakl.h"

/* Appends @p s percent-encoded; a failure sticks to @p b. */
void mirakl_buf_escaped(struct kcg_dynbuf *b, const char *s);
/* Starts @p b: base_url without a trailing slash, then @p path. */
void mirakl_buf_base(struct kcg_dynbuf *b, const struct kcg_mirakl_config *cfg, const char *path);
/* "/api/orders/{escaped id}{suffix}" and the shop_id query when set. */
void mirakl_order_url(struct kcg_dynbuf *url, const struct kcg_mirakl_config *cfg, const char *order_id,
		      const char *suffix);
/* "<sep>shop_id=<escaped>" when [mirakl] shop_id is set. */
void mirakl_shop_query(struct kcg_dynbuf *url, const struct kcg_mirakl_config *cfg, char sep);
/* Fills what every Mirakl call shares; takes @p url. */
int mirakl_init_call(const struct kcg_mirakl_config *cfg, struct kcg_call *out, const char *what, const char *method,
		     struct kcg_dynbuf *url);
/* 1 when the caller should read a success body, else the final code with
 * @p why filled: -EAGAIN (transient), KCG_ENOTFOUND (404), KCG_EPAYLOAD. */
int mirakl_triage(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX]);
/* The success body as a JSON object, or NULL with why filled. */
json_t *mirakl_load_object(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX]);

#endif
