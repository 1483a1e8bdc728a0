/*
 * llm-evaluator keygen --name NAME [team=..] [models=..] [rpm=N] [tpm=N]
 *                      [tpd=N] [budget=<usd>/day|/month] [expires=..]
 *
 * Prints a new key (256 bits from OpenSSL's RAND_bytes, base64url, with
 * an "llo-" prefix so it is recognisable in a leak scan) once, and the
 * llm_observer_key line that admits it: only the SHA-256 digest of the
 * key goes into nginx conf.  The limits are checked by the same parser
 * nginx uses, so the line printed always passes "nginx -t".
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "llo_keys.h"
#include "llo_eval_keygen.h"


#define LLO_KEYGEN_BYTES        32
#define LLO_KEYGEN_ARGS         16




int
llo_keygen(int argc, char **argv)
{
    int         i, n, b64, plain;
    char       *args[LLO_KEYGEN_ARGS + 2], digest[7 + 64 + 1], name[80];
    char        key[4 + 44 + 1], err[512];
    size_t      lens[LLO_KEYGEN_ARGS + 2];
    uint8_t     raw[LLO_KEYGEN_BYTES], d[32];
    llo_key_t  *k;
    static const char  hex[] = "0123456789abcdef";

    n = 1;
    name[0] = '\0';

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            snprintf(name, sizeof(name), "name=%s", argv[++i]);
            continue;
        }

        if (argv[i][0] == '-' || strchr(argv[i], '=') == NULL
            || strncmp(argv[i], "name=", 5) == 0)
        {
            fprintf(stderr, "llm-evaluator: keygen: unexpected argument "
                    "\"%s\"\nusage: llm-evaluator keygen --name NAME "
                    "[team=T] [models=M,..] [rpm=N] [tpm=N] [tpd=N] "
                    "[budget=USD/day|/month] [expires=YYYY-MM-DD]\n",
                    argv[i]);
            return 1;
        }

        if (n == LLO_KEYGEN_ARGS) {
            fprintf(stderr, "llm-evaluator: keygen: too many arguments\n");
            return 1;
        }

        args[++n] = argv[i];
    }

    if (name[0] == '\0') {
        fprintf(stderr, "llm-evaluator: keygen: --name NAME is required\n");
        return 1;
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        fprintf(stderr, "llm-evaluator: keygen: RAND_bytes() failed\n");
        return 1;
    }

    /* base64url without padding (RFC 4648): 43 characters, safe in a
     * header, a URL and a shell */

    memcpy(key, "llo-", 4);
    b64 = EVP_EncodeBlock((uint8_t *) key + 4, raw, sizeof(raw));

    while (b64 > 0 && key[4 + b64 - 1] == '=') {
        b64--;
    }

    key[4 + b64] = '\0';

    for (i = 4; key[i]; i++) {
        key[i] = key[i] == '+' ? '-' : key[i] == '/' ? '_' : key[i];
    }

    if (llo_key_digest((uint8_t *) key, strlen(key), d) != 0) {
        fprintf(stderr, "llm-evaluator: keygen: SHA-256 failed\n");
        return 1;
    }

    memcpy(digest, "sha256:", 7);

    for (i = 0; i < 32; i++) {
        digest[7 + 2 * i] = hex[d[i] >> 4];
        digest[7 + 2 * i + 1] = hex[d[i] & 0xf];
    }

    digest[7 + 64] = '\0';

    args[0] = digest;
    args[1] = name;

    for (i = 0; i <= n; i++) {
        lens[i] = strlen(args[i]);
    }

    k = malloc(sizeof(llo_key_t));
    if (k == NULL) {
        fprintf(stderr, "llm-evaluator: keygen: out of memory\n");
        return 1;
    }

    if (llo_key_parse(k, args, lens, n + 1, &plain, err, sizeof(err)) != 0) {
        fprintf(stderr, "llm-evaluator: keygen: %s\n", err);
        free(k);
        return 1;
    }

    free(k);

    /* the key once, on its own line, then the conf line */

    printf("%s\n", key);
    printf("llm_observer_key");

    for (i = 0; i <= n; i++) {
        printf(" %s", args[i]);
    }

    printf(";\n");

    fprintf(stderr, "llm-evaluator: keygen: the first line is the key; it "
            "is shown only now and stored nowhere.  Add the second line to "
            "the nginx keys file.\n");

    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(key, sizeof(key));

    return 0;
}
