/* SPDX-License-Identifier: MIT */
/*
 * scenario.c - the scenario file format, the built-in scenarios, and the seeded workload generator.
 *
 * A scenario is a small line-oriented text file: one `key value...` per line, `#` starts a comment,
 * blank lines are ignored. The built-ins are the files in tools/cmasim/scenarios/, compiled into the
 * binary (builtin_scenarios.c is generated at build time), so `cmasim` works without the source
 * tree; a path loads the same format. Every key is documented in scenarios/README.md and, line by
 * line, in the built-in files. Errors read "file:line: what is wrong".
 *
 * Loading validates the machine against the library itself: a throw-away machine is created with
 * the public API and the memory ranges, reservations, `cmdline cma=...` and `area` lines are applied
 * to it, so a layout libcma would refuse is reported with the line that asked for it. The same pass
 * learns the order in which the library declares the areas (cmdline areas first), which is the
 * index a device's `area=NAME` resolves to.
 *
 * Generator (sim_scenario_generate). Deterministic from the seed; each background line and each
 * device has its own random stream (seed mixed with the line number), so adding a device does not
 * change the background workload. Simulated time advances in `step`s. In each step:
 *   1. every background line frees a share of its live objects (churn, per second, after the ramp),
 *      flips page-cache objects between clean and dirty (writes and writeback) so that the clean
 *      share stays at clean=PCT, and allocates new objects until its live pages reach its target:
 *      share x machine pages, ramped up linearly over `ramp`;
 *   2. device events whose time falls inside the step follow, in time order (releases first on a
 *      tie): a burst of `burst` buffers every `every` (buffers `gap` apart), each released `hold`
 *      after its allocation.
 * Object classes become events: page cache = MOVABLE allocation with movable ops, clean or dirty;
 * anon = MOVABLE, dirty; kernel = UNMOVABLE, no ops; pinned = MOVABLE with ops, then PIN (pin_style
 * longterm: FOLL_LONGTERM, which moves it out of CMA first) or GET held for its whole life
 * (pin_style get: a driver pinning without FOLL_LONGTERM). Frees of pinned objects are preceded by
 * UNPIN/PUT. The generator does not know which allocations the engine will see fail: the engine
 * skips later events on failed or discarded objects.
 */
#define _POSIX_C_SOURCE 200809L
#include "cmasim.h"
#include "builtin.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>


/* ---- private generator parameters ----------------------------------------------------------- */
#define MAX_BG 16
#define MAX_DEV 16
#define MAX_SIZES 16

struct bg_line {
    unsigned line;
    enum sim_class cls;
    double share;              /* of machine pages */
    unsigned order_lo, order_hi;
    double clean;              /* 0..1, page cache only */
    double churn;              /* share of live objects freed and replaced per second */
    double flip;               /* share of live page-cache objects re-drawn clean/dirty per second */
};

struct dev_line {
    unsigned line;
    char name[64];
    char area[64];
    unsigned area_idx;
    uint64_t sizes[MAX_SIZES]; /* bytes */
    unsigned nsizes;
    unsigned burst;
    uint64_t every_ns, hold_lo_ns, hold_hi_ns, start_ns, gap_ns;
    bool have_start;           /* else the first burst comes when the ramp ends */
    int align;                 /* -1: min(order of the size, 8) as Linux's CONFIG_CMA_ALIGNMENT */
    bool iommu;                /* behind an IOMMU: strategy iommu maps its buffers through one */
    unsigned dma_bits;         /* addressing limit (default 64) */
};

enum pin_style { PIN_LONGTERM, PIN_GET };

struct gen_params {
    struct bg_line bg[MAX_BG];
    unsigned nbg;
    struct dev_line dev[MAX_DEV];
    unsigned ndev;
    enum pin_style pin_style;
    uint64_t ramp_ns, quick_ns;
    bool have_ramp, have_quick;
    char area_names[SIM_MAX_AREAS][64]; /* as the library declares them */
    unsigned nr_area_names;
    char file[512];                     /* for messages from the generator */
};

/* ---- small parsing helpers ----------------------------------------------------------------------- */

struct parser {
    const char *file;
    unsigned line;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int perr(struct parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->line)
        snprintf(p->err, p->errlen, "%s:%u: %s", p->file, p->line, msg);
    else
        snprintf(p->err, p->errlen, "%s: %s", p->file, msg);
    return -1;
}

/* Durations: a number with a unit: ns, us, ms, s, min. */
static bool parse_duration(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s) && *s != '.')
        return false;
    double v = strtod(s, &end);
    if (errno || v < 0)
        return false;
    double mul;
    if (!strcmp(end, "ns"))
        mul = 1;
    else if (!strcmp(end, "us"))
        mul = 1e3;
    else if (!strcmp(end, "ms"))
        mul = 1e6;
    else if (!strcmp(end, "s"))
        mul = 1e9;
    else if (!strcmp(end, "min"))
        mul = 60e9;
    else
        return false;
    if (v * mul > 1e18)
        return false;
    *out = (uint64_t)(v * mul + 0.5);
    return true;
}

/* A duration or a range A-B of durations. */
static bool parse_duration_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    const char *dash = strchr(s, '-');
    if (!dash)
        return parse_duration(s, lo) && (*hi = *lo, true);
    char a[64];
    size_t n = (size_t)(dash - s);
    if (n >= sizeof a)
        return false;
    memcpy(a, s, n);
    a[n] = '\0';
    return parse_duration(a, lo) && parse_duration(dash + 1, hi) && *lo <= *hi;
}

/* A fraction: 0.45 or 45%. */
static bool parse_fraction(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s)
        return false;
    if (*end == '%') {
        v /= 100;
        end++;
    }
    if (*end || v < 0 || v > 1)
        return false;
    *out = v;
    return true;
}

