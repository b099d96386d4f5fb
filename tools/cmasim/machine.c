/* SPDX-License-Identifier: MIT */
/*
 * machine.c - a machine description against libcma's limits, checked before any strategy runs, and
 * the boot layout (memblock, `cma=`, areas) built through the public API with every refusal
 * explained and blamed on the setting that asked for it.
 *
 * sim_machine_check runs two passes. First the limits computable from the description alone, each
 * named in its message: a page size libcma supports (CMA_PAGE_SHIFT_MIN..MAX), ranges that hold at
 * least one whole page and end below 2^64, at most CMA_MAX_PAGES pages in all, at most 2^32
 * pageblocks from the lowest page to the highest (the library keeps a byte per pageblock of that
 * span, holes included), and host memory for the memory map (MEMMAP_BYTES per page) plus, with
 * `backing host`, the pages' contents. cma_mm_online would refuse the first three with a bare
 * -EINVAL or -ENOENT, and the last would end in an allocation failure after seconds of work. Then the
 * boot layout is built on a throw-away machine that is never onlined (onlining allocates the memory
 * map), and the declared areas are read back: names in declaration order, sizes after the library's
 * rounding.
 *
 * The library answers a refused declaration with one errno for several faults, so sim_machine_boot
 * names the fault from the request's numbers: a fixed base off the CMA alignment, a fixed size that is
 * not a multiple of it, a range that is not all memory, no room left. For `cma=` the library also
 * gives the offset of the offending entry (or character) and explains syntax errors through its log
 * hook: the machines made here capture that line (cmasim is single-threaded).
 *
 * Messages start with where the setting came from: "FILE:LINE" for a scenario or trace line (the
 * line numbers in struct sim_machine), "--mem" or "--cmdline" for the command line. The return
 * value is the exit code that goes with it: CMASIM_EXIT_INPUT for a file, CMASIM_EXIT_USAGE for the
 * command line, CMASIM_EXIT_SETUP when the host lacks the memory.
 */
#define _POSIX_C_SOURCE 200809L
#include "cmasim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEMMAP_BYTES 12 /* one memory map entry (include/cma/mm.h, next to CMA_MAX_PAGES) */
#define MAX_PAGEBLOCKS (1ull << 32)

/* ---- origins and messages ---------------------------------------------------------------------- */

/* A setting and where it was written: a line of a file, or the command line (line 0). subject names
 * it as the user wrote it ("memory 1 PiB" in a file, "--mem 1 EiB" on the command line), and the
 * messages start with it. */
struct origin {
    const char *file;
    unsigned line;
    char subject[320];
};

/* Writes "FILE:LINE: message" (or "message" for the command line) into err; returns the exit code
 * for that origin, or code if not 0. */
__attribute__((format(printf, 5, 6))) static int blame(char *err, size_t errlen, const struct origin *o,
                                                     int code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o->line)
        snprintf(err, errlen, "%s:%u: %s", o->file ? o->file : "line", o->line, msg);
    else
        snprintf(err, errlen, "%s", msg);
    if (code)
        return code;
    return o->line ? CMASIM_EXIT_INPUT : CMASIM_EXIT_USAGE;
}

static struct origin of_range(const struct sim_machine *m, const char *file, unsigned i)
{
    struct origin o = {file, m->line_ranges[i], ""};
    char b[40];
    sim_fmt_size(b, sizeof b, m->ranges[i].size);
    if (!o.line)
        snprintf(o.subject, sizeof o.subject, "--mem %s", b);
    else if (m->nr_ranges == 1 && !m->ranges[i].base)
        snprintf(o.subject, sizeof o.subject, "memory %s", b);
    else
        snprintf(o.subject, sizeof o.subject, "range %s at 0x%" PRIx64, b, m->ranges[i].base);
    return o;
}

static struct origin of_cmdline(const struct sim_machine *m, const char *file)
{
    struct origin o = {file, m->line_cmdline, ""};
    snprintf(o.subject, sizeof o.subject, "%scmdline \"%s\"", o.line ? "" : "--", m->cmdline);
    return o;
}

