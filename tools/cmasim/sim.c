/* SPDX-License-Identifier: MIT */
/*
 * sim.c - the engine: one fresh machine per strategy, built and driven through libcma's public API
 * only, replaying one list of workload events and measuring what each strategy costs.
 *
 * Machine (build_machine). cma_mm_config_default, one CPU, metadata only (CMA_BACKING_NONE: pages
 * have no contents, so a migration costs the library's bookkeeping but no copy - measured latencies
 * are the allocator's own work, pages_migrated says how much copying a real machine would add).
 * Memory ranges and reservations go to memblock, then the `cma=` string (cma_parse_cmdline) and the
 * explicit areas (cma_declare_contiguous), in that order: area index i in events is the i-th area
 * the library declared. Per strategy:
 *   carveout     the same areas are declared on a throw-away machine to learn where the library
 *                would put them; the real machine then removes exactly those ranges from memblock
 *                (a device-tree `no-map` carveout: a hole the buddy allocator never sees, and free
 *                for the simulator, where reserving 512 GiB would cost a descriptor per page) and
 *                device buffers come from a private first-fit allocator over each range: instant,
 *                and the memory is lost to everyone else even while no device uses it;
 *   cma-linux    CMA areas with CMA_POLICY_LINUX;
 *   cma          CMA_POLICY_DEFAULT with cma_area_set_discard(area, false);
 *   cma-discard  CMA_POLICY_DEFAULT with discard on: clean page-cache blocks are dropped, not copied;
 *   iommu        the areas of devices behind an IOMMU (scenario `device ... iommu`; every area of a
 *                trace) are not declared at all - the whole memory stays with the buddy allocator -
 *                and their buffers come from cma_dma_alloc on a DMA device behind its own IOMMU
 *                domain (IOVA bits = the device's dma_bits, 32..48): scattered unmovable pages, the
 *                largest page-table page size first, mapped at one size-aligned IOVA. The domains are
 *                lazy with the time limit off (flushes when a queue fills: the simulator's clock is
 *                simulated, a wall-clock limit would make runs differ). The other areas stay CMA areas
 *                as under `cma`.
 *
 * Owners. Every live ordinary allocation has an entry {pfn, order, state, pins, refs} found by the
 * event's id (a direct table indexed by id, ids being dense; a hash map for sparse ids), entries in
 * fixed chunks so the pointer handed to libcma as `owner` stays valid. Movable blocks register one
 * ops table: migrate moves the entry to its new pfn, discard marks it dropped (the owner forgot the
 * page; later events on that id are skipped). An allocation that fails with -ENOMEM is counted in
 * ordinary_alloc_failures and its id remembered as failed, so its later events are skipped too.
 * Skipped events are counted in events_skipped (with whatever the trace parser skipped).
 *
 * IOMMU metrics (strategy iommu): per buffer, the page-table leaves it needed (one IOTLB entry each;
 * cma_iommu_get_stats before and after), the bytes its 2 MiB and 1 GiB leaves cover, and the IOVA
 * fragmentation of its domain after it (1 - largest free gap / free IOVA); the IO page tables of all
 * domains at their largest. Page-table pages count against the memory available to the system.
 *
 * Metrics. Every device allocation call (cma_alloc, the carveout's first-fit, cma_dma_alloc) is timed with
 * CLOCK_MONOTONIC; p50/p99 are nearest-rank percentiles. Memory available to the rest of the system
 * = (pages the buddy allocator manages - pages held by device buffers taken from them) x page size;
 * its average is time-weighted and its minimum exact over the whole run, and it is also sampled every
 * sample_every_ns of simulated time for charts. Migrated/discarded pages and retries are the areas'
 * counters (cma_area_get_stats) summed. Fragmentation is read from CMA_DUMP_BUDDYINFO after the last
 * event (per-CPU caches drained first): the largest order with a free block, and the share of free
 * pages sitting in blocks below order 9 (useless to a 2 MiB request).
 *
 * Pageblock map snapshots. Up to max_snapshots rows at evenly spaced simulated times, the last one
 * after the final event (default 60 rows; above 64K pageblocks the rows share a budget of 4M
 * pageblock visits, at least 8 rows), parsed from CMA_DUMP_PAGEBLOCK_MAP (one letter per pageblock:
 * U M R H C I, lower case = every page free, '.' = hole, which includes a carveout: it is removed
 * from memory). Machines with more than 2048 pageblocks are downsampled to 2048 cells per row; each
 * cell shows the most telling letter of its group, in this order: I (isolated) > U > R > H > M > C
 * (allocated, least movable first) > u > r > h > m > c (free) > '.'. So one unmovable pageblock in a
 * group of free CMA ones still shows as U.
 *
 * At the end every object is freed and every device buffer released, cma_mm_check must pass (else
 * CMASIM_EXIT_INTERNAL with its message: a libcma bug), and the machine is destroyed.
 *
 * Diagnostics: with CMASIM_VERBOSE set in the environment, every device allocation prints one line
 * to stderr (strategy, time, area, size, result, latency, pages migrated/discarded, retries).
 *
 * Progress (progress.c): per strategy the phases "building the machine", "replaying" (with a bar),
 * "freeing and checking". Runs are sequential.
 */
#define _POSIX_C_SOURCE 200809L
#include "cmasim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- data model helpers ------------------------------------------------------------------------- */

unsigned sim_strategy_parse(const char *list)
{
    unsigned mask = 0;
    const char *s = list;
    if (!s || !*s)
        return 0;
    for (;;) {
        size_t n = strcspn(s, ",");
        unsigned i;
        if (n == 0)
            return 0;
        for (i = 0; i < SIM_NSTRATEGIES; i++)
            if (strlen(sim_strategy_name(i)) == n && !strncmp(sim_strategy_name(i), s, n))
                break;
        if (i == SIM_NSTRATEGIES) {
            if (n == 3 && !strncmp(s, "all", 3))
                mask |= (1u << SIM_NSTRATEGIES) - 1;
            else
                return 0;
        } else {
            mask |= 1u << i;
        }
        if (!s[n])
            break;
        s += n + 1;
    }
    return mask;
}


/* sim_trace_push and sim_trace_free live in trace.c. */

void sim_result_free(struct sim_result *r)
{
    if (!r)
        return;
    free(r->lat_ns);
    free(r->samples);
    free(r->pbmap);
    free(r->snap_t_ns);
    r->lat_ns = NULL;
    r->samples = NULL;
    r->pbmap = NULL;
    r->snap_t_ns = NULL;
    r->nlat = r->nsamples = r->nsnap = r->npb = 0;
}

