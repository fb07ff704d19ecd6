/* Large payloads go out by scatter/gather (net/peer.c: from TR_SG_MIN bytes
 * a payload is written from its message's buffer, not copied into the
 * batch): they arrive intact and in order, mixed with small ones, whether
 * copied (tr_send) or moved (tr_send_move, whose buffer is freed once, after
 * it was written); and the iovs of a frame with parts cover exactly its
 * bytes from any offset. Two in-process nodes over tcp loopback. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/node_impl.h"
#include "tests/support/latch.h"
#include "tests/support/node_pair.h"
#include "troupe/troupe.h"

enum { MSG_GO = TR_MSG_USER, MSG_DATA };
enum { COUNT = 40 };

/* Sizes around the threshold, far above it, and small ones between. */
static size_t size_of(int i)
{
    static const size_t sizes[] = {TR_SG_MIN, 5, 100 * 1024, TR_SG_MIN - 1, 70000, 300, TR_SG_MIN + 1, 4};
    return sizes[i % 8];
}

static void fill(unsigned char *buf, size_t size, int i)
{
    for (size_t j = 0; j < size; j++)
        buf[j] = (unsigned char)(i * 31 + (int)j * 7);
}

static latch got;
static _Atomic int wrong, next_seq;
static _Atomic int moved_freed;

static void moved_free(void *buf)
{
    atomic_fetch_add(&moved_freed, 1);
    free(buf);
}

/* Checks the message is the next one, whole. */
static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    int i = atomic_fetch_add(&next_seq, 1);
    unsigned char *want = malloc(size_of(i));
    fill(want, size_of(i), i);
    if (msg->type != MSG_DATA || msg->size != size_of(i) || memcmp(msg->data, want, msg->size) != 0)
        atomic_fetch_add(&wrong, 1);
    free(want);
    latch_add(&got, 1);
    return TR_OK;
}
static const tr_behaviour sink = {.handle = sink_handle};

/* Sends all COUNT messages in one turn (they leave in frames written at its
 * end): even ones copied, odd ones moved. */
static int source_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    tr_ref to;
    memcpy(&to, msg->data, sizeof(to));
    for (int i = 0; i < COUNT; i++) {
        unsigned char *buf = malloc(size_of(i));
        fill(buf, size_of(i), i);
        if (i % 2 == 0) {
            cr_assert_eq(tr_send(self, to, MSG_DATA, buf, size_of(i)), TR_OK);
            free(buf);
        } else {
            cr_assert_eq(tr_send_move(self, to, MSG_DATA, buf, size_of(i), moved_free), TR_OK);
        }
    }
    return TR_OK;
}
static const tr_behaviour source = {.handle = source_handle};

Test(large_payloads, arrive_whole_and_in_order_with_small_ones_between)
{
    latch_init(&got);
    node_pair np;
    node_pair_start(&np, "big0", "big1", 10000);
    tr_ref remote = node_pair_serve(&np, &sink, "sink");
    tr_ref src;
    cr_assert_eq(tr_spawn(np.sys[0], &source, NULL, NULL, &src), TR_OK);
    cr_assert_eq(tr_post(np.sys[0], src, MSG_GO, &remote, sizeof(remote), -1), TR_OK);
    cr_assert(latch_wait(&got, COUNT, 30000), "%ld of %d arrived", latch_get(&got), COUNT);
    cr_assert_eq(atomic_load(&wrong), 0);
    /* outside threads write at once: the same from tr_post */
    for (int i = 0; i < COUNT; i++) {
        unsigned char *buf = malloc(size_of(i));
        fill(buf, size_of(i), i + COUNT);
        cr_assert_eq(tr_post_move(np.sys[0], remote, MSG_DATA, buf, size_of(i), moved_free, -1), TR_OK);
    }
    cr_assert(latch_wait(&got, 2 * COUNT, 30000), "%ld of %d arrived", latch_get(&got), 2 * COUNT);
    cr_assert_eq(atomic_load(&wrong), 0);
    tr_node_stats st;
    tr_node_stats_get(np.node[1], &st);
    cr_assert_eq(st.bad_frames, 0);
    node_pair_stop(&np);
    cr_assert_eq(atomic_load(&moved_freed), COUNT / 2 + COUNT, "each moved buffer freed once");
    latch_fini(&got);
}

/* tr_frame_iov: from every offset, the iovs are the frame's next bytes. */
Test(large_payloads, frame_iovs_cover_the_frame_from_any_offset)
{
    char buf[64], p0[10], p1[1], p2[7], flat[64 + 18];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)('a' + i % 26);
    memset(p0, '0', sizeof(p0));
    memset(p1, '1', sizeof(p1));
    memset(p2, '2', sizeof(p2));
    tr_frame_part parts[] = {{5, p0, sizeof(p0), NULL}, {5, p1, sizeof(p1), NULL}, {40, p2, sizeof(p2), NULL}};
    tr_frame_out f = {.buf = buf, .len = sizeof(buf), .count = 3, .parts = parts, .nparts = 3,
                      .parts_len = sizeof(p0) + sizeof(p1) + sizeof(p2)};
    /* the expected wire bytes */
    size_t n = 0;
    memcpy(flat, buf, 5), n = 5;
    memcpy(flat + n, p0, sizeof(p0)), n += sizeof(p0);
    memcpy(flat + n, p1, sizeof(p1)), n += sizeof(p1);
    memcpy(flat + n, buf + 5, 35), n += 35;
    memcpy(flat + n, p2, sizeof(p2)), n += sizeof(p2);
    memcpy(flat + n, buf + 40, 24), n += 24;
    cr_assert_eq(n, sizeof(flat));
    for (size_t off = 0; off < sizeof(flat); off++) {
        nng_iov iov[TR_FRAME_IOV];
        unsigned k = tr_frame_iov(&f, off, iov);
        cr_assert(k >= 1 && k <= TR_FRAME_IOV);
        size_t at = off;
        for (unsigned j = 0; j < k; j++) {
            cr_assert_gt(iov[j].iov_len, 0);
            cr_assert_leq(at + iov[j].iov_len, sizeof(flat));
            cr_assert(memcmp(iov[j].iov_buf, flat + at, iov[j].iov_len) == 0, "offset %zu iov %u", off, j);
            at += iov[j].iov_len;
        }
        cr_assert(k == TR_FRAME_IOV || at == sizeof(flat), "offset %zu: stops at %zu", off, at);
    }
}
