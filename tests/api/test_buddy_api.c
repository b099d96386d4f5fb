/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_buddy_api.c - the public contract of machine creation, onlining and the buddy page
 * allocator, through <cma/cma.h> only:
 *
 *   config_validation      every documented bad field of struct cma_mm_config -> -EINVAL, nothing
 *                          written to *mmp; the accepted boundary values; NULL arguments
 *   online_errors          -ENOENT without memory, -EPERM online twice / memblock after online /
 *                          alloc, free and drain before online
 *   page_sizes_and_orders  page_shift 12..16 with several max_order / pageblock_order pairs: fill at
 *                          every order until -ENOMEM, free, full merge back to max-order blocks
 *   holes_and_offsets      three memory ranges (non-zero, unaligned starts and ends, a sub-page
 *                          region) plus reservations: no pfn in a hole or reserved, none twice, no
 *                          merge across a hole, every max-order block inside one range
 *   backed_mode            cma_pfn_to_virt, contents, CMA_GFP_ZERO; metadata-only returns NULL
 *   caller_memory          cfg.mem / mem_size / mem_phys; too small -> -EINVAL at online, retry
 *   bad_input_table        every misuse of cma_free_pages / cma_alloc_pages returns its documented
 *                          code, changes nothing but bad_frees, and the victim stays freeable
 *   metadata_budget        1 GiB metadata-only machine: <= 16 bytes of metadata per page (-v prints)
 *   destroy_busy           cma_mm_destroy -EBUSY while a page is allocated
 *   custom_host            user alloc/free/lock/cpu_id/log hooks: used, balanced, and enough
 *   error_names            cma_strerror / cma_err_name for every code, cma_version
 *   error_name_int_min     cma_err_name / cma_strerror of INT_MIN (must not negate it)
 *
 * Knobs: CMA_TEST_SEED; CMA_TEST_SCALE > 1 (and sanitizer builds) skip the million-page shape.
 */
#include "test.h"

#include "buddy_util.h"

#include <pthread.h>

#define KiB BU_KiB
#define MiB BU_MiB
#define GiB BU_GiB

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define API_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define API_SANITIZED 1
#endif
#endif
#ifndef API_SANITIZED
#define API_SANITIZED 0
#endif

/* CMA_TEST_SCALE divides the work of the randomized tests (1 = the default, .ci/run's value); here any
 * value above 1, and sanitizer builds, skip the million-page shape. */
static bool full_scale(void) { return !API_SANITIZED && test_env_u64("CMA_TEST_SCALE", 1) <= 1; }

/* ---- helpers ------------------------------------------------------------------------------------ */

static struct cma_mm *create_cfg(const struct cma_mm_config *cfg)
{
    struct cma_mm *mm = NULL;
    int r = cma_mm_create(cfg, &mm);
    if (r) {
        test_fail_(__FILE__, __LINE__, "cma_mm_create: %s", cma_err_name(r));
        return NULL;
    }
    return mm;
}

/* A growable list of allocated blocks. */
struct blk {
    cma_pfn_t pfn;
    unsigned order;
};
struct blist {
    struct blk *v;
    size_t n, cap;
};

static void bl_push(struct blist *l, cma_pfn_t pfn, unsigned order)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            abort();
    }
    l->v[l->n++] = (struct blk){pfn, order};
}

/* Frees every block of l in a seeded random order, expecting success; empties l. */
static void bl_free_all(struct cma_mm *mm, struct blist *l, struct test_rng *rng)
{
    for (size_t i = l->n; i > 1; i--) {
        size_t j = (size_t)test_rng_below(rng, i);
        struct blk t = l->v[i - 1];
        l->v[i - 1] = l->v[j];
        l->v[j] = t;
    }
    for (size_t i = 0; i < l->n; i++) {
        int r = cma_free_pages(mm, l->v[i].pfn, l->v[i].order);
        if (r) {
            test_fail_(__FILE__, __LINE__, "cma_free_pages(%#" PRIx64 ", %u): %s", l->v[i].pfn,
                       l->v[i].order, cma_err_name(r));
            break;
        }
    }
    l->n = 0;
}

