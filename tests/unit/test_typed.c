/* Typed messages (typed.h) and format packing (pack.h): routes hand
 * handlers aligned values of the right size and refuse the rest with a
 * clear error; tr_pack/tr_unpack round-trip and refuse malformed or
 * hostile bytes. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

enum { ADD = TR_MSG_USER, GET, BIG, RAW, UNROUTED };

typedef struct big { double d[64]; } big; /* 512 bytes: past the inline copy */
typedef struct counter { int64_t total; } counter;

TR_HANDLER(on_add, counter, int64_t) {
    state->total += *value;
    return tr_reply_value(self, msg, state->total);
}
TR_HANDLER_EMPTY(on_get, counter) { return tr_reply_value(self, msg, state->total); }
TR_HANDLER(on_big, counter, big) {
    int aligned = (uintptr_t)value % alignof(max_align_t) == 0;
    double sum = 0;
    for (int i = 0; i < 64; i++)
        sum += value->d[i];
    return tr_reply_value(self, msg, aligned ? sum : -1.0);
}
static int on_raw(tr_ctx *self, void *state, const tr_msg *msg, const void *value) {
    (void)state, (void)value;
    return tr_reply_value(self, msg, msg->size);
}

static const tr_route routes[] = {TR_ON(ADD, on_add), TR_ON(GET, on_get), TR_ON(BIG, on_big),
                                  {RAW, TR_SIZE_ANY, on_raw}};
static const tr_behaviour counter_beh = {TR_ROUTES(routes), .state_size = sizeof(counter)};

Test(typed, routes_hand_typed_values_to_their_handlers)
{
    tr_system *sys = make_system(2);
    tr_ref c;
    cr_assert_eq(tr_spawn(sys, &counter_beh, NULL, NULL, &c), TR_OK);
    int64_t total = 0, five = 5;
    cr_assert_eq(tr_call(sys, c, ADD, &five, sizeof(five), &total, sizeof(total), WAIT_MS), TR_OK);
    cr_assert_eq(tr_call(sys, c, ADD, &five, sizeof(five), &total, sizeof(total), WAIT_MS), TR_OK);
    cr_assert_eq(total, 10);
    cr_assert_eq(tr_call(sys, c, GET, NULL, 0, &total, sizeof(total), WAIT_MS), TR_OK);
    cr_assert_eq(total, 10);
    big b;
    for (int i = 0; i < 64; i++)
        b.d[i] = i;
    double sum = 0;
    cr_assert_eq(tr_call(sys, c, BIG, &b, sizeof(b), &sum, sizeof(sum), WAIT_MS), TR_OK);
    cr_assert_eq(sum, 63 * 64 / 2, "aligned and intact: %f", sum);
    size_t n = 0;
    cr_assert_eq(tr_call(sys, c, RAW, "abc", 3, &n, sizeof(n), WAIT_MS), TR_OK);
    cr_assert_eq(n, 3);
    /* a reply of another size than the caller expects */
    int32_t small;
    cr_assert_eq(tr_call(sys, c, GET, NULL, 0, &small, sizeof(small), WAIT_MS), TR_EPROTO);
    tr_system_destroy(sys);
}

Test(typed, a_wrong_size_or_an_unrouted_type_is_refused_and_the_actor_lives_on)
{
    tr_system *sys = make_system(2);
    tr_set_log_level(TR_LOG_OFF); /* the refusals are logged: not needed here */
    tr_ref c;
    cr_assert_eq(tr_spawn(sys, &counter_beh, NULL, NULL, &c), TR_OK);
    tr_metrics before, after;
    tr_metrics_get(sys, &before);
    int32_t four = 4;
    int64_t total = 0;
    cr_assert_eq(tr_call(sys, c, ADD, &four, sizeof(four), &total, sizeof(total), WAIT_MS), TR_EPROTO);
    cr_assert_eq(tr_call(sys, c, GET, &four, sizeof(four), &total, sizeof(total), WAIT_MS), TR_EPROTO,
                 "an empty route refuses a payload");
    cr_assert_eq(tr_call(sys, c, UNROUTED, NULL, 0, &total, sizeof(total), WAIT_MS), TR_ENOTFOUND);
    cr_assert_eq(tr_post(sys, c, ADD, "x", 1, -1), TR_OK); /* not an ask: only counted */
    cr_assert_eq(tr_call(sys, c, GET, NULL, 0, &total, sizeof(total), WAIT_MS), TR_OK, "still alive");
    cr_assert_eq(total, 0);
    tr_metrics_get(sys, &after);
    cr_assert_eq(after.dead_letters - before.dead_letters, 4);
    tr_set_log_level(TR_LOG_WARN);
    tr_system_destroy(sys);
}

