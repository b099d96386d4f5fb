/* SPDX-License-Identifier: MIT */
/*
 * embedded/riscv64-virt/board.c - board support for QEMU's riscv64 virt machine, machine mode, no
 * firmware: the NS16550A UART at 0x10000000 for output, the SiFive test device at 0x100000 to end
 * the run with a pass/fail status, the CLINT's mtime (10 MHz) for the clock, and the flattened
 * device tree QEMU hands over for the RAM's location and size.
 *
 * Device tree: a big-endian header, then a structure block of tokens (BEGIN_NODE name, PROP len
 * nameoff value, END_NODE, NOP, END). The RAM is the `reg` of the node whose name starts with
 * "memory" (address and size cells from the root). The tree itself and every entry of its memory
 * reservation block are reported as reserved; so is the image (link.ld).
 */
#include "../board.h"

#define UART0 0x10000000ul
#define TEST_DEVICE 0x100000ul
#define CLINT_MTIME 0x0200bff8ul

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u

_Noreturn void board_main(const void *fdt);
void board_trap(uint64_t cause, uint64_t epc, uint64_t tval);

/* ---- devices ------------------------------------------------------------------------------------- */

void board_putc(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)UART0;
    if (c == '\n')
        board_putc('\r');
    while (!(uart[5] & 0x20)) /* line status: transmit holding register empty */
        ;
    uart[0] = (uint8_t)c;
}

uint64_t board_now_ns(void)
{
    return *(volatile uint64_t *)CLINT_MTIME * 100; /* 10 MHz */
}

_Noreturn void board_exit(bool pass, unsigned code)
{
    volatile uint32_t *test = (volatile uint32_t *)TEST_DEVICE;
    *test = pass ? 0x5555u : ((code & 0xffffu) << 16) | 0x3333u;
    for (;;)
        ;
}

void board_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    out_str("\ntrap: mcause ");
    out_hex(cause);
    out_str(" mepc ");
    out_hex(epc);
    out_str(" mtval ");
    out_hex(tval);
    out_str("\n");
    board_exit(false, 3);
}

/* ---- the device tree ------------------------------------------------------------------------------- */

static uint32_t be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t cells(const uint8_t *p, uint32_t n)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < n; i++)
        v = v << 32 | be32(p + 4 * i);
    return v;
}

static bool starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return false;
    return true;
}

static bool same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static void add_reserved(struct board_info *bi, uint64_t base, uint64_t size, const char *what)
{
    if (size && bi->nreserved < BOARD_MAX_RESERVED) {
        bi->reserved[bi->nreserved].base = base;
        bi->reserved[bi->nreserved].size = size;
        bi->reserved[bi->nreserved].what = what;
        bi->nreserved++;
    }
}

/* Fills bi from the tree; false if it is not a device tree or has no memory node. */
static bool parse_fdt(const uint8_t *fdt, struct board_info *bi)
{
    if (be32(fdt) != FDT_MAGIC)
        return false;
    uint32_t total = be32(fdt + 4), off_struct = be32(fdt + 8), off_strings = be32(fdt + 12);
    uint32_t off_rsv = be32(fdt + 16);
    add_reserved(bi, (uint64_t)(uintptr_t)fdt, total, "device tree");
    for (const uint8_t *r = fdt + off_rsv;; r += 16) {
        uint64_t base = cells(r, 2), size = cells(r + 8, 2);
        if (!base && !size)
            break;
        add_reserved(bi, base, size, "device tree reservation");
    }

    const uint8_t *p = fdt + off_struct, *end = fdt + total;
    uint32_t addr_cells = 2, size_cells = 2;
    int depth = 0;
    bool in_memory = false;
    while (p < end) {
        uint32_t tok = be32(p);
        p += 4;
        if (tok == FDT_BEGIN_NODE) {
            const char *name = (const char *)p;
            depth++;
            in_memory = depth == 2 && starts_with(name, "memory");
            size_t len = 0;
            while (name[len])
                len++;
            p += (len + 4) & ~(size_t)3; /* the name, its NUL, padded to 4 */
        } else if (tok == FDT_PROP) {
            uint32_t len = be32(p), nameoff = be32(p + 4);
            const uint8_t *val = p + 8;
            const char *pname = (const char *)fdt + off_strings + nameoff;
            if (depth == 1 && same(pname, "#address-cells"))
                addr_cells = be32(val);
            else if (depth == 1 && same(pname, "#size-cells"))
                size_cells = be32(val);
            else if (in_memory && same(pname, "reg") && !bi->ram_size &&
                     len >= 4 * (addr_cells + size_cells)) {
                bi->ram_base = cells(val, addr_cells);
                bi->ram_size = cells(val + 4 * addr_cells, size_cells);
            }
            p += 8 + ((len + 3) & ~3u);
        } else if (tok == FDT_END_NODE) {
            depth--;
            in_memory = false;
        } else if (tok == FDT_NOP) {
            continue;
        } else {
            break; /* FDT_END or garbage */
        }
    }
    return bi->ram_size != 0;
}

/* ---- entry ----------------------------------------------------------------------------------------- */

_Noreturn void board_main(const void *fdt)
{
    static struct board_info bi;
    out_str("libcma bare-metal self-test (qemu riscv64 virt, machine mode)\n");
    if (!fdt || !parse_fdt(fdt, &bi)) {
        out_str("no device tree with a memory node\n");
        board_exit(false, 4);
    }
    unsigned failed = selftest_run(&bi);
    board_exit(failed == 0, failed ? 1 : 0);
}
