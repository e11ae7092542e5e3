/*
 * test_config.c: the configuration parser. Every error kind is asserted as
 * the exact line kcgate prints, line number included, so a change in wording
 * or numbering is a deliberate one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kcgate/common.h"
#include "kcgate/config.h"
#include "kcgate/flows/orders.h"
#include "kcgate/flows/stock.h"

#define ADMIN_TOKEN "0123456789abcdef-admin"

/* The smallest valid file: lines 1-10. */
#define SERVER_OK "[server]\nlisten = 127.0.0.1:8443\n"           /* lines 1-2 */
#define STORE_OK "[store]\npath = /tmp/kcg-store\n"                /* lines 3-4 */
#define ADMIN_OK "[admin]\ntoken = env:KCG_TEST_ADMIN\n"           /* lines 5-6 */
#define SOURCES_NONE "[mirakl]\nwebhook_auth = none\n[inriver]\nwebhook_auth = none\n" /* 7-10 */
#define MINIMAL SERVER_OK STORE_OK ADMIN_OK SOURCES_NONE

static char tmpdir[4096];

/* Paths of fixture files in tmpdir. */
static char cert_path[4200], key_path[4200], secret_nl[4200], secret_crlf[4200],
	secret_two_nl[4200], whsec_file[4200], missing_path[4200];

