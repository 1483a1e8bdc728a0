/*
 * llm-observer tokenizer: see llo_tok.h.
 *
 * Rank table
 *
 *   arena   token bytes, rank order, back to back
 *   off     ntokens + 1 offsets into arena: token r is [off[r], off[r+1])
 *   slot    open addressing, linear probing, 2 * ntokens rounded up to a
 *           power of two; a slot is (hash >> 32) << 32 | (rank + 1), 0
 *           when free, so most misses end on the tag without touching
 *           the arena
 *   rank1   the rank of every single byte, rank2 of every byte pair: the
 *           first lookups of every merge, and most of them
 *
 * Byte-pair merge (tiktoken's _byte_pair_merge)
 *
 *   The parts start as single bytes.  Each step merges the adjacent pair
 *   whose concatenation has the lowest rank, the leftmost of equals, until
 *   no pair is a token.  Every part is then a token, so the rank of the
 *   pair that made it is its id.  Pieces up to LLO_TOK_SMALL bytes do it as
 *   tiktoken does, a scan for the minimum and a memmove, on the stack;
 *   longer ones keep the pairs in a binary heap keyed by (rank, start),
 *   which merges the same pairs in the same order in O(n log n), so no
 *   input (a megabyte of one letter is one piece) takes quadratic time.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "llo_tok.h"


#define LLO_TOK_NONE            UINT32_MAX
#define LLO_TOK_SMALL           256
#define LLO_TOK_FILE_MAX        (64 * 1024 * 1024)
#define LLO_TOK_FALLBACK        (64 * 1024)
#define LLO_TOK_PIECE_MAX       (1024 * 1024)

/* scratch above this is freed after use, not kept in every worker */
#define LLO_TOK_SCRATCH_KEEP    (1024 * 1024)

/*
 * Unicode White_Space, which is what \s is in the Rust regex crate (and
 * so in tiktoken).  PCRE2's \s under PCRE2_UCP is \p{Z}, \h and \v, which
 * adds U+180E MONGOLIAN VOWEL SEPARATOR (not a space since Unicode 6.3).
 */
#define LLO_TOK_WS                                                           \
    "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"   \
    "\\x{202f}\\x{205f}\\x{3000}"


/*
 * PCRE2's Unicode tables are those of its release (10.42: Unicode 14.0);
 * tiktoken's Rust regex has Unicode 16.0.  What Unicode 16.0 has in the
 * classes the patterns use and PCRE2 does not is added to each class
 * (nothing is in PCRE2's and not in 16.0's).  test_tok.c checks every code
 * point of every class against Unicode 16.0; 'make tok-ucd' checks that
 * this block is what tools/tiktoken/ucd_patch.c makes for the PCRE2 here.
 */

/* ucd-patch: made by tools/tiktoken/ucd_patch.c (make tok-ucd) for
 * PCRE2 with Unicode 14.0.0; do not edit */

#define LLO_TOK_UCD_PCRE2       "14.0.0"

static const char  llo_tok_ucd_L[] =
    "\\x{1c89}-\\x{1c8a}\\x{a7cb}-\\x{a7cd}\\x{a7da}-\\x{a7dc}"
    "\\x{105c0}-\\x{105f3}\\x{10d4a}-\\x{10d65}\\x{10d6f}-\\x{10d85}"
    "\\x{10ec2}-\\x{10ec4}\\x{1123f}-\\x{11240}\\x{11380}-\\x{11389}"
    "\\x{1138b}\\x{1138e}\\x{11390}-\\x{113b5}"
    "\\x{113b7}\\x{113d1}\\x{113d3}"
    "\\x{11bc0}-\\x{11be0}\\x{11f02}\\x{11f04}-\\x{11f10}"
    "\\x{11f12}-\\x{11f33}\\x{1342f}\\x{13441}-\\x{13446}"
    "\\x{13460}-\\x{143fa}\\x{16100}-\\x{1611d}\\x{16d40}-\\x{16d6c}"
    "\\x{18cff}\\x{1b132}\\x{1b155}"
    "\\x{1df25}-\\x{1df2a}\\x{1e030}-\\x{1e06d}\\x{1e4d0}-\\x{1e4eb}"
    "\\x{1e5d0}-\\x{1e5ed}\\x{1e5f0}\\x{2b739}"
    "\\x{2ebf0}-\\x{2ee5d}\\x{31350}-\\x{323af}";

static const char  llo_tok_ucd_Lu[] =
    "\\x{1c89}\\x{a7cb}-\\x{a7cc}\\x{a7da}"
    "\\x{a7dc}\\x{10d50}-\\x{10d65}";

static const char  llo_tok_ucd_Ll[] =
    "\\x{1c8a}\\x{a7cd}\\x{a7db}"
    "\\x{10d70}-\\x{10d85}\\x{1df25}-\\x{1df2a}";

static const char  llo_tok_ucd_Lt[] = "";

static const char  llo_tok_ucd_Lm[] =
    "\\x{10d4e}\\x{10d6f}\\x{16d40}-\\x{16d42}"
    "\\x{16d6b}-\\x{16d6c}\\x{1e030}-\\x{1e06d}\\x{1e4eb}";

static const char  llo_tok_ucd_Lo[] =
    "\\x{105c0}-\\x{105f3}\\x{10d4a}-\\x{10d4d}\\x{10d4f}"
    "\\x{10ec2}-\\x{10ec4}\\x{1123f}-\\x{11240}\\x{11380}-\\x{11389}"
    "\\x{1138b}\\x{1138e}\\x{11390}-\\x{113b5}"
    "\\x{113b7}\\x{113d1}\\x{113d3}"
    "\\x{11bc0}-\\x{11be0}\\x{11f02}\\x{11f04}-\\x{11f10}"
    "\\x{11f12}-\\x{11f33}\\x{1342f}\\x{13441}-\\x{13446}"
    "\\x{13460}-\\x{143fa}\\x{16100}-\\x{1611d}\\x{16d43}-\\x{16d6a}"
    "\\x{18cff}\\x{1b132}\\x{1b155}"
    "\\x{1e4d0}-\\x{1e4ea}\\x{1e5d0}-\\x{1e5ed}\\x{1e5f0}"
    "\\x{2b739}\\x{2ebf0}-\\x{2ee5d}\\x{31350}-\\x{323af}";

