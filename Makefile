# sbc: build, run, test, benchmark and fuzz the session border controller.
#
#   make run      install what is missing, build, start sbcd (local config if no wan/lan ports)
#   make test     install what is missing, build, run every test (unit, asan, fuzz, integration)
#   make bench    build and run the benchmarks under tools/
#   make fuzz     run each libFuzzer harness for FUZZ_SECONDS (default 60)
#   make asan     ASan+UBSan build that runs the unit tests
#   make all      build sbcd and the tools
#   make cross BOARD=arm64   cross-build the programs (not the tools) into build/arm64 (docs/cross.md)
#   make image BOARD=x86_64|arm64   the firmware image build/image/BOARD/sbc-BOARD.img (docs/firmware.md)
#   make clean

BUILD        ?= build
CC           ?= cc
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
SAN          ?=

# Cross build (make cross BOARD=arm64, docs/cross.md): CROSS is the toolchain prefix,
# SYSROOT the target's headers and libraries (Debian packages, extracted). Empty: native.
CROSS     ?=
ifeq ($(CROSS),)
SYSROOT   :=
PKG_CONFIG := pkg-config
else
SYSROOT   ?= $(abspath $(BUILD)/../sysroot-arm64)
CC        := $(CROSS)gcc
AR        := $(CROSS)ar
PKG_CONFIG := PKG_CONFIG_LIBDIR=$(SYSROOT)/usr/lib/$(CROSS:%-=%)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig \
              PKG_CONFIG_SYSROOT_DIR=$(SYSROOT) pkg-config
CFLAGS    += --sysroot=$(SYSROOT)
LDFLAGS   += --sysroot=$(SYSROOT)
endif

PKGS      := libevent libevent_openssl openssl jansson libnl-3.0 libnl-route-3.0 libpcap lwip \
             libxdp libbpf
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) -I$(SYSROOT)/usr/include/iniparser
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -liniparser -pthread
# The Debian -dev packages of PKGS (and iniparser): the cross build's sysroot.
CROSS_DEBS := libevent-dev libssl-dev libjansson-dev libnl-3-dev libnl-route-3-dev \
              libpcap-dev liblwip-dev libiniparser-dev libxdp-dev libbpf-dev

WARN      := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
             -Wformat=2 -Wvla -Werror
HARDEN    := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT       ?= -O2 -g
SANFLAGS  :=
ifeq ($(SAN),1)
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all
OPT       := -O1 -g -fno-omit-frame-pointer $(SANFLAGS)
HARDEN    := -fstack-protector-strong -fPIE
endif
CFLAGS    += -std=gnu11 $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
LDFLAGS   += -pie -Wl,-z,relro,-z,now $(SANFLAGS)

