/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_iova.c - the IOVA allocator (iova.c), the below-a-limit buddy path and the DMA
 * checker (D invariants), looked at from the inside.
 *
 *   tree_basics            top-down below the limit, size alignment, never frame 0, the tree's
 *                          permanent nodes, reserve/release of exact ranges (-EEXIST, -ENOENT, -EINVAL)
 *   tree_vs_model          seeded random allocations (sizes above the cached ones, random limits) and
 *                          frees against a bitmap model: every result is exactly the highest free
 *                          size-aligned place below the limit, and -ENOSPC only when the model has none
 *   cursor_blindness       space above the latest allocation is found again after a free (a search
 *                          that resumes below a cursor walks past it): 256, 64 and 128 MiB top-down in
 *                          1 GiB, free the 64 MiB, a 32 MiB request lands at its top
 *   caches                 a freed cached size is handed out again from the CPU's cache (hit), a limit
 *                          below every cached range misses, a full magazine moves to the depot, purge
 *                          empties everything into the tree; cached ranges stay in the tree
 *   alloc_below            cma__alloc_pages_below: every block lies below the limit, -ENOMEM when none
 *                          does, and the plain path when all memory is below it
 *   checker_catches        the DMA checker names each corruption: an unpinned mapped page (D1), a
 *                          leaf without a mapping start (D7), a wrong nr_used (D6), a range cached twice
 *                          (D3), a leaked range (D3), a counter off by one (D10), a direct record over
 *                          the limit (D8); each repaired, the checker is green again
 */
#include "test.h"
#include "internal/internal.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)

/* cma__iova_alloc / reserve, refilling the node pool as the IOMMU layer does */
static int ialloc(struct cma__iova *iv, uint64_t n, uint64_t limit, unsigned cpu, uint64_t *pfnp)
{
    int r;
    while ((r = cma__iova_alloc(iv, n, limit, cpu, pfnp)) == -CMA_EAGAIN && cma__iova_refill(iv) == 0)
        ;
    return r;
}

static int ireserve(struct cma__iova *iv, uint64_t lo, uint64_t end)
{
    int r;
    while ((r = cma__iova_reserve(iv, lo, end, IOVA_RAW)) == -CMA_EAGAIN && cma__iova_refill(iv) == 0)
        ;
    return r;
}

static const struct cma_hostx *host(void)
{
    static struct cma_hostx hx;
    static bool done;
    if (!done) {
        (void)cma__host_resolve(NULL, &hx);
        done = true;
    }
    return &hx;
}

static void tree_basics(void)
{
    struct cma__iova iv;
    char why[256];
    ASSERT_OK(cma__iova_init(&iv, host(), 2, 1u << 16));
    uint64_t a, b, c;
    ASSERT_OK(ialloc(&iv, 100, 1u << 16, 0, &a)); /* 100 granules, aligned to 128 */
    EXPECT_UEQ(a, (1u << 16) - 128);
    ASSERT_OK(ialloc(&iv, 64, 1u << 15, 0, &b)); /* below a lower limit */
    EXPECT_UEQ(b, (1u << 15) - 64);
    ASSERT_OK(ialloc(&iv, 40, 1u << 16, 0, &c)); /* the 28 frames above a are too small */
    EXPECT_UEQ(c, a - 64);
    EXPECT_ERR(ireserve(&iv, a + 50, a + 60), -CMA_EEXIST);
    EXPECT_ERR(ireserve(&iv, a - 1, a + 1), -CMA_EEXIST);
    EXPECT_ERR(ireserve(&iv, 0, 1), -CMA_EEXIST); /* frame 0 is taken */
    EXPECT_OK(ireserve(&iv, a + 100, a + 128)); /* the tail padding is free */
    EXPECT_ERR(cma__iova_release(&iv, a + 100, a + 127, IOVA_RAW), -CMA_EINVAL);
    EXPECT_ERR(cma__iova_release(&iv, a + 101, a + 128, IOVA_RAW), -CMA_ENOENT);
    EXPECT_ERR(cma__iova_release(&iv, a, a + 100, IOVA_RAW), -CMA_ENOENT); /* a DMA range */
    EXPECT_OK(cma__iova_release(&iv, a + 100, a + 128, IOVA_RAW));
    cma__iova_lock_all(&iv);
    uint64_t free_g, largest;
    cma__iova_space_locked(&iv, &free_g, &largest);
    EXPECT_UEQ(free_g, (1u << 16) - 1 - 100 - 64 - 40);
    EXPECT_EQ(cma__iova_check_locked(&iv, 2, why, sizeof why), 0);
    cma__iova_unlock_all(&iv);
    cma__iova_free(&iv, a, 100, 0);
    cma__iova_free(&iv, b, 64, 0);
    cma__iova_free(&iv, c, 40, 0);
    /* frame 0 is never handed out: half the space fits only in the upper half */
    uint64_t x;
    EXPECT_ERR(ialloc(&iv, 1u << 15, 1u << 15, 0, &x), -CMA_ENOSPC);
    ASSERT_OK(ialloc(&iv, 1u << 15, 1u << 16, 0, &x));
    EXPECT_UEQ(x, 1u << 15);
    cma__iova_free(&iv, x, 1u << 15, 0);
    cma__iova_fini(&iv);
}