static struct origin of_line(const char *file, unsigned line)
{
    return (struct origin){file, line, "the machine"};
}

/* "2^38" for a power of two, else "1,234,567" */
static void fmt_pow2_or_count(char *out, size_t len, uint64_t v)
{
    if (v && !(v & (v - 1))) {
        unsigned e = 0;
        while ((1ull << e) < v)
            e++;
        snprintf(out, len, "2^%u", e);
    } else {
        sim_fmt_count(out, len, v);
    }
}

/* ---- the library's log, captured -------------------------------------------------------------- */

static char last_log_error[256];

static void capture_log(void *ctx, enum cma_log_level level, const char *msg)
{
    (void)ctx;
    if (level == CMA_LOG_ERROR)
        snprintf(last_log_error, sizeof last_log_error, "%s", msg);
}

int sim_machine_create(const struct sim_machine *m, struct cma_mm **mmp, char *err, size_t errlen)
{
    static const struct cma_host host = {.log = capture_log};
    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    cfg.page_shift = m->page_shift ? m->page_shift : 12;
    cfg.nr_cpus = 1;
    cfg.backing = m->backed ? CMA_BACKING_HOST : CMA_BACKING_NONE;
    cfg.host = &host;
    int r = cma_mm_create(&cfg, mmp);
    if (r)
        snprintf(err, errlen, "cma_mm_create: %s", cma_strerror(r));
    return r;
}

/* ---- explaining refused declarations ----------------------------------------------------------- */

static uint64_t cma_alignment(struct cma_mm *mm)
{
    unsigned pb = cma_mm_pageblock_order(mm), mo = cma_mm_max_order(mm);
    return cma_mm_page_size(mm) << (pb > mo ? pb : mo);
}

/* What was asked: an area of size bytes at base (fixed) or anywhere in [lo, hi) (hi 0: anywhere). */
struct request {
    const char *name;
    uint64_t size;
    bool fixed;
    uint64_t base;
    bool exact;      /* fixed and its size must be a multiple of the alignment (cma=SIZE@START) */
    uint64_t lo, hi; /* not fixed: the window, hi 0 = all memory */
};

/* Why the library refused a declaration with error r (it has one errno for several faults). */
static void explain_declare(struct cma_mm *mm, const struct request *q, int r, char *out, size_t len)
{
    uint64_t a = cma_alignment(mm);
    char as[40], ps[40], ss[40];
    sim_fmt_size(as, sizeof as, a);
    sim_fmt_size(ps, sizeof ps, cma_mm_page_size(mm));
    sim_fmt_size(ss, sizeof ss, q->size);
    uint64_t rounded = q->size > UINT64_MAX - (a - 1) ? UINT64_MAX : (q->size + a - 1) & ~(a - 1);
    switch (r) {
    case -CMA_EINVAL:
        if (q->fixed && q->base % a)
            snprintf(out, len, "the base 0x%" PRIx64 " is not a multiple of the CMA alignment, %s (the "
                     "larger of a pageblock and a largest buddy block, with %s pages)", q->base, as, ps);
        else if (q->fixed && q->exact && q->size % a)
            snprintf(out, len, "at a fixed base the size (%s) must be a multiple of the CMA alignment, %s",
                     ss, as);
        else if (q->fixed)
            snprintf(out, len, "[0x%" PRIx64 ", 0x%" PRIx64 ") is not entirely memory", q->base,
                     q->base + rounded < q->base ? UINT64_MAX : q->base + rounded);
        else
            snprintf(out, len, "%s", cma_strerror(r));
        break;
    case -CMA_EBUSY:
        snprintf(out, len, "[0x%" PRIx64 ", 0x%" PRIx64 ") overlaps reserved memory or another area",
                 q->base, q->base + rounded);
        break;
    case -CMA_ENOMEM:
        if (q->fixed)
            snprintf(out, len, "[0x%" PRIx64 ", 0x%" PRIx64 ") is not free memory", q->base,
                     q->base + rounded);
        else if (q->hi)
            snprintf(out, len, "no free room for %s aligned to %s in [0x%" PRIx64 ", 0x%" PRIx64 ")", ss,
                     as, q->lo, q->hi);
        else
            snprintf(out, len, "no free room for %s aligned to %s in memory", ss, as);
        break;
    case -CMA_EEXIST:
        snprintf(out, len, "an area named '%s' already exists", q->name);
        break;
    case -CMA_ENOSPC:
        snprintf(out, len, "more than %d areas (CMA_MAX_AREAS)", CMA_MAX_AREAS);
        break;
    case -CMA_ENAMETOOLONG:
        snprintf(out, len, "the name is longer than %d characters (CMA_AREA_NAME_MAX)", CMA_AREA_NAME_MAX);
        break;
    default:
        snprintf(out, len, "%s", cma_strerror(r));
        break;
    }
}

