/* SPDX-License-Identifier: MIT */
/*
 * dma.c - devices and the DMA API: one interface, the path chosen per device.
 *
 * Direct device (no IOMMU; device address == physical address, reach [0, 2^dma_bits)):
 *   cma_dma_alloc  the device's own CMA area for any size, else the machine's default area for
 *                  buffers above 8 pages (Linux's costly order: smaller ones are cheap and plentiful in
 *                  the buddy allocator and would only fragment the area), aligned to the buffer's order
 *                  capped at 1 MiB (Linux's CMA alignment); single pages, small buffers, and buffers the
 *                  area cannot give come from the buddy allocator as one block of the buffer's order.
 *                  Everything is below the device's limit: an area above it is skipped, a result above
 *                  it given back, and the buddy is searched below the limit when the machine has memory
 *                  above it (a 32-bit device on a 64 GiB machine gets low memory or a clean -ENOMEM).
 *                  The default area is the one named "reserved" (a plain cma= on the command line),
 *                  else the first declared area, else none.
 *   cma_dma_map_pages  pages that are physically contiguous and below the limit: the device address
 *                  is the physical address. There is no bounce buffer: pages the device cannot reach
 *                  as one range are refused with -EINVAL (a driver for such a device needs an IOMMU, or
 *                  memory from cma_dma_alloc).
 *   Live buffers and mappings are recorded in the device's record table (internal/dma.h), which is
 *   what unmap and free check size and kind against.
 * IOMMU device:
 *   cma_dma_alloc  scattered pages, the largest of the page table's page sizes first (as the buddy
 *                  allocator can give them; a failed order is not tried again in the same call), mapped
 *                  at one size-aligned IOVA below the device's limit: no contiguous memory needed.
 *   cma_dma_map_pages  any pages (physically adjacent ones coalesce into runs, and aligned runs into
 *                  block entries).
 *   The page table records the mappings (PTE_START runs tagged with the device's slot).
 *
 * Every page behind a live buffer or mapping is held (migrate.c: pins on page-allocator blocks), so
 * migration, discard and cma_free_pages leave it alone; library-owned buffers are pinned too, so a
 * stray cma_free_pages of one is refused.
 *
 * Locks: mm->dma_lock (registry; taken first), dev->lock (a direct device's records and every
 * device's failure counters), the domain's pt_lock (an IOMMU device's live counters, updated with the
 * page table). Nothing is allocated, and no host, hardware or allocator call made, with one held.
 */
#include "internal/internal.h"

#define SMALL_PAGES 8          /* up to 2^CMA_PCP_MAX_ORDER pages: buddy first on the default area */
#define ALIGN_CAP_SHIFT 20     /* CMA alignment cap: 1 MiB */
#define RUNS_ON_STACK 64      /* 1 KiB of stack; more runs come from the host */

/* ---- registry ---------------------------------------------------------------------------------------- */

int cma__dma_init(struct cma_mm *mm) { return cma__lock_init(&mm->host, &mm->dma_lock); }

void cma__dma_fini(struct cma_mm *mm) { cma__lock_fini(&mm->host, &mm->dma_lock); }

void cma_dev_config_default(struct cma_dev_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->dma_bits = 32;
}

static struct cma_area *default_area(struct cma_mm *mm)
{
    struct cma_area *a = cma_area_lookup(mm, "reserved");
    return a ? a : cma_area_at(mm, 0);
}

