/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/unit_util.h - looking at the buddy lists from the inside, shared by the unit tests of
 * the page allocator (test_buddy.c, test_fallback.c). Callers hold mm->lock or own the machine alone.
 */
#ifndef CMA_TEST_UNIT_UTIL_H
#define CMA_TEST_UNIT_UTIL_H

#include "internal/internal.h"

static inline struct cma_page *pg(const struct cma_mm *mm, cma_pfn_t pfn)
{
    return cma__page(mm, cma__pfn_idx(mm, pfn));
}

/* The pfn of a memory-map index, CMA_PFN_NONE for CMA_IDX_NIL. */
static inline cma_pfn_t pfn_of(const struct cma_mm *mm, uint32_t idx)
{
    return idx == CMA_IDX_NIL ? CMA_PFN_NONE : cma__idx_to_pfn(mm, idx);
}

/* First / last block on the (order o, type t) list, CMA_PFN_NONE when empty. */
static inline cma_pfn_t head_pfn(const struct cma_mm *mm, unsigned o, unsigned t)
{
    return pfn_of(mm, mm->free_area[o].lists[t].head);
}

static inline cma_pfn_t tail_pfn(const struct cma_mm *mm, unsigned o, unsigned t)
{
    return pfn_of(mm, mm->free_area[o].lists[t].tail);
}

/* Blocks on the (order o, type t) list. */
static inline uint64_t nr(const struct cma_mm *mm, unsigned o, unsigned t)
{
    return mm->free_area[o].lists[t].nr;
}

/* Free pages on every buddy list. */
static inline uint64_t total_free(const struct cma_mm *mm)
{
    uint64_t n = 0;
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        n += mm->nr_free_buddy[t];
    return n;
}

#endif