struct result {
	struct kcg_config cfg;
	char *errs;
	char *warns;
	int rc;
};

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void fixture_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static int group_setup(void **state)
{
	const char *base = getenv("KCG_TEST_TMP");
	snprintf(tmpdir, sizeof(tmpdir), "%s/kcg-config-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	fixture_path(cert_path, sizeof(cert_path), "cert.pem");
	fixture_path(key_path, sizeof(key_path), "key.pem");
	fixture_path(secret_nl, sizeof(secret_nl), "secret_nl");
	fixture_path(secret_crlf, sizeof(secret_crlf), "secret_crlf");
	fixture_path(secret_two_nl, sizeof(secret_two_nl), "secret_two_nl");
	fixture_path(whsec_file, sizeof(whsec_file), "whsec");
	fixture_path(missing_path, sizeof(missing_path), "missing");
	/* the parser only checks that TLS files are readable; their PEM is for http.c */
	write_file(cert_path, "cert\n", 5);
	write_file(key_path, "key\n", 4);
	write_file(secret_nl, "file-secret-0123456789\n", 23);
	write_file(secret_crlf, "crlf-secret-0123456789\r\n", 24);
	write_file(secret_two_nl, "pw\n\n", 4);
	write_file(whsec_file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 39);
	/* secrets as they should be kept: readable by the owner only (a
	 * group- or world-readable one is warned about, see test_secret_file_mode) */
	const char *secrets[] = { secret_nl, secret_crlf, secret_two_nl, whsec_file };
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (chmod(secrets[i], 0600) != 0)
			return -1;
	setenv("KCG_TEST_ADMIN", ADMIN_TOKEN, 1);
	unsetenv("KCG_TEST_NOPE");
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int group_teardown(void **state)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* printf into a new string (the test frees it). */
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, f);
	int n = vasprintf(&s, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

static void parse_len(struct result *r, const char *text, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->rc = kcg_config_parse("t.conf", text, len, &r->cfg, &r->errs, &r->warns);
}

static void parse(struct result *r, const char *text)
{
	parse_len(r, text, strlen(text));
}

static void done(struct result *r)
{
	kcg_config_finish(&r->cfg);
	free(r->errs);
	free(r->warns);
}

/* Parses @p text and asserts that exactly @p expected errors came out. */
static void expect_errors(const char *text, const char *expected)
{
	struct result r;
	parse(&r, text);
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_non_null(r.errs);
	assert_string_equal(r.errs, expected);
	done(&r);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void test_minimal_defaults(void **state)
{
	struct result r;
	parse(&r, MINIMAL);
	assert_int_equal(r.rc, 0);
	assert_null(r.errs);
	assert_string_equal(r.warns, "t.conf:8: [mirakl] webhook_auth: authentication disabled\n"
				     "t.conf:10: [inriver] webhook_auth: authentication disabled\n");
	struct kcg_config *c = &r.cfg;
	assert_string_equal(c->path, "t.conf");
	assert_string_equal(c->server.listen_host, "127.0.0.1");
	assert_int_equal(c->server.listen_port, 8443);
	assert_null(c->server.tls_cert);
	assert_null(c->server.tls_key);
	assert_int_equal(c->server.threads, 4);
	assert_int_equal(c->server.max_body_bytes, 1048576);
	assert_int_equal(c->server.max_header_bytes, 16384);
	assert_int_equal(c->server.max_connections, 1024);
	assert_int_equal(c->server.connection_timeout_s, 30);
	assert_int_equal(c->server.shutdown_timeout_s, 10);
	assert_int_equal(c->server.log_level, KCG_LOG_INFO);
	assert_string_equal(c->store.path, "/tmp/kcg-store");
	assert_int_equal(c->store.map_size_mb, 1024);
	assert_int_equal(c->store.dedupe_ttl_h, 72);
	assert_int_equal(c->store.max_batch, 256);
	assert_int_equal(c->store.queue_limit, 4096);
	assert_string_equal(c->admin.token, ADMIN_TOKEN);
	assert_int_equal(c->mirakl.webhook.mode, KCG_AUTH_NONE);
	assert_int_equal(c->inriver.webhook.mode, KCG_AUTH_NONE);
	assert_int_equal(c->mirakl.webhook.tolerance_s, 300);
	assert_string_equal(c->mirakl.webhook.token_header, "X-Webhook-Token");
	assert_string_equal(c->inriver.webhook.token_header, "X-Webhook-Token");
	assert_int_equal(c->mirakl.webhook.n_secrets, 0);
	assert_null(c->mirakl.webhook.token);
	done(&r);
}

static void test_full_file_load(void **state)
{
	char path[4200];
	fixture_path(path, sizeof(path), "full.conf");
	char *text = fmt("# every key\n"
			 "[server]\n"
			 "listen = 0.0.0.0:9443\n"
			 "tls_cert = %s\n"
			 "tls_key = %s\n"
			 "threads = 8\n"
			 "max_body_bytes = 2048\n"
			 "max_header_bytes = 1024\n"
			 "max_connections = 65536\n"
			 "connection_timeout_s = 3600\n"
			 "shutdown_timeout_s = 0\n"
			 "log_level = debug\n"
			 "[store]\n"
			 "path = var/store\n"
			 "map_size_mb = 1048576\n"
			 "dedupe_ttl_h = 8760\n"
			 "max_batch = 1\n"
			 "queue_limit = 1048576\n"
			 "[admin]\n"
			 "token = file:%s\n"
			 "[mirakl]\n"
			 "webhook_auth = standard\n"
			 "webhook_secret = file:%s\n"
			 "webhook_tolerance_s = 86400\n"
			 "[inriver]\n"
			 "webhook_auth = basic\n"
			 "webhook_user = inriver\n"
			 "webhook_password = file:%s\n",
			 cert_path, key_path, secret_nl, whsec_file, secret_crlf);
	write_file(path, text, strlen(text));
	free(text);

	struct kcg_config cfg = { 0 };
	char *errs = NULL, *warns = NULL;
	assert_int_equal(kcg_config_load(path, &cfg, &errs, &warns), 0);
	assert_null(errs);
	assert_null(warns);
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.server.listen_host, "0.0.0.0");
	assert_int_equal(cfg.server.listen_port, 9443);
	assert_string_equal(cfg.server.tls_cert, cert_path);
	assert_string_equal(cfg.server.tls_key, key_path);
	assert_int_equal(cfg.server.threads, 8);
	assert_int_equal(cfg.server.max_body_bytes, 2048);
	assert_int_equal(cfg.server.max_header_bytes, 1024);
	assert_int_equal(cfg.server.max_connections, 65536);
	assert_int_equal(cfg.server.connection_timeout_s, 3600);
	assert_int_equal(cfg.server.shutdown_timeout_s, 0);
	assert_int_equal(cfg.server.log_level, KCG_LOG_DEBUG);
	assert_string_equal(cfg.store.path, "var/store");
	assert_int_equal(cfg.store.map_size_mb, 1048576);
	assert_int_equal(cfg.store.dedupe_ttl_h, 8760);
	assert_int_equal(cfg.store.max_batch, 1);
	assert_int_equal(cfg.store.queue_limit, 1048576);
	assert_string_equal(cfg.admin.token, "file-secret-0123456789");
	assert_int_equal(cfg.mirakl.webhook.mode, KCG_AUTH_STANDARD);
	assert_int_equal(cfg.mirakl.webhook.n_secrets, 1);
	assert_int_equal(cfg.mirakl.webhook.secret_lens[0], 24);
	assert_int_equal(cfg.mirakl.webhook.tolerance_s, 86400);
	assert_int_equal(cfg.inriver.webhook.mode, KCG_AUTH_BASIC);
	assert_string_equal(cfg.inriver.webhook.user, "inriver");
	assert_string_equal(cfg.inriver.webhook.password, "crlf-secret-0123456789");
	kcg_config_finish(&cfg);
	free(errs);
	free(warns);
}

/* The repository's own sandbox file parses (secrets and certs aside, which
 * ./dev run creates under var/). */
static void test_sandbox_shape(void **state)
{
	struct result r;
	parse(&r, "[server]\nlisten = 127.0.0.1:8443\nthreads = 4\nmax_body_bytes = 1048576\n"
		  "max_connections = 256\nconnection_timeout_s = 30\nshutdown_timeout_s = 10\n"
		  "log_level = info\n[store]\npath = var/store\nmap_size_mb = 256\n"
		  "dedupe_ttl_h = 72\n[admin]\ntoken = env:KCG_TEST_ADMIN\n[mirakl]\n"
		  "webhook_auth = standard\nwebhook_secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
		  "[inriver]\nwebhook_auth = token\nwebhook_token = env:KCG_TEST_ADMIN\n"
		  "webhook_token_header = X-Webhook-Token\n");
	assert_int_equal(r.rc, 0);
	assert_null(r.errs);
	assert_string_equal(r.warns, "t.conf:17: [mirakl] webhook_secret: literal secret in config "
				     "file; use env:NAME or file:PATH\n");
	assert_int_equal(r.cfg.inriver.webhook.mode, KCG_AUTH_TOKEN);
	assert_string_equal(r.cfg.inriver.webhook.token, ADMIN_TOKEN);
	done(&r);
}

static void test_load_unreadable(void **state)
{
	struct kcg_config cfg = { 0 };
	char *errs = NULL, *warns = NULL;
	assert_int_equal(kcg_config_load(missing_path, &cfg, &errs, &warns), KCG_ECONFIG);
	char *want = fmt("%s:0: cannot read: No such file or directory\n", missing_path);
	assert_string_equal(errs, want);
	assert_null(warns);
	assert_string_equal(cfg.path, missing_path);
	free(want);
	free(errs);
	kcg_config_finish(&cfg);

	errs = NULL;
	assert_int_equal(kcg_config_load(tmpdir, &cfg, &errs, NULL), KCG_ECONFIG);
	want = fmt("%s:0: cannot read: Is a directory\n", tmpdir);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
	kcg_config_finish(&cfg);
}

static void test_malformed_line(void **state)
{
	expect_errors(SERVER_OK "this is not a key\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: expected [section], key = value or a # comment\n");
	expect_errors(SERVER_OK "[store\n" "path = x\n" ADMIN_OK SOURCES_NONE,
		      "t.conf:3: expected [section], key = value or a # comment\n"
		      "t.conf:4: [server] path: unknown key\n"
		      "t.conf:0: [store] path: required key missing\n");
	expect_errors(SERVER_OK "[store] junk\n" "path = x\n" ADMIN_OK SOURCES_NONE,
		      "t.conf:3: expected [section], key = value or a # comment\n"
		      "t.conf:4: [server] path: unknown key\n"
		      "t.conf:0: [store] path: required key missing\n");
	expect_errors(SERVER_OK "= value\n" "two words = x\n" "[]\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: expected [section], key = value or a # comment\n"
		      "t.conf:4: expected [section], key = value or a # comment\n"
		      "t.conf:5: expected [section], key = value or a # comment\n");
}

static void test_unknown_key(void **state)
{
	expect_errors(SERVER_OK "bogus = 1\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: [server] bogus: unknown key\n");
	/* a key from another section */
	expect_errors(SERVER_OK "path = /x\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: [server] path: unknown key\n");
}

static void test_unknown_section(void **state)
{
	/* reported once; the keys inside are not reported again */
	expect_errors(MINIMAL "[bogus]\nfoo = 1\nbar = 2\n", "t.conf:11: [bogus]: unknown section\n");
	/* a known section afterwards parses normally */
	expect_errors("[Server]\nlisten = x\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:1: [Server]: unknown section\n"
		      "t.conf:0: [server] listen: required key missing\n");
}

static void test_key_outside_section(void **state)
{
	expect_errors("threads = 4\n" MINIMAL, "t.conf:1: threads: key outside of any [section]\n");
}

static void test_duplicate_key(void **state)
{
	expect_errors(SERVER_OK "threads = 2\nthreads = 3\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:4: [server] threads: duplicate key (first set on line 3)\n");
	/* a section may be reopened; the key is still a duplicate */
	expect_errors(MINIMAL "[server]\nlisten = 127.0.0.1:1\n",
		      "t.conf:12: [server] listen: duplicate key (first set on line 2)\n");
	/* the same key in two sections is no duplicate */
	struct result r;
	parse(&r, MINIMAL);
	assert_int_equal(r.rc, 0);
	done(&r);
}

static void test_numbers(void **state)
{
	static const char *bad[] = { "0", "65", "-1", "+4", "4x", "abc", " ", "1.5",
				     "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = fmt(SERVER_OK "threads = %s\n" STORE_OK ADMIN_OK SOURCES_NONE, bad[i]);
		const char *want = strcmp(bad[i], " ") == 0
					   ? "t.conf:3: [server] threads: value is empty\n"
					   : "t.conf:3: [server] threads: expected a whole number from 1 to 64\n";
		expect_errors(text, want);
		free(text);
	}
	expect_errors(SERVER_OK "max_header_bytes = 1023\nmax_body_bytes = 67108865\n"
				"shutdown_timeout_s = 3601\n" STORE_OK "map_size_mb = 0\n" ADMIN_OK
				"[mirakl]\nwebhook_auth = none\nwebhook_tolerance_s = 86401\n"
				"[inriver]\nwebhook_auth = none\n",
		      "t.conf:3: [server] max_header_bytes: expected a whole number from 1024 to 1048576\n"
		      "t.conf:4: [server] max_body_bytes: expected a whole number from 1 to 67108864\n"
		      "t.conf:5: [server] shutdown_timeout_s: expected a whole number from 0 to 3600\n"
		      "t.conf:8: [store] map_size_mb: expected a whole number from 1 to 1048576\n"
		      "t.conf:13: [mirakl] webhook_tolerance_s: expected a whole number from 1 to 86400\n");

	struct result r;
	parse(&r, SERVER_OK "threads = 64\nmax_connections = 1\n" STORE_OK ADMIN_OK SOURCES_NONE);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg.server.threads, 64);
	assert_int_equal(r.cfg.server.max_connections, 1);
	done(&r);
}

static void test_bad_enum(void **state)
{
	expect_errors(SERVER_OK "log_level = verbose\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: [server] log_level: expected one of debug, info, warn, error\n");
	expect_errors(SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = hmac\n"
						 "[inriver]\nwebhook_auth = NONE\n",
		      "t.conf:8: [mirakl] webhook_auth: expected one of standard, token, basic, none\n"
		      "t.conf:10: [inriver] webhook_auth: expected one of standard, token, basic, none\n");
}

static void test_missing_required(void **state)
{
	const char *all = "t.conf:0: [server] listen: required key missing\n"
			  "t.conf:0: [store] path: required key missing\n"
			  "t.conf:0: [admin] token: required key missing\n"
			  "t.conf:0: [mirakl] webhook_auth: required key missing\n"
			  "t.conf:0: [inriver] webhook_auth: required key missing\n";
	expect_errors("", all);
	expect_errors("# only a comment\n\n   \n", all);
	expect_errors(SERVER_OK STORE_OK SOURCES_NONE, "t.conf:0: [admin] token: required key missing\n");
}

static void test_empty_value(void **state)
{
	expect_errors(SERVER_OK "tls_cert =\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: [server] tls_cert: value is empty\n");
	expect_errors(SERVER_OK "threads = # nothing\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: [server] threads: value is empty\n");
}

static void test_all_errors_at_once(void **state)
{
	struct result r;
	parse(&r, "[server]\n"
		  "listen = 127.0.0.1:8443\n"
		  "threads = 100\n"          /* 3: out of range */
		  "colour = blue\n"          /* 4: unknown key */
		  "[store]\n"
		  "path = /tmp/kcg-store\n"
		  "[admin]\n"
		  "token = env:KCG_TEST_ADMIN\n"
		  "[mirakl]\n"
		  "webhook_auth = none\n"
		  "[inriver]\n"
		  "webhook_auth = none\n"
		  "this line is broken\n"); /* 13: malformed */
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_int_equal(count_lines(r.errs), 3);
	assert_string_equal(r.errs, "t.conf:3: [server] threads: expected a whole number from 1 to 64\n"
				    "t.conf:4: [server] colour: unknown key\n"
				    "t.conf:13: expected [section], key = value or a # comment\n");
	done(&r);
}

static void test_env_secret(void **state)
{
	expect_errors(SERVER_OK STORE_OK "[admin]\ntoken = env:KCG_TEST_NOPE\n" SOURCES_NONE,
		      "t.conf:6: [admin] token: environment variable KCG_TEST_NOPE is not set\n");
	expect_errors(SERVER_OK STORE_OK "[admin]\ntoken = env:\n" SOURCES_NONE,
		      "t.conf:6: [admin] token: env: needs an environment variable name (letters, "
		      "digits, _)\n");
	expect_errors(SERVER_OK STORE_OK "[admin]\ntoken = env:A-B\n" SOURCES_NONE,
		      "t.conf:6: [admin] token: env: needs an environment variable name (letters, "
		      "digits, _)\n");

	setenv("KCG_TEST_SHORT", "short-secret", 1);
	struct result r;
	parse(&r, SERVER_OK STORE_OK "[admin]\ntoken = env:KCG_TEST_SHORT\n" SOURCES_NONE);
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_string_equal(r.errs, "t.conf:6: [admin] token: too short: a secret of at least 16 "
				    "characters is needed\n");
	assert_null(strstr(r.errs, "short-secret"));
	assert_null(r.cfg.admin.token);
	done(&r);
	unsetenv("KCG_TEST_SHORT");
}

static void test_file_secret(void **state)
{
	struct result r;
	char *text = fmt(SERVER_OK STORE_OK "[admin]\ntoken = file:%s\n[mirakl]\nwebhook_auth = basic\n"
					    "webhook_user = m\nwebhook_password = file:%s\n"
					    "[inriver]\nwebhook_auth = basic\nwebhook_user = i\n"
					    "webhook_password = file:%s\n",
			 secret_nl, secret_two_nl, secret_crlf);
	parse(&r, text);
	free(text);
	assert_int_equal(r.rc, 0);
	assert_null(r.errs);
	assert_null(r.warns);
	assert_string_equal(r.cfg.admin.token, "file-secret-0123456789"); /* "\n" stripped */
	assert_string_equal(r.cfg.mirakl.webhook.password, "pw\n");              /* only one stripped */
	assert_string_equal(r.cfg.inriver.webhook.password, "crlf-secret-0123456789"); /* "\r\n" */
	done(&r);

	text = fmt(SERVER_OK STORE_OK "[admin]\ntoken = file:%s\n" SOURCES_NONE, missing_path);
	char *want = fmt("t.conf:6: [admin] token: cannot read secret file %s: No such file or "
			 "directory\n",
			 missing_path);
	expect_errors(text, want);
	free(text);
	free(want);

	text = fmt(SERVER_OK STORE_OK "[admin]\ntoken = file:%s\n" SOURCES_NONE, tmpdir);
	want = fmt("t.conf:6: [admin] token: secret file %s is not a regular file\n", tmpdir);
	expect_errors(text, want);
	free(text);
	free(want);

	expect_errors(SERVER_OK STORE_OK "[admin]\ntoken = file:\n" SOURCES_NONE,
		      "t.conf:6: [admin] token: file: needs a path\n");
}

static void test_literal_secret_warning(void **state)
{
	struct result r;
	parse(&r, SERVER_OK STORE_OK "[admin]\ntoken = literal-admin-token-42\n" SOURCES_NONE);
	assert_int_equal(r.rc, 0);
	assert_null(r.errs);
	assert_string_equal(r.warns, "t.conf:6: [admin] token: literal secret in config file; use "
				     "env:NAME or file:PATH\n"
				     "t.conf:8: [mirakl] webhook_auth: authentication disabled\n"
				     "t.conf:10: [inriver] webhook_auth: authentication disabled\n");
	assert_string_equal(r.cfg.admin.token, "literal-admin-token-42");
	done(&r);
}

/* Whatever goes wrong with a secret, its value is never in a message. */
static void test_no_secret_in_messages(void **state)
{
	static const char *texts[] = {
		SERVER_OK STORE_OK "[admin]\ntoken = SeCrEt\n" SOURCES_NONE,
		SERVER_OK STORE_OK "[admin]\ntoken = SeCrEt with spaces inside it\n" SOURCES_NONE,
		SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = standard\n"
					    "webhook_secret = whsec_SeCrEt!!\n[inriver]\nwebhook_auth = none\n",
		SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = standard\n"
					    "webhook_secret = SeCrEt\n[inriver]\nwebhook_auth = none\n",
		SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = none\n"
					    "webhook_password = SeCrEt\n[inriver]\nwebhook_auth = none\n",
		SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = token\n"
					    "webhook_token = SeCrEt \x01\n[inriver]\nwebhook_auth = none\n",
		SERVER_OK STORE_OK "[admin]\ntoken: SeCrEt\n" SOURCES_NONE,
		SERVER_OK STORE_OK "[admin]\ntoken = SeCrEt\ntoken = SeCrEt\n" SOURCES_NONE,
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct result r;
		parse(&r, texts[i]);
		assert_true(r.errs || r.warns);
		assert_null(r.errs ? strstr(r.errs, "SeCrEt") : NULL);
		assert_null(r.warns ? strstr(r.warns, "SeCrEt") : NULL);
		done(&r);
	}
}

static const unsigned char whsec_bytes[24] = { 0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a,
					       0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c,
					       0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0 };

#define WHSEC_1 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
/* bytes 0..63: the longest key accepted */
#define WHSEC_64 \
	"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
/* bytes 0..64: one too many */
#define WHSEC_65 \
	"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A="

/* Lines 7-8 [mirakl] standard with env:KCG_TEST_WHSEC on line 9; inriver none. */
#define STANDARD_ENV                                                                       \
	SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = standard\n"                    \
				    "webhook_secret = env:KCG_TEST_WHSEC\n[inriver]\nwebhook_auth = none\n"

static void test_whsec(void **state)
{
	struct result r;

	setenv("KCG_TEST_WHSEC", WHSEC_1, 1);
	parse(&r, STANDARD_ENV);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg.mirakl.webhook.n_secrets, 1);
	assert_int_equal(r.cfg.mirakl.webhook.secret_lens[0], sizeof(whsec_bytes));
	assert_memory_equal(r.cfg.mirakl.webhook.secrets[0], whsec_bytes, sizeof(whsec_bytes));
	done(&r);

	/* rotation: old and new secret side by side */
	setenv("KCG_TEST_WHSEC", "  " WHSEC_64 "   " WHSEC_1 " ", 1);
	parse(&r, STANDARD_ENV);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg.mirakl.webhook.n_secrets, 2);
	assert_int_equal(r.cfg.mirakl.webhook.secret_lens[0], 64);
	assert_int_equal(r.cfg.mirakl.webhook.secret_lens[1], 24);
	for (int i = 0; i < 64; i++)
		assert_int_equal(r.cfg.mirakl.webhook.secrets[0][i], i);
	assert_memory_equal(r.cfg.mirakl.webhook.secrets[1], whsec_bytes, sizeof(whsec_bytes));
	done(&r);

	setenv("KCG_TEST_WHSEC", WHSEC_1 " " WHSEC_1 " " WHSEC_1 " " WHSEC_1, 1);
	parse(&r, STANDARD_ENV);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg.mirakl.webhook.n_secrets, KCG_MAX_SECRETS);
	done(&r);

	static const struct {
		const char *value, *error;
	} bad[] = {
		{ WHSEC_1 " " WHSEC_1 " " WHSEC_1 " " WHSEC_1 " " WHSEC_1, "more than 4 secrets" },
		{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret 1 is not whsec_<base64>" },
		{ "whsec_", "secret 1 is not whsec_<base64>" },
		{ "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "secret 1 is not whsec_<base64>" },
		{ "whsec_MfKQ9r8G*YqrTwjUPD8ILPZIo2LaLaSw", "secret 1 is not whsec_<base64>" },
		{ WHSEC_1 " whsec_!!!!", "secret 2 is not whsec_<base64>" },
		{ WHSEC_65, "secret 1 must decode to 1 to 64 bytes" },
		{ "whsec_====", "secret 1 is not whsec_<base64>" },
		{ "   ", "no secret given" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("KCG_TEST_WHSEC", bad[i].value, 1);
		parse(&r, STANDARD_ENV);
		assert_int_equal(r.rc, KCG_ECONFIG);
		char *want = fmt("t.conf:9: [mirakl] webhook_secret: %s\n", bad[i].error);
		assert_string_equal(r.errs, want);
		free(want);
		/* all or nothing: a good first secret is not kept */
		assert_int_equal(r.cfg.mirakl.webhook.n_secrets, 0);
		done(&r);
	}
	unsetenv("KCG_TEST_WHSEC");
}

static void test_auth_modes(void **state)
{
	/* each mode's required keys, reported at line 0 */
	expect_errors(SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = standard\n"
						 "[inriver]\nwebhook_auth = token\n",
		      "t.conf:0: [mirakl] webhook_secret: required when webhook_auth = standard\n"
		      "t.conf:0: [inriver] webhook_token: required when webhook_auth = token\n");
	expect_errors(SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = basic\n"
						 "[inriver]\nwebhook_auth = basic\nwebhook_user = u\n",
		      "t.conf:0: [mirakl] webhook_user: required when webhook_auth = basic\n"
		      "t.conf:0: [mirakl] webhook_password: required when webhook_auth = basic\n"
		      "t.conf:0: [inriver] webhook_password: required when webhook_auth = basic\n");

	/* keys the mode does not use: warnings on their own lines */
	struct result r;
	parse(&r, SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = token\n"
					      "webhook_token = env:KCG_TEST_ADMIN\n"
					      "webhook_token_header = X-Kcg-Auth\n"
					      "webhook_tolerance_s = 60\n"
					      "webhook_user = someone\n"
					      "[inriver]\nwebhook_auth = none\nwebhook_token_header = X-T\n");
	assert_int_equal(r.rc, 0);
	assert_null(r.errs);
	assert_string_equal(r.warns,
			    "t.conf:11: [mirakl] webhook_tolerance_s: ignored: webhook_auth = token "
			    "does not use it\n"
			    "t.conf:12: [mirakl] webhook_user: ignored: webhook_auth = token does not "
			    "use it\n"
			    "t.conf:14: [inriver] webhook_auth: authentication disabled\n"
			    "t.conf:15: [inriver] webhook_token_header: ignored: webhook_auth = none "
			    "does not use it\n");
	assert_string_equal(r.cfg.mirakl.webhook.token, ADMIN_TOKEN);
	assert_string_equal(r.cfg.mirakl.webhook.token_header, "X-Kcg-Auth");
	done(&r);

	/* bad values of the auth keys */
	expect_errors(SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = token\n"
						 "webhook_token = env:KCG_TEST_ADMIN\n"
						 "webhook_token_header = X Token\n"
						 "[inriver]\nwebhook_auth = basic\n"
						 "webhook_user = a:b\nwebhook_password = env:KCG_TEST_ADMIN\n",
		      "t.conf:10: [mirakl] webhook_token_header: not a valid HTTP header name\n"
		      "t.conf:13: [inriver] webhook_user: must not contain ':'\n");
	setenv("KCG_TEST_SPACEY", " token-with-space ", 1);
	expect_errors(SERVER_OK STORE_OK ADMIN_OK "[mirakl]\nwebhook_auth = token\n"
						 "webhook_token = env:KCG_TEST_SPACEY\n"
						 "[inriver]\nwebhook_auth = none\n",
		      "t.conf:9: [mirakl] webhook_token: must not start or end with whitespace\n");
	unsetenv("KCG_TEST_SPACEY");
}

static void test_tls_and_loopback(void **state)
{
	/* plain HTTP on a non-loopback address: error on the listen line */
	expect_errors("[server]\nlisten = 0.0.0.0:8443\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:2: [server] listen: plain HTTP (no tls_cert and tls_key) is only "
		      "allowed on a loopback address (127.x.x.x, ::1, localhost)\n");
	expect_errors("[server]\nlisten = [::]:8443\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:2: [server] listen: plain HTTP (no tls_cert and tls_key) is only "
		      "allowed on a loopback address (127.x.x.x, ::1, localhost)\n");
	expect_errors("[server]\nlisten = example.com:80\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:2: [server] listen: plain HTTP (no tls_cert and tls_key) is only "
		      "allowed on a loopback address (127.x.x.x, ::1, localhost)\n");

	static const char *loopback[] = { "127.0.0.1:1", "127.1.2.3:80", "localhost:8080",
					  "LocalHost:8080", "[::1]:8443", "[::ffff:127.0.0.1]:80" };
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		char *text = fmt("[server]\nlisten = %s\n" STORE_OK ADMIN_OK SOURCES_NONE, loopback[i]);
		struct result r;
		parse(&r, text);
		assert_int_equal(r.rc, 0);
		assert_null(r.errs);
		done(&r);
		free(text);
	}

	/* with TLS, any address */
	char *text = fmt("[server]\nlisten = 0.0.0.0:443\ntls_cert = %s\ntls_key = %s\n" STORE_OK
			 ADMIN_OK SOURCES_NONE,
			 cert_path, key_path);
	struct result r;
	parse(&r, text);
	free(text);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg.server.tls_cert, cert_path);
	assert_string_equal(r.cfg.server.tls_key, key_path);
	done(&r);

	/* one without the other */
	text = fmt("[server]\nlisten = 127.0.0.1:443\ntls_cert = %s\n" STORE_OK ADMIN_OK SOURCES_NONE,
		   cert_path);
	expect_errors(text, "t.conf:0: [server] tls_key: required when tls_cert is set\n");
	free(text);
	text = fmt("[server]\nlisten = 0.0.0.0:443\ntls_key = %s\n" STORE_OK ADMIN_OK SOURCES_NONE,
		   key_path);
	expect_errors(text, "t.conf:0: [server] tls_cert: required when tls_key is set\n");
	free(text);

	/* unreadable files: on their own lines */
	text = fmt("[server]\nlisten = 0.0.0.0:443\ntls_cert = %s\ntls_key = %s\n" STORE_OK ADMIN_OK
		   SOURCES_NONE,
		   missing_path, tmpdir);
	char *want = fmt("t.conf:3: [server] tls_cert: cannot read %s: No such file or directory\n"
			 "t.conf:4: [server] tls_key: %s is not a regular file\n",
			 missing_path, tmpdir);
	expect_errors(text, want);
	free(text);
	free(want);
}

