/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_host_context.c - the host hooks are called in the context base.h promises.
 *
 * A kernel's allocator may sleep, so libcma must never call the memory hooks with one of its locks
 * held; the log hooks are promised the same. The host here supplies its own locks and counts, per
 * thread, how many libcma locks the thread holds; its alloc, free and log hooks record every call
 * made while the count is not zero. Every
 * path that allocates or frees is driven: memblock region tables growing past their first size,
 * cma= and cma_declare_contiguous declaring areas, onlining, the long-term pin table growing and
 * shrinking, cma_alloc meeting a busy window (its set of known-busy pages), an IOMMU domain and the
 * DMA API (IOVA tree nodes, page tables, pinned mappings, flush queues), dumps, the checker and
 * destroy. Each phase is checked on its own so a failure names where the hook was misused.
 */
#include "test.h"

#include <stdatomic.h>

#define KiB 1024ull
#define MiB (1024ull * KiB)

/* ---- the host ------------------------------------------------------------------------------------ */

static _Thread_local int locks_held; /* libcma locks this thread holds right now */

struct ctx_host {
    atomic_int bad_calls;   /* alloc/free/log calls made with a libcma lock held */
    atomic_int calls;       /* every alloc/free/log call */
    size_t bad_size;        /* the size of the first bad call */
    int bad_held;           /* and how many locks were held then */
};

static void note_call(struct ctx_host *h, size_t size)
{
    atomic_fetch_add(&h->calls, 1);
    if (locks_held != 0 && atomic_fetch_add(&h->bad_calls, 1) == 0) {
        h->bad_size = size;
        h->bad_held = locks_held;
    }
}

static void *ctx_alloc(void *ctx, size_t size)
{
    note_call(ctx, size);
    return calloc(1, size);
}

static void ctx_free(void *ctx, void *p, size_t size)
{
    note_call(ctx, size);
    free(p);
}

static void ctx_log(void *ctx, enum cma_log_level level, const char *msg)
{
    (void)level;
    note_call(ctx, strlen(msg));
}

/* A lock is one word: 0 free, 1 held. */
static int ctx_lock_init(void *ctx, uintptr_t *w)
{
    (void)ctx;
    __atomic_store_n(w, 0, __ATOMIC_RELAXED);
    return 0;
}

static void ctx_lock_fini(void *ctx, uintptr_t *w)
{
    (void)ctx;
    EXPECT_UEQ(__atomic_load_n(w, __ATOMIC_RELAXED), 0);
}

static bool ctx_trylock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    uintptr_t expect = 0;
    if (!__atomic_compare_exchange_n(w, &expect, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    locks_held++;
    return true;
}

static void ctx_lock(void *ctx, uintptr_t *w)
{
    while (!ctx_trylock(ctx, w))
        ;
}

static void ctx_unlock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    locks_held--;
    __atomic_store_n(w, 0, __ATOMIC_RELEASE);
}

static struct ctx_host hc;
static const struct cma_host host = {.ctx = &hc,
                                     .alloc = ctx_alloc,
                                     .free = ctx_free,
                                     .log = ctx_log,
                                     .lock_init = ctx_lock_init,
                                     .lock_fini = ctx_lock_fini,
                                     .lock = ctx_lock,
                                     .unlock = ctx_unlock,
                                     .trylock = ctx_trylock};

/* Checks the calls since the last phase and starts the next one. */
static void phase_end_(const char *phase, const char *file, int line)
{
    int bad = atomic_exchange(&hc.bad_calls, 0);
    if (bad)
        test_fail_(file, line, "%s: %d alloc/free/log call(s) with a libcma lock held (first: %zu bytes, %d held)",
                   phase, bad, hc.bad_size, hc.bad_held);
    if (locks_held != 0)
        test_fail_(file, line, "%s: returned with %d lock(s) held", phase, locks_held);
}
#define phase_end(phase) phase_end_((phase), __FILE__, __LINE__)

/* ---- movable owners: one refuses every isolation, so its page makes a window busy ---------------- */

static int owner_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    cma_pfn_t *where = owner;
    (void)from;
    (void)order;
    *where = to;
    return 0;
}

static int owner_refuse(void *owner, cma_pfn_t pfn, unsigned order)
{
    (void)owner;
    (void)pfn;
    (void)order;
    return -CMA_EAGAIN;
}

static const struct cma_movable_ops mover = {.migrate = owner_migrate};
static const struct cma_movable_ops refuser = {.isolate = owner_refuse, .migrate = owner_migrate};

/* ---- the walk ------------------------------------------------------------------------------------ */

#define NREGIONS 300 /* memblock tables start at 128 entries */
#define NPINS 200    /* the pin table starts at 64 slots */
#define NPAGES 6000  /* more than the 20 MiB of CMA areas hold */

