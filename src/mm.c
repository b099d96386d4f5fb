/* SPDX-License-Identifier: MIT */
/*
 * mm.c - the machine: configuration, create/destroy, the boot-phase memblock wrappers, and
 * cma_mm_online(), which turns memblock regions into the memory map and hands every unreserved page
 * to the buddy allocator.
 *
 * Online, step by step:
 *   1. memory regions are trimmed to whole pages and become spans (sorted; never adjacent, because a
 *      gap of even one byte between two regions costs at least one page after trimming);
 *   2. the memory map is one zeroed array of 12-byte entries over all spans, so holes cost nothing
 *      and a fresh entry already means "tail page": only block heads are ever written. With calloc's
 *      lazily zeroed pages, onlining a metadata-only terabyte touches one entry per max-order block;
 *   3. the pageblock array covers the pageblocks from the first to the last present page (1 byte
 *      each), all MOVABLE as in Linux, PB_HOLE where no page is present;
 *   4. reserved bytes round outwards to pages, which become PS_RESERVED and are never managed;
 *   5. every remaining page is freed in the largest naturally aligned blocks, to list tails.
 *
 * Invariants owned here: spans sorted and disjoint, spans[i+1].idx == spans[i].idx + npages;
 * nr_pages == nr_managed + nr_reserved; after online the layout never changes.
 */
#include "internal/internal.h"

void cma_mm_config_default(struct cma_mm_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->page_shift = 12;
    cfg->max_order = 10;
    cfg->pageblock_order = 9;
    cfg->nr_cpus = 4;
    cfg->backing = CMA_BACKING_NONE;
    cfg->cma_first_percent = 50;
}

static int config_validate(const struct cma_mm_config *c)
{
    if (c->size != sizeof *c)
        return -CMA_EINVAL;
    if (c->page_shift < CMA_PAGE_SHIFT_MIN || c->page_shift > CMA_PAGE_SHIFT_MAX)
        return -CMA_EINVAL;
    if (c->max_order > CMA_MAX_ORDER_LIMIT || c->pageblock_order > c->max_order)
        return -CMA_EINVAL;
    if (c->nr_cpus == 0 || c->nr_cpus > CMA_MAX_CPUS)
        return -CMA_EINVAL;
    if (c->cma_first_percent > 100)
        return -CMA_EINVAL;
    if (c->backing != CMA_BACKING_NONE && c->backing != CMA_BACKING_HOST)
        return -CMA_EINVAL;
    if (c->mem && (c->backing != CMA_BACKING_HOST || c->mem_size == 0 ||
                   (c->mem_phys & ((1ull << c->page_shift) - 1))))
        return -CMA_EINVAL;
    return 0;
}

int cma_mm_create(const struct cma_mm_config *cfg, struct cma_mm **mmp)
{
    struct cma_hostx hx;
    struct cma_mm *mm;
    int r;

    if (!cfg || !mmp)
        return -CMA_EINVAL;
    if ((r = config_validate(cfg)) || (r = cma__host_resolve(cfg->host, &hx)))
        return r;
    cma__panic_install(&hx);
    mm = cma__host_alloc(&hx, sizeof *mm);
    if (!mm)
        return -CMA_ENOMEM;
    mm->cfg = *cfg;
    mm->host = hx;
    mm->page_shift = cfg->page_shift;
    mm->page_size = 1ull << cfg->page_shift;
    mm->max_order = cfg->max_order;
    mm->pb_order = cfg->pageblock_order;
    mm->nr_cpus = cfg->nr_cpus;
    if ((r = cma__lock_init(&mm->host, &mm->lock)))
        goto fail_mm;
    if ((r = cma__dma_init(mm)))
        goto fail_lock;
    if ((r = cma__memblock_init(&mm->mb, &mm->host))) {
        cma__dma_fini(mm);
        goto fail_lock;
    }
    mm->mb.bottom_up = cfg->memblock_bottom_up;
    mm->mb.grow_apart = true; /* cma__mm_lock_boot grows the arrays outside the lock */
    mm->metadata_bytes = sizeof *mm;
    *mmp = mm;
    return 0;
fail_lock:
    cma__lock_fini(&mm->host, &mm->lock);
fail_mm:
    cma__host_free(&hx, mm, sizeof *mm);
    return r;
}