/* A percentage: 70 or 70% (-> 0.70). */
static bool parse_percent(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s)
        return false;
    if (*end == '%')
        end++;
    if (*end || v < 0 || v > 100)
        return false;
    *out = v / 100;
    return true;
}

/* A rate: 5%/s, 5/s or 5 (percent per second). */
static bool parse_rate(const char *s, double *out)
{
    char buf[64];
    size_t n = strlen(s);
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n + 1);
    if (n >= 2 && !strcmp(buf + n - 2, "/s"))
        buf[n - 2] = '\0';
    return parse_percent(buf, out);
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return false;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* Splits a line into words in place (whitespace separated). Returns the count. */
static unsigned split_words(char *s, char **w, unsigned max)
{
    unsigned n = 0;
    while (*s) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        if (n == max)
            return max + 1;
        w[n++] = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

static const char *const class_names[SIM_NCLASSES] = {"other", "pagecache", "anon", "kernel", "pinned"};

static void name_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* ---- the parser ---------------------------------------------------------------------------------- */

/* Splits a "key=value" word in place; perr (and -1) when there is no '='. */
static int split_option(struct parser *p, char *word, const char **k, char **v)
{
    char *eq = strchr(word, '=');
    if (!eq)
        return perr(p, "expected key=value, got '%s'", word);
    *eq = '\0';
    *k = word;
    *v = eq + 1;
    return 0;
}

static int parse_background(struct parser *p, struct gen_params *g, char **w, unsigned n)
{
    if (n < 3)
        return perr(p, "usage: background CLASS SHARE [order=N|N-M] [clean=PCT] [churn=PCT/s] "
                       "[flip=PCT/s]");
    if (g->nbg == MAX_BG)
        return perr(p, "more than %d background lines", MAX_BG);
    struct bg_line *b = &g->bg[g->nbg];
    memset(b, 0, sizeof *b);
    b->line = p->line;
    b->cls = SIM_CLASS_OTHER;
    for (unsigned c = SIM_CLASS_PAGECACHE; c < SIM_NCLASSES; c++)
        if (!strcmp(w[1], class_names[c]))
            b->cls = (enum sim_class)c;
    if (b->cls == SIM_CLASS_OTHER)
        return perr(p, "unknown background class '%s' (pagecache, anon, kernel or pinned)", w[1]);
    if (!parse_fraction(w[2], &b->share))
        return perr(p, "share '%s' must be a fraction of memory: 0.45 or 45%%", w[2]);
    b->flip = 0.02;
    for (unsigned i = 3; i < n; i++) {
        const char *k = NULL;
        char *v = NULL;
        if (split_option(p, w[i], &k, &v))
            return -1;
        if (!strcmp(k, "order")) {
            unsigned long long lo, hi;
            char *dash = strchr(v, '-');
            if (dash) {
                *dash = '\0';
                if (!parse_uint(v, 20, &lo) || !parse_uint(dash + 1, 20, &hi) || lo > hi)
                    return perr(p, "order must be N or N-M with N <= M <= 20");
            } else if (!parse_uint(v, 20, &lo)) {
                return perr(p, "order '%s' must be 0..20", v);
            } else {
                hi = lo;
            }
            b->order_lo = (unsigned)lo;
            b->order_hi = (unsigned)hi;
        } else if (!strcmp(k, "clean")) {
            if (!parse_percent(v, &b->clean))
                return perr(p, "clean '%s' must be a percentage 0..100", v);
            if (b->cls != SIM_CLASS_PAGECACHE && b->clean > 0)
                return perr(p, "clean= applies to pagecache only");
        } else if (!strcmp(k, "churn")) {
            if (!parse_rate(v, &b->churn))
                return perr(p, "churn '%s' must be a rate in percent per second: 5%%/s", v);
        } else if (!strcmp(k, "flip")) {
            if (!parse_rate(v, &b->flip))
                return perr(p, "flip '%s' must be a rate in percent per second: 2%%/s", v);
        } else {
            return perr(p, "unknown background option '%s' (order, clean, churn, flip)", k);
        }
    }
    g->nbg++;
    return 0;
}

static int parse_device(struct parser *p, struct gen_params *g, char **w, unsigned n)
{
    if (n < 2)
        return perr(p, "usage: device NAME area=AREA sizes=8M,16M burst=N every=5s hold=2s "
                       "[align=ORDER] [start=T] [gap=T] [iommu] [dma_bits=N]");
    if (g->ndev == MAX_DEV)
        return perr(p, "more than %d devices", MAX_DEV);
    struct dev_line *d = &g->dev[g->ndev];
    memset(d, 0, sizeof *d);
    d->line = p->line;
    d->align = -1;
    d->burst = 1;
    d->dma_bits = 64;
    if (strlen(w[1]) >= sizeof d->name)
        return perr(p, "device name too long");
    name_copy(d->name, sizeof d->name, w[1]);
    bool have_every = false, have_hold = false;
    for (unsigned i = 2; i < n; i++) {
        const char *k = NULL;
        char *v = NULL;
        unsigned long long u;
        if (!strcmp(w[i], "iommu")) {
            d->iommu = true;
            continue;
        }
        if (split_option(p, w[i], &k, &v))
            return -1;
        if (!strcmp(k, "dma_bits")) {
            if (!parse_uint(v, 64, &u) || u < 12)
                return perr(p, "dma_bits '%s' must be 12..64", v);
            d->dma_bits = (unsigned)u;
        } else if (!strcmp(k, "area")) {
            if (strlen(v) >= sizeof d->area)
                return perr(p, "area name too long");
            name_copy(d->area, sizeof d->area, v);
        } else if (!strcmp(k, "sizes") || !strcmp(k, "size")) {
            d->nsizes = 0;
            for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
                if (d->nsizes == MAX_SIZES)
                    return perr(p, "more than %d sizes", MAX_SIZES);
                if (!sim_parse_size(tok, &d->sizes[d->nsizes]) || !d->sizes[d->nsizes])
                    return perr(p, "size '%s' is not a size (8M, 1G, 4096)", tok);
                d->nsizes++;
            }
        } else if (!strcmp(k, "burst")) {
            if (!parse_uint(v, 100000, &u) || !u)
                return perr(p, "burst '%s' must be 1..100000", v);
            d->burst = (unsigned)u;
        } else if (!strcmp(k, "every")) {
            if (!parse_duration(v, &d->every_ns) || !d->every_ns)
                return perr(p, "every '%s' must be a duration above zero (5s, 40ms)", v);
            have_every = true;
        } else if (!strcmp(k, "hold")) {
            if (!parse_duration_range(v, &d->hold_lo_ns, &d->hold_hi_ns))
                return perr(p, "hold '%s' must be a duration or a range (2s, 1s-3s)", v);
            have_hold = true;
        } else if (!strcmp(k, "align")) {
            if (!parse_uint(v, 30, &u))
                return perr(p, "align '%s' must be an order 0..30", v);
            d->align = (int)u;
        } else if (!strcmp(k, "start")) {
            if (!parse_duration(v, &d->start_ns))
                return perr(p, "start '%s' must be a duration", v);
            d->have_start = true;
        } else if (!strcmp(k, "gap")) {
            if (!parse_duration(v, &d->gap_ns))
                return perr(p, "gap '%s' must be a duration", v);
        } else {
            return perr(p, "unknown device option '%s' (area, sizes, burst, every, hold, align, start, "
                           "gap, iommu, dma_bits)", k);
        }
    }
    if (!d->area[0])
        return perr(p, "device %s needs area=NAME", d->name);
    if (!d->nsizes)
        return perr(p, "device %s needs sizes=LIST", d->name);
    if (!have_every || !have_hold)
        return perr(p, "device %s needs every= and hold=", d->name);
    g->ndev++;
    return 0;
}

