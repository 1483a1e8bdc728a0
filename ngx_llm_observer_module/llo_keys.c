/*
 * llm-observer API keys: parsing, lookup and limits; see llo_keys.h.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "llo_keys.h"


#define LLO_US_PER_MIN          60000000LL
#define LLO_US_PER_DAY          86400000000LL
#define LLO_SEC_PER_DAY         86400LL

/* entries start on their own cache line */
#define LLO_LIMITS_HDR          64

/*
 * Bounds that keep the scaled arithmetic in int64: no request reserves
 * or uses more tokens than this (6e17 once scaled by 60000000), and a
 * debt or counter saturates below the point where one more request could
 * overflow it.
 */
#define LLO_TOKENS_CLAMP        10000000000LL
#define LLO_DEBT_MAX            1000000000000000000LL
#define LLO_COUNT_MAX           (INT64_MAX / 2)

/*
 * A value is quoted in an error up to this many bytes: a 4 KB models=
 * list quoted whole would push what is wrong with it out of nginx's
 * error buffer.
 */
#define LLO_ECHO_MAX            100
#define llo_echo(n, a)                                                      \
    (int) ((n) > LLO_ECHO_MAX ? LLO_ECHO_MAX : (n)), (a),                   \
    (n) > LLO_ECHO_MAX ? "..." : ""

#define LLO_P_NAME              0x01
#define LLO_P_TEAM              0x02
#define LLO_P_MODELS            0x04
#define LLO_P_RPM               0x08
#define LLO_P_TPM               0x10
#define LLO_P_TPD               0x20
#define LLO_P_BUDGET            0x40
#define LLO_P_EXPIRES           0x80


typedef struct {
    char               *p;
    size_t              len;            /* room, '\0' included */
    size_t              n;              /* the whole text so far */
} llo_out_t;


typedef struct {
    const char         *name;
    size_t              len;            /* with the '=' */
    unsigned            bit;
} llo_param_t;


static int llo_key_parse_digest(llo_key_t *k, const char *a, size_t n,
    int *plain, char *err, size_t errlen);
static int llo_key_parse_name(char *dst, const char *v, size_t n);
static int llo_key_parse_models(llo_key_t *k, const char *a, size_t n,
    const char *v, size_t vn, char *err, size_t errlen);
static int llo_key_parse_number(int64_t *out, int64_t max, const char *a,
    size_t n, const char *v, size_t vn, char *err, size_t errlen);
static int llo_key_parse_budget(llo_key_t *k, const char *v, size_t n);
static int llo_key_parse_date(int64_t *out, const char *v, size_t n);
static int llo_hex(int c);
static void llo_err(char *err, size_t errlen, const char *fmt, ...);

static uint64_t llo_digest_hash(const uint8_t *digest);

static llo_limit_entry_t *llo_limits_entries(void *mem);
static void llo_limits_delete(llo_limits_t *h, llo_limit_entry_t *ent,
    uint32_t i);

static int64_t llo_limit_pay(int64_t debt, int64_t limit, int64_t dt);
static int64_t llo_limit_wait(int64_t need, int64_t limit);
static void llo_limit_fill(llo_limit_result_t *res, const llo_key_t *k,
    int64_t skew, int64_t rpm_debt, int64_t tpm_debt, int64_t tpd_used,
    int64_t budget_used);
static int64_t llo_clamp(int64_t v, int64_t lo, int64_t hi);
static int64_t llo_day(int64_t now_us);
static int64_t llo_period_start(int period, int64_t day);
static int64_t llo_period_next(int period, int64_t start);

static int64_t llo_days_from_civil(int64_t y, unsigned m, unsigned d);
static void llo_civil_from_days(int64_t z, int64_t *y, unsigned *m,
    unsigned *d);

static void llo_cat(llo_out_t *o, const char *s, size_t n);
static void llo_catf(llo_out_t *o, const char *fmt, ...);


static const llo_param_t  llo_params[] = {
    { "name=", 5, LLO_P_NAME },
    { "team=", 5, LLO_P_TEAM },
    { "models=", 7, LLO_P_MODELS },
    { "rpm=", 4, LLO_P_RPM },
    { "tpm=", 4, LLO_P_TPM },
    { "tpd=", 4, LLO_P_TPD },
    { "budget=", 7, LLO_P_BUDGET },
    { "expires=", 8, LLO_P_EXPIRES },
    { NULL, 0, 0 }
};


