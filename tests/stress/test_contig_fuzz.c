/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_contig_fuzz.c - seeded randomized contiguous allocation against a shadow of
 * every page's owner, through the public API only.
 *
 * Machine: 2 CPUs, metadata only (migration moves no bytes, owners only learn the new pfn), two
 * memory ranges whose hole lies inside one pageblock (so a pageblock holds the ends of two ranges),
 * and a CMA area; 4 KiB pages, pageblock order 9, max order 10.
 *
 *   fuzz   CMA_TEST_OPS (default 4,000) operations, picked at random:
 *            - owners allocate blocks of order 0..4 (movable, sometimes unmovable), registered
 *              movable or not; some clean with a discard op, some under a short-term reference,
 *              some pinned long-term; an owner's ops refuse isolation or migration now and then;
 *            - owners free blocks (dropping references and pins first);
 *            - cma_alloc_contig_range over random unaligned ranges anywhere (1..3000 pages, often
 *              straddling pageblocks, free blocks, range edges and the hole), cma_alloc_contig_pages
 *              of random sizes and alignments, cma_alloc in the area with random counts and
 *              alignments, cma_alloc_bulk of 1..8 chunks of order 0..4;
 *            - releases of whole contiguous ranges or of random pieces of them.
 *          After every operation the shadow is checked against libcma: a successful range holds no
 *          owner's block and lies where it was asked; a failed one changed nothing but moved owners
 *          (each owner's block is still live at the pfn its callbacks last named, nothing owned
 *          twice); allocated pages == owned pages + contiguously held pages; the invariant checker
 *          runs every CMA_TEST_CHECK_EVERY operations (default 1: every one). At the end everything
 *          is freed and every page is free again.
 *
 * Knobs: CMA_TEST_SEED, CMA_TEST_OPS, CMA_TEST_CHECK_EVERY, CMA_TEST_SCALE (a divisor). Quiet when
 * green; -v prints a summary.
 */
#include "test.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define PAGE 4096ull

static uint64_t knob(const char *name, uint64_t def)
{
    uint64_t v = test_env_u64(name, 0), scale = test_env_u64("CMA_TEST_SCALE", 1);
    if (v)
        return v;
    v = def / (scale ? scale : 1);
    return v ? v : 1;
}

/* ---- owners ------------------------------------------------------------------------------------ */

enum kind { K_PLAIN, K_MOVABLE, K_CLEAN, K_REF, K_PIN };

struct owner {
    cma_pfn_t pfn; /* CMA_PFN_NONE: not live (freed, or dropped by discard) */
    unsigned order;
    enum kind kind;
    bool refuse_isolate, refuse_migrate;
};

#define MAX_OWNERS 6000
#define MAX_RANGES 1024

static struct owner own[MAX_OWNERS];
static unsigned nown;
static struct {
    cma_pfn_t start;
    uint64_t count;
    bool area; /* taken with cma_alloc (released with cma_release) */
} rng_[MAX_RANGES];
static unsigned nranges;
static struct test_rng R;
static uint64_t n_bad_callbacks, n_moves, n_drops, n_ok[4]; /* ok: contig_range, pages, cma, bulk */

static int o_isolate(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = owner;
    if (o->pfn != pfn || o->order != order)
        n_bad_callbacks++;
    return o->refuse_isolate ? -CMA_EAGAIN : 0;
}
static int o_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct owner *o = owner;
    if (o->pfn != from || o->order != order || (to & ((1ull << order) - 1)))
        n_bad_callbacks++;
    if (o->refuse_migrate)
        return -CMA_EAGAIN;
    o->pfn = to;
    n_moves++;
    return 0;
}
static void o_putback(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = owner;
    if (o->pfn != pfn || o->order != order)
        n_bad_callbacks++;
}
static int o_discard(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = owner;
    if (o->pfn != pfn || o->order != order || o->kind != K_CLEAN)
        n_bad_callbacks++;
    o->pfn = CMA_PFN_NONE; /* forgotten: libcma takes the block back */
    n_drops++;
    return 0;
}
static const struct cma_movable_ops ops = {o_isolate, o_migrate, o_putback, o_discard};

/* ---- the machine ---------------------------------------------------------------------------------- */

struct mach {
    struct cma_mm *mm;
    struct cma_area *area;
    cma_pfn_t r0_end, r1_start, r1_end; /* range 0 = [0, r0_end), range 1 = [r1_start, r1_end) */
};

static void tweak(struct cma_mm_config *cfg)
{
    cfg->nr_cpus = 2;
    cfg->backing = CMA_BACKING_NONE;
}

