/* SPDX-License-Identifier: MIT */
/*
 * memblock.c - the boot-time region allocator: which byte ranges are memory, which of them are
 * reserved, and first-fit placement of early allocations in what is left.
 *
 * Representation
 *   Two region arrays (struct cma_mb_type), `memory` and `reserved`, each a sorted array of byte
 *   ranges [base, base + size). Free space is memory minus reserved; it is never stored, only walked.
 *   Arrays start at 128 entries from the host allocator and double (allocate, copy, free) when an
 *   insertion needs room; a failed growth returns -ENOMEM before anything is modified. A machine
 *   grows full arrays before it takes its lock, so no operation under that lock allocates.
 *
 * Algorithm
 *   Lookups binary-search for the first region ending above an address. Because regions are merged,
 *   "entirely memory" / "entirely reserved" means "inside one region", so every check is one lookup.
 *   Insertion merges with the left and/or right neighbour when they touch; cutting a range out of a
 *   region shrinks it, deletes it or splits it in two. One helper moves array tails for all of these.
 *   alloc_range walks memory regions from the top (default) or bottom, and inside each region the free
 *   gaps between its reserved regions in the same direction, clamping each gap to [start, end) and
 *   taking the first that fits: the highest (top-down) or lowest (bottom-up) aligned base.
 *   Cost O(regions), independent of the bytes covered.
 *
 * Invariants owned here (for both arrays)
 *   - cnt <= max; regions[0..cnt) sorted by base, every size > 0, base + size <= UINT64_MAX;
 *   - disjoint and non-adjacent: regions[i].base + regions[i].size < regions[i + 1].base;
 *   - total == sum of sizes;
 *   - every reserved byte is a memory byte (so a reserved region lies inside one memory region).
 *
 * Differences from Linux memblock
 *   - Overlapping add / reserve requests are refused (-EEXIST / -EBUSY) instead of merged silently,
 *     a reservation must lie inside memory, and remove / free must name memory / reserved bytes.
 *   - No zero-length sentinel entry: an empty array has cnt == 0.
 *   - No nid, flags, names or current_limit; regions carry only base and size.
 * The caller holds the machine's lock; nothing here locks or prints.
 */
#include "internal/internal.h"

#define MB_INIT_REGIONS 128

/* End of [base, base + size), or 0 when the range is empty or would run past UINT64_MAX. Keeping
 * base + size <= UINT64_MAX means every end is representable and 0 can flag the error. */
static uint64_t range_end(cma_phys_t base, uint64_t size)
{
    if (size == 0 || size > UINT64_MAX - base)
        return 0;
    return base + size;
}

static uint64_t region_end(const struct cma_mb_region *r) { return r->base + r->size; }

/* Index of the first region ending above addr (cnt if none). Regions before it lie wholly at or
 * below addr; the region at it is the only one that can contain addr. */
