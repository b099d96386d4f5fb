/*
 * tests/api/test_cma_migrate.c - migration of movable pages out of a CMA area, through <cma/cma.h>.
 *
 * "Fill memory with movable pages carrying a checksum pattern, then take the whole area: every owner
 * saw its new pfn, every byte arrived intact, the checker is green."
 *
 * Owners are entries of a table {pfn, order, checksum}; the movable ops check every call against the
 * table (isolate/migrate/putback/discard name the owner's recorded pfn and order, migrate sees the
 * contents already copied to a target that is aligned, outside CMA and not isolated) and keep it up
 * to date. After each step the table is verified: owner blocks disjoint, each inside a live block,
 * contents equal to their checksum, none inside a range cma_alloc handed out, and the machine's
 * allocated page count equals owned pages + contiguous pages (no page lost, none owned twice).
 *
 *   whole_area_full_memory   128 MiB backed machine, 32 MiB area, memory filled to the last page
 *                            with blocks of orders 0..4 (cma_first_percent 50); 48 MiB outside the
 *                            area freed; the whole area taken, released and taken again
 *   release_and_realloc      cma_first_percent 0: the area is refilled with owners after each
 *                            release and taken again, three rounds; orders 1..4 move whole
 *   discard_default          clean pages of owners with a discard op are dropped: the owner forgets
 *                            them, pages_discarded / pgdiscard count them, migrate is never called
 *                            for them; refused discards, dirty pages and ops without discard migrate
 *   discard_linux            CMA_POLICY_LINUX: the same layout migrates everything, discard unused
 *   discard_disabled         cma_area_set_discard(false): likewise
 *   isolate_refusal          isolate refuses (-EAGAIN / -EBUSY) at random: retried, no putback
 *   putback_on_migrate_fail  migrate fails a few times for some owners: putback each time, retried;
 *                            an owner that always fails: -EBUSY, area clean, owner intact
 *   putback_on_no_target     memory full: -ENOMEM, putback called, nothing lost; succeeds after
 *                            room is made
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

static struct cma_area_stats astats(struct cma_area *a)
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
static const struct cma_movable_ops ops_plain = {NULL, cb_migrate, cb_putback, NULL};

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
static uint64_t area_owned_pages(size_t *nowners)
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
static void fill_area(unsigned max_order, const struct cma_movable_ops *ops)
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

/* ---- tests --------------------------------------------------------------------------------------- */

static void whole_area_full_memory(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 128 * MiB, 32 * MiB, 64 * MiB, CMA_BACKING_HOST, 50));
    world_init(&m, 0x11);
    struct cma_mm *mm = m.mm;

    /* fill every page: orders 1..4 while they fit, order 0 to the end */
    bool high = true;
    for (;;) {
        unsigned order = high && test_rng_below(&W.rng, 5) == 0 ? 1 + (unsigned)test_rng_below(&W.rng, 4) : 0;
        int r = owner_alloc(order, &ops_full, false, NULL);
        if (r == -CMA_ENOMEM && order) {
            high = false;
            continue;
        }
        if (r == -CMA_ENOMEM)
            break;
        ASSERT_OK(r);
    }
    struct cma_mm_stats st = mstats(mm);
    EXPECT_UEQ(st.nr_free_total, 0);
    size_t in_owners;
    uint64_t in_pages = area_owned_pages(&in_owners);
    EXPECT_UEQ(in_pages, m.acount);
    size_t high_in = 0;
    for (size_t i = 0; i < W.n; i++)
        high_in += in_area(&m, W.o[i].pfn) && W.o[i].order > 0;
    EXPECT_GT(high_in, 0);

    /* room outside the area: free every owner below 48 MiB */
    const cma_pfn_t room_end = (48 * MiB) / cma_mm_page_size(mm);
    for (size_t i = 0; i < W.n; i++)
        if (W.o[i].pfn < room_end)
            owner_free(&W.o[i]);
    world_verify(0, 0, 0);

    uint64_t migr0 = st.pgmigrate_success;
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(pfn, m.abase);
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o->pfn == CMA_PFN_NONE)
            continue;
        if (in_area(&m, o->pfn0)) {
            /* saw exactly one migration, to a new pfn outside the area, below room_end */
            EXPECT_EQ(o->migrations, 1);
            EXPECT_EQ(o->isolates, 1);
            EXPECT_FALSE(in_area(&m, o->pfn));
            EXPECT_LT(o->pfn, room_end);
        } else {
            EXPECT_EQ(o->migrations + o->isolates, 0);
            EXPECT_UEQ(o->pfn, o->pfn0);
        }
    }
    EXPECT_UEQ(W.n_migrate, in_owners);
    EXPECT_UEQ(W.n_putback + W.n_discard, 0);
    struct cma_area_stats as = astats(m.area);
    EXPECT_UEQ(as.pages_migrated, in_pages);
    EXPECT_UEQ(as.pages_discarded, 0);
    EXPECT_UEQ(as.available, 0);
    EXPECT_UEQ(as.alloc_calls_success, 1);
    EXPECT_UEQ(mstats(mm).pgmigrate_success - migr0, in_pages);
    world_verify(m.abase, m.aend, m.acount);

    /* the range is ours: write it, release it, take it again (nothing to move now) */
    fill_pages(mm, pfn, m.acount, 0xabcdef);
    uint64_t s = sum_pages(mm, pfn, m.acount);
    EXPECT_UEQ(sum_pages(mm, pfn, m.acount), s);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    EXPECT_UEQ(astats(m.area).available, m.acount);
    expect_area_cma(&m);
    world_verify(0, 0, 0);
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(pfn, m.abase);
    EXPECT_UEQ(astats(m.area).pages_migrated, in_pages);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));

    world_free_all();
    st = mstats(mm);
    EXPECT_UEQ(st.nr_free_total, st.nr_managed);
    world_fini();
    test_mm_finish(mm);
}