static int parse_text(const char *file, const char *text, struct sim_scenario *sc, char *err,
                      size_t errlen)
{
    struct parser p = {.file = file, .line = 0, .err = err, .errlen = errlen};
    struct gen_params *g = calloc(1, sizeof *g);
    struct sim_machine *m = &sc->machine;
    unsigned line_duration = 0, line_step = 0;
    bool have_memory = false;
    if (!g)
        return perr(&p, "out of memory");
    sc->gen = g;
    name_copy(g->file, sizeof g->file, file);
    m->page_shift = 12;
    sc->seed = 1;
    g->pin_style = PIN_LONGTERM;

    const char *s = text;
    while (*s) {
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        char buf[1024];
        p.line++;
        if (len >= sizeof buf)
            return perr(&p, "line longer than %zu characters", sizeof buf - 1);
        memcpy(buf, s, len);
        buf[len] = '\0';
        s += len + (eol ? 1 : 0);
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        /* keep the raw remainder for free-text keys */
        char raw[1024];
        memcpy(raw, buf, strlen(buf) + 1);
        char *w[40];
        unsigned n = split_words(buf, w, 39);
        if (n == 0)
            continue;
        if (n > 39)
            return perr(&p, "too many words");
        const char *key = w[0];
        const char *rest = raw + (w[0] - buf) + strlen(w[0]);
        while (isspace((unsigned char)*rest))
            rest++;
        char restbuf[1024];
        name_copy(restbuf, sizeof restbuf, rest);
        for (size_t e = strlen(restbuf); e && isspace((unsigned char)restbuf[e - 1]); e--)
            restbuf[e - 1] = '\0';

        if (!strcmp(key, "name")) {
            if (n != 2 || strlen(w[1]) >= sizeof sc->name)
                return perr(&p, "usage: name WORD (up to %zu characters)", sizeof sc->name - 1);
            name_copy(sc->name, sizeof sc->name, w[1]);
        } else if (!strcmp(key, "description")) {
            name_copy(sc->description, sizeof sc->description, restbuf);
        } else if (!strcmp(key, "memory")) {
            uint64_t sz;
            if (n != 2 || !sim_parse_size(w[1], &sz) || !sz)
                return perr(&p, "usage: memory SIZE (e.g. 2G)");
            if (m->nr_ranges)
                return perr(&p, "memory and range lines cannot be mixed (memory SIZE is range 0 SIZE)");
            m->ranges[0] = (struct sim_range){0, sz};
            m->nr_ranges = 1;
            m->line_ranges[0] = p.line;
            have_memory = true;
        } else if (!strcmp(key, "range")) {
            uint64_t b, sz;
            if (n != 3 || !sim_parse_size(w[1], &b) || !sim_parse_size(w[2], &sz) || !sz)
                return perr(&p, "usage: range BASE SIZE (e.g. range 0 1G)");
            if (have_memory)
                return perr(&p, "memory and range lines cannot be mixed (memory SIZE is range 0 SIZE)");
            if (m->nr_ranges == SIM_MAX_RANGES)
                return perr(&p, "more than %d ranges", SIM_MAX_RANGES);
            m->line_ranges[m->nr_ranges] = p.line;
            m->ranges[m->nr_ranges++] = (struct sim_range){b, sz};
        } else if (!strcmp(key, "reserve")) {
            uint64_t b, sz;
            if (n != 3 || !sim_parse_size(w[1], &b) || !sim_parse_size(w[2], &sz) || !sz)
                return perr(&p, "usage: reserve BASE SIZE (e.g. reserve 0 32M)");
            if (m->nr_reserved == SIM_MAX_RANGES)
                return perr(&p, "more than %d reservations", SIM_MAX_RANGES);
            m->line_reserved[m->nr_reserved] = p.line;
            m->reserved[m->nr_reserved++] = (struct sim_range){b, sz};
        } else if (!strcmp(key, "area")) {
            uint64_t sz, base = 0;
            if (n < 3 || n > 4 || !sim_parse_size(w[2], &sz) || !sz)
                return perr(&p, "usage: area NAME SIZE [@BASE]");
            if (n == 4 && (w[3][0] != '@' || !sim_parse_size(w[3] + 1, &base)))
                return perr(&p, "base '%s' must be @ADDRESS (e.g. @0x40000000)", w[3]);
            if (strlen(w[1]) > CMA_AREA_NAME_MAX)
                return perr(&p, "area name longer than %d characters", CMA_AREA_NAME_MAX);
            if (m->nr_areas == SIM_MAX_AREAS)
                return perr(&p, "more than %d areas", SIM_MAX_AREAS);
            m->line_areas[m->nr_areas] = p.line;
            struct sim_area *a = &m->areas[m->nr_areas++];
            name_copy(a->name, sizeof a->name, w[1]);
            a->size = sz;
            a->base = base;
        } else if (!strcmp(key, "cmdline")) {
            if (n < 2)
                return perr(&p, "usage: cmdline cma=...");
            if (strlen(restbuf) >= sizeof m->cmdline)
                return perr(&p, "cmdline longer than %zu characters", sizeof m->cmdline - 1);
            if (m->cmdline[0])
                return perr(&p, "only one cmdline line");
            name_copy(m->cmdline, sizeof m->cmdline, restbuf);
            m->line_cmdline = p.line;
        } else if (!strcmp(key, "page_size")) {
            uint64_t ps;
            if (n != 2 || !sim_parse_size(w[1], &ps) || ps < 4096 || ps > 65536 || (ps & (ps - 1)))
                return perr(&p, "usage: page_size 4K (a power of two, 4K..64K)");
            m->page_shift = 0;
            while ((1ull << m->page_shift) < ps)
                m->page_shift++;
            m->line_page_size = p.line;
        } else if (!strcmp(key, "duration") || !strcmp(key, "quick") || !strcmp(key, "ramp") ||
                   !strcmp(key, "step")) {
            uint64_t d;
            if (n != 2 || !parse_duration(w[1], &d) || !d)
                return perr(&p, "usage: %s DURATION (a number with ns, us, ms, s or min)", key);
            if (!strcmp(key, "duration")) {
                sc->duration_ns = d;
                line_duration = p.line;
            } else if (!strcmp(key, "quick")) {
                g->quick_ns = d;
                g->have_quick = true;
            } else if (!strcmp(key, "ramp")) {
                g->ramp_ns = d;
                g->have_ramp = true;
            } else {
                sc->step_ns = d;
                line_step = p.line;
            }
        } else if (!strcmp(key, "backing")) {
            if (n != 2 || (strcmp(w[1], "host") && strcmp(w[1], "none")))
                return perr(&p, "usage: backing host|none (host: real page contents, copied by migration)");
            m->backed = !strcmp(w[1], "host");
        } else if (!strcmp(key, "seed")) {
            unsigned long long v;
            if (n != 2 || !parse_uint(w[1], UINT64_MAX, &v))
                return perr(&p, "usage: seed N");
            sc->seed = v;
        } else if (!strcmp(key, "pin_style")) {
            if (n != 2 || (strcmp(w[1], "longterm") && strcmp(w[1], "get")))
                return perr(&p, "usage: pin_style longterm|get");
            g->pin_style = !strcmp(w[1], "get") ? PIN_GET : PIN_LONGTERM;
        } else if (!strcmp(key, "background")) {
            if (parse_background(&p, g, w, n))
                return -1;
        } else if (!strcmp(key, "device")) {
            if (parse_device(&p, g, w, n))
                return -1;
        } else {
            return perr(&p, "unknown key '%s' (name, description, memory, range, reserve, area, cmdline, backing, "
                            "page_size, duration, quick, ramp, step, seed, background, pin_style, device)",
                        key);
        }
    }

    /* whole-file checks */
    p.line = 0;
    if (!m->nr_ranges)
        return perr(&p, "no memory: add `memory SIZE` or `range BASE SIZE` lines");
    if (!sc->duration_ns)
        return perr(&p, "no duration: add e.g. `duration 60s`");
    if (!sc->step_ns)
        sc->step_ns = 10000000; /* 10 ms */
    if (sc->step_ns > sc->duration_ns) {
        p.line = line_step ? line_step : line_duration;
        return perr(&p, "step longer than the duration");
    }
    if (sc->duration_ns / sc->step_ns > 100000000) {
        p.line = line_step ? line_step : line_duration;
        return perr(&p, "more than 10^8 steps: use a longer step");
    }
    if (!g->have_ramp)
        g->ramp_ns = sc->duration_ns / 5;
    if (!g->have_quick)
        g->quick_ns = sc->duration_ns < 10000000000ull ? sc->duration_ns : 10000000000ull;
    double total = 0;
    for (unsigned i = 0; i < g->nbg; i++) {
        total += g->bg[i].share;
        if (g->bg[i].order_hi > 10) {
            p.line = g->bg[i].line;
            return perr(&p, "order above the largest buddy order (10)");
        }
    }
    if (total > 1.0 + 1e-9) {
        p.line = g->nbg ? g->bg[g->nbg - 1].line : 0;
        return perr(&p, "background shares add up to %.0f%% of memory (at most 100%%)", total * 100);
    }
    /* the machine against libcma's limits and layout rules; the areas as the library declares them */
    struct sim_layout lay;
    int r = sim_machine_check(m, file, &lay, err, errlen);
    if (r)
        return r;
    g->nr_area_names = lay.nr_areas;
    for (unsigned i = 0; i < lay.nr_areas; i++)
        name_copy(g->area_names[i], sizeof g->area_names[i], lay.area_name[i]);
    for (unsigned i = 0; i < g->ndev; i++) {
        struct dev_line *d = &g->dev[i];
        unsigned a;
        for (a = 0; a < g->nr_area_names; a++)
            if (!strcmp(g->area_names[a], d->area))
                break;
        if (a == g->nr_area_names) {
            p.line = d->line;
            char names[512] = "";
            for (unsigned k = 0; k < g->nr_area_names; k++) {
                size_t l = strlen(names);
                snprintf(names + l, sizeof names - l, "%s%s", k ? ", " : "", g->area_names[k]);
            }
            return perr(&p, "device %s: no CMA area named '%s' (areas: %s)", d->name, d->area,
                        g->nr_area_names ? names : "none declared");
        }
        d->area_idx = a;
        /* what the area's devices say: behind an IOMMU only if all of them are, the smallest limit */
        unsigned e = 0;
        while (e < m->nr_area_devs && strcmp(m->area_devs[e].area, d->area))
            e++;
        if (e == m->nr_area_devs && e < SIM_MAX_AREAS) {
            m->nr_area_devs++;
            name_copy(m->area_devs[e].area, sizeof m->area_devs[e].area, d->area);
            m->area_devs[e].iommu = d->iommu;
            m->area_devs[e].dma_bits = d->dma_bits;
        } else if (e < SIM_MAX_AREAS) {
            m->area_devs[e].iommu &= d->iommu;
            if (d->dma_bits < m->area_devs[e].dma_bits)
                m->area_devs[e].dma_bits = d->dma_bits;
        }
        for (unsigned k = 0; k < d->nsizes; k++)
            if ((d->sizes[k] + lay.page_size - 1) / lay.page_size > lay.area_pages[a]) {
                char sz[40], as[40];
                p.line = d->line;
                sim_fmt_size(sz, sizeof sz, d->sizes[k]);
                sim_fmt_size(as, sizeof as, lay.area_pages[a] * lay.page_size);
                return perr(&p, "device %s: size %s is larger than area %s (%s): every such allocation "
                                "would fail; make the area larger or the size smaller",
                            d->name, sz, d->area, as);
            }
    }
    return 0;
}

