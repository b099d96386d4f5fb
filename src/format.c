/* SPDX-License-Identifier: MIT */
/*
 * format.c - the library's one text builder: a small printf-style formatter and the appender every
 * text goes through (dumps, the checker's messages, cma= errors, the log), so the core needs no
 * snprintf and builds freestanding.
 *
 * The formatter understands the subset of C's printf the library uses, with C's meaning, so a host
 * that formats log messages itself (the logv hook) gets a format string its own vprintf reads:
 *   conversions  d i u x X o c s p %
 *   flags        - 0 + space #
 *   width and precision, as digits or '*'
 *   lengths      hh h l ll z j t
 * Anything else (floating point, n, positional arguments) is not used by libcma; an unknown
 * conversion is copied to the output as written. Numbers are converted without dividing by a variable
 * (a 64-bit division is a call into the compiler's runtime on 32-bit targets): decimal digits come
 * from subtracting powers of ten, the others from shifts.
 *
 * The appender (struct cma__buf) has snprintf's contract: it writes while there is room, counts every
 * byte of the full text regardless, and cma__buf_finish NUL-terminates at the end of the text or of
 * the buffer and returns the full length, so a caller with len 0 learns the size it needs.
 */
#include "internal/internal.h"

/* gcc's <limits.h> defers to the C library's when the compiler was built for one: the compiler's
 * own macros work everywhere. */
#define INT_MAX __INT_MAX__
#define INT_MIN (-__INT_MAX__ - 1)

void cma__buf_init(struct cma__buf *b, char *buf, size_t len)
{
    b->buf = buf;
    b->len = len;
    b->pos = 0;
}

void cma__buf_putc(struct cma__buf *b, char c)
{
    if (b->pos + 1 < b->len)
        b->buf[b->pos] = c;
    b->pos++;
}

/* n copies of c. */
static void buf_fill(struct cma__buf *b, char c, size_t n)
{
    while (n--)
        cma__buf_putc(b, c);
}

void cma__buf_write(struct cma__buf *b, const char *s, size_t n)
{
    if (b->pos + 1 < b->len) {
        size_t room = b->len - 1 - b->pos;
        memcpy(b->buf + b->pos, s, n < room ? n : room);
    }
    b->pos += n;
}

int cma__buf_finish(struct cma__buf *b)
{
    if (b->len > 0)
        b->buf[b->pos < b->len ? b->pos : b->len - 1] = '\0';
    return b->pos > INT_MAX ? -CMA_EOVERFLOW : (int)b->pos;
}

/* ---- the formatter ------------------------------------------------------------------------------- */

struct spec {
    bool left, zero, plus, space, alt;
    int width;     /* -1: none */
    int prec;      /* -1: none */
};

/* Digits of v in base 10, 16 or 8 into d (24 bytes), most significant first; returns their count.
 * v == 0 gives one '0'. */
static unsigned to_digits(uint64_t v, unsigned base, bool upper, char d[24])
{
    static const char lower_digits[] = "0123456789abcdef", upper_digits[] = "0123456789ABCDEF";
    const char *digits = upper ? upper_digits : lower_digits;
    unsigned n = 0;
    if (base == 10) {
        /* each digit is how many times its power of ten fits */
        static const uint64_t pow10[20] = {
            1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
            100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
            10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
            100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};
        int k = 0;
        while (k < 19 && v >= pow10[k + 1])
            k++;
        for (; k >= 0; k--) {
            unsigned digit = 0;
            while (v >= pow10[k]) {
                v -= pow10[k];
                digit++;
            }
            d[n++] = digits[digit];
        }
        return n;
    }
    unsigned shift = base == 16 ? 4 : 3;
    int s = 63 / (int)shift * (int)shift;
    while (s > 0 && !(v >> s))
        s -= (int)shift;
    for (; s >= 0; s -= (int)shift)
        d[n++] = digits[(unsigned)(v >> s) & (base - 1)];
    return n;
}

