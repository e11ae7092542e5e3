/**
 * kcgate/peers/khaos_soap.h: the SOAP 1.1 transport of the Khaos client
 * (struct kcg_khaos_transport, `[khaos] transport = soap`), the wire of
 * docs/khaos-soap.md §1-3 and §5.
 *
 * Requests: SOAP 1.1 RPC. Envelope in the SOAP 1.1 namespace, the
 * operation element in [khaos] soap_namespace (default
 * urn:KosWebIntf-IKosWeb), every parameter an unqualified element with
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

#include "kcgate/peers/khaos_transport.h"

/** The SOAP 1.1 transport. */
extern const struct kcg_khaos_transport kcg_khaos_soap;

#endif