static size_t first_ending_above(const struct cma_mb_type *t, uint64_t addr)
{
    size_t lo = 0, hi = t->cnt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (region_end(&t->regions[mid]) <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* True if some byte of [base, end) is in t. */
static bool type_overlaps(const struct cma_mb_type *t, uint64_t base, uint64_t end)
{
    size_t i = first_ending_above(t, base);
    return i < t->cnt && t->regions[i].base < end;
}

/* Index of the region holding all of [base, end), or cnt. Merging guarantees a fully covered range
 * never straddles two regions (they would have been adjacent or overlapping). */
static size_t type_containing(const struct cma_mb_type *t, uint64_t base, uint64_t end)
{
    size_t i = first_ending_above(t, base);
    if (i < t->cnt && t->regions[i].base <= base && end <= region_end(&t->regions[i]))
        return i;
    return t->cnt;
}

/* The one way entries move: regions[from..cnt) slide to start at `to`, opening a gap (to > from)
 * or closing one (to < from). Room for an opening must already exist. Vacated tail slots are zeroed
 * so stale regions never linger past cnt. */
static void move_entries(struct cma_mb_type *t, size_t from, size_t to)
{
    size_t n = t->cnt - from;
    size_t old_cnt = t->cnt;
    memmove(&t->regions[to], &t->regions[from], n * sizeof t->regions[0]);
    t->cnt = to + n;
    for (size_t i = t->cnt; i < old_cnt; i++) /* a loop: gcc -O3 misjudges a memset bound here */
        t->regions[i] = (struct cma_mb_region){0, 0};
}

static int type_alloc(const struct cma_hostx *host, struct cma_mb_type *t, size_t max)
{
    t->regions = cma__host_alloc(host, max * sizeof t->regions[0]);
    if (!t->regions)
        return -CMA_ENOMEM;
    t->cnt = 0;
    t->max = max;
    t->total = 0;
    return 0;
}

static void type_free(const struct cma_hostx *host, struct cma_mb_type *t)
{
    cma__host_free(host, t->regions, t->max * sizeof t->regions[0]);
    memset(t, 0, sizeof *t);
}

/* ---- growth --------------------------------------------------------------------------------------
 * A full array doubles: a new array from the host, the entries copied, the old one freed. A machine
 * never calls the host's allocator under its lock, so growth comes in three steps the machine runs
 * around its lock (mm.c): see what is full (locked), allocate (unlocked), swap in (locked), free what
 * was replaced (unlocked). One free slot per array is enough for any single operation.
 */
bool cma__memblock_full(const struct cma_memblock *mb, struct cma_mb_grow *g)
{
    bool full = false;
    for (unsigned i = 0; i < 2; i++) {
        const struct cma_mb_type *t = i == 0 ? &mb->memory : &mb->reserved;
        g->regions[i] = NULL;
        g->max[i] = t->cnt < t->max ? 0 : t->max * 2;
        full |= g->max[i] != 0;
    }
    return full;
}

int cma__memblock_grow_alloc(const struct cma_memblock *mb, struct cma_mb_grow *g)
{
    for (unsigned i = 0; i < 2; i++) {
        if (!g->max[i])
            continue;
        if (g->max[i] > SIZE_MAX / sizeof g->regions[i][0] ||
            !(g->regions[i] = cma__host_alloc(mb->host, g->max[i] * sizeof g->regions[i][0]))) {
            cma__memblock_grow_free(mb, g);
            return -CMA_ENOMEM;
        }
    }
    return 0;
}

void cma__memblock_grow_swap(struct cma_memblock *mb, struct cma_mb_grow *g)
{
    for (unsigned i = 0; i < 2; i++) {
        struct cma_mb_type *t = i == 0 ? &mb->memory : &mb->reserved;
        if (!g->regions[i] || g->max[i] <= t->max || t->cnt < t->max)
            continue; /* not needed any more: the new array is freed instead */
        memcpy(g->regions[i], t->regions, t->cnt * sizeof t->regions[0]);
        struct cma_mb_region *old = t->regions;
        size_t oldmax = t->max;
        t->regions = g->regions[i];
        t->max = g->max[i];
        g->regions[i] = old;
        g->max[i] = oldmax;
    }
}

void cma__memblock_grow_free(const struct cma_memblock *mb, struct cma_mb_grow *g)
{
    for (unsigned i = 0; i < 2; i++) {
        cma__host_free(mb->host, g->regions[i], g->max[i] * sizeof g->regions[i][0]);
        g->regions[i] = NULL;
    }
}

/* Makes room for one more entry in t, all steps at once, unless the owner grows the arrays apart
 * (a machine, which made room before taking its lock: an array still full means its growth failed).
 * On failure nothing changed. */
static int type_reserve_slot(struct cma_memblock *mb, struct cma_mb_type *t)
{
    struct cma_mb_grow g = {{NULL, NULL}, {0, 0}};
    if (t->cnt < t->max)
        return 0;
    if (mb->grow_apart)
        return -CMA_ENOMEM;
    g.max[t == &mb->reserved] = t->max * 2;
    if (cma__memblock_grow_alloc(mb, &g))
        return -CMA_ENOMEM;
    cma__memblock_grow_swap(mb, &g);
    cma__memblock_grow_free(mb, &g);
    return 0;
}

/* Inserts [base, end), which must not overlap t, merging with touching neighbours. */
static int type_insert(struct cma_memblock *mb, struct cma_mb_type *t, uint64_t base,
                       uint64_t end)
{
    size_t i = first_ending_above(t, base); /* regions[i] (if any) starts at or after end */
    struct cma_mb_region *r = t->regions;
    bool join_left = i > 0 && region_end(&r[i - 1]) == base;
    bool join_right = i < t->cnt && r[i].base == end;

    if (join_left && join_right) {
        r[i - 1].size = region_end(&r[i]) - r[i - 1].base;
        move_entries(t, i + 1, i);
    } else if (join_left) {
        r[i - 1].size = end - r[i - 1].base;
    } else if (join_right) {
        r[i].size = region_end(&r[i]) - base;
        r[i].base = base;
    } else {
        int err = type_reserve_slot(mb, t);
        if (err)
            return err;
        r = t->regions; /* may have moved */
        move_entries(t, i, i + 1);
        r[i].base = base;
        r[i].size = end - base;
    }
    t->total += end - base;
    return 0;
}

/* Cuts [base, end) out of regions[i], which must contain it: shrink, delete or split. */
static int type_cut(struct cma_memblock *mb, struct cma_mb_type *t, size_t i, uint64_t base,
                    uint64_t end)
{
    uint64_t rbase = t->regions[i].base, rend = region_end(&t->regions[i]);

    if (rbase == base && rend == end) {
        move_entries(t, i + 1, i);
    } else if (rbase == base) {
        t->regions[i].base = end;
        t->regions[i].size = rend - end;
    } else if (rend == end) {
        t->regions[i].size = base - rbase;
    } else {
        int err = type_reserve_slot(mb, t);
        if (err)
            return err;
        move_entries(t, i + 1, i + 2);
        t->regions[i].size = base - rbase;
        t->regions[i + 1].base = end;
        t->regions[i + 1].size = rend - end;
    }
    t->total -= end - base;
    return 0;
}

int cma__memblock_init(struct cma_memblock *mb, const struct cma_hostx *host)
{
    memset(mb, 0, sizeof *mb);
    mb->host = host;
    mb->bottom_up = false;
    if (type_alloc(host, &mb->memory, MB_INIT_REGIONS))
        return -CMA_ENOMEM;
    if (type_alloc(host, &mb->reserved, MB_INIT_REGIONS)) {
        type_free(host, &mb->memory);
        return -CMA_ENOMEM;
    }
    return 0;
}

void cma__memblock_fini(struct cma_memblock *mb)
{
    /* Tolerates a never-initialised (zeroed) memblock: cma__host_free ignores NULL. */
    if (mb->memory.regions)
        type_free(mb->host, &mb->memory);
    if (mb->reserved.regions)
        type_free(mb->host, &mb->reserved);
}

int cma__memblock_add(struct cma_memblock *mb, cma_phys_t base, uint64_t size)
{
    uint64_t end = range_end(base, size);
    if (!end)
        return -CMA_EINVAL;
    if (type_overlaps(&mb->memory, base, end))
        return -CMA_EEXIST;
    return type_insert(mb, &mb->memory, base, end);
}

int cma__memblock_remove(struct cma_memblock *mb, cma_phys_t base, uint64_t size)
{
    uint64_t end = range_end(base, size);
    size_t i;
    if (!end)
        return -CMA_EINVAL;
    i = type_containing(&mb->memory, base, end);
    if (i == mb->memory.cnt)
        return -CMA_ENOENT;
    /* Refusing reserved bytes keeps "reserved inside memory" without touching reserved. */
    if (type_overlaps(&mb->reserved, base, end))
        return -CMA_EBUSY;
    return type_cut(mb, &mb->memory, i, base, end);
}

int cma__memblock_reserve(struct cma_memblock *mb, cma_phys_t base, uint64_t size)
{
    uint64_t end = range_end(base, size);
    if (!end || type_containing(&mb->memory, base, end) == mb->memory.cnt)
        return -CMA_EINVAL;
    if (type_overlaps(&mb->reserved, base, end))
        return -CMA_EBUSY;
    return type_insert(mb, &mb->reserved, base, end);
}

int cma__memblock_free(struct cma_memblock *mb, cma_phys_t base, uint64_t size)
{
    uint64_t end = range_end(base, size);
    size_t i;
    if (!end)
        return -CMA_EINVAL;
    i = type_containing(&mb->reserved, base, end);
    if (i == mb->reserved.cnt)
        return -CMA_ENOENT;
    return type_cut(mb, &mb->reserved, i, base, end);
}

/* The placement inside one free gap [lo, hi) clamped to [start, end): highest (top-down) or lowest
 * (bottom-up) base aligned to align with [base, base + size) inside. False if none. */
static bool gap_fit(uint64_t lo, uint64_t hi, uint64_t start, uint64_t end, uint64_t size,
                    uint64_t align, bool bottom_up, uint64_t *basep)
{
    uint64_t base;
    if (lo < start)
        lo = start;
    if (hi > end)
        hi = end;
    if (lo >= hi || hi - lo < size)
        return false;
    if (bottom_up) {
        if (lo > UINT64_MAX - (align - 1))
            return false;
        base = (lo + align - 1) & ~(align - 1);
        if (base > hi - size)
            return false;
    } else {
        base = (hi - size) & ~(align - 1);
        if (base < lo)
            return false;
    }
    *basep = base;
    return true;
}

int cma__memblock_alloc_range(struct cma_memblock *mb, uint64_t size, uint64_t align,
                              cma_phys_t start, cma_phys_t end, cma_phys_t *basep)
{
    const struct cma_mb_type *mem = &mb->memory, *res = &mb->reserved;
    bool up = mb->bottom_up;
    uint64_t found = 0;
    bool ok = false;

    if (size == 0 || !cma__is_pow2(align))
        return -CMA_EINVAL;
    if (end == 0)
        end = UINT64_MAX;
    if (start >= end || end - start < size)
        return -CMA_ENOMEM;

    for (size_t k = 0; k < mem->cnt && !ok; k++) {
        const struct cma_mb_region *m = &mem->regions[up ? k : mem->cnt - 1 - k];
        uint64_t mend = region_end(m);
        size_t r0, ngaps;
        if (mend <= start || m->base >= end)
            continue;
        /* Reserved regions inside m are res[r0 .. r0 + ngaps - 1); they leave ngaps free gaps,
         * gap g running from the end of the reservation before it to the start of the one after. */
        r0 = first_ending_above(res, m->base);
        ngaps = first_ending_above(res, mend) - r0 + 1;
        for (size_t g = 0; g < ngaps && !ok; g++) {
            size_t gi = up ? g : ngaps - 1 - g;
            uint64_t lo = gi == 0 ? m->base : region_end(&res->regions[r0 + gi - 1]);
            uint64_t hi = gi == ngaps - 1 ? mend : res->regions[r0 + gi].base;
            ok = gap_fit(lo, hi, start, end, size, align, up, &found);
        }
    }
    if (!ok)
        return -CMA_ENOMEM;
    if (type_insert(mb, &mb->reserved, found, found + size))
        return -CMA_ENOMEM;
    *basep = found;
    return 0;
}

bool cma__memblock_is_reserved(const struct cma_memblock *mb, cma_phys_t base, uint64_t size)
{
    /* Saturate rather than reject: no region reaches UINT64_MAX, so a clipped range is equivalent. */
    uint64_t end = size > UINT64_MAX - base ? UINT64_MAX : base + size;
    return size != 0 && type_overlaps(&mb->reserved, base, end);
}

bool cma__memblock_is_memory(const struct cma_memblock *mb, cma_phys_t base, uint64_t size)
{
    uint64_t end = range_end(base, size);
    return end && type_containing(&mb->memory, base, end) != mb->memory.cnt;
}

uint64_t cma__memblock_metadata_bytes(const struct cma_memblock *mb)
{
    return (uint64_t)(mb->memory.max + mb->reserved.max) * sizeof(struct cma_mb_region);
}
