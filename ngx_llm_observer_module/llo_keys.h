/*
 * llm-observer API keys: the llm_observer_key lines, the lookup of a
 * presented key, and the per-key limits shared by all nginx workers.
 *
 * Plain C, no nginx types: linked by the nginx module and the unit tests.
 * Needs OpenSSL's libcrypto (SHA-256, CRYPTO_memcmp).
 *
 *   llm_observer_key <digest> name=<name> [team=<team>]
 *       [models=<m1,m2,...|prefix*>] [rpm=N] [tpm=N] [tpd=N]
 *       [budget=<usd>/day|/month] [expires=<YYYY-MM-DD>];
 *
 * <digest> is sha256:<64 hex digits> (either case) of the key; a key
 * written in clear is refused unless it is written plain:<key>.
 *
 * Secrets are never compared: a presented key is hashed first
 * (llo_key_digest()) and the digest is looked up (llo_keys_find()).
 *
 *
 * Limits (llo_limit_check(), llo_limit_reconcile())
 * --------------------------------------------------
 *
 * All times are int64 microseconds since the Unix epoch, given by the
 * caller; nothing here reads a clock.  Days and months are UTC.
 *
 * rpm and tpm: GCRA, burst = the per-minute limit L.  A request costs
 * c = 1 (rpm) or its reserved tokens (tpm); the emission interval is
 * T = 60 s / L.  With TAT the theoretical arrival time:
 *
 *     TAT' = max(TAT, now) + c * T
 *     allowed iff TAT' - now <= 60 s          (then TAT = TAT')
 *     otherwise retry after TAT' - now - 60 s
 *
 * So a fresh or idle key may use its whole minute at once, then gets
 * L / 60 per second back, continuously.  TAT is stored as the debt
 * D = (TAT - last) * L in units of 1/60000000 of a request or token
 * (c costs c * 60000000, one microsecond pays back L): integers, no
 * rounding, so exactly L requests fit in a burst whatever L is, and the
 * state keeps its meaning when a reload changes L (the debt in tokens is
 * kept, paid back at the new rate).  A cost above L never fits: refused
 * with retry_after_us = LLO_LIMIT_NEVER (OpenAI's "request too large").
 *
 * tpd: tokens reserved or used in the current UTC day; a request is
 * allowed iff used + reserved <= tpd.  Reset at 00:00 UTC.
 *
 * budget: micro-USD spent in the current UTC day or calendar month; a
 * request is refused iff the spend is already >= the budget (the cost is
 * known only at the end, so requests running when it is reached may
 * overshoot it).  Reset at 00:00 UTC / on the 1st at 00:00 UTC, and when
 * a reload changes the period between day and month.
 *
 * A refused request changes nothing.  When several limits refuse, the
 * result names the one with the longest wait, LLO_LIMIT_NEVER first: a
 * client that waits retry_after_us then passes every limit (unless other
 * requests take the room first).
 *
 * Reservations: llo_limit_check() counts the reserved tokens in tpm and
 * tpd; llo_limit_reconcile() adds used - reserved to both (less or more)
 * and the cost to the budget.  A counter never goes below zero: the tpm
 * debt is paid back while the request runs, so a reservation larger than
 * the use may have been paid back already; the tpd counter of a day that
 * ended while the request ran is gone, so the difference is applied to
 * the new day (clamped at zero).  Either way the error is at most one
 * reservation, towards allowing more.
 *
 * Worker clocks: nginx workers cache the time, so one worker may call
 * with a now_us a little behind another's last call.  Time never runs
 * backwards for an entry: an earlier now_us pays nothing back and does
 * not go back to the previous day or month; waits and resets are still
 * counted from that caller's now_us.
 *
 * Header values (llo_limit_result_t), after the decision:
 *
 *   limit      rpm or tpm; 0 when that limit is not set (send no headers)
 *   remaining  floor((L * 60000000 - D) / 60000000): what a burst at now
 *              could still take, whole requests or tokens, >= 0
 *   reset      ceil(D / L) us: until the bucket is full again, that is,
 *              OpenAI's "until the rate limit resets to its initial
 *              state"; 0 when full
 *
 * Shared memory (llo_limits_*): a block the caller gives (an nginx shared
 * zone), zeroed by llo_limits_init(); it holds no pointers, so every
 * process may map it anywhere.  No locking here: the caller holds one
 * lock around every call that takes mem or an entry.  Every call on a
 * request path is O(1) (a probe of an open-addressing table at most half
 * full when sized by llo_limits_slots()) and allocates nothing.
 *
 *   +------------------------------------------------------+
 *   | llo_limits_t: magic "LLOLIMT\0", version, entry      |
 *   |               size, slots, used, full               |
 *   +------------------------------------------------------+
 *   | llo_limit_entry_t[slots]: linear probing on the      |
 *   |               digest's first 8 bytes, no tombstones  |
 *   +------------------------------------------------------+
 */