static void bl_fini(struct blist *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

static const unsigned gfp_kinds[3] = {CMA_GFP_UNMOVABLE, CMA_GFP_MOVABLE, CMA_GFP_RECLAIMABLE};

/* Allocates blocks of `order` until -ENOMEM; every block must be aligned, managed and not yet owned
 * (bitmap). Returns the number allocated. */
static uint64_t fill_order(struct cma_mm *mm, struct bu_bitmap *bm, struct blist *l, unsigned order,
                           unsigned gfp)
{
    uint64_t n = 0;
    for (;;) {
        cma_pfn_t pfn;
        int r = cma_alloc_pages(mm, order, gfp, &pfn);
        if (r == -CMA_ENOMEM) {
            EXPECT_UEQ(pfn, CMA_PFN_NONE);
            break;
        }
        if (r) {
            test_fail_(__FILE__, __LINE__, "cma_alloc_pages(order %u): %s", order, cma_err_name(r));
            break;
        }
        if (pfn & ((1ull << order) - 1)) {
            test_fail_(__FILE__, __LINE__, "order-%u block at unaligned pfn %#" PRIx64, order, pfn);
            break;
        }
        uint64_t bad = bu_count_set(bm, pfn, 1ull << order);
        if (bad) {
            test_fail_(__FILE__, __LINE__, "order-%u block at pfn %#" PRIx64 " has %" PRIu64
                       " pages that are owned, reserved or not memory", order, pfn, bad);
            break;
        }
        bu_set_range(bm, pfn, 1ull << order, true);
        bl_push(l, pfn, order);
        n++;
    }
    return n;
}

static void unmark_all(struct bu_bitmap *bm, const struct blist *l)
{
    for (size_t i = 0; i < l->n; i++)
        bu_set_range(bm, l->v[i].pfn, 1ull << l->v[i].order, false);
}

/* ---- configuration ------------------------------------------------------------------------------ */

#define BAD_CFG(stmt)                                                                              \
    do {                                                                                           \
        struct cma_mm_config c_;                                                                   \
        struct cma_mm *mm_ = NULL;                                                                 \
        cma_mm_config_default(&c_);                                                                \
        stmt;                                                                                      \
        EXPECT_ERR(cma_mm_create(&c_, &mm_), -CMA_EINVAL);                                         \
        if (mm_ != NULL) {                                                                         \
            test_fail_(__FILE__, __LINE__, "failed cma_mm_create wrote *mmp (%s)", #stmt);         \
            (void)cma_mm_destroy(mm_);                                                             \
        }                                                                                          \
    } while (0)

#define GOOD_CFG(stmt)                                                                             \
    do {                                                                                           \
        struct cma_mm_config c_;                                                                   \
        struct cma_mm *mm_ = NULL;                                                                 \
        cma_mm_config_default(&c_);                                                                \
        stmt;                                                                                      \
        EXPECT_OK(cma_mm_create(&c_, &mm_));                                                       \
        if (mm_)                                                                                   \
            EXPECT_OK(cma_mm_destroy(mm_));                                                        \
    } while (0)

static void lock_noop(void *ctx, uintptr_t *w) { (void)ctx; (void)w; }
static void *host_calloc(void *ctx, size_t n) { (void)ctx; return calloc(1, n); }

static void test_config_validation(void)
{
    struct cma_mm_config cfg;
    char buf[64];

    cma_mm_config_default(&cfg);
    EXPECT_UEQ(cfg.size, sizeof cfg);
    EXPECT_UEQ(cfg.page_shift, 12);
    EXPECT_UEQ(cfg.max_order, 10);
    EXPECT_UEQ(cfg.pageblock_order, 9);
    EXPECT_UEQ(cfg.nr_cpus, 4);
    EXPECT_EQ(cfg.backing, CMA_BACKING_NONE);
    EXPECT_UEQ(cfg.cma_first_percent, 50);
    EXPECT_TRUE(cfg.mem == NULL && cfg.host == NULL);

    BAD_CFG(c_.page_shift = 11);
    BAD_CFG(c_.page_shift = 17);
    BAD_CFG(c_.page_shift = 0);
    BAD_CFG((c_.max_order = 10, c_.pageblock_order = 11));
    BAD_CFG((c_.max_order = 0, c_.pageblock_order = 1));
    BAD_CFG(c_.max_order = 21);
    BAD_CFG((c_.max_order = 21, c_.pageblock_order = 21));
    BAD_CFG(c_.max_order = 0xffffffffu);
    BAD_CFG(c_.nr_cpus = 0);
    BAD_CFG(c_.nr_cpus = 257);
    BAD_CFG(c_.cma_first_percent = 101);
    BAD_CFG(c_.backing = (enum cma_backing)7);
    BAD_CFG((c_.mem = buf, c_.mem_size = sizeof buf));                    /* mem without HOST */
    BAD_CFG((c_.backing = CMA_BACKING_HOST, c_.mem = buf, c_.mem_size = 0)); /* empty mem */
    BAD_CFG((c_.backing = CMA_BACKING_HOST, c_.mem = buf, c_.mem_size = 4 * KiB,
             c_.mem_phys = 0x800));                                       /* unaligned mem_phys */
    BAD_CFG(c_.size = 0);
    BAD_CFG(c_.size -= 1);
    BAD_CFG(c_.size += 8);
    /* host hooks: alloc without free; half a set of lock hooks */
    static const struct cma_host half_mem = {.alloc = host_calloc};
    static const struct cma_host half_lock = {.lock = lock_noop, .unlock = lock_noop};
    BAD_CFG(c_.host = &half_mem);
    BAD_CFG(c_.host = &half_lock);

    /* the boundary values are accepted */
    GOOD_CFG(c_.page_shift = 12);
    GOOD_CFG(c_.page_shift = 16);
    GOOD_CFG((c_.max_order = 20, c_.pageblock_order = 20));
    GOOD_CFG((c_.max_order = 0, c_.pageblock_order = 0));
    GOOD_CFG(c_.nr_cpus = 1);
    GOOD_CFG(c_.nr_cpus = CMA_MAX_CPUS);
    GOOD_CFG(c_.cma_first_percent = 0);
    GOOD_CFG(c_.cma_first_percent = 100);
    GOOD_CFG(c_.backing = CMA_BACKING_HOST);

    /* NULL arguments */
    struct cma_mm *mm = NULL;
    EXPECT_ERR(cma_mm_create(NULL, &mm), -CMA_EINVAL);
    EXPECT_TRUE(mm == NULL);
    EXPECT_ERR(cma_mm_create(&cfg, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_create(NULL, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_destroy(NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_online(NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_memblock_add(NULL, 0, 4096), -CMA_EINVAL);
    EXPECT_ERR(cma_drain_cpu_caches(NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_drain_cpu_cache(NULL, 0), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_check(NULL, NULL, 0), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_get_stats(NULL, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_dump(NULL, CMA_DUMP_BUDDYINFO, NULL, 0), -CMA_EINVAL);
    EXPECT_TRUE(cma_pfn_to_virt(NULL, 0) == NULL);
    EXPECT_UEQ(cma_mm_page_size(NULL), 0);

    /* the values in force are reported */
    cma_mm_config_default(&cfg);
    cfg.page_shift = 14;
    cfg.max_order = 12;
    cfg.pageblock_order = 7;
    cfg.nr_cpus = 3;
    mm = create_cfg(&cfg);
    ASSERT_TRUE(mm != NULL);
    EXPECT_UEQ(cma_mm_page_size(mm), 16 * KiB);
    EXPECT_UEQ(cma_mm_max_order(mm), 12);
    EXPECT_UEQ(cma_mm_pageblock_order(mm), 7);
    EXPECT_UEQ(cma_mm_nr_cpus(mm), 3);
    EXPECT_UEQ(cma_pfn_to_phys(mm, 5), 5 * 16 * KiB);
    EXPECT_UEQ(cma_phys_to_pfn(mm, 5 * 16 * KiB + 123), 5);
    EXPECT_CHECK(mm); /* offline: nothing to check, but it must say so */
    EXPECT_OK(cma_mm_destroy(mm));
}

/* ---- onlining ----------------------------------------------------------------------------------- */

static int count_cb(void *arg, cma_phys_t base, uint64_t size)
{
    (void)base;
    (void)size;
    ++*(int *)arg;
    return 0;
}

static void test_online_errors(void)
{
    struct cma_mm_config cfg;
    cma_pfn_t pfn;
    cma_phys_t base;
    cma_mm_config_default(&cfg);

    /* no memory at all, and memory smaller than one page */
    struct cma_mm *mm = create_cfg(&cfg);
    ASSERT_TRUE(mm != NULL);
    EXPECT_ERR(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn), -CMA_EPERM);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    EXPECT_ERR(cma_free_pages(mm, 0, 0), -CMA_EPERM);
    EXPECT_ERR(cma_drain_cpu_caches(mm), -CMA_EPERM);
    EXPECT_ERR(cma_drain_cpu_cache(mm, 0), -CMA_EPERM);
    EXPECT_ERR(cma_mm_online(mm), -CMA_ENOENT);
    EXPECT_OK(cma_memblock_add(mm, 0x1800, 0x800)); /* no whole page */
    EXPECT_OK(cma_memblock_add(mm, 64 * KiB + 1, 4 * KiB)); /* straddles two pages: no whole one */
    EXPECT_ERR(cma_mm_online(mm), -CMA_ENOENT);
    /* the failed online changed nothing: memblock still works, and onlining can be retried */
    EXPECT_OK(cma_memblock_add(mm, 1 * MiB, 1 * MiB));
    EXPECT_OK(cma_mm_online(mm));
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_pages, 256);
    EXPECT_UEQ(st.nr_managed, 256);

    /* online twice; memblock after online */
    EXPECT_ERR(cma_mm_online(mm), -CMA_EPERM);
    EXPECT_ERR(cma_memblock_add(mm, 8 * MiB, 1 * MiB), -CMA_EPERM);
    EXPECT_ERR(cma_memblock_remove(mm, 1 * MiB, 4 * KiB), -CMA_EPERM);
    EXPECT_ERR(cma_memblock_reserve(mm, 1 * MiB, 4 * KiB), -CMA_EPERM);
    EXPECT_ERR(cma_memblock_free(mm, 1 * MiB, 4 * KiB), -CMA_EPERM);
    EXPECT_ERR(cma_memblock_alloc(mm, 4 * KiB, 0, &base), -CMA_EPERM);
    EXPECT_ERR(cma_memblock_alloc_range(mm, 4 * KiB, 0, 1 * MiB, 2 * MiB, &base), -CMA_EPERM);
    EXPECT_ERR(cma_memblock_set_bottom_up(mm, true), -CMA_EPERM);
    /* queries still work after online */
    int n = 0;
    EXPECT_OK(cma_memblock_foreach(mm, false, count_cb, &n));
    EXPECT_EQ(n, 3);
    EXPECT_FALSE(cma_memblock_is_reserved(mm, 1 * MiB, 1 * MiB));
    EXPECT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn));
    EXPECT_TRUE(pfn >= 256 && pfn < 512);
    EXPECT_OK(cma_free_pages(mm, pfn, 0));
    test_mm_finish(mm);
}

/* ---- page sizes and orders ---------------------------------------------------------------------- */

struct shape {
    unsigned page_shift, max_order, pb_order;
    unsigned nblocks;    /* machine size in max-order blocks */
    unsigned base_block; /* start, in max-order blocks */
};

static void run_shape(const struct shape *sh)
{
    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    cfg.page_shift = sh->page_shift;
    cfg.max_order = sh->max_order;
    cfg.pageblock_order = sh->pb_order;
    struct cma_mm *mm = create_cfg(&cfg);
    if (!mm)
        return;
    uint64_t block_bytes = 1ull << (sh->max_order + sh->page_shift);
    EXPECT_OK(cma_memblock_add(mm, block_bytes * sh->base_block, block_bytes * sh->nblocks));
    EXPECT_OK(cma_mm_online(mm));

    uint64_t pages = (uint64_t)sh->nblocks << sh->max_order;
    struct cma_mm_stats st;
    struct bu_layout l;
    struct bu_bitmap bm;
    struct blist bl = {0};
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value ^ ((uint64_t)sh->page_shift << 8 | sh->max_order));
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_pages, pages);
    EXPECT_UEQ(st.nr_managed, pages);
    EXPECT_UEQ(st.nr_reserved, 0);
    EXPECT_UEQ(cma_mm_page_size(mm), 1ull << sh->page_shift);
    EXPECT_UEQ(st.nr_pageblocks[CMA_MIGRATE_MOVABLE], pages >> sh->pb_order);
    bu_expect_all_free(mm); /* online frees in max-order blocks */
    if (bu_layout_read(mm, &l) || bu_bitmap_init(&bm, &l)) {
        test_mm_finish(mm);
        return;
    }

    for (unsigned order = 0; order <= sh->max_order; order++) {
        unsigned gfp = gfp_kinds[order % 3] | (order & 4 ? CMA_GFP_ZERO : 0);
        uint64_t got = fill_order(mm, &bm, &bl, order, gfp);
        if (got != pages >> order)
            test_fail_(__FILE__, __LINE__, "shape %u/%u/%u: %" PRIu64 " order-%u blocks before "
                       "-ENOMEM, expected %" PRIu64, sh->page_shift, sh->max_order, sh->pb_order,
                       got, order, pages >> order);
        EXPECT_OK(cma_mm_get_stats(mm, &st));
        EXPECT_UEQ(st.nr_free_total, 0);
        EXPECT_UEQ(st.nr_allocated, pages);
        EXPECT_UEQ(st.pgalloc_pages - st.pgfree_pages, pages);
        EXPECT_CHECK(mm);
        /* full means full at every order */
        cma_pfn_t pfn;
        for (unsigned o = 0; o <= sh->max_order; o++)
            EXPECT_ERR(cma_alloc_pages(mm, o, CMA_GFP_MOVABLE, &pfn), -CMA_ENOMEM);
        unmark_all(&bm, &bl);
        bl_free_all(mm, &bl, &rng);
        bu_expect_all_free(mm);
        if (test_failures)
            break;
    }
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.pgalloc_pages, st.pgfree_pages);
    EXPECT_UEQ(st.pgalloc, st.pgfree);
    EXPECT_UEQ(st.bad_frees, 0);
    bl_fini(&bl);
    bu_bitmap_fini(&bm);
    test_mm_finish(mm);
}

static void test_page_sizes_and_orders(void)
{
    static const struct shape shapes[] = {
        {12, 10, 9, 8, 0},  {12, 10, 9, 4, 3},   {13, 10, 9, 4, 1},  {14, 10, 9, 4, 0},
        {15, 10, 9, 4, 2},  {16, 10, 9, 4, 0},   {12, 11, 11, 4, 1}, {12, 10, 10, 4, 0},
        {16, 13, 13, 4, 1}, {14, 13, 5, 2, 0},   {12, 3, 1, 64, 7},  {12, 1, 0, 64, 0},
        {12, 0, 0, 512, 5}, {12, 20, 10, 1, 1},  {16, 15, 15, 2, 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int before = test_failures;
        if (((uint64_t)shapes[i].nblocks << shapes[i].max_order) > 65536 && !full_scale())
            continue; /* a million pages: seconds in debug, minutes under TSan */
        run_shape(&shapes[i]);
        if (test_failures != before)
            fprintf(stderr, "  ^ in shape page_shift %u max_order %u pageblock_order %u\n",
                    shapes[i].page_shift, shapes[i].max_order, shapes[i].pb_order);
    }
}

/* ---- holes and offsets -------------------------------------------------------------------------- */

/*
 * 4 KiB pages, max_order 10 (4 MiB blocks), pageblock order 9:
 *   A  [1 MiB + 12 KiB, +6 MiB + 6 KiB): unaligned start; the half page at the end is dropped;
 *      its first page is reserved
 *   B  [16 MiB, 24 MiB): two max-order blocks, three pages reserved inside (rounded outwards)
 *   C  [40 MiB + 2 KiB, 44 MiB + 2 KiB): partial first and last page dropped
 *   D  [60 MiB + 256, +2 KiB): no whole page at all
 */
static struct cma_mm *holes_machine(unsigned page_shift, unsigned pcp_high)
{
    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    cfg.page_shift = page_shift;
    cfg.pcp_high = pcp_high; /* 0: derived (tiny on this machine: batch 1, high 4) */
    struct cma_mm *mm = create_cfg(&cfg);
    if (!mm)
        return NULL;
    int r;
    if ((r = cma_memblock_add(mm, 1 * MiB + 12 * KiB, 6 * MiB + 6 * KiB)) ||
        (r = cma_memblock_add(mm, 16 * MiB, 8 * MiB)) ||
        (r = cma_memblock_add(mm, 40 * MiB + 2 * KiB, 4 * MiB)) ||
        (r = cma_memblock_add(mm, 60 * MiB + 256, 2 * KiB)) ||
        (r = cma_memblock_reserve(mm, 1 * MiB + 12 * KiB, 1)) ||
        (r = cma_memblock_reserve(mm, 18 * MiB + 256, 8 * KiB)) || (r = cma_mm_online(mm))) {
        test_fail_(__FILE__, __LINE__, "holes machine: %s", cma_err_name(r));
        (void)cma_mm_destroy(mm);
        return NULL;
    }
    return mm;
}

static void test_holes_and_offsets(void)
{
    struct cma_mm *mm = holes_machine(12, 0);
    ASSERT_TRUE(mm != NULL);
    struct bu_layout l;
    struct bu_bitmap bm;
    struct blist bl = {0};
    struct cma_mm_stats st;
    struct test_rng rng;
    uint64_t want[CMA_MAX_ORDER_LIMIT + 1], have[CMA_MAX_ORDER_LIMIT + 1];
    test_rng_init(&rng, test_seed_value);
    ASSERT_OK(bu_layout_read(mm, &l));
    EXPECT_UEQ(l.nmem, 4);
    EXPECT_UEQ(l.nres, 2);
    uint64_t managed = bu_expected_free(&l, want);
    /* A: pages 0x103..0x103+1537 minus one reserved; B: 2048 minus 3; C: 1023 */
    EXPECT_UEQ(managed, (1537 - 1) + (2048 - 3) + 1023);
    ASSERT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_pages, 1537 + 2048 + 1023);
    EXPECT_UEQ(st.nr_reserved, 4);
    EXPECT_UEQ(st.nr_managed, managed);
    EXPECT_TRUE(cma_memblock_is_reserved(mm, 18 * MiB + 4 * KiB, 1));
    EXPECT_FALSE(cma_memblock_is_reserved(mm, 18 * MiB + 12 * KiB, 1));
    /* labels: holes and the sub-page region are not memory */
    EXPECT_EQ(cma_pageblock_type(mm, 0), -CMA_EINVAL);
    EXPECT_EQ(cma_pageblock_type(mm, (30 * MiB) >> 12), -CMA_EINVAL);
    EXPECT_EQ(cma_pageblock_type(mm, (60 * MiB) >> 12), -CMA_EINVAL);
    EXPECT_EQ(cma_pageblock_type(mm, (16 * MiB) >> 12), CMA_MIGRATE_MOVABLE);
    ASSERT_OK(bu_buddyinfo(mm, have));
    for (unsigned o = 0; o <= l.max_order; o++)
        EXPECT_UEQ(have[o], want[o]);
    ASSERT_OK(bu_bitmap_init(&bm, &l));

    /* everything at order 0: nothing in a hole or reserved, nothing twice */
    for (int round = 0; round < 2; round++) {
        uint64_t got = fill_order(mm, &bm, &bl, 0, gfp_kinds[round]);
        EXPECT_UEQ(got, managed);
        for (size_t i = 0; i < bl.n; i++)
            if (bu_pfn_kind(&l, bl.v[i].pfn) != BU_MANAGED)
                test_fail_(__FILE__, __LINE__, "pfn %#" PRIx64 " is kind %d", bl.v[i].pfn,
                           (int)bu_pfn_kind(&l, bl.v[i].pfn));
        EXPECT_CHECK(mm);
        unmark_all(&bm, &bl);
        bl_free_all(mm, &bl, &rng);
        /* no merge across a hole or a reservation: exactly the layout's maximal blocks */
        bu_expect_all_free(mm);
    }

    /* every order: each block inside one range and free of reserved pages; the counts are what
     * the fully merged layout can hold */
    for (unsigned order = 0; order <= l.max_order; order++) {
        uint64_t expect_blocks = 0;
        for (unsigned o = order; o <= l.max_order; o++)
            expect_blocks += want[o] << (o - order);
        uint64_t got = fill_order(mm, &bm, &bl, order, gfp_kinds[order % 3]);
        if (got != expect_blocks)
            test_fail_(__FILE__, __LINE__, "%" PRIu64 " order-%u blocks, the layout holds %" PRIu64,
                       got, order, expect_blocks);
        for (size_t i = 0; i < bl.n; i++) {
            cma_pfn_t p = bl.v[i].pfn;
            bool inside = false;
            for (unsigned r = 0; r < l.nmem; r++) {
                cma_pfn_t f, e;
                bu_range_pages(&l, r, &f, &e);
                inside |= p >= f && p + (1ull << order) <= e;
            }
            if (!inside)
                test_fail_(__FILE__, __LINE__, "order-%u block at %#" PRIx64 " leaves its range",
                           order, p);
        }
        EXPECT_CHECK(mm);
        unmark_all(&bm, &bl);
        bl_free_all(mm, &bl, &rng);
        bu_expect_all_free(mm);
    }
    bl_fini(&bl);
    bu_bitmap_fini(&bm);
    test_mm_finish(mm);

    /* the same layout with 16 KiB pages (different trimming and rounding) */
    mm = holes_machine(14, 0);
    ASSERT_TRUE(mm != NULL);
    ASSERT_OK(bu_layout_read(mm, &l));
    ASSERT_OK(bu_bitmap_init(&bm, &l));
    managed = bu_expected_free(&l, want);
    EXPECT_UEQ(fill_order(mm, &bm, &bl, 0, CMA_GFP_MOVABLE), managed);
    EXPECT_CHECK(mm);
    unmark_all(&bm, &bl);
    bl_free_all(mm, &bl, &rng);
    bu_expect_all_free(mm);
    bl_fini(&bl);
    bu_bitmap_fini(&bm);
    test_mm_finish(mm);
}

/* ---- backed mode -------------------------------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* True if every byte of the page(s) is c. */
static bool all_bytes(const void *p, size_t n, unsigned char c)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != c)
            return false;
    return true;
}

