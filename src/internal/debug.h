/* SPDX-License-Identifier: MIT */
/*
 * internal/debug.h - assertion levels.
 *
 * CMA_DEBUG (a CMake option, default 1 in Debug builds and 0 in Release):
 *   0  only the always-on hardening of the public API (bad frees etc. return errors)
 *   1  API-misuse and cheap internal asserts (cma_assert)
 *   2  more internal asserts (cma_assert_internal)
 *   3  the full invariant checker after mutations (cma_assert_expensive)
 * Written as `if (CMA_DEBUG >= n && !(e))` so debug code always compiles.
 */
#ifndef CMA_INTERNAL_DEBUG_H
#define CMA_INTERNAL_DEBUG_H

#ifndef CMA_DEBUG
#define CMA_DEBUG 0
#endif

_Noreturn void cma__assert_fail(const char *expr, const char *file, int line);

#define cma_assert_level_(lvl, e)                                                                  \
    do {                                                                                           \
        if (CMA_DEBUG >= (lvl) && !(e))                                                            \
            cma__assert_fail(#e, __FILE__, __LINE__);                                              \
    } while (0)

#define cma_assert(e) cma_assert_level_(1, e)
#define cma_assert_internal(e) cma_assert_level_(2, e)
#define cma_assert_expensive(e) cma_assert_level_(3, e)

#endif /* CMA_INTERNAL_DEBUG_H */
