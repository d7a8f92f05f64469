/* unit: what the cmocka test files share: every test gives back every allocation it made. */
#ifndef SBC_TEST_UNIT_H
#define SBC_TEST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "util/util.h"

static size_t unit_nalloc_start;

/* Before a test: note the live allocations (util's mem_* counter). */
static inline int unit_leak_setup(void **state)
{
	(void)state;
	unit_nalloc_start = mem_nalloc();
	return 0;
}

/* After it: failure injection off, and the same count as before, or the test fails. */
static inline int unit_leak_teardown(void **state)
{
	(void)state;
	mem_fail_after(-1);
	assert_int_equal(mem_nalloc(), unit_nalloc_start);
	return 0;
}

/* Every error line in errs, for a failing test's output. */
static inline void unit_dump_errors(const struct config_errors *errs)
{
	for (unsigned i = 0; i < errs->n; i++)
		print_message("  error: %s\n", errs->msg[i]);
}

/* True when errs holds exactly the line "PATH: rest"; else says what is missing and what is there. */
static inline bool unit_has_error(const struct config_errors *errs, const char *path,
				  const char *rest)
{
	char want[CONFIG_ERROR_LEN];

	snprintf(want, sizeof(want), "%s: %s", path, rest);
	for (unsigned i = 0; i < errs->n; i++) {
		if (strcmp(errs->msg[i], want) == 0)
			return true;
	}
	print_message("missing error: %s\n", want);
	unit_dump_errors(errs);
	return false;
}

#endif