int
llo_key_parse(llo_key_t *k, char **args, size_t *lens, size_t nargs,
    int *plain, char *err, size_t errlen)
{
    size_t              i, n, vn;
    unsigned            seen;
    const char         *a, *v;
    const llo_param_t  *p;

    memset(k, 0, sizeof(llo_key_t));
    *plain = 0;

    if (nargs == 0) {
        llo_err(err, errlen, "missing key");
        return -1;
    }

    if (llo_key_parse_digest(k, args[0], lens[0], plain, err, errlen)
        != 0)
    {
        return -1;
    }

    seen = 0;

    for (i = 1; i < nargs; i++) {
        a = args[i];
        n = lens[i];

        for (p = llo_params; p->name; p++) {
            if (n >= p->len && memcmp(a, p->name, p->len) == 0) {
                break;
            }
        }

        if (p->name == NULL) {
            llo_err(err, errlen, "unknown parameter \"%.*s%s\"",
                    llo_echo(n, a));
            return -1;
        }

        if (seen & p->bit) {
            llo_err(err, errlen, "duplicate parameter \"%.*s%s\"",
                    llo_echo(n, a));
            return -1;
        }

        seen |= p->bit;

        v = a + p->len;
        vn = n - p->len;

        switch (p->bit) {

        case LLO_P_NAME:
        case LLO_P_TEAM:
            if (llo_key_parse_name(p->bit == LLO_P_NAME ? k->name : k->team,
                                   v, vn)
                != 0)
            {
                llo_err(err, errlen, "invalid value \"%.*s%s\": expected 1 "
                        "to %d of A-Z a-z 0-9 . _ -", llo_echo(n, a),
                        LLO_KEY_NAME_MAX);
                return -1;
            }

            break;

        case LLO_P_MODELS:
            if (llo_key_parse_models(k, a, n, v, vn, err, errlen) != 0) {
                return -1;
            }

            break;

        case LLO_P_RPM:
        case LLO_P_TPM:
            if (llo_key_parse_number(p->bit == LLO_P_RPM ? &k->rpm : &k->tpm,
                                     LLO_KEY_RATE_MAX, a, n, v, vn,
                                     err, errlen)
                != 0)
            {
                return -1;
            }

            break;

        case LLO_P_TPD:
            if (llo_key_parse_number(&k->tpd, LLO_KEY_TPD_MAX, a, n, v, vn,
                                     err, errlen)
                != 0)
            {
                return -1;
            }

            break;

        case LLO_P_BUDGET:
            if (llo_key_parse_budget(k, v, vn) != 0) {
                llo_err(err, errlen, "invalid value \"%.*s%s\": expected "
                        "<usd>/day or <usd>/month", llo_echo(n, a));
                return -1;
            }

            if (k->budget == 0) {
                llo_err(err, errlen, "invalid value \"%.*s%s\": leave "
                        "budget out for no limit", llo_echo(n, a));
                return -1;
            }

            break;

        default: /* LLO_P_EXPIRES */
            if (llo_key_parse_date(&k->expires, v, vn) != 0) {
                llo_err(err, errlen, "invalid value \"%.*s%s\": expected "
                        "YYYY-MM-DD", llo_echo(n, a));
                return -1;
            }

            break;
        }
    }

    if (!(seen & LLO_P_NAME)) {
        llo_err(err, errlen, "missing name=");
        return -1;
    }

    return 0;
}


/*
 * A plaintext key in a configuration file is readable by everyone who
 * can read the file, its backups and its diffs; a digest is not.  So the
 * clear form must be asked for, and the key is never echoed in an error.
 */

static int
llo_key_parse_digest(llo_key_t *k, const char *a, size_t n, int *plain,
    char *err, size_t errlen)
{
    size_t  i;
    int     hi, lo;

    if (n >= 7 && memcmp(a, "sha256:", 7) == 0) {

        if (n != 7 + 2 * LLO_KEY_DIGEST_LEN) {
            goto invalid;
        }

        for (i = 0; i < LLO_KEY_DIGEST_LEN; i++) {
            hi = llo_hex(a[7 + 2 * i]);
            lo = llo_hex(a[8 + 2 * i]);

            if (hi < 0 || lo < 0) {
                goto invalid;
            }

            k->digest[i] = (uint8_t) (hi << 4 | lo);
        }

        return 0;
    }

    if (n >= 6 && memcmp(a, "plain:", 6) == 0) {

        if (n == 6) {
            llo_err(err, errlen, "empty key in \"plain:\"");
            return -1;
        }

        if (llo_key_digest((const uint8_t *) a + 6, n - 6, k->digest) != 0) {
            llo_err(err, errlen, "SHA-256 of a plain: key failed");
            return -1;
        }

        *plain = 1;

        return 0;
    }

    llo_err(err, errlen, "a key must be given as sha256:<hex>, or "
            "plain:<key> to accept a plaintext key");

    return -1;

invalid:

    llo_err(err, errlen, "invalid digest \"%.*s%s\": expected sha256: and "
            "%d hex digits", llo_echo(n, a), 2 * LLO_KEY_DIGEST_LEN);

    return -1;
}


static int
llo_key_parse_name(char *dst, const char *v, size_t n)
{
    size_t  i;
    char    c;

    if (n == 0 || n > LLO_KEY_NAME_MAX) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        c = v[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return -1;
        }
    }

    memcpy(dst, v, n);
    dst[n] = '\0';

    return 0;
}


/*
 * Model names are whatever the providers call them ("gpt-4o-2024-08-06",
 * "meta-llama/Llama-3-70b", Bedrock's "anthropic.claude-v2:1"), so any
 * printable character but ',' (the separator) is allowed; '*' only at
 * the end, where it makes the entry a prefix.
 */

