# The appliance stack: one GNU make build for every component.
#
#   make            build everything into build/ (build/bin, build/lib, build/libexec/tb)
#   make run        boot the simulated box and run the project's main job on it
#   make test       sanitizer build in build/test, every test, "N passed, N failed"
#   make bench      optimized build, every benchmark, a table (never fails on timing)
#   make deps       install the Debian 12 packages listed in mk/packages
#
# Each component adds itself through its module.mk (see the list below): it
# appends its libraries to LIBS, programs to PROGS, tests to TESTS and
# benchmarks to BENCHES, and gives the link rules of its own programs.

BUILD   ?= build
SAN     ?= 0
CC      ?= gcc
AR      ?= ar
GPU_CC  ?= clang-19
GPU_LD  ?= ld.lld-19

BIN     := $(BUILD)/bin
LIB     := $(BUILD)/lib
LIBEXEC := $(BUILD)/libexec/tb
OBJ     := $(BUILD)/obj
TBIN    := $(BUILD)/tests

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-missing-field-initializers -Wno-format-truncation
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu17 $(WARN) -D_GNU_SOURCE -fno-common -pthread -I. -Imk/include -MMD -MP
LDFLAGS += -pthread
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

# System libraries, found through pkg-config. Debian's libsensors-dev ships no
# .pc file, so that one is linked by name.
pc = $(shell pkg-config --libs $(1) 2>/dev/null)
pcflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
LIBS_DRM     := $(call pc,libdrm_amdgpu libdrm)
LIBS_PCI     := $(call pc,libpci)
LIBS_URING   := $(call pc,liburing)
LIBS_SENSORS := -lsensors
LIBS_ELF     := $(call pc,libelf)
LIBS_MSGPACK := $(call pc,msgpack)
LIBS_XXHASH  := $(call pc,libxxhash)
LIBS_NVME    := $(call pc,libnvme)
LIBS_SYSTEMD := $(call pc,libsystemd)
LIBS_CMOCKA  := $(call pc,cmocka)
CFLAGS       += $(call pcflags,libdrm_amdgpu libdrm)

# GPU code objects: OpenCL C compiled by clang-19 for gfx1100 and linked by
# ld.lld-19, as the appliance's runtimes do (no OpenCL library: -nogpulib).
GPU_CLFLAGS := -x cl -cl-std=CL2.0 -target amdgcn-amd-amdhsa -mcpu=gfx1100 -nogpulib -O2 -ffp-contract=off \
               -Werror -Wall
GPU := $(BUILD)/gpu

# objs: object files for C sources
objs = $(patsubst %.c,$(OBJ)/%.o,$(1))
# link: link a program from the objects and archives among its prerequisites
link = @mkdir -p $(@D) && echo "  LD    $@" && $(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^)

LIBS    :=
PROGS   :=
TESTS   :=
BENCHES :=
GENERATED :=

.PHONY: all run test bench deps clean check-deps tests
all:

MODULES := $(sort $(wildcard */module.mk */*/module.mk */*/*/module.mk))
include $(MODULES)

all: $(LIBS) $(PROGS)
tests: all $(TESTS)

$(OBJ)/%.o: %.c | $(GENERATED)
	@mkdir -p $(@D)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(GPU)/%.co: %.cl
	@mkdir -p $(@D)
	@echo "  GPU   $@"
	@$(GPU_CC) $(GPU_CLFLAGS) -c -o $(@:.co=.o) $<
	@$(GPU_LD) -shared -o $@ $(@:.co=.o)

$(LIB)/%.a:
	@mkdir -p $(@D)
	@echo "  AR    $@"
	@rm -f $@ && $(AR) rcs $@ $^

# Packages first, so that a fresh Debian 12 machine needs nothing else.
check-deps:
	@sh mk/deps.sh --check 2>/dev/null || sh mk/deps.sh

deps:
	@sh mk/deps.sh

run: check-deps
	@$(MAKE) --no-print-directory all
	@sh mk/run.sh $(BUILD)

test: check-deps
	@$(MAKE) --no-print-directory BUILD=build/test SAN=1 tests
	@TB_BUILD=build/test TB_SRC=$(CURDIR) tests/run $(TESTS:$(BUILD)/%=build/test/%)

bench: check-deps
	@$(MAKE) --no-print-directory all $(BENCHES)
	@TB_BUILD=$(BUILD) TB_SRC=$(CURDIR) sh mk/bench.sh $(BENCHES)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
