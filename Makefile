# llm-observer: nginx module + evaluator.
#
#   make deps      install the Debian packages everything needs (idempotent)
#   make           build build/ngx_http_llm_observer_module.so and
#                  build/llm-evaluator, then prove the module loads
#   make test      unit tests (Check) and integration tests (t/, prove)
#   make demo      the whole pipeline on this machine, then stop it
#   make install   module, load snippet, evaluator, sql/, systemd unit
#
# NGINX_SRC: an nginx source tree to build the module against; default is
# the distro's nginx-dev tree, configured with the distro's own flags so
# the module is binary compatible with /usr/sbin/nginx.

SHELL      := /bin/bash
REPO       := $(abspath .)
BUILD      := $(REPO)/build
NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
NGX_TREE   := $(BUILD)/nginx
PREFIX     ?= /usr
DESTDIR    ?=

CC         ?= cc
CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Werror -Wno-unused-parameter
SHARED_DIR := ngx_llm_observer_module
CPPFLAGS   += -I$(SHARED_DIR) -Ievaluator $(shell pkg-config --cflags yajl) \
              $(shell pkg-config --cflags libpq) \
              $(shell pkg-config --cflags libpcre2-8) \
              $(shell pkg-config --cflags libcurl)

SHARED_SRC := $(SHARED_DIR)/llo_ring.c $(SHARED_DIR)/llo_record.c \
              $(SHARED_DIR)/llo_parse.c $(SHARED_DIR)/llo_api.c \
              $(SHARED_DIR)/llo_tok.c \
              $(SHARED_DIR)/llo_strip.c $(SHARED_DIR)/llo_cost.c \
              $(SHARED_DIR)/llo_keys.c $(SHARED_DIR)/llo_call.c
SHARED_HDR := $(SHARED_SRC:.c=.h)
MODULE_SRC := $(wildcard $(SHARED_DIR)/ngx_http_llm_observer_*.c) \
              $(SHARED_DIR)/ngx_http_llm_observer_module.h
