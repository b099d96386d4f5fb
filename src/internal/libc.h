/* SPDX-License-Identifier: MIT */
/*
 * internal/libc.h - everything the core takes from a C library: the eight primitives every
 * freestanding toolchain provides (memcpy, memset, memmove, memcmp, strlen, strcmp, strncmp,
 * strchr). Hosted builds get them from <string.h>; freestanding builds declare them here (no libc
 * header exists there) and call them through the compiler's builtins, which inline small fixed-size
 * copies even under -ffreestanding. A target without them builds src/freestanding/libc_min.c in
 * (CMA_FREESTANDING_LIBC). scripts/check-freestanding.sh proves the freestanding library needs
 * nothing else.
 */
#ifndef CMA_INTERNAL_LIBC_H
#define CMA_INTERNAL_LIBC_H

#include <stddef.h>

#ifdef CMA_FREESTANDING
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
#define memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define memset(d, c, n) __builtin_memset((d), (c), (n))
#define memmove(d, s, n) __builtin_memmove((d), (s), (n))
#define memcmp(a, b, n) __builtin_memcmp((a), (b), (n))
#define strlen(s) __builtin_strlen(s)
#else
#include <string.h>
#endif

#endif /* CMA_INTERNAL_LIBC_H */