/* memparse: a number in C syntax (0x hex, leading 0 octal) and at most one K M G T P E suffix. */
static bool cl_number(const char **sp, uint64_t *v)
{
    const char *s = *sp;
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno)
        return false;
    const char *units = "KMGTPE", *u = *end ? strchr(units, *end & ~0x20) : NULL;
    if (u) {
        unsigned shift = 10u * (unsigned)(u - units + 1);
        if (x > (UINT64_MAX >> shift))
            return false;
        x <<= shift;
        end++;
    }
    *v = x;
    *sp = end;
    return true;
}

/* The entry [NAME:]SIZE[@START[-END]] at s, as cma_parse_cmdline reads it (for the explanation). */
static bool cl_entry(const char *s, struct request *q, char *name, size_t namelen)
{
    const char *colon = strchr(s, ':'), *stop = s + strcspn(s, "@, \"");
    memset(q, 0, sizeof *q);
    snprintf(name, namelen, "reserved");
    if (colon && colon < stop) {
        size_t n = (size_t)(colon - s) < namelen - 1 ? (size_t)(colon - s) : namelen - 1;
        memcpy(name, s, n);
        name[n] = '\0';
        s = colon + 1;
    }
    q->name = name;
    if (!cl_number(&s, &q->size))
        return false;
    if (*s == '@') {
        s++;
        uint64_t start, end;
        if (!cl_number(&s, &start))
            return false;
        if (*s == '-') {
            s++;
            if (!cl_number(&s, &end))
                return false;
            if (end - start != q->size) {
                q->lo = start;
                q->hi = end;
                return true;
            }
        }
        q->fixed = true;
        q->exact = start != 0;
        q->base = start;
        if (!start) { /* base 0 is declared as "anywhere in [0, size)" */
            q->fixed = false;
            q->lo = 0;
            q->hi = q->size;
        }
    }
    return true;
}

/* The library's reason from its log line "cma=: REASON at offset N\n..." (empty if none). */
static void library_reason(char *out, size_t len)
{
    const char *s = last_log_error;
    if (!strncmp(s, "cma=: ", 6))
        s += 6;
    size_t n = strcspn(s, "\n");
    const char *at = strstr(s, " at offset ");
    if (at && (size_t)(at - s) < n)
        n = (size_t)(at - s);
    snprintf(out, len, "%.*s", (int)n, s);
}