/* A bitmap model of the space: the highest free frame c, aligned to `align`, with [c, c + size)
 * free and c + size <= limit; UINT64_MAX when none. */
static uint64_t model_fit(const uint8_t *used, uint64_t end, uint64_t size, uint64_t align, uint64_t limit)
{
    if (limit > end)
        limit = end;
    for (uint64_t c = limit >= size ? (limit - size) & ~(align - 1) : 0;; c -= align) {
        if (limit < size)
            return UINT64_MAX;
        bool ok = true;
        for (uint64_t k = 0; k < size && ok; k++)
            ok = !used[c + k];
        if (ok)
            return c;
        if (c < align)
            return UINT64_MAX;
    }
}

static void tree_vs_model(void)
{
    enum { END = 1u << 14, LIVE = 256 };
    static uint8_t used[END];
    struct cma__iova iv;
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    memset(used, 0, sizeof used);
    used[0] = 1;
    ASSERT_OK(cma__iova_init(&iv, host(), 1, END));
    uint64_t lo[LIVE], n[LIVE];
    int live = 0;
    for (int op = 0; op < 20000; op++) {
        if (live < LIVE && (live == 0 || test_rng_below(&rng, 100) < 55)) {
            uint64_t want = 33 + test_rng_below(&rng, 400); /* tree sizes only: no cache rounding */
            uint64_t align = 1;
            while (align < want)
                align <<= 1;
            uint64_t limit = test_rng_below(&rng, 4) ? END : 1 + test_rng_below(&rng, END);
            uint64_t expect = model_fit(used, END, want, align, limit), got = 0;
            int r = ialloc(&iv, want, limit, 0, &got);
            if (expect == UINT64_MAX) {
                ASSERT_ERR(r, -CMA_ENOSPC);
                continue;
            }
            ASSERT_OK(r);
            ASSERT_UEQ(got, expect);
            memset(used + got, 1, want);
            lo[live] = got;
            n[live++] = want;
        } else {
            int k = (int)test_rng_below(&rng, (uint64_t)live);
            cma__iova_free(&iv, lo[k], n[k], 0);
            memset(used + lo[k], 0, n[k]);
            lo[k] = lo[--live];
            n[k] = n[live];
        }
        if (op % 1000 == 0) {
            char why[256];
            cma__iova_lock_all(&iv);
            int r = cma__iova_check_locked(&iv, (uint32_t)op * 2 + 2, why, sizeof why);
            cma__iova_unlock_all(&iv);
            ASSERT_TRUE(r == 0 || (test_fail_(__FILE__, __LINE__, "%s", why), false));
        }
    }
    while (live--)
        cma__iova_free(&iv, lo[live], n[live], 0);
    cma__iova_fini(&iv);
}

static void cursor_blindness(void)
{
    struct cma__iova iv;
    const uint64_t f = MiB / 4096, top = GiB / 4096; /* frames per MiB; 1 GiB of space */
    ASSERT_OK(cma__iova_init(&iv, host(), 1, top));
    uint64_t a, b, c, d;
    ASSERT_OK(ialloc(&iv, 256 * f, top, 0, &a));
    ASSERT_OK(ialloc(&iv, 64 * f, top, 0, &b));
    ASSERT_OK(ialloc(&iv, 128 * f, top, 0, &c));
    EXPECT_UEQ(a, 768 * f);
    EXPECT_UEQ(b, 704 * f);
    EXPECT_UEQ(c, 512 * f);
    cma__iova_free(&iv, b, 64 * f, 0);
    /* the space freed above the last allocation is found again, at its top */
    ASSERT_OK(ialloc(&iv, 32 * f, top, 0, &d));
    EXPECT_UEQ(d, 736 * f);
    cma__iova_free(&iv, a, 256 * f, 0);
    cma__iova_free(&iv, c, 128 * f, 0);
    cma__iova_free(&iv, d, 32 * f, 0);
    cma__iova_fini(&iv);
}

