/* SPDX-License-Identifier: MIT */
/*
 * stats.c - counters and /proc-style text dumps of one machine.
 *
 * cma_mm_get_stats() takes a consistent snapshot of every counter; cma_mm_dump() renders text in the
 * formats Linux users already read (docs/linux.md, "The /proc and sysfs formats"):
 *
 *   CMA_DUMP_BUDDYINFO      /proc/buddyinfo: "Node 0, zone   Normal " then "%6llu " per order 0..max_order
 *                           of free_area[o].nr_free (buddy lists only; per-CPU caches are not counted,
 *                           as in Linux).
 *   CMA_DUMP_PAGETYPEINFO   /proc/pagetypeinfo: pageblock order and size, a table of free blocks per
 *                           migrate type and order (buddy lists), then pageblocks per migrate type.
 *   CMA_DUMP_VMSTAT         /proc/vmstat-style "name value" lines, Linux names where they exist
 *                           (nr_free_pages, nr_free_cma, pgalloc, pgfree, pgmigrate_*), then libcma's.
 *                           Built from the same snapshot as cma_mm_get_stats, so the numbers agree.
 *   CMA_DUMP_PAGEBLOCK_MAP  per span a header "span <i>: pfn 0x<first>-0x<last> (<n> pages)" (last is
 *                           inclusive), then one character per pageblock touched by the span, 64 per
 *                           line, each line prefixed with "%10llx: " = the pfn where its first
 *                           pageblock starts. U M R H C I = effective type, '.' = hole; lower case
 *                           when every page of the pageblock that lies in the span is free (in the
 *                           buddy or in a per-CPU cache). A legend line ends the map.
 *   CMA_DUMP_AREAS          per-area counters named as Linux's /sys/kernel/mm/cma/<area>/ files.
 *   CMA_DUMP_DMA            per IOMMU domain and per DMA device its counters (cma_iommu_get_stats,
 *                           cma_dev_get_stats), in creation order, newest first.
 *   CMA_DUMP_ALL            every section above, each after a "# <name>" line, separated by blank lines.
 *
 * Output follows snprintf: the return value is the length of the whole text (excluding the NUL), at
 * most len bytes are written and the text is always NUL-terminated when len > 0. Every section goes
 * through the library's one appender (struct cma__buf, format.c), areas included, so nothing is cut
 * short and truncation is handled in one place.
 *
 * Locking: a snapshot holds every lock in the documented order - each CPU cache's lock in CPU order,
 * then the zone lock (mm->lock) - so free lists, per-CPU lists, counters and page descriptors are
 * consistent with each other. A dump holds them for the whole text (CMA_DUMP_ALL included), so all its
 * sections describe the same instant. Do not call these with libcma locks held. Before cma_mm_online()
 * there is nothing to lock or describe: statistics are zero (metadata aside) and dumps are empty.
 */
#include "internal/internal.h"

/* ---- names ---------------------------------------------------------------------------------------
 * One table per migrate type: the pagetypeinfo name (Linux's migratetype_names) and the pageblock map
 * letter (upper case; lower case means all free).
 */
static const struct {
    const char *name;
    char letter;
} mt_names[CMA_MIGRATE_TYPES] = {
    [CMA_MIGRATE_UNMOVABLE] = {"Unmovable", 'U'},
    [CMA_MIGRATE_MOVABLE] = {"Movable", 'M'},
    [CMA_MIGRATE_RECLAIMABLE] = {"Reclaimable", 'R'},
    [CMA_MIGRATE_HIGHATOMIC] = {"HighAtomic", 'H'},
    [CMA_MIGRATE_CMA] = {"CMA", 'C'},
    [CMA_MIGRATE_ISOLATE] = {"Isolate", 'I'},
};

#define NODE_ID 0
#define ZONE_NAME "Normal"
#define MAP_PER_LINE 64

/* ---- statistics ---------------------------------------------------------------------------------- */

/* Adds every page held in one CPU cache to nr_free[] by the effective type of its pageblock. The walk is
 * bounded by the number of pages so a corrupted list cannot hang it (cma_mm_check reports those). */
