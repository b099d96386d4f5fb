/* SPDX-License-Identifier: MIT */
/*
 * iova.c - the IOVA allocator of one IO address space: size-aligned ranges of granule frames,
 * top-down below a limit, never frame 0, with per-CPU range caches in front.
 *
 * The tree. Allocated ranges [lo, end) sit in a treap (a binary search tree on lo whose random
 * priorities keep it balanced in expectation) with two permanent nodes: [0, 1), so IOVA 0 is never
 * handed out, and an empty anchor at the aperture's end. Every node knows the free gap below it,
 * [gap_lo, lo), and the largest gap of its subtree (max_gap). A request of n granules is aligned to
 * next_pow2(n) (so a range of at most 2^k granules never crosses a 2^k boundary and large ranges line
 * up with block mappings); the search visits the right subtree first, then the node's own gap, then
 * the left subtree, skipping subtrees whose max_gap is too small or whose gaps all start above the
 * limit: the highest place that fits is found in O(depth), where a cursor walk over the ranges (as in
 * Linux) can degrade to linear time and miss space above its cursor.
 *
 * The caches. Sizes up to 32 granules are rounded up to a power of two (bins 1, 2, 4, 8, 16, 32) so
 * that any cached range of a bin serves any request of that bin. Freed ranges go to the freeing CPU's
 * loaded magazine (64 ranges), then its previous one, then the depot (16 full magazines per bin);
 * when the depot is full the magazine's ranges go back to the tree. Allocation pops the newest range
 * below the caller's limit. Cached ranges stay in the tree, so the fast paths never take the tree
 * lock; a tree search that fails is retried by the caller after cma__iova_purge has emptied every
 * cache into the tree (cached space would otherwise look like exhaustion). Magazines are allocated
 * once at init: no allocation ever happens under a lock. Tree nodes come from a pool that callers
 * refill (cma__iova_refill, 63 nodes from the host) with no lock held when a tree allocation answers
 * -EAGAIN: the IOMMU layer allocates under its page-table lock, where no host call may happen.
 *
 * Invariants owned here: see internal/dma.h (checker D2, D3, D9).
 * Locks: cpu[c].lock → depot_lock → lock (tree).
 */
#include "internal/internal.h"

#define NODE_CHUNK 63
#define NONE UINT64_MAX

struct node_chunk {
    struct node_chunk *next;
    struct cma__iova_node nodes[NODE_CHUNK];
};

typedef struct cma__iova_node node_t;

static uint64_t next_pow2(uint64_t n) { return n <= 1 ? 1 : 1ull << (64 - __builtin_clzll(n - 1)); }

/* ---- treap ---------------------------------------------------------------------------------------- */

static void update(node_t *t)
{
    uint64_t m = t->lo - t->gap_lo;
    if (t->l && t->l->max_gap > m)
        m = t->l->max_gap;
    if (t->r && t->r->max_gap > m)
        m = t->r->max_gap;
    t->max_gap = m;
}

static node_t *rot_right(node_t *t)
{
    node_t *l = t->l;
    t->l = l->r;
    l->r = t;
    update(t);
    update(l);
    return l;
}

static node_t *rot_left(node_t *t)
{
    node_t *r = t->r;
    t->r = r->l;
    r->l = t;
    update(t);
    update(r);
    return r;
}

static node_t *tinsert(node_t *t, node_t *n)
{
    if (!t) {
        n->l = n->r = NULL;
        update(n);
        return n;
    }
    if (n->lo < t->lo) {
        t->l = tinsert(t->l, n);
        if (t->l->prio > t->prio)
            return rot_right(t);
    } else {
        t->r = tinsert(t->r, n);
        if (t->r->prio > t->prio)
            return rot_left(t);
    }
    update(t);
    return t;
}

static node_t *tmerge(node_t *a, node_t *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (a->prio > b->prio) {
        a->r = tmerge(a->r, b);
        update(a);
        return a;
    }
    b->l = tmerge(a, b->l);
    update(b);
    return b;
}