int cma_dev_create(struct cma_mm *mm, const struct cma_dev_config *cfg, struct cma_dev **devp)
{
    if (devp)
        *devp = NULL;
    if (!mm || !cfg || !devp || cfg->size != sizeof *cfg || cfg->dma_bits < 12 || cfg->dma_bits > 64 ||
        (cfg->iommu && cfg->iommu->mm != mm) || (cfg->area && cfg->area->mm != mm) ||
        (cfg->name && strlen(cfg->name) > 31))
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;
    struct cma_dev *dev = cma__host_alloc(&mm->host, sizeof *dev);
    if (!dev)
        return -CMA_ENOMEM;
    int r = cma__lock_init(&mm->host, &dev->lock);
    if (r) {
        cma__host_free(&mm->host, dev, sizeof *dev);
        return r;
    }
    dev->mm = mm;
    dev->dma_bits = cfg->dma_bits;
    dev->limit = cfg->dma_bits == 64 ? UINT64_MAX : (1ull << cfg->dma_bits) - 1;
    dev->io = cfg->iommu;
    dev->own_area = cfg->area != NULL;
    dev->area = cfg->area ? cfg->area : default_area(mm);

    cma__lock(&mm->host, &mm->dma_lock);
    if (dev->io) {
        unsigned s = 1;
        while (s <= PTE_SLOT_MAX && (dev->io->slots[s / 64] >> (s % 64) & 1))
            s++;
        if (s > PTE_SLOT_MAX) {
            cma__unlock(&mm->host, &mm->dma_lock);
            cma__lock_fini(&mm->host, &dev->lock);
            cma__host_free(&mm->host, dev, sizeof *dev);
            return -CMA_ENOSPC;
        }
        dev->io->slots[s / 64] |= 1ull << (s % 64);
        dev->io->nr_devs++;
        dev->slot = s;
    }
    if (cfg->name && cfg->name[0])
        cma__format(dev->name, sizeof dev->name, "%s", cfg->name);
    else
        cma__format(dev->name, sizeof dev->name, "dev%u", mm->nr_devs);
    dev->next = mm->devs;
    mm->devs = dev;
    mm->nr_devs++;
    cma__unlock(&mm->host, &mm->dma_lock);
    *devp = dev;
    return 0;
}

/* Live buffers + mappings; the lock that guards them is taken here. */
static uint64_t dev_live(struct cma_dev *dev)
{
    struct cma_lock *l = dev->io ? &dev->io->pt_lock : &dev->lock;
    cma__lock(&dev->mm->host, l);
    uint64_t n = dev->allocs_live + dev->maps_live;
    cma__unlock(&dev->mm->host, l);
    return n;
}

int cma_dev_destroy(struct cma_dev *dev)
{
    if (!dev)
        return -CMA_EINVAL;
    struct cma_mm *mm = dev->mm;
    cma__lock(&mm->host, &mm->dma_lock);
    if (dev_live(dev)) {
        cma__unlock(&mm->host, &mm->dma_lock);
        return -CMA_EBUSY;
    }
    struct cma_dev **pp = &mm->devs;
    while (*pp != dev)
        pp = &(*pp)->next;
    *pp = dev->next;
    mm->nr_devs--;
    if (dev->io) {
        dev->io->slots[dev->slot / 64] &= ~(1ull << (dev->slot % 64));
        dev->io->nr_devs--;
    }
    cma__unlock(&mm->host, &mm->dma_lock);
    cma__host_free(&mm->host, dev->recs, dev->cap * sizeof *dev->recs);
    cma__lock_fini(&mm->host, &dev->lock);
    cma__host_free(&mm->host, dev, sizeof *dev);
    return 0;
}

/* ---- the record table of a direct device -----------------------------------------------------------
 * Open addressing keyed by device address, linear probing, backward-shift deletion (no tombstones).
 * Several records may share an address (the same pages mapped with different counts, or a buffer and
 * a mapping of it); identical mappings share one record with a count.
 */
static uint32_t rec_hash(const struct cma_dev *dev, cma_iova_t dma)
{
    return (uint32_t)((dma >> dev->mm->page_shift) * 0x9e3779b97f4a7c15ull >> 32) & (dev->cap - 1);
}

static void rec_place(struct cma_dev *dev, const struct cma__dma_rec *r)
{
    uint32_t i = rec_hash(dev, r->dma);
    while (dev->recs[i].kind != REC_FREE)
        i = (i + 1) & (dev->cap - 1);
    dev->recs[i] = *r;
}

