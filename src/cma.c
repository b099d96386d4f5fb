/* SPDX-License-Identifier: MIT */
/*
 * cma.c - CMA areas: declaration at boot, activation at online, cma_alloc / cma_release /
 * cma_alloc_bulk, per-area counters and the debug dump.
 *
 * An area is one pageblock- and max-order-aligned range reserved from memblock. At online its
 * pageblocks are labelled CMA and its pages go to the buddy allocator, where only movable
 * allocations may use them. A bitmap (one bit per 2^order_per_bit pages) records what cma_alloc
 * handed out.
 *
 * cma_alloc claims a window in the bitmap under the area lock *before* clearing it, so concurrent
 * callers never work on overlapping windows, and runs the expensive range work without that lock;
 * one allocator per area at a time (alloc_lock: windows of one area may share a pageblock, whose
 * isolation cannot be shared), areas in parallel. Two policies:
 *
 *   CMA_POLICY_LINUX   Linux's choices, kept for honest comparison: the lowest free window; CMA
 *                      pageblocks are trusted at isolation, so an unmovable page is found only after
 *                      everything else in the window was migrated; when the window is busy, release
 *                      it and retry one alignment step further (so one pinned page costs a
 *                      re-isolation and re-migration per step); clean pages are migrated, never
 *                      dropped.
 *   CMA_POLICY_DEFAULT libcma: candidate windows are priced before anything moves. A window holding
 *                      an unmovable, pinned or contiguously allocated page is excluded and the search
 *                      skips past that page; otherwise its cost is the pages to copy (4 per page + 1
 *                      per block), 1 per clean discardable block, a large penalty for blocks with
 *                      short-term references (excluded outright in a first pass: a reference tends to
 *                      outlive five migration rounds). A free window (cost 0) is taken at once;
 *                      otherwise the cheapest of the first 8 viable, non-overlapping windows. Pricing
 *                      stops once a window cannot beat the best so far. If clearing still fails, every
 *                      page that blocked it is remembered for the rest of the call and the search
 *                      restarts from the bottom, skipping windows that hold one. Clean blocks whose
 *                      owner can discard them are dropped instead of copied (can be disabled).
 *
 * Errors: -ENOSPC when no free window of the size exists (also the fast failure when the area's
 * available count is below the request), -EBUSY when every candidate window was blocked, -ENOMEM
 * when migration found no target memory.
 */
#include "internal/internal.h"

/* ---- bitmap ---------------------------------------------------------------------------------- */

static bool bit_test(const uint64_t *map, uint64_t b) { return (map[b / 64] >> (b % 64)) & 1; }

/* First bit in [start, size) equal to `val`, or size. */
static uint64_t find_next(const uint64_t *map, uint64_t size, uint64_t start, bool val)
{
    while (start < size) {
        uint64_t w = map[start / 64];
        if (!val)
            w = ~w;
        w &= ~0ull << (start % 64);
        if (w) {
            uint64_t b = (start & ~63ull) + cma__ffs64(w);
            return b < size ? b : size;
        }
        start = (start & ~63ull) + 64;
    }
    return size;
}

/* Sets (val) or clears bits [b, b + n), a word at a time. */
static void bits_assign(uint64_t *map, uint64_t b, uint64_t n, bool val)
{
    while (n) {
        uint64_t off = b % 64, take = 64 - off < n ? 64 - off : n;
        uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << off;
        if (val)
            map[b / 64] |= mask;
        else
            map[b / 64] &= ~mask;
        b += take;
        n -= take;
    }
}

/* First window of nr zero bits at or after start whose index + offset is a multiple of mask + 1;
 * returns size or more when there is none. */
static uint64_t find_zero_area(const uint64_t *map, uint64_t size, uint64_t start, uint64_t nr,
                               uint64_t mask, uint64_t offset)
{
    for (;;) {
        uint64_t i = find_next(map, size, start, false);
        i = ((i + offset + mask) & ~mask) - offset;
        if (i + nr > size)
            return size;
        uint64_t j = find_next(map, i + nr, i, true);
        if (j >= i + nr)
            return i;
        start = j + 1;
    }
}

/* ---- declaration and activation -------------------------------------------------------------- */

/* Pages found busy during one cma_alloc call: windows containing one are not tried again. The
 * array (area->busy) is allocated before the area's first allocation takes its locks and kept. */
#define BUSY_MAX 4096

static uint64_t min_alignment(const struct cma_mm *mm)
{
    unsigned o = mm->pb_order > mm->max_order ? mm->pb_order : mm->max_order;
    return mm->page_size << o;
}

