/* SPDX-License-Identifier: MIT */
/*
 * tests/api/buddy_util.h - public-API helpers shared by the buddy API test and the stress tests
 * (included as "buddy_util.h" from tests/api and "../api/buddy_util.h" from tests/stress).
 *
 *   bu_buddyinfo()       parses CMA_DUMP_BUDDYINFO into free blocks per order
 *   bu_layout_read()     the memblock memory / reserved regions, through cma_memblock_foreach
 *   bu_pfn_kind()        hole / reserved / managed for one pfn, computed from the layout alone
 *   bu_expected_free()   the buddyinfo of a machine with every managed page free and fully merged:
 *                        each page lies in the largest naturally aligned block (<= max_order) that
 *                        stays inside its span and holds no reserved page
 *   bu_expect_all_free() drains the caches and checks stats + buddyinfo against bu_expected_free
 *   struct bu_bitmap     one bit per pfn (set = not allocatable: hole, reserved or owned) with a
 *                        word-at-a-time "is there an aligned free block of order o" query
 *
 * Only <cma/cma.h> (through the harness) is used. Everything is static inline so that a test that
 * uses part of it compiles warning-free.
 */
#ifndef CMA_TEST_BUDDY_UTIL_H
#define CMA_TEST_BUDDY_UTIL_H

#include "test.h"

#define BU_KiB 1024ull
#define BU_MiB (1024ull * 1024ull)
#define BU_GiB (1024ull * 1024ull * 1024ull)
#define BU_MAX_RANGES 16

/* ---- buddyinfo ------------------------------------------------------------------------------- */

/* Fills nr[0..max_order] from the buddyinfo dump ("Node 0, zone   Normal " then one count per
 * order). Returns 0, or -1 after recording a failure. */
static inline int bu_buddyinfo_(struct cma_mm *mm, uint64_t *nr, const char *file, int line)
{
    char buf[512];
    unsigned mo = cma_mm_max_order(mm);
    int n = cma_mm_dump(mm, CMA_DUMP_BUDDYINFO, buf, sizeof buf);
    if (n < 0 || (size_t)n >= sizeof buf) {
        test_fail_(file, line, "buddyinfo dump returned %d", n);
        return -1;
    }
    const char *p = strstr(buf, "Normal");
    if (!p) {
        test_fail_(file, line, "buddyinfo without a zone name: \"%s\"", buf);
        return -1;
    }
    p += strlen("Normal");
    for (unsigned o = 0; o <= mo; o++) {
        char *end;
        nr[o] = strtoull(p, &end, 10);
        if (end == p) {
            test_fail_(file, line, "buddyinfo has no count for order %u: \"%s\"", o, buf);
            return -1;
        }
        p = end;
    }
    while (*p == ' ')
        p++;
    if (strcmp(p, "\n") != 0) {
        test_fail_(file, line, "buddyinfo has more than %u orders: \"%s\"", mo + 1, buf);
        return -1;
    }
    return 0;
}
#define bu_buddyinfo(mm, nr) bu_buddyinfo_((mm), (nr), __FILE__, __LINE__)

/* ---- layout ---------------------------------------------------------------------------------- */

struct bu_range {
    cma_phys_t base;
    uint64_t size;
};

struct bu_layout {
    unsigned page_shift, max_order;
    struct bu_range mem[BU_MAX_RANGES], res[BU_MAX_RANGES];
    unsigned nmem, nres;
};

struct bu_collect_ {
    struct bu_range *r;
    unsigned *n;
};

static inline int bu_collect_cb_(void *arg, cma_phys_t base, uint64_t size)
{
    struct bu_collect_ *c = arg;
    if (*c->n >= BU_MAX_RANGES)
        return -CMA_ENOSPC;
    c->r[*c->n] = (struct bu_range){base, size};
    (*c->n)++;
    return 0;
}

/* Reads the memblock layout (works before and after online). Returns 0 or records a failure. */
static inline int bu_layout_read(struct cma_mm *mm, struct bu_layout *l)
{
    memset(l, 0, sizeof *l);
    l->page_shift = (unsigned)__builtin_ctzll(cma_mm_page_size(mm));
    l->max_order = cma_mm_max_order(mm);
    struct bu_collect_ m = {l->mem, &l->nmem}, r = {l->res, &l->nres};
    int e1 = cma_memblock_foreach(mm, false, bu_collect_cb_, &m);
    int e2 = cma_memblock_foreach(mm, true, bu_collect_cb_, &r);
    if (e1 || e2) {
        test_fail_(__FILE__, __LINE__, "cma_memblock_foreach: %s / %s", cma_err_name(e1),
                   cma_err_name(e2));
        return -1;
    }
    return 0;
}