/* ---- id map -----------------------------------------------------------------------------------------
 * Object id -> slot. Ids are dense in generated workloads and in parsed traces (trace.c renumbers
 * them 1, 2, 3...), so the map is normally a direct array indexed by id (one 4-byte slot per id, and
 * no hashing: lookups were a third of the replay time as a hash table). Sparse id spaces (max_id far
 * above the event count) fall back to open addressing with linear probing and backward-shift
 * deletion.
 */
#define SLOT_EMPTY UINT32_MAX

struct idmap {
    uint32_t *dir;  /* direct mode: dir[id], ndir entries */
    size_t ndir;
    uint64_t *keys; /* hash mode */
    uint32_t *vals;
    size_t cap, n;  /* cap a power of two */
};

/* Chooses the mode for ids up to max_id among n events. */
static int idmap_init(struct idmap *m, uint64_t max_id, size_t n)
{
    memset(m, 0, sizeof *m);
    if (max_id > (uint64_t)n * 4 + (1u << 20) || max_id >= SIZE_MAX / sizeof *m->dir - 1)
        return 0;
    m->ndir = (size_t)max_id + 1;
    m->dir = malloc(m->ndir * sizeof *m->dir);
    if (!m->dir)
        return -1;
    memset(m->dir, 0xff, m->ndir * sizeof *m->dir); /* SLOT_EMPTY */
    return 0;
}

static size_t idmap_hash(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static int idmap_grow(struct idmap *m)
{
    size_t nc = m->cap ? m->cap * 2 : 1024;
    uint64_t *nk = malloc(nc * sizeof *nk);
    uint32_t *nv = malloc(nc * sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < nc; i++)
        nv[i] = SLOT_EMPTY;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == SLOT_EMPTY)
            continue;
        size_t h = idmap_hash(m->keys[i], nc);
        while (nv[h] != SLOT_EMPTY)
            h = (h + 1) & (nc - 1);
        nk[h] = m->keys[i];
        nv[h] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = nc;
    return 0;
}

static uint32_t idmap_get(const struct idmap *m, uint64_t id)
{
    if (m->dir)
        return id < m->ndir ? m->dir[id] : SLOT_EMPTY;
    if (!m->cap)
        return SLOT_EMPTY;
    for (size_t h = idmap_hash(id, m->cap);; h = (h + 1) & (m->cap - 1)) {
        if (m->vals[h] == SLOT_EMPTY)
            return SLOT_EMPTY;
        if (m->keys[h] == id)
            return m->vals[h];
    }
}

static int idmap_put(struct idmap *m, uint64_t id, uint32_t val)
{
    if (m->dir) {
        if (id >= m->ndir)
            return -1;
        m->dir[id] = val;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap && idmap_grow(m))
        return -1;
    size_t h = idmap_hash(id, m->cap);
    while (m->vals[h] != SLOT_EMPTY)
        h = (h + 1) & (m->cap - 1);
    m->keys[h] = id;
    m->vals[h] = val;
    m->n++;
    return 0;
}

static void idmap_del(struct idmap *m, uint64_t id)
{
    if (m->dir) {
        if (id < m->ndir)
            m->dir[id] = SLOT_EMPTY;
        return;
    }
    if (!m->cap)
        return;
    size_t h = idmap_hash(id, m->cap);
    while (m->vals[h] != SLOT_EMPTY && m->keys[h] != id)
        h = (h + 1) & (m->cap - 1);
    if (m->vals[h] == SLOT_EMPTY)
        return;
    /* backward shift: move later members of the cluster into the hole when their home allows */
    size_t hole = h;
    for (size_t j = (h + 1) & (m->cap - 1); m->vals[j] != SLOT_EMPTY; j = (j + 1) & (m->cap - 1)) {
        size_t home = idmap_hash(m->keys[j], m->cap);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->vals[hole] = SLOT_EMPTY;
    m->n--;
}

static void idmap_free(struct idmap *m)
{
    free(m->dir);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- owners ------------------------------------------------------------------------------------ */
enum obj_state { OBJ_LIVE, OBJ_FAILED, OBJ_DROPPED };

struct obj {
    uint64_t id;
    cma_pfn_t pfn;
    uint8_t order, state, pins, refs;
    bool movable;
};

#define CHUNK_SHIFT 16
#define CHUNK_SIZE (1u << CHUNK_SHIFT)

/* Entries live in fixed chunks (their addresses are owner pointers inside libcma); a free list
 * threads unused slots. */
struct pool {
    struct obj **chunks;
    size_t nchunks, capchunks;
    uint32_t *freelist;
    size_t nfree, capfree;
    uint32_t next; /* first never-used slot */
};

static struct obj *pool_at(const struct pool *p, uint32_t i)
{
    return &p->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

static int pool_alloc(struct pool *p, uint32_t *ip)
{
    if (p->nfree) {
        *ip = p->freelist[--p->nfree];
        return 0;
    }
    if (p->next == SLOT_EMPTY - 1)
        return -1;
    if ((p->next >> CHUNK_SHIFT) == p->nchunks) {
        if (p->nchunks == p->capchunks) {
            size_t nc = p->capchunks ? p->capchunks * 2 : 16;
            struct obj **n = realloc(p->chunks, nc * sizeof *n);
            if (!n)
                return -1;
            p->chunks = n;
            p->capchunks = nc;
        }
        if (!(p->chunks[p->nchunks] = malloc(CHUNK_SIZE * sizeof(struct obj))))
            return -1;
        p->nchunks++;
    }
    *ip = p->next++;
    return 0;
}

static int pool_release(struct pool *p, uint32_t i)
{
    if (p->nfree == p->capfree) {
        size_t nc = p->capfree ? p->capfree * 2 : 1024;
        uint32_t *n = realloc(p->freelist, nc * sizeof *n);
        if (!n)
            return -1;
        p->freelist = n;
        p->capfree = nc;
    }
    p->freelist[p->nfree++] = i;
    return 0;
}

static void pool_destroy(struct pool *p)
{
    for (size_t i = 0; i < p->nchunks; i++)
        free(p->chunks[i]);
    free(p->chunks);
    free(p->freelist);
    memset(p, 0, sizeof *p);
}

static int ops_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct obj *o = owner;
    (void)from;
    (void)order;
    o->pfn = to;
    return 0;
}

static int ops_discard(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct obj *o = owner;
    (void)pfn;
    (void)order;
    o->state = OBJ_DROPPED;
    return 0;
}

static const struct cma_movable_ops sim_ops = {
    .isolate = NULL,
    .migrate = ops_migrate,
    .putback = NULL,
    .discard = ops_discard,
};

/* ---- device buffers and the carveout allocator --------------------------------------------------- */
struct dbuf {
    uint64_t id;
    cma_pfn_t pfn;     /* through an IOMMU: the device address */
    uint64_t count;
    unsigned area;     /* machine area, or (iommu) the device index */
    bool failed;
    bool iommu;
};

struct extent {
    cma_pfn_t start;
    uint64_t count;
};

struct carve {
    cma_pfn_t base;
    uint64_t count;
    struct extent *ext; /* live buffers, sorted by start */
    size_t n, cap;
};

static uint64_t align_up(uint64_t v, unsigned order)
{
    uint64_t a = 1ull << order;
    return (v + a - 1) & ~(a - 1);
}

/* First fit: the lowest aligned gap that holds count pages. -ENOSPC when none (the carveout is full). */
static int carve_alloc(struct carve *c, uint64_t count, unsigned align_order, cma_pfn_t *pfnp)
{
    cma_pfn_t end = c->base + c->count, prev = c->base;
    for (size_t i = 0; i <= c->n; i++) {
        cma_pfn_t next = i < c->n ? c->ext[i].start : end;
        cma_pfn_t s = align_up(prev, align_order);
        if (s >= prev && s + count <= next && s + count > s) {
            if (c->n == c->cap) {
                size_t nc = c->cap ? c->cap * 2 : 16;
                struct extent *ne = realloc(c->ext, nc * sizeof *ne);
                if (!ne)
                    return -CMA_ENOMEM;
                c->ext = ne;
                c->cap = nc;
            }
            memmove(&c->ext[i + 1], &c->ext[i], (c->n - i) * sizeof *c->ext);
            c->ext[i] = (struct extent){s, count};
            c->n++;
            *pfnp = s;
            return 0;
        }
        if (i < c->n)
            prev = c->ext[i].start + c->ext[i].count;
    }
    return -CMA_ENOSPC;
}

static int carve_release(struct carve *c, cma_pfn_t pfn)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->ext[i].start == pfn) {
            memmove(&c->ext[i], &c->ext[i + 1], (c->n - i - 1) * sizeof *c->ext);
            c->n--;
            return 0;
        }
    return -CMA_EFAULT;
}

