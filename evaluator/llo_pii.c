/*
 * llm-observer PII and secret detectors, and the redactor: see llo_pii.h.
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pthread.h>
#include <string.h>

#include <pcre2.h>

#include "llo_pii.h"


typedef int (*llo_pii_check_pt)(const char *s, size_t len);

static int llo_pii_phone(const char *s, size_t len);
static int llo_pii_luhn(const char *s, size_t len);
static int llo_pii_iban(const char *s, size_t len);
static void llo_pii_compile(void);
static pcre2_match_data *llo_pii_md(void);


/*
 * The detectors, in llo_pii_kind_e order.  A private key's match runs
 * from its header to its END line, or, without one (a text cut short),
 * over the key's base64 and header lines that follow: a marker over the
 * header alone would leave the key in the text.
 */

static struct {
    const char         *name;
    const char         *marker;
    const char         *pattern;
    llo_pii_check_pt    check;
    pcre2_code         *re;
} llo_pii[LLO_PII_N] = {
    { "email", "[EMAIL]",
      "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}",
      NULL, NULL },
    { "phone", "[PHONE]",
      "(?<![\\w+])\\+?\\(?\\d[\\d ().-]{7,18}\\d(?![\\w])", llo_pii_phone,
      NULL },
    { "card", "[CARD]", "(?<!\\d)\\d(?:[ -]?\\d){12,18}(?!\\d)",
      llo_pii_luhn, NULL },
    { "iban", "[IBAN]", "\\b[A-Z]{2}\\d{2}(?: ?[A-Z0-9]){11,30}\\b",
      llo_pii_iban, NULL },
    { "secret", "[SECRET]",
      "\\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}"
      "|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}"
      "|xox[abprs]-[A-Za-z0-9-]{10,}|llo-[A-Za-z0-9_-]{43})", NULL, NULL },
    { "jwt", "[JWT]",
      "\\beyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{10,}",
      NULL, NULL },
    { "private_key", "[PRIVATE_KEY]",
      "-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
      "(?:[\\s\\S]*?-----END [A-Z ]*PRIVATE KEY-----"
      "|[A-Za-z0-9+/=\\s:,-]*)", NULL, NULL }
};


static pthread_once_t     llo_pii_once = PTHREAD_ONCE_INIT;
static int                llo_pii_ready;   /* 1 compiled, -1 failed */

/*
 * One pair of offsets is all a detector asks of a match: one match data
 * per thread, made on its first scan, serves every call; freed when the
 * thread ends, since the drain scores on a thread of each batch's, and a
 * match data per batch must not pile up (valgrind found them).
 */
static pthread_key_t   llo_pii_key;
static pthread_once_t  llo_pii_key_once = PTHREAD_ONCE_INIT;
static int             llo_pii_key_ok;


static const char  *llo_redact_modes[] = { "off", "pii", "secrets", "all" };

static const unsigned  llo_redact_masks[] = {
    0, LLO_PII_PERSONAL, LLO_PII_SECRETS, LLO_PII_ALL
};


const char *
llo_pii_name(int kind)
{
    return kind >= 0 && kind < LLO_PII_N ? llo_pii[kind].name : NULL;
}


int
llo_pii_kind(const char *name)
{
    int  k;

    for (k = 0; k < LLO_PII_N; k++) {
        if (strcmp(llo_pii[k].name, name) == 0) {
            return k;
        }
    }

    return -1;
}


int
llo_pii_init(void)
{
    (void) pthread_once(&llo_pii_once, llo_pii_compile);

    return llo_pii_ready == 1 ? 0 : -1;
}


static void
llo_pii_compile(void)
{
    int          k, rc;
    PCRE2_SIZE   off;

    for (k = 0; k < LLO_PII_N; k++) {
        llo_pii[k].re = pcre2_compile((PCRE2_SPTR) llo_pii[k].pattern,
                                      PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                      &rc, &off, NULL);
        if (llo_pii[k].re == NULL) {
            llo_pii_ready = -1;
            return;
        }

        /* without JIT (none on this CPU) the patterns still work */
        (void) pcre2_jit_compile(llo_pii[k].re, PCRE2_JIT_COMPLETE);
    }

    llo_pii_ready = 1;
}


