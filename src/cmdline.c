/* SPDX-License-Identifier: MIT */
/*
 * cmdline.c - CMA areas from a kernel-style command line: Linux's `cma=` (the default area) plus a
 * named-list extension, parsed by one small cursor and one number parser shared by every entry.
 *
 * Grammar (EBNF). The command line is split into words at ASCII whitespace that is not inside double
 * quotes (as the kernel's next_arg does); only words beginning with "cma=" are parsed:
 *
 *   word      = "cma=" , value | "--" | other word ;   (* "--" ends the kernel's parameters *)
 *   value     = body | '"' , body , [ '"' ] ;           (* optional quotes, stripped as Linux does *)
 *   body      = entry | named , { "," , named } ;
 *   named     = name , ":" , entry ;
 *   entry     = size , [ "@" , start , [ "-" , end ] ] ;
 *   size = start = end = number ;
 *   number    = ( "0" , ( "x" | "X" ) , hexdigit , { hexdigit }     (* hexadecimal *)
 *               | "0" , { octdigit }                                (* octal, as simple_strtoull *)
 *               | nonzerodigit , { digit } ) , [ suffix ] ;
 *   suffix    = "K" | "M" | "G" | "T" | "P" | "E" | "k" | "m" | "g" | "t" | "p" | "e" ;
 *   name      = namechar , { namechar } ;                   (* 1 .. CMA_AREA_NAME_MAX (63) *)
 *   namechar  = "A".."Z" | "a".."z" | "0".."9" | "_" | "." | "-" ;
 *
 * A value is the named form when a ':' comes before any '@' or ',' in it; then every entry of its
 * list must be named. Suffixes multiply by 2^10 .. 2^60 (memparse); one suffix at most.
 *
 * Semantics (Linux's cma=, mm/cma and kernel/dma/contiguous, re-stated, not copied)
 *   - Each cma= word is processed, in order; other words are ignored, so a whole kernel command line
 *     may be passed. Words after a lone "--" belong to init and are not looked at.
 *   - The unnamed form declares the default area "reserved". Size 0 declares nothing (Linux: cma=0
 *     disables the default area); the rest of the entry is still checked. In the named form size 0
 *     is an error.
 *   - Placement, mapped onto cma_declare_contiguous(mm, name, size, base, limit, 0, 0, &area):
 *       no '@'          base 0, limit 0: anywhere (above 4 GiB preferred, as Linux does);
 *       @S              fixed at S (Linux: limit = S + size, which makes it fixed): base S, limit 0;
 *       @S-E, E == S+size   fixed at S, as @S;
 *       @S-E otherwise  somewhere inside [S, E). Linux passes base S, limit E as a non-fixed request,
 *                       but cma_declare_contiguous only knows "base 0 = anywhere below limit", and
 *                       base 0 + limit E could land below S. So the spot is found with the memblock
 *                       allocator itself: cma_memblock_alloc_range(size rounded up to the CMA
 *                       alignment, that alignment, S, E) picks it, cma_memblock_free gives it
 *                       straight back, and the area is then declared fixed at the base found.
 *                       Nothing else runs in between (the boot phase is single-threaded by
 *                       contract), so the spot is still free. The CMA alignment is
 *                       max(pageblock, max-order block) bytes. As for dynamic areas (and Linux's
 *                       non-fixed reservations), when the window reaches 4 GiB + size the search
 *                       first goes bottom-up in [max(S, 4 GiB), E) - CMA low in memory but out of
 *                       DMA32 - and only then in all of [S, E) in the machine's memblock direction
 *                       (Linux starts that first try at 4 GiB even when S is higher; we keep to S).
 *     A fixed base of 0 cannot be passed as base 0 (that means "anywhere"), so it becomes base 0,
 *     limit = size rounded up to the alignment, which leaves [0, size) as the only candidate.
 *   - Checked before anything is declared: END must be above START and [START, END) at least SIZE
 *     long; START + SIZE must not overflow for a fixed placement.
 *
 * Error reporting
 *   - The whole command line (every word, every entry) is parsed and checked first, so a syntax error
 *     declares nothing: -EINVAL, and *errposp = the byte offset in cmdline of the offending
 *     character: an unknown suffix or stray character itself; just past a '@', '-', ':' or ',' that
 *     is not followed by what it needs (the missing number / entry); the first digit of a number that
 *     overflows 64 bits (suffix included) or of a size/start/end that is semantically wrong (size 0
 *     in a named entry, END not above START or the range too small: the END number); the 64th
 *     character of a name that is too long; the first character of an entry lacking NAME: in a
 *     named list.
 *   - Then the entries are declared in order. Areas cannot be undeclared, so a declaration error
 *     (from cma_declare_contiguous or the [S, E) search: -ENOMEM, -EBUSY, -EEXIST, -ENOSPC, -EPERM,
 *     -EINVAL ...) stops at the failing entry and is returned as is, with *errposp at the entry's
 *     first character (its name, or its size in the unnamed form); earlier entries stay declared.
 *   - Each error is logged once at CMA_LOG_ERROR through the host log hook: the reason and offset,
 *     then the word (a window of it when long) and a caret under the offending character.
 *
 * Like every boot-phase call, not to be raced with other declarations on the same machine.
 */
