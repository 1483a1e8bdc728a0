/*
 * llm-observer rules cache: what the rules that read only a call's text
 * found in it, kept by a digest of that text, so identical prompt and
 * response pairs (retries, canned prompts, health checks) are read once.
 *
 * The key is SHA-256 over everything those rules look at: the prompt,
 * the response, the output format asked for, and whether the call was
 * answered (the rules that judge an answer do not fire on an error).  A
 * cryptographic digest, not a fast hash: a response made to collide with
 * a clean one would otherwise inherit its clean verdict.
 *
 * The table is direct-mapped (a slot per digest's low bits, the newer
 * entry wins), so its memory is fixed: 96 bytes a slot.  An entry holds,
 * per rule of the rule set, whether it was read (known) and whether it
 * fired; a rule not yet read for that text (another rule's filter
 * matched the earlier call) is read and added.  The entries belong to
 * one rule set: a new version empties the table.
 */

#ifndef _LLO_RULES_CACHE_H_INCLUDED_
#define _LLO_RULES_CACHE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "llo_rules.h"


typedef struct {
    unsigned char       key[16];
    uint64_t            known[LLO_RULES_MAX / 64];
    uint64_t            fired[LLO_RULES_MAX / 64];
    unsigned            used:1;
} llo_rules_entry_t;


struct llo_rules_cache_s {
    llo_rules_entry_t  *slots;
    size_t              mask;           /* slots - 1, a power of 2 less 1 */
    char                version[17];    /* whose entries they are */
    void               *md;             /* EVP_MD_CTX, made once */

    uint64_t            hits;           /* calls whose text was known */
    uint64_t            misses;
};


/* a cache of at least n slots (rounded up to a power of 2); NULL: memory */
llo_rules_cache_t *llo_rules_cache_new(size_t n);
void llo_rules_cache_free(llo_rules_cache_t *cache);

/*
 * The entry for call's text under rules' version: the one there (a hit),
 * or that slot emptied for it (a miss).  NULL when the digest could not
 * be made: score without the cache.
 */
llo_rules_entry_t *llo_rules_cache_get(llo_rules_cache_t *cache,
    const llo_rules_t *rules, const llo_rules_call_t *call, int answered);


#endif /* _LLO_RULES_CACHE_H_INCLUDED_ */