/* ---- loading -------------------------------------------------------------------------------------- */

static const struct sim_builtin_file *builtin_find(const char *name)
{
    for (unsigned i = 0; i < sim_builtin_nfiles; i++)
        if (!strcmp(sim_builtin_files[i].name, name))
            return &sim_builtin_files[i];
    return NULL;
}

const char *const *sim_builtin_names(void)
{
    static const char *names[64];
    if (!names[0]) {
        unsigned n = sim_builtin_nfiles < 63 ? sim_builtin_nfiles : 63;
        for (unsigned i = 0; i < n; i++)
            names[i] = sim_builtin_files[i].name;
        names[n] = NULL;
    }
    return names;
}

const char *sim_builtin_description(const char *name)
{
    static char desc[256];
    const struct sim_builtin_file *f = builtin_find(name);
    if (!f)
        return NULL;
    desc[0] = '\0';
    for (const char *s = f->text; *s;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!strncmp(s, "description", 11) && (s[11] == ' ' || s[11] == '\t')) {
            s += 11;
            while (*s == ' ' || *s == '\t')
                s++;
            size_t n = strcspn(s, "#\n");
            while (n && isspace((unsigned char)s[n - 1]))
                n--;
            if (n >= sizeof desc)
                n = sizeof desc - 1;
            memcpy(desc, s, n);
            desc[n] = '\0';
            break;
        }
        s = strchr(s, '\n');
        if (!s)
            break;
        s++;
    }
    return desc;
}

