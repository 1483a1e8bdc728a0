/*
 * llm-observer PII and secret detectors, and a redactor made of them.
 * Plain C and PCRE2, no nginx or libpq types: the rules' pii_leak asks
 * whether a text holds any, the redactor replaces each with a marker.
 *
 * A detector is a pattern (PCRE2, UTF, compiled once with JIT) and, where
 * a pattern alone would be wrong too often, a check of what it matched:
 * card numbers pass Luhn, IBANs their mod-97 check digits, phone numbers
 * have 9 to 15 digits and are not dates or IPv4 addresses.  Every pattern
 * matches ASCII only, so a match's bounds are character boundaries and a
 * marker in its place keeps valid UTF-8 valid.  Invalid UTF-8 in a text
 * is no error: it just matches nothing.
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
    LLO_PII_PRIVATE_KEY,        /* a PEM private key, header to END */
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


/* -- the redactor ---------------------------------------------------------- */


typedef enum {
    LLO_REDACT_OFF = 0,         /* the text as it is */
    LLO_REDACT_PII,             /* email, phone, card, iban */
    LLO_REDACT_SECRETS,         /* secret, jwt, private_key */
    LLO_REDACT_ALL              /* both */
} llo_redact_mode_e;


/* what one llo_redact() replaced: markers written, per detector */

typedef struct {
    unsigned            n[LLO_PII_N];
    unsigned            total;
} llo_redact_count_t;


/* "off", "pii", "secrets", "all" (the evaluator's config): the mode, or
 * -1 for another word */
int llo_redact_mode(const char *word);

/* the name of a mode, NULL out of range */
const char *llo_redact_mode_name(int mode);

/* the bytes llo_redact() may write for len bytes of input */
size_t llo_redact_bound(size_t len);

/*
 * in[0..len) into out (llo_redact_bound(len) bytes), *out_len set, with
 * each match of the mode's detectors replaced by its marker: [EMAIL],
 * [PHONE], [CARD], [IBAN], [SECRET], [JWT], [PRIVATE_KEY].  Matches that
 * overlap are one marker over all their bytes, named after the one that
 * starts first (the longest of those, then the first detector); matches
 * that only touch stay two.  changed (may be NULL) counts the markers.
 *
 * 0, or -1 when the patterns cannot be compiled or memory ran out: then
 * out holds nothing the caller may store (it must not keep the text
 * unredacted).
 */
int llo_redact(int mode, const char *in, size_t len, char *out,
    size_t *out_len, llo_redact_count_t *changed);


#endif /* _LLO_PII_H_INCLUDED_ */
