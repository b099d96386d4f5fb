/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_cma_threads.c - "Threads allocating and freeing movable pages while other threads
 * loop cma_alloc/cma_release on two areas, clean under TSan."
 *
 * Threads:
 *   3 owner threads   cma_alloc_pages(MOVABLE, order 0..2) + fill a tagged pattern +
 *                     cma_page_set_movable (some clean with a discard op), random frees (contents
 *                     verified first), short-term references (cma_page_get/put)
 *   2 area threads    each loops cma_alloc (random count 1..512, align 0..4) / cma_release on its own
 *                     area, writing a pattern into every range and verifying it before release
 *   1 checker thread  runs cma_mm_check every few milliseconds (every lock held: a consistent
 *                     snapshot of a machine under load)
 *
 * Owner protocol. Each owner slot has a mutex. The owning thread fills the page and records pfn/order
 * under the mutex *before* registering the ops, so callbacks always find a consistent owner. The
 * callbacks take the same mutex: isolate marks the owner isolated (or refuses with -EAGAIN when the
 * owner asked to free it), migrate checks `from` against the recorded pfn, checks the contents already
 * copied to `to`, and switches the owner to `to` (or abandons the migration if the owner asked for
 * the block meanwhile: putback follows); putback clears the mark; discard forgets the block.
 * The owning thread frees under the mutex; if the block is being migrated right now cma_free_pages
 * returns -EBUSY (libcma marked it before calling isolate, which waits for our mutex) - the owner sets
 * want_free and tries again later. No libcma lock is held while a callback waits for an owner mutex,
 * and no owner mutex is held while waiting for anything but libcma's short internal locks, so the
 * protocol cannot deadlock.
 *
 * At the end: join, free and release everything, checker green, nr_free_total == nr_managed.
 * Knobs: CMA_TEST_OPS (operations per owner thread, default 300000), CMA_TEST_SECONDS (wall-clock cap,
 * default 20).
 */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define KiB 1024ull
#define MiB (1024ull * KiB)

#define N_OWNER_THREADS 3
#define N_AREA_THREADS 2
#define SLOTS 400

enum { S_FREE = 0, S_LIVE, S_GONE };

struct othread;

struct sowner {
    pthread_mutex_t mu;
    struct othread *t; /* the owning thread and the slot (constant) */
    unsigned slot;
    int state;
    cma_pfn_t pfn;
    unsigned order;
    uint64_t tag;
    bool isolated, want_free, clean;
    unsigned migrations;
};

struct othread {
    pthread_t th;
    unsigned id;
    _Atomic int hint; /* a slot whose block was just migrated: free it right away (-1: none) */
    struct sowner o[SLOTS];
    uint64_t allocs, frees, busy_frees, refs, ref_again, enomem;
};

struct athread {
    pthread_t th;
    unsigned id;
    struct cma_area *area;
    cma_pfn_t base, end;
    uint64_t ok, busy, nospc, nomem, released;
};

static struct {
    struct cma_mm *mm;
    _Atomic int stop;
    _Atomic int failed;
    _Atomic uint64_t n_isolate, n_refused, n_migrate, n_putback, n_discard, n_checks;
    uint64_t deadline_ns;
} G;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Thread-safe failure reporting (the harness counter is not atomic). */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
#define TFAIL(...)                                                                                 \
    do {                                                                                           \
        pthread_mutex_lock(&fail_mu);                                                              \
        if (atomic_fetch_add(&G.failed, 1) < 20)                                                   \
            test_fail_(__FILE__, __LINE__, __VA_ARGS__);                                           \
        pthread_mutex_unlock(&fail_mu);                                                            \
    } while (0)

/* ---- contents (sampled: every 61st word of every page, plus the first and last) ------------------ */

static uint64_t word_of(uint64_t tag, uint64_t page, uint64_t i)
{
    uint64_t x = tag ^ (page << 20) ^ i;
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29);
}

static void fill(cma_pfn_t pfn, uint64_t pages, uint64_t tag)
{
    size_t words = (size_t)(cma_mm_page_size(G.mm) / 8);
    for (uint64_t p = 0; p < pages; p++) {
        uint64_t *w = cma_pfn_to_virt(G.mm, pfn + p);
        for (size_t i = 0; i < words; i += 61)
            w[i] = word_of(tag, p, i);
        w[words - 1] = word_of(tag, p, words - 1);
    }
}