const char *sim_builtin_text(const char *name)
{
    const struct sim_builtin_file *f = builtin_find(name);
    return f ? f->text : NULL;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len + 1 < cap)
            break;
        if (cap > (64u << 20)) {
            snprintf(err, errlen, "%s: larger than 64 MiB, not a scenario", path);
            free(buf);
            fclose(f);
            return NULL;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        snprintf(err, errlen, "%s: binary file, not a scenario", path);
        free(buf);
        return NULL;
    }
    return buf;
}

int sim_scenario_load(const char *name_or_path, struct sim_scenario *sc, char *err, size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    const struct sim_builtin_file *b = builtin_find(name_or_path);
    char fname[512];
    int r;
    if (b) {
        snprintf(fname, sizeof fname, "%s.scn", b->name);
        r = parse_text(fname, b->text, sc, err, errlen);
        if (!r && !sc->name[0])
            name_copy(sc->name, sizeof sc->name, b->name);
    } else {
        FILE *probe = fopen(name_or_path, "rb");
        if (!probe && !strchr(name_or_path, '/') && !strstr(name_or_path, ".scn")) {
            char names[512] = "";
            for (unsigned i = 0; i < sim_builtin_nfiles; i++) {
                size_t l = strlen(names);
                snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", sim_builtin_files[i].name);
            }
            snprintf(err, errlen, "%s: no such built-in scenario or file (built-ins: %s)", name_or_path,
                     names);
            return CMASIM_EXIT_INPUT;
        }
        if (probe)
            fclose(probe);
        char *text = read_file(name_or_path, err, errlen);
        if (!text)
            return CMASIM_EXIT_INPUT;
        r = parse_text(name_or_path, text, sc, err, errlen);
        free(text);
        if (!r && !sc->name[0]) {
            const char *base = strrchr(name_or_path, '/');
            base = base ? base + 1 : name_or_path;
            size_t n = strcspn(base, ".");
            if (n >= sizeof sc->name)
                n = sizeof sc->name - 1;
            memcpy(sc->name, base, n);
            sc->name[n] = '\0';
        }
    }
    if (r) {
        sim_scenario_free(sc);
        return r < 0 ? CMASIM_EXIT_INPUT : r; /* perr's -1: a line of the file */
    }
    return 0;
}