static void release_and_realloc(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 128 * MiB, 32 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x22);
    struct cma_mm *mm = m.mm;
    uint64_t migrated_total = 0;
    size_t high_in = 0;

    for (int round = 0; round < 3; round++) {
        /* owners of earlier rounds (all outside the area now): free half of them */
        for (size_t i = 0; i < W.n; i++)
            if (test_rng_below(&W.rng, 2))
                owner_free(&W.o[i]);
        size_t first = W.n, new_in = 0;
        fill_area(4, round == 1 ? &ops_plain : &ops_full);
        size_t in_owners;
        uint64_t in_pages = area_owned_pages(&in_owners);
        EXPECT_UEQ(in_pages, m.acount);
        for (size_t i = first; i < W.n; i++) {
            new_in += in_area(&m, W.o[i].pfn0);
            high_in += in_area(&m, W.o[i].pfn0) && W.o[i].order > 0;
        }
        EXPECT_UEQ(in_owners, new_in); /* only this round's owners are inside */
        world_verify(0, 0, 0);

        uint64_t nmig0 = W.n_migrate;
        cma_pfn_t pfn;
        ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
        EXPECT_UEQ(pfn, m.abase);
        migrated_total += in_pages;
        EXPECT_UEQ(W.n_migrate - nmig0, in_owners); /* one call per block: blocks move whole */
        for (size_t i = 0; i < W.n; i++) {
            struct owner *o = &W.o[i];
            if (o->pfn == CMA_PFN_NONE)
                continue;
            /* exactly the blocks allocated inside the area moved, once, to an aligned place */
            EXPECT_EQ(o->migrations, in_area(&m, o->pfn0) ? 1 : 0);
            EXPECT_FALSE(in_area(&m, o->pfn));
            EXPECT_UEQ(o->pfn & ((1ull << o->order) - 1), 0);
        }
        struct cma_area_stats as = astats(m.area);
        EXPECT_UEQ(as.pages_migrated, migrated_total);
        EXPECT_UEQ(as.retries, 0);
        world_verify(m.abase, m.aend, m.acount);

        fill_pages(mm, pfn, m.acount, 0x5151 + (uint64_t)round);
        uint64_t s = sum_pages(mm, pfn, m.acount);
        world_verify(m.abase, m.aend, m.acount);
        EXPECT_UEQ(sum_pages(mm, pfn, m.acount), s); /* nobody wrote into the range */
        EXPECT_OK(cma_release(m.area, pfn, m.acount));
        expect_area_cma(&m);
        EXPECT_UEQ(astats(m.area).release_pages_success, (uint64_t)(round + 1) * m.acount);
    }
    EXPECT_GT(high_in, 0); /* orders 1..4 were among the blocks that moved whole */
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

enum discard_mode { DM_DEFAULT, DM_LINUX, DM_DISABLED };

