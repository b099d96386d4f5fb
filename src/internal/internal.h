/* SPDX-License-Identifier: MIT */
/*
 * internal/internal.h - the map of libcma: cross-file functions grouped by the file that defines
 * them, plus the small inline helpers every module uses (locks, pfn <-> memmap lookups).
 * Cross-file internal names are cma__*; public ones cma_*.
 */
#ifndef CMA_INTERNAL_H
#define CMA_INTERNAL_H

#include "types.h"
#include "debug.h"
#include "libc.h"
#include "dma.h"

#include <stdarg.h>

#define CMA_LIKELY(x) __builtin_expect(!!(x), 1)
#define CMA_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- format.c ----------------------------------------------------------------------------------- */
/* The one text builder: snprintf's contract (writes while there is room, counts the full text;
 * finish NUL-terminates and returns the full length, -EOVERFLOW past INT_MAX). The formatter reads
 * C's printf subset listed in format.c, so the format attribute checks every call. */
struct cma__buf {
    char *buf;
    size_t len;
    size_t pos; /* bytes of the full text so far */
};
void cma__buf_init(struct cma__buf *b, char *buf, size_t len);
void cma__buf_putc(struct cma__buf *b, char c);
void cma__buf_write(struct cma__buf *b, const char *s, size_t n);
void cma__buf_vprintf(struct cma__buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void cma__buf_printf(struct cma__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cma__buf_finish(struct cma__buf *b);
/* snprintf and vsnprintf through the builder. */
int cma__format(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cma__vformat(char *buf, size_t len, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* ---- host.c ------------------------------------------------------------------------------------- */
/* Resolves user hooks (may be NULL) into hx, filling defaults. -EINVAL for half a set of lock or
 * mutex hooks, alloc without free, a size too small, or (freestanding) no memory hooks. */
int cma__host_resolve(const struct cma_host *user, struct cma_hostx *hx);
void *cma__host_alloc(const struct cma_hostx *hx, size_t size);
void cma__host_free(const struct cma_hostx *hx, void *p, size_t size);
/* Formats (or hands the format to logv); nothing happens without a log hook. */
void cma__log(const struct cma_hostx *hx, enum cma_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Makes hx's panic hook the program's (cma_mm_create); cma__panic calls it, or the default. */
void cma__panic_install(const struct cma_hostx *hx);
_Noreturn void cma__panic(const char *msg);
void cma__lock_slow(const struct cma_hostx *hx, struct cma_lock *l);
int cma__lock_init(const struct cma_hostx *hx, struct cma_lock *l);
void cma__lock_fini(const struct cma_hostx *hx, struct cma_lock *l);
/* The sleeping class (an area's allocation lock): never taken inside a spinning lock. */
int cma__mutex_init(const struct cma_hostx *hx, struct cma_lock *l);
void cma__mutex_fini(const struct cma_hostx *hx, struct cma_lock *l);
void cma__mutex_lock(const struct cma_hostx *hx, struct cma_lock *l);
void cma__mutex_unlock(const struct cma_hostx *hx, struct cma_lock *l);

static inline void cma__lock(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (CMA_UNLIKELY(hx->custom_locks)) {
        hx->h.lock(hx->h.ctx, &l->word);
        return;
    }
    if (CMA_LIKELY(!atomic_exchange_explicit(&l->spin, 1, memory_order_acquire)))
        return;
    cma__lock_slow(hx, l);
}

static inline bool cma__trylock(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (CMA_UNLIKELY(hx->custom_locks))
        return hx->h.trylock(hx->h.ctx, &l->word);
    return atomic_load_explicit(&l->spin, memory_order_relaxed) == 0 &&
           !atomic_exchange_explicit(&l->spin, 1, memory_order_acquire);
}

static inline void cma__unlock(const struct cma_hostx *hx, struct cma_lock *l)
{
    if (CMA_UNLIKELY(hx->custom_locks)) {
        hx->h.unlock(hx->h.ctx, &l->word);
        return;
    }
    atomic_store_explicit(&l->spin, 0, memory_order_release);
}

/* Best-effort "is it held" for assertions (always true with host locks, which we cannot query). */
static inline bool cma__lock_held(const struct cma_hostx *hx, const struct cma_lock *l)
{
    return hx->custom_locks || atomic_load_explicit(&((struct cma_lock *)l)->spin, memory_order_relaxed);
}
#define cma__assert_locked(mm) cma_assert(cma__lock_held(&(mm)->host, &(mm)->lock))

static inline void cma__mm_lock(struct cma_mm *mm) { cma__lock(&mm->host, &mm->lock); }
static inline void cma__mm_unlock(struct cma_mm *mm) { cma__unlock(&mm->host, &mm->lock); }

/* ---- host_posix.c (hosted builds only) ----------------------------------------------------------- */
#ifndef CMA_FREESTANDING
/* Fills the hooks h leaves NULL with POSIX ones (the mutexes only without custom spinning locks). */
void cma__host_posix_defaults(struct cma_host *h, bool custom_locks);
_Noreturn void cma__posix_panic(const char *msg);
/* The default CPU id: a per-thread slot, read here without a call. The static library may ask for
 * initial-exec TLS (a direct thread-pointer load); the shared library keeps the general-dynamic
 * model so it can be dlopen()ed into a process without spare static TLS. */
#if defined(CMA_TLS_INITIAL_EXEC) && (defined(__GNUC__) || defined(__clang__))
#define CMA_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CMA_TLS_MODEL
#endif
extern _Thread_local unsigned cma__tls_cpu_slot CMA_TLS_MODEL;
unsigned cma__tls_cpu_slot_assign(void);
#endif

/* The calling CPU's cache index (normal mode: cpu_id, or the default per-thread slot). */
static inline unsigned cma__this_cpu(const struct cma_mm *mm)
{
    unsigned id;
    if (CMA_LIKELY(mm->host.default_cpu_id)) {
#ifdef CMA_FREESTANDING
        id = 0;
#else
        id = cma__tls_cpu_slot;
        if (CMA_UNLIKELY(id == UINT32_MAX))
            id = cma__tls_cpu_slot_assign();
#endif
    } else if (mm->host.h.cpu_id_ex) {
        bool ex;
        id = mm->host.h.cpu_id_ex(mm->host.h.ctx, &ex);
    } else {
        id = mm->host.h.cpu_id(mm->host.h.ctx);
    }
    return CMA_LIKELY(id < mm->nr_cpus) ? id : id % mm->nr_cpus;
}

/* Local mode: the cache the caller may use without its lock - its CPU's, when it runs CPU-exclusive
 * and its id names a cache of its own (not taken modulo) - or NULL. */
static inline struct cma_pcp *cma__this_cpu_owned(struct cma_mm *mm)
{
    bool ex = false;
    unsigned id = mm->host.h.cpu_id_ex(mm->host.h.ctx, &ex);
    return ex && id < mm->nr_cpus ? &mm->pcp[id] : NULL;
}

/* ---- copy.c --------------------------------------------------------------------------------------- */
/* Copies n bytes of page contents (both page aligned, no overlap); next (may be NULL) is the source
 * the caller copies next, prefetched while this copy ends. Non-temporal stores on x86-64 with SSE2
 * (cma__copy_nt), memcpy with prefetch elsewhere (cma__copy_portable); both always built where they
 * can run, so the fallback is tested on x86 too. Freestanding builds never use SSE registers (a
 * kernel must save them first; its copy hook can): the portable copy only. */
void cma__copy_pages(void *dst, const void *src, size_t n, const void *next);
void cma__copy_portable(void *dst, const void *src, size_t n, const void *next);
#if defined(__SSE2__) && defined(__x86_64__) && !defined(CMA_FREESTANDING)
#define CMA_HAVE_COPY_NT 1
void cma__copy_nt(void *dst, const void *src, size_t n, const void *next);
#endif
/* cma__copy_pages as the host's copy hook (the default when the host gives none). */
void cma__copy_default(void *ctx, void *dst, const void *src, size_t n);

/* ---- mm.c (boot phase) --------------------------------------------------------------------------- */
/* Takes mm->lock for a boot-phase change (memblock, area declarations); -EPERM once online. Full
 * memblock arrays are grown first with the lock dropped, so the change never allocates under it. */
int cma__mm_lock_boot(struct cma_mm *mm);

/* ---- memblock.c --------------------------------------------------------------------------------- */
int cma__memblock_init(struct cma_memblock *mb, const struct cma_hostx *host);
void cma__memblock_fini(struct cma_memblock *mb);
int cma__memblock_add(struct cma_memblock *mb, cma_phys_t base, uint64_t size);
int cma__memblock_remove(struct cma_memblock *mb, cma_phys_t base, uint64_t size);
int cma__memblock_reserve(struct cma_memblock *mb, cma_phys_t base, uint64_t size);
int cma__memblock_free(struct cma_memblock *mb, cma_phys_t base, uint64_t size);
/* Allocate+reserve size bytes aligned to align (power of two, > 0) inside [start, end); end 0 = no
 * limit. Top-down unless mb->bottom_up. */
int cma__memblock_alloc_range(struct cma_memblock *mb, uint64_t size, uint64_t align,
                              cma_phys_t start, cma_phys_t end, cma_phys_t *basep);
/* Growing full arrays without allocating under the caller's lock: cma__memblock_full (locked) says
 * which arrays are full; cma__memblock_grow_alloc (unlocked) allocates their doubles (-ENOMEM keeps
 * none); cma__memblock_grow_swap (locked) installs those still needed and leaves in g what to free;
 * cma__memblock_grow_free (unlocked) frees it. Any single operation needs one free slot per array. */
bool cma__memblock_full(const struct cma_memblock *mb, struct cma_mb_grow *g);
int cma__memblock_grow_alloc(const struct cma_memblock *mb, struct cma_mb_grow *g);
void cma__memblock_grow_swap(struct cma_memblock *mb, struct cma_mb_grow *g);
void cma__memblock_grow_free(const struct cma_memblock *mb, struct cma_mb_grow *g);
bool cma__memblock_is_reserved(const struct cma_memblock *mb, cma_phys_t base, uint64_t size);
bool cma__memblock_is_memory(const struct cma_memblock *mb, cma_phys_t base, uint64_t size);
uint64_t cma__memblock_metadata_bytes(const struct cma_memblock *mb);

/* ---- mm.c --------------------------------------------------------------------------------------- */
/* Memory map lookups. pfn_to_idx returns false for a pfn outside every span (hole / outside). */
static inline const struct cma_span *cma__span_of_pfn(const struct cma_mm *mm, cma_pfn_t pfn)
{
    const struct cma_span *s = mm->spans;
    if (CMA_LIKELY(mm->nspans == 1))
        return pfn - s->base < s->npages ? s : NULL;
    unsigned lo = 0, hi = mm->nspans;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (pfn < s[mid].base)
            hi = mid;
        else if (pfn - s[mid].base >= s[mid].npages)
            lo = mid + 1;
        else
            return &s[mid];
    }
    return NULL;
}

static inline const struct cma_span *cma__span_of_idx(const struct cma_mm *mm, uint32_t idx)
{
    const struct cma_span *s = mm->spans;
    unsigned lo = 0, hi = mm->nspans;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (idx < s[mid].idx)
            hi = mid;
        else if (idx - s[mid].idx >= s[mid].npages)
            lo = mid + 1;
        else
            return &s[mid];
    }
    return NULL;
}

/* Memory-map index of pfn, which the caller knows lies in span s. */
static inline uint32_t cma__span_idx(const struct cma_span *s, cma_pfn_t pfn)
{
    return s->idx + (uint32_t)(pfn - s->base);
}

/* Memory-map index of pfn, or CMA_IDX_NIL when pfn is not memory. */
static inline uint32_t cma__pfn_idx(const struct cma_mm *mm, cma_pfn_t pfn)
{
    const struct cma_span *s = cma__span_of_pfn(mm, pfn);
    return s ? cma__span_idx(s, pfn) : CMA_IDX_NIL;
}

static inline cma_pfn_t cma__idx_to_pfn(const struct cma_mm *mm, uint32_t idx)
{
    const struct cma_span *s = mm->nspans == 1 ? mm->spans : cma__span_of_idx(mm, idx);
    return s->base + (idx - s->idx);
}

static inline struct cma_page *cma__page(const struct cma_mm *mm, uint32_t idx)
{
    return &mm->memmap[idx];
}

static inline uint32_t cma__page_idx(const struct cma_mm *mm, const struct cma_page *p)
{
    return (uint32_t)(p - mm->memmap);
}

static inline unsigned cma__page_state(const struct cma_page *p)
{
    return atomic_load_explicit(&((struct cma_page *)p)->flags, memory_order_relaxed) & PS_MASK;
}

static inline uint8_t cma__page_flags(const struct cma_page *p)
{
    return atomic_load_explicit(&((struct cma_page *)p)->flags, memory_order_relaxed);
}

static inline void cma__page_set_flags(struct cma_page *p, uint8_t f)
{
    atomic_store_explicit(&p->flags, f, memory_order_relaxed);
}

/* Clears a descriptor back to the tail state (all zero). */
static inline void cma__page_clear(struct cma_page *p)
{
    p->lo = 0;
    p->hi = 0;
    p->order = 0;
    atomic_store_explicit(&p->ops, 0, memory_order_relaxed);
    atomic_store_explicit(&p->refs, 0, memory_order_relaxed);
    atomic_store_explicit(&p->flags, 0, memory_order_relaxed);
}

/* ---- pageblock.c -------------------------------------------------------------------------------- */
static inline _Atomic uint8_t *cma__pb_slot(const struct cma_mm *mm, cma_pfn_t pfn)
{
    return &mm->pageblocks[(pfn >> mm->pb_order) - mm->pb_first];
}
/* The raw label byte of pfn's pageblock (PB_* bits). Lock-free read. */
static inline uint8_t cma__pb_raw(const struct cma_mm *mm, cma_pfn_t pfn)
{
    return atomic_load_explicit(cma__pb_slot(mm, pfn), memory_order_acquire);
}
/* Effective type used for list placement: ISOLATE when isolated, else the stored type. */
static inline unsigned cma__pb_type(const struct cma_mm *mm, cma_pfn_t pfn)
{
    uint8_t v = cma__pb_raw(mm, pfn);
    return (v & PB_ISOLATE) ? CMA_MIGRATE_ISOLATE : (v & PB_TYPE_MASK);
}
/* Stored type (what the block returns to after isolation). */
static inline unsigned cma__pb_stored_type(const struct cma_mm *mm, cma_pfn_t pfn)
{
    return cma__pb_raw(mm, pfn) & PB_TYPE_MASK;
}
/* Mergeable = may be relabelled by the allocator (Linux: type < MIGRATE_PCPTYPES). */
static inline bool cma__mt_mergeable(unsigned mt) { return mt < CMA_MIGRATE_PCPTYPES; }

/* Sets the stored type of pfn's pageblock, keeping the isolate bit; updates pb_count. Caller holds
 * mm->lock. Does not move free pages (callers do that with the freelist helpers). */
void cma__pb_set_type_locked(struct cma_mm *mm, cma_pfn_t pfn, unsigned mt);
/* Sets / clears the isolate bit of pfn's pageblock; updates pb_count. Caller holds mm->lock. */
void cma__pb_set_isolate_locked(struct cma_mm *mm, cma_pfn_t pfn, bool isolate);
/* Initialise labels at online: every pageblock touched by a span MOVABLE, others PB_HOLE. */
void cma__pb_init(struct cma_mm *mm);

/* ---- page_alloc.c ------------------------------------------------------------------------------- */
/* The only writers of free_area and nr_free_buddy. Caller holds mm->lock. */
void cma__freelist_add_locked(struct cma_mm *mm, uint32_t idx, unsigned order, unsigned mt, bool tail);
void cma__freelist_del_locked(struct cma_mm *mm, uint32_t idx, unsigned order, unsigned mt);
void cma__freelist_move_locked(struct cma_mm *mm, uint32_t idx, unsigned order, unsigned from,
                               unsigned to);
/* Frees a block (any order, aligned, inside one span) into the buddy with merging. The block's
 * descriptors must be in the tail state except the head, which this overwrites. Caller holds mm->lock.
 * Blocks above pageblock order are split per pageblock so each piece goes to its own type. */
void cma__free_block_locked(struct cma_mm *mm, cma_pfn_t pfn, unsigned order, bool to_tail);
/* A block of `order` from the lists of type mt alone (smallest fitting block, split), no fallback and
 * no CMA; CMA_IDX_NIL if mt has none. Caller holds mm->lock. */
uint32_t cma__smallest_from_list_locked(struct cma_mm *mm, unsigned order, unsigned mt);
/* Removes one block of `order` for migrate type mt (fallback, CMA rules). mode_cache may be NULL.
 * Returns the memmap index or CMA_IDX_NIL. Caller holds mm->lock. */
uint32_t cma__rmqueue_locked(struct cma_mm *mm, unsigned order, unsigned mt, bool alloc_cma,
                             int *mode_cache);
/* cma_alloc_pages restricted to blocks whose every page lies below pfn `limit` (no CMA, no isolated
 * pageblocks; UNMOVABLE or RECLAIMABLE gfp). -ENOMEM when none. No lock held. */
int cma__alloc_pages_below(struct cma_mm *mm, unsigned order, unsigned gfp, cma_pfn_t limit,
                           cma_pfn_t *pfnp);
/* Frees every unreserved page of every span in the largest aligned blocks (online). */
void cma__free_all_unreserved(struct cma_mm *mm);

/* ---- pcp.c -------------------------------------------------------------------------------------- */
/* The caches of every CPU with their locks, allocated and freed with no libcma lock held (online,
 * destroy); cma__pcp_setup sizes batch and high from nr_managed and empties every list. */
int cma__pcp_array_alloc(const struct cma_mm *mm, struct cma_pcp **pcpp);
void cma__pcp_array_free(const struct cma_mm *mm, struct cma_pcp *pcp);
void cma__pcp_setup(struct cma_mm *mm);
/* Slow paths of the inline fast paths in pcp_inline.h; caller is inside the cache. */
void cma__pcp_refill(struct cma_mm *mm, struct cma_pcp *pcp, unsigned order, unsigned mt);
void cma__pcp_trim(struct cma_mm *mm, struct cma_pcp *pcp, unsigned order, unsigned mt);
void cma__pcp_drain_cpu(struct cma_mm *mm, unsigned cpu);
/* Empties one CPU's cache; caller holds that pcp lock and mm->lock. */
void cma__pcp_drain_cpu_locked(struct cma_mm *mm, unsigned cpu);
/* Takes / releases every cache for work from outside their CPUs (in CPU order; before any other
 * spinning lock; in local mode with the owners' handshake, see pcp.c). */
void cma__pcp_lock_all(const struct cma_mm *mm);
void cma__pcp_unlock_all(const struct cma_mm *mm);
/* The two halves of cma__pcp_lock_all, for a caller that takes other locks in between (the checker):
 * the local-mode handshake on every cache (no lock held; nothing in normal mode), and the locks. */
void cma__pcp_remote_begin(const struct cma_mm *mm);
void cma__pcp_remote_end(const struct cma_mm *mm);
void cma__pcp_take_locks(const struct cma_mm *mm);
void cma__pcp_drop_locks(const struct cma_mm *mm);
/* Every cache, then the zone: a consistent view of all free lists (statistics, dumps). */
void cma__lock_all(const struct cma_mm *mm);
void cma__unlock_all(const struct cma_mm *mm);
void cma__pcp_drain_all(struct cma_mm *mm);

/* ---- migrate.c ---------------------------------------------------------------------------------- */
struct cma__migrate_ctl {
    bool allow_discard;  /* drop clean blocks whose owner has discard */
    unsigned target_mt;  /* migrate type the targets are allocated as */
    /* Range being cleared for a contiguous allocation (batches only; claim_to 0 = none): a moved or
     * dropped source lying wholly inside is kept as PS_CLAIMED instead of being freed
     * and taken back from the free lists. */
    cma_pfn_t claim_from, claim_to;
    uint64_t claimed;    /* out: pages of sources kept as PS_CLAIMED */
    uint64_t migrated;   /* out: pages copied */
    uint64_t discarded;  /* out: pages dropped */
};
/* Finds the live PS_ALLOC block containing pfn. -EINVAL not memory, -EFAULT not allocated.
 * Caller holds mm->lock. */
int cma__alloc_head_locked(const struct cma_mm *mm, cma_pfn_t pfn, uint32_t *idxp, cma_pfn_t *headp);
/* Migrates (or discards) the allocated block whose head is pfn. Takes mm->lock itself; call with no
 * libcma lock held (callbacks run in between). 0 moved/dropped (*newpfnp = target or CMA_PFN_NONE),
 * -EAGAIN transient (refused, referenced, busy, freed meanwhile), -EBUSY not movable or pinned,
 * -ENOMEM no target. */
int cma__migrate_block(struct cma_mm *mm, cma_pfn_t pfn, struct cma__migrate_ctl *ctl,
                       cma_pfn_t *newpfnp);
/* Migrates (or drops) the allocated blocks of [from, end) (inside span s), one batch of at most
 * CMA_MIGRATE_BATCH blocks / 512 pages per call; out->next says where the next batch starts.
 * Blocks that can never move are reported in out->stuck (the batch stops there if stop_on_stuck);
 * transiently busy ones in out->left_pfn. Call with no libcma lock held. */
#define CMA_MIGRATE_BATCH 32
struct cma__migrate_batch {
    cma_pfn_t next;
    unsigned moved;                       /* blocks moved or dropped */
    unsigned nleft;                       /* blocks left behind (transient) */
    cma_pfn_t left_pfn[CMA_MIGRATE_BATCH];/* the first of them */
    cma_pfn_t stuck;                      /* first block that can never move, or CMA_PFN_NONE */
    bool pcp_seen;                        /* a cached free block was found (should not happen) */
    bool nomem;                           /* no target memory for some block */
};
void cma__migrate_batch(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t from, cma_pfn_t end,
                        struct cma__migrate_ctl *ctl, bool stop_on_stuck,
                        struct cma__migrate_batch *out);
uint32_t cma__pin_count_locked(struct cma_mm *mm, uint32_t idx);
void cma__pins_fini(struct cma_mm *mm);
/* Grows the pin table, if needed, so `extra` more pins fit without growing under mm->lock (host
 * memory is taken with no lock held). Call with no libcma lock held. */
int cma__pins_make_room(struct cma_mm *mm, uint32_t extra);
bool cma__pins_have_room_locked(const struct cma_mm *mm, uint32_t extra);
/* DMA holds on the pages [pfn, pfn + n) of one run (see migrate.c): count_locked validates and counts
 * the pins a hold takes (-EINVAL not memory or crosses a hole, -EFAULT a page not in use, -EAGAIN a
 * block being migrated); hold_locked takes them on a run count_locked validated in the same mm->lock
 * hold (the table must have room, see make_room; only a pin-count overflow fails, and changes
 * nothing); unhold_locked drops them. Caller holds mm->lock. */
int cma__dma_hold_count_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n, uint32_t *npins);
int cma__dma_hold_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n);
void cma__dma_unhold_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n);
/* For the checker: 0 when every page of [pfn, pfn + n) is in use and every page-allocator block among
 * them is pinned; -EBUSY an unpinned block, else as count_locked. Caller holds mm->lock. */
