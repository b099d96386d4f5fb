/* SPDX-License-Identifier: MIT */
/*
 * trace.c - trace parsers: cmasim's native line format and Linux ftrace text.
 *
 * Both formats are documented in docs/trace-format.md (ops, units, the ftrace event mapping, error
 * messages). The parser streams the file line by line, so a trace can be any length and can come
 * from a pipe ("-" is standard input); the format is detected on the first line that is neither
 * empty nor a comment. Every problem is reported as "file:line: what is wrong"; no input, however
 * broken, may crash it (tests/cmasim/test_trace.c feeds it random bytes).
 *
 * Object ids are renumbered: every alloc/cma_alloc gets a fresh dense id 1, 2, 3... (so an id the
 * trace reuses after a free becomes a new object, and t->max_id bounds the engine's owner table).
 */
#define _POSIX_C_SOURCE 200809L
#include "cmasim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the event list ------------------------------------------------------------------------------ */

int sim_trace_push(struct sim_trace *t, const struct sim_event *ev)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        if (ncap < t->cap || ncap > SIZE_MAX / sizeof *t->ev)
            return -1;
        struct sim_event *nev = realloc(t->ev, ncap * sizeof *nev);
        if (!nev)
            return -1;
        t->ev = nev;
        t->cap = ncap;
    }
    t->ev[t->n++] = *ev;
    if (ev->id > t->max_id)
        t->max_id = ev->id;
    return 0;
}

void sim_trace_free(struct sim_trace *t)
{
    free(t->ev);
    memset(t, 0, sizeof *t);
}

/* ---- a small u64 -> u64 hash map (linear probing, backward-shift deletion) ---------------------- */

struct slot {
    uint64_t key, val;
    bool used;
};
struct u64map {
    struct slot *s;
    size_t cap, n; /* cap is 0 or a power of two */
};

static size_t map_hash(uint64_t k, size_t cap)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static struct slot *map_find(const struct u64map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = map_hash(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->s[i].used)
            return NULL;
        if (m->s[i].key == key)
            return &m->s[i];
    }
}

static int map_put(struct u64map *m, uint64_t key, uint64_t val)
{
    struct slot *e = map_find(m, key);
    if (e) {
        e->val = val;
        return 0;
    }
    if ((m->n + 1) * 4 > m->cap * 3) { /* keep the load below 3/4 */
        size_t ncap = m->cap ? m->cap * 2 : 64;
        if (ncap > SIZE_MAX / sizeof(struct slot))
            return -1;
        struct slot *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->s[i].used)
                continue;
            size_t j = map_hash(m->s[i].key, ncap);
            while (ns[j].used)
                j = (j + 1) & (ncap - 1);
            ns[j] = m->s[i];
        }
        free(m->s);
        m->s = ns;
        m->cap = ncap;
    }
    size_t i = map_hash(key, m->cap);
    while (m->s[i].used)
        i = (i + 1) & (m->cap - 1);
    m->s[i] = (struct slot){key, val, true};
    m->n++;
    return 0;
}

static void map_del(struct u64map *m, struct slot *e)
{
    size_t mask = m->cap - 1, i = (size_t)(e - m->s), j = i;
    m->s[i].used = false;
    m->n--;
    for (;;) { /* shift back later members of the probe chain that may no longer be reachable */
        j = (j + 1) & mask;
        if (!m->s[j].used)
            return;
        size_t home = map_hash(m->s[j].key, m->cap);
        /* move s[j] into the hole at i unless its home lies cyclically in (i, j] */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        m->s[i] = m->s[j];
        m->s[j].used = false;
        i = j;
    }
}

static void map_free(struct u64map *m)
{
    free(m->s);
    memset(m, 0, sizeof *m);
}

/* ---- parser state --------------------------------------------------------------------------------- */

#define MAX_LINE (1u << 20)
#define MAX_TOKENS 64

struct obj { /* native: what a dense id stands for */
    uint32_t line;
    bool cma;
};

struct ctx {
    const char *path;
    unsigned long line;
    char *err;
    size_t errlen;
    struct sim_trace *t;
    enum sim_trace_format fmt;
    uint64_t next_id;
    uint64_t last_t;
    /* native */
    struct u64map ids;          /* user id -> dense id (live objects only) */
    struct obj *objs;           /* indexed by dense id - first_id */
    size_t nobjs, capobjs;
    uint64_t first_id;
    bool seen_event;
    bool machine_lines;         /* at least one `machine` line */
    unsigned long machine_line; /* first one, for messages */
    bool machine_done;
    bool machine_has_areas;     /* the machine declares areas: cma_alloc must name one of them */
    bool have_memory, have_cmdline;
    struct sim_machine m;
    char cmd_areas[SIM_MAX_AREAS + 1][72]; /* one more: too many is reported by machine_finish */
    unsigned ncmd_areas;
    /* ftrace */
    struct u64map pages;        /* pfn -> dense id of the live mm_page_alloc block */
    struct u64map cmas;         /* pfn -> dense id of the live cma allocation */
    bool have_base;
    uint64_t base_ns;
};