static void discard_case(enum discard_mode mode)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x33 + mode);
    struct cma_mm *mm = m.mm;
    if (mode == DM_LINUX)
        ASSERT_OK(cma_area_set_policy(m.area, CMA_POLICY_LINUX));
    if (mode == DM_DISABLED)
        ASSERT_OK(cma_area_set_discard(m.area, false));

    /* kinds: 0,1 clean + discard accepted; 2 clean, discard refused; 3 discard op but dirtied
     * again; 4,5 clean without a discard op. Blocks that did not fit in the area stay outside. */
    EXPECT_OK(cma_drain_cpu_caches(mm));
    for (size_t k = 0; mstats(mm).nr_free_cma; k++) {
        unsigned kind = (unsigned)(k % 6), order = (unsigned)test_rng_below(&W.rng, 3);
        if ((1ull << order) > mstats(mm).nr_free_cma)
            order = 0;
        struct owner *o;
        ASSERT_OK(owner_alloc(order, kind < 4 ? &ops_full : &ops_plain, true, &o));
        o->kind = kind;
        o->refuse_discard = kind == 2;
        if (kind == 3)
            EXPECT_OK(cma_page_set_clean(mm, o->pfn, false));
    }
    uint64_t clean_ok = 0;
    for (size_t i = 0; i < W.n; i++)
        if (in_area(&m, W.o[i].pfn) && W.o[i].kind < 2)
            clean_ok += 1ull << W.o[i].order;
    EXPECT_GT(clean_ok, 0);
    struct cma_mm_stats st0 = mstats(mm);
    world_verify(0, 0, 0);

    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    struct cma_area_stats as = astats(m.area);
    struct cma_mm_stats st1 = mstats(mm);
    uint64_t dropped = 0, moved = 0;
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (!in_area(&m, o->pfn0)) {
            EXPECT_EQ(o->discards + o->migrations + o->isolates, 0);
            continue;
        }
        if (mode == DM_DEFAULT && o->kind < 2) {
            EXPECT_EQ(o->discards, 1);
            EXPECT_EQ(o->migrations, 0); /* never copied */
            EXPECT_UEQ(o->pfn, CMA_PFN_NONE);
            dropped += 1ull << o->order;
        } else {
            EXPECT_EQ(o->discards, 0);
            EXPECT_EQ(o->migrations, 1);
            EXPECT_FALSE(in_area(&m, o->pfn));
            moved += 1ull << o->order;
        }
        EXPECT_EQ(o->discard_refusals, mode == DM_DEFAULT && o->kind == 2 ? 1 : 0);
    }
    if (mode == DM_DEFAULT) {
        EXPECT_UEQ(dropped, clean_ok);
        EXPECT_GT(W.n_discard_refused, 0);
    } else {
        EXPECT_UEQ(W.n_discard + W.n_discard_refused, 0);
    }
    EXPECT_UEQ(dropped + moved, m.acount);
    EXPECT_UEQ(W.n_putback, 0);
    EXPECT_UEQ(as.pages_discarded, dropped);
    EXPECT_UEQ(as.pages_migrated, moved);
    EXPECT_UEQ(st1.pgdiscard - st0.pgdiscard, dropped);
    EXPECT_UEQ(st1.pgmigrate_success - st0.pgmigrate_success, moved); /* targets taken */
    /* discarded pages went back to the buddy and into the range: no page lost */
    EXPECT_UEQ(st1.nr_allocated, st0.nr_allocated - dropped + m.acount);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    expect_area_cma(&m);
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void discard_default(void) { discard_case(DM_DEFAULT); }
static void discard_linux(void) { discard_case(DM_LINUX); }
static void discard_disabled(void) { discard_case(DM_DISABLED); }

static void isolate_refusal(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x44);
    fill_area(3, &ops_full);
    W.isolate_refuse_pct = 40;
    for (size_t i = 0; i < W.n; i++)
        W.o[i].refuse_isolate = 3; /* at most 3 refusals each: fewer than the 5 idle rounds */
    size_t n_in;
    uint64_t in_pages = area_owned_pages(&n_in);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_GT(W.n_isolate_refused, 0);
    EXPECT_UEQ(W.n_isolate, n_in + W.n_isolate_refused);
    EXPECT_UEQ(W.n_putback, 0); /* a refused isolate is not put back */
    for (size_t i = 0; i < W.n; i++) {
        bool in = in_area(&m, W.o[i].pfn0);
        EXPECT_EQ(W.o[i].migrations, in ? 1 : 0);
        EXPECT_EQ(W.o[i].isolates, in ? W.o[i].isolate_refusals + 1 : 0);
    }
    EXPECT_UEQ(astats(m.area).pages_migrated, in_pages);
    world_verify(m.abase, m.aend, m.acount);

    /* refusing everything, always: -EBUSY, nothing moved, every pageblock CMA again */
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    size_t first = W.n;
    fill_area(0, &ops_full);
    W.isolate_refuse_pct = 100;
    for (size_t i = first; i < W.n; i++)
        W.o[i].refuse_isolate = 1000;
    struct cma_area_stats a0 = astats(m.area);
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    struct cma_area_stats a1 = astats(m.area);
    EXPECT_UEQ(a1.available, m.acount);
    EXPECT_UEQ(a1.pages_migrated, a0.pages_migrated);
    EXPECT_UEQ(a1.alloc_calls_fail, a0.alloc_calls_fail + 1);
    EXPECT_UEQ(W.n_putback, 0);
    for (size_t i = first; i < W.n; i++)
        EXPECT_UEQ(W.o[i].pfn, W.o[i].pfn0);
    expect_area_cma(&m);
    world_verify(0, 0, 0);
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