static void pcp_free_by_type(const struct cma_mm *mm, const struct cma_pcp *pcp, uint64_t *nr_free)
{
    for (unsigned o = 0; o <= CMA_PCP_MAX_ORDER; o++) {
        for (unsigned t = 0; t < CMA_MIGRATE_PCPTYPES; t++) {
            uint64_t steps = 0;
            for (uint32_t idx = pcp->lists[o][t].head; idx != CMA_IDX_NIL && steps < mm->nr_pages;
                 idx = cma__page(mm, idx)->lo, steps++) {
                cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
                nr_free[cma__pb_type(mm, pfn)] += 1ull << o;
            }
        }
    }
}

/* The snapshot; caller holds every cache lock and the zone lock (cma__lock_all), mm is online. */
static void stats_locked(const struct cma_mm *mm, struct cma_mm_stats *st)
{
    memset(st, 0, sizeof *st);
    st->nr_pages = mm->nr_pages;
    st->nr_managed = mm->nr_managed;
    st->nr_reserved = mm->nr_reserved;
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++) {
        st->nr_free[t] = mm->nr_free_buddy[t];
        st->nr_pageblocks[t] = mm->pb_count[t];
    }

    st->pgalloc = mm->pgalloc;
    st->pgfree = mm->pgfree;
    st->pgalloc_pages = mm->pgalloc_pages;
    st->pgfree_pages = mm->pgfree_pages;
    for (unsigned cpu = 0; cpu < mm->nr_cpus; cpu++) {
        const struct cma_pcp *pcp = &mm->pcp[cpu];
        pcp_free_by_type(mm, pcp, st->nr_free);
        st->nr_free_pcp += pcp->count;
        st->pgalloc += pcp->pgalloc;
        st->pgfree += pcp->pgfree;
        st->pgalloc_pages += pcp->pgalloc_pages;
        st->pgfree_pages += pcp->pgfree_pages;
        st->pcp_refills += pcp->refills;
        st->pcp_drains += pcp->drains;
    }

    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        st->nr_free_total += st->nr_free[t];
    st->nr_free_cma = st->nr_free[CMA_MIGRATE_CMA];
    st->nr_allocated = st->nr_managed >= st->nr_free_total ? st->nr_managed - st->nr_free_total : 0;

    st->metadata_bytes = mm->metadata_bytes + cma__memblock_metadata_bytes(&mm->mb);
    st->metadata_bytes_per_page_x100 = st->nr_pages ? cma__div64(st->metadata_bytes * 100, st->nr_pages) : 0;

    st->alloc_fail = mm->alloc_fail;
    st->bad_frees = mm->bad_frees;
    st->fallbacks = mm->fallbacks;
    st->pageblocks_claimed = mm->pageblocks_claimed;
    st->pages_stolen = mm->pages_stolen;
    st->pgmigrate_success = mm->pgmigrate_success;
    st->pgmigrate_fail = mm->pgmigrate_fail;
    st->pgdiscard = mm->pgdiscard;
}

int cma_mm_get_stats(const struct cma_mm *mm, struct cma_mm_stats *st)
{
    if (!mm || !st)
        return -CMA_EINVAL;
    memset(st, 0, sizeof *st);
    if (!mm->online) {
        st->metadata_bytes = mm->metadata_bytes + cma__memblock_metadata_bytes(&mm->mb);
        return 0;
    }
    cma__lock_all(mm);
    stats_locked(mm, st);
    cma__unlock_all(mm);
    return 0;
}

/* ---- buddyinfo ----------------------------------------------------------------------------------- */

static void dump_buddyinfo(struct cma__buf *a, const struct cma_mm *mm)
{
    cma__buf_printf(a, "Node %d, zone %8s ", NODE_ID, ZONE_NAME);
    for (unsigned o = 0; o <= mm->max_order; o++)
        cma__buf_printf(a, "%6llu ", (unsigned long long)mm->free_area[o].nr_free);
    cma__buf_putc(a, '\n');
}

/* ---- pagetypeinfo ---------------------------------------------------------------------------------
 * The column layout is Linux's: the free-table header label is padded so the order columns line up
 * with the rows ("Node %4d, zone %8s, type %12s " is 44 characters, as is "%-43s "); the block-count
 * header is padded to 23 columns while its rows start with the shorter "Node %d, zone %8s ".
 */
