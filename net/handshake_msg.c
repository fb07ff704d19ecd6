/* See handshake_msg.h. */
#include "net/handshake_msg.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "net/msgpack_check.h"
#include "troupe/errors.h"

bool tr_node_name_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > TR_WIRE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '-'))
            return false;
    }
    return true;
}

static int pk_bin(msgpack_packer *pk, const uint8_t *p, size_t n)
{
    return msgpack_pack_bin(pk, n) || msgpack_pack_bin_body(pk, p, n);
}

int tr_hs_pack(msgpack_packer *pk, const tr_hs_msg *m)
{
    int bad;
    switch (m->kind) {
    case TR_HS_HELLO:
    case TR_HS_CHALLENGE:
        bad = msgpack_pack_array(pk, 6) || msgpack_pack_uint32(pk, m->kind) ||
              msgpack_pack_uint32(pk, m->version) || msgpack_pack_str(pk, m->name.len) ||
              msgpack_pack_str_body(pk, m->name.ptr, m->name.len) ||
              msgpack_pack_uint64(pk, m->incarnation) || msgpack_pack_uint64(pk, m->caps) ||
              pk_bin(pk, m->challenge, sizeof(m->challenge));
        break;
    case TR_HS_PROOF:
    case TR_HS_ACCEPT:
        bad = msgpack_pack_array(pk, 3) || msgpack_pack_uint32(pk, m->kind) ||
              msgpack_pack_uint64(pk, m->agent) || pk_bin(pk, m->mac, sizeof(m->mac));
        break;
    case TR_HS_REFUSE:
        bad = msgpack_pack_array(pk, 2) || msgpack_pack_uint32(pk, m->kind) ||
              msgpack_pack_int64(pk, m->reason);
        break;
    default: return TR_EINVAL;
    }
    return bad ? TR_ENOMEM : TR_OK;
}

static bool get_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

static bool get_bin(const msgpack_object *o, uint8_t *out, size_t n)
{
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != n)
        return false;
    memcpy(out, o->via.bin.ptr, n);
    return true;
}

static int parse_fields(const msgpack_object *o, tr_hs_msg *m)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2)
        return TR_EPROTO;
    const msgpack_object *f = o->via.array.ptr;
    uint32_t n = o->via.array.size;
    uint64_t kind, v;
    if (!get_u64(&f[0], &kind))
        return TR_EPROTO;
    m->kind = (uint32_t)(kind > UINT32_MAX ? 0 : kind);
    switch (m->kind) {
    case TR_HS_HELLO:
    case TR_HS_CHALLENGE:
        if (n != 6 || !get_u64(&f[1], &v) || v == 0 || f[2].type != MSGPACK_OBJECT_STR ||
            !get_u64(&f[3], &m->incarnation) || !get_u64(&f[4], &m->caps) ||
            !get_bin(&f[5], m->challenge, sizeof(m->challenge)))
            return TR_EPROTO;
        m->version = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
        m->name = (tr_wire_str){f[2].via.str.ptr, f[2].via.str.size};
        return tr_node_name_valid(m->name.ptr, m->name.len) ? TR_OK : TR_EPROTO;
    case TR_HS_PROOF:
    case TR_HS_ACCEPT:
        return n == 3 && get_u64(&f[1], &m->agent) && get_bin(&f[2], m->mac, sizeof(m->mac))
                   ? TR_OK
                   : TR_EPROTO;
    case TR_HS_REFUSE:
        if (n != 2)
            return TR_EPROTO;
        if (f[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            m->reason = f[1].via.i64;
        else if (f[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[1].via.u64 <= INT32_MAX)
            m->reason = (int64_t)f[1].via.u64;
        else
            return TR_EPROTO;
        return TR_OK;
    default: return TR_EPROTO;
    }
}

int tr_hs_parse(const void *data, size_t size, tr_hs_msg *m)
{
    memset(m, 0, sizeof(*m));
    size_t objects = 0, off = 0;
    /* one flat array of at most 6 fields: at most 6 decoded objects */
    if (data == NULL || size == 0 || size > TR_HS_FRAME_MAX ||
        !tr_msgpack_check_count(data, size, 1, 6, &objects) || objects != 1)
        return TR_EPROTO;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = TR_EPROTO;
    if (msgpack_unpack_next(&u, data, size, &off) == MSGPACK_UNPACK_SUCCESS && off == size)
        rc = parse_fields(&u.data, m);
    msgpack_unpacked_destroy(&u);
    return rc;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

int tr_hs_mac(const char *cookie, size_t cookie_len, bool initiator, const tr_hs_transcript *t,
              uint64_t agent, uint8_t out[TR_HS_MAC_BYTES])
{
    /* "troupe/2 I" or "troupe/2 A", both challenges, both names (length
     * first), both incarnations, the prover's agent */
    uint8_t buf[10 + 2 * TR_HS_CHALLENGE_BYTES + 2 * (1 + TR_WIRE_NAME_MAX) + 3 * 8];
    size_t n = 0;
    memcpy(buf, initiator ? "troupe/2 I" : "troupe/2 A", 10);
    n += 10;
    memcpy(buf + n, t->chal_initiator, TR_HS_CHALLENGE_BYTES);
    n += TR_HS_CHALLENGE_BYTES;
    memcpy(buf + n, t->chal_acceptor, TR_HS_CHALLENGE_BYTES);
    n += TR_HS_CHALLENGE_BYTES;
    const tr_wire_str *names[2] = {&t->name_initiator, &t->name_acceptor};
    for (int i = 0; i < 2; i++) {
        if (names[i]->len > TR_WIRE_NAME_MAX)
            return TR_EINVAL;
        buf[n++] = (uint8_t)names[i]->len;
        memcpy(buf + n, names[i]->ptr, names[i]->len);
        n += names[i]->len;
    }
    put_u64(buf + n, t->inc_initiator);
    put_u64(buf + n + 8, t->inc_acceptor);
    put_u64(buf + n + 16, agent);
    n += 24;
    unsigned int len = 0;
    /* an empty cookie is a valid key: HMAC wants a non-NULL pointer */
    if (HMAC(EVP_sha256(), cookie_len > 0 ? cookie : "", (int)cookie_len, buf, n, out, &len) == NULL ||
        len != TR_HS_MAC_BYTES)
        return TR_ENOMEM;
    return TR_OK;
}

bool tr_hs_mac_equal(const uint8_t a[TR_HS_MAC_BYTES], const uint8_t b[TR_HS_MAC_BYTES])
{
    return CRYPTO_memcmp(a, b, TR_HS_MAC_BYTES) == 0;
}

int tr_hs_random(void *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? TR_OK : TR_ENOMEM;
}
