# envplane build.
#
# One Makefile, no recursion: every libs/<name>/ becomes build/lib/libep_<name>.a,
# every services/<name>/ and tools/<name>/ becomes build/bin/<name>, every
# tests/unit/test_<x>.c becomes build/test/test_<x>.  Protobuf C code is
# generated from proto/ into build/gen at build time and never committed.
# Binaries link every library archive; the linker only pulls the objects a
# binary uses, and --as-needed drops unused shared libraries.

BUILD     ?= build
CC        ?= cc
SANITIZE  ?=
OPT       ?= -O2

PKGS      := libnats libprotobuf-c libuv openssl hiredis jansson libcurl \
             libmicrohttpd libxml-2.0 cjose yaml-0.1
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 \
             -Wstrict-prototypes -Wmissing-prototypes
CFLAGS    += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -fno-omit-frame-pointer \
             -Ilibs -I$(BUILD)/gen $(PKG_CFLAGS) $(SANITIZE)
LDFLAGS   += $(SANITIZE) -Wl,--as-needed
LDLIBS    += $(PKG_LIBS) -lpthread -lm

# ---- protobuf ---------------------------------------------------------------
PROTOS    := $(shell find proto -name '*.proto' | sort)
PROTO_C   := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_H   := $(PROTO_C:.c=.h)
PROTO_O   := $(PROTO_C:.c=.o)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(CC) -std=c11 -g $(OPT) -I$(BUILD)/gen $(PKG_CFLAGS) $(SANITIZE) -c $< -o $@

$(BUILD)/lib/libep_proto.a: $(PROTO_O)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# ---- libraries ---------------------------------------------------------------
LIB_NAMES := $(notdir $(patsubst %/,%,$(wildcard libs/*/)))
LIB_ARCH  := $(foreach l,$(LIB_NAMES),$(BUILD)/lib/libep_$(l).a) $(BUILD)/lib/libep_proto.a

define LIB_template
$(1)_SRC := $$(wildcard libs/$(1)/*.c)
$(1)_OBJ := $$(patsubst %.c,$(BUILD)/obj/%.o,$$($(1)_SRC))
$(BUILD)/lib/libep_$(1).a: $$($(1)_OBJ)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LIB_NAMES),$(eval $(call LIB_template,$(l))))

$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

LINK_LIBS := -Wl,--start-group $(LIB_ARCH) -Wl,--end-group

# ---- binaries ------------------------------------------------------------------
BIN_DIRS  := $(patsubst %/,%,$(wildcard services/*/ tools/*/))
BINS      := $(foreach d,$(BIN_DIRS),$(BUILD)/bin/$(notdir $(d)))

define BIN_template
$(notdir $(1))_OBJ := $$(patsubst %.c,$(BUILD)/obj/%.o,$$(wildcard $(1)/*.c))
$(BUILD)/bin/$(notdir $(1)): $$($(notdir $(1))_OBJ) $(LIB_ARCH)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$($(notdir $(1))_OBJ) $(LINK_LIBS) $(LDLIBS)
endef
$(foreach d,$(BIN_DIRS),$(eval $(call BIN_template,$(d))))

# ---- unit tests ------------------------------------------------------------------
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/test/%,$(UNIT_SRC))
UNIT_HELP := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c)))

$(BUILD)/test/%: $(BUILD)/obj/tests/unit/%.o $(UNIT_HELP) $(LIB_ARCH)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(UNIT_HELP) $(LINK_LIBS) $(LDLIBS) $(shell pkg-config --libs cmocka)

# ---- top-level targets ------------------------------------------------------------
.DEFAULT_GOAL := all
# Generated protobuf sources are build products, not intermediates to delete.
.SECONDARY:
.PHONY: all deps build libs unit e2e test asan demo up down clean bench fuzz print-pkg-flags

all: deps build

build: $(LIB_ARCH) $(BINS) $(UNIT_BINS)

libs: $(LIB_ARCH)

print-pkg-flags:
	@echo $(PKG_CFLAGS) $(PKG_LIBS)

deps:
	@scripts/deps.sh

# Unit tests run against real servers: scripts/with-stack.sh starts
# nats-server, redis-server and MinIO on random loopback ports for the run.
unit: build
	scripts/with-stack.sh scripts/run-unit.sh $(BUILD)

e2e: build
	scripts/run-e2e.sh $(BUILD)

test: deps
	$(MAKE) build
	scripts/test.sh $(BUILD)

asan: deps
	$(MAKE) BUILD=build-asan CC=clang OPT=-O1 \
	  SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" build
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  scripts/with-stack.sh scripts/run-unit.sh build-asan

up: all
	scripts/stack.sh up

down:
	scripts/stack.sh down

demo: all
	scripts/demo.sh

bench: all
	scripts/bench.sh

fuzz: deps
	scripts/fuzz.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- cedar (libs/cedar) -------------------------------------------------------------
# test-cedar: the differential run of libs/cedar against the reference Cedar
# implementation (@cedar-policy/cedar-wasm, installed by scripts/deps.sh into
# tests/cedar).  bench-cedar: authorizations per second and latency against
# cedar-wasm and the Rust cedar CLI (a benchmark, not a test).
.PHONY: test-cedar bench-cedar
test-cedar: deps $(BUILD)/bin/cedar
	node tests/cedar/run-diff.mjs --cedar $(BUILD)/bin/cedar

bench-cedar: deps $(BUILD)/bin/cedar
	scripts/bench-cedar.sh $(BUILD)

# ---- snp (libs/snp) ------------------------------------------------------------------
# bench-attest: SEV-SNP evidence verifications per second with a warm chain
# cache, as a ratio of `openssl speed ecdsap384` verify/s (a benchmark, not a test).
.PHONY: bench-attest
bench-attest: $(BUILD)/bin/snp-verify
	scripts/bench-attest.sh $(BUILD)