static int check_name(const struct cma_mm *mm, const char *name)
{
    if (strlen(name) > CMA_AREA_NAME_MAX)
        return -CMA_ENAMETOOLONG;
    for (unsigned i = 0; i < mm->nr_areas; i++)
        if (!strcmp(mm->areas[i]->name, name))
            return -CMA_EEXIST;
    return 0;
}

/* Finds room for a dynamic area: above 4 GiB bottom-up first when the limit allows (keeps CMA out
 * of the DMA32 range and low in memory, as Linux does), then anywhere below limit. */
static int place_dynamic_locked(struct cma_mm *mm, uint64_t size, uint64_t align, cma_phys_t limit,
                                cma_phys_t *basep)
{
    const cma_phys_t four_g = 4ull << 30;
    if (limit >= four_g + size) {
        bool saved = mm->mb.bottom_up;
        mm->mb.bottom_up = true;
        int r = cma__memblock_alloc_range(&mm->mb, size, align, four_g, limit, basep);
        mm->mb.bottom_up = saved;
        if (r == 0)
            return 0;
    }
    return cma__memblock_alloc_range(&mm->mb, size, align, 0, limit, basep);
}

/* A declaration checked and rounded under mm->lock: the area's memory is then allocated with the lock
 * dropped (the host's allocator is never called under a libcma lock) and the plan checked again. */
struct declare_plan {
    char name[CMA_AREA_NAME_MAX + 1];
    uint64_t size, align, pages;
    cma_phys_t limit;
};

static int declare_plan_locked(const struct cma_mm *mm, const char *name, uint64_t size,
                               cma_phys_t base, cma_phys_t limit, uint64_t alignment,
                               unsigned order_per_bit, struct declare_plan *p)
{
    int r;
    if (mm->nr_areas == CMA_MAX_AREAS)
        return -CMA_ENOSPC;
    if (!name || !*name) {
        cma__format(p->name, sizeof p->name, "cma%u", mm->nr_areas);
        name = p->name;
    }
    if ((r = check_name(mm, name)))
        return r;
    if (name != p->name)
        memcpy(p->name, name, strlen(name) + 1);
    if (!size || (alignment && !cma__is_pow2(alignment)) || order_per_bit > 30)
        return -CMA_EINVAL;
    p->align = alignment > min_alignment(mm) ? alignment : min_alignment(mm);
    if (base & (p->align - 1))
        return -CMA_EINVAL;
    if (size > UINT64_MAX - p->align)
        return -CMA_EINVAL;
    p->size = (size + p->align - 1) & ~(p->align - 1);
    p->limit = limit & ~(p->align - 1);
    p->pages = p->size >> mm->page_shift;
    if (p->pages & ((1ull << order_per_bit) - 1))
        return -CMA_EINVAL;
    return 0;
}

static uint64_t bitmap_bytes(const struct cma_area *a) { return (a->nbits + 63) / 64 * 8; }

/* An area's struct, bitmap and locks (no lock held); area_delete undoes it. */
static int area_new(struct cma_mm *mm, uint64_t pages, unsigned order_per_bit, struct cma_area **ap)
{
    struct cma_area *a = cma__host_alloc(&mm->host, sizeof *a);
    int r = -CMA_ENOMEM;
    *ap = NULL;
    if (!a)
        return r;
    a->mm = mm;
    a->nbits = pages >> order_per_bit;
    a->bitmap = cma__host_alloc(&mm->host, bitmap_bytes(a));
    if (!a->bitmap || (r = cma__lock_init(&mm->host, &a->lock))) {
        cma__host_free(&mm->host, a->bitmap, bitmap_bytes(a));
        cma__host_free(&mm->host, a, sizeof *a);
        return r;
    }
    if ((r = cma__mutex_init(&mm->host, &a->alloc_lock))) {
        cma__lock_fini(&mm->host, &a->lock);
        cma__host_free(&mm->host, a->bitmap, bitmap_bytes(a));
        cma__host_free(&mm->host, a, sizeof *a);
        return r;
    }
    *ap = a;
    return 0;
}

static void area_delete(struct cma_mm *mm, struct cma_area *a)
{
    cma__lock_fini(&mm->host, &a->lock);
    cma__mutex_fini(&mm->host, &a->alloc_lock);
    cma__host_free(&mm->host, atomic_load_explicit(&a->busy, memory_order_relaxed),
                   BUSY_MAX * sizeof(cma_pfn_t));
    cma__host_free(&mm->host, a->bitmap, bitmap_bytes(a));
    cma__host_free(&mm->host, a, sizeof *a);
}

