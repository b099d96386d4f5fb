/* SPDX-License-Identifier: MIT */
/*
 * example.h - the little every example program needs besides libcma: stop with the failing call and
 * the error's name, and stop when the invariant checker finds something. Define EXAMPLE (the
 * program's name, for messages) before including it.
 */
#ifndef CMA_EXAMPLE_H
#define CMA_EXAMPLE_H

#include <cma/cma.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef EXAMPLE
#error "define EXAMPLE (the program's name) before including example.h"
#endif

/* Prints "<program>: <what>: <text> (<ENAME>)" and exits 1. */
static inline void fail(const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", EXAMPLE, what, cma_strerror(err), cma_err_name(err));
    exit(1);
}

/* Every libcma call returns 0 or a negative errno: stop at the first error, naming the call. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        int err_ = (call);                                                                         \
        if (err_)                                                                                  \
            fail(#call, err_);                                                                     \
    } while (0)

/* Runs the invariant checker; prints the first violation and exits 1 if there is one. */
static inline void check(const struct cma_mm *mm)
{
    char why[256];
    if (cma_mm_check(mm, why, sizeof why)) {
        fprintf(stderr, "%s: invariant violated: %s\n", EXAMPLE, why);
        exit(1);
    }
}

#endif /* CMA_EXAMPLE_H */
