/*
 * config_secret.c: secret references (env:NAME, file:PATH, or a literal
 * with a warning) resolved into memory, and whsec_ signing secrets decoded.
 * Secret values never appear in a message; the bytes read are wiped.
 */
#include "config_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kcgate/common.h"

#define MAX_SECRET_FILE_BYTES (64 * 1024)
#define WHSEC_PREFIX "whsec_"
#define WHSEC_MAX_BYTES 64       /* sizeof(kcg_source_auth.secrets[0]) */

/*
 * Opens @p path for reading without blocking on FIFOs or devices and checks
 * that it is a regular file. @return the fd, or -errno (-EINVAL when it is
 * not a regular file).
 */
int config_open_regular(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/*
 * Reads at most @p cap bytes from @p fd into a new NUL-terminated buffer.
 * @return 0, -EFBIG when there is more, -ENOMEM or -errno.
 */
int config_read_fd(int fd, size_t cap, char **out, size_t *out_len)
{
	size_t len = 0, alloc = 4096;
	char *buf = malloc(alloc);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == alloc) {
			/* grow past cap by one byte so "more than cap" is detectable */
			size_t want = alloc * 2 > cap + 1 ? cap + 1 : alloc * 2;
			if (want <= alloc) {
				OPENSSL_cleanse(buf, len);
				free(buf);
				return -EFBIG;
			}
			char *b2 = malloc(want);
			if (!b2) {
				OPENSSL_cleanse(buf, len);
				free(buf);
				return -ENOMEM;
			}
			memcpy(b2, buf, len);
			OPENSSL_cleanse(buf, len);
			free(buf);
			buf = b2;
			alloc = want;
		}
		ssize_t n = read(fd, buf + len, alloc - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			OPENSSL_cleanse(buf, len);
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			OPENSSL_cleanse(buf, len);
			free(buf);
			return -EFBIG;
		}
	}
	/* len < alloc here: the buffer grows before every read, so the NUL fits */
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

/*
 * Resolves a secret reference: env:NAME, file:PATH or a literal (warned
 * about). @return a malloc'd copy (the caller wipes and frees it), or NULL
 * after reporting the problem.
 */
char *config_resolve_secret(struct parser *p, const struct kcg_config_key *k, unsigned line, const char *v)
{
	char pbuf[256];
	char *out = NULL;

	if (strncmp(v, "env:", 4) == 0) {
		const char *name = v + 4;
		bool ok = *name && !(*name >= '0' && *name <= '9');
		for (const char *c = name; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '_'))
				ok = false;
		if (!ok) {
			config_report(p, false, line, k->section, k->name,
			       "env: needs an environment variable name (letters, digits, _)");
			return NULL;
		}
		const char *val = getenv(name);
		if (!val) {
			config_report(p, false, line, k->section, k->name,
			       "environment variable %s is not set",
			       config_printable(name, pbuf, sizeof(pbuf)));
			return NULL;
		}
		out = strdup(val);
		if (!out)
			p->oom = true;
		return out;
	}

	if (strncmp(v, "file:", 5) == 0) {
		const char *path = v + 5;
		size_t len = 0;
		if (!*path) {
			config_report(p, false, line, k->section, k->name, "file: needs a path");
			return NULL;
		}
		int fd = config_open_regular(path);
		int r = fd;
		if (fd >= 0) {
			struct stat st;
			/* a secret others can read is not a secret: say so (still used) */
			if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
				config_report(p, true, line, k->section, k->name,
					      "secret file %s is readable by %s (mode %04o): chmod 600 it",
					      config_printable(path, pbuf, sizeof(pbuf)),
					      (st.st_mode & S_IROTH) ? "everyone" : "its group",
					      (unsigned)(st.st_mode & 07777));
			r = config_read_fd(fd, MAX_SECRET_FILE_BYTES, &out, &len);
			close(fd);
		}
		if (r == -ENOMEM) {
			p->oom = true;
			return NULL;
		}
		if (r == -EINVAL) {
			config_report(p, false, line, k->section, k->name,
			       "secret file %s is not a regular file",
			       config_printable(path, pbuf, sizeof(pbuf)));
			return NULL;
		}
		if (r == -EFBIG) {
			config_report(p, false, line, k->section, k->name,
			       "secret file %s is larger than 64 KiB",
			       config_printable(path, pbuf, sizeof(pbuf)));
			return NULL;
		}
		if (r < 0) {
			config_report(p, false, line, k->section, k->name, "cannot read secret file %s: %s",
			       config_printable(path, pbuf, sizeof(pbuf)), strerror(-r));
			return NULL;
		}
		/* editors add one trailing newline; strip exactly one */
		if (len > 0 && out[len - 1] == '\n') {
			out[--len] = '\0';
			if (len > 0 && out[len - 1] == '\r')
				out[--len] = '\0';
		}
		if (memchr(out, '\0', len)) {
			config_report(p, false, line, k->section, k->name,
			       "secret file %s contains a NUL byte", config_printable(path, pbuf, sizeof(pbuf)));
			OPENSSL_cleanse(out, len);
			free(out);
			return NULL;
		}
		return out;
	}

	config_report(p, true, line, k->section, k->name,
	       "literal secret in config file; use env:NAME or file:PATH");
	out = strdup(v);
	if (!out)
		p->oom = true;
	return out;
}

/* Decodes the space-separated whsec_<base64> keys of @p v into @p src. */
void config_decode_whsec(struct parser *p, const struct kcg_config_key *k, unsigned line, char *v,
			 struct kcg_source_auth *src)
{
	unsigned char tmp[3 * 4096 / 4];
	size_t n = 0;
	bool bad = false;

	for (char *tok = v; *tok;) {
		while (*tok && strchr(" \t\r\n", *tok))
			tok++;
		if (!*tok)
			break;
		size_t tl = strcspn(tok, " \t\r\n");
		n++;
		if (n > KCG_MAX_SECRETS) {
			config_report(p, false, line, k->section, k->name, "more than %d secrets",
			       KCG_MAX_SECRETS);
			bad = true;
			break;
		}
		size_t pl = strlen(WHSEC_PREFIX);
		int r = -EINVAL;
		if (tl > pl && strncmp(tok, WHSEC_PREFIX, pl) == 0)
			r = kcg_base64_decode(tok + pl, tl - pl, tmp, sizeof(tmp));
		if (r < 0) {
			config_report(p, false, line, k->section, k->name,
			       "secret %zu is not whsec_<base64>", n);
			bad = true;
		} else if (r == 0 || r > WHSEC_MAX_BYTES) {
			config_report(p, false, line, k->section, k->name,
			       "secret %zu must decode to 1 to %d bytes", n, WHSEC_MAX_BYTES);
			bad = true;
		} else if (!bad) {
			memcpy(src->secrets[n - 1], tmp, (size_t)r);
			src->secret_lens[n - 1] = (size_t)r;
			src->n_secrets = n;
		}
		tok += tl;
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (n == 0) {
		config_report(p, false, line, k->section, k->name, "no secret given");
		bad = true;
	}
	if (bad) {
		/* all or nothing: a half-decoded list would hide the error */
		OPENSSL_cleanse(src->secrets, sizeof(src->secrets));
		memset(src->secret_lens, 0, sizeof(src->secret_lens));
		src->n_secrets = 0;
	}
}
