/**
 * kcgate/peers/khaos_soap.h: the SOAP 1.1 transport of the Khaos client
 * (struct kcg_khaos_transport, `[khaos] transport = soap`), the wire of
 * docs/khaos-soap.md §1-3 and §5.
 *
 * Requests: SOAP 1.1 RPC. Envelope in the SOAP 1.1 namespace, the
 * operation element in the service namespace: [khaos] soap_namespace as
 * given, or with "auto" (the default) the one learnt from the WSDL
 * (kcg_khaos_wsdl(), kcg_khaos_soap_learn()); NULL or "" means
 * KCG_KHAOS_FALLBACK_NS. While "auto" has learnt nothing, building a call
 * fails with -EAGAIN. Every parameter an unqualified element with
 * xsi:type="xsd:string". Headers: Content-Type text/xml; charset=utf-8,
 * SOAPAction "<namespace>#<Method>" (quoted), Accept text/xml, and HTTP
 * Basic credentials when soap_user is set (the call is then marked secret).
 *
 * Answers: elements are found by local name (prefixes vary); the envelope
 * and Body must be in the SOAP 1.1 namespace; the result is `return` in
 * `<Method>Response`, else its only part; SOAP-encoding href="#id"
 * references are followed anywhere under Body. A document with a DTD is
 * refused and entities are never expanded or fetched. Outcomes:
 *  - no answer, or a 5xx/408/429 without a readable fault: -EAGAIN;
 *  - a fault whose code is Server (or Server.*): -EAGAIN;
 *  - a fault Client, VersionMismatch or MustUnderstand (whatever the HTTP
 *    status, 401 included): KCG_EPAYLOAD with the faultstring;
 *  - any other fault code: the HTTP status decides;
 *  - a 200 that is not the expected response: KCG_EPAYLOAD.
 */
#ifndef KCGATE_PEERS_KHAOS_SOAP_H
#define KCGATE_PEERS_KHAOS_SOAP_H

#include <stdbool.h>

#include "kcgate/peers/khaos_transport.h"

/** The SOAP 1.1 transport. */
extern const struct kcg_khaos_transport kcg_khaos_soap;

#define KCG_KHAOS_NS_MAX 256 /**< longest service namespace kept */
/** The namespace seen in the wild (FACTS.md §1.1, Delphi's urn:<Unit>-<Interface>). */
#define KCG_KHAOS_FALLBACK_NS "urn:IKosWebIntf-IKosWeb"

/**
 * Can calls be built for @p cfg now? False only while soap_namespace is
 * "auto" and no namespace has been learnt. Thread-safe.
 */
bool kcg_khaos_soap_ready(const struct kcg_khaos_config *cfg);

/**
 * Remembers @p ns (copied) as the namespace of soap_namespace = auto, for
 * the whole process; NULL (or one too long) forgets it. Thread-safe.
 */
void kcg_khaos_soap_learn(const char *ns);

/**
 * GET of the WSDL: soap_url with its last "/soap/" replaced by "/wsdl/",
 * with the transport's credentials. @return 0, -ENOMEM, or -EINVAL when
 * soap_url has no "/soap/" (then there is no WSDL to derive).
 */
int kcg_khaos_wsdl(const struct kcg_khaos_config *cfg, struct kcg_call *out);

/**
 * Reads a WSDL 1.1 document: the namespace of the first soap:body of a
 * binding (what rpc/encoded calls use), else definitions@targetNamespace.
 * @return 0 with @p ns, -EAGAIN (no answer, 5xx, 429), or KCG_EPAYLOAD
 * (no WSDL, no namespace, not a URI) with @p why.
 */
int kcg_khaos_wsdl_parse(const struct kcg_reply *r, char ns[KCG_KHAOS_NS_MAX], char why[KCG_ERROR_MAX]);

#endif