__attribute__((format(printf, 2, 3))) static int fail(struct ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        int k = snprintf(c->err, c->errlen, "%s:%lu: ", c->path, c->line);
        if (k >= 0 && (size_t)k < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* Copies s for a message, at most 40 characters, replacing unprintable bytes. */
static const char *show(const char *s, char buf[48])
{
    size_t i = 0;
    for (; s[i] && i < 40; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f'; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static int lower(int ch) { return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch; }
static int push(struct ctx *c, enum sim_op op, uint64_t t_ns, uint64_t id, struct sim_event ev)
{
    ev.op = op;
    ev.t_ns = t_ns;
    ev.id = id;
    ev.line = c->line > UINT32_MAX ? UINT32_MAX : (uint32_t)c->line;
    if (c->t->n >= SIM_MAX_EVENTS)
        return fail(c, "more than %llu events: cmasim's limit (docs/cmasim.md, LIMITS); replay a part of "
                       "the trace", (unsigned long long)SIM_MAX_EVENTS);
    if (sim_trace_push(c->t, &ev) != 0)
        return fail(c, "out of memory");
    c->last_t = t_ns;
    return 0;
}

/* ---- numbers ------------------------------------------------------------------------------------- */

/* Whole string: decimal, or hexadecimal with 0x (base 16: the 0x is optional). */
static bool parse_uint(const char *s, int base, uint64_t *v)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return false;
    uint64_t x = 0;
    for (; *s; s++) {
        int d;
        if (is_digit(*s))
            d = *s - '0';
        else if (base == 16 && lower((unsigned char)*s) >= 'a' && lower((unsigned char)*s) <= 'f')
            d = lower((unsigned char)*s) - 'a' + 10;
        else
            return false;
        if (x > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        x = x * (uint64_t)base + (uint64_t)d;
    }
    *v = x;
    return true;
}

static bool parse_int(const char *s, int64_t *v)
{
    bool neg = *s == '-';
    uint64_t u;
    if (!parse_uint(s + neg, 10, &u) || u > (uint64_t)INT64_MAX)
        return false;
    *v = neg ? -(int64_t)u : (int64_t)u;
    return true;
}

/* Bytes: decimal with an optional K/M/G/T/P/E suffix (binary; "iB" or "B" may follow), or 0x hex.
 * The one size syntax of cmasim: traces, scenario files and the command line (cmasim.h). */
bool sim_parse_size(const char *s, uint64_t *v)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return parse_uint(s, 16, v);
    uint64_t x = 0;
    const char *p = s;
    for (; is_digit(*p); p++) {
        if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return false;
    unsigned shift = 0;
    if (*p) {
        const char *units = "kmgtpe";
        const char *u = strchr(units, lower((unsigned char)*p));
        if (!u || !*u)
            return false;
        shift = 10u * (unsigned)(u - units + 1);
        p++;
        if (lower((unsigned char)p[0]) == 'i' && lower((unsigned char)p[1]) == 'b')
            p += 2;
        else if (lower((unsigned char)p[0]) == 'b')
            p++;
        if (*p)
            return false;
    }
    if (shift && x > (UINT64_MAX >> shift))
        return false;
    *v = x << shift;
    return true;
}

/* "digits[.digits]" times mult/10^frac_digits; fraction digits beyond 9 are ignored. */
static bool parse_scaled(const char *s, const char *end, uint64_t mult, uint64_t *v)
{
    uint64_t ip = 0, frac = 0, fscale = 1;
    const char *p = s;
    for (; p < end && is_digit(*p); p++) {
        if (ip > (UINT64_MAX - 9) / 10)
            return false;
        ip = ip * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return false;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return false;
        for (; p < end && is_digit(*p); p++)
            if (fscale < 1000000000ull) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                fscale *= 10;
            }
    }
    if (p != end)
        return false;
    if (ip > UINT64_MAX / mult)
        return false;
    uint64_t x = ip * mult, f = frac * mult / fscale; /* frac < 1e9 and mult <= 1e9: no overflow */
    if (x > UINT64_MAX - f)
        return false;
    *v = x + f;
    return true;
}

/* Native time: NUMBER[unit], unit ns (default), us, µs, ms, s; a fraction needs a unit. */
static bool parse_time(const char *s, uint64_t *v)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"ms", 1000000}, {"s", 1000000000}};
    size_t len = strlen(s);
    const char *end = s + len;
    uint64_t mult = 1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t sl = strlen(units[i].suffix);
        if (len > sl && strcmp(s + len - sl, units[i].suffix) == 0 && is_digit(s[len - sl - 1])) {
            end = s + len - sl;
            mult = units[i].mult;
            break;
        }
    }
    if (mult == 1 && memchr(s, '.', (size_t)(end - s)))
        return false;
    return parse_scaled(s, end, mult, v);
}

static void fmt_time(uint64_t ns, char buf[40])
{
    if (ns % 1000000000ull == 0 && ns)
        snprintf(buf, 40, "%" PRIu64 "s", (uint64_t)(ns / 1000000000u));
    else if (ns % 1000000ull == 0 && ns)
        snprintf(buf, 40, "%" PRIu64 "ms", (uint64_t)(ns / 1000000u));
    else if (ns % 1000ull == 0 && ns)
        snprintf(buf, 40, "%" PRIu64 "us", (uint64_t)(ns / 1000u));
    else
        snprintf(buf, 40, "%" PRIu64 "ns", ns);
}

/* ---- areas --------------------------------------------------------------------------------------- */

static int area_find(const struct sim_trace *t, const char *name)
{
    for (unsigned i = 0; i < t->nr_area_names && i < SIM_MAX_AREAS; i++)
        if (strcmp(t->area_names[i], name) == 0)
            return (int)i;
    return -1;
}

static int check_area_name(struct ctx *c, const char *name)
{
    char b[48];
    size_t len = strlen(name);
    if (len == 0)
        return fail(c, "empty area name");
    if (len > CMA_AREA_NAME_MAX)
        return fail(c, "area name '%s' longer than %d characters", show(name, b), CMA_AREA_NAME_MAX);
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(c, "area name '%s' has a control character", show(name, b));
    return 0;
}

/* Index of the area, adding the name when allowed. */
static int area_index(struct ctx *c, const char *name, bool may_add)
{
    char b[48];
    int i = area_find(c->t, name);
    if (i >= 0)
        return i;
    if (!may_add) {
        char list[SIM_MAX_AREAS * 66] = "";
        for (unsigned k = 0; k < c->t->nr_area_names && k < SIM_MAX_AREAS; k++) {
            if (k)
                strcat(list, ", ");
            strcat(list, c->t->area_names[k]);
        }
        fail(c, "unknown area '%s' (the machine declares: %s)", show(name, b), list);
        return -1;
    }
    if (check_area_name(c, name) != 0)
        return -1;
    if (c->t->nr_area_names >= SIM_MAX_AREAS) {
        fail(c, "more than %d CMA areas (area '%s')", SIM_MAX_AREAS, show(name, b));
        return -1;
    }
    i = (int)c->t->nr_area_names++;
    snprintf(c->t->area_names[i], sizeof c->t->area_names[i], "%s", name);
    return i;
}

/* ---- native format ------------------------------------------------------------------------------- */

static int tokenize(struct ctx *c, char *s, char **tok, int *ntok)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            break;
        if (n == MAX_TOKENS)
            return fail(c, "too many fields (more than %d)", MAX_TOKENS);
        tok[n++] = s;
        bool q = false;
        for (; *s && (q || (*s != ' ' && *s != '\t')); s++)
            if (*s == '"')
                q = !q;
        if (q)
            return fail(c, "unterminated quote");
        if (*s)
            *s++ = '\0';
    }
    *ntok = n;
    return 0;
}

