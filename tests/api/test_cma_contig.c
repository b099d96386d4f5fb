/*
 * tests/api/test_cma_contig.c - contiguous ranges outside CMA areas (cma_alloc_contig_range,
 * cma_free_contig_range, cma_alloc_contig_pages) and where unmovable allocations may land.
 * Through <cma/cma.h> only.
 *
 *   unaligned_range          [start, end) with unaligned ends inside large free buddies: exactly
 *                            those pages are taken (the free count drops by end - start, the pages
 *                            just before start and at end can still be taken), partial frees of
 *                            sub-ranges, -EFAULT / -EINVAL frees that change nothing, full merge back
 *   contig_errors            -EINVAL bad ranges (empty, past the end, in a hole, across spans),
 *                            -EPERM before online, -EBUSY for an unmovable, pinned, reserved or
 *                            contiguously allocated page inside and for ranges touching a CMA area,
 *                            labels and counters unchanged afterwards
 *   contig_migrates          owners inside the range move out (contents intact, targets outside the
 *                            range and CMA), clean discardable ones are dropped; a referenced block
 *                            gives -EBUSY until it is put
 *   contig_pages_outside_cma cma_alloc_contig_pages never returns CMA memory (even when CMA is all
 *                            free and nothing else is left: -ENOMEM), skips unmovable pages,
 *                            migrates movable ones, results aligned and disjoint; -EINVAL arguments
 *   unmovable_never_in_cma   seeded random mixes of UNMOVABLE / RECLAIMABLE / MOVABLE blocks of orders
 *                            0..5 until memory is full: no UNMOVABLE or RECLAIMABLE block in a CMA
 *                            pageblock (they fail while CMA still has free pages), MOVABLE blocks use
 *                            every CMA page once the rest is gone
 */
#include "test.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)

/* ---- machine ------------------------------------------------------------------------------------ */

struct mach {
    struct cma_mm *mm;
    struct cma_area *area;
    cma_pfn_t abase, aend; /* the area's pages */
    uint64_t acount;
    uint64_t pb_pages;
};

/* mem bytes at physical 0, one area "test" of area_size at area_base (0: dynamic). */
static bool mach_make_(struct mach *m, uint64_t mem, uint64_t area_size, cma_phys_t area_base,
                       enum cma_backing backing, unsigned first_pct, const char *file, int line)
{
    struct cma_mm_config cfg;
    struct cma_area_stats st;
    int r;
    memset(m, 0, sizeof *m);
    cma_mm_config_default(&cfg);
    cfg.backing = backing;
    cfg.cma_first_percent = first_pct;
    if ((r = cma_mm_create(&cfg, &m->mm))) {
        test_fail_(file, line, "cma_mm_create: %s", cma_err_name(r));
        return false;
    }
    if ((r = cma_memblock_add(m->mm, 0, mem)) ||
        (r = cma_declare_contiguous(m->mm, "test", area_size, area_base, 0, 0, 0, &m->area)) ||
        (r = cma_mm_online(m->mm)) || (r = cma_area_get_stats(m->area, &st))) {
        test_fail_(file, line, "machine setup: %s", cma_err_name(r));
        (void)cma_mm_destroy(m->mm);
        m->mm = NULL;
        return false;
    }
    m->abase = st.base_pfn;
    m->acount = st.count;
    m->aend = st.base_pfn + st.count;
    m->pb_pages = 1ull << cma_mm_pageblock_order(m->mm);
    return true;
}
#define mach_make(m, mem, asz, abase, backing, pct)                                                \
    mach_make_((m), (mem), (asz), (abase), (backing), (pct), __FILE__, __LINE__)

static bool in_area(const struct mach *m, cma_pfn_t pfn) { return pfn >= m->abase && pfn < m->aend; }

/* Every pageblock of the area is labelled CMA (not isolated, not relabelled). */
static void expect_area_cma_(const struct mach *m, const char *file, int line)
{
    for (cma_pfn_t pb = m->abase; pb < m->aend; pb += m->pb_pages) {
        int t = cma_pageblock_type(m->mm, pb);
        if (t != CMA_MIGRATE_CMA)
            test_fail_(file, line, "pageblock at pfn %#" PRIx64 " has type %d, expected CMA", pb, t);
    }
}
#define expect_area_cma(m) expect_area_cma_((m), __FILE__, __LINE__)

static struct cma_mm_stats mstats(struct cma_mm *mm)
{
    struct cma_mm_stats st;
    memset(&st, 0, sizeof st);
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    return st;
}

__attribute__((unused)) static struct cma_area_stats astats(struct cma_area *a)
{
    struct cma_area_stats st;
    memset(&st, 0, sizeof st);
    EXPECT_OK(cma_area_get_stats(a, &st));
    return st;
}

/* ---- contents ------------------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Fills [pfn, pfn + n) with a pattern derived from seed (no-op when metadata only). */
static void fill_pages(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n, uint64_t seed)
{
    size_t words = (size_t)(cma_mm_page_size(mm) / 8);
    for (uint64_t p = 0; p < n; p++) {
        uint64_t *w = cma_pfn_to_virt(mm, pfn + p);
        if (!w)
            return;
        for (size_t i = 0; i < words; i++)
            w[i] = mix64(seed + p * words + i);
    }
}