#ifndef _LLO_KEYS_H_INCLUDED_
#define _LLO_KEYS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LLO_KEY_DIGEST_LEN      32
#define LLO_KEY_NAME_MAX        64          /* name=, team= */
#define LLO_KEY_MODELS_MAX      32          /* entries in models= */
#define LLO_KEY_MODEL_MAX       128         /* bytes in one, '*' included */

#define LLO_KEY_RATE_MAX        1000000000LL        /* rpm, tpm */
#define LLO_KEY_TPD_MAX         1000000000000000LL  /* tpd */
#define LLO_KEY_BUDGET_MAX      1000000000000000LL  /* micro-USD: 1e9 $ */

/* room for a whole llo_key_describe() line and its '\0' */
#define LLO_KEY_DESCRIBE_MAX    4608

#define LLO_BUDGET_NONE         0
#define LLO_BUDGET_DAY          1
#define LLO_BUDGET_MONTH        2

#define LLO_LIMIT_OK            0
#define LLO_LIMIT_RPM           1
#define LLO_LIMIT_TPM           2
#define LLO_LIMIT_TPD           3
#define LLO_LIMIT_BUDGET        4

/* retry_after_us of a request that can never fit (cost above the limit) */
#define LLO_LIMIT_NEVER         (-1)

#define LLO_LIMITS_MAGIC        0x00544d494c4f4c4cULL   /* "LLOLIMT\0" */
#define LLO_LIMITS_VERSION      1

/* "2562047788h0m54.776s": every int64 duration and its '\0' fit */
#define LLO_DURATION_MAX        32


typedef struct {
    uint8_t             len;
    uint8_t             prefix;         /* written "name*": a prefix */
    char                name[LLO_KEY_MODEL_MAX + 1];   /* without '*' */
} llo_key_model_t;


typedef struct {
    uint8_t             digest[LLO_KEY_DIGEST_LEN];
    char                name[LLO_KEY_NAME_MAX + 1];
    char                team[LLO_KEY_NAME_MAX + 1];    /* "": none */

    uint32_t            nmodels;        /* 0: every model */
    llo_key_model_t     models[LLO_KEY_MODELS_MAX];

    int64_t             rpm;            /* 0: no limit */
    int64_t             tpm;
    int64_t             tpd;
    int64_t             budget;         /* micro-USD, 0: none */
    int                 budget_period;  /* LLO_BUDGET_* */

    /* unix seconds of the first instant after the day written, 0: never;
     * the key is valid while now < expires */
    int64_t             expires;
} llo_key_t;


/* the lookup table of the configured keys, in process memory */
typedef struct {
    const llo_key_t    *keys;           /* the caller's array, not copied */
    uint32_t           *slots;          /* key index + 1, 0: empty */
    uint32_t            nslots;
    uint32_t            nkeys;
} llo_keys_t;


typedef struct {
    uint64_t            magic;
    uint32_t            version;
    uint32_t            entry_size;     /* sizeof(llo_limit_entry_t) */
    uint32_t            slots;
    uint32_t            used;
    uint64_t            full;           /* creations refused: no slot */
} llo_limits_t;