static void test_backed_mode(void)
{
    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    cfg.backing = CMA_BACKING_HOST;
    struct cma_mm *mm = create_cfg(&cfg);
    ASSERT_TRUE(mm != NULL);
    /* 16 MiB in two ranges with a hole between them */
    EXPECT_OK(cma_memblock_add(mm, 4 * MiB, 8 * MiB));
    EXPECT_OK(cma_memblock_add(mm, 20 * MiB, 8 * MiB));
    ASSERT_OK(cma_mm_online(mm));
    const size_t ps = (size_t)cma_mm_page_size(mm);
    const uint64_t npages = 4096;
    struct bu_layout l;
    struct bu_bitmap bm;
    struct blist bl = {0};
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    ASSERT_OK(bu_layout_read(mm, &l));
    ASSERT_OK(bu_bitmap_init(&bm, &l));

    /* every page has its own, non-overlapping contents; holes have none */
    void **v = calloc(npages, sizeof *v);
    ASSERT_TRUE(v != NULL);
    size_t nv = 0;
    for (cma_pfn_t pfn = 0; pfn < (32 * MiB) >> 12; pfn++) {
        void *p = cma_pfn_to_virt(mm, pfn);
        bool mem = bu_pfn_kind(&l, pfn) != BU_HOLE;
        if (mem != (p != NULL))
            test_fail_(__FILE__, __LINE__, "pfn %#" PRIx64 ": virt %p but memory %d", pfn, p, mem);
        if (p && nv < npages)
            v[nv++] = p;
    }
    EXPECT_UEQ(nv, npages);
    qsort(v, nv, sizeof *v, cmp_ptr);
    for (size_t i = 1; i < nv; i++)
        if ((uintptr_t)v[i] - (uintptr_t)v[i - 1] < ps) {
            test_fail_(__FILE__, __LINE__, "page contents overlap: %p and %p", v[i - 1], v[i]);
            break;
        }
    free(v);
    EXPECT_TRUE(cma_pfn_to_virt(mm, (1ull << 40)) == NULL);

    /* dirty every page with its own pattern, verify nothing aliases, free */
    EXPECT_UEQ(fill_order(mm, &bm, &bl, 0, CMA_GFP_UNMOVABLE), npages);
    for (size_t i = 0; i < bl.n; i++)
        memset(cma_pfn_to_virt(mm, bl.v[i].pfn), (int)(bl.v[i].pfn % 251 + 1), ps);
    for (size_t i = 0; i < bl.n; i++)
        if (!all_bytes(cma_pfn_to_virt(mm, bl.v[i].pfn), ps, (unsigned char)(bl.v[i].pfn % 251 + 1))) {
            test_fail_(__FILE__, __LINE__, "contents of pfn %#" PRIx64 " changed", bl.v[i].pfn);
            break;
        }
    unmark_all(&bm, &bl);
    bl_free_all(mm, &bl, &rng);

    /* CMA_GFP_ZERO: every page of every block is zero, hot cached pages and merged buddies alike */
    cma_pfn_t pfn;
    static const unsigned orders[] = {0, 0, 3, 1, 5, 2, 10, 0, 4};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0;; i = (i + 1) % (sizeof orders / sizeof orders[0])) {
            unsigned o = orders[i];
            int r = cma_alloc_pages(mm, o, gfp_kinds[i % 3] | CMA_GFP_ZERO, &pfn);
            if (r == -CMA_ENOMEM && o == 0)
                break;
            if (r == -CMA_ENOMEM)
                continue;
            if (r) {
                test_fail_(__FILE__, __LINE__, "alloc: %s", cma_err_name(r));
                break;
            }
            bl_push(&bl, pfn, o);
            if (!all_bytes(cma_pfn_to_virt(mm, pfn), ps << o, 0))
                test_fail_(__FILE__, __LINE__, "CMA_GFP_ZERO order-%u block at %#" PRIx64
                           " is not zero", o, pfn);
            memset(cma_pfn_to_virt(mm, pfn), 0xee, ps << o); /* dirty for the next round */
        }
        EXPECT_CHECK(mm);
        bl_free_all(mm, &bl, &rng);
    }
    bu_expect_all_free(mm);
    bl_fini(&bl);
    bu_bitmap_fini(&bm);
    test_mm_finish(mm);

    /* metadata only: no contents anywhere; CMA_GFP_ZERO is accepted and ignored */
    mm = test_mm_simple(4 * MiB, 8 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    EXPECT_OK(cma_alloc_pages(mm, 2, CMA_GFP_MOVABLE | CMA_GFP_ZERO, &pfn));
    EXPECT_TRUE(cma_pfn_to_virt(mm, pfn) == NULL);
    EXPECT_TRUE(cma_pfn_to_virt(mm, (4 * MiB) >> 12) == NULL);
    EXPECT_OK(cma_free_pages(mm, pfn, 2));
    test_mm_finish(mm);
}