void sim_scenario_free(struct sim_scenario *sc)
{
    if (!sc)
        return;
    free(sc->gen);
    sc->gen = NULL;
}

/* ---- the generator ------------------------------------------------------------------------------- */

/* splitmix64: small, fast, and every 64-bit seed gives a good stream. */
struct rng {
    uint64_t s;
};
static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rng_below(struct rng *r, uint64_t n) { return n ? rng_next(r) % n : 0; }
static double rng_unit(struct rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static struct rng rng_for(uint64_t seed, uint64_t stream)
{
    struct rng r = {seed ^ (stream * 0xd1b54a32d192ed03ull)};
    (void)rng_next(&r);
    return r;
}

struct live_obj {
    uint64_t id;
    uint8_t order;
    bool clean;
};

struct bg_state {
    const struct bg_line *b;
    struct rng rng;
    struct live_obj *obj;
    size_t n, cap;
    uint64_t pages;
    double free_acc, flip_acc;
};

struct dev_pending {
    uint64_t t_ns, id;
};

struct dev_state {
    const struct dev_line *d;
    struct rng rng;
    uint64_t next_burst_ns;
    unsigned in_burst; /* buffers of the current burst still to allocate */
    uint64_t next_alloc_ns;
    struct dev_pending *rel;
    size_t nrel, caprel;
};

struct gen {
    struct sim_trace *t;
    uint64_t next_id;
    enum pin_style pin;
    unsigned page_shift;
    bool oom, full; /* full: SIM_MAX_EVENTS reached although the estimate allowed the workload */
};

static void gen_push(struct gen *g, const struct sim_event *e)
{
    if (g->t->n >= SIM_MAX_EVENTS)
        g->full = g->oom = true;
    else if (sim_trace_push(g->t, e))
        g->oom = true;
}

static void emit(struct gen *g, uint64_t t, enum sim_op op, uint64_t id)
{
    struct sim_event e = {.t_ns = t, .op = op, .id = id};
    gen_push(g, &e);
}

static void bg_alloc(struct gen *g, struct bg_state *s, uint64_t t)
{
    const struct bg_line *b = s->b;
    struct sim_event e = {.t_ns = t, .op = SIM_OP_ALLOC, .cls = (uint8_t)b->cls, .id = g->next_id++};
    e.order = (uint8_t)(b->order_lo + rng_below(&s->rng, b->order_hi - b->order_lo + 1));
    bool clean = false;
    switch (b->cls) {
    case SIM_CLASS_PAGECACHE:
        e.gfp = CMA_GFP_MOVABLE;
        clean = rng_unit(&s->rng) < b->clean;
        e.flags = SIM_EV_MOVABLE | (clean ? SIM_EV_CLEAN : 0);
        break;
    case SIM_CLASS_ANON:
    case SIM_CLASS_PINNED:
        e.gfp = CMA_GFP_MOVABLE;
        e.flags = SIM_EV_MOVABLE;
        break;
    default:
        e.gfp = CMA_GFP_UNMOVABLE;
        break;
    }
    gen_push(g, &e);
    if (b->cls == SIM_CLASS_PINNED)
        emit(g, t, g->pin == PIN_GET ? SIM_OP_GET : SIM_OP_PIN, e.id);
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        struct live_obj *no = realloc(s->obj, nc * sizeof *no);
        if (!no) {
            g->oom = true;
            return;
        }
        s->obj = no;
        s->cap = nc;
    }
    s->obj[s->n++] = (struct live_obj){e.id, e.order, clean};
    s->pages += 1ull << e.order;
}

static void bg_free_random(struct gen *g, struct bg_state *s, uint64_t t)
{
    size_t i = (size_t)rng_below(&s->rng, s->n);
    struct live_obj o = s->obj[i];
    s->obj[i] = s->obj[--s->n];
    s->pages -= 1ull << o.order;
    if (s->b->cls == SIM_CLASS_PINNED)
        emit(g, t, g->pin == PIN_GET ? SIM_OP_PUT : SIM_OP_UNPIN, o.id);
    emit(g, t, SIM_OP_FREE, o.id);
}

static void bg_step(struct gen *g, struct bg_state *s, uint64_t t, uint64_t step, uint64_t ramp,
                    uint64_t machine_pages)
{
    const struct bg_line *b = s->b;
    double secs = (double)step / 1e9;
    double target = b->share * (double)machine_pages;
    if (t + step < ramp)
        target *= (double)(t + step) / (double)ramp;
    if (t >= ramp && s->n) {
        s->free_acc += b->churn * (double)s->n * secs;
        while (s->free_acc >= 1 && s->n) {
            s->free_acc -= 1;
            bg_free_random(g, s, t);
        }
    }
    if (b->cls == SIM_CLASS_PAGECACHE && s->n) {
        s->flip_acc += b->flip * (double)s->n * secs;
        while (s->flip_acc >= 1) {
            s->flip_acc -= 1;
            struct live_obj *o = &s->obj[rng_below(&s->rng, s->n)];
            bool clean = rng_unit(&s->rng) < b->clean;
            if (clean != o->clean) {
                o->clean = clean;
                emit(g, t, clean ? SIM_OP_CLEAN : SIM_OP_DIRTY, o->id);
            }
        }
    }
    while ((double)s->pages < target && !g->oom)
        bg_alloc(g, s, t);
}

