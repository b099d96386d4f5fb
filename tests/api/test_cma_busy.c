/*
 * tests/api/test_cma_busy.c - "A pinned or unmovable page in the way: the allocation lands
 * elsewhere, or returns -EBUSY with every pageblock back to CMA and no page lost."
 * Through <cma/cma.h> only.
 *
 *   unmovable_default / unmovable_linux
 *                          an allocated page without movable ops inside the area: a smaller window
 *                          avoids it; the whole area is -EBUSY and afterwards every pageblock is CMA,
 *                          the free/allocated counters are unchanged; DEFAULT prices the window and
 *                          never tries it (retries unchanged, nothing moved), LINUX tries it once
 *                          (trusting CMA pageblocks as Linux does: it migrates first, fails later)
 *   short_ref_default / short_ref_linux
 *                          a short-term reference (cma_page_get) on a movable page: the block cannot
 *                          be freed (-EBUSY), a smaller window avoids it, the whole area is -EBUSY
 *                          after retries; after cma_page_put the whole area is taken
 *   longterm_pin           cma_page_pin_longterm moves a CMA block out first (the owner's migrate sees
 *                          the new pfn), after which the whole area is allocatable; pin counts, unpin
 *                          errors, pin of an unmovable CMA page -EBUSY, of a block outside CMA in
 *                          place, -EFAULT/-EINVAL misuse, -ENOMEM when memory outside CMA is full
 *   probes_in_callbacks    while a block is being migrated: cma_page_get -EAGAIN, cma_free_pages and
 *                          cma_page_set_movable -EBUSY, long-term pin -EBUSY (callbacks may call
 *                          libcma)
 *   checker_in_callback    cma_mm_check run from a migrate callback (the area isolated by cma_alloc)
 *                          is green
 *   fault_injection_10 / _50 / _100
 *                          isolate / migrate callbacks failing at random (seeded) at 10, 50 and 100 %:
 *                          every cma_alloc succeeds or returns a clean -EBUSY/-ENOSPC; after each
 *                          call the checker is green, every owner's recorded block is live, distinct
 *                          and outside every range handed out, the allocated page count adds up,
 *                          handed-out ranges keep their contents; at 100 % nothing ever migrates
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
static void free_some(unsigned pct)
{
    for (size_t i = 0; i < W.n; i++)
        if (test_rng_below(&W.rng, 100) < pct)
            owner_free(&W.o[i]);
}

static struct owner *owner_near(const struct mach *m, uint64_t offset)
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

/* ---- tests --------------------------------------------------------------------------------------- */