/* Splits "key=value" (value unquoted in place); returns false for a bare word. */
static bool split_kv(char *tok, char **key, char **val)
{
    char *eq = strchr(tok, '=');
    *key = tok;
    if (!eq) {
        *val = NULL;
        return false;
    }
    *eq = '\0';
    *val = eq + 1;
    return true;
}

static int unquote(struct ctx *c, char **val)
{
    char *v = *val;
    size_t len = strlen(v);
    if (v[0] == '"') {
        if (len < 2 || v[len - 1] != '"' || memchr(v + 1, '"', len - 2))
            return fail(c, "misplaced quote in %s", v);
        v[len - 1] = '\0';
        *val = v + 1;
    } else if (strchr(v, '"')) {
        return fail(c, "misplaced quote in %s", v);
    }
    return 0;
}

/* "A,B[,C]" into up to 3 parts (in place). */
static int split_commas(char *v, char **part, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return -1;
        part[n++] = v;
        char *comma = strchr(v, ',');
        if (!comma)
            return n;
        *comma = '\0';
        v = comma + 1;
    }
}

/* Area names a cma= command line declares, in order (the default area is "reserved"). */
static void cmdline_area_names(struct ctx *c, const char *cmdline)
{
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if (p - w <= 4 || strncmp(w, "cma=", 4) != 0)
            continue;
        for (const char *e = w + 4; e < p;) {
            const char *end = e;
            while (end < p && *end != ',')
                end++;
            const char *colon = memchr(e, ':', (size_t)(end - e));
            char name[72];
            if (colon && colon > e) { /* a name too long is cut to 70 and refused by area_index */
                size_t nl = (size_t)(colon - e) < 70 ? (size_t)(colon - e) : 70;
                memcpy(name, e, nl);
                name[nl] = '\0';
            } else {
                snprintf(name, sizeof name, "reserved");
            }
            bool dup = false;
            for (unsigned i = 0; i < c->ncmd_areas; i++)
                dup |= strcmp(c->cmd_areas[i], name) == 0;
            if (!dup && c->ncmd_areas < SIM_MAX_AREAS + 1)
                snprintf(c->cmd_areas[c->ncmd_areas++], sizeof c->cmd_areas[0], "%s", name);
            e = end < p ? end + 1 : end;
        }
    }
}

static int machine_line(struct ctx *c, char **tok, int ntok)
{
    char b[48];
    if (c->seen_event)
        return fail(c, "machine lines must come before the first event");
    if (!c->machine_lines) {
        c->machine_lines = true;
        c->machine_line = c->line;
        c->m.page_shift = 12;
    }
    if (ntok < 2)
        return fail(c, "machine line without settings (memory=, range=, reserved=, area=, "
                       "cmdline=, page_size=)");
    for (int i = 1; i < ntok; i++) {
        char *key, *val, *part[4];
        if (!split_kv(tok[i], &key, &val))
            return fail(c, "machine: expected key=value, got '%s'", show(key, b));
        if (unquote(c, &val) != 0)
            return -1;
        if (strcmp(key, "memory") == 0) {
            uint64_t size;
            if (c->have_memory || c->m.nr_ranges)
                return fail(c, "machine: memory= given twice or together with range=");
            if (!sim_parse_size(val, &size) || size == 0)
                return fail(c, "machine: bad memory size '%s' (expected e.g. 2G)", show(val, b));
            c->m.ranges[0] = (struct sim_range){0, size};
            c->m.line_ranges[0] = (unsigned)c->line;
            c->m.nr_ranges = 1;
            c->have_memory = true;
        } else if (strcmp(key, "range") == 0 || strcmp(key, "reserved") == 0) {
            bool res = key[0] == 'r' && key[2] == 's';
            struct sim_range r;
            if (split_commas(val, part, 2) != 2 || !sim_parse_size(part[0], &r.base) ||
                !sim_parse_size(part[1], &r.size) || r.size == 0)
                return fail(c, "machine: bad %s (expected %s=BASE,SIZE e.g. %s=0x80000000,1G)", key,
                            key, key);
            if (r.base > UINT64_MAX - r.size)
                return fail(c, "machine: %s past the end of the address space", key);
            if (!res && c->have_memory)
                return fail(c, "machine: range= together with memory=");
            unsigned *n = res ? &c->m.nr_reserved : &c->m.nr_ranges;
            if (*n >= SIM_MAX_RANGES)
                return fail(c, "machine: more than %d %s lines", SIM_MAX_RANGES, key);
            (res ? c->m.line_reserved : c->m.line_ranges)[*n] = (unsigned)c->line;
            (res ? c->m.reserved : c->m.ranges)[(*n)++] = r;
        } else if (strcmp(key, "area") == 0) {
            int np = split_commas(val, part, 3);
            struct sim_area a = {.base = 0};
            if (np < 2 || !sim_parse_size(part[1], &a.size) || a.size == 0 ||
                (np == 3 && !sim_parse_size(part[2], &a.base)))
                return fail(c, "machine: bad area (expected area=NAME,SIZE[,BASE] e.g. "
                               "area=camera,64M)");
            if (check_area_name(c, part[0]) != 0)
                return -1;
            for (unsigned k = 0; k < c->m.nr_areas; k++)
                if (strcmp(c->m.areas[k].name, part[0]) == 0)
                    return fail(c, "machine: area '%s' declared twice", show(part[0], b));
            if (c->m.nr_areas >= SIM_MAX_AREAS)
                return fail(c, "machine: more than %d areas", SIM_MAX_AREAS);
            snprintf(a.name, sizeof a.name, "%s", part[0]);
            c->m.line_areas[c->m.nr_areas] = (unsigned)c->line;
            c->m.areas[c->m.nr_areas++] = a;
        } else if (strcmp(key, "cmdline") == 0) {
            if (c->have_cmdline)
                return fail(c, "machine: cmdline= given twice");
            if (strlen(val) >= sizeof c->m.cmdline)
                return fail(c, "machine: cmdline longer than %zu characters", sizeof c->m.cmdline - 1);
            snprintf(c->m.cmdline, sizeof c->m.cmdline, "%s", val);
            c->m.line_cmdline = (unsigned)c->line;
            c->have_cmdline = true;
            cmdline_area_names(c, val);
        } else if (strcmp(key, "page_size") == 0) {
            uint64_t ps;
            if (!sim_parse_size(val, &ps) || ps < (1u << CMA_PAGE_SHIFT_MIN) ||
                ps > (1u << CMA_PAGE_SHIFT_MAX) || (ps & (ps - 1)))
                return fail(c, "machine: page_size '%s': libcma supports pages of %uK to %uK, a power of two "
                               "(CMA_PAGE_SHIFT_MIN..CMA_PAGE_SHIFT_MAX)", show(val, b),
                            (1u << CMA_PAGE_SHIFT_MIN) >> 10, (1u << CMA_PAGE_SHIFT_MAX) >> 10);
            unsigned sh = 0;
            while ((1ull << sh) < ps)
                sh++;
            c->m.page_shift = sh;
            c->m.line_page_size = (unsigned)c->line;
        } else {
            return fail(c, "machine: unknown key '%s' (memory, range, reserved, area, cmdline, "
                           "page_size)", show(key, b));
        }
    }
    return 0;
}