static node_t *terase(node_t *t, uint64_t lo, node_t **out)
{
    if (!t)
        return NULL;
    if (t->lo == lo) {
        *out = t;
        return tmerge(t->l, t->r);
    }
    if (lo < t->lo)
        t->l = terase(t->l, lo, out);
    else
        t->r = terase(t->r, lo, out);
    update(t);
    return t;
}

/* Sets the gap of the node at key lo, repairing max_gap on the way back up. */
static void tset_gap(node_t *t, uint64_t lo, uint64_t gap_lo)
{
    if (t->lo == lo)
        t->gap_lo = gap_lo;
    else
        tset_gap(lo < t->lo ? t->l : t->r, lo, gap_lo);
    update(t);
}

/* Smallest node with lo >= x (the anchor bounds every search). */
static node_t *tsucc(node_t *t, uint64_t x)
{
    node_t *best = NULL;
    while (t) {
        if (t->lo >= x) {
            best = t;
            t = t->l;
        } else {
            t = t->r;
        }
    }
    return best;
}

const struct cma__iova_node *cma__iova_find_locked(const struct cma__iova *iv, uint64_t pfn)
{
    const node_t *best = NULL;
    for (const node_t *t = iv->root; t;) {
        if (t->lo <= pfn) {
            best = t;
            t = t->r;
        } else {
            t = t->l;
        }
    }
    return best && pfn < best->end ? best : NULL;
}

/* Highest frame c, aligned to align, with [c, c + size) free and c + size <= limit; NONE if none. */
static uint64_t tfit(const node_t *t, uint64_t size, uint64_t align, uint64_t limit)
{
    if (!t || t->max_gap < size)
        return NONE;
    if (t->end < limit) { /* the right subtree's gaps start at t->end */
        uint64_t c = tfit(t->r, size, align, limit);
        if (c != NONE)
            return c;
    }
    if (t->gap_lo < limit) {
        uint64_t hi = t->lo < limit ? t->lo : limit;
        if (hi - t->gap_lo >= size) {
            uint64_t c = (hi - size) & ~(align - 1);
            if (c >= t->gap_lo)
                return c;
        }
    }
    return tfit(t->l, size, align, limit);
}

/* ---- node pool ------------------------------------------------------------------------------------ */

static uint32_t next_prio(struct cma__iova *iv)
{
    uint32_t x = iv->rng; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return iv->rng = x;
}

int cma__iova_refill(struct cma__iova *iv)
{
    cma__lock(iv->host, &iv->lock);
    while (!iv->pool) {
        cma__unlock(iv->host, &iv->lock);
        struct node_chunk *c = cma__host_alloc(iv->host, sizeof *c);
        cma__lock(iv->host, &iv->lock);
        if (!c) {
            cma__unlock(iv->host, &iv->lock);
            return -CMA_ENOMEM;
        }
        c->next = iv->chunks;
        iv->chunks = c;
        for (unsigned i = 0; i < NODE_CHUNK; i++) {
            c->nodes[i].r = iv->pool;
            iv->pool = &c->nodes[i];
        }
    }
    cma__unlock(iv->host, &iv->lock);
    return 0;
}

/* Inserts [lo, end) into the gap below succ. Caller ensured a spare node. */
static void insert_locked(struct cma__iova *iv, node_t *succ, uint64_t lo, uint64_t end, uint8_t kind)
{
    node_t *n = iv->pool;
    iv->pool = n->r;
    memset(n, 0, sizeof *n);
    n->lo = lo;
    n->end = end;
    n->gap_lo = succ->gap_lo;
    n->kind = kind;
    n->prio = next_prio(iv);
    tset_gap(iv->root, succ->lo, end);
    iv->root = tinsert(iv->root, n);
    iv->nr_nodes++;
}

static void erase_locked(struct cma__iova *iv, uint64_t lo)
{
    node_t *n = NULL;
    iv->root = terase(iv->root, lo, &n);
    cma_assert(n);
    tset_gap(iv->root, tsucc(iv->root, n->end)->lo, n->gap_lo);
    n->r = iv->pool;
    iv->pool = n;
    iv->nr_nodes--;
}

/* ---- init / fini ---------------------------------------------------------------------------------- */