/* Takes dev->lock with room for one more record; grows the table with the lock dropped. */
static int dev_lock_with_room(struct cma_dev *dev)
{
    struct cma_hostx *hx = &dev->mm->host;
    for (;;) {
        cma__lock(hx, &dev->lock);
        if ((uint64_t)(dev->nrecs + 1) * 4 < (uint64_t)dev->cap * 3)
            return 0;
        uint32_t ncap = dev->cap ? dev->cap * 2 : 64;
        cma__unlock(hx, &dev->lock);
        struct cma__dma_rec *ns = cma__host_alloc(hx, ncap * sizeof *ns), *old = NULL;
        uint32_t ocap = 0;
        if (!ns)
            return -CMA_ENOMEM;
        cma__lock(hx, &dev->lock);
        if (ncap > dev->cap) {
            old = dev->recs;
            ocap = dev->cap;
            dev->recs = ns;
            dev->cap = ncap;
            for (uint32_t i = 0; i < ocap; i++)
                if (old[i].kind != REC_FREE)
                    rec_place(dev, &old[i]);
            ns = NULL;
        }
        cma__unlock(hx, &dev->lock);
        cma__host_free(hx, ns, ncap * sizeof *ns);
        cma__host_free(hx, old, ocap * sizeof *old);
    }
}

static void rec_delete_locked(struct cma_dev *dev, uint32_t i)
{
    const uint32_t mask = dev->cap - 1;
    for (uint32_t j = i;;) {
        j = (j + 1) & mask;
        if (dev->recs[j].kind == REC_FREE)
            break;
        if (!cma__probe_stays(i, j, rec_hash(dev, dev->recs[j].dma))) {
            dev->recs[i] = dev->recs[j];
            i = j;
        }
    }
    memset(&dev->recs[i], 0, sizeof dev->recs[i]);
    dev->nrecs--;
}

/* Finds the record of (dma, kind class, n): kind REC_MAP finds mappings, anything else buffers.
 * -ENOENT none at dma of that class; -EINVAL one with another size (*ip = its slot). */
static int rec_find_locked(const struct cma_dev *dev, cma_iova_t dma, bool map, uint64_t n, uint32_t *ip)
{
    int r = -CMA_ENOENT;
    if (!dev->cap)
        return r;
    for (uint32_t i = rec_hash(dev, dma); dev->recs[i].kind != REC_FREE; i = (i + 1) & (dev->cap - 1)) {
        const struct cma__dma_rec *x = &dev->recs[i];
        if (x->dma != dma || (x->kind == REC_MAP) != map)
            continue;
        *ip = i;
        if (x->n == n)
            return 0;
        r = -CMA_EINVAL;
    }
    return r;
}

/* ---- helpers --------------------------------------------------------------------------------------------- */

static unsigned order_of(uint64_t n) { return n <= 1 ? 0 : 64u - (unsigned)__builtin_clzll(n - 1); }

static uint64_t pages_of(const struct cma_mm *mm, size_t size)
{
    return ((uint64_t)size + mm->page_size - 1) >> mm->page_shift;
}

/* Exclusive end frame of what the device reaches. */
static cma_pfn_t limit_pfn(const struct cma_dev *dev) { return (dev->limit >> dev->mm->page_shift) + 1; }

static void note_fail(struct cma_dev *dev, uint64_t *counter)
{
    cma__lock(&dev->mm->host, &dev->lock);
    (*counter)++;
    cma__unlock(&dev->mm->host, &dev->lock);
}

/* Maximal physically contiguous runs of pfns (so holds and unholds cut them alike). Counting is a
 * branch-free loop the compiler vectorizes; a single run (a contiguous buffer) needs no second pass. */
static size_t count_runs(const cma_pfn_t *pfns, size_t n)
{
    size_t breaks = 0;
    for (size_t i = 1; i < n; i++)
        breaks += pfns[i] != pfns[i - 1] + 1;
    return breaks + 1;
}