static int boot(struct cma_mm *mm, const void *arg)
{
    struct mach *m = (struct mach *)arg;
    int r = cma_memblock_add(mm, 0, m->r0_end * PAGE);
    if (!r)
        r = cma_memblock_add(mm, m->r1_start * PAGE, (m->r1_end - m->r1_start) * PAGE);
    return r ? r : cma_declare_contiguous(mm, "fuzz", 8 * MiB, 48 * MiB, 0, 0, 0, &m->area);
}

static bool mach_make(struct mach *m)
{
    memset(m, 0, sizeof *m);
    /* the hole [25 MiB + 256 KiB, 25 MiB + 768 KiB) lies inside the pageblock [24, 26) MiB */
    m->r0_end = (25 * MiB + 256 * KiB) / PAGE;
    m->r1_start = (25 * MiB + 768 * KiB) / PAGE;
    m->r1_end = 64 * MiB / PAGE;
    m->mm = test_mm_boot(tweak, boot, m);
    return m->mm != NULL;
}

static struct cma_mm_stats stats(struct cma_mm *mm)
{
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    return st;
}

/* ---- operations ---------------------------------------------------------------------------------- */

static struct owner *new_owner(void)
{
    for (unsigned i = 0; i < nown; i++)
        if (own[i].pfn == CMA_PFN_NONE)
            return &own[i];
    return nown < MAX_OWNERS ? &own[nown++] : NULL;
}

static void op_alloc(struct mach *m)
{
    struct owner *o = new_owner();
    if (!o)
        return;
    unsigned order = test_rng_below(&R, 4) ? 0 : (unsigned)test_rng_below(&R, 5);
    unsigned gfp = test_rng_below(&R, 8) ? CMA_GFP_MOVABLE : CMA_GFP_UNMOVABLE;
    cma_pfn_t pfn;
    int r = cma_alloc_pages(m->mm, order, gfp, &pfn);
    if (r == -CMA_ENOMEM)
        return;
    ASSERT_OK(r);
    memset(o, 0, sizeof *o);
    o->pfn = pfn;
    o->order = order;
    unsigned k = (unsigned)test_rng_below(&R, 20);
    o->kind = k == 0 ? K_PLAIN : k < 4 ? K_CLEAN : k == 4 ? K_REF : k == 5 ? K_PIN : K_MOVABLE;
    o->refuse_isolate = test_rng_below(&R, 60) == 0;
    o->refuse_migrate = test_rng_below(&R, 60) == 0;
    if (o->kind == K_PLAIN)
        return;
    ASSERT_OK(cma_page_set_movable(m->mm, pfn, &ops, o));
    if (o->kind == K_CLEAN)
        ASSERT_OK(cma_page_set_clean(m->mm, pfn, true));
    if (o->kind == K_REF)
        ASSERT_OK(cma_page_get(m->mm, pfn));
    if (o->kind == K_PIN) {
        cma_pfn_t np;
        r = cma_page_pin_longterm(m->mm, pfn, &np);
        if (r == 0) {
            o->pfn = np; /* moved out of CMA first, or stayed */
        } else {
            EXPECT_TRUE(r == -CMA_EBUSY || r == -CMA_ENOMEM);
            o->kind = K_MOVABLE;
        }
    }
}

static void owner_free(struct mach *m, struct owner *o)
{
    if (o->kind == K_REF)
        EXPECT_OK(cma_page_put(m->mm, o->pfn));
    if (o->kind == K_PIN)
        EXPECT_OK(cma_page_unpin(m->mm, o->pfn));
    EXPECT_OK(cma_free_pages(m->mm, o->pfn, o->order));
    o->pfn = CMA_PFN_NONE;
}

static void op_free(struct mach *m)
{
    if (!nown)
        return;
    struct owner *o = &own[test_rng_below(&R, nown)];
    if (o->pfn != CMA_PFN_NONE)
        owner_free(m, o);
}

static void add_range(cma_pfn_t start, uint64_t count, bool area)
{
    if (nranges == MAX_RANGES) {
        test_fail_(__FILE__, __LINE__, "range table full");
        return;
    }
    rng_[nranges].start = start;
    rng_[nranges].count = count;
    rng_[nranges].area = area;
    nranges++;
}

