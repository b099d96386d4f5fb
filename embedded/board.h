/* SPDX-License-Identifier: MIT */
/*
 * embedded/board.h - what the self-test (selftest.c) needs from the machine it runs on, and what
 * the machine's support code (riscv64-virt/board.c) needs from the self-test.
 */
#ifndef CMA_EMBEDDED_BOARD_H
#define CMA_EMBEDDED_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOARD_MAX_RESERVED 8

/* The machine's RAM as the firmware described it, and the byte ranges in it already in use. */
struct board_info {
    uint64_t ram_base, ram_size;
    unsigned nreserved;
    struct {
        uint64_t base, size;
        const char *what;
    } reserved[BOARD_MAX_RESERVED];
};

/* Board services. */
void board_putc(char c);
uint64_t board_now_ns(void);
_Noreturn void board_exit(bool pass, unsigned code);

/* The self-test: returns the number of failed checks. */
unsigned selftest_run(const struct board_info *bi);

/* Output helpers shared by both sides. */
void out_str(const char *s);
void out_u64(uint64_t v);
void out_hex(uint64_t v);

#endif /* CMA_EMBEDDED_BOARD_H */