/* cached granules, hits, misses of an allocator nobody else uses */
static uint64_t counter(struct cma__iova *iv, int which)
{
    uint64_t v[4];
    cma__iova_lock_all(iv);
    cma__iova_counters_locked(iv, &v[0], &v[1], &v[2], &v[3]);
    cma__iova_unlock_all(iv);
    return v[which];
}

static void caches(void)
{
    struct cma__iova iv;
    char why[256];
    ASSERT_OK(cma__iova_init(&iv, host(), 2, 1u << 20));
    uint64_t a, b;
    ASSERT_OK(ialloc(&iv, 3, 1u << 20, 0, &a));
    cma__iova_free(&iv, a, 3, 0);
    EXPECT_UEQ(counter(&iv, 0), 4);
    ASSERT_OK(ialloc(&iv, 4, 1u << 20, 0, &b)); /* the same bin: the same range */
    EXPECT_UEQ(b, a);
    EXPECT_UEQ(counter(&iv, 1), 1);
    cma__iova_free(&iv, b, 4, 0);
    ASSERT_OK(ialloc(&iv, 4, 1u << 10, 0, &b)); /* a limit below the cached range: tree */
    EXPECT_TRUE(b + 4 <= 1u << 10);
    EXPECT_UEQ(counter(&iv, 2), 2); /* the very first allocation missed too */
    cma__iova_free(&iv, b, 4, 0);
    /* fill a magazine and more: full magazines go to the depot */
    enum { N = 3 * CMA_IOVA_MAG_SIZE };
    static uint64_t got[N];
    for (int i = 0; i < N; i++)
        ASSERT_OK(ialloc(&iv, 1, 1u << 20, 1, &got[i]));
    for (int i = 0; i < N; i++)
        cma__iova_free(&iv, got[i], 1, 1);
    EXPECT_TRUE(iv.nfull[0] >= 1);
    cma__iova_lock_all(&iv);
    EXPECT_EQ(cma__iova_check_locked(&iv, 2, why, sizeof why), 0);
    uint64_t nodes = iv.nr_nodes;
    cma__iova_unlock_all(&iv);
    EXPECT_UEQ(nodes, 2 + N + 2); /* cached ranges stay in the tree */
    cma__iova_purge(&iv);
    EXPECT_UEQ(counter(&iv, 0), 0);
    EXPECT_UEQ(iv.nr_nodes, 2);
    cma__iova_fini(&iv);
}

static int boot_low_high(struct cma_mm *mm, const void *arg)
{
    (void)arg;
    int r = cma_memblock_add(mm, 0, 8 * MiB);
    return r ? r : cma_memblock_add(mm, 4 * GiB, 64 * MiB);
}

static void alloc_below(void)
{
    struct cma_mm *mm = test_mm_boot(NULL, boot_low_high, NULL);
    ASSERT_TRUE(mm != NULL);
    const cma_pfn_t lim = (4 * GiB) >> 12;
    cma_pfn_t pfns[4096];
    int n = 0;
    while (n < 4096 && cma__alloc_pages_below(mm, 3, CMA_GFP_UNMOVABLE, lim, &pfns[n]) == 0) {
        EXPECT_TRUE(pfns[n] + 8 <= lim);
        n++;
    }
    EXPECT_EQ(n, (int)(8 * MiB / 4096 / 8)); /* exactly the low memory, in order-3 blocks */
    cma_pfn_t x;
    EXPECT_ERR(cma__alloc_pages_below(mm, 0, CMA_GFP_UNMOVABLE, lim, &x), -CMA_ENOMEM);
    ASSERT_OK(cma__alloc_pages_below(mm, 0, CMA_GFP_UNMOVABLE, UINT64_MAX, &x)); /* no limit */
    EXPECT_TRUE(x >= lim);
    EXPECT_OK(cma_free_pages(mm, x, 0));
    EXPECT_CHECK(mm);
    while (n--)
        EXPECT_OK(cma_free_pages(mm, pfns[n], 3));
    test_mm_finish(mm);
}

