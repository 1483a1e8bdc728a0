/*
 * Unit tests for the shared ring (llo_ring.c).
 *
 * Ring files live in a mkdtemp() directory under /tmp made by main() and
 * removed by it, so a failing test (Check runs each in its own process)
 * leaves nothing behind.  Writers killed mid-record are real processes:
 * killed with SIGKILL at a chosen stage of a hand-made append, or dead of
 * SIGSEGV inside llo_ring_append() itself.  In the single-process tests
 * the torn-record timeout is driven by the now_ms the test passes, so
 * they never sleep for it.
 *
 * LLO_TEST_VERBOSE=1 prints what the stress tests saw; LLO_BENCH=1 also
 * prints append timings after the tests.
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check_main.h"
#include "llo_ring.h"
#include "llo_record.h"


#define LLO_T_CAP           (64 * 1024)
#define LLO_T_ERRLEN        512
#define LLO_T_TORN_MS       500
#define LLO_T_NEVER         INT64_MAX

/*
 * ck_assert_msg() writes to the Check runner even when it passes; in
 * loops over every record or byte that is most of the run time
 */
#define llo_t_check(expr, ...)                                               \
    do { if (!(expr)) { ck_abort_msg(__VA_ARGS__); } } while (0)

#define llo_t_align8(n)     (((uint64_t) (n) + 7) & ~((uint64_t) 7))
#define llo_t_total(len)    llo_t_align8(LLO_RING_REC_HDR + (uint64_t) (len))

/* how far a hand-made writer gets before it is killed */
#define LLO_T_RESERVED      0       /* wpos moved, nothing written */
#define LLO_T_HEADER        1       /* PAD and BUSY header written */
#define LLO_T_PAYLOAD       2       /* and half the payload */

/* the multi-process test */
#define LLO_T_PROCS         4
#define LLO_T_PER           20000
#define LLO_T_BODY_MAX      241

/* a ring never more than half full */
#define LLO_T_NDCYCLES      5000
#define LLO_T_NDBUDGET_MS   5000

/* producers dying while appending */
#define LLO_T_KSLOTS        3
#define LLO_T_KCRASH        12      /* generations that die in append */
#define LLO_T_KILLS         4       /* of those, killed first by SIGKILL */
#define LLO_T_KGEN          (LLO_T_KCRASH + LLO_T_KSLOTS)
#define LLO_T_KTORN_MS      200
#define LLO_T_KCAP          (256 * 1024)
#define LLO_T_KBODY         (24 * 1024)     /* long copies: wide windows */

/* the benchmark */
#define LLO_B_RECORD        600
#define LLO_B_CAP           (16 * 1024 * 1024)
#define LLO_B_PROCS_MAX     2


typedef struct {
    uint64_t            key;
    uint64_t            seq;
    uint64_t            end;        /* expected rec.next */
    uint32_t            len;
} llo_t_exp_t;


typedef struct {
    uint32_t            child;
    uint32_t            counter;
    uint32_t            body;
    uint32_t            sum;
} llo_t_mp_hdr_t;


typedef struct {
    volatile int        go;
    uint64_t            committed[LLO_T_PROCS];
    uint64_t            dropped[LLO_T_PROCS];
    uint64_t            drop_bytes[LLO_T_PROCS];
    uint64_t            seq[LLO_T_PROCS][LLO_T_PER];    /* 0: dropped */
} llo_t_mp_t;


typedef struct {
    volatile int        stop;
    uint64_t            committed[LLO_T_KGEN];
    uint64_t            dropped[LLO_T_KGEN];
} llo_t_kp_t;


typedef struct {
    volatile int        go;
    uint64_t            ns[LLO_B_PROCS_MAX];
    uint64_t            cpu_ns[LLO_B_PROCS_MAX];
    uint64_t            dropped[LLO_B_PROCS_MAX];
} llo_b_shared_t;


static void llo_t_path(char *buf, size_t size, const char *name);
static void llo_t_open(llo_ring_t *ring, const char *name, uint64_t cap);
static int llo_t_try_open(const char *name, uint64_t cap, char *err);
static int llo_t_try_attach(const char *name, char *err);
static void llo_t_poke(const char *name, off_t off, const void *v,
    size_t len);
static uint64_t llo_t_rand(uint64_t *state);
static uint8_t llo_t_byte(uint64_t key, size_t i);
static void llo_t_fill(uint8_t *buf, size_t len, uint64_t key);
static void llo_t_expect(llo_ring_t *ring, uint64_t *cursor, uint64_t key,
    size_t len);
static void llo_t_assert_free_zero(llo_ring_t *ring);
static uint64_t llo_t_append(llo_ring_t *ring, uint64_t key, size_t len);
static void llo_t_advance_to(llo_ring_t *ring, uint64_t off);
static uint64_t llo_t_reserve(llo_ring_t *ring, uint64_t key, size_t len,
    int stage);
static void llo_t_commit(llo_ring_t *ring, uint64_t pos, uint64_t key,
    size_t len);
static void llo_t_killed_writer(llo_ring_t *ring, uint64_t key, size_t len,
    int stage);
static void llo_t_torn_case(const char *name, int stage, int wrap);
static uint32_t llo_t_sum(const llo_t_mp_hdr_t *mh, const uint8_t *body);
static int llo_t_mp_verify(const llo_ring_rec_t *rec, llo_t_mp_hdr_t *mh,
    char *why, size_t size);
static void llo_t_mp_child(llo_ring_t *ring, llo_t_mp_t *mp,
    uint32_t child);
static pid_t llo_t_kp_spawn(llo_ring_t *ring, llo_t_kp_t *kp, uint32_t gen);
static void llo_t_note(const char *fmt, ...);
static int64_t llo_t_now_ms(void);
static uint64_t llo_t_now_ns(void);
static uint64_t llo_b_cpu_ns(void);
static void llo_b_run(int procs, uint64_t per);
static void llo_t_rmdir(const char *dir);


static char  llo_t_dir[256];


static void
llo_t_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", llo_t_dir, name);
}


static void
llo_t_open(llo_ring_t *ring, const char *name, uint64_t cap)
{
    char  path[512], err[LLO_T_ERRLEN];

    llo_t_path(path, sizeof(path), name);

    if (llo_ring_open(ring, path, cap, 1, 0600, (uid_t) -1, (gid_t) -1,
                      err, sizeof(err))
        != 0)
    {
        ck_abort_msg("llo_ring_open(\"%s\", %llu): %s", path,
                     (unsigned long long) cap, err);
    }
}


static int
llo_t_try_open(const char *name, uint64_t cap, char *err)
{
    int         rc;
    char        path[512];
    llo_ring_t  ring;

    llo_t_path(path, sizeof(path), name);
    strcpy(err, "(no message)");

    rc = llo_ring_open(&ring, path, cap, 1, 0600, (uid_t) -1, (gid_t) -1,
                       err, LLO_T_ERRLEN);
    if (rc == 0) {
        llo_ring_close(&ring);
    }

    return rc;
}


static int
llo_t_try_attach(const char *name, char *err)
{
    int         rc;
    char        path[512];
    llo_ring_t  ring;

    llo_t_path(path, sizeof(path), name);
    strcpy(err, "(no message)");

    rc = llo_ring_attach(&ring, path, err, LLO_T_ERRLEN);
    if (rc == 0) {
        llo_ring_close(&ring);
    }

    return rc;
}


/* change a ring file behind the library's back */

static void
llo_t_poke(const char *name, off_t off, const void *v, size_t len)
{
    int   fd;
    char  path[512];

    llo_t_path(path, sizeof(path), name);

    fd = open(path, O_RDWR | O_CREAT, 0600);
    ck_assert_msg(fd != -1, "open(\"%s\"): %s", path, strerror(errno));
    ck_assert_int_eq(pwrite(fd, v, len, off), (ssize_t) len);
    close(fd);
}


/* xorshift64*: reproducible sizes for a given seed */

static uint64_t
llo_t_rand(uint64_t *state)
{
    uint64_t  x;

    x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;

    return x * 0x2545f4914f6cdd1dULL;
}


/* payload byte i of the record with this key: any misplaced byte shows */

static uint8_t
llo_t_byte(uint64_t key, size_t i)
{
    uint64_t  x;

    x = (key + 1) * 0x9e3779b97f4a7c15ULL
        + (uint64_t) i * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebULL;

    return (uint8_t) (x >> 56);
}


static void
llo_t_fill(uint8_t *buf, size_t len, uint64_t key)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        buf[i] = llo_t_byte(key, i);
    }
}


/* read the next record, which must be the one with this key and length */

static void
llo_t_expect(llo_ring_t *ring, uint64_t *cursor, uint64_t key, size_t len)
{
    size_t          i;
    llo_ring_rc_e   rc;
    llo_ring_rec_t  rec;

    rc = llo_ring_read(ring, cursor, &rec, 0, LLO_T_NEVER);
    llo_t_check(rc == LLO_RING_OK, "read at %llu: rc %d, want record %llu",
                (unsigned long long) *cursor, rc, (unsigned long long) key);
    llo_t_check(rec.len == len, "record %llu: length %u, want %zu",
                (unsigned long long) key, rec.len, len);

    for (i = 0; i < len; i++) {
        llo_t_check(rec.payload[i] == llo_t_byte(key, i),
                    "record %llu: byte %zu differs",
                    (unsigned long long) key, i);
    }

    *cursor = rec.next;
}


/* the free part of the data area, [wpos, rpos + capacity), is all zero */

static void
llo_t_assert_free_zero(llo_ring_t *ring)
{
    uint64_t  pos, end, cap, word;

    cap = ring->hdr->capacity;
    pos = llo_ring_wpos(ring);
    end = llo_ring_rpos(ring) + cap;

    ck_assert_uint_eq(pos % 8, 0);

    for ( /* void */ ; pos < end; pos += 8) {
        memcpy(&word, ring->data + pos % cap, 8);

        if (word != 0) {
            ck_abort_msg("free word at position %llu (offset %llu) is "
                         "0x%016llx", (unsigned long long) pos,
                         (unsigned long long) (pos % cap),
                         (unsigned long long) word);
        }
    }
}


static uint64_t
llo_t_append(llo_ring_t *ring, uint64_t key, size_t len)
{
    uint8_t  buf[LLO_T_CAP];

    ck_assert_uint_le(len, sizeof(buf));
    llo_t_fill(buf, len, key);

    return llo_ring_append(ring, buf, len);
}


/* append and consume filler records until wpos % capacity == off */

static void
llo_t_advance_to(llo_ring_t *ring, uint64_t off)
{
    int       n;
    uint64_t  cap, w, gap, cursor;

    cap = ring->hdr->capacity;
    cursor = llo_ring_rpos(ring);

    for (n = 0; /* void */ ; n++) {
        ck_assert_int_lt(n, 100);
        w = llo_ring_wpos(ring);

        if (w % cap == off) {
            break;
        }

        gap = (off + cap - w % cap) % cap;

        if (gap > cap / 4) {
            gap = cap / 4;

        } else if (gap < LLO_RING_REC_HDR) {
            /* too short for a record: overshoot, and come round again */
            gap += cap / 4;
        }

        ck_assert_uint_ne(llo_t_append(ring, 0, gap - LLO_RING_REC_HDR), 0);
        llo_t_expect(ring, &cursor, 0, gap - LLO_RING_REC_HDR);
        llo_ring_release(ring, cursor);
    }

    ck_assert_uint_eq(llo_ring_rpos(ring), llo_ring_wpos(ring));
}