static void test_no_memory_hook_under_a_lock(void)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    cma_mm_config_default(&cfg);
    cfg.host = &host;
    cfg.backing = CMA_BACKING_HOST;
    cfg.nr_cpus = 2;
    cfg.cma_first_percent = 0; /* movable pages fill the areas first */
    ASSERT_OK(cma_mm_create(&cfg, &mm));
    phase_end("cma_mm_create");

    /* 64 MiB at 0, then NREGIONS separate 64 KiB regions above 1 GiB, each with a reservation */
    ASSERT_OK(cma_memblock_add(mm, 0, 64 * MiB));
    for (unsigned i = 0; i < NREGIONS; i++) {
        cma_phys_t b = (1ull << 30) + i * 128 * KiB;
        ASSERT_OK(cma_memblock_add(mm, b, 64 * KiB));
        ASSERT_OK(cma_memblock_reserve(mm, b, 4 * KiB));
    }
    phase_end("memblock growth");
    cma_phys_t early;
    ASSERT_OK(cma_memblock_alloc(mm, 8 * KiB, 0, &early));
    ASSERT_OK(cma_memblock_free(mm, early, 8 * KiB));
    phase_end("memblock alloc/free");

    EXPECT_ERR(cma_parse_cmdline(mm, "cma=bad"), -CMA_EINVAL);
    ASSERT_OK(cma_parse_cmdline(mm, "cma=video:8M@16M,audio:4M"));
    phase_end("cma=");
    struct cma_area *area = NULL;
    ASSERT_OK(cma_declare_contiguous(mm, "camera", 8 * MiB, 32 * MiB, 0, 0, 0, &area));
    phase_end("cma_declare_contiguous");

    ASSERT_OK(cma_mm_online(mm));
    phase_end("cma_mm_online");

    /* movable pages filling every area (CMA first), one page of the camera area refusing to move */
    static cma_pfn_t pages[NPAGES], pins[NPINS];
    unsigned npages = 0;
    struct cma_area_stats ast;
    ASSERT_OK(cma_area_get_stats(area, &ast));
    for (; npages < NPAGES; npages++) {
        ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pages[npages]));
        ASSERT_OK(cma_page_set_movable(mm, pages[npages], &mover, &pages[npages]));
    }
    unsigned refusing = npages;
    for (unsigned i = 0; i < npages && refusing == npages; i++)
        if (pages[i] >= ast.base_pfn && pages[i] < ast.base_pfn + ast.count)
            refusing = i;
    ASSERT_TRUE(refusing < npages);
    ASSERT_OK(cma_page_set_movable(mm, pages[refusing], &refuser, &pages[refusing]));
    phase_end("page allocation");

    /* long-term pins of unmovable pages (never in CMA: they stay where they are): the table grows */
    for (unsigned i = 0; i < NPINS; i++) {
        cma_pfn_t np;
        ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &pins[i]));
        ASSERT_OK(cma_page_pin_longterm(mm, pins[i], &np));
        ASSERT_UEQ(np, pins[i]);
    }
    phase_end("pin table growth");

    /* the whole area: the refusing page makes every window busy (the busy set is allocated) */
    cma_pfn_t buf;
    EXPECT_ERR(cma_alloc(area, ast.count, 0, &buf), -CMA_EBUSY);
    phase_end("cma_alloc, busy");
    /* a pageblock-sized window without the refusing page: its pages migrate */
    const uint64_t want = 512;
    ASSERT_OK(cma_alloc(area, want, 9, &buf));
    EXPECT_TRUE(pages[refusing] < buf || pages[refusing] >= buf + want);
    ASSERT_OK(cma_release(area, buf, want));
    phase_end("cma_alloc, migrating");

    /* the DMA layer: an IOMMU domain, a device behind it and a direct one; buffers and mappings */
    struct cma_iommu_config icfg;
    struct cma_iommu *io = NULL;
    struct cma_dev_config dcfg;
    struct cma_dev *idev = NULL, *ddev = NULL;
    cma_iommu_config_default(&icfg);
    ASSERT_OK(cma_iommu_create(mm, &icfg, &io));
    cma_dev_config_default(&dcfg);
    dcfg.iommu = io;
    ASSERT_OK(cma_dev_create(mm, &dcfg, &idev));
    cma_dev_config_default(&dcfg);
    dcfg.area = area;
    ASSERT_OK(cma_dev_create(mm, &dcfg, &ddev));
    cma_iova_t bufs[16], maps[16], dbuf;
    for (unsigned i = 0; i < 16; i++) {
        ASSERT_OK(cma_dma_alloc(idev, (size_t)(i + 1) << 16, &bufs[i], NULL));
        ASSERT_OK(cma_dma_map_pages(idev, &pins[8 * i], 8, &maps[i]));
    }
    ASSERT_OK(cma_dma_alloc(ddev, 1 << 20, &dbuf, NULL));
    phase_end("DMA map and alloc");

    static char text[1 << 16];
    EXPECT_GT(cma_mm_dump(mm, CMA_DUMP_ALL, text, sizeof text), 0);
    EXPECT_GT(cma_area_dump(area, text, sizeof text), 0);
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_CHECK(mm);
    phase_end("dumps, stats, checker");

    for (unsigned i = 0; i < 16; i++) {
        ASSERT_OK(cma_dma_unmap(idev, maps[i], 8));
        ASSERT_OK(cma_dma_free(idev, (size_t)(i + 1) << 16, bufs[i]));
    }
    ASSERT_OK(cma_dma_free(ddev, 1 << 20, dbuf));
    ASSERT_OK(cma_iommu_flush(io));
    ASSERT_OK(cma_dev_destroy(idev));
    ASSERT_OK(cma_dev_destroy(ddev));
    ASSERT_OK(cma_iommu_destroy(io));
    phase_end("DMA unmap, free, destroy");

    for (unsigned i = 0; i < NPINS; i++) {
        ASSERT_OK(cma_page_unpin(mm, pins[i]));
        ASSERT_OK(cma_free_pages(mm, pins[i], 0));
    }
    for (unsigned i = 0; i < npages; i++)
        ASSERT_OK(cma_free_pages(mm, pages[i], 0));
    EXPECT_OK(cma_drain_cpu_caches(mm));
    EXPECT_CHECK(mm);
    phase_end("unpin and free");

    EXPECT_OK(cma_mm_destroy(mm));
    phase_end("cma_mm_destroy");
    EXPECT_GT(atomic_load(&hc.calls), 0);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_no_memory_hook_under_a_lock));
}