static bool intact(cma_pfn_t pfn, uint64_t pages, uint64_t tag)
{
    size_t words = (size_t)(cma_mm_page_size(G.mm) / 8);
    for (uint64_t p = 0; p < pages; p++) {
        const uint64_t *w = cma_pfn_to_virt(G.mm, pfn + p);
        for (size_t i = 0; i < words; i += 61)
            if (w[i] != word_of(tag, p, i))
                return false;
        if (w[words - 1] != word_of(tag, p, words - 1))
            return false;
    }
    return true;
}

/* ---- movable ops ---------------------------------------------------------------------------------- */

static int s_isolate(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct sowner *o = owner;
    int r = 0;
    atomic_fetch_add(&G.n_isolate, 1);
    pthread_mutex_lock(&o->mu);
    if (o->state != S_LIVE || o->pfn != pfn || o->order != order || o->isolated)
        TFAIL("isolate(%#" PRIx64 ", %u): owner state %d pfn %#" PRIx64 " order %u isolated %d", pfn,
              order, o->state, o->pfn, o->order, o->isolated);
    if (o->want_free) {
        r = -CMA_EAGAIN; /* the owner is about to free it */
        atomic_fetch_add(&G.n_refused, 1);
    } else {
        o->isolated = true;
    }
    pthread_mutex_unlock(&o->mu);
    return r;
}

static int s_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct sowner *o = owner;
    atomic_fetch_add(&G.n_migrate, 1);
    pthread_mutex_lock(&o->mu);
    if (o->state != S_LIVE || o->pfn != from || o->order != order || !o->isolated)
        TFAIL("migrate(%#" PRIx64 " -> %#" PRIx64 ", %u): owner state %d pfn %#" PRIx64 " isolated %d",
              from, to, order, o->state, o->pfn, o->isolated);
    if (!intact(to, 1ull << order, o->tag))
        TFAIL("migrate(%#" PRIx64 " -> %#" PRIx64 "): contents not copied", from, to);
    int t = cma_pageblock_type(G.mm, to);
    if (t == CMA_MIGRATE_CMA || t == CMA_MIGRATE_ISOLATE || (to & ((1ull << order) - 1)))
        TFAIL("migrate target %#" PRIx64 " in a pageblock of type %d", to, t);
    if (o->want_free) { /* the owner wants it back: abandon, libcma calls putback */
        atomic_fetch_add(&G.n_refused, 1);
        pthread_mutex_unlock(&o->mu);
        return -CMA_EAGAIN;
    }
    o->pfn = to;
    o->isolated = false;
    o->migrations++;
    atomic_store(&o->t->hint, (int)o->slot); /* the owner frees the new block as soon as it can */
    pthread_mutex_unlock(&o->mu);
    return 0;
}

static void s_putback(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct sowner *o = owner;
    (void)order;
    atomic_fetch_add(&G.n_putback, 1);
    pthread_mutex_lock(&o->mu);
    if (o->pfn != pfn || !o->isolated)
        TFAIL("putback(%#" PRIx64 "): owner pfn %#" PRIx64 " isolated %d", pfn, o->pfn, o->isolated);
    o->isolated = false;
    pthread_mutex_unlock(&o->mu);
}

static int s_discard(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct sowner *o = owner;
    (void)order;
    atomic_fetch_add(&G.n_discard, 1);
    pthread_mutex_lock(&o->mu);
    if (o->pfn != pfn || !o->isolated || !o->clean)
        TFAIL("discard(%#" PRIx64 "): owner pfn %#" PRIx64 " isolated %d clean %d", pfn, o->pfn,
              o->isolated, o->clean);
    o->state = S_GONE; /* forgotten: libcma takes the block back */
    o->pfn = CMA_PFN_NONE;
    o->isolated = false;
    pthread_mutex_unlock(&o->mu);
    return 0;
}

static const struct cma_movable_ops s_ops = {s_isolate, s_migrate, s_putback, s_discard};
static const struct cma_movable_ops s_ops_nodiscard = {s_isolate, s_migrate, s_putback, NULL};

/* ---- owner threads --------------------------------------------------------------------------------- */