static const char  llo_tok_ucd_M[] =
    "\\x{897}\\x{cf3}\\x{ece}"
    "\\x{10d69}-\\x{10d6d}\\x{10efc}-\\x{10eff}\\x{11241}"
    "\\x{113b8}-\\x{113c0}\\x{113c2}\\x{113c5}"
    "\\x{113c7}-\\x{113ca}\\x{113cc}-\\x{113d0}\\x{113d2}"
    "\\x{113e1}-\\x{113e2}\\x{11f00}-\\x{11f01}\\x{11f03}"
    "\\x{11f34}-\\x{11f3a}\\x{11f3e}-\\x{11f42}\\x{11f5a}"
    "\\x{13440}\\x{13447}-\\x{13455}\\x{1611e}-\\x{1612f}"
    "\\x{1e08f}\\x{1e4ec}-\\x{1e4ef}\\x{1e5ee}-\\x{1e5ef}";

static const char  llo_tok_ucd_N[] =
    "\\x{10d40}-\\x{10d49}\\x{116d0}-\\x{116e3}\\x{11bf0}-\\x{11bf9}"
    "\\x{11f50}-\\x{11f59}\\x{16130}-\\x{16139}\\x{16d70}-\\x{16d79}"
    "\\x{1ccf0}-\\x{1ccf9}\\x{1d2c0}-\\x{1d2d3}\\x{1e4f0}-\\x{1e4f9}"
    "\\x{1e5f1}-\\x{1e5fa}";

/* ucd-patch end */


typedef struct {
    const char         *prop;
    const char         *add;
} llo_tok_class_t;


static const llo_tok_class_t  llo_tok_classes[] = {
    { "L", llo_tok_ucd_L },
    { "Lu", llo_tok_ucd_Lu },
    { "Ll", llo_tok_ucd_Ll },
    { "Lt", llo_tok_ucd_Lt },
    { "Lm", llo_tok_ucd_Lm },
    { "Lo", llo_tok_ucd_Lo },
    { "M", llo_tok_ucd_M },
    { "N", llo_tok_ucd_N },
    { NULL, NULL }
};


typedef struct {
    const char         *text;
    uint32_t            id;
} llo_tok_special_t;


typedef struct {
    const char         *name;
    const char         *pattern;        /* as tiktoken has it */
    uint32_t            ntokens;
    const llo_tok_special_t *special;
    size_t              nspecial;
} llo_tok_enc_t;


struct llo_tok_s {
    const llo_tok_enc_t *enc;

    uint8_t            *arena;
    uint32_t           *off;
    uint64_t           *slot;
    uint32_t           *rank2;
    uint32_t            rank1[256];
    uint32_t            mask;
    uint32_t            ntokens;
    uint32_t            maxlen;

    pcre2_code         *re;
    pcre2_match_data   *md;
    pcre2_match_context *mctx;
    PCRE2_SIZE         *ovector;
    int                 jit;
    int                 jit_ok;
    uint64_t            inexact;
    size_t              small;          /* longer pieces: heap merge */

    /* the heap merge of long pieces */
    uint32_t           *scratch;
    size_t              scratch_n;
};


/* where the ids go: an array, or only a count when ids is NULL */
typedef struct {
    uint32_t           *ids;
    size_t              n;
    size_t              cap;
    int                 oom;
} llo_tok_sink_t;


/* pieces of one text: pattern matches and the gaps between them */
typedef struct {
    const uint8_t      *s;
    size_t              len;
    size_t              pos;
    size_t              mstart;         /* a match found past a gap */
    size_t              mend;
    int                 pending;
    int                 failed;
} llo_tok_iter_t;


struct llo_tok_stream_s {
    llo_tok_t          *tok;
    uint8_t            *buf;
    size_t              len;
    size_t              size;
    size_t              hold;
    size_t              cap;
    size_t              kept;           /* len after the last scan */
    uint64_t            count;
    int                 inexact;
    int                 finished;
};


static const llo_tok_special_t  llo_tok_cl100k_special[] = {
    { "<|endoftext|>", 100257 },
    { "<|fim_prefix|>", 100258 },
    { "<|fim_middle|>", 100259 },
    { "<|fim_suffix|>", 100260 },
    { "<|endofprompt|>", 100276 }
};

static const llo_tok_special_t  llo_tok_o200k_special[] = {
    { "<|endoftext|>", 199999 },
    { "<|endofprompt|>", 200018 }
};

static const llo_tok_enc_t  llo_tok_encodings[] = {

    { "cl100k_base",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
      "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
      "|\\p{N}{1,3}"
      "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
      "|\\s*[\\r\\n]+"
      "|\\s+(?!\\S)"
      "|\\s+",
      100256,
      llo_tok_cl100k_special,
      sizeof(llo_tok_cl100k_special) / sizeof(llo_tok_special_t) },

    { "o200k_base",
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*"
      "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
      "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
      "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
      "|\\p{N}{1,3}"
      "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*"
      "|\\s*[\\r\\n]+"
      "|\\s+(?!\\S)"
      "|\\s+",
      199998,
      llo_tok_o200k_special,
      sizeof(llo_tok_o200k_special) / sizeof(llo_tok_special_t) }
};


static int llo_tok_read_file(const char *path, uint8_t **buf, size_t *len,
    char *err, size_t errlen);
static int llo_tok_parse(llo_tok_t *t, const char *path, const uint8_t *p,
    size_t len, char *err, size_t errlen);
static int llo_tok_base64(const uint8_t *p, size_t n, uint8_t *out,
    size_t *outlen);
static int llo_tok_compile(llo_tok_t *t, char *err, size_t errlen);
static uint32_t llo_tok_rank(const llo_tok_t *t, const uint8_t *p,
    size_t n);
static int llo_tok_next(llo_tok_t *t, llo_tok_iter_t *it, size_t *ps,
    size_t *pe);
static void llo_tok_text(llo_tok_t *t, const uint8_t *s, size_t len,
    llo_tok_sink_t *k);
static void llo_tok_bpe(llo_tok_t *t, const uint8_t *p, size_t n,
    llo_tok_sink_t *k);
static void llo_tok_bpe_small(llo_tok_t *t, const uint8_t *p, size_t n,
    llo_tok_sink_t *k);
static void llo_tok_bpe_heap(llo_tok_t *t, const uint8_t *p, size_t n,
    llo_tok_sink_t *k);