EVAL_SRC   := $(wildcard evaluator/*.c)
EVAL_HDR   := $(wildcard evaluator/*.h)
EVAL_MAIN  := evaluator/llo_evaluator.c
# the cores and the evaluator are built once, into static libraries that
# the daemon and the unit tests link (each links only what it calls)
CORE_LIB   := $(BUILD)/libllo.a
EVAL_LIB   := $(BUILD)/libllo_eval.a
CORE_OBJ   := $(SHARED_SRC:%.c=$(BUILD)/obj/%.o)
EVAL_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,\
                  $(filter-out $(EVAL_MAIN),$(EVAL_SRC)))
# '=', not ':=': on a fresh machine pkg-config and the libraries arrive
# with 'make deps', after this file was read
EVAL_LIBS   = -lpq $(shell pkg-config --libs yajl) -lz -lm \
              $(shell pkg-config --libs libpcre2-8) -lcrypto \
              $(shell pkg-config --libs libcurl) \
              $(shell pkg-config --libs libmicrohttpd)

UNIT_SRC   := $(wildcard t/unit/*.c)
UNIT_BINS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))
UNIT_LIBS   = $(shell pkg-config --libs check 2>/dev/null) -lpq \
              $(shell pkg-config --libs yajl) -lz -lm \
              $(shell pkg-config --libs libpcre2-8) -lcrypto \
              $(shell pkg-config --libs libcurl) \
              $(shell pkg-config --libs libmicrohttpd)

DEB_PKGS   := build-essential pkg-config nginx nginx-dev libpcre2-dev \
              libssl-dev zlib1g-dev libyajl-dev libpq-dev libcurl4-openssl-dev \
              libmicrohttpd-dev check libsubunit-dev postgresql \
              postgresql-client prometheus prometheus-alertmanager wrk \
              perl curl valgrind

.PHONY: all module evaluator deps test unit itest demo bench install \
        clean loadcheck unit-bins bench-tokenizer

all: module evaluator loadcheck

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null && command -v npm >/dev/null \
	    || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq $$missing; \
	else \
	    echo "deps: all Debian packages present"; \
	fi

# -- the nginx module ---------------------------------------------------

module: $(BUILD)/ngx_http_llm_observer_module.so

# configure once (it takes ~20 s); rerun only when the addon file changes
$(NGX_TREE)/objs/Makefile: config $(NGINX_SRC)/configure
	rm -rf $(NGX_TREE)
	mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(NGX_TREE)
	cd $(NGX_TREE) && \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat); fi; \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --add-dynamic-module=$(REPO) > $(BUILD)/nginx-configure.log 2>&1 \
	    || { tail -30 $(BUILD)/nginx-configure.log; exit 1; }

$(BUILD)/ngx_http_llm_observer_module.so: $(NGX_TREE)/objs/Makefile \
        $(MODULE_SRC) $(SHARED_SRC) $(SHARED_HDR)
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile modules
	cp $(NGX_TREE)/objs/ngx_http_llm_observer_module.so $@

loadcheck: module
	@bash t/loadcheck.sh $(NGINX_BIN) $(BUILD)/ngx_http_llm_observer_module.so

# -- the evaluator and shared code ----------------------------------------

evaluator: $(BUILD)/llm-evaluator

$(BUILD)/obj/%.o: %.c $(SHARED_HDR) $(EVAL_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -c -o $@ $<

$(BUILD)/obj/evaluator/llo_eval_conf.o: \
    CPPFLAGS += -DLLO_SQL_DIR='"$(PREFIX)/share/llm-observer/sql"'

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(EVAL_LIB): $(EVAL_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/llm-evaluator: $(EVAL_MAIN) $(EVAL_HDR) $(EVAL_LIB) $(CORE_LIB)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -o $@ $(EVAL_MAIN) $(EVAL_LIB) \
	    $(CORE_LIB) $(EVAL_LIBS)

# -- tests ----------------------------------------------------------------

$(BUILD)/unit/%: t/unit/%.c t/unit/check_main.h $(EVAL_LIB) $(CORE_LIB) \
        $(SHARED_HDR) $(EVAL_HDR)
	@mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -It/unit \
	    -DLLO_T_SQL_DIR='"$(REPO)/sql"' -o $@ $< $(EVAL_LIB) $(CORE_LIB) \
	    $(UNIT_LIBS)

unit: $(UNIT_BINS)
	@rc=0; for t in $(UNIT_BINS); do \
	    CK_DEFAULT_TIMEOUT=120 $$t || rc=1; \
	done; exit $$rc

itest: all tok-data
	prove -I t/lib t/

# the build runs in a new make, which reads this file again with the
# packages 'deps' just installed
test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) itest

demo: deps
	$(MAKE) all tok-data
	perl t/demo.pl

bench: deps
	$(MAKE) all unit-bins tok-data
	bash bench/run.sh
	bash bench/instr.sh
	bash bench/ingest.sh

unit-bins: $(UNIT_BINS)

include mk/tokenizer.mk

# -- install ----------------------------------------------------------------

install: all tok-data
	install -D -m 0644 $(BUILD)/ngx_http_llm_observer_module.so \
	    $(DESTDIR)$(PREFIX)/lib/nginx/modules/ngx_http_llm_observer_module.so
	install -D -m 0644 conf.d/50-mod-http-llm-observer.conf \
	    $(DESTDIR)$(PREFIX)/share/nginx/modules-available/50-mod-http-llm-observer.conf
	install -D -m 0755 $(BUILD)/llm-evaluator \
	    $(DESTDIR)$(PREFIX)/sbin/llm-evaluator
	install -d $(DESTDIR)$(PREFIX)/share/llm-observer/sql
	install -m 0644 sql/*.sql $(DESTDIR)$(PREFIX)/share/llm-observer/sql/
	install -m 0644 conf.d/llm_prices.conf \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/llm_prices.conf
	install -m 0644 conf.d/llm_keys.conf \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/llm_keys.conf.example
	install -m 0644 conf.d/llm-rules.conf \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/llm-rules.conf.example
	install -d $(DESTDIR)$(PREFIX)/share/llm-observer/prometheus/rules \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/prometheus/tests
	install -m 0644 conf.d/prometheus/prometheus.yml \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/prometheus/
	install -m 0644 conf.d/prometheus/rules/*.yml \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/prometheus/rules/
	install -m 0644 conf.d/prometheus/tests/*.yml \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/prometheus/tests/
	install -d $(DESTDIR)$(PREFIX)/share/llm-observer/grafana/dashboards \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/grafana/provisioning/datasources \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/grafana/provisioning/dashboards
	install -m 0644 grafana/dashboards/*.json \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/grafana/dashboards/
	install -m 0644 grafana/provisioning/datasources/*.yml \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/grafana/provisioning/datasources/
	install -m 0644 grafana/provisioning/dashboards/*.yml \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/grafana/provisioning/dashboards/
	install -D -m 0644 conf.d/alertmanager/alertmanager.yml \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/alertmanager/alertmanager.yml
	install -d $(DESTDIR)$(PREFIX)/share/llm-observer/tiktoken
	install -m 0644 $(TOK_RANKS) \
	    $(DESTDIR)$(PREFIX)/share/llm-observer/tiktoken/
	@if [ -z "$(DESTDIR)" ] && ! getent passwd llm-observer >/dev/null; then \
	    useradd --system --user-group --no-create-home \
	        --home-dir /nonexistent --shell /usr/sbin/nologin \
	        llm-observer; \
	fi
	@# the evaluator's user reads its config; the ring's group is the
	@# nginx workers' (www-data), see conf.d/llm-evaluator.service
	if [ -f $(DESTDIR)/etc/llm-observer/llm-evaluator.conf ]; then \
	    echo "keeping $(DESTDIR)/etc/llm-observer/llm-evaluator.conf"; \
	else \
	    install -D -m 0640 conf.d/llm-evaluator.conf \
	        $(DESTDIR)/etc/llm-observer/llm-evaluator.conf; \
	    [ -n "$(DESTDIR)" ] || chgrp llm-observer \
	        /etc/llm-observer/llm-evaluator.conf; \
	fi
	@# the rules the shipped llm-evaluator.conf names; a team's own stay
	if [ -f $(DESTDIR)/etc/llm-observer/llm-rules.conf ]; then \
	    echo "keeping $(DESTDIR)/etc/llm-observer/llm-rules.conf"; \
	else \
	    install -D -m 0644 conf.d/llm-rules.conf \
	        $(DESTDIR)/etc/llm-observer/llm-rules.conf; \
	fi
	install -D -m 0644 conf.d/llm-evaluator.service \
	    $(DESTDIR)/lib/systemd/system/llm-evaluator.service

clean:
	rm -rf $(BUILD)
