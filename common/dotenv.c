/* dotenv: GitLab dotenv artifact reports */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dotenv.h"
#include "err.h"
#include "util.h"

struct dotenv {
	char *key[DOTENV_MAX_VARS];
	char *val[DOTENV_MAX_VARS];
	size_t n;
};

int
dotenv_new(struct dotenv **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : err_set(E_NOMEM, "out of memory");
}

void
dotenv_free(struct dotenv *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->key[i]);
		free(d->val[i]);
	}
	free(d);
}

static int
key_ok(const char *k, int strict)
{
	const char *p;

	if (!*k || isdigit((unsigned char)*k))
		return 0;
	for (p = k; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!(isdigit(c) || c == '_' || (c >= 'A' && c <= 'Z') ||
			(!strict && c >= 'a' && c <= 'z')))
			return 0;
	}
	return 1;
}

static size_t
total_bytes(const struct dotenv *d)
{
	size_t i, n = 0;

	for (i = 0; i < d->n; i++)
		n += strlen(d->key[i]) + strlen(d->val[i]) + 2;
	return n;
}

static int
put(struct dotenv *d, const char *key, const char *value, size_t vlen)
{
	size_t i;
	char *v = str_ndup(value, vlen), *old = NULL;

	if (!v)
		return err_set(E_NOMEM, "out of memory");
	for (i = 0; i < d->n; i++)
		if (strcmp(d->key[i], key) == 0) {
			old = d->val[i];
			d->val[i] = v;
			goto check;
		}
	if (d->n == DOTENV_MAX_VARS) {
		free(v);
		return err_set(
		    E_NOMEM, "dotenv: more than %d variables", DOTENV_MAX_VARS);
	}
	d->key[d->n] = str_dup(key);
	if (!d->key[d->n]) {
		free(v);
		return err_set(E_NOMEM, "out of memory");
	}
	d->val[d->n++] = v;
	i = d->n - 1;
check:
	if (total_bytes(d) > DOTENV_MAX_BYTES) {
		/* refused whole, the rest of the report kept: one oversized
		 * value never costs the others */
		free(d->val[i]);
		if (old) {
			d->val[i] = old;
		} else {
			free(d->key[i]);
			d->n--;
		}
		return err_set(E_NOMEM,
		    "dotenv: %s (%zu bytes) would take the report over %d bytes: left out",
		    key, vlen, DOTENV_MAX_BYTES);
	}
	free(old);
	return 0;
}

/* safe_char: what a value may carry as is; GitLab may expand `$` in a
 * later job, a backtick or a control character means something to the
 * shell reading the report (percent-encoded: %24, %60, %0A) */
static int
safe_char(unsigned char c)
{
	return !(c < 0x20 || c == 0x7f || c == '$' || c == '`');
}

int
dotenv_set(struct dotenv *d, const char *key, const char *value)
{
	struct buf enc;
	const unsigned char *p;
	size_t n = strlen(value);
	int rc = 0;

	if (!key_ok(key, 1))
		return err_set(E_USAGE, "dotenv: invalid key '%.40s'", key);
	if (n &&
	    (isspace((unsigned char)value[0]) ||
		isspace((unsigned char)value[n - 1])))
		return err_set(E_USAGE,
		    "dotenv: value of %s has leading or trailing blanks", key);
	buf_init(&enc, 0);
	for (p = (const unsigned char *)value; *p && rc == 0; p++)
		rc = safe_char(*p) ? buf_putc(&enc, (char)*p)
				   : buf_printf(&enc, "%%%02X", *p);
	if (rc == 0)
		rc = put(d, key, enc.data ? enc.data : "", enc.len);
	buf_free(&enc);
	return rc;
}

const char *
dotenv_get(const struct dotenv *d, const char *key)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->key[i], key) == 0)
			return d->val[i];
	return NULL;
}

size_t
dotenv_count(const struct dotenv *d)
{
	return d->n;
}