/*
 * Reserve a record the way llo_ring_append() does and stop at a stage,
 * as a writer killed there would.  Returns the record's position (after
 * the PAD, if the reservation wrapped).
 */

static uint64_t
llo_t_reserve(llo_ring_t *ring, uint64_t key, size_t len, int stage)
{
    uint8_t         *rec, buf[LLO_T_CAP];
    uint32_t         v[2];
    uint64_t         w, off, pad, total, cap, word;
    llo_ring_hdr_t  *h;

    h = ring->hdr;
    cap = h->capacity;
    total = llo_t_total(len);
    w = __atomic_load_n(&h->wpos, __ATOMIC_ACQUIRE);

    do {
        off = w % cap;
        pad = (cap - off < total) ? cap - off : 0;

        if (w + pad + total - h->rpos > cap) {
            return UINT64_MAX;
        }

    } while (!__atomic_compare_exchange_n(&h->wpos, &w, w + pad + total, 0,
                                          __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));

    if (stage >= LLO_T_HEADER && pad) {
        v[0] = (uint32_t) pad;
        v[1] = LLO_REC_STATE_PAD;
        memcpy(&word, v, 8);
        __atomic_store_n((uint64_t *) (ring->data + off), word,
                         __ATOMIC_RELEASE);
    }

    rec = ring->data + (pad ? 0 : off);

    if (stage >= LLO_T_HEADER) {
        v[0] = (uint32_t) (LLO_RING_REC_HDR + len);
        v[1] = LLO_REC_STATE_BUSY;
        memcpy(&word, v, 8);
        __atomic_store_n((uint64_t *) rec, word, __ATOMIC_RELEASE);
    }

    if (stage >= LLO_T_PAYLOAD) {
        llo_t_fill(buf, len, key);
        memcpy(rec + LLO_RING_REC_HDR, buf, len / 2);
    }

    return w + pad;
}


/* finish a record reserved by llo_t_reserve(..., LLO_T_HEADER) */

static void
llo_t_commit(llo_ring_t *ring, uint64_t pos, uint64_t key, size_t len)
{
    uint8_t   *rec;
    uint64_t   seq;

    rec = ring->data + pos % ring->hdr->capacity;
    seq = __atomic_add_fetch(&ring->hdr->seq, 1, __ATOMIC_RELAXED);

    memcpy(rec + 8, &seq, 8);
    llo_t_fill(rec + LLO_RING_REC_HDR, len, key);
    __atomic_store_n((uint32_t *) (rec + 4), LLO_REC_STATE_COMMIT,
                     __ATOMIC_RELEASE);
    __atomic_add_fetch(&ring->hdr->committed, 1, __ATOMIC_RELAXED);
}


/* a child process reserves a record in the shared mapping, then is
 * killed with SIGKILL at the given stage */

static void
llo_t_killed_writer(llo_ring_t *ring, uint64_t key, size_t len, int stage)
{
    int    status;
    pid_t  pid;

    pid = fork();
    ck_assert_int_ne(pid, -1);

    if (pid == 0) {
        if (llo_t_reserve(ring, key, len, stage) == UINT64_MAX) {
            _exit(2);
        }

        raise(SIGKILL);
        _exit(3);
    }

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "writer child status 0x%x", status);
}


/* what a stress test saw, with LLO_TEST_VERBOSE=1 */

static void
llo_t_note(const char *fmt, ...)
{
    va_list      args;
    const char  *v;

    v = getenv("LLO_TEST_VERBOSE");

    if (v == NULL || strcmp(v, "1") != 0) {
        return;
    }

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}


static int64_t
llo_t_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static uint64_t
llo_t_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


/* create, open, reuse */


START_TEST(test_create)
{
    char         path[512], err[LLO_T_ERRLEN];
    time_t       now;
    struct stat  st;
    llo_ring_t   ring;

    llo_t_path(path, sizeof(path), "create");
    now = time(NULL);

    ck_assert_uint_eq(sizeof(llo_ring_hdr_t), 320);
    ck_assert_uint_eq(offsetof(llo_ring_hdr_t, keyset_hash), 256);

    llo_t_open(&ring, "create", LLO_T_CAP);

    ck_assert_uint_eq(ring.hdr->magic, LLO_RING_MAGIC);
    ck_assert_mem_eq(&ring.hdr->magic, "LLORING", 8);
    ck_assert_uint_eq(ring.hdr->version, LLO_RING_VERSION);
    ck_assert_uint_eq(ring.hdr->header_size, LLO_RING_HEADER_SIZE);
    ck_assert_uint_eq(ring.hdr->capacity, LLO_T_CAP);
    ck_assert_uint_ne(ring.hdr->instance, 0);
    ck_assert_int_ge(ring.hdr->created, now - 1);
    ck_assert_int_le(ring.hdr->created, now + 1);
    ck_assert_uint_eq(llo_ring_wpos(&ring), 0);
    ck_assert_uint_eq(llo_ring_rpos(&ring), 0);
    ck_assert_uint_eq(ring.hdr->seq, 0);
    ck_assert_uint_eq(ring.hdr->drops, 0);
    ck_assert_uint_eq(ring.hdr->torn, 0);
    ck_assert_uint_eq(ring.hdr->committed, 0);
    ck_assert_ptr_eq(ring.data, (uint8_t *) ring.hdr + LLO_RING_HEADER_SIZE);
    ck_assert_uint_eq(ring.map_size, LLO_RING_HEADER_SIZE + LLO_T_CAP);
    ck_assert_int_ge(ring.fd, 0);

    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, LLO_RING_HEADER_SIZE + LLO_T_CAP);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    llo_t_assert_free_zero(&ring);

    llo_ring_close(&ring);
    ck_assert_ptr_null(ring.hdr);
    ck_assert_int_eq(ring.fd, -1);

    /* a mode other than 0600, applied despite the umask */
    llo_t_path(path, sizeof(path), "create-mode");
    ck_assert_int_eq(llo_ring_open(&ring, path, LLO_T_CAP, 1, 0664,
                                   (uid_t) -1, (gid_t) -1, err, sizeof(err)),
                     0);
    ck_assert_int_eq(fstat(ring.fd, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0664);
    llo_ring_close(&ring);
}
END_TEST


START_TEST(test_reopen_keeps_data)
{
    uint64_t        cursor, instance, w;
    llo_ring_t      ring, other;

    llo_t_open(&ring, "reopen", LLO_T_CAP);
    instance = ring.hdr->instance;

    ck_assert_uint_eq(llo_t_append(&ring, 1, 10), 1);
    ck_assert_uint_eq(llo_t_append(&ring, 2, 20), 2);
    ck_assert_uint_eq(llo_t_append(&ring, 3, 30), 3);

    cursor = llo_ring_rpos(&ring);
    llo_t_expect(&ring, &cursor, 1, 10);
    llo_ring_release(&ring, cursor);

    w = llo_ring_wpos(&ring);
    llo_ring_close(&ring);

    /* what nginx does on restart: same path, same size */
    llo_t_open(&ring, "reopen", LLO_T_CAP);

    ck_assert_uint_eq(ring.hdr->instance, instance);
    ck_assert_uint_eq(llo_ring_wpos(&ring), w);
    ck_assert_uint_eq(llo_ring_rpos(&ring), cursor);
    ck_assert_uint_eq(ring.hdr->committed, 3);

    llo_t_expect(&ring, &cursor, 2, 20);
    llo_t_expect(&ring, &cursor, 3, 30);
    ck_assert_uint_eq(llo_t_append(&ring, 4, 40), 4);
    llo_t_expect(&ring, &cursor, 4, 40);

    /* another ring gets another instance id */
    llo_t_open(&other, "reopen-other", LLO_T_CAP);
    ck_assert_uint_ne(other.hdr->instance, instance);
    llo_ring_close(&other);

    llo_ring_close(&ring);
}
END_TEST


START_TEST(test_reopen_other_size)
{
    char        err[LLO_T_ERRLEN];
    uint64_t    cursor;
    llo_ring_t  ring;

    llo_t_open(&ring, "resize", LLO_T_CAP);
    ck_assert_uint_ne(llo_t_append(&ring, 7, 70), 0);
    llo_ring_close(&ring);

    ck_assert_int_eq(llo_t_try_open("resize", 2 * LLO_T_CAP, err), -1);
    ck_assert_msg(strstr(err, "65536") != NULL
                  && strstr(err, "131072") != NULL
                  && strstr(err, "/resize\"") != NULL,
                  "message does not name the path and both sizes: %s", err);

    /* the refusal left the file as it was */
    ck_assert_int_eq(llo_t_try_attach("resize", err), 0);
    llo_t_open(&ring, "resize", LLO_T_CAP);
    cursor = llo_ring_rpos(&ring);
    llo_t_expect(&ring, &cursor, 7, 70);
    llo_ring_close(&ring);
}
END_TEST


START_TEST(test_attach)
{
    char        path[512], err[LLO_T_ERRLEN];
    uint64_t    cursor;
    llo_ring_t  prod, cons;

    llo_t_path(path, sizeof(path), "attach");

    ck_assert_int_eq(llo_ring_attach(&cons, path, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "attach") != NULL
                  && strstr(err, "No such file") != NULL, "%s", err);

    llo_t_open(&prod, "attach", 3 * LLO_T_CAP);

    /* the evaluator does not know the size: it takes the file's */
    ck_assert_int_eq(llo_ring_attach(&cons, path, err, sizeof(err)), 0);
    ck_assert_uint_eq(cons.hdr->capacity, 3 * LLO_T_CAP);
    ck_assert_uint_eq(cons.hdr->instance, prod.hdr->instance);

    ck_assert_uint_ne(llo_t_append(&prod, 5, 555), 0);
    cursor = llo_ring_rpos(&cons);
    llo_t_expect(&cons, &cursor, 5, 555);
    llo_ring_release(&cons, cursor);
    ck_assert_uint_eq(llo_ring_rpos(&prod), cursor);

    llo_ring_close(&cons);
    llo_ring_close(&prod);
}
END_TEST