/* Places the planned area (fixed at base, or found below the limit) and installs a. */
static int declare_commit_locked(struct cma_mm *mm, const struct declare_plan *p, cma_phys_t base,
                                 unsigned order_per_bit, struct cma_area *a)
{
    const struct cma_mb_type *mem = &mm->mb.memory;
    cma_phys_t limit = p->limit;
    int r;
    if (!mem->cnt)
        return -CMA_ENOMEM;
    cma_phys_t dram_end = mem->regions[mem->cnt - 1].base + mem->regions[mem->cnt - 1].size;
    if (!limit || limit > dram_end)
        limit = dram_end;
    if (base) {
        if (base + p->size < base || base + p->size > limit ||
            !cma__memblock_is_memory(&mm->mb, base, p->size))
            return -CMA_EINVAL;
        if (cma__memblock_is_reserved(&mm->mb, base, p->size))
            return -CMA_EBUSY;
        if ((r = cma__memblock_reserve(&mm->mb, base, p->size)))
            return r;
    } else if ((r = place_dynamic_locked(mm, p->size, p->align, limit, &base))) {
        return r == -CMA_EINVAL ? -CMA_ENOMEM : r;
    }
    memcpy(a->name, p->name, sizeof a->name);
    a->base_pfn = base >> mm->page_shift;
    a->count = p->pages;
    a->order_per_bit = order_per_bit;
    a->available = p->pages;
    a->policy = CMA_POLICY_DEFAULT;
    a->discard = true;
    mm->areas[mm->nr_areas++] = a;
    mm->metadata_bytes += sizeof *a + bitmap_bytes(a);
    return 0;
}

int cma_declare_contiguous(struct cma_mm *mm, const char *name, uint64_t size, cma_phys_t base,
                           cma_phys_t limit, uint64_t alignment, unsigned order_per_bit,
                           struct cma_area **areap)
{
    struct declare_plan plan;
    struct cma_area *a = NULL;
    int r;
    if (!mm)
        return -CMA_EINVAL;
    for (;;) {
        if ((r = cma__mm_lock_boot(mm)))
            break;
        r = declare_plan_locked(mm, name, size, base, limit, alignment, order_per_bit, &plan);
        if (!r && a) { /* a was sized from these same arguments */
            cma_assert_internal(a->nbits == plan.pages >> order_per_bit);
            r = declare_commit_locked(mm, &plan, base, order_per_bit, a);
            cma__mm_unlock(mm);
            break;
        }
        cma__mm_unlock(mm);
        if (r || (r = area_new(mm, plan.pages, order_per_bit, &a)))
            break;
    }
    if (r) {
        if (a)
            area_delete(mm, a);
        return r;
    }
    if (areap)
        *areap = a;
    cma__log(&mm->host, CMA_LOG_INFO, "cma: Reserved %llu MiB at 0x%llx for %s",
             (unsigned long long)(plan.size >> 20),
             (unsigned long long)(a->base_pfn << mm->page_shift), a->name);
    return 0;
}

bool cma__pfn_in_area(const struct cma_mm *mm, cma_pfn_t pfn)
{
    for (unsigned i = 0; i < mm->nr_areas; i++)
        if (pfn - mm->areas[i]->base_pfn < mm->areas[i]->count)
            return true;
    return false;
}

cma_pfn_t cma__area_end_containing(const struct cma_mm *mm, cma_pfn_t pfn)
{
    for (unsigned i = 0; i < mm->nr_areas; i++)
        if (pfn - mm->areas[i]->base_pfn < mm->areas[i]->count)
            return mm->areas[i]->base_pfn + mm->areas[i]->count;
    return 0;
}

void cma__areas_activate_locked(struct cma_mm *mm)
{
    for (unsigned i = 0; i < mm->nr_areas; i++) {
        const struct cma_area *a = mm->areas[i];
        for (uint64_t off = 0; off < a->count; off += 1ull << mm->pb_order)
            cma__pb_set_type_locked(mm, a->base_pfn + off, CMA_MIGRATE_CMA);
    }
}

void cma__areas_fini(struct cma_mm *mm)
{
    for (unsigned i = 0; i < mm->nr_areas; i++) {
        area_delete(mm, mm->areas[i]);
        mm->areas[i] = NULL;
    }
    mm->nr_areas = 0;
}

/* ---- lookups and settings -------------------------------------------------------------------- */

struct cma_area *cma_area_lookup(struct cma_mm *mm, const char *name)
{
    if (!mm || !name)
        return NULL;
    for (unsigned i = 0; i < mm->nr_areas; i++)
        if (!strcmp(mm->areas[i]->name, name))
            return mm->areas[i];
    return NULL;
}

struct cma_area *cma_area_at(struct cma_mm *mm, unsigned i)
{
    return mm && i < mm->nr_areas ? mm->areas[i] : NULL;
}

