/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_cma.c - the CMA allocation benchmark (`make bench`; never a timed test).
 *
 * What it measures: the latency of one cma_alloc(area, count, 0, &pfn) of 4 MiB, 64 MiB and 256 MiB
 * under both policies (CMA_POLICY_DEFAULT and CMA_POLICY_LINUX), with the area
 *   - 0 %, 50 % and 100 % full of movable order-0 pages (registered with cma_page_set_movable),
 *   - 100 % full of discardable pages (movable, clean, and the owner's ops have discard),
 * and a fragmented case: the area 100 % full of movable pages of which 1 % are held, at random
 * places, by a short-term reference (cma_page_get), by an owner whose isolate callback refuses
 * (-EAGAIN), or were never registered movable. There the area is twice the request and one
 * request-sized window, starting at a random (unaligned) page between a quarter and half of the
 * area, is left free of blockers, so an allocation is always possible but has to be searched for;
 * the blockers, all outside that window, are 2 % of the pages outside it.
 *
 * Each sample is a whole setup: a fresh machine (CMA_BACKING_HOST over one pre-touched buffer, so
 * migration really copies bytes through memory that is already mapped), area = request + 4 MiB
 * (fragmented: 2 x request), machine = 3 x area; every page allocated MOVABLE, the area's pages kept
 * to the wanted fraction (random, seeded: every repetition builds the same layout), everything else
 * freed, per-CPU caches drained; then one timed cma_alloc, checks (range inside the area, no owner
 * left inside it, every moved page's contents intact), cma_release, teardown. Figures are the minimum
 * over N repetitions (N = 31 / 7 / 5 for 4 / 64 / 256 MiB; fragmented 5 / 3).
 *
 * Baseline, in the same run and interleaved with the samples: memcpy of exactly the bytes that were
 * migrated (pages_migrated delta x page size) between two pre-touched buffers of that size,
 * min-of-N. The copied bytes are cold on both sides: before the timed cma_alloc the area's pages
 * are flushed from the CPU caches, and before the timed memcpy its source and destination are, so a
 * small baseline cannot run from cache while the pages it is compared with come from memory (the
 * pages a CMA allocation migrates are someone else's, not in this CPU's cache). libcma's own
 * metadata and code stay as warm as the setup left them, like memcpy's. Regions above 64 MiB (8x
 * this machine's L3) are not flushed: at most a sliver of them can be cached.
 * Targets (from the issue): alloc <= 1.5 x memcpy + 1 us per MiB requested; discardable
 * area (default policy) <= 2 x the empty-area time of the same size and policy; empty-area 256 MiB
 * under 1 ms. A miss is reported in the table and does not change the exit status; only libcma
 * misbehaving (an unexpected error, a lost page, corrupted contents, a failed check) exits 1.
 *
 * For profiling one case: `bench_cma --only SIZE_MIB[:FILL[:POLICY]] [--reps N]` runs just the
 * matching rows of the matrix (FILL 0, 50, 100 or discard; POLICY default or linux) and skips the
 * fragmented table unless --only names it (`--only frag`).
 */
#include "bench.h"

const char *bench_name = "bench_cma";

#include <cma/cma.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MiB (UINT64_C(1) << 20)
#define PAGE_BYTES UINT64_C(4096)
#define AREA_MARGIN (4 * MiB) /* one max-order block: the area alignment */
#define MACHINE_FACTOR 3      /* machine = 3 x area */
#define MAX_REQ (256 * MiB)
#define MAX_AREA (MAX_REQ + AREA_MARGIN)
#define MAX_MACHINE (MACHINE_FACTOR * MAX_AREA)
#define MAX_COPY MAX_AREA     /* largest migration: a whole 256 MiB + margin area */
#define TAG 0x6c6962636d61ull  /* "libcma", xor'ed with the owner's index */


/* ---- deterministic randomness -------------------------------------------------------------------- */

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }
static uint64_t rng_next(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static uint64_t rng_below(uint64_t n) { return rng_next() % n; }

/* ---- warm memory ---------------------------------------------------------------------------------- */

static uint8_t *g_mem;             /* backs every machine, from physical address 0 */
static uint8_t *g_cp_src, *g_cp_dst; /* the memcpy baseline's buffers */
#define EVICT_MAX (64 * MiB)

/* Flushes [p, p + n) from every CPU cache (see the header); no-op above EVICT_MAX. */
static void cache_evict(const void *p, uint64_t n)
{
    if (n > EVICT_MAX)
        return;
#if defined(__x86_64__) || defined(__i386__)
    for (uint64_t off = 0; off < n; off += 64)
        __builtin_ia32_clflush((const char *)p + off);
    __builtin_ia32_mfence();
#else
    /* no portable flush: write a buffer larger than any cache instead */
    static uint8_t *scrub;
    if (!scrub && !(scrub = malloc(EVICT_MAX)))
        fatal("out of memory for the cache scrub buffer");
    memset(scrub, (int)(n & 0xff), EVICT_MAX);
    no_opt(scrub);
#endif
}

static void *touched_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fatal("mmap of %zu MiB failed", bytes >> 20);
    memset(p, 0x5a, bytes); /* fault every page in once: first touches are very slow here */
    return p;
}

/* ---- owners ------------------------------------------------------------------------------------- */

enum blocker { BLK_NONE, BLK_REF, BLK_REFUSE, BLK_UNREG };
static const char *const blocker_name[] = {"none", "cma_page_get reference", "isolate refuses (-EAGAIN)",
                                           "never registered movable"};

/* One per page of the area, indexed by the page's offset in the area at setup time. */
struct owner {
    cma_pfn_t pfn;   /* where the owner's page lives now; CMA_PFN_NONE once discarded or never kept */
    uint8_t kept;    /* allocated at setup and kept */
    uint8_t blocker; /* enum blocker */
    uint8_t discarded;
};

static int own_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct owner *o = owner;
    if (o->pfn != from || order != 0)
        return -CMA_EINVAL; /* libcma asked about a page this owner does not have */
    o->pfn = to;
    return 0;
}
static int own_discard(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = owner;
    if (o->pfn != pfn || order != 0)
        return -CMA_EINVAL;
    o->pfn = CMA_PFN_NONE;
    o->discarded = 1;
    return 0;
}
static int own_isolate_refuse(void *owner, cma_pfn_t pfn, unsigned order)
{
    (void)owner, (void)pfn, (void)order;
    return -CMA_EAGAIN;
}
static void own_putback(void *owner, cma_pfn_t pfn, unsigned order) { (void)owner, (void)pfn, (void)order; }

