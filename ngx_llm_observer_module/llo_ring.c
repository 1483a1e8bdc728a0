/*
 * llm-observer shared-memory ring: see llo_ring.h for the layout.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "llo_ring.h"


#define llo_align8(n)  (((uint64_t) (n) + 7) & ~((uint64_t) 7))

#define LLO_LOAD(p)      __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define LLO_STORE(p, v)  __atomic_store_n(p, v, __ATOMIC_RELEASE)
#define LLO_ADD(p, v)    __atomic_add_fetch(p, v, __ATOMIC_RELAXED)


static int llo_ring_map(llo_ring_t *ring, int fd, uint64_t file_size,
    char *err, size_t errlen);
static int llo_ring_check(llo_ring_t *ring, const char *path,
    uint64_t capacity, char *err, size_t errlen);


int
llo_parse_size(const char *s, size_t len, uint64_t *out)
{
    uint64_t  n, mult;
    size_t    i;

    if (len == 0) {
        return -1;
    }

    mult = 1;

    switch (s[len - 1]) {
    case 'k': case 'K': mult = 1024; len--; break;
    case 'm': case 'M': mult = 1024 * 1024; len--; break;
    case 'g': case 'G': mult = 1024 * 1024 * 1024; len--; break;
    default: break;
    }

    if (len == 0 || len > 15) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    /* 15 digits cannot overflow n, but "17179869185g" would wrap to 1g */
    if (n > UINT64_MAX / mult) {
        return -1;
    }

    *out = n * mult;

    return 0;
}


int
llo_ring_open(llo_ring_t *ring, const char *path, uint64_t capacity,
    int create, mode_t mode, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    int             fd;
    uint64_t        instance;
    struct stat     st;
    llo_ring_hdr_t  hdr;

    memset(ring, 0, sizeof(llo_ring_t));
    ring->fd = -1;

    if (capacity < LLO_RING_MIN_SIZE || capacity > LLO_RING_MAX_SIZE
        || capacity % 8 != 0)
    {
        snprintf(err, errlen, "ring size %llu is out of range "
                 "(64k..64g, a multiple of 8)", (unsigned long long) capacity);
        return -1;
    }

    fd = open(path, O_RDWR | (create ? O_CREAT : 0) | O_CLOEXEC, mode);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                 strerror(errno));
        return -1;
    }

    /* nginx master and a second nginx (nginx -t) may race on creation */
    if (flock(fd, LOCK_EX) == -1) {
        snprintf(err, errlen, "flock(\"%s\") failed: %s", path,
                 strerror(errno));
        close(fd);
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "fstat(\"%s\") failed: %s", path,
                 strerror(errno));
        goto failed;
    }

    if (st.st_size == 0) {
        if (!create) {
            snprintf(err, errlen, "ring \"%s\" is empty", path);
            goto failed;
        }

        /* a fresh file: reserve the memory now, so a full /dev/shm is an
         * error here rather than SIGBUS in a worker later */
        errno = posix_fallocate(fd, 0, LLO_RING_HEADER_SIZE + capacity);
        if (errno != 0) {
            snprintf(err, errlen, "cannot allocate %llu bytes for ring "
                     "\"%s\": %s",
                     (unsigned long long) (LLO_RING_HEADER_SIZE + capacity),
                     path, strerror(errno));
            (void) ftruncate(fd, 0);
            goto failed;
        }

        if (getrandom(&instance, sizeof(instance), 0) != sizeof(instance)) {
            instance = ((uint64_t) time(NULL) << 32) ^ (uint64_t) getpid();
        }

        memset(&hdr, 0, sizeof(hdr));
        hdr.magic = LLO_RING_MAGIC;
        hdr.version = LLO_RING_VERSION;
        hdr.header_size = LLO_RING_HEADER_SIZE;
        hdr.capacity = capacity;
        hdr.instance = instance;
        hdr.created = (int64_t) time(NULL);

        if (pwrite(fd, &hdr, sizeof(hdr), 0) != (ssize_t) sizeof(hdr)) {
            snprintf(err, errlen, "write to ring \"%s\" failed: %s", path,
                     strerror(errno));
            (void) ftruncate(fd, 0);
            goto failed;
        }

        if ((uid != (uid_t) -1 || gid != (gid_t) -1)
            && fchown(fd, uid, gid) == -1)
        {
            snprintf(err, errlen, "fchown(\"%s\") failed: %s", path,
                     strerror(errno));
            goto failed;
        }

        if (fchmod(fd, mode) == -1) {
            snprintf(err, errlen, "fchmod(\"%s\") failed: %s", path,
                     strerror(errno));
            goto failed;
        }

        st.st_size = LLO_RING_HEADER_SIZE + capacity;
        ring->created = 1;
    }

    if (llo_ring_map(ring, fd, (uint64_t) st.st_size, err, errlen) != 0) {
        goto failed;
    }

    if (llo_ring_check(ring, path, capacity, err, errlen) != 0) {
        llo_ring_close(ring);
        return -1;
    }

    (void) flock(fd, LOCK_UN);

    return 0;