const char *cma_area_name(const struct cma_area *area) { return area ? area->name : NULL; }

int cma_area_set_policy(struct cma_area *area, enum cma_policy policy)
{
    if (!area || (policy != CMA_POLICY_DEFAULT && policy != CMA_POLICY_LINUX))
        return -CMA_EINVAL;
    cma__mutex_lock(&area->mm->host, &area->alloc_lock);
    area->policy = policy;
    cma__mutex_unlock(&area->mm->host, &area->alloc_lock);
    return 0;
}

int cma_area_set_discard(struct cma_area *area, bool enable)
{
    if (!area)
        return -CMA_EINVAL;
    cma__mutex_lock(&area->mm->host, &area->alloc_lock);
    area->discard = enable;
    cma__mutex_unlock(&area->mm->host, &area->alloc_lock);
    return 0;
}

/* ---- allocation ------------------------------------------------------------------------------- */

struct window_cost {
    bool excluded;
    cma_pfn_t blocker;
    uint64_t cost;
};

/* Prices clearing [from, to) (inside span s). Caller holds mm->lock.
 * In a half-full window free and allocated blocks alternate at random, so the common cases (free,
 * or plain movable: no reference, pin, clean mark or migration in progress) are priced without a
 * branch on which of the two it is; everything else takes the one rarely-taken branch. */
static void window_cost_locked(const struct cma_mm *mm, const struct cma_span *s, cma_pfn_t from,
                               cma_pfn_t to, bool discard, bool refs_exclude, uint64_t limit,
                               struct window_cost *wc)
{
    wc->excluded = false;
    wc->cost = 0;
    /* Stops early once the cost reaches limit (the best window so far): this window cannot win. */
    for (cma_pfn_t pfn = from; pfn < to && wc->cost < limit;) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        const struct cma_page *p = idx == CMA_IDX_NIL ? NULL : cma__page(mm, idx);
        uint8_t f = p ? cma__page_flags(p) : PS_RESERVED;
        unsigned st = f & PS_MASK;
        unsigned slot = p ? atomic_load_explicit(&((struct cma_page *)p)->ops, memory_order_relaxed) : 0;
        uint64_t n = p ? 1ull << p->order : 1;
        bool alloc = st == PS_ALLOC;
        bool plain = st == PS_BUDDY || st == PS_PCP ||
                     (alloc && slot && !(f & (PF_PINNED | PF_REFD | PF_MIGRATING | PF_CLEAN)));
        if (__builtin_expect(plain, 1)) {
            wc->cost += (4 * n + 1) & (0 - (uint64_t)alloc); /* a copy for a movable block, 0 free */
        } else if (alloc) {
            if (!slot || (f & PF_PINNED)) {
                wc->excluded = true;
            } else if (discard && (f & PF_CLEAN) && mm->ops_table[slot]->discard) {
                wc->cost += 1;
            } else if ((f & (PF_REFD | PF_MIGRATING)) && refs_exclude) {
                wc->excluded = true;
            } else {
                wc->cost += 4 * n + 1;
                if (f & (PF_REFD | PF_MIGRATING))
                    wc->cost += 1024;
            }
        } else if (st == PS_CONTIG || st == PS_RESERVED || st == PS_CLAIMED) {
            wc->excluded = true;
        }
        if (wc->excluded) {
            wc->blocker = pfn;
            return;
        }
        pfn = p ? cma__block_end(head, p) : pfn + 1;
    }
}

struct alloc_ctx {
    struct cma_area *area;
    uint64_t count, nbits, mask, offset;
    uint64_t start_bit;    /* where the search begins (bulk keeps a cursor) */
    struct cma__contig_req req;
    cma_pfn_t pfn;         /* out */
    uint64_t resume_bit;   /* out: where a following bulk allocation resumes: the lowest viable
                              window not taken, or one past the allocated window */
};

static cma_pfn_t bit_pfn(const struct cma_area *a, uint64_t bit) { return a->base_pfn + (bit << a->order_per_bit); }

/* Claims the window at bit (area->lock held), clears it (lock dropped), gives it back on failure. */
static int try_window(struct alloc_ctx *c, uint64_t bit)
{
    struct cma_area *a = c->area;
    struct cma_mm *mm = a->mm;
    bits_assign(a->bitmap, bit, c->nbits, true);
    a->available -= c->count;
    cma__unlock(&mm->host, &a->lock);

    cma_pfn_t pfn = bit_pfn(a, bit);
    c->req.cma_mode = true;
    c->req.allow_discard = a->policy == CMA_POLICY_DEFAULT && a->discard;
    c->req.linux_mode = a->policy == CMA_POLICY_LINUX;
    int r = cma__alloc_contig_range(mm, pfn, pfn + c->count, &c->req);

    cma__lock(&mm->host, &a->lock);
    if (r == 0) {
        c->pfn = pfn;
        if (c->resume_bit == UINT64_MAX || c->resume_bit > bit)
            c->resume_bit = bit + c->nbits;
        return 0;
    }
    bits_assign(a->bitmap, bit, c->nbits, false);
    a->available += c->count;
    return r;
}