/* ---- caller-supplied memory --------------------------------------------------------------------- */

static void test_caller_memory(void)
{
    const uint64_t size = 4 * MiB, phys = 256 * MiB;
    unsigned char *mem = aligned_alloc(4096, size);
    ASSERT_TRUE(mem != NULL);
    memset(mem, 0xcc, size);

    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    cfg.backing = CMA_BACKING_HOST;
    cfg.mem = mem;
    cfg.mem_size = size;
    cfg.mem_phys = phys;
    struct cma_mm *mm = create_cfg(&cfg);
    if (!mm) {
        free(mem);
        return;
    }
    /* memory inside [phys, phys + size) with a hole, not starting at phys */
    EXPECT_OK(cma_memblock_add(mm, phys + 64 * KiB, 1 * MiB));
    EXPECT_OK(cma_memblock_add(mm, phys + 2 * MiB, 2 * MiB));
    EXPECT_OK(cma_mm_online(mm));
    for (cma_pfn_t pfn = (phys + 64 * KiB) >> 12; pfn < (phys + size) >> 12; pfn++) {
        void *want = (pfn << 12) >= phys + 64 * KiB + 1 * MiB && (pfn << 12) < phys + 2 * MiB
                         ? NULL
                         : mem + ((pfn << 12) - phys);
        if (cma_pfn_to_virt(mm, pfn) != want) {
            test_fail_(__FILE__, __LINE__, "pfn %#" PRIx64 ": virt %p, expected %p", pfn,
                       cma_pfn_to_virt(mm, pfn), want);
            break;
        }
    }
    cma_pfn_t pfn;
    EXPECT_OK(cma_alloc_pages(mm, 3, CMA_GFP_MOVABLE | CMA_GFP_ZERO, &pfn));
    EXPECT_TRUE(all_bytes(mem + ((pfn << 12) - phys), 8 * 4096, 0));
    memcpy(cma_pfn_to_virt(mm, pfn), "hello", 6);
    EXPECT_STREQ((const char *)mem + ((pfn << 12) - phys), "hello");
    EXPECT_OK(cma_free_pages(mm, pfn, 3));
    test_mm_finish(mm); /* must not free caller memory */
    EXPECT_STREQ((const char *)mem + ((pfn << 12) - phys), "hello");
    /* the first 64 KiB were never memory: untouched */
    EXPECT_TRUE(all_bytes(mem, 64 * KiB, 0xcc));

    /* too small: memory extends past mem_size -> -EINVAL at online; retry after trimming */
    cfg.mem_size = 2 * MiB;
    mm = create_cfg(&cfg);
    if (mm) {
        EXPECT_OK(cma_memblock_add(mm, phys, 4 * MiB));
        EXPECT_ERR(cma_mm_online(mm), -CMA_EINVAL);
        EXPECT_ERR(cma_alloc_pages(mm, 0, 0, &pfn), -CMA_EPERM);
        EXPECT_OK(cma_memblock_remove(mm, phys + 2 * MiB, 2 * MiB));
        EXPECT_OK(cma_mm_online(mm));
        struct cma_mm_stats st;
        EXPECT_OK(cma_mm_get_stats(mm, &st));
        EXPECT_UEQ(st.nr_managed, 512);
        test_mm_finish(mm);
    }
    /* memory below mem_phys -> -EINVAL at online */
    cfg.mem_size = size;
    mm = create_cfg(&cfg);
    if (mm) {
        EXPECT_OK(cma_memblock_add(mm, phys - 4 * KiB, 8 * KiB));
        EXPECT_ERR(cma_mm_online(mm), -CMA_EINVAL);
        EXPECT_OK(cma_mm_destroy(mm));
    }
    free(mem);
}