static int
llo_key_parse_models(llo_key_t *k, const char *a, size_t n, const char *v,
    size_t vn, char *err, size_t errlen)
{
    size_t            i, start, len;
    const char       *e;
    llo_key_model_t  *m;

    start = 0;

    for (i = 0; i <= vn; i++) {
        if (i < vn && v[i] != ',') {
            if (v[i] <= ' ' || v[i] > '~'
                || (v[i] == '*' && i + 1 < vn && v[i + 1] != ','))
            {
                goto invalid;
            }

            continue;
        }

        e = v + start;
        len = i - start;
        start = i + 1;

        if (len == 0) {
            goto invalid;
        }

        if (len > LLO_KEY_MODEL_MAX) {
            llo_err(err, errlen, "invalid value \"%.*s%s\": a model is at "
                    "most %d bytes", llo_echo(n, a), LLO_KEY_MODEL_MAX);
            return -1;
        }

        if (k->nmodels == LLO_KEY_MODELS_MAX) {
            llo_err(err, errlen, "invalid value \"%.*s%s\": at most %d "
                    "models", llo_echo(n, a), LLO_KEY_MODELS_MAX);
            return -1;
        }

        m = &k->models[k->nmodels++];

        if (e[len - 1] == '*') {
            m->prefix = 1;
            len--;
        }

        memcpy(m->name, e, len);
        m->name[len] = '\0';
        m->len = (uint8_t) len;
    }

    return 0;

invalid:

    llo_err(err, errlen, "invalid value \"%.*s%s\": expected model names "
            "or prefixes ending in '*', separated by ','", llo_echo(n, a));

    return -1;
}


static int
llo_key_parse_number(int64_t *out, int64_t max, const char *a, size_t n,
    const char *v, size_t vn, char *err, size_t errlen)
{
    size_t   i;
    int64_t  x;

    if (vn == 0) {
        goto invalid;
    }

    x = 0;

    for (i = 0; i < vn; i++) {
        if (v[i] < '0' || v[i] > '9') {
            goto invalid;
        }

        x = x * 10 + (v[i] - '0');

        if (x > max) {
            llo_err(err, errlen, "invalid value \"%.*s%s\": at most %lld",
                    llo_echo(n, a), (long long) max);
            return -1;
        }
    }

    /* "rpm=0" could mean "no limit" or "no requests": neither is guessed */

    if (x == 0) {
        llo_err(err, errlen, "invalid value \"%.*s%s\": leave %.*s out for "
                "no limit", llo_echo(n, a), (int) (n - vn - 1), a);
        return -1;
    }

    *out = x;

    return 0;

invalid:

    llo_err(err, errlen, "invalid value \"%.*s%s\"", llo_echo(n, a));

    return -1;
}


/* <dollars>[.<up to 6 digits>]/day or /month, in micro-USD */

static int
llo_key_parse_budget(llo_key_t *k, const char *v, size_t n)
{
    size_t   i, digits, frac;
    int64_t  x, scale;

    x = 0;
    digits = 0;

    for (i = 0; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        x = x * 10 + (v[i] - '0');
        digits++;

        if (x > LLO_KEY_BUDGET_MAX / 1000000) {
            return -1;
        }
    }

    if (digits == 0) {
        return -1;
    }

    x *= 1000000;

    if (i < n && v[i] == '.') {
        i++;
        frac = 0;
        scale = 100000;

        for ( /* void */ ; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
            if (++frac > 6) {
                return -1;
            }

            x += (v[i] - '0') * scale;
            scale /= 10;
        }

        if (frac == 0) {
            return -1;
        }
    }

    if (n - i == 4 && memcmp(v + i, "/day", 4) == 0) {
        k->budget_period = LLO_BUDGET_DAY;

    } else if (n - i == 6 && memcmp(v + i, "/month", 6) == 0) {
        k->budget_period = LLO_BUDGET_MONTH;

    } else {
        return -1;
    }

    if (x > LLO_KEY_BUDGET_MAX) {
        return -1;
    }

    k->budget = x;

    return 0;
}


/* YYYY-MM-DD: the first second after that UTC day */

static int
llo_key_parse_date(int64_t *out, const char *v, size_t n)
{
    size_t    i;
    int64_t   y;
    unsigned  m, d, mdays;

    static const unsigned  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (n != 10 || v[4] != '-' || v[7] != '-') {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9')) {
            return -1;
        }
    }

    y = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10
        + (v[3] - '0');
    m = (v[5] - '0') * 10 + (v[6] - '0');
    d = (v[8] - '0') * 10 + (v[9] - '0');

    if (y < 1970 || m < 1 || m > 12 || d < 1) {
        return -1;
    }

    mdays = days[m - 1];

    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        mdays = 29;
    }

    if (d > mdays) {
        return -1;
    }

    *out = (llo_days_from_civil(y, m, d) + 1) * LLO_SEC_PER_DAY;

    return 0;
}


static int
llo_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static void
llo_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (errlen == 0) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


