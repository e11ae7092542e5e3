/*
 * fuzz-config.c: the configuration parser on arbitrary bytes. The file is
 * trusted input in production, but --check-config runs on whatever a user
 * hands it, and a parser that crashes on a typo is a bad first impression.
 * Secret references (env:, file:) are resolved for real; the parser only
 * opens regular files and caps what it reads, so that is safe here too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kcgate/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kcg_config cfg = { 0 };
	char *errors = NULL, *warnings = NULL;

	kcg_config_parse("fuzz.conf", (const char *)data, size, &cfg, &errors, &warnings);
	kcg_config_finish(&cfg);
	free(errors);
	free(warnings);
	return 0;
}
