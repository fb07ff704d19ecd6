/* Name lookups: "name" locally, "node/name" through that node's agent. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/remote.h"
#include "troupe/registry.h"
#include "troupe/wire.h"

/* Splits "node/name": *node_len is 0 for a plain name. */
static bool split_path(const char *path, size_t *node_len, const char **name)
{
    if (path == NULL)
        return false;
    const char *slash = strchr(path, '/');
    *node_len = slash != NULL ? (size_t)(slash - path) : 0;
    *name = slash != NULL ? slash + 1 : path;
    size_t len = strlen(*name);
    return len > 0 && len < TR_NAME_MAX && (slash == NULL || *node_len > 0) && *node_len < 64;
}

/* The agent to ask, or TR_ENOTFOUND meaning "look it up locally". */
static int agent_for(tr_system *sys, const char *path, size_t node_len, tr_ref *agent)
{
    if (node_len == 0)
        return TR_ENOTFOUND;
    char node[64];
    memcpy(node, path, node_len);
    node[node_len] = '\0';
    return tr_remote_peer_agent(sys, node, agent);
}

int tr_lookup_reply(tr_system *sys, const tr_msg *reply, tr_ref *out)
{
    if (sys == NULL || reply == NULL || out == NULL)
        return TR_EINVAL;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = TR_EPROTO;
    /* [rc, [node, id]]: two levels, four elements */
    if (reply->size > 0 && tr_wire_check(reply->data, reply->size, 2, 4) &&
        msgpack_unpack_next(&u, reply->data, reply->size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 2) {
        const msgpack_object *f = u.data.via.array.ptr;
        if (f[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[0].via.u64 == TR_OK)
            rc = tr_unpack_ref(sys, &f[1], out);
        else if (f[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            rc = TR_ENOTFOUND;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

int tr_lookup(tr_system *sys, const char *path, int timeout_ms, tr_ref *out)
{
    size_t node_len;
    const char *name;
    if (sys == NULL || out == NULL || !split_path(path, &node_len, &name))
        return TR_EINVAL;
    if (tr_actor_current() != NULL) /* a plain name would not block, but its contract is one */
        return TR_ECONTEXT;
    tr_ref agent;
    int rc = agent_for(sys, path, node_len, &agent);
    if (rc == TR_ENOTFOUND)
        return tr_whereis(sys, name, out);
    if (rc != TR_OK)
        return rc;
    void *reply = NULL;
    size_t size = 0;
    rc = tr_ask_wait(sys, agent, TR_MSG_LOOKUP, name, strlen(name), timeout_ms, &reply, &size);
    if (rc == TR_OK) {
        tr_msg m = {.type = TR_MSG_REPLY, .data = reply, .size = size};
        rc = tr_lookup_reply(sys, &m, out);
    }
    free(reply);
    return rc;
}

int tr_lookup_async(tr_ctx *self, const char *path, uint32_t timeout_ms, uint64_t *corr)
{
    size_t node_len;
    const char *name;
    if (self == NULL || !split_path(path, &node_len, &name))
        return TR_EINVAL;
    tr_system *sys = tr_ctx_system(self);
    tr_ref agent;
    int rc = agent_for(sys, path, node_len, &agent);
    if (rc == TR_ENOTFOUND) {
        rc = tr_whereis(sys, name, &agent);
        if (rc != TR_OK)
            return rc;
        /* local: our own agent answers, through the same path */
        rc = tr_whereis(sys, "$node", &agent);
    }
    if (rc != TR_OK)
        return rc;
    return tr_ask(self, agent, TR_MSG_LOOKUP, name, strlen(name), timeout_ms, corr);
}

/* Answers that may change while we wait: no such peer (yet), the peer
 * went down or restarted under the ask, no such name (yet). */
static bool may_come(int rc)
{
    return rc == TR_ENOTCONN || rc == TR_ENODEDOWN || rc == TR_EDEAD || rc == TR_ENOTFOUND;
}

int tr_lookup_wait(tr_system *sys, const char *path, int timeout_ms, tr_ref *out)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : tr_now_ms() + (uint64_t)timeout_ms;
    uint64_t pause_ms = 10;
    int answer = TR_ETIMEDOUT; /* the last answer that may change */
    for (;;) {
        uint64_t now = tr_now_ms();
        int left = deadline == UINT64_MAX ? -1 : now < deadline ? (int)(deadline - now) : 0;
        int rc = tr_lookup(sys, path, left, out);
        if (rc == TR_ETIMEDOUT)
            return answer; /* the time ran out during an ask: what we knew before it */
        if (!may_come(rc))
            return rc;
        answer = rc;
        now = tr_now_ms();
        if (now >= deadline)
            return rc;
        /* polled: no event says a name was registered on another node */
        uint64_t nap = pause_ms < deadline - now ? pause_ms : deadline - now;
        struct timespec ts = {.tv_sec = (time_t)(nap / 1000), .tv_nsec = (long)(nap % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        pause_ms = pause_ms * 2 < 100 ? pause_ms * 2 : 100;
    }
}