static void llo_tok_emit(llo_tok_sink_t *k, uint32_t id);
static size_t llo_tok_utf8_tail(const uint8_t *p, size_t n);
static void llo_tok_stream_scan(llo_tok_stream_t *s);


static inline uint64_t
llo_tok_mix(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
    __uint128_t  r;

    r = (__uint128_t) a * b;

    return (uint64_t) r ^ (uint64_t) (r >> 64);
#else
    /* no 128-bit product (32-bit targets): a 64-bit one, folded */
    a *= b;

    return a ^ (a >> 29);
#endif
}


static inline uint64_t
llo_tok_hash(const uint8_t *p, size_t n)
{
    uint64_t  h, w;

    h = 0x243f6a8885a308d3ULL ^ n;

    while (n >= 8) {
        memcpy(&w, p, 8);
        h = llo_tok_mix(h ^ w, 0x9e3779b97f4a7c15ULL);
        p += 8;
        n -= 8;
    }

    if (n > 0) {
        w = 0;
        memcpy(&w, p, n);
        h = llo_tok_mix(h ^ w, 0xbf58476d1ce4e5b9ULL);
    }

    return llo_tok_mix(h, 0x94d049bb133111ebULL);
}


llo_tok_t *
llo_tok_load(const char *encoding, const char *path, char *err,
    size_t errlen)
{
    size_t                i, len, size;
    uint8_t              *buf, *arena;
    llo_tok_t            *t;
    const llo_tok_enc_t  *enc;

    enc = NULL;

    for (i = 0; i < sizeof(llo_tok_encodings) / sizeof(llo_tok_enc_t); i++) {
        if (strcmp(encoding, llo_tok_encodings[i].name) == 0) {
            enc = &llo_tok_encodings[i];
        }
    }

    if (enc == NULL) {
        snprintf(err, errlen, "%s: unknown encoding \"%s\" "
                 "(cl100k_base, o200k_base)", path, encoding);
        return NULL;
    }

    if (llo_tok_read_file(path, &buf, &len, err, errlen) != 0) {
        return NULL;
    }

    t = calloc(1, sizeof(llo_tok_t));
    if (t == NULL) {
        goto nomem;
    }

    t->enc = enc;
    t->ntokens = enc->ntokens;
    t->small = LLO_TOK_SMALL;

    for (size = 1024; size < (size_t) enc->ntokens * 2; size <<= 1) {
        /* void */
    }

    t->mask = (uint32_t) size - 1;
    t->slot = calloc(size, sizeof(uint64_t));
    t->off = malloc(((size_t) enc->ntokens + 1) * sizeof(uint32_t));
    t->rank2 = malloc(65536 * sizeof(uint32_t));

    /* base64 is longer than what it encodes, so the file bounds the arena */
    t->arena = malloc(len + 1);

    if (t->slot == NULL || t->off == NULL || t->rank2 == NULL
        || t->arena == NULL)
    {
        goto nomem;
    }

    if (llo_tok_parse(t, path, buf, len, err, errlen) != 0) {
        goto failed;
    }

    free(buf);
    buf = NULL;

    /* the file was twice what its tokens are */
    arena = realloc(t->arena, (size_t) t->off[t->ntokens] + 1);
    if (arena != NULL) {
        t->arena = arena;
    }

    if (llo_tok_compile(t, err, errlen) != 0) {
        goto failed;
    }

    return t;

nomem:

    snprintf(err, errlen, "%s: out of memory", path);

failed:

    free(buf);
    llo_tok_free(t);

    return NULL;
}


void
llo_tok_free(llo_tok_t *t)
{
    if (t == NULL) {
        return;
    }

    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mctx);
    pcre2_code_free(t->re);
    free(t->scratch);
    free(t->rank2);
    free(t->arena);
    free(t->off);
    free(t->slot);
    free(t);
}


const char *
llo_tok_encoding(const llo_tok_t *t)
{
    return t->enc->name;
}


const char *
llo_tok_pattern(const llo_tok_t *t)
{
    return t->enc->pattern;
}


int
llo_tok_jit(const llo_tok_t *t)
{
    return t->jit;
}


void
llo_tok_set_jit(llo_tok_t *t, int on)
{
    t->jit = on && t->jit_ok;
}


void
llo_tok_set_small(llo_tok_t *t, size_t n)
{
    t->small = (n < LLO_TOK_SMALL) ? n : LLO_TOK_SMALL;
}


uint64_t
llo_tok_inexact(const llo_tok_t *t)
{
    return t->inexact;
}


size_t
llo_tok_nspecial(const llo_tok_t *t)
{
    return t->enc->nspecial;
}


const char *
llo_tok_special(const llo_tok_t *t, size_t i, uint32_t *id)
{
    if (i >= t->enc->nspecial) {
        return NULL;
    }

    *id = t->enc->special[i].id;

    return t->enc->special[i].text;
}


static int
llo_tok_read_file(const char *path, uint8_t **buf, size_t *len, char *err,
    size_t errlen)
{
    int          fd;
    size_t       got;
    ssize_t      n;
    uint8_t     *p;
    struct stat  st;

    *buf = NULL;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode) || st.st_size > LLO_TOK_FILE_MAX) {
        snprintf(err, errlen, "%s: not a regular file of at most %d MiB",
                 path, LLO_TOK_FILE_MAX >> 20);
        close(fd);
        return -1;
    }

    p = malloc((size_t) st.st_size + 1);
    if (p == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return -1;
    }

    got = 0;

    while (got < (size_t) st.st_size) {
        n = read(fd, p + got, (size_t) st.st_size - got);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(p);
            close(fd);
            return -1;
        }

        if (n == 0) {
            break;
        }

        got += (size_t) n;
    }

    close(fd);

    *buf = p;
    *len = got;

    return 0;
}