/* ---- the bad-input table ------------------------------------------------------------------------ */

/* One refused free: exact code, bad_frees + 1, no other counter moves, checker green. */
static void bad_free_(struct cma_mm *mm, cma_pfn_t pfn, unsigned order, int want, const char *what,
                      const char *file, int line)
{
    struct cma_mm_stats a, b;
    char why[256];
    if (cma_mm_get_stats(mm, &a))
        return;
    int r = cma_free_pages(mm, pfn, order);
    if (r != want)
        test_fail_(file, line, "%s: cma_free_pages(pfn %#" PRIx64 ", order %u) returned %d (%s), "
                   "expected %d (%s)", what, pfn, order, r, cma_err_name(r), want, cma_err_name(want));
    if (cma_mm_get_stats(mm, &b))
        return;
    if (b.bad_frees != a.bad_frees + 1)
        test_fail_(file, line, "%s: bad_frees went %" PRIu64 " -> %" PRIu64 ", expected +1", what,
                   a.bad_frees, b.bad_frees);
    if (b.nr_free_total != a.nr_free_total || b.pgfree != a.pgfree || b.pgfree_pages != a.pgfree_pages)
        test_fail_(file, line, "%s: a refused free changed the machine: free %" PRIu64 " -> %" PRIu64
                   ", pgfree %" PRIu64 " -> %" PRIu64, what, a.nr_free_total, b.nr_free_total,
                   a.pgfree, b.pgfree);
    if (cma_mm_check(mm, why, sizeof why))
        test_fail_(file, line, "%s: invariant checker: %s", what, why);
}
#define BAD_FREE(mm, pfn, order, want, what) bad_free_((mm), (pfn), (order), (want), (what), __FILE__, __LINE__)