static void test_listen(void **state)
{
	struct result r;
	parse(&r, "[server]\nlisten = [::1]:8443\n" STORE_OK ADMIN_OK SOURCES_NONE);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg.server.listen_host, "::1");
	assert_int_equal(r.cfg.server.listen_port, 8443);
	done(&r);

	parse(&r, "[server]\nlisten = localhost:65535\n" STORE_OK ADMIN_OK SOURCES_NONE);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.cfg.server.listen_host, "localhost");
	assert_int_equal(r.cfg.server.listen_port, 65535);
	done(&r);

	static const struct {
		const char *value, *error;
	} bad[] = {
		{ "::1:8443", "an IPv6 address needs brackets, e.g. [::1]:8443" },
		{ "[::1]8443", "expected host:port (IPv6 as [::1]:8443)" },
		{ "[::1]", "expected host:port (IPv6 as [::1]:8443)" },
		{ "[::1:8443", "expected host:port (IPv6 as [::1]:8443)" },
		{ "[127.0.0.1]:80", "expected an IPv6 address inside [ ]" },
		{ "127.0.0.1", "expected host:port (IPv6 as [::1]:8443)" },
		{ ":8443", "expected host:port (IPv6 as [::1]:8443)" },
		{ "127.0.0.1:", "expected a port number from 1 to 65535" },
		{ "127.0.0.1:0", "expected a port number from 1 to 65535" },
		{ "127.0.0.1:65536", "expected a port number from 1 to 65535" },
		{ "127.0.0.1:http", "expected a port number from 1 to 65535" },
		{ "[::1]:-1", "expected a port number from 1 to 65535" },
		{ "local_host:80", "invalid host name" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = fmt("[server]\nlisten = %s\n" STORE_OK ADMIN_OK SOURCES_NONE, bad[i].value);
		char *want = fmt("t.conf:2: [server] listen: %s\n", bad[i].error);
		expect_errors(text, want);
		free(text);
		free(want);
	}
}

static void test_syntax_details(void **state)
{
	struct result r;
	parse(&r, "\xEF\xBB\xBF# byte order mark, CRLF, tabs and comments\r\n"
		  "\t[server]   # the server\r\n"
		  "listen=127.0.0.1:8443\r\n"
		  "  threads\t=\t7   # seven\r\n"
		  "log_level = warn#not-a-comment\r\n" /* 5: '#' without a blank before is data */
		  "\r\n"
		  "[ store ]\r\n"
		  "path = /tmp/with space/store # trailing comment\r\n"
		  "[admin]\r\n"
		  "token = env:KCG_TEST_ADMIN\r\n"
		  "[mirakl]\r\n"
		  "webhook_auth = token\r\n"
		  "webhook_token = env:KCG_TEST_ADMIN\r\n"
		  "webhook_token_header = X#Tok\r\n"
		  "[inriver]\r\n"
		  "webhook_auth = none"); /* no final newline */
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_string_equal(r.errs, "t.conf:5: [server] log_level: expected one of debug, info, warn, "
				    "error\n");
	assert_int_equal(r.cfg.server.threads, 7);
	assert_string_equal(r.cfg.store.path, "/tmp/with space/store");
	assert_string_equal(r.cfg.mirakl.webhook.token_header, "X#Tok");
	assert_string_equal(r.warns, "t.conf:16: [inriver] webhook_auth: authentication disabled\n");
	done(&r);
}