int cma__iova_init(struct cma__iova *iv, const struct cma_hostx *host, unsigned ncpus, uint64_t end_pfn)
{
    memset(iv, 0, sizeof *iv);
    iv->host = host;
    iv->end_pfn = end_pfn;
    iv->ncpus = ncpus;
    iv->rng = 0x9e3779b9u;
    size_t nmags = (size_t)CMA_IOVA_BINS * (2 * ncpus + CMA_IOVA_DEPOT_MAGS);
    iv->mags_bytes = nmags * sizeof(struct cma__iova_mag);
    iv->mags = cma__host_alloc(host, iv->mags_bytes);
    iv->cpu = cma__host_alloc(host, ncpus * sizeof *iv->cpu);
    if (!iv->mags || !iv->cpu)
        goto nomem;
    struct cma__iova_mag *m = iv->mags;
    for (unsigned c = 0; c < ncpus; c++) {
        for (unsigned b = 0; b < CMA_IOVA_BINS; b++) {
            iv->cpu[c].loaded[b] = m++;
            iv->cpu[c].prev[b] = m++;
        }
    }
    for (unsigned b = 0; b < CMA_IOVA_BINS; b++) {
        for (unsigned k = 0; k < CMA_IOVA_DEPOT_MAGS; k++)
            iv->empty[b][k] = m++;
        iv->nempty[b] = CMA_IOVA_DEPOT_MAGS;
    }
    int r = cma__lock_init(host, &iv->lock);
    if (!r)
        r = cma__lock_init(host, &iv->depot_lock);
    for (unsigned c = 0; !r && c < ncpus; c++)
        r = cma__lock_init(host, &iv->cpu[c].lock);
    if (r)
        goto fail;
    /* the permanent nodes: frame 0 and the anchor */
    r = cma__iova_refill(iv);
    cma__lock(host, &iv->lock);
    if (!r) {
        node_t *a = iv->pool;
        iv->pool = a->r;
        memset(a, 0, sizeof *a);
        a->lo = a->end = end_pfn;
        a->kind = IOVA_RESERVED;
        a->prio = next_prio(iv);
        iv->root = tinsert(NULL, a);
        iv->nr_nodes = 1;
        insert_locked(iv, a, 0, 1, IOVA_RESERVED);
    }
    cma__unlock(host, &iv->lock);
    if (r)
        goto fail;
    return 0;
nomem:
    r = -CMA_ENOMEM;
fail:
    cma__iova_fini(iv);
    return r;
}

void cma__iova_fini(struct cma__iova *iv)
{
    const struct cma_hostx *h = iv->host;
    while (iv->chunks) {
        struct node_chunk *c = iv->chunks;
        iv->chunks = c->next;
        cma__host_free(h, c, sizeof *c);
    }
    if (iv->cpu) {
        for (unsigned c = 0; c < iv->ncpus; c++)
            cma__lock_fini(h, &iv->cpu[c].lock);
        cma__host_free(h, iv->cpu, iv->ncpus * sizeof *iv->cpu);
    }
    cma__host_free(h, iv->mags, iv->mags_bytes);
    cma__lock_fini(h, &iv->lock);
    cma__lock_fini(h, &iv->depot_lock);
    memset(iv, 0, sizeof *iv);
}

/* ---- the tree paths --------------------------------------------------------------------------------- */

static int tree_alloc(struct cma__iova *iv, uint64_t size, uint64_t align, uint64_t limit, uint64_t *pfnp)
{
    cma__lock(iv->host, &iv->lock);
    int r = iv->pool ? 0 : -CMA_EAGAIN; /* the caller refills with no lock held */
    if (!r) {
        uint64_t c = tfit(iv->root, size, align, limit);
        if (c == NONE) {
            r = -CMA_ENOSPC;
            iv->fails++;
        } else {
            insert_locked(iv, tsucc(iv->root, c + size), c, c + size, IOVA_DMA);
            *pfnp = c;
        }
    }
    cma__unlock(iv->host, &iv->lock);
    return r;
}