/* ---- the checker ------------------------------------------------------------------------------- */

static void expect_violation(struct cma_mm *mm, const char *id)
{
    char why[256];
    int r = cma_mm_check(mm, why, sizeof why);
    if (r != -CMA_EFAULT || strncmp(why, id, strlen(id)) != 0)
        test_fail_(__FILE__, __LINE__, "expected a %s violation, got %d \"%s\"", id, r, why);
}

static void checker_catches(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu_config ic;
    struct cma_iommu *io;
    cma_iommu_config_default(&ic);
    ASSERT_OK(cma_iommu_create(mm, &ic, &io));
    struct cma_dev_config dc;
    struct cma_dev *d, *dd;
    cma_dev_config_default(&dc);
    dc.iommu = io;
    ASSERT_OK(cma_dev_create(mm, &dc, &d));
    dc.iommu = NULL;
    ASSERT_OK(cma_dev_create(mm, &dc, &dd));
    cma_pfn_t p[2];
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &p[0]));
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &p[1]));
    cma_iova_t dma, ddma, spare;
    ASSERT_OK(cma_dma_map_pages(d, p, 2, &dma));
    ASSERT_OK(cma_dma_alloc(dd, 4096, &ddma, NULL));
    ASSERT_OK(cma_dma_map_pages(d, p, 1, &spare));
    ASSERT_OK(cma_dma_unmap(d, spare, 1)); /* queued */
    EXPECT_CHECK(mm);

    /* D1: a mapped page loses its pin */
    struct cma_page *pg = cma__page(mm, cma__pfn_idx(mm, p[1]));
    atomic_fetch_and(&pg->flags, (uint8_t)~PF_PINNED);
    expect_violation(mm, "D1");
    atomic_fetch_or(&pg->flags, PF_PINNED);
    EXPECT_CHECK(mm);

    /* find the leaf table of dma */
    struct cma__pt *t = io->root;
    uint64_t ip = dma >> 12;
    for (unsigned l = 0; l + 1 < io->levels; l++)
        t = (struct cma__pt *)(uintptr_t)(t->e[(ip >> (9 * (io->levels - 1 - l))) & 511] & ~7ull);
    uint64_t *e0 = &t->e[ip & 511];

    /* D7: the mapping start loses its mark */
    *e0 &= ~PTE_START;
    expect_violation(mm, "D7");
    *e0 |= PTE_START;
    /* D6: nr_used off by one */
    t->nr_used++;
    expect_violation(mm, "D6");
    t->nr_used--;
    /* D10: a counter off by one */
    io->mappings++;
    expect_violation(mm, "D10");
    io->mappings--;
    EXPECT_CHECK(mm);

    /* D3: the queued range also sits in a cache */
    struct cma__iova_mag *m = io->iova.cpu[0].loaded[0];
    m->pfn[m->n++] = spare >> 12;
    io->iova.cpu[0].cached += 1;
    expect_violation(mm, "D3");
    m->n--;
    io->iova.cpu[0].cached -= 1;
    /* D3: a range nobody owns (leaked) */
    uint64_t leak;
    ASSERT_OK(ialloc(&io->iova, 1000, io->end_pfn, 0, &leak));
    expect_violation(mm, "D3");
    cma__iova_free(&io->iova, leak, 1000, 0);
    EXPECT_CHECK(mm);

    /* D8: a direct record past the device limit */
    uint32_t i = 0;
    while (dd->recs[i].kind == REC_FREE)
        i++;
    unsigned bits = dd->dma_bits;
    uint64_t limit = dd->limit;
    dd->limit = dd->recs[i].dma; /* the buffer now ends above it */
    expect_violation(mm, "D8");
    dd->limit = limit;
    dd->dma_bits = bits;
    EXPECT_CHECK(mm);

    EXPECT_OK(cma_dma_unmap(d, dma, 2));
    EXPECT_OK(cma_dma_free(dd, 4096, ddma));
    EXPECT_OK(cma_free_pages(mm, p[0], 0));
    EXPECT_OK(cma_free_pages(mm, p[1], 0));
    EXPECT_OK(cma_dev_destroy(d));
    EXPECT_OK(cma_dev_destroy(dd));
    EXPECT_OK(cma_iommu_destroy(io));
    test_mm_finish(mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(tree_basics), TEST(tree_vs_model), TEST(cursor_blindness),
                     TEST(caches), TEST(alloc_below), TEST(checker_catches));
}