static void test_guards(void **state)
{
	/* over 1 MiB: one error, nothing else parsed */
	size_t big = 1024 * 1024 + 1;
	char *text = malloc(big);
	assert_non_null(text);
	memset(text, '#', big);
	struct result r;
	parse_len(&r, text, big);
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_string_equal(r.errs, "t.conf:0: file is larger than 1 MiB\n");
	done(&r);

	/* the same through kcg_config_load */
	char path[4200];
	fixture_path(path, sizeof(path), "big.conf");
	write_file(path, text, big);
	free(text);
	struct kcg_config cfg = { 0 };
	char *errs = NULL;
	assert_int_equal(kcg_config_load(path, &cfg, &errs, NULL), KCG_ECONFIG);
	char *want = fmt("%s:0: file is larger than 1 MiB\n", path);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
	kcg_config_finish(&cfg);
	unlink(path);

	/* a line of 4096 bytes is fine, 4097 is not */
	char line[4098];
	memset(line, '#', sizeof(line));
	line[4096] = '\0';
	text = fmt(MINIMAL "%s\n", line);
	parse(&r, text);
	assert_int_equal(r.rc, 0);
	done(&r);
	free(text);
	line[4096] = '#';
	line[4097] = '\0';
	text = fmt(SERVER_OK "%s\n" STORE_OK ADMIN_OK SOURCES_NONE, line);
	expect_errors(text, "t.conf:3: line is longer than 4096 bytes\n");
	free(text);

	/* NUL bytes */
	static const char nul[] = SERVER_OK "threads = 4\0junk\n" STORE_OK ADMIN_OK SOURCES_NONE;
	parse_len(&r, nul, sizeof(nul) - 1);
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_string_equal(r.errs, "t.conf:3: line contains a NUL byte\n");
	done(&r);
}

static void test_messages_append(void **state)
{
	struct kcg_config cfg = { 0 };
	char *errs = strdup("earlier\n");
	assert_non_null(errs);
	assert_int_equal(kcg_config_parse("x", "[server]\n", 9, &cfg, &errs, NULL), KCG_ECONFIG);
	assert_int_equal(strncmp(errs, "earlier\nx:0: [server] listen: required key missing\n", 51),
			 0);
	free(errs);
	kcg_config_finish(&cfg);
}

static void test_finish(void **state)
{
	kcg_config_finish(NULL);
	struct result r;
	parse(&r, MINIMAL);
	kcg_config_finish(&r.cfg);
	static const struct kcg_config zero;
	assert_memory_equal(&r.cfg, &zero, sizeof(zero));
	kcg_config_finish(&r.cfg); /* twice is harmless */
	free(r.errs);
	free(r.warns);
}

static void test_auth_names(void **state)
{
	assert_string_equal(kcg_webhook_auth_name(KCG_AUTH_STANDARD), "standard");
	assert_string_equal(kcg_webhook_auth_name(KCG_AUTH_TOKEN), "token");
	assert_string_equal(kcg_webhook_auth_name(KCG_AUTH_BASIC), "basic");
	assert_string_equal(kcg_webhook_auth_name(KCG_AUTH_NONE), "none");
	assert_string_equal(kcg_webhook_auth_name(KCG_AUTH_UNSET), "unset");
}

/* ---- issue 3: the order flow's keys ([mirakl] seller API, [khaos], [jobs], [lanes]) ---- */

#define MIRAKL_KEY "mirakl-shop-key-0123"
/* Lines 11-17 after MINIMAL: the smallest config that enables the order flow. */
#define FLOW_MIRAKL "[mirakl]\nbase_url = https://shop.mirakl.net\napi_key = env:KCG_TEST_MIRAKL\n"
#define FLOW_KHAOS                                                               \
	"[khaos]\nsoap_url = https://erp.example.com/LiveSoap/KhaosKSD.exe/soap/IKosWeb\n" \
	"site = 1\nsales_source = Mirakl\n"
#define FLOW_OK MINIMAL FLOW_MIRAKL FLOW_KHAOS
#define AUTH_NONE_WARNS                                                \
	"t.conf:8: [mirakl] webhook_auth: authentication disabled\n"        \
	"t.conf:10: [inriver] webhook_auth: authentication disabled\n"

static void expect_ok(struct result *r, const char *text)
{
	parse(r, text);
	if (r->errs)
		fprintf(stderr, "unexpected errors:\n%s", r->errs);
	assert_int_equal(r->rc, 0);
	assert_null(r->errs);
}

/* The stock flow's keys: defaults, the 60 s floor against Mirakl (lowered
 * only by stock_rate_limits = sim, with a warning), the sections. */
static void test_stock_keys(void **state)
{
	struct result r;
	(void)state;
	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);
	expect_ok(&r, FLOW_OK "[stock]\nenabled = true\n");
	assert_int_equal(r.cfg.stock.enabled, 1);
	assert_int_equal(r.cfg.stock.poll_interval_s, 60);
	assert_int_equal(r.cfg.stock.poll_overlap_s, 120);
	assert_int_equal(r.cfg.stock.stale_after_s, 900);
	assert_int_equal(r.cfg.stock.drift_check_interval_s, 3600);
	assert_int_equal(r.cfg.stock.max_answer_mb, 64);
	assert_int_equal(r.cfg.stock.buffer, 0);
	assert_string_equal(r.cfg.stock.uncontrolled_quantity, "leave");
	assert_int_equal(r.cfg.mirakl.stock_flush_interval_s, 300);
	assert_int_equal(r.cfg.mirakl.stock_rate_limits, KCG_RATE_MIRAKL);
	assert_int_equal(r.cfg.lanes.mirakl_stock, 1);
	done(&r);
	/* off by default: the flow's keys parse, nothing runs */
	expect_ok(&r, FLOW_OK);
	assert_int_equal(r.cfg.stock.enabled, 0);
	done(&r);
	expect_errors(FLOW_OK "[stock]\nenabled = true\n[mirakl]\nstock_flush_interval_s = 30\n",
		      "t.conf:21: [mirakl] stock_flush_interval_s: must be at least 60 (Mirakl takes a stock import at "
		      "most once a minute); only stock_rate_limits = sim (kcgate-sim) allows less\n");
	expect_ok(&r, FLOW_OK "[stock]\nenabled = true\npoll_interval_s = 1\n[mirakl]\nstock_flush_interval_s = 2\n"
			  "stock_rate_limits = sim\n");
	assert_int_equal(r.cfg.mirakl.stock_flush_interval_s, 2);
	assert_non_null(strstr(r.warns, "t.conf:23: [mirakl] stock_rate_limits: sim: the stock flow keeps kcgate-sim's "
					"limits, not Mirakl's"));
	done(&r);
	expect_errors(MINIMAL "[stock]\nenabled = true\n",
		      "t.conf:12: [stock] enabled: needs [mirakl] base_url and [khaos] soap_url\n");
	expect_errors(FLOW_OK "[stock]\npoll_interval_s = 5\ndrift_check_interval_s = 60\n",
		      "t.conf:19: [stock] poll_interval_s: must be at least 10 (Khaos warns against polling per request)\n"
		      "t.conf:20: [stock] drift_check_interval_s: must be at least 300 (OF21 pages through every offer)\n");
	expect_errors(FLOW_OK "[stock]\nuncontrolled_quantity = some\nsites = main\n",
		      "t.conf:19: [stock] uncontrolled_quantity: must be leave (the offer is left alone) or a quantity (0 "
		      "to 1000000000)\n"
		      "t.conf:20: [stock] sites: must be a Khaos site id (an integer), or -1 for every site\n");
	expect_errors(FLOW_OK "[stock.buffers]\nSKU-1 = 3\nSKU-2 = lots\n",
		      "t.conf:20: [stock.buffers] SKU-2: must be a quantity (0 to 1000000000)\n");
	expect_ok(&r, FLOW_OK "[stock]\nsites = -1\nuncontrolled_quantity = 0\n[stock.buffers]\nSKU-1 = 3\n");
	assert_string_equal(kcg_config_map_get(atomic_load(&r.cfg.stock.buffers), "SKU-1"), "3");
	assert_string_equal(r.cfg.stock.sites, "-1");
	done(&r);
	/* [stock.warehouses]: Khaos site id -> Mirakl warehouse-code */
	expect_ok(&r, FLOW_OK "[stock]\nenabled = true\n[stock.warehouses]\n1 = WH-NORTH\n2 = WH-SOUTH\n");
	int sites[KCG_STOCK_SITES_MAX];
	assert_int_equal(kcg_stock_sites(&r.cfg, sites), 2);
	assert_true(sites[0] == 1 && sites[1] == 2);
	done(&r);
	/* the flow off: no site polled one by one */
	expect_ok(&r, FLOW_OK "[stock.warehouses]\n1 = WH-NORTH\n");
	assert_int_equal(kcg_stock_sites(&r.cfg, sites), 0);
	done(&r);
	parse(&r, FLOW_OK "[stock.warehouses]\nnorth = WH-NORTH\n");
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_non_null(strstr(r.errs, "[stock.warehouses]"));
	assert_non_null(strstr(r.errs, "'north' is not a Khaos site id"));
	done(&r);
	expect_errors(FLOW_OK "[stock.warehouses]\n1 = WH-NORTH-0123456789012345678901234\n",
		      "t.conf:19: [stock.warehouses] 1: a warehouse-code of at most 31 bytes\n");
	parse(&r, FLOW_OK "[stock]\nsites = 1\n[stock.warehouses]\n1 = WH-NORTH\n");
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_non_null(strstr(r.errs, "t.conf:19: [stock] sites: leave it out with [stock.warehouses]"));
	done(&r);
	unsetenv("KCG_TEST_MIRAKL");
}

/* [inriver], [inriver.fields], [stock] require_inriver_link, [lanes] inriver_push. */
static void test_inriver_keys(void **state)
{
	struct result r;
	(void)state;
	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);
	setenv("KCG_TEST_INRIVER", "inriver-key-0123", 1);
	expect_ok(&r, FLOW_OK);
	assert_null(r.cfg.inriver.base_url); /* off by default */
	assert_string_equal(r.cfg.inriver.entity_type, "Item");
	assert_string_equal(r.cfg.inriver.sku_field, "ItemNumber");
	assert_int_equal(r.cfg.inriver.listen, 1);
	assert_int_equal(r.cfg.inriver.write_interval_s, 60);
	assert_int_equal(r.cfg.inriver.poll_interval_s, 300);
	assert_int_equal(r.cfg.inriver.audit_interval_s, 86400);
	assert_int_equal(r.cfg.inriver.create_missing_items, 0);
	assert_null(r.cfg.inriver.field_khaos_status);
	assert_int_equal(r.cfg.stock.require_inriver_link, 0);
	assert_int_equal(r.cfg.lanes.inriver_push, 2);
	done(&r);
	expect_ok(&r, FLOW_OK "[inriver]\nbase_url = https://ir.example/\napi_key = env:KCG_TEST_INRIVER\n"
			  "listen = false\ncreate_missing_items = true\n[inriver.fields]\nkhaos_status = KhaosStatus\n"
			  "available = KhaosAvailable\n[stock]\nrequire_inriver_link = true\n");
	assert_string_equal(r.cfg.inriver.base_url, "https://ir.example");
	assert_string_equal(r.cfg.inriver.api_key, "inriver-key-0123");
	assert_string_equal(r.cfg.inriver.field_available, "KhaosAvailable");
	assert_int_equal(r.cfg.inriver.listen, 0);
	assert_int_equal(r.cfg.inriver.create_missing_items, 1);
	assert_int_equal(r.cfg.stock.require_inriver_link, 1);
	done(&r);
	/* no key, no field to write, the SKU field written, a field twice, a bad id */
	parse(&r, FLOW_OK "[inriver]\nbase_url = https://ir.example\n");
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_non_null(strstr(r.errs, "[inriver] base_url: needs [inriver] api_key"));
	assert_non_null(strstr(r.errs, "[inriver] base_url: needs at least one field in [inriver.fields]"));
	done(&r);
	parse(&r, FLOW_OK "[inriver]\nbase_url = https://ir.example\napi_key = env:KCG_TEST_INRIVER\n"
			  "[inriver.fields]\nkhaos_status = ItemNumber\navailable = ItemNumber\nprice = Bad-Id\n");
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_non_null(strstr(r.errs, "[inriver] sku_field: is also an [inriver.fields] field"));
	assert_non_null(strstr(r.errs, "names ItemNumber twice"));
	assert_non_null(strstr(r.errs, "[inriver.fields] price: must be an inriver id (letters, digits and '_')"));
	done(&r);
	parse(&r, FLOW_OK "[stock]\nrequire_inriver_link = true\n");
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_non_null(strstr(r.errs, "[stock] require_inriver_link: needs [inriver] base_url"));
	done(&r);
	parse(&r, FLOW_OK "[inriver]\nwrite_interval_s = 0\n");
	assert_int_equal(r.rc, KCG_ECONFIG);
	assert_non_null(strstr(r.errs, "[inriver] write_interval_s"));
	done(&r);
	unsetenv("KCG_TEST_INRIVER");
	unsetenv("KCG_TEST_MIRAKL");
}