static void tree_free_locked(struct cma__iova *iv, uint64_t pfn, uint64_t size)
{
    const node_t *n = cma__iova_find_locked(iv, pfn);
    cma_assert(n && n->lo == pfn && n->end - n->lo == size && n->kind == IOVA_DMA);
    (void)n;
    (void)size;
    erase_locked(iv, pfn);
}

/* Returns every range of a magazine to the tree; *cached (the owner's count) goes down by as much.
 * Caller holds the tree lock and the magazine owner's lock. */
static void mag_drain_locked(struct cma__iova *iv, struct cma__iova_mag *m, uint64_t size, uint64_t *cached)
{
    for (uint32_t i = 0; i < m->n; i++)
        tree_free_locked(iv, m->pfn[i], size);
    *cached -= (uint64_t)m->n * size;
    m->n = 0;
}

static bool cacheable(uint64_t size) { return size <= (1u << (CMA_IOVA_BINS - 1)); }

/* ---- magazines ------------------------------------------------------------------------------------ */

/* Pops the newest range ending at or below limit. */
static bool mag_pop(struct cma__iova_mag *m, uint64_t size, uint64_t limit, uint64_t *pfnp)
{
    for (uint32_t i = m->n; i-- > 0;) {
        if (m->pfn[i] + size <= limit) {
            *pfnp = m->pfn[i];
            m->pfn[i] = m->pfn[--m->n];
            return true;
        }
    }
    return false;
}

static bool cache_alloc(struct cma__iova *iv, unsigned bin, uint64_t limit, unsigned cpu, uint64_t *pfnp)
{
    struct cma__iova_cpu *c = &iv->cpu[cpu];
    const uint64_t size = 1ull << bin;
    bool got;
    cma__lock(iv->host, &c->lock);
    got = mag_pop(c->loaded[bin], size, limit, pfnp);
    if (!got && mag_pop(c->prev[bin], size, limit, pfnp)) {
        struct cma__iova_mag *t = c->loaded[bin];
        c->loaded[bin] = c->prev[bin];
        c->prev[bin] = t;
        got = true;
    }
    if (!got && c->loaded[bin]->n == 0) {
        cma__lock(iv->host, &iv->depot_lock);
        if (iv->nfull[bin]) {
            struct cma__iova_mag *full = iv->full[bin][--iv->nfull[bin]];
            iv->empty[bin][iv->nempty[bin]++] = c->loaded[bin];
            c->loaded[bin] = full;
            iv->depot_cached -= (uint64_t)full->n * size;
            c->cached += (uint64_t)full->n * size;
        }
        cma__unlock(iv->host, &iv->depot_lock);
        got = mag_pop(c->loaded[bin], size, limit, pfnp);
    }
    if (got) {
        c->cached -= size;
        c->hits++;
    } else {
        c->misses++;
    }
    cma__unlock(iv->host, &c->lock);
    return got;
}

/* Pushes one range onto CPU c's loaded magazine. Caller holds c->lock. */
static void cache_free_locked(struct cma__iova *iv, struct cma__iova_cpu *c, unsigned bin, uint64_t pfn)
{
    const uint64_t size = 1ull << bin;
    if (c->loaded[bin]->n == CMA_IOVA_MAG_SIZE) {
        if (c->prev[bin]->n < CMA_IOVA_MAG_SIZE) {
            struct cma__iova_mag *t = c->loaded[bin];
            c->loaded[bin] = c->prev[bin];
            c->prev[bin] = t;
        } else {
            bool parked = false;
            cma__lock(iv->host, &iv->depot_lock);
            if (iv->nempty[bin]) {
                iv->full[bin][iv->nfull[bin]++] = c->loaded[bin];
                c->loaded[bin] = iv->empty[bin][--iv->nempty[bin]];
                c->cached -= CMA_IOVA_MAG_SIZE * size;
                iv->depot_cached += CMA_IOVA_MAG_SIZE * size;
                parked = true;
            }
            cma__unlock(iv->host, &iv->depot_lock);
            if (!parked) { /* depot full: this magazine's ranges go back to the tree */
                cma__lock(iv->host, &iv->lock);
                mag_drain_locked(iv, c->loaded[bin], size, &c->cached);
                cma__unlock(iv->host, &iv->lock);
            }
        }
    }
    struct cma__iova_mag *m = c->loaded[bin];
    m->pfn[m->n++] = pfn;
    c->cached += size;
}