static void dump_pagetypeinfo(struct cma__buf *a, const struct cma_mm *mm)
{
    cma__buf_printf(a, "Page block order: %u\n", mm->pb_order);
    cma__buf_printf(a, "Pages per block:  %llu\n\n", 1ull << mm->pb_order);

    cma__buf_printf(a, "%-43s ", "Free pages count per migrate type at order");
    for (unsigned o = 0; o <= mm->max_order; o++)
        cma__buf_printf(a, "%6u ", o);
    cma__buf_putc(a, '\n');
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++) {
        cma__buf_printf(a, "Node %4d, zone %8s, type %12s ", NODE_ID, ZONE_NAME, mt_names[t].name);
        for (unsigned o = 0; o <= mm->max_order; o++)
            cma__buf_printf(a, "%6llu ", (unsigned long long)mm->free_area[o].lists[t].nr);
        cma__buf_putc(a, '\n');
    }

    cma__buf_printf(a, "\n%-23s", "Number of blocks type ");
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        cma__buf_printf(a, "%12s ", mt_names[t].name);
    cma__buf_putc(a, '\n');
    cma__buf_printf(a, "Node %d, zone %8s ", NODE_ID, ZONE_NAME);
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        cma__buf_printf(a, "%12llu ", (unsigned long long)mm->pb_count[t]);
    cma__buf_putc(a, '\n');
}

/* ---- vmstat -------------------------------------------------------------------------------------- */

