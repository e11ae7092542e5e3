/*
 * dump.c: kcgate-runbook, the runbook table (src/runbook.c) as JSON on
 * stdout, exactly as GET /admin/runbook serves it. check_docs.py turns it
 * into docs/operations.md's team section and checks the two agree.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kcgate/runbook.h"

int main(void)
{
	json_t *j = kcg_runbook_json();
	if (!j || json_dumpf(j, stdout, JSON_INDENT(1)) != 0) {
		fprintf(stderr, "kcgate-runbook: out of memory\n");
		return 1;
	}
	json_decref(j);
	putchar('\n');
	return 0;
}