/* ---- public (cross-file) entry points --------------------------------------------------------------- */

int cma__iova_alloc(struct cma__iova *iv, uint64_t n, uint64_t limit, unsigned cpu, uint64_t *pfnp)
{
    uint64_t size = cma__iova_size(n);
    if (cacheable(size) && cache_alloc(iv, (unsigned)__builtin_ctzll(size), limit, cpu, pfnp))
        return 0;
    return tree_alloc(iv, size, next_pow2(n), limit, pfnp);
}

void cma__iova_free(struct cma__iova *iv, uint64_t pfn, uint64_t n, unsigned cpu)
{
    struct cma__iova_range r = {pfn, n};
    cma__iova_free_many(iv, &r, 1, cpu);
}

void cma__iova_free_many(struct cma__iova *iv, const struct cma__iova_range *r, unsigned nr, unsigned cpu)
{
    struct cma__iova_cpu *c = &iv->cpu[cpu];
    bool tree = false;
    cma__lock(iv->host, &c->lock);
    for (unsigned k = 0; k < nr; k++) {
        uint64_t size = cma__iova_size(r[k].n);
        if (cacheable(size))
            cache_free_locked(iv, c, (unsigned)__builtin_ctzll(size), r[k].pfn);
        else
            tree = true;
    }
    cma__unlock(iv->host, &c->lock);
    if (!tree)
        return;
    cma__lock(iv->host, &iv->lock);
    for (unsigned k = 0; k < nr; k++) {
        uint64_t size = cma__iova_size(r[k].n);
        if (!cacheable(size))
            tree_free_locked(iv, r[k].pfn, size);
    }
    cma__unlock(iv->host, &iv->lock);
}

void cma__iova_purge(struct cma__iova *iv)
{
    for (unsigned c = 0; c < iv->ncpus; c++) {
        cma__lock(iv->host, &iv->cpu[c].lock);
        cma__lock(iv->host, &iv->lock);
        for (unsigned b = 0; b < CMA_IOVA_BINS; b++) {
            mag_drain_locked(iv, iv->cpu[c].loaded[b], 1ull << b, &iv->cpu[c].cached);
            mag_drain_locked(iv, iv->cpu[c].prev[b], 1ull << b, &iv->cpu[c].cached);
        }
        cma__unlock(iv->host, &iv->lock);
        cma__unlock(iv->host, &iv->cpu[c].lock);
    }
    cma__lock(iv->host, &iv->depot_lock);
    cma__lock(iv->host, &iv->lock);
    for (unsigned b = 0; b < CMA_IOVA_BINS; b++) {
        while (iv->nfull[b]) {
            struct cma__iova_mag *m = iv->full[b][--iv->nfull[b]];
            mag_drain_locked(iv, m, 1ull << b, &iv->depot_cached);
            iv->empty[b][iv->nempty[b]++] = m;
        }
    }
    cma__unlock(iv->host, &iv->lock);
    cma__unlock(iv->host, &iv->depot_lock);
}

int cma__iova_reserve(struct cma__iova *iv, uint64_t lo, uint64_t end, enum cma__iova_kind kind)
{
    cma__lock(iv->host, &iv->lock);
    int r = iv->pool ? 0 : -CMA_EAGAIN;
    if (!r) {
        node_t *s = tsucc(iv->root, lo);
        if (s->lo < end || s->gap_lo > lo)
            r = -CMA_EEXIST; /* a range starts inside [lo, end), or the one below reaches past lo */
        else
            insert_locked(iv, s, lo, end, (uint8_t)kind);
    }
    cma__unlock(iv->host, &iv->lock);
    return r;
}

