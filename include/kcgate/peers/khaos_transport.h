/**
 * kcgate/peers/khaos_transport.h: how the Khaos client's operations reach
 * Khaos, as a small vtable (the way curl's lib/vtls puts TLS libraries
 * behind struct Curl_ssl).
 *
 * The operations (khaos.c) decide *what* to ask: a method name and its
 * string parameters, in order, and how to read the result. A transport
 * decides *how*: the envelope, the namespace, credentials and headers of
 * the request, and, on the way back, whether the reply is an answer at
 * all (faults, transient failures) and where the result is. Today there
 * is one transport, SOAP 1.1 (khaos_soap.h, `[khaos] transport = soap`);
 * the Khaos Control Cloud channel is to sit beside it.
 *
 * Results are handed over as libxml2 elements: the result part itself
 * (a string result is its text; a structured one has element children)
 * and a way to follow the transport's references between parts.
 *
 * Error convention of every hook: 0, -ENOMEM, -EAGAIN (try again later),
 * KCG_EPAYLOAD (final: a fault or an answer that makes no sense), with a
 * printable sentence in @p why where the hook has one.
 */
#ifndef KCGATE_PEERS_KHAOS_TRANSPORT_H
#define KCGATE_PEERS_KHAOS_TRANSPORT_H

#include <stddef.h>

#include <libxml/tree.h>

#include "kcgate/config.h"
#include "kcgate/net.h"

/** One string parameter of a method; @p value NULL is sent empty. */
struct kcg_khaos_param {
	const char *name;
	const char *value;
};

/** An answer opened by a transport. Filled by open(), freed by close(). */
struct kcg_khaos_answer {
	const struct kcg_khaos_transport *transport; /**< the one that opened it (follow, close) */
	xmlNodePtr result;  /**< the result part, references followed; set when open() returns 0 */
	xmlDocPtr doc;      /**< the transport's: the parsed reply */
	xmlNodePtr scope;   /**< the transport's: where references point */
	void *index;        /**< the transport's: the elements references may point to, by id (built once) */
};

struct kcg_khaos_transport {
	const char *name; /**< the value of [khaos] transport */

	/**
	 * Builds the call of @p method with @p params (all of them, in order)
	 * into @p out, which it owns afterwards. @return 0 or -ENOMEM (then
	 * @p out is empty).
	 */
	int (*request)(const struct kcg_khaos_config *cfg, const char *method, const struct kcg_khaos_param *params,
		       size_t n_params, struct kcg_call *out);

	/**
	 * Reads @p reply as the answer to @p method. @return 0 with
	 * a->result set (call close() afterwards), or the outcome with @p why
	 * ("<method>: ...") filled and nothing left to close.
	 */
	int (*open)(const struct kcg_khaos_config *cfg, const struct kcg_reply *reply, const char *method,
		    struct kcg_khaos_answer *a, char why[KCG_ERROR_MAX]);

	/** The element @p n stands for (a reference followed), @p n itself, or
	 * NULL when it points nowhere. Cheap (no walk of the answer): a loop
	 * over thousands of items calls it once per item. */
	xmlNodePtr (*follow)(const struct kcg_khaos_answer *a, xmlNodePtr n);

	/** Frees what open() kept. Safe on a zeroed answer. */
	void (*close)(struct kcg_khaos_answer *a);
};

#endif