/* Before the first event (or at the end): check the machine and fix the area name order. */
static int machine_finish(struct ctx *c, struct sim_machine *out)
{
    if (c->machine_done)
        return 0;
    c->machine_done = true;
    if (!c->machine_lines)
        return 0;
    unsigned long line = c->line;
    c->line = c->machine_line;
    if (c->m.nr_ranges == 0)
        return fail(c, "machine: no memory (give memory=SIZE or range=BASE,SIZE)");
    if (c->ncmd_areas + c->m.nr_areas > SIM_MAX_AREAS)
        return fail(c, "machine: more than %d areas", SIM_MAX_AREAS);
    for (unsigned i = 0; i < c->ncmd_areas; i++)
        if (area_index(c, c->cmd_areas[i], true) < 0)
            return -1;
    for (unsigned i = 0; i < c->m.nr_areas; i++) {
        if (area_find(c->t, c->m.areas[i].name) >= 0)
            return fail(c, "machine: area '%s' is declared by both cmdline= and area=",
                        c->m.areas[i].name);
        if (area_index(c, c->m.areas[i].name, true) < 0)
            return -1;
    }
    c->line = line;
    c->machine_has_areas = c->t->nr_area_names > 0;
    if (out)
        *out = c->m;
    return 0;
}

static const struct {
    const char *name;
    enum sim_op op;
} native_ops[] = {
    {"alloc", SIM_OP_ALLOC},   {"free", SIM_OP_FREE},   {"movable", SIM_OP_MOVABLE},
    {"clean", SIM_OP_CLEAN},   {"dirty", SIM_OP_DIRTY}, {"pin", SIM_OP_PIN},
    {"unpin", SIM_OP_UNPIN},   {"get", SIM_OP_GET},     {"put", SIM_OP_PUT},
    {"cma_alloc", SIM_OP_CMA_ALLOC}, {"cma_release", SIM_OP_CMA_RELEASE},
};

static int parse_id(struct ctx *c, const char *op, const char *v, uint64_t *id)
{
    char b[48];
    if (!parse_uint(v, 10, id))
        return fail(c, "%s: bad id '%s' (expected a number)", op, show(v, b));
    return 0;
}

static struct obj *obj_of(struct ctx *c, uint64_t dense)
{
    return &c->objs[dense - c->first_id];
}

static int obj_new(struct ctx *c, uint64_t user_id, bool cma, uint64_t *dense)
{
    if (c->nobjs == c->capobjs) {
        size_t ncap = c->capobjs ? c->capobjs * 2 : 256;
        struct obj *no = ncap > SIZE_MAX / sizeof *no ? NULL : realloc(c->objs, ncap * sizeof *no);
        if (!no)
            return fail(c, "out of memory");
        c->objs = no;
        c->capobjs = ncap;
    }
    *dense = ++c->next_id;
    c->objs[c->nobjs++] = (struct obj){c->line > UINT32_MAX ? UINT32_MAX : (uint32_t)c->line, cma};
    if (map_put(&c->ids, user_id, *dense) != 0)
        return fail(c, "out of memory");
    return 0;
}