static const struct cma_movable_ops ops_movable = {.migrate = own_migrate};
static const struct cma_movable_ops ops_discard = {.migrate = own_migrate, .discard = own_discard};
static const struct cma_movable_ops ops_refuse = {
    .isolate = own_isolate_refuse, .migrate = own_migrate, .putback = own_putback};

/* ---- cases -------------------------------------------------------------------------------------- */

enum fill_kind { FILL_MOVABLE, FILL_DISCARD };

struct spec {
    uint64_t req;          /* bytes requested */
    uint64_t area;         /* bytes of the area */
    unsigned fill_pct;     /* share of the area's pages held by owners */
    enum fill_kind fill;
    enum blocker blk;      /* fragmented case: 1 % of the area's pages are of this kind */
    enum cma_policy policy;
    int reps;
};

struct result {
    double alloc_ns, memcpy_ns; /* min over the repetitions */
    uint64_t migrated, discarded, retries; /* per allocation (of the last repetition) */
    uint64_t blockers;
    uint64_t window_off;   /* fragmented: the free window's first page, as an offset in the area */
    int failed;            /* cma_alloc error of some repetition (0: all succeeded) */
};

/* Scratch shared by all cases, sized for the largest machine. */
static cma_pfn_t *g_pages;   /* every page allocated at setup */
static struct owner *g_own;  /* the area's owners */
static uint32_t *g_perm;     /* shuffle of the area's page offsets */