failed:

    close(fd);
    return -1;
}


int
llo_ring_attach(llo_ring_t *ring, const char *path, char *err, size_t errlen)
{
    int          fd;
    struct stat  st;

    memset(ring, 0, sizeof(llo_ring_t));
    ring->fd = -1;

    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", path,
                 strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1 || st.st_size < LLO_RING_HEADER_SIZE) {
        snprintf(err, errlen, "ring \"%s\" is too small to be a ring (%lld "
                 "bytes)", path, (long long) st.st_size);
        close(fd);
        return -1;
    }

    if (llo_ring_map(ring, fd, (uint64_t) st.st_size, err, errlen) != 0) {
        close(fd);
        return -1;
    }

    if (llo_ring_check(ring, path, 0, err, errlen) != 0) {
        llo_ring_close(ring);
        return -1;
    }

    return 0;
}


static int
llo_ring_map(llo_ring_t *ring, int fd, uint64_t file_size, char *err,
    size_t errlen)
{
    void  *p;

    p = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap(%llu) failed: %s",
                 (unsigned long long) file_size, strerror(errno));
        return -1;
    }

    ring->hdr = p;
    ring->data = (uint8_t *) p + LLO_RING_HEADER_SIZE;
    ring->map_size = file_size;
    ring->fd = fd;
    ring->wait_pos = UINT64_MAX;
    ring->torn_from = UINT64_MAX;
    ring->torn_to = UINT64_MAX;

    return 0;
}


/* capacity 0: accept whatever the file says, as long as it is coherent */

static int
llo_ring_check(llo_ring_t *ring, const char *path, uint64_t capacity,
    char *err, size_t errlen)
{
    llo_ring_hdr_t  *h;

    h = ring->hdr;

    if (h->magic != LLO_RING_MAGIC) {
        snprintf(err, errlen, "\"%s\" is not an llm_observer ring "
                 "(bad magic 0x%016llx)", path,
                 (unsigned long long) h->magic);
        return -1;
    }

    if (h->version != LLO_RING_VERSION) {
        snprintf(err, errlen, "ring \"%s\" has format version %u, this "
                 "build reads version %u", path, h->version,
                 LLO_RING_VERSION);
        return -1;
    }

    if (h->header_size != LLO_RING_HEADER_SIZE
        || h->capacity + LLO_RING_HEADER_SIZE != ring->map_size)
    {
        snprintf(err, errlen, "ring \"%s\" header says %llu data bytes but "
                 "the file holds %llu", path,
                 (unsigned long long) h->capacity,
                 (unsigned long long) (ring->map_size - LLO_RING_HEADER_SIZE));
        return -1;
    }

    if (capacity != 0 && h->capacity != capacity) {
        snprintf(err, errlen, "ring \"%s\" exists with size %llu, not the "
                 "configured %llu; remove it or configure its size", path,
                 (unsigned long long) h->capacity,
                 (unsigned long long) capacity);
        return -1;
    }

    if (h->wpos - h->rpos > h->capacity) {
        snprintf(err, errlen, "ring \"%s\" positions are inconsistent "
                 "(write %llu, read %llu)", path,
                 (unsigned long long) h->wpos, (unsigned long long) h->rpos);
        return -1;
    }

    return 0;
}


