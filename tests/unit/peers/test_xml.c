/*
 * test_xml.c: the peer clients' libxml2 helpers (src/peers/xml.c):
 * building (escaping, control characters, the oom flag short-circuit,
 * empty values left out) and reading untrusted XML (DTDs refused, lookup
 * by local name whatever the prefix, trimmed text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "kcgate/peers/xml.h"

static void test_build(void **state)
{
	struct kcg_xml_build b = { .doc = xmlNewDoc(BAD_CAST "1.0") };
	xmlNodePtr root = xmlNewDocNode(b.doc, NULL, BAD_CAST "R", NULL);
	xmlDocSetRootElement(b.doc, root);
	kcg_xml_add(&b, root, "A", "x<&>\x01y\xef\xbf\xbez");
	kcg_xml_add(&b, root, "E", NULL);
	kcg_xml_add_opt(&b, root, "O", "");
	kcg_xml_add_opt(&b, root, "P", NULL);
	assert_false(b.oom);
	xmlChar *out;
	int len;
	xmlDocDumpMemoryEnc(b.doc, &out, &len, "UTF-8");
	assert_non_null(strstr((const char *)out, "<R><A>x&lt;&amp;&gt; y???z</A><E/></R>"));
	xmlFree(out);

	/* After a failure, additions are no-ops. */
	b.oom = true;
	assert_null(kcg_xml_add(&b, root, "B", "b"));
	assert_null(kcg_xml_child(root, "B"));
	b.oom = false;
	assert_null(kcg_xml_add(&b, NULL, "B", "b"));
	xmlFreeDoc(b.doc);
}

static void test_read(void **state)
{
	static const char doc[] = "<?xml version=\"1.0\"?>\n<p:R xmlns:p=\"urn:x\"> <!-- c --> <q:A xmlns:q=\"urn:y\">"
				  " \t v &amp; w \n</q:A><B/>text<A>second</A></p:R>";
	xmlDocPtr d = kcg_xml_read(doc, strlen(doc));
	assert_non_null(d);
	xmlNodePtr root = xmlDocGetRootElement(d);
	assert_true(kcg_xml_named(root, "R"));
	assert_false(kcg_xml_named(NULL, "R"));
	xmlNodePtr a = kcg_xml_first(root);
	assert_true(kcg_xml_named(a, "A"));
	assert_ptr_equal(kcg_xml_child(root, "A"), a);
	assert_true(kcg_xml_named(kcg_xml_next(a), "B"));
	assert_true(kcg_xml_named(kcg_xml_next(kcg_xml_next(a)), "A"));
	assert_null(kcg_xml_next(kcg_xml_next(kcg_xml_next(a))));
	assert_null(kcg_xml_child(root, "C"));
	char *t = kcg_xml_text(a);
	assert_string_equal(t, "v & w");
	free(t);
	t = kcg_xml_text(NULL);
	assert_string_equal(t, "");
	free(t);
	t = kcg_xml_trim("  \r\n");
	assert_string_equal(t, "");
	free(t);
	xmlFreeDoc(d);

	static const char *const bad[] = {
		"", "<a>", "not xml", "<?xml version=\"1.0\"?>",
		"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
		"<!DOCTYPE a SYSTEM \"http://example.invalid/a.dtd\"><a/>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(kcg_xml_read(bad[i], strlen(bad[i])));
	assert_null(kcg_xml_read(NULL, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_read),
	};
	xmlInitParser();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