static void
llo_pii_md_free(void *md)
{
    pcre2_match_data_free(md);
}


static void
llo_pii_key_make(void)
{
    llo_pii_key_ok = pthread_key_create(&llo_pii_key, llo_pii_md_free) == 0;
}


static pcre2_match_data *
llo_pii_md(void)
{
    pcre2_match_data  *md;

    (void) pthread_once(&llo_pii_key_once, llo_pii_key_make);

    if (!llo_pii_key_ok) {
        return NULL;
    }

    md = pthread_getspecific(llo_pii_key);

    if (md == NULL) {
        md = pcre2_match_data_create(1, NULL);

        if (md != NULL && pthread_setspecific(llo_pii_key, md) != 0) {
            pcre2_match_data_free(md);
            md = NULL;
        }
    }

    return md;
}


int
llo_pii_next(int kind, const char *s, size_t len, size_t from,
    size_t *start, size_t *end)
{
    int                 rc;
    PCRE2_SIZE         *ov;
    pcre2_match_data   *md;

    if (llo_pii_init() != 0 || (md = llo_pii_md()) == NULL) {
        return -1;
    }

    ov = pcre2_get_ovector_pointer(md);

    while (from < len) {
        rc = pcre2_match(llo_pii[kind].re, (PCRE2_SPTR) s, len, from, 0, md,
                         NULL);

        /* 0: the one pair of offsets was too few, but it is set */
        if (rc < 0) {
            return 0;
        }

        if (llo_pii[kind].check == NULL
            || llo_pii[kind].check(s + ov[0], ov[1] - ov[0]))
        {
            *start = ov[0];
            *end = ov[1];
            return 1;
        }

        from = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }

    return 0;
}


