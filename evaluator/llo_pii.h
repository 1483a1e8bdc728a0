/*
 * llm-observer PII and secret detectors.  Plain C and PCRE2, no nginx or
 * libpq types: the rules' pii_leak asks whether a text holds any.
 *
 * A detector is a pattern (PCRE2, UTF, compiled once with JIT) and, where
 * a pattern alone would be wrong too often, a check of what it matched:
 * card numbers pass Luhn, IBANs their mod-97 check digits, phone numbers
 * have 9 to 15 digits and are not dates or IPv4 addresses.  Every pattern
 * matches ASCII only, so a match's bounds are character boundaries.
 * Invalid UTF-8 in a text is no error: it just matches nothing.
 *
 * Threads: the patterns are compiled once for the process; each thread
 * that scans keeps one small match data of its own.
 */

#ifndef _LLO_PII_H_INCLUDED_
#define _LLO_PII_H_INCLUDED_


#include <stddef.h>


/* the detectors; bit k of a mask chooses detector k */

typedef enum {
    LLO_PII_EMAIL = 0,
    LLO_PII_PHONE,
    LLO_PII_CARD,
    LLO_PII_IBAN,
    LLO_PII_SECRET,             /* API keys of known shapes */
    LLO_PII_JWT,
    LLO_PII_PRIVATE_KEY,        /* a PEM private key's header */
    LLO_PII_N
} llo_pii_kind_e;

#define LLO_PII_ALL             ((1u << LLO_PII_N) - 1)

/* personal data, and what opens a system */
#define LLO_PII_PERSONAL        ((1u << LLO_PII_EMAIL) | (1u << LLO_PII_PHONE) \
                                 | (1u << LLO_PII_CARD)                       \
                                 | (1u << LLO_PII_IBAN))
#define LLO_PII_SECRETS         ((1u << LLO_PII_SECRET) | (1u << LLO_PII_JWT) \
                                 | (1u << LLO_PII_PRIVATE_KEY))


/* "email", "phone", ...: the detector's name in rules files; NULL out of
 * range */
const char *llo_pii_name(int kind);

/* the detector of a name, -1 for none */
int llo_pii_kind(const char *name);

/* compile the patterns (once per process); 0, or -1 when out of memory */
int llo_pii_init(void);

/*
 * The first match of detector kind in s[0..len) that starts at from or
 * later and that its check accepts: 1 with its bytes [*start, *end), 0
 * for none, -1 when the patterns cannot be compiled or out of memory.  A
 * match the check refuses is skipped whole, as the scan below does.
 */
int llo_pii_next(int kind, const char *s, size_t len, size_t from,
    size_t *start, size_t *end);

/*
 * Called for each match: the detector and its bytes [start, end); nonzero
 * stops the scan.
 */
typedef int (*llo_pii_match_pt)(void *data, int kind, size_t start,
    size_t end);

/*
 * Every match of the detectors of mask in s[0..len): detector by detector
 * in the order above, each one's matches in the text's order (not sorted
 * across detectors, and they may overlap).  0 when the scan ran to the
 * end, 1 when cb stopped it, -1 as llo_pii_next().
 */
int llo_pii_scan(const char *s, size_t len, unsigned mask,
    llo_pii_match_pt cb, void *data);


#endif /* _LLO_PII_H_INCLUDED_ */
