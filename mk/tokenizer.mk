# The tokenizer's data, parity vectors and benchmark (included by Makefile).
#
#   build/npm/                       the pinned npm packages (npm ci)
#   build/tiktoken/<enc>.tiktoken    rank files, from the tiktoken package
#   build/tiktoken/<enc>.pat         its split pattern, <enc>.special its
#                                    special tokens (test_tok checks both)
#   build/tiktoken/vectors-<enc>.txt        ids of the parity corpus
#   build/tiktoken/vectors-<enc>-sweep.txt  ids of the code point sweep
#   build/tiktoken/ucd-16.txt       the Unicode 16.0 classes the patterns
#                                    use (tiktoken's regex has Unicode 16.0)
#
#   make tok-data         all of the above (nothing is fetched again while
#                         the lock file is unchanged)
#   make unit-tok         build and run only t/unit/test_tok.c
#   make tok-ucd          check that llo_tok.c adds to PCRE2's Unicode
#                         classes what Unicode 16.0 has and they lack (its
#                         diff is the update when PCRE2 changes)
#   make bench-tokenizer  llo_tok against the npm tiktoken and js-tiktoken
#
# Everything is made from tools/tiktoken/package-lock.json and the corpus:
# to regenerate the vectors, edit t/unit/fixtures/tok_corpus.txt (or bump
# the versions in tools/tiktoken/package.json and run 'npm install
# --package-lock-only' there) and run make again.

TOK_TOOLS  := tools/tiktoken
TOK_NPM    := $(BUILD)/npm
TOK_DIR    := $(BUILD)/tiktoken
TOK_ENCS   := cl100k_base o200k_base
TOK_CORPUS := t/unit/fixtures/tok_corpus.txt
TOK_STAMP  := $(TOK_NPM)/node_modules/.llo-installed
TOK_NODE   := NODE_PATH=$(TOK_NPM)/node_modules node

TOK_RANKS  := $(TOK_ENCS:%=$(TOK_DIR)/%.tiktoken)
TOK_VECS   := $(TOK_ENCS:%=$(TOK_DIR)/vectors-%.txt) \
              $(TOK_ENCS:%=$(TOK_DIR)/vectors-%-sweep.txt)
TOK_UCD    := $(TOK_DIR)/ucd-16.txt
TOK_DATA   := $(TOK_RANKS) $(TOK_VECS) $(TOK_UCD)

TOK_BENCH  := $(BUILD)/bench/tok_bench

.PHONY: tok-data unit-tok tok-ucd

tok-data: $(TOK_DATA)

# npm ci wipes node_modules and installs exactly the lock file; its cache
# (~/.npm) means a rerun after 'make clean' downloads nothing
$(TOK_STAMP): $(TOK_TOOLS)/package.json $(TOK_TOOLS)/package-lock.json
	@mkdir -p $(TOK_NPM)
	cp $(TOK_TOOLS)/package.json $(TOK_TOOLS)/package-lock.json $(TOK_NPM)/
	cd $(TOK_NPM) && npm ci --no-audit --no-fund --ignore-scripts \
	    --loglevel=error
	touch $@

# the .pat and .special files come with the rank file
$(TOK_DIR)/%.tiktoken: $(TOK_STAMP) $(TOK_TOOLS)/convert.js
	$(TOK_NODE) $(TOK_TOOLS)/convert.js $* $(TOK_DIR)

$(TOK_DIR)/vectors-%-sweep.txt: $(TOK_STAMP) $(TOK_TOOLS)/vectors.js \
        $(TOK_TOOLS)/corpus.js
	@mkdir -p $(TOK_DIR)
	$(TOK_NODE) $(TOK_TOOLS)/vectors.js $* --sweep $@

$(TOK_DIR)/vectors-%.txt: $(TOK_STAMP) $(TOK_TOOLS)/vectors.js \
        $(TOK_TOOLS)/corpus.js $(TOK_CORPUS)
	@mkdir -p $(TOK_DIR)
	$(TOK_NODE) $(TOK_TOOLS)/vectors.js $* $(TOK_CORPUS) $@

$(TOK_UCD): $(TOK_STAMP) $(TOK_TOOLS)/ucd.js
	@mkdir -p $(TOK_DIR)
	$(TOK_NODE) $(TOK_TOOLS)/ucd.js $@

$(TOK_DIR)/ucd_patch: $(TOK_TOOLS)/ucd_patch.c
	@mkdir -p $(TOK_DIR)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -o $@ $< \
	    $(shell pkg-config --libs libpcre2-8)

tok-ucd: $(TOK_DIR)/ucd_patch $(TOK_UCD)
	$(TOK_DIR)/ucd_patch $(TOK_UCD) > $(TOK_DIR)/ucd-patch.inc
	sed -n '/ucd-patch:/,/ucd-patch end/p' $(SHARED_DIR)/llo_tok.c \
	    | diff -u - $(TOK_DIR)/ucd-patch.inc
	@echo "$(SHARED_DIR)/llo_tok.c: Unicode classes up to date"

# the test reads its data from build/tiktoken (LLO_TOK_DIR in the
# environment overrides); order-only: new vectors need no relink
$(BUILD)/unit/test_tok: CPPFLAGS += -DLLO_TOK_DIR='"$(TOK_DIR)"'
$(BUILD)/unit/test_tok: | $(TOK_DATA)

unit-tok: $(BUILD)/unit/test_tok
	CK_DEFAULT_TIMEOUT=300 $(BUILD)/unit/test_tok

# the same binary by the name 'make build/unit/test_tok' gives it
ifneq ($(BUILD),build)
build/unit/test_tok: $(BUILD)/unit/test_tok ;
endif

$(TOK_BENCH): bench/tokenizer/tok_bench.c $(SHARED_DIR)/llo_tok.c \
        $(SHARED_DIR)/llo_tok.h
	@mkdir -p $(BUILD)/bench
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -o $@ \
	    bench/tokenizer/tok_bench.c $(SHARED_DIR)/llo_tok.c \
	    $(shell pkg-config --libs libpcre2-8)

bench-tokenizer: $(TOK_BENCH) $(TOK_RANKS)
	$(TOK_NODE) bench/tokenizer/bench.js --bin $(TOK_BENCH) \
	    --data $(TOK_DIR) --repo $(REPO)
