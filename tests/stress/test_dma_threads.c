/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_dma_threads.c - "Two threads map and unmap through one IOMMU domain (and a strict
 * one, and a direct device) while a third takes CMA ranges that their movable pages live in; clean
 * under TSan, invariants green throughout."
 *
 * Threads:
 *   2 mapper threads  each owns SLOTS pages, half movable in the CMA area (ops registered, owner
 *                     mutex per slot as in test_cma_threads.c), half unmovable. A step maps 1-8 of
 *                     its pages (repeats allowed) through a lazy domain (both threads share it, each
 *                     with its own device), a strict domain or a direct device (contiguous pages
 *                     only), checks that every page translates to the page it mapped, keeps up to 8
 *                     mappings live and unmaps the oldest; now and then a cma_dma_alloc/free, a
 *                     device access through the software IOTLB, or a page freed and allocated anew.
 *   1 area thread     loops cma_alloc / cma_release on the area: migration must never touch a mapped
 *                     page (a mapped page's pfn never changes, checked at unmap), and may move others.
 *   1 checker thread  cma_mm_check every few milliseconds.
 * Owner protocol: a mapper reads the pfns and maps them with the slot mutexes held, so a page cannot
 * migrate between the read and the pin (a migration that already started waits in its callback for
 * the mutex, and the map sees the page migrating: -EBUSY after retries, a transient failure here);
 * once mapped the page is pinned and the mutex is released.
 * Knobs: CMA_TEST_OPS (steps per mapper, default 20000), CMA_TEST_SECONDS (cap, default 20).
 */
#include "../api/dma_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define SLOTS 32
#define LIVE 8

struct slot {
    pthread_mutex_t mu;
    cma_pfn_t pfn;
    bool movable;
    unsigned mapped; /* live mappings of this page (mapper thread only) */
};

struct live {
    struct cma_dev *dev;
    cma_iova_t dma;
    size_t n;
    int slots[8];
    cma_pfn_t pfns[8];
    bool alloc;
};

struct mthread {
    pthread_t th;
    int id;
    struct slot s[SLOTS];
    struct cma_dev *lazy, *strict, *direct;
    struct live live[LIVE];
    int nlive;
    uint64_t maps, busy;
};

static struct cma_mm *mm;
static struct cma_area *area;
static struct cma_iommu *io_lazy, *io_strict;
static atomic_bool stop;
static atomic_uint moved;
static uint64_t deadline_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int ops_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct slot *s = owner;
    (void)order;
    pthread_mutex_lock(&s->mu);
    int r = 0;
    if (s->mapped)
        r = -1; /* a mapped page must never be asked to move: fail loudly below */
    else if (s->pfn == from)
        s->pfn = to;
    pthread_mutex_unlock(&s->mu);
    if (r)
        test_fail_(__FILE__, __LINE__, "migration of a mapped page 0x%llx", (unsigned long long)from);
    atomic_fetch_add(&moved, 1);
    return r;
}

static int ops_isolate(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct slot *s = owner;
    (void)pfn;
    (void)order;
    pthread_mutex_lock(&s->mu); /* waits for a mapper that is mapping this page right now */
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static const struct cma_movable_ops ops = {.isolate = ops_isolate, .migrate = ops_migrate};

static void slot_fill(struct slot *s, bool movable)
{
    s->movable = movable;
    s->mapped = 0;
    ASSERT_OK(cma_alloc_pages(mm, 0, movable ? CMA_GFP_MOVABLE : CMA_GFP_UNMOVABLE, &s->pfn));
    if (movable)
        ASSERT_OK(cma_page_set_movable(mm, s->pfn, &ops, s));
}

static void check_translation(struct cma_iommu *io, const struct live *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cma_phys_t got;
        int r = cma_iommu_translate(io, l->dma + i * PAGE, &got);
        if (r || (!l->alloc && got != cma_pfn_to_phys(mm, l->pfns[i])))
            test_fail_(__FILE__, __LINE__, "dma 0x%llx page %zu: %d, 0x%llx instead of pfn 0x%llx",
                       (unsigned long long)l->dma, i, r, (unsigned long long)got,
                       (unsigned long long)l->pfns[i]);
    }
}