/* One refused allocation: exact code, *pfnp = CMA_PFN_NONE, no counter moves. */
static void bad_alloc_(struct cma_mm *mm, unsigned order, unsigned gfp, const char *file, int line)
{
    struct cma_mm_stats a, b;
    cma_pfn_t pfn = 12345;
    if (cma_mm_get_stats(mm, &a))
        return;
    int r = cma_alloc_pages(mm, order, gfp, &pfn);
    if (r != -CMA_EINVAL)
        test_fail_(file, line, "cma_alloc_pages(order %u, gfp %#x) returned %d (%s), expected -EINVAL",
                   order, gfp, r, cma_err_name(r));
    if (pfn != CMA_PFN_NONE)
        test_fail_(file, line, "refused cma_alloc_pages left *pfnp = %#" PRIx64, pfn);
    if (cma_mm_get_stats(mm, &b))
        return;
    if (b.pgalloc != a.pgalloc || b.alloc_fail != a.alloc_fail || b.nr_free_total != a.nr_free_total)
        test_fail_(file, line, "refused cma_alloc_pages changed counters");
}
#define BAD_ALLOC(mm, order, gfp) bad_alloc_((mm), (order), (gfp), __FILE__, __LINE__)

static void test_bad_input_table(void)
{
    struct cma_mm *mm = holes_machine(12, 64); /* a cache that keeps what is freed */
    ASSERT_TRUE(mm != NULL);
    const unsigned mo = cma_mm_max_order(mm);
    struct cma_mm_stats st0, st1;
    cma_pfn_t pfn;
    ASSERT_OK(cma_mm_get_stats(mm, &st0));

    /* live order-2 blocks: one 8-aligned (a8), one 4 mod 8 (a4) */
    cma_pfn_t got[16], a8 = CMA_PFN_NONE, a4 = CMA_PFN_NONE;
    int ngot = 0;
    while (ngot < 16 && (a8 == CMA_PFN_NONE || a4 == CMA_PFN_NONE)) {
        ASSERT_OK(cma_alloc_pages(mm, 2, CMA_GFP_UNMOVABLE, &got[ngot]));
        if (got[ngot] % 8 == 0 && a8 == CMA_PFN_NONE)
            a8 = got[ngot];
        else if (got[ngot] % 8 == 4 && a4 == CMA_PFN_NONE)
            a4 = got[ngot];
        ngot++;
    }
    ASSERT_TRUE(a8 != CMA_PFN_NONE && a4 != CMA_PFN_NONE);

    /* wrong order for a live block */
    BAD_FREE(mm, a8, 0, -CMA_EINVAL, "order-2 head freed at order 0");
    BAD_FREE(mm, a8, 1, -CMA_EINVAL, "order-2 head freed at order 1");
    BAD_FREE(mm, a8, 3, -CMA_EINVAL, "8-aligned order-2 head freed at order 3");
    BAD_FREE(mm, a4, 0, -CMA_EINVAL, "order-2 head (4 mod 8) freed at order 0");
    BAD_FREE(mm, a4, 3, -CMA_EINVAL, "order-2 head (4 mod 8) freed at order 3 (unaligned)");
    /* tail pfns of a live block */
    BAD_FREE(mm, a8 + 1, 0, -CMA_EINVAL, "tail pfn +1 of a live block");
    BAD_FREE(mm, a8 + 3, 0, -CMA_EINVAL, "tail pfn +3 of a live block");
    BAD_FREE(mm, a8 + 2, 1, -CMA_EINVAL, "tail pfn +2 of a live block at order 1");
    BAD_FREE(mm, a8 + 2, 2, -CMA_EINVAL, "tail pfn +2 of a live block at its order (unaligned)");
    /* unaligned for the order */
    BAD_FREE(mm, a8 + 1, 1, -CMA_EINVAL, "odd pfn at order 1");
    BAD_FREE(mm, a8 + 2, 3, -CMA_EINVAL, "pfn 2 mod 8 at order 3");
    /* order above max_order */
    BAD_FREE(mm, a8, mo + 1, -CMA_EINVAL, "order max_order + 1");
    BAD_FREE(mm, 0, 64, -CMA_EINVAL, "order 64 (shift width)");
    BAD_FREE(mm, a8, ~0u, -CMA_EINVAL, "order UINT_MAX");
    BAD_ALLOC(mm, mo + 1, CMA_GFP_MOVABLE);
    BAD_ALLOC(mm, 64, CMA_GFP_MOVABLE);
    BAD_ALLOC(mm, ~0u, CMA_GFP_UNMOVABLE);
    /* bad gfp */
    BAD_ALLOC(mm, 0, CMA_GFP_MOVABLE | CMA_GFP_RECLAIMABLE);
    BAD_ALLOC(mm, 0, CMA_GFP_MOVABLE | CMA_GFP_RECLAIMABLE | CMA_GFP_ZERO);
    BAD_ALLOC(mm, 0, 0x4);
    BAD_ALLOC(mm, 0, 0x80);
    BAD_ALLOC(mm, 3, 0x200);
    BAD_ALLOC(mm, 0, CMA_GFP_MOVABLE | 0x10000);
    BAD_ALLOC(mm, 0, 0x80000000u);

    /* pfn outside memory, in a hole, in a sub-page region, straddling a range end */
    BAD_FREE(mm, 0, 0, -CMA_EINVAL, "pfn 0 (below the first range)");
    BAD_FREE(mm, (1 * MiB) >> 12, 0, -CMA_EINVAL, "pfn just below range A");
    BAD_FREE(mm, (10 * MiB) >> 12, 0, -CMA_EINVAL, "pfn in the hole between A and B");
    BAD_FREE(mm, (32 * MiB) >> 12, 3, -CMA_EINVAL, "order-3 block in the hole between B and C");
    BAD_FREE(mm, (40 * MiB) >> 12, 0, -CMA_EINVAL, "the dropped partial first page of C");
    BAD_FREE(mm, (60 * MiB) >> 12, 0, -CMA_EINVAL, "the sub-page region D");
    BAD_FREE(mm, 1ull << 40, 0, -CMA_EINVAL, "pfn far beyond memory");
    BAD_FREE(mm, CMA_PFN_NONE, 0, -CMA_EINVAL, "CMA_PFN_NONE");
    {
        /* A ends at pfn 0x103 + 1537 = 0x704; an order-3 block at 0x700 crosses that end */
        cma_pfn_t end_a = ((1 * MiB + 12 * KiB + 6 * MiB + 6 * KiB) >> 12);
        EXPECT_UEQ(end_a, 0x704);
        BAD_FREE(mm, 0x700, 3, -CMA_EINVAL, "order-3 block crossing the end of range A");
        BAD_FREE(mm, 0x100, 3, -CMA_EINVAL, "order-3 block crossing the start of range A");
    }

    /* reserved pages */
    cma_pfn_t res_a = (1 * MiB + 12 * KiB) >> 12, res_b = (18 * MiB) >> 12;
    BAD_FREE(mm, res_a, 0, -CMA_EFAULT, "the reserved first page of A");
    BAD_FREE(mm, res_b, 0, -CMA_EFAULT, "reserved page in B");
    BAD_FREE(mm, res_b + 2, 0, -CMA_EFAULT, "last reserved page in B (rounded outwards)");
    BAD_FREE(mm, res_b, 2, -CMA_EFAULT, "order-2 block over B's reserved pages");

    /* double frees: cached (order 0 and 3), buddy (order 5), and after a drain */
    cma_pfn_t p0, p3, p5;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &p0));
    ASSERT_OK(cma_alloc_pages(mm, 3, CMA_GFP_RECLAIMABLE, &p3));
    ASSERT_OK(cma_alloc_pages(mm, 5, CMA_GFP_UNMOVABLE, &p5));
    EXPECT_OK(cma_free_pages(mm, p0, 0));
    EXPECT_OK(cma_free_pages(mm, p3, 3));
    EXPECT_OK(cma_free_pages(mm, p5, 5));
    ASSERT_OK(cma_mm_get_stats(mm, &st1));
    EXPECT_GE(st1.nr_free_pcp, 9); /* p0 and p3 really are cached: the next two probe that path */
    BAD_FREE(mm, p0, 0, -CMA_EFAULT, "double free of a cached order-0 page");
    BAD_FREE(mm, p3, 3, -CMA_EFAULT, "double free of a cached order-3 block");
    BAD_FREE(mm, p5, 5, -CMA_EFAULT, "double free of an order-5 block in the buddy");
    BAD_FREE(mm, p3 + 4, 2, -CMA_EFAULT, "free inside a cached block");
    BAD_FREE(mm, p5 + 8, 3, -CMA_EFAULT, "free inside a free buddy block");
    BAD_FREE(mm, p5 + 31, 0, -CMA_EFAULT, "free of the last page of a free buddy block");
    EXPECT_OK(cma_drain_cpu_caches(mm));
    BAD_FREE(mm, p0, 0, -CMA_EFAULT, "double free of a drained order-0 page");
    BAD_FREE(mm, p3, 3, -CMA_EFAULT, "double free of a drained order-3 block");
    BAD_FREE(mm, p3 + 1, 0, -CMA_EFAULT, "free inside a drained block");
    /* pfns inside a free block that sits in the buddy (merged with whatever was free around it) */
    cma_pfn_t q;
    ASSERT_OK(cma_alloc_pages(mm, 6, CMA_GFP_MOVABLE, &q));
    EXPECT_OK(cma_free_pages(mm, q, 6));
    BAD_FREE(mm, q, 6, -CMA_EFAULT, "double free of an order-6 block");
    BAD_FREE(mm, q + 63, 0, -CMA_EFAULT, "last page of a free order-6 area");
    BAD_FREE(mm, q + 32, 5, -CMA_EFAULT, "upper half of a free order-6 area");
    BAD_FREE(mm, q + 4, 2, -CMA_EFAULT, "order-2 block inside a free area");

    /* NULL mm and other NULLs (no stats to bump) */
    EXPECT_ERR(cma_free_pages(NULL, a8, 2), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_pages(NULL, 0, CMA_GFP_MOVABLE, &pfn), -CMA_EINVAL);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    EXPECT_ERR(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_drain_cpu_cache(mm, cma_mm_nr_cpus(mm)), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_get_stats(mm, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_check(mm, NULL, 16), -CMA_EINVAL);
    EXPECT_CHECK(mm);

    /* after all that the victims are still live and free normally */
    ASSERT_OK(cma_mm_get_stats(mm, &st1));
    EXPECT_UEQ(st1.nr_allocated, 4u * (unsigned)ngot);
    for (int i = 0; i < ngot; i++)
        EXPECT_OK(cma_free_pages(mm, got[i], 2));
    ASSERT_OK(cma_mm_get_stats(mm, &st1));
    EXPECT_UEQ(st1.pgfree, st0.pgfree + (unsigned)ngot + 4);
    EXPECT_GT(st1.bad_frees, 0);
    bu_expect_all_free(mm);
    test_mm_finish(mm);
}