/* One integer conversion: sign (0 for none), base prefix, precision zeros, width padding. */
static void put_int(struct cma__buf *b, const struct spec *sp, uint64_t mag, char sign, unsigned base,
                    bool upper, bool pointer)
{
    char d[24];
    unsigned nd = to_digits(mag, base, upper, d);
    char prefix[2];
    size_t plen = 0;
    if (sign)
        prefix[plen++] = sign;
    else if (base == 16 && ((sp->alt && mag) || pointer))
        prefix[0] = '0', prefix[1] = upper ? 'X' : 'x', plen = 2;
    if (sp->prec == 0 && mag == 0 && !pointer) /* "%.0u" of 0 prints no digit, "%#.0o" prints "0" */
        nd = base == 8 && sp->alt ? 1 : 0;
    size_t zeros = sp->prec > 0 && (unsigned)sp->prec > nd ? (unsigned)sp->prec - nd : 0;
    if (base == 8 && sp->alt && zeros == 0 && nd && d[0] != '0')
        zeros = 1; /* '#' with octal: the first digit is a zero */
    size_t body = plen + zeros + nd;
    size_t pad = sp->width > 0 && (size_t)sp->width > body ? (size_t)sp->width - body : 0;
    if (sp->zero && !sp->left && sp->prec < 0) {
        zeros += pad; /* '0' pads between the prefix and the digits */
        pad = 0;
    }
    if (!sp->left)
        buf_fill(b, ' ', pad);
    cma__buf_write(b, prefix, plen);
    buf_fill(b, '0', zeros);
    cma__buf_write(b, d, nd);
    if (sp->left)
        buf_fill(b, ' ', pad);
}

/* A string (or one character) padded to the width. */
static void put_str(struct cma__buf *b, const struct spec *sp, const char *s, size_t n)
{
    size_t pad = sp->width > 0 && (size_t)sp->width > n ? (size_t)sp->width - n : 0;
    if (!sp->left)
        buf_fill(b, ' ', pad);
    cma__buf_write(b, s, n);
    if (sp->left)
        buf_fill(b, ' ', pad);
}

/* A width or precision at *fmt: digits, or '*' taking an int argument. False when there is none. */
static bool read_count(const char **fmt, va_list *ap, int *vp)
{
    const char *f = *fmt;
    if (*f == '*') {
        *fmt = f + 1;
        *vp = va_arg(*ap, int);
        return true;
    }
    if (*f < '0' || *f > '9')
        return false;
    int v = 0;
    for (; *f >= '0' && *f <= '9'; f++)
        v = v < (INT_MAX - 9) / 10 ? v * 10 + (*f - '0') : INT_MAX;
    *fmt = f;
    *vp = v;
    return true;
}

enum length { L_INT, L_CHAR, L_SHORT, L_LONG, L_LLONG, L_SIZE, L_MAX, L_PTRDIFF };

static uint64_t arg_unsigned(va_list *ap, enum length l)
{
    switch (l) {
    case L_CHAR:
        return (unsigned char)va_arg(*ap, unsigned);
    case L_SHORT:
        return (unsigned short)va_arg(*ap, unsigned);
    case L_LONG:
        return va_arg(*ap, unsigned long);
    case L_LLONG:
        return va_arg(*ap, unsigned long long);
    case L_SIZE:
        return va_arg(*ap, size_t);
    case L_MAX:
        return va_arg(*ap, uintmax_t);
    case L_PTRDIFF:
        return (uint64_t)va_arg(*ap, ptrdiff_t);
    default:
        return va_arg(*ap, unsigned);
    }
}

static int64_t arg_signed(va_list *ap, enum length l)
{
    switch (l) {
    case L_CHAR:
        return (signed char)va_arg(*ap, int);
    case L_SHORT:
        return (short)va_arg(*ap, int);
    case L_LONG:
        return va_arg(*ap, long);
    case L_LLONG:
        return va_arg(*ap, long long);
    case L_SIZE: /* %zd: the signed type of size_t's width */
        return (int64_t)(ptrdiff_t)va_arg(*ap, size_t);
    case L_MAX:
        return va_arg(*ap, intmax_t);
    case L_PTRDIFF:
        return va_arg(*ap, ptrdiff_t);
    default:
        return va_arg(*ap, int);
    }
}

