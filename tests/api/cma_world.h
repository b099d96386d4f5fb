/* SPDX-License-Identifier: MIT */
/*
 * tests/api/cma_world.h - the shared fixture of the CMA API tests (public headers only): a machine
 * with one CMA area, a world of owners whose movable ops record every callback (with optional
 * seeded fault injection), page contents with checksums, and helpers that verify no page was lost
 * or owned twice. Included by test_cma_busy.c, test_cma_contig.c, test_cma_migrate.c and
 * test_cma_policy.c; every helper is static and marked unused so each test takes what it needs.
 */
#ifndef CMA_TEST_CMA_WORLD_H
#define CMA_TEST_CMA_WORLD_H

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
__attribute__((unused)) static bool mach_make_(struct mach *m, uint64_t mem, uint64_t area_size, cma_phys_t area_base,
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

__attribute__((unused)) static bool in_area(const struct mach *m, cma_pfn_t pfn) { return pfn >= m->abase && pfn < m->aend; }

/* Every pageblock of the area is labelled CMA (not isolated, not relabelled). */
__attribute__((unused)) static void expect_area_cma_(const struct mach *m, const char *file, int line)
{
    for (cma_pfn_t pb = m->abase; pb < m->aend; pb += m->pb_pages) {
        int t = cma_pageblock_type(m->mm, pb);
        if (t != CMA_MIGRATE_CMA)
            test_fail_(file, line, "pageblock at pfn %#" PRIx64 " has type %d, expected CMA", pb, t);
    }
}
#define expect_area_cma(m) expect_area_cma_((m), __FILE__, __LINE__)

__attribute__((unused)) static struct cma_mm_stats mstats(struct cma_mm *mm)
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

__attribute__((unused)) static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Fills [pfn, pfn + n) with a pattern derived from seed (no-op when metadata only). */
__attribute__((unused)) static void fill_pages(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n, uint64_t seed)
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
__attribute__((unused)) static uint64_t sum_pages(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n)
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

__attribute__((unused)) static struct world {
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

__attribute__((unused)) static void world_init(struct mach *m, uint64_t salt)
{
    memset(&W, 0, sizeof W);
    W.m = m;
    W.cap = (size_t)(mstats(m->mm).nr_managed + 16);
    W.o = calloc(W.cap, sizeof *W.o);
    if (!W.o)
        abort();
    test_rng_init(&W.rng, test_seed_value ^ salt);
}

__attribute__((unused)) static void world_fini(void)
{
    free(W.o);
    memset(&W, 0, sizeof W);
}

__attribute__((unused)) static struct owner *as_owner(void *p)
{
    struct owner *o = p;
    if (o < W.o || o >= W.o + W.n) {
        test_fail_(__FILE__, __LINE__, "callback with an unknown owner %p", p);
        return NULL;
    }
    return o;
}

__attribute__((unused)) static int cb_isolate(void *owner, cma_pfn_t pfn, unsigned order)
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

__attribute__((unused)) static int cb_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
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

__attribute__((unused)) static void cb_putback(void *owner, cma_pfn_t pfn, unsigned order)
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

__attribute__((unused)) static int cb_discard(void *owner, cma_pfn_t pfn, unsigned order)
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

__attribute__((unused)) static const struct cma_movable_ops ops_full = {cb_isolate, cb_migrate, cb_putback, cb_discard};
__attribute__((unused)) static const struct cma_movable_ops ops_plain = {NULL, cb_migrate, cb_putback, NULL};

/* Allocates a block, registers it as movable with ops, fills it; returns 0 or the error. */
__attribute__((unused)) static int owner_alloc(unsigned order, const struct cma_movable_ops *ops, bool clean,
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

__attribute__((unused)) static void owner_free(struct owner *o)
{
    if (o->pfn == CMA_PFN_NONE)
        return;
    EXPECT_OK(cma_free_pages(W.m->mm, o->pfn, o->order));
    o->pfn = CMA_PFN_NONE;
}

__attribute__((unused)) static void world_free_all(void)
{
    for (size_t i = 0; i < W.n; i++)
        owner_free(&W.o[i]);
}

__attribute__((unused)) static int cmp_owner_pfn(const void *a, const void *b)
{
    const struct owner *x = *(const struct owner *const *)a, *y = *(const struct owner *const *)b;
    return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* Verifies the table (see the file comment); `extra` = allocated pages not owned by the table
 * (contiguous ranges, unmovable blocks). [lo, hi) must hold no owner. */
__attribute__((unused)) static void world_verify_(cma_pfn_t lo, cma_pfn_t hi, uint64_t extra, const char *file, int line)
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
__attribute__((unused)) static void grab_(struct cma_mm *mm, unsigned gfp, const cma_pfn_t *want, size_t n, const char *file,
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
__attribute__((unused)) static void expect_same_counts_(const struct cma_mm_stats *a, const struct cma_mm_stats *b,
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

/* The live owner with the lowest pfn at or above the area's base + offset. */
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

#endif /* CMA_TEST_CMA_WORLD_H */
