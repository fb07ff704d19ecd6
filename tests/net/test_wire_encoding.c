/* The envelope encoder (net/envelope.c writes an envelope's head by hand)
 * produces exactly the bytes msgpack-c's packer produces for the same
 * fields, at every integer width boundary, for names and payload sizes
 * around each header size; and what it writes decodes back to the same
 * envelope. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/envelope.h"
#include "troupe/errors.h"

/* The reference: the packer calls the encoder used to make. */
static void pack_reference(msgpack_packer *pk, const tr_envelope *e)
{
    msgpack_pack_array(pk, 6);
    msgpack_pack_uint32(pk, e->kind);
    if (e->dst_name.len > 0) {
        msgpack_pack_str(pk, e->dst_name.len);
        msgpack_pack_str_body(pk, e->dst_name.ptr, e->dst_name.len);
    } else {
        msgpack_pack_uint64(pk, e->dst);
    }
    msgpack_pack_uint64(pk, e->src);
    msgpack_pack_int64(pk, e->value);
    msgpack_pack_uint64(pk, e->corr);
    if (e->size > 0) {
        msgpack_pack_bin(pk, e->size);
        msgpack_pack_bin_body(pk, e->payload, e->size);
    } else {
        msgpack_pack_nil(pk);
    }
}

static void check_one(const tr_envelope *e)
{
    msgpack_sbuffer want, got;
    msgpack_sbuffer_init(&want);
    msgpack_sbuffer_init(&got);
    msgpack_packer pw, pg;
    msgpack_packer_init(&pw, &want, msgpack_sbuffer_write);
    msgpack_packer_init(&pg, &got, msgpack_sbuffer_write);
    pack_reference(&pw, e);
    cr_assert_eq(tr_wire_pack_envelope(&pg, e), TR_OK);
    cr_assert_eq(got.size, want.size, "value %lld dst %llu size %u", (long long)e->value,
                 (unsigned long long)e->dst, e->size);
    cr_assert(memcmp(got.data, want.data, got.size) == 0, "value %lld dst %llu size %u", (long long)e->value,
              (unsigned long long)e->dst, e->size);
    /* and back: a frame of this one envelope */
    msgpack_sbuffer frame;
    msgpack_sbuffer_init(&frame);
    msgpack_packer pf;
    msgpack_packer_init(&pf, &frame, msgpack_sbuffer_write);
    cr_assert_eq(tr_wire_begin_envelopes(&pf), TR_OK);
    msgpack_sbuffer_write(&frame, got.data, got.size);
    tr_wire_patch_count(frame.data, 1);
    tr_frame_reader r;
    tr_frame_reader_init(&r);
    cr_assert_eq(tr_frame_open(&r, frame.data, frame.size), TR_OK);
    tr_envelope back;
    cr_assert_eq(tr_frame_next(&r, &back), TR_OK);
    cr_assert_eq(back.kind, e->kind);
    cr_assert_eq(back.dst, e->dst_name.len > 0 ? 0 : e->dst); /* a name travels instead of an id */
    cr_assert_eq(back.dst_name.len, e->dst_name.len);
    cr_assert(e->dst_name.len == 0 || memcmp(back.dst_name.ptr, e->dst_name.ptr, e->dst_name.len) == 0);
    cr_assert_eq(back.src, e->src);
    cr_assert_eq(back.value, e->value);
    cr_assert_eq(back.corr, e->corr);
    cr_assert_eq(back.size, e->size);
    cr_assert(e->size == 0 || memcmp(back.payload, e->payload, e->size) == 0);
    cr_assert_eq(tr_frame_next(&r, &back), TR_ENOTFOUND);
    tr_frame_reader_destroy(&r);
    msgpack_sbuffer_destroy(&frame);
    msgpack_sbuffer_destroy(&want);
    msgpack_sbuffer_destroy(&got);
}

Test(wire_encoding, envelope_heads_are_the_bytes_msgpack_c_packs)
{
    static const uint64_t uints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
                                     UINT64_MAX};
    static const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, INT64_MAX, -1, -31, -32, -33, -127,
                                   -128, -129, -32767, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1,
                                   INT64_MIN};
    static const uint32_t sizes[] = {0, 1, 255, 256, 65535, 65536, 70000};
    static const uint32_t names[] = {0, 1, 31, 32, TR_WIRE_NAME_MAX};
    char *payload = malloc(70000);
    for (int i = 0; i < 70000; i++)
        payload[i] = (char)(i * 13);
    char name[TR_WIRE_NAME_MAX];
    memset(name, 'n', sizeof(name));
    size_t nu = sizeof(uints) / sizeof(uints[0]), ni = sizeof(ints) / sizeof(ints[0]);
    for (size_t a = 0; a < nu; a++)
        for (size_t b = 0; b < ni; b++) {
            tr_envelope e = {.kind = TR_ENV_SEND, .dst = uints[a], .src = uints[(a + b) % nu], .value = ints[b],
                             .corr = uints[(a * 7 + b) % nu]};
            check_one(&e);
        }
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
            tr_envelope e = {.kind = TR_ENV_FORCED, .dst = 5, .dst_name = {name, names[n]}, .src = 300,
                             .value = -7, .corr = 1u << 20, .payload = payload, .size = sizes[s]};
            check_one(&e);
        }
    for (uint32_t k = 0; k <= TR_ENV_KIND_MAX; k++) {
        tr_envelope e = {.kind = k, .dst = 9, .src = 0, .value = 3, .corr = 0};
        check_one(&e);
    }
    free(payload);
}