void cma__buf_vprintf(struct cma__buf *b, const char *fmt, va_list ap_in)
{
    va_list ap;
    va_copy(ap, ap_in);
    while (*fmt) {
        const char *lit = fmt;
        while (*fmt && *fmt != '%')
            fmt++;
        cma__buf_write(b, lit, (size_t)(fmt - lit));
        if (!*fmt)
            break;
        const char *conv_start = fmt++;
        struct spec sp = {false, false, false, false, false, -1, -1};
        for (;; fmt++) {
            if (*fmt == '-')
                sp.left = true;
            else if (*fmt == '0')
                sp.zero = true;
            else if (*fmt == '+')
                sp.plus = true;
            else if (*fmt == ' ')
                sp.space = true;
            else if (*fmt == '#')
                sp.alt = true;
            else
                break;
        }
        if (read_count(&fmt, &ap, &sp.width) && sp.width < 0) { /* a negative '*' width: '-' */
            sp.left = true;
            sp.width = sp.width == INT_MIN ? INT_MAX : -sp.width;
        }
        if (*fmt == '.') {
            fmt++;
            if (!read_count(&fmt, &ap, &sp.prec))
                sp.prec = 0; /* "." alone means 0 */
            if (sp.prec < 0)
                sp.prec = -1; /* a negative '*' precision means none */
        }
        enum length len = L_INT;
        if (fmt[0] == 'h' && fmt[1] == 'h')
            len = L_CHAR, fmt += 2;
        else if (fmt[0] == 'h')
            len = L_SHORT, fmt++;
        else if (fmt[0] == 'l' && fmt[1] == 'l')
            len = L_LLONG, fmt += 2;
        else if (fmt[0] == 'l')
            len = L_LONG, fmt++;
        else if (fmt[0] == 'z')
            len = L_SIZE, fmt++;
        else if (fmt[0] == 'j')
            len = L_MAX, fmt++;
        else if (fmt[0] == 't')
            len = L_PTRDIFF, fmt++;
        char conv = *fmt;
        if (conv)
            fmt++;
        switch (conv) {
        case 'd':
        case 'i': {
            int64_t v = arg_signed(&ap, len);
            char sign = v < 0 ? '-' : sp.plus ? '+' : sp.space ? ' ' : 0;
            put_int(b, &sp, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, sign, 10, false, false);
            break;
        }
        case 'u':
            put_int(b, &sp, arg_unsigned(&ap, len), 0, 10, false, false);
            break;
        case 'x':
        case 'X':
            put_int(b, &sp, arg_unsigned(&ap, len), 0, 16, conv == 'X', false);
            break;
        case 'o':
            put_int(b, &sp, arg_unsigned(&ap, len), 0, 8, false, false);
            break;
        case 'p':
            put_int(b, &sp, (uintptr_t)va_arg(ap, void *), 0, 16, false, true);
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            put_str(b, &sp, &c, 1);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            size_t n = 0;
            if (!s)
                s = "(null)";
            while ((sp.prec < 0 || n < (size_t)sp.prec) && s[n]) /* never reads past the precision */
                n++;
            put_str(b, &sp, s, n);
            break;
        }
        case '%':
            cma__buf_putc(b, '%');
            break;
        default: /* not a conversion libcma uses: shown as written */
            cma__buf_write(b, conv_start, (size_t)(fmt - conv_start));
            break;
        }
    }
    va_end(ap);
}

void cma__buf_printf(struct cma__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cma__buf_vprintf(b, fmt, ap);
    va_end(ap);
}

int cma__vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
    struct cma__buf b;
    cma__buf_init(&b, buf, len);
    cma__buf_vprintf(&b, fmt, ap);
    return cma__buf_finish(&b);
}

int cma__format(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = cma__vformat(buf, len, fmt, ap);
    va_end(ap);
    return n;
}
