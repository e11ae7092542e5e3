/*
 * replay.c: runs a fuzz target's corpus as an ordinary test.
 *
 * Linked with a fuzz-*.c target instead of libFuzzer: each argument is a
 * file or a directory whose regular files (sorted, not recursive) are fed
 * to LLVMFuzzerTestOneInput() once each. A missing or empty corpus is a
 * failure, so a test never passes by replaying nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds one file; returns 0, or -1 after printing why. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	int ret = -1;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto fail_file;
	}
	size_t size = (size_t)st.st_size;
	/* +1 so an empty input still gets a valid pointer, as under libFuzzer. */
	uint8_t *buf = malloc(size + 1);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		goto fail_file;
	}
	if (size > 0 && fread(buf, 1, size, f) != size) {
		fprintf(stderr, "%s: short read\n", path);
		goto fail_buf;
	}
	fprintf(stderr, "replaying %s (%zu bytes)\n", path, size);
	LLVMFuzzerTestOneInput(buf, size);
	ret = 0;
fail_buf:
	free(buf);
fail_file:
	fclose(f);
	return ret;
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Replays every regular file in @p dir; returns how many, or -1. */
static long replay_dir(const char *dir)
{
	struct dirent **names;
	long count = 0;

	int n = scandir(dir, &names, not_hidden, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (len > 0 && (size_t)len < sizeof(path) && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (replay_file(path) != 0)
				count = -1;
			else if (count >= 0)
				count++;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		if (n == 0) {
			fprintf(stderr, "%s: no inputs\n", argv[i]);
			return 1;
		}
		total += n;
	}
	printf("replayed %ld inputs\n", total);
	return 0;
}