/* What onlining allocates. Sized under the lock from memblock, allocated and freed without it (the
 * host's allocator is never called under a libcma lock), installed into the machine under the lock. */
struct layout {
    unsigned nspans;
    uint64_t npages;
    cma_pfn_t first, end;    /* first present pfn, one past the last */
    uint64_t nr_pageblocks;
    struct cma_span *spans;
    struct cma_page *memmap;
    _Atomic uint8_t *pageblocks;
    void *backing;           /* page contents libcma allocates (backed mode without cfg.mem) */
    uint64_t backing_size;
    struct cma_pcp *pcp;
};

static void layout_free(const struct cma_mm *mm, struct layout *l)
{
    cma__pcp_array_free(mm, l->pcp);
    cma__host_free(&mm->host, l->memmap, l->npages * sizeof *l->memmap);
    cma__host_free(&mm->host, (void *)l->pageblocks, l->nr_pageblocks);
    cma__host_free(&mm->host, l->spans, l->nspans * sizeof *l->spans);
    cma__host_free(&mm->host, l->backing, l->backing_size);
    l->pcp = NULL;
    l->memmap = NULL;
    l->pageblocks = NULL;
    l->spans = NULL;
    l->backing = NULL;
}

/* The machine's layout back into a struct layout, for layout_free (destroy). */
static void layout_take(struct cma_mm *mm, struct layout *l)
{
    cma__pins_fini(mm);
    l->nspans = mm->nspans;
    l->npages = mm->nr_pages;
    l->nr_pageblocks = mm->nr_pageblocks;
    l->spans = mm->spans;
    l->memmap = mm->memmap;
    l->pageblocks = mm->pageblocks;
    l->backing = mm->backing;
    l->backing_size = mm->backing_size;
    l->pcp = mm->pcp;
    mm->spans = NULL;
    mm->memmap = NULL;
    mm->pageblocks = NULL;
    mm->backing = NULL;
    mm->pcp = NULL;
}

int cma_mm_destroy(struct cma_mm *mm)
{
    if (!mm)
        return -CMA_EINVAL;
    cma__lock(&mm->host, &mm->dma_lock);
    bool dma_users = mm->nr_iommus || mm->nr_devs;
    cma__unlock(&mm->host, &mm->dma_lock);
    if (dma_users) {
        cma__log(&mm->host, CMA_LOG_WARN, "cma_mm_destroy: IOMMU domains or DMA devices still exist");
        return -CMA_EBUSY;
    }
    if (mm->online) {
        uint64_t free_pages = 0;
        cma__pcp_drain_all(mm);
        cma__mm_lock(mm);
        for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
            free_pages += mm->nr_free_buddy[t];
        cma__mm_unlock(mm);
        if (free_pages != mm->nr_managed) {
            cma__log(&mm->host, CMA_LOG_WARN, "cma_mm_destroy: %llu pages still allocated",
                     (unsigned long long)(mm->nr_managed - free_pages));
            return -CMA_EBUSY;
        }
        struct layout l;
        layout_take(mm, &l);
        layout_free(mm, &l);
    }
    cma__areas_fini(mm);
    cma__memblock_fini(&mm->mb);
    cma__dma_fini(mm);
    cma__lock_fini(&mm->host, &mm->lock);
    struct cma_hostx hx = mm->host;
    cma__host_free(&hx, mm, sizeof *mm);
    return 0;
}

/* ---- memblock wrappers: boot phase only -------------------------------------------------------- */

int cma__mm_lock_boot(struct cma_mm *mm)
{
    bool grow = true;
    for (;;) {
        struct cma_mb_grow g;
        cma__mm_lock(mm);
        if (mm->online) {
            cma__mm_unlock(mm);
            return -CMA_EPERM;
        }
        if (!grow || !cma__memblock_full(&mm->mb, &g))
            return 0;
        cma__mm_unlock(mm);
        if (cma__memblock_grow_alloc(&mm->mb, &g)) {
            grow = false; /* no memory: an operation that needs no new slot still works */
            continue;
        }
        cma__mm_lock(mm);
        cma__memblock_grow_swap(&mm->mb, &g);
        cma__mm_unlock(mm);
        cma__memblock_grow_free(&mm->mb, &g);
    }
}

