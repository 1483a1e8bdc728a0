/*
 * llm-observer shared-memory ring.
 *
 * Plain C, no nginx types: linked by the nginx module (producers), the
 * evaluator (the one consumer) and the unit tests.
 *
 * The ring is a file (normally on /dev/shm) mapped MAP_SHARED by the nginx
 * master before it forks workers, and by the evaluator.
 *
 *   offset 0                                                   4096
 *   +-----------------------------------------------------------+
 *   | line 0: magic "LLORING\0", version, header size,          |
 *   |         capacity, instance id, created (immutable)        |
 *   +-----------------------------------------------------------+
 *   | line 1: wpos, next seq            (producers, CAS/fadd)   |
 *   +-----------------------------------------------------------+
 *   | line 2: rpos                      (consumer only)         |
 *   +-----------------------------------------------------------+
 *   | line 3: drops, drop bytes, torn, torn bytes, committed    |
 *   +-----------------------------------------------------------+
 *   | line 4: hash of the API key set last recorded   (master)  |
 *   +-----------------------------------------------------------+
 *   | ... zero padding up to 4096 ...                           |
 *   +-----------------------------------------------------------+
 *   | data[capacity]: records, 8-byte aligned, wrapping         |
 *   +-----------------------------------------------------------+
 *
 *   a record in data:
 *
 *   +--------+--------+----------------+--------------------+
 *   | len u32| state  | seq u64        | payload[len - 16]  | pad to 8
 *   +--------+--------+----------------+--------------------+
 *
 * wpos and rpos are 64-bit byte positions that only grow; the byte offset
 * in data is pos % capacity.  used = wpos - rpos <= capacity.
 *
 * Producers (any number of processes) reserve space with a CAS on wpos,
 * then write the header (state BUSY), the payload, and finally store
 * state COMMIT with release ordering.  A record that does not fit is
 * dropped and counted: producers never wait for the consumer.  A record
 * never wraps: when it does not fit in the tail of the data area, the
 * producer reserves the tail too and marks it with a PAD header.
 *
 * The consumer reads committed records from rpos without moving it, and
 * moves rpos only when told (after its database COMMIT).  Before moving
 * rpos it zeroes the released bytes, so free space is always zero.  That
 * is what lets it skip a torn record left by a writer killed mid-write:
 * an uncommitted header older than the torn timeout is skipped by its
 * length; a writer killed before it even wrote its header left only
 * zeroes, and the next header is the next non-zero word.
 */

#ifndef _LLO_RING_H_INCLUDED_
#define _LLO_RING_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define LLO_RING_MAGIC          0x00474e49524f4c4cULL   /* "LLORING\0" */
#define LLO_RING_VERSION        1
#define LLO_RING_HEADER_SIZE    4096
#define LLO_RING_MIN_SIZE       (64 * 1024)
#define LLO_RING_MAX_SIZE       (64ULL * 1024 * 1024 * 1024)
#define LLO_RING_REC_HDR        16
#define LLO_RING_MAX_RECORD     (16 * 1024 * 1024)

#define LLO_REC_STATE_FREE      0
#define LLO_REC_STATE_BUSY      0x59535542U             /* "BUSY" */
#define LLO_REC_STATE_COMMIT    0x54494d43U             /* "CMIT" */
#define LLO_REC_STATE_PAD       0x44444150U             /* "PADD" */


typedef struct {
    /* line 0, immutable after creation */
    uint64_t            magic;
    uint32_t            version;
    uint32_t            header_size;
    uint64_t            capacity;
    uint64_t            instance;
    int64_t             created;
    uint8_t             pad0[64 - 40];

    /* line 1, producers */
    uint64_t            wpos;
    uint64_t            seq;
    uint8_t             pad1[64 - 16];

    /* line 2, consumer */
    uint64_t            rpos;
    uint8_t             pad2[64 - 8];

    /* line 3, counters */
    uint64_t            drops;
    uint64_t            drop_bytes;
    uint64_t            torn;
    uint64_t            torn_bytes;
    uint64_t            committed;
    uint8_t             pad3[64 - 40];

    /* line 4, nginx masters: the key set recorded last (0 in a ring
     * made before it existed: nothing recorded yet) */
    uint64_t            keyset_hash;
    uint8_t             pad4[64 - 8];
} llo_ring_hdr_t;


