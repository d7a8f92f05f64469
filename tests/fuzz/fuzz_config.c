/* fuzz_config: libFuzzer harness for config_load (iniparser underneath, then the schema and cross checks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"

static struct config_errors errs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input goes to a memfd, read back through its /proc/self/fd path. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct sbc_config *cfg = NULL;
	size_t plen;
	int err;

	if (fd == -1) {
		fd = memfd_create("fuzz_config", MFD_CLOEXEC);
		if (fd == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	err = config_load(&cfg, path, &errs);
	plen = strlen(path);
	/* the result and the error list agree, and every line names the file */
	if (err == 0 && (!cfg || errs.n))
		abort();
	if (err && (cfg || (errs.n == 0 && errs.dropped == 0)))
		abort();
	for (unsigned i = 0; i < errs.n; i++) {
		if (strncmp(errs.msg[i], path, plen) != 0 || strncmp(errs.msg[i] + plen, ": ", 2) != 0 ||
		    strchr(errs.msg[i], '\n'))
			abort();
	}
	mem_deref(cfg);
	if (mem_nalloc() != 0)
		abort();
	return 0;
}