/* Linux's loop. Called and returns with area->lock held. */
static int alloc_linux(struct alloc_ctx *c)
{
    struct cma_area *a = c->area;
    uint64_t start = c->start_bit;
    int ret = -CMA_ENOSPC;
    for (;;) {
        if (c->count > a->available)
            return ret;
        uint64_t bit = find_zero_area(a->bitmap, a->nbits, start, c->nbits, c->mask, c->offset);
        if (bit + c->nbits > a->nbits)
            return ret;
        int r = try_window(c, bit);
        if (r != -CMA_EBUSY)
            return r;
        ret = r;
        a->retries++;
        start = bit + c->mask + 1; /* one alignment step further, overlapping the busy window */
    }
}

struct busy_set {
    cma_pfn_t *pfn; /* from the host on the first failure; NULL until then */
    unsigned n;
};

/* The highest known-busy pfn in [from, to), or CMA_PFN_NONE. */
static cma_pfn_t busy_in(const struct busy_set *b, cma_pfn_t from, cma_pfn_t to)
{
    cma_pfn_t hit = CMA_PFN_NONE;
    for (unsigned i = 0; i < b->n; i++)
        if (b->pfn[i] >= from && b->pfn[i] < to && (hit == CMA_PFN_NONE || b->pfn[i] > hit))
            hit = b->pfn[i];
    return hit;
}

/* Adds the obstacles a failed window reported; returns how many were new. */
static unsigned busy_learn(struct busy_set *b, const struct cma__contig_req *req, cma_pfn_t from,
                           cma_pfn_t to)
{
    unsigned added = 0;
    if (!b->pfn)
        return 0;
    for (unsigned i = 0; i < req->nbusy && b->n < BUSY_MAX; i++)
        if (req->busy_list[i] >= from && req->busy_list[i] < to &&
            busy_in(b, req->busy_list[i], req->busy_list[i] + 1) == CMA_PFN_NONE) {
            b->pfn[b->n++] = req->busy_list[i];
            added++;
        }
    return added;
}

/* libcma's loop. Called and returns with area->lock held.
 * First pass: windows with short-term references are excluded like unmovable ones (a reference
 * usually outlives five migration rounds); if no window is left, a second pass allows them. After a
 * failed window its obstacles are remembered and the search restarts from the beginning, so lower
 * windows passed over for a cheaper one get their chance. */
static int alloc_default_learn(struct alloc_ctx *c, struct busy_set *bs)
{
    struct cma_area *a = c->area;
    struct cma_mm *mm = a->mm;
    const struct cma_span *s = cma__span_of_pfn(mm, a->base_pfn);
    const uint64_t stride = (c->nbits + c->mask) & ~c->mask;
    bool refs_exclude = true;
    uint64_t start = c->start_bit;
    int ret = -CMA_ENOSPC;
    for (;;) {
        uint64_t best = UINT64_MAX, best_cost = UINT64_MAX, next = start, lowest = UINT64_MAX;
        unsigned viable = 0;
        bool any = false;
        if (c->count > a->available)
            return ret;
        while (viable < 8) {
            uint64_t bit = find_zero_area(a->bitmap, a->nbits, next, c->nbits, c->mask, c->offset);
            if (bit + c->nbits > a->nbits)
                break;
            struct window_cost wc = {.excluded = false};
            cma_pfn_t wfrom = bit_pfn(a, bit), wto = wfrom + c->count;
            any = true;
            wc.blocker = busy_in(bs, wfrom, wto);
            if (wc.blocker != CMA_PFN_NONE) {
                wc.excluded = true;
            } else {
                cma__mm_lock(mm);
                window_cost_locked(mm, s, wfrom, wto, a->discard, refs_exclude, best_cost, &wc);
                cma__mm_unlock(mm);
            }
            if (wc.excluded) { /* skip past the page in the way */
                next = ((wc.blocker - a->base_pfn) >> a->order_per_bit) + 1;
                continue;
            }
            viable++;
            if (lowest == UINT64_MAX)
                lowest = bit;
            if (wc.cost < best_cost) {
                best = bit;
                best_cost = wc.cost;
            }
            if (wc.cost == 0)
                break;
            next = bit + stride;
        }
        if (best == UINT64_MAX) {
            if (refs_exclude && any) {
                refs_exclude = false;
                continue;
            }
            return any ? -CMA_EBUSY : ret;
        }
        c->resume_bit = lowest < best ? lowest : UINT64_MAX; /* a cheaper pick leaves lower windows */
        int r = try_window(c, best);
        if (r != -CMA_EBUSY)
            return r;
        ret = r;
        a->retries++;
        cma_pfn_t wfrom = bit_pfn(a, best);
        if (busy_learn(bs, &c->req, wfrom, wfrom + c->count))
            start = c->start_bit;
        else
            start = best + 1; /* nothing learnt (or no memory for the set): move on */
    }
}