/* No live owner's block may intersect [start, start + count). */
static void expect_no_owner_in(cma_pfn_t start, uint64_t count, int line)
{
    for (unsigned i = 0; i < nown; i++) {
        const struct owner *o = &own[i];
        if (o->pfn != CMA_PFN_NONE && o->pfn < start + count && o->pfn + (1ull << o->order) > start)
            test_fail_(__FILE__, line, "owner %u (pfn %#" PRIx64 " order %u) inside the range %#" PRIx64
                       "+%" PRIu64, i, o->pfn, o->order, start, count);
    }
}

/* A successful allocation of [start, start + count) (kind: index into n_ok). */
static void took(cma_pfn_t start, uint64_t count, bool area, unsigned kind, int line)
{
    expect_no_owner_in(start, count, line);
    add_range(start, count, area);
    n_ok[kind]++;
}

static void op_contig_range(struct mach *m)
{
    if (nranges + 8 > MAX_RANGES)
        return; /* the table is full: releases will make room */
    unsigned size_class = (unsigned)test_rng_below(&R, 8);
    uint64_t count = 1 + test_rng_below(&R, size_class < 4 ? 64 : size_class < 7 ? 600 : 3000);
    cma_pfn_t start = test_rng_below(&R, m->r1_end - count);
    int r = cma_alloc_contig_range(m->mm, start, start + count);
    if (r == 0) {
        took(start, count, false, 0, __LINE__);
    } else {
        EXPECT_TRUE(r == -CMA_EBUSY || r == -CMA_ENOMEM || r == -CMA_EINVAL);
        /* -EINVAL only when the range leaves a memory range (the hole) */
        if (r == -CMA_EINVAL)
            EXPECT_TRUE(start < m->r1_start && start + count > m->r0_end);
    }
}

static void op_contig_pages(struct mach *m)
{
    if (nranges + 8 > MAX_RANGES)
        return; /* the table is full: releases will make room */
    uint64_t count = 1 + test_rng_below(&R, 1500);
    unsigned align = (unsigned)test_rng_below(&R, 11);
    cma_pfn_t pfn;
    int r = cma_alloc_contig_pages(m->mm, count, align, &pfn);
    if (r == 0) {
        EXPECT_UEQ(pfn & ((1ull << align) - 1), 0);
        took(pfn, count, false, 1, __LINE__);
    } else {
        EXPECT_ERR(r, -CMA_ENOMEM);
    }
}

static void op_cma_alloc(struct mach *m)
{
    if (nranges + 8 > MAX_RANGES)
        return; /* the table is full: releases will make room */
    uint64_t count = 1 + test_rng_below(&R, 1200);
    cma_pfn_t pfn;
    int r = cma_alloc(m->area, count, (unsigned)test_rng_below(&R, 5), &pfn);
    if (r == 0) {
        took(pfn, count, true, 2, __LINE__);
    } else {
        EXPECT_TRUE(r == -CMA_EBUSY || r == -CMA_ENOMEM || r == -CMA_ENOSPC);
    }
}

static void op_cma_bulk(struct mach *m)
{
    if (nranges + 8 > MAX_RANGES)
        return; /* the table is full: releases will make room */
    unsigned order = (unsigned)test_rng_below(&R, 5);
    size_t nr = 1 + test_rng_below(&R, 8), done = 99;
    cma_pfn_t pfns[8];
    int r = cma_alloc_bulk(m->area, order, nr, pfns, &done);
    if (r == 0) {
        EXPECT_TRUE(done >= 1 && done <= nr);
        for (size_t i = 0; i < done && i < nr; i++) {
            EXPECT_UEQ(pfns[i] & ((1ull << order) - 1), 0);
            took(pfns[i], 1ull << order, true, 3, __LINE__);
        }
    } else {
        EXPECT_TRUE(r == -CMA_EBUSY || r == -CMA_ENOMEM || r == -CMA_ENOSPC);
        EXPECT_UEQ(done, 0);
    }
}

static void op_release(struct mach *m)
{
    if (!nranges)
        return;
    unsigned i = (unsigned)test_rng_below(&R, nranges);
    if (rng_[i].area) {
        EXPECT_OK(cma_release(m->area, rng_[i].start, rng_[i].count));
    } else if (rng_[i].count > 2 && test_rng_below(&R, 2)) {
        /* a piece from the middle: the range becomes two */
        uint64_t off = 1 + test_rng_below(&R, rng_[i].count - 2);
        uint64_t len = 1 + test_rng_below(&R, rng_[i].count - off - 1);
        EXPECT_OK(cma_free_contig_range(m->mm, rng_[i].start + off, len));
        cma_pfn_t tail = rng_[i].start + off + len;
        uint64_t tail_n = rng_[i].start + rng_[i].count - tail;
        rng_[i].count = off;
        add_range(tail, tail_n, false);
        return;
    } else {
        EXPECT_OK(cma_free_contig_range(m->mm, rng_[i].start, rng_[i].count));
    }
    rng_[i] = rng_[--nranges];
}

