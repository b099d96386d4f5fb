# SPDX-License-Identifier: MIT
# Thin wrapper over CMake. `make` builds (release), `make test` builds and runs every test,
# `make demo` runs cmasim's phone-camera comparison, `make bench` the benchmarks, `make asan` /
# `make tsan` the tests under sanitizers. Build trees live in build/<flavour>.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all release test demo bench bench-build asan tsan debug clean install deps freestanding embedded

all: release

deps:
	@sh scripts/deps.sh build

# $(1) = build dir, $(2) = extra cmake args
define configure
	@$(CMAKE) -S . -B $(1) $(GEN) $(2) >/dev/null
endef

release: deps
	$(call configure,build/release,-DCMAKE_BUILD_TYPE=Release)
	@$(CMAKE) --build build/release -j $(JOBS)

debug: deps
	$(call configure,build/debug,-DCMAKE_BUILD_TYPE=Debug -DCMA_DEBUG=2)
	@$(CMAKE) --build build/debug -j $(JOBS)

test: debug
	@cd build/debug && ctest --output-on-failure -j $(JOBS)

# cmasim runs the phone-camera scenario (all four strategies), prints the table, writes report.html.
demo: release
	@./build/release/tools/cmasim/cmasim run phone-camera --report report.html

# The bench build needs only the library: tests and tools (examples, cmasim) are left out.
# bench-build compiles it (CI does), bench also runs it.
bench-build: deps
	$(call configure,build/bench,-DCMAKE_BUILD_TYPE=Release -DCMA_BUILD_BENCH=ON -DCMA_BUILD_TESTS=OFF -DCMA_BUILD_TOOLS=OFF)
	@$(CMAKE) --build build/bench -j $(JOBS)

bench: deps
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory bench-build
	@./build/bench/bench/bench_page_alloc
	@./build/bench/bench/bench_cma
	@./build/bench/bench/bench_dma

asan: deps
	$(call configure,build/asan,-DCMAKE_BUILD_TYPE=Debug -DCMA_DEBUG=2 "-DCMA_SANITIZE=address;undefined")
	@$(CMAKE) --build build/asan -j $(JOBS)
	@cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS) -LE slow

tsan: deps
	$(call configure,build/tsan,-DCMAKE_BUILD_TYPE=Debug -DCMA_DEBUG=1 -DCMA_SANITIZE=thread)
	@$(CMAKE) --build build/tsan -j $(JOBS)
	@cd build/tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) -L 'api|stress|unit'

# The freestanding core (CMA_FREESTANDING: no C library) for this machine with cc, and cross-compiled
# with clang for riscv64, aarch64 and 32-bit arm; each archive must need nothing beyond the mem*/str*
# primitives (scripts/check-freestanding.sh, nm -u).
FREESTANDING_CROSS := riscv64 aarch64 arm
freestanding: deps
	@sh scripts/deps.sh clang
	$(call configure,build/freestanding-host,-DCMAKE_BUILD_TYPE=Release -DCMA_FREESTANDING=ON)
	@$(CMAKE) --build build/freestanding-host -j $(JOBS)
	@sh scripts/check-freestanding.sh build/freestanding-host/libcma.a
	@for t in $(FREESTANDING_CROSS); do \
	    $(CMAKE) -S . -B build/freestanding-$$t $(GEN) -DCMAKE_BUILD_TYPE=Release -DCMA_FREESTANDING=ON \
	        -DCMAKE_TOOLCHAIN_FILE=cmake/clang-cross.cmake -DCMA_CROSS=$$t >/dev/null && \
	    $(CMAKE) --build build/freestanding-$$t -j $(JOBS) && \
	    sh scripts/check-freestanding.sh build/freestanding-$$t/libcma.a || exit 1; \
	done

# A bare-metal riscv64 image (embedded/) linked with the freestanding library, run under
# qemu-system-riscv64 -machine virt: it hands its RAM to libcma and self-tests on it.
embedded: deps
	@sh scripts/deps.sh embedded
	$(call configure,build/freestanding-riscv64-virt,-DCMAKE_BUILD_TYPE=Release -DCMA_DEBUG=2 \
	    -DCMA_FREESTANDING=ON -DCMA_FREESTANDING_LIBC=ON -DCMA_EMBEDDED_IMAGE=ON \
	    -DCMAKE_TOOLCHAIN_FILE=cmake/clang-cross.cmake -DCMA_CROSS=riscv64)
	@$(CMAKE) --build build/freestanding-riscv64-virt -j $(JOBS)
	@sh scripts/check-freestanding.sh build/freestanding-riscv64-virt/libcma.a
	@sh scripts/run-embedded.sh build/freestanding-riscv64-virt/embedded/libcma-selftest.elf

install: release
	@$(CMAKE) --install build/release

clean:
	rm -rf build