static int
llo_tok_parse(llo_tok_t *t, const char *path, const uint8_t *p, size_t len,
    char *err, size_t errlen)
{
    size_t          used, n, b64len, i, rlen;
    uint8_t         byte, pair[2];
    uint32_t        count, line, rank, other, idx, mask;
    uint64_t        h, v, s;
    const uint8_t  *end, *nl, *sp, *eol, *r;

    end = p + len;
    used = 0;
    count = 0;
    line = 0;
    mask = t->mask;
    t->off[0] = 0;

    while (p < end) {
        line++;

        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            snprintf(err, errlen, "%s:%u: line has no newline "
                     "(truncated file?)", path, line);
            return -1;
        }

        eol = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;

        sp = memchr(p, ' ', (size_t) (eol - p));
        if (sp == NULL) {
            snprintf(err, errlen, "%s:%u: missing rank (expected "
                     "\"<base64 token> <rank>\")", path, line);
            return -1;
        }

        b64len = (size_t) (sp - p);

        if (llo_tok_base64(p, b64len, t->arena + used, &n) != 0) {
            snprintf(err, errlen, "%s:%u: bad base64 \"%.*s\"", path, line,
                     (int) (b64len > 64 ? 64 : b64len), (const char *) p);
            return -1;
        }

        r = sp + 1;
        rlen = (size_t) (eol - r);
        v = 0;

        for (i = 0; i < rlen; i++) {
            if (r[i] < '0' || r[i] > '9' || v > UINT32_MAX / 10) {
                break;
            }
            v = v * 10 + (uint64_t) (r[i] - '0');
        }

        if (rlen == 0 || i < rlen || v >= LLO_TOK_NONE) {
            snprintf(err, errlen, "%s:%u: rank \"%.*s\" is not a number",
                     path, line, (int) (rlen > 32 ? 32 : rlen),
                     (const char *) r);
            return -1;
        }

        rank = (uint32_t) v;

        if (rank < count) {
            snprintf(err, errlen, "%s:%u: duplicate rank %u "
                     "(line %u has it)", path, line, rank, rank + 1);
            return -1;
        }

        if (rank > count) {
            snprintf(err, errlen, "%s:%u: rank %u out of order "
                     "(expected %u)", path, line, rank, count);
            return -1;
        }

        if (count == t->ntokens) {
            snprintf(err, errlen, "%s:%u: more than the %u tokens of %s",
                     path, line, t->ntokens, t->enc->name);
            return -1;
        }

        /* insert, refusing a token given twice */
        h = llo_tok_hash(t->arena + used, n);
        idx = (uint32_t) h & mask;

        for ( ;; ) {
            s = t->slot[idx];

            if (s == 0) {
                t->slot[idx] = (h >> 32 << 32) | ((uint64_t) rank + 1);
                break;
            }

            other = (uint32_t) s - 1;

            if ((s >> 32) == (h >> 32)
                && t->off[other + 1] - t->off[other] == n
                && memcmp(t->arena + t->off[other], t->arena + used, n) == 0)
            {
                snprintf(err, errlen, "%s:%u: duplicate token \"%.*s\" "
                         "(line %u has it)", path, line,
                         (int) (b64len > 64 ? 64 : b64len),
                         (const char *) p, other + 1);
                return -1;
            }

            idx = (idx + 1) & mask;
        }

        used += n;
        t->off[++count] = (uint32_t) used;

        if (n > t->maxlen) {
            t->maxlen = (uint32_t) n;
        }

        p = nl + 1;
    }

    if (count != t->ntokens) {
        snprintf(err, errlen, "%s:%u: unexpected end of file after %u "
                 "tokens (%s has %u)", path, line + 1, count, t->enc->name,
                 t->ntokens);
        return -1;
    }

    /* any byte sequence must have an encoding */
    for (i = 0; i < 256; i++) {
        byte = (uint8_t) i;
        v = llo_tok_rank(t, &byte, 1);

        if (v == LLO_TOK_NONE) {
            snprintf(err, errlen, "%s: byte 0x%02x has no token", path,
                     (unsigned) i);
            return -1;
        }

        t->rank1[i] = (uint32_t) v;
    }

    for (i = 0; i < 65536; i++) {
        pair[0] = (uint8_t) (i >> 8);
        pair[1] = (uint8_t) i;
        t->rank2[i] = llo_tok_rank(t, pair, 2);
    }

    return 0;
}


static int
llo_tok_base64(const uint8_t *p, size_t n, uint8_t *out, size_t *outlen)
{
    int       c, pad;
    size_t    i, o;
    uint32_t  acc;

    static const int8_t  val[256] = {
        ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
        ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
        ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
        ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
        ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
        ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31,
        ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
        ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41,
        ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46,
        ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51,
        ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61,
        ['9'] = 62, ['+'] = 63, ['/'] = 64
    };

    /* val[] is the digit + 1, so 0 means "not base64" */

    if (n == 0 || n % 4 != 0) {
        return -1;
    }

    pad = 0;

    if (p[n - 1] == '=') {
        pad = (p[n - 2] == '=') ? 2 : 1;
    }

    o = 0;
    acc = 0;

    for (i = 0; i < n - (size_t) pad; i++) {
        c = val[p[i]];

        if (c == 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) (c - 1);

        if (i % 4 == 3) {
            out[o++] = (uint8_t) (acc >> 16);
            out[o++] = (uint8_t) (acc >> 8);
            out[o++] = (uint8_t) acc;
            acc = 0;
        }
    }

    /* the bits that padding cuts off must be zero: one spelling per token */
    if (pad == 1) {
        if (acc & 0x3) {
            return -1;
        }
        out[o++] = (uint8_t) (acc >> 10);
        out[o++] = (uint8_t) (acc >> 2);

    } else if (pad == 2) {
        if (acc & 0xf) {
            return -1;
        }
        out[o++] = (uint8_t) (acc >> 4);
    }

    *outlen = o;

    return 0;
}


int
llo_tok_class(const char *prop, char *buf, size_t size)
{
    const llo_tok_class_t  *c;

    if (strcmp(prop, "White_Space") == 0) {
        return snprintf(buf, size, "%s", LLO_TOK_WS);
    }

    for (c = llo_tok_classes; c->prop != NULL; c++) {
        if (strcmp(prop, c->prop) == 0) {
            return snprintf(buf, size, "\\p{%s}%s", prop, c->add);
        }
    }

    return -1;
}


/*
 * tiktoken's pattern for PCRE2: \s and \p{..} become the classes of
 * llo_tok_class(), inside a class as they are, outside as one of their
 * own.  Nothing else changes.
 */
