/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Run a libFuzzer target without libFuzzer: feed it every file named on the
 * command line, or every file in a directory named there (the corpus and
 * any crashers saved beside it), so the corpus runs as an ordinary test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "fuzz-replay: cannot read %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "fuzz-replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int
run_dir(const char *dir, unsigned *count)
{
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (!dp) {
		fprintf(stderr, "fuzz-replay: cannot open %s\n", dir);
		return -1;
	}
	while ((d = readdir(dp))) {
		char path[4096];
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (run_file(path) < 0) {
			closedir(dp);
			return -1;
		}
		(*count)++;
	}
	closedir(dp);
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "fuzz-replay: no such file %s\n",
				argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) < 0
					: run_file(argv[i]) < 0)
			return 1;
		if (!S_ISDIR(st.st_mode))
			count++;
	}
	printf("fuzz-replay: %u inputs\n", count);
	return count ? 0 : 1;
}
