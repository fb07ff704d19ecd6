/* Receive blocks (net/rx_block.c): a received payload of TR_RX_SHARE_MIN
 * bytes or more stays in the block it was read into, and the message holds
 * a reference. The connection must never read over a payload a message
 * still holds: with a receiver that holds every message in its mailbox
 * while megabytes more arrive (blocks switched, frames longer than a block
 * read apart), each payload is still whole when it is handled, and
 * tr_msg_take gives a copy of its own. Plus the reference counting itself. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/msg.h"
#include "net/node_impl.h"
#include "tests/support/latch.h"
#include "tests/support/node_pair.h"
#include "troupe/troupe.h"

enum { MSG_GATE = TR_MSG_USER, MSG_DATA };
enum { COUNT = 240 };

/* Around the sharing threshold, larger ones, small ones, and once a frame
 * longer than a block. */
static size_t size_of(int i)
{
    static const size_t sizes[] = {TR_RX_SHARE_MIN, TR_RX_SHARE_MIN - 1, 4096, 70000, 3000, 64, 20000, 2048};
    return i == COUNT / 2 ? TR_RX_BLOCK + 4321 : sizes[i % 8];
}

static void fill(unsigned char *buf, size_t size, int i)
{
    for (size_t j = 0; j < size; j++)
        buf[j] = (unsigned char)(i * 31 + (int)j * 7 + (int)(j >> 9));
}

static latch gate, got;
static _Atomic int wrong, next_seq;

static bool whole(const void *data, size_t size, int i)
{
    unsigned char *want = malloc(size_of(i));
    fill(want, size_of(i), i);
    bool ok = size == size_of(i) && memcmp(data, want, size) == 0;
    free(want);
    return ok;
}

/* The first message holds the worker until the test opens the gate, so the
 * others wait in the mailbox and pin their blocks meanwhile. */
static int holder_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == MSG_GATE) {
        latch_wait(&gate, 1, 60000);
        return TR_OK;
    }
    int i = atomic_fetch_add(&next_seq, 1);
    if (msg->type != MSG_DATA || !whole(msg->data, msg->size, i))
        atomic_fetch_add(&wrong, 1);
    if (i % 3 == 0 && msg->size > TR_MSG_INLINE) { /* a copy of its own, the message still whole */
        void *took = tr_msg_take(msg);
        if (took == NULL || !whole(took, msg->size, i) || !whole(msg->data, msg->size, i))
            atomic_fetch_add(&wrong, 1);
        free(took);
    }
    latch_add(&got, 1);
    return TR_OK;
}
static const tr_behaviour holder = {.handle = holder_handle};

Test(rx_blocks, held_payloads_stay_whole_while_more_arrive, .timeout = 120)
{
    latch_init(&gate);
    latch_init(&got);
    node_pair np;
    node_pair_start(&np, "rx0", "rx1", 30000);
    tr_ref remote = node_pair_serve(&np, &holder, "holder");
    tr_node_stats before;
    tr_node_stats_get(np.node[1], &before);
    cr_assert_eq(tr_post(np.sys[0], remote, MSG_GATE, NULL, 0, -1), TR_OK);
    for (int i = 0; i < COUNT; i++) {
        unsigned char *buf = malloc(size_of(i));
        fill(buf, size_of(i), i);
        cr_assert_eq(tr_post(np.sys[0], remote, MSG_DATA, buf, size_of(i), -1), TR_OK);
        free(buf);
    }
    /* every message is in the holder's mailbox before it reads one */
    tr_node_stats st;
    for (int ms = 0; ms < 60000; ms++) {
        tr_node_stats_get(np.node[1], &st);
        if (st.envelopes_in - before.envelopes_in >= COUNT + 1)
            break;
        nng_msleep(1);
    }
    cr_assert_geq(st.envelopes_in - before.envelopes_in, COUNT + 1, "all delivered while the holder waits");
    latch_add(&gate, 1);
    cr_assert(latch_wait(&got, COUNT, 60000), "%ld of %d handled", latch_get(&got), COUNT);
    cr_assert_eq(atomic_load(&wrong), 0);
    tr_node_stats_get(np.node[1], &st);
    cr_assert_eq(st.bad_frames, 0);
    node_pair_stop(&np);
    latch_fini(&got);
    latch_fini(&gate);
}

/* The counting: a block is read from its start again only once every
 * message taken from it is gone; a switch keeps the unread bytes and the
 * old block lives on while a message holds it. */
Test(rx_blocks, a_block_is_reused_only_once_no_message_holds_it)
{
    tr_rx_blocks rb = {0};
    uint8_t *d = tr_rx_block_switch(&rb, NULL, 0);
    cr_assert_not_null(d);
    cr_assert_eq((uintptr_t)d & (TR_RX_BLOCK - 1), TR_RX_BLOCK_HEAD, "aligned to its size");
    cr_assert(tr_rx_block_unshared(&rb));
    tr_rx_block_give(&rb);
    tr_rx_block_give(&rb);
    cr_assert_not(tr_rx_block_unshared(&rb));
    tr_rx_block_release(d + 100);
    cr_assert_not(tr_rx_block_unshared(&rb));
    tr_rx_block_release(d + TR_RX_CHUNK - 1); /* any byte of the block finds it */
    cr_assert(tr_rx_block_unshared(&rb));

    /* a message node holds one; tr_msg_take copies */
    memcpy(d + 64, "payload", 8);
    tr_rx_block_give(&rb);
    tr_mnode *n = tr_mnode_share(TR_MSG_USER, d + 64, 8, tr_rx_block_release);
    cr_assert_not_null(n);
    void *took = tr_msg_take(&n->msg);
    cr_assert(took != NULL && took != (void *)(d + 64) && memcmp(took, "payload", 8) == 0);
    free(took);
    cr_assert_not(tr_rx_block_unshared(&rb));

    /* switched away from while the node holds it: unread bytes move */
    memcpy(d + 1000, "unread", 6);
    uint8_t *d2 = tr_rx_block_switch(&rb, d + 1000, 6);
    cr_assert(d2 != NULL && d2 != d && memcmp(d2, "unread", 6) == 0);
    cr_assert(memcmp(n->msg.data, "payload", 8) == 0, "the old block lives while a message holds it");
    tr_mnode_free(n); /* the old block goes */
    cr_assert(tr_rx_block_unshared(&rb));
    tr_rx_blocks_free(&rb);
    cr_assert_null(rb.cur);
}
