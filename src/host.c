/* SPDX-License-Identifier: MIT */
/*
 * host.c - the host layer: resolves the user's cma_host hooks, filling every missing one with the
 * environment's default, and everything libcma does through hooks: memory, the log, the panic, both
 * lock classes (with the slow path of libcma's own spinlock), and page copies.
 *
 * This file is part of the freestanding core. The hosted defaults (POSIX) live in host_posix.c,
 * built only in hosted builds; a freestanding build has none for memory (the host must give it) and
 * minimal ones for the rest: a clock that reads 0, a relax that returns at once, libcma's spinlocks
 * for both lock classes, CPU 0, a panic that traps.
 *
 * The struct is read up to the caller's size (base.h), so callers built against an older header
 * keep working when members are added at its end.
 */
#include "internal/internal.h"

/* ---- freestanding defaults ------------------------------------------------------------------------ */

static uint64_t zero_clock(void *ctx)
{
    (void)ctx;
    return 0;
}

static void spin_relax(void *ctx) { (void)ctx; }

/* ---- resolution --------------------------------------------------------------------------------- */

/* Bytes of struct cma_host the caller's layout has: 0 = this header's. */
static size_t caller_size(const struct cma_host *u)
{
    return u->size ? u->size : sizeof *u;
}

int cma__host_resolve(const struct cma_host *user, struct cma_hostx *hx)
{
    static const struct cma_host none;
    const struct cma_host *u = user ? user : &none;
    size_t n = caller_size(u);
    if (n < offsetof(struct cma_host, size) + sizeof u->size)
        return -CMA_EINVAL;
    memset(hx, 0, sizeof *hx);
    memcpy(&hx->h, u, n < sizeof hx->h ? n : sizeof hx->h); /* members past n stay NULL */
    hx->h.size = sizeof hx->h;
    struct cma_host *h = &hx->h;
    int nlock = !!h->lock_init + !!h->lock_fini + !!h->lock + !!h->unlock + !!h->trylock;
    int nmutex = !!h->mutex_init + !!h->mutex_fini + !!h->mutex_lock + !!h->mutex_unlock;
    if ((nlock != 0 && nlock != 5) || (nmutex != 0 && nmutex != 4) || !!h->alloc != !!h->free)
        return -CMA_EINVAL;
    hx->custom_locks = nlock == 5;
    hx->default_cpu_id = !h->cpu_id && !h->cpu_id_ex;
    hx->local_caches = h->cpu_id_ex && h->cpu_barrier;
    hx->default_copy = !h->copy;
    hx->plain = hx->default_cpu_id && !hx->custom_locks && !hx->local_caches;
#ifndef CMA_FREESTANDING
    cma__host_posix_defaults(h, hx->custom_locks);
#endif
    if (!h->alloc)
        return -CMA_EINVAL; /* freestanding: memory must come from the host */
    if (!h->now_ns)
        h->now_ns = zero_clock;
    if (!h->relax)
        h->relax = spin_relax;
    if (!h->copy)
        h->copy = cma__copy_default;
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

/* ---- log and panic ------------------------------------------------------------------------------- */

#define LOG_MAX 256

void cma__log(const struct cma_hostx *hx, enum cma_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (!hx->h.logv && !hx->h.log)
        return; /* nobody listens: nothing is formatted */
    va_start(ap, fmt);
    if (hx->h.logv) {
        hx->h.logv(hx->h.ctx, level, fmt, ap);
    } else {
        char msg[LOG_MAX];
        if (cma__vformat(msg, sizeof msg, fmt, ap) >= (int)sizeof msg)
            memcpy(msg + sizeof msg - 4, "...", 4);
        hx->h.log(hx->h.ctx, level, msg);
    }
    va_end(ap);
}

/* The program-wide panic hook (assertions have no machine at hand): the latest machine's. */
static void (*_Atomic panic_fn)(void *ctx, const char *msg);
static void *_Atomic panic_ctx;

void cma__panic_install(const struct cma_hostx *hx)
{
    if (!hx->h.panic)
        return;
    atomic_store_explicit(&panic_ctx, hx->h.ctx, memory_order_relaxed);
    atomic_store_explicit(&panic_fn, hx->h.panic, memory_order_release);
}

_Noreturn void cma__panic(const char *msg)
{
    void (*fn)(void *, const char *) = atomic_load_explicit(&panic_fn, memory_order_acquire);
    if (fn)
        fn(atomic_load_explicit(&panic_ctx, memory_order_relaxed), msg);
#ifndef CMA_FREESTANDING
    else
        cma__posix_panic(msg);
#endif
    __builtin_trap();
}

/* ---- locks --------------------------------------------------------------------------------------- */

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

/* The sleeping class: the host's (or the hosted default's) mutex hooks, else the spinning class. */
int cma__mutex_init(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (!hx->h.mutex_init)
        return cma__lock_init(hx, l);
    atomic_init(&l->spin, 0);
    l->word = 0;
    return hx->h.mutex_init(hx->h.ctx, &l->word);
}

void cma__mutex_fini(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (hx->h.mutex_fini)
        hx->h.mutex_fini(hx->h.ctx, &l->word);
    else
        cma__lock_fini(hx, l);
}

void cma__mutex_lock(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (hx->h.mutex_lock)
        hx->h.mutex_lock(hx->h.ctx, &l->word);
    else
        cma__lock(hx, l);
}

void cma__mutex_unlock(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (hx->h.mutex_unlock)
        hx->h.mutex_unlock(hx->h.ctx, &l->word);
    else
        cma__unlock(hx, l);
}