/* Runs a memblock operation under the machine lock, refusing it once the machine is online. */
#define MEMBLOCK_CALL(mm, expr)                                                                    \
    do {                                                                                           \
        int r_;                                                                                    \
        if (!(mm))                                                                                 \
            return -CMA_EINVAL;                                                                    \
        if ((r_ = cma__mm_lock_boot(mm)))                                                          \
            return r_;                                                                             \
        r_ = (expr);                                                                               \
        cma__mm_unlock(mm);                                                                        \
        return r_;                                                                                 \
    } while (0)

int cma_memblock_add(struct cma_mm *mm, cma_phys_t base, uint64_t size)
{
    MEMBLOCK_CALL(mm, cma__memblock_add(&mm->mb, base, size));
}

int cma_memblock_remove(struct cma_mm *mm, cma_phys_t base, uint64_t size)
{
    MEMBLOCK_CALL(mm, cma__memblock_remove(&mm->mb, base, size));
}

int cma_memblock_reserve(struct cma_mm *mm, cma_phys_t base, uint64_t size)
{
    MEMBLOCK_CALL(mm, cma__memblock_reserve(&mm->mb, base, size));
}

int cma_memblock_free(struct cma_mm *mm, cma_phys_t base, uint64_t size)
{
    MEMBLOCK_CALL(mm, cma__memblock_free(&mm->mb, base, size));
}

int cma_memblock_alloc_range(struct cma_mm *mm, uint64_t size, uint64_t align, cma_phys_t start,
                             cma_phys_t end, cma_phys_t *basep)
{
    if (!basep || (align && !cma__is_pow2(align)))
        return -CMA_EINVAL;
    MEMBLOCK_CALL(mm, cma__memblock_alloc_range(&mm->mb, size, align ? align : mm->page_size,
                                                start, end, basep));
}

int cma_memblock_alloc(struct cma_mm *mm, uint64_t size, uint64_t align, cma_phys_t *basep)
{
    return cma_memblock_alloc_range(mm, size, align, 0, 0, basep);
}

int cma_memblock_set_bottom_up(struct cma_mm *mm, bool bottom_up)
{
    MEMBLOCK_CALL(mm, (mm->mb.bottom_up = bottom_up, 0));
}

bool cma_memblock_is_reserved(const struct cma_mm *mm, cma_phys_t base, uint64_t size)
{
    struct cma_mm *m = (struct cma_mm *)mm; /* the lock is mutable state */
    bool r;
    if (!mm)
        return false;
    cma__mm_lock(m);
    r = cma__memblock_is_reserved(&m->mb, base, size);
    cma__mm_unlock(m);
    return r;
}

int cma_memblock_foreach(const struct cma_mm *mm, bool reserved,
                         int (*fn)(void *arg, cma_phys_t base, uint64_t size), void *arg)
{
    if (!mm || !fn)
        return -CMA_EINVAL;
    /* Regions never change after online and only the caller's thread changes them before, so the
     * walk runs unlocked: fn may call back into memblock queries. */
    const struct cma_mb_type *t = reserved ? &mm->mb.reserved : &mm->mb.memory;
    for (size_t i = 0; i < t->cnt; i++) {
        int r = fn(arg, t->regions[i].base, t->regions[i].size);
        if (r)
            return r;
    }
    return 0;
}

/* ---- online -------------------------------------------------------------------------------------- */

static uint64_t div_up(uint64_t a, uint64_t shift) { return (a >> shift) + !!(a & ((1ull << shift) - 1)); }

/* Step 1: spans from memory regions. Returns the number of spans; fills spans if non-NULL. */
static unsigned build_spans(const struct cma_mm *mm, struct cma_span *spans, uint64_t *npagesp)
{
    unsigned n = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < mm->mb.memory.cnt; i++) {
        const struct cma_mb_region *r = &mm->mb.memory.regions[i];
        uint64_t first = div_up(r->base, mm->page_shift);
        uint64_t end = (r->base + r->size) >> mm->page_shift;
        if (end <= first)
            continue;
        if (spans) {
            spans[n].base = first;
            spans[n].npages = end - first;
            spans[n].idx = (uint32_t)total;
            spans[n].virt = NULL;
        }
        total += end - first;
        n++;
    }
    *npagesp = total;
    return n;
}

