/*
 * khaos_private.h: what the Khaos client's two halves share: the requests
 * (khaos.c) and the reading of answers (khaos_answers.c). Not installed.
 */
#ifndef KCGATE_PEERS_KHAOS_PRIVATE_H
#define KCGATE_PEERS_KHAOS_PRIVATE_H

#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_transport.h"

/* The configured transport (the default when none is set), or NULL. */
const struct kcg_khaos_transport *khaos_transport(const struct kcg_khaos_config *cfg);

/* Opens an answer to @p method through the configured transport; on 0 the
 * caller closes it with khaos_close(). */
int khaos_open(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *method,
	       struct kcg_khaos_answer *a, char why[KCG_ERROR_MAX]);

void khaos_close(struct kcg_khaos_answer *a);

#endif