int cma__dma_held_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n);

/* ---- isolate.c ---------------------------------------------------------------------------------- */
/* Isolates every pageblock touching [start, end) (inside one span), refusing with -EBUSY (and
 * *busyp = the obstacle) when a pageblock is already isolated, is CMA while !cma_mode, or holds an
 * unmovable, pinned, reserved or contiguously allocated page inside [start, end) (not checked for
 * CMA pageblocks when trust_cma, as Linux). Free blocks go to the ISOLATE lists, except that with
 * claimedp those wholly inside [start, end) are claimed at once (PS_CLAIMED, *claimedp pages; see
 * contig.c). Then drains every per-CPU cache. Takes the locks; on failure nothing is left changed. */
int cma__isolate_range_ex(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end, bool cma_mode,
                          bool trust_cma, cma_pfn_t *busyp, uint64_t *claimedp);
static inline int cma__isolate_range(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end,
                                     bool cma_mode, cma_pfn_t *busyp)
{
    return cma__isolate_range_ex(mm, start, end, cma_mode, false, busyp, NULL);
}
/* Frees the claimed pieces (PS_CLAIMED blocks of [start, end), span s) back to the buddy.
 * Caller holds mm->lock. */
void cma__unclaim_range_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t start,
                               cma_pfn_t end);