struct machine {
    struct cma_mm *mm;
    struct cma_area *area;
    cma_pfn_t base;  /* the area's first pfn */
    uint64_t npages; /* the area's pages */
};

static void machine_new(struct machine *m, const struct spec *sp)
{
    struct cma_mm_config cfg;
    uint64_t bytes = MACHINE_FACTOR * sp->area;
    cma_mm_config_default(&cfg);
    cfg.nr_cpus = 2; /* this box; the bench runs on one thread, i.e. per-CPU cache 0 */
    cfg.backing = CMA_BACKING_HOST;
    cfg.mem = g_mem;
    cfg.mem_size = bytes;
    cfg.mem_phys = 0;
    memset(m, 0, sizeof *m);
    CMA_OK(cma_mm_create(&cfg, &m->mm));
    CMA_OK(cma_memblock_add(m->mm, 0, bytes));
    CMA_OK(cma_declare_contiguous(m->mm, "bench", sp->area, 0, 0, 0, 0, &m->area));
    CMA_OK(cma_mm_online(m->mm));
    CMA_OK(cma_area_set_policy(m->area, sp->policy));
    struct cma_area_stats st;
    CMA_OK(cma_area_get_stats(m->area, &st));
    m->base = st.base_pfn;
    m->npages = st.count;
    if (m->npages != sp->area / PAGE_BYTES)
        fatal("area of %" PRIu64 " pages, expected %" PRIu64, m->npages, sp->area / PAGE_BYTES);
}

static uint64_t *page_word(const struct machine *m, cma_pfn_t pfn)
{
    uint64_t *p = cma_pfn_to_virt(m->mm, pfn);
    if (!p)
        fatal("cma_pfn_to_virt(0x%" PRIx64 ") is NULL in backed mode", pfn);
    return p;
}

/*
 * Fills the area: every page of the machine is allocated MOVABLE (the area's pages included: once
 * the rest is used up, movable allocations take CMA pages), the wanted share of the area's pages is
 * kept (or all of them, and 1 % become blockers), the rest is freed. Kept pages get an owner, a tag
 * in their first word, and the case's ops / clean mark / reference.
 */