static int native_event(struct ctx *c, char **tok, int ntok, struct sim_machine *mout)
{
    char b[48];
    if (machine_finish(c, mout) != 0)
        return -1;
    c->seen_event = true;

    uint64_t t;
    const char *ts = tok[0];
    bool rel = ts[0] == '+';
    if (!parse_time(ts + rel, &t))
        return fail(c, "bad time '%s' (expected e.g. 1500, 10us, 2.5ms, 3s or +1ms)", show(ts, b));
    if (rel) {
        if (t > UINT64_MAX - c->last_t)
            return fail(c, "time overflows");
        t += c->last_t;
    } else if (t < c->last_t) {
        char t1[40], t2[40];
        fmt_time(t, t1);
        fmt_time(c->last_t, t2);
        return fail(c, "time goes backwards: %s after %s", t1, t2);
    }
    if (ntok < 2)
        return fail(c, "missing op after the time (alloc, free, movable, clean, dirty, pin, unpin, "
                       "get, put, cma_alloc, cma_release)");
    const char *opname = tok[1];
    int k = -1;
    for (size_t i = 0; i < sizeof native_ops / sizeof native_ops[0]; i++)
        if (strcmp(opname, native_ops[i].name) == 0)
            k = (int)i;
    if (k < 0)
        return fail(c, "unknown op '%s' (alloc, free, movable, clean, dirty, pin, unpin, get, put, "
                       "cma_alloc, cma_release)", show(opname, b));
    enum sim_op op = native_ops[k].op;

    struct sim_event ev = {.gfp = CMA_GFP_UNMOVABLE};
    bool have_id = false, have_type = false, have_class = false, have_order = false;
    bool have_count = false, have_size = false, have_align = false, have_area = false;
    uint64_t uid = 0, count = 0, size = 0;
    const char *area = NULL;
    for (int i = 2; i < ntok; i++) {
        char *key, *val;
        bool kv = split_kv(tok[i], &key, &val);
        if (kv && unquote(c, &val) != 0)
            return -1;
        if (!kv) {
            if (!have_id && is_digit(key[0])) {
                if (parse_id(c, opname, key, &uid) != 0)
                    return -1;
                have_id = true;
            } else if (op == SIM_OP_ALLOC && strcmp(key, "movable") == 0) {
                ev.flags |= SIM_EV_MOVABLE;
            } else if (op == SIM_OP_ALLOC && strcmp(key, "clean") == 0) {
                ev.flags |= SIM_EV_CLEAN;
            } else {
                return fail(c, "%s: unexpected '%s'", opname, show(key, b));
            }
            continue;
        }
        if (strcmp(key, "id") == 0) {
            if (have_id)
                return fail(c, "%s: id given twice", opname);
            if (parse_id(c, opname, val, &uid) != 0)
                return -1;
            have_id = true;
        } else if (op == SIM_OP_ALLOC && strcmp(key, "order") == 0) {
            uint64_t o;
            if (have_order)
                return fail(c, "alloc: order given twice");
            if (!parse_uint(val, 10, &o) || o > CMA_MAX_ORDER_LIMIT)
                return fail(c, "alloc: bad order '%s' (0..%d)", show(val, b), CMA_MAX_ORDER_LIMIT);
            ev.order = (uint8_t)o;
            have_order = true;
        } else if (op == SIM_OP_ALLOC && strcmp(key, "type") == 0) {
            if (have_type)
                return fail(c, "alloc: type given twice");
            if (strcmp(val, "movable") == 0)
                ev.gfp = CMA_GFP_MOVABLE;
            else if (strcmp(val, "unmovable") == 0)
                ev.gfp = CMA_GFP_UNMOVABLE;
            else if (strcmp(val, "reclaimable") == 0)
                ev.gfp = CMA_GFP_RECLAIMABLE;
            else
                return fail(c, "alloc: bad type '%s' (movable, unmovable, reclaimable)", show(val, b));
            have_type = true;
        } else if (op == SIM_OP_ALLOC && strcmp(key, "class") == 0) {
            static const char *const classes[SIM_NCLASSES] = {
                [SIM_CLASS_OTHER] = "other",   [SIM_CLASS_PAGECACHE] = "pagecache",
                [SIM_CLASS_ANON] = "anon",     [SIM_CLASS_KERNEL] = "kernel",
                [SIM_CLASS_PINNED] = "pinned"};
            int cl = -1;
            for (int j = 0; j < SIM_NCLASSES; j++)
                if (strcmp(val, classes[j]) == 0)
                    cl = j;
            if (have_class)
                return fail(c, "alloc: class given twice");
            if (cl < 0)
                return fail(c, "alloc: bad class '%s' (pagecache, anon, kernel, pinned, other)",
                            show(val, b));
            ev.cls = (uint8_t)cl;
            have_class = true;
        } else if (op == SIM_OP_CMA_ALLOC && strcmp(key, "area") == 0) {
            if (have_area)
                return fail(c, "cma_alloc: area given twice");
            area = val;
            have_area = true;
        } else if (op == SIM_OP_CMA_ALLOC && strcmp(key, "count") == 0) {
            if (have_count)
                return fail(c, "cma_alloc: count given twice");
            if (!parse_uint(val, 10, &count) || count == 0)
                return fail(c, "cma_alloc: bad count '%s' (pages, at least 1)", show(val, b));
            have_count = true;
        } else if (op == SIM_OP_CMA_ALLOC && strcmp(key, "size") == 0) {
            if (have_size)
                return fail(c, "cma_alloc: size given twice");
            if (!sim_parse_size(val, &size) || size == 0)
                return fail(c, "cma_alloc: bad size '%s' (bytes, e.g. 8M)", show(val, b));
            have_size = true;
        } else if (op == SIM_OP_CMA_ALLOC && strcmp(key, "align") == 0) {
            uint64_t a;
            if (have_align)
                return fail(c, "cma_alloc: align given twice");
            if (!parse_uint(val, 10, &a) || a > 30)
                return fail(c, "cma_alloc: bad align '%s' (an order, 0..30)", show(val, b));
            ev.align_order = (uint8_t)a;
            have_align = true;
        } else {
            return fail(c, "%s: unknown key '%s'", opname, show(key, b));
        }
    }
    if (!have_id)
        return fail(c, "%s: missing id", opname);

    struct slot *live = map_find(&c->ids, uid);
    if (op == SIM_OP_ALLOC || op == SIM_OP_CMA_ALLOC) {
        if (live)
            return fail(c, "%s of live id %" PRIu64 " (allocated at line %" PRIu32 ")", opname, uid,
                        obj_of(c, live->val)->line);
        if (op == SIM_OP_ALLOC) {
            if (!have_type && (ev.cls == SIM_CLASS_ANON || ev.cls == SIM_CLASS_PAGECACHE ||
                               ev.cls == SIM_CLASS_PINNED))
                ev.gfp = CMA_GFP_MOVABLE;
        } else {
            if (have_count == have_size)
                return fail(c, "cma_alloc: give exactly one of count=PAGES or size=BYTES");
            if (have_size) {
                uint64_t ps = 1ull << (c->machine_lines ? c->m.page_shift : 12);
                count = size / ps + (size % ps != 0);
            }
            ev.count = count;
            int ai;
            if (area)
                ai = area_index(c, area, !c->machine_has_areas);
            else
                ai = c->t->nr_area_names ? 0 : area_index(c, "reserved", true);
            if (ai < 0)
                return -1;
            ev.area = (uint8_t)ai;
        }
        uint64_t dense = 0;
        if (obj_new(c, uid, op == SIM_OP_CMA_ALLOC, &dense) != 0)
            return -1;
        return push(c, op, t, dense, ev);
    }
    if (!live)
        return fail(c, "%s of unknown id %" PRIu64, opname, uid);
    uint64_t dense = live->val;
    bool is_cma = obj_of(c, dense)->cma;
    if (op == SIM_OP_CMA_RELEASE && !is_cma)
        return fail(c, "cma_release of id %" PRIu64 ", a page allocation (use free)", uid);
    if (op != SIM_OP_CMA_RELEASE && is_cma)
        return fail(c, "%s of id %" PRIu64 ", a cma_alloc buffer%s", opname, uid,
                    op == SIM_OP_FREE ? " (use cma_release)" : "");
    if (op == SIM_OP_FREE || op == SIM_OP_CMA_RELEASE)
        map_del(&c->ids, live);
    return push(c, op, t, dense, ev);
}

static int native_line(struct ctx *c, char *s, struct sim_machine *mout)
{
    char *tok[MAX_TOKENS];
    int ntok = 0;
    if (tokenize(c, s, tok, &ntok) != 0)
        return -1;
    if (ntok == 0)
        return 0;
    if (strcmp(tok[0], "machine") == 0)
        return machine_line(c, tok, ntok);
    return native_event(c, tok, ntok, mout);
}