static void unmovable_case(enum cma_policy pol)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x100 + pol);
    struct cma_mm *mm = m.mm;
    ASSERT_OK(cma_area_set_policy(m.area, pol));
    const cma_pfn_t U = m.abase + 1500;
    grab(mm, CMA_GFP_MOVABLE, &U, 1);
    fill_area(2, &ops_full);
    free_some(50);
    world_verify(0, 0, 1);

    /* a window smaller than the area lands where U is not */
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, 1024, 0, &pfn));
    EXPECT_TRUE(in_area(&m, pfn) && pfn + 1024 <= m.aend);
    EXPECT_TRUE(U < pfn || U >= pfn + 1024);
    world_verify(pfn, pfn + 1024, 1 + 1024);
    EXPECT_OK(cma_release(m.area, pfn, 1024));

    /* the whole area: -EBUSY, every pageblock CMA again, no page lost. DEFAULT prices the window and
     * never tries it: nothing moves. LINUX trusts CMA pageblocks at isolation as Linux does: it
     * migrates what it can and fails when it meets U. */
    struct cma_mm_stats st0 = mstats(mm);
    struct cma_area_stats a0 = astats(m.area);
    uint64_t iso0 = W.n_isolate, mig0 = W.n_migrate;
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    struct cma_mm_stats st1 = mstats(mm);
    struct cma_area_stats a1 = astats(m.area);
    expect_area_cma(&m);
    if (pol == CMA_POLICY_DEFAULT) {
        expect_same_counts(&st0, &st1);
        EXPECT_UEQ(W.n_isolate, iso0); /* refused before anything moved */
        EXPECT_UEQ(W.n_migrate, mig0);
        EXPECT_UEQ(st1.pgmigrate_success, st0.pgmigrate_success);
        EXPECT_UEQ(a1.pages_migrated, a0.pages_migrated);
    } else {
        EXPECT_UEQ(st1.nr_free_total, st0.nr_free_total);
        EXPECT_UEQ(st1.nr_allocated, st0.nr_allocated);
        for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
            EXPECT_UEQ(st1.nr_pageblocks[t], st0.nr_pageblocks[t]);
        EXPECT_UEQ(st1.nr_free[CMA_MIGRATE_ISOLATE], 0);
        EXPECT_UEQ(W.n_putback, 0);
        EXPECT_UEQ(a1.pages_migrated - a0.pages_migrated, st1.pgmigrate_success - st0.pgmigrate_success);
    }
    EXPECT_UEQ(a1.available, m.acount);
    EXPECT_UEQ(a1.alloc_calls_fail, a0.alloc_calls_fail + 1);
    EXPECT_UEQ(a1.alloc_pages_fail, a0.alloc_pages_fail + m.acount);
    EXPECT_UEQ(a1.retries, a0.retries + (pol == CMA_POLICY_LINUX ? 1 : 0));
    world_verify(0, 0, 1);

    /* U gone: the whole area */
    EXPECT_OK(cma_free_pages(mm, U, 0));
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(pfn, m.abase);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void unmovable_default(void) { unmovable_case(CMA_POLICY_DEFAULT); }
static void unmovable_linux(void) { unmovable_case(CMA_POLICY_LINUX); }

static void short_ref_case(enum cma_policy pol)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x200 + pol);
    struct cma_mm *mm = m.mm;
    ASSERT_OK(cma_area_set_policy(m.area, pol));
    fill_area(2, &ops_full);
    free_some(50);
    struct owner *R = owner_near(&m, 2000);
    ASSERT_TRUE(R != NULL);
    const cma_pfn_t rpfn = R->pfn;
    ASSERT_OK(cma_page_get(mm, rpfn));
    EXPECT_OK(cma_page_get(mm, rpfn + (1ull << R->order) - 1)); /* any page of the block, twice */
    EXPECT_ERR(cma_free_pages(mm, rpfn, R->order), -CMA_EBUSY);

    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, 1024, 0, &pfn));
    EXPECT_TRUE(rpfn + (1ull << R->order) <= pfn || rpfn >= pfn + 1024);
    EXPECT_UEQ(R->pfn, rpfn);
    world_verify(pfn, pfn + 1024, 1024);
    EXPECT_OK(cma_release(m.area, pfn, 1024));

    struct cma_area_stats a0 = astats(m.area);
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    struct cma_area_stats a1 = astats(m.area);
    EXPECT_GE(a1.retries, a0.retries + 1);
    EXPECT_UEQ(a1.available, m.acount);
    EXPECT_UEQ(R->pfn, rpfn); /* still referenced, still there */
    EXPECT_EQ(R->migrations, 0);
    expect_area_cma(&m);
    world_verify(0, 0, 0); /* others may have moved; none lost */

    EXPECT_OK(cma_page_put(mm, rpfn));
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY); /* one reference left */
    EXPECT_OK(cma_page_put(mm, rpfn));
    EXPECT_ERR(cma_page_put(mm, rpfn), -CMA_EFAULT);
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_EQ(R->migrations, 1);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void short_ref_default(void) { short_ref_case(CMA_POLICY_DEFAULT); }
static void short_ref_linux(void) { short_ref_case(CMA_POLICY_LINUX); }