/* Step 1: the layout's sizes. Caller holds mm->lock. -ENOENT without memory, -EINVAL beyond the
 * limits (CMA_MAX_PAGES; an absurdly sparse pageblock array; a memory map or backing the host's
 * address space cannot hold). */
static int layout_size_locked(const struct cma_mm *mm, struct layout *l)
{
    memset(l, 0, sizeof *l);
    l->nspans = build_spans(mm, NULL, &l->npages);
    if (l->nspans == 0)
        return -CMA_ENOENT;
    if (l->npages > CMA_MAX_PAGES || l->npages > SIZE_MAX / sizeof(struct cma_page))
        return -CMA_EINVAL;
    /* the first and last present pfn, from the regions build_spans used */
    for (size_t i = 0; i < mm->mb.memory.cnt; i++) {
        const struct cma_mb_region *r = &mm->mb.memory.regions[i];
        cma_pfn_t first = div_up(r->base, mm->page_shift), end = (r->base + r->size) >> mm->page_shift;
        if (end <= first)
            continue;
        if (!l->end)
            l->first = first;
        l->end = end;
    }
    l->nr_pageblocks = ((l->end - 1) >> mm->pb_order) - (l->first >> mm->pb_order) + 1;
    if (l->nr_pageblocks > (1ull << 32) || l->nr_pageblocks > SIZE_MAX) /* absurdly sparse: refuse */
        return -CMA_EINVAL;
    if (mm->cfg.backing == CMA_BACKING_HOST && !mm->cfg.mem) {
        if (l->npages > (SIZE_MAX >> mm->page_shift))
            return -CMA_EINVAL;
        l->backing_size = l->npages << mm->page_shift;
    }
    return 0;
}

/* Step 2: allocates everything the sizes call for (no lock held). On failure nothing is kept. */
static int layout_alloc(const struct cma_mm *mm, struct layout *l)
{
    l->spans = cma__host_alloc(&mm->host, l->nspans * sizeof *l->spans);
    l->memmap = cma__host_alloc(&mm->host, l->npages * sizeof *l->memmap);
    l->pageblocks = cma__host_alloc(&mm->host, l->nr_pageblocks);
    if (l->backing_size)
        l->backing = cma__host_alloc(&mm->host, l->backing_size);
    int r = cma__pcp_array_alloc(mm, &l->pcp);
    if (!r && (!l->spans || !l->memmap || !l->pageblocks || (l->backing_size && !l->backing)))
        r = -CMA_ENOMEM;
    if (r)
        layout_free(mm, l);
    return r;
}

/* Page contents in backed mode: each span's pointer into the caller's memory or libcma's backing. */
static int setup_backing_locked(struct cma_mm *mm)
{
    if (mm->cfg.backing != CMA_BACKING_HOST)
        return 0;
    for (unsigned i = 0; i < mm->nspans; i++) {
        struct cma_span *s = &mm->spans[i];
        if (!mm->cfg.mem) {
            s->virt = (uint8_t *)mm->backing + ((size_t)s->idx << mm->page_shift);
            continue;
        }
        cma_phys_t b = s->base << mm->page_shift, e = b + (s->npages << mm->page_shift);
        if (b < mm->cfg.mem_phys || e - mm->cfg.mem_phys > mm->cfg.mem_size)
            return -CMA_EINVAL;
        s->virt = (uint8_t *)mm->cfg.mem + (b - mm->cfg.mem_phys);
    }
    return 0;
}

/* Step 4: reserved regions round outwards to whole pages. */
static void mark_reserved(struct cma_mm *mm)
{
    for (size_t i = 0; i < mm->mb.reserved.cnt; i++) {
        const struct cma_mb_region *r = &mm->mb.reserved.regions[i];
        cma_pfn_t first = r->base >> mm->page_shift;
        cma_pfn_t end = div_up(r->base + r->size, mm->page_shift);
        for (cma_pfn_t pfn = first; pfn < end; pfn++) {
            cma_pfn_t area_end = cma__area_end_containing(mm, pfn);
            if (area_end) { /* CMA areas are reserved in memblock but managed as CMA */
                pfn = area_end - 1;
                continue;
            }
            const struct cma_span *s = cma__span_of_pfn(mm, pfn);
            if (!s)
                continue;
            struct cma_page *p = cma__page(mm, cma__span_idx(s, pfn));
            if (cma__page_state(p) != PS_RESERVED) {
                cma__page_set_flags(p, PS_RESERVED);
                mm->nr_reserved++;
            }
        }
    }
}

