/* SPDX-License-Identifier: MIT */
/*
 * pageblock.c - migrate-type labels of pageblocks.
 *
 * One byte per pageblock from the first to the last present page: bits 0..2 the stored type, bit 3
 * "isolated" (kept apart from the type, as in current Linux, so isolation never loses the type it
 * must restore), bit 7 "no present page". Reads are lock-free atomic byte loads (the pcp free path
 * reads under its own lock only); writes happen under mm->lock and keep pb_count[] — pageblocks per
 * effective type, isolated ones counted as ISOLATE — exact.
 *
 * These helpers only relabel: moving the free pages of a relabelled block between lists is the
 * caller's job (page_alloc.c, isolation), done under the same lock hold.
 */
#include "internal/internal.h"

static unsigned effective(uint8_t v)
{
    return (v & PB_ISOLATE) ? CMA_MIGRATE_ISOLATE : (v & PB_TYPE_MASK);
}

static void pb_store_locked(struct cma_mm *mm, cma_pfn_t pfn, uint8_t nv)
{
    _Atomic uint8_t *slot = cma__pb_slot(mm, pfn);
    uint8_t ov = atomic_load_explicit(slot, memory_order_relaxed);
    cma__assert_locked(mm);
    cma_assert(!(ov & PB_HOLE));
    mm->pb_count[effective(ov)]--;
    mm->pb_count[effective(nv)]++;
    atomic_store_explicit(slot, nv, memory_order_release);
}

void cma__pb_set_type_locked(struct cma_mm *mm, cma_pfn_t pfn, unsigned mt)
{
    uint8_t ov = cma__pb_raw(mm, pfn);
    cma_assert(mt < CMA_MIGRATE_ISOLATE);
    pb_store_locked(mm, pfn, (uint8_t)((ov & ~PB_TYPE_MASK) | mt));
}

void cma__pb_set_isolate_locked(struct cma_mm *mm, cma_pfn_t pfn, bool isolate)
{
    uint8_t ov = cma__pb_raw(mm, pfn);
    pb_store_locked(mm, pfn, (uint8_t)(isolate ? (ov | PB_ISOLATE) : (ov & ~PB_ISOLATE)));
}

void cma__pb_init(struct cma_mm *mm)
{
    for (uint64_t i = 0; i < mm->nr_pageblocks; i++)
        atomic_store_explicit(&mm->pageblocks[i], PB_HOLE, memory_order_relaxed);
    for (unsigned o = 0; o < CMA_MIGRATE_TYPES; o++)
        mm->pb_count[o] = 0;
    for (unsigned i = 0; i < mm->nspans; i++) {
        const struct cma_span *s = &mm->spans[i];
        uint64_t first = s->base >> mm->pb_order, last = (s->base + s->npages - 1) >> mm->pb_order;
        for (uint64_t b = first; b <= last; b++) {
            _Atomic uint8_t *slot = &mm->pageblocks[b - mm->pb_first];
            if (atomic_load_explicit(slot, memory_order_relaxed) & PB_HOLE) {
                atomic_store_explicit(slot, CMA_MIGRATE_MOVABLE, memory_order_relaxed);
                mm->pb_count[CMA_MIGRATE_MOVABLE]++;
            }
        }
    }
}

int cma_pageblock_type(const struct cma_mm *mm, cma_pfn_t pfn)
{
    if (!mm || !mm->online || !cma__span_of_pfn(mm, pfn))
        return -CMA_EINVAL;
    return (int)cma__pb_type(mm, pfn);
}