static void longterm_pin(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x300);
    struct cma_mm *mm = m.mm;
    fill_area(2, &ops_full);
    free_some(30);
    struct owner *P = owner_near(&m, 1234);
    ASSERT_TRUE(P != NULL);
    const cma_pfn_t old = P->pfn;

    /* misuse first */
    cma_pfn_t npfn = 0;
    EXPECT_ERR(cma_page_pin_longterm(mm, old, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_page_pin_longterm(NULL, old, &npfn), -CMA_EINVAL);
    if (P->order) {
        EXPECT_ERR(cma_page_pin_longterm(mm, old + 1, &npfn), -CMA_EFAULT); /* not a head */
        EXPECT_UEQ(npfn, CMA_PFN_NONE);
    }
    EXPECT_ERR(cma_page_unpin(mm, old), -CMA_EFAULT);
    EXPECT_EQ(P->migrations, 0);

    /* pin: moved out of CMA first, the owner saw the new pfn */
    ASSERT_OK(cma_page_pin_longterm(mm, old, &npfn));
    EXPECT_NE(npfn, old);
    EXPECT_FALSE(in_area(&m, npfn));
    EXPECT_UEQ(P->pfn, npfn);
    EXPECT_EQ(P->migrations, 1);
    int t = cma_pageblock_type(mm, npfn);
    EXPECT_TRUE(t != CMA_MIGRATE_CMA && t != CMA_MIGRATE_ISOLATE);
    EXPECT_ERR(cma_free_pages(mm, npfn, P->order), -CMA_EBUSY);
    /* a second pin stays where it is */
    cma_pfn_t npfn2;
    EXPECT_OK(cma_page_pin_longterm(mm, npfn, &npfn2));
    EXPECT_UEQ(npfn2, npfn);
    EXPECT_EQ(P->migrations, 1);
    world_verify(0, 0, 0);

    /* the pinned block no longer blocks the area */
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(P->pfn, npfn);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));

    EXPECT_OK(cma_page_unpin(mm, npfn));
    EXPECT_ERR(cma_free_pages(mm, npfn, P->order), -CMA_EBUSY); /* one pin left */
    EXPECT_OK(cma_page_unpin(mm, npfn));
    EXPECT_ERR(cma_page_unpin(mm, npfn), -CMA_EFAULT);
    owner_free(P);

    /* an unmovable page in CMA cannot be pinned */
    const cma_pfn_t U = m.abase + 77;
    grab(mm, CMA_GFP_MOVABLE, &U, 1);
    EXPECT_ERR(cma_page_pin_longterm(mm, U, &npfn), -CMA_EBUSY);
    EXPECT_UEQ(npfn, CMA_PFN_NONE);
    EXPECT_ERR(cma_page_unpin(mm, U), -CMA_EFAULT);
    EXPECT_OK(cma_free_pages(mm, U, 0)); /* not pinned */
    /* a free page cannot be pinned */
    EXPECT_ERR(cma_page_pin_longterm(mm, U, &npfn), -CMA_EFAULT);

    /* outside CMA: pinned in place, even without movable ops */
    cma_pfn_t un;
    ASSERT_OK(cma_alloc_pages(mm, 1, CMA_GFP_UNMOVABLE, &un));
    EXPECT_FALSE(in_area(&m, un));
    EXPECT_OK(cma_page_pin_longterm(mm, un, &npfn));
    EXPECT_UEQ(npfn, un);
    EXPECT_OK(cma_page_unpin(mm, un));
    EXPECT_OK(cma_free_pages(mm, un, 1));
    world_verify(0, 0, 0);
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void pin_no_memory(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x301);
    struct cma_mm *mm = m.mm;
    int r;
    while ((r = owner_alloc(0, &ops_full, false, NULL)) == 0)
        ;
    ASSERT_ERR(r, -CMA_ENOMEM);
    struct owner *P = owner_near(&m, 100);
    ASSERT_TRUE(P != NULL);
    cma_pfn_t old = P->pfn, npfn;
    EXPECT_ERR(cma_page_pin_longterm(mm, old, &npfn), -CMA_ENOMEM);
    EXPECT_UEQ(npfn, CMA_PFN_NONE);
    EXPECT_UEQ(P->pfn, old);
    EXPECT_EQ(P->putbacks, 1);
    EXPECT_ERR(cma_page_unpin(mm, old), -CMA_EFAULT); /* not pinned */
    world_verify(0, 0, 0);
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

/* ---- callbacks calling libcma ---- */

