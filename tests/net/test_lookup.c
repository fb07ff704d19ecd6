/* Names and limits across two nodes in one process (inproc://):
 * tr_lookup_async + tr_lookup_reply from an actor, for a remote name, a
 * local one and one that does not exist; tr_lookup_reply refusing what is
 * not a lookup reply; tr_node_name; a payload too large for the peer's
 * frames refused with TR_ETOOBIG (and counted), never sent. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_PING = TR_MSG_USER, MSG_FIND };

typedef struct two {
    tr_system *sys[2];
    tr_node *node[2];
    char url[2][128];
} two;

static void two_start(two *t, uint32_t max_frame_bytes)
{
    static int seq;
    seq++;
    for (int i = 0; i < 2; i++) {
        t->sys[i] = make_system(2);
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        tr_node_opts o = {.name = name, .cookie = "secret", .heartbeat_ms = 100, .down_after_ms = 30000,
                          .max_frame_bytes = max_frame_bytes};
        cr_assert_eq(tr_node_start(t->sys[i], &o, &t->node[i]), TR_OK);
        cr_assert_str_eq(tr_node_name(t->node[i]), name, "tr_node_name is the name it started with");
        char url[128];
        snprintf(url, sizeof(url), "inproc://troupe-lookup-%d-%d-%d", (int)getpid(), seq, i);
        cr_assert_eq(tr_node_listen(t->node[i], url, t->url[i], sizeof(t->url[i])), TR_OK);
    }
    char peer[64];
    cr_assert_eq(tr_node_connect(t->node[0], t->url[1], WAIT_MS, peer, sizeof(peer)), TR_OK);
    cr_assert_str_eq(peer, "n1");
}

static void two_stop(two *t)
{
    for (int i = 0; i < 2; i++) {
        tr_node_stop(t->node[i]);
        tr_system_destroy(t->sys[i]);
    }
}

static latch pinged;
static int target_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    if (msg->type == MSG_PING)
        latch_add(&pinged, 1);
    return TR_OK;
}
static const tr_behaviour target_beh = {.handle = target_handle};

/* An actor that looks a path up with tr_lookup_async and reads the reply
 * with tr_lookup_reply. */
typedef struct finder {
    const char *path;
    int async_rc, reply_rc, not_a_lookup_rc;
    uint64_t corr;
    bool corr_matched, timed_out;
    tr_ref found;
    latch done;
} finder;

static int finder_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(finder **)state = arg;
    return TR_OK;
}

static int finder_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    finder *f = *(finder **)state;
    switch (msg->type) {
    case MSG_FIND:
        f->async_rc = tr_lookup_async(self, f->path, WAIT_MS, &f->corr);
        /* the request message itself is no lookup reply */
        f->not_a_lookup_rc = tr_lookup_reply(tr_ctx_system(self), msg, &f->found);
        if (f->async_rc != TR_OK)
            latch_add(&f->done, 1);
        return TR_OK;
    case TR_MSG_REPLY:
        f->corr_matched = msg->corr == f->corr;
        f->reply_rc = tr_lookup_reply(tr_ctx_system(self), msg, &f->found);
        if (f->reply_rc == TR_OK)
            tr_send(self, f->found, MSG_PING, NULL, 0); /* the reference works */
        latch_add(&f->done, 1);
        return TR_OK;
    case TR_MSG_ASK_TIMEOUT:
        f->timed_out = true;
        latch_add(&f->done, 1);
        return TR_OK;
    default: return TR_OK;
    }
}
static const tr_behaviour finder_beh = {.init = finder_init, .handle = finder_handle,
                                        .state_size = sizeof(finder *)};

static void find(tr_system *sys, finder *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->path = path;
    f->reply_rc = -1;
    f->found = TR_REF_NONE;
    latch_init(&f->done);
    tr_ref r;
    cr_assert_eq(tr_spawn(sys, &finder_beh, f, NULL, &r), TR_OK);
    cr_assert_eq(tr_post(sys, r, MSG_FIND, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&f->done, 1, WAIT_MS), "%s: no answer", path);
    cr_assert_eq(tr_stop(sys, r), TR_OK);
    cr_assert_eq(tr_await_exit(sys, r, WAIT_MS, NULL), TR_OK);
    cr_assert(!f->timed_out, "%s: the lookup timed out", path);
    latch_fini(&f->done);
}