static void fill_runs(const cma_pfn_t *pfns, size_t n, size_t nruns, struct cma__run *runs)
{
    if (nruns == 1) {
        runs[0] = (struct cma__run){pfns[0], n};
        return;
    }
    cma_pfn_t start = pfns[0];
    size_t len = 1, nr = 0;
    for (size_t i = 1; i < n; i++) {
        if (pfns[i] == pfns[i - 1] + 1) {
            len++;
            continue;
        }
        runs[nr++] = (struct cma__run){start, len};
        start = pfns[i];
        len = 1;
    }
    runs[nr] = (struct cma__run){start, len};
}

/* A run array of n entries: on the stack for small n, else from the host (no lock held). */
static struct cma__run *runs_get(struct cma_mm *mm, struct cma__run *stack, uint64_t n)
{
    return n <= RUNS_ON_STACK ? stack : cma__host_alloc(&mm->host, n * sizeof *stack);
}

static void runs_put(struct cma_mm *mm, struct cma__run *stack, struct cma__run *runs, uint64_t n)
{
    if (runs != stack)
        cma__host_free(&mm->host, runs, n * sizeof *runs);
}

/* Frees every page-allocator block of a run (the blocks are the library's, no longer held). */
static void free_run_blocks(struct cma_mm *mm, const struct cma__run *run)
{
    for (cma_pfn_t pfn = run->pfn; pfn < run->pfn + run->n;) {
        unsigned order = cma__page(mm, cma__pfn_idx(mm, pfn))->order;
        int r = cma_free_pages(mm, pfn, order);
        cma_assert(r == 0);
        (void)r;
        pfn += 1ull << order;
    }
}

/* ---- IOMMU devices ------------------------------------------------------------------------------------- */

static int iommu_map(struct cma_dev *dev, const struct cma__run *runs, size_t nruns, uint64_t n,
                     uint64_t kind, cma_iova_t *dmap)
{
    struct cma_iommu *io = dev->io;
    uint64_t ip;
    int r = cma__dma_hold_runs(dev->mm, runs, nruns);
    if (r)
        return r;
    uint64_t flags = PTE_READ | PTE_WRITE | kind | ((uint64_t)dev->slot << PTE_SLOT_SHIFT);
    r = cma__iommu_map_dma(io, runs, nruns, n, (dev->limit >> io->gshift) + 1, flags, dev, &ip);
    if (r) {
        cma__dma_unhold_runs(dev->mm, runs, nruns);
        return r;
    }
    *dmap = ip << io->gshift;
    return 0;
}

/* Scattered pages for an IOMMU buffer: the table's page sizes largest first; a size that fails is
 * dropped for the rest of the call. Runs coalesce physically adjacent blocks. */
static int scatter_alloc(struct cma_dev *dev, uint64_t n, struct cma__run *runs, size_t *nrunsp)
{
    struct cma_mm *mm = dev->mm;
    uint64_t sizes = dev->io->pgsizes >> dev->io->gshift; /* allowed orders as bits */
    size_t nr = 0;
    for (uint64_t left = n; left;) {
        unsigned order = cma__fls64(left); /* the largest allowed order that fits what is left */
        while (order && (order > mm->max_order || !((sizes >> order) & 1)))
            order--;
        cma_pfn_t pfn;
        int r = cma_alloc_pages(mm, order, CMA_GFP_UNMOVABLE | CMA_GFP_ZERO, &pfn);
        if (r) {
            if (order == 0) {
                for (size_t i = 0; i < nr; i++)
                    free_run_blocks(mm, &runs[i]);
                return r;
            }
            sizes &= ~(1ull << order);
            continue;
        }
        if (nr && runs[nr - 1].pfn + runs[nr - 1].n == pfn)
            runs[nr - 1].n += 1ull << order;
        else
            runs[nr++] = (struct cma__run){pfn, 1ull << order};
        left -= 1ull << order;
    }
    *nrunsp = nr;
    return 0;
}