static int probe_isolate(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct cma_mm *mm = W.m->mm;
    cma_pfn_t np;
    /* the block is being migrated: no reference, no free, no re-registration, no pin */
    EXPECT_ERR(cma_page_get(mm, pfn), -CMA_EAGAIN);
    EXPECT_ERR(cma_free_pages(mm, pfn, order), -CMA_EBUSY);
    EXPECT_ERR(cma_page_set_movable(mm, pfn, NULL, NULL), -CMA_EBUSY);
    EXPECT_ERR(cma_page_pin_longterm(mm, pfn, &np), -CMA_EBUSY);
    /* other calls still work from a callback */
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    return cb_isolate(owner, pfn, order);
}

static int probe_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct cma_mm *mm = W.m->mm;
    /* the target is not the owner's yet: it cannot be freed behind libcma's back */
    EXPECT_ERR(cma_free_pages(mm, to, order), -CMA_EBUSY);
    EXPECT_ERR(cma_page_get(mm, from), -CMA_EAGAIN);
    return cb_migrate(owner, from, to, order);
}

static const struct cma_movable_ops ops_probe = {probe_isolate, probe_migrate, cb_putback, NULL};

static void probes_in_callbacks(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x302);
    fill_area(1, &ops_probe);
    free_some(50);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_GT(W.n_migrate, 0);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

/* cma_mm_check from inside a callback, i.e. while cma_alloc holds the area isolated */
static int check_r;
static char check_why[256];

static int checking_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    check_r = cma_mm_check(W.m->mm, check_why, sizeof check_why);
    return cb_migrate(owner, from, to, order);
}

static const struct cma_movable_ops ops_checking = {cb_isolate, checking_migrate, cb_putback, NULL};

static void checker_in_callback(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x303);
    /* one movable page at the start of the area, the rest of it free (whole free order-10 blocks) */
    struct owner *o = NULL;
    ASSERT_OK(owner_alloc(0, &ops_checking, false, &o));
    ASSERT_UEQ(o->pfn, m.abase);
    EXPECT_OK(cma_drain_cpu_caches(m.mm));
    cma_pfn_t pfn;
    check_r = 1;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_EQ(o->migrations, 1);
    if (check_r)
        test_fail_(__FILE__, __LINE__, "cma_mm_check during cma_alloc (from the migrate callback): %s",
                   check_r == 1 ? "not run" : check_why);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

/* ---- fault injection --------------------------------------------------------------------------- */

struct range {
    cma_pfn_t pfn;
    uint64_t count;
    uint64_t sum;
};

static const struct cma_movable_ops ops_noiso = {NULL, cb_migrate, cb_putback, NULL};