/* Frees the owner's block if it can; returns true when the slot is free afterwards. Holds o->mu. */
static bool try_free_locked(struct othread *t, struct sowner *o)
{
    if (o->state == S_GONE) {
        o->state = S_FREE;
        return true;
    }
    if (o->state != S_LIVE)
        return true;
    if (o->isolated) { /* being migrated: ask isolate to refuse next time, come back later */
        o->want_free = true;
        return false;
    }
    if (!intact(o->pfn, 1ull << o->order, o->tag))
        TFAIL("owner thread %u: block %#" PRIx64 " (order %u) lost its contents", t->id, o->pfn, o->order);
    int r = cma_free_pages(G.mm, o->pfn, o->order);
    if (r == -CMA_EBUSY) { /* marked for migration, isolate is waiting for our mutex */
        o->want_free = true;
        t->busy_frees++;
        return false;
    }
    if (r)
        TFAIL("owner thread %u: cma_free_pages(%#" PRIx64 ", %u): %s", t->id, o->pfn, o->order,
              cma_err_name(r));
    o->state = S_FREE;
    o->pfn = CMA_PFN_NONE;
    o->want_free = false;
    t->frees++;
    return true;
}

static void *owner_main(void *arg)
{
    struct othread *t = arg;
    struct test_rng rng;
    const uint64_t ops = test_env_u64("CMA_TEST_OPS", 300000);
    test_rng_init(&rng, test_seed_value ^ (0x1000 + t->id));
    for (uint64_t op = 0; op < ops && !atomic_load(&G.stop); op++) {
        if ((op & 255) == 0 && now_ns() > G.deadline_ns)
            break;
        struct sowner *o = &t->o[test_rng_below(&rng, SLOTS)];
        unsigned what = (unsigned)test_rng_below(&rng, 100);
        int h = atomic_exchange(&t->hint, -1);
        if (h >= 0) { /* free a block that was just moved, racing libcma finishing the move */
            o = &t->o[h];
            what = 70;
        }
        pthread_mutex_lock(&o->mu);
        if (o->state == S_FREE && what < 60) {
            unsigned order = (unsigned)test_rng_below(&rng, 3);
            cma_pfn_t pfn;
            int r = cma_alloc_pages(G.mm, order, CMA_GFP_MOVABLE, &pfn);
            if (r == 0) {
                o->pfn = pfn;
                o->order = order;
                o->tag = test_rng_next(&rng);
                o->isolated = o->want_free = false;
                o->clean = test_rng_below(&rng, 8) == 0;
                o->state = S_LIVE;
                fill(pfn, 1ull << order, o->tag);
                /* registered only now: callbacks find a consistent owner */
                r = cma_page_set_movable(G.mm, pfn, o->clean ? &s_ops : &s_ops_nodiscard, o);
                if (!r && o->clean)
                    r = cma_page_set_clean(G.mm, pfn, true);
                if (r)
                    TFAIL("owner thread %u: registering %#" PRIx64 ": %s", t->id, pfn, cma_err_name(r));
                t->allocs++;
            } else if (r == -CMA_ENOMEM) {
                t->enomem++;
            } else {
                TFAIL("owner thread %u: cma_alloc_pages: %s", t->id, cma_err_name(r));
            }
        } else if (o->state != S_FREE && (what < 85 || o->want_free || o->state == S_GONE)) {
            (void)try_free_locked(t, o);
        } else if (o->state == S_LIVE && !o->isolated) {
            int r = cma_page_get(G.mm, o->pfn + (1ull << o->order) - 1);
            if (r == 0) {
                t->refs++;
                if (!intact(o->pfn, 1ull << o->order, o->tag))
                    TFAIL("owner thread %u: referenced block %#" PRIx64 " changed", t->id, o->pfn);
                r = cma_page_put(G.mm, o->pfn);
                if (r)
                    TFAIL("owner thread %u: cma_page_put: %s", t->id, cma_err_name(r));
            } else if (r == -CMA_EAGAIN) {
                t->ref_again++; /* being migrated right now */
            } else {
                TFAIL("owner thread %u: cma_page_get(%#" PRIx64 "): %s", t->id, o->pfn, cma_err_name(r));
            }
        }
        pthread_mutex_unlock(&o->mu);
    }
    return NULL;
}

/* ---- area threads ---------------------------------------------------------------------------------- */

struct crange {
    cma_pfn_t pfn;
    uint64_t count, tag;
};