/* The shadow against libcma: owners live where they think, nothing lost or owned twice. */
static void verify(struct mach *m, int line)
{
    uint64_t owned = 0, held = 0;
    for (unsigned i = 0; i < nown; i++) {
        const struct owner *o = &own[i];
        if (o->pfn == CMA_PFN_NONE)
            continue;
        owned += 1ull << o->order;
        /* a live block head: set_clean answers -EFAULT for anything else */
        int r = cma_page_set_clean(m->mm, o->pfn, o->kind == K_CLEAN);
        if (r)
            test_fail_(__FILE__, line, "owner %u: pfn %#" PRIx64 " is not its live block (%s)", i, o->pfn,
                       cma_err_name(r));
    }
    for (unsigned i = 0; i < nranges; i++)
        held += rng_[i].count;
    struct cma_mm_stats st = stats(m->mm);
    if (st.nr_allocated != owned + held)
        test_fail_(__FILE__, line, "%" PRIu64 " pages allocated, owners hold %" PRIu64 " and ranges %" PRIu64,
                   st.nr_allocated, owned, held);
    if (n_bad_callbacks)
        test_fail_(__FILE__, line, "%" PRIu64 " callbacks named a block the owner does not have",
                   n_bad_callbacks);
}

static void fuzz(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m));
    test_rng_init(&R, test_seed_value);
    nown = nranges = 0;
    n_bad_callbacks = n_moves = n_drops = 0;
    memset(n_ok, 0, sizeof n_ok);
    const uint64_t nops = knob("CMA_TEST_OPS", 4000), every = knob("CMA_TEST_CHECK_EVERY", 1);
    uint64_t done[8] = {0};
    /* fill most of memory first, so that ranges meet owners everywhere */
    for (unsigned i = 0; i < 3500; i++)
        op_alloc(&m);
    for (uint64_t n = 0; n < nops && !test_failures; n++) {
        unsigned what = (unsigned)test_rng_below(&R, 100);
        if (what < 30)
            op_alloc(&m), done[0]++;
        else if (what < 50)
            op_free(&m), done[1]++;
        else if (what < 72)
            op_contig_range(&m), done[2]++;
        else if (what < 78)
            op_contig_pages(&m), done[3]++;
        else if (what < 83)
            op_cma_alloc(&m), done[4]++;
        else if (what < 86)
            op_cma_bulk(&m), done[6]++;
        else
            op_release(&m), done[5]++;
        verify(&m, __LINE__);
        if (n % every == 0)
            EXPECT_CHECK(m.mm);
    }
    for (unsigned i = 0; i < nown; i++)
        if (own[i].pfn != CMA_PFN_NONE)
            owner_free(&m, &own[i]);
    while (nranges) {
        if (rng_[0].area)
            EXPECT_OK(cma_release(m.area, rng_[0].start, rng_[0].count));
        else
            EXPECT_OK(cma_free_contig_range(m.mm, rng_[0].start, rng_[0].count));
        rng_[0] = rng_[--nranges];
    }
    EXPECT_OK(cma_drain_cpu_caches(m.mm));
    struct cma_mm_stats st = stats(m.mm);
    EXPECT_UEQ(st.nr_free_total, st.nr_managed);
    /* the run exercised migration, discard and every kind of success */
    EXPECT_TRUE(n_moves > 0 && n_drops > 0 && n_ok[0] > 0 && n_ok[1] > 0 && n_ok[2] > 0 && n_ok[3] > 0);
    if (test_verbose)
        printf("fuzz: %" PRIu64 " ops (alloc %" PRIu64 ", free %" PRIu64 ", contig_range %" PRIu64
               " (%" PRIu64 " ok), contig_pages %" PRIu64 " (%" PRIu64 " ok), cma_alloc %" PRIu64
               " (%" PRIu64 " ok), cma_alloc_bulk %" PRIu64 " (%" PRIu64 " chunks), release %" PRIu64 "), %" PRIu64
               " owner moves, %" PRIu64 " drops\n",
               nops, done[0], done[1], done[2], n_ok[0], done[3], n_ok[1], done[4], n_ok[2], done[6],
               n_ok[3], done[5], n_moves, n_drops);
    test_mm_finish(m.mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(fuzz));
}