START_TEST(test_format_mismatch)
{
    char            err[LLO_T_ERRLEN], path[512];
    uint32_t        version;
    uint64_t        magic, capacity, pos[2];
    llo_ring_t      ring;

    /* another format version: both sides refuse and say which */
    llo_t_open(&ring, "version", LLO_T_CAP);
    llo_ring_close(&ring);

    version = LLO_RING_VERSION + 1;
    llo_t_poke("version", offsetof(llo_ring_hdr_t, version), &version, 4);

    ck_assert_int_eq(llo_t_try_open("version", LLO_T_CAP, err), -1);
    ck_assert_msg(strstr(err, "format version 2") != NULL
                  && strstr(err, "reads version 1") != NULL, "%s", err);
    ck_assert_int_eq(llo_t_try_attach("version", err), -1);
    ck_assert_msg(strstr(err, "format version 2") != NULL, "%s", err);

    /* not a ring at all */
    llo_t_open(&ring, "magic", LLO_T_CAP);
    llo_ring_close(&ring);

    magic = 0x0123456789abcdefULL;
    llo_t_poke("magic", 0, &magic, 8);

    ck_assert_int_eq(llo_t_try_open("magic", LLO_T_CAP, err), -1);
    ck_assert_msg(strstr(err, "not an llm_observer ring") != NULL
                  && strstr(err, "bad magic 0x0123456789abcdef") != NULL,
                  "%s", err);
    ck_assert_int_eq(llo_t_try_attach("magic", err), -1);
    ck_assert_msg(strstr(err, "bad magic") != NULL, "%s", err);

    /* some other file that happens to be there, shorter than a header */
    llo_t_poke("text", 0, "hello, world\n", 13);

    ck_assert_int_eq(llo_t_try_open("text", LLO_T_CAP, err), -1);
    ck_assert_msg(strstr(err, "not an llm_observer ring") != NULL, "%s", err);
    ck_assert_int_eq(llo_t_try_attach("text", err), -1);
    ck_assert_msg(strstr(err, "too small") != NULL
                  && strstr(err, "13 bytes") != NULL, "%s", err);

    /* a header that disagrees with the file size */
    llo_t_open(&ring, "capacity", LLO_T_CAP);
    llo_ring_close(&ring);

    capacity = 2 * LLO_T_CAP;
    llo_t_poke("capacity", offsetof(llo_ring_hdr_t, capacity), &capacity, 8);

    ck_assert_int_eq(llo_t_try_attach("capacity", err), -1);
    ck_assert_msg(strstr(err, "131072 data bytes") != NULL
                  && strstr(err, "holds 65536") != NULL, "%s", err);

    /* positions no writer could have produced */
    llo_t_open(&ring, "positions", LLO_T_CAP);
    llo_ring_close(&ring);

    pos[0] = 3 * LLO_T_CAP;
    llo_t_poke("positions", offsetof(llo_ring_hdr_t, wpos), pos, 8);

    ck_assert_int_eq(llo_t_try_attach("positions", err), -1);
    ck_assert_msg(strstr(err, "inconsistent") != NULL
                  && strstr(err, "196608") != NULL, "%s", err);
    ck_assert_int_eq(llo_t_try_open("positions", LLO_T_CAP, err), -1);

    /* an empty file is not created over unless asked to */
    llo_t_path(path, sizeof(path), "empty");
    close(open(path, O_CREAT | O_WRONLY, 0600));
    ck_assert_int_eq(llo_ring_open(&ring, path, LLO_T_CAP, 0, 0600,
                                   (uid_t) -1, (gid_t) -1, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "is empty") != NULL, "%s", err);
    ck_assert_int_eq(llo_t_try_attach("empty", err), -1);
}
END_TEST


START_TEST(test_size_limits)
{
    char        err[LLO_T_ERRLEN], path[512];
    size_t      i;
    llo_ring_t  ring;

    static const uint64_t  bad[] = {
        0, 8, 4096, LLO_RING_MIN_SIZE - 8, LLO_RING_MIN_SIZE + 4,
        LLO_RING_MAX_SIZE + 8, UINT64_MAX
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "%llu", (unsigned long long) bad[i]);

        ck_assert_int_eq(llo_t_try_open("size", bad[i], err), -1);
        ck_assert_msg(strstr(err, "out of range") != NULL
                      && strstr(err, path) != NULL,
                      "size %s: %s", path, err);
    }

    /* refused before anything was created */
    llo_t_path(path, sizeof(path), "size");
    ck_assert_int_eq(access(path, F_OK), -1);

    llo_t_open(&ring, "size", LLO_RING_MIN_SIZE);
    llo_ring_close(&ring);

    /* no create flag: a missing file is an error */
    llo_t_path(path, sizeof(path), "missing");
    ck_assert_int_eq(llo_ring_open(&ring, path, LLO_T_CAP, 0, 0600,
                                   (uid_t) -1, (gid_t) -1, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "/missing") != NULL
                  && strstr(err, "No such file") != NULL, "%s", err);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST


START_TEST(test_parse_size)
{
    size_t    i;
    uint64_t  v;

    static const struct {
        const char  *s;
        uint64_t     v;
    } good[] = {
        { "0", 0 },
        { "65536", 65536 },
        { "64k", 64 * 1024 },
        { "64K", 64 * 1024 },
        { "512k", 512 * 1024 },
        { "64m", 64 * 1024 * 1024 },
        { "64M", 64 * 1024 * 1024 },
        { "1g", 1024 * 1024 * 1024 },
        { "64G", 64ULL * 1024 * 1024 * 1024 },
        { "000000000000001", 1 },
        { "999999999999999", 999999999999999ULL },
    };

    static const char  *bad[] = {
        "", "k", "m", "g", "12x", "1.5m", "-1", "+1", " 1m", "1m ", "1mb",
        "0x10", "1kk", "1t", "1000000000000000", "17179869185g",
        "17592186044417m", "999999999999999g"
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = 12345;
        ck_assert_msg(llo_parse_size(good[i].s, strlen(good[i].s), &v) == 0,
                      "\"%s\" refused", good[i].s);
        ck_assert_msg(v == good[i].v, "\"%s\" gave %llu", good[i].s,
                      (unsigned long long) v);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 12345;
        ck_assert_msg(llo_parse_size(bad[i], strlen(bad[i]), &v) == -1,
                      "\"%s\" accepted as %llu", bad[i],
                      (unsigned long long) v);
    }

    /* the length counts, not a NUL: nginx strings are not terminated */
    ck_assert_int_eq(llo_parse_size("64mjunk", 3, &v), 0);
    ck_assert_uint_eq(v, 64 * 1024 * 1024);
    ck_assert_int_eq(llo_parse_size("64mjunk", 2, &v), 0);
    ck_assert_uint_eq(v, 64);
}
END_TEST


/* append, read, release */


START_TEST(test_round_trip)
{
    size_t          len;
    uint64_t        cursor, seq, pos;
    llo_ring_rc_e   rc;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;

    llo_t_open(&ring, "roundtrip", LLO_T_CAP);

    cursor = llo_ring_rpos(&ring);
    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                     LLO_RING_EMPTY);
    ck_assert_uint_eq(cursor, 0);

    /* every length modulo 8, and an empty payload */
    for (len = 0; len <= 100; len++) {
        seq = llo_t_append(&ring, len, len);
        ck_assert_uint_eq(seq, len + 1);
    }

    ck_assert_uint_eq(ring.hdr->committed, 101);
    ck_assert_uint_eq(ring.hdr->seq, 101);

    /* reading does not move rpos; reading again from rpos (what the
     * evaluator does after a failed database transaction) gives the same
     * records */

    cursor = llo_ring_rpos(&ring);

    for (len = 0; len < 10; len++) {
        llo_t_expect(&ring, &cursor, len, len);
    }

    ck_assert_uint_eq(llo_ring_rpos(&ring), 0);
    cursor = llo_ring_rpos(&ring);
    pos = 0;

    for (len = 0; len <= 100; len++) {
        rc = llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER);
        ck_assert_int_eq(rc, LLO_RING_OK);
        ck_assert_uint_eq(cursor, pos);
        ck_assert_uint_eq(rec.seq, len + 1);
        ck_assert_uint_eq(rec.instance, ring.hdr->instance);
        ck_assert_uint_eq(rec.len, len);
        ck_assert_uint_eq(rec.payload - ring.data, pos + LLO_RING_REC_HDR);
        ck_assert_uint_eq(rec.next, pos + llo_t_total(len));

        pos = rec.next;
        cursor = rec.next;
    }

    ck_assert_uint_eq(cursor, llo_ring_wpos(&ring));
    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                     LLO_RING_EMPTY);

    /* a partial release, then the rest */
    cursor = llo_ring_rpos(&ring);
    llo_t_expect(&ring, &cursor, 0, 0);
    llo_t_expect(&ring, &cursor, 1, 1);
    llo_ring_release(&ring, cursor);
    ck_assert_uint_eq(llo_ring_rpos(&ring), cursor);
    llo_t_assert_free_zero(&ring);

    llo_t_expect(&ring, &cursor, 2, 2);

    /* releasing backwards is a no-op */
    llo_ring_release(&ring, 0);
    ck_assert_uint_eq(llo_ring_rpos(&ring), llo_t_total(0) + llo_t_total(1));

    llo_ring_release(&ring, llo_ring_wpos(&ring));
    ck_assert_uint_eq(llo_ring_rpos(&ring), llo_ring_wpos(&ring));
    llo_t_assert_free_zero(&ring);

    ck_assert_uint_eq(ring.hdr->drops, 0);
    ck_assert_uint_eq(ring.hdr->torn, 0);

    llo_ring_close(&ring);
}
END_TEST


START_TEST(test_append_seq)
{
    uint64_t        cursor, seq;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;

    /* the module takes a seq when the request starts and appends the
     * record when it ends: records then carry that seq, not the next */

    llo_t_open(&ring, "seq", LLO_T_CAP);
    cursor = llo_ring_rpos(&ring);

    seq = llo_ring_next_seq(&ring);
    ck_assert_uint_eq(seq, 1);
    ck_assert_uint_eq(llo_ring_next_seq(&ring), 2);

    ck_assert_uint_eq(llo_t_append(&ring, 1, 11), 3);
    ck_assert_uint_eq(llo_ring_append_seq(&ring, seq, "abc", 3), seq);

    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                     LLO_RING_OK);
    ck_assert_uint_eq(rec.seq, 3);
    cursor = rec.next;

    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                     LLO_RING_OK);
    ck_assert_uint_eq(rec.seq, 1);
    ck_assert_uint_eq(rec.len, 3);
    ck_assert_mem_eq(rec.payload, "abc", 3);
    cursor = rec.next;

    /* seq 0 means "take the next one" */
    ck_assert_uint_eq(llo_ring_append_seq(&ring, 0, "de", 2), 4);

    /* a dropped record with a seq of its own returns 0, like append */
    ck_assert_uint_eq(llo_ring_append_seq(&ring, 99, "", LLO_T_CAP), 0);
    ck_assert_uint_eq(ring.hdr->drops, 1);
    ck_assert_uint_eq(ring.hdr->committed, 3);

    llo_ring_close(&ring);
}
END_TEST


START_TEST(test_record_through_ring)
{
    size_t          n, i;
    uint8_t         buf[1024];
    uint64_t        cursor;
    llo_rec_t       in, out;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;
    char            err[LLO_T_ERRLEN];

    /* what the module writes and the evaluator decodes: encoded records
     * are rarely a multiple of 8 bytes long */

    llo_t_open(&ring, "record", LLO_T_CAP);

    for (i = 0; i < 8; i++) {
        memset(&in, 0, sizeof(llo_rec_t));
        llo_rec_num(&in, LLO_N_KIND, LLO_KIND_CALL);
        llo_rec_num(&in, LLO_N_PROMPT_TOKENS, 1000 + i);
        llo_rec_str(&in, LLO_S_REQUEST_MODEL, "gpt-4o-mini", 11);
        llo_rec_str(&in, LLO_S_REQUEST_ID, "abcdefgh", i);

        n = llo_rec_encode(&in, buf);
        ck_assert_uint_ne(llo_ring_append(&ring, buf, n), 0);

        cursor = llo_ring_rpos(&ring);
        ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                         LLO_RING_OK);
        ck_assert_uint_eq(rec.len, n);

        err[0] = '\0';
        ck_assert_msg(llo_rec_decode(&out, rec.payload, rec.len, err,
                                     sizeof(err)) == 0,
                      "record of %zu bytes: %s", n, err);
        ck_assert_int_eq(out.num[LLO_N_PROMPT_TOKENS], 1000 + i);
        ck_assert_uint_eq(llo_rec_get_str(&out, LLO_S_REQUEST_ID)->len, i);

        llo_ring_release(&ring, rec.next);
    }

    llo_ring_close(&ring);
}
END_TEST


