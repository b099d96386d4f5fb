/* SPDX-License-Identifier: MIT */
/*
 * page_alloc.c - the buddy allocator: free lists, split and merge, the removal state machine with
 * CMA-first balancing and the claim / steal fallback, and the public cma_alloc_pages/cma_free_pages.
 *
 * Free lists. free_area[order].lists[type] are doubly linked lists of free block heads threaded
 * through the memory map (lo = next, hi = prev, memmap indices). A block sits on the list of its
 * pageblock's effective type; only cma__freelist_add/del/move_locked touch lists and counters.
 *
 * Allocation (rmqueue). Optionally CMA first (movable requests, when free CMA pages exceed
 * cma_first_percent of free pages), then the smallest fitting block of the requested type, then CMA
 * (movable only), then claim a whole pageblock of a fallback type, then steal a piece without
 * relabelling (docs/linux.md, "Allocation and fallback"). A block larger than requested is split:
 * the lower half is kept and upper halves go to list heads in descending order, so successive
 * order-0 allocations ascend.
 *
 * Free. A block merges with its buddy (pfn ^ 2^order) while the buddy is a free head of the same
 * order inside the same span; at and above pageblock order a merge across differently labelled
 * pageblocks happens only when both labels are mergeable (UNMOVABLE/MOVABLE/RECLAIMABLE), and the
 * buddy's pageblocks take the freed block's label. CMA and HIGHATOMIC never merge with another
 * label; an isolated pageblock never merges with any neighbour (free blocks inside isolated
 * pageblocks are at most pageblock-sized). Blocks above pageblock order whose pageblocks differ are freed per pageblock.
 *
 * Invariants owned here (see check.c for their numbers): list membership and counters; no two
 * free buddies that should have merged; every pageblock covered by a free block carries the list's
 * type; tail pages are all-zero descriptors.
 */
#include "internal/internal.h"
#include "internal/pcp_inline.h"

enum rmqueue_mode { RMQ_NORMAL, RMQ_CMA, RMQ_CLAIM, RMQ_STEAL };

/* Fallback order per requested type (docs/linux.md, "Allocation and fallback"). */
static const unsigned fallback_table[CMA_MIGRATE_PCPTYPES][2] = {
    [CMA_MIGRATE_UNMOVABLE] = {CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_MOVABLE},
    [CMA_MIGRATE_MOVABLE] = {CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_UNMOVABLE},
    [CMA_MIGRATE_RECLAIMABLE] = {CMA_MIGRATE_UNMOVABLE, CMA_MIGRATE_MOVABLE},
};

/* ---- the list-and-counter helpers (the only writers of free_area / nr_free_buddy) ------------- */

void cma__freelist_add_locked(struct cma_mm *mm, uint32_t idx, unsigned order, unsigned mt, bool tail)
{
    struct cma_freelist *fl = &mm->free_area[order].lists[mt];
    struct cma_page *p = cma__page(mm, idx);

    cma__assert_locked(mm);
    p->order = (uint8_t)order;
    atomic_store_explicit(&p->ops, 0, memory_order_relaxed);
    atomic_store_explicit(&p->refs, 0, memory_order_relaxed);
    if (tail) {
        p->lo = CMA_IDX_NIL;
        p->hi = fl->tail;
        if (fl->tail != CMA_IDX_NIL)
            cma__page(mm, fl->tail)->lo = idx;
        else
            fl->head = idx;
        fl->tail = idx;
    } else {
        p->hi = CMA_IDX_NIL;
        p->lo = fl->head;
        if (fl->head != CMA_IDX_NIL)
            cma__page(mm, fl->head)->hi = idx;
        else
            fl->tail = idx;
        fl->head = idx;
    }
    cma__page_set_flags(p, PS_BUDDY);
    fl->nr++;
    mm->free_area[order].nr_free++;
    mm->nr_free_buddy[mt] += 1ull << order;
}

/* Unlinks a free head; its descriptor is left for the caller to rewrite (state becomes tail). */
void cma__freelist_del_locked(struct cma_mm *mm, uint32_t idx, unsigned order, unsigned mt)
{
    struct cma_freelist *fl = &mm->free_area[order].lists[mt];
    struct cma_page *p = cma__page(mm, idx);

    cma__assert_locked(mm);
    cma_assert_internal(cma__page_state(p) == PS_BUDDY && p->order == order);
    if (p->hi != CMA_IDX_NIL)
        cma__page(mm, p->hi)->lo = p->lo;
    else
        fl->head = p->lo;
    if (p->lo != CMA_IDX_NIL)
        cma__page(mm, p->lo)->hi = p->hi;
    else
        fl->tail = p->hi;
    cma__page_clear(p);
    fl->nr--;
    mm->free_area[order].nr_free--;
    mm->nr_free_buddy[mt] -= 1ull << order;
}