/* Pages of memory range i that survive trimming to whole pages: [*first, *end). */
static inline void bu_range_pages(const struct bu_layout *l, unsigned i, cma_pfn_t *first,
                                  cma_pfn_t *end)
{
    uint64_t ps = 1ull << l->page_shift;
    *first = (l->mem[i].base + ps - 1) >> l->page_shift;
    *end = (l->mem[i].base + l->mem[i].size) >> l->page_shift;
    if (*end < *first)
        *end = *first;
}

enum bu_kind { BU_HOLE = 0, BU_RESERVED = 1, BU_MANAGED = 2 };

/* What pfn is: not memory (hole, partial page at a region edge, outside), reserved (a reserved
 * range touches any byte of the page: reservations round outwards) or a managed page. */
static inline enum bu_kind bu_pfn_kind(const struct bu_layout *l, cma_pfn_t pfn)
{
    bool mem = false;
    for (unsigned i = 0; i < l->nmem && !mem; i++) {
        cma_pfn_t f, e;
        bu_range_pages(l, i, &f, &e);
        mem = pfn >= f && pfn < e;
    }
    if (!mem)
        return BU_HOLE;
    cma_phys_t pb = pfn << l->page_shift, pe = (pfn + 1) << l->page_shift;
    for (unsigned i = 0; i < l->nres; i++)
        if (l->res[i].base < pe && l->res[i].base + l->res[i].size > pb)
            return BU_RESERVED;
    return BU_MANAGED;
}

/* Expected buddyinfo with every managed page free and merged; returns the managed page count. */
static inline uint64_t bu_expected_free(const struct bu_layout *l, uint64_t *nr)
{
    uint64_t managed = 0;
    for (unsigned o = 0; o <= l->max_order; o++)
        nr[o] = 0;
    for (unsigned i = 0; i < l->nmem; i++) {
        cma_pfn_t pfn, end;
        bu_range_pages(l, i, &pfn, &end);
        while (pfn < end) {
            if (bu_pfn_kind(l, pfn) != BU_MANAGED) {
                pfn++;
                continue;
            }
            unsigned o = pfn ? (unsigned)__builtin_ctzll(pfn) : l->max_order;
            if (o > l->max_order)
                o = l->max_order;
            while ((1ull << o) > end - pfn)
                o--;
            for (uint64_t k = 1; k < (1ull << o); k++) {
                if (bu_pfn_kind(l, pfn + k) != BU_MANAGED) {
                    o = 63u - (unsigned)__builtin_clzll(k);
                    break;
                }
            }
            nr[o]++;
            managed += 1ull << o;
            pfn += 1ull << o;
        }
    }
    return managed;
}

/* Highest pfn + 1 of any memory range. */
static inline cma_pfn_t bu_pfn_limit(const struct bu_layout *l)
{
    cma_pfn_t lim = 0;
    for (unsigned i = 0; i < l->nmem; i++) {
        cma_pfn_t f, e;
        bu_range_pages(l, i, &f, &e);
        if (e > lim)
            lim = e;
    }
    return lim;
}

static inline int bu_stats_(struct cma_mm *mm, struct cma_mm_stats *st, const char *file, int line)
{
    int r = cma_mm_get_stats(mm, st);
    if (r)
        test_fail_(file, line, "cma_mm_get_stats: %s", cma_err_name(r));
    return r;
}
#define bu_stats(mm, st) bu_stats_((mm), (st), __FILE__, __LINE__)

/* With nothing allocated: drains every cache, then expects nr_free_total == nr_managed == the
 * layout's managed pages, nothing cached, and buddyinfo equal to the fully merged layout. */