static int alloc_default(struct alloc_ctx *c)
{
    struct busy_set busy = {.pfn = atomic_load_explicit(&c->area->busy, memory_order_acquire), .n = 0};
    return alloc_default_learn(c, &busy);
}

/* The area's busy-page array, allocated on its first allocation with no lock held (kept until the
 * machine is destroyed); without memory for it, failed windows are simply not remembered. */
static void area_busy_prepare(struct cma_area *a)
{
    cma_pfn_t *none = NULL, *p;
    if (atomic_load_explicit(&a->busy, memory_order_acquire))
        return;
    p = cma__host_alloc(&a->mm->host, BUSY_MAX * sizeof *p);
    if (p && !atomic_compare_exchange_strong_explicit(&a->busy, &none, p, memory_order_acq_rel,
                                                      memory_order_acquire))
        cma__host_free(&a->mm->host, p, BUSY_MAX * sizeof *p); /* another caller's came first */
}

static unsigned log2_bucket(uint64_t ns)
{
    unsigned b = ns ? cma__fls64(ns) : 0;
    return b < CMA_LATENCY_BUCKETS ? b : CMA_LATENCY_BUCKETS - 1;
}

/* One allocation with counters. c->start_bit set by the caller. */
static int area_alloc(struct alloc_ctx *c, unsigned align_order)
{
    struct cma_area *a = c->area;
    struct cma_mm *mm = a->mm;
    const uint64_t opb = a->order_per_bit;
    uint64_t t0 = mm->host.h.now_ns(mm->host.h.ctx);
    int r;

    c->nbits = (c->count + (1ull << opb) - 1) >> opb;
    c->mask = align_order <= opb ? 0 : (1ull << (align_order - opb)) - 1;
    c->offset = (a->base_pfn & ((1ull << align_order) - 1)) >> opb;
    c->req = (struct cma__contig_req){0};
    c->resume_bit = UINT64_MAX;
    area_busy_prepare(a);
    cma__mutex_lock(&mm->host, &a->alloc_lock);
    cma__lock(&mm->host, &a->lock);
    r = a->policy == CMA_POLICY_LINUX ? alloc_linux(c) : alloc_default(c);
    uint64_t dt = mm->host.h.now_ns(mm->host.h.ctx) - t0;
    if (r == 0) {
        a->alloc_pages_success += c->count;
        a->alloc_calls_success++;
    } else {
        a->alloc_pages_fail += c->count;
        a->alloc_calls_fail++;
    }
    a->pages_migrated += c->req.migrated;
    a->pages_discarded += c->req.discarded;
    a->latency_ns_total += dt;
    a->latency_hist[log2_bucket(dt)]++;
    cma__unlock(&mm->host, &a->lock);
    cma__mutex_unlock(&mm->host, &a->alloc_lock);
    return r;
}

int cma_alloc(struct cma_area *area, size_t count, unsigned align_order, cma_pfn_t *pfnp)
{
    if (pfnp)
        *pfnp = CMA_PFN_NONE;
    if (!area || !pfnp || !count || count > area->count || align_order > 30)
        return -CMA_EINVAL;
    if (!area->mm->online)
        return -CMA_EPERM;
    struct alloc_ctx c = {.area = area, .count = count, .start_bit = 0};
    int r = area_alloc(&c, align_order);
    if (!r)
        *pfnp = c.pfn;
    return r;
}

int cma_alloc_bulk(struct cma_area *area, unsigned order, size_t nr, cma_pfn_t *pfns, size_t *nr_done)
{
    if (nr_done)
        *nr_done = 0;
    if (!area || !pfns || !nr_done || !nr || order > 30 || (1ull << order) > area->count)
        return -CMA_EINVAL;
    if (!area->mm->online)
        return -CMA_EPERM;
    struct alloc_ctx c = {.area = area, .count = 1ull << order, .start_bit = 0};
    int r = 0;
    size_t done = 0;
    while (done < nr) {
        r = area_alloc(&c, order);
        if (r)
            break;
        pfns[done++] = c.pfn;
        c.start_bit = c.resume_bit; /* busy chunks behind us stay skipped: no quadratic rescans */
    }
    *nr_done = done;
    return done ? 0 : r;
}