void cma__freelist_move_locked(struct cma_mm *mm, uint32_t idx, unsigned order, unsigned from,
                               unsigned to)
{
    cma__freelist_del_locked(mm, idx, order, from);
    cma__freelist_add_locked(mm, idx, order, to, true);
}

/* ---- split / merge -------------------------------------------------------------------------------- */

/* Returns the upper halves of a block of order `high` at idx down to order `low` to list mt heads
 * (Linux's expand). idx's own descriptor is untouched. Caller holds mm->lock. */
static void split_locked(struct cma_mm *mm, uint32_t idx, unsigned low, unsigned high, unsigned mt)
{
    while (high > low) {
        high--;
        cma__freelist_add_locked(mm, idx + (1u << high), high, mt, false);
    }
}

/* Relabels every pageblock of the block [pfn, pfn + 2^order) to mt; returns how many changed. */
static unsigned relabel_block_locked(struct cma_mm *mm, cma_pfn_t pfn, unsigned order, unsigned mt)
{
    unsigned changed = 0;
    uint64_t nr = order >= mm->pb_order ? 1ull << (order - mm->pb_order) : 1;
    for (uint64_t i = 0; i < nr; i++) {
        cma_pfn_t p = pfn + (i << mm->pb_order);
        if (cma__pb_stored_type(mm, p) != mt) {
            cma__pb_set_type_locked(mm, p, mt);
            changed++;
        }
    }
    return changed;
}

/* Frees one block whose covered pageblocks share one effective type. */
static void free_one_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pfn,
                            unsigned order, bool to_tail)
{
    unsigned mt = cma__pb_type(mm, pfn);
    cma_pfn_t span_end = s->base + s->npages;

    cma__page_clear(cma__page(mm, cma__span_idx(s, pfn)));
    while (order < mm->max_order) {
        cma_pfn_t buddy = pfn ^ (1ull << order);
        if (buddy < s->base || buddy + (1ull << order) > span_end)
            break;
        uint32_t bidx = cma__span_idx(s, buddy);
        struct cma_page *bp = cma__page(mm, bidx);
        if (cma__page_state(bp) != PS_BUDDY || bp->order != order)
            break;
        unsigned bmt = mt;
        if (order >= mm->pb_order) {
            /* Across pageblocks: only mergeable labels may mix, and isolated pageblocks stay
             * separate blocks (undo re-merges them), so isolation never has to split a block. */
            bmt = cma__pb_type(mm, buddy);
            if (mt == CMA_MIGRATE_ISOLATE || bmt == CMA_MIGRATE_ISOLATE ||
                (bmt != mt && (!cma__mt_mergeable(mt) || !cma__mt_mergeable(bmt))))
                break;
        }
        cma__freelist_del_locked(mm, bidx, order, bmt);
        if (bmt != mt)
            relabel_block_locked(mm, buddy, order, mt);
        pfn &= ~(1ull << order);
        order++;
    }

    cma_assert_internal(mt != CMA_MIGRATE_ISOLATE || order <= mm->pb_order);
    bool tail = to_tail;
    if (!tail && order + 1 < mm->max_order) {
        /* Merge likely soon if the next-larger block's buddy is already free: put this block at the
         * tail so it stays free longer. */
        cma_pfn_t higher = (pfn & ~(1ull << order)) ^ (1ull << (order + 1));
        if (higher >= s->base && higher + (1ull << (order + 1)) <= span_end) {
            struct cma_page *hp = cma__page(mm, cma__span_idx(s, higher));
            tail = cma__page_state(hp) == PS_BUDDY && hp->order == order + 1;
        }
    }
    cma__freelist_add_locked(mm, cma__span_idx(s, pfn), order, mt, tail);
}