static unsigned order_base_2(uint64_t n)
{
    unsigned o = 0;
    while ((1ull << o) < n)
        o++;
    return o;
}

/* Device actions inside [t, t + step), collected then emitted in time order. */
struct dev_action {
    uint64_t t_ns;
    int kind; /* 0 release, 1 alloc: releases first on a tie */
    unsigned dev;
    uint64_t seq; /* creation order, for a stable sort */
    struct sim_event ev;
};

static int action_cmp(const void *a, const void *b)
{
    const struct dev_action *x = a, *y = b;
    if (x->t_ns != y->t_ns)
        return x->t_ns < y->t_ns ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind - y->kind;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- the event budget ------------------------------------------------------------------------------
 * Computed from the parameters before anything is generated, so an exploding scenario is refused at
 * once instead of eating the host. Devices: exact upper bound (every burst in [start, duration), two
 * events per buffer). Background: the live blocks at the class's share (machine pages over the mean
 * block size), one event each to allocate them, two per churned block (free and replacement), one
 * per clean/dirty flip at most; pinned blocks add their pin and unpin.
 */
static double bg_events(const struct bg_line *b, double machine_pages, double secs, double ramp_secs)
{
    double mean = 0;
    for (unsigned o = b->order_lo; o <= b->order_hi; o++)
        mean += (double)(1ull << o);
    mean /= (double)(b->order_hi - b->order_lo + 1);
    double live = b->share * machine_pages / mean, per = b->cls == SIM_CLASS_PINNED ? 2 : 1;
    double after = secs > ramp_secs ? secs - ramp_secs : 0;
    double ev = live * per + 2 * per * b->churn * live * after;
    if (b->cls == SIM_CLASS_PAGECACHE)
        ev += b->flip * live * secs;
    return ev;
}

static double dev_events(const struct dev_line *d, uint64_t start, uint64_t duration)
{
    if (start >= duration)
        return 0;
    double bursts = (double)((duration - start + d->every_ns - 1) / d->every_ns);
    return bursts * d->burst * 2;
}

static void fmt_events(char *out, size_t len, double ev)
{
    sim_fmt_count(out, len, ev >= 1.8e19 ? UINT64_MAX : (uint64_t)ev);
}

/* 0, or -1 with the message naming the line that produces the most events. */
static int check_budget(const struct sim_scenario *sc, const struct gen_params *gp, uint64_t duration,
                        uint64_t ramp, double scale, bool quick, char *err, size_t errlen)
{
    const double pages = (double)(sim_machine_bytes(&sc->machine) >> sc->machine.page_shift);
    const double secs = (double)duration / 1e9, ramp_secs = (double)ramp / 1e9;
    double total = 0, worst = -1;
    unsigned worst_line = 0;
    char what[256] = "";
    for (unsigned i = 0; i < gp->nbg; i++) {
        double ev = bg_events(&gp->bg[i], pages, secs, ramp_secs);
        total += ev;
        if (ev > worst) {
            worst = ev;
            worst_line = gp->bg[i].line;
            snprintf(what, sizeof what, "background %s: about", class_names[gp->bg[i].cls]);
        }
    }
    for (unsigned i = 0; i < gp->ndev; i++) {
        const struct dev_line *d = &gp->dev[i];
        uint64_t start = d->have_start ? (uint64_t)((double)d->start_ns * scale) : ramp;
        double ev = dev_events(d, start, duration);
        total += ev;
        if (ev > worst) {
            char every[40], n[40];
            worst = ev;
            worst_line = d->line;
            sim_fmt_ns(every, sizeof every, d->every_ns);
            sim_fmt_count(n, sizeof n, d->burst);
            snprintf(what, sizeof what, "device %s (%s buffer%s every %s, each allocated and released):", d->name,
                     n, d->burst == 1 ? "" : "s", every);
        }
    }
    if (total <= (double)SIM_MAX_EVENTS)
        return 0;
    char w[40], t[40], lim[40], dur[40];
    fmt_events(w, sizeof w, worst);
    fmt_events(t, sizeof t, total);
    sim_fmt_count(lim, sizeof lim, SIM_MAX_EVENTS);
    sim_fmt_ns(dur, sizeof dur, duration);
    if (worst * 2 >= total)
        snprintf(err, errlen, "%s:%u: %s %s events in %s%s; cmasim generates at most %s events "
                 "(docs/cmasim.md, LIMITS)", gp->file, worst_line, what, w, dur,
                 quick ? " (--quick)" : "", lim);
    else
        snprintf(err, errlen, "%s:%u: %s %s events in %s%s, and all lines together %s; cmasim generates at most %s "
                 "events (docs/cmasim.md, LIMITS)", gp->file, worst_line, what, w, dur,
                 quick ? " (--quick)" : "", t, lim);
    return -1;
}

int sim_scenario_generate(const struct sim_scenario *sc, uint64_t seed, bool quick,
                          struct sim_trace *out, char *err, size_t errlen)
{
    const struct gen_params *gp = sc->gen;
    if (!gp) {
        snprintf(err, errlen, "%s: scenario not loaded", sc->name);
        return -1;
    }
    memset(out, 0, sizeof *out);
    uint64_t duration = sc->duration_ns, ramp = gp->ramp_ns;
    double scale = 1.0; /* --quick shrinks the ramp and the devices' start times in proportion */
    if (quick && gp->quick_ns < duration) {
        scale = (double)gp->quick_ns / (double)duration;
        ramp = (uint64_t)((double)ramp * scale);
        duration = gp->quick_ns;
    }
    if (!ramp)
        ramp = 1;
    if (check_budget(sc, gp, duration, ramp, scale, quick, err, errlen))
        return -1;
    sim_progress_phase("generating the workload (%s)", sc->name);
    const uint64_t step = sc->step_ns;
    const uint64_t machine_pages = sim_machine_bytes(&sc->machine) >> sc->machine.page_shift;