/* ---- machine setup ---------------------------------------------------------------------------- */

struct machine_areas {
    unsigned n;
    char name[SIM_MAX_AREAS][64];
    cma_pfn_t base[SIM_MAX_AREAS];
    uint64_t count[SIM_MAX_AREAS];
};

static void collect_areas(struct cma_mm *mm, struct machine_areas *ma)
{
    ma->n = 0;
    for (unsigned i = 0; i < SIM_MAX_AREAS; i++) {
        struct cma_area *a = cma_area_at(mm, i);
        struct cma_area_stats st;
        if (!a || cma_area_get_stats(a, &st))
            break;
        snprintf(ma->name[i], sizeof ma->name[i], "%s", cma_area_name(a));
        ma->base[i] = st.base_pfn;
        ma->count[i] = st.count;
        ma->n++;
    }
}

/* The machine without the areas whose devices sit behind an IOMMU (strategy iommu): explicit area
 * lines dropped, and their entries removed from the cma= word of the command line. */
static void strip_iommu_areas(const struct sim_machine *m, struct sim_machine *out)
{
    unsigned bits;
    *out = *m;
    out->nr_areas = 0;
    for (unsigned i = 0; i < m->nr_areas; i++)
        if (!sim_area_iommu(m, m->areas[i].name, &bits)) {
            out->line_areas[out->nr_areas] = m->line_areas[i];
            out->areas[out->nr_areas++] = m->areas[i];
        }
    out->cmdline[0] = '\0';
    char words[sizeof m->cmdline];
    snprintf(words, sizeof words, "%s", m->cmdline);
    for (char *save = NULL, *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        char kept[sizeof m->cmdline] = "";
        if (strncmp(w, "cma=", 4)) {
            snprintf(kept, sizeof kept, "%s", w); /* other words stay as they are */
        } else {
            for (char *s2 = NULL, *ent = strtok_r(w + 4, ",", &s2); ent; ent = strtok_r(NULL, ",", &s2)) {
                char name[64];
                const char *colon = strchr(ent, ':');
                snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - ent) : 8, colon ? ent : "reserved");
                if (sim_area_iommu(m, name, &bits))
                    continue;
                size_t l = strlen(kept);
                snprintf(kept + l, sizeof kept - l, "%s%s", l ? "," : "cma=", ent);
            }
        }
        size_t l = strlen(out->cmdline);
        if (kept[0])
            snprintf(out->cmdline + l, sizeof out->cmdline - l, "%s%s", l ? " " : "", kept);
    }
}

/* Builds and onlines the machine for strategy s. For carveout, fills carves[] from a probe. */
static int build_machine(const struct sim_machine *m, enum sim_strategy s, struct cma_mm **mmp,
                         struct machine_areas *ma, struct carve *carves, char *err, size_t errlen)
{
    struct cma_mm *mm = NULL;
    int r;
    *mmp = NULL;
    if (s == SIM_CARVEOUT) {
        struct cma_mm *probe;
        if ((r = sim_machine_create(m, &probe, err, errlen)))
            return r;
        r = sim_machine_boot(probe, m, NULL, true, err, errlen);
        if (!r)
            collect_areas(probe, ma);
        (void)cma_mm_destroy(probe);
        if (r)
            return r;
        if ((r = sim_machine_create(m, &mm, err, errlen)))
            return r;
        if ((r = sim_machine_boot(mm, m, NULL, false, err, errlen)))
            goto fail;
        uint64_t ps = 1ull << (m->page_shift ? m->page_shift : 12);
        for (unsigned i = 0; i < ma->n; i++) {
            if ((r = cma_memblock_remove(mm, ma->base[i] * ps, ma->count[i] * ps))) {
                snprintf(err, errlen, "carveout %s: cma_memblock_remove: %s", ma->name[i],
                         cma_strerror(r));
                goto fail;
            }
            carves[i] = (struct carve){.base = ma->base[i], .count = ma->count[i]};
        }
    } else {
        struct sim_machine stripped;
        if (s == SIM_IOMMU) {
            strip_iommu_areas(m, &stripped);
            m = &stripped;
        }
        if ((r = sim_machine_create(m, &mm, err, errlen)))
            return r;
        if ((r = sim_machine_boot(mm, m, NULL, true, err, errlen)))
            goto fail;
        collect_areas(mm, ma);
    }
    if ((r = cma_mm_online(mm))) {
        snprintf(err, errlen, "cma_mm_online: %s", cma_strerror(r));
        goto fail;
    }
    if (s != SIM_CARVEOUT)
        for (unsigned i = 0; i < ma->n; i++) {
            struct cma_area *a = cma_area_at(mm, i);
            r = cma_area_set_policy(a, s == SIM_CMA_LINUX ? CMA_POLICY_LINUX : CMA_POLICY_DEFAULT);
            if (!r)
                r = cma_area_set_discard(a, s == SIM_CMA_DISCARD); /* iommu: as cma */
            if (r) {
                snprintf(err, errlen, "area %s: setting the policy: %s", ma->name[i], cma_strerror(r));
                goto fail;
            }
        }
    *mmp = mm;
    return 0;
fail:
    (void)cma_mm_destroy(mm);
    return r;
}

