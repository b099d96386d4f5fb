/* SPDX-License-Identifier: MIT */
/*
 * cma/base.h - types, error codes, version and host hooks shared by every part of the libcma API.
 *
 * Included by <cma/cma.h>; users normally include that instead.
 */
#ifndef CMA_BASE_H
#define CMA_BASE_H

#include <stdarg.h>
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
 * (or a NULL host pointer in the config) selects the built-in default. Hosted builds default to
 * POSIX (calloc, CLOCK_MONOTONIC, sched_yield, pthread mutexes, a per-thread CPU slot, stderr and
 * abort for a panic). A freestanding build (CMA_FREESTANDING) has no defaults for memory, which the
 * host must supply (else cma_mm_create returns -EINVAL); its clock reads 0, relax only spins, locks
 * are libcma's spinlocks on C11 atomics, every caller is CPU 0 and a panic traps.
 *
 * Context rules. libcma never calls a hook from an interrupt of its own; it calls them from the
 * thread that called into libcma. Two classes of locks exist: SPINNING locks (the zone, the per-CPU
 * caches, each area's bitmap) are held for short, bounded work; the SLEEPING lock of an area is held
 * across that area's whole cma_alloc, which migrates pages and calls owners' callbacks.
 *
 * size:      sizeof(struct cma_host) as the caller compiled it, or 0 for this header's layout. A
 *            library newer than the caller's header reads no member past size (later versions only
 *            add members at the end); size must cover at least the members up to itself.
 * alloc:     zero-filled memory of `size` bytes aligned to at least 64 bytes, or NULL. Used for the
 *            memory map, pageblock array, region tables, areas, the pin table and (backed mode
 *            without cfg.mem) page contents. NEVER called with a libcma lock of either class held,
 *            so it may sleep; never called by cma_alloc_pages/cma_free_pages. alloc and free come
 *            as a pair (else -EINVAL).
 * free:      releases what alloc returned; `size` is the size passed to alloc. Same context as alloc.
 * now_ns:    a monotonic clock for latency statistics. May be called with an area's sleeping lock
 *            and its spinning bitmap lock held: must not sleep or call libcma.
 * log:       receives a formatted diagnostic (at most 255 bytes; a longer one ends in "...").
 * logv:      receives the format and its arguments instead (C's printf conventions: d i u x X o c s p
 *            with flags, width, precision, hh h l ll z j t), so the library formats nothing; when set,
 *            log is not called. Both are called with no libcma lock held and may call libcma.
 * panic:     an internal assertion failed (debug builds) and the library cannot continue: msg says
 *            what and where. Must not return (if it does, libcma traps). Any context, any lock held.
 *            Assertions have no machine at hand, so the panic hook of the machine created last that
 *            has one serves the whole program.
 * cpu_id:    the calling CPU (any value; libcma takes it modulo nr_cpus). Called on every page
 *            allocation and free, with no lock held: must be cheap and must not sleep. Default: a
 *            per-thread slot handed out round-robin on first use.
 * cpu_id_ex: as cpu_id, and sets *exclusive when the caller runs CPU-exclusive until libcma returns:
 *            preemption is off and nothing on this CPU calls libcma meanwhile (interrupt handlers
 *            included). Replaces cpu_id when set. With cpu_barrier also set, each CPU's cache is then
 *            its own: an exclusive caller whose id is below nr_cpus uses its CPU's cache without
 *            taking the cache lock (as Linux's local_lock), a caller that is not exclusive bypasses
 *            the caches, and whoever works on another CPU's cache (drains, isolation, migration,
 *            statistics, the checker) takes its lock and waits until its owner is out.
 * cpu_barrier: makes every CPU that runs libcma execute a full memory barrier before it returns
 *            (Linux user space: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED); a kernel: an IPI to
 *            every online CPU and wait; one CPU: nothing). Called with no spinning lock held (an
 *            area's sleeping lock may be held); must not call libcma.
 * relax:     called while spinning on a contended lock (default: sched_yield after a few spins).
 *            Any lock may be held.
 * lock_init/lock_fini/lock/unlock/trylock: the SPINNING class, replacing libcma's spinlocks. Each
 *            lock is one word whose storage libcma owns; a host may keep its lock state there or a
 *            pointer to it. All five or none (else -EINVAL). lock_init and lock_fini are called with
 *            no libcma lock held; lock, unlock and trylock must not sleep (other spinning locks may
 *            be held).
 * mutex_init/mutex_fini/mutex_lock/mutex_unlock: the SLEEPING class (each area's allocation lock),
 *            which may block: held across migration and owner callbacks, never inside a spinning
 *            lock. All four or none. None: the spinning class hooks if the host gave those (as
 *            before this class existed), else pthread mutexes (hosted) or libcma's spinlocks.
 * copy:      copies `bytes` of page contents from src to dst (backed mode, migration): a host may use
 *            a DMA engine or non-temporal stores. Both are page aligned and do not overlap. Called
 *            with no libcma lock held. Default: libcma's copy (non-temporal stores on x86-64 with
 *            SSE2, memcpy with prefetch elsewhere).
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
    /* since 0.2: members are added below, never moved */
    size_t size;
    void (*logv)(void *ctx, enum cma_log_level level, const char *fmt, va_list ap);
    void (*panic)(void *ctx, const char *msg);
    unsigned (*cpu_id_ex)(void *ctx, bool *exclusive);
    void (*cpu_barrier)(void *ctx);
    int (*mutex_init)(void *ctx, uintptr_t *word);
    void (*mutex_fini)(void *ctx, uintptr_t *word);
    void (*mutex_lock)(void *ctx, uintptr_t *word);
    void (*mutex_unlock)(void *ctx, uintptr_t *word);
    void (*copy)(void *ctx, void *dst, const void *src, size_t bytes);
};

#ifdef __cplusplus
}
#endif
#endif /* CMA_BASE_H */