START_TEST(test_pad_layout)
{
    uint32_t        v[2];
    uint64_t        w, cursor;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;

    llo_t_open(&ring, "pad", LLO_T_CAP);

    /* 40 bytes left at the end; a 48-byte record does not fit there, so
     * the tail becomes a PAD and the record starts at offset 0 */

    llo_t_advance_to(&ring, LLO_T_CAP - 40);
    w = llo_ring_wpos(&ring);
    ck_assert_uint_ne(llo_t_append(&ring, 100, 30), 0);

    ck_assert_uint_eq(llo_ring_wpos(&ring), w + 40 + 48);
    memcpy(v, ring.data + LLO_T_CAP - 40, 8);
    ck_assert_uint_eq(v[0], 40);
    ck_assert_uint_eq(v[1], LLO_REC_STATE_PAD);
    memcpy(v, ring.data, 8);
    ck_assert_uint_eq(v[1], LLO_REC_STATE_COMMIT);

    cursor = w;
    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                     LLO_RING_OK);
    ck_assert_uint_eq(cursor, w + 40);
    ck_assert_ptr_eq(rec.payload, ring.data + LLO_RING_REC_HDR);
    ck_assert_uint_eq(rec.next, w + 40 + 48);
    cursor = w;
    llo_t_expect(&ring, &cursor, 100, 30);

    llo_ring_release(&ring, cursor);
    llo_t_assert_free_zero(&ring);

    /* 40 bytes left, and a record of exactly 40: no PAD */
    llo_t_advance_to(&ring, LLO_T_CAP - 40);
    w = llo_ring_wpos(&ring);
    ck_assert_uint_ne(llo_t_append(&ring, 101, 24), 0);
    ck_assert_uint_eq(llo_ring_wpos(&ring), w + 40);
    ck_assert_uint_eq(llo_ring_wpos(&ring) % LLO_T_CAP, 0);
    cursor = w;
    llo_t_expect(&ring, &cursor, 101, 24);
    llo_ring_release(&ring, cursor);

    /* 8 bytes left: the smallest PAD, a header without a record */
    llo_t_advance_to(&ring, LLO_T_CAP - 8);
    w = llo_ring_wpos(&ring);
    ck_assert_uint_ne(llo_t_append(&ring, 102, 0), 0);
    ck_assert_uint_eq(llo_ring_wpos(&ring), w + 8 + 16);
    memcpy(v, ring.data + LLO_T_CAP - 8, 8);
    ck_assert_uint_eq(v[0], 8);
    ck_assert_uint_eq(v[1], LLO_REC_STATE_PAD);
    cursor = w;
    llo_t_expect(&ring, &cursor, 102, 0);
    llo_ring_release(&ring, cursor);
    llo_t_assert_free_zero(&ring);

    ck_assert_uint_eq(ring.hdr->drops, 0);
    ck_assert_uint_eq(ring.hdr->torn, 0);

    llo_ring_close(&ring);
}
END_TEST


/*
 * Many laps of a small ring: random sizes, plus sizes chosen from the
 * space left before the end (exactly filling it, overshooting it into a
 * PAD, or leaving 8 bytes for the smallest PAD).  The consumer reads a
 * random number of records, sometimes rereads from rpos as after a failed
 * transaction, and releases; every record is checked against a model of
 * where it must be.
 */

START_TEST(test_wrap_around)
{
    int             kind, fills, pads, pad8s, rereads;
    size_t          len;
    uint64_t        rnd, w, r, off, rem, total, pad, seq, key, cursor;
    uint64_t        drops, drop_bytes, committed, m, cap;
    llo_ring_rc_e   rc;
    llo_ring_rec_t  rec;
    llo_t_exp_t    *q;
    llo_ring_t      ring;
    size_t          head, rd, tail, qmax, i;

    cap = LLO_T_CAP;
    qmax = cap / LLO_RING_REC_HDR + 1;
    q = calloc(qmax, sizeof(llo_t_exp_t));
    ck_assert_ptr_nonnull(q);

    llo_t_open(&ring, "wrap", cap);

    rnd = 0x5eed1234abcdULL;
    head = 0;           /* oldest unreleased */
    rd = 0;             /* next to read */
    tail = 0;           /* next to append */
    cursor = 0;
    key = 0;
    drops = 0;
    drop_bytes = 0;
    committed = 0;
    fills = 0;
    pads = 0;
    pad8s = 0;
    rereads = 0;

    while (llo_ring_wpos(&ring) < 400 * cap) {

        /* producer */

        m = llo_t_rand(&rnd) % 48 + 1;

        for (i = 0; i < m; i++) {
            w = llo_ring_wpos(&ring);
            r = llo_ring_rpos(&ring);
            off = w % cap;
            rem = cap - off;
            kind = (int) (llo_t_rand(&rnd) % 16);
            len = llo_t_rand(&rnd) % 200;

            if (kind <= 2 && rem >= 16 && rem <= cap / 2) {
                /* exactly fill the tail, any length mod 8 */
                len = rem - 16 - llo_t_rand(&rnd) % 8;
                if (rem < 24) {
                    len = rem - 16;
                }

            } else if (kind >= 3 && kind <= 5 && rem + 300 < cap / 2) {
                /* just too big for the tail */
                len = (rem >= 16 ? rem - 15 : 0) + llo_t_rand(&rnd) % 300;

            } else if (kind >= 6 && kind <= 7 && rem >= 24
                       && rem - 8 <= cap / 2)
            {
                /* leave 8 bytes, the smallest PAD, for the next one */
                len = rem - 24 - (rem >= 32 ? llo_t_rand(&rnd) % 8 : 0);

            } else if (kind == 8) {
                len = llo_t_rand(&rnd) % (cap / 4);
            }

            total = llo_t_total(len);
            pad = rem < total ? rem : 0;
            key++;

            seq = llo_t_append(&ring, key, len);

            if (w + pad + total - r > cap) {
                llo_t_check(seq == 0, "%zu bytes at %llu appended, "
                            "rpos %llu", len, (unsigned long long) w,
                            (unsigned long long) r);
                drops++;
                drop_bytes += total;
                llo_t_check(llo_ring_wpos(&ring) == w, "dropped record "
                            "moved wpos from %llu", (unsigned long long) w);
                continue;
            }

            committed++;
            llo_t_check(seq == committed, "seq %llu, want %llu",
                        (unsigned long long) seq,
                        (unsigned long long) committed);
            llo_t_check(llo_ring_wpos(&ring) == w + pad + total,
                        "%zu bytes at %llu: wpos %llu",
                        len, (unsigned long long) w,
                        (unsigned long long) llo_ring_wpos(&ring));

            fills += (pad == 0 && total == rem);
            pads += (pad != 0);
            pad8s += (pad == 8);

            llo_t_check(tail - head < qmax, "model overflow");
            q[tail % qmax].key = key;
            q[tail % qmax].seq = seq;
            q[tail % qmax].len = (uint32_t) len;
            q[tail % qmax].end = w + pad + total;
            tail++;
        }

        ck_assert_uint_eq(ring.hdr->drops, drops);
        ck_assert_uint_eq(ring.hdr->drop_bytes, drop_bytes);
        ck_assert_uint_eq(ring.hdr->committed, committed);

        /* consumer */

        m = llo_t_rand(&rnd) % (tail - rd + 1);

        for (i = 0; i < m; i++, rd++) {
            rc = llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER);
            llo_t_check(rc == LLO_RING_OK && rec.seq == q[rd % qmax].seq
                        && rec.next == q[rd % qmax].end,
                        "read at %llu: rc %d, seq %llu, next %llu; want "
                        "seq %llu, next %llu", (unsigned long long) cursor,
                        rc, (unsigned long long) rec.seq,
                        (unsigned long long) rec.next,
                        (unsigned long long) q[rd % qmax].seq,
                        (unsigned long long) q[rd % qmax].end);

            llo_t_expect(&ring, &cursor, q[rd % qmax].key, q[rd % qmax].len);
        }

        if (rd == tail) {
            ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0,
                                           LLO_T_NEVER),
                             LLO_RING_EMPTY);
            ck_assert_uint_eq(cursor, llo_ring_wpos(&ring));
        }

        if (llo_t_rand(&rnd) % 8 == 0) {
            /* the transaction failed: read again from rpos */
            cursor = llo_ring_rpos(&ring);
            rd = head;
            rereads++;
            continue;
        }

        llo_ring_release(&ring, cursor);
        head = rd;
        ck_assert_uint_eq(llo_ring_rpos(&ring), cursor);
        llo_t_assert_free_zero(&ring);
    }

    llo_t_note("wrap-around: %d records filled the tail, %d PADs (%d of 8 "
               "bytes), %llu drops, %d rereads, %llu records in %llu laps",
               fills, pads, pad8s, (unsigned long long) drops, rereads,
               (unsigned long long) committed,
               (unsigned long long) (llo_ring_wpos(&ring) / cap));

    /* the tail cases really happened, many times */
    ck_assert_int_gt(fills, 50);
    ck_assert_int_gt(pads, 50);
    ck_assert_int_gt(pad8s, 10);
    ck_assert_uint_gt(drops, 100);
    ck_assert_int_gt(rereads, 100);

    for ( /* void */ ; rd < tail; rd++) {
        llo_t_expect(&ring, &cursor, q[rd % qmax].key, q[rd % qmax].len);
    }

    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                     LLO_RING_EMPTY);
    llo_ring_release(&ring, cursor);
    llo_t_assert_free_zero(&ring);
    ck_assert_uint_eq(ring.hdr->torn, 0);
    ck_assert_uint_eq(ring.hdr->seq, committed);

    llo_ring_close(&ring);
    free(q);
}
END_TEST


