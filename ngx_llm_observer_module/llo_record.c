/*
 * llm-observer record encoding: see llo_record.h.
 */

#include <stdio.h>
#include <string.h>

#include "llo_record.h"


#define LLO_FIELD_HDR  5


#define LLO_FIELD_NAME(id, column, type)     column,

static const char  *llo_num_names[LLO_NUM_MAX] = {
    LLO_NUM_FIELDS(LLO_FIELD_NAME)
};

static const char  *llo_str_names[LLO_STR_MAX] = {
    LLO_STR_FIELDS(LLO_FIELD_NAME)
};


#define LLO_FIELD_NUM_COL(id, column, type)                                 \
    { column, LLO_COL_##type, LLO_N_##id, 0 },
#define LLO_FIELD_STR_COL(id, column, type)                                 \
    { column, LLO_COL_##type, LLO_S_##id, 0 },
#define LLO_FIELD_FLAG_COL(id, bit, column, type)                           \
    { column, LLO_COL_##type, LLO_N_FLAGS, bit },

const llo_column_t  llo_columns[] = {
    { "id", LLO_COL_UUID, 0, 0 },
    LLO_NUM_FIELDS(LLO_FIELD_NUM_COL)
    LLO_STR_FIELDS(LLO_FIELD_STR_COL)
    LLO_FLAG_FIELDS(LLO_FIELD_FLAG_COL)
    { NULL, LLO_COL_NONE, 0, 0 }
};

void
llo_rec_str(llo_rec_t *rec, int id, const void *data, size_t len)
{
    int  i;

    i = id - LLO_STR_BASE;

    if (i < 0 || i >= LLO_STR_MAX) {
        return;
    }

    rec->str[i].data = data;
    rec->str[i].len = len > UINT32_MAX ? UINT32_MAX : (uint32_t) len;
    rec->str_set |= 1ULL << i;
}


size_t
llo_rec_size(const llo_rec_t *rec)
{
    int     i;
    size_t  n;

    n = 0;

    for (i = 0; i < LLO_NUM_MAX; i++) {
        if ((rec->num_set >> i) & 1) {
            n += LLO_FIELD_HDR + 8;
        }
    }

    for (i = 0; i < LLO_STR_MAX; i++) {
        if ((rec->str_set >> i) & 1) {
            n += LLO_FIELD_HDR + (size_t) rec->str[i].len;
        }
    }

    return n;
}


static uint8_t *
llo_rec_put(uint8_t *p, int id, const void *v, uint32_t len)
{
    *p++ = (uint8_t) id;
    *p++ = (uint8_t) len;
    *p++ = (uint8_t) (len >> 8);
    *p++ = (uint8_t) (len >> 16);
    *p++ = (uint8_t) (len >> 24);

    if (len) {
        memcpy(p, v, len);
    }

    return p + len;
}


size_t
llo_rec_encode(const llo_rec_t *rec, uint8_t *buf)
{
    int       i, k;
    uint8_t  *p, le[8];
    uint64_t  v;

    p = buf;

    for (i = 0; i < LLO_NUM_MAX; i++) {
        if (((rec->num_set >> i) & 1) == 0) {
            continue;
        }

        v = (uint64_t) rec->num[i];

        for (k = 0; k < 8; k++) {
            le[k] = (uint8_t) (v >> (8 * k));
        }

        p = llo_rec_put(p, i, le, 8);
    }

    for (i = 0; i < LLO_STR_MAX; i++) {
        if ((rec->str_set >> i) & 1) {
            p = llo_rec_put(p, LLO_STR_BASE + i, rec->str[i].data,
                            rec->str[i].len);
        }
    }

    return (size_t) (p - buf);
}


int
llo_rec_decode(llo_rec_t *rec, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
    int       id, k;
    size_t    off;
    uint32_t  flen;
    uint64_t  v;

    memset(rec, 0, sizeof(llo_rec_t));

    off = 0;

    while (off < len) {
        if (len - off < LLO_FIELD_HDR) {
            snprintf(err, errlen, "truncated field header at byte %zu of "
                     "%zu", off, len);
            return -1;
        }

        id = buf[off];
        flen = (uint32_t) buf[off + 1] | (uint32_t) buf[off + 2] << 8
               | (uint32_t) buf[off + 3] << 16 | (uint32_t) buf[off + 4] << 24;

        if (flen > len - off - LLO_FIELD_HDR) {
            snprintf(err, errlen, "field %d at byte %zu claims %u bytes, "
                     "only %zu left", id, off, flen,
                     len - off - LLO_FIELD_HDR);
            return -1;
        }

        off += LLO_FIELD_HDR;

        if (id < LLO_NUM_MAX) {
            if (flen != 8) {
                snprintf(err, errlen, "number field %d at byte %zu has "
                         "length %u", id, off - LLO_FIELD_HDR, flen);
                return -1;
            }

            v = 0;
            for (k = 7; k >= 0; k--) {
                v = (v << 8) | buf[off + k];
            }

            llo_rec_num(rec, id, (int64_t) v);

        } else if (id >= LLO_STR_BASE && id < LLO_STR_END) {
            llo_rec_str(rec, id, buf + off, flen);
        }

        off += flen;
    }

    return 0;
}


const char *
llo_field_name(int id)
{
    if (id >= 0 && id < LLO_NUM_MAX) {
        return llo_num_names[id];
    }

    if (id >= LLO_STR_BASE && id < LLO_STR_END) {
        return llo_str_names[id - LLO_STR_BASE];
    }

    return NULL;
}


void
llo_format_id(uint64_t instance, uint64_t seq, char *buf)
{
    int                i, k;
    uint8_t            b[16];
    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < 8; i++) {
        b[i] = (uint8_t) (instance >> (56 - 8 * i));
        b[8 + i] = (uint8_t) (seq >> (56 - 8 * i));
    }

    for (i = 0, k = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            buf[k++] = '-';
        }

        buf[k++] = hex[b[i] >> 4];
        buf[k++] = hex[b[i] & 0xf];
    }

    buf[k] = '\0';
}
