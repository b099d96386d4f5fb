/* SPDX-License-Identifier: MIT */
/*
 * pcp.c - per-CPU caches of free blocks of orders 0..CMA_PCP_MAX_ORDER in front of the zone lock.
 *
 * Each CPU has, per order and per pcp type (UNMOVABLE, MOVABLE, RECLAIMABLE), a list threaded
 * through the memory map like the buddy lists. Allocation pops the head (the most recently freed,
 * cache-hot block); an empty list is refilled with `batch` pages' worth of blocks under one zone-lock
 * hold, through the same removal state machine as everything else, its mode cached across the
 * batch. Free pushes to the head; when the cache holds `high` pages or more, the coldest blocks (list
 * tails, round-robin from the list just used) go back to the buddy until the cache is `batch` pages
 * under high. Sizes follow Linux: batch = min(managed/1024, 1 MiB of pages)/4, rounded to
 * 2^k - 1; high = 4 x batch (the lower bound of Linux's auto-tuned range).
 *
 * Isolation safety: the free path reads the pageblock label *under its cache lock*, and a page of
 * an isolated pageblock is never cached (it goes straight to the buddy's ISOLATE list). Isolation
 * holds every cache lock and the zone lock while it sets the labels and drains every cache, so at no
 * moment is a free page of an isolated pageblock cached (invariant I8; Linux has raced here,
 * docs/linux.md "CPU caches and the isolation race"), and allocation never has to check.
 *
 * The fast paths (pcp_inline.h) hold one lock each and do no other atomic read-modify-write: free
 * checks the block's state and stores the cached state under the cache lock; marking a block for
 * migration, the only other writer that could race with it, holds every cache lock (migrate.c).
 *
 * CMA and HIGHATOMIC pages are cached on the MOVABLE lists, as in Linux; the label is looked up again
 * when a block leaves the cache, so a block cached before its pageblock was relabelled lands on the
 * right buddy list.
 *
 * Lock order: pcp->lock, then mm->lock. A contended pcp lock is never waited for on the fast path:
 * allocation and free fall back to the buddy.
 */
#include "internal/internal.h"
#include "internal/pcp_inline.h"

int cma__pcp_array_alloc(const struct cma_mm *mm, struct cma_pcp **pcpp)
{
    struct cma_pcp *pcp = cma__host_alloc(&mm->host, mm->nr_cpus * sizeof *pcp);
    *pcpp = NULL;
    if (!pcp)
        return -CMA_ENOMEM;
    for (unsigned c = 0; c < mm->nr_cpus; c++) {
        int r = cma__lock_init(&mm->host, &pcp[c].lock);
        if (r) {
            while (c--)
                cma__lock_fini(&mm->host, &pcp[c].lock);
            cma__host_free(&mm->host, pcp, mm->nr_cpus * sizeof *pcp);
            return r;
        }
    }
    *pcpp = pcp;
    return 0;
}

void cma__pcp_array_free(const struct cma_mm *mm, struct cma_pcp *pcp)
{
    if (!pcp)
        return;
    for (unsigned c = 0; c < mm->nr_cpus; c++)
        cma__lock_fini(&mm->host, &pcp[c].lock);
    cma__host_free(&mm->host, pcp, mm->nr_cpus * sizeof *pcp);
}

void cma__pcp_setup(struct cma_mm *mm)
{
    uint64_t b = mm->nr_managed >> 10, cap = (1ull << 20) >> mm->page_shift;
    if (b > cap)
        b = cap;
    b /= 4;
    if (b < 1)
        b = 1;
    b = (1ull << cma__fls64(b + b / 2)) - 1;
    if (b < 1)
        b = 1;
    mm->pcp_batch = mm->cfg.pcp_batch ? mm->cfg.pcp_batch : (uint32_t)b;
    mm->pcp_high = mm->cfg.pcp_high ? mm->cfg.pcp_high : 4 * mm->pcp_batch;
    if (mm->pcp_high < mm->pcp_batch)
        mm->pcp_high = mm->pcp_batch;
    for (unsigned c = 0; c < mm->nr_cpus; c++)
        for (unsigned o = 0; o <= CMA_PCP_MAX_ORDER; o++)
            for (unsigned t = 0; t < CMA_MIGRATE_PCPTYPES; t++)
                mm->pcp[c].lists[o][t].head = mm->pcp[c].lists[o][t].tail = CMA_IDX_NIL;
}