/* A position-dependent checksum of every byte of [pfn, pfn + n). */
static uint64_t sum_pages(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n)
{
    size_t words = (size_t)(cma_mm_page_size(mm) / 8);
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (uint64_t p = 0; p < n; p++) {
        const uint64_t *w = cma_pfn_to_virt(mm, pfn + p);
        if (!w)
            return 0;
        for (size_t i = 0; i < words; i++)
            h = (h ^ w[i]) * 0x100000001b3ull + (uint64_t)i;
    }
    return h;
}

/* ---- owners -------------------------------------------------------------------------------------- */

struct owner {
    cma_pfn_t pfn; /* CMA_PFN_NONE: not held (freed or discarded) */
    cma_pfn_t pfn0;  /* where the block was allocated */
    unsigned order;
    uint64_t sum;
    const struct cma_movable_ops *ops;
    bool isolated;          /* between a successful isolate and migrate/putback/discard */
    bool refuse_discard;
    unsigned refuse_isolate; /* refuse this many isolate calls in a row, then accept */
    unsigned fail_migrate;   /* fail this many migrate calls */
    unsigned isolates, migrations, putbacks, discards, discard_refusals, migrate_failures;
    unsigned isolate_refusals;
    unsigned kind; /* test-specific class */
};

static struct world {
    struct mach *m;
    struct owner *o;
    size_t n, cap;
    struct test_rng rng;
    unsigned isolate_refuse_pct; /* chance that an isolate call refuses (bounded by refuse_isolate) */
    unsigned fi_pct;             /* fault injection: every isolate / migrate call fails this often */
    uint64_t n_fi_isolate, n_fi_migrate;
    uint64_t n_isolate, n_isolate_refused, n_migrate, n_migrate_failed, n_putback, n_discard,
        n_discard_refused;
} W;

static void world_init(struct mach *m, uint64_t salt)
{
    memset(&W, 0, sizeof W);
    W.m = m;
    W.cap = (size_t)(mstats(m->mm).nr_managed + 16);
    W.o = calloc(W.cap, sizeof *W.o);
    if (!W.o)
        abort();
    test_rng_init(&W.rng, test_seed_value ^ salt);
}

static void world_fini(void)
{
    free(W.o);
    memset(&W, 0, sizeof W);
}

static struct owner *as_owner(void *p)
{
    struct owner *o = p;
    if (o < W.o || o >= W.o + W.n) {
        test_fail_(__FILE__, __LINE__, "callback with an unknown owner %p", p);
        return NULL;
    }
    return o;
}

static int cb_isolate(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = as_owner(owner);
    if (!o)
        return -CMA_EAGAIN;
    W.n_isolate++;
    o->isolates++;
    EXPECT_UEQ(pfn, o->pfn);
    EXPECT_EQ(order, o->order);
    EXPECT_FALSE(o->isolated);
    if (W.fi_pct && test_rng_below(&W.rng, 100) < W.fi_pct) {
        o->isolate_refusals++;
        W.n_fi_isolate++;
        return test_rng_below(&W.rng, 2) ? -CMA_EAGAIN : -CMA_EBUSY;
    }
    if (o->refuse_isolate && test_rng_below(&W.rng, 100) < W.isolate_refuse_pct) {
        o->refuse_isolate--;
        o->isolate_refusals++;
        W.n_isolate_refused++;
        return test_rng_below(&W.rng, 2) ? -CMA_EAGAIN : -CMA_EBUSY;
    }
    o->isolated = true;
    return 0;
}

static int cb_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct owner *o = as_owner(owner);
    if (!o)
        return -1;
    struct cma_mm *mm = W.m->mm;
    W.n_migrate++;
    EXPECT_UEQ(from, o->pfn);
    EXPECT_EQ(order, o->order);
    if (o->ops->isolate)
        EXPECT_TRUE(o->isolated);
    /* the target: aligned, outside every CMA and isolated pageblock, contents already there */
    EXPECT_UEQ(to & ((1ull << order) - 1), 0);
    EXPECT_NE(to, from);
    int t = cma_pageblock_type(mm, to);
    EXPECT_TRUE(t != CMA_MIGRATE_CMA && t != CMA_MIGRATE_ISOLATE);
    EXPECT_FALSE(in_area(W.m, to));
    EXPECT_UEQ(sum_pages(mm, to, 1ull << order), o->sum);
    if (W.fi_pct && test_rng_below(&W.rng, 100) < W.fi_pct) {
        o->migrate_failures++;
        W.n_fi_migrate++;
        W.n_migrate_failed++;
        return -CMA_EAGAIN;
    }
    if (o->fail_migrate) {
        o->fail_migrate--;
        o->migrate_failures++;
        W.n_migrate_failed++;
        return -1; /* stays isolated until putback */
    }
    o->pfn = to;
    o->isolated = false;
    o->migrations++;
    return 0;
}

static void cb_putback(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = as_owner(owner);
    if (!o)
        return;
    W.n_putback++;
    o->putbacks++;
    EXPECT_UEQ(pfn, o->pfn);
    EXPECT_EQ(order, o->order);
    if (o->ops->isolate)
        EXPECT_TRUE(o->isolated);
    o->isolated = false;
}

static int cb_discard(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = as_owner(owner);
    if (!o)
        return 1;
    EXPECT_UEQ(pfn, o->pfn);
    EXPECT_EQ(order, o->order);
    if (o->ops->isolate)
        EXPECT_TRUE(o->isolated);
    if (o->refuse_discard) {
        o->discard_refusals++;
        W.n_discard_refused++;
        return 1; /* migrate it instead */
    }
    W.n_discard++;
    o->discards++;
    o->pfn = CMA_PFN_NONE; /* forgotten; libcma takes the block back */
    o->isolated = false;
    return 0;
}