typedef struct {
    llo_ring_hdr_t     *hdr;
    uint8_t            *data;
    size_t              map_size;
    int                 fd;
    int                 created;    /* llo_ring_open() made the file */

    /* consumer state for the torn-record wait */
    uint64_t            wait_pos;
    int64_t             wait_since_ms;

    /* the last torn span skipped: a batch re-read after a failed COMMIT
     * passes it at once, and counts it once */
    uint64_t            torn_from;
    uint64_t            torn_to;
} llo_ring_t;


typedef struct {
    uint64_t            seq;
    uint64_t            instance;
    const uint8_t      *payload;
    uint32_t            len;
    uint64_t            next;       /* position after this record */
} llo_ring_rec_t;


typedef enum {
    LLO_RING_OK = 0,
    LLO_RING_EMPTY,
    LLO_RING_WAIT,          /* a record is being written; try later */
    LLO_RING_CORRUPT
} llo_ring_rc_e;


/*
 * Open (creating if needed) the ring at path with the given data capacity.
 * An existing file is reused only when magic, version and capacity match;
 * otherwise it fails with a message in err that says what differs (the
 * caller decides whether to recreate with llo_ring_recreate()).
 * mode/uid/gid are applied to a newly created file (uid/gid -1: keep).
 * Returns 0 or -1 with err filled.
 */
int llo_ring_open(llo_ring_t *ring, const char *path, uint64_t capacity,
    int create, mode_t mode, uid_t uid, gid_t gid, char *err, size_t errlen);

/* Attach to an existing ring whatever its capacity (the evaluator). */
int llo_ring_attach(llo_ring_t *ring, const char *path, char *err,
    size_t errlen);

void llo_ring_close(llo_ring_t *ring);

/*
 * Producer: append one record.  Never blocks, never waits for the
 * consumer.  Returns the record's seq (>= 1), or 0 when it was dropped
 * (ring full or record too big; counted in drops).
 */
uint64_t llo_ring_append(llo_ring_t *ring, const void *payload, size_t len);

/*
 * The same with a seq taken earlier by llo_ring_next_seq(), so a request
 * can show its record id (instance + seq) before the record is written.
 */
uint64_t llo_ring_next_seq(llo_ring_t *ring);
uint64_t llo_ring_append_seq(llo_ring_t *ring, uint64_t seq,
    const void *payload, size_t len);

/*
 * The two halves of an append, for a producer that builds its record in
 * place: reserve len payload bytes (NULL: dropped and counted; *seq 0 is
 * given the next seq), write exactly len bytes there, then commit.
 */
uint8_t *llo_ring_reserve(llo_ring_t *ring, uint64_t *seq, size_t len);
void llo_ring_commit(llo_ring_t *ring, uint8_t *payload);

/*
 * Consumer: read the committed record at *cursor (which starts at
 * llo_ring_rpos()).  On LLO_RING_OK rec is filled and rec->next is where
 * the next one starts; the payload points into the mapping and stays
 * valid until llo_ring_release() passes it.  now_ms is a monotonic
 * clock; an uncommitted record older than torn_ms is skipped and counted.
 */
llo_ring_rc_e llo_ring_read(llo_ring_t *ring, uint64_t *cursor,
    llo_ring_rec_t *rec, int64_t now_ms, int64_t torn_ms);

/* Consumer: zero [rpos, upto) and move rpos to upto. */
void llo_ring_release(llo_ring_t *ring, uint64_t upto);

uint64_t llo_ring_rpos(llo_ring_t *ring);
uint64_t llo_ring_wpos(llo_ring_t *ring);

/* parse "64m", "1g", "65536", "512k"; returns 0 or -1 */
int llo_parse_size(const char *s, size_t len, uint64_t *out);


#endif /* _LLO_RING_H_INCLUDED_ */