void cma__free_block_locked(struct cma_mm *mm, cma_pfn_t pfn, unsigned order, bool to_tail)
{
    const struct cma_span *s = cma__span_of_pfn(mm, pfn);

    cma__assert_locked(mm);
    cma_assert(s && pfn + (1ull << order) <= s->base + s->npages);
    if (order > mm->pb_order) {
        uint64_t nr = 1ull << (order - mm->pb_order);
        unsigned mt0 = cma__pb_type(mm, pfn);
        bool same = true;
        for (uint64_t i = 1; i < nr && same; i++)
            same = cma__pb_type(mm, pfn + (i << mm->pb_order)) == mt0;
        if (!same || mt0 == CMA_MIGRATE_ISOLATE) {
            /* Each pageblock goes to its own list (docs/linux.md, "Split and merge"), and free
             * blocks of isolated pageblocks stay pageblock-sized (undo re-merges them). The
             * tails-to-be-heads are tails of the block being freed, so already zero. */
            for (uint64_t i = 0; i < nr; i++)
                free_one_locked(mm, s, pfn + (i << mm->pb_order), mm->pb_order, to_tail);
            return;
        }
    }
    free_one_locked(mm, s, pfn, order, to_tail);
}

void cma__free_all_unreserved(struct cma_mm *mm)
{
    cma__assert_locked(mm);
    for (unsigned i = 0; i < mm->nspans; i++) {
        const struct cma_span *s = &mm->spans[i];
        cma_pfn_t pfn = s->base, end = s->base + s->npages;
        while (pfn < end) {
            struct cma_page *p = cma__page(mm, cma__span_idx(s, pfn));
            if (cma__page_state(p) == PS_RESERVED) {
                pfn++;
                continue;
            }
            /* Largest aligned block that fits and holds no reserved page. */
            unsigned order = pfn ? cma__ffs64(pfn) : mm->max_order;
            if (order > mm->max_order)
                order = mm->max_order;
            while ((1ull << order) > end - pfn)
                order--;
            if (mm->nr_reserved) {
                for (uint64_t k = 1; k < (1ull << order); k++) {
                    if (cma__page_state(p + k) == PS_RESERVED) {
                        order = cma__fls64(k);
                        break;
                    }
                }
            }
            free_one_locked(mm, s, pfn, order, true);
            pfn += 1ull << order;
        }
    }
}

/* ---- removal ------------------------------------------------------------------------------------ */

/* Takes the smallest block of order >= `order` from lists of type mt and splits it. */
uint32_t cma__smallest_from_list_locked(struct cma_mm *mm, unsigned order, unsigned mt)
{
    for (unsigned o = order; o <= mm->max_order; o++) {
        uint32_t idx = mm->free_area[o].lists[mt].head;
        if (idx == CMA_IDX_NIL)
            continue;
        cma__freelist_del_locked(mm, idx, o, mt);
        split_locked(mm, idx, order, o, mt);
        return idx;
    }
    return CMA_IDX_NIL;
}

/* Linux's should_try_claim_block: is claiming a whole pageblock worthwhile at order o? */
static bool claim_worthwhile(const struct cma_mm *mm, unsigned o, unsigned mt)
{
    if (o >= mm->pb_order || o >= mm->pb_order / 2)
        return true;
    return mt == CMA_MIGRATE_UNMOVABLE || mt == CMA_MIGRATE_RECLAIMABLE;
}

/* -1: nothing at this order; -2: claiming not worthwhile; else the first fallback type with a block */
static int find_fallback(const struct cma_mm *mm, unsigned o, unsigned mt, bool claiming)
{
    if (mm->free_area[o].nr_free == 0)
        return -1;
    if (claiming && !claim_worthwhile(mm, o, mt))
        return -2;
    for (unsigned i = 0; i < 2; i++) {
        unsigned ft = fallback_table[mt][i];
        if (mm->free_area[o].lists[ft].nr)
            return (int)ft;
    }
    return -1;
}

/* Free and movable-in-use pages of the pageblock starting at pb (which lies inside span s). */
static void pageblock_occupancy(const struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pb,
                                uint64_t *freep, uint64_t *movablep)
{
    uint64_t nr = 1ull << mm->pb_order, free = 0, movable = 0;
    for (uint64_t off = 0; off < nr;) {
        const struct cma_page *p = cma__page(mm, cma__span_idx(s, pb + off));
        unsigned st = cma__page_state(p);
        uint64_t step = 1;
        if (st == PS_BUDDY) {
            step = 1ull << p->order;
            free += step;
        } else if (st == PS_ALLOC || st == PS_PCP || st == PS_CONTIG || st == PS_CLAIMED) {
            step = 1ull << p->order;
            if (st == PS_ALLOC && atomic_load_explicit(&((struct cma_page *)p)->ops, memory_order_relaxed))
                movable += step;
        }
        off += step;
    }
    *freep = free;
    *movablep = movable;
}