Test(typed, msg_value_reads_exactly_its_size)
{
    int64_t v = 7, out = 0;
    tr_msg m = {.type = ADD, .data = &v, .size = sizeof(v)};
    cr_assert_eq(tr_msg_value(&m, &out), TR_OK);
    cr_assert_eq(out, 7);
    int32_t small;
    cr_assert_eq(tr_msg_value(&m, &small), TR_EPROTO);
}

/* ---- tr_pack / tr_unpack ---- */

Test(pack, round_trips_scalars_strings_bytes_and_nested_arrays)
{
    tr_system *sys = make_system(1);
    size_t n;
    tr_ref me = {.id = 12345};
    void *buf = tr_pack(sys, &n, "[iIuUdbs y [s n] r]", -3, (int64_t)INT64_MIN, 7u, (uint64_t)UINT64_MAX,
                        2.5, 1, "hello", "\x01\x02", (size_t)2, "in", me);
    cr_assert_not_null(buf);
    int i;
    int64_t I;
    unsigned u;
    uint64_t U;
    double d;
    bool b;
    const char *s, *s2;
    size_t slen, s2len, ylen;
    const void *y;
    tr_ref r;
    cr_assert_eq(tr_unpack(sys, buf, n, "[iIuUdbsy[sn]r]", &i, &I, &u, &U, &d, &b, &s, &slen, &y, &ylen,
                           &s2, &s2len, &r), TR_OK);
    cr_assert_eq(i, -3);
    cr_assert_eq(I, INT64_MIN);
    cr_assert_eq(u, 7u);
    cr_assert_eq(U, UINT64_MAX);
    cr_assert_eq(d, 2.5);
    cr_assert(b);
    cr_assert_eq(slen, 5);
    cr_assert_eq(memcmp(s, "hello", 5), 0);
    cr_assert_eq(ylen, 2);
    cr_assert_eq(memcmp(y, "\x01\x02", 2), 0);
    cr_assert_eq(s2len, 2);
    cr_assert(tr_ref_equal(r, me));
    free(buf);
    tr_system_destroy(sys);
}

Test(pack, refuses_other_shapes_trailing_bytes_and_hostile_lengths)
{
    size_t n;
    void *buf = tr_pack(NULL, &n, "[is]", 300, "x");
    cr_assert_not_null(buf);
    int i;
    const char *s;
    size_t len;
    int64_t I;
    cr_assert_eq(tr_unpack(NULL, buf, n, "[is]", &i, &s, &len), TR_OK);
    cr_assert_eq(tr_unpack(NULL, buf, n, "[si]", &s, &len, &i), TR_EPROTO, "types swapped");
    cr_assert_eq(tr_unpack(NULL, buf, n, "[i]", &i), TR_EPROTO, "one item too many");
    cr_assert_eq(tr_unpack(NULL, buf, n, "[isI]", &i, &s, &len, &I), TR_EPROTO, "one item missing");
    cr_assert_eq(tr_unpack(NULL, buf, n, "i", &i), TR_EPROTO, "not an array");
    cr_assert_eq(tr_unpack(NULL, buf, n - 1, "[is]", &i, &s, &len), TR_EPROTO, "truncated");
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, buf, n);
    longer[n] = 0xc0; /* a trailing nil */
    cr_assert_eq(tr_unpack(NULL, longer, n + 1, "[is]", &i, &s, &len), TR_EPROTO, "trailing bytes");
    free(longer);
    free(buf);
    /* an array header claiming 4 billion elements in 5 bytes */
    const unsigned char hostile[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(tr_unpack(NULL, hostile, sizeof(hostile), "[i]", &i), TR_EPROTO);
    cr_assert_eq(tr_unpack(NULL, NULL, 0, "i", &i), TR_EPROTO);
    /* ranges: 'i' is an int */
    buf = tr_pack(NULL, &n, "I", (int64_t)INT_MAX + 1);
    cr_assert_eq(tr_unpack(NULL, buf, n, "i", &i), TR_EPROTO);
    cr_assert_eq(tr_unpack(NULL, buf, n, "I", &I), TR_OK);
    free(buf);
    /* bad formats */
    cr_assert_null(tr_pack(NULL, &n, "[i", 1));
    cr_assert_null(tr_pack(NULL, &n, "q", 1));
    cr_assert_null(tr_pack(NULL, &n, "s", (const char *)NULL));
}