static void dump_vmstat(struct cma__buf *a, const struct cma_mm *mm)
{
    struct cma_mm_stats st;
    stats_locked(mm, &st);
    const struct {
        const char *name;
        uint64_t value;
    } rows[] = {
        /* Linux names; nr_free_pages leaves out isolated pages, as Linux's NR_FREE_PAGES does */
        {"nr_free_pages", st.nr_free_total - st.nr_free[CMA_MIGRATE_ISOLATE]},
        {"nr_free_cma", st.nr_free_cma},
        {"pgalloc", st.pgalloc_pages},
        {"pgfree", st.pgfree_pages},
        {"pgmigrate_success", st.pgmigrate_success},
        {"pgmigrate_fail", st.pgmigrate_fail},
        /* libcma's own */
        {"pgdiscard", st.pgdiscard},
        {"alloc_fail", st.alloc_fail},
        {"pgalloc_fallback", st.fallbacks},
        {"pageblocks_claimed", st.pageblocks_claimed},
        {"pages_stolen", st.pages_stolen},
        {"pcp_refills", st.pcp_refills},
        {"pcp_drains", st.pcp_drains},
        {"nr_managed", st.nr_managed},
        {"nr_reserved", st.nr_reserved},
        {"nr_free_pcp", st.nr_free_pcp},
        {"metadata_bytes", st.metadata_bytes},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cma__buf_printf(a, "%s %llu\n", rows[i].name, (unsigned long long)rows[i].value);
}

/* ---- pageblock map --------------------------------------------------------------------------------
 * Freeness comes from one forward walk over each span, block by block: every pfn the walk stops at is
 * a block head (blocks are naturally aligned and never cross a span edge, so the span base is a block
 * boundary), and the head's order says how far to skip. A free block (PS_BUDDY or PS_PCP) larger than
 * a pageblock covers the following pageblocks entirely; the walk remembers the last block so those
 * pageblocks inherit its freeness. Each pageblock is visited once: linear in the number of blocks.
 */
struct map_walk {
    const struct cma_span *sp;
    cma_pfn_t next;  /* first pfn not yet covered by a visited block */
    bool last_free;  /* freeness of the block that ends at `next` */
};

/* True when every page of [s, e) (inside the span, s >= the previous call's e) is free. */
static bool map_range_free(const struct cma_mm *mm, struct map_walk *w, cma_pfn_t s, cma_pfn_t e)
{
    const struct cma_span *sp = w->sp;
    cma_pfn_t span_end = sp->base + sp->npages;
    bool all = w->next > s ? w->last_free : true;
    while (w->next < e) {
        const struct cma_page *pg = cma__page(mm, sp->idx + (uint32_t)(w->next - sp->base));
        unsigned state = cma__page_state(pg);
        uint64_t size = 1;
        /* a tail here means the walk lost step (corruption); count it as busy and move one page */
        if (state != PS_TAIL && pg->order <= mm->max_order)
            size = 1ull << pg->order;
        if (size > span_end - w->next)
            size = span_end - w->next;
        w->last_free = state == PS_BUDDY || state == PS_PCP;
        if (!w->last_free)
            all = false;
        w->next += size;
    }
    return all;
}

static void dump_pageblock_map(struct cma__buf *a, const struct cma_mm *mm)
{
    const unsigned pbo = mm->pb_order;
    for (unsigned i = 0; i < mm->nspans; i++) {
        const struct cma_span *sp = &mm->spans[i];
        cma_pfn_t end = sp->base + sp->npages; /* exclusive */
        uint64_t pb_lo = sp->base >> pbo, pb_hi = (end - 1) >> pbo;
        struct map_walk w = {.sp = sp, .next = sp->base, .last_free = true};
        unsigned col = 0;

        cma__buf_printf(a, "span %u: pfn 0x%llx-0x%llx (%llu pages)\n", i, (unsigned long long)sp->base,
                   (unsigned long long)(end - 1), (unsigned long long)sp->npages);
        for (uint64_t pb = pb_lo; pb <= pb_hi; pb++) {
            cma_pfn_t pb_start = (cma_pfn_t)pb << pbo;
            cma_pfn_t s = pb_start < sp->base ? sp->base : pb_start;
            cma_pfn_t e = pb_start + (1ull << pbo) < end ? pb_start + (1ull << pbo) : end;
            bool all_free = map_range_free(mm, &w, s, e);
            uint8_t raw = cma__pb_raw(mm, pb_start);
            char c;
            if (raw & PB_HOLE) {
                c = '.';
            } else {
                c = mt_names[cma__pb_type(mm, pb_start)].letter;
                if (all_free)
                    c = (char)(c - 'A' + 'a');
            }
            if (col == 0)
                cma__buf_printf(a, "%10llx: ", (unsigned long long)pb_start);
            cma__buf_putc(a, c);
            if (++col == MAP_PER_LINE || pb == pb_hi) {
                cma__buf_putc(a, '\n');
                col = 0;
            }
        }
    }
    cma__buf_printf(a, "legend: U unmovable M movable R reclaimable H highatomic C cma I isolate . hole; "
                  "lower case = all free\n");
}

/* ---- areas --------------------------------------------------------------------------------------- */

/* Per-area counters, named as Linux's /sys/kernel/mm/cma/<area>/ files. Takes each area's lock, so
 * it runs outside cma__lock_all (lock order: area before zone). */
static void dump_areas(struct cma__buf *a, const struct cma_mm *mm)
{
    for (unsigned i = 0; i < mm->nr_areas; i++)
        cma__area_format(mm->areas[i], a, false);
}

/* ---- DMA layer ---------------------------------------------------------------------------------------
 * Each object's counters are a snapshot under its own locks, taken while the registry lock keeps the
 * lists still; like the areas, this runs outside lock_all (the DMA locks come first in the order).
 */
static void dump_dma(struct cma__buf *a, const struct cma_mm *cmm, const char *header)
{
    struct cma_mm *mm = (struct cma_mm *)cmm;
    cma__lock(&mm->host, &mm->dma_lock);
    if (header && (mm->iommus || mm->devs))
        cma__buf_printf(a, "%s", header);
    for (const struct cma_iommu *io = mm->iommus; io; io = io->next) {
        struct cma_iommu_stats st;
        (void)cma_iommu_get_stats(io, &st);
        cma__buf_printf(a, "iommu %s: %s, iova_bits %u, granule %llu, mappings %llu, mapped_bytes %llu, "
                      "leaves %llu/%llu/%llu\n", st.name, io->cfg.strict ? "strict" : "lazy",
                   io->cfg.iova_bits, (unsigned long long)st.granule, (unsigned long long)st.mappings,
                   (unsigned long long)st.mapped_bytes, (unsigned long long)st.leaves[0],
                   (unsigned long long)st.leaves[1], (unsigned long long)st.leaves[2]);
        cma__buf_printf(a, "  iova_bytes live %llu cached %llu queued %llu free %llu largest_free %llu ranges %llu\n",
                   (unsigned long long)st.iova_live_bytes, (unsigned long long)st.iova_cached_bytes,
                   (unsigned long long)st.iova_queued_bytes, (unsigned long long)st.iova_free_bytes,
                   (unsigned long long)st.iova_largest_free, (unsigned long long)st.iova_ranges);
        cma__buf_printf(a, "  pt_pages %llu empty %llu spare %llu peak %llu\n", (unsigned long long)st.pt_pages,
                   (unsigned long long)st.pt_pages_empty, (unsigned long long)st.pt_pages_spare,
                   (unsigned long long)st.pt_pages_peak);
        cma__buf_printf(a, "  map_calls %llu unmap_calls %llu iova_cache_hits %llu misses %llu fail %llu\n",
                   (unsigned long long)st.map_calls, (unsigned long long)st.unmap_calls,
                   (unsigned long long)st.iova_cache_hits, (unsigned long long)st.iova_cache_misses,
                   (unsigned long long)st.iova_alloc_fail);
        cma__buf_printf(a, "  inv_range %llu inv_all %llu fq_queued %llu fq_full_flushes %llu "
                      "fq_timeout_flushes %llu iotlb_hits %llu misses %llu stale %llu\n",
                   (unsigned long long)st.inv_range, (unsigned long long)st.inv_all,
                   (unsigned long long)st.fq_queued, (unsigned long long)st.fq_full_flushes,
                   (unsigned long long)st.fq_timeout_flushes, (unsigned long long)st.iotlb_hits,
                   (unsigned long long)st.iotlb_misses, (unsigned long long)st.iotlb_stale_hits);
    }
    for (const struct cma_dev *d = mm->devs; d; d = d->next) {
        struct cma_dev_stats st;
        (void)cma_dev_get_stats(d, &st);
        cma__buf_printf(a, "dev %s: %s%s, dma_limit 0x%llx, buffers %llu (%llu bytes), mappings %llu (%llu pages), "
                      "from_area %llu from_buddy %llu scattered %llu, alloc_fail %llu map_fail %llu "
                      "refused %llu\n", st.name, d->io ? "iommu " : "direct", d->io ? d->io->name : "",
                   (unsigned long long)st.dma_limit, (unsigned long long)st.allocs_live,
                   (unsigned long long)st.alloc_bytes_live, (unsigned long long)st.maps_live,
                   (unsigned long long)st.map_pages_live, (unsigned long long)st.alloc_from_area,
                   (unsigned long long)st.alloc_from_buddy, (unsigned long long)st.alloc_scattered,
                   (unsigned long long)st.alloc_fail, (unsigned long long)st.map_fail,
                   (unsigned long long)st.bad_calls);
    }
    cma__unlock(&mm->host, &mm->dma_lock);
}

/* ---- entry point --------------------------------------------------------------------------------- */

int cma_mm_dump(const struct cma_mm *mm, enum cma_dump what, char *buf, size_t len)
{
    if (!mm || (!buf && len > 0))
        return -CMA_EINVAL;
    switch (what) {
    case CMA_DUMP_BUDDYINFO:
    case CMA_DUMP_PAGETYPEINFO:
    case CMA_DUMP_VMSTAT:
    case CMA_DUMP_PAGEBLOCK_MAP:
    case CMA_DUMP_AREAS:
    case CMA_DUMP_ALL:
    case CMA_DUMP_DMA:
        break;
    default:
        return -CMA_EINVAL;
    }

    struct cma__buf a;
    cma__buf_init(&a, buf, len);
    if (!mm->online)
        return cma__buf_finish(&a);

    cma__lock_all(mm);
    switch (what) {
    case CMA_DUMP_BUDDYINFO:
        dump_buddyinfo(&a, mm);
        break;
    case CMA_DUMP_PAGETYPEINFO:
        dump_pagetypeinfo(&a, mm);
        break;
    case CMA_DUMP_VMSTAT:
        dump_vmstat(&a, mm);
        break;
    case CMA_DUMP_PAGEBLOCK_MAP:
        dump_pageblock_map(&a, mm);
        break;
    case CMA_DUMP_AREAS:
    case CMA_DUMP_DMA:
        break;
    case CMA_DUMP_ALL:
        cma__buf_printf(&a, "# buddyinfo\n");
        dump_buddyinfo(&a, mm);
        cma__buf_printf(&a, "\n# pagetypeinfo\n");
        dump_pagetypeinfo(&a, mm);
        cma__buf_printf(&a, "\n# vmstat\n");
        dump_vmstat(&a, mm);
        cma__buf_printf(&a, "\n# pageblock_map\n");
        dump_pageblock_map(&a, mm);
        break;
    }
    cma__unlock_all(mm);
    if (what == CMA_DUMP_ALL && mm->nr_areas)
        cma__buf_printf(&a, "\n# areas\n");
    if (what == CMA_DUMP_AREAS || what == CMA_DUMP_ALL)
        dump_areas(&a, mm);
    if (what == CMA_DUMP_DMA || what == CMA_DUMP_ALL)
        dump_dma(&a, mm, what == CMA_DUMP_ALL ? "\n# dma\n" : NULL);
    return cma__buf_finish(&a);
}