/* ---- snapshots and fragmentation ------------------------------------------------------------------ */

#define MAX_CELLS 2048
#define SNAP_BUDGET (4ull << 20)

struct snapper {
    char *buf;
    size_t cap;
    char *raw;
    size_t nraw, capraw;
};

/* Dumps the pageblock map and extracts the letters (one per pageblock, every span in order). */
static int snap_raw(struct cma_mm *mm, struct snapper *sp)
{
    for (;;) {
        int n = cma_mm_dump(mm, CMA_DUMP_PAGEBLOCK_MAP, sp->buf, sp->cap);
        if (n < 0)
            return n;
        if ((size_t)n < sp->cap)
            break;
        size_t nc = (size_t)n + 4096;
        char *nb = realloc(sp->buf, nc);
        if (!nb)
            return -CMA_ENOMEM;
        sp->buf = nb;
        sp->cap = nc;
    }
    sp->nraw = 0;
    for (char *line = sp->buf; line && *line;) {
        char *eol = strchr(line, '\n');
        char *colon = strstr(line, ": ");
        if (strncmp(line, "span ", 5) && strncmp(line, "legend", 6) && colon && (!eol || colon < eol)) {
            for (char *c = colon + 2; *c && *c != '\n'; c++) {
                if (sp->nraw == sp->capraw) {
                    size_t nc = sp->capraw ? sp->capraw * 2 : 4096;
                    char *nr = realloc(sp->raw, nc);
                    if (!nr)
                        return -CMA_ENOMEM;
                    sp->raw = nr;
                    sp->capraw = nc;
                }
                sp->raw[sp->nraw++] = *c;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

static void downsample(const char *raw, size_t nraw, char *row, size_t ncells)
{
    for (size_t j = 0; j < ncells; j++) {
        size_t a = j * nraw / ncells, b = (j + 1) * nraw / ncells;
        char best = raw[a];
        for (size_t k = a + 1; k < b; k++)
            if (sim_pb_rank(raw[k]) > sim_pb_rank(best))
                best = raw[k];
        row[j] = best;
    }
}

static void fragmentation(struct cma_mm *mm, struct sim_result *r)
{
    char buf[1024];
    (void)cma_drain_cpu_caches(mm);
    r->largest_free_order = 0;
    r->unusable_order9 = 0;
    if (cma_mm_dump(mm, CMA_DUMP_BUDDYINFO, buf, sizeof buf) < 0)
        return;
    /* "Node 0, zone   Normal      n0 n1 ..." */
    char *s = buf;
    for (int skip = 0; skip < 4 && s; skip++) {
        while (*s == ' ')
            s++;
        s = strchr(s, ' ');
    }
    if (!s)
        return;
    uint64_t total = 0, low = 0;
    for (unsigned o = 0; o <= 30; o++) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s)
            break;
        s = end;
        if (v)
            r->largest_free_order = o;
        total += (uint64_t)v << o;
        if (o < 9)
            low += (uint64_t)v << o;
    }
    r->unusable_order9 = total ? (double)low / (double)total : 0;
}

/* ---- the run ------------------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned p)
{
    if (!n)
        return 0;
    size_t rank = (size_t)(((uint64_t)n * p + 99) / 100); /* nearest rank, 1-based */
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

struct run {
    const struct sim_trace *t;
    struct sim_result *r;
    struct cma_mm *mm;
    enum sim_strategy s;
    struct machine_areas ma;
    struct carve carves[SIM_MAX_AREAS];
    int area_map[256]; /* event area index -> machine area, -1: none */
    struct idmap objmap, bufmap;
    struct pool pool;
    struct dbuf *bufs;
    size_t nbufs, capbufs;
    uint32_t *buffree;
    size_t nbuffree, capbuffree;
    uint64_t page_size, managed, held; /* held: device pages taken from managed memory */
    /* strategy iommu: per event area index (< SIM_MAX_AREAS), its device and domain */
    struct cma_iommu *io[SIM_MAX_AREAS];
    struct cma_dev *dev[SIM_MAX_AREAS];
    uint64_t pt_pages[SIM_MAX_AREAS];  /* each domain's table pages now */
    uint64_t pt_total;                 /* their sum: held too, as page tables */
    double frag_sum;
    uint64_t avail, avail_min, last_t;
    long double avail_integral;
    char *err;
    size_t errlen;
    bool verbose; /* CMASIM_VERBOSE set: one stderr line per device allocation */
};

static void avail_update(struct run *R, uint64_t t)
{
    if (t > R->last_t) {
        R->avail_integral += (long double)R->avail * (long double)(t - R->last_t);
        R->last_t = t;
    }
    R->avail = (R->managed - R->held - R->pt_total) * R->page_size;
    if (R->avail < R->avail_min)
        R->avail_min = R->avail;
}

__attribute__((format(printf, 2, 3))) static int internal(struct run *R, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R->err, R->errlen, fmt, ap);
    va_end(ap);
    return CMASIM_EXIT_INTERNAL;
}

static int obj_forget(struct run *R, struct obj *o, uint32_t slot)
{
    idmap_del(&R->objmap, o->id);
    if (pool_release(&R->pool, slot))
        return internal(R, "out of memory");
    return 0;
}

/* Frees an ordinary block: references and pins are dropped first. */
static int obj_free(struct run *R, struct obj *o, const struct sim_event *e)
{
    int r;
    while (o->refs) {
        if ((r = cma_page_put(R->mm, o->pfn)))
            return internal(R, "cma_page_put(pfn 0x%llx) of object %llu: %s", (unsigned long long)o->pfn,
                            (unsigned long long)o->id, cma_strerror(r));
        o->refs--;
    }
    while (o->pins) {
        if ((r = cma_page_unpin(R->mm, o->pfn)))
            return internal(R, "cma_page_unpin(pfn 0x%llx) of object %llu: %s",
                            (unsigned long long)o->pfn, (unsigned long long)o->id, cma_strerror(r));
        o->pins--;
    }
    if ((r = cma_free_pages(R->mm, o->pfn, o->order)))
        return internal(R, "cma_free_pages(pfn 0x%llx, order %u) of object %llu (event at line %u): %s",
                        (unsigned long long)o->pfn, o->order, (unsigned long long)o->id,
                        e ? e->line : 0, cma_strerror(r));
    return 0;
}

static int do_alloc(struct run *R, const struct sim_event *e)
{
    if (idmap_get(&R->objmap, e->id) != SLOT_EMPTY)
        return 1; /* duplicate id: skip */
    uint32_t slot;
    if (pool_alloc(&R->pool, &slot) || idmap_put(&R->objmap, e->id, slot))
        return internal(R, "out of memory");
    struct obj *o = pool_at(&R->pool, slot);
    *o = (struct obj){.id = e->id, .order = e->order, .state = OBJ_LIVE};
    cma_pfn_t pfn;
    R->r->ordinary_allocs++;
    int r = cma_alloc_pages(R->mm, e->order, e->gfp, &pfn);
    if (r == -CMA_ENOMEM) {
        R->r->ordinary_alloc_failures++;
        o->state = OBJ_FAILED;
        return 0;
    }
    if (r) { /* bad order or flags in a trace */
        R->r->ordinary_allocs--;
        o->state = OBJ_FAILED;
        return 1;
    }
    o->pfn = pfn;
    if (e->flags & SIM_EV_MOVABLE) {
        if ((r = cma_page_set_movable(R->mm, pfn, &sim_ops, o)))
            return internal(R, "cma_page_set_movable(pfn 0x%llx): %s", (unsigned long long)pfn,
                            cma_strerror(r));
        o->movable = true;
        if ((e->flags & SIM_EV_CLEAN) && (r = cma_page_set_clean(R->mm, pfn, true)))
            return internal(R, "cma_page_set_clean(pfn 0x%llx): %s", (unsigned long long)pfn,
                            cma_strerror(r));
    }
    return 0;
}

/* Ordinary-object events other than ALLOC. Returns 0 applied, 1 skipped, or an exit code. */
static int do_obj_event(struct run *R, const struct sim_event *e)
{
    uint32_t slot = idmap_get(&R->objmap, e->id);
    if (slot == SLOT_EMPTY)
        return 1;
    struct obj *o = pool_at(&R->pool, slot);
    int r;
    if (o->state != OBJ_LIVE) {
        if (e->op == SIM_OP_FREE) {
            int x = obj_forget(R, o, slot);
            return x ? x : 1;
        }
        return 1;
    }
    switch (e->op) {
    case SIM_OP_FREE:
        if ((r = obj_free(R, o, e)))
            return r;
        return obj_forget(R, o, slot);
    case SIM_OP_MOVABLE:
        if (o->movable)
            return 1;
        if ((r = cma_page_set_movable(R->mm, o->pfn, &sim_ops, o)))
            return internal(R, "cma_page_set_movable(pfn 0x%llx): %s", (unsigned long long)o->pfn,
                            cma_strerror(r));
        o->movable = true;
        return 0;
    case SIM_OP_CLEAN:
    case SIM_OP_DIRTY:
        if (!o->movable)
            return 1;
        if ((r = cma_page_set_clean(R->mm, o->pfn, e->op == SIM_OP_CLEAN)))
            return internal(R, "cma_page_set_clean(pfn 0x%llx): %s", (unsigned long long)o->pfn,
                            cma_strerror(r));
        return 0;
    case SIM_OP_PIN: {
        cma_pfn_t np;
        if (o->pins == UINT8_MAX)
            return 1;
        r = cma_page_pin_longterm(R->mm, o->pfn, &np);
        if (r == 0) {
            o->pfn = np;
            o->pins++;
        } else if (r != -CMA_EBUSY && r != -CMA_ENOMEM && r != -CMA_EOVERFLOW) {
            return internal(R, "cma_page_pin_longterm(pfn 0x%llx): %s", (unsigned long long)o->pfn,
                            cma_strerror(r));
        }
        return 0; /* a refused pin is the library's answer: the call was made */
    }
    case SIM_OP_UNPIN:
        if (!o->pins)
            return 1;
        if ((r = cma_page_unpin(R->mm, o->pfn)))
            return internal(R, "cma_page_unpin(pfn 0x%llx): %s", (unsigned long long)o->pfn,
                            cma_strerror(r));
        o->pins--;
        return 0;
    case SIM_OP_GET:
        if (o->refs == UINT8_MAX)
            return 1;
        r = cma_page_get(R->mm, o->pfn);
        if (r == 0)
            o->refs++;
        else if (r != -CMA_EOVERFLOW && r != -CMA_EAGAIN)
            return internal(R, "cma_page_get(pfn 0x%llx): %s", (unsigned long long)o->pfn,
                            cma_strerror(r));
        return 0;
    case SIM_OP_PUT:
        if (!o->refs)
            return 1;
        if ((r = cma_page_put(R->mm, o->pfn)))
            return internal(R, "cma_page_put(pfn 0x%llx): %s", (unsigned long long)o->pfn,
                            cma_strerror(r));
        o->refs--;
        return 0;
    default:
        return 1;
    }
}

static int buf_slot(struct run *R, uint32_t *ip)
{
    if (R->nbuffree) {
        *ip = R->buffree[--R->nbuffree];
        return 0;
    }
    if (R->nbufs == R->capbufs) {
        size_t nc = R->capbufs ? R->capbufs * 2 : 64;
        struct dbuf *nb = realloc(R->bufs, nc * sizeof *nb);
        if (!nb)
            return -1;
        R->bufs = nb;
        R->capbufs = nc;
    }
    *ip = (uint32_t)R->nbufs++;
    return 0;
}

static int buf_forget(struct run *R, uint64_t id, uint32_t slot)
{
    idmap_del(&R->bufmap, id);
    if (R->nbuffree == R->capbuffree) {
        size_t nc = R->capbuffree ? R->capbuffree * 2 : 64;
        uint32_t *nf = realloc(R->buffree, nc * sizeof *nf);
        if (!nf)
            return internal(R, "out of memory");
        R->buffree = nf;
        R->capbuffree = nc;
    }
    R->buffree[R->nbuffree++] = slot;
    return 0;
}

/* The domain's table pages and its IOVA fragmentation now; keeps the totals. */
static int iommu_observe(struct run *R, unsigned di, struct cma_iommu_stats *st)
{
    int r = cma_iommu_get_stats(R->io[di], st);
    if (r)
        return internal(R, "cma_iommu_get_stats: %s", cma_strerror(r));
    R->pt_total = R->pt_total - R->pt_pages[di] + st->pt_pages;
    R->pt_pages[di] = st->pt_pages;
    if (R->pt_total * R->page_size > R->r->pt_bytes_peak)
        R->r->pt_bytes_peak = R->pt_total * R->page_size;
    return 0;
}

/* A device buffer through the DMA API and the device's IOMMU (strategy iommu). */
static int do_iommu_alloc(struct run *R, const struct sim_event *e, unsigned di)
{
    if (idmap_get(&R->bufmap, e->id) != SLOT_EMPTY || !e->count)
        return 1;
    uint32_t slot;
    if (buf_slot(R, &slot) || idmap_put(&R->bufmap, e->id, slot))
        return internal(R, "out of memory");
    struct dbuf *b = &R->bufs[slot];
    *b = (struct dbuf){.id = e->id, .count = e->count, .area = di, .iommu = true};
    struct cma_iommu_stats s0, s1;
    int r = iommu_observe(R, di, &s0);
    if (r)
        return r;
    cma_iova_t dma = 0;
    uint64_t t0 = now_ns();
    r = cma_dma_alloc(R->dev[di], e->count * R->page_size, &dma, NULL);
    uint64_t dt = now_ns() - t0;
    R->r->lat_ns[R->r->nlat++] = dt;
    R->r->device_allocs++;
    int x = iommu_observe(R, di, &s1);
    if (x)
        return x;
    if (R->verbose)
        fprintf(stderr, "%-11s t=%.3fs %-8s %7llu pages: %-6s %10.1f us leaves %llu/%llu/%llu dma 0x%llx\n",
                sim_strategy_name(R->s), (double)e->t_ns / 1e9, R->t->area_names[e->area],
                (unsigned long long)e->count, r ? cma_err_name(r) : "ok", (double)dt / 1e3,
                (unsigned long long)(s1.leaves[0] - s0.leaves[0]),
                (unsigned long long)(s1.leaves[1] - s0.leaves[1]),
                (unsigned long long)(s1.leaves[2] - s0.leaves[2]), (unsigned long long)dma);
    if (r) {
        if (r != -CMA_ENOMEM && r != -CMA_ENOSPC)
            return internal(R, "cma_dma_alloc(%s, %llu pages): unexpected %s", R->t->area_names[e->area],
                            (unsigned long long)e->count, cma_err_name(r));
        R->r->device_alloc_failures++;
        b->failed = true;
        avail_update(R, e->t_ns);
        return 0;
    }
    b->pfn = dma;
    struct sim_result *res = R->r;
    res->iommu_buffers++;
    res->iommu_bytes += e->count * R->page_size;
    res->iotlb_entries += (s1.leaves[0] - s0.leaves[0]) + (s1.leaves[1] - s0.leaves[1]) +
                          (s1.leaves[2] - s0.leaves[2]);
    res->iotlb_bytes_large += s1.mapped_bytes - s0.mapped_bytes - (s1.leaves[0] - s0.leaves[0]) * s1.granule;
    double frag = s1.iova_free_bytes ? 1.0 - (double)s1.iova_largest_free / (double)s1.iova_free_bytes : 0;
    R->frag_sum += frag;
    if (frag > res->iova_frag_max)
        res->iova_frag_max = frag;
    R->held += e->count;
    avail_update(R, e->t_ns);
    return 0;
}

static int do_cma_alloc(struct run *R, const struct sim_event *e)
{
    if (e->area < SIM_MAX_AREAS && R->dev[e->area])
        return do_iommu_alloc(R, e, e->area);
    int ai = R->area_map[e->area];
    if (ai < 0 || idmap_get(&R->bufmap, e->id) != SLOT_EMPTY || !e->count)
        return 1;
    uint32_t slot;
    if (buf_slot(R, &slot) || idmap_put(&R->bufmap, e->id, slot))
        return internal(R, "out of memory");
    struct dbuf *b = &R->bufs[slot];
    *b = (struct dbuf){.id = e->id, .count = e->count, .area = (unsigned)ai};
    cma_pfn_t pfn = CMA_PFN_NONE;
    int r;
    struct cma_area_stats before = {0}, after = {0};
    if (R->verbose && R->s != SIM_CARVEOUT)
        (void)cma_area_get_stats(cma_area_at(R->mm, (unsigned)ai), &before);
    uint64_t t0 = now_ns();
    if (R->s == SIM_CARVEOUT)
        r = carve_alloc(&R->carves[ai], e->count, e->align_order, &pfn);
    else
        r = cma_alloc(cma_area_at(R->mm, (unsigned)ai), e->count, e->align_order, &pfn);
    uint64_t dt = now_ns() - t0;
    R->r->lat_ns[R->r->nlat++] = dt;
    if (R->verbose) {
        if (R->s != SIM_CARVEOUT)
            (void)cma_area_get_stats(cma_area_at(R->mm, (unsigned)ai), &after);
        fprintf(stderr, "%-11s t=%.3fs %-8s %7llu pages align %2u: %-6s %10.1f us migrated %6llu "
                        "discarded %6llu retries %llu pfn 0x%llx\n",
                sim_strategy_name(R->s), (double)e->t_ns / 1e9, R->ma.name[ai],
                (unsigned long long)e->count, e->align_order, r ? cma_err_name(r) : "ok", (double)dt / 1e3,
                (unsigned long long)(after.pages_migrated - before.pages_migrated),
                (unsigned long long)(after.pages_discarded - before.pages_discarded),
                (unsigned long long)(after.retries - before.retries), (unsigned long long)pfn);
    }
    R->r->device_allocs++;
    if (r) {
        if (r == -CMA_EINVAL && R->s != SIM_CARVEOUT && e->count > R->ma.count[ai]) {
            /* larger than the area: still a failed device request */
        } else if (r != -CMA_ENOSPC && r != -CMA_EBUSY && r != -CMA_ENOMEM && r != -CMA_EINVAL) {
            return internal(R, "cma_alloc(%s, %llu pages): unexpected %s", R->ma.name[ai],
                            (unsigned long long)e->count, cma_err_name(r));
        }
        R->r->device_alloc_failures++;
        b->failed = true;
        return 0;
    }
    b->pfn = pfn;
    if (R->s != SIM_CARVEOUT) {
        R->held += e->count;
        avail_update(R, e->t_ns);
    }
    return 0;
}

static int buf_release(struct run *R, struct dbuf *b, uint64_t t)
{
    int r;
    if (b->iommu) {
        struct cma_iommu_stats st;
        if ((r = cma_dma_free(R->dev[b->area], b->count * R->page_size, b->pfn)))
            return internal(R, "cma_dma_free(%s, dma 0x%llx, %llu pages): %s", R->t->area_names[b->area],
                            (unsigned long long)b->pfn, (unsigned long long)b->count, cma_strerror(r));
        R->held -= b->count;
        if ((r = iommu_observe(R, b->area, &st)))
            return r;
        avail_update(R, t);
        return 0;
    }
    if (R->s == SIM_CARVEOUT) {
        if ((r = carve_release(&R->carves[b->area], b->pfn)))
            return internal(R, "carveout release of pfn 0x%llx: not allocated", (unsigned long long)b->pfn);
        return 0;
    }
    if ((r = cma_release(cma_area_at(R->mm, b->area), b->pfn, b->count)))
        return internal(R, "cma_release(%s, pfn 0x%llx, %llu pages): %s", R->ma.name[b->area],
                        (unsigned long long)b->pfn, (unsigned long long)b->count, cma_strerror(r));
    R->held -= b->count;
    avail_update(R, t);
    return 0;
}

static int do_cma_release(struct run *R, const struct sim_event *e)
{
    uint32_t slot = idmap_get(&R->bufmap, e->id);
    if (slot == SLOT_EMPTY)
        return 1;
    struct dbuf *b = &R->bufs[slot];
    bool failed = b->failed;
    int r = failed ? 0 : buf_release(R, b, e->t_ns);
    if (r)
        return r;
    if ((r = buf_forget(R, e->id, slot)))
        return r;
    return failed ? 1 : 0;
}

static int take_snapshot(struct run *R, struct snapper *sp, uint64_t t)
{
    struct sim_result *r = R->r;
    int x = snap_raw(R->mm, sp);
    if (x)
        return internal(R, "cma_mm_dump(CMA_DUMP_PAGEBLOCK_MAP): %s", cma_strerror(x));
    if (!r->npb) {
        r->npb = sp->nraw < MAX_CELLS ? sp->nraw : MAX_CELLS;
        r->pb_total = sp->nraw;
        r->pb_bytes = R->page_size << cma_mm_pageblock_order(R->mm);
    }
    if (!r->npb || sp->nraw < r->npb)
        return 0;
    downsample(sp->raw, sp->nraw, r->pbmap + r->nsnap * r->npb, r->npb);
    r->snap_t_ns[r->nsnap++] = t;
    return 0;
}

/* Time of snapshot i of n, evenly spaced over [0, t_end] (no overflow for any t_end). */
static uint64_t snap_time(uint64_t t_end, unsigned n, unsigned i)
{
    if (n < 2)
        return t_end;
    return t_end / (n - 1) * i + t_end % (n - 1) * i / (n - 1);
}

static void sample(struct run *R, uint64_t t, size_t cap)
{
    if (R->r->nsamples < cap)
        R->r->samples[R->r->nsamples++] = (struct sim_sample){t, R->avail};
}

/* Frees everything, checks the machine and destroys it. */
static int teardown(struct run *R, int ret)
{
    int r;
    if (!R->mm)
        return ret;
    if (!ret) {
        for (size_t c = 0; c < R->pool.nchunks && !ret; c++)
            for (uint32_t i = 0; i < CHUNK_SIZE && !ret; i++) {
                uint32_t slot = (uint32_t)(c << CHUNK_SHIFT) | i;
                if (slot >= R->pool.next)
                    break;
                struct obj *o = pool_at(&R->pool, slot);
                if (idmap_get(&R->objmap, o->id) != slot || o->state != OBJ_LIVE)
                    continue;
                ret = obj_free(R, o, NULL);
                o->state = OBJ_FAILED;
            }
        for (size_t i = 0; i < R->nbufs && !ret; i++) {
            struct dbuf *b = &R->bufs[i];
            if (idmap_get(&R->bufmap, b->id) != (uint32_t)i || b->failed)
                continue;
            ret = buf_release(R, b, R->last_t);
            b->failed = true;
        }
    }
    if (!ret) {
        char why[512] = "";
        if ((r = cma_mm_check(R->mm, why, sizeof why)))
            ret = internal(R, "cma_mm_check after the run (%s): %s", sim_strategy_name(R->s), why);
    }
    for (unsigned i = 0; i < SIM_MAX_AREAS && !ret; i++) {
        if (R->dev[i] && (r = cma_dev_destroy(R->dev[i])))
            ret = internal(R, "cma_dev_destroy: %s", cma_strerror(r));
        if (!ret && R->io[i] && (r = cma_iommu_destroy(R->io[i])))
            ret = internal(R, "cma_iommu_destroy: %s", cma_strerror(r));
        R->dev[i] = NULL;
        R->io[i] = NULL;
    }
    if (!ret) {
        if ((r = cma_mm_destroy(R->mm)))
            ret = internal(R, "cma_mm_destroy after freeing everything: %s", cma_strerror(r));
    } else {
        /* leave the machine (and whatever it holds) to the process exit: destroy refuses a machine
         * with live pages, and the run has already failed */
        (void)0;
    }
    R->mm = NULL;
    return ret;
}

int sim_run(const struct sim_machine *m, const struct sim_trace *t, enum sim_strategy s,
            const struct sim_options *o, struct sim_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->strategy = s;
    struct run *R = calloc(1, sizeof *R);
    if (!R) {
        snprintf(err, errlen, "out of memory");
        return CMASIM_EXIT_INTERNAL;
    }
    R->t = t;
    R->r = r;
    R->s = s;
    R->err = err;
    R->errlen = errlen;
    R->verbose = getenv("CMASIM_VERBOSE") != NULL;
    char label[96];
    snprintf(label, sizeof label, "strategy %u of %u (%s)", o->index, o->count, sim_strategy_name(s));
    sim_progress_phase("%s: building the machine", label);
    int ret = build_machine(m, s, &R->mm, &R->ma, R->carves, err, errlen);
    if (ret) {
        free(R);
        return CMASIM_EXIT_SETUP;
    }
    sim_progress_phase("%s: replaying", label);

    /* event area index -> machine area, by name (the trace's or the scenario's names, which main.c
     * and scenario.c have checked against the machine); an unknown name maps to none (skipped) */
    for (unsigned i = 0; i < 256; i++) {
        R->area_map[i] = -1;
        for (unsigned k = 0; i < t->nr_area_names && k < R->ma.n; k++)
            if (!strcmp(R->ma.name[k], t->area_names[i]))
                R->area_map[i] = (int)k;
    }

    /* strategy iommu: one domain and one device per area whose device sits behind an IOMMU */
    for (unsigned i = 0; s == SIM_IOMMU && i < t->nr_area_names && i < SIM_MAX_AREAS && !ret; i++) {
        unsigned bits;
        if (!sim_area_iommu(m, t->area_names[i], &bits))
            continue;
        struct cma_iommu_config ic;
        cma_iommu_config_default(&ic);
        ic.name = t->area_names[i];
        ic.iova_bits = bits < 32 ? 32 : bits > 48 ? 48 : bits;
        ic.fq_timeout_ns = UINT64_MAX / 2; /* see the top of this file: deterministic flushes */
        struct cma_dev_config dc;
        cma_dev_config_default(&dc);
        dc.name = t->area_names[i];
        dc.dma_bits = bits;
        int x = cma_iommu_create(R->mm, &ic, &R->io[i]);
        if (!x) {
            dc.iommu = R->io[i];
            x = cma_dev_create(R->mm, &dc, &R->dev[i]);
        }
        if (x)
            ret = internal(R, "setting up the IOMMU of %s: %s", t->area_names[i], cma_strerror(x));
        R->area_map[i] = -1;
    }
    if (ret)
        goto out;
    if (idmap_init(&R->objmap, t->max_id, t->n) || idmap_init(&R->bufmap, t->max_id, t->n)) {
        ret = internal(R, "out of memory");
        goto out;
    }
    struct cma_mm_stats st;
    if (cma_mm_get_stats(R->mm, &st)) {
        ret = internal(R, "cma_mm_get_stats failed");
        goto out;
    }
    R->page_size = cma_mm_page_size(R->mm);
    R->managed = st.nr_managed;
    for (unsigned i = 0; i < SIM_MAX_AREAS; i++) {
        struct cma_iommu_stats is;
        if (R->io[i] && (ret = iommu_observe(R, i, &is)))
            goto out;
    }
    R->avail = R->avail_min = (R->managed - R->pt_total) * R->page_size;

    size_t ncma = 0;
    for (size_t i = 0; i < t->n; i++)
        ncma += t->ev[i].op == SIM_OP_CMA_ALLOC;
    const uint64_t t_end = t->n ? t->ev[t->n - 1].t_ns : 0;
    uint64_t period = o->sample_every_ns;
    if (!period) {
        period = t_end / 1000;
        if (period < 1000000)
            period = 1000000;
    }
    size_t sample_cap = (size_t)(t_end / period) + 2;
    unsigned nsnap = o->max_snapshots;
    if (!nsnap) {
        /* 60 rows, fewer on big machines: each dump walks every pageblock (a 1 TiB machine has
         * 524288), so the rows share a budget of SNAP_BUDGET pageblock visits (at least 8 rows) */
        uint64_t npb_est = (sim_machine_bytes(m) / R->page_size) >> cma_mm_pageblock_order(R->mm);
        nsnap = 60;
        if (npb_est && SNAP_BUDGET / npb_est < nsnap)
            nsnap = SNAP_BUDGET / npb_est < 8 ? 8 : (unsigned)(SNAP_BUDGET / npb_est);
    }
    r->lat_ns = malloc((ncma ? ncma : 1) * sizeof *r->lat_ns);
    r->samples = malloc(sample_cap * sizeof *r->samples);
    r->snap_t_ns = malloc(nsnap * sizeof *r->snap_t_ns);
    r->pbmap = malloc((size_t)nsnap * MAX_CELLS);
    if (!r->lat_ns || !r->samples || !r->snap_t_ns || !r->pbmap) {
        ret = internal(R, "out of memory");
        goto out;
    }

    struct snapper sp = {0};
    uint64_t next_sample = 0;
    unsigned snap_i = 0;
    for (size_t i = 0; i < t->n && !ret; i++) {
        const struct sim_event *e = &t->ev[i];
        while (next_sample < e->t_ns) {
            avail_update(R, next_sample);
            sample(R, next_sample, sample_cap);
            next_sample += period;
        }
        while (snap_i + 1 < nsnap && snap_time(t_end, nsnap, snap_i) < e->t_ns) {
            if ((ret = take_snapshot(R, &sp, snap_time(t_end, nsnap, snap_i))))
                break;
            snap_i++;
        }
        if (ret)
            break;
        int x;
        switch (e->op) {
        case SIM_OP_ALLOC:
            x = do_alloc(R, e);
            break;
        case SIM_OP_CMA_ALLOC:
            x = do_cma_alloc(R, e);
            break;
        case SIM_OP_CMA_RELEASE:
            x = do_cma_release(R, e);
            break;
        default:
            x = do_obj_event(R, e);
            break;
        }
        if (x == 0)
            r->events_replayed++;
        else if (x == 1)
            r->events_skipped++;
        else
            ret = x;
        if ((i & 16383) == 0)
            sim_progress_update(i, t->n);
    }
    if (!ret) {
        while (next_sample <= t_end) {
            avail_update(R, next_sample);
            sample(R, next_sample, sample_cap);
            next_sample += period;
        }
        avail_update(R, t_end);
        while (snap_i < nsnap && !ret) {
            ret = take_snapshot(R, &sp, snap_i + 1 < nsnap ? snap_time(t_end, nsnap, snap_i) : t_end);
            snap_i++;
        }
    }
    free(sp.buf);
    free(sp.raw);
    if (!ret) {
        r->events_skipped += t->events_skipped;
        r->avail_bytes_min = R->avail_min;
        r->avail_bytes_avg = t_end ? (uint64_t)(R->avail_integral / (long double)t_end) : R->avail;
        r->iova_frag_avg = r->iommu_buffers ? R->frag_sum / (double)r->iommu_buffers : 0;
        fragmentation(R->mm, r);
        for (unsigned i = 0; i < R->ma.n && s != SIM_CARVEOUT; i++) {
            struct cma_area_stats as;
            if (cma_area_get_stats(cma_area_at(R->mm, i), &as) == 0) {
                r->pages_migrated += as.pages_migrated;
                r->pages_discarded += as.pages_discarded;
                r->retries += as.retries;
            }
        }
        uint64_t *sorted = malloc((r->nlat ? r->nlat : 1) * sizeof *sorted);
        if (!sorted) {
            ret = internal(R, "out of memory");
        } else {
            memcpy(sorted, r->lat_ns, r->nlat * sizeof *sorted);
            qsort(sorted, r->nlat, sizeof *sorted, cmp_u64);
            r->lat_p50 = percentile(sorted, r->nlat, 50);
            r->lat_p99 = percentile(sorted, r->nlat, 99);
            r->lat_max = r->nlat ? sorted[r->nlat - 1] : 0;
            free(sorted);
        }
    }
out:
    sim_progress_phase("%s: freeing and checking", label);
    ret = teardown(R, ret);
    idmap_free(&R->objmap);
    idmap_free(&R->bufmap);
    pool_destroy(&R->pool);
    free(R->bufs);
    free(R->buffree);
    for (unsigned i = 0; i < SIM_MAX_AREAS; i++)
        free(R->carves[i].ext);
    free(R);
    return ret;
}
