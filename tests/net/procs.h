/* Test support for the cross-process net tests: the local node, node_proc
 * children, and the actors the test side runs. Include after criterion.h. */
#ifndef TROUPE_TEST_NET_PROCS_H
#define TROUPE_TEST_NET_PROCS_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/net/child.h"
#include "tests/net/proto.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#ifndef TROUPE_NODE_PROC
#error "TROUPE_NODE_PROC (path of troupe_node_proc) must be defined by the build"
#endif

/* Generous: sanitizer builds on a loaded 2-core machine start slowly. */
#define PROC_WAIT_MS 30000

/* Children still running when the test process ends are killed. */
static child *procs_live[8];

static void procs_kill_all(void)
{
    for (int i = 0; i < 8; i++)
        if (procs_live[i] != NULL)
            child_kill(procs_live[i]);
}

static void procs_track(child *c)
{
    static bool registered;
    if (!registered)
        atexit(procs_kill_all);
    registered = true;
    for (int i = 0; i < 8; i++)
        if (procs_live[i] == NULL || procs_live[i]->pid == 0) {
            procs_live[i] = c;
            return;
        }
}

/* Starts node_proc NAME URL [extra args] (prefix: e.g. {"ip", "netns",
 * "exec", ns}, may be NULL) and waits for READY; the bound URL goes to
 * bound. Fails the test if it does not come up. */
static inline void proc_start(child *c, const char *const prefix[], const char *name, const char *url,
                              const char *const extra[], char *bound, size_t len)
{
    const char *argv[24];
    int n = 0;
    for (int i = 0; prefix != NULL && prefix[i] != NULL; i++)
        argv[n++] = prefix[i];
    argv[n++] = TROUPE_NODE_PROC;
    argv[n++] = name;
    argv[n++] = url;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    cr_assert(child_start(c, (char *const *)argv), "cannot start %s", argv[0]);
    procs_track(c);
    char line[512];
    bool got = child_line(c, line, sizeof(line), PROC_WAIT_MS);
    cr_assert(got, "node %s did not start", name);
    cr_assert(strncmp(line, "READY ", 6) == 0, "node %s: %s", name, line);
    child_copy(bound, len, line + 6);
}

/* A local node listening on `url` (tcp://127.0.0.1:0 style). */
static inline tr_node *local_node(tr_system *sys, const char *name, const char *url, uint32_t down_after_ms,
                                  char *bound, size_t len)
{
    tr_node_opts o = {.name = name, .cookie = "secret", .heartbeat_ms = 100, .down_after_ms = down_after_ms};
    tr_node *node = NULL;
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    int rc = tr_node_listen(node, url, bound, len);
    cr_assert_eq(rc, TR_OK, "listen %s: %s", url, tr_strerror(rc));
    return node;
}

/* tr_lookup that must succeed. */
#define LOOKUP(sys, path, ref)                                                                   \
    do {                                                                                       \
        int lrc_ = tr_lookup((sys), (path), PROC_WAIT_MS, (ref));                              \
        cr_assert_eq(lrc_, TR_OK, "lookup %s: %s", (path), tr_strerror(lrc_));                 \
    } while (0)

/* ---- the test side's actors ---- */

static latch pongs, watching, downs;
static _Atomic uint64_t down_actor, down_monitor, watch_monitor;
static _Atomic int down_reason, down_type_ok;

/* MSG_GO(ref): sends MSG_PING to ref; MSG_PONG: counted in `pongs`. */
static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_GO && msg->size == sizeof(tr_ref)) {
        tr_ref to;
        memcpy(&to, msg->data, sizeof(to));
        cr_assert_eq(tr_send(self, to, MSG_PING, "ping!", 5), TR_OK);
    } else if (msg->type == MSG_PONG && msg->size == 5 && memcmp(msg->data, "ping!", 5) == 0) {
        latch_add(&pongs, 1);
    }
    return TR_OK;
}
static const tr_behaviour pinger = {.handle = pinger_handle};

/* MSG_GO(ref): monitors ref (`watching` counts them); every TR_MSG_DOWN is
 * recorded and counted in `downs`. */
static int watcher_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_GO && msg->size == sizeof(tr_ref)) {
        tr_ref target;
        uint64_t id = 0;
        memcpy(&target, msg->data, sizeof(target));
        cr_assert_eq(tr_monitor(tr_ctx_system(self), tr_self(self), target, &id), TR_OK);
        atomic_store(&watch_monitor, id);
        latch_add(&watching, 1);
    } else if (msg->type == TR_MSG_DOWN) {
        const tr_down *d = msg->data;
        atomic_store(&down_type_ok, msg->size == sizeof(tr_down));
        atomic_store(&down_actor, d->actor.id);
        atomic_store(&down_monitor, d->monitor);
        atomic_store(&down_reason, d->reason);
        latch_add(&downs, 1);
    }
    return TR_OK;
}
static const tr_behaviour watcher = {.handle = watcher_handle};

/* MSG_GO(ref): sends MSG_WATCH to ref (node_proc's "watch" then monitors
 * this actor). */
static int asks_watch_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_GO && msg->size == sizeof(tr_ref)) {
        tr_ref to;
        memcpy(&to, msg->data, sizeof(to));
        cr_assert_eq(tr_send(self, to, MSG_WATCH, NULL, 0), TR_OK);
    }
    return TR_OK;
}
static const tr_behaviour asks_watch = {.handle = asks_watch_handle};

static inline void latches_init(void)
{
    latch_init(&pongs);
    latch_init(&watching);
    latch_init(&downs);
}

/* One ask round trip to the remote echo: everything sent before it on the
 * same stream has been handled by the remote node. */
static inline void echo_round_trip(tr_system *sys, tr_ref echo)
{
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, echo, MSG_ECHO, "sync", 4, PROC_WAIT_MS, &reply, &size);
    cr_assert_eq(rc, TR_OK, "ask: %s", tr_strerror(rc));
    cr_assert_eq(size, 4);
    cr_assert(memcmp(reply, "sync", 4) == 0);
    free(reply);
}

#endif