static void unmap_oldest(struct mthread *t)
{
    struct live l = t->live[0];
    memmove(&t->live[0], &t->live[1], (size_t)(t->nlive - 1) * sizeof l);
    t->nlive--;
    if (l.dev != t->direct)
        check_translation(l.dev == t->lazy ? io_lazy : io_strict, &l);
    if (l.alloc) {
        EXPECT_OK(cma_dma_free(l.dev, l.n * PAGE, l.dma));
        return;
    }
    for (size_t i = 0; i < l.n; i++) { /* pinned: still where it was mapped */
        struct slot *s = &t->s[l.slots[i]];
        pthread_mutex_lock(&s->mu);
        if (s->pfn != l.pfns[i])
            test_fail_(__FILE__, __LINE__, "a mapped page moved: 0x%llx -> 0x%llx",
                       (unsigned long long)l.pfns[i], (unsigned long long)s->pfn);
        pthread_mutex_unlock(&s->mu);
    }
    EXPECT_OK(cma_dma_unmap(l.dev, l.dma, l.n));
    for (size_t i = 0; i < l.n; i++) {
        struct slot *s = &t->s[l.slots[i]];
        pthread_mutex_lock(&s->mu);
        s->mapped--;
        pthread_mutex_unlock(&s->mu);
    }
}

static void map_step(struct mthread *t, struct test_rng *rng)
{
    struct live l = {0};
    unsigned pick = (unsigned)test_rng_below(rng, 10);
    l.dev = pick < 5 ? t->lazy : pick < 8 ? t->strict : t->direct;
    if (test_rng_below(rng, 16) == 0 && l.dev != t->direct) {
        l.alloc = true;
        l.n = 1 + test_rng_below(rng, 300);
        if (cma_dma_alloc(l.dev, l.n * PAGE, &l.dma, NULL) == 0)
            t->live[t->nlive++] = l;
        return;
    }
    if (l.dev == t->direct) { /* a single page: contiguous by definition */
        l.n = 1;
        l.slots[0] = (int)test_rng_below(rng, SLOTS);
    } else {
        l.n = 1 + test_rng_below(rng, 8);
        for (size_t i = 0; i < l.n; i++)
            l.slots[i] = (int)test_rng_below(rng, SLOTS);
    }
    /* lock the distinct slots in index order, read, map, unlock */
    bool locked[SLOTS] = {false};
    for (size_t i = 0; i < l.n; i++)
        locked[l.slots[i]] = true;
    for (int k = 0; k < SLOTS; k++)
        if (locked[k])
            pthread_mutex_lock(&t->s[k].mu);
    for (size_t i = 0; i < l.n; i++)
        l.pfns[i] = t->s[l.slots[i]].pfn;
    int r = cma_dma_map_pages(l.dev, l.pfns, l.n, &l.dma);
    if (r == 0)
        for (size_t i = 0; i < l.n; i++)
            t->s[l.slots[i]].mapped++;
    for (int k = SLOTS; k-- > 0;)
        if (locked[k])
            pthread_mutex_unlock(&t->s[k].mu);
    if (r == -CMA_EBUSY) {
        t->busy++;
        return;
    }
    if (r) {
        test_fail_(__FILE__, __LINE__, "map of %zu pages: %s", l.n, cma_err_name(r));
        return;
    }
    t->maps++;
    t->live[t->nlive++] = l;
    if (l.dev != t->direct)
        check_translation(l.dev == t->lazy ? io_lazy : io_strict, &l);
}

static void *mapper(void *arg)
{
    struct mthread *t = arg;
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value + (uint64_t)t->id * 7919);
    uint64_t nops = test_env_u64("CMA_TEST_OPS", 20000);
    for (uint64_t op = 0; op < nops && now_ns() < deadline_ns && !test_failures; op++) {
        if (t->nlive == LIVE)
            unmap_oldest(t);
        map_step(t, &rng);
        unsigned x = (unsigned)test_rng_below(&rng, 64);
        if (x == 0) { /* a device access through the IOTLB model of the lazy domain */
            cma_phys_t got;
            (void)cma_iommu_access(io_lazy, (cma_iova_t)test_rng_below(&rng, 1ull << 32), &got);
        } else if (x == 1) { /* replace an unmapped page */
            int k = (int)test_rng_below(&rng, SLOTS);
            struct slot *s = &t->s[k];
            pthread_mutex_lock(&s->mu);
            if (!s->mapped && cma_free_pages(mm, s->pfn, 0) == 0)
                slot_fill(s, s->movable);
            pthread_mutex_unlock(&s->mu);
        }
    }
    while (t->nlive)
        unmap_oldest(t);
    return NULL;
}