/* Map sections: arbitrary keys, each value checked, errors FILE:LINE: [section] key: why. */
static void test_map_sections(void **state)
{
	struct result r;
	/* absent: NULL (no courier sent) */
	expect_ok(&r, MINIMAL);
	assert_null(atomic_load(&r.cfg.orders.shipping_methods));
	assert_null(atomic_load(&r.cfg.orders.tax_rates));
	done(&r);

	expect_ok(&r, MINIMAL "[shipping_methods]\nSTD = RM48\nexpress-1 = DPD # next day\n"
			      "[khaos.tax_rates]\nGB-VAT-20 = 1\nGB_VAT.5 = 4\n");
	const struct kcg_config_map *m = atomic_load(&r.cfg.orders.shipping_methods);
	assert_non_null(m);
	assert_int_equal(m->n, 2);
	assert_string_equal(kcg_config_map_get(m, "STD"), "RM48");
	assert_string_equal(kcg_config_map_get(m, "express-1"), "DPD");
	assert_int_equal(m->entries[1].line, 13);
	assert_null(kcg_config_map_get(m, "std")); /* case matters, as in Mirakl */
	assert_null(kcg_config_map_get(NULL, "STD"));
	m = atomic_load(&r.cfg.orders.tax_rates);
	assert_string_equal(kcg_config_map_get(m, "GB-VAT-20"), "1");
	assert_string_equal(kcg_config_map_get(m, "GB_VAT.5"), "4");
	done(&r);

	/* [carriers]: keys as Khaos writes its couriers, spaces inside (the
	 * first '=' splits); values a carrier code or name:<name>[|<url>] */
	expect_ok(&r, MINIMAL "[carriers]\nRoyal Mail 48 = RM\nAcme Couriers (UK) = name:Acme|https://a.example/{tracking}\n"
			      "[despatch]\nmode = shipments\npoll_interval_s = 30\n");
	m = atomic_load(&r.cfg.despatch.carriers);
	assert_int_equal(m->n, 2);
	assert_string_equal(kcg_config_map_get(m, "Royal Mail 48"), "RM");
	assert_string_equal(kcg_config_map_get(m, "Acme Couriers (UK)"), "name:Acme|https://a.example/{tracking}");
	assert_int_equal(r.cfg.despatch.mode, KCG_DESPATCH_MODE_SHIPMENTS);
	assert_int_equal(r.cfg.despatch.poll_interval_s, 30);
	assert_int_equal(r.cfg.despatch.deadline_alert_h, 12);
	done(&r);
	/* couriers named in other languages: printable UTF-8 keys */
	expect_ok(&r, MINIMAL "[carriers]\nColissimo Exp\xc3\xa9" "dition = RM\nDHL \xe2\x80\x93 Express = DPD\n");
	m = atomic_load(&r.cfg.despatch.carriers);
	assert_int_equal(m->n, 2);
	assert_string_equal(kcg_config_map_get(m, "Colissimo Exp\xc3\xa9" "dition"), "RM");
	done(&r);
	/* not UTF-8, an overlong form, a C1 control: malformed */
	expect_errors(MINIMAL "[carriers]\nBad\xff = RM\n", "t.conf:12: expected [section], key = value or a # comment\n");
	expect_errors(MINIMAL "[carriers]\nBad\xc0\xaf = RM\n", "t.conf:12: expected [section], key = value or a # comment\n");
	expect_errors(MINIMAL "[carriers]\nBad\xc2\x85 = RM\n", "t.conf:12: expected [section], key = value or a # comment\n");
	expect_errors(MINIMAL "[carriers]\nDPD = name:\nYodel = name:Yodel|ftp://x\n",
		      "t.conf:12: [carriers] DPD: name: needs a carrier name of 1 to 255 bytes (name:<carrier "
		      "name>[|<tracking URL template>])\n"
		      "t.conf:13: [carriers] Yodel: the tracking URL template after '|' must be an http(s) URL "
		      "({tracking} stands for the consignment ref)\n");

	/* present but empty: a map with no entry (every code unmapped) */
	expect_ok(&r, MINIMAL "[shipping_methods]\n# none yet\n");
	m = atomic_load(&r.cfg.orders.shipping_methods);
	assert_non_null(m);
	assert_int_equal(m->n, 0);
	done(&r);

	expect_errors(MINIMAL "[shipping_methods]\nSTD = RM48\nSTD = DPD\nEXP =\nBAD KEY = X\n"
			      "[khaos.tax_rates]\nVAT = standard\nZERO = 0\nOK = 2\n",
		      "t.conf:13: [shipping_methods] STD: duplicate key (first set on line 12)\n"
		      "t.conf:14: [shipping_methods] EXP: value is empty\n"
		      "t.conf:15: " "expected [section], key = value or a # comment\n"
		      "t.conf:17: [khaos.tax_rates] VAT: expected a Khaos tax code, a whole number from 1 to 999 (1 "
		      "standard, 2 zero, 4 reduced, >4 user-defined)\n"
		      "t.conf:18: [khaos.tax_rates] ZERO: expected a Khaos tax code, a whole number from 1 to 999 (1 "
		      "standard, 2 zero, 4 reduced, >4 user-defined)\n");
	expect_errors(MINIMAL "[shipping_methods]\nSTD = RM\x01" "48\n",
		      "t.conf:12: [shipping_methods] STD: must not contain control characters\n");
}

/* A reload publishes the new maps, keeps the old readable, lists the rest. */
static void test_map_reload(void **state)
{
	struct result live, fresh;
	expect_ok(&live, MINIMAL "[shipping_methods]\nSTD = RM48\nOLD = X\n[khaos.tax_rates]\nVAT = 1\n");
	expect_ok(&fresh, "[server]\nlisten = 127.0.0.1:8443\nthreads = 3\n" STORE_OK ADMIN_OK SOURCES_NONE
			  "[shipping_methods]\nSTD = RM24\nEXP = DPD\n");
	struct kcg_config_map *before = atomic_load(&live.cfg.orders.shipping_methods);
	const struct kcg_config_map *rates_before = atomic_load(&live.cfg.orders.tax_rates);
	char *changes, *restart;
	assert_int_equal(kcg_config_reload_maps(&live.cfg, &fresh.cfg, &changes, &restart), 0);
	const struct kcg_config_map *now = atomic_load(&live.cfg.orders.shipping_methods);
	assert_ptr_not_equal(now, before);
	assert_string_equal(kcg_config_map_get(now, "STD"), "RM24");
	assert_string_equal(kcg_config_map_get(now, "EXP"), "DPD");
	assert_null(kcg_config_map_get(now, "OLD"));
	assert_ptr_equal(now->older, before); /* still readable by whoever loaded it */
	assert_string_equal(kcg_config_map_get(before, "STD"), "RM48");
	assert_null(atomic_load(&live.cfg.orders.tax_rates)); /* the section was removed */
	assert_ptr_equal(live.cfg.retired, rates_before);
	assert_null(atomic_load(&fresh.cfg.orders.shipping_methods)); /* taken */
	assert_string_equal(changes, "[shipping_methods] STD changed; EXP added; OLD removed; [khaos.tax_rates] section removed; VAT removed;");
	assert_string_equal(restart, "[server] threads");
	assert_int_equal(live.cfg.server.threads, 4); /* not applied */
	free(changes);
	free(restart);
	done(&fresh);
	done(&live); /* frees the chain and the retired (ASan/valgrind: no leak) */

	/* nothing changed: nothing to say */
	expect_ok(&live, MINIMAL);
	expect_ok(&fresh, MINIMAL);
	assert_int_equal(kcg_config_reload_maps(&live.cfg, &fresh.cfg, &changes, &restart), 0);
	assert_null(changes);
	assert_null(restart);
	done(&fresh);
	done(&live);
}

/* A reload with secrets: a changed value is swapped in, the old one kept
 * readable; one added or removed needs a restart; names only, no values. */
static void test_secret_reload(void **state)
{
	struct result live, fresh;
	expect_ok(&live, SERVER_OK STORE_OK "[admin]\ntoken = first-admin-token-0123\n" SOURCES_NONE);
	expect_ok(&fresh, SERVER_OK STORE_OK "[admin]\ntoken = rotated-admin-token-456\n" SOURCES_NONE
				"[mirakl]\napi_key = added\n");
	const char *old_token = live.cfg.admin.token;
	char *changes, *secrets, *restart;
	assert_int_equal(kcg_config_reload(&live.cfg, &fresh.cfg, &changes, &secrets, &restart), 0);
	assert_string_equal(live.cfg.admin.token, "rotated-admin-token-456");
	assert_string_equal(old_token, "first-admin-token-0123"); /* still readable by whoever loaded it */
	assert_null(fresh.cfg.admin.token); /* taken */
	assert_string_equal(secrets, "[admin] token");
	assert_null(live.cfg.mirakl.api_key); /* added: not applied */
	assert_string_equal(restart, "[mirakl] api_key");
	assert_null(changes);
	free(changes);
	free(secrets);
	free(restart);
	done(&fresh);
	done(&live); /* wipes and frees the retired value (ASan: no leak) */

	/* the same values: nothing to say */
	expect_ok(&live, MINIMAL);
	expect_ok(&fresh, MINIMAL);
	assert_int_equal(kcg_config_reload(&live.cfg, &fresh.cfg, &changes, &secrets, &restart), 0);
	assert_null(changes);
	assert_null(secrets);
	assert_null(restart);
	done(&fresh);
	done(&live);
}

static void test_flow_defaults(void **state)
{
	struct result r;
	expect_ok(&r, MINIMAL);
	const struct kcg_config *c = &r.cfg;
	assert_false(kcg_flow_orders.enabled(c));
	assert_null(c->mirakl.base_url);
	assert_null(c->mirakl.api_key);
	assert_null(c->mirakl.shop_id);
	assert_int_equal(c->mirakl.timeout_s, 30);
	assert_int_equal(c->mirakl.poll_interval_s, 300);
	assert_int_equal(c->mirakl.poll_overlap_s, 300);
	assert_int_equal(c->mirakl.acceptance_window_h, 72);
	assert_int_equal(c->mirakl.acceptance_alert_h, 12);
	assert_string_equal(c->khaos.transport, "soap");
	assert_null(c->khaos.soap_url);
	assert_string_equal(c->khaos.soap_namespace, "auto"); /* read from the WSDL at start */
	assert_null(c->khaos.order_ref_prefix);
	assert_null(c->khaos.stock_site_id);
	assert_int_equal(c->khaos.country_format, KCG_KHAOS_ALPHA3);
	assert_int_equal(c->khaos.booleans, KCG_KHAOS_MINUS_ONE);
	assert_null(c->khaos.soap_user);
	assert_null(c->khaos.soap_password);
	assert_null(c->khaos.site);
	assert_null(c->khaos.sales_source);
	assert_null(c->khaos.company_class);
	assert_int_equal(c->khaos.timeout_s, 30);
	assert_int_equal(c->khaos.sku_refresh_s, 300);
	assert_int_equal(c->jobs.max_age_h, 72);
	assert_int_equal(c->jobs.retry_base_ms, 1000);
	assert_int_equal(c->jobs.retry_max_s, 3600);
	assert_int_equal(c->jobs.breaker_failures, 10);
	assert_int_equal(c->jobs.breaker_cooldown_s, 30);
	assert_int_equal(c->jobs.max_reply_bytes, 8388608);
	assert_int_equal(c->lanes.mirakl, 4);
	assert_int_equal(c->lanes.khaos, 4);
	assert_int_equal(c->lanes.inriver, 4);
	done(&r);

	/* the smallest flow: the same defaults, the flow on */
	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);
	expect_ok(&r, FLOW_OK);
	assert_string_equal(r.warns, AUTH_NONE_WARNS);
	assert_true(kcg_flow_orders.enabled(&r.cfg));
	assert_string_equal(r.cfg.mirakl.base_url, "https://shop.mirakl.net");
	assert_string_equal(r.cfg.mirakl.api_key, MIRAKL_KEY);
	assert_null(r.cfg.mirakl.shop_id);
	assert_string_equal(r.cfg.khaos.soap_url,
			    "https://erp.example.com/LiveSoap/KhaosKSD.exe/soap/IKosWeb");
	assert_string_equal(r.cfg.khaos.site, "1");
	assert_string_equal(r.cfg.khaos.sales_source, "Mirakl");
	assert_null(r.cfg.khaos.soap_user);
	assert_int_equal(r.cfg.mirakl.poll_interval_s, 300);
	assert_int_equal(r.cfg.lanes.khaos, 4);
	done(&r);
	unsetenv("KCG_TEST_MIRAKL");
}

