/* SPDX-License-Identifier: MIT */
/*
 * host_posix.c - the hosted defaults, built only in hosted builds (not with CMA_FREESTANDING): the
 * POSIX implementations of the hooks a user leaves NULL.
 *
 *   memory    calloc/free (large zeroed allocations come from mmap'd zero pages, so a metadata-only
 *             machine only costs the memory map entries actually written)
 *   clock     CLOCK_MONOTONIC
 *   relax     sched_yield (the spinlock calls it after a short spin)
 *   mutexes   the sleeping lock class: a pthread mutex per lock, its pointer in the lock word (only
 *             when the host gave no spinning hooks either: then those serve both classes, as before)
 *   CPU id    a per-thread slot handed out round-robin on first use, so threads spread over the
 *             per-CPU caches and a thread keeps its cache; read inline by the fast paths
 *             (internal.h). The slot is general-dynamic TLS in the shared library, so libcma can be
 *             dlopen()ed without static TLS room; the static library may use initial-exec
 *             (CMA_TLS_INITIAL_EXEC, set by the build).
 *   panic     the message on stderr, then abort()
 *   log       none: the library never prints unless the host asks for it
 */
#include "internal/internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *posix_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return calloc(1, size);
}

static void posix_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}

static uint64_t posix_now_ns(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void posix_relax(void *ctx)
{
    (void)ctx;
    sched_yield();
}

static int posix_mutex_init(void *ctx, uintptr_t *word)
{
    pthread_mutex_t *m = calloc(1, sizeof *m);
    (void)ctx;
    if (!m || pthread_mutex_init(m, NULL)) {
        free(m);
        return -CMA_ENOMEM;
    }
    *word = (uintptr_t)m;
    return 0;
}

static void posix_mutex_fini(void *ctx, uintptr_t *word)
{
    pthread_mutex_t *m = (pthread_mutex_t *)*word;
    (void)ctx;
    pthread_mutex_destroy(m);
    free(m);
    *word = 0;
}

static void posix_mutex_lock(void *ctx, uintptr_t *word)
{
    (void)ctx;
    pthread_mutex_lock((pthread_mutex_t *)*word);
}

static void posix_mutex_unlock(void *ctx, uintptr_t *word)
{
    (void)ctx;
    pthread_mutex_unlock((pthread_mutex_t *)*word);
}

void cma__host_posix_defaults(struct cma_host *h, bool custom_locks)
{
    if (!h->alloc) {
        h->alloc = posix_alloc;
        h->free = posix_free;
    }
    if (!h->now_ns)
        h->now_ns = posix_now_ns;
    if (!h->relax)
        h->relax = posix_relax;
    if (!h->mutex_init && !custom_locks) {
        h->mutex_init = posix_mutex_init;
        h->mutex_fini = posix_mutex_fini;
        h->mutex_lock = posix_mutex_lock;
        h->mutex_unlock = posix_mutex_unlock;
    }
}

_Thread_local unsigned cma__tls_cpu_slot CMA_TLS_MODEL = UINT32_MAX;

unsigned cma__tls_cpu_slot_assign(void)
{
    static atomic_uint next_slot;
    if (cma__tls_cpu_slot == UINT32_MAX)
        cma__tls_cpu_slot = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) & 0x7fffffffu;
    return cma__tls_cpu_slot;
}

void cma__posix_panic(const char *msg)
{
    fprintf(stderr, "libcma: %s\n", msg);
    abort();
}
