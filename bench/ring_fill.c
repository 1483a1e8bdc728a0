/*
 * ring_fill: append N realistic call records to a ring, as nginx would,
 * for the evaluator ingest benchmark (bench/ingest.sh).
 *
 *   ring_fill <ring path> <size> <records> [text bytes]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llo_ring.h"
#include "llo_record.h"


int
main(int argc, char **argv)
{
    char       err[256], text[8192], rid[33];
    size_t     n, tlen, i;
    uint8_t    buf[32768];
    uint64_t   size, count;
    int64_t    now;
    llo_rec_t  rec;
    llo_ring_t ring;

    if (argc < 4 || llo_parse_size(argv[2], strlen(argv[2]), &size) != 0) {
        fprintf(stderr, "usage: ring_fill <ring> <size> <records> "
                "[text bytes]\n");
        return 2;
    }

    count = strtoull(argv[3], NULL, 10);
    tlen = argc > 4 ? strtoul(argv[4], NULL, 10) : 200;

    if (tlen >= sizeof(text)) {
        tlen = sizeof(text) - 1;
    }

    for (i = 0; i < tlen; i++) {
        text[i] = "the sea keeps its own time "[i % 27];
    }

    if (llo_ring_open(&ring, argv[1], size, 1, 0660, (uid_t) -1, (gid_t) -1,
                      err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "ring_fill: %s\n", err);
        return 1;
    }

    now = (int64_t) time(NULL) * 1000000;

    for (i = 0; i < count; i++) {
        memset(&rec, 0, sizeof(rec));
        snprintf(rid, sizeof(rid), "%032zx", i);

        llo_rec_num(&rec, LLO_N_KIND, LLO_KIND_CALL);
        llo_rec_num(&rec, LLO_N_TS_US, now + (int64_t) i);
        llo_rec_num(&rec, LLO_N_STREAM, (int64_t) (i & 1));
        llo_rec_num(&rec, LLO_N_STATUS, 200);
        llo_rec_num(&rec, LLO_N_UPSTREAM_STATUS, 200);
        llo_rec_num(&rec, LLO_N_PROMPT_TOKENS, 19);
        llo_rec_num(&rec, LLO_N_COMPLETION_TOKENS, 131);
        llo_rec_num(&rec, LLO_N_TOTAL_TOKENS, 150);
        llo_rec_num(&rec, LLO_N_CACHED_TOKENS, 0);
        llo_rec_num(&rec, LLO_N_REASONING_TOKENS, 0);
        llo_rec_num(&rec, LLO_N_LATENCY_US, 812345);
        llo_rec_num(&rec, LLO_N_TTFT_US, 123456);
        llo_rec_num(&rec, LLO_N_BYTES_IN, 410);
        llo_rec_num(&rec, LLO_N_BYTES_OUT, 1230);
        llo_rec_num(&rec, LLO_N_FLAGS, 0);
        llo_rec_str(&rec, LLO_S_REQUEST_ID, rid, 32);
        llo_rec_str(&rec, LLO_S_PROVIDER, "openai", 6);
        llo_rec_str(&rec, LLO_S_ENDPOINT, "/v1/chat/completions", 20);
        llo_rec_str(&rec, LLO_S_REQUEST_MODEL, "gpt-4o-mini", 11);
        llo_rec_str(&rec, LLO_S_RESPONSE_MODEL, "gpt-4o-mini-2024-07-18",
                    22);
        llo_rec_str(&rec, LLO_S_FINISH_REASON, "stop", 4);
        llo_rec_str(&rec, LLO_S_TOKEN_SOURCE, "provider", 8);
        llo_rec_str(&rec, LLO_S_CLIENT_ADDR, "127.0.0.1", 9);
        llo_rec_str(&rec, LLO_S_HOST, "llm.example.com", 15);
        llo_rec_str(&rec, LLO_S_RESPONSE_ID,
                    "chatcmpl-bench000000000000000000001", 35);
        /* every answer its own: the rules cache must read each one */
        if (tlen >= 16) {
            snprintf(rid + 20, 13, "%012zu", i);
            memcpy(text, rid + 20, 12);
        }

        llo_rec_str(&rec, LLO_S_PROMPT_TEXT, text, tlen / 4);
        llo_rec_str(&rec, LLO_S_RESPONSE_TEXT, text, tlen);

        n = llo_rec_encode(&rec, buf);

        if (llo_ring_append(&ring, buf, n) == 0) {
            fprintf(stderr, "ring_fill: ring full after %zu records\n", i);
            return 1;
        }
    }

    printf("ring_fill: %llu records of %zu bytes\n",
           (unsigned long long) count, n);

    llo_ring_close(&ring);

    return 0;
}