static const struct cma_movable_ops ops_full = {cb_isolate, cb_migrate, cb_putback, cb_discard};
__attribute__((unused)) static const struct cma_movable_ops ops_plain = {NULL, cb_migrate, cb_putback, NULL};

/* Allocates a block, registers it as movable with ops, fills it; returns 0 or the error. */
static int owner_alloc(unsigned order, const struct cma_movable_ops *ops, bool clean,
                       struct owner **op)
{
    struct cma_mm *mm = W.m->mm;
    cma_pfn_t pfn;
    int r = cma_alloc_pages(mm, order, CMA_GFP_MOVABLE, &pfn);
    if (r)
        return r;
    if (W.n == W.cap)
        abort();
    struct owner *o = &W.o[W.n++];
    memset(o, 0, sizeof *o);
    o->pfn = o->pfn0 = pfn;
    o->order = order;
    o->ops = ops;
    fill_pages(mm, pfn, 1ull << order, mix64(test_seed_value + W.n) ^ pfn);
    o->sum = sum_pages(mm, pfn, 1ull << order);
    EXPECT_OK(cma_page_set_movable(mm, pfn, ops, o));
    if (clean)
        EXPECT_OK(cma_page_set_clean(mm, pfn, true));
    if (op)
        *op = o;
    return 0;
}

static void owner_free(struct owner *o)
{
    if (o->pfn == CMA_PFN_NONE)
        return;
    EXPECT_OK(cma_free_pages(W.m->mm, o->pfn, o->order));
    o->pfn = CMA_PFN_NONE;
}

static void world_free_all(void)
{
    for (size_t i = 0; i < W.n; i++)
        owner_free(&W.o[i]);
}

static int cmp_owner_pfn(const void *a, const void *b)
{
    const struct owner *x = *(const struct owner *const *)a, *y = *(const struct owner *const *)b;
    return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* Verifies the table (see the file comment); `extra` = allocated pages not owned by the table
 * (contiguous ranges, unmovable blocks). [lo, hi) must hold no owner. */
static void world_verify_(cma_pfn_t lo, cma_pfn_t hi, uint64_t extra, const char *file, int line)
{
    struct cma_mm *mm = W.m->mm;
    struct owner **v = malloc((W.n + 1) * sizeof *v);
    size_t n = 0;
    uint64_t owned = 0;
    if (!v)
        abort();
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o->pfn == CMA_PFN_NONE)
            continue;
        v[n++] = o;
        owned += 1ull << o->order;
        if (o->isolated)
            test_fail_(file, line, "owner %zu still isolated after the call", i);
        if (o->pfn < hi && o->pfn + (1ull << o->order) > lo)
            test_fail_(file, line, "owner %zu at pfn %#" PRIx64 " lies in [%#" PRIx64 ", %#" PRIx64 ")",
                       i, o->pfn, lo, hi);
        int r = cma_page_get(mm, o->pfn);
        if (r)
            test_fail_(file, line, "owner %zu at pfn %#" PRIx64 ": not a live block (%s)", i, o->pfn,
                       cma_err_name(r));
        else
            EXPECT_OK(cma_page_put(mm, o->pfn));
        uint64_t s = sum_pages(mm, o->pfn, 1ull << o->order);
        if (s != o->sum)
            test_fail_(file, line, "owner %zu at pfn %#" PRIx64 " (order %u): contents changed", i,
                       o->pfn, o->order);
    }
    qsort(v, n, sizeof *v, cmp_owner_pfn);
    for (size_t i = 1; i < n; i++)
        if (v[i - 1]->pfn + (1ull << v[i - 1]->order) > v[i]->pfn)
            test_fail_(file, line, "owners overlap at pfn %#" PRIx64 " and %#" PRIx64, v[i - 1]->pfn,
                       v[i]->pfn);
    free(v);
    struct cma_mm_stats st = mstats(mm);
    if (st.nr_allocated != owned + extra)
        test_fail_(file, line, "nr_allocated %" PRIu64 ", owners hold %" PRIu64 " + %" PRIu64
                   " other pages", st.nr_allocated, owned, extra);
    char why[256];
    if (cma_mm_check(mm, why, sizeof why))
        test_fail_(file, line, "invariant checker: %s", why);
}
#define world_verify(lo, hi, extra) world_verify_((lo), (hi), (extra), __FILE__, __LINE__)

/* Pages and owners currently inside the area. */
__attribute__((unused)) static uint64_t area_owned_pages(size_t *nowners)
{
    uint64_t pages = 0;
    size_t n = 0;
    for (size_t i = 0; i < W.n; i++)
        if (W.o[i].pfn != CMA_PFN_NONE && in_area(W.m, W.o[i].pfn)) {
            pages += 1ull << W.o[i].order;
            n++;
        }
    if (nowners)
        *nowners = n;
    return pages;
}

/* Allocates owners (orders 0..max_order, CMA-first machine) until the area has no free page. */
__attribute__((unused)) static void fill_area(unsigned max_order, const struct cma_movable_ops *ops)
{
    struct cma_mm *mm = W.m->mm;
    EXPECT_OK(cma_drain_cpu_caches(mm));
    for (;;) {
        uint64_t free_cma = mstats(mm).nr_free_cma;
        if (!free_cma)
            break;
        unsigned order = (unsigned)test_rng_below(&W.rng, max_order + 1);
        if ((1ull << order) > free_cma || test_rng_below(&W.rng, 2))
            order = 0;
        int r = owner_alloc(order, ops, false, NULL);
        if (r) {
            test_fail_(__FILE__, __LINE__, "owner_alloc: %s with %" PRIu64 " CMA pages free",
                       cma_err_name(r), free_cma);
            return;
        }
    }
}

