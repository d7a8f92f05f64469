/* unit: what the cmocka test files share: every test gives back every allocation it made. */
#ifndef SBC_TEST_UNIT_H
#define SBC_TEST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

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

#endif