/* ---- ftrace text --------------------------------------------------------------------------------- */

/* "SECONDS.FRACTION:" */
static bool is_timestamp_tok(const char *s)
{
    const char *p = s;
    while (is_digit(*p))
        p++;
    if (p == s || *p != '.')
        return false;
    const char *f = ++p;
    while (is_digit(*p))
        p++;
    return p > f && p[0] == ':' && p[1] == '\0';
}

static bool is_event_tok(const char *s)
{
    size_t len = strlen(s);
    return len >= 2 && s[len - 1] == ':';
}

/* Whitespace tokens, in place; at most max (the rest is dropped). */
static int split_ws(char *s, char **tok, int max)
{
    int n = 0;
    for (;;) {
        while (is_space(*s))
            s++;
        if (!*s || n == max)
            return n;
        tok[n++] = s;
        while (*s && !is_space(*s))
            s++;
        if (*s)
            *s++ = '\0';
    }
}

/* Lines that are part of the ftrace output but no event: 1 = header (ignored), 2 = lost events. */
static int ftrace_nonevent(const char *s, uint64_t *lost)
{
    unsigned cpu;
    int pos = -1;
    uint64_t n;
    if (sscanf(s, "CPU:%u [LOST %" SCNu64 " EVENTS]%n", &cpu, &n, &pos) == 2 && pos > 0 && !s[pos]) {
        *lost = n;
        return 2;
    }
    pos = -1;
    if (sscanf(s, "CPU:%u [LOST EVENTS]%n", &cpu, &pos) == 1 && pos > 0 && !s[pos]) {
        *lost = 0;
        return 2;
    }
    pos = -1;
    if (sscanf(s, "cpus=%u%n", &cpu, &pos) == 1 && pos > 0 && !s[pos])
        return 1;
    pos = -1;
    if (sscanf(s, "CPU %u is empty%n", &cpu, &pos) == 1 && pos > 0 && !s[pos])
        return 1;
    return 0;
}

/* Does this (trimmed, non-comment) line look like ftrace output? */
static bool ftrace_shape(const char *line)
{
    uint64_t lost;
    if (ftrace_nonevent(line, &lost))
        return true;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", line);
    char *tok[24];
    int n = split_ws(buf, tok, 24);
    for (int i = 0; i + 1 < n; i++)
        if (is_timestamp_tok(tok[i]))
            return is_event_tok(tok[i + 1]);
    return false;
}

struct fields {
    char **tok;
    int n;
};

static const char *field(const struct fields *f, const char *key)
{
    size_t kl = strlen(key);
    for (int i = 0; i < f->n; i++)
        if (strncmp(f->tok[i], key, kl) == 0 && f->tok[i][kl] == '=')
            return f->tok[i] + kl + 1;
    return NULL;
}

static int need(struct ctx *c, const char *ev, const struct fields *f, const char *key, const char **v)
{
    *v = field(f, key);
    if (!*v)
        return fail(c, "%s: missing %s=", ev, key);
    return 0;
}

/* pfn=: 0x hex; without 0x decimal (kmem: %lu) or hexadecimal (cma: %lx), as the kernels print it. */
static int get_pfn(struct ctx *c, const char *ev, const struct fields *f, int base, uint64_t *pfn)
{
    char b[48];
    const char *v;
    if (need(c, ev, f, "pfn", &v) != 0)
        return -1;
    if (!parse_uint(v, base, pfn))
        return fail(c, "%s: bad pfn '%s'", ev, show(v, b));
    return 0;
}

static int get_num(struct ctx *c, const char *ev, const struct fields *f, const char *key,
                   bool required, uint64_t max, uint64_t *out)
{
    char b[48];
    const char *v = field(f, key);
    if (!v) {
        if (required)
            return fail(c, "%s: missing %s=", ev, key);
        return 1;
    }
    if (!parse_uint(v, 10, out))
        return fail(c, "%s: bad %s '%s'", ev, key, show(v, b));
    if (*out > max)
        return fail(c, "%s: %s %" PRIu64 " out of range (0..%" PRIu64 ")", ev, key, *out, max);
    return 0;
}

/* page=%p printed for a NULL page: (null), (nil), 0000000000000000, 0x0. */
static bool null_page(const char *v)
{
    if (!v)
        return false;
    if (strcmp(v, "(null)") == 0 || strcmp(v, "(nil)") == 0)
        return true;
    if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
        v += 2;
    if (!*v)
        return false;
    for (; *v; v++)
        if (*v != '0')
            return false;
    return true;
}

static bool gfp_has(const char *flags, const char *const *names)
{
    const char *p = flags;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        for (const char *const *n = names; *n; n++)
            if (strlen(*n) == len && strncmp(p, *n, len) == 0)
                return true;
        p += len + (e != NULL);
    }
    return false;
}

static bool gfp_movable(const char *flags, bool *anon)
{
    static const char *const anon_names[] = {"GFP_HIGHUSER_MOVABLE", "GFP_TRANSHUGE",
                                             "GFP_TRANSHUGE_LIGHT", NULL};
    static const char *const movable_names[] = {"__GFP_MOVABLE", "GFP_MOVABLE", NULL};
    *anon = false;
    if (!flags)
        return false;
    uint64_t bits;
    if (parse_uint(flags, 16, &bits) && flags[0] == '0' && (flags[1] == 'x' || flags[1] == 'X'))
        return (bits & 0x08) != 0; /* ___GFP_MOVABLE */
    if (gfp_has(flags, anon_names)) {
        *anon = true;
        return true;
    }
    return gfp_has(flags, movable_names);
}

static bool gfp_reclaimable(const char *flags)
{
    static const char *const names[] = {"__GFP_RECLAIMABLE", "GFP_RECLAIMABLE", NULL};
    return flags && gfp_has(flags, names);
}

