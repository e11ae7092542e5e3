/**
 * kcgate/peers/iso3166.h: ISO 3166-1 country codes, alpha-3 and alpha-2.
 *
 * Mirakl sends alpha-3 (`GBR`); the Khaos client sends alpha-3 by default
 * (Khaos documents 3-letter codes) or alpha-2 ([khaos] country_format, see
 * docs/khaos-soap.md). The table comes from iso-codes, plus Kosovo's user-
 * assigned `XKX`/`XK`. Pure: a sorted static table and bsearch().
 */
#ifndef KCGATE_PEERS_ISO3166_H
#define KCGATE_PEERS_ISO3166_H

/**
 * The alpha-2 code for the alpha-3 code @p code (any case): a static
 * string. Anything else (NULL, another length, an unknown code) comes back
 * as it came: @p code itself.
 */
const char *kcg_iso3166_alpha2(const char *code);

/**
 * The upper-case alpha-3 code for the alpha-2 or alpha-3 code @p code (any
 * case): a static string. Anything else comes back as it came.
 */
const char *kcg_iso3166_alpha3(const char *code);

#endif