int
llo_key_model_ok(const llo_key_t *k, const char *model, size_t len)
{
    uint32_t                i;
    const llo_key_model_t  *m;

    if (k->nmodels == 0) {
        return 1;
    }

    for (i = 0; i < k->nmodels; i++) {
        m = &k->models[i];

        if (m->prefix ? len >= m->len : len == m->len) {
            if (memcmp(model, m->name, m->len) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


int
llo_key_expired(const llo_key_t *k, int64_t now_us)
{
    return k->expires != 0 && now_us / 1000000 >= k->expires;
}


size_t
llo_key_describe(const llo_key_t *k, char *buf, size_t len)
{
    int64_t     y;
    uint32_t    i;
    unsigned    m, d;
    llo_out_t   o;
    char        frac[8];
    size_t      fn;

    o.p = buf;
    o.len = len;
    o.n = 0;

    if (len) {
        buf[0] = '\0';
    }

    llo_catf(&o, "%s\t%02x%02x%02x%02x\t%s\t", k->name, k->digest[0],
             k->digest[1], k->digest[2], k->digest[3], k->team);

    for (i = 0; i < k->nmodels; i++) {
        if (i) {
            llo_cat(&o, ",", 1);
        }

        llo_cat(&o, k->models[i].name, k->models[i].len);

        if (k->models[i].prefix) {
            llo_cat(&o, "*", 1);
        }
    }

    llo_cat(&o, "\t", 1);

    if (k->rpm) {
        llo_catf(&o, "%lld", (long long) k->rpm);
    }

    llo_cat(&o, "\t", 1);

    if (k->tpm) {
        llo_catf(&o, "%lld", (long long) k->tpm);
    }

    llo_cat(&o, "\t", 1);

    if (k->tpd) {
        llo_catf(&o, "%lld", (long long) k->tpd);
    }

    llo_cat(&o, "\t", 1);

    if (k->budget) {
        /* cents always, more digits only when they are not zero */
        snprintf(frac, sizeof(frac), "%06lld",
                 (long long) (k->budget % 1000000));

        for (fn = 6; fn > 2 && frac[fn - 1] == '0'; fn--) {
            /* void */
        }

        llo_catf(&o, "%lld.%.*s/%s", (long long) (k->budget / 1000000),
                 (int) fn, frac,
                 k->budget_period == LLO_BUDGET_MONTH ? "month" : "day");
    }

    llo_cat(&o, "\t", 1);

    if (k->expires) {
        llo_civil_from_days(k->expires / LLO_SEC_PER_DAY - 1, &y, &m, &d);
        llo_catf(&o, "%04lld-%02u-%02u", (long long) y, m, d);
    }

    return o.n;
}


static void
llo_cat(llo_out_t *o, const char *s, size_t n)
{
    size_t  room;

    if (o->n + 1 < o->len) {
        room = o->len - 1 - o->n;

        if (n < room) {
            room = n;
        }

        memcpy(o->p + o->n, s, room);
        o->p[o->n + room] = '\0';
    }

    o->n += n;
}


static void
llo_catf(llo_out_t *o, const char *fmt, ...)
{
    int      n;
    char     tmp[256];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    /* callers print names and numbers, all far shorter than tmp */
    llo_cat(o, tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}


int
llo_key_digest(const uint8_t *presented, size_t len, uint8_t out[32])
{
    unsigned int      n;
    const EVP_MD     *md;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L

    /*
     * EVP_sha256() makes OpenSSL 3 look the algorithm up in its provider
     * at every EVP_Digest(): 5,700 instructions a digest against 3,400
     * with the algorithm fetched once and kept (callgrind, a 45-byte
     * key).  Each process fetches it at its first digest.
     */
    static EVP_MD    *sha256;

    if (sha256 == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (sha256 == NULL) {
            return -1;
        }
    }

    md = sha256;

#else
    md = EVP_sha256();
#endif

    n = 0;

    if (EVP_Digest(presented, len, out, &n, md, NULL) != 1
        || n != LLO_KEY_DIGEST_LEN)
    {
        return -1;
    }

    return 0;
}


/* -- the key in a query ---------------------------------------------------- */


/* the parameter p[0..n) is named "key", in any case; with '=' or without */

static int
llo_param_is_key(const char *p, size_t n)
{
    return n >= 3
           && (p[0] | 0x20) == 'k' && (p[1] | 0x20) == 'e'
           && (p[2] | 0x20) == 'y'
           && (n == 3 || p[3] == '=');
}


size_t
llo_args_drop_key(const char *args, size_t len, char *out)
{
    char        *q;
    const char  *p, *end, *amp;

    p = args;
    end = args + len;
    q = out;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if (amp > p && !llo_param_is_key(p, amp - p)) {
            if (q != out) {
                *q++ = '&';
            }

            memcpy(q, p, amp - p);
            q += amp - p;
        }

        p = amp + 1;
    }

    return q - out;
}


/* the query of s: [*qs, *qe), or 0 when s has none */

static int
llo_query_span(const char *s, size_t len, const char **qs, const char **qe)
{
    const char  *q, *e;

    q = memchr(s, '?', len);
    if (q == NULL) {
        return 0;
    }

    q++;

    for (e = s + len; e > q && e[-1] != ' '; e--) { /* void */ }

    *qs = q;
    *qe = (e > q) ? e - 1 : s + len;

    return 1;
}


/* a key=<value> parameter whose value is not the mask yet */

static int
llo_param_to_mask(const char *p, size_t n)
{
    return n > 3 && llo_param_is_key(p, n)
           && !(n == 4 + sizeof(LLO_KEY_MASK) - 1
                && memcmp(p + 4, LLO_KEY_MASK, sizeof(LLO_KEY_MASK) - 1)
                   == 0);
}


int
llo_query_has_key(const char *s, size_t len)
{
    const char  *p, *qe, *amp;

    if (!llo_query_span(s, len, &p, &qe)) {
        return 0;
    }

    while (p < qe) {
        amp = memchr(p, '&', qe - p);
        if (amp == NULL) {
            amp = qe;
        }

        if (llo_param_to_mask(p, amp - p)) {
            return 1;
        }

        p = amp + 1;
    }

    return 0;
}


size_t
llo_query_mask_key(const char *s, size_t len, char *out)
{
    char        *o;
    const char  *p, *qe, *amp, *end;

    if (!llo_query_span(s, len, &p, &qe)) {
        memcpy(out, s, len);
        return len;
    }

    end = s + len;

    memcpy(out, s, p - s);
    o = out + (p - s);

    while (p < qe) {
        amp = memchr(p, '&', qe - p);
        if (amp == NULL) {
            amp = qe;
        }

        if (llo_param_to_mask(p, amp - p)) {
            memcpy(o, p, 4);
            memcpy(o + 4, LLO_KEY_MASK, sizeof(LLO_KEY_MASK) - 1);
            o += 4 + sizeof(LLO_KEY_MASK) - 1;

        } else {
            memcpy(o, p, amp - p);
            o += amp - p;
        }

        if (amp < qe) {
            *o++ = '&';
        }

        p = amp + 1;
    }

    memcpy(o, qe, end - qe);

    return (o - out) + (end - qe);
}


int
llo_key_line_parse(const char *line, size_t len, uint32_t *prefix,
    char *err, size_t errlen)
{
    int      c;
    size_t   i, k, field, start;

    field = 1;
    start = 0;
    *prefix = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && line[i] != '\t') {
            continue;
        }

        if (field == 1 && i == start) {
            snprintf(err, errlen, " has no name");
            return -1;
        }

        /* lowercase only: the prefix is an identity, one key one spelling */

        if (field == 2) {
            for (k = start; k < i; k++) {
                c = (unsigned char) line[k];

                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                    break;
                }

                *prefix = (*prefix << 4) | (uint32_t) llo_hex(c);
            }

            if (i - start != 8 || k != i) {
                snprintf(err, errlen, ": key prefix \"%.*s\" is not 8 "
                         "lowercase hex digits",
                         (int) (i - start < 64 ? i - start : 64),
                         line + start);
                return -1;
            }
        }

        field++;
        start = i + 1;
    }

    if (field - 1 < LLO_KEY_DESCRIBE_FIELDS) {
        snprintf(err, errlen, " has %zu fields (expected %d)", field - 1,
                 LLO_KEY_DESCRIBE_FIELDS);
        return -1;
    }

    return 0;
}

/*
 * The digests are SHA-256 outputs: uniformly random, so their first bytes
 * are already a good hash.
 */

static uint64_t
llo_digest_hash(const uint8_t *digest)
{
    uint64_t  h;

    memcpy(&h, digest, sizeof(uint64_t));

    return h;
}


uint32_t
llo_keys_slots(uint32_t nkeys)
{
    if (nkeys > (UINT32_MAX - 1) / 2) {
        return UINT32_MAX;
    }

    return 2 * nkeys + 1;
}


int
llo_keys_build(llo_keys_t *t, const llo_key_t *keys, uint32_t nkeys,
    uint32_t *slots, uint32_t nslots, uint32_t *first, uint32_t *dup)
{
    uint32_t  i, j, s;

    if (nslots <= nkeys) {
        return -2;
    }

    memset(slots, 0, nslots * sizeof(uint32_t));

    for (i = 0; i < nkeys; i++) {
        j = (uint32_t) (llo_digest_hash(keys[i].digest) % nslots);

        while ((s = slots[j]) != 0) {
            if (memcmp(keys[s - 1].digest, keys[i].digest,
                       LLO_KEY_DIGEST_LEN)
                == 0)
            {
                *first = s - 1;
                *dup = i;
                return -1;
            }

            j = (j + 1) % nslots;
        }

        slots[j] = i + 1;
    }

    t->keys = keys;
    t->slots = slots;
    t->nslots = nslots;
    t->nkeys = nkeys;

    return 0;
}


/*
 * Why the lookup leaks nothing useful through its timing: what is looked
 * up is SHA-256(presented), never the presented key.  A byte-by-byte
 * comparison of secrets stops at the first wrong byte, so its time tells
 * an attacker how many leading bytes he has right, and he can find a key
 * a byte at a time.  Here the slot probed, how long the probe runs and
 * where a comparison could stop depend only on digests: an attacker may
 * learn that his guess's digest shares a slot or some leading bits with
 * a configured key's digest, but SHA-256 being preimage resistant, that
 * brings him no closer to a key with that digest than guessing blindly;
 * and changing one byte of his guess gives an unrelated digest, so there
 * is nothing to build on.  CRYPTO_memcmp() still compares in constant
 * time, which costs nothing.
 */

const llo_key_t *
llo_keys_find(const llo_keys_t *t, const uint8_t digest[32])
{
    uint32_t  i, j, s;

    if (t->nslots == 0) {
        return NULL;
    }

    j = (uint32_t) (llo_digest_hash(digest) % t->nslots);

    for (i = 0; i < t->nslots; i++) {
        s = t->slots[j];

        if (s == 0) {
            return NULL;
        }

        if (CRYPTO_memcmp(t->keys[s - 1].digest, digest, LLO_KEY_DIGEST_LEN)
            == 0)
        {
            return &t->keys[s - 1];
        }

        j = (j + 1) % t->nslots;
    }

    return NULL;
}


uint32_t
llo_limits_slots(uint32_t nkeys)
{
    return llo_keys_slots(nkeys);
}


size_t
llo_limits_size(uint32_t slots)
{
    if (slots == 0) {
        return 0;
    }

#if (SIZE_MAX <= UINT32_MAX)
    if (slots > (SIZE_MAX - LLO_LIMITS_HDR) / sizeof(llo_limit_entry_t)) {
        return 0;
    }
#endif

    return LLO_LIMITS_HDR + (size_t) slots * sizeof(llo_limit_entry_t);
}


void
llo_limits_init(void *mem, uint32_t slots)
{
    llo_limits_t  *h;

    memset(mem, 0, llo_limits_size(slots));

    h = mem;
    h->magic = LLO_LIMITS_MAGIC;
    h->version = LLO_LIMITS_VERSION;
    h->entry_size = sizeof(llo_limit_entry_t);
    h->slots = slots;
}


int
llo_limits_valid(const void *mem, size_t size)
{
    size_t               need;
    const llo_limits_t  *h;

    if (mem == NULL || size < LLO_LIMITS_HDR) {
        return 0;
    }

    h = mem;

    if (h->magic != LLO_LIMITS_MAGIC
        || h->version != LLO_LIMITS_VERSION
        || h->entry_size != sizeof(llo_limit_entry_t)
        || h->used > h->slots)
    {
        return 0;
    }

    need = llo_limits_size(h->slots);

    return need != 0 && need <= size;
}


static llo_limit_entry_t *
llo_limits_entries(void *mem)
{
    return (llo_limit_entry_t *) ((uint8_t *) mem + LLO_LIMITS_HDR);
}


llo_limit_entry_t *
llo_limits_get(void *mem, const uint8_t digest[32], int create)
{
    uint32_t            i, j;
    llo_limits_t       *h;
    llo_limit_entry_t  *ent;

    h = mem;
    ent = llo_limits_entries(mem);

    j = (uint32_t) (llo_digest_hash(digest) % h->slots);

    for (i = 0; i < h->slots; i++) {

        if (!ent[j].used) {
            if (!create) {
                return NULL;
            }

            memset(&ent[j], 0, sizeof(llo_limit_entry_t));
            memcpy(ent[j].digest, digest, LLO_KEY_DIGEST_LEN);
            ent[j].used = 1;
            h->used++;

            return &ent[j];
        }

        if (memcmp(ent[j].digest, digest, LLO_KEY_DIGEST_LEN) == 0) {
            return &ent[j];
        }

        j = (j + 1) % h->slots;
    }

    if (create) {
        h->full++;
    }

    return NULL;
}


void
llo_limits_retain(void *mem,
    int (*keep)(void *data, const uint8_t digest[32]), void *data)
{
    uint32_t            i;
    llo_limits_t       *h;
    llo_limit_entry_t  *ent;

    h = mem;
    ent = llo_limits_entries(mem);

    /*
     * After a deletion slot i holds an entry moved back from further on
     * (or nothing): it is looked at again.  An entry that wrapped round
     * from the start may be asked about twice, which is harmless.
     */

    i = 0;

    while (i < h->slots) {
        if (ent[i].used && !keep(data, ent[i].digest)) {
            llo_limits_delete(h, ent, i);
            continue;
        }

        i++;
    }
}


/*
 * Linear probing without tombstones: the entries after the hole that
 * would be found no more (their home slot is not between the hole and
 * them) move back into it, and the hole moves on.
 */

static void
llo_limits_delete(llo_limits_t *h, llo_limit_entry_t *ent, uint32_t i)
{
    uint32_t  j, home, n;

    n = h->slots;

    ent[i].used = 0;
    j = i;

    for ( ;; ) {
        j = (j + 1) % n;

        if (!ent[j].used) {
            break;
        }

        home = (uint32_t) (llo_digest_hash(ent[j].digest) % n);

        if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) {
            continue;
        }

        ent[i] = ent[j];
        ent[j].used = 0;
        i = j;
    }

    memset(&ent[i], 0, sizeof(llo_limit_entry_t));
    h->used--;
}


