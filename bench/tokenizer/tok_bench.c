/*
 * llo_tok's side of 'make bench-tokenizer' (bench/tokenizer/bench.js):
 * tokenizes the documents of a corpus file (NUL-separated) again and
 * again for at least min_sec seconds per mode and prints one JSON line.
 *
 *   usage: tok_bench <encoding> <rank file> <corpus> [min_sec]
 *
 * Modes: count (llo_tok_count), encode (llo_tok_encode, ordinary), stream
 * (llo_tok_stream_* fed in 20-byte deltas with hold 0, the worst case of
 * an SSE response counted as it arrives).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llo_tok.h"


#define TB_DELTA  20


typedef struct {
    const uint8_t      *p;
    size_t              len;
} tb_doc_t;


static double
tb_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static uint64_t
tb_pass(llo_tok_t *t, llo_tok_stream_t *st, int mode, const tb_doc_t *docs,
    size_t ndocs)
{
    size_t     i, off, n;
    ssize_t    k;
    uint32_t  *ids;
    uint64_t   total;

    total = 0;

    for (i = 0; i < ndocs; i++) {
        switch (mode) {

        case 0:
            total += llo_tok_count(t, docs[i].p, docs[i].len);
            break;

        case 1:
            k = llo_tok_encode(t, docs[i].p, docs[i].len, 0, &ids);
            if (k < 0) {
                fprintf(stderr, "tok_bench: out of memory\n");
                exit(1);
            }
            total += (uint64_t) k;
            free(ids);
            break;

        default:
            for (off = 0; off < docs[i].len; off += n) {
                n = docs[i].len - off < TB_DELTA ? docs[i].len - off
                                                 : TB_DELTA;
                llo_tok_stream_feed(st, docs[i].p + off, n);
            }
            total += llo_tok_stream_finish(st);
            break;
        }
    }

    return total;
}


int
main(int argc, char **argv)
{
    int                mode;
    char               err[512];
    FILE              *f;
    long               size;
    size_t             ndocs, cap, i, start, bytes;
    double             min_sec, t0, t1, load;
    uint8_t           *buf;
    uint64_t           tokens, passes;
    tb_doc_t          *docs;
    llo_tok_t         *t;
    llo_tok_stream_t  *st;

    static const char  *modes[] = { "count", "encode", "stream" };

    if (argc < 4) {
        fprintf(stderr, "usage: tok_bench <encoding> <rank file> <corpus> "
                "[min_sec]\n");
        return 1;
    }

    min_sec = argc > 4 ? atof(argv[4]) : 2.0;

    t0 = tb_now();
    t = llo_tok_load(argv[1], argv[2], err, sizeof(err));
    load = tb_now() - t0;

    if (t == NULL) {
        fprintf(stderr, "tok_bench: %s\n", err);
        return 1;
    }

    f = fopen(argv[3], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(argv[3]);
        return 1;
    }

    buf = malloc((size_t) size + 1);
    if (buf == NULL || fread(buf, 1, (size_t) size, f) != (size_t) size) {
        perror(argv[3]);
        return 1;
    }

    fclose(f);
    buf[size] = '\0';

    cap = 1024;
    docs = malloc(cap * sizeof(tb_doc_t));
    ndocs = 0;
    bytes = 0;

    for (start = 0, i = 0; i <= (size_t) size; i++) {
        if (i < (size_t) size && buf[i] != '\0') {
            continue;
        }

        if (ndocs == cap) {
            cap *= 2;
            docs = realloc(docs, cap * sizeof(tb_doc_t));
        }

        docs[ndocs].p = buf + start;
        docs[ndocs].len = i - start;
        bytes += i - start;
        ndocs++;
        start = i + 1;
    }

    st = llo_tok_stream_create(t, 0);

    printf("{\"encoding\": \"%s\", \"jit\": %d, \"load_ms\": %.1f, "
           "\"docs\": %zu, \"bytes\": %zu", argv[1], llo_tok_jit(t),
           load * 1e3, ndocs, bytes);

    for (mode = 0; mode < 3; mode++) {
        (void) tb_pass(t, st, mode, docs, ndocs);     /* warm up */

        passes = 0;
        tokens = 0;
        t0 = tb_now();

        do {
            tokens = tb_pass(t, st, mode, docs, ndocs);
            passes++;
            t1 = tb_now();
        } while (t1 - t0 < min_sec);

        printf(", \"%s\": {\"tokens\": %llu, \"passes\": %llu, "
               "\"sec\": %.6f}", modes[mode], (unsigned long long) tokens,
               (unsigned long long) passes, t1 - t0);
    }

    printf("}\n");

    llo_tok_stream_destroy(st);
    llo_tok_free(t);
    free(docs);
    free(buf);

    return 0;
}