static uint64_t machine_fill(struct machine *m, const struct spec *sp, uint64_t *window_offp)
{
    uint64_t n = 0, in_area = 0, blockers = 0;
    cma_pfn_t pfn;
    int r;

    memset(g_own, 0, m->npages * sizeof *g_own);
    for (uint64_t i = 0; i < m->npages; i++)
        g_own[i].pfn = CMA_PFN_NONE;
    if (sp->fill_pct == 0 && sp->blk == BLK_NONE)
        return 0; /* empty area: the freshly onlined machine as it is */

    while ((r = cma_alloc_pages(m->mm, 0, CMA_GFP_MOVABLE, &pfn)) == 0) {
        if (n == MAX_MACHINE / PAGE_BYTES)
            fatal("more pages than the machine has");
        g_pages[n++] = pfn;
        if (pfn - m->base < m->npages) {
            g_own[pfn - m->base].pfn = pfn;
            in_area++;
        }
    }
    if (r != -CMA_ENOMEM)
        fatal("filling: cma_alloc_pages returned %d (%s)", r, cma_err_name(r));
    if (in_area != m->npages)
        fatal("filling: %" PRIu64 " of the area's %" PRIu64 " pages allocated", in_area, m->npages);

    /* which area pages stay: a seeded random subset of exactly fill_pct % */
    rng_seed(sp->req ^ (uint64_t)sp->fill_pct << 40 ^ (uint64_t)sp->blk << 48);
    for (uint64_t i = 0; i < m->npages; i++)
        g_perm[i] = (uint32_t)i;
    uint64_t keep = m->npages * sp->fill_pct / 100;
    for (uint64_t i = 0; i < keep; i++) {
        uint64_t j = i + rng_below(m->npages - i);
        uint32_t t = g_perm[i];
        g_perm[i] = g_perm[j];
        g_perm[j] = t;
        g_own[g_perm[i]].kept = 1;
    }
    if (sp->blk != BLK_NONE) {
        /* 1 % of the area's pages, random, outside one request-sized window starting at a random
         * page between 1/4 and 1/2 of the area (the window an allocation can succeed in) */
        uint64_t want = m->npages / 100, rq = sp->req / PAGE_BYTES;
        uint64_t off = m->npages / 2 - rq / 2 + rng_below(rq / 2);
        if (off + rq > m->npages)
            fatal("fragmented window does not fit");
        *window_offp = off;
        while (blockers < want) {
            uint64_t i = rng_below(m->npages);
            if ((i >= off && i < off + rq) || g_own[i].blocker)
                continue;
            g_own[i].blocker = (uint8_t)sp->blk;
            blockers++;
        }
    }

    for (uint64_t i = 0; i < n; i++) {
        cma_pfn_t p = g_pages[i];
        if (p - m->base < m->npages && g_own[p - m->base].kept)
            continue;
        CMA_OK(cma_free_pages(m->mm, p, 0));
        if (p - m->base < m->npages)
            g_own[p - m->base].pfn = CMA_PFN_NONE;
    }
    for (uint64_t i = 0; i < m->npages; i++) {
        struct owner *o = &g_own[i];
        if (!o->kept)
            continue;
        *page_word(m, o->pfn) = TAG ^ i;
        switch (o->blocker) {
        case BLK_UNREG:
            break;
        case BLK_REFUSE:
            CMA_OK(cma_page_set_movable(m->mm, o->pfn, &ops_refuse, o));
            break;
        case BLK_REF:
            CMA_OK(cma_page_set_movable(m->mm, o->pfn, &ops_movable, o));
            CMA_OK(cma_page_get(m->mm, o->pfn));
            break;
        default:
            CMA_OK(cma_page_set_movable(m->mm, o->pfn, sp->fill == FILL_DISCARD ? &ops_discard
                                                                                 : &ops_movable, o));
            if (sp->fill == FILL_DISCARD)
                CMA_OK(cma_page_set_clean(m->mm, o->pfn, true));
            break;
        }
    }
    CMA_OK(cma_drain_cpu_caches(m->mm));
    return blockers;
}

/* After a successful allocation: the range is the area's, no owner is left in it, every page that
 * moved still carries its tag, and the stats account for every page that left. */
static void machine_verify(const struct machine *m, cma_pfn_t got, uint64_t count, uint64_t migrated,
                           uint64_t discarded)
{
    uint64_t moved = 0, dropped = 0;
    if (got < m->base || got + count > m->base + m->npages)
        fatal("cma_alloc returned pfn 0x%" PRIx64 " outside the area", got);
    for (uint64_t i = 0; i < m->npages; i++) {
        const struct owner *o = &g_own[i];
        if (!o->kept)
            continue;
        if (o->discarded) {
            dropped++;
            continue;
        }
        if (o->pfn - got < count)
            fatal("owner %" PRIu64 " still has pfn 0x%" PRIx64 " inside the allocation", i, o->pfn);
        if (*page_word(m, o->pfn) != (TAG ^ i))
            fatal("owner %" PRIu64 ": contents lost in migration to pfn 0x%" PRIx64, i, o->pfn);
        moved += o->pfn != m->base + i;
    }
    if (moved != migrated || dropped != discarded)
        fatal("stats say %" PRIu64 " migrated / %" PRIu64 " discarded, owners saw %" PRIu64 " / %" PRIu64,
              migrated, discarded, moved, dropped);
}

static void machine_teardown(struct machine *m, cma_pfn_t got, uint64_t count)
{
    char why[256];
    for (uint64_t i = 0; i < m->npages; i++) {
        struct owner *o = &g_own[i];
        if (!o->kept || o->discarded)
            continue;
        if (o->blocker == BLK_REF)
            CMA_OK(cma_page_put(m->mm, o->pfn));
        CMA_OK(cma_free_pages(m->mm, o->pfn, 0));
    }
    if (got != CMA_PFN_NONE)
        CMA_OK(cma_release(m->area, got, count));
    int r = cma_mm_check(m->mm, why, sizeof why);
    if (r != 0)
        fatal("cma_mm_check: %d (%s): %s", r, cma_err_name(r), why);
    CMA_OK(cma_mm_destroy(m->mm));
}