int cma__iova_release(struct cma__iova *iv, uint64_t lo, uint64_t end, enum cma__iova_kind kind)
{
    int r = 0;
    cma__lock(iv->host, &iv->lock);
    const node_t *n = cma__iova_find_locked(iv, lo);
    if (!n || n->lo != lo || n->kind != kind)
        r = -CMA_ENOENT;
    else if (n->end != end)
        r = -CMA_EINVAL;
    else
        erase_locked(iv, lo);
    cma__unlock(iv->host, &iv->lock);
    return r;
}

void cma__iova_space_locked(const struct cma__iova *iv, uint64_t *freep, uint64_t *largestp)
{
    uint64_t used = 0;
    (void)cma__iova_walk_locked((struct cma__iova *)iv, NULL, &used);
    *freep = iv->end_pfn - used;
    *largestp = iv->root->max_gap;
}

void cma__iova_counters_locked(const struct cma__iova *iv, uint64_t *cached, uint64_t *hits,
                               uint64_t *misses, uint64_t *fails)
{
    *cached = iv->depot_cached;
    *hits = *misses = 0;
    for (unsigned c = 0; c < iv->ncpus; c++) {
        *cached += iv->cpu[c].cached;
        *hits += iv->cpu[c].hits;
        *misses += iv->cpu[c].misses;
    }
    *fails = iv->fails;
}

void cma__iova_lock_all(struct cma__iova *iv)
{
    for (unsigned c = 0; c < iv->ncpus; c++)
        cma__lock(iv->host, &iv->cpu[c].lock);
    cma__lock(iv->host, &iv->depot_lock);
    cma__lock(iv->host, &iv->lock);
}

void cma__iova_unlock_all(struct cma__iova *iv)
{
    cma__unlock(iv->host, &iv->lock);
    cma__unlock(iv->host, &iv->depot_lock);
    for (unsigned c = iv->ncpus; c-- > 0;)
        cma__unlock(iv->host, &iv->cpu[c].lock);
}

/* ---- walking and checking ------------------------------------------------------------------------ */

static int walk(node_t *t, int (*fn)(void *, node_t *), void *arg, uint64_t *used)
{
    if (!t)
        return 0;
    int r = walk(t->l, fn, arg, used);
    if (r)
        return r;
    if (fn && (r = fn(arg, t)))
        return r;
    if (used)
        *used += t->end - t->lo;
    return walk(t->r, fn, arg, used);
}

/* With fn NULL, arg is a uint64_t that receives the granules covered by ranges. */
int cma__iova_walk_locked(struct cma__iova *iv, int (*fn)(void *arg, struct cma__iova_node *n), void *arg)
{
    return walk(iv->root, fn, fn ? arg : NULL, fn ? NULL : (uint64_t *)arg);
}

struct tree_check {
    const struct cma__iova *iv;
    uint64_t prev_end, nodes;
    bool first;
    char *why;
    size_t len;
};

#define FAIL(c, ...) (cma__format((c)->why, (c)->len, __VA_ARGS__), -CMA_EFAULT)

static uint64_t recompute_max_gap(const node_t *t)
{
    uint64_t m = t->lo - t->gap_lo;
    if (t->l && t->l->max_gap > m)
        m = t->l->max_gap;
    if (t->r && t->r->max_gap > m)
        m = t->r->max_gap;
    return m;
}

static int check_node(void *arg, node_t *n)
{
    struct tree_check *c = arg;
    c->nodes++;
    if (c->first ? n->lo != 0 || n->end != 1 || n->kind != IOVA_RESERVED : n->lo < c->prev_end)
        return FAIL(c, "D2: range [0x%llx, 0x%llx) overlaps the one below or frame 0 is not reserved",
                    (unsigned long long)n->lo, (unsigned long long)n->end);
    if (n->gap_lo != (c->first ? 0 : c->prev_end) || n->max_gap != recompute_max_gap(n))
        return FAIL(c, "D2: range at 0x%llx: gap bookkeeping wrong (gap from 0x%llx, max %llu)",
                    (unsigned long long)n->lo, (unsigned long long)n->gap_lo,
                    (unsigned long long)n->max_gap);
    if (n->end < n->lo || n->end > c->iv->end_pfn)
        return FAIL(c, "D2: range [0x%llx, 0x%llx) leaves the aperture", (unsigned long long)n->lo,
                    (unsigned long long)n->end);
    if (n->kind == IOVA_DMA && (n->lo & (next_pow2(n->end - n->lo) - 1)))
        return FAIL(c, "D9: range at 0x%llx of %llu granules not size-aligned",
                    (unsigned long long)n->lo, (unsigned long long)(n->end - n->lo));
    if (n->kind == IOVA_RESERVED && !c->first && n->lo != c->iv->end_pfn)
        return FAIL(c, "D2: reserved range at 0x%llx is neither frame 0 nor the anchor",
                    (unsigned long long)n->lo);
    c->first = false;
    c->prev_end = n->end;
    return 0;
}