static void test_flow_every_key(void **state)
{
	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);
	char *text = fmt(MINIMAL
			 "[mirakl]\n"
			 "base_url = http://127.0.0.1:9090/mirakl/\n"
			 "api_key = env:KCG_TEST_MIRAKL\n"
			 "shop_id = 2001\n"
			 "timeout_s = 300\n"
			 "poll_interval_s = 60\n"
			 "poll_overlap_s = 0\n"
			 "acceptance_window_h = 720\n"
			 "acceptance_alert_h = 719\n"
			 "[khaos]\n"
			 "transport = soap\n"
			 "soap_url = http://[::1]:8084/LiveSoap/KhaosKSD.exe/soap/IKosWeb\n"
			 "soap_namespace = urn:Other-IKosWeb\n"
			 "soap_user = env:KCG_TEST_ADMIN\n"
			 "soap_password = file:%s\n"
			 "site = Main Warehouse\n"
			 "sales_source = Mirakl Marketplace\n"
			 "company_class = Marketplace\n"
			 "timeout_s = 1\n"
			 "sku_refresh_s = 10\n"
			 "[jobs]\n"
			 "max_age_h = 720\n"
			 "retry_base_ms = 10\n"
			 "retry_max_s = 86400\n"
			 "breaker_failures = 10000\n"
			 "breaker_cooldown_s = 3600\n"
			 "max_reply_bytes = 268435456\n"
			 "[lanes]\n"
			 "mirakl = 1\n"
			 "khaos = 64\n"
			 "inriver = 2\n",
			 secret_crlf);
	struct result r;
	expect_ok(&r, text);
	free(text);
	assert_string_equal(r.warns, AUTH_NONE_WARNS);
	const struct kcg_config *c = &r.cfg;
	assert_true(kcg_flow_orders.enabled(c));
	assert_string_equal(c->mirakl.base_url, "http://127.0.0.1:9090/mirakl");
	assert_string_equal(c->mirakl.api_key, MIRAKL_KEY);
	assert_string_equal(c->mirakl.shop_id, "2001");
	assert_int_equal(c->mirakl.timeout_s, 300);
	assert_int_equal(c->mirakl.poll_interval_s, 60);
	assert_int_equal(c->mirakl.poll_overlap_s, 0);
	assert_int_equal(c->mirakl.acceptance_window_h, 720);
	assert_int_equal(c->mirakl.acceptance_alert_h, 719);
	assert_string_equal(c->khaos.transport, "soap");
	assert_string_equal(c->khaos.soap_url, "http://[::1]:8084/LiveSoap/KhaosKSD.exe/soap/IKosWeb");
	assert_string_equal(c->khaos.soap_namespace, "urn:Other-IKosWeb");
	assert_string_equal(c->khaos.soap_user, ADMIN_TOKEN);
	assert_string_equal(c->khaos.soap_password, "crlf-secret-0123456789");
	assert_string_equal(c->khaos.site, "Main Warehouse");
	assert_string_equal(c->khaos.sales_source, "Mirakl Marketplace");
	assert_string_equal(c->khaos.company_class, "Marketplace");
	assert_int_equal(c->khaos.timeout_s, 1);
	assert_int_equal(c->khaos.sku_refresh_s, 10);
	assert_int_equal(c->jobs.max_age_h, 720);
	assert_int_equal(c->jobs.retry_base_ms, 10);
	assert_int_equal(c->jobs.retry_max_s, 86400);
	assert_int_equal(c->jobs.breaker_failures, 10000);
	assert_int_equal(c->jobs.breaker_cooldown_s, 3600);
	assert_int_equal(c->jobs.max_reply_bytes, 268435456);
	assert_int_equal(c->lanes.mirakl, 1);
	assert_int_equal(c->lanes.khaos, 64);
	assert_int_equal(c->lanes.inriver, 2);

	/* finish frees (ASan) and wipes everything, secrets included */
	kcg_config_finish(&r.cfg);
	static const struct kcg_config zero;
	assert_memory_equal(&r.cfg, &zero, sizeof(zero));
	done(&r);
	unsetenv("KCG_TEST_MIRAKL");
}

/* Every new number: one below and one above its bounds, on its own line
 * (line 12, after MINIMAL and the section header), and both bounds accepted. */
static void test_flow_bounds(void **state)
{
	static const struct {
		const char *section, *key;
		unsigned long long min, max;
	} nums[] = {
		{ "mirakl", "timeout_s", 1, 300 },
		{ "mirakl", "poll_interval_s", 60, 86400 },
		{ "mirakl", "poll_overlap_s", 0, 86400 },
		{ "mirakl", "acceptance_window_h", 1, 720 },
		{ "mirakl", "acceptance_alert_h", 1, 720 },
		{ "khaos", "timeout_s", 1, 300 },
		{ "khaos", "sku_refresh_s", 10, 86400 },
		{ "jobs", "max_age_h", 1, 720 },
		{ "jobs", "retry_base_ms", 10, 600000 },
		{ "jobs", "retry_max_s", 1, 86400 },
		{ "jobs", "breaker_failures", 1, 10000 },
		{ "jobs", "breaker_cooldown_s", 1, 3600 },
		{ "jobs", "max_reply_bytes", 1024, 268435456 },
		{ "lanes", "mirakl", 1, 64 },
		{ "lanes", "khaos", 1, 64 },
		{ "lanes", "inriver", 1, 64 },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		char *want = fmt("t.conf:12: [%s] %s: expected a whole number from %llu to %llu\n",
				 nums[i].section, nums[i].key, nums[i].min, nums[i].max);
		char *text;
		if (nums[i].min > 0) {
			text = fmt(MINIMAL "[%s]\n%s = %llu\n", nums[i].section, nums[i].key,
				   nums[i].min - 1);
			expect_errors(text, want);
			free(text);
		}
		text = fmt(MINIMAL "[%s]\n%s = %llu\n", nums[i].section, nums[i].key, nums[i].max + 1);
		expect_errors(text, want);
		free(text);
		text = fmt(MINIMAL "[%s]\n%s = -1\n", nums[i].section, nums[i].key);
		expect_errors(text, want);
		free(text);
		free(want);

		/* the bounds themselves (the acceptance pair: see test_flow_acceptance) */
		if (strncmp(nums[i].key, "acceptance_", 11) == 0)
			continue;
		unsigned long long ok[2] = { nums[i].min, nums[i].max };
		for (int j = 0; j < 2; j++) {
			text = fmt(MINIMAL "[%s]\n%s = %llu\n", nums[i].section, nums[i].key, ok[j]);
			struct result r;
			expect_ok(&r, text);
			done(&r);
			free(text);
		}
	}

	/* the section names are known, their other keys are not */
	expect_errors(MINIMAL "[jobs]\nretries = 3\n[lanes]\nmirakl = 2\nstore = 1\n"
			      "[khaos]\nsoap_pass = x\n",
		      "t.conf:12: [jobs] retries: unknown key\n"
		      "t.conf:15: [lanes] store: unknown key\n"
		      "t.conf:17: [khaos] soap_pass: unknown key\n");
}

static void test_flow_urls(void **state)
{
	static const struct {
		const char *value, *stored;
	} good[] = {
		{ "https://shop.mirakl.net", "https://shop.mirakl.net" },
		{ "https://shop.mirakl.net/", "https://shop.mirakl.net" },
		{ "http://127.0.0.1:9090/mirakl//", "http://127.0.0.1:9090/mirakl" },
		{ "https://[::1]:443/a/b", "https://[::1]:443/a/b" },
		{ "http://localhost:65535/", "http://localhost:65535" },
		{ "https://host/path;v=1/%20x", "https://host/path;v=1/%20x" },
	};
	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct result r;
		/* the same value for both URL keys */
		char *text = fmt(MINIMAL "[mirakl]\nbase_url = %s\napi_key = env:KCG_TEST_MIRAKL\n"
					 "[khaos]\nsoap_url = %s\nsite = 1\nsales_source = M\n",
				 good[i].value, good[i].value);
		expect_ok(&r, text);
		free(text);
		assert_string_equal(r.cfg.mirakl.base_url, good[i].stored);
		assert_string_equal(r.cfg.khaos.soap_url, good[i].stored);
		done(&r);
	}
	unsetenv("KCG_TEST_MIRAKL");

	static const struct {
		const char *value, *error;
	} bad[] = {
		{ "shop.mirakl.net", "expected a URL starting with http:// or https://" },
		{ "ftp://shop.mirakl.net", "expected a URL starting with http:// or https://" },
		{ "HTTPS://shop.mirakl.net", "expected a URL starting with http:// or https://" },
		{ "https:/shop.mirakl.net", "expected a URL starting with http:// or https://" },
		{ "https://", "expected a host after ://" },
		{ "https:///api", "expected a host after ://" },
		{ "https://:443/x", "expected a host after ://" },
		{ "https://shop.mirakl.net/api?shop=1", "must not contain a query (?) or fragment (#)" },
		{ "https://shop.mirakl.net/a#frag", "must not contain a query (?) or fragment (#)" },
		{ "https://shop.mirakl.net/a b", "must not contain whitespace, control or non-ASCII "
						 "characters" },
		{ "https://shop.mirakl.net/\xc3\xa9", "must not contain whitespace, control or "
						      "non-ASCII characters" },
		{ "https://user:pw@shop.mirakl.net", "must not contain credentials (user@host): use "
						     "the secret keys" },
		{ "https://shop_1.mirakl.net", "invalid host name" },
		{ "https://[::1/x", "invalid host name" },
		{ "https://[::1]x/", "invalid host name" },
		{ "https://[127.0.0.1]/", "expected an IPv6 address inside [ ]" },
		{ "https://shop.mirakl.net:0", "expected a port number from 1 to 65535" },
		{ "https://shop.mirakl.net:65536/", "expected a port number from 1 to 65535" },
		{ "https://shop.mirakl.net:/", "expected a port number from 1 to 65535" },
		{ "https://shop.mirakl.net:http", "expected a port number from 1 to 65535" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* a bad URL is one error: no pairing or required-key errors follow */
		char *text = fmt(MINIMAL "[mirakl]\nbase_url = %s\n", bad[i].value);
		char *want = fmt("t.conf:12: [mirakl] base_url: %s\n", bad[i].error);
		expect_errors(text, want);
		free(text);
		free(want);
		text = fmt(MINIMAL "[khaos]\nsite = 1\nsoap_url = %s\n", bad[i].value);
		want = fmt("t.conf:13: [khaos] soap_url: %s\n", bad[i].error);
		expect_errors(text, want);
		free(text);
		free(want);
	}

	/* longer than 2048 characters */
	char path[2100];
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	char *text = fmt(MINIMAL "[mirakl]\nbase_url = https://h/%s\n", path);
	expect_errors(text, "t.conf:12: [mirakl] base_url: longer than 2048 characters\n");
	free(text);

	/* likely mistakes that are still valid URLs: warnings on their lines */
	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);
	struct result r;
	expect_ok(&r, MINIMAL "[mirakl]\nbase_url = https://shop.mirakl.net/api/\n"
			      "api_key = env:KCG_TEST_MIRAKL\n"
			      "[khaos]\nsoap_url = http://erp:8084/LiveSoap/KhaosKSD.exe/wsdl/IKosWeb\n"
			      "site = 1\nsales_source = M\n");
	assert_string_equal(r.warns, AUTH_NONE_WARNS
			    "t.conf:12: [mirakl] base_url: ends in /api: base_url is everything "
			    "before /api/ (kcgate appends /api/orders, ...)\n"
			    "t.conf:15: [khaos] soap_url: looks like the WSDL address; calls go to "
			    "the .../soap/IKosWeb endpoint\n");
	assert_string_equal(r.cfg.mirakl.base_url, "https://shop.mirakl.net/api");
	done(&r);
	unsetenv("KCG_TEST_MIRAKL");
}