int
llo_limit_check(llo_limit_entry_t *e, const llo_key_t *k, int64_t now_us,
    int64_t reserve_tokens, llo_limit_result_t *res)
{
    int      rc, period;
    int64_t  dt, last, skew, c, day, start, rpm_debt, tpm_debt, tpd_used,
             budget_used, wait, need;

    c = llo_clamp(reserve_tokens, 0, LLO_TOKENS_CLAMP);

    /* the state as of now, in locals: a refusal must change nothing */

    dt = now_us > e->last_us ? now_us - e->last_us : 0;
    last = now_us > e->last_us ? now_us : e->last_us;

    /* a caller behind the last one waits that much longer */
    skew = last - now_us;

    rpm_debt = llo_limit_pay(e->rpm_debt, k->rpm, dt);
    tpm_debt = llo_limit_pay(e->tpm_debt, k->tpm, dt);

    day = llo_day(now_us);

    if (day < e->tpd_day) {
        day = e->tpd_day;
    }

    tpd_used = day == e->tpd_day ? e->tpd_used : 0;

    period = k->budget_period;
    start = llo_period_start(period, llo_day(now_us));

    if (period == e->budget_period && start <= e->budget_start) {
        start = e->budget_start;
        budget_used = e->budget_used;

    } else {
        budget_used = 0;
    }

    /* each limit that refuses: the longest wait wins, "never" first */

    rc = LLO_LIMIT_OK;
    wait = 0;

    if (k->rpm) {
        need = rpm_debt + LLO_US_PER_MIN;

        if (need > k->rpm * LLO_US_PER_MIN) {
            rc = LLO_LIMIT_RPM;
            wait = llo_limit_wait(need, k->rpm) + skew;
        }
    }

    if (k->tpm) {
        if (c > k->tpm) {
            rc = LLO_LIMIT_TPM;
            wait = LLO_LIMIT_NEVER;

        } else {
            need = tpm_debt + c * LLO_US_PER_MIN;

            if (need > k->tpm * LLO_US_PER_MIN
                && wait != LLO_LIMIT_NEVER
                && llo_limit_wait(need, k->tpm) + skew > wait)
            {
                rc = LLO_LIMIT_TPM;
                wait = llo_limit_wait(need, k->tpm) + skew;
            }
        }
    }

    if (k->tpd && tpd_used + c > k->tpd && wait != LLO_LIMIT_NEVER) {
        if (c > k->tpd) {
            rc = LLO_LIMIT_TPD;
            wait = LLO_LIMIT_NEVER;

        } else if ((day + 1) * LLO_US_PER_DAY - now_us > wait) {
            rc = LLO_LIMIT_TPD;
            wait = (day + 1) * LLO_US_PER_DAY - now_us;
        }
    }

    if (k->budget && budget_used >= k->budget && wait != LLO_LIMIT_NEVER) {
        need = llo_period_next(period, start) * LLO_US_PER_DAY - now_us;

        if (need > wait) {
            rc = LLO_LIMIT_BUDGET;
            wait = need;
        }
    }

    if (rc != LLO_LIMIT_OK) {
        llo_limit_fill(res, k, skew, rpm_debt, tpm_debt, tpd_used,
                       budget_used);
        res->limit = rc;
        res->retry_after_us = wait;

        return rc;
    }

    if (k->rpm) {
        rpm_debt += LLO_US_PER_MIN;
    }

    if (k->tpm) {
        tpm_debt += c * LLO_US_PER_MIN;
    }

    tpd_used = llo_clamp(tpd_used + c, 0, LLO_COUNT_MAX);

    e->last_us = last;
    e->rpm_debt = rpm_debt;
    e->tpm_debt = tpm_debt;
    e->tpd_day = day;
    e->tpd_used = tpd_used;
    e->budget_period = period;
    e->budget_start = start;
    e->budget_used = budget_used;

    llo_limit_fill(res, k, skew, rpm_debt, tpm_debt, tpd_used, budget_used);

    return LLO_LIMIT_OK;
}