static void min_into(double *best, double v)
{
    if (*best < 0 || v < *best)
        *best = v;
}

/*
 * The floor under the discardable rows: whatever drops n order-0 pages must at least read and
 * rewrite each page's descriptor once. Measured here on an array shaped like libcma's memory map
 * (12-byte entries: two words, state, order, ops, refs): min of 5 passes after one warm-up pass
 * (libcma's map is as warm after the setup).
 */
struct fake_desc {
    uint32_t lo, hi;
    uint8_t flags, order, ops, refs;
};

static double time_descriptor_pass(uint64_t n)
{
    struct fake_desc *d = calloc(n, sizeof *d);
    double best = -1;
    if (!d)
        fatal("out of memory for the descriptor floor");
    for (uint64_t i = 0; i < n; i++)
        d[i] = (struct fake_desc){.lo = (uint32_t)i, .hi = 1, .flags = 0x0b, .ops = 1};
    for (int rep = 0; rep < 6; rep++) {
        uint8_t want = rep & 1 ? 0x0c : 0x0b, to = rep & 1 ? 0x0b : 0x0c;
        uint64_t t0 = bench_now_ns();
        for (uint64_t i = 0; i < n; i++)
            if (d[i].flags == want && d[i].ops) {
                d[i].flags = to;
                d[i].lo = d[i].hi = 0;
            }
        no_opt(d);
        double t = (double)(bench_now_ns() - t0);
        if (rep && (best < 0 || t < best))
            best = t;
    }
    free(d);
    return best;
}

static double time_memcpy(uint64_t bytes)
{
    if (!bytes)
        return 0.0;
    if (bytes > MAX_COPY)
        fatal("memcpy baseline of %" PRIu64 " bytes exceeds its buffers", bytes);
    cache_evict(g_cp_src, bytes);
    cache_evict(g_cp_dst, bytes);
    uint64_t t0 = bench_now_ns();
    memcpy(g_cp_dst, g_cp_src, bytes);
    no_opt(g_cp_dst);
    return (double)(bench_now_ns() - t0);
}

static struct result run_case(const struct spec *sp)
{
    struct result res = {.alloc_ns = -1, .memcpy_ns = -1};
    const uint64_t count = sp->req / PAGE_BYTES;
    for (int rep = 0; rep < sp->reps; rep++) {
        struct machine m;
        struct cma_area_stats s0, s1;
        cma_pfn_t got = CMA_PFN_NONE;
        machine_new(&m, sp);
        res.blockers = machine_fill(&m, sp, &res.window_off);
        CMA_OK(cma_area_get_stats(m.area, &s0));
        cache_evict(page_word(&m, m.base), m.npages * PAGE_BYTES);
        uint64_t t0 = bench_now_ns();
        int r = cma_alloc(m.area, count, 0, &got);
        uint64_t t1 = bench_now_ns();
        CMA_OK(cma_area_get_stats(m.area, &s1));
        res.migrated = s1.pages_migrated - s0.pages_migrated;
        res.discarded = s1.pages_discarded - s0.pages_discarded;
        res.retries = s1.retries - s0.retries;
        if (r != 0) {
            res.failed = r;
            got = CMA_PFN_NONE;
        } else {
            machine_verify(&m, got, count, res.migrated, res.discarded);
            min_into(&res.alloc_ns, (double)(t1 - t0));
        }
        machine_teardown(&m, got, count);
        min_into(&res.memcpy_ns, time_memcpy(res.migrated * PAGE_BYTES));
    }
    return res;
}

/* ---- report ------------------------------------------------------------------------------------- */

static const char *policy_name(enum cma_policy p) { return p == CMA_POLICY_LINUX ? "linux" : "default"; }