/* Moves every free block of the pageblock at pb from list `from` to `to` and relabels it. */
static void move_pageblock_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pb,
                                  unsigned from, unsigned to)
{
    uint64_t nr = 1ull << mm->pb_order;
    for (uint64_t off = 0; off < nr;) {
        uint32_t idx = cma__span_idx(s, pb + off);
        struct cma_page *p = cma__page(mm, idx);
        unsigned st = cma__page_state(p);
        uint64_t step = (st == PS_TAIL || st == PS_RESERVED) ? 1 : 1ull << p->order;
        if (st == PS_BUDDY)
            cma__freelist_move_locked(mm, idx, p->order, from, to);
        off += step;
    }
    cma__pb_set_type_locked(mm, pb, to);
}

/* Claim a whole pageblock of a fallback type for mt (Linux's __rmqueue_claim). */
static uint32_t claim_block_locked(struct cma_mm *mm, unsigned order, unsigned mt)
{
    uint64_t pb_nr = 1ull << mm->pb_order;
    for (int o = (int)mm->max_order; o >= (int)order; o--) {
        int ft = find_fallback(mm, (unsigned)o, mt, true);
        if (ft == -1)
            continue;
        if (ft == -2)
            break;
        uint32_t idx = mm->free_area[o].lists[ft].head;
        cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
        if ((unsigned)o >= mm->pb_order) {
            cma__freelist_del_locked(mm, idx, (unsigned)o, (unsigned)ft);
            mm->pageblocks_claimed += relabel_block_locked(mm, pfn, (unsigned)o, mt);
            split_locked(mm, idx, order, (unsigned)o, mt);
            mm->fallbacks++;
            return idx;
        }
        /* A piece of a pageblock: claim the whole block only if at least half of it is free or
         * already holds compatible allocations. */
        const struct cma_span *s = cma__span_of_pfn(mm, pfn);
        cma_pfn_t pb = pfn & ~(pb_nr - 1);
        if (pb < s->base || pb + pb_nr > s->base + s->npages)
            continue; /* pageblock straddles a hole: not ours to relabel */
        uint64_t free, movable, alike;
        pageblock_occupancy(mm, s, pb, &free, &movable);
        if (mt == CMA_MIGRATE_MOVABLE)
            alike = movable;
        else if (ft == CMA_MIGRATE_MOVABLE)
            alike = pb_nr - free - movable;
        else
            alike = 0;
        if (free + alike >= pb_nr / 2) {
            move_pageblock_locked(mm, s, pb, (unsigned)ft, mt);
            mm->pageblocks_claimed++;
            mm->fallbacks++;
            return cma__smallest_from_list_locked(mm, order, mt);
        }
    }
    return CMA_IDX_NIL;
}

/* Take a piece of a fallback block without relabelling anything (Linux's __rmqueue_steal). */
static uint32_t steal_locked(struct cma_mm *mm, unsigned order, unsigned mt)
{
    for (unsigned o = order; o <= mm->max_order; o++) {
        int ft = find_fallback(mm, o, mt, false);
        if (ft < 0)
            continue;
        uint32_t idx = mm->free_area[o].lists[ft].head;
        cma__freelist_del_locked(mm, idx, o, (unsigned)ft);
        split_locked(mm, idx, order, o, (unsigned)ft);
        mm->pages_stolen += 1ull << order;
        mm->fallbacks++;
        return idx;
    }
    return CMA_IDX_NIL;
}

/* Free pages visible to allocation (ISOLATE excluded), buddy lists only, as Linux's NR_FREE_PAGES. */
static uint64_t nr_free_visible(const struct cma_mm *mm)
{
    uint64_t n = 0;
    for (unsigned t = 0; t < CMA_MIGRATE_ISOLATE; t++)
        n += mm->nr_free_buddy[t];
    return n;
}