static int iommu_alloc(struct cma_dev *dev, uint64_t n, cma_iova_t *dmap, void **cpup)
{
    struct cma_mm *mm = dev->mm;
    struct cma__run stack[RUNS_ON_STACK] = {{0, 0}}; /* filled by scatter_alloc (gcc -O3 cannot tell) */
    struct cma__run *runs = runs_get(mm, stack, n);
    size_t nr = 0;
    if (!runs)
        return -CMA_ENOMEM;
    int r = scatter_alloc(dev, n, runs, &nr);
    if (!r && (r = iommu_map(dev, runs, nr, n, PTE_ALLOC, dmap)))
        for (size_t i = 0; i < nr; i++)
            free_run_blocks(mm, &runs[i]);
    if (!r && cpup && nr == 1)
        *cpup = cma_pfn_to_virt(mm, runs[0].pfn);
    runs_put(mm, stack, runs, n);
    return r;
}

static int iommu_release(struct cma_dev *dev, cma_iova_t dma, uint64_t n, bool alloc)
{
    struct cma_iommu *io = dev->io;
    struct cma_mm *mm = dev->mm;
    if (dma & ((1ull << io->gshift) - 1))
        return -CMA_ENOENT;
    uint64_t ip = dma >> io->gshift;
    struct cma__run stack[RUNS_ON_STACK];
    struct cma__run *runs = alloc ? runs_get(mm, stack, n) : NULL;
    size_t nr = 0;
    if (alloc && !runs)
        return -CMA_ENOMEM;
    int r = cma__iommu_unmap_dma(io, ip, n, alloc ? PTE_ALLOC : 0, dev, runs, &nr);
    for (size_t i = 0; !r && i < nr; i++)
        free_run_blocks(mm, &runs[i]);
    if (runs)
        runs_put(mm, stack, runs, n);
    return r;
}

/* ---- direct devices ------------------------------------------------------------------------------------ */

/* cma_alloc from area if it can give memory below the limit. */
static bool area_try(struct cma_dev *dev, struct cma_area *a, uint64_t n, cma_pfn_t *pfnp)
{
    struct cma_mm *mm = dev->mm;
    cma_pfn_t lim = limit_pfn(dev);
    if (!a || a->base_pfn + n > lim || n > a->count)
        return false;
    unsigned cap = ALIGN_CAP_SHIFT > mm->page_shift ? ALIGN_CAP_SHIFT - mm->page_shift : 0;
    unsigned align = order_of(n) < cap ? order_of(n) : cap;
    if (cma_alloc(a, n, align, pfnp))
        return false;
    if (*pfnp + n <= lim)
        return true;
    (void)cma_release(a, *pfnp, n); /* an area straddling the limit gave high memory */
    return false;
}

static int direct_take(struct cma_dev *dev, uint64_t n, struct cma__dma_rec *rec)
{
    struct cma_mm *mm = dev->mm;
    unsigned order = order_of(n);
    bool area_first = dev->own_area || n > SMALL_PAGES;
    cma_pfn_t pfn;
    if (area_first && area_try(dev, dev->area, n, &pfn)) {
        rec->kind = REC_AREA;
    } else if (order <= mm->max_order &&
               !cma__alloc_pages_below(mm, order, CMA_GFP_UNMOVABLE | CMA_GFP_ZERO, limit_pfn(dev), &pfn)) {
        rec->kind = REC_BUDDY;
        rec->order = (uint8_t)order;
        struct cma__run run = {pfn, 1ull << order};
        int r = cma__dma_hold_runs(mm, &run, 1); /* so a stray cma_free_pages of it is refused */
        if (r) {
            (void)cma_free_pages(mm, pfn, order);
            return r;
        }
    } else if (!area_first && area_try(dev, dev->area, n, &pfn)) {
        rec->kind = REC_AREA;
    } else {
        return -CMA_ENOMEM;
    }
    if (rec->kind == REC_AREA) {
        void *p = cma_pfn_to_virt(mm, pfn);
        if (p)
            memset(p, 0, (size_t)n << mm->page_shift);
    }
    rec->dma = pfn << mm->page_shift;
    rec->n = n;
    rec->count = 1;
    return 0;
}