/* Budget of the migration target: 1.5 x memcpy of the moved bytes + 1 us per MiB requested. */
static double budget_ns(const struct spec *sp, const struct result *r)
{
    return 1.5 * r->memcpy_ns + 1000.0 * (double)(sp->req / MiB);
}
/* The ratio the issue asks for: alloc / (memcpy + 1 us per MiB). */
static double issue_ratio(const struct spec *sp, const struct result *r)
{
    return r->alloc_ns / (r->memcpy_ns + 1000.0 * (double)(sp->req / MiB));
}

/* The 1-minute load average: the machine is shared, and a loaded one copies memory more slowly. */
static void print_machine(void)
{
    char model[256], date[32];
    bench_machine(model, sizeof model, date, sizeof date);
    printf("bench_cma: libcma %s, %s, %ld CPUs online (%s), load average %.2f; 4 KiB pages, pageblock "
           "2 MiB, max order 10\n", cma_version(), date, sysconf(_SC_NPROCESSORS_ONLN), model, bench_loadavg());
}

/* --only filter: 0 / NULL = any. */
static struct {
    bool set, frag;
    uint64_t size_mib;
    const char *fill, *policy;
    int reps;
} g_only;

static void usage(void)
{
    fprintf(stderr, "usage: bench_cma [--only SIZE_MIB[:FILL[:POLICY]] | --only frag] [--reps N]\n"
                    "  FILL: 0, 50, 100, discard; POLICY: default, linux\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            static char buf[64];
            snprintf(buf, sizeof buf, "%s", argv[++i]);
            g_only.set = true;
            if (!strcmp(buf, "frag")) {
                g_only.frag = true;
                continue;
            }
            char *fill = strchr(buf, ':'), *pol = NULL, *end;
            if (fill) {
                *fill++ = '\0';
                if ((pol = strchr(fill, ':')))
                    *pol++ = '\0';
            }
            g_only.size_mib = strtoull(buf, &end, 10);
            if (*end || !g_only.size_mib)
                usage();
            if (fill && strcmp(fill, "0") && strcmp(fill, "50") && strcmp(fill, "100") &&
                strcmp(fill, "discard"))
                usage();
            if (pol && strcmp(pol, "default") && strcmp(pol, "linux"))
                usage();
            g_only.fill = fill;
            g_only.policy = pol;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            g_only.reps = atoi(argv[++i]);
            if (g_only.reps <= 0)
                usage();
        } else {
            usage();
        }
    }
}

static bool wanted(uint64_t req, const char *fill, enum cma_policy pol)
{
    if (!g_only.set)
        return true;
    if (g_only.frag || req / MiB != g_only.size_mib)
        return false;
    if (g_only.fill && strcmp(g_only.fill, fill))
        return false;
    return !g_only.policy || !strcmp(g_only.policy, pol == CMA_POLICY_LINUX ? "linux" : "default");
}