void
llo_limit_reconcile(llo_limit_entry_t *e, const llo_key_t *k,
    int64_t now_us, int64_t reserved_tokens, int64_t used_tokens,
    int64_t cost_micro)
{
    int      period;
    int64_t  dt, delta, day, start;

    delta = llo_clamp(used_tokens, 0, LLO_TOKENS_CLAMP)
            - llo_clamp(reserved_tokens, 0, LLO_TOKENS_CLAMP);

    dt = now_us > e->last_us ? now_us - e->last_us : 0;

    if (now_us > e->last_us) {
        e->last_us = now_us;
    }

    e->rpm_debt = llo_limit_pay(e->rpm_debt, k->rpm, dt);
    e->tpm_debt = llo_limit_pay(e->tpm_debt, k->tpm, dt);

    if (k->tpm) {
        e->tpm_debt = llo_clamp(e->tpm_debt + delta * LLO_US_PER_MIN, 0,
                                LLO_DEBT_MAX);
    }

    day = llo_day(now_us);

    if (day > e->tpd_day) {
        e->tpd_day = day;
        e->tpd_used = 0;
    }

    e->tpd_used = llo_clamp(e->tpd_used + delta, 0, LLO_COUNT_MAX);

    period = k->budget_period;
    start = llo_period_start(period, llo_day(now_us));

    if (period != e->budget_period || start > e->budget_start) {
        e->budget_period = period;
        e->budget_start = start;
        e->budget_used = 0;
    }

    e->budget_used = llo_clamp(e->budget_used
                               + llo_clamp(cost_micro, 0, LLO_KEY_BUDGET_MAX),
                               0, LLO_COUNT_MAX);
}