/* Is any page of [from, to) (inside one area) contiguously allocated? Caller holds mm->lock. */
static bool contig_pages_in_locked(const struct cma_mm *mm, cma_pfn_t from, cma_pfn_t to)
{
    const struct cma_span *s = from < to ? cma__span_of_pfn(mm, from) : NULL;
    for (cma_pfn_t pfn = from; s && pfn < to;) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        if (idx == CMA_IDX_NIL)
            return false;
        if (cma__page_state(cma__page(mm, idx)) == PS_CONTIG)
            return true;
        pfn = cma__block_end(head, cma__page(mm, idx));
    }
    return false;
}

int cma_release(struct cma_area *area, cma_pfn_t pfn, size_t count)
{
    if (!area || !count || pfn < area->base_pfn || count > area->count ||
        pfn - area->base_pfn > area->count - count)
        return -CMA_EINVAL;
    struct cma_mm *mm = area->mm;
    const uint64_t opb = area->order_per_bit;
    uint64_t off = pfn - area->base_pfn;
    if (off & ((1ull << opb) - 1))
        return -CMA_EINVAL;
    uint64_t bit = off >> opb, nbits = (count + (1ull << opb) - 1) >> opb;
    int r;
    cma_pfn_t bits_end = area->base_pfn + ((bit + nbits) << opb);
    cma__lock(&mm->host, &area->lock);
    if (find_next(area->bitmap, bit + nbits, bit, false) < bit + nbits) {
        r = -CMA_EFAULT;
    } else {
        cma__mm_lock(mm);
        /* The last bit may cover pages past count; if some of those are still allocated, clearing
         * the bit would strand them (Linux does): refuse, the caller must release up to them. */
        r = contig_pages_in_locked(mm, pfn + count, bits_end) ? -CMA_EINVAL
                                                              : cma__free_contig_locked(mm, pfn, count);
        cma__mm_unlock(mm);
        if (!r) {
            bits_assign(area->bitmap, bit, nbits, false);
            area->available += count;
            area->release_pages_success += count;
        }
    }
    cma__unlock(&mm->host, &area->lock);
    return r;
}

/* ---- introspection ---------------------------------------------------------------------------- */

static uint64_t largest_free_chunk(const struct cma_area *a)
{
    uint64_t best = 0, b = 0;
    while (b < a->nbits) {
        uint64_t z = find_next(a->bitmap, a->nbits, b, false);
        if (z >= a->nbits)
            break;
        uint64_t o = find_next(a->bitmap, a->nbits, z, true);
        if (o - z > best)
            best = o - z;
        b = o;
    }
    return best << a->order_per_bit;
}

int cma_area_get_stats(const struct cma_area *area, struct cma_area_stats *st)
{
    if (!area || !st)
        return -CMA_EINVAL;
    struct cma_area *a = (struct cma_area *)area; /* the lock is mutable state */
    memset(st, 0, sizeof *st);
    cma__lock(&a->mm->host, &a->lock);
    st->name = a->name;
    st->base_pfn = a->base_pfn;
    st->count = a->count;
    st->available = a->available;
    st->order_per_bit = a->order_per_bit;
    st->alloc_pages_success = a->alloc_pages_success;
    st->alloc_pages_fail = a->alloc_pages_fail;
    st->release_pages_success = a->release_pages_success;
    st->alloc_calls_success = a->alloc_calls_success;
    st->alloc_calls_fail = a->alloc_calls_fail;
    st->retries = a->retries;
    st->pages_migrated = a->pages_migrated;
    st->pages_discarded = a->pages_discarded;
    st->largest_free_chunk = largest_free_chunk(a);
    st->latency_ns_total = a->latency_ns_total;
    memcpy(st->latency_hist, a->latency_hist, sizeof st->latency_hist);
    cma__unlock(&a->mm->host, &a->lock);
    return 0;
}