int sim_machine_boot(struct cma_mm *mm, const struct sim_machine *m, const char *file, bool declare_areas,
                     char *err, size_t errlen)
{
    char why[512], b1[40], b2[40];
    int r;
    for (unsigned i = 0; i < m->nr_ranges; i++)
        if ((r = cma_memblock_add(mm, m->ranges[i].base, m->ranges[i].size))) {
            struct origin o = of_range(m, file, i);
            return blame(err, errlen, &o, 0, "%s refused: %s", o.subject,
                         r == -CMA_EEXIST ? "it overlaps another range" : cma_strerror(r));
        }
    for (unsigned i = 0; i < m->nr_reserved; i++)
        if ((r = cma_memblock_reserve(mm, m->reserved[i].base, m->reserved[i].size))) {
            sim_fmt_size(b1, sizeof b1, m->reserved[i].size);
            struct origin o = of_line(file, m->line_reserved[i]);
            return blame(err, errlen, &o, 0, "reserve %s at 0x%" PRIx64 " refused: %s", b1, m->reserved[i].base,
                         r == -CMA_EINVAL  ? "not entirely inside memory"
                         : r == -CMA_EBUSY ? "it overlaps another reservation"
                                           : cma_strerror(r));
        }
    if (!declare_areas)
        return 0;
    if (m->cmdline[0]) {
        size_t pos = 0;
        last_log_error[0] = '\0';
        if ((r = cma_parse_cmdline_err(mm, m->cmdline, &pos))) {
            struct origin o = of_cmdline(m, file);
            struct request q;
            char name[CMA_AREA_NAME_MAX + 1];
            if (pos >= strlen(m->cmdline))
                pos = 0;
            /* the library logs "cannot declare" for an entry it parsed but could not place */
            if (strstr(last_log_error, "cannot declare") && cl_entry(m->cmdline + pos, &q, name, sizeof name)) {
                explain_declare(mm, &q, r, why, sizeof why);
                sim_fmt_size(b1, sizeof b1, q.size);
                return blame(err, errlen, &o, 0, "%s: area %s (%s) refused by the library (%s): %s", o.subject,
                             name, b1, cma_err_name(r), why);
            }
            library_reason(why, sizeof why);
            return blame(err, errlen, &o, 0, "%s refused at character %zu: %s", o.subject, pos + 1,
                         why[0] ? why : cma_strerror(r));
        }
    }
    for (unsigned i = 0; i < m->nr_areas; i++)
        if ((r = cma_declare_contiguous(mm, m->areas[i].name, m->areas[i].size, m->areas[i].base, 0, 0, 0,
                                        NULL))) {
            const struct sim_area *a = &m->areas[i];
            struct request q = {.name = a->name, .size = a->size, .fixed = a->base != 0, .base = a->base};
            explain_declare(mm, &q, r, why, sizeof why);
            sim_fmt_size(b1, sizeof b1, a->size);
            if (a->base)
                snprintf(b2, sizeof b2, " at 0x%" PRIx64, a->base);
            else
                b2[0] = '\0';
            struct origin o = of_line(file, m->line_areas[i]);
            return blame(err, errlen, &o, 0, "area %s (%s%s) refused by the library (%s): %s", a->name, b1, b2,
                         cma_err_name(r), why);
        }
    return 0;
}

/* ---- the limits --------------------------------------------------------------------------------- */