/* Hands one cached block back to the buddy. Caller holds pcp->lock and mm->lock. */
static void give_back_locked(struct cma_mm *mm, struct cma_pcp *pcp, uint32_t idx, unsigned order)
{
    cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
    pcp->count -= 1u << order;
    cma__page_clear(cma__page(mm, idx));
    cma__free_block_locked(mm, pfn, order, false);
}

/* Returns the coldest blocks until at most `target` pages remain, round-robin over the lists
 * starting at `start`. Caller holds pcp->lock and mm->lock. */
static void trim_locked(struct cma_mm *mm, struct cma_pcp *pcp, uint32_t target, unsigned start)
{
    const unsigned nlists = (CMA_PCP_MAX_ORDER + 1) * CMA_MIGRATE_PCPTYPES;
    unsigned i = start, empty_run = 0;
    while (pcp->count > target && empty_run < nlists) {
        unsigned order = i / CMA_MIGRATE_PCPTYPES, t = i % CMA_MIGRATE_PCPTYPES;
        uint32_t taken = 0, idx;
        /* up to a batch from each list in turn: fairness without probing empty lists per block */
        while (pcp->count > target && taken < mm->pcp_batch &&
               (idx = cma__pcplist_pop_tail(mm, &pcp->lists[order][t])) != CMA_IDX_NIL) {
            give_back_locked(mm, pcp, idx, order);
            taken += 1u << order;
        }
        empty_run = taken ? 0 : empty_run + 1;
        i = (i + 1) % nlists;
    }
    pcp->drains++;
}

/* ---- allocation and free ------------------------------------------------------------------------ */

/* Refills an empty list with a batch of blocks under one zone-lock hold (the removal state machine
 * keeps its mode across the batch). Caller is inside the cache (its lock, or its owner in local mode). */
void cma__pcp_refill(struct cma_mm *mm, struct cma_pcp *pcp, unsigned order, unsigned mt)
{
    struct cma_pcplist *l = &pcp->lists[order][mt];
    uint32_t n = order == 0 ? mm->pcp_batch : mm->pcp_batch >> order;
    int mode = 0;
    if (n < 2 && order)
        n = 2;
    cma__mm_lock(mm);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t idx = cma__rmqueue_locked(mm, order, mt, mt == CMA_MIGRATE_MOVABLE, &mode);
        if (idx == CMA_IDX_NIL)
            break;
        struct cma_page *p = cma__page(mm, idx);
        p->order = (uint8_t)order;
        cma__page_set_flags(p, PS_PCP);
        cma__pcplist_push_tail(mm, l, idx); /* keeps ascending physical order */
        pcp->count += 1u << order;
    }
    cma__mm_unlock(mm);
    pcp->refills++;
}

/* Trims a cache that reached high back to high - batch. Caller is inside the cache. */
void cma__pcp_trim(struct cma_mm *mm, struct cma_pcp *pcp, unsigned order, unsigned mt)
{
    cma__mm_lock(mm);
    trim_locked(mm, pcp, mm->pcp_high - mm->pcp_batch, order * CMA_MIGRATE_PCPTYPES + mt);
    cma__mm_unlock(mm);
}

void cma__pcp_drain_cpu_locked(struct cma_mm *mm, unsigned cpu)
{
    struct cma_pcp *pcp = &mm->pcp[cpu];
    cma__assert_locked(mm);
    if (pcp->count)
        trim_locked(mm, pcp, 0, 0);
}

/* ---- work on caches from outside their CPU ----------------------------------------------------------
 * Draining, isolation, marking pages for migration, statistics and the checker work on caches that are
 * not (only) the caller's. They take the caches' locks, which excludes every fast path in the normal
 * mode. In local mode an owner's fast path takes no lock, so first they count themselves in as remote on
 * each cache, make every CPU execute a barrier (host cpu_barrier: after it, an owner entering sees the
 * count and backs off, and an owner already inside has its `local` store visible), and wait until each
 * cache's owner is out. One barrier serves a whole range. Called with no spinning lock held.
 */
