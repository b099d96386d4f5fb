/* SPDX-License-Identifier: MIT */
/*
 * host.c - the host layer: resolves the user's cma_host hooks, filling every missing one with the
 * built-in POSIX default, and the slow path of the built-in spinlock.
 *
 * Defaults: calloc/free for memory (large zeroed allocations come from mmap'd zero pages, so a
 * metadata-only machine only costs the memory map entries actually written); CLOCK_MONOTONIC;
 * log discards (the library never prints unless the host asks for it); cpu_id is a per-thread slot
 * handed out round-robin on first use, so threads spread over the per-CPU caches and a thread keeps
 * its cache; relax yields after a short spin.
 */
#include "internal/internal.h"

#include <sched.h>
#include <stdarg.h>
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

static void posix_log(void *ctx, enum cma_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

_Thread_local unsigned cma__tls_cpu_slot CMA_TLS_MODEL = UINT32_MAX;

unsigned cma__tls_cpu_slot_assign(void)
{
    static atomic_uint next_slot;
    if (cma__tls_cpu_slot == UINT32_MAX)
        cma__tls_cpu_slot = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) & 0x7fffffffu;
    return cma__tls_cpu_slot;
}

static unsigned posix_cpu_id(void *ctx)
{
    (void)ctx;
    return cma__tls_cpu_slot_assign();
}

static void posix_relax(void *ctx)
{
    (void)ctx;
    sched_yield();
}

int cma__host_resolve(const struct cma_host *user, struct cma_hostx *hx)
{
    static const struct cma_host none;
    const struct cma_host *u = user ? user : &none;
    int nlock = !!u->lock_init + !!u->lock_fini + !!u->lock + !!u->unlock + !!u->trylock;
    if (nlock != 0 && nlock != 5)
        return -CMA_EINVAL;
    if (!!u->alloc != !!u->free)
        return -CMA_EINVAL;
    hx->h = *u;
    if (!u->alloc) {
        hx->h.alloc = posix_alloc;
        hx->h.free = posix_free;
    }
    if (!u->now_ns)
        hx->h.now_ns = posix_now_ns;
    if (!u->log)
        hx->h.log = posix_log;
    if (!u->cpu_id)
        hx->h.cpu_id = posix_cpu_id;
    if (!u->relax)
        hx->h.relax = posix_relax;
    hx->custom_locks = nlock == 5;
    hx->default_cpu_id = !u->cpu_id;
    return 0;
}

void *cma__host_alloc(const struct cma_hostx *hx, size_t size)
{
    return size ? hx->h.alloc(hx->h.ctx, size) : NULL;
}

void cma__host_free(const struct cma_hostx *hx, void *p, size_t size)
{
    if (p)
        hx->h.free(hx->h.ctx, p, size);
}

void cma__log(const struct cma_hostx *hx, enum cma_log_level level, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    cma__vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hx->h.log(hx->h.ctx, level, msg);
}

void cma__lock_slow(const struct cma_hostx *hx, struct cma_lock *l)
{
    for (unsigned spins = 0;; spins++) {
        while (atomic_load_explicit(&l->spin, memory_order_relaxed)) {
            if (++spins >= 64) {
                hx->h.relax(hx->h.ctx);
                spins = 0;
            }
        }
        if (!atomic_exchange_explicit(&l->spin, 1, memory_order_acquire))
            return;
    }
}

int cma__lock_init(const struct cma_hostx *hx, struct cma_lock *l)
{
    atomic_init(&l->spin, 0);
    l->word = 0;
    return hx->custom_locks ? hx->h.lock_init(hx->h.ctx, &l->word) : 0;
}

void cma__lock_fini(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (hx->custom_locks)
        hx->h.lock_fini(hx->h.ctx, &l->word);
}
