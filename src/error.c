/* SPDX-License-Identifier: MIT */
/*
 * error.c - the one error table: cma_strerror() and cma_err_name() generated from CMA_ERRNO_MAP,
 * plus the version string and the assertion failure handler.
 */
#include "internal/internal.h"

const char *cma_version(void) { return CMA_VERSION_STRING; }

/* The magnitude of an error code, safe for INT_MIN. */
static unsigned magnitude(int err) { return err < 0 ? 0u - (unsigned)err : (unsigned)err; }

const char *cma_strerror(int err)
{
    switch (magnitude(err)) {
    case 0:
        return "success";
#define CMA_ERR_TEXT_(name, num, text)                                                             \
    case num:                                                                                      \
        return text;
        CMA_ERRNO_MAP(CMA_ERR_TEXT_)
#undef CMA_ERR_TEXT_
    }
    return "unknown error";
}

const char *cma_err_name(int err)
{
    switch (magnitude(err)) {
    case 0:
        return "OK";
#define CMA_ERR_NAME_(name, num, text)                                                             \
    case num:                                                                                      \
        return #name;
        CMA_ERRNO_MAP(CMA_ERR_NAME_)
#undef CMA_ERR_NAME_
    }
    return "E?";
}

/* Assertions are a debugging aid for libcma's own developers: the message goes to the host's panic
 * hook (hosted default: stderr, then abort). */
_Noreturn void cma__assert_fail(const char *expr, const char *file, int line)
{
    char msg[256];
    cma__format(msg, sizeof msg, "assertion failed: %s (%s:%d)", expr, file, line);
    cma__panic(msg);
}