void cma__area_format(const struct cma_area *area, struct cma__buf *b, bool with_bitmap)
{
    struct cma_area_stats st;
    (void)cma_area_get_stats(area, &st);
    const struct {
        const char *file;
        uint64_t value;
        bool hex;
    } rows[] = {
        {"alloc_pages_success", st.alloc_pages_success, false},
        {"alloc_pages_fail", st.alloc_pages_fail, false},
        {"release_pages_success", st.release_pages_success, false},
        {"total_pages", st.count, false},
        {"available_pages", st.available, false},
        {"base_pfn", st.base_pfn, true},
        {"order_per_bit", st.order_per_bit, false},
        {"used", st.count - st.available, false},
        {"maxchunk", st.largest_free_chunk, false},
        {"pages_migrated", st.pages_migrated, false},
        {"pages_discarded", st.pages_discarded, false},
        {"retries", st.retries, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cma__buf_printf(b, rows[i].hex ? "%s/%s 0x%llx\n" : "%s/%s %llu\n", st.name, rows[i].file,
                        (unsigned long long)rows[i].value);
    cma__buf_printf(b, "%s/alloc_calls %llu ok %llu failed\n", st.name,
                    (unsigned long long)st.alloc_calls_success, (unsigned long long)st.alloc_calls_fail);
    if (with_bitmap) {
        struct cma_area *a = (struct cma_area *)area;
        cma__lock(&a->mm->host, &a->lock);
        cma__buf_printf(b, "%s/bitmap", st.name);
        for (uint64_t bit = 0; bit < a->nbits;) {
            bool used = bit_test(a->bitmap, bit);
            uint64_t e = find_next(a->bitmap, a->nbits, bit, !used);
            cma__buf_printf(b, " %s:%llu", used ? "used" : "free",
                            (unsigned long long)((e - bit) << a->order_per_bit));
            bit = e;
        }
        cma__buf_putc(b, '\n');
        cma__unlock(&a->mm->host, &a->lock);
    }
}

int cma_area_dump(const struct cma_area *area, char *buf, size_t len)
{
    struct cma__buf b;
    if (!area || (len && !buf))
        return -CMA_EINVAL;
    cma__buf_init(&b, buf, len);
    cma__area_format(area, &b, true);
    return cma__buf_finish(&b);
}

/* ---- invariants (check.c calls this with mm->lock and every area lock held) ------------------- */

int cma__check_areas_locked(const struct cma_mm *mm, char *why, size_t len)
{
    for (unsigned i = 0; i < mm->nr_areas; i++) {
        const struct cma_area *a = mm->areas[i];
        const struct cma_span *s = cma__span_of_pfn(mm, a->base_pfn);
        uint64_t set = 0;
        if (!s || a->base_pfn + a->count > s->base + s->npages) {
            cma__format(why, len, "I10: area %s is not inside one span", a->name);
            return -CMA_EFAULT;
        }
        for (uint64_t off = 0; off < a->count; off += 1ull << mm->pb_order)
            if (cma__pb_stored_type(mm, a->base_pfn + off) != CMA_MIGRATE_CMA) {
                cma__format(why, len, "I10: pageblock at pfn 0x%llx of area %s is not CMA",
                         (unsigned long long)(a->base_pfn + off), a->name);
                return -CMA_EFAULT;
            }
        for (uint64_t b = 0; b < a->nbits; b++)
            set += bit_test(a->bitmap, b);
        if (a->available > a->count || a->count - a->available > set << a->order_per_bit) {
            cma__format(why, len, "I10: area %s available %llu of %llu with %llu bits set", a->name,
                     (unsigned long long)a->available, (unsigned long long)a->count,
                     (unsigned long long)set);
            return -CMA_EFAULT;
        }
        /* every contiguously allocated page of the area is under a set bit */
        for (cma_pfn_t pfn = a->base_pfn; pfn < a->base_pfn + a->count;) {
            const struct cma_page *p = cma__page(mm, cma__span_idx(s, pfn));
            if (cma__page_state(p) == PS_CONTIG &&
                !bit_test(a->bitmap, (pfn - a->base_pfn) >> a->order_per_bit)) {
                cma__format(why, len, "I10: pfn 0x%llx of area %s is allocated but its bit is clear",
                         (unsigned long long)pfn, a->name);
                return -CMA_EFAULT;
            }
            pfn += cma__page_state(p) == PS_TAIL ? 1 : 1ull << p->order;
        }
    }
    /* no CMA pageblock outside the areas */
    for (uint64_t b = 0; b < mm->nr_pageblocks; b++) {
        uint8_t v = atomic_load_explicit(&mm->pageblocks[b], memory_order_relaxed);
        cma_pfn_t pfn = (mm->pb_first + b) << mm->pb_order;
        if (!(v & PB_HOLE) && (v & PB_TYPE_MASK) == CMA_MIGRATE_CMA && !cma__pfn_in_area(mm, pfn)) {
            cma__format(why, len, "I10: CMA pageblock at pfn 0x%llx belongs to no area",
                     (unsigned long long)pfn);
            return -CMA_EFAULT;
        }
    }
    return 0;
}