static void remote_begin(struct cma_mm *mm, unsigned from, unsigned to)
{
    if (!mm->host.local_caches)
        return;
    for (unsigned c = from; c < to; c++)
        atomic_fetch_add_explicit(&mm->pcp[c].remote, 1, memory_order_relaxed);
    mm->host.h.cpu_barrier(mm->host.h.ctx);
    for (unsigned c = from; c < to; c++)
        while (atomic_load_explicit(&mm->pcp[c].local, memory_order_acquire))
            mm->host.h.relax(mm->host.h.ctx);
}

static void remote_end(struct cma_mm *mm, unsigned from, unsigned to)
{
    if (!mm->host.local_caches)
        return;
    for (unsigned c = from; c < to; c++)
        atomic_fetch_sub_explicit(&mm->pcp[c].remote, 1, memory_order_release);
}

/* The public entry points that only read take `const struct cma_mm *`, but locks are mutable state:
 * casting const away is sound because every cma_mm is created writable by cma_mm_create(). */
void cma__pcp_remote_begin(const struct cma_mm *mm) { remote_begin((struct cma_mm *)mm, 0, mm->nr_cpus); }
void cma__pcp_remote_end(const struct cma_mm *mm) { remote_end((struct cma_mm *)mm, 0, mm->nr_cpus); }

void cma__pcp_take_locks(const struct cma_mm *cmm)
{
    struct cma_mm *mm = (struct cma_mm *)cmm;
    for (unsigned c = 0; c < mm->nr_cpus; c++)
        cma__lock(&mm->host, &mm->pcp[c].lock);
}

void cma__pcp_drop_locks(const struct cma_mm *cmm)
{
    struct cma_mm *mm = (struct cma_mm *)cmm;
    for (unsigned c = mm->nr_cpus; c-- > 0;)
        cma__unlock(&mm->host, &mm->pcp[c].lock);
}

void cma__pcp_lock_all(const struct cma_mm *mm)
{
    cma__pcp_remote_begin(mm);
    cma__pcp_take_locks(mm);
}

void cma__pcp_unlock_all(const struct cma_mm *mm)
{
    cma__pcp_drop_locks(mm);
    cma__pcp_remote_end(mm);
}

void cma__lock_all(const struct cma_mm *mm)
{
    cma__pcp_lock_all(mm);
    cma__mm_lock((struct cma_mm *)mm);
}

void cma__unlock_all(const struct cma_mm *mm)
{
    cma__mm_unlock((struct cma_mm *)mm);
    cma__pcp_unlock_all(mm);
}

/* Empties one cache; the caller has counted in as remote on it (local mode). */
static void drain_one(struct cma_mm *mm, unsigned cpu)
{
    struct cma_pcp *pcp = &mm->pcp[cpu];
    cma__lock(&mm->host, &pcp->lock);
    if (pcp->count) {
        cma__mm_lock(mm);
        trim_locked(mm, pcp, 0, 0);
        cma__mm_unlock(mm);
    }
    cma__unlock(&mm->host, &pcp->lock);
}

void cma__pcp_drain_cpu(struct cma_mm *mm, unsigned cpu)
{
    remote_begin(mm, cpu, cpu + 1);
    drain_one(mm, cpu);
    remote_end(mm, cpu, cpu + 1);
}

void cma__pcp_drain_all(struct cma_mm *mm)
{
    remote_begin(mm, 0, mm->nr_cpus);
    for (unsigned c = 0; c < mm->nr_cpus; c++)
        drain_one(mm, c);
    remote_end(mm, 0, mm->nr_cpus);
}

int cma_drain_cpu_caches(struct cma_mm *mm)
{
    if (!mm)
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;
    cma__pcp_drain_all(mm);
    return 0;
}

int cma_drain_cpu_cache(struct cma_mm *mm, unsigned cpu)
{
    if (!mm || cpu >= mm->nr_cpus)
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;
    cma__pcp_drain_cpu(mm, cpu);
    return 0;
}