START_TEST(test_full)
{
    int             n;
    uint8_t        *big;
    uint64_t        cursor, seq, w;
    llo_ring_t      ring;

    llo_t_open(&ring, "full", LLO_T_CAP);

    /* 1000-byte payloads take 1016 bytes: 64 fit in 65536 */
    for (n = 0; n < 64; n++) {
        ck_assert_uint_eq(llo_t_append(&ring, n, 1000), (uint64_t) n + 1);
    }

    w = llo_ring_wpos(&ring);
    ck_assert_uint_eq(w, 64 * 1016);

    ck_assert_uint_eq(llo_t_append(&ring, 64, 1000), 0);
    ck_assert_uint_eq(ring.hdr->drops, 1);
    ck_assert_uint_eq(ring.hdr->drop_bytes, 1016);
    ck_assert_uint_eq(llo_t_append(&ring, 65, 999), 0);
    ck_assert_uint_eq(ring.hdr->drops, 2);
    ck_assert_uint_eq(ring.hdr->drop_bytes, 2032);
    ck_assert_uint_eq(llo_ring_wpos(&ring), w);

    /* a small one still fits in the 512 bytes left */
    ck_assert_uint_eq(llo_t_append(&ring, 66, 400), 65);
    ck_assert_uint_eq(llo_t_append(&ring, 67, 100), 0);
    ck_assert_uint_eq(ring.hdr->drops, 3);

    /* reading alone frees nothing */
    cursor = llo_ring_rpos(&ring);
    llo_t_expect(&ring, &cursor, 0, 1000);
    ck_assert_uint_eq(llo_t_append(&ring, 68, 1000), 0);
    ck_assert_uint_eq(ring.hdr->drops, 4);

    /* one released: 1016 + the 96 left in the tail; a 1000-byte record
     * needs a PAD of 96 and 1016 at the start, which now fits exactly */
    llo_ring_release(&ring, cursor);
    w = llo_ring_wpos(&ring);
    ck_assert_uint_eq(w, 64 * 1016 + 416);

    seq = llo_t_append(&ring, 69, 1000);
    ck_assert_uint_eq(seq, 66);
    ck_assert_uint_eq(llo_ring_wpos(&ring), w + 96 + 1016);
    ck_assert_uint_eq(llo_ring_wpos(&ring) - llo_ring_rpos(&ring), LLO_T_CAP);
    ck_assert_uint_eq(llo_t_append(&ring, 70, 0), 0);
    ck_assert_uint_eq(ring.hdr->drops, 5);
    ck_assert_uint_eq(ring.hdr->committed, 66);

    /* nothing was damaged by the drops */
    for (n = 1; n < 64; n++) {
        llo_t_expect(&ring, &cursor, n, 1000);
    }

    llo_t_expect(&ring, &cursor, 66, 400);
    llo_t_expect(&ring, &cursor, 69, 1000);
    llo_ring_release(&ring, cursor);
    llo_t_assert_free_zero(&ring);

    /* larger than half the ring: dropped even when the ring is empty */
    ck_assert_uint_eq(llo_t_append(&ring, 71, LLO_T_CAP / 2 - 15), 0);
    ck_assert_uint_eq(ring.hdr->drops, 6);
    ck_assert_uint_eq(ring.hdr->drop_bytes,
                      3 * 1016 + 120 + llo_t_total(0)
                      + llo_t_total(LLO_T_CAP / 2 - 15));

    ck_assert_uint_eq(llo_t_append(&ring, 72, LLO_T_CAP / 2 - 16), 67);
    llo_t_expect(&ring, &cursor, 72, LLO_T_CAP / 2 - 16);
    llo_ring_release(&ring, cursor);

    llo_ring_close(&ring);

    /* larger than LLO_RING_MAX_RECORD, in a ring big enough for it */
    llo_t_open(&ring, "full-big", 4ULL * LLO_RING_MAX_RECORD);

    big = calloc(1, LLO_RING_MAX_RECORD + 1);
    ck_assert_ptr_nonnull(big);

    ck_assert_uint_eq(llo_ring_append(&ring, big, LLO_RING_MAX_RECORD + 1),
                      0);
    ck_assert_uint_eq(ring.hdr->drops, 1);
    ck_assert_uint_eq(llo_ring_append(&ring, big, LLO_RING_MAX_RECORD), 1);
    ck_assert_uint_eq(ring.hdr->drops, 1);

    free(big);
    llo_ring_close(&ring);
}
END_TEST


/* several producer processes */


static uint32_t
llo_t_sum(const llo_t_mp_hdr_t *mh, const uint8_t *body)
{
    uint32_t  h, i;

    /* FNV-1a over the identity and the body */
    h = 2166136261U ^ mh->child;
    h *= 16777619U;
    h ^= mh->counter;
    h *= 16777619U;

    for (i = 0; i < mh->body; i++) {
        h ^= body[i];
        h *= 16777619U;
    }

    return h;
}


/* a record as the producers wrote it: identity, length, checksum, bytes */

static int
llo_t_mp_verify(const llo_ring_rec_t *rec, llo_t_mp_hdr_t *mh, char *why,
    size_t size)
{
    uint32_t  i;

    memset(mh, 0, sizeof(llo_t_mp_hdr_t));

    if (rec->len < sizeof(llo_t_mp_hdr_t)) {
        snprintf(why, size, "too short");
        return -1;
    }

    memcpy(mh, rec->payload, sizeof(llo_t_mp_hdr_t));

    if (mh->child >= LLO_T_PROCS || mh->counter >= LLO_T_PER
        || mh->body != rec->len - sizeof(llo_t_mp_hdr_t))
    {
        snprintf(why, size, "bad identity or length (body %u)", mh->body);
        mh->child = 0;
        mh->counter = 0;
        return -1;
    }

    if (mh->sum != llo_t_sum(mh, rec->payload + sizeof(llo_t_mp_hdr_t))) {
        snprintf(why, size, "bad checksum");
        return -1;
    }

    for (i = 0; i < mh->body; i++) {
        if (rec->payload[sizeof(llo_t_mp_hdr_t) + i]
            != llo_t_byte(((uint64_t) mh->child << 32) | mh->counter, i))
        {
            snprintf(why, size, "body byte %u differs", i);
            return -1;
        }
    }

    return 0;
}