/* ---- placing unmovable pages ------------------------------------------------------------------- */

/* Allocates every free page at order 0 with gfp, keeps the n pages listed in want (each must be
 * free) and frees the rest. The kept pages have no movable ops: unmovable obstacles. */
static void grab_(struct cma_mm *mm, unsigned gfp, const cma_pfn_t *want, size_t n, const char *file,
                  int line)
{
    uint64_t cap = mstats(mm).nr_managed;
    cma_pfn_t *all = malloc(cap * sizeof *all), pfn;
    size_t cnt = 0, kept = 0;
    if (!all)
        abort();
    while (cnt < cap && cma_alloc_pages(mm, 0, gfp, &pfn) == 0)
        all[cnt++] = pfn;
    for (size_t i = 0; i < cnt; i++) {
        bool keep = false;
        for (size_t j = 0; j < n && !keep; j++)
            keep = want[j] == all[i];
        if (keep)
            kept++;
        else if (cma_free_pages(mm, all[i], 0))
            test_fail_(file, line, "freeing pfn %#" PRIx64 " failed", all[i]);
    }
    if (kept != n)
        test_fail_(file, line, "grab: kept %zu of %zu wanted pages", kept, n);
    free(all);
}
#define grab(mm, gfp, want, n) grab_((mm), (gfp), (want), (n), __FILE__, __LINE__)

/* Counters that a failed allocation must leave alone. */
static void expect_same_counts_(const struct cma_mm_stats *a, const struct cma_mm_stats *b,
                                const char *file, int line)
{
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++) {
        if (a->nr_free[t] != b->nr_free[t])
            test_fail_(file, line, "nr_free[%u] %" PRIu64 " -> %" PRIu64, t, a->nr_free[t], b->nr_free[t]);
        if (a->nr_pageblocks[t] != b->nr_pageblocks[t])
            test_fail_(file, line, "nr_pageblocks[%u] %" PRIu64 " -> %" PRIu64, t, a->nr_pageblocks[t],
                       b->nr_pageblocks[t]);
    }
    if (a->nr_free_total != b->nr_free_total || a->nr_allocated != b->nr_allocated)
        test_fail_(file, line, "free/allocated %" PRIu64 "/%" PRIu64 " -> %" PRIu64 "/%" PRIu64,
                   a->nr_free_total, a->nr_allocated, b->nr_free_total, b->nr_allocated);
}
#define expect_same_counts(a, b) expect_same_counts_((a), (b), __FILE__, __LINE__)

/* Frees a random share (pct %) of the live owners. */
__attribute__((unused)) static void free_some(unsigned pct)
{
    for (size_t i = 0; i < W.n; i++)
        if (test_rng_below(&W.rng, 100) < pct)
            owner_free(&W.o[i]);
}

__attribute__((unused)) static struct owner *owner_near(const struct mach *m, uint64_t offset)
{
    struct owner *best = NULL;
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o->pfn == CMA_PFN_NONE || !in_area(m, o->pfn) || o->pfn < m->abase + offset)
            continue;
        if (!best || o->pfn < best->pfn)
            best = o;
    }
    return best;
}

/* ---- helpers --------------------------------------------------------------------------------------- */

/* Every managed page is free again and fully merged: the machine yields exactly its max-order blocks
 * outside CMA to UNMOVABLE requests (the layouts here are max-order aligned). */
static void expect_all_free_merged_(struct mach *m, const char *file, int line)
{
    struct cma_mm *mm = m->mm;
    EXPECT_OK(cma_drain_cpu_caches(mm));
    struct cma_mm_stats st = mstats(mm);
    if (st.nr_free_total != st.nr_managed)
        test_fail_(file, line, "free %" PRIu64 " of %" PRIu64 " managed pages", st.nr_free_total,
                   st.nr_managed);
    unsigned mo = cma_mm_max_order(mm);
    uint64_t want = (st.nr_managed - m->acount) >> mo, got = 0;
    cma_pfn_t *v = calloc(want + 1, sizeof *v);
    while (got <= want && cma_alloc_pages(mm, mo, CMA_GFP_UNMOVABLE, &v[got]) == 0)
        got++;
    if (got != want)
        test_fail_(file, line, "%" PRIu64 " free max-order blocks outside CMA, expected %" PRIu64, got, want);
    for (uint64_t i = 0; i < got; i++)
        EXPECT_OK(cma_free_pages(mm, v[i], mo));
    free(v);
    char why[256];
    if (cma_mm_check(mm, why, sizeof why))
        test_fail_(file, line, "invariant checker: %s", why);
}
#define expect_all_free_merged(m) expect_all_free_merged_((m), __FILE__, __LINE__)

/* ---- tests --------------------------------------------------------------------------------------- */

