# lua-vonage. `make demo` and `make test` are the two entry points; both
# install what is missing first (as root; otherwise they print the command).

LUA        ?= lua5.4
VERSION    := 0.1.0
BUILD_ROOT ?= $(or $(VN_BUILD_ROOT),build)
BUILD      := $(BUILD_ROOT)/$(LUA)$(if $(SANITIZE),-san)$(if $(TSAN),-tsan)
SO         := $(BUILD)/vonage/core.so
SRCS       := $(wildcard src/*.c)
HDRS       := $(wildcard src/*.h)

ifeq ($(LUA),luajit)
LUA_PC := luajit
else
LUA_PC := $(LUA)
endif

CC      ?= cc
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
ifdef SANITIZE
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow
endif
ifdef TSAN
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
endif
ALL_CFLAGS  = -std=c99 -D_POSIX_C_SOURCE=200809L -pthread -fPIC -fvisibility=hidden $(WARN) $(WERROR) \
              -DVN_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(LUA_PC) libcurl libjwt libcrypto) $(CFLAGS)
# The module never links liblua: the interpreter that loads it provides the API.
LIBS        = $(shell pkg-config --libs libcurl libjwt libcrypto) -pthread

# Debian packages this project needs; `deps` installs the missing ones.
DEB_PKGS := gcc make pkg-config lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev \
            libcurl4-openssl-dev libjwt-dev libssl-dev openssl ca-certificates \
            lua-cjson lua-busted lua-socket lua-check luarocks \
            nginx libnginx-mod-http-lua curl valgrind clang libclang-rt-14-dev libtsan2

.PHONY: all build deps demo test asan valgrind lint rock bench clean sandbox-start sandbox-stop fuzz oom tsan

all: build

build: $(SO)

$(SO): $(SRCS) $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(SRCS) $(LIBS)

deps:
	@sh scripts/deps $(DEB_PKGS)

demo: deps
	@$(MAKE) --no-print-directory build
	@sh scripts/with-sandbox $(LUA) examples/quickstart.lua
	@echo; echo "== Many verifications in flight from one thread (transport \"multi\")"
	@sh scripts/with-sandbox $(LUA) examples/game_loop.lua

# Everything: both interpreters, ASan+UBSan, valgrind, lint, the rockspec build.
# Ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory build LUA=lua5.4 WERROR=-Werror
	@$(MAKE) --no-print-directory build LUA=luajit WERROR=-Werror
	@$(MAKE) --no-print-directory build LUA=lua5.4 SANITIZE=1 WERROR=-Werror
	@sh scripts/check-all

# The spec suite under AddressSanitizer + UndefinedBehaviorSanitizer. Its
# OpenResty specs start an nginx whose LuaJIT loads the plain LuaJIT build.
asan: deps
	@$(MAKE) --no-print-directory build LUA=lua5.4 SANITIZE=1 WERROR=-Werror
	@$(MAKE) --no-print-directory build LUA=luajit WERROR=-Werror
	@SANITIZE=1 sh scripts/run-specs lua5.4

valgrind: deps
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(MAKE) --no-print-directory build LUA=luajit
	@VALGRIND=1 sh scripts/run-specs lua5.4

lint:
	@luacheck -q lua sandbox/lua spec examples bench fuzz test

# libFuzzer (clang) on signed webhooks: the C token checks and, in an
# embedded lua_State, the Lua claim checks and body typing; the target re-signs
# most inputs (fuzz/webhook_fuzz.c). A fixed number of runs from a seed corpus
# (fuzz/make-seeds.lua); fails on a crash; then counts the corpus that passes
# the signature.
FUZZ_RUNS ?= 1000000
FUZZ_DIR  := $(BUILD_ROOT)/fuzz
FUZZ_ENV  := LUA_PATH="lua/?.lua;;" LUA_PATH_5_4="lua/?.lua;;"
fuzz:
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@rm -rf $(FUZZ_DIR) && mkdir -p $(FUZZ_DIR)/corpus
	clang -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -Werror \
	  -DVN_VERSION='"$(VERSION)"' $(shell pkg-config --cflags lua5.4 libcurl libjwt libcrypto) \
	  -o $(FUZZ_DIR)/webhook_fuzz fuzz/webhook_fuzz.c $(SRCS) \
	  $(shell pkg-config --libs lua5.4 libcurl libjwt libcrypto)
	@LUA_CPATH="$(BUILD_ROOT)/lua5.4/?.so" LUA_PATH="lua/?.lua" lua5.4 fuzz/make-seeds.lua $(FUZZ_DIR)/corpus
	$(FUZZ_ENV) $(FUZZ_DIR)/webhook_fuzz -runs=$(FUZZ_RUNS) -seed=1 -max_len=12000 -dict=fuzz/webhook.dict -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus
	@$(FUZZ_ENV) WEBHOOK_FUZZ_STATS=1 $(FUZZ_DIR)/webhook_fuzz -runs=0 $(FUZZ_DIR)/corpus 2>&1 | grep '^webhook_fuzz:'

# Allocation-failure sweep: a host whose lua_Alloc fails the Nth allocation
# runs test/oom/script.lua for N = 1, 2, ... against the sandbox, under ASan,
# UBSan and LSan (test/oom/oom_host.c says what passes).
OOM_HOST := $(BUILD_ROOT)/oom/oom_host
oom:
	@$(MAKE) --no-print-directory build LUA=lua5.4 SANITIZE=1 WERROR=-Werror
	@mkdir -p $(dir $(OOM_HOST))
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	  $(WARN) -Werror $(shell pkg-config --cflags lua5.4) -o $(OOM_HOST) test/oom/oom_host.c \
	  $(shell pkg-config --libs lua5.4) -ldl
	@sh scripts/run-oom $(OOM_HOST) test/oom/script.lua

# ThreadSanitizer: 8 threads, each with its own lua_State and clients, load
# the TSan build of the module at once and call the sandbox (test/tsan/).
TSAN_HOST := $(BUILD_ROOT)/tsan/threads
tsan:
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@$(MAKE) --no-print-directory build LUA=lua5.4 TSAN=1 WERROR=-Werror
	@mkdir -p $(dir $(TSAN_HOST))
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O1 -g -fsanitize=thread $(WARN) -Werror \
	  $(shell pkg-config --cflags lua5.4) -o $(TSAN_HOST) test/tsan/threads.c $(shell pkg-config --libs lua5.4) -lpthread
	@sh scripts/run-tsan $(TSAN_HOST) test/tsan/thread.lua

# Speed and memory as ratios against a plain libcurl loop, in one run.
bench: deps build
	@sh bench/run

# Proves the rockspec builds and installs the module into a private tree.
rock: deps
	@sh scripts/check-rock

# A sandbox that stays up for the REPL:  eval "$$(make -s sandbox-start)"
sandbox-start: deps build
	@sh scripts/sandbox-dev start

sandbox-stop:
	@sh scripts/sandbox-dev stop

# Everything a build, `make rock`, `make fuzz` or a `luarocks make` run in
# this directory leaves (objects in src/, its ./vonage/core.so), and the REPL
# sandbox, stopped first so its nginx is not orphaned.
clean:
	@sh scripts/sandbox-dev stop
	rm -rf $(BUILD_ROOT) vonage fuzz/corpus-run
	rm -f src/*.o *.o *.so crash-* leak-* timeout-* oom-* slow-unit-*