int
llo_pii_scan(const char *s, size_t len, unsigned mask, llo_pii_match_pt cb,
    void *data)
{
    int     k, rc;
    size_t  from, start, end;

    for (k = 0; k < LLO_PII_N; k++) {
        if (!((mask >> k) & 1)) {
            continue;
        }

        for (from = 0; (rc = llo_pii_next(k, s, len, from, &start, &end));
             from = end)
        {
            if (rc < 0) {
                return -1;
            }

            if (cb(data, k, start, end)) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * 9..15 digits with a separator or a +: not a plain number, not a date
 * (8 digits), and not an IPv4 address (dots alone, groups of 1..3)
 */

static int
llo_pii_phone(const char *s, size_t len)
{
    size_t  i, digits, seps, dots, group, longest;

    digits = 0;
    seps = 0;
    dots = 0;
    group = 0;
    longest = 0;

    for (i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            digits++;
            group++;
            longest = group > longest ? group : longest;
            continue;
        }

        seps++;
        dots += s[i] == '.';
        group = 0;
    }

    if (dots == 3 && seps == 3 && longest <= 3) {
        return 0;
    }

    return digits >= 9 && digits <= 15 && seps > 0;
}


/* 13..19 digits that pass Luhn's check */

static int
llo_pii_luhn(const char *s, size_t len)
{
    int     d, sum, odd;
    size_t  i, digits;

    sum = 0;
    odd = 0;
    digits = 0;

    for (i = len; i-- > 0; ) {
        if (s[i] < '0' || s[i] > '9') {
            continue;
        }

        d = s[i] - '0';

        if (odd) {
            d *= 2;
            d = d > 9 ? d - 9 : d;
        }

        sum += d;
        odd = !odd;
        digits++;
    }

    return digits >= 13 && digits <= 19 && sum % 10 == 0;
}


/* ISO 13616: the country and check digits moved to the end, letters as
 * 10..35, the number mod 97 is 1 */

static int
llo_pii_iban(const char *s, size_t len)
{
    int     rem, c;
    size_t  i, k, n;
    char    buf[40];

    for (i = 0, n = 0; i < len && n < sizeof(buf); i++) {
        if (s[i] != ' ') {
            buf[n++] = s[i];
        }
    }

    if (n < 15 || n > 34) {
        return 0;
    }

    rem = 0;

    for (k = 0; k < n; k++) {
        c = buf[(k + 4) % n];

        if (c >= '0' && c <= '9') {
            rem = (rem * 10 + (c - '0')) % 97;

        } else if (c >= 'A' && c <= 'Z') {
            rem = (rem * 100 + (c - 'A' + 10)) % 97;

        } else {
            return 0;
        }
    }

    return rem == 1;
}


/* -- the redactor ---------------------------------------------------------- */


int
llo_redact_mode(const char *word)
{
    int  m;

    for (m = 0; m < (int) (sizeof(llo_redact_modes) / sizeof(char *)); m++) {
        if (strcmp(llo_redact_modes[m], word) == 0) {
            return m;
        }
    }

    return -1;
}


const char *
llo_redact_mode_name(int mode)
{
    return mode >= LLO_REDACT_OFF && mode <= LLO_REDACT_ALL
           ? llo_redact_modes[mode] : NULL;
}


/*
 * Only an email can be shorter than its marker ("a@b.cd", 6 bytes, as
 * [EMAIL], 7): every other detector's shortest match is longer than its
 * marker, and a marker over overlapping matches covers at least the
 * longest.  So each marker adds at most one byte per 6 of input.
 */

size_t
llo_redact_bound(size_t len)
{
    return len + len / 6 + 1;
}


/*
 * Each detector scans on its own, as pii_leak's do; the next match of
 * each is kept, and the earliest (then the longest) opens a marker that
 * swallows every match starting before its end, which may push the end
 * further.  The text is read once per detector and nothing is stored
 * but one match per detector.
 */

int
llo_redact(int mode, const char *in, size_t len, char *out,
    size_t *out_len, llo_redact_count_t *changed)
{
    int          k, best, rc, grew;
    char        *o;
    size_t       pos, end, n;
    size_t       ms[LLO_PII_N], me[LLO_PII_N];
    unsigned     mask, live;

    if (changed) {
        memset(changed, 0, sizeof(llo_redact_count_t));
    }

    if (mode < LLO_REDACT_OFF || mode > LLO_REDACT_ALL) {
        return -1;
    }

    mask = llo_redact_masks[mode];
    live = 0;

    for (k = 0; k < LLO_PII_N; k++) {
        if (!((mask >> k) & 1)) {
            continue;
        }

        rc = llo_pii_next(k, in, len, 0, &ms[k], &me[k]);
        if (rc < 0) {
            return -1;
        }

        live |= (unsigned) rc << k;
    }

    o = out;
    pos = 0;

    while (live) {
        best = -1;

        for (k = 0; k < LLO_PII_N; k++) {
            if (((live >> k) & 1)
                && (best < 0 || ms[k] < ms[best]
                    || (ms[k] == ms[best] && me[k] > me[best])))
            {
                best = k;
            }
        }

        n = ms[best] - pos;
        memcpy(o, in + pos, n);
        o += n;

        n = strlen(llo_pii[best].marker);
        memcpy(o, llo_pii[best].marker, n);
        o += n;

        if (changed) {
            changed->n[best]++;
            changed->total++;
        }

        end = me[best];

        do {
            grew = 0;

            for (k = 0; k < LLO_PII_N; k++) {
                while (((live >> k) & 1) && ms[k] < end) {
                    if (me[k] > end) {
                        end = me[k];
                        grew = 1;
                    }

                    rc = llo_pii_next(k, in, len, me[k], &ms[k], &me[k]);
                    if (rc < 0) {
                        return -1;
                    }

                    if (rc == 0) {
                        live &= ~(1u << k);
                    }
                }
            }

        } while (grew);

        pos = end;
    }

    /* in may be NULL when len is 0 */
    if (pos < len) {
        memcpy(o, in + pos, len - pos);
        o += len - pos;
    }

    *out_len = (size_t) (o - out);

    return 0;
}