static void *area_main(void *arg)
{
    struct athread *a = arg;
    struct test_rng rng;
    struct crange live[16];
    size_t n = 0;
    test_rng_init(&rng, test_seed_value ^ (0x2000 + a->id));
    while (!atomic_load(&G.stop)) {
        if (n < 16 && (n == 0 || test_rng_below(&rng, 100) < 60)) {
            uint64_t count = 1 + test_rng_below(&rng, test_rng_below(&rng, 4) ? 64 : 512);
            unsigned align = (unsigned)test_rng_below(&rng, 5);
            cma_pfn_t pfn;
            int r = cma_alloc(a->area, count, align, &pfn);
            if (r == 0) {
                if (pfn < a->base || pfn + count > a->end || (pfn & ((1ull << align) - 1)))
                    TFAIL("area thread %u: cma_alloc(%" PRIu64 ", %u) = %#" PRIx64, a->id, count, align, pfn);
                for (size_t k = 0; k < n; k++)
                    if (pfn < live[k].pfn + live[k].count && pfn + count > live[k].pfn)
                        TFAIL("area thread %u: %#" PRIx64 "+%" PRIu64 " overlaps a live range", a->id,
                              pfn, count);
                uint64_t tag = test_rng_next(&rng);
                fill(pfn, count, tag);
                live[n++] = (struct crange){pfn, count, tag};
                a->ok++;
            } else if (r == -CMA_EBUSY) {
                a->busy++;
            } else if (r == -CMA_ENOSPC) {
                a->nospc++;
            } else if (r == -CMA_ENOMEM) {
                a->nomem++;
            } else {
                TFAIL("area thread %u: cma_alloc: %s", a->id, cma_err_name(r));
            }
        } else {
            size_t k = (size_t)test_rng_below(&rng, n);
            if (!intact(live[k].pfn, live[k].count, live[k].tag))
                TFAIL("area thread %u: range %#" PRIx64 "+%" PRIu64 " was written by someone else",
                      a->id, live[k].pfn, live[k].count);
            int r = cma_release(a->area, live[k].pfn, live[k].count);
            if (r)
                TFAIL("area thread %u: cma_release: %s", a->id, cma_err_name(r));
            live[k] = live[--n];
            a->released++;
        }
    }
    while (n) {
        n--;
        if (!intact(live[n].pfn, live[n].count, live[n].tag))
            TFAIL("area thread %u: range %#" PRIx64 " was written by someone else", a->id, live[n].pfn);
        int r = cma_release(a->area, live[n].pfn, live[n].count);
        if (r)
            TFAIL("area thread %u: final cma_release: %s", a->id, cma_err_name(r));
        a->released++;
    }
    return NULL;
}

/* ---- checker thread -------------------------------------------------------------------------------- */