int cma_mm_online(struct cma_mm *mm)
{
    struct layout l, now;
    int r;

    if (!mm)
        return -CMA_EINVAL;
    for (;;) {
        cma__mm_lock(mm);
        r = mm->online ? -CMA_EPERM : layout_size_locked(mm, &l);
        cma__mm_unlock(mm);
        if (r || (r = layout_alloc(mm, &l)))
            return r;
        cma__mm_lock(mm);
        if (!mm->online && !layout_size_locked(mm, &now) && now.nspans == l.nspans &&
            now.npages == l.npages && now.first == l.first && now.end == l.end)
            break;
        cma__mm_unlock(mm); /* memblock changed meanwhile, or another online won: size again */
        layout_free(mm, &l);
    }

    /* installed under the lock; from here on nothing allocates */
    mm->spans = l.spans;
    mm->nspans = build_spans(mm, mm->spans, &mm->nr_pages);
    mm->memmap = l.memmap;
    mm->pb_first = l.first >> mm->pb_order;
    mm->nr_pageblocks = l.nr_pageblocks;
    mm->pageblocks = l.pageblocks;
    mm->backing = l.backing;
    mm->backing_size = l.backing_size;
    mm->pcp = l.pcp;
    if ((r = setup_backing_locked(mm))) {
        layout_take(mm, &l);
        mm->nspans = 0;
        mm->nr_pages = mm->nr_pageblocks = 0;
        cma__mm_unlock(mm);
        layout_free(mm, &l);
        return r;
    }
    mark_reserved(mm);
    mm->nr_managed = mm->nr_pages - mm->nr_reserved;
    cma__pb_init(mm);
    cma__areas_activate_locked(mm);
    for (unsigned o = 0; o <= mm->max_order; o++)
        for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
            mm->free_area[o].lists[t].head = mm->free_area[o].lists[t].tail = CMA_IDX_NIL;
    cma__pcp_setup(mm);
    mm->metadata_bytes += l.nspans * sizeof *mm->spans + l.npages * sizeof *mm->memmap +
                          mm->nr_pageblocks + mm->nr_cpus * sizeof *mm->pcp;
    cma__free_all_unreserved(mm);
    mm->online = true;
    cma__mm_unlock(mm);
    cma__log(&mm->host, CMA_LOG_INFO, "online: %llu pages in %u spans, %llu reserved, %llu managed",
             (unsigned long long)l.npages, l.nspans, (unsigned long long)mm->nr_reserved,
             (unsigned long long)mm->nr_managed);
    return 0;
}

/* ---- accessors ----------------------------------------------------------------------------------- */

uint64_t cma_mm_page_size(const struct cma_mm *mm) { return mm ? mm->page_size : 0; }
unsigned cma_mm_max_order(const struct cma_mm *mm) { return mm ? mm->max_order : 0; }
unsigned cma_mm_pageblock_order(const struct cma_mm *mm) { return mm ? mm->pb_order : 0; }
unsigned cma_mm_nr_cpus(const struct cma_mm *mm) { return mm ? mm->nr_cpus : 0; }

void *cma_pfn_to_virt(const struct cma_mm *mm, cma_pfn_t pfn)
{
    if (!mm || !mm->online || mm->cfg.backing != CMA_BACKING_HOST)
        return NULL;
    const struct cma_span *s = cma__span_of_pfn(mm, pfn);
    return s ? s->virt + ((size_t)(pfn - s->base) << mm->page_shift) : NULL;
}

cma_phys_t cma_pfn_to_phys(const struct cma_mm *mm, cma_pfn_t pfn)
{
    return mm ? pfn << mm->page_shift : 0;
}

cma_pfn_t cma_phys_to_pfn(const struct cma_mm *mm, cma_phys_t phys)
{
    return mm ? phys >> mm->page_shift : CMA_PFN_NONE;
}