# Library modules, in dependency order (see docs/ARCHITECTURE.md).
MODULES   := util config net sip sdp txn media guard b2bua ctl
LIB_SRC   := $(filter-out %.bpf.c,$(foreach m,$(MODULES),$(wildcard src/$(m)/*.c)))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
# the media engine's XDP program, compiled for BPF and embedded as a C array (see below)
LIB_OBJ   += $(if $(filter media,$(MODULES)),$(BUILD)/src/media/xdp_obj.o)
LIB       := $(BUILD)/libsbc.a

SBCD_SRC  := $(wildcard src/sbcd/*.c)
SBCD_OBJ  := $(SBCD_SRC:%.c=$(BUILD)/%.o)

SBCCTL_SRC := $(wildcard src/sbcctl/*.c)
SBCCTL_OBJ := $(SBCCTL_SRC:%.c=$(BUILD)/%.o)
SBCCTL     := $(if $(SBCCTL_SRC),$(BUILD)/sbcctl)

WEBD_SRC   := $(wildcard src/webd/*.c)
WEBD_OBJ   := $(WEBD_SRC:%.c=$(BUILD)/%.o)
WEBD       := $(if $(WEBD_SRC),$(BUILD)/sbc-webd)

NETUP_SRC  := $(wildcard src/netup/*.c)
NETUP_OBJ  := $(NETUP_SRC:%.c=$(BUILD)/%.o)
NETUP      := $(if $(NETUP_SRC),$(BUILD)/sbc-netup)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

TOOL_SRC  := $(wildcard tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)

FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_DIR  := build-fuzz
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_FLAGS = -std=gnu11 -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) \
             -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

.PHONY: all run test bench fuzz fuzz-build asan unit unit-build clean deps check-banned FORCE
.DELETE_ON_ERROR:

all: check-banned $(BUILD)/sbcd $(SBCCTL) $(WEBD) $(NETUP) $(TOOL_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The archive is rebuilt when the module list changes (e.g. MODULES="util sip" on the command line).
$(BUILD)/modules.stamp: FORCE
	@mkdir -p $(@D)
	@echo "$(MODULES)" | cmp -s - $@ || echo "$(MODULES)" > $@

$(LIB): $(LIB_OBJ) $(BUILD)/modules.stamp
	@rm -f $@
	@$(AR) rcs $@ $(LIB_OBJ)

FORCE:

$(BUILD)/sbcd: $(SBCD_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/sbcctl: $(SBCCTL_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/sbc-webd: $(WEBD_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/sbc-netup: $(NETUP_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# test_webd also links sbc-webd's objects, all but its main.
$(BUILD)/tests/test_webd: tests/unit/test_webd.c $(filter-out %/main.o,$(WEBD_OBJ)) $(LIB)
	@mkdir -p $(@D)
	@echo "  CC/LD   $@"
	@$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(filter %.o,$^) $(LIB) $(LDFLAGS) -lcmocka $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	@echo "  CC/LD   $@"
	@$(CC) $(CFLAGS) -MMD -MP -DFIXTURES_DIR='"$(abspath ../shared/fixtures/seed)"' \
		-DTEST_DATA_DIR='"$(abspath tests/unit/data)"' -o $@ $< $(LIB) $(LDFLAGS) -lcmocka $(PKG_LIBS)

$(BUILD)/tools/%: tools/%.c $(LIB)
	@mkdir -p $(@D)
	@echo "  CC/LD   $@"
	@$(CC) $(CFLAGS) -MMD -MP -DFIXTURES_DIR='"$(abspath ../shared/fixtures/seed)"' \
		-o $@ $< $(LIB) $(LDFLAGS) $(PKG_LIBS)

# relay-xdp (docs/bypass.md "AF_XDP") is the one binary linked with libxdp and libbpf;
# its XDP program is C compiled for BPF by clang.
$(BUILD)/tools/relay-xdp.bpf.o: tools/bpf/relay-xdp.bpf.c
	@mkdir -p $(@D)
	@echo "  BPF     $<"
	@clang -O2 -g -Wall -target bpf -I/usr/include/$(shell $(CC) -print-multiarch) -c $< -o $@

$(BUILD)/tools/relay-xdp: tools/relay-xdp.c $(LIB) $(BUILD)/tools/relay-xdp.bpf.o
	@mkdir -p $(@D)
	@echo "  CC/LD   $@"
	@$(CC) $(CFLAGS) -MMD -MP -DRELAY_XDP_OBJ='"$(abspath $(BUILD)/tools/relay-xdp.bpf.o)"' \
		-o $@ $< $(LIB) $(LDFLAGS) $(PKG_LIBS) -lxdp -lbpf

# The XDP program of `media = xdp` zones (docs/bypass.md "The AF_XDP engine"): BPF
# bytecode (the same for every target), embedded in libsbc as media_xdp_obj[] for
# bpf_object__open_mem: no file to find at run time. The host's headers serve.
$(BUILD)/src/media/xdp.bpf.o: src/media/xdp.bpf.c
	@mkdir -p $(@D)
	@echo "  BPF     $<"
	@clang -O2 -g -Wall -target bpf -I/usr/include/$(shell cc -print-multiarch) -c $< -o $@

$(BUILD)/src/media/xdp_obj.c: $(BUILD)/src/media/xdp.bpf.o
	@echo "  EMBED   $<"
	@{ echo '/* generated from src/media/xdp.bpf.c by the Makefile */'; \
	  echo '#include <stddef.h>'; \
	  echo 'extern const unsigned char media_xdp_obj[];'; \
	  echo 'extern const size_t media_xdp_obj_len;'; \
	  echo 'const unsigned char media_xdp_obj[] __attribute__((aligned(8))) = {'; \
	  od -An -v -tx1 $< | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; \
	  echo 'const size_t media_xdp_obj_len = sizeof(media_xdp_obj);'; } > $@

$(BUILD)/src/media/xdp_obj.o: $(BUILD)/src/media/xdp_obj.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c $< -o $@

# strcpy, strcat and sprintf are not used in this code base (STYLE.md).
check-banned:
	@! grep -nE '\<(strcpy|strcat|sprintf|vsprintf|gets)\(' \
		$$(find src tools tests -name '*.[ch]') || { echo "banned function used"; exit 1; }

deps:
	@tools/install-deps

run: deps
	@$(MAKE) --no-print-directory all
	@tools/run-local $(BUILD)

unit-build: $(UNIT_BIN)

unit: unit-build
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 unit

# The fuzzers compile the library's sources themselves, with the generated XDP object.
$(FUZZ_DIR)/%: tests/fuzz/%.c $(LIB_SRC) $(BUILD)/src/media/xdp_obj.c
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(BUILD)/src/media/xdp_obj.c $(PKG_LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@tools/run-fuzz $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_BIN)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@/usr/bin/python3 tests/run.py

# Each benchmark prints its figures; none of them asserts. The network ones
# build their own namespaces (root) and take a few minutes each.
BENCHES   ?= sip guard frame options calls rtp reg flood

bench: all
	@for b in $(BENCHES); do \
		case $$b in \
		sip) $(BUILD)/tools/bench-sip || exit 1 ;; \
		guard) $(BUILD)/tools/bench-guard || exit 1 ;; \
		frame) $(BUILD)/tools/bench-frame || exit 1 ;; \
		*) SBC_BUILD=$(abspath $(BUILD)) tools/bench-$$b || exit 1 ;; \
		esac; \
	done