static void
llo_t_mp_child(llo_ring_t *ring, llo_t_mp_t *mp, uint32_t child)
{
    uint8_t          buf[sizeof(llo_t_mp_hdr_t) + LLO_T_BODY_MAX];
    uint32_t         i;
    uint64_t         seq, last;
    llo_t_mp_hdr_t   mh;

    while (!__atomic_load_n(&mp->go, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }

    last = 0;

    for (i = 0; i < LLO_T_PER; i++) {
        mh.child = child;
        mh.counter = i;
        mh.body = (i * 37 + child * 11) % LLO_T_BODY_MAX;

        llo_t_fill(buf + sizeof(mh), mh.body, ((uint64_t) child << 32) | i);
        mh.sum = llo_t_sum(&mh, buf + sizeof(mh));
        memcpy(buf, &mh, sizeof(mh));

        seq = llo_ring_append(ring, buf, sizeof(mh) + mh.body);
        mp->seq[child][i] = seq;

        if (seq == 0) {
            mp->dropped[child]++;
            mp->drop_bytes[child] += llo_t_total(sizeof(mh) + mh.body);

            /* requests arrive at some rate: without a pause here the
             * producers would run through their records while the ring
             * is full and drop nearly all of them */
            usleep(100);
            continue;
        }

        /* one process appends in order, so its seqs grow */
        if (seq <= last) {
            _exit(10);
        }

        last = seq;
        mp->committed[child]++;
    }

    _exit(0);
}


START_TEST(test_multi_producer)
{
    int              status, running, stalls;
    pid_t            pids[LLO_T_PROCS], pid;
    size_t           i, nseq;
    int64_t          start, deadline, now;
    uint8_t         *seen, *seqs;
    uint32_t         c;
    uint64_t         cursor, unreleased, nread, drops, drop_bytes, committed;
    int64_t          last[LLO_T_PROCS];
    char             why[128];
    llo_ring_rc_e    rc;
    llo_t_mp_hdr_t   mh;
    llo_ring_rec_t   rec;
    llo_t_mp_t      *mp;
    llo_ring_t       ring;

    mp = mmap(NULL, sizeof(llo_t_mp_t), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(mp != MAP_FAILED);

    nseq = (size_t) LLO_T_PROCS * LLO_T_PER + 1;
    seen = calloc(LLO_T_PROCS, LLO_T_PER);
    seqs = calloc(nseq, 1);
    ck_assert_ptr_nonnull(seen);
    ck_assert_ptr_nonnull(seqs);

    /* small enough that 4 producers fill it whenever the consumer lags */
    llo_t_open(&ring, "multi", LLO_T_CAP);

    for (c = 0; c < LLO_T_PROCS; c++) {
        last[c] = -1;
        pids[c] = fork();
        ck_assert_int_ne(pids[c], -1);

        if (pids[c] == 0) {
            llo_t_mp_child(&ring, mp, c);
        }
    }

    __atomic_store_n(&mp->go, 1, __ATOMIC_RELEASE);

    running = LLO_T_PROCS;
    cursor = llo_ring_rpos(&ring);
    unreleased = 0;
    nread = 0;
    stalls = 0;
    start = llo_t_now_ms();
    deadline = start + 60000;

    for ( ;; ) {
        now = llo_t_now_ms();
        ck_assert_msg(now < deadline, "consumer still running after 60 s, "
                      "%llu records read", (unsigned long long) nread);

        rc = llo_ring_read(&ring, &cursor, &rec, now, 60000);

        if (rc == LLO_RING_OK) {
            if (llo_t_mp_verify(&rec, &mh, why, sizeof(why)) != 0
                || (mh.counter <= last[mh.child]
                    && snprintf(why, sizeof(why), "after record %lld",
                                (long long) last[mh.child]))
                || (seen[mh.child * LLO_T_PER + mh.counter]
                    && snprintf(why, sizeof(why), "seen twice"))
                || ((rec.seq == 0 || rec.seq >= nseq || seqs[rec.seq])
                    && snprintf(why, sizeof(why), "seq %llu out of range "
                                "or seen twice",
                                (unsigned long long) rec.seq))
                || (rec.instance != ring.hdr->instance
                    && snprintf(why, sizeof(why), "wrong instance")))
            {
                ck_abort_msg("record at %llu (child %u, counter %u, %u "
                             "bytes): %s", (unsigned long long) cursor,
                             mh.child, mh.counter, rec.len, why);
            }

            last[mh.child] = mh.counter;
            seen[mh.child * LLO_T_PER + mh.counter] = 1;
            seqs[rec.seq] = 1;

            cursor = rec.next;
            nread++;

            /* now and then hold everything for a moment, as a slow
             * database would, so that the producers fill the ring */
            if (nread % 4096 == 0) {
                usleep(500);
                stalls++;
            }

            if (++unreleased < 32) {
                continue;
            }
        }

        ck_assert_int_ne(rc, LLO_RING_CORRUPT);

        llo_ring_release(&ring, cursor);
        unreleased = 0;

        if (rc == LLO_RING_WAIT) {
            /* a writer between its reservation and its commit */
            sched_yield();
            continue;
        }

        if (rc != LLO_RING_EMPTY) {
            continue;
        }

        if (running == 0) {
            break;
        }

        pid = waitpid(-1, &status, WNOHANG);

        if (pid > 0) {
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                          "producer %d status 0x%x", (int) pid, status);
            running--;

            /* read once more after the last exit: it may have committed
             * after the previous EMPTY */
            continue;
        }

        sched_yield();
    }

    llo_t_note("multi-producer: %llu records read, %llu dropped, %d stalls, "
               "%lld ms", (unsigned long long) nread,
               (unsigned long long) ring.hdr->drops, stalls,
               (long long) (llo_t_now_ms() - start));

    /* every committed record seen exactly once; no dropped one seen */

    drops = 0;
    drop_bytes = 0;
    committed = 0;

    for (c = 0; c < LLO_T_PROCS; c++) {
        ck_assert_uint_eq(mp->committed[c] + mp->dropped[c], LLO_T_PER);
        drops += mp->dropped[c];
        drop_bytes += mp->drop_bytes[c];
        committed += mp->committed[c];

        for (i = 0; i < LLO_T_PER; i++) {
            ck_assert_msg(seen[c * LLO_T_PER + i] == (mp->seq[c][i] != 0),
                          "child %u record %zu: appended with seq %llu, "
                          "read %d times", c, i,
                          (unsigned long long) mp->seq[c][i],
                          seen[c * LLO_T_PER + i]);
        }
    }

    ck_assert_uint_eq(nread, committed);
    ck_assert_uint_eq(ring.hdr->committed, committed);
    ck_assert_uint_eq(ring.hdr->seq, committed);
    ck_assert_uint_eq(ring.hdr->drops, drops);
    ck_assert_uint_eq(ring.hdr->drop_bytes, drop_bytes);
    ck_assert_uint_eq(ring.hdr->torn, 0);
    ck_assert_uint_eq(committed + drops,
                      (uint64_t) LLO_T_PROCS * LLO_T_PER);

    for (i = 1; i <= committed; i++) {
        ck_assert_msg(seqs[i] == 1, "seq %zu never read", i);
    }

    /* the stalls made the ring overflow */
    ck_assert_int_gt(stalls, 0);
    ck_assert_uint_gt(drops, 0);

    ck_assert_uint_eq(cursor, llo_ring_wpos(&ring));
    ck_assert_uint_eq(llo_ring_rpos(&ring), cursor);
    llo_t_assert_free_zero(&ring);

    llo_ring_close(&ring);
    free(seqs);
    free(seen);
    munmap(mp, sizeof(llo_t_mp_t));
}
END_TEST


/*
 * A producer that keeps the ring at most half full must never see a
 * drop.  It is stopped with SIGSTOP at random moments; while it is
 * stopped, the test appends, reads and releases, so that rpos moves past
 * any wpos the stopped producer may have loaded just before.  Stopped
 * between its load of wpos and its load of rpos, llo_ring_append() sees
 * rpos > wpos, and must not take that for a full ring.
 */

START_TEST(test_no_false_drops)
{
    int              status, cycle, k;
    pid_t            pid;
    int64_t          budget;
    uint64_t         cursor, nread, rnd, spin, t, resumed;
    llo_ring_rc_e    rc;
    llo_ring_rec_t   rec;
    llo_t_kp_t      *kp;
    llo_ring_t       ring;

    kp = mmap(NULL, sizeof(llo_t_kp_t), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(kp != MAP_FAILED);

    llo_t_open(&ring, "false-drops", LLO_T_CAP);

    pid = fork();
    ck_assert_int_ne(pid, -1);

    if (pid == 0) {
        for (t = 0; !kp->stop; t++) {
            if (llo_ring_wpos(&ring) - llo_ring_rpos(&ring) > LLO_T_CAP / 2) {
                continue;
            }

            if (llo_ring_append(&ring, &t, sizeof(t)) == 0) {
                kp->dropped[0]++;

            } else {
                kp->committed[0]++;
            }
        }

        _exit(0);
    }

    cursor = llo_ring_rpos(&ring);
    nread = 0;
    rnd = 0x1234567;
    budget = llo_t_now_ms() + LLO_T_NDBUDGET_MS;

    /* a time budget, not a deadline: on a loaded machine there are
     * fewer cycles, and less chance to catch the bug, but no failure */

    for (cycle = 0; cycle < LLO_T_NDCYCLES && llo_t_now_ms() < budget;
         cycle++)
    {

        /* let it run a little, a different time each cycle, and
         * meanwhile release each record as it comes: rpos changes all the
         * time, so the producer's load of it misses the cache and takes
         * long enough for SIGSTOP to land on it */
        spin = llo_t_now_ns() + 20000 + llo_t_rand(&rnd) % 80000;
        resumed = __atomic_load_n(&kp->committed[0], __ATOMIC_RELAXED);

        /* on a loaded machine it may take a while to run again */
        while ((llo_t_now_ns() < spin
                || __atomic_load_n(&kp->committed[0], __ATOMIC_RELAXED)
                   < resumed + 20)
               && llo_t_now_ms() < budget)
        {

            rc = llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER);

            if (rc == LLO_RING_OK) {
                cursor = rec.next;
                llo_ring_release(&ring, cursor);
                nread++;
            }
        }

        ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        ck_assert_int_eq(waitpid(pid, &status, WUNTRACED), pid);
        ck_assert(WIFSTOPPED(status));

        for (k = 0; k < 8; k++) {
            ck_assert_uint_ne(llo_ring_append(&ring, &nread, 100), 0);
        }

        /* everything committed so far, up to a record the stopped
         * producer may be in the middle of */
        for ( ;; ) {
            rc = llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER);

            if (rc != LLO_RING_OK) {
                ck_assert_int_ne(rc, LLO_RING_CORRUPT);
                break;
            }

            cursor = rec.next;
            nread++;
        }

        llo_ring_release(&ring, cursor);

        ck_assert_int_eq(kill(pid, SIGCONT), 0);
    }

    __atomic_store_n(&kp->stop, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    for ( ;; ) {
        rc = llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER);

        if (rc != LLO_RING_OK) {
            ck_assert_int_eq(rc, LLO_RING_EMPTY);
            break;
        }

        cursor = rec.next;
        nread++;
    }

    llo_t_note("no false drops: %d stops, %llu read, %llu appended by the "
               "producer, %llu dropped", cycle, (unsigned long long) nread,
               (unsigned long long) kp->committed[0],
               (unsigned long long) kp->dropped[0]);

    ck_assert_msg(ring.hdr->drops == 0, "%llu of %llu appends dropped from "
                  "a ring never more than half full",
                  (unsigned long long) ring.hdr->drops,
                  (unsigned long long) (kp->committed[0] + kp->dropped[0]));
    ck_assert_uint_eq(nread, kp->committed[0] + 8 * (uint64_t) cycle);

    llo_ring_close(&ring);
    munmap(kp, sizeof(llo_t_kp_t));
}
END_TEST


/*
 * Producers that die inside llo_ring_append() while others append and
 * the consumer reads: each generation but the last eventually passes a
 * payload whose end lies on a PROT_NONE page, so it dies of SIGSEGV in
 * the middle of copying it, its record reserved and BUSY, part written.
 * A few more are killed with SIGKILL wherever they are.  Whatever the
 * reader delivers is intact and in order; it never reports corruption;
 * each torn record is skipped and counted.
 */

static pid_t
llo_t_kp_spawn(llo_ring_t *ring, llo_t_kp_t *kp, uint32_t gen)
{
    long            page;
    pid_t           pid;
    uint8_t        *guard, buf[sizeof(llo_t_mp_hdr_t) + LLO_T_KBODY];
    uint32_t        i, crash_at;
    struct rlimit   rl;
    llo_t_mp_hdr_t  mh;

    pid = fork();

    if (pid != 0) {
        return pid;
    }

    /* a crash here is wanted: no core file for it */
    rl.rlim_cur = 0;
    rl.rlim_max = 0;
    (void) setrlimit(RLIMIT_CORE, &rl);

    page = sysconf(_SC_PAGESIZE);
    guard = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (guard == MAP_FAILED || mprotect(guard + page, page, PROT_NONE) != 0)
    {
        _exit(20);
    }

    memset(guard, 0xee, page);

    crash_at = (gen < LLO_T_KCRASH) ? 200 + (gen * 7919) % 2000 : UINT32_MAX;

    llo_t_fill(buf + sizeof(mh), LLO_T_KBODY, gen);

    for (i = 0; !kp->stop; i++) {
        if (i >= crash_at) {
            /* 100 bytes readable, then the guard page; dropped when the
             * ring is full, so tried again until it gets in */
            if (llo_ring_append(ring, guard + page - 100, 1000) == 0) {
                kp->dropped[gen]++;
                usleep(20);
            }

            continue;
        }

        mh.child = gen;
        mh.counter = i;
        mh.body = (i * 997 + gen * 13) % LLO_T_KBODY;
        mh.sum = 0;
        memcpy(buf, &mh, sizeof(mh));

        if (llo_ring_append(ring, buf, sizeof(mh) + mh.body) == 0) {
            kp->dropped[gen]++;
            usleep(20);
            continue;
        }

        kp->committed[gen]++;
    }

    _exit(i >= crash_at ? 21 : 0);
}