static void test_flow_pairing(void **state)
{
	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);
	/* neither: ingest only (the existing configs) */
	struct result r;
	expect_ok(&r, MINIMAL "[khaos]\nsite = 1\nsales_source = M\n[jobs]\nmax_age_h = 24\n");
	assert_false(kcg_flow_orders.enabled(&r.cfg));
	done(&r);

	/* one without the other: an error on the line of the one present */
	expect_errors(MINIMAL FLOW_MIRAKL,
		      "t.conf:12: [mirakl] base_url: [mirakl] base_url and [khaos] soap_url go "
		      "together: set both to run the order flow, or neither\n");
	expect_errors(MINIMAL FLOW_KHAOS,
		      "t.conf:12: [khaos] soap_url: [mirakl] base_url and [khaos] soap_url go "
		      "together: set both to run the order flow, or neither\n");
	/* a bad partner is reported once, as itself */
	expect_errors(MINIMAL FLOW_MIRAKL "[khaos]\nsoap_url = soap://erp\nsite = 1\n"
					  "sales_source = M\n",
		      "t.conf:15: [khaos] soap_url: expected a URL starting with http:// or https://\n");

	/* what the flow needs besides the two URLs: missing keys, line 0 */
	expect_errors(MINIMAL "[mirakl]\nbase_url = https://m\n[khaos]\nsoap_url = https://k\n",
		      "t.conf:0: [mirakl] api_key: required when base_url is set\n"
		      "t.conf:0: [khaos] site: required when soap_url is set\n"
		      "t.conf:0: [khaos] sales_source: required when soap_url is set\n");

	/* SOAP credentials come together */
	expect_errors(FLOW_OK "soap_user = env:KCG_TEST_ADMIN\n",
		      "t.conf:0: [khaos] soap_password: required when soap_user is set\n");
	expect_errors(FLOW_OK "soap_password = env:KCG_TEST_ADMIN\n",
		      "t.conf:0: [khaos] soap_user: required when soap_password is set\n");
	/* a partner whose value failed was reported on its line: no second error */
	expect_errors(FLOW_OK "soap_user = env:KCG_TEST_ADMIN\nsoap_password = env:KCG_TEST_NOPE\n",
		      "t.conf:19: [khaos] soap_password: environment variable KCG_TEST_NOPE is not "
		      "set\n");
	expect_ok(&r, FLOW_OK "soap_user = env:KCG_TEST_ADMIN\nsoap_password = env:KCG_TEST_MIRAKL\n");
	assert_string_equal(r.cfg.khaos.soap_user, ADMIN_TOKEN);
	assert_string_equal(r.cfg.khaos.soap_password, MIRAKL_KEY);
	done(&r);
	unsetenv("KCG_TEST_MIRAKL");
}

static void test_flow_secrets(void **state)
{
	struct result r;
	char *text;

	setenv("KCG_TEST_MIRAKL", MIRAKL_KEY, 1);

	/* api_key and soap_password from a file, one trailing newline stripped */
	text = fmt(MINIMAL "[mirakl]\nbase_url = https://m\napi_key = file:%s\n" FLOW_KHAOS
			   "soap_user = file:%s\nsoap_password = file:%s\n",
		   secret_nl, secret_nl, secret_crlf);
	expect_ok(&r, text);
	free(text);
	assert_string_equal(r.warns, AUTH_NONE_WARNS);
	assert_string_equal(r.cfg.mirakl.api_key, "file-secret-0123456789");
	assert_string_equal(r.cfg.khaos.soap_password, "crlf-secret-0123456789");
	done(&r);

	/* literals: accepted, with a warning that never shows the value */
	expect_ok(&r, MINIMAL "[mirakl]\nbase_url = https://m\napi_key = SeCrEt-api-key\n" FLOW_KHAOS
			      "soap_user = kcgate\nsoap_password = SeCrEt-pw\n");
	/* (value warnings come while reading, combination warnings after) */
	assert_string_equal(r.warns,
			    "t.conf:13: [mirakl] api_key: literal secret in config file; use "
			    "env:NAME or file:PATH\n"
			    "t.conf:18: [khaos] soap_user: literal secret in config file; use "
			    "env:NAME or file:PATH\n"
			    "t.conf:19: [khaos] soap_password: literal secret in config file; use "
			    "env:NAME or file:PATH\n" AUTH_NONE_WARNS);
	assert_string_equal(r.cfg.mirakl.api_key, "SeCrEt-api-key");
	assert_string_equal(r.cfg.khaos.soap_password, "SeCrEt-pw");
	done(&r);

	/* unresolvable references */
	expect_errors(MINIMAL "[mirakl]\nbase_url = https://m\napi_key = env:KCG_TEST_NOPE\n" FLOW_KHAOS,
		      "t.conf:13: [mirakl] api_key: environment variable KCG_TEST_NOPE is not set\n");
	text = fmt(FLOW_OK "soap_user = u\nsoap_password = file:%s\n", missing_path);
	char *want = fmt("t.conf:19: [khaos] soap_password: cannot read secret file %s: No such "
			 "file or directory\n",
			 missing_path);
	expect_errors(text, want);
	free(text);
	free(want);

	/* api_key is sent as a header value; SOAP credentials travel in XML */
	setenv("KCG_TEST_BADKEY", "SeCrEt-key ", 1);
	expect_errors(MINIMAL "[mirakl]\nbase_url = https://m\napi_key = env:KCG_TEST_BADKEY\n" FLOW_KHAOS,
		      "t.conf:13: [mirakl] api_key: must not start or end with whitespace\n");
	setenv("KCG_TEST_BADKEY", "SeCrEt\x01pw", 1);
	expect_errors(FLOW_OK "soap_user = u\nsoap_password = env:KCG_TEST_BADKEY\n",
		      "t.conf:19: [khaos] soap_password: must not contain control characters\n");
	setenv("KCG_TEST_BADKEY", "", 1);
	expect_errors(FLOW_OK "soap_user = u\nsoap_password = env:KCG_TEST_BADKEY\n",
		      "t.conf:19: [khaos] soap_password: too short: a secret of at least 1 "
		      "characters is needed\n");
	unsetenv("KCG_TEST_BADKEY");

	/* whatever fails, the value is not in a message */
	static const char *texts[] = {
		MINIMAL "[mirakl]\napi_key = SeCrEt\x02\n",
		MINIMAL "[mirakl]\napi_key = SeCrEt\napi_key = SeCrEt\n",
		MINIMAL "[khaos]\nsoap_password = SeCrEt\tx\n",
		MINIMAL "[khaos]\nsoap_user = SeCrEt\n",
		MINIMAL "[mirakl]\nbase_url = https://SeCrEt:SeCrEt@host\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		parse(&r, texts[i]);
		assert_true(r.errs || r.warns);
		assert_null(r.errs ? strstr(r.errs, "SeCrEt") : NULL);
		assert_null(r.warns ? strstr(r.warns, "SeCrEt") : NULL);
		done(&r);
	}
	unsetenv("KCG_TEST_MIRAKL");
}

static void test_flow_acceptance(void **state)
{
	struct result r;
	/* the alert must fire before Mirakl refuses the order */
	expect_errors(MINIMAL "[mirakl]\nacceptance_alert_h = 72\n",
		      "t.conf:12: [mirakl] acceptance_alert_h: must be less than "
		      "acceptance_window_h (72)\n");
	expect_errors(MINIMAL "[mirakl]\nacceptance_alert_h = 48\nacceptance_window_h = 24\n",
		      "t.conf:12: [mirakl] acceptance_alert_h: must be less than "
		      "acceptance_window_h (24)\n");
	/* the alert left at its default: the window's line is the one to fix */
	expect_errors(MINIMAL "[mirakl]\nacceptance_window_h = 12\n",
		      "t.conf:12: [mirakl] acceptance_window_h: must be more than "
		      "acceptance_alert_h (12, the default)\n");
	/* an out-of-range partner is reported once, as itself */
	expect_errors(MINIMAL "[mirakl]\nacceptance_window_h = 0\nacceptance_alert_h = 5\n",
		      "t.conf:12: [mirakl] acceptance_window_h: expected a whole number from 1 to "
		      "720\n");
	expect_ok(&r, MINIMAL "[mirakl]\nacceptance_window_h = 13\n");
	assert_int_equal(r.cfg.mirakl.acceptance_window_h, 13);
	assert_int_equal(r.cfg.mirakl.acceptance_alert_h, 12);
	done(&r);
	expect_ok(&r, MINIMAL "[mirakl]\nacceptance_alert_h = 71\n");
	assert_int_equal(r.cfg.mirakl.acceptance_alert_h, 71);
	done(&r);
	/* the edges: window 1 leaves no room, 720 takes an alert up to 719 */
	expect_errors(MINIMAL "[mirakl]\nacceptance_window_h = 1\nacceptance_alert_h = 1\n",
		      "t.conf:13: [mirakl] acceptance_alert_h: must be less than "
		      "acceptance_window_h (1)\n");
	expect_errors(MINIMAL "[mirakl]\nacceptance_window_h = 720\nacceptance_alert_h = 720\n",
		      "t.conf:13: [mirakl] acceptance_alert_h: must be less than "
		      "acceptance_window_h (720)\n");
	expect_ok(&r, MINIMAL "[mirakl]\nacceptance_window_h = 720\nacceptance_alert_h = 719\n");
	done(&r);
	expect_ok(&r, MINIMAL "[mirakl]\nacceptance_window_h = 2\nacceptance_alert_h = 1\n");
	done(&r);
}