/* Undoes cma__isolate_range: labels restored, free pages back on their lists and merged. */
void cma__undo_isolate_range(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end);
/* Moves every free block inside the pageblock at pb (pageblock aligned) from list `from` to `to`
 * without relabelling. Caller holds mm->lock. */
void cma__move_free_pageblock_locked(struct cma_mm *mm, cma_pfn_t pb, unsigned from, unsigned to);
/* First pfn in [from, to) (inside span s) that migration can never clear: an allocated block
 * without movable ops, a pinned block, a reserved page or a contiguous allocation; else
 * CMA_PFN_NONE. Caller holds mm->lock. */
cma_pfn_t cma__find_unmovable_locked(const struct cma_mm *mm, const struct cma_span *s,
                                     cma_pfn_t from, cma_pfn_t to);
/* One past the block headed by p at head. Written as a predicted branch rather than arithmetic: in
 * a walk over order-0 blocks the next address then does not wait for this block's order to load,
 * so the walk's loads overlap instead of forming one dependent chain (about 3x on long walks). */
static inline cma_pfn_t cma__block_end(cma_pfn_t head, const struct cma_page *p)
{
    unsigned o = p->order;
    if (__builtin_expect(o == 0, 1))
        return head + 1;
    return head + (1ull << o);
}

/* First block head at or before pfn covering it, or CMA_IDX_NIL (pfn not memory / reserved run).
 * Range walks call this once per block, so the common case (pfn is itself a head) is inline. */