typedef struct {
    uint8_t             digest[LLO_KEY_DIGEST_LEN];
    uint32_t            used;           /* 0: a free slot */
    int32_t             budget_period;  /* of budget_start, LLO_BUDGET_* */

    int64_t             last_us;        /* rpm/tpm debts paid up to here */
    int64_t             rpm_debt;       /* requests * 60000000 */
    int64_t             tpm_debt;       /* tokens * 60000000 */

    int64_t             tpd_day;        /* UTC day number of tpd_used */
    int64_t             tpd_used;

    int64_t             budget_start;   /* day number the period starts */
    int64_t             budget_used;    /* micro-USD */
} llo_limit_entry_t;


typedef struct {
    int                 limit;          /* LLO_LIMIT_*: what refused */
    int64_t             retry_after_us; /* refused: wait, LLO_LIMIT_NEVER */

    /* x-ratelimit-*-requests (rpm) and x-ratelimit-*-tokens (tpm) */
    int64_t             limit_requests;
    int64_t             remaining_requests;
    int64_t             reset_requests_us;
    int64_t             limit_tokens;
    int64_t             remaining_tokens;
    int64_t             reset_tokens_us;

    /* what is left today / this period; -1: no such limit */
    int64_t             remaining_tpd;
    int64_t             remaining_budget;   /* micro-USD */
} llo_limit_result_t;


/*
 * Parse one llm_observer_key line: args[0] the digest, the others
 * name=value; lens[i] the length of args[i] (which need not end in '\0').
 * *plain is set to 1 when the key was written plain:<key> (the caller
 * warns), else 0.  Returns 0, or -1 with err holding, e.g.:
 *
 *   invalid digest "sha256:xyz": expected sha256: and 64 hex digits
 *   a key must be given as sha256:<hex>, or plain:<key> to accept a
 *       plaintext key                      (the value is not shown)
 *   unknown parameter "foo=1"
 *   duplicate parameter "rpm=7"
 *   invalid value "rpm=-3"
 *   invalid value "rpm=0": leave rpm out for no limit
 *   invalid value "budget=5": expected <usd>/day or <usd>/month
 *   invalid value "expires=2026-13-01": expected YYYY-MM-DD
 *   missing name=
 */
int llo_key_parse(llo_key_t *k, char **args, size_t *lens, size_t nargs,
    int *plain, char *err, size_t errlen);

/* 1 when k may use model (no models=: every model; else an exact name or
 * a prefix entry the model starts with) */
int llo_key_model_ok(const llo_key_t *k, const char *model, size_t len);

/* 1 when k has expired at now_us */
int llo_key_expired(const llo_key_t *k, int64_t now_us);

/*
 * The line of the key-set audit, without a newline:
 *   name TAB first 8 hex of the digest TAB team TAB models TAB rpm TAB tpm
 *   TAB tpd TAB budget ("5.00/day", "0.125/month") TAB expires (the day)
 * An unset field is empty.  The whole digest never appears.  Returns the
 * length of the line, as snprintf(); buf is cut to len - 1 bytes and
 * ended with '\0'.  LLO_KEY_DESCRIBE_MAX always suffices.
 */
size_t llo_key_describe(const llo_key_t *k, char *buf, size_t len);

/*
 * The other way, as far as the audit needs it: a line of
 * llo_key_describe() (without its newline) has a name, an 8-lowercase-
 * hex-digit prefix and at least LLO_KEY_DESCRIBE_FIELDS fields (a newer
 * module may add more after them).  0 with *prefix, or -1 with err
 * to follow "line N" (" has no name", " has 5 fields (expected 9)",
 * ": key prefix \"X\" is not 8 lowercase hex digits").
 */
#define LLO_KEY_DESCRIBE_FIELDS 9
int llo_key_line_parse(const char *line, size_t len, uint32_t *prefix,
    char *err, size_t errlen);

/* SHA-256 of a presented key; 0, or -1 if OpenSSL failed (out is then
 * unusable: refuse the request) */
int llo_key_digest(const uint8_t *presented, size_t len, uint8_t out[32]);