static void *area_thread(void *arg)
{
    struct test_rng rng;
    (void)arg;
    test_rng_init(&rng, test_seed_value ^ 0xa5a5);
    while (!atomic_load(&stop)) {
        cma_pfn_t pfn;
        /* windows large enough to hold the mappers' movable pages: unmapped ones move, mapped ones
         * are pinned and make the window busy */
        size_t count = (size_t)(16 * MiB / PAGE) + test_rng_below(&rng, 48 * MiB / PAGE);
        int r = cma_alloc(area, count, 0, &pfn);
        if (r == 0)
            EXPECT_OK(cma_release(area, pfn, count));
        else if (r != -CMA_EBUSY && r != -CMA_ENOSPC && r != -CMA_ENOMEM)
            test_fail_(__FILE__, __LINE__, "cma_alloc: %s", cma_err_name(r));
    }
    return NULL;
}

static void *checker_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        char why[256];
        if (cma_mm_check(mm, why, sizeof why) != 0) {
            test_fail_(__FILE__, __LINE__, "checker under load: %s", why);
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int boot(struct cma_mm *m, const void *arg)
{
    (void)arg;
    int r = cma_memblock_add(m, 0, 128 * MiB);
    return r ? r : cma_declare_contiguous(m, "cam", 80 * MiB, 0, 0, 0, 0, &area);
}

static void four_cpus(struct cma_mm_config *c) { c->nr_cpus = 4; }

static void map_unmap_threads(void)
{
    static struct mthread t[2];
    mm = test_mm_boot(four_cpus, boot, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu_config c;
    cma_iommu_config_default(&c);
    c.fq_size = 16;
    c.iotlb_entries = 32;
    ASSERT_OK(cma_iommu_create(mm, &c, &io_lazy));
    c.strict = true;
    ASSERT_OK(cma_iommu_create(mm, &c, &io_strict));
    deadline_ns = now_ns() + test_env_u64("CMA_TEST_SECONDS", 20) * 1000000000ull;
    for (int i = 0; i < 2; i++) {
        t[i].id = i;
        t[i].lazy = mk_dev(mm, io_lazy, 32, NULL);
        t[i].strict = mk_dev(mm, io_strict, 36, NULL);
        t[i].direct = mk_dev(mm, NULL, 64, NULL);
        for (int k = 0; k < SLOTS; k++) {
            pthread_mutex_init(&t[i].s[k].mu, NULL);
            slot_fill(&t[i].s[k], k % 2 == 0);
        }
    }
    pthread_t at, ct;
    pthread_create(&at, NULL, area_thread, NULL);
    pthread_create(&ct, NULL, checker_thread, NULL);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i].th, NULL, mapper, &t[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i].th, NULL);
    atomic_store(&stop, true);
    pthread_join(at, NULL);
    pthread_join(ct, NULL);
    EXPECT_TRUE(t[0].maps > 0 && t[1].maps > 0);
    EXPECT_TRUE(atomic_load(&moved) > 0); /* migration ran beside the mappings */
    if (test_verbose)
        printf("maps %llu + %llu, busy %llu + %llu, pages moved by the area thread %u\n",
               (unsigned long long)t[0].maps, (unsigned long long)t[1].maps,
               (unsigned long long)t[0].busy, (unsigned long long)t[1].busy, atomic_load(&moved));
    EXPECT_CHECK(mm);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < SLOTS; k++) {
            EXPECT_OK(cma_free_pages(mm, t[i].s[k].pfn, 0));
            pthread_mutex_destroy(&t[i].s[k].mu);
        }
        EXPECT_OK(cma_dev_destroy(t[i].lazy));
        EXPECT_OK(cma_dev_destroy(t[i].strict));
        EXPECT_OK(cma_dev_destroy(t[i].direct));
    }
    EXPECT_OK(cma_iommu_destroy(io_lazy));
    EXPECT_OK(cma_iommu_destroy(io_strict));
    test_mm_finish(mm);
}

int main(int argc, char **argv) { return test_main(argc, argv, TEST(map_unmap_threads)); }
