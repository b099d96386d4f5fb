/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h - the few helpers the benchmarks share: a monotonic nanosecond clock, a compiler
 * barrier, a min-of-N runner and ratio printing.
 *
 * Rules (see docs/benchmarks.md): machines are shared and noisy, so every figure is the minimum over
 * N timed runs after a warm-up, and every comparison is a ratio against a baseline measured in the
 * same process, interleaved with the measurement it is compared to.
 */
#ifndef CMA_BENCH_H
#define CMA_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Monotonic clock in nanoseconds. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Makes the compiler believe v is used and that any memory may have been read or written, so
 * neither the value nor stores through it can be optimised away. Costs no instruction. */
#define no_opt(v) __asm__ __volatile__("" : : "r"(v) : "memory")

/* A timed body: performs its work once and returns how many operations that was. */
typedef uint64_t (*bench_body_fn)(void *ctx);

/* Runs body `warmups` times untimed, then `runs` times timed; returns the minimum ns per operation. */
static inline double bench_min_ns_per_op(bench_body_fn body, void *ctx, int warmups, int runs)
{
    double best = -1.0;
    for (int i = 0; i < warmups; i++)
        (void)body(ctx);
    for (int i = 0; i < runs; i++) {
        uint64_t t0 = bench_now_ns();
        uint64_t ops = body(ctx);
        uint64_t t1 = bench_now_ns();
        double ns = ops ? (double)(t1 - t0) / (double)ops : 0.0;
        if (best < 0 || ns < best)
            best = ns;
    }
    return best;
}

/* Keeps the running minimum of one timed sample of a body (for interleaved min-of-N: call once per
 * round for each contender so that all of them see the same machine conditions). */
static inline void bench_sample_min(double *best, bench_body_fn body, void *ctx)
{
    uint64_t t0 = bench_now_ns();
    uint64_t ops = body(ctx);
    uint64_t t1 = bench_now_ns();
    double ns = ops ? (double)(t1 - t0) / (double)ops : 0.0;
    if (*best < 0 || ns < *best)
        *best = ns;
}

/* Prints a ratio a/b ("0.73x"), or "-" if either side was not measured. */
static inline void bench_print_ratio(FILE *f, int width, double a, double b)
{
    if (a < 0 || b <= 0)
        fprintf(f, "%*s", width, "-");
    else
        fprintf(f, "%*.2fx", width - 1, a / b);
}

/* ---- the machine a run was made on ------------------------------------------------------------- */

/* The 1-minute load average, -1 if unknown. */
static inline double bench_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* The CPU model name ("unknown" if /proc/cpuinfo does not say) and the local date and time. */
static inline void bench_machine(char *model, size_t mlen, char *date, size_t dlen)
{
    snprintf(model, mlen, "unknown");
    snprintf(date, dlen, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char *c = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && c) {
                c += 1 + (c[1] == ' ');
                c[strcspn(c, "\n")] = '\0';
                snprintf(model, mlen, "%s", c);
                break;
            }
        }
        fclose(f);
    }
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(date, dlen, "%Y-%m-%d %H:%M", &tm);
}

/* ---- failure reporting: a benchmark exits non-zero only when libcma misbehaves ---------------- */

/* The benchmark's name in failure messages; each bench program defines it. */
extern const char *bench_name;

__attribute__((format(printf, 1, 2), noreturn, unused)) static void fatal(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "\n%s: FAILED: ", bench_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

#define CMA_OK(call)                                                                               \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        if (r_ != 0)                                                                               \
            fatal("%s:%d: %s returned %d (%s)", __FILE__, __LINE__, #call, r_, cma_err_name(r_)); \
    } while (0)

#endif /* CMA_BENCH_H */