uint32_t cma__rmqueue_locked(struct cma_mm *mm, unsigned order, unsigned mt, bool alloc_cma,
                             int *mode_cache)
{
    int mode = mode_cache ? *mode_cache : RMQ_NORMAL;
    uint32_t idx;

    cma__assert_locked(mm);
    if (alloc_cma && mm->nr_free_buddy[CMA_MIGRATE_CMA] * 100 >
                         nr_free_visible(mm) * mm->cfg.cma_first_percent) {
        idx = cma__smallest_from_list_locked(mm, order, CMA_MIGRATE_CMA);
        if (idx != CMA_IDX_NIL)
            return idx;
    }
    switch (mode) {
    case RMQ_NORMAL:
        idx = cma__smallest_from_list_locked(mm, order, mt);
        if (idx != CMA_IDX_NIL)
            return idx;
        /* fall through */
    case RMQ_CMA:
        if (alloc_cma) {
            idx = cma__smallest_from_list_locked(mm, order, CMA_MIGRATE_CMA);
            if (idx != CMA_IDX_NIL) {
                mode = RMQ_CMA;
                goto out;
            }
        }
        /* fall through */
    case RMQ_CLAIM:
        idx = claim_block_locked(mm, order, mt);
        if (idx != CMA_IDX_NIL) {
            mode = RMQ_NORMAL; /* our own list was replenished */
            goto out;
        }
        /* fall through */
    case RMQ_STEAL:
        idx = steal_locked(mm, order, mt);
        if (idx != CMA_IDX_NIL) {
            mode = RMQ_STEAL;
            goto out;
        }
        break;
    }
    return CMA_IDX_NIL;
out:
    if (mode_cache)
        *mode_cache = mode;
    return idx;
}

/* ---- public allocation API ------------------------------------------------------------------------ */

static void zero_block(struct cma_mm *mm, cma_pfn_t pfn, unsigned order)
{
    void *p = cma_pfn_to_virt(mm, pfn);
    if (p)
        memset(p, 0, (size_t)mm->page_size << order);
}

/* ---- allocation below an address limit (dma.c) ----------------------------------------------------
 * libcma has no DMA/DMA32 zones: a device that reaches only the low part of memory gets a block from
 * the free lists whose every page lies below its limit. The lists of the requested type are searched
 * first, then its fallback types (a piece taken without relabelling, as a steal); never CMA or
 * isolated pageblocks. The search walks lists, so it costs more than cma_alloc_pages: the DMA layer
 * uses it only when the machine has memory above the limit.
 */
static uint32_t rmqueue_below_locked(struct cma_mm *mm, unsigned order, unsigned mt, cma_pfn_t limit)
{
    const unsigned types[3] = {mt, fallback_table[mt][0], fallback_table[mt][1]};
    for (unsigned o = order; o <= mm->max_order; o++) {
        for (unsigned k = 0; k < 3; k++) {
            const struct cma_freelist *fl = &mm->free_area[o].lists[types[k]];
            for (uint32_t idx = fl->head; idx != CMA_IDX_NIL; idx = cma__page(mm, idx)->lo) {
                cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
                if (pfn + (1ull << order) > limit)
                    continue; /* the lower 2^order pages are what we keep after the split */
                cma__freelist_del_locked(mm, idx, o, types[k]);
                split_locked(mm, idx, order, o, types[k]);
                if (k) {
                    mm->fallbacks++;
                    mm->pages_stolen += 1ull << order;
                }
                return idx;
            }
        }
    }
    return CMA_IDX_NIL;
}

/* A block from the buddy lists (every page below limit unless limit is CMA_PFN_NONE), after draining
 * every CPU cache once if none is free: blocks may hide there. */
static int buddy_take(struct cma_mm *mm, unsigned order, unsigned gfp, cma_pfn_t limit, cma_pfn_t *pfnp)
{
    unsigned mt = gfp & CMA_GFP_MOBILITY_MASK; /* gfp mobility values equal the migrate types */
    uint32_t idx = CMA_IDX_NIL;
    cma_pfn_t pfn = CMA_PFN_NONE;
    for (int pass = 0; idx == CMA_IDX_NIL && pass < 2; pass++) {
        if (pass == 1)
            cma__pcp_drain_all(mm); /* free blocks may hide in other CPUs' caches */
        cma__mm_lock(mm);
        idx = limit == CMA_PFN_NONE ? cma__rmqueue_locked(mm, order, mt, mt == CMA_MIGRATE_MOVABLE, NULL)
                                    : rmqueue_below_locked(mm, order, mt, limit);
        if (idx != CMA_IDX_NIL) {
            struct cma_page *p = cma__page(mm, idx);
            p->order = (uint8_t)order;
            cma__page_set_flags(p, PS_ALLOC);
            pfn = cma__idx_to_pfn(mm, idx);
            mm->pgalloc++;
            mm->pgalloc_pages += 1ull << order;
        } else if (pass == 1) {
            mm->alloc_fail++;
        }
        cma__mm_unlock(mm);
    }
    if (idx == CMA_IDX_NIL)
        return -CMA_ENOMEM;
    if (gfp & CMA_GFP_ZERO)
        zero_block(mm, pfn, order);
    *pfnp = pfn;
    return 0;
}

