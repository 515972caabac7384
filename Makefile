# lua-vonage. `make demo` and `make test` are the two entry points; both
# install what is missing first (as root; otherwise they print the command).

LUA        ?= lua5.4
# The one version: the C module, the rockspecs and debian/changelog follow it.
VERSION    := $(shell cat VERSION)
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
              -DVN_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(LUA_PC) libcurl libcrypto) $(CFLAGS)
# The module never links liblua: the interpreter that loads it provides the API.
# -z nodelete: lua_close's dlclose leaves the module and libcurl's ~35 libraries
# mapped, so a process does not spend its exit unmapping them one by one (and
# libcurl, initialised once per process, is never unloaded under it).
LIBS        = $(shell pkg-config --libs libcurl libcrypto) -pthread -Wl,-z,nodelete

# Debian packages this project needs; `deps` installs the missing ones.
DEB_PKGS := gcc make pkg-config lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev \
            libcurl4-openssl-dev libssl-dev openssl ca-certificates \
            lua-cjson lua-busted lua-socket lua-check luarocks lua-ldoc \
            nginx libnginx-mod-http-lua curl valgrind clang libclang-rt-14-dev libtsan2 \
            redis-server lua-nginx-redis lua-redis

.PHONY: all build deps demo test asan valgrind lint rock bench clean sandbox-start sandbox-env sandbox-stop fuzz \
        oom tsan install uninstall deb example-openresty example-openresty-stop doc

all: build

build: $(SO)

$(SO): $(SRCS) $(HDRS) Makefile VERSION
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(SRCS) $(LIBS)

deps:
	@sh scripts/deps $(DEB_PKGS)

# make install [LUA=lua5.4|lua5.3|lua5.1|luajit] [PREFIX=/usr/local] [DESTDIR=]
# Puts vonage/core.so and the Lua modules the rockspec lists where $(LUA)
# looks: when PREFIX is the .pc's own prefix (/usr), the .pc's INSTALL_CMOD and
# INSTALL_LMOD; otherwise PREFIX/lib/lua/5.x and PREFIX/share/lua/5.x (both in the default
# paths of Debian's interpreters for /usr/local). LuaJIT is 5.1, so each
# interpreter gets its own directories and both install side by side.
PREFIX   ?= /usr/local
LUA_ABI  := $(if $(filter luajit,$(LUA)),5.1,$(patsubst lua%,%,$(LUA)))
PC_PREFIX = $(shell pkg-config --variable=prefix $(LUA_PC) 2>/dev/null)
PC_VAR    = $(if $(filter $(PREFIX),$(PC_PREFIX)),$(shell pkg-config --variable=$(1) $(LUA_PC) 2>/dev/null))
INSTALL_CMOD ?= $(or $(call PC_VAR,INSTALL_CMOD),$(PREFIX)/lib/lua/$(LUA_ABI))
INSTALL_LMOD ?= $(or $(call PC_VAR,INSTALL_LMOD),$(PREFIX)/share/lua/$(LUA_ABI))
ROCKSPEC     := lua-vonage-scm-1.rockspec
# "source installed-path" pairs, from the rockspec's build.modules
LUA_MODULES   = $(shell $(LUA) scripts/rock-modules.lua $(ROCKSPEC))