# make cross BOARD=arm64: every binary of `all` but the tools, for arm64, into
# $(BUILD)/arm64, against $(BUILD)/sysroot-arm64 (Debian's arm64 CROSS_DEBS and their
# closure, downloaded into $(BUILD)/debs, extracted, never installed). Prints its wall
# time. BOARD=x86_64 is the native build (`all`). docs/cross.md.
BOARD     ?= x86_64
CROSS_SYSROOT := $(BUILD)/sysroot-arm64

.PHONY: cross
cross:
ifeq ($(BOARD),arm64)
	@t0=$$(date +%s%N); \
	$(MAKE) --no-print-directory $(CROSS_SYSROOT)/.sbc-sysroot || exit 1; \
	t1=$$(date +%s%N); \
	$(MAKE) --no-print-directory BUILD=$(BUILD)/arm64 CROSS=aarch64-linux-gnu- \
		SYSROOT=$(abspath $(CROSS_SYSROOT)) TOOL_BIN= all || exit 1; \
	t2=$$(date +%s%N); \
	echo "  CROSS   arm64: sysroot $$(( (t1 - t0) / 1000000 )) ms, build $$(( (t2 - t1) / 1000000 )) ms"
else ifeq ($(BOARD),x86_64)
	@$(MAKE) --no-print-directory all
else
	@echo "make cross: unknown BOARD=$(BOARD) (arm64, x86_64)"; exit 1
endif

$(CROSS_SYSROOT)/.sbc-sysroot: tools/mksysroot tools/fetch-debs $(BUILD)/sysroot-arm64.pkgs
	@echo "  SYSROOT $(@D)"
	@tools/mksysroot --arch arm64 --cache $(BUILD)/debs $(@D) $(CROSS_DEBS)
	@touch $@

$(BUILD)/sysroot-arm64.pkgs: FORCE
	@mkdir -p $(@D)
	@echo "$(CROSS_DEBS)" | cmp -s - $@ || echo "$(CROSS_DEBS)" > $@

# make image BOARD=x86_64|arm64: the programs (`all`, for arm64 also `cross`), then
# tools/mkimage: $(BUILD)/image/BOARD/sbc-BOARD.img from Debian packages (downloaded
# into $(BUILD)/debs), rootfs/ and web/. Prints sizes and times. docs/firmware.md.
.PHONY: image
image:
	@t0=$$(date +%s%N); \
	$(MAKE) --no-print-directory all || exit 1; \
	if [ "$(BOARD)" != x86_64 ]; then $(MAKE) --no-print-directory cross BOARD=$(BOARD) || exit 1; fi; \
	t1=$$(date +%s%N); \
	tools/mkimage --board $(BOARD) --build $(BUILD) || exit 1; \
	t2=$$(date +%s%N); \
	echo "  IMAGE   $(BOARD): programs $$(( (t1 - t0) / 1000000 )) ms, image $$(( (t2 - t1) / 1000000 )) ms"

# make qemu BOARD=x86_64|arm64: boot $(BUILD)/image/BOARD/sbc-BOARD.img (make image
# first) under qemu (TCG), serial console here (Ctrl-a x quits), its NICs on taps in
# the namespaces sbc-wan-XXXX / sbc-lan-XXXX made for it and removed after. docs/firmware.md.
.PHONY: qemu
qemu:
	@tools/qemu-run --board $(BOARD) --image $(BUILD)/image/$(BOARD)/sbc-$(BOARD).img

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
