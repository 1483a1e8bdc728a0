/*
 * llm-observer rules cache: see llo_rules_cache.h.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "llo_rules_cache.h"


static int llo_rules_cache_digest(llo_rules_cache_t *cache,
    const llo_rules_call_t *call, int answered, unsigned char *key);


llo_rules_cache_t *
llo_rules_cache_new(size_t n)
{
    size_t              size;
    llo_rules_cache_t  *cache;

    for (size = 1; size < n && size < ((size_t) 1 << 30); size <<= 1) {
        /* void */
    }

    cache = calloc(1, sizeof(llo_rules_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cache->slots = calloc(size, sizeof(llo_rules_entry_t));
    cache->md = EVP_MD_CTX_new();

    if (cache->slots == NULL || cache->md == NULL) {
        llo_rules_cache_free(cache);
        return NULL;
    }

    cache->mask = size - 1;

    return cache;
}


void
llo_rules_cache_free(llo_rules_cache_t *cache)
{
    if (cache == NULL) {
        return;
    }

    EVP_MD_CTX_free(cache->md);
    free(cache->slots);
    free(cache);
}


llo_rules_entry_t *
llo_rules_cache_get(llo_rules_cache_t *cache, const llo_rules_t *rules,
    const llo_rules_call_t *call, int answered)
{
    uint64_t            slot;
    const char         *version;
    unsigned char       key[16];
    llo_rules_entry_t  *e;

    version = llo_rules_version(rules);

    if (strcmp(cache->version, version) != 0) {
        memset(cache->slots, 0,
               (cache->mask + 1) * sizeof(llo_rules_entry_t));
        memcpy(cache->version, version, sizeof(cache->version));
        cache->version[sizeof(cache->version) - 1] = '\0';
    }

    if (llo_rules_cache_digest(cache, call, answered, key) != 0) {
        return NULL;
    }

    memcpy(&slot, key, sizeof(uint64_t));
    e = &cache->slots[slot & cache->mask];

    if (e->used && memcmp(e->key, key, sizeof(e->key)) == 0) {
        cache->hits++;
        return e;
    }

    cache->misses++;

    memset(e, 0, sizeof(llo_rules_entry_t));
    memcpy(e->key, key, sizeof(e->key));
    e->used = 1;

    return e;
}


/*
 * Each text is preceded by its length, so that no two different calls
 * feed the digest the same bytes ("ab" + "c" against "a" + "bc").
 */

static int
llo_rules_cache_digest(llo_rules_cache_t *cache,
    const llo_rules_call_t *call, int answered, unsigned char *key)
{
    size_t                   i;
    uint64_t                 len;
    unsigned int             n;
    unsigned char            a, md[EVP_MAX_MD_SIZE];
    const llo_rules_str_t   *s[3];

    s[0] = &call->prompt;
    s[1] = &call->response;
    s[2] = &call->response_format;

    a = (unsigned char) (answered != 0);

    if (EVP_DigestInit_ex(cache->md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(cache->md, &a, 1) != 1)
    {
        return -1;
    }

    for (i = 0; i < 3; i++) {
        len = s[i]->len;

        if (EVP_DigestUpdate(cache->md, &len, sizeof(uint64_t)) != 1
            || (len > 0
                && EVP_DigestUpdate(cache->md, s[i]->data, len) != 1))
        {
            return -1;
        }
    }

    if (EVP_DigestFinal_ex(cache->md, md, &n) != 1 || n < 16) {
        return -1;
    }

    memcpy(key, md, 16);

    return 0;
}
