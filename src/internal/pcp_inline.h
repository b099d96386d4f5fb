/* SPDX-License-Identifier: MIT */
/*
 * internal/pcp_inline.h - the per-CPU cache fast paths, inlined into cma_alloc_pages and
 * cma_free_pages (pcp.c holds the slow paths and the design notes). Everything here runs inside the
 * cache (cma__pcp_enter: its lock by a trylock, or CPU-exclusive ownership in local mode); a cache
 * that cannot be entered sends the caller to the buddy.
 */
#ifndef CMA_INTERNAL_PCP_INLINE_H
#define CMA_INTERNAL_PCP_INLINE_H

#include "internal.h"

/* ---- list helpers (caller is inside the cache) -------------------------------------------------------- */

static inline void cma__pcplist_push_head(struct cma_mm *mm, struct cma_pcplist *l, uint32_t idx)
{
    struct cma_page *p = cma__page(mm, idx);
    p->hi = CMA_IDX_NIL;
    p->lo = l->head;
    if (l->head != CMA_IDX_NIL)
        cma__page(mm, l->head)->hi = idx;
    else
        l->tail = idx;
    l->head = idx;
    l->nr++;
}

static inline void cma__pcplist_push_tail(struct cma_mm *mm, struct cma_pcplist *l, uint32_t idx)
{
    struct cma_page *p = cma__page(mm, idx);
    p->lo = CMA_IDX_NIL;
    p->hi = l->tail;
    if (l->tail != CMA_IDX_NIL)
        cma__page(mm, l->tail)->lo = idx;
    else
        l->head = idx;
    l->tail = idx;
    l->nr++;
}

static inline uint32_t cma__pcplist_pop_head(struct cma_mm *mm, struct cma_pcplist *l)
{
    uint32_t idx = l->head;
    if (idx == CMA_IDX_NIL)
        return idx;
    l->head = cma__page(mm, idx)->lo;
    if (l->head != CMA_IDX_NIL)
        cma__page(mm, l->head)->hi = CMA_IDX_NIL;
    else
        l->tail = CMA_IDX_NIL;
    l->nr--;
    return idx;
}

static inline uint32_t cma__pcplist_pop_tail(struct cma_mm *mm, struct cma_pcplist *l)
{
    uint32_t idx = l->tail;
    if (idx == CMA_IDX_NIL)
        return idx;
    l->tail = cma__page(mm, idx)->hi;
    if (l->tail != CMA_IDX_NIL)
        cma__page(mm, l->tail)->lo = CMA_IDX_NIL;
    else
        l->head = CMA_IDX_NIL;
    l->nr--;
    return idx;
}

/* ---- fast paths --------------------------------------------------------------------------------- */

/* This CPU's cache for a fast path, or NULL when it cannot be used now (the caller goes to the
 * buddy). Normally by a trylock of its lock: a contended cache is not waited for. In local mode a
 * CPU-exclusive caller owns its cache and takes no lock: it marks itself inside (local) and backs
 * off if someone from another CPU counted in (remote); a caller that is not exclusive never uses a
 * cache there. The compiler barrier keeps the store before the load; the hardware barrier the other
 * side needs is the cpu_barrier it runs between counting in and reading local (pcp.c). */
static inline struct cma_pcp *cma__pcp_enter(struct cma_mm *mm)
{
    struct cma_pcp *pcp;
    if (CMA_LIKELY(mm->host.plain)) { /* default CPU id, libcma's spinlocks: one test for both */
        pcp = &mm->pcp[cma__this_cpu(mm)];
        if (atomic_load_explicit(&pcp->lock.spin, memory_order_relaxed) == 0 &&
            !atomic_exchange_explicit(&pcp->lock.spin, 1, memory_order_acquire))
            return pcp;
        return NULL;
    }
    if (!mm->host.local_caches) {
        pcp = &mm->pcp[cma__this_cpu(mm)];
        return cma__trylock(&mm->host, &pcp->lock) ? pcp : NULL;
    }
    if (!(pcp = cma__this_cpu_owned(mm)))
        return NULL;
    atomic_store_explicit(&pcp->local, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&pcp->remote, memory_order_acquire)) {
        atomic_store_explicit(&pcp->local, 0, memory_order_release);
        return NULL;
    }
    return pcp;
}

static inline void cma__pcp_leave(struct cma_mm *mm, struct cma_pcp *pcp)
{
    if (CMA_LIKELY(mm->host.plain))
        atomic_store_explicit(&pcp->lock.spin, 0, memory_order_release);
    else if (!mm->host.local_caches)
        cma__unlock(&mm->host, &pcp->lock);
    else
        atomic_store_explicit(&pcp->local, 0, memory_order_release);
}

/* Returns a free block from this CPU's cache (refilling it) and its pfn, or CMA_IDX_NIL. */
static inline uint32_t cma__pcp_alloc(struct cma_mm *mm, unsigned order, unsigned mt, cma_pfn_t *pfnp)
{
    struct cma_pcp *pcp = cma__pcp_enter(mm);
    if (!pcp)
        return CMA_IDX_NIL;
    struct cma_pcplist *l = &pcp->lists[order][mt];
    if (CMA_UNLIKELY(l->head == CMA_IDX_NIL))
        cma__pcp_refill(mm, pcp, order, mt);
    uint32_t idx = cma__pcplist_pop_head(mm, l);
    if (CMA_LIKELY(idx != CMA_IDX_NIL)) {
        cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
        /* Never a block of an isolated pageblock: isolation drains every cache under every cache
         * lock (invariant I8). */
        cma_assert_internal(cma__pb_type(mm, pfn) != CMA_MIGRATE_ISOLATE);
        pcp->count -= 1u << order;
        pcp->pgalloc++;
        pcp->pgalloc_pages += 1u << order;
        cma__page_set_flags(cma__page(mm, idx), PS_ALLOC);
        *pfnp = pfn;
    }
    cma__pcp_leave(mm, pcp);
    return idx;
}

static inline int cma__pcp_free(struct cma_mm *mm, uint32_t idx, cma_pfn_t pfn, unsigned order, uint8_t expect)
{
    struct cma_page *p = cma__page(mm, idx);
    struct cma_pcp *pcp = cma__pcp_enter(mm);
    if (!pcp)
        return 1;
    unsigned mt = cma__pb_type(mm, pfn); /* inside the cache: see the isolation note above */
    if (mt == CMA_MIGRATE_ISOLATE) {
        cma__pcp_leave(mm, pcp);
        return 1;
    }
    if (mt >= CMA_MIGRATE_PCPTYPES)
        mt = CMA_MIGRATE_MOVABLE;
    /* A plain check-and-store under the cache lock, no compare-and-swap: the one library-internal
     * writer that could race with it, the start of a migration, holds every cache lock while it marks
     * pages (migrate.c). The acquire pairs with the release that publishes a migration target. */
    if (atomic_load_explicit(&p->flags, memory_order_acquire) != expect) {
        cma__pcp_leave(mm, pcp);
        return -CMA_EAGAIN;
    }
    atomic_store_explicit(&p->flags, PS_PCP, memory_order_relaxed);
    atomic_store_explicit(&p->ops, 0, memory_order_relaxed);
    cma__pcplist_push_head(mm, &pcp->lists[order][mt], idx);
    pcp->count += 1u << order;
    pcp->pgfree++;
    pcp->pgfree_pages += 1u << order;
    if (CMA_UNLIKELY(pcp->count >= mm->pcp_high))
        cma__pcp_trim(mm, pcp, order, mt);
    cma__pcp_leave(mm, pcp);
    return 0;
}

#endif /* CMA_INTERNAL_PCP_INLINE_H */