START_TEST(test_killed_producers)
{
    int              status, crashes, kills, slot, running;
    pid_t            pids[LLO_T_KSLOTS], pid;
    size_t           i;
    int64_t          start, deadline, now, next_kill;
    uint32_t         gen[LLO_T_KSLOTS], ngen;
    uint64_t         cursor, unreleased, nread, drops, committed;
    uint64_t         seen[LLO_T_KGEN];
    int64_t          last[LLO_T_KGEN];
    uint8_t          killed[LLO_T_KGEN], *body;
    llo_ring_rc_e    rc;
    llo_t_mp_hdr_t   mh;
    llo_ring_rec_t   rec;
    llo_t_kp_t      *kp;
    llo_ring_t       ring;

    kp = mmap(NULL, sizeof(llo_t_kp_t), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(kp != MAP_FAILED);

    llo_t_open(&ring, "killed", LLO_T_KCAP);

    body = malloc((size_t) LLO_T_KGEN * LLO_T_KBODY);
    ck_assert_ptr_nonnull(body);

    for (i = 0; i < LLO_T_KGEN; i++) {
        seen[i] = 0;
        last[i] = -1;
        killed[i] = 0;
        llo_t_fill(body + i * LLO_T_KBODY, LLO_T_KBODY, i);
    }

    for (ngen = 0; ngen < LLO_T_KSLOTS; ngen++) {
        gen[ngen] = ngen;
        pids[ngen] = llo_t_kp_spawn(&ring, kp, ngen);
        ck_assert_int_ne(pids[ngen], -1);
    }

    running = LLO_T_KSLOTS;
    crashes = 0;
    kills = 0;
    cursor = llo_ring_rpos(&ring);
    unreleased = 0;
    nread = 0;
    start = llo_t_now_ms();
    deadline = start + 60000;
    next_kill = start + 7;

    for ( ;; ) {
        now = llo_t_now_ms();
        ck_assert_msg(now < deadline, "consumer still running after 60 s");

        if (kills < LLO_T_KILLS && now >= next_kill) {
            slot = kills % LLO_T_KSLOTS;

            ck_assert_int_eq(kill(pids[slot], SIGKILL), 0);
            ck_assert_int_eq(waitpid(pids[slot], &status, 0), pids[slot]);
            killed[gen[slot]] = 1;
            kills++;
            next_kill = now + 13;

            ck_assert_uint_lt(ngen, LLO_T_KGEN);
            gen[slot] = ngen++;
            pids[slot] = llo_t_kp_spawn(&ring, kp, gen[slot]);
            ck_assert_int_ne(pids[slot], -1);
        }

        rc = llo_ring_read(&ring, &cursor, &rec, now, LLO_T_KTORN_MS);

        if (rc == LLO_RING_OK) {
            memcpy(&mh, rec.payload, sizeof(mh));

            llo_t_check(rec.len >= sizeof(mh) && mh.child < ngen
                        && rec.len == sizeof(mh) + mh.body
                        && (int64_t) mh.counter > last[mh.child],
                        "record at %llu: %u bytes, generation %u, "
                        "counter %u after %lld",
                        (unsigned long long) cursor, rec.len, mh.child,
                        mh.counter, (long long) last[mh.child]);

            llo_t_check(memcmp(rec.payload + sizeof(mh),
                               body + mh.child * LLO_T_KBODY, mh.body) == 0,
                        "record at %llu: body differs",
                        (unsigned long long) cursor);

            last[mh.child] = mh.counter;
            seen[mh.child]++;
            nread++;
            cursor = rec.next;

            if (++unreleased < 32) {
                continue;
            }
        }

        ck_assert_msg(rc != LLO_RING_CORRUPT, "corrupt at %llu after %d "
                      "crashes and %d kills", (unsigned long long) cursor,
                      crashes, kills);

        llo_ring_release(&ring, cursor);
        unreleased = 0;

        /* a producer that died of its bad payload: replace it */
        pid = waitpid(-1, &status, WNOHANG);

        if (pid > 0) {
            for (slot = 0; slot < LLO_T_KSLOTS; slot++) {
                if (pids[slot] == pid) {
                    break;
                }
            }

            ck_assert_int_lt(slot, LLO_T_KSLOTS);

            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                pids[slot] = -1;
                running--;

            } else {
                ck_assert_msg(WIFSIGNALED(status)
                              && WTERMSIG(status) == SIGSEGV
                              && gen[slot] < LLO_T_KCRASH,
                              "producer %u: status 0x%x", gen[slot],
                              status);
                crashes++;

                ck_assert_uint_lt(ngen, LLO_T_KGEN);
                gen[slot] = ngen++;
                pids[slot] = llo_t_kp_spawn(&ring, kp, gen[slot]);
                ck_assert_int_ne(pids[slot], -1);
            }
        }

        if (ngen == LLO_T_KGEN && running == LLO_T_KSLOTS
            && kills == LLO_T_KILLS)
        {
            /* the last generations never crash: let them finish */
            for (slot = 0; slot < LLO_T_KSLOTS; slot++) {
                if (gen[slot] < LLO_T_KCRASH) {
                    break;
                }
            }

            if (slot == LLO_T_KSLOTS) {
                __atomic_store_n(&kp->stop, 1, __ATOMIC_RELEASE);
            }
        }

        if (rc == LLO_RING_WAIT) {
            usleep(1000);
            continue;
        }

        if (rc == LLO_RING_EMPTY && running == 0) {
            break;
        }

        if (rc == LLO_RING_EMPTY) {
            sched_yield();
        }
    }

    llo_t_note("killed producers: %llu records read, %llu dropped, %llu "
               "torn (%llu bytes) after %d crashes and %d kills, %lld ms",
               (unsigned long long) nread,
               (unsigned long long) ring.hdr->drops,
               (unsigned long long) ring.hdr->torn,
               (unsigned long long) ring.hdr->torn_bytes, crashes, kills,
               (long long) (llo_t_now_ms() - start));

    ck_assert_int_eq(crashes, LLO_T_KCRASH - kills);

    /* a producer killed after its commit but before counting it has one
     * record more than it counted; the others are exact */

    drops = 0;
    committed = 0;

    for (i = 0; i < ngen; i++) {
        drops += kp->dropped[i];
        committed += kp->committed[i];

        ck_assert_msg(seen[i] == kp->committed[i]
                      || (killed[i] && seen[i] == kp->committed[i] + 1),
                      "generation %zu%s: %llu read, %llu committed", i,
                      killed[i] ? " (killed)" : "",
                      (unsigned long long) seen[i],
                      (unsigned long long) kp->committed[i]);
    }

    ck_assert_uint_ge(nread, committed);
    ck_assert_uint_le(nread, committed + LLO_T_KILLS);
    ck_assert_uint_ge(ring.hdr->drops, drops);
    ck_assert_uint_le(ring.hdr->drops, drops + LLO_T_KILLS);
    ck_assert_uint_le(ring.hdr->committed, nread);
    ck_assert_uint_ge(ring.hdr->committed + LLO_T_KILLS, nread);

    /* every crash tore its record; a kill may have too (twice when the
     * reservation wrapped and nothing of it was written) */
    ck_assert_uint_ge(ring.hdr->torn, (uint64_t) crashes);
    ck_assert_uint_le(ring.hdr->torn, (uint64_t) crashes + 2 * kills);

    ck_assert_uint_eq(cursor, llo_ring_wpos(&ring));
    ck_assert_uint_eq(llo_ring_rpos(&ring), cursor);
    llo_t_assert_free_zero(&ring);

    llo_ring_close(&ring);
    munmap(kp, sizeof(llo_t_kp_t));
    free(body);
}
END_TEST


/* writers killed mid-record */


static void
llo_t_torn_case(const char *name, int stage, int wrap)
{
    uint64_t        cursor, t0, tail_bytes, committed, start, torn;
    llo_ring_rc_e   rc;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;

    llo_t_open(&ring, name, LLO_T_CAP);
    cursor = llo_ring_rpos(&ring);

    ck_assert_uint_ne(llo_t_append(&ring, 1, 33), 0);
    llo_t_expect(&ring, &cursor, 1, 33);
    tail_bytes = 0;

    if (wrap) {
        /* the dead writer's reservation wraps: a 40-byte tail, then its
         * record at offset 0 */
        llo_ring_release(&ring, cursor);
        llo_t_advance_to(&ring, LLO_T_CAP - 40);
        cursor = llo_ring_rpos(&ring);
        tail_bytes = 40;
    }

    committed = ring.hdr->committed;
    start = cursor;
    llo_t_killed_writer(&ring, 2, 101, stage);

    ck_assert_uint_ne(llo_t_append(&ring, 3, 7), 0);
    ck_assert_uint_ne(llo_t_append(&ring, 4, 300), 0);

    /* before the timeout the reader waits: the writer may be alive */
    t0 = 1000000;
    rc = llo_ring_read(&ring, &cursor, &rec, t0, LLO_T_TORN_MS);
    ck_assert_int_eq(rc, LLO_RING_WAIT);
    rc = llo_ring_read(&ring, &cursor, &rec, t0 + LLO_T_TORN_MS - 1,
                       LLO_T_TORN_MS);
    ck_assert_int_eq(rc, LLO_RING_WAIT);
    ck_assert_uint_eq(ring.hdr->torn, 0);

    rc = llo_ring_read(&ring, &cursor, &rec, t0 + LLO_T_TORN_MS,
                       LLO_T_TORN_MS);

    if (wrap && stage == LLO_T_RESERVED) {
        /* no PAD either: the zero tail is skipped first, and the zero
         * record at offset 0 waits a timeout of its own */
        ck_assert_int_eq(rc, LLO_RING_WAIT);
        ck_assert_uint_eq(ring.hdr->torn, 1);
        ck_assert_uint_eq(ring.hdr->torn_bytes, tail_bytes);
        ck_assert_uint_eq(cursor % LLO_T_CAP, 0);

        rc = llo_ring_read(&ring, &cursor, &rec, t0 + 2 * LLO_T_TORN_MS - 1,
                           LLO_T_TORN_MS);
        ck_assert_int_eq(rc, LLO_RING_WAIT);
        rc = llo_ring_read(&ring, &cursor, &rec, t0 + 2 * LLO_T_TORN_MS + 1,
                           LLO_T_TORN_MS);
        ck_assert_int_eq(rc, LLO_RING_OK);
        ck_assert_uint_eq(ring.hdr->torn, 2);
        ck_assert_uint_eq(ring.hdr->torn_bytes, tail_bytes + llo_t_total(101));

    } else {
        ck_assert_int_eq(rc, LLO_RING_OK);
        ck_assert_uint_eq(ring.hdr->torn, 1);
        ck_assert_uint_eq(ring.hdr->torn_bytes, llo_t_total(101));
    }

    llo_t_expect(&ring, &cursor, 3, 7);
    llo_t_expect(&ring, &cursor, 4, 300);

    /* a batch read again (its COMMIT failed) passes the torn span at
     * once and does not count it again */
    torn = ring.hdr->torn;
    llo_t_expect(&ring, &start, 3, 7);
    llo_t_expect(&ring, &start, 4, 300);
    ck_assert_uint_eq(ring.hdr->torn, torn);

    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, t0 + 10000,
                                   LLO_T_TORN_MS),
                     LLO_RING_EMPTY);

    /* the torn bytes are zeroed with the rest and the space reused */
    llo_ring_release(&ring, cursor);
    llo_t_assert_free_zero(&ring);

    ck_assert_uint_ne(llo_t_append(&ring, 5, 50), 0);
    llo_t_expect(&ring, &cursor, 5, 50);

    /* the dead writer never counted as committed */
    ck_assert_uint_eq(ring.hdr->committed, committed + 3);
    ck_assert_uint_eq(ring.hdr->seq, committed + 3);

    llo_ring_close(&ring);
}


START_TEST(test_torn_after_header)
{
    llo_t_torn_case("torn-header", LLO_T_HEADER, 0);
}
END_TEST


START_TEST(test_torn_mid_payload)
{
    llo_t_torn_case("torn-payload", LLO_T_PAYLOAD, 0);
}
END_TEST


START_TEST(test_torn_before_header)
{
    llo_t_torn_case("torn-reserved", LLO_T_RESERVED, 0);
}
END_TEST


START_TEST(test_torn_wrapped_after_header)
{
    llo_t_torn_case("torn-wrap-header", LLO_T_PAYLOAD, 1);
}
END_TEST


START_TEST(test_torn_wrapped_before_header)
{
    llo_t_torn_case("torn-wrap-reserved", LLO_T_RESERVED, 1);
}
END_TEST


START_TEST(test_torn_last)
{
    uint64_t        cursor;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;

    /* nothing after the dead writer: skipped to the end, then EMPTY */

    llo_t_open(&ring, "torn-last", LLO_T_CAP);
    cursor = llo_ring_rpos(&ring);

    llo_t_killed_writer(&ring, 1, 64, LLO_T_PAYLOAD);
    llo_t_killed_writer(&ring, 2, 64, LLO_T_RESERVED);

    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_TORN_MS),
                     LLO_RING_WAIT);
    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, LLO_T_TORN_MS,
                                   LLO_T_TORN_MS),
                     LLO_RING_WAIT);
    ck_assert_uint_eq(ring.hdr->torn, 1);
    ck_assert_uint_eq(cursor, llo_t_total(64));

    ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 2 * LLO_T_TORN_MS,
                                   LLO_T_TORN_MS),
                     LLO_RING_EMPTY);
    ck_assert_uint_eq(ring.hdr->torn, 2);
    ck_assert_uint_eq(ring.hdr->torn_bytes, 2 * llo_t_total(64));
    ck_assert_uint_eq(cursor, llo_ring_wpos(&ring));

    llo_ring_release(&ring, cursor);
    llo_t_assert_free_zero(&ring);

    ck_assert_uint_ne(llo_t_append(&ring, 3, 64), 0);
    llo_t_expect(&ring, &cursor, 3, 64);

    llo_ring_close(&ring);
}
END_TEST