static void unaligned_range(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 48 * MiB, CMA_BACKING_NONE, 50));
    struct cma_mm *mm = m.mm;
    const cma_pfn_t start = 3 * 1024 + 3, end = 5 * 1024 + 7, n = end - start;
    struct cma_mm_stats s0 = mstats(mm);
    ASSERT_OK(cma_alloc_contig_range(mm, start, end));
    struct cma_mm_stats s1 = mstats(mm);
    EXPECT_UEQ(s1.nr_free_total, s0.nr_free_total - n);
    EXPECT_UEQ(s1.nr_allocated, s0.nr_allocated + n);
    EXPECT_CHECK(mm);
    /* the neighbours were split off and are free */
    EXPECT_OK(cma_alloc_contig_range(mm, start - 1, start));
    EXPECT_OK(cma_alloc_contig_range(mm, end, end + 1));
    EXPECT_OK(cma_free_contig_range(mm, start - 1, 1));
    EXPECT_OK(cma_free_contig_range(mm, end, 1));
    EXPECT_OK(cma_alloc_contig_range(mm, start - 3, start)); /* the whole head piece */
    EXPECT_OK(cma_free_contig_range(mm, start - 3, 3));
    /* the range is taken: not again, not partly, not as a buddy block */
    EXPECT_ERR(cma_alloc_contig_range(mm, start - 1, start + 1), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, end - 1, end + 1), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, start + 10, start + 20), -CMA_EBUSY);
    EXPECT_ERR(cma_free_pages(mm, start, 0), -CMA_EFAULT);
    EXPECT_ERR(cma_free_pages(mm, start + 1, 0), -CMA_EFAULT);
    EXPECT_ERR(cma_page_get(mm, start), -CMA_EFAULT);
    EXPECT_ERR(cma_page_set_movable(mm, start, NULL, NULL), -CMA_EFAULT);
    s1 = mstats(mm);
    EXPECT_UEQ(s1.nr_allocated, s0.nr_allocated + n);
    EXPECT_CHECK(mm);

    /* partial frees */
    EXPECT_OK(cma_free_contig_range(mm, start + 100, 200));
    struct cma_mm_stats s2 = mstats(mm);
    EXPECT_UEQ(s2.nr_allocated, s0.nr_allocated + n - 200);
    EXPECT_ERR(cma_free_contig_range(mm, start + 100, 200), -CMA_EFAULT); /* again */
    EXPECT_ERR(cma_free_contig_range(mm, start + 50, 100), -CMA_EFAULT);  /* half free */
    EXPECT_ERR(cma_free_contig_range(mm, start + 299, 2), -CMA_EFAULT);
    EXPECT_ERR(cma_free_contig_range(mm, end - 1, 2), -CMA_EFAULT);      /* runs past the end */
    EXPECT_ERR(cma_free_contig_range(mm, start - 1, 2), -CMA_EFAULT);    /* starts before */
    EXPECT_ERR(cma_free_contig_range(mm, start, 0), -CMA_EINVAL);
    EXPECT_ERR(cma_free_contig_range(mm, 64 * MiB / 4096, 1), -CMA_EINVAL); /* no memory */
    EXPECT_ERR(cma_free_contig_range(mm, 64 * MiB / 4096 - 1, 2), -CMA_EINVAL);
    EXPECT_ERR(cma_free_contig_range(NULL, start, 1), -CMA_EINVAL);
    cma_pfn_t b;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &b));
    EXPECT_ERR(cma_free_contig_range(mm, b, 1), -CMA_EFAULT); /* a buddy block */
    struct cma_mm_stats s3 = mstats(mm);
    EXPECT_UEQ(s3.nr_allocated, s2.nr_allocated + 1);
    EXPECT_OK(cma_free_pages(mm, b, 0));
    EXPECT_CHECK(mm);
    /* the rest, piece by piece, odd sizes */
    EXPECT_OK(cma_free_contig_range(mm, start + 1, 99));
    EXPECT_OK(cma_free_contig_range(mm, start, 1));
    EXPECT_OK(cma_free_contig_range(mm, start + 300, 1001));
    EXPECT_OK(cma_free_contig_range(mm, start + 1301, end - start - 1301));
    EXPECT_UEQ(mstats(mm).nr_allocated, 0);
    expect_all_free_merged(&m);

    /* ranges that are exactly one page, one pageblock, one max-order block */
    const cma_pfn_t one[][2] = {{7, 8}, {512, 1024}, {1024, 2048}, {511, 1025}};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        EXPECT_OK(cma_alloc_contig_range(mm, one[i][0], one[i][1]));
        EXPECT_UEQ(mstats(mm).nr_allocated, one[i][1] - one[i][0]);
        EXPECT_OK(cma_free_contig_range(mm, one[i][0], one[i][1] - one[i][0]));
    }
    expect_all_free_merged(&m);
    test_mm_finish(mm);
}

