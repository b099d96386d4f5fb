/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_threads.c - the buddy allocator and its per-CPU caches under real concurrency,
 * through the public API only.
 *
 * One machine (4 KiB pages, 4 CPUs, two ranges with a hole and a reservation, 64 MiB), four worker
 * threads doing a seeded random mix of cma_alloc_pages / cma_free_pages (orders mostly 0..3, some up
 * to max_order, the three mobility types), and a fifth thread that keeps draining every CPU cache,
 * snapshotting the counters (which must be self-consistent at every instant) and running the
 * invariant checker and a dump while the workers run.
 *
 * Ownership is checked globally: one atomic bit per pfn, set with fetch_or when a block is handed
 * out (any bit already set = two owners) and cleared with fetch_and just before it is freed. The
 * backed variant also writes the pfn into the first 8 bytes of every page of a block on allocation
 * and checks them before the free, so two owners also corrupt each other's pages (and TSan sees the
 * race).
 *
 *   threads_private  every worker frees only its own blocks
 *   threads_handoff  workers pass blocks to each other through a small mutex-protected queue and
 *                    free what they receive, so frees land in other CPUs' caches
 *   threads_backed   handoff in backed mode with the pfn stamps
 *   threads_local    backed handoff in local mode (base.h: cpu_id_ex + cpu_barrier): worker i runs
 *                    CPU-exclusive on CPU i and uses its cache without the cache lock; the monitor
 *                    and the main thread are not exclusive, so they reach the caches only from
 *                    outside (drains, snapshots, the checker, a dump), through the owners' handshake.
 *                    The barrier is Linux's membarrier (skipped where the kernel lacks it).
 *
 * At the end every block is freed, the caches drained, and the machine must be exactly as after
 * online (nr_free_total == nr_managed, fully merged buddyinfo, checker green).
 *
 * Knobs: CMA_TEST_SEED, CMA_TEST_THREAD_OPS (per worker; default 250,000), CMA_TEST_SCALE (divides
 * that default: 1 = as is, .ci/run's value; TSan builds divide it by 5 more). The thread interleaving is not reproducible; each
 * worker's choices are, from the seed.
 */
#include "test.h"

#include "../api/buddy_util.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define KiB BU_KiB
#define MiB BU_MiB

/* TSan runs these ~10x slower: a fifth of the ops there by default (ASan keeps them all). */
#if defined(__SANITIZE_THREAD__)
#define THREADS_BUILD_DIVISOR 5
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define THREADS_BUILD_DIVISOR 5
#endif
#endif
#ifndef THREADS_BUILD_DIVISOR
#define THREADS_BUILD_DIVISOR 1
#endif

#define NR_WORKERS 4
#define NR_CPUS 4
#define QCAP 64

struct blk {
    cma_pfn_t pfn;
    unsigned order;
};

struct shared {
    struct cma_mm *mm;
    bool backed, handoff, local;
    size_t page_size;
    unsigned max_order;
    uint64_t ops;
    _Atomic uint64_t *owner; /* one bit per pfn */
    uint64_t nbits;
    atomic_int running;      /* workers still in their loop */
    atomic_bool failed;      /* first failure stops everyone */
    pthread_mutex_t qlock;
    struct blk q[QCAP];
    size_t qhead, qn;
    pthread_mutex_t elock; /* first error message */
    char err[512];
    int nerr;
};

struct worker {
    struct shared *sh;
    unsigned id;
    struct test_rng rng;
    struct blk *live;
    size_t nlive, cap;
    uint64_t nalloc, nfree, nenomem, given, taken, alloc_pages, free_pages;
};

/* Thread-safe failure: keeps the first message, counts the rest, stops every thread. */
__attribute__((format(printf, 2, 3))) static void tfail(struct shared *sh, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&sh->elock);
    if (sh->nerr++ == 0) {
        va_start(ap, fmt);
        vsnprintf(sh->err, sizeof sh->err, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sh->elock);
    atomic_store(&sh->failed, true);
}

/* ---- ownership -------------------------------------------------------------------------------- */

/* Sets (claim) or clears the owner bits of a block; any bit in the wrong state is a failure. */
static void own(struct shared *sh, unsigned who, cma_pfn_t pfn, unsigned order, bool claim)
{
    uint64_t n = 1ull << order;
    if (pfn + n > sh->nbits) {
        tfail(sh, "worker %u: order-%u block at pfn %#" PRIx64 " is beyond memory", who, order, pfn);
        return;
    }
    for (uint64_t p = pfn; p < pfn + n;) {
        unsigned bit = (unsigned)(p % 64);
        uint64_t cnt = n - (p - pfn) < 64 - bit ? n - (p - pfn) : 64 - bit;
        uint64_t mask = (cnt == 64 ? ~0ull : ((1ull << cnt) - 1)) << bit;
        uint64_t old = claim ? atomic_fetch_or(&sh->owner[p / 64], mask)
                             : atomic_fetch_and(&sh->owner[p / 64], ~mask);
        if (claim && (old & mask))
            tfail(sh, "worker %u: order-%u block at pfn %#" PRIx64 " overlaps pages already owned "
                  "(word %#" PRIx64 " mask %#" PRIx64 ")", who, order, pfn, old, mask);
        if (!claim && (old & mask) != mask)
            tfail(sh, "worker %u: freeing order-%u block at pfn %#" PRIx64 " that is not fully owned",
                  who, order, pfn);
        p += cnt;
    }
}

/* Backed mode: stamp / verify the pfn in the first 8 bytes of every page. */
static void stamp(struct shared *sh, unsigned who, cma_pfn_t pfn, unsigned order, bool check)
{
    if (!sh->backed)
        return;
    for (uint64_t i = 0; i < (1ull << order); i++) {
        unsigned char *v = cma_pfn_to_virt(sh->mm, pfn + i);
        if (!v) {
            tfail(sh, "worker %u: no contents for pfn %#" PRIx64, who, pfn + i);
            return;
        }
        uint64_t want = pfn + i, have;
        if (check) {
            memcpy(&have, v, sizeof have);
            if (have != want) {
                tfail(sh, "worker %u: page %#" PRIx64 " of the order-%u block at %#" PRIx64
                      " holds stamp %#" PRIx64 ": someone else wrote it", who, pfn + i, order, pfn, have);
                return;
            }
        } else {
            memcpy(v, &want, sizeof want);
        }
    }
}

/* ---- the handoff queue ------------------------------------------------------------------------ */

static bool q_push(struct shared *sh, struct blk b)
{
    bool ok = false;
    pthread_mutex_lock(&sh->qlock);
    if (sh->qn < QCAP) {
        sh->q[(sh->qhead + sh->qn++) % QCAP] = b;
        ok = true;
    }
    pthread_mutex_unlock(&sh->qlock);
    return ok;
}

static bool q_pop(struct shared *sh, struct blk *b)
{
    bool ok = false;
    pthread_mutex_lock(&sh->qlock);
    if (sh->qn) {
        *b = sh->q[sh->qhead];
        sh->qhead = (sh->qhead + 1) % QCAP;
        sh->qn--;
        ok = true;
    }
    pthread_mutex_unlock(&sh->qlock);
    return ok;
}

/* ---- local mode ----------------------------------------------------------------------------------- */

static _Thread_local int local_cpu = -1; /* this thread's CPU, when it runs CPU-exclusive */

static unsigned local_cpu_id(void *ctx, bool *exclusive)
{
    (void)ctx;
    *exclusive = local_cpu >= 0;
    return local_cpu >= 0 ? (unsigned)local_cpu : 0;
}

static void local_barrier(void *ctx)
{
    (void)ctx;
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        abort();
}

static const struct cma_host local_host = {.cpu_id_ex = local_cpu_id, .cpu_barrier = local_barrier};

/* ---- workers ------------------------------------------------------------------------------------ */

static unsigned pick_order(struct worker *w)
{
    uint64_t r = test_rng_below(&w->rng, 100);
    unsigned mo = w->sh->max_order;
    if (r < 40)
        return 0;
    if (r < 60)
        return 1;
    if (r < 75)
        return 2;
    if (r < 92)
        return 3;
    return mo <= 4 ? mo : 4 + (unsigned)test_rng_below(&w->rng, mo - 3);
}

static void w_alloc(struct worker *w)
{
    static const unsigned kinds[3] = {CMA_GFP_UNMOVABLE, CMA_GFP_MOVABLE, CMA_GFP_RECLAIMABLE};
    struct shared *sh = w->sh;
    unsigned order = pick_order(w);
    unsigned gfp = kinds[test_rng_below(&w->rng, 3)];
    cma_pfn_t pfn;
    int r = cma_alloc_pages(sh->mm, order, gfp, &pfn);
    if (r == -CMA_ENOMEM) {
        w->nenomem++;
        return;
    }
    if (r) {
        tfail(sh, "worker %u: cma_alloc_pages(order %u, gfp %#x): %s", w->id, order, gfp,
              cma_err_name(r));
        return;
    }
    if (pfn & ((1ull << order) - 1)) {
        tfail(sh, "worker %u: order-%u block at unaligned pfn %#" PRIx64, w->id, order, pfn);
        return;
    }
    own(sh, w->id, pfn, order, true);
    stamp(sh, w->id, pfn, order, false);
    if (w->nlive == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->live = realloc(w->live, w->cap * sizeof *w->live);
        if (!w->live)
            abort();
    }
    w->live[w->nlive++] = (struct blk){pfn, order};
    w->nalloc++;
    w->alloc_pages += 1ull << order;
}

/* Frees a block this worker holds (its own or one it was handed). */
static void w_free_block(struct worker *w, struct blk b)
{
    struct shared *sh = w->sh;
    stamp(sh, w->id, b.pfn, b.order, true);
    own(sh, w->id, b.pfn, b.order, false); /* before the free: afterwards it may be someone's */
    int r = cma_free_pages(sh->mm, b.pfn, b.order);
    if (r) {
        tfail(sh, "worker %u: cma_free_pages(pfn %#" PRIx64 ", order %u): %s", w->id, b.pfn, b.order,
              cma_err_name(r));
        return;
    }
    w->nfree++;
    w->free_pages += 1ull << b.order;
}

static struct blk w_take(struct worker *w, size_t j)
{
    struct blk b = w->live[j];
    w->live[j] = w->live[--w->nlive];
    return b;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    if (sh->local)
        local_cpu = (int)w->id; /* one worker per CPU: exclusive */
    static const unsigned pct_table[] = {35, 45, 50, 55, 65};
    unsigned pct = 55;
    for (uint64_t i = 0; i < sh->ops && !atomic_load_explicit(&sh->failed, memory_order_relaxed); i++) {
        if (i % 20000 == 0)
            pct = pct_table[test_rng_below(&w->rng, sizeof pct_table / sizeof pct_table[0])];
        uint64_t r = test_rng_below(&w->rng, 100);
        struct blk b;
        if (sh->handoff && r < 8) {
            if (q_pop(sh, &b)) {
                w_free_block(w, b); /* a block another worker allocated */
                w->taken++;
            }
        } else if (sh->handoff && r < 16 && w->nlive) {
            size_t j = (size_t)test_rng_below(&w->rng, w->nlive);
            if (q_push(sh, w->live[j])) {
                (void)w_take(w, j);
                w->given++;
            }
        } else if (w->nlive == 0 || test_rng_below(&w->rng, 100) < pct) {
            w_alloc(w);
        } else {
            w_free_block(w, w_take(w, (size_t)test_rng_below(&w->rng, w->nlive)));
        }
    }
    /* free everything this worker holds, then whatever is queued */
    while (w->nlive && !atomic_load(&sh->failed))
        w_free_block(w, w_take(w, w->nlive - 1));
    struct blk b;
    while (!atomic_load(&sh->failed) && q_pop(sh, &b)) {
        w_free_block(w, b);
        w->taken++;
    }
    atomic_fetch_sub(&sh->running, 1);
    return NULL;
}

/* The fifth thread: drains, snapshots, checks and dumps while the workers run. */
struct monitor {
    struct shared *sh;
    uint64_t rounds, checks;
};

static void *monitor_main(void *arg)
{
    struct monitor *m = arg;
    struct shared *sh = m->sh;
    struct timespec pause = {0, 200 * 1000};
    char why[256], buf[512];
    while (atomic_load(&sh->running) > 0 && !atomic_load(&sh->failed)) {
        struct cma_mm_stats st;
        int r;
        if ((r = cma_drain_cpu_caches(sh->mm)) ||
            (r = cma_drain_cpu_cache(sh->mm, (unsigned)(m->rounds % NR_CPUS)))) {
            tfail(sh, "monitor: drain: %s", cma_err_name(r));
            break;
        }
        if ((r = cma_mm_get_stats(sh->mm, &st))) {
            tfail(sh, "monitor: cma_mm_get_stats: %s", cma_err_name(r));
            break;
        }
        uint64_t sum = 0;
        for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
            sum += st.nr_free[t];
        if (sum != st.nr_free_total || st.nr_free_total > st.nr_managed ||
            st.nr_free_pcp > st.nr_free_total ||
            st.pgalloc_pages - st.pgfree_pages != st.nr_allocated || st.bad_frees != 0)
            tfail(sh, "monitor: inconsistent snapshot: free %" PRIu64 " (by type %" PRIu64 ", pcp %"
                  PRIu64 ") managed %" PRIu64 " allocated %" PRIu64 " pgalloc_pages %" PRIu64
                  " pgfree_pages %" PRIu64 " bad_frees %" PRIu64, st.nr_free_total, sum,
                  st.nr_free_pcp, st.nr_managed, st.nr_allocated, st.pgalloc_pages, st.pgfree_pages,
                  st.bad_frees);
        if (m->rounds % 8 == 0) {
            if (cma_mm_check(sh->mm, why, sizeof why))
                tfail(sh, "monitor: invariant checker while running: %s", why);
            m->checks++;
            if (cma_mm_dump(sh->mm, CMA_DUMP_BUDDYINFO, buf, sizeof buf) <= 0)
                tfail(sh, "monitor: buddyinfo dump failed");
        }
        m->rounds++;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* ---- the driver --------------------------------------------------------------------------------- */

static uint64_t thread_ops(void)
{
    uint64_t v = test_env_u64("CMA_TEST_THREAD_OPS", 0);
    if (v)
        return v;
    uint64_t scale = test_env_u64("CMA_TEST_SCALE", 1); /* a divisor; .ci/run exports 1 */
    v = 250000 / (scale ? scale : 1) / THREADS_BUILD_DIVISOR;
    return v ? v : 1;
}

static void run_threads(bool backed, bool handoff, bool local, uint64_t seed_salt)
{
    struct cma_mm_config cfg;
    struct shared sh;
    struct worker w[NR_WORKERS];
    struct monitor mon = {&sh, 0, 0};
    pthread_t tid[NR_WORKERS], mtid;
    struct bu_layout l;
    struct cma_mm_stats st;
    int r;

    memset(&sh, 0, sizeof sh);
    memset(w, 0, sizeof w);
    cma_mm_config_default(&cfg);
    cfg.nr_cpus = NR_CPUS;
    cfg.backing = backed ? CMA_BACKING_HOST : CMA_BACKING_NONE;
    if (local) {
        if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0)
            test_skip("local mode needs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)");
        cfg.host = &local_host;
    }
    r = cma_mm_create(&cfg, &sh.mm);
    ASSERT_OK(r);
    if ((r = cma_memblock_add(sh.mm, 8 * MiB, 32 * MiB)) ||
        (r = cma_memblock_add(sh.mm, 48 * MiB + 4 * KiB, 32 * MiB)) ||
        (r = cma_memblock_reserve(sh.mm, 30 * MiB + 100, 70 * KiB)) || (r = cma_mm_online(sh.mm))) {
        test_fail_(__FILE__, __LINE__, "machine setup: %s", cma_err_name(r));
        (void)cma_mm_destroy(sh.mm);
        return;
    }
    if (bu_layout_read(sh.mm, &l)) {
        (void)cma_mm_destroy(sh.mm);
        return;
    }
    sh.backed = backed;
    sh.handoff = handoff;
    sh.local = local;
    sh.page_size = (size_t)cma_mm_page_size(sh.mm);
    sh.max_order = cma_mm_max_order(sh.mm);
    sh.ops = thread_ops();
    sh.nbits = (bu_pfn_limit(&l) + 63) / 64 * 64;
    sh.owner = calloc(sh.nbits / 64, sizeof *sh.owner);
    if (!sh.owner) {
        (void)cma_mm_destroy(sh.mm);
        return;
    }
    pthread_mutex_init(&sh.qlock, NULL);
    pthread_mutex_init(&sh.elock, NULL);
    atomic_store(&sh.running, NR_WORKERS);

    for (unsigned i = 0; i < NR_WORKERS; i++) {
        w[i].sh = &sh;
        w[i].id = i;
        test_rng_init(&w[i].rng, test_seed_value * 0x9e3779b97f4a7c15ull + seed_salt * 16 + i);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool mon_started = pthread_create(&mtid, NULL, monitor_main, &mon) == 0;
    EXPECT_TRUE(mon_started);
    unsigned started = 0;
    for (; started < NR_WORKERS; started++)
        if (pthread_create(&tid[started], NULL, worker_main, &w[started]) != 0)
            break;
    if (started < NR_WORKERS) {
        test_fail_(__FILE__, __LINE__, "pthread_create failed after %u workers", started);
        atomic_fetch_sub(&sh.running, (int)(NR_WORKERS - started));
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    if (mon_started)
        pthread_join(mtid, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    /* leftovers (blocks queued by a late worker, or everything after a failure): this thread frees
     * them, through the same ownership and stamp checks */
    struct worker wm = {.sh = &sh, .id = NR_WORKERS};
    struct blk b;
    bool failed_in_threads = sh.nerr != 0;
    while (q_pop(&sh, &b)) {
        w_free_block(&wm, b);
        wm.taken++;
    }
    for (unsigned i = 0; i < NR_WORKERS; i++)
        while (w[i].nlive)
            w_free_block(&wm, w_take(&w[i], w[i].nlive - 1));
    if (sh.nerr)
        test_fail_(__FILE__, __LINE__, "%d failure(s) in threads; first: %s", sh.nerr, sh.err);

    /* the counters agree with what the workers did */
    uint64_t nalloc = 0, nfree = 0, nenomem = 0, apages = 0, fpages = 0, given = 0, taken = 0;
    w[0].nfree += wm.nfree;
    w[0].free_pages += wm.free_pages;
    w[0].taken += wm.taken;
    for (unsigned i = 0; i < NR_WORKERS; i++) {
        nalloc += w[i].nalloc;
        nfree += w[i].nfree;
        nenomem += w[i].nenomem;
        apages += w[i].alloc_pages;
        fpages += w[i].free_pages;
        given += w[i].given;
        taken += w[i].taken;
    }
    if (!failed_in_threads && bu_stats(sh.mm, &st) == 0) {
        EXPECT_UEQ(nalloc, nfree);
        EXPECT_UEQ(apages, fpages);
        EXPECT_UEQ(given, taken);
        EXPECT_UEQ(st.pgalloc, nalloc);
        EXPECT_UEQ(st.pgfree, nfree);
        EXPECT_UEQ(st.pgalloc_pages, apages);
        EXPECT_UEQ(st.pgfree_pages, fpages);
        EXPECT_UEQ(st.alloc_fail, nenomem);
        EXPECT_UEQ(st.bad_frees, 0);
        if (handoff)
            EXPECT_GT(taken, 0);
        if (local)
            EXPECT_GT(st.pcp_refills, 0); /* the owners used their caches */
    }
    bu_expect_all_free(sh.mm);
    if (test_verbose)
        printf("  %s%s: %u workers x %" PRIu64 " ops in %.2f s: %" PRIu64 " allocs (%" PRIu64
               " pages), %" PRIu64 " -ENOMEM, %" PRIu64 " handed over; monitor %" PRIu64
               " rounds, %" PRIu64 " concurrent checks; %" PRIu64 " freed by the main thread\n", backed ? "backed" : "metadata-only",
               handoff ? " + handoff" : "", NR_WORKERS, sh.ops,
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9, nalloc,
               apages, nenomem, taken, mon.rounds, mon.checks, wm.nfree);
    for (unsigned i = 0; i < NR_WORKERS; i++)
        free(w[i].live);
    free(sh.owner);
    pthread_mutex_destroy(&sh.qlock);
    pthread_mutex_destroy(&sh.elock);
    test_mm_finish(sh.mm);
}

static void test_threads_private(void) { run_threads(false, false, false, 1); }
static void test_threads_handoff(void) { run_threads(false, true, false, 2); }
static void test_threads_backed(void) { run_threads(true, true, false, 3); }
static void test_threads_local(void) { run_threads(true, true, true, 4); }

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_threads_private), TEST(test_threads_handoff),
                     TEST(test_threads_backed), TEST(test_threads_local));
}