install: build
	@test -n "$(LUA_MODULES)" || { echo "install: no module list from $(ROCKSPEC)" >&2; exit 1; }
	install -d $(DESTDIR)$(INSTALL_CMOD)/vonage
	install -m 0644 $(SO) $(DESTDIR)$(INSTALL_CMOD)/vonage/core.so
	@set -- $(LUA_MODULES); while [ $$# -gt 0 ]; do \
	    echo "install $$1 $(DESTDIR)$(INSTALL_LMOD)/$$2"; \
	    install -d "$$(dirname "$(DESTDIR)$(INSTALL_LMOD)/$$2")" && \
	    install -m 0644 "$$1" "$(DESTDIR)$(INSTALL_LMOD)/$$2" || exit 1; shift 2; done

# Removes what install put there, and the vonage/ directories once empty.
uninstall:
	@test -n "$(LUA_MODULES)" || { echo "uninstall: no module list from $(ROCKSPEC)" >&2; exit 1; }
	rm -f $(DESTDIR)$(INSTALL_CMOD)/vonage/core.so
	@set -- $(LUA_MODULES); dirs=; while [ $$# -gt 0 ]; do \
	    rm -f "$(DESTDIR)$(INSTALL_LMOD)/$$2"; dirs="$$dirs $$(dirname "$$2")"; shift 2; done; \
	for d in $$(printf '%s\n' $$dirs | sort -ru); do \
	    rmdir "$(DESTDIR)$(INSTALL_LMOD)/$$d" 2>/dev/null || true; done; \
	rmdir "$(DESTDIR)$(INSTALL_CMOD)/vonage" 2>/dev/null || true

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
GRANTS_FUZZ_RUNS ?= 300000
FUZZ_DIR  := $(BUILD_ROOT)/fuzz
FUZZ_ENV  := LUA_PATH="lua/?.lua;;" LUA_PATH_5_4="lua/?.lua;;"
fuzz:
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@rm -rf $(FUZZ_DIR) && mkdir -p $(FUZZ_DIR)/corpus
	clang -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -Werror \
	  -DVN_VERSION='"$(VERSION)"' $(shell pkg-config --cflags lua5.4 libcurl libcrypto) \
	  -o $(FUZZ_DIR)/webhook_fuzz fuzz/webhook_fuzz.c $(SRCS) \
	  $(shell pkg-config --libs lua5.4 libcurl libcrypto)
	@LUA_CPATH="$(BUILD_ROOT)/lua5.4/?.so" LUA_PATH="lua/?.lua" lua5.4 fuzz/make-seeds.lua $(FUZZ_DIR)/corpus
	$(FUZZ_ENV) $(FUZZ_DIR)/webhook_fuzz -runs=$(FUZZ_RUNS) -seed=1 -max_len=12000 -dict=fuzz/webhook.dict -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus
	@$(FUZZ_ENV) WEBHOOK_FUZZ_STATS=1 $(FUZZ_DIR)/webhook_fuzz -runs=0 $(FUZZ_DIR)/corpus 2>&1 | grep '^webhook_fuzz:'
	clang -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -Werror \
	  $(shell pkg-config --cflags lua5.4 libcrypto) -o $(FUZZ_DIR)/grants_fuzz fuzz/grants_fuzz.c src/vn_json.c src/vn_jwt.c src/vn_util.c \
	  $(shell pkg-config --libs lua5.4 libcrypto)
	@mkdir -p $(FUZZ_DIR)/grants && cp fuzz/grants-seeds/* $(FUZZ_DIR)/grants/
	$(FUZZ_ENV) $(FUZZ_DIR)/grants_fuzz -runs=$(GRANTS_FUZZ_RUNS) -seed=1 -max_len=4096 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/grants
	@GRANTS_FUZZ_STATS=1 $(FUZZ_DIR)/grants_fuzz -runs=0 $(FUZZ_DIR)/grants 2>&1 | grep '^grants_fuzz:'

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
	@$(MAKE) --no-print-directory build LUA=luajit
	@sh bench/run

# Debian packages from debian/ with dh-lua (Lua 5.4, and 5.1 for LuaJIT and
# OpenResty), built in a copy of the sources; the .debs land in build/deb/.
# The packaging tools are needed only here, so `make test` does not install them.
DEB_BUILD_PKGS := build-essential dh-lua debhelper dpkg-dev fakeroot lua-ldoc
DEB_DIR        := $(BUILD_ROOT)/deb
DEB_SOURCES    := debian lua src VERSION $(ROCKSPEC) scripts/rock-modules.lua LICENSE config.ld \
                  README.md CHANGELOG.md doc
deb:
	@sh scripts/deps $(DEB_PKGS) $(DEB_BUILD_PKGS)
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/lua-vonage-$(VERSION)/scripts
	@cp -R $(filter-out scripts/%,$(DEB_SOURCES)) $(DEB_DIR)/lua-vonage-$(VERSION)/
	@cp $(filter scripts/%,$(DEB_SOURCES)) $(DEB_DIR)/lua-vonage-$(VERSION)/scripts/
	@cd $(DEB_DIR)/lua-vonage-$(VERSION) && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
	    { tail -n 40 ../build.log; echo "deb: the build failed; the whole log is $(DEB_DIR)/build.log" >&2; exit 1; }
	@ls $(DEB_DIR)/*.deb

# The HTML reference (ldoc, config.ld) in build/reference/, checked complete:
# every public name of require "vonage" has an entry (scripts/check-doc).
doc: deps build
	@sh scripts/check-doc
	@echo "the reference: build/reference/index.html"

# Proves the rockspec builds and installs the module into a private tree.
rock: deps
	@sh scripts/check-rock

# A sandbox that stays up for the REPL:  eval "$$(make -s sandbox-start)"
# (when one runs already, it prints that one's exports: a second terminal attaches)
sandbox-start: deps build
	@sh scripts/sandbox-dev start

# The running REPL sandbox's exports, for another terminal:  eval "$$(make -s sandbox-env)"
sandbox-env:
	@sh scripts/sandbox-dev env

sandbox-stop:
	@sh scripts/sandbox-dev stop

# examples/openresty/ against a sandbox of its own, both on loopback ports; prints
# the curl lines to try; Ctrl-C (or make example-openresty-stop) stops both.
example-openresty: deps build
	@$(MAKE) --no-print-directory build LUA=luajit
	@sh scripts/example-openresty run

example-openresty-stop:
	@sh scripts/example-openresty stop

# Everything a build, `make rock`, `make fuzz` or a `luarocks make` run in
# this directory leaves (objects in src/, its ./vonage/core.so), and the REPL
# sandbox, stopped first so its nginx is not orphaned.
clean:
	@sh scripts/sandbox-dev stop
	@sh scripts/example-openresty stop
	rm -rf $(BUILD_ROOT) vonage fuzz/corpus-run
	rm -f src/*.o *.o *.so crash-* leak-* timeout-* oom-* slow-unit-*