static int
llo_tok_compile(llo_tok_t *t, char *err, size_t errlen)
{
    int                     ec, in_class, neg, len;
    size_t                  i, o, n, eo, size, max;
    char                   *pat, prop[16];
    const char             *src, *close;
    PCRE2_UCHAR             msg[256];
    const llo_tok_class_t  *c;

    src = t->enc->pattern;
    n = strlen(src);

    max = sizeof(LLO_TOK_WS);

    for (c = llo_tok_classes; c->prop != NULL; c++) {
        if (strlen(c->add) + 16 > max) {
            max = strlen(c->add) + 16;
        }
    }

    size = n * (max + 4) + 1;
    pat = malloc(size);

    if (pat == NULL) {
        snprintf(err, errlen, "%s: out of memory", t->enc->name);
        return -1;
    }

    in_class = 0;
    o = 0;

    for (i = 0; i < n; i++) {
        prop[0] = '\0';
        neg = 0;

        if (src[i] == '\\' && (src[i + 1] == 's' || src[i + 1] == 'S')) {
            strcpy(prop, "White_Space");
            neg = (src[i + 1] == 'S');
            i++;

        } else if (src[i] == '\\' && src[i + 1] == 'p' && src[i + 2] == '{'
                   && (close = strchr(src + i, '}')) != NULL
                   && (size_t) (close - src) - i - 3 < sizeof(prop))
        {
            memcpy(prop, src + i + 3, (size_t) (close - src) - i - 3);
            prop[(size_t) (close - src) - i - 3] = '\0';
            i = (size_t) (close - src);

        } else if (src[i] == '\\' && i + 1 < n) {
            pat[o++] = src[i++];
            pat[o++] = src[i];
            continue;

        } else {
            if (src[i] == '[') {
                in_class = 1;
            } else if (src[i] == ']') {
                in_class = 0;
            }

            pat[o++] = src[i];
            continue;
        }

        if (in_class && neg) {
            /* no pattern has it; it would need a class difference */
            free(pat);
            snprintf(err, errlen, "%s: \\S inside a class", t->enc->name);
            return -1;
        }

        if (!in_class) {
            pat[o++] = '[';

            if (neg) {
                pat[o++] = '^';
            }
        }

        len = llo_tok_class(prop, pat + o, size - o);

        if (len < 0) {
            free(pat);
            snprintf(err, errlen, "%s: no class for \\p{%s}", t->enc->name,
                     prop);
            return -1;
        }

        o += (size_t) len;

        if (!in_class) {
            pat[o++] = ']';
        }
    }

    pat[o] = '\0';

    t->re = pcre2_compile((PCRE2_SPTR) pat, o,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                          &ec, &eo, NULL);
    free(pat);

    if (t->re == NULL) {
        pcre2_get_error_message(ec, msg, sizeof(msg));
        snprintf(err, errlen, "%s: split pattern: %s at offset %zu",
                 t->enc->name, (char *) msg, eo);
        return -1;
    }

    t->jit_ok = (pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0);
    t->jit = t->jit_ok;

    t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (t->md == NULL) {
        snprintf(err, errlen, "%s: out of memory", t->enc->name);
        return -1;
    }

    t->ovector = pcre2_get_ovector_pointer(t->md);

    /*
     * The default match limit (10 million steps) stops \s*[\r\n]+ from
     * giving back a run of 10 million spaces.  No alternative of these
     * patterns backtracks more than once over a run, so the work is linear
     * in the text without a limit.
     */
    t->mctx = pcre2_match_context_create(NULL);
    if (t->mctx == NULL) {
        snprintf(err, errlen, "%s: out of memory", t->enc->name);
        return -1;
    }

    pcre2_set_match_limit(t->mctx, UINT32_MAX);

    return 0;
}


static inline uint32_t
llo_tok_rank(const llo_tok_t *t, const uint8_t *p, size_t n)
{
    uint32_t  idx, r, tag;
    uint64_t  h, s;

    if (n > t->maxlen) {
        return LLO_TOK_NONE;
    }

    h = llo_tok_hash(p, n);
    tag = (uint32_t) (h >> 32);
    idx = (uint32_t) h & t->mask;

    for ( ;; ) {
        s = t->slot[idx];

        if (s == 0) {
            return LLO_TOK_NONE;
        }

        if ((uint32_t) (s >> 32) == tag) {
            r = (uint32_t) s - 1;

            if (t->off[r + 1] - t->off[r] == n
                && memcmp(t->arena + t->off[r], p, n) == 0)
            {
                return r;
            }
        }

        idx = (idx + 1) & t->mask;
    }
}


/*
 * The next piece of it->s: a match of the split pattern, or the bytes
 * before the next match (they are invalid UTF-8: every valid character
 * starts a match of both patterns).  Returns 0 at the end of the text.
 */
static int
llo_tok_next(llo_tok_t *t, llo_tok_iter_t *it, size_t *ps, size_t *pe)
{
    int         rc;
    size_t      ms, me;

    if (it->pos >= it->len) {
        return 0;
    }

    if (it->pending) {
        it->pending = 0;
        *ps = it->mstart;
        *pe = it->mend;
        it->pos = it->mend;
        return 1;
    }

    if (it->failed) {
        *ps = it->pos;
        *pe = it->len - it->pos > LLO_TOK_FALLBACK
              ? it->pos + LLO_TOK_FALLBACK : it->len;
        it->pos = *pe;
        return 1;
    }

    if (t->jit) {
        rc = pcre2_jit_match(t->re, it->s, it->len, it->pos, 0, t->md,
                             t->mctx);
    } else {
        rc = pcre2_match(t->re, it->s, it->len, it->pos, PCRE2_NO_JIT, t->md,
                         t->mctx);
    }

    if (rc == PCRE2_ERROR_NOMATCH) {
        *ps = it->pos;
        *pe = it->len;
        it->pos = it->len;
        return 1;
    }

    ms = t->ovector[0];
    me = t->ovector[1];

    if (rc < 0 || ms < it->pos || me <= ms || me > it->len) {
        /* no known input gets here: see llo_tok.h */
        t->inexact++;
        it->failed = 1;
        return llo_tok_next(t, it, ps, pe);
    }

    if (ms > it->pos) {
        it->pending = 1;
        it->mstart = ms;
        it->mend = me;
        *ps = it->pos;
        *pe = ms;
        it->pos = ms;
        return 1;
    }

    *ps = ms;
    *pe = me;
    it->pos = me;

    return 1;
}


