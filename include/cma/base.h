/* SPDX-License-Identifier: MIT */
/*
 * cma/base.h - types, error codes, version and host hooks shared by every part of the libcma API.
 *
 * Included by <cma/cma.h>; users normally include that instead.
 */
#ifndef CMA_BASE_H
#define CMA_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMA_VERSION_MAJOR 0
#define CMA_VERSION_MINOR 1
#define CMA_VERSION_PATCH 0
#define CMA_VERSION_STRING "0.1.0"

/** Returns CMA_VERSION_STRING of the library actually linked. */
const char *cma_version(void);

#if defined(__GNUC__) || defined(__clang__)
#define CMA_NODISCARD __attribute__((warn_unused_result))
#else
#define CMA_NODISCARD
#endif

/* Frame numbers, physical byte addresses and device (IO-virtual) addresses. */
typedef uint64_t cma_pfn_t;
typedef uint64_t cma_phys_t;
typedef uint64_t cma_iova_t;

/* "No frame" sentinel for out-parameters of failed calls. */
#define CMA_PFN_NONE UINT64_MAX

/*
 * Error codes. Every command returns 0 or the negative of one of these. The values are Linux's errno
 * numbers on every platform (also freestanding), so -CMA_EINVAL == -EINVAL on Linux hosts.
 * One table (CMA_ERRNO_MAP) generates the constants, cma_strerror() and cma_err_name().
 */
#define CMA_ERRNO_MAP(XX)                                                                          \
    XX(EPERM, 1, "operation not permitted in this state")                                         \
    XX(ENOENT, 2, "no such object")                                                               \
    XX(EINTR, 4, "interrupted")                                                                   \
    XX(EAGAIN, 11, "transient refusal, try again")                                                \
    XX(ENOMEM, 12, "no free block of that kind")                                                  \
    XX(EFAULT, 14, "misuse of freed or foreign memory")                                           \
    XX(EBUSY, 16, "range or object busy")                                                         \
    XX(EEXIST, 17, "already exists")                                                              \
    XX(EINVAL, 22, "invalid argument")                                                            \
    XX(ENOSPC, 28, "no free window or address space")                                             \
    XX(ERANGE, 34, "value out of range")                                                          \
    XX(ENAMETOOLONG, 36, "name too long")                                                         \
    XX(EOVERFLOW, 75, "counter or size overflow")                                                 \
    XX(EOPNOTSUPP, 95, "operation not supported")

enum cma_errno {
#define CMA_ERR_ENUM_(name, num, text) CMA_##name = num,
    CMA_ERRNO_MAP(CMA_ERR_ENUM_)
#undef CMA_ERR_ENUM_
};

/** Human-readable text for 0 or a (negative or positive) error code; never NULL. */
const char *cma_strerror(int err);
/** Symbolic name ("EINVAL") for an error code, "OK" for 0, "E?" for unknown codes; never NULL. */
const char *cma_err_name(int err);

/* Log levels passed to the host log hook. */
enum cma_log_level { CMA_LOG_ERROR = 0, CMA_LOG_WARN = 1, CMA_LOG_INFO = 2, CMA_LOG_DEBUG = 3 };

/*
 * Host hooks: everything libcma needs from its environment. Every member is optional; a NULL member
 * (or a NULL host pointer in the config) selects the built-in default (POSIX in hosted builds).
 *
 * alloc:   zero-filled memory of `size` bytes aligned to at least 64 bytes, or NULL.
 *          Used for the memory map, pageblock array, region tables and (backed mode) page contents.
 * free:    releases what alloc returned; `size` is the size passed to alloc.
 * now_ns:  a monotonic clock, used for latency statistics.
 * log:     receives diagnostics; the library itself never prints.
 * cpu_id:  the calling CPU (any value; libcma takes it modulo nr_cpus). Default: a per-thread slot
 *          handed out round-robin on first use.
 * relax:   called while spinning on a contended lock (default: sched_yield after a few spins).
 * lock_init/lock_fini/lock/unlock/trylock: replace libcma's built-in spinlocks. Each lock is one
 *          word that libcma owns the storage of; a host may keep its own lock state there or a
 *          pointer to it. Either all five are set or none (else cma_mm_create returns -EINVAL), and
 *          alloc and free likewise come as a pair.
 */
struct cma_host {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *p, size_t size);
    uint64_t (*now_ns)(void *ctx);
    void (*log)(void *ctx, enum cma_log_level level, const char *msg);
    unsigned (*cpu_id)(void *ctx);
    void (*relax)(void *ctx);
    int (*lock_init)(void *ctx, uintptr_t *word);
    void (*lock_fini)(void *ctx, uintptr_t *word);
    void (*lock)(void *ctx, uintptr_t *word);
    void (*unlock)(void *ctx, uintptr_t *word);
    bool (*trylock)(void *ctx, uintptr_t *word);
};

#ifdef __cplusplus
}
#endif
#endif /* CMA_BASE_H */