Test(lookup, lookup_async_finds_remote_and_local_names_and_reports_missing_ones)
{
    latch_init(&pinged);
    two t;
    two_start(&t, 0);
    tr_ref remote_target, local_target;
    cr_assert_eq(tr_spawn(t.sys[1], &target_beh, NULL, NULL, &remote_target), TR_OK);
    cr_assert_eq(tr_register(t.sys[1], "target", remote_target), TR_OK);
    cr_assert_eq(tr_spawn(t.sys[0], &target_beh, NULL, NULL, &local_target), TR_OK);
    cr_assert_eq(tr_register(t.sys[0], "here", local_target), TR_OK);

    finder f;
    find(t.sys[0], &f, "n1/target");
    cr_assert_eq(f.async_rc, TR_OK);
    cr_assert_eq(f.not_a_lookup_rc, TR_EPROTO, "a non-reply read as a lookup reply: %s",
                 tr_strerror(f.not_a_lookup_rc));
    cr_assert(f.corr_matched, "the reply carries the lookup's correlation id");
    cr_assert_eq(f.reply_rc, TR_OK, "n1/target: %s", tr_strerror(f.reply_rc));
    cr_assert(tr_ref_is_remote(f.found));
    cr_assert(latch_wait(&pinged, 1, WAIT_MS), "the remote reference found does not reach its actor");

    find(t.sys[0], &f, "here");
    cr_assert_eq(f.async_rc, TR_OK);
    cr_assert_eq(f.reply_rc, TR_OK, "a local name: %s", tr_strerror(f.reply_rc));
    cr_assert(tr_ref_equal(f.found, local_target));
    cr_assert(latch_wait(&pinged, 2, WAIT_MS));

    find(t.sys[0], &f, "n1/nobody");
    cr_assert_eq(f.async_rc, TR_OK);
    cr_assert_eq(f.reply_rc, TR_ENOTFOUND, "a missing remote name: %s", tr_strerror(f.reply_rc));
    cr_assert(tr_ref_is_none(f.found));

    find(t.sys[0], &f, "nowhere/target");
    cr_assert_eq(f.async_rc, TR_ENOTCONN, "a node never connected: %s", tr_strerror(f.async_rc));
    find(t.sys[0], &f, "n1/");
    cr_assert_eq(f.async_rc, TR_EINVAL);

    cr_assert_eq(tr_lookup_reply(NULL, NULL, &f.found), TR_EINVAL);
    two_stop(&t);
    latch_fini(&pinged);
}

/* ---- a payload over the peer's frame limit ---- */

typedef struct big_sender {
    tr_ref to;
    size_t size;
    int rc;
    latch done;
} big_sender;

static int big_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(big_sender **)state = arg;
    return TR_OK;
}

static int big_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    big_sender *b = *(big_sender **)state;
    if (msg->type != MSG_FIND)
        return TR_OK;
    char *payload = calloc(1, b->size);
    if (payload == NULL)
        return TR_ENOMEM;
    b->rc = tr_send(self, b->to, MSG_PING, payload, b->size);
    free(payload);
    latch_add(&b->done, 1);
    return TR_OK;
}
static const tr_behaviour big_beh = {.init = big_init, .handle = big_handle, .state_size = sizeof(big_sender *)};

Test(lookup, oversized_remote_payload_is_etoobig_and_counted)
{
    latch_init(&pinged);
    two t;
    two_start(&t, 64 * 1024); /* frames of at most 64 KiB */
    tr_ref target;
    cr_assert_eq(tr_spawn(t.sys[1], &target_beh, NULL, NULL, &target), TR_OK);
    cr_assert_eq(tr_register(t.sys[1], "target", target), TR_OK);
    tr_ref remote;
    cr_assert_eq(tr_lookup(t.sys[0], "n1/target", WAIT_MS, &remote), TR_OK);

    /* from outside */
    tr_metrics m0, m1;
    tr_metrics_get(t.sys[0], &m0);
    static char huge[256 * 1024];
    cr_assert_eq(tr_post(t.sys[0], remote, MSG_PING, huge, sizeof(huge), 0), TR_ETOOBIG);
    tr_metrics_get(t.sys[0], &m1);
    cr_assert_eq(m1.dead_letters, m0.dead_letters + 1, "the refused payload is a counted dead letter");

    /* from an actor */
    big_sender b = {.to = remote, .size = sizeof(huge), .rc = -1};
    latch_init(&b.done);
    tr_ref s;
    cr_assert_eq(tr_spawn(t.sys[0], &big_beh, &b, NULL, &s), TR_OK);
    cr_assert_eq(tr_post(t.sys[0], s, MSG_FIND, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&b.done, 1, WAIT_MS));
    cr_assert_eq(b.rc, TR_ETOOBIG, "tr_send of %zu bytes: %s", b.size, tr_strerror(b.rc));

    /* a payload that fits still goes, and is the only one that arrives */
    cr_assert_eq(tr_post(t.sys[0], remote, MSG_PING, huge, 1024, -1), TR_OK);
    cr_assert(latch_wait(&pinged, 1, WAIT_MS));
    tr_node_stats st;
    tr_node_stats_get(t.node[1], &st);
    cr_assert_eq(st.bad_frames, 0, "the receiver never saw an oversized frame");
    two_stop(&t);
    cr_assert_eq(latch_get(&pinged), 1);
    latch_fini(&pinged);
}