static void
llo_tok_text(llo_tok_t *t, const uint8_t *s, size_t len, llo_tok_sink_t *k)
{
    size_t          ps, pe;
    llo_tok_iter_t  it;

    memset(&it, 0, sizeof(llo_tok_iter_t));
    it.s = s;
    it.len = len;

    while (llo_tok_next(t, &it, &ps, &pe)) {
        llo_tok_bpe(t, s + ps, pe - ps, k);
    }
}


static inline void
llo_tok_emit(llo_tok_sink_t *k, uint32_t id)
{
    size_t     cap;
    uint32_t  *ids;

    if (k->ids == NULL) {
        k->n++;
        return;
    }

    if (k->n == k->cap) {
        cap = k->cap * 2;
        ids = realloc(k->ids, cap * sizeof(uint32_t));

        if (ids == NULL) {
            k->oom = 1;
            return;
        }

        k->ids = ids;
        k->cap = cap;
    }

    k->ids[k->n++] = id;
}


static void
llo_tok_bpe(llo_tok_t *t, const uint8_t *p, size_t n, llo_tok_sink_t *k)
{
    size_t    c;
    uint32_t  r;

    if (n == 1) {
        llo_tok_emit(k, t->rank1[p[0]]);
        return;
    }

    /* a piece that is a token is that token, merged or not (tiktoken) */
    r = llo_tok_rank(t, p, n);

    if (r != LLO_TOK_NONE) {
        llo_tok_emit(k, r);
        return;
    }

    if (n <= t->small) {
        llo_tok_bpe_small(t, p, n, k);
        return;
    }

    if (n <= LLO_TOK_PIECE_MAX) {
        llo_tok_bpe_heap(t, p, n, k);
        return;
    }

    /* a piece over a megabyte (no traffic has one) is merged in slices:
     * the merge needs 24 bytes a byte, and a worker has better uses */
    t->inexact++;

    for (c = 0; c < n; c += LLO_TOK_PIECE_MAX) {
        llo_tok_bpe_heap(t, p + c, n - c < LLO_TOK_PIECE_MAX
                                   ? n - c : LLO_TOK_PIECE_MAX, k);
    }
}


static void
llo_tok_bpe_small(llo_tok_t *t, const uint8_t *p, size_t n,
    llo_tok_sink_t *k)
{
    size_t    m, i, best;
    uint32_t  min;
    uint32_t  start[LLO_TOK_SMALL + 1], rank[LLO_TOK_SMALL],
              tok[LLO_TOK_SMALL];

    /* part i is [start[i], start[i + 1]); rank[i] that of parts i, i + 1 */

    for (i = 0; i < n; i++) {
        start[i] = (uint32_t) i;
        tok[i] = t->rank1[p[i]];
    }

    start[n] = (uint32_t) n;

    for (i = 0; i + 1 < n; i++) {
        rank[i] = t->rank2[(uint32_t) p[i] << 8 | p[i + 1]];
    }

    rank[n - 1] = LLO_TOK_NONE;
    m = n;

    for ( ;; ) {
        min = LLO_TOK_NONE;
        best = 0;

        for (i = 0; i + 1 < m; i++) {
            if (rank[i] < min) {
                min = rank[i];
                best = i;
            }
        }

        if (min == LLO_TOK_NONE) {
            break;
        }

        i = best;
        tok[i] = min;

        memmove(&start[i + 1], &start[i + 2], (m - i - 1) * sizeof(uint32_t));
        memmove(&tok[i + 1], &tok[i + 2], (m - i - 2) * sizeof(uint32_t));
        memmove(&rank[i + 1], &rank[i + 2], (m - i - 2) * sizeof(uint32_t));
        m--;

        rank[i] = (i + 1 < m)
                  ? llo_tok_rank(t, p + start[i], start[i + 2] - start[i])
                  : LLO_TOK_NONE;

        if (i > 0) {
            rank[i - 1] = llo_tok_rank(t, p + start[i - 1],
                                       start[i + 1] - start[i - 1]);
        }
    }

    if (k->ids == NULL) {
        k->n += m;
        return;
    }

    for (i = 0; i < m; i++) {
        llo_tok_emit(k, tok[i]);
    }
}


/*
 * The heap of the long-piece merge: one key per part, the rank of the pair
 * it starts in the high half, its position in the low half, so keys order
 * pairs as tiktoken picks them and no two are equal.  hpos[part] is where
 * its key is.  Put key at i and restore the order; up = 0 only sifts down,
 * as building the heap needs (the entries above are not in order yet).
 */
static void
llo_tok_heap_set(uint64_t *heap, uint32_t *hpos, uint32_t hn, uint32_t i,
    uint64_t key, int up)
{
    uint32_t  c;
    uint64_t  y;

    while (up && i > 0) {
        y = heap[(i - 1) / 2];

        if (y < key) {
            break;
        }

        heap[i] = y;
        hpos[(uint32_t) y] = i;
        i = (i - 1) / 2;
    }

    for ( ;; ) {
        c = 2 * i + 1;

        if (c >= hn) {
            break;
        }

        if (c + 1 < hn && heap[c + 1] < heap[c]) {
            c++;
        }

        y = heap[c];

        if (y > key) {
            break;
        }

        heap[i] = y;
        hpos[(uint32_t) y] = i;
        i = c;
    }

    heap[i] = key;
    hpos[(uint32_t) key] = i;
}