static inline void bu_expect_all_free_(struct cma_mm *mm, const char *file, int line)
{
    struct bu_layout l;
    struct cma_mm_stats st;
    uint64_t want[CMA_MAX_ORDER_LIMIT + 1], have[CMA_MAX_ORDER_LIMIT + 1];
    int r = cma_drain_cpu_caches(mm);
    if (r)
        test_fail_(file, line, "cma_drain_cpu_caches: %s", cma_err_name(r));
    if (bu_layout_read(mm, &l) || bu_stats_(mm, &st, file, line) || bu_buddyinfo_(mm, have, file, line))
        return;
    uint64_t managed = bu_expected_free(&l, want);
    if (st.nr_managed != managed)
        test_fail_(file, line, "nr_managed %" PRIu64 ", layout says %" PRIu64, st.nr_managed, managed);
    if (st.nr_free_total != st.nr_managed || st.nr_allocated != 0 || st.nr_free_pcp != 0)
        test_fail_(file, line, "not all memory back: nr_free_total %" PRIu64 " nr_managed %" PRIu64
                   " nr_allocated %" PRIu64 " nr_free_pcp %" PRIu64, st.nr_free_total,
                   st.nr_managed, st.nr_allocated, st.nr_free_pcp);
    for (unsigned o = 0; o <= l.max_order; o++)
        if (have[o] != want[o])
            test_fail_(file, line, "buddyinfo order %u: %" PRIu64 " free blocks, fully merged layout "
                       "has %" PRIu64, o, have[o], want[o]);
    char why[256];
    if (cma_mm_check(mm, why, sizeof why))
        test_fail_(file, line, "invariant checker: %s", why);
}
#define bu_expect_all_free(mm) bu_expect_all_free_((mm), __FILE__, __LINE__)

/* ---- ownership bitmap -------------------------------------------------------------------------- */

struct bu_bitmap {
    uint64_t *w;
    uint64_t nbits; /* multiple of 64 and of 2^max_order */
};

/* Bitmap over [0, limit) rounded up; bits of every non-managed pfn are set. */
static inline int bu_bitmap_init(struct bu_bitmap *b, const struct bu_layout *l)
{
    uint64_t unit = (1ull << l->max_order) > 64 ? (1ull << l->max_order) : 64;
    b->nbits = (bu_pfn_limit(l) + unit - 1) / unit * unit;
    b->w = calloc(b->nbits / 64, sizeof *b->w);
    if (!b->w)
        return -1;
    for (uint64_t pfn = 0; pfn < b->nbits; pfn++)
        if (bu_pfn_kind(l, pfn) != BU_MANAGED)
            b->w[pfn / 64] |= 1ull << (pfn % 64);
    return 0;
}

static inline void bu_bitmap_fini(struct bu_bitmap *b) { free(b->w); b->w = NULL; }

static inline bool bu_bit(const struct bu_bitmap *b, uint64_t pfn)
{
    return pfn < b->nbits && (b->w[pfn / 64] >> (pfn % 64) & 1);
}

/* Number of set bits in [pfn, pfn + n) (bits past the end count as set). */
static inline uint64_t bu_count_set(const struct bu_bitmap *b, uint64_t pfn, uint64_t n)
{
    uint64_t c = 0;
    for (uint64_t i = 0; i < n; i++)
        c += pfn + i >= b->nbits || bu_bit(b, pfn + i);
    return c;
}

static inline void bu_set_range(struct bu_bitmap *b, uint64_t pfn, uint64_t n, bool v)
{
    for (uint64_t i = 0; i < n; i++) {
        if (v)
            b->w[(pfn + i) / 64] |= 1ull << ((pfn + i) % 64);
        else
            b->w[(pfn + i) / 64] &= ~(1ull << ((pfn + i) % 64));
    }
}

/* True if some naturally aligned block of 2^order pages has every bit clear. */
static inline bool bu_has_free_block(const struct bu_bitmap *b, unsigned order)
{
    uint64_t nw = b->nbits / 64;
    if (order >= 6) {
        uint64_t per = 1ull << (order - 6);
        for (uint64_t i = 0; i + per <= nw; i += per) {
            uint64_t j = 0;
            while (j < per && b->w[i + j] == 0)
                j++;
            if (j == per)
                return true;
        }
        return false;
    }
    unsigned width = 1u << order;
    uint64_t mask = width == 64 ? ~0ull : (1ull << width) - 1;
    for (uint64_t i = 0; i < nw; i++) {
        uint64_t x = b->w[i];
        if (x == ~0ull)
            continue;
        for (unsigned s = 0; s < 64; s += width)
            if (!(x >> s & mask))
                return true;
    }
    return false;
}

#endif /* CMA_TEST_BUDDY_UTIL_H */