static uint64_t host_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* Limits computable from the description: page size, whole pages, CMA_MAX_PAGES, pageblocks, host. */
static int check_limits(const struct sim_machine *m, const char *file, char *err, size_t errlen)
{
    char b1[40], b2[40], b3[40];
    struct cma_mm_config cfg;
    cma_mm_config_default(&cfg);
    unsigned shift = m->page_shift ? m->page_shift : 12;
    if (shift < CMA_PAGE_SHIFT_MIN || shift > CMA_PAGE_SHIFT_MAX) {
        sim_fmt_size(b1, sizeof b1, 1ull << (shift < 64 ? shift : 63));
        sim_fmt_size(b2, sizeof b2, 1ull << CMA_PAGE_SHIFT_MIN);
        sim_fmt_size(b3, sizeof b3, 1ull << CMA_PAGE_SHIFT_MAX);
        struct origin o = of_line(file, m->line_page_size);
        return blame(err, errlen, &o, 0, "page size %s: libcma supports %s to %s pages (CMA_PAGE_SHIFT_MIN..CMA_PAGE_SHIFT_MAX)",
                     b1, b2, b3);
    }
    const uint64_t ps = 1ull << shift;
    sim_fmt_size(b3, sizeof b3, ps);
    uint64_t total = 0, lo = UINT64_MAX, hi = 0;
    unsigned ihi = 0;
    for (unsigned i = 0; i < m->nr_ranges; i++) {
        const struct sim_range *r = &m->ranges[i];
        struct origin o = of_range(m, file, i);
        if (r->size > UINT64_MAX - r->base)
            return blame(err, errlen, &o, 0, "%s ends past the 64-bit address space", o.subject);
        uint64_t first = r->base / ps + (r->base % ps != 0), end = (r->base + r->size) / ps;
        if (end <= first)
            return blame(err, errlen, &o, 0, "%s holds no whole %s page", o.subject, b3);
        total += end - first;
        if (total > CMA_MAX_PAGES) {
            char pg[40];
            fmt_pow2_or_count(pg, sizeof pg, total);
            sim_fmt_size(b2, sizeof b2, (CMA_MAX_PAGES + 2) * ps);
            return blame(err, errlen, &o, 0,
                         "%s%s is %s pages of %s; libcma manages at most 2^32-2 pages per machine "
                         "(CMA_MAX_PAGES, just under %s with %s pages)",
                         o.subject, m->nr_ranges > 1 ? ": the memory up to this range" : "", pg, b3, b2, b3);
        }
        lo = first < lo ? first : lo;
        if (end - 1 >= hi) {
            hi = end - 1;
            ihi = i;
        }
    }
    uint64_t npb = (hi >> cfg.pageblock_order) - (lo >> cfg.pageblock_order) + 1;
    if (npb > MAX_PAGEBLOCKS) {
        char pg[40];
        fmt_pow2_or_count(pg, sizeof pg, npb);
        struct origin o = of_range(m, file, ihi);
        return blame(err, errlen, &o, 0, "%s: the memory ranges span %s pageblocks from the lowest page to the highest (holes "
                     "included); libcma allows at most 2^32", o.subject, pg);
    }
    /* host memory: the memory map, a byte per pageblock, and the contents when backed */
    uint64_t need = total * MEMMAP_BYTES + npb, have = host_memory();
    if (m->backed)
        need = total * ps > UINT64_MAX - need ? UINT64_MAX : need + total * ps;
    if (have && need > have) {
        snprintf(b1, sizeof b1, "%.1f GiB", (double)need / (double)(1ull << 30));
        snprintf(b2, sizeof b2, "%.1f GiB", (double)have / (double)(1ull << 30));
        struct origin o = of_range(m, file, ihi);
        return blame(err, errlen, &o, CMASIM_EXIT_SETUP,
                     "%s: the simulated machine needs %s of host memory (%d bytes of memory map per page%s), "
                     "more than this host's %s%s", o.subject, b1, MEMMAP_BYTES,
                     m->backed ? ", and its contents" : "", b2, m->backed ? ": use `backing none`" : "");
    }
    return 0;
}

int sim_machine_check(const struct sim_machine *m, const char *file, struct sim_layout *lay, char *err,
                      size_t errlen)
{
    struct cma_mm *mm;
    int ret;
    memset(lay, 0, sizeof *lay);
    if (!m->nr_ranges) {
        snprintf(err, errlen, "%s: no memory", file ? file : "the machine");
        return CMASIM_EXIT_INPUT;
    }
    if ((ret = check_limits(m, file, err, errlen)))
        return ret;
    struct sim_machine meta = *m;
    meta.backed = false; /* the probe is never onlined: it needs no contents */
    if (sim_machine_create(&meta, &mm, err, errlen))
        return CMASIM_EXIT_SETUP;
    ret = sim_machine_boot(mm, m, file, true, err, errlen);
    for (unsigned i = 0; !ret; i++) {
        struct cma_area *a = cma_area_at(mm, i);
        struct cma_area_stats st;
        if (!a)
            break;
        if (i == SIM_MAX_AREAS) {
            struct origin o = m->cmdline[0] ? of_cmdline(m, file) : of_line(file, m->line_areas[0]);
            ret = blame(err, errlen, &o, 0, "%s: more than %d CMA areas (cmasim's limit)",
                        m->cmdline[0] ? o.subject : "area", SIM_MAX_AREAS);
            break;
        }
        snprintf(lay->area_name[i], sizeof lay->area_name[i], "%s", cma_area_name(a));
        lay->area_pages[i] = cma_area_get_stats(a, &st) ? 0 : st.count;
        lay->nr_areas++;
    }
    lay->page_size = cma_mm_page_size(mm);
    (void)cma_mm_destroy(mm);
    return ret;
}