/*
 * Where a client presents its key in a URI: Gemini's ?key=.  The
 * parameter is named "key" in any case (nginx's $arg_key and
 * ngx_http_arg() match it so), at the start of the query or after '&'.
 *
 * llo_args_drop_key(): args (a query, no '?') without any key or key=...
 * parameter, into out (len bytes suffice); returns the new length.
 *
 * llo_query_mask_key(): s (a URI, or a request line "POST /p?q HTTP/1.1")
 * with the value of every key= parameter of its query replaced by
 * LLO_KEY_MASK, into out (LLO_MASK_MAX(len) bytes suffice); returns the
 * new length.  The query runs from the first '?' to the last ' ' after it
 * (the request line's protocol), or to the end.  A value already masked
 * stays as it is, so masking twice changes nothing.
 *
 * llo_query_has_key(): 1 when llo_query_mask_key() would change s.
 */
#define LLO_KEY_MASK            "***"
#define LLO_MASK_MAX(len)       ((len) + 3 * ((len) / 4 + 1))

size_t llo_args_drop_key(const char *args, size_t len, char *out);
size_t llo_query_mask_key(const char *s, size_t len, char *out);
int llo_query_has_key(const char *s, size_t len);


/* the slots to give llo_keys_build() for nkeys keys */
uint32_t llo_keys_slots(uint32_t nkeys);

/*
 * Index keys[0..nkeys) by digest in slots[0..nslots) (the caller's memory,
 * llo_keys_slots(nkeys) entries; keys and slots must outlive t).
 * Returns 0; -1 when two keys have the same digest, with *first and *dup
 * their indexes (first < dup); -2 when nslots <= nkeys.
 */
int llo_keys_build(llo_keys_t *t, const llo_key_t *keys, uint32_t nkeys,
    uint32_t *slots, uint32_t nslots, uint32_t *first, uint32_t *dup);

/* the key with this digest, or NULL */
const llo_key_t *llo_keys_find(const llo_keys_t *t,
    const uint8_t digest[32]);


/* slots for nkeys keys that keep the table at most half full */
uint32_t llo_limits_slots(uint32_t nkeys);

/* bytes for a table of slots entries (0 when slots is 0 or too big) */
size_t llo_limits_size(uint32_t slots);

/* make mem (llo_limits_size(slots) bytes) an empty table */
void llo_limits_init(void *mem, uint32_t slots);

/* 1 when mem (size bytes) holds a table of this layout: magic, version,
 * entry size, and a slot count that fits in size; else 0 */
int llo_limits_valid(const void *mem, size_t size);

/* the entry of digest; with create, a new zeroed one when there is none
 * yet; NULL when there is none, or no free slot (counted in full).  Call
 * with create only for configured keys: entries are never aged out */
llo_limit_entry_t *llo_limits_get(void *mem, const uint8_t digest[32],
    int create);

/* drop the entries whose digest keep() returns 0 for (on reload: keys no
 * longer configured); the others keep their counters.  O(slots) */
void llo_limits_retain(void *mem,
    int (*keep)(void *data, const uint8_t digest[32]), void *data);


/*
 * Admit a request of k reserving reserve_tokens (prompt + max_tokens or a
 * default; < 0 counts as 0).  Returns LLO_LIMIT_OK, with the request
 * counted (rpm) and the tokens reserved (tpm, tpd), or the LLO_LIMIT_* that
 * refused, with res->retry_after_us, and nothing changed.  res is filled
 * either way.  Expiry is not checked here (llo_key_expired()).
 */
int llo_limit_check(llo_limit_entry_t *e, const llo_key_t *k,
    int64_t now_us, int64_t reserve_tokens, llo_limit_result_t *res);

/*
 * The request ended: replace its reservation by what it used (tpm, tpd)
 * and add its cost to the budget.  Call it once for each allowed request,
 * with used_tokens 0 when nothing reached the provider.
 */
void llo_limit_reconcile(llo_limit_entry_t *e, const llo_key_t *k,
    int64_t now_us, int64_t reserved_tokens, int64_t used_tokens,
    int64_t cost_micro);

/*
 * A duration as OpenAI (Go) writes it: "0s", "12ms", "1s", "59.5s",
 * "6m0s", "1h2m3s", "24h0m0s".  Rounded up to the millisecond, so a
 * client that waits that long is not early.  Returns the length, as
 * snprintf(); LLO_DURATION_MAX always suffices.
 */
size_t llo_duration_format(int64_t us, char *buf, size_t len);


#endif /* _LLO_KEYS_H_INCLUDED_ */
