/* SPDX-License-Identifier: MIT */
/*
 * embedded/riscv64-virt/start.S - entry of the bare-metal self-test image on QEMU's riscv64 virt
 * machine, started in machine mode with -bios none: QEMU's reset code jumps to 0x80000000 with the
 * hart id in a0 and the device tree's address in a1.
 *
 * Hart 0 sets the stack (link.ld), the trap vector, enables the FPU (off at reset; the compiler may
 * use its registers), clears .bss and calls board_main(fdt). Other harts park. A trap prints its
 * cause through board_trap, which ends the run as a failure.
 */
    .section .text.entry, "ax"
    .globl _start
_start:
    csrr    t0, mhartid
    bnez    t0, park
    la      sp, __stack_top
    la      t0, trap_entry
    csrw    mtvec, t0
    li      t0, (1 << 13)           /* mstatus.FS = initial */
    csrs    mstatus, t0
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  mv      a0, a1
    call    board_main
park:
    wfi
    j       park

    .align  4
trap_entry:
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    board_trap
    j       park