/* the debt left after dt us, limit being paid back each us */

static int64_t
llo_limit_pay(int64_t debt, int64_t limit, int64_t dt)
{
    if (limit <= 0 || debt <= 0) {
        return 0;
    }

    /* dt * limit < debt + limit here: no overflow */

    if (dt >= (debt + limit - 1) / limit) {
        return 0;
    }

    return debt - dt * limit;
}


/* us until a debt of need fits in the bucket, rounded up */

static int64_t
llo_limit_wait(int64_t need, int64_t limit)
{
    int64_t  over;

    over = need - limit * LLO_US_PER_MIN;

    return over <= 0 ? 0 : (over + limit - 1) / limit;
}


/* skew: how far the caller's now is behind the time of the debts */

static void
llo_limit_fill(llo_limit_result_t *res, const llo_key_t *k, int64_t skew,
    int64_t rpm_debt, int64_t tpm_debt, int64_t tpd_used,
    int64_t budget_used)
{
    memset(res, 0, sizeof(llo_limit_result_t));

    if (k->rpm) {
        res->limit_requests = k->rpm;
        res->remaining_requests = llo_clamp((k->rpm * LLO_US_PER_MIN
                                             - rpm_debt) / LLO_US_PER_MIN,
                                            0, k->rpm);
        res->reset_requests_us = rpm_debt
                                 ? (rpm_debt + k->rpm - 1) / k->rpm + skew
                                 : 0;
    }

    if (k->tpm) {
        res->limit_tokens = k->tpm;
        res->remaining_tokens = llo_clamp((k->tpm * LLO_US_PER_MIN
                                           - tpm_debt) / LLO_US_PER_MIN,
                                          0, k->tpm);
        res->reset_tokens_us = tpm_debt
                               ? (tpm_debt + k->tpm - 1) / k->tpm + skew
                               : 0;
    }

    res->remaining_tpd = k->tpd ? llo_clamp(k->tpd - tpd_used, 0, k->tpd)
                                : -1;
    res->remaining_budget = k->budget
                            ? llo_clamp(k->budget - budget_used, 0,
                                        k->budget)
                            : -1;
}