static void contig_errors(void)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    struct cma_area *area;
    cma_mm_config_default(&cfg);
    ASSERT_OK(cma_mm_create(&cfg, &mm));
    /* two spans: [0, 32 MiB) and [64 MiB, 96 MiB); area at [72, 80) MiB; 64 KiB reserved at 8 MiB */
    ASSERT_OK(cma_memblock_add(mm, 0, 32 * MiB));
    ASSERT_OK(cma_memblock_add(mm, 64 * MiB, 32 * MiB));
    ASSERT_OK(cma_memblock_reserve(mm, 8 * MiB, 64 * KiB));
    ASSERT_OK(cma_declare_contiguous(mm, "test", 8 * MiB, 72 * MiB, 0, 0, 0, &area));
    EXPECT_ERR(cma_alloc_contig_range(mm, 0, 16), -CMA_EPERM);
    cma_pfn_t p = 1;
    EXPECT_ERR(cma_alloc_contig_pages(mm, 16, 0, &p), -CMA_EPERM);
    EXPECT_ERR(cma_free_contig_range(mm, 0, 1), -CMA_EPERM);
    ASSERT_OK(cma_mm_online(mm));
    const cma_pfn_t span1_end = 32 * MiB / 4096, span2 = 64 * MiB / 4096, span2_end = 96 * MiB / 4096;
    const cma_pfn_t abase = 72 * MiB / 4096, aend = 80 * MiB / 4096, res = 8 * MiB / 4096;

    struct cma_mm_stats s0 = mstats(mm);
    EXPECT_ERR(cma_alloc_contig_range(NULL, 0, 1), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_range(mm, 10, 10), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_range(mm, 11, 10), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_range(mm, span1_end - 4, span1_end + 4), -CMA_EINVAL); /* into the hole */
    EXPECT_ERR(cma_alloc_contig_range(mm, span1_end, span1_end + 4), -CMA_EINVAL);     /* in the hole */
    EXPECT_ERR(cma_alloc_contig_range(mm, span1_end - 4, span2 + 4), -CMA_EINVAL);     /* across spans */
    EXPECT_ERR(cma_alloc_contig_range(mm, span2_end - 1, span2_end + 1), -CMA_EINVAL); /* past the end */
    EXPECT_ERR(cma_alloc_contig_range(mm, span2_end, span2_end + 1), -CMA_EINVAL);
    /* CMA: inside, overlapping either edge */
    EXPECT_ERR(cma_alloc_contig_range(mm, abase + 10, abase + 20), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, abase - 5, abase + 5), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, aend - 5, aend + 5), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, span2, span2_end), -CMA_EBUSY);
    /* a reserved page */
    EXPECT_ERR(cma_alloc_contig_range(mm, res - 3, res + 3), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, res + 15, res + 17), -CMA_EBUSY);
    struct cma_mm_stats s1 = mstats(mm);
    expect_same_counts(&s0, &s1);
    EXPECT_CHECK(mm);

    /* an unmovable page, a pinned movable page, another contiguous allocation */
    cma_pfn_t u, pin, np;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &u));
    ASSERT_OK(cma_alloc_pages(mm, 2, CMA_GFP_MOVABLE, &pin));
    ASSERT_TRUE(pin < abase || pin >= aend);
    static const struct cma_movable_ops nop = {NULL, cb_migrate, NULL, NULL};
    (void)nop;
    ASSERT_OK(cma_page_pin_longterm(mm, pin, &np));
    EXPECT_UEQ(np, pin);
    const cma_pfn_t cs = 20 * MiB / 4096 + 5;
    ASSERT_OK(cma_alloc_contig_range(mm, cs, cs + 100));
    s0 = mstats(mm);
    int pbt_u = cma_pageblock_type(mm, u), pbt_p = cma_pageblock_type(mm, pin);
    EXPECT_ERR(cma_alloc_contig_range(mm, u > 3 ? u - 3 : 0, u + 3), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, u, u + 1), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, pin + 3, pin + 600), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, cs + 99, cs + 200), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, cs - 100, cs + 1), -CMA_EBUSY);
    s1 = mstats(mm);
    expect_same_counts(&s0, &s1);
    EXPECT_EQ(cma_pageblock_type(mm, u), pbt_u);
    EXPECT_EQ(cma_pageblock_type(mm, pin), pbt_p);
    EXPECT_EQ(cma_pageblock_type(mm, cs), CMA_MIGRATE_MOVABLE);
    for (cma_pfn_t pb = abase; pb < aend; pb += 512)
        EXPECT_EQ(cma_pageblock_type(mm, pb), CMA_MIGRATE_CMA);
    EXPECT_CHECK(mm);
    /* right next to them is fine (sub-pageblock precision) */
    if (u + 2 < span1_end && (u + 1) % 512) {
        EXPECT_OK(cma_alloc_contig_range(mm, u + 1, u + 2));
        EXPECT_OK(cma_free_contig_range(mm, u + 1, 1));
    }
    EXPECT_OK(cma_alloc_contig_range(mm, cs + 100, cs + 101));
    EXPECT_OK(cma_free_contig_range(mm, cs, 101)); /* frees across both allocations */
    EXPECT_OK(cma_page_unpin(mm, pin));
    EXPECT_OK(cma_free_pages(mm, pin, 2));
    EXPECT_OK(cma_free_pages(mm, u, 0));
    s1 = mstats(mm);
    EXPECT_UEQ(s1.nr_allocated, 0);
    test_mm_finish(mm);
}