static void test_flow_strings(void **state)
{
	expect_errors(MINIMAL "[khaos]\ntransport = cloud\n",
		      "t.conf:12: [khaos] transport: expected soap (the Khaos Cloud channel is not "
		      "supported yet)\n");
	expect_errors(MINIMAL "[khaos]\ntransport = SOAP\n",
		      "t.conf:12: [khaos] transport: expected soap (the Khaos Cloud channel is not "
		      "supported yet)\n");
	expect_errors(MINIMAL "[mirakl]\nshop_id = 20a1\n",
		      "t.conf:12: [mirakl] shop_id: expected digits only\n");
	expect_errors(MINIMAL "[mirakl]\nshop_id = -1\n",
		      "t.conf:12: [mirakl] shop_id: expected digits only\n");
	static const char *bad_ns[] = { "KosWebIntf", ":x", "urn:a b", "urn:a\"b", "urn:<x>" };
	for (size_t i = 0; i < sizeof(bad_ns) / sizeof(bad_ns[0]); i++) {
		char *text = fmt(MINIMAL "[khaos]\nsoap_namespace = %s\n", bad_ns[i]);
		expect_errors(text, "t.conf:12: [khaos] soap_namespace: expected auto or a URI without "
				    "whitespace, e.g. urn:IKosWebIntf-IKosWeb\n");
		free(text);
	}
	expect_errors(MINIMAL "[khaos]\norder_ref_prefix = MIRAKL-MARKETPLACE\n",
		      "t.conf:12: [khaos] order_ref_prefix: too long: ASSOCIATED_REF (prefix + order id) is at "
		      "most 15 characters\n");
	expect_errors(MINIMAL "[khaos]\norder_ref_prefix = M,\n",
		      "t.conf:12: [khaos] order_ref_prefix: expected printable ASCII without spaces or commas\n");
	expect_errors(MINIMAL "[khaos]\nstock_site_id = MAIN\n",
		      "t.conf:12: [khaos] stock_site_id: expected a Khaos site id (a whole number) or -1 (all sites)\n");
	expect_errors(MINIMAL "[khaos]\ncountry_format = iso\n",
		      "t.conf:12: [khaos] country_format: expected one of alpha3, alpha2\n");
	expect_errors(MINIMAL "[khaos]\nsite = Main\tSite\nsales_source = a\x01z\n"
			      "company_class = x\x7fy\n",
		      "t.conf:12: [khaos] site: must not contain control characters\n"
		      "t.conf:13: [khaos] sales_source: must not contain control characters\n"
		      "t.conf:14: [khaos] company_class: must not contain control characters\n");
	expect_errors(MINIMAL "[khaos]\nsite =\n",
		      "t.conf:12: [khaos] site: value is empty\n");

	struct result r;
	expect_ok(&r, MINIMAL "[mirakl]\nshop_id = 0042\n[khaos]\nsoap_namespace = "
			      "http://tempuri.org/IKosWeb\n");
	assert_string_equal(r.cfg.mirakl.shop_id, "0042"); /* kept as written */
	assert_string_equal(r.cfg.khaos.soap_namespace, "http://tempuri.org/IKosWeb");
	done(&r);
}


/* A file: secret others can read is used, with a warning naming the file. */
static void test_secret_file_mode(void **state)
{
	char path[4200];
	fixture_path(path, sizeof(path), "secret_0640");
	write_file(path, "group-readable-secret-0123\n", 27);
	assert_int_equal(chmod(path, 0640), 0);
	struct result r;
	char *text = fmt(SERVER_OK STORE_OK "[admin]\ntoken = file:%s\n" SOURCES_NONE, path);
	parse(&r, text);
	free(text);
	assert_int_equal(r.rc, 0);
	char *want = fmt("t.conf:6: [admin] token: secret file %s is readable by its group (mode 0640): "
			 "chmod 600 it\n"
			 "t.conf:8: [mirakl] webhook_auth: authentication disabled\n"
			 "t.conf:10: [inriver] webhook_auth: authentication disabled\n",
			 path);
	assert_string_equal(r.warns, want);
	assert_string_equal(r.cfg.admin.token, "group-readable-secret-0123");
	free(want);
	done(&r);

	assert_int_equal(chmod(path, 0604), 0);
	text = fmt(SERVER_OK STORE_OK "[admin]\ntoken = file:%s\n" SOURCES_NONE, path);
	parse(&r, text);
	free(text);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.warns, "is readable by everyone (mode 0604)"));
	done(&r);
}

/* A signed request may be replayed until 2 * webhook_tolerance_s after it
 * was sent; its dedupe key must outlive that. */
static void test_tolerance_vs_dedupe(void **state)
{
	char *text = fmt(SERVER_OK "[store]\npath = /tmp/kcg-store\ndedupe_ttl_h = 1\n" ADMIN_OK
				   "[mirakl]\nwebhook_auth = standard\nwebhook_secret = file:%s\n"
				   "webhook_tolerance_s = 1801\n"
				   "[inriver]\nwebhook_auth = none\n",
			 whsec_file);
	expect_errors(text, "t.conf:11: [mirakl] webhook_tolerance_s: must be at most half of [store] "
			    "dedupe_ttl_h (1800 s): a replayed webhook would outlive its dedupe key\n");
	free(text);

	/* exactly half is fine */
	struct result r;
	text = fmt(SERVER_OK "[store]\npath = /tmp/kcg-store\ndedupe_ttl_h = 1\n" ADMIN_OK
			     "[mirakl]\nwebhook_auth = standard\nwebhook_secret = file:%s\n"
			     "webhook_tolerance_s = 1800\n"
			     "[inriver]\nwebhook_auth = none\n",
		   whsec_file);
	parse(&r, text);
	free(text);
	assert_int_equal(r.rc, 0);
	done(&r);

	/* the same for inriver */
	text = fmt(SERVER_OK "[store]\npath = /tmp/kcg-store\ndedupe_ttl_h = 1\n" ADMIN_OK
			     "[mirakl]\nwebhook_auth = none\n"
			     "[inriver]\nwebhook_auth = standard\nwebhook_secret = file:%s\n"
			     "webhook_tolerance_s = 3600\n",
		   whsec_file);
	expect_errors(text, "t.conf:13: [inriver] webhook_tolerance_s: must be at most half of [store] "
			    "dedupe_ttl_h (1800 s): a replayed webhook would outlive its dedupe key\n");
	free(text);
}

/* The keys against hostile clients: defaults, bounds, checked strings. */
static void test_server_hostile_keys(void **state)
{
	struct result r;
	parse(&r, MINIMAL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg.server.header_timeout_s, 10);
	assert_int_equal(r.cfg.server.handshake_timeout_s, 5);
	assert_int_equal(r.cfg.server.body_timeout_s, 30);
	assert_int_equal(r.cfg.server.max_connections_per_ip, 0);
	assert_int_equal(r.cfg.server.health_reserve, 8);
	assert_non_null(strstr(r.cfg.server.tls_priorities, "-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"));
	assert_non_null(strstr(r.cfg.server.tls_priorities, "-RSA"));
	assert_null(r.cfg.server.trusted_proxies);
	assert_int_equal(r.cfg.server.admin_auth_burst, 20);
	assert_int_equal(r.cfg.server.admin_auth_interval_s, 3);
	done(&r);

	parse(&r, "[server]\nlisten = 127.0.0.1:8443\nheader_timeout_s = 3\nhandshake_timeout_s = 2\n"
		  "max_connections_per_ip = 16\nhealth_reserve = 0\ntls_priorities = NORMAL\n"
		  "trusted_proxies = 10.0.0.0/8, 192.168.1.1 ::1 fd00::/8\nadmin_auth_burst = 0\n"
		  "admin_auth_interval_s = 60\n" STORE_OK ADMIN_OK SOURCES_NONE);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg.server.header_timeout_s, 3);
	assert_int_equal(r.cfg.server.handshake_timeout_s, 2);
	assert_int_equal(r.cfg.server.max_connections_per_ip, 16);
	assert_int_equal(r.cfg.server.health_reserve, 0);
	assert_string_equal(r.cfg.server.tls_priorities, "NORMAL");
	assert_string_equal(r.cfg.server.trusted_proxies, "10.0.0.0/8, 192.168.1.1 ::1 fd00::/8");
	assert_int_equal(r.cfg.server.admin_auth_burst, 0);
	assert_int_equal(r.cfg.server.admin_auth_interval_s, 60);
	done(&r);

	expect_errors("[server]\nlisten = 127.0.0.1:8443\nheader_timeout_s = 0\nhandshake_timeout_s = 61\n"
		      "tls_priorities = NORMAL:+NOPE\ntrusted_proxies = 10.0.0.0/33\n" STORE_OK ADMIN_OK
		      SOURCES_NONE,
		      "t.conf:3: [server] header_timeout_s: expected a whole number from 1 to 300\n"
		      "t.conf:4: [server] handshake_timeout_s: expected a whole number from 1 to 60\n"
		      "t.conf:5: [server] tls_priorities: not a valid GnuTLS priority string (see "
		      "gnutls-cli --priority ... -l)\n"
		      "t.conf:6: [server] trusted_proxies: expected IP addresses or CIDR blocks "
		      "(10.0.0.0/8, ::1) separated by spaces or commas\n");
	parse(&r, "[server]\nlisten = 127.0.0.1:8443\nbody_timeout_s = 3600\n" STORE_OK ADMIN_OK SOURCES_NONE);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg.server.body_timeout_s, 3600);
	done(&r);
	expect_errors("[server]\nlisten = 127.0.0.1:8443\nbody_timeout_s = 0\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: [server] body_timeout_s: expected a whole number from 1 to 3600\n");
	expect_errors("[server]\nlisten = 127.0.0.1:8443\nbody_timeout_s = 3601\n" STORE_OK ADMIN_OK SOURCES_NONE,
		      "t.conf:3: [server] body_timeout_s: expected a whole number from 1 to 3600\n");
	expect_errors("[server]\nlisten = 127.0.0.1:8443\ntrusted_proxies = example.com\n" STORE_OK ADMIN_OK
		      SOURCES_NONE,
		      "t.conf:3: [server] trusted_proxies: expected IP addresses or CIDR blocks "
		      "(10.0.0.0/8, ::1) separated by spaces or commas\n");
}

/* The address blocks behind server.trusted_proxies. */
static void test_cidr(void **state)
{
	struct kcg_cidr l[KCG_CIDR_MAX];
	size_t n;
	assert_int_equal(kcg_cidr_parse_list("10.0.0.0/8, 192.168.1.1 ::1,fd00::/8", l, KCG_CIDR_MAX, &n), 0);
	assert_int_equal(n, 4);
	assert_true(kcg_cidr_match(l, n, "10.200.3.4"));
	assert_false(kcg_cidr_match(l, n, "11.0.0.1"));
	assert_true(kcg_cidr_match(l, n, "192.168.1.1"));
	assert_false(kcg_cidr_match(l, n, "192.168.1.2"));
	assert_true(kcg_cidr_match(l, n, "::1"));
	assert_true(kcg_cidr_match(l, n, "fd12::5"));
	assert_false(kcg_cidr_match(l, n, "fe80::1"));
	assert_true(kcg_cidr_match(l, n, "::ffff:10.1.1.1")); /* IPv4-mapped is the same address */
	assert_false(kcg_cidr_match(l, n, "not-an-address"));
	assert_int_equal(kcg_cidr_parse_list("1.2.3.4/", l, KCG_CIDR_MAX, &n), -EINVAL);
	assert_int_equal(kcg_cidr_parse_list("::1/129", l, KCG_CIDR_MAX, &n), -EINVAL);
	assert_int_equal(kcg_cidr_parse_list("1.2.3.4 5.6.7.8", l, 1, &n), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full_file_load),
		cmocka_unit_test(test_sandbox_shape),
		cmocka_unit_test(test_load_unreadable),
		cmocka_unit_test(test_malformed_line),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_key_outside_section),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_bad_enum),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_empty_value),
		cmocka_unit_test(test_all_errors_at_once),
		cmocka_unit_test(test_env_secret),
		cmocka_unit_test(test_file_secret),
		cmocka_unit_test(test_literal_secret_warning),
		cmocka_unit_test(test_no_secret_in_messages),
		cmocka_unit_test(test_whsec),
		cmocka_unit_test(test_auth_modes),
		cmocka_unit_test(test_tls_and_loopback),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_syntax_details),
		cmocka_unit_test(test_guards),
		cmocka_unit_test(test_messages_append),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_auth_names),
		cmocka_unit_test(test_map_sections),
		cmocka_unit_test(test_stock_keys),
		cmocka_unit_test(test_inriver_keys),
		cmocka_unit_test(test_map_reload),
		cmocka_unit_test(test_secret_reload),
		cmocka_unit_test(test_flow_defaults),
		cmocka_unit_test(test_flow_every_key),
		cmocka_unit_test(test_flow_bounds),
		cmocka_unit_test(test_flow_urls),
		cmocka_unit_test(test_flow_pairing),
		cmocka_unit_test(test_flow_secrets),
		cmocka_unit_test(test_flow_acceptance),
		cmocka_unit_test(test_flow_strings),
		cmocka_unit_test(test_secret_file_mode),
		cmocka_unit_test(test_tolerance_vs_dedupe),
		cmocka_unit_test(test_server_hostile_keys),
		cmocka_unit_test(test_cidr),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
