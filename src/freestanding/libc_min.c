/* SPDX-License-Identifier: MIT */
/*
 * freestanding/libc_min.c - the eight C library primitives the core uses (internal/libc.h), for
 * targets whose toolchain has no C library at all (CMA_FREESTANDING_LIBC=ON, e.g. a bare-metal image
 * linked with clang and lld). Plain byte loops, every symbol weak: a program that brings its own
 * (a kernel's optimised memcpy) wins at link time.
 *
 * Built with -fno-builtin (and, with gcc, -fno-tree-loop-distribute-patterns) so the compiler does
 * not turn these loops back into calls to themselves.
 */
#include <stddef.h>

#define WEAK __attribute__((weak))

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

WEAK void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

WEAK void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

WEAK void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

WEAK int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}

WEAK size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

WEAK int strcmp(const char *a, const char *b)
{
    for (; *a && *a == *b; a++, b++)
        ;
    return (unsigned char)*a < (unsigned char)*b ? -1 : (unsigned char)*a > (unsigned char)*b;
}

WEAK int strncmp(const char *a, const char *b, size_t n)
{
    for (; n && *a && *a == *b; n--, a++, b++)
        ;
    if (!n)
        return 0;
    return (unsigned char)*a < (unsigned char)*b ? -1 : (unsigned char)*a > (unsigned char)*b;
}

WEAK char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}

#if defined(__ARM_EABI__)
/* 32-bit ARM: the compiler calls the primitives by their run-time ABI names (note memset's and
 * memclr's argument order). */
#define AEABI_COPY(name) void name(void *dst, const void *src, size_t n)
#define AEABI_SET(name) void name(void *dst, size_t n, int c)
#define AEABI_CLR(name) void name(void *dst, size_t n)
AEABI_COPY(__aeabi_memcpy);
AEABI_COPY(__aeabi_memcpy4);
AEABI_COPY(__aeabi_memcpy8);
AEABI_COPY(__aeabi_memmove);
AEABI_COPY(__aeabi_memmove4);
AEABI_COPY(__aeabi_memmove8);
AEABI_SET(__aeabi_memset);
AEABI_SET(__aeabi_memset4);
AEABI_SET(__aeabi_memset8);
AEABI_CLR(__aeabi_memclr);
AEABI_CLR(__aeabi_memclr4);
AEABI_CLR(__aeabi_memclr8);
WEAK void __aeabi_memcpy(void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
WEAK void __aeabi_memcpy4(void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
WEAK void __aeabi_memcpy8(void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
WEAK void __aeabi_memmove(void *dst, const void *src, size_t n) { memmove(dst, src, n); }
WEAK void __aeabi_memmove4(void *dst, const void *src, size_t n) { memmove(dst, src, n); }
WEAK void __aeabi_memmove8(void *dst, const void *src, size_t n) { memmove(dst, src, n); }
WEAK void __aeabi_memset(void *dst, size_t n, int c) { memset(dst, c, n); }
WEAK void __aeabi_memset4(void *dst, size_t n, int c) { memset(dst, c, n); }
WEAK void __aeabi_memset8(void *dst, size_t n, int c) { memset(dst, c, n); }
WEAK void __aeabi_memclr(void *dst, size_t n) { memset(dst, 0, n); }
WEAK void __aeabi_memclr4(void *dst, size_t n) { memset(dst, 0, n); }
WEAK void __aeabi_memclr8(void *dst, size_t n) { memset(dst, 0, n); }
#endif