int main(int argc, char **argv)
{
    static const uint64_t sizes[] = {4 * MiB, 64 * MiB, 256 * MiB};
    static const int reps_for[] = {31, 7, 5}; /* small cases are cheap and noisy: more samples */
    static const struct {
        unsigned pct;
        enum fill_kind fill;
        const char *name, *key;
    } fills[] = {{0, FILL_MOVABLE, "0 %", "0"},
                 {50, FILL_MOVABLE, "50 % movable", "50"},
                 {100, FILL_MOVABLE, "100 % movable", "100"},
                 {100, FILL_DISCARD, "100 % discardable", "discard"}};
    static const enum cma_policy policies[] = {CMA_POLICY_DEFAULT, CMA_POLICY_LINUX};
    uint64_t t_start = bench_now_ns();

    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    print_machine();
    uint64_t t0 = bench_now_ns();
    g_mem = touched_map(MAX_MACHINE);
    g_cp_src = touched_map(MAX_COPY);
    g_cp_dst = touched_map(MAX_COPY);
    g_pages = calloc(MAX_MACHINE / PAGE_BYTES, sizeof *g_pages);
    g_own = calloc(MAX_AREA / PAGE_BYTES, sizeof *g_own);
    g_perm = calloc(MAX_AREA / PAGE_BYTES, sizeof *g_perm);
    if (!g_pages || !g_own || !g_perm)
        fatal("out of memory for the bench's tables");
    printf("warm-up: %llu MiB touched once in %.1f s (machine backing + two memcpy buffers)\n\n",
           (unsigned long long)((MAX_MACHINE + 2 * MAX_COPY) >> 20),
           (double)(bench_now_ns() - t0) / 1e9);

    /* ---- 1. the matrix ---- */
    printf("## cma_alloc latency (min of N; area = request + 4 MiB, machine = 3 x area)\n\n");
    printf("| size | area fill | policy | N | alloc us | migrated | discarded | retries | memcpy us "
           "| budget us | ratio | target |\n");
    printf("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    int missed = 0, met = 0;
    for (unsigned si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        double empty_ns[2] = {-1, -1};
        for (unsigned fi = 0; fi < sizeof fills / sizeof fills[0]; fi++) {
            for (unsigned pi = 0; pi < 2; pi++) {
                struct spec sp = {.req = sizes[si], .area = sizes[si] + AREA_MARGIN,
                                  .fill_pct = fills[fi].pct, .fill = fills[fi].fill,
                                  .blk = BLK_NONE, .policy = policies[pi],
                                  .reps = g_only.reps ? g_only.reps : reps_for[si]};
                /* the discard row compares against the empty row: a filtered run measures it too */
                bool need_empty = fills[fi].pct == 0 && g_only.fill && !strcmp(g_only.fill, "discard") &&
                                  wanted(sp.req, "discard", sp.policy);
                if (!wanted(sp.req, fills[fi].key, sp.policy) && !need_empty)
                    continue;
                struct result r = run_case(&sp);
                if (r.failed)
                    fatal("cma_alloc of %" PRIu64 " MiB, %s, %s failed: %d (%s)", sp.req / MiB,
                          fills[fi].name, policy_name(sp.policy), r.failed, cma_err_name(r.failed));
                double budget = budget_ns(&sp, &r);
                char target[256];
                bool ok;
                if (sp.fill_pct == 0)
                    empty_ns[pi] = r.alloc_ns;
                if (sp.fill == FILL_DISCARD && sp.policy == CMA_POLICY_DEFAULT) {
                    ok = r.alloc_ns <= 2 * empty_ns[pi];
                    double floor_ns = time_descriptor_pass(r.discarded);
                    snprintf(target, sizeof target,
                             "%s: %.1fx empty (<= 2x); %.1f ns/page; one pass over the %" PRIu64
                             " page descriptors alone: %.1f us = %.1fx empty",
                             ok ? "met" : "MISSED", r.alloc_ns / empty_ns[pi],
                             r.alloc_ns / (double)r.discarded, r.discarded, floor_ns / 1e3,
                             floor_ns / empty_ns[pi]);
                } else {
                    ok = r.alloc_ns <= budget;
                    snprintf(target, sizeof target, "%s", ok ? "met" : "MISSED");
                    if (sp.fill == FILL_DISCARD)
                        snprintf(target + strlen(target), sizeof target - strlen(target),
                                 " (linux never discards: %.0fx empty)", r.alloc_ns / empty_ns[pi]);
                }
                if (sp.fill_pct == 0 && sp.req == 256 * MiB) {
                    bool ok1 = r.alloc_ns < 1e6;
                    snprintf(target + strlen(target), sizeof target - strlen(target),
                             "; < 1 ms: %s", ok1 ? "met" : "MISSED");
                    ok = ok && ok1;
                }
                missed += !ok;
                met += ok;
                printf("| %" PRIu64 " MiB | %s | %s | %d | %.1f | %" PRIu64 " | %" PRIu64 " | %" PRIu64
                       " | %.1f | %.1f | %.2f | %s |\n",
                       sp.req / MiB, fills[fi].name, policy_name(sp.policy), sp.reps,
                       r.alloc_ns / 1e3, r.migrated, r.discarded, r.retries, r.memcpy_ns / 1e3,
                       budget / 1e3, issue_ratio(&sp, &r), target);
            }
        }
    }

    /* ---- 2. fragmented ---- */
    static const uint64_t frag_sizes[] = {4 * MiB, 64 * MiB};
    static const int frag_reps[] = {5, 3};
    static const enum blocker blks[] = {BLK_REF, BLK_REFUSE, BLK_UNREG};
    printf("\n## Fragmented (min of N): area = 2 x request, 100 %% movable; 1 %% of the area's pages "
           "blocked, at random places outside one request-sized window\n\n");
    printf("| size | blockers (1 %% of area) | N | default us | retries | migrated | memcpy us "
           "| target | linux us | retries | migrated | memcpy us | target | linux/default |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|\n");
    for (unsigned si = 0; si < sizeof frag_sizes / sizeof frag_sizes[0]; si++) {
        for (unsigned bi = 0; bi < sizeof blks / sizeof blks[0]; bi++) {
            if (g_only.set && !g_only.frag)
                continue;
            struct spec sp[2];
            struct result r[2];
            for (unsigned pi = 0; pi < 2; pi++) {
                sp[pi] = (struct spec){.req = frag_sizes[si], .area = 2 * frag_sizes[si],
                                       .fill_pct = 100, .fill = FILL_MOVABLE, .blk = blks[bi],
                                       .policy = policies[pi],
                                       .reps = g_only.reps ? g_only.reps : frag_reps[si]};
                r[pi] = run_case(&sp[pi]);
            }
            printf("| %" PRIu64 " MiB | %" PRIu64 " x %s (free window at page %" PRIu64 ") | %d",
                   sp[0].req / MiB, r[0].blockers, blocker_name[blks[bi]], r[0].window_off, sp[0].reps);
            for (unsigned pi = 0; pi < 2; pi++) {
                /* the Linux policy is the reference here: its retries are what the default policy
                 * beats, so its row is reported against the budget but not counted as a target */
                bool reference = sp[pi].policy == CMA_POLICY_LINUX;
                if (r[pi].failed) {
                    printf(" | failed %s | %" PRIu64 " | %" PRIu64 " | - | %s", cma_err_name(r[pi].failed),
                           r[pi].retries, r[pi].migrated, reference ? "failed (reference)" : "MISSED");
                    missed += !reference;
                    continue;
                }
                bool ok = r[pi].alloc_ns <= budget_ns(&sp[pi], &r[pi]);
                if (!reference) {
                    missed += !ok;
                    met += ok;
                }
                printf(" | %.1f | %" PRIu64 " | %" PRIu64 " | %.1f | %s (%.2f)", r[pi].alloc_ns / 1e3,
                       r[pi].retries, r[pi].migrated, r[pi].memcpy_ns / 1e3,
                       reference ? (ok ? "within (reference)" : "over (reference)") : ok ? "met" : "MISSED",
                       issue_ratio(&sp[pi], &r[pi]));
            }
            if (!r[0].failed && !r[1].failed)
                printf(" | %.1fx |\n", r[1].alloc_ns / r[0].alloc_ns);
            else
                printf(" | - |\n");
        }
    }
    printf("\nbudget = 1.5 x memcpy + 1 us per MiB requested; ratio = alloc / (memcpy + 1 us per MiB), "
           "as the issue asks; target \"met\" means alloc <= budget.\n");
    printf("targets (every matrix row; the default policy in the fragmented table): %d met, %d missed; "
           "whole run %.1f s, load average at the end %.2f\n", met, missed,
           (double)(bench_now_ns() - t_start) / 1e9, bench_loadavg());
    munmap(g_mem, MAX_MACHINE);
    munmap(g_cp_src, MAX_COPY);
    munmap(g_cp_dst, MAX_COPY);
    free(g_pages);
    free(g_own);
    free(g_perm);
    return 0;
}