void
llo_ring_close(llo_ring_t *ring)
{
    if (ring->hdr != NULL) {
        (void) munmap(ring->hdr, ring->map_size);
        ring->hdr = NULL;
    }

    if (ring->fd != -1) {
        (void) close(ring->fd);
        ring->fd = -1;
    }
}


/*
 * The 8-byte word at the start of a record holds len (low half on little
 * endian) and state; writing both in one store means a reader never sees
 * a state with a stale length.  len is the header plus the payload as
 * given, not rounded up, so the reader gets the payload's exact length;
 * the record takes llo_align8(len) bytes.
 */

static inline uint64_t
llo_ring_word(uint32_t len, uint32_t state)
{
    uint64_t  w;
    uint32_t  v[2];

    v[0] = len;
    v[1] = state;
    memcpy(&w, v, 8);

    return w;
}


uint64_t
llo_ring_append(llo_ring_t *ring, const void *payload, size_t len)
{
    return llo_ring_append_seq(ring, 0, payload, len);
}


uint64_t
llo_ring_next_seq(llo_ring_t *ring)
{
    return __atomic_add_fetch(&ring->hdr->seq, 1, __ATOMIC_RELAXED);
}


uint64_t
llo_ring_append_seq(llo_ring_t *ring, uint64_t seq, const void *payload,
    size_t len)
{
    uint8_t  *p;

    p = llo_ring_reserve(ring, &seq, len);
    if (p == NULL) {
        return 0;
    }

    memcpy(p, payload, len);
    llo_ring_commit(ring, p);

    return seq;
}