static int64_t
llo_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}


/* the UTC day number (days since 1970-01-01) of a time */

static int64_t
llo_day(int64_t now_us)
{
    if (now_us >= 0) {
        return now_us / LLO_US_PER_DAY;
    }

    return -((-(now_us + 1)) / LLO_US_PER_DAY) - 1;
}


/* the day number a budget period containing day starts on */

static int64_t
llo_period_start(int period, int64_t day)
{
    int64_t   y;
    unsigned  m, d;

    if (period != LLO_BUDGET_MONTH) {
        return day;
    }

    llo_civil_from_days(day, &y, &m, &d);

    return llo_days_from_civil(y, m, 1);
}


/* the day number of the period after the one starting on start */

static int64_t
llo_period_next(int period, int64_t start)
{
    int64_t   y;
    unsigned  m, d;

    if (period != LLO_BUDGET_MONTH) {
        return start + 1;
    }

    llo_civil_from_days(start, &y, &m, &d);

    return m == 12 ? llo_days_from_civil(y + 1, 1, 1)
                   : llo_days_from_civil(y, m + 1, 1);
}


/*
 * Proleptic Gregorian calendar <-> day numbers, without timegm() (which
 * reads the TZ environment) or tables: Howard Hinnant's algorithms,
 * "chrono-Compatible Low-Level Date Algorithms".
 */

static int64_t
llo_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t) doe - 719468;
}


static void
llo_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t   era;
    unsigned  doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t) yoe + era * 400 + (*m <= 2);
}


size_t
llo_duration_format(int64_t us, char *buf, size_t len)
{
    int64_t    ms, s, h, m;
    llo_out_t  o;
    char       frac[4];
    size_t     fn;

    o.p = buf;
    o.len = len;
    o.n = 0;

    if (len) {
        buf[0] = '\0';
    }

    if (us <= 0) {
        llo_cat(&o, "0s", 2);
        return o.n;
    }

    /* up, so that waiting this long is never too early */
    ms = us / 1000 + (us % 1000 != 0);

    if (ms < 1000) {
        llo_catf(&o, "%lldms", (long long) ms);
        return o.n;
    }

    s = ms / 1000;
    h = s / 3600;
    m = s / 60 % 60;
    s %= 60;

    if (h) {
        llo_catf(&o, "%lldh", (long long) h);
    }

    if (h || m) {
        llo_catf(&o, "%lldm", (long long) m);
    }

    llo_catf(&o, "%lld", (long long) s);

    if (ms % 1000) {
        snprintf(frac, sizeof(frac), "%03lld", (long long) (ms % 1000));

        for (fn = 3; frac[fn - 1] == '0'; fn--) {
            /* void */
        }

        llo_catf(&o, ".%.*s", (int) fn, frac);
    }

    llo_cat(&o, "s", 1);

    return o.n;
}