static void fault_injection(unsigned pct)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x400 + pct);
    struct cma_mm *mm = m.mm;
    /* owners with and without an isolate op (without one, migrate itself gets to fail) */
    EXPECT_OK(cma_drain_cpu_caches(mm));
    for (size_t k = 0; mstats(mm).nr_free_cma; k++) {
        unsigned order = (unsigned)test_rng_below(&W.rng, 3);
        ASSERT_OK(owner_alloc(order, k % 2 ? &ops_full : &ops_noiso, false, NULL));
    }
    free_some(40);
    world_verify(0, 0, 0);
    W.fi_pct = pct;

    struct range live[64];
    size_t nlive = 0;
    uint64_t live_pages = 0, ok = 0, busy = 0, nospc = 0;
    const uint64_t migrated0 = astats(m.area).pages_migrated;
    const unsigned iters = (unsigned)test_env_u64("CMA_TEST_OPS", 60);
    for (unsigned it = 0; it < iters && !test_failures; it++) {
        if (nlive && (nlive == 64 || test_rng_below(&W.rng, 3) == 0)) {
            size_t k = (size_t)test_rng_below(&W.rng, nlive);
            EXPECT_UEQ(sum_pages(mm, live[k].pfn, live[k].count), live[k].sum);
            EXPECT_OK(cma_release(m.area, live[k].pfn, live[k].count));
            live_pages -= live[k].count;
            live[k] = live[--nlive];
        } else {
            uint64_t count = 1 + test_rng_below(&W.rng, test_rng_below(&W.rng, 4) ? 64 : 1024);
            unsigned align = (unsigned)test_rng_below(&W.rng, 7);
            struct cma_area_stats a0 = astats(m.area);
            cma_pfn_t pfn;
            int r = cma_alloc(m.area, count, align, &pfn);
            struct cma_area_stats a1 = astats(m.area);
            if (r == 0) {
                ok++;
                EXPECT_UEQ(pfn & ((1ull << align) - 1), 0);
                EXPECT_TRUE(pfn >= m.abase && pfn + count <= m.aend);
                for (size_t k = 0; k < nlive; k++)
                    EXPECT_TRUE(pfn + count <= live[k].pfn || pfn >= live[k].pfn + live[k].count);
                EXPECT_UEQ(a1.available, a0.available - count);
                fill_pages(mm, pfn, count, it);
                live[nlive++] = (struct range){pfn, count, sum_pages(mm, pfn, count)};
                live_pages += count;
            } else {
                EXPECT_TRUE(r == -CMA_EBUSY || r == -CMA_ENOSPC);
                if (r != -CMA_EBUSY && r != -CMA_ENOSPC)
                    test_fail_(__FILE__, __LINE__, "cma_alloc(%" PRIu64 ", %u): %s", count, align,
                               cma_err_name(r));
                busy += r == -CMA_EBUSY;
                nospc += r == -CMA_ENOSPC;
                EXPECT_UEQ(pfn, CMA_PFN_NONE);
                EXPECT_UEQ(a1.available, a0.available);
                EXPECT_UEQ(a1.alloc_calls_fail, a0.alloc_calls_fail + 1);
            }
        }
        /* after every call: the shadow table, the ranges, the counters, the checker */
        expect_area_cma(&m);
        world_verify(0, 0, live_pages);
        for (size_t i = 0; i < W.n; i++) {
            struct owner *o = &W.o[i];
            if (o->pfn == CMA_PFN_NONE)
                continue;
            for (size_t k = 0; k < nlive; k++)
                if (o->pfn < live[k].pfn + live[k].count && o->pfn + (1ull << o->order) > live[k].pfn)
                    test_fail_(__FILE__, __LINE__, "owner %zu at %#" PRIx64 " inside range %#" PRIx64
                               "+%" PRIu64, i, o->pfn, live[k].pfn, live[k].count);
        }
        for (size_t k = 0; k < nlive; k++)
            EXPECT_UEQ(sum_pages(mm, live[k].pfn, live[k].count), live[k].sum);
        EXPECT_UEQ(W.n_putback, W.n_migrate_failed); /* every failed migrate was put back */
    }
    if (test_verbose)
        printf("  %u%%: %" PRIu64 " ok, %" PRIu64 " busy, %" PRIu64 " nospc; %" PRIu64
               " isolate / %" PRIu64 " migrate failures injected, %" PRIu64 " migrations\n",
               pct, ok, busy, nospc, W.n_fi_isolate, W.n_fi_migrate, W.n_migrate - W.n_migrate_failed);
    if (pct == 100)
        EXPECT_UEQ(astats(m.area).pages_migrated, migrated0); /* nothing ever moved */
    else
        EXPECT_GT(ok, 0);
    if (pct == 100)
        EXPECT_GT(busy, 0);
    W.fi_pct = 0;
    for (size_t k = 0; k < nlive; k++)
        EXPECT_OK(cma_release(m.area, live[k].pfn, live[k].count));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void fault_injection_10(void) { fault_injection(10); }
static void fault_injection_50(void) { fault_injection(50); }
static void fault_injection_100(void) { fault_injection(100); }

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(unmovable_default), TEST(unmovable_linux),
                     TEST(short_ref_default), TEST(short_ref_linux), TEST(longterm_pin),
                     TEST(pin_no_memory), TEST(probes_in_callbacks), TEST(checker_in_callback), TEST(fault_injection_10),
                     TEST(fault_injection_50), TEST(fault_injection_100));
}