static void *checker_main(void *arg)
{
    (void)arg;
    char why[256];
    while (!atomic_load(&G.stop)) {
        if (cma_mm_check(G.mm, why, sizeof why))
            TFAIL("invariant checker under load: %s", why);
        atomic_fetch_add(&G.n_checks, 1);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- the test --------------------------------------------------------------------------------------- */

static void threads(void)
{
    struct cma_mm_config cfg;
    struct cma_area *areas[2];
    cma_mm_config_default(&cfg);
    cfg.backing = CMA_BACKING_HOST;
    cfg.nr_cpus = 4;
    cfg.cma_first_percent = 0; /* movable pages go to the areas first: the area threads must move them */
    ASSERT_OK(cma_mm_create(&cfg, &G.mm));
    ASSERT_OK(cma_memblock_add(G.mm, 0, 64 * MiB));
    ASSERT_OK(cma_declare_contiguous(G.mm, "left", 8 * MiB, 16 * MiB, 0, 0, 0, &areas[0]));
    ASSERT_OK(cma_declare_contiguous(G.mm, "right", 8 * MiB, 40 * MiB, 0, 0, 0, &areas[1]));
    ASSERT_OK(cma_mm_online(G.mm));
    G.deadline_ns = now_ns() + test_env_u64("CMA_TEST_SECONDS", 20) * 1000000000ull;

    static struct othread ot[N_OWNER_THREADS];
    static struct athread at[N_AREA_THREADS];
    pthread_t checker;
    memset(ot, 0, sizeof ot);
    memset(at, 0, sizeof at);
    for (unsigned i = 0; i < N_OWNER_THREADS; i++) {
        ot[i].id = i;
        atomic_init(&ot[i].hint, -1);
        for (unsigned k = 0; k < SLOTS; k++) {
            pthread_mutex_init(&ot[i].o[k].mu, NULL);
            ot[i].o[k].pfn = CMA_PFN_NONE;
            ot[i].o[k].t = &ot[i];
            ot[i].o[k].slot = k;
        }
    }
    for (unsigned i = 0; i < N_AREA_THREADS; i++) {
        struct cma_area_stats st;
        ASSERT_OK(cma_area_get_stats(areas[i], &st));
        at[i] = (struct athread){.id = i, .area = areas[i], .base = st.base_pfn,
                                 .end = st.base_pfn + st.count};
    }
    for (unsigned i = 0; i < N_OWNER_THREADS; i++)
        ASSERT_TRUE(pthread_create(&ot[i].th, NULL, owner_main, &ot[i]) == 0);
    for (unsigned i = 0; i < N_AREA_THREADS; i++)
        ASSERT_TRUE(pthread_create(&at[i].th, NULL, area_main, &at[i]) == 0);
    ASSERT_TRUE(pthread_create(&checker, NULL, checker_main, NULL) == 0);

    for (unsigned i = 0; i < N_OWNER_THREADS; i++)
        pthread_join(ot[i].th, NULL);
    atomic_store(&G.stop, 1);
    for (unsigned i = 0; i < N_AREA_THREADS; i++)
        pthread_join(at[i].th, NULL);
    pthread_join(checker, NULL);

    /* quiescent: every owner holds exactly its block, then everything goes back */
    EXPECT_CHECK(G.mm);
    struct cma_mm_stats st;
    uint64_t owned = 0, migrated = 0, live = 0;
    for (unsigned i = 0; i < N_OWNER_THREADS; i++)
        for (unsigned k = 0; k < SLOTS; k++) {
            struct sowner *o = &ot[i].o[k];
            EXPECT_FALSE(o->isolated);
            migrated += o->migrations;
            if (o->state == S_LIVE) {
                owned += 1ull << o->order;
                live++;
            }
        }
    EXPECT_OK(cma_mm_get_stats(G.mm, &st));
    EXPECT_UEQ(st.nr_allocated, owned);
    for (unsigned i = 0; i < N_OWNER_THREADS; i++)
        for (unsigned k = 0; k < SLOTS; k++) {
            struct sowner *o = &ot[i].o[k];
            pthread_mutex_lock(&o->mu);
            if (o->state != S_FREE && !try_free_locked(&ot[i], o))
                TFAIL("owner %u/%u: still busy after all threads stopped", i, k);
            pthread_mutex_unlock(&o->mu);
            pthread_mutex_destroy(&o->mu);
        }
    EXPECT_OK(cma_drain_cpu_caches(G.mm));
    EXPECT_OK(cma_mm_get_stats(G.mm, &st));
    EXPECT_UEQ(st.nr_free_total, st.nr_managed);
    EXPECT_UEQ(st.nr_allocated, 0);
    for (unsigned i = 0; i < N_AREA_THREADS; i++) {
        struct cma_area_stats as;
        EXPECT_OK(cma_area_get_stats(areas[i], &as));
        EXPECT_UEQ(as.available, as.count);
        EXPECT_GT(at[i].ok, 0);
    }
    uint64_t allocs = 0, frees = 0, busy_frees = 0, refs = 0, again = 0;
    for (unsigned i = 0; i < N_OWNER_THREADS; i++) {
        allocs += ot[i].allocs;
        frees += ot[i].frees;
        busy_frees += ot[i].busy_frees;
        refs += ot[i].refs;
        again += ot[i].ref_again;
    }
    EXPECT_GT(migrated, 0);
    if (test_verbose) {
        printf("  owners: %" PRIu64 " allocs, %" PRIu64 " frees (%" PRIu64 " -EBUSY retried), %" PRIu64
               " refs (%" PRIu64 " -EAGAIN), %" PRIu64 " live at the end\n", allocs, frees, busy_frees,
               refs, again, live);
        for (unsigned i = 0; i < N_AREA_THREADS; i++)
            printf("  area %u: %" PRIu64 " ok, %" PRIu64 " busy, %" PRIu64 " nospc, %" PRIu64
                   " nomem, %" PRIu64 " released\n", i, at[i].ok, at[i].busy, at[i].nospc, at[i].nomem,
                   at[i].released);
        printf("  callbacks: %" PRIu64 " isolate, %" PRIu64 " refused, %" PRIu64 " migrate, %" PRIu64
               " putback, %" PRIu64 " discard; %" PRIu64 " concurrent checks\n",
               (uint64_t)G.n_isolate, (uint64_t)G.n_refused, (uint64_t)G.n_migrate,
               (uint64_t)G.n_putback, (uint64_t)G.n_discard, (uint64_t)G.n_checks);
    }
    test_mm_finish(G.mm);
    G.mm = NULL;
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(threads));
}