/* ---- metadata budget ---------------------------------------------------------------------------- */

static void test_metadata_budget(void)
{
    struct cma_mm *mm = test_mm_simple(0, 1 * GiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_mm_stats st;
    ASSERT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_pages, 262144);
    double per_page = (double)st.metadata_bytes / (double)st.nr_pages;
    if (test_verbose)
        printf("  metadata: %" PRIu64 " bytes for %" PRIu64 " pages = %.3f bytes/page (x100: %" PRIu64
               ")\n", st.metadata_bytes, st.nr_pages, per_page, st.metadata_bytes_per_page_x100);
    EXPECT_LE(st.metadata_bytes, 16 * st.nr_pages);
    EXPECT_GE(st.metadata_bytes, 12 * st.nr_pages); /* at least the memory map itself */
    EXPECT_UEQ(st.metadata_bytes_per_page_x100, st.metadata_bytes * 100 / st.nr_pages);
    test_mm_finish(mm);
}

/* ---- destroy while busy ------------------------------------------------------------------------- */

static void test_destroy_busy(void)
{
    struct cma_mm *mm = test_mm_simple(8 * MiB, 16 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    cma_pfn_t p0, p6;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &p0));
    ASSERT_OK(cma_alloc_pages(mm, 6, CMA_GFP_UNMOVABLE, &p6));
    EXPECT_ERR(cma_mm_destroy(mm), -CMA_EBUSY);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, p6, 6));
    EXPECT_ERR(cma_mm_destroy(mm), -CMA_EBUSY);
    EXPECT_CHECK(mm);
    /* the machine still works after refusing */
    cma_pfn_t q;
    EXPECT_OK(cma_alloc_pages(mm, 3, CMA_GFP_RECLAIMABLE, &q));
    EXPECT_OK(cma_free_pages(mm, q, 3));
    EXPECT_OK(cma_free_pages(mm, p0, 0)); /* cached: destroy must drain it */
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_allocated, 0);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_mm_destroy(mm));

    /* an offline machine with regions destroys fine too */
    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    mm = create_cfg(&cfg);
    ASSERT_TRUE(mm != NULL);
    EXPECT_OK(cma_memblock_add(mm, 0, 1 * MiB));
    EXPECT_OK(cma_memblock_reserve(mm, 0, 4 * KiB));
    EXPECT_OK(cma_mm_destroy(mm));
}

/* ---- custom host -------------------------------------------------------------------------------- */

struct host_ctx {
    size_t live_bytes, peak_bytes;
    unsigned long nalloc, nfree, nlock_init, nlock_fini, nlock, ntrylock, nwarn, nlog;
    unsigned cpu;
    unsigned long ncpu_id;
    bool size_mismatch;
};

struct hdr {
    size_t size;
    size_t pad[7]; /* keep 64-byte alignment of the payload */
};

static void *h_alloc(void *ctx, size_t size)
{
    struct host_ctx *h = ctx;
    struct hdr *p = aligned_alloc(64, (sizeof(struct hdr) + size + 63) / 64 * 64);
    if (!p)
        return NULL;
    memset(p + 1, 0, size);
    p->size = size;
    h->live_bytes += size;
    if (h->live_bytes > h->peak_bytes)
        h->peak_bytes = h->live_bytes;
    h->nalloc++;
    return p + 1;
}

static void h_free(void *ctx, void *ptr, size_t size)
{
    struct host_ctx *h = ctx;
    struct hdr *p = (struct hdr *)ptr - 1;
    if (p->size != size)
        h->size_mismatch = true;
    h->live_bytes -= p->size;
    h->nfree++;
    free(p);
}