static void putback_on_migrate_fail(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x55);
    fill_area(2, &ops_full);
    unsigned planned = 0;
    for (size_t i = 0; i < W.n; i++) {
        if (in_area(&m, W.o[i].pfn) && test_rng_below(&W.rng, 5) == 0) {
            W.o[i].fail_migrate = 1 + (unsigned)test_rng_below(&W.rng, 3); /* < 5 idle rounds */
            planned += W.o[i].fail_migrate;
        }
    }
    ASSERT_TRUE(planned > 0);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(W.n_migrate_failed, planned);
    EXPECT_UEQ(W.n_putback, planned);
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        EXPECT_EQ(o->putbacks, o->migrate_failures);
        EXPECT_EQ(o->migrations, in_area(&m, o->pfn0) ? 1 : 0);
        EXPECT_EQ(o->isolates, in_area(&m, o->pfn0) ? o->migrate_failures + 1 : 0);
    }
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));

    /* one owner whose migration always fails */
    size_t first = W.n;
    fill_area(0, &ops_full);
    struct owner *stuck = &W.o[first + (W.n - first) / 2];
    ASSERT_TRUE(in_area(&m, stuck->pfn));
    stuck->fail_migrate = 1000000;
    uint64_t pb0 = W.n_putback;
    struct cma_area_stats a0 = astats(m.area);
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_GE(stuck->putbacks, 5); /* five rounds without progress */
    EXPECT_UEQ(W.n_putback - pb0, stuck->putbacks);
    EXPECT_UEQ(stuck->pfn, stuck->pfn0);
    EXPECT_TRUE(in_area(&m, stuck->pfn));
    EXPECT_UEQ(astats(m.area).available, m.acount);
    EXPECT_UEQ(astats(m.area).alloc_calls_fail, a0.alloc_calls_fail + 1);
    expect_area_cma(&m);
    world_verify(0, 0, 0);
    stuck->fail_migrate = 0;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_FALSE(in_area(&m, stuck->pfn));
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

static void putback_on_no_target(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x66);
    int r;
    while ((r = owner_alloc(0, &ops_full, false, NULL)) == 0)
        ;
    ASSERT_ERR(r, -CMA_ENOMEM);
    EXPECT_UEQ(mstats(m.mm).nr_free_total, 0);
    struct cma_area_stats a0 = astats(m.area);
    cma_pfn_t pfn;
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_ENOMEM);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    /* Targets are found before the owner is asked to isolate, so with no memory at all nothing
     * is isolated; whatever was isolated must have been put back. */
    EXPECT_UEQ(W.n_migrate, 0);
    EXPECT_UEQ(W.n_isolate, W.n_putback);
    EXPECT_UEQ(astats(m.area).available, m.acount);
    EXPECT_UEQ(astats(m.area).alloc_calls_fail, a0.alloc_calls_fail + 1);
    expect_area_cma(&m);
    for (size_t i = 0; i < W.n; i++)
        EXPECT_UEQ(W.o[i].pfn, W.o[i].pfn0);
    world_verify(0, 0, 0);

    /* make room outside the area: now it works */
    uint64_t freed = 0;
    for (size_t i = 0; i < W.n && freed < m.acount + 64; i++)
        if (!in_area(&m, W.o[i].pfn)) {
            owner_free(&W.o[i]);
            freed++;
        }
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(whole_area_full_memory), TEST(release_and_realloc),
                     TEST(discard_default), TEST(discard_linux), TEST(discard_disabled),
                     TEST(isolate_refusal), TEST(putback_on_migrate_fail),
                     TEST(putback_on_no_target));
}