static void direct_give_back(struct cma_dev *dev, const struct cma__dma_rec *rec)
{
    struct cma_mm *mm = dev->mm;
    cma_pfn_t pfn = rec->dma >> mm->page_shift;
    if (rec->kind == REC_AREA) {
        int r = cma_release(dev->area, pfn, rec->n);
        cma_assert(r == 0);
        (void)r;
    } else {
        struct cma__run run = {pfn, 1ull << rec->order};
        cma__dma_unhold_runs(mm, &run, 1);
        (void)cma_free_pages(mm, pfn, rec->order);
    }
}

static int direct_alloc(struct cma_dev *dev, uint64_t n, cma_iova_t *dmap, void **cpup)
{
    struct cma__dma_rec rec = {0};
    int r = direct_take(dev, n, &rec);
    if (r)
        return r;
    if ((r = dev_lock_with_room(dev))) {
        direct_give_back(dev, &rec);
        return r;
    }
    rec_place(dev, &rec);
    dev->nrecs++;
    dev->allocs_live++;
    dev->alloc_pages_live += n;
    dev->alloc_calls++;
    if (rec.kind == REC_AREA)
        dev->from_area++;
    else
        dev->from_buddy++;
    cma__unlock(&dev->mm->host, &dev->lock);
    *dmap = rec.dma;
    if (cpup)
        *cpup = cma_pfn_to_virt(dev->mm, rec.dma >> dev->mm->page_shift);
    return 0;
}

static int direct_free(struct cma_dev *dev, cma_iova_t dma, uint64_t n)
{
    uint32_t i;
    cma__lock(&dev->mm->host, &dev->lock);
    int r = rec_find_locked(dev, dma, false, n, &i);
    struct cma__dma_rec rec = {0};
    if (!r) {
        rec = dev->recs[i];
        rec_delete_locked(dev, i);
        dev->allocs_live--;
        dev->alloc_pages_live -= n;
    }
    cma__unlock(&dev->mm->host, &dev->lock);
    if (!r)
        direct_give_back(dev, &rec);
    return r;
}

static int direct_map(struct cma_dev *dev, const cma_pfn_t *pfns, size_t n, cma_iova_t *dmap)
{
    struct cma_mm *mm = dev->mm;
    for (size_t i = 1; i < n; i++)
        if (pfns[i] != pfns[0] + i)
            return -CMA_EINVAL; /* not one physical range: no bounce buffer to make it one */
    if (pfns[0] + n < pfns[0] || pfns[0] + n > limit_pfn(dev))
        return -CMA_EINVAL; /* beyond the device's reach */
    struct cma__run run = {pfns[0], n};
    int r = cma__dma_hold_runs(mm, &run, 1);
    if (r)
        return r;
    if ((r = dev_lock_with_room(dev))) {
        cma__dma_unhold_runs(mm, &run, 1);
        return r;
    }
    cma_iova_t dma = pfns[0] << mm->page_shift;
    uint32_t i;
    if (rec_find_locked(dev, dma, true, n, &i) == 0) {
        dev->recs[i].count++;
    } else {
        rec_place(dev, &(struct cma__dma_rec){.dma = dma, .n = n, .count = 1, .kind = REC_MAP});
        dev->nrecs++;
    }
    dev->maps_live++;
    dev->map_pages_live += n;
    dev->map_calls++;
    cma__unlock(&mm->host, &dev->lock);
    *dmap = dma;
    return 0;
}

static int direct_unmap(struct cma_dev *dev, cma_iova_t dma, uint64_t n)
{
    uint32_t i;
    cma__lock(&dev->mm->host, &dev->lock);
    int r = rec_find_locked(dev, dma, true, n, &i);
    if (!r) {
        if (--dev->recs[i].count == 0)
            rec_delete_locked(dev, i);
        dev->maps_live--;
        dev->map_pages_live -= n;
    }
    cma__unlock(&dev->mm->host, &dev->lock);
    if (!r) {
        struct cma__run run = {dma >> dev->mm->page_shift, n};
        cma__dma_unhold_runs(dev->mm, &run, 1);
    }
    return r;
}