int cma_alloc_pages(struct cma_mm *mm, unsigned order, unsigned gfp, cma_pfn_t *pfnp)
{
    if (pfnp)
        *pfnp = CMA_PFN_NONE;
    if (!mm || !pfnp || order > mm->max_order || (gfp & ~(CMA_GFP_MOBILITY_MASK | CMA_GFP_ZERO)) ||
        (gfp & CMA_GFP_MOBILITY_MASK) == CMA_GFP_MOBILITY_MASK)
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;

    if (order <= CMA_PCP_MAX_ORDER) {
        cma_pfn_t pfn = CMA_PFN_NONE;
        unsigned mt = gfp & CMA_GFP_MOBILITY_MASK; /* gfp mobility values equal the migrate types */
        if (cma__pcp_alloc(mm, order, mt, &pfn) != CMA_IDX_NIL) {
            if (gfp & CMA_GFP_ZERO)
                zero_block(mm, pfn, order);
            *pfnp = pfn;
            return 0;
        }
    }
    return buddy_take(mm, order, gfp, CMA_PFN_NONE, pfnp);
}

int cma__alloc_pages_below(struct cma_mm *mm, unsigned order, unsigned gfp, cma_pfn_t limit,
                           cma_pfn_t *pfnp)
{
    const struct cma_span *last = &mm->spans[mm->nspans - 1];
    if (last->base + last->npages <= limit)
        return cma_alloc_pages(mm, order, gfp, pfnp); /* every page is below the limit */
    cma_assert((gfp & CMA_GFP_MOBILITY_MASK) != CMA_MIGRATE_MOVABLE && order <= mm->max_order);
    return buddy_take(mm, order, gfp, limit, pfnp);
}

/* Why a free of (pfn, order) whose head descriptor reads f is refused, or 0 if it may proceed. */
static int free_refusal(const struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pfn,
                        const struct cma_page *p, uint8_t f, unsigned order)
{
    switch (f & PS_MASK) {
    case PS_ALLOC:
        if (p->order != order)
            return -CMA_EINVAL;
        return (f & (PF_MIGRATING | PF_PINNED | PF_REFD)) ? -CMA_EBUSY : 0;
    case PS_TAIL: {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        unsigned st = idx == CMA_IDX_NIL ? PS_TAIL : cma__page_state(cma__page(mm, idx));
        /* inside a live buddy allocation: wrong pfn/order; inside free or foreign memory: misuse */
        return st == PS_ALLOC ? -CMA_EINVAL : -CMA_EFAULT;
    }
    default: /* PS_BUDDY, PS_PCP: double free; PS_RESERVED, PS_CONTIG, PS_CLAIMED: not a buddy
              * allocation */
        return -CMA_EFAULT;
    }
}

int cma_free_pages(struct cma_mm *mm, cma_pfn_t pfn, unsigned order)
{
    if (!mm)
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;
    if (order > mm->max_order || (pfn & ((1ull << order) - 1)))
        goto bad_einval;
    const struct cma_span *s = cma__span_of_pfn(mm, pfn);
    if (!s || pfn + (1ull << order) > s->base + s->npages)
        goto bad_einval;

    uint32_t idx = cma__span_idx(s, pfn);
    struct cma_page *p = cma__page(mm, idx);
    for (;;) {
        uint8_t f = cma__page_flags(p);
        int r = free_refusal(mm, s, pfn, p, f, order);
        if (r) {
            atomic_fetch_add_explicit(&mm->bad_frees, 1, memory_order_relaxed);
            return r;
        }
        if (order <= CMA_PCP_MAX_ORDER) {
            r = cma__pcp_free(mm, idx, pfn, order, f);
            if (r == 0)
                return 0;
            if (r == -CMA_EAGAIN)
                continue; /* the page changed state under us: classify again */
        }
        /* Straight to the buddy: larger orders, isolated pageblocks, or a contended cache. */
        cma__mm_lock(mm);
        if (!atomic_compare_exchange_strong_explicit(&p->flags, &f, 0, memory_order_acq_rel,
                                                     memory_order_relaxed)) {
            cma__mm_unlock(mm);
            continue;
        }
        cma__free_block_locked(mm, pfn, order, false);
        mm->pgfree++;
        mm->pgfree_pages += 1ull << order;
        cma__mm_unlock(mm);
        return 0;
    }
bad_einval:
    atomic_fetch_add_explicit(&mm->bad_frees, 1, memory_order_relaxed);
    return -CMA_EINVAL;
}