static int h_lock_init(void *ctx, uintptr_t *w)
{
    pthread_mutex_t *m = malloc(sizeof *m);
    if (!m || pthread_mutex_init(m, NULL)) {
        free(m);
        return -CMA_ENOMEM;
    }
    *w = (uintptr_t)m;
    ((struct host_ctx *)ctx)->nlock_init++;
    return 0;
}
static void h_lock_fini(void *ctx, uintptr_t *w)
{
    pthread_mutex_destroy((pthread_mutex_t *)*w);
    free((void *)*w);
    *w = 0;
    ((struct host_ctx *)ctx)->nlock_fini++;
}
static void h_lock(void *ctx, uintptr_t *w)
{
    pthread_mutex_lock((pthread_mutex_t *)*w);
    ((struct host_ctx *)ctx)->nlock++;
}
static void h_unlock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    pthread_mutex_unlock((pthread_mutex_t *)*w);
}
static bool h_trylock(void *ctx, uintptr_t *w)
{
    bool ok = pthread_mutex_trylock((pthread_mutex_t *)*w) == 0;
    if (ok)
        ((struct host_ctx *)ctx)->ntrylock++;
    return ok;
}
static unsigned h_cpu_id(void *ctx)
{
    struct host_ctx *h = ctx;
    h->ncpu_id++;
    return h->cpu;
}
static void h_log(void *ctx, enum cma_log_level level, const char *msg)
{
    struct host_ctx *h = ctx;
    (void)msg;
    h->nlog++;
    if (level == CMA_LOG_WARN)
        h->nwarn++;
}

static void test_custom_host(void)
{
    struct host_ctx hc = {0};
    const struct cma_host host = {.ctx = &hc, .alloc = h_alloc, .free = h_free,
                                  .cpu_id = h_cpu_id, .log = h_log,
                                  .lock_init = h_lock_init, .lock_fini = h_lock_fini,
                                  .lock = h_lock, .unlock = h_unlock, .trylock = h_trylock};
    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    cfg.host = &host;
    cfg.backing = CMA_BACKING_HOST;
    cfg.nr_cpus = 3;
    struct cma_mm *mm = create_cfg(&cfg);
    ASSERT_TRUE(mm != NULL);
    EXPECT_OK(cma_memblock_add(mm, 2 * MiB, 6 * MiB));
    EXPECT_OK(cma_memblock_reserve(mm, 3 * MiB, 64 * KiB));
    EXPECT_OK(cma_mm_online(mm));
    EXPECT_GE(hc.peak_bytes, 6 * MiB); /* page contents come from the host */
    EXPECT_GT(hc.nlock_init, 0);

    /* cpu_id picks the cache: a page freed on cpu 1 is not in cpu 0's cache */
    struct test_rng rng;
    struct blist bl = {0};
    test_rng_init(&rng, test_seed_value);
    cma_pfn_t pfn;
    for (int i = 0; i < 3000; i++) {
        hc.cpu = (unsigned)test_rng_below(&rng, 7); /* taken modulo nr_cpus */
        unsigned o = (unsigned)test_rng_below(&rng, 4);
        if (bl.n && test_rng_below(&rng, 2)) {
            size_t j = (size_t)test_rng_below(&rng, bl.n);
            EXPECT_OK(cma_free_pages(mm, bl.v[j].pfn, bl.v[j].order));
            bl.v[j] = bl.v[--bl.n];
        } else if (cma_alloc_pages(mm, o, gfp_kinds[i % 3], &pfn) == 0) {
            bl_push(&bl, pfn, o);
        }
    }
    EXPECT_GT(hc.ncpu_id, 0);
    EXPECT_GT(hc.ntrylock + hc.nlock, 0);
    EXPECT_CHECK(mm);
    for (unsigned c = 0; c < 3; c++)
        EXPECT_OK(cma_drain_cpu_cache(mm, c));
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_free_pcp, 0);
    if (bl.n) {
        unsigned long warn = hc.nwarn;
        EXPECT_ERR(cma_mm_destroy(mm), -CMA_EBUSY);
        EXPECT_GT(hc.nwarn, warn); /* says why through the log hook */
    }
    bl_free_all(mm, &bl, &rng);
    bl_fini(&bl);
    bu_expect_all_free(mm);
    test_mm_finish(mm);
    /* everything the library took from the host went back, with the sizes it asked for */
    EXPECT_UEQ(hc.live_bytes, 0);
    EXPECT_UEQ(hc.nalloc, hc.nfree);
    EXPECT_UEQ(hc.nlock_init, hc.nlock_fini);
    EXPECT_FALSE(hc.size_mismatch);
}

/* ---- error names -------------------------------------------------------------------------------- */

static void test_error_names(void)
{
    static const struct {
        const char *name;
        int num;
        const char *text;
    } codes[] = {
#define ROW_(name, num, text) {#name, num, text},
        CMA_ERRNO_MAP(ROW_)
#undef ROW_
    };
    const size_t n = sizeof codes / sizeof codes[0];
    EXPECT_UEQ(n, 14);
    for (size_t i = 0; i < n; i++) {
        const char *a = cma_err_name(-codes[i].num), *b = cma_err_name(codes[i].num);
        const char *s = cma_strerror(-codes[i].num), *t = cma_strerror(codes[i].num);
        if (!a || !b || !s || !t) {
            test_fail_(__FILE__, __LINE__, "NULL name or text for %s", codes[i].name);
            continue;
        }
        EXPECT_STREQ(a, codes[i].name);
        EXPECT_STREQ(b, codes[i].name);
        EXPECT_STREQ(s, codes[i].text);
        EXPECT_STREQ(t, codes[i].text);
        EXPECT_TRUE(strlen(s) > 0);
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(a, cma_err_name(-codes[j].num)))
                test_fail_(__FILE__, __LINE__, "%s and %s share the name %s", codes[i].name,
                           codes[j].name, a);
            if (!strcmp(s, cma_strerror(-codes[j].num)))
                test_fail_(__FILE__, __LINE__, "%s and %s share the text \"%s\"", codes[i].name,
                           codes[j].name, s);
            EXPECT_NE(codes[i].num, codes[j].num);
        }
    }
    /* the values are Linux's errno numbers */
    EXPECT_EQ(CMA_EPERM, 1);
    EXPECT_EQ(CMA_ENOENT, 2);
    EXPECT_EQ(CMA_ENOMEM, 12);
    EXPECT_EQ(CMA_EFAULT, 14);
    EXPECT_EQ(CMA_EBUSY, 16);
    EXPECT_EQ(CMA_EINVAL, 22);
    EXPECT_EQ(CMA_EOPNOTSUPP, 95);
    EXPECT_STREQ(cma_err_name(0), "OK");
    EXPECT_TRUE(cma_strerror(0) != NULL && strlen(cma_strerror(0)) > 0);
    static const int unknown[] = {3, -3, 9999, -9999, 1 << 30, -(1 << 30), 2147483647, -2147483647};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        EXPECT_STREQ(cma_err_name(unknown[i]), "E?");
        EXPECT_TRUE(cma_strerror(unknown[i]) != NULL);
    }
    EXPECT_STREQ(cma_version(), CMA_VERSION_STRING);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", CMA_VERSION_MAJOR, CMA_VERSION_MINOR, CMA_VERSION_PATCH);
    EXPECT_STREQ(cma_version(), v);
}

/* INT_MIN is an int like any other: "E?" and some text, without negating it (that overflows). */
static void test_error_name_int_min(void)
{
    volatile int e = -2147483647 - 1;
    EXPECT_STREQ(cma_err_name(e), "E?");
    EXPECT_TRUE(cma_strerror(e) != NULL);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_config_validation), TEST(test_online_errors),
                     TEST(test_page_sizes_and_orders), TEST(test_holes_and_offsets),
                     TEST(test_backed_mode), TEST(test_caller_memory), TEST(test_bad_input_table),
                     TEST(test_metadata_budget), TEST(test_destroy_busy), TEST(test_custom_host),
                     TEST(test_error_names), TEST(test_error_name_int_min));
}