int
dotenv_write(const struct dotenv *d, const char *path)
{
	struct buf b, tmp;
	size_t i, off = 0;
	int fd = -1, rc = 0;

	buf_init(&b, DOTENV_MAX_BYTES + 1);
	buf_init(&tmp, 0);
	for (i = 0; i < d->n && rc == 0; i++)
		rc = buf_printf(&b, "%s=%s\n", d->key[i], d->val[i]);
	if (rc == 0)
		rc = buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	if (rc < 0)
		goto out;
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = err_set(
		    E_FAIL, "cannot create %s: %s", tmp.data, strerror(errno));
		goto out;
	}
	while (off < b.len) {
		ssize_t w = write(fd, b.data + off, b.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = err_set(E_FAIL, "cannot write %s: %s", tmp.data,
			    strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 && errno != EINVAL) {
		rc = err_set(
		    E_FAIL, "cannot sync %s: %s", tmp.data, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = err_set(
		    E_FAIL, "cannot close %s: %s", tmp.data, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.data, path) < 0)
		rc = err_set(E_FAIL, "cannot rename %s to %s: %s", tmp.data,
		    path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp.data)
		unlink(tmp.data);
	buf_free(&b);
	buf_free(&tmp);
	return rc;
}

int
dotenv_parse(struct dotenv **out, const char *text, size_t len)
{
	struct dotenv *d;
	size_t i = 0, line = 0;
	int rc;

	*out = NULL;
	if (len > DOTENV_MAX_BYTES)
		return err_set(E_INPUT, "dotenv: %zu bytes, over the %d limit",
		    len, DOTENV_MAX_BYTES);
	if (memchr(text, '\0', len))
		return err_set(E_INPUT, "dotenv: NUL byte");
	rc = dotenv_new(&d);
	if (rc < 0)
		return rc;
	while (i < len) {
		const char *s = text + i, *nl, *eq;
		size_t n;
		char key[256];
		const char *vs, *ve;
		size_t kn;

		nl = memchr(s, '\n', len - i);
		n = nl ? (size_t)(nl - s) : len - i;
		i += n + (nl ? 1 : 0);
		line++;
		eq = memchr(s, '=', n);
		if (!eq) {
			rc = err_set(
			    E_INPUT, "dotenv: line %zu has no '='", line);
			goto fail;
		}
		while (s < eq && isspace((unsigned char)*s))
			s++;
		kn = (size_t)(eq - s);
		while (kn > 0 && isspace((unsigned char)s[kn - 1]))
			kn--;
		if (kn == 0 || kn >= sizeof(key)) {
			rc =
			    err_set(E_INPUT, "dotenv: line %zu: bad key", line);
			goto fail;
		}
		memcpy(key, s, kn);
		key[kn] = '\0';
		if (!key_ok(key, 0)) {
			rc = err_set(E_INPUT,
			    "dotenv: line %zu: invalid key '%.40s'", line, key);
			goto fail;
		}
		vs = eq + 1;
		ve = text + i - (nl ? 1 : 0);
		while (vs < ve && isspace((unsigned char)*vs))
			vs++;
		while (ve > vs && isspace((unsigned char)ve[-1]))
			ve--;
		rc = put(d, key, vs, (size_t)(ve - vs));
		if (rc < 0) {
			rc = err_set(E_INPUT, "%s", err_msg());
			goto fail;
		}
	}
	*out = d;
	return 0;
fail:
	dotenv_free(d);
	return rc;
}

int
dotenv_read(struct dotenv **out, const char *path)
{
	char data[DOTENV_MAX_BYTES + 1];
	size_t n;
	FILE *f = fopen(path, "rb");

	*out = NULL;
	if (!f)
		return err_set(
		    E_INPUT, "cannot open %s: %s", path, strerror(errno));
	n = fread(data, 1, sizeof(data), f);
	if (ferror(f)) {
		fclose(f);
		return err_set(E_INPUT, "cannot read %s", path);
	}
	fclose(f);
	return dotenv_parse(out, data, n);
}