static void contig_migrates(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 48 * MiB, CMA_BACKING_HOST, 100));
    world_init(&m, 0xb00);
    struct cma_mm *mm = m.mm;
    /* owners outside CMA (cma_first_percent 100: the normal lists first) */
    for (int i = 0; i < 3000; i++) {
        struct owner *o;
        ASSERT_OK(owner_alloc((unsigned)test_rng_below(&W.rng, 3), i % 4 ? &ops_full : &ops_plain,
                              i % 4 == 1, &o));
        ASSERT_FALSE(in_area(&m, o->pfn));
    }
    free_some(30);
    cma_pfn_t lo = CMA_PFN_NONE, hi = 0;
    for (size_t i = 0; i < W.n; i++)
        if (W.o[i].pfn != CMA_PFN_NONE) {
            lo = W.o[i].pfn < lo ? W.o[i].pfn : lo;
            hi = W.o[i].pfn > hi ? W.o[i].pfn : hi;
        }
    const cma_pfn_t start = lo + (hi - lo) / 4 + 1, end = lo + (hi - lo) / 2 + 3;
    uint64_t inside = 0, clean_inside = 0;
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o->pfn != CMA_PFN_NONE && o->pfn < end && o->pfn + (1ull << o->order) > start) {
            inside++;
            clean_inside += (i % 4 == 1);
        }
    }
    ASSERT_TRUE(inside > 10 && clean_inside > 0);
    world_verify(0, 0, 0);

    /* a referenced owner inside: -EBUSY (after the other owners moved), nothing lost */
    struct owner *R = NULL;
    for (size_t i = 0; i < W.n && !R; i++)
        if (W.o[i].pfn != CMA_PFN_NONE && W.o[i].pfn >= start + 20 && W.o[i].pfn + 4 < end &&
            i % 4 != 1)
            R = &W.o[i];
    ASSERT_TRUE(R != NULL);
    ASSERT_OK(cma_page_get(mm, R->pfn));
    struct cma_mm_stats s0 = mstats(mm);
    EXPECT_ERR(cma_alloc_contig_range(mm, start, end), -CMA_EBUSY);
    EXPECT_EQ(R->migrations, 0);
    world_verify(0, 0, 0);
    EXPECT_OK(cma_page_put(mm, R->pfn));

    ASSERT_OK(cma_alloc_contig_range(mm, start, end));
    struct cma_mm_stats s1 = mstats(mm);
    EXPECT_EQ(R->migrations, 1);
    EXPECT_EQ(R->migrations, 1);
    world_verify(start, end, end - start);
    EXPECT_GT(s1.pgdiscard - s0.pgdiscard, 0);
    EXPECT_GT(W.n_discard, 0);
    for (size_t i = 0; i < W.n; i++) /* dropped, never copied */
        if (W.o[i].discards)
            EXPECT_EQ(W.o[i].migrations, 0);
    EXPECT_OK(cma_free_contig_range(mm, start, end - start));
    world_free_all();
    world_fini();
    expect_all_free_merged(&m);
    test_mm_finish(mm);
}