uint32_t cma__block_head_slow(const struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pfn,
                              cma_pfn_t *headp);
static inline uint32_t cma__block_head(const struct cma_mm *mm, const struct cma_span *s,
                                       cma_pfn_t pfn, cma_pfn_t *headp)
{
    uint32_t idx = cma__span_idx(s, pfn);
    if (cma__page_state(cma__page(mm, idx)) != PS_TAIL) {
        *headp = pfn;
        return idx;
    }
    cma_pfn_t h = pfn; /* a local, so the caller's head never needs a stack slot on the fast path */
    idx = cma__block_head_slow(mm, s, pfn, &h);
    *headp = h;
    return idx;
}

/* ---- contig.c ----------------------------------------------------------------------------------- */
#define CMA_CONTIG_BUSY_MAX 256
struct cma__contig_req {
    bool cma_mode;       /* range lies in CMA pageblocks (cma_alloc) */
    bool allow_discard;
    bool linux_mode;     /* as Linux: trust CMA pageblocks at isolation, migrate everything movable
                            and find unmovable pages only when verifying (CMA_POLICY_LINUX) */
    cma_pfn_t busy_pfn;  /* out, on -EBUSY: the first page that could not be cleared */
    cma_pfn_t busy_list[CMA_CONTIG_BUSY_MAX]; /* out, on -EBUSY: pages that could not be cleared */
    unsigned nbusy;
    uint64_t migrated;   /* out */
    uint64_t discarded;  /* out */
};
int cma__alloc_contig_range(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end,
                            struct cma__contig_req *req);