int cma__iova_claim_locked(struct cma__iova *iv, uint64_t pfn, uint64_t size, uint32_t gen, char *why,
                           size_t len)
{
    node_t *n = (node_t *)cma__iova_find_locked(iv, pfn);
    if (!n || n->lo != pfn || n->end - n->lo != size || n->kind != IOVA_DMA)
        return cma__format(why, len, "D3: cached or queued range 0x%llx (%llu granules) is no allocated "
                        "range of that size", (unsigned long long)pfn, (unsigned long long)size), -CMA_EFAULT;
    if ((n->mark | 1) == (gen | 1)) /* this check's even generation, or its odd "queued" twin */
        return cma__format(why, len, "D3: range 0x%llx cached, queued or mapped twice",
                        (unsigned long long)pfn), -CMA_EFAULT;
    n->mark = gen;
    return 0;
}

static int check_mag(struct cma__iova *iv, const struct cma__iova_mag *m, unsigned bin, uint32_t gen,
                     uint64_t *cached, char *why, size_t len)
{
    if (m->n > CMA_IOVA_MAG_SIZE)
        return cma__format(why, len, "D3: magazine holds %u ranges", m->n), -CMA_EFAULT;
    for (uint32_t i = 0; i < m->n; i++) {
        int r = cma__iova_claim_locked(iv, m->pfn[i], 1ull << bin, gen, why, len);
        if (r)
            return r;
    }
    *cached += (uint64_t)m->n << bin;
    return 0;
}

int cma__iova_check_locked(struct cma__iova *iv, uint32_t gen, char *why, size_t len)
{
    struct tree_check c = {.iv = iv, .first = true, .why = why, .len = len};
    int r = walk(iv->root, check_node, &c, NULL);
    if (r)
        return r;
    if (c.nodes != iv->nr_nodes || c.prev_end != iv->end_pfn)
        return FAIL(&c, "D2: %llu ranges in the tree, %llu counted, or the anchor is missing",
                    (unsigned long long)c.nodes, (unsigned long long)iv->nr_nodes);
    uint64_t cached = 0;
    for (unsigned b = 0; b < CMA_IOVA_BINS; b++) {
        for (unsigned k = 0; k < iv->ncpus; k++) {
            if ((r = check_mag(iv, iv->cpu[k].loaded[b], b, gen, &cached, why, len)) ||
                (r = check_mag(iv, iv->cpu[k].prev[b], b, gen, &cached, why, len)))
                return r;
        }
        if (iv->nfull[b] + iv->nempty[b] != CMA_IOVA_DEPOT_MAGS)
            return FAIL(&c, "D3: depot of bin %u holds %u + %u magazines", b, iv->nfull[b],
                        iv->nempty[b]);
        for (unsigned k = 0; k < iv->nfull[b]; k++)
            if ((r = check_mag(iv, iv->full[b][k], b, gen, &cached, why, len)))
                return r;
        for (unsigned k = 0; k < iv->nempty[b]; k++)
            if (iv->empty[b][k]->n)
                return FAIL(&c, "D3: an empty depot magazine of bin %u holds ranges", b);
    }
    uint64_t counted, hits, misses, fails;
    cma__iova_counters_locked(iv, &counted, &hits, &misses, &fails);
    if (cached != counted)
        return FAIL(&c, "D10: %llu granules cached, counters say %llu", (unsigned long long)cached,
                    (unsigned long long)counted);
    return 0;
}