/* ---- the DMA API --------------------------------------------------------------------------------------- */

int cma_dma_alloc(struct cma_dev *dev, size_t size, cma_iova_t *dma_addrp, void **cpu_addrp)
{
    if (cpu_addrp)
        *cpu_addrp = NULL;
    if (!dev || !dma_addrp || !size)
        return -CMA_EINVAL;
    uint64_t n = pages_of(dev->mm, size);
    int r = dev->io ? iommu_alloc(dev, n, dma_addrp, cpu_addrp) : direct_alloc(dev, n, dma_addrp, cpu_addrp);
    if (r)
        note_fail(dev, &dev->alloc_fail);
    return r;
}

int cma_dma_free(struct cma_dev *dev, size_t size, cma_iova_t dma_addr)
{
    if (!dev || !size)
        return -CMA_EINVAL;
    uint64_t n = pages_of(dev->mm, size);
    int r = dev->io ? iommu_release(dev, dma_addr, n, true) : direct_free(dev, dma_addr, n);
    if (r)
        note_fail(dev, &dev->bad_calls);
    return r;
}

int cma_dma_map_pages(struct cma_dev *dev, const cma_pfn_t *pfns, size_t n, cma_iova_t *dma_addrp)
{
    if (!dev || !pfns || !n || !dma_addrp)
        return -CMA_EINVAL;
    int r;
    if (dev->io) {
        struct cma__run stack[RUNS_ON_STACK];
        size_t nr = count_runs(pfns, n);
        struct cma__run *runs = runs_get(dev->mm, stack, nr);
        if (!runs)
            return -CMA_ENOMEM;
        fill_runs(pfns, n, nr, runs);
        r = iommu_map(dev, runs, nr, n, 0, dma_addrp);
        runs_put(dev->mm, stack, runs, nr);
    } else {
        r = direct_map(dev, pfns, n, dma_addrp);
    }
    if (r)
        note_fail(dev, &dev->map_fail);
    return r;
}

int cma_dma_unmap(struct cma_dev *dev, cma_iova_t dma_addr, size_t n)
{
    if (!dev || !n)
        return -CMA_EINVAL;
    int r = dev->io ? iommu_release(dev, dma_addr, n, false) : direct_unmap(dev, dma_addr, n);
    if (r)
        note_fail(dev, &dev->bad_calls);
    return r;
}

/* ---- statistics --------------------------------------------------------------------------------------- */

int cma_dev_get_stats(const struct cma_dev *cdev, struct cma_dev_stats *st)
{
    struct cma_dev *dev = (struct cma_dev *)cdev; /* locks are mutable state */
    if (!dev || !st)
        return -CMA_EINVAL;
    memset(st, 0, sizeof *st);
    const struct cma_hostx *hx = &dev->mm->host;
    st->name = dev->name;
    st->dma_limit = dev->limit;
    st->iommu = dev->io != NULL;
    if (dev->io)
        cma__lock(hx, &dev->io->pt_lock);
    cma__lock(hx, &dev->lock);
    st->allocs_live = dev->allocs_live;
    st->alloc_bytes_live = dev->alloc_pages_live << dev->mm->page_shift;
    st->maps_live = dev->maps_live;
    st->map_pages_live = dev->map_pages_live;
    st->alloc_calls = dev->alloc_calls;
    st->map_calls = dev->map_calls;
    st->alloc_from_area = dev->from_area;
    st->alloc_from_buddy = dev->from_buddy;
    st->alloc_scattered = dev->scattered;
    st->alloc_fail = dev->alloc_fail;
    st->map_fail = dev->map_fail;
    st->bad_calls = dev->bad_calls;
    cma__unlock(hx, &dev->lock);
    if (dev->io)
        cma__unlock(hx, &dev->io->pt_lock);
    return 0;
}

/* ---- checker ----------------------------------------------------------------------------------------- */