/* Frees [start, start + count) of PS_CONTIG pages (validated first: -EFAULT/-EINVAL change
 * nothing). Caller holds mm->lock. */
int cma__free_contig_locked(struct cma_mm *mm, cma_pfn_t start, uint64_t count);

/* ---- cma.c -------------------------------------------------------------------------------------- */
/* Online hooks: is pfn inside a declared area; label area pageblocks CMA (mm->lock held). */
bool cma__pfn_in_area(const struct cma_mm *mm, cma_pfn_t pfn);
/* End pfn of the area containing pfn, or 0. */
cma_pfn_t cma__area_end_containing(const struct cma_mm *mm, cma_pfn_t pfn);
/* Appends the sysfs-style counters of an area (and its bitmap runs). Takes area->lock. */
void cma__area_format(const struct cma_area *area, struct cma__buf *b, bool with_bitmap);
void cma__areas_activate_locked(struct cma_mm *mm);
void cma__areas_fini(struct cma_mm *mm);
int cma__check_areas_locked(const struct cma_mm *mm, char *why, size_t len);

/* ---- check.c ------------------------------------------------------------------------------------ */
/* The checker with every lock already held by the caller. */
int cma__check_locked(const struct cma_mm *mm, char *why, size_t len);

/* ---- misc helpers ------------------------------------------------------------------------------- */
static inline bool cma__is_pow2(uint64_t x) { return x && !(x & (x - 1)); }
static inline unsigned cma__ffs64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned cma__fls64(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }
/* n / d (d > 0). A 64-bit division is a call into the compiler's runtime on 32-bit targets, which
 * a freestanding build may not have: there it is done by shifts (cold paths only). */
static inline uint64_t cma__div64(uint64_t n, uint64_t d)
{
#if UINTPTR_MAX > 0xffffffffu
    return n / d;
#else
    uint64_t q = 0, r = 0;
    for (int b = 63; b >= 0; b--) {
        r = (r << 1) | ((n >> b) & 1);
        if (r >= d) {
            r -= d;
            q |= 1ull << b;
        }
    }
    return q;
#endif
}
/* Backward-shift deletion in a linear-probing table: with a hole at slot i, may the entry at slot j
 * (whose home slot is `home`) stay where it is? Only if home lies cyclically in (i, j]. */
static inline bool cma__probe_stays(uint32_t i, uint32_t j, uint32_t home)
{
    return i <= j ? (i < home && home <= j) : (i < home || home <= j);
}

#endif /* CMA_INTERNAL_H */