static void
llo_tok_bpe_heap(llo_tok_t *t, const uint8_t *p, size_t n,
    llo_tok_sink_t *k)
{
    size_t     need, c;
    uint32_t   i, l, r, q, hn, j, rk;
    uint32_t  *nxt, *prv, *tok, *hpos, *mem;
    uint64_t  *heap;

    /* 24 bytes a byte: a piece is at most one text, and texts are ours */
    need = 6 * (n + 1);

    if (n >= UINT32_MAX / 2) {
        mem = NULL;

    } else if (t->scratch_n >= need) {
        mem = t->scratch;

    } else {
        free(t->scratch);
        t->scratch_n = 0;
        mem = t->scratch = malloc(need * sizeof(uint32_t));

        if (mem != NULL) {
            t->scratch_n = need;
        }
    }

    if (mem == NULL) {
        /* no memory: merge in bounded slices rather than fail */
        t->inexact++;

        for (c = 0; c < n; c += LLO_TOK_SMALL) {
            llo_tok_bpe(t, p + c, n - c < LLO_TOK_SMALL ? n - c
                                                        : LLO_TOK_SMALL, k);
        }
        return;
    }

    /* the u64 heap first: malloc'd memory is aligned for it */
    heap = (uint64_t *) mem;
    nxt = mem + 2 * (n + 1);
    prv = nxt + n + 1;
    tok = prv + n + 1;
    hpos = tok + n + 1;

    for (i = 0; i < n; i++) {
        nxt[i] = i + 1;
        prv[i] = i - 1;
        tok[i] = t->rank1[p[i]];
        rk = (i + 1 < n) ? t->rank2[(uint32_t) p[i] << 8 | p[i + 1]]
                         : LLO_TOK_NONE;
        heap[i] = (uint64_t) rk << 32 | i;
        hpos[i] = i;
    }

    hn = (uint32_t) n;

    for (i = hn / 2; i-- > 0; /* void */) {
        llo_tok_heap_set(heap, hpos, hn, i, heap[i], 0);
    }

    while ((uint32_t) (heap[0] >> 32) != LLO_TOK_NONE) {
        l = (uint32_t) heap[0];
        r = nxt[l];

        tok[l] = (uint32_t) (heap[0] >> 32);
        nxt[l] = nxt[r];

        if (nxt[l] < n) {
            prv[nxt[l]] = l;
        }

        /* r leaves the heap: the last key takes its place */
        j = hpos[r];

        if (j != --hn) {
            llo_tok_heap_set(heap, hpos, hn, j, heap[hn], 1);
        }

        rk = (nxt[l] < n) ? llo_tok_rank(t, p + l, nxt[nxt[l]] - l)
                          : LLO_TOK_NONE;
        llo_tok_heap_set(heap, hpos, hn, hpos[l], (uint64_t) rk << 32 | l, 1);

        if (l > 0) {
            q = prv[l];
            rk = llo_tok_rank(t, p + q, nxt[l] - q);
            llo_tok_heap_set(heap, hpos, hn, hpos[q],
                             (uint64_t) rk << 32 | q, 1);
        }
    }

    for (i = 0; i < n; i = nxt[i]) {
        llo_tok_emit(k, tok[i]);
    }

    if (t->scratch_n * sizeof(uint32_t) > LLO_TOK_SCRATCH_KEEP) {
        free(t->scratch);
        t->scratch = NULL;
        t->scratch_n = 0;
    }
}


uint64_t
llo_tok_count(llo_tok_t *t, const uint8_t *s, size_t len)
{
    llo_tok_sink_t  k;

    memset(&k, 0, sizeof(llo_tok_sink_t));

    llo_tok_text(t, s, len, &k);

    return k.n;
}


ssize_t
llo_tok_encode(llo_tok_t *t, const uint8_t *s, size_t len,
    int allow_special, uint32_t **ids)
{
    size_t                    i, pos, slen;
    const uint8_t            *c, *end;
    llo_tok_sink_t            k;
    const llo_tok_special_t  *sp;

    memset(&k, 0, sizeof(llo_tok_sink_t));

    /* about 4 bytes a token in English; the sink doubles if not */
    k.cap = len / 3 + 16;
    k.ids = malloc(k.cap * sizeof(uint32_t));

    if (k.ids == NULL) {
        *ids = NULL;
        return -1;
    }

    if (!allow_special) {
        llo_tok_text(t, s, len, &k);
        goto done;
    }

    /* the leftmost special token; no two of them start alike, so which
     * matches at one position does not depend on their order */
    pos = 0;
    end = s + len;
    c = s;

    while (c < end && (c = memchr(c, '<', (size_t) (end - c))) != NULL) {
        for (i = 0; i < t->enc->nspecial; i++) {
            sp = &t->enc->special[i];
            slen = strlen(sp->text);

            if ((size_t) (end - c) >= slen && memcmp(c, sp->text, slen) == 0) {
                break;
            }
        }

        if (i == t->enc->nspecial) {
            c++;
            continue;
        }

        llo_tok_text(t, s + pos, (size_t) (c - s) - pos, &k);
        llo_tok_emit(&k, sp->id);

        c += slen;
        pos = (size_t) (c - s);
    }

    llo_tok_text(t, s + pos, len - pos, &k);

done:

    if (k.oom) {
        free(k.ids);
        *ids = NULL;
        return -1;
    }

    *ids = k.ids;

    return (ssize_t) k.n;
}


int
llo_tok_decode(llo_tok_t *t, const uint32_t *ids, size_t n, uint8_t **out,
    size_t *outlen)
{
    size_t          i, j, total, len;
    uint8_t        *buf, *w;
    const uint8_t  *src;

    *out = NULL;
    *outlen = 0;
    total = 0;

    for (i = 0; i < n; i++) {
        if (ids[i] < t->ntokens) {
            total += t->off[ids[i] + 1] - t->off[ids[i]];
            continue;
        }

        for (j = 0; j < t->enc->nspecial; j++) {
            if (t->enc->special[j].id == ids[i]) {
                break;
            }
        }

        if (j == t->enc->nspecial) {
            return -1;
        }

        total += strlen(t->enc->special[j].text);
    }

    buf = malloc(total + 1);
    if (buf == NULL) {
        return -1;
    }

    w = buf;

    for (i = 0; i < n; i++) {
        if (ids[i] < t->ntokens) {
            src = t->arena + t->off[ids[i]];
            len = t->off[ids[i] + 1] - t->off[ids[i]];

        } else {
            for (j = 0; t->enc->special[j].id != ids[i]; j++) {
                /* void: the first pass found it */
            }

            src = (const uint8_t *) t->enc->special[j].text;
            len = strlen(t->enc->special[j].text);
        }

        memcpy(w, src, len);
        w += len;
    }

    *out = buf;
    *outlen = total;

    return 0;
}