uint8_t *
llo_ring_reserve(llo_ring_t *ring, uint64_t *seq, size_t len)
{
    uint8_t         *rec;
    uint64_t         w, r, off, total, need, pad, cap;
    llo_ring_hdr_t  *h;

    h = ring->hdr;
    cap = h->capacity;
    total = llo_align8(LLO_RING_REC_HDR + (uint64_t) len);

    if (len > LLO_RING_MAX_RECORD || total > cap / 2) {
        LLO_ADD(&h->drops, 1);
        LLO_ADD(&h->drop_bytes, total);
        return NULL;
    }

    w = __atomic_load_n(&h->wpos, __ATOMIC_RELAXED);

    for ( ;; ) {
        r = LLO_LOAD(&h->rpos);

        if (r > w) {
            /* w is stale: others appended and the consumer released past
             * it since it was loaded; w + need - r would wrap and an
             * almost empty ring would look full */
            w = LLO_LOAD(&h->wpos);
            continue;
        }

        off = w % cap;
        pad = (cap - off < total) ? cap - off : 0;
        need = pad + total;

        if (w + need - r > cap) {
            LLO_ADD(&h->drops, 1);
            LLO_ADD(&h->drop_bytes, total);
            return NULL;
        }

        if (__atomic_compare_exchange_n(&h->wpos, &w, w + need, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        {
            break;
        }
    }

    if (pad) {
        LLO_STORE((uint64_t *) (ring->data + off),
                  llo_ring_word((uint32_t) pad, LLO_REC_STATE_PAD));
        off = 0;
    }

    rec = ring->data + off;

    __atomic_store_n((uint64_t *) rec,
                     llo_ring_word((uint32_t) (LLO_RING_REC_HDR + len),
                                   LLO_REC_STATE_BUSY),
                     __ATOMIC_RELAXED);

    if (*seq == 0) {
        *seq = llo_ring_next_seq(ring);
    }

    memcpy(rec + 8, seq, 8);

    return rec + LLO_RING_REC_HDR;
}


void
llo_ring_commit(llo_ring_t *ring, uint8_t *payload)
{
    LLO_STORE((uint32_t *) (payload - LLO_RING_REC_HDR + 4),
              LLO_REC_STATE_COMMIT);

    LLO_ADD(&ring->hdr->committed, 1);
}


llo_ring_rc_e
llo_ring_read(llo_ring_t *ring, uint64_t *cursor, llo_ring_rec_t *rec,
    int64_t now_ms, int64_t torn_ms)
{
    uint8_t         *p;
    uint32_t         v[2];
    uint64_t         pos, w, off, cap, word, skip, size;
    llo_ring_hdr_t  *h;

    h = ring->hdr;
    cap = h->capacity;
    pos = *cursor;

    for ( ;; ) {
        w = LLO_LOAD(&h->wpos);

        if (pos == w) {
            *cursor = pos;
            return LLO_RING_EMPTY;
        }

        off = pos % cap;
        p = ring->data + off;

        word = LLO_LOAD((uint64_t *) p);
        memcpy(v, &word, 8);

        if (v[1] == LLO_REC_STATE_PAD) {
            if (v[0] != cap - off) {
                goto corrupt;
            }

            pos += v[0];
            continue;
        }

        size = llo_align8(v[0]);

        if (v[1] == LLO_REC_STATE_COMMIT) {
            if (v[0] < LLO_RING_REC_HDR || size > cap - off || pos + size > w)
            {
                goto corrupt;
            }

            memcpy(&rec->seq, p + 8, 8);
            rec->instance = h->instance;
            rec->payload = p + LLO_RING_REC_HDR;
            rec->len = v[0] - LLO_RING_REC_HDR;
            rec->next = pos + size;
            *cursor = pos;
            return LLO_RING_OK;
        }

        if (v[1] != LLO_REC_STATE_BUSY && v[1] != LLO_REC_STATE_FREE) {
            goto corrupt;
        }

        /* reserved but not committed: a writer is busy, or died */

        if (pos >= ring->torn_from && pos < ring->torn_to
            && ring->torn_to <= w)
        {
            pos = ring->torn_to;
            continue;
        }

        if (ring->wait_pos != pos) {
            ring->wait_pos = pos;
            ring->wait_since_ms = now_ms;
            *cursor = pos;
            return LLO_RING_WAIT;
        }

        if (now_ms - ring->wait_since_ms < torn_ms) {
            *cursor = pos;
            return LLO_RING_WAIT;
        }

        if (v[1] == LLO_REC_STATE_BUSY && v[0] >= LLO_RING_REC_HDR
            && size <= cap - off && pos + size <= w)
        {
            skip = size;

        } else {
            /* died before its header: its bytes are still zero, so the
             * next record starts at the next non-zero word */
            skip = 8;

            while (pos + skip < w) {
                if ((pos + skip) % cap == 0
                    || LLO_LOAD((uint64_t *) (ring->data
                                              + (pos + skip) % cap)) != 0)
                {
                    break;
                }
                skip += 8;
            }
        }

        LLO_ADD(&h->torn, 1);
        LLO_ADD(&h->torn_bytes, skip);
        ring->wait_pos = UINT64_MAX;

        if (pos != ring->torn_to) {
            ring->torn_from = pos;
        }

        pos += skip;
        ring->torn_to = pos;
    }

corrupt:

    /* an impossible header: resynchronise at the write position */

    LLO_ADD(&h->torn, 1);
    LLO_ADD(&h->torn_bytes, w - pos);
    *cursor = w;

    return LLO_RING_CORRUPT;
}


void
llo_ring_release(llo_ring_t *ring, uint64_t upto)
{
    uint64_t         r, off, n, cap, left;
    llo_ring_hdr_t  *h;

    h = ring->hdr;
    cap = h->capacity;
    r = h->rpos;

    if (upto <= r) {
        return;
    }

    left = upto - r;

    while (left) {
        off = r % cap;
        n = cap - off < left ? cap - off : left;
        memset(ring->data + off, 0, n);
        r += n;
        left -= n;
    }

    LLO_STORE(&h->rpos, upto);
}


uint64_t
llo_ring_rpos(llo_ring_t *ring)
{
    return LLO_LOAD(&ring->hdr->rpos);
}


uint64_t
llo_ring_wpos(llo_ring_t *ring)
{
    return LLO_LOAD(&ring->hdr->wpos);
}
