/*
 * khaos_private.h: what the Khaos client's two halves share: the requests
 * (khaos.c) and the reading of answers (khaos_answers.c). Not installed.
 */
#ifndef KCGATE_PEERS_KHAOS_PRIVATE_H
#define KCGATE_PEERS_KHAOS_PRIVATE_H

#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_transport.h"

#include <libxml/tree.h>

/* The configured transport (the default when none is set), or NULL. */
const struct kcg_khaos_transport *khaos_transport(const struct kcg_khaos_config *cfg);

/* Opens an answer to @p method through the configured transport; on 0 the
 * caller closes it with khaos_close(). */
int khaos_open(const struct kcg_khaos_config *cfg, const struct kcg_reply *r, const char *method,
	       struct kcg_khaos_answer *a, char why[KCG_ERROR_MAX]);

void khaos_close(struct kcg_khaos_answer *a);

/* The XML document carried as text in a string result (*@p inner NULL when
 * the string is empty); the caller frees it with xmlFreeDoc(). */
int khaos_open_inner(const struct kcg_khaos_answer *a, const char *method, xmlDocPtr *inner, char why[KCG_ERROR_MAX]);

/* Calls @p fn for each element @p name of @p inner (the root itself when
 * so named, else the root's children so named), at most
 * KCG_KHAOS_ITEMS_MAX; stops at fn's first non-zero value. */
int khaos_each_el(xmlDocPtr inner, const char *method, const char *name, int (*fn)(xmlNodePtr n, void *arg), void *arg,
		  char why[KCG_ERROR_MAX]);

#endif