#include "internal/internal.h"

/* The cursor over one command line; pos/end bound the value being parsed. */
struct cl {
    const char *s;
    size_t pos, end;       /* cursor, end of the current value (exclusive) */
    size_t word, word_end; /* the current cma= word, for the log */
    size_t errpos;         /* offset of the offending character, once an error is recorded */
    char why[128];         /* the reason, for the log */
};

/* One parsed entry. name_len 0: the unnamed default area. */
struct cl_entry {
    size_t at;                /* first character of the entry (name, or size when unnamed) */
    size_t name_at, name_len;
    uint64_t size, start, end;
    size_t size_at, start_at, end_at;
    bool has_start, has_end;
};

#define CL_DEFAULT_NAME "reserved" /* Linux's default DMA area */
#define CL_SHOW 48                 /* characters of a word shown in the log */
#define CL_4G (4ull << 30)

static bool cl_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool cl_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static bool cl_namechar(char c)
{
    return cl_alpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Value of c as a digit of any base up to 16, or 99. */
static unsigned cl_digit(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a') + 10;
    if (c >= 'A' && c <= 'F')
        return (unsigned)(c - 'A') + 10;
    return 99;
}

/* The character under the cursor, '\0' at the end of the value. */
static char cl_peek(const struct cl *p) { return p->pos < p->end ? p->s[p->pos] : '\0'; }

/* "'Q'" for a printable character, "byte 0x07" otherwise. */
static const char *cl_chr(char c, char buf[16])
{
    unsigned char u = (unsigned char)c;
    if (u > 0x20 && u < 0x7f)
        cma__format(buf, 16, "'%c'", c);
    else
        cma__format(buf, 16, "byte 0x%02x", u);
    return buf;
}

/* Records a syntax error at offset `at`; returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int cl_fail(struct cl *p, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cma__vformat(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
    p->errpos = at;
    return -CMA_EINVAL;
}

/*
 * A memparse number at the cursor: hex after 0x, octal after a leading 0, else decimal, then at most
 * one K/M/G/T/P/E suffix. what names it in messages ("size", "start", "end"). On success *vp is the
 * value, *atp its first character, and the cursor is past it; the caller checks what follows.
 */
static int cl_number(struct cl *p, const char *what, uint64_t *vp, size_t *atp)
{
    const char *s = p->s;
    size_t at = p->pos, i = at;
    unsigned base = 10, shift = 0;
    uint64_t v = 0;
    char buf[16];

    if (i < p->end && s[i] == '0') {
        if (i + 1 < p->end && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
            if (i + 2 >= p->end || cl_digit(s[i + 2]) >= 16)
                return cl_fail(p, i + 2, "missing hex digits after 0x in the %s", what);
            base = 16;
            i += 2;
        } else {
            base = 8;
        }
    }
    if (i >= p->end || cl_digit(s[i]) >= base)
        return cl_fail(p, at, "missing %s", what);
    /* the largest value that can take one more digit (a constant: no 64-bit division at run time) */
    const uint64_t most = base == 10 ? UINT64_MAX / 10 : base == 16 ? UINT64_MAX / 16 : UINT64_MAX / 8;
    for (; i < p->end && cl_digit(s[i]) < base; i++) {
        unsigned d = cl_digit(s[i]);
        if (v > most || v * base > UINT64_MAX - d)
            return cl_fail(p, at, "%s overflows 64 bits", what);
        v = v * base + d;
    }
    if (base == 8 && i < p->end && (s[i] == '8' || s[i] == '9'))
        return cl_fail(p, i, "digit %s in the %s, which is octal (leading 0)", cl_chr(s[i], buf), what);
    if (i < p->end) {
        switch (s[i]) {
        case 'K': case 'k': shift = 10; break;
        case 'M': case 'm': shift = 20; break;
        case 'G': case 'g': shift = 30; break;
        case 'T': case 't': shift = 40; break;
        case 'P': case 'p': shift = 50; break;
        case 'E': case 'e': shift = 60; break;
        default:
            if (cl_alpha(s[i]))
                return cl_fail(p, i, "unknown suffix %s on the %s", cl_chr(s[i], buf), what);
        }
    }
    if (shift) {
        if (v > UINT64_MAX >> shift)
            return cl_fail(p, at, "%s overflows 64 bits", what);
        v <<= shift;
        i++;
    }
    p->pos = i;
    *vp = v;
    *atp = at;
    return 0;
}

/* NAME ':' of a named entry; leaves the cursor past the ':'. */
static int cl_name(struct cl *p, struct cl_entry *e)
{
    size_t at = p->pos;
    char c, buf[16];

    for (; p->pos < p->end && cl_namechar(p->s[p->pos]); p->pos++)
        if (p->pos - at == CMA_AREA_NAME_MAX)
            return cl_fail(p, p->pos, "area name longer than %d characters", CMA_AREA_NAME_MAX);
    c = cl_peek(p);
    if (c == ':') {
        if (p->pos == at)
            return cl_fail(p, at, "empty area name before ':'");
        e->name_at = at;
        e->name_len = p->pos - at;
        p->pos++;
        return 0;
    }
    if (p->pos == at && (c == '\0' || c == ','))
        return cl_fail(p, at, "missing entry (NAME:SIZE) after ','");
    if (c == '\0' || c == ',' || c == '@')
        return cl_fail(p, at, "entry without NAME: in a named list");
    return cl_fail(p, p->pos, "%s in an area name (allowed: A-Z a-z 0-9 _ . -)", cl_chr(c, buf));
}

/*
 * One entry: [NAME:]SIZE[@START[-END]], checked completely. Leaves the cursor at the end of the value
 * or (named form) on the ',' before the next entry.
 */
static int cl_entry(struct cl *p, bool named, struct cl_entry *e)
{
    const char *last = "size";
    char c, buf[16];
    int r;

    memset(e, 0, sizeof *e);
    e->at = p->pos;
    if (named && (r = cl_name(p, e)))
        return r;
    if ((r = cl_number(p, "size", &e->size, &e->size_at)))
        return r;
    if (cl_peek(p) == '@') {
        p->pos++;
        e->has_start = true;
        last = "start";
        if ((r = cl_number(p, "start", &e->start, &e->start_at)))
            return r;
        if (cl_peek(p) == '-') {
            p->pos++;
            e->has_end = true;
            last = "end";
            if ((r = cl_number(p, "end", &e->end, &e->end_at)))
                return r;
        }
    }
    c = cl_peek(p);
    if (c == ',' && !named)
        return cl_fail(p, p->pos, "',' after an unnamed entry (lists need NAME:SIZE entries)");
    if (c != '\0' && c != ',')
        return cl_fail(p, p->pos, "unexpected %s after the %s", cl_chr(c, buf), last);

    if (named && e->size == 0)
        return cl_fail(p, e->size_at, "size 0 in a named entry");
    if (e->has_end && e->end <= e->start)
        return cl_fail(p, e->end_at, "end %#llx is not above start %#llx", (unsigned long long)e->end,
                       (unsigned long long)e->start);
    if (e->has_end && e->end - e->start < e->size)
        return cl_fail(p, e->end_at, "[start, end) is smaller than the size %#llx",
                       (unsigned long long)e->size);
    if (e->has_start && !e->has_end && e->size > UINT64_MAX - e->start)
        return cl_fail(p, e->start_at, "start + size overflows 64 bits");
    return 0;
}

/* The CMA alignment cma_declare_contiguous uses by default: max(pageblock, max-order block). */
static uint64_t cl_align(const struct cma_mm *mm)
{
    unsigned pb = cma_mm_pageblock_order(mm), mo = cma_mm_max_order(mm);
    return cma_mm_page_size(mm) << (pb > mo ? pb : mo);
}

/* Declares a fixed area at base that must end by `limit` (0: base + size, as Linux's fixed
 * placement); base 0 goes through limit (see the file comment). */
static int cl_declare_fixed(struct cma_mm *mm, const char *name, uint64_t size, cma_phys_t base,
                            cma_phys_t limit)
{
    struct cma_area *area = NULL;
    uint64_t align = cl_align(mm);

    if (base == 0) {
        if (size > UINT64_MAX - (align - 1))
            return -CMA_EINVAL;
        limit = (size + align - 1) & ~(align - 1);
    } else if (!limit) {
        /* As Linux: the area must fit [base, base + size) once rounded to the CMA alignment, so a
         * size that is not a multiple of it at a fixed base is -EINVAL rather than silently grown. */
        limit = base + size;
    }
    return cma_declare_contiguous(mm, name, size, base, limit, 0, 0, &area);
}

static int cl_declare(struct cma_mm *mm, const struct cl_entry *e, const char *name)
{
    struct cma_area *area = NULL;
    uint64_t align, rsize;
    cma_phys_t b;
    int r;

    if (!e->has_start)
        return cma_declare_contiguous(mm, name, e->size, 0, 0, 0, 0, &area);
    if (!e->has_end || e->end - e->start == e->size)
        return cl_declare_fixed(mm, name, e->size, e->start, 0);
    /* Somewhere inside [start, end): let memblock choose, give it back, declare there fixed. */
    align = cl_align(mm);
    if (e->size > UINT64_MAX - (align - 1))
        return -CMA_EINVAL;
    rsize = (e->size + align - 1) & ~(align - 1);
    r = -CMA_ENOMEM;
    if (e->end >= CL_4G && e->end - CL_4G >= rsize) {
        bool saved = mm->mb.bottom_up; /* boot phase: nobody else touches memblock */
        (void)cma_memblock_set_bottom_up(mm, true);
        r = cma_memblock_alloc_range(mm, rsize, align, e->start > CL_4G ? e->start : CL_4G, e->end, &b);
        (void)cma_memblock_set_bottom_up(mm, saved);
    }
    if (r && (r = cma_memblock_alloc_range(mm, rsize, align, e->start, e->end, &b)))
        return r;
    if ((r = cma_memblock_free(mm, b, rsize)))
        return r;
    return cl_declare_fixed(mm, name, e->size, b, b + rsize);
}

/* Walks every cma= word; with declare, declares each entry after parsing it. */
static int cl_walk(struct cma_mm *mm, struct cl *p, bool declare)
{
    const char *s = p->s;
    size_t i = 0;

    for (;;) {
        size_t w;
        bool quoted = false, named;
        int r;

        while (s[i] && cl_space(s[i]))
            i++;
        if (!s[i])
            return 0;
        for (w = i; s[i] && (quoted || !cl_space(s[i])); i++)
            if (s[i] == '"')
                quoted = !quoted;
        if (i - w == 2 && s[w] == '-' && s[w + 1] == '-')
            return 0;
        if (i - w < 4 || memcmp(s + w, "cma=", 4) != 0)
            continue;

        p->word = w;
        p->word_end = i;
        p->pos = w + 4;
        p->end = i;
        if (p->pos < p->end && s[p->pos] == '"') {
            p->pos++;
            if (p->end > p->pos && s[p->end - 1] == '"')
                p->end--;
        }
        /* Named when a ':' comes before any '@' or ','. */
        named = false;
        for (size_t k = p->pos; k < p->end && s[k] != '@' && s[k] != ','; k++)
            if (s[k] == ':') {
                named = true;
                break;
            }

        for (;;) {
            struct cl_entry e;
            char name[CMA_AREA_NAME_MAX + 1];

            if ((r = cl_entry(p, named, &e)))
                return r;
            if (declare && e.size) {
                if (e.name_len) {
                    memcpy(name, s + e.name_at, e.name_len);
                    name[e.name_len] = '\0';
                } else {
                    memcpy(name, CL_DEFAULT_NAME, sizeof CL_DEFAULT_NAME);
                }
                if ((r = cl_declare(mm, &e, name))) {
                    cma__format(p->why, sizeof p->why, "cannot declare '%s' (%#llx bytes): %s", name,
                                (unsigned long long)e.size, cma_err_name(r));
                    p->errpos = e.at;
                    return r;
                }
            }
            if (p->pos == p->end)
                break;
            p->pos++; /* the ',' between named entries */
        }
    }
}

/* Logs the recorded error: reason and offset, the word (or a window of it), a caret. */
static void cl_log(struct cma_mm *mm, const struct cl *p)
{
    size_t from = p->word, to = p->word_end, at = p->errpos;
    const char *pre = "", *post = "";

    if (at - from > CL_SHOW - 8) {
        from = at - (CL_SHOW - 8);
        pre = "...";
    }
    if (to - from > CL_SHOW) {
        to = from + CL_SHOW;
        post = "...";
    }
    cma__log(&mm->host, CMA_LOG_ERROR, "cma=: %s at offset %zu\n  %s%.*s%s\n  %*s^", p->why, at, pre,
             (int)(to - from), p->s + from, post, (int)(strlen(pre) + (at - from)), "");
}

int cma_parse_cmdline_err(struct cma_mm *mm, const char *cmdline, size_t *errposp)
{
    struct cl p;
    int r;

    if (!mm || !cmdline) {
        if (errposp)
            *errposp = 0;
        return -CMA_EINVAL;
    }
    memset(&p, 0, sizeof p);
    p.s = cmdline;
    r = cl_walk(mm, &p, false); /* syntax and sanity of everything: declares nothing */
    if (!r)
        r = cl_walk(mm, &p, true);
    if (r) {
        cl_log(mm, &p);
        if (errposp)
            *errposp = p.errpos;
    }
    return r;
}

int cma_parse_cmdline(struct cma_mm *mm, const char *cmdline)
{
    return cma_parse_cmdline_err(mm, cmdline, NULL);
}