static int ft_page_alloc(struct ctx *c, uint64_t t, const struct fields *f)
{
    const char *ev = "mm_page_alloc";
    char b[48];
    uint64_t pfn, order;
    if (get_pfn(c, ev, f, 10, &pfn) != 0 || get_num(c, ev, f, "order", true, CMA_MAX_ORDER_LIMIT, &order) != 0)
        return -1;
    const char *mts = field(f, "migratetype"), *gfp = field(f, "gfp_flags");
    int64_t mt = -1;
    if (mts && !parse_int(mts, &mt))
        return fail(c, "%s: bad migratetype '%s'", ev, show(mts, b));
    if (null_page(field(f, "page"))) { /* a failed allocation */
        c->t->events_skipped++;
        return 0;
    }
    bool anon, movable = gfp_movable(gfp, &anon);
    struct sim_event e = {.order = (uint8_t)order};
    if (mt == 0)
        e.gfp = CMA_GFP_UNMOVABLE;
    else if (mt == 1)
        e.gfp = CMA_GFP_MOVABLE;
    else if (mt == 2)
        e.gfp = CMA_GFP_RECLAIMABLE;
    else
        e.gfp = movable ? CMA_GFP_MOVABLE : gfp_reclaimable(gfp) ? CMA_GFP_RECLAIMABLE : CMA_GFP_UNMOVABLE;
    if (movable) {
        e.flags = SIM_EV_MOVABLE;
        e.cls = anon ? SIM_CLASS_ANON : SIM_CLASS_PAGECACHE;
    } else {
        e.cls = SIM_CLASS_KERNEL;
    }
    struct slot *old = map_find(&c->pages, pfn);
    if (old) { /* its free was not traced (lost or before a buffer wrap): free it now */
        if (push(c, SIM_OP_FREE, t, old->val, (struct sim_event){0}) != 0)
            return -1;
        map_del(&c->pages, old);
    }
    uint64_t id = ++c->next_id;
    if (map_put(&c->pages, pfn, id) != 0)
        return fail(c, "out of memory");
    return push(c, SIM_OP_ALLOC, t, id, e);
}

static int ft_page_free(struct ctx *c, uint64_t t, const struct fields *f, bool batched)
{
    const char *ev = batched ? "mm_page_free_batched" : "mm_page_free";
    uint64_t pfn, order;
    if (get_pfn(c, ev, f, 10, &pfn) != 0 || get_num(c, ev, f, "order", false, CMA_MAX_ORDER_LIMIT, &order) < 0)
        return -1;
    struct slot *s = map_find(&c->pages, pfn);
    if (!s) { /* allocated before the trace started */
        c->t->events_skipped++;
        return 0;
    }
    uint64_t id = s->val;
    map_del(&c->pages, s);
    return push(c, SIM_OP_FREE, t, id, (struct sim_event){0});
}

static int ft_cma_alloc(struct ctx *c, uint64_t t, const struct fields *f, const char *ev, bool start)
{
    char b[48];
    const char *name = field(f, "name");
    uint64_t count, align = 0, pfn = 0;
    if (!name && strcmp(ev, "cma_alloc") != 0)
        return fail(c, "%s: missing name=", ev);
    if (start) {
        int r = get_num(c, ev, f, "count", false, UINT64_MAX, &count);
        if (r > 0)
            r = get_num(c, ev, f, "request_count", true, UINT64_MAX, &count);
        if (r < 0 || get_num(c, ev, f, "align", false, 30, &align) < 0)
            return -1;
        if (check_area_name(c, name) != 0)
            return -1;
        c->t->events_skipped++; /* informational: cma_alloc_finish carries the outcome */
        return 0;
    }
    if (get_pfn(c, ev, f, 16, &pfn) != 0 || get_num(c, ev, f, "count", true, UINT64_MAX, &count) != 0 ||
        get_num(c, ev, f, "align", false, 30, &align) < 0)
        return -1;
    int64_t errorno = 0;
    const char *es = field(f, "errorno");
    if (es && !parse_int(es, &errorno))
        return fail(c, "%s: bad errorno '%s'", ev, show(es, b));
    if (count == 0) { /* the kernel returns at once */
        c->t->events_skipped++;
        return 0;
    }
    /* the name as a cma= command line can declare it: characters its names do not allow become '_'
     * (device-tree areas are named like "linux,cma": declare them as linux_cma) */
    char cname[CMA_AREA_NAME_MAX + 8];
    snprintf(cname, sizeof cname, "%s", name ? name : "reserved");
    for (char *p = cname; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || is_digit(*p) || *p == '_' || *p == '.' ||
              *p == '-'))
            *p = '_';
    if (name && strlen(name) > CMA_AREA_NAME_MAX)
        snprintf(cname, sizeof cname, "%s", name); /* too long: area_index refuses it with its name */
    int area = area_index(c, cname, true);
    if (area < 0)
        return -1;
    struct sim_event e = {.area = (uint8_t)area, .align_order = (uint8_t)align, .count = count};
    uint64_t id = ++c->next_id;
    if (errorno != 0 || null_page(field(f, "page"))) {
        /* failed in the traced kernel: replay the attempt, and give back whatever it got */
        if (push(c, SIM_OP_CMA_ALLOC, t, id, e) != 0)
            return -1;
        return push(c, SIM_OP_CMA_RELEASE, t, id, (struct sim_event){0});
    }
    struct slot *old = map_find(&c->cmas, pfn);
    if (old) { /* its release was not traced */
        if (push(c, SIM_OP_CMA_RELEASE, t, old->val, (struct sim_event){0}) != 0)
            return -1;
        map_del(&c->cmas, old);
    }
    if (map_put(&c->cmas, pfn, id) != 0)
        return fail(c, "out of memory");
    return push(c, SIM_OP_CMA_ALLOC, t, id, e);
}

static int ft_cma_release(struct ctx *c, uint64_t t, const struct fields *f)
{
    const char *ev = "cma_release";
    uint64_t pfn, count;
    if (get_pfn(c, ev, f, 16, &pfn) != 0 || get_num(c, ev, f, "count", false, UINT64_MAX, &count) < 0)
        return -1;
    struct slot *s = map_find(&c->cmas, pfn);
    if (!s) {
        c->t->events_skipped++;
        return 0;
    }
    uint64_t id = s->val;
    map_del(&c->cmas, s);
    return push(c, SIM_OP_CMA_RELEASE, t, id, (struct sim_event){0});
}

