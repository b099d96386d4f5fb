/* SPDX-License-Identifier: MIT */
/*
 * copy.c - copying page contents for migration (backed mode), when the host has no copy hook.
 *
 * Targets are cold and will not be read by this CPU soon, so on x86-64 the copy uses non-temporal
 * stores: no read-for-ownership of the target lines and no eviction of the caller's working set.
 * Sources are scattered pages, which the hardware prefetcher does not follow across page boundaries:
 * a software prefetch runs COPY_PREFETCH bytes ahead of the loads and continues into the next source
 * of the batch, which brings a half-full window's copy to the speed of one contiguous memcpy
 * (docs/benchmarks.md). Every other target (and x86 without SSE2) gets the portable copy: memcpy,
 * with the next source's first lines prefetched (__builtin_prefetch, a no-op where the target has
 * no prefetch) before the copy's last lines. Both are built wherever they can run, so the portable
 * one is tested on x86 too (tests/unit/test_copy.c).
 */
#include "internal/internal.h"

#ifdef CMA_HAVE_COPY_NT
#include <emmintrin.h>
#endif

#define COPY_PREFETCH 512

void cma__copy_portable(void *dst, const void *src, size_t n, const void *next)
{
    if (!next || n <= COPY_PREFETCH) {
        memcpy(dst, src, n);
        return;
    }
    memcpy(dst, src, n - COPY_PREFETCH);
    for (size_t k = 0; k < COPY_PREFETCH; k += 64)
        __builtin_prefetch((const char *)next + k, 0, 0);
    memcpy((char *)dst + n - COPY_PREFETCH, (const char *)src + n - COPY_PREFETCH, COPY_PREFETCH);
}

#ifdef CMA_HAVE_COPY_NT
/* One 64-byte line: aligned loads, streaming stores. */
static inline void copy_line_nt(uint8_t *dst, const uint8_t *src)
{
    __m128i a = _mm_load_si128((const __m128i *)src);
    __m128i b = _mm_load_si128((const __m128i *)(src + 16));
    __m128i c = _mm_load_si128((const __m128i *)(src + 32));
    __m128i d = _mm_load_si128((const __m128i *)(src + 48));
    _mm_stream_si128((__m128i *)dst, a);
    _mm_stream_si128((__m128i *)(dst + 16), b);
    _mm_stream_si128((__m128i *)(dst + 32), c);
    _mm_stream_si128((__m128i *)(dst + 48), d);
}

void cma__copy_nt(void *vdst, const void *vsrc, size_t n, const void *next)
{
    uint8_t *dst = vdst;
    const uint8_t *src = vsrc, *nsrc = next;
    if ((((uintptr_t)src | (uintptr_t)dst) & 15) || (n & 63) || n <= COPY_PREFETCH) {
        cma__copy_portable(dst, src, n, next);
        return;
    }
    size_t i = 0;
    for (; i < n - COPY_PREFETCH; i += 64) {
        _mm_prefetch((const char *)src + i + COPY_PREFETCH, _MM_HINT_NTA);
        copy_line_nt(dst + i, src + i);
    }
    for (size_t k = 0; i < n; i += 64, k += 64) {
        if (nsrc)
            _mm_prefetch((const char *)nsrc + k, _MM_HINT_NTA);
        copy_line_nt(dst + i, src + i);
    }
    _mm_sfence();
}
#endif

void cma__copy_pages(void *dst, const void *src, size_t n, const void *next)
{
#ifdef CMA_HAVE_COPY_NT
    cma__copy_nt(dst, src, n, next);
#else
    cma__copy_portable(dst, src, n, next);
#endif
}

void cma__copy_default(void *ctx, void *dst, const void *src, size_t n)
{
    (void)ctx;
    cma__copy_pages(dst, src, n, NULL);
}