void cma__dma_lock_all(struct cma_mm *mm)
{
    cma__lock(&mm->host, &mm->dma_lock);
    for (struct cma_iommu *io = mm->iommus; io; io = io->next)
        cma__iommu_lock_all(io);
    for (struct cma_dev *d = mm->devs; d; d = d->next)
        cma__lock(&mm->host, &d->lock);
}

void cma__dma_unlock_all(struct cma_mm *mm)
{
    for (struct cma_dev *d = mm->devs; d; d = d->next)
        cma__unlock(&mm->host, &d->lock);
    for (struct cma_iommu *io = mm->iommus; io; io = io->next)
        cma__iommu_unlock_all(io);
    cma__unlock(&mm->host, &mm->dma_lock);
}

#define DFAIL(...) (cma__format(why, len, __VA_ARGS__), -CMA_EFAULT)

/* D8, D11 for a direct device: records below the limit, over held pages, reachable, counted. */
static int check_direct_locked(struct cma_dev *d, char *why, size_t len)
{
    struct cma_mm *mm = d->mm;
    uint64_t nrecs = 0, allocs = 0, maps = 0, alloc_pages = 0, map_pages = 0;
    for (uint32_t i = 0; i < d->cap; i++) {
        const struct cma__dma_rec *x = &d->recs[i];
        if (x->kind == REC_FREE)
            continue;
        nrecs++;
        cma_pfn_t pfn = x->dma >> mm->page_shift;
        uint64_t span = x->kind == REC_BUDDY ? 1ull << x->order : x->n;
        if (!x->n || !x->count || (x->dma & (mm->page_size - 1)) || x->kind > REC_BUDDY ||
            (x->kind == REC_BUDDY && x->n > span) || (x->kind != REC_MAP && x->count != 1))
            return DFAIL("D11: device %s: malformed record at 0x%llx", d->name, (unsigned long long)x->dma);
        if (((pfn + span) << mm->page_shift) - 1 > d->limit)
            return DFAIL("D8: device %s: buffer at 0x%llx ends above the device limit", d->name,
                         (unsigned long long)x->dma);
        if (cma__dma_held_locked(mm, pfn, span))
            return DFAIL("D1: device %s: buffer at 0x%llx covers pages not in use or not pinned", d->name,
                         (unsigned long long)x->dma);
        if (x->kind == REC_AREA && (!d->area || pfn < d->area->base_pfn || pfn + x->n > d->area->base_pfn + d->area->count))
            return DFAIL("D11: device %s: area buffer at 0x%llx outside its area", d->name,
                         (unsigned long long)x->dma);
        for (uint32_t j = rec_hash(d, x->dma); j != i; j = (j + 1) & (d->cap - 1))
            if (d->recs[j].kind == REC_FREE)
                return DFAIL("D11: device %s: record at 0x%llx unreachable from its hash", d->name,
                             (unsigned long long)x->dma);
        if (x->kind == REC_MAP) {
            maps += x->count;
            map_pages += x->n * x->count;
        } else {
            allocs++;
            alloc_pages += x->n;
        }
    }
    if (nrecs != d->nrecs || allocs != d->allocs_live || maps != d->maps_live ||
        alloc_pages != d->alloc_pages_live || map_pages != d->map_pages_live)
        return DFAIL("D11: device %s: %llu buffers and %llu mappings recorded, counters say %llu and %llu",
                     d->name, (unsigned long long)allocs, (unsigned long long)maps,
                     (unsigned long long)d->allocs_live, (unsigned long long)d->maps_live);
    return 0;
}

int cma__dma_check_locked(struct cma_mm *mm, char *why, size_t len)
{
    int r = 0;
    for (struct cma_iommu *io = mm->iommus; io && !r; io = io->next)
        r = cma__iommu_check_locked(io, why, len);
    for (struct cma_dev *d = mm->devs; d && !r; d = d->next)
        if (!d->io)
            r = check_direct_locked(d, why, len);
    return r;
}