START_TEST(test_slow_writer)
{
    int             stage;
    uint32_t        v[2];
    uint64_t        cursor, pos;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;

    /* a writer that is slow, not dead, is waited for and delivered */

    llo_t_open(&ring, "slow", LLO_T_CAP);
    cursor = llo_ring_rpos(&ring);

    for (stage = LLO_T_RESERVED; stage <= LLO_T_PAYLOAD; stage++) {
        pos = llo_t_reserve(&ring, 10 + stage, 77, stage);
        ck_assert_uint_ne(pos, UINT64_MAX);
        ck_assert_uint_ne(llo_t_append(&ring, 20 + stage, 5), 0);

        ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0,
                                       LLO_T_TORN_MS),
                         LLO_RING_WAIT);
        ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec,
                                       LLO_T_TORN_MS - 1, LLO_T_TORN_MS),
                         LLO_RING_WAIT);
        ck_assert_uint_eq(cursor, pos);

        /* it gets to its header, then to its commit */
        if (stage == LLO_T_RESERVED) {
            v[0] = LLO_RING_REC_HDR + 77;
            v[1] = LLO_REC_STATE_BUSY;
            memcpy(ring.data + pos % LLO_T_CAP, v, 8);
        }

        llo_t_commit(&ring, pos, 10 + stage, 77);

        llo_t_expect(&ring, &cursor, 10 + stage, 77);
        llo_t_expect(&ring, &cursor, 20 + stage, 5);
        llo_ring_release(&ring, cursor);
    }

    ck_assert_uint_eq(ring.hdr->torn, 0);
    llo_t_assert_free_zero(&ring);

    llo_ring_close(&ring);
}
END_TEST


/* a committed header that cannot be right */


START_TEST(test_corrupt_header)
{
    int             i;
    char            name[32];
    uint64_t        cursor, pos, w;
    llo_ring_rc_e   rc;
    llo_ring_rec_t  rec;
    llo_ring_t      ring;

    static const uint32_t  bad[][2] = {
        { 0, LLO_REC_STATE_COMMIT },
        { 8, LLO_REC_STATE_COMMIT },
        { 15, LLO_REC_STATE_COMMIT },
        { LLO_T_CAP + 16, LLO_REC_STATE_COMMIT },
        { 0xfffffff8U, LLO_REC_STATE_COMMIT },
        { 0xffffffffU, LLO_REC_STATE_COMMIT },
        { 4096, LLO_REC_STATE_COMMIT },         /* beyond wpos */
        { 40, LLO_REC_STATE_PAD },              /* not at the end */
        { 40, 0x12345678U },                    /* no such state */
    };

    for (i = 0; i < (int) (sizeof(bad) / sizeof(bad[0])); i++) {
        snprintf(name, sizeof(name), "corrupt-%d", i);
        llo_t_open(&ring, name, LLO_T_CAP);
        cursor = llo_ring_rpos(&ring);

        ck_assert_uint_ne(llo_t_append(&ring, 1, 40), 0);
        pos = llo_ring_wpos(&ring);
        ck_assert_uint_ne(llo_t_append(&ring, 2, 40), 0);
        ck_assert_uint_ne(llo_t_append(&ring, 3, 40), 0);
        w = llo_ring_wpos(&ring);

        memcpy(ring.data + pos, bad[i], 8);

        llo_t_expect(&ring, &cursor, 1, 40);

        rc = llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER);
        ck_assert_msg(rc == LLO_RING_CORRUPT, "header {%u, 0x%x}: rc %d, "
                      "len %u", bad[i][0], bad[i][1], rc, rec.len);

        /* resynchronised at the write position, the rest counted lost */
        ck_assert_uint_eq(cursor, w);
        ck_assert_uint_eq(ring.hdr->torn, 1);
        ck_assert_uint_eq(ring.hdr->torn_bytes, w - pos);

        ck_assert_int_eq(llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER),
                         LLO_RING_EMPTY);
        ck_assert_uint_ne(llo_t_append(&ring, 4, 41), 0);
        llo_t_expect(&ring, &cursor, 4, 41);

        llo_ring_release(&ring, cursor);
        llo_t_assert_free_zero(&ring);

        llo_ring_close(&ring);
    }
}
END_TEST


/* the benchmark: not a test */


/* wall time counts the moments a producer is not running; CPU time is
 * what an nginx worker pays */

static uint64_t
llo_b_cpu_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


static void
llo_b_run(int procs, uint64_t per)
{
    int              c, status, running;
    char             err[LLO_T_ERRLEN], path[512];
    pid_t            pid;
    uint8_t          buf[LLO_B_RECORD];
    uint64_t         i, k, n, burst, cursor, nread, ns, cpu, dropped, t0, t1;
    uint64_t         c0;
    llo_ring_rc_e    rc;
    llo_ring_rec_t   rec;
    llo_b_shared_t  *bs;
    llo_ring_t       ring;

    /* where the ring lives in production: on /tmp (ext4 here) the first
     * write to each page costs a page_mkwrite fault and the numbers
     * measure the file system */
    snprintf(path, sizeof(path), "/dev/shm/llo-bench-%d", (int) getpid());

    if (access("/dev/shm", W_OK) != 0) {
        llo_t_path(path, sizeof(path), "bench");
    }

    unlink(path);

    if (llo_ring_open(&ring, path, LLO_B_CAP, 1, 0600, (uid_t) -1,
                      (gid_t) -1, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "bench: %s\n", err);
        return;
    }

    bs = mmap(NULL, sizeof(llo_b_shared_t), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (bs == MAP_FAILED) {
        perror("bench: mmap");
        llo_ring_close(&ring);
        return;
    }

    memset(bs, 0, sizeof(llo_b_shared_t));
    llo_t_fill(buf, sizeof(buf), 42);

    for (c = 0; c < procs; c++) {
        pid = fork();

        if (pid == -1) {
            perror("bench: fork");
            exit(EXIT_FAILURE);
        }

        if (pid == 0) {
            while (!__atomic_load_n(&bs->go, __ATOMIC_ACQUIRE)) {
                sched_yield();
            }

            /* in bursts that fit the ring, so that what is timed is an
             * append that succeeds, not the cheap drop of a full ring;
             * between bursts, untimed, wait for the consumer */

            burst = LLO_B_CAP / llo_t_total(LLO_B_RECORD) / (2 * procs);
            ns = 0;
            cpu = 0;

            for (i = 0; i < per; i += burst) {
                while (llo_ring_wpos(&ring) - llo_ring_rpos(&ring)
                       > LLO_B_CAP / 4)
                {
                    sched_yield();
                }

                n = (per - i < burst) ? per - i : burst;
                c0 = llo_b_cpu_ns();
                t0 = llo_t_now_ns();

                for (k = 0; k < n; k++) {
                    if (llo_ring_append(&ring, buf, sizeof(buf)) == 0) {
                        bs->dropped[c]++;
                    }
                }

                ns += llo_t_now_ns() - t0;
                cpu += llo_b_cpu_ns() - c0;
            }

            bs->ns[c] = ns;
            bs->cpu_ns[c] = cpu;
            _exit(0);
        }
    }

    __atomic_store_n(&bs->go, 1, __ATOMIC_RELEASE);

    t0 = llo_t_now_ns();
    running = procs;
    cursor = llo_ring_rpos(&ring);
    nread = 0;

    for ( ;; ) {
        rc = llo_ring_read(&ring, &cursor, &rec, 0, LLO_T_NEVER);

        if (rc == LLO_RING_OK) {
            cursor = rec.next;

            if (++nread % 64 == 0) {
                llo_ring_release(&ring, cursor);
            }

            continue;
        }

        llo_ring_release(&ring, cursor);

        if (rc == LLO_RING_EMPTY && running == 0) {
            break;
        }

        if (rc == LLO_RING_EMPTY && waitpid(-1, &status, WNOHANG) > 0) {
            running--;
            continue;
        }

        sched_yield();
    }

    t1 = llo_t_now_ns();

    ns = 0;
    cpu = 0;
    dropped = 0;

    for (c = 0; c < procs; c++) {
        ns += bs->ns[c];
        cpu += bs->cpu_ns[c];
        dropped += bs->dropped[c];
    }

    printf("bench: %d producer%s x %llu appends of %d bytes, ring %d MiB, "
           "consumer draining: %.1f ns/append wall, %.1f ns/append CPU, "
           "%.2f M appends/s in all, %llu dropped (%.1f%%), "
           "consumer read %llu in %.0f ms\n",
           procs, procs > 1 ? "s" : "", (unsigned long long) per,
           LLO_B_RECORD, LLO_B_CAP >> 20,
           (double) ns / (double) (per * procs),
           (double) cpu / (double) (per * procs),
           (double) (per * procs) * 1e3 / ((double) ns / procs),
           (unsigned long long) dropped,
           100.0 * (double) dropped / (double) (per * procs),
           (unsigned long long) nread, (double) (t1 - t0) / 1e6);

    munmap(bs, sizeof(llo_b_shared_t));
    llo_ring_close(&ring);
    unlink(path);
}


static void
llo_t_rmdir(const char *dir)
{
    DIR            *d;
    char            path[512];
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        return;
    }

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        (void) unlink(path);
    }

    closedir(d);

    if (rmdir(dir) == -1) {
        fprintf(stderr, "rmdir(\"%s\"): %s\n", dir, strerror(errno));
    }
}


int
main(void)
{
    int          failed;
    const char  *bench;
    Suite       *s;
    TCase       *tc;

    strcpy(llo_t_dir, "/tmp/llo-test-ring.XXXXXX");

    if (mkdtemp(llo_t_dir) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }

    s = suite_create("ring");

    tc = tcase_create("file");
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_reopen_keeps_data);
    tcase_add_test(tc, test_reopen_other_size);
    tcase_add_test(tc, test_attach);
    tcase_add_test(tc, test_format_mismatch);
    tcase_add_test(tc, test_size_limits);
    tcase_add_test(tc, test_parse_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("records");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_append_seq);
    tcase_add_test(tc, test_record_through_ring);
    tcase_add_test(tc, test_pad_layout);
    tcase_add_test(tc, test_wrap_around);
    tcase_add_test(tc, test_full);
    suite_add_tcase(s, tc);

    tc = tcase_create("processes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_multi_producer);
    tcase_add_test(tc, test_killed_producers);
    tcase_add_test(tc, test_no_false_drops);
    suite_add_tcase(s, tc);

    tc = tcase_create("torn");
    tcase_add_test(tc, test_torn_after_header);
    tcase_add_test(tc, test_torn_mid_payload);
    tcase_add_test(tc, test_torn_before_header);
    tcase_add_test(tc, test_torn_wrapped_after_header);
    tcase_add_test(tc, test_torn_wrapped_before_header);
    tcase_add_test(tc, test_torn_last);
    tcase_add_test(tc, test_slow_writer);
    tcase_add_test(tc, test_corrupt_header);
    suite_add_tcase(s, tc);

    failed = llo_t_run_suite(s);

    bench = getenv("LLO_BENCH");

    if (bench != NULL && strcmp(bench, "1") == 0) {
        llo_b_run(1, 2000000);
        llo_b_run(2, 1000000);
    }

    llo_t_rmdir(llo_t_dir);

    return llo_t_exit(failed);
}