static void contig_pages_outside_cma(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 16 * MiB, CMA_BACKING_NONE, 50));
    world_init(&m, 0xc00);
    struct cma_mm *mm = m.mm;
    cma_pfn_t p = 0, got[64];
    size_t n = 0;
    EXPECT_ERR(cma_alloc_contig_pages(mm, 0, 0, &p), -CMA_EINVAL);
    EXPECT_UEQ(p, CMA_PFN_NONE);
    EXPECT_ERR(cma_alloc_contig_pages(mm, 1, 31, &p), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_pages(mm, 1, 0, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_pages(NULL, 1, 0, &p), -CMA_EINVAL);

    /* everything outside CMA, pageblock by pageblock, then nothing: CMA is never used */
    int r;
    while (n < 64 && (r = cma_alloc_contig_pages(mm, 512, 9, &got[n])) == 0) {
        EXPECT_UEQ(got[n] & 511, 0);
        EXPECT_FALSE(got[n] + 512 > m.abase && got[n] < m.aend);
        EXPECT_NE(cma_pageblock_type(mm, got[n]), CMA_MIGRATE_CMA);
        for (size_t k = 0; k < n; k++)
            EXPECT_NE(got[k], got[n]);
        n++;
    }
    EXPECT_ERR(r, -CMA_ENOMEM);
    EXPECT_UEQ(n, (64 - 16) * MiB / (2 * MiB));
    struct cma_mm_stats st = mstats(mm);
    EXPECT_UEQ(st.nr_free_cma, m.acount); /* the area is all free and was not touched */
    EXPECT_UEQ(st.nr_free_total, m.acount);
    EXPECT_ERR(cma_alloc_contig_pages(mm, 1, 0, &p), -CMA_ENOMEM);
    EXPECT_CHECK(mm);
    for (size_t k = 0; k < n; k++)
        EXPECT_OK(cma_free_contig_range(mm, got[k], 512));

    /* unmovable pages in the way are skipped; movable owners are moved */
    cma_pfn_t un[5] = {100, 2048 + 700, 8192 + 3, 10000, 16383};
    grab(mm, CMA_GFP_UNMOVABLE, un, 5);
    for (int i = 0; i < 2000; i++) {
        struct owner *o;
        ASSERT_OK(owner_alloc(0, &ops_full, false, &o));
    }
    free_some(50);
    uint64_t clean = 0;
    for (cma_pfn_t w = 0; w < 16384; w += 1024) {
        bool ok = !(w + 1024 > m.abase && w < m.aend);
        for (int k = 0; k < 5; k++)
            ok &= !(un[k] >= w && un[k] < w + 1024);
        clean += ok;
    }
    n = 0;
    while (n < 64 && (r = cma_alloc_contig_pages(mm, 1024, 10, &got[n])) == 0) {
        EXPECT_UEQ(got[n] & 1023, 0);
        EXPECT_FALSE(got[n] + 1024 > m.abase && got[n] < m.aend);
        for (int k = 0; k < 5; k++)
            EXPECT_FALSE(un[k] >= got[n] && un[k] < got[n] + 1024);
        n++;
        uint64_t extra = 5;
        for (size_t k = 0; k < n; k++)
            extra += 1024;
        world_verify(got[n - 1], got[n - 1] + 1024, extra);
    }
    /* the owners moved out of the way need room: all clean windows but the room they take */
    EXPECT_TRUE(r == -CMA_ENOMEM);
    EXPECT_GE(n, 1);
    EXPECT_LE(n, clean);
    for (size_t i = 0; i < W.n; i++) /* targets are never in CMA either */
        if (W.o[i].pfn != CMA_PFN_NONE && W.o[i].migrations)
            EXPECT_FALSE(in_area(&m, W.o[i].pfn));
    for (size_t k = 0; k < n; k++)
        EXPECT_OK(cma_free_contig_range(mm, got[k], 1024));
    /* an odd size, no alignment */
    ASSERT_OK(cma_alloc_contig_pages(mm, 300, 0, &p));
    EXPECT_FALSE(p + 300 > m.abase && p < m.aend);
    world_verify(p, p + 300, 5 + 300);
    EXPECT_OK(cma_free_contig_range(mm, p, 300));
    for (int k = 0; k < 5; k++)
        EXPECT_OK(cma_free_pages(mm, un[k], 0));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

struct blk {
    cma_pfn_t pfn;
    unsigned order, gfp;
};

static void unmovable_never_in_cma(void)
{
    for (int round = 0; round < 3; round++) {
        struct mach m;
        ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, round == 1 ? 0 : (16 + 8 * (uint64_t)round) * MiB,
                              CMA_BACKING_NONE, round == 2 ? 0 : 50));
        struct cma_mm *mm = m.mm;
        struct test_rng rng;
        test_rng_init(&rng, test_seed_value ^ (0xd00 + (uint64_t)round));
        size_t cap = (size_t)mstats(mm).nr_managed, n = 0;
        struct blk *v = malloc(cap * sizeof *v);
        bool first_fail_seen[3] = {false, false, false};
        uint64_t cma_free_at_fail[3] = {0, 0, 0};
        static const unsigned gfps[3] = {CMA_GFP_UNMOVABLE, CMA_GFP_RECLAIMABLE, CMA_GFP_MOVABLE};
        for (;;) {
            unsigned g = (unsigned)test_rng_below(&rng, 3), order = (unsigned)test_rng_below(&rng, 6);
            cma_pfn_t pfn;
            int r = cma_alloc_pages(mm, order, gfps[g], &pfn);
            if (r == -CMA_ENOMEM && gfps[g] != CMA_GFP_MOVABLE && !first_fail_seen[g] &&
                order > 0 && (r = cma_alloc_pages(mm, 0, gfps[g], &pfn)) == 0)
                order = 0; /* not out of memory for this type yet: keep the page */
            if (r == -CMA_ENOMEM) {
                if (!first_fail_seen[g]) {
                    first_fail_seen[g] = true;
                    cma_free_at_fail[g] = mstats(mm).nr_free_cma;
                }
                if (gfps[g] == CMA_GFP_MOVABLE && order == 0)
                    break; /* nothing left anywhere */
                continue;
            }
            ASSERT_OK(r);
            ASSERT_TRUE(n < cap);
            v[n++] = (struct blk){pfn, order, gfps[g]};
            if (gfps[g] != CMA_GFP_MOVABLE && cma_pageblock_type(mm, pfn) == CMA_MIGRATE_CMA)
                test_fail_(__FILE__, __LINE__, "round %d: %s block of order %u at pfn %#" PRIx64
                           " in a CMA pageblock", round, g ? "RECLAIMABLE" : "UNMOVABLE", order, pfn);
        }
        struct cma_mm_stats st = mstats(mm);
        EXPECT_UEQ(st.nr_free_total, 0);
        for (int g = 0; g < 3; g++) {
            cma_pfn_t pfn;
            EXPECT_ERR(cma_alloc_pages(mm, 0, gfps[g], &pfn), -CMA_ENOMEM);
        }
        uint64_t movable_in_cma = 0;
        for (size_t i = 0; i < n; i++) {
            bool in = in_area(&m, v[i].pfn);
            EXPECT_EQ(in, cma_pageblock_type(mm, v[i].pfn) == CMA_MIGRATE_CMA);
            if (v[i].gfp == CMA_GFP_MOVABLE && in)
                movable_in_cma += 1ull << v[i].order;
            EXPECT_FALSE(in && v[i].gfp != CMA_GFP_MOVABLE);
        }
        EXPECT_UEQ(movable_in_cma, m.acount); /* every CMA page went to a movable request */
        /* UNMOVABLE and RECLAIMABLE ran out while CMA still had free pages (unless movable
         * requests take CMA first: cma_first_percent 0) */
        if (round != 2)
            EXPECT_GT(cma_free_at_fail[0] + cma_free_at_fail[1], 0);
        expect_area_cma(&m);
        EXPECT_CHECK(mm);
        if (test_verbose)
            printf("  round %d: %zu blocks; CMA free when UNMOVABLE/RECLAIMABLE first failed: %" PRIu64
                   "/%" PRIu64 "\n", round, n, cma_free_at_fail[0], cma_free_at_fail[1]);
        for (size_t i = n; i > 0; i--)
            EXPECT_OK(cma_free_pages(mm, v[i - 1].pfn, v[i - 1].order));
        free(v);
        expect_area_cma(&m);
        st = mstats(mm);
        EXPECT_UEQ(st.nr_free_total, st.nr_managed);
        test_mm_finish(mm);
    }
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(unaligned_range), TEST(contig_errors), TEST(contig_migrates),
                     TEST(contig_pages_outside_cma), TEST(unmovable_never_in_cma));
}