static int ftrace_line(struct ctx *c, char *s)
{
    char b[48];
    uint64_t lost;
    int k = ftrace_nonevent(s, &lost);
    if (k == 2) {
        c->t->events_lost += lost;
        return 0;
    }
    if (k == 1)
        return 0;
    char *tok[MAX_TOKENS];
    int n = split_ws(s, tok, MAX_TOKENS), ts = -1;
    for (int i = 0; i + 1 < n && ts < 0; i++)
        if (is_timestamp_tok(tok[i]))
            ts = i;
    if (ts < 0)
        return fail(c, "not an ftrace event line (expected TASK-PID [CPU] SECONDS: EVENT: FIELDS)");
    if (!is_event_tok(tok[ts + 1]))
        return fail(c, "missing event name after the timestamp %s", show(tok[ts], b));

    uint64_t tsn;
    if (!parse_scaled(tok[ts], tok[ts] + strlen(tok[ts]) - 1, 1000000000ull, &tsn))
        return fail(c, "timestamp %s out of range", show(tok[ts], b));
    if (!c->have_base) {
        c->have_base = true;
        c->base_ns = tsn;
    }
    uint64_t t = tsn >= c->base_ns ? tsn - c->base_ns : 0;
    if (t < c->last_t) /* clocks that are not monotonic across CPUs */
        t = c->last_t;

    char *name = tok[ts + 1];
    name[strlen(name) - 1] = '\0';
    char *colon = strrchr(name, ':'); /* "kmem:mm_page_alloc" (perf script) */
    if (colon)
        name = colon + 1;
    struct fields f = {tok + ts + 2, n - ts - 2};

    if (strcmp(name, "mm_page_alloc") == 0)
        return ft_page_alloc(c, t, &f);
    if (strcmp(name, "mm_page_free") == 0)
        return ft_page_free(c, t, &f, false);
    if (strcmp(name, "mm_page_free_batched") == 0)
        return ft_page_free(c, t, &f, true);
    if (strcmp(name, "cma_alloc_start") == 0)
        return ft_cma_alloc(c, t, &f, name, true);
    if (strcmp(name, "cma_alloc_finish") == 0 || strcmp(name, "cma_alloc") == 0)
        return ft_cma_alloc(c, t, &f, name, false);
    if (strcmp(name, "cma_release") == 0)
        return ft_cma_release(c, t, &f);
    c->t->events_skipped++;
    return 0;
}

/* ---- reading lines ------------------------------------------------------------------------------- */

struct reader {
    FILE *f;
    char *blk; /* READ_BLOCK bytes read ahead */
    size_t pos, end;
    bool eof;
    uint64_t bytes, size; /* read so far, and the file's size (0: unknown, a pipe) for the progress */
    char *buf; /* the current line */
    size_t cap;
};
#define READ_BLOCK 65536

/* 1: a line (without its newline, NUL-terminated) in r->buf, its length in *lenp; 0: end of file;
 * -1: error (message written). */
static int read_line(struct ctx *c, struct reader *r, size_t *lenp)
{
    size_t len = 0;
    bool any = false;
    for (;;) {
        if (r->pos == r->end) {
            if (r->eof)
                break;
            r->end = fread(r->blk, 1, READ_BLOCK, r->f);
            r->pos = 0;
            r->bytes += r->end;
            sim_progress_update(r->bytes, r->size);
            if (r->end == 0) {
                if (ferror(r->f)) {
                    if (c->err && c->errlen)
                        snprintf(c->err, c->errlen, "%s:%lu: read error: %s", c->path, c->line,
                                 strerror(errno));
                    return -1;
                }
                r->eof = true;
                break;
            }
        }
        any = true;
        const char *p = r->blk + r->pos;
        size_t avail = r->end - r->pos;
        const char *nl = memchr(p, '\n', avail);
        size_t chunk = nl ? (size_t)(nl - p) : avail;
        if (memchr(p, '\0', chunk))
            return fail(c, "NUL byte in the line (a binary file?)");
        if (len + chunk + 1 > r->cap) {
            if (len + chunk + 1 > MAX_LINE)
                return fail(c, "line longer than %u bytes", MAX_LINE);
            size_t ncap = r->cap ? r->cap : 256;
            while (ncap < len + chunk + 1)
                ncap *= 2;
            char *nb = realloc(r->buf, ncap);
            if (!nb)
                return fail(c, "out of memory");
            r->buf = nb;
            r->cap = ncap;
        }
        memcpy(r->buf + len, p, chunk);
        len += chunk;
        r->pos += chunk + (nl != NULL);
        if (nl)
            break;
    }
    if (!any)
        return 0;
    r->buf[len] = '\0';
    *lenp = len;
    return 1;
}

int sim_trace_load(const char *path, enum sim_trace_format fmt, struct sim_trace *t,
                   struct sim_machine *m, char *err, size_t errlen)
{
    struct ctx c = {.path = path, .err = err, .errlen = errlen, .t = t, .fmt = fmt};
    if (err && errlen)
        err[0] = '\0';
    c.next_id = t->max_id;
    c.first_id = t->max_id + 1;
    if (t->n)
        c.last_t = t->ev[t->n - 1].t_ns;

    bool is_stdin = strcmp(path, "-") == 0;
    struct reader r = {.f = is_stdin ? stdin : fopen(path, "r")};
    if (!r.f) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(r.f), &st) == 0 && S_ISREG(st.st_mode))
        r.size = (uint64_t)st.st_size;
    sim_progress_phase("reading %s", is_stdin ? "standard input" : path);
    r.blk = malloc(READ_BLOCK);
    if (!r.blk) {
        if (!is_stdin)
            fclose(r.f);
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = 0;
    size_t len = 0;
    for (;;) {
        c.line++;
        int got = read_line(&c, &r, &len);
        if (got <= 0) {
            rc = got;
            break;
        }
        char *s = r.buf;
        while (len && is_space(s[len - 1]))
            s[--len] = '\0';
        while (is_space(*s))
            s++;
        if (!*s)
            continue;
        if (*s == '#') {
            if (c.fmt == SIM_TRACE_AUTO && strncmp(s, "# tracer:", 9) == 0)
                c.fmt = SIM_TRACE_FTRACE;
            continue;
        }
        if (c.fmt == SIM_TRACE_AUTO)
            c.fmt = ftrace_shape(s) ? SIM_TRACE_FTRACE : SIM_TRACE_NATIVE;
        rc = c.fmt == SIM_TRACE_FTRACE ? ftrace_line(&c, s) : native_line(&c, s, m);
        if (rc != 0)
            break;
    }
    if (rc == 0 && c.fmt == SIM_TRACE_NATIVE)
        rc = machine_finish(&c, m);
    if (!is_stdin)
        fclose(r.f);
    free(r.blk);
    free(r.buf);
    free(c.objs);
    map_free(&c.ids);
    map_free(&c.pages);
    map_free(&c.cmas);
    return rc < 0 ? -1 : 0;
}