/*
 * Streaming.
 *
 * Which pieces are final.  A match of the split pattern at position s of
 * a text depends only on the characters the matcher inspected from s; if
 * that never reached the end of the text, appending more text cannot
 * change it, and the next match starts at the same place (neither pattern
 * looks behind its start).  Only a match that looked at the end can
 * change.  For the alternatives of cl100k_base and o200k_base:
 *
 *   - greedy runs (\p{L}+, letter-case runs, [^\s\p{L}\p{N}]+, [\r\n]*,
 *     \s+) that reach the end make the match end there: the last piece;
 *   - \p{N}{1,3} stops after three digits without looking further;
 *   - \s*[\r\n]+ may eat a whitespace run up to the end and give back
 *     what follows its last newline: that piece ends before the end, but
 *     the rest of the run (no \r, no \n) is then one piece, the last, as
 *     no alternative but \s+(?!\S) matches it and that one takes it all:
 *     the piece with the newlines is second to last;
 *   - an alternative that fails after reading the end (\s*[\r\n]+ on a
 *     run without a newline; o200k's first one on upper-case letters up
 *     to the end) leaves the text to a later one that takes the run to
 *     the end: the last piece;
 *   - the bounded parts (the optional [^\r\n\p{L}\p{N}] before letters,
 *     the contractions, up to 3 characters) read the end only when it is
 *     that close; the piece then ends at most 2 characters before the end,
 *     and those ("'", "'r", "'l", a prefix that found no letter) are one
 *     piece, the last.
 *
 * So all pieces but the last two are final.  Bytes that PCRE2 sees as
 * invalid UTF-8 end a match just as the end of the text does, which is
 * right for bytes that are invalid whatever follows, but not for the first
 * bytes of a character still arriving: a tail that may be such a start
 * is kept out of the scan (holding back more than needed is always
 * right: the scan only ever sees a prefix of the text).  A gap of invalid
 * bytes is a piece like any other: in the middle it ends where a valid
 * character starts; at the end it is the last piece.
 *
 * test_tok.c checks this for every corpus entry split at every byte, for
 * every string of up to four symbols of an alphabet with each class the
 * patterns tell apart split at every byte, and with random cuts; keeping
 * only the last piece fails all three.
 */

llo_tok_stream_t *
llo_tok_stream_create(llo_tok_t *t, size_t hold)
{
    llo_tok_stream_t  *s;

    s = calloc(1, sizeof(llo_tok_stream_t));
    if (s == NULL) {
        return NULL;
    }

    s->tok = t;
    s->hold = hold;
    s->cap = LLO_TOK_STREAM_CAP;

    return s;
}


void
llo_tok_stream_set_cap(llo_tok_stream_t *s, size_t cap)
{
    s->cap = cap;
}


void
llo_tok_stream_feed(llo_tok_stream_t *s, const uint8_t *p, size_t n)
{
    size_t    size;
    uint8_t  *buf;

    if (s->finished) {
        s->finished = 0;
        s->inexact = 0;
    }

    if (n == 0) {
        return;
    }

    if (s->len + n > s->size) {
        size = s->size ? s->size : 256;

        while (size < s->len + n) {
            size *= 2;
        }

        buf = realloc(s->buf, size);

        if (buf == NULL) {
            /* count what is held and the new bytes as texts of their own */
            s->count += llo_tok_count(s->tok, s->buf, s->len)
                        + llo_tok_count(s->tok, p, n);
            s->len = 0;
            s->kept = 0;
            s->inexact = 1;
            return;
        }

        s->buf = buf;
        s->size = size;
    }

    memcpy(s->buf + s->len, p, n);
    s->len += n;

    /* doubling since the last scan keeps a long piece from being scanned
     * again for every byte added to it */
    if (s->len > s->hold && s->len >= 2 * s->kept) {
        llo_tok_stream_scan(s);
    }
}


static void
llo_tok_stream_scan(llo_tok_stream_t *s)
{
    size_t          end, ps, pe, from, keep, tail;
    size_t          q0s, q0e, q1s, q1e, nq;
    llo_tok_iter_t  it;
    llo_tok_sink_t  k;

    tail = llo_tok_utf8_tail(s->buf, s->len);
    end = s->len - tail;

    memset(&it, 0, sizeof(llo_tok_iter_t));
    it.s = s->buf;
    it.len = end;

    memset(&k, 0, sizeof(llo_tok_sink_t));

    /* the last two pieces wait in q0, q1; an older one is final */
    nq = 0;
    q0s = q0e = q1s = q1e = 0;

    while (llo_tok_next(s->tok, &it, &ps, &pe)) {
        if (nq == 2) {
            llo_tok_bpe(s->tok, s->buf + q0s, q0e - q0s, &k);
            q0s = q1s;
            q0e = q1e;
            q1s = ps;
            q1e = pe;
            continue;
        }

        if (nq == 0) {
            q0s = ps;
            q0e = pe;
        } else {
            q1s = ps;
            q1e = pe;
        }

        nq++;
    }

    from = (nq > 0) ? q0s : end;
    s->count += k.n;

    keep = s->len - from;

    if (keep - tail > s->cap) {
        /* a piece too long to wait for: counted as if the text ended */
        s->count += llo_tok_count(s->tok, s->buf + from, keep - tail);
        from = end;
        keep = tail;
        s->inexact = 1;
    }

    memmove(s->buf, s->buf + from, keep);
    s->len = keep;
    s->kept = keep;
}


/*
 * The length of a tail that may be the start of a character still
 * arriving: a lead byte with fewer continuation bytes than it announces.
 */
static size_t
llo_tok_utf8_tail(const uint8_t *p, size_t n)
{
    size_t   i, need;
    uint8_t  c;

    for (i = 1; i <= 4 && i <= n; i++) {
        c = p[n - i];

        if ((c & 0xc0) == 0x80) {
            continue;
        }

        if (c < 0xc2 || c > 0xf4) {
            return 0;
        }

        need = (c < 0xe0) ? 2 : (c < 0xf0) ? 3 : 4;

        return (i < need) ? i : 0;
    }

    return 0;
}


uint64_t
llo_tok_stream_finish(llo_tok_stream_t *s)
{
    uint64_t  n;

    n = s->count + llo_tok_count(s->tok, s->buf, s->len);

    s->count = 0;
    s->len = 0;
    s->kept = 0;
    s->finished = 1;

    return n;
}


void
llo_tok_stream_destroy(llo_tok_stream_t *s)
{
    if (s == NULL) {
        return;
    }

    free(s->buf);
    free(s);
}


int
llo_tok_stream_inexact(const llo_tok_stream_t *s)
{
    return s->inexact;
}


size_t
llo_tok_stream_held(const llo_tok_stream_t *s)
{
    return s->len;
}