    struct gen g = {.t = out, .next_id = 1, .pin = gp->pin_style, .page_shift = sc->machine.page_shift};
    struct bg_state bg[MAX_BG];
    struct dev_state dev[MAX_DEV];
    memset(bg, 0, sizeof bg);
    memset(dev, 0, sizeof dev);
    for (unsigned i = 0; i < gp->nbg; i++) {
        bg[i].b = &gp->bg[i];
        bg[i].rng = rng_for(seed, 1000 + gp->bg[i].line);
    }
    for (unsigned i = 0; i < gp->ndev; i++) {
        dev[i].d = &gp->dev[i];
        dev[i].rng = rng_for(seed, 2000 + gp->dev[i].line);
        dev[i].next_burst_ns = gp->dev[i].have_start ? (uint64_t)((double)gp->dev[i].start_ns * scale)
                                                     : ramp;
    }
    for (unsigned i = 0; i < gp->nr_area_names; i++)
        name_copy(out->area_names[i], sizeof out->area_names[i], gp->area_names[i]);
    out->nr_area_names = gp->nr_area_names;

    struct dev_action *act = NULL;
    size_t nact = 0, capact = 0;
    uint64_t seq = 0;
    for (uint64_t t = 0; t < duration && !g.oom; t += step) {
        sim_progress_update(t, duration);
        for (unsigned i = 0; i < gp->nbg; i++)
            bg_step(&g, &bg[i], t, step, ramp, machine_pages);

        /* device actions in [t, t + step) */
        nact = 0;
        const uint64_t wend = t + step < duration ? t + step : duration;
        for (unsigned i = 0; i < gp->ndev; i++) {
            struct dev_state *ds = &dev[i];
            const struct dev_line *d = ds->d;
            for (;;) {
                if (!ds->in_burst && ds->next_burst_ns < wend) {
                    ds->in_burst = d->burst;
                    ds->next_alloc_ns = ds->next_burst_ns;
                    ds->next_burst_ns += d->every_ns;
                }
                if (!ds->in_burst || ds->next_alloc_ns >= wend)
                    break;
                uint64_t bytes = d->sizes[rng_below(&ds->rng, d->nsizes)];
                uint64_t pages = (bytes + (1ull << sc->machine.page_shift) - 1) >> sc->machine.page_shift;
                unsigned o = order_base_2(pages);
                struct sim_event e = {.t_ns = ds->next_alloc_ns, .op = SIM_OP_CMA_ALLOC,
                                      .area = (uint8_t)d->area_idx, .id = g.next_id++, .count = pages};
                e.align_order = (uint8_t)(d->align >= 0 ? (unsigned)d->align : (o < 8 ? o : 8));
                uint64_t hold = d->hold_lo_ns + rng_below(&ds->rng, d->hold_hi_ns - d->hold_lo_ns + 1);
                if (ds->nrel == ds->caprel) {
                    size_t nc = ds->caprel ? ds->caprel * 2 : 16;
                    struct dev_pending *np = realloc(ds->rel, nc * sizeof *np);
                    if (!np) {
                        g.oom = true;
                        break;
                    }
                    ds->rel = np;
                    ds->caprel = nc;
                }
                ds->rel[ds->nrel++] = (struct dev_pending){e.t_ns + hold, e.id};
                if (nact == capact) {
                    size_t nc = capact ? capact * 2 : 64;
                    struct dev_action *na = realloc(act, nc * sizeof *na);
                    if (!na) {
                        g.oom = true;
                        break;
                    }
                    act = na;
                    capact = nc;
                }
                act[nact++] = (struct dev_action){e.t_ns, 1, i, seq++, e};
                ds->in_burst--;
                ds->next_alloc_ns += d->gap_ns;
            }
            for (size_t k = 0; k < ds->nrel && !g.oom;) {
                if (ds->rel[k].t_ns < wend) {
                    if (nact == capact) {
                        size_t nc = capact ? capact * 2 : 64;
                        struct dev_action *na = realloc(act, nc * sizeof *na);
                        if (!na) {
                            g.oom = true;
                            break;
                        }
                        act = na;
                        capact = nc;
                    }
                    struct sim_event e = {.t_ns = ds->rel[k].t_ns, .op = SIM_OP_CMA_RELEASE,
                                          .id = ds->rel[k].id};
                    act[nact++] = (struct dev_action){e.t_ns, 0, i, seq++, e};
                    ds->rel[k] = ds->rel[--ds->nrel];
                } else {
                    k++;
                }
            }
        }
        if (nact > 1)
            qsort(act, nact, sizeof *act, action_cmp);
        for (size_t k = 0; k < nact && !g.oom; k++) {
            struct sim_event e = act[k].ev;
            if (e.t_ns < t)
                e.t_ns = t;
            gen_push(&g, &e);
        }
    }
    free(act);
    for (unsigned i = 0; i < gp->nbg; i++)
        free(bg[i].obj);
    for (unsigned i = 0; i < gp->ndev; i++)
        free(dev[i].rel);
    if (g.oom) {
        char lim[40];
        sim_trace_free(out);
        sim_fmt_count(lim, sizeof lim, SIM_MAX_EVENTS);
        if (g.full)
            snprintf(err, errlen, "%s: the workload grew past %s events, cmasim's limit (docs/cmasim.md, "
                     "LIMITS): shorten the duration or lower the churn", gp->file, lim);
        else
            snprintf(err, errlen, "%s: out of memory generating the workload", gp->file);
        return -1;
    }
    out->max_id = g.next_id - 1;
    return 0;
}
