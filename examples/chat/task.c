/* Tasks (task.h): the requests that need other servers' answers. Each is a
 * little state machine over asks: a step sends one ask (or, for /list, one
 * per server) and the reply or its timeout moves it on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "task.h"

#define LIST_MAX_LINES 1024
#define LIST_LINE 320 /* bytes per /list line: room, count, server, or the silent servers */

typedef struct list_row {
    char room[CHAT_MAX_ROOM + 1];
    uint32_t members;
    uint32_t server;
} list_row;

typedef struct task_state {
    chat_task_arg *a;
    uint32_t step;
    uint64_t corr;           /* the ask we wait for (one at a time but /list) */
    uint64_t *corrs;         /* /list: one ask per server, 0 once answered */
    uint32_t waiting;        /* /list: asks not yet answered */
    list_row *rows;
    uint32_t nrows, caprows;
    char silent[256];        /* /list: servers that did not answer */
    int target;              /* the server found for /msg or /who */
} task_state;

int chat_task_place(const chat_task_server *servers, uint32_t n, const char *key)
{
    const char *names[CHAT_MAX_SERVERS];
    for (uint32_t i = 0; i < n; i++)
        names[i] = servers[i].name;
    return chat_place(key, names, n);
}

static int ask(tr_ctx *self, tr_ref to, uint32_t type, chat_buf *b, uint64_t *corr)
{
    int rc = tr_ask(self, to, type, b->sb.data, b->sb.size, CHAT_TASK_TIMEOUT_MS, corr);
    chat_buf_destroy(b);
    return rc;
}

static void finish(tr_ctx *self) { tr_stop_self(self); }

static void fail_client(tr_ctx *self, task_state *s, int code, const char *text)
{
    chat_send_error(self, s->a->client, code, text, false);
    if (s->a->kind == CHAT_PRIV && s->a->id != 0) /* after the error: the client shows it */
        chat_send_said(self, s->a->client, s->a->id, code);
    finish(self);
}

/* Login and /nick: the outcome goes to the gateway, which keeps the table. */
static void claimed(tr_ctx *self, task_state *s, int code)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 5);
    msgpack_pack_int(&b.pk, code);
    if (chat_pack_ref(tr_ctx_system(self), &b.pk, s->a->client) != TR_OK)
        msgpack_pack_nil(&b.pk);
    chat_pack_str(&b.pk, s->a->nick);
    chat_pack_str(&b.pk, s->a->arg);
    msgpack_pack_uint64(&b.pk, s->a->key);
    chat_buf_send(self, s->a->gateway, CHAT_CLAIMED, &b);
    finish(self);
}

static void info_lines(tr_ctx *self, task_state *s, const char *const *lines, uint32_t n)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int64(&b.pk, (int64_t)time(NULL));
    msgpack_pack_array(&b.pk, n);
    for (uint32_t i = 0; i < n; i++)
        chat_pack_str(&b.pk, lines[i]);
    chat_buf_send(self, s->a->client, CHAT_INFO, &b);
}

static void start(tr_ctx *self, task_state *s)
{
    chat_task_arg *a = s->a;
    char key[CHAT_MAX_NICK + 2];
    chat_buf b;
    chat_buf_init(&b);
    int rc = TR_OK;
    switch (a->kind) {
    case CHAT_LOGIN:
    case CHAT_NICK: {
        chat_nick_key(a->arg, key, sizeof(key));
        int home = chat_task_place(a->servers, a->n, key);
        msgpack_pack_array(&b.pk, 3);
        chat_pack_str(&b.pk, a->arg);
        chat_pack_str(&b.pk, a->server);
        msgpack_pack_uint64(&b.pk, a->key);
        rc = ask(self, a->servers[home].gateway, CHAT_CLAIM, &b, &s->corr);
        if (rc != TR_OK)
            claimed(self, s, CHAT_E_UNAVAILABLE);
        return;
    }
    case CHAT_PRIV: {
        chat_nick_key(a->arg, key, sizeof(key));
        int home = chat_task_place(a->servers, a->n, key);
        msgpack_pack_array(&b.pk, 1);
        chat_pack_str(&b.pk, a->arg);
        rc = ask(self, a->servers[home].gateway, CHAT_LOCATE, &b, &s->corr);
        break;
    }
    case CHAT_WHO: {
        s->target = chat_task_place(a->servers, a->n, a->arg);
        msgpack_pack_array(&b.pk, 2);
        chat_pack_str(&b.pk, a->arg);
        msgpack_pack_false(&b.pk); /* only if it runs: /who does not create rooms */
        rc = ask(self, a->servers[s->target].directory, CHAT_OPEN, &b, &s->corr);
        break;
    }
    case CHAT_LIST:
        chat_buf_destroy(&b);
        s->corrs = calloc(a->n, sizeof(*s->corrs));
        if (s->corrs == NULL) {
            fail_client(self, s, CHAT_E_UNAVAILABLE, "/list: server out of memory");
            return;
        }
        for (uint32_t i = 0; i < a->n; i++) {
            chat_buf q;
            chat_buf_init(&q);
            msgpack_pack_array(&q.pk, 0);
            if (ask(self, a->servers[i].directory, CHAT_LIST, &q, &s->corrs[i]) == TR_OK)
                s->waiting++;
            else
                s->corrs[i] = 0;
        }
        if (s->waiting == 0)
            fail_client(self, s, CHAT_E_UNAVAILABLE, "/list: no server answered");
        return;
    default:
        chat_buf_destroy(&b);
        finish(self);
        return;
    }
    if (rc != TR_OK)
        fail_client(self, s, CHAT_E_UNAVAILABLE, "the server that knows the answer is unreachable");
}

static int task_init(tr_ctx *self, void *state, void *arg)
{
    task_state *s = state;
    s->a = arg; /* ours: the gateway malloc'd it for us */
    s->target = -1;
    start(self, s);
    return TR_OK;
}

static void task_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    task_state *s = state;
    free(s->a);
    free(s->corrs);
    free(s->rows);
}

/* /msg, step 1 answered: [code, server] of the addressee. */
static void on_located(tr_ctx *self, task_state *s, const chat_in *in)
{
    chat_task_arg *a = s->a;
    int64_t code = CHAT_E_PROTO;
    char server[CHAT_MAX_SERVER + 1] = "";
    chat_obj_i64(&in->items[0], &code);
    if (code == CHAT_OK && in->n >= 2)
        chat_obj_str(&in->items[1], server, sizeof(server));
    int at = -1;
    for (uint32_t i = 0; i < a->n && code == CHAT_OK; i++)
        if (strcmp(a->servers[i].name, server) == 0)
            at = (int)i;
    char text[320];
    if (code != CHAT_OK || at < 0) {
        snprintf(text, sizeof(text), "no such user '%s' (not connected to any server): not sent",
                 a->arg);
        fail_client(self, s, CHAT_E_NO_USER, text);
        return;
    }
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 3);
    chat_pack_str(&b.pk, a->arg);
    chat_pack_str(&b.pk, a->nick);
    chat_pack_str(&b.pk, a->text);
    s->step = 1;
    if (ask(self, a->servers[at].gateway, CHAT_DELIVER, &b, &s->corr) != TR_OK) {
        snprintf(text, sizeof(text), "'%s' is connected to server %s, which is unreachable: not sent",
                 a->arg, server);
        fail_client(self, s, CHAT_E_NO_USER, text);
    }
}

/* /msg, step 2 answered: [code]; the echo tells the sender it was delivered. */
static void on_delivered(tr_ctx *self, task_state *s, const chat_in *in)
{
    int64_t code = CHAT_E_PROTO;
    chat_obj_i64(&in->items[0], &code);
    if (code != CHAT_OK) {
        char text[320];
        snprintf(text, sizeof(text), "no such user '%s' (just left): not sent", s->a->arg);
        fail_client(self, s, CHAT_E_NO_USER, text);
        return;
    }
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 5);
    msgpack_pack_int64(&b.pk, (int64_t)time(NULL));
    chat_pack_str(&b.pk, s->a->nick);
    chat_pack_str(&b.pk, s->a->arg);
    chat_pack_str(&b.pk, s->a->text);
    msgpack_pack_true(&b.pk);
    chat_buf_send(self, s->a->client, CHAT_PRIV, &b);
    if (s->a->id != 0)
        chat_send_said(self, s->a->client, s->a->id, CHAT_OK);
    finish(self);
}

/* /who, step 1 answered: [code, room ref]. */
static void on_who_opened(tr_ctx *self, task_state *s, const chat_in *in)
{
    int64_t code = CHAT_E_PROTO;
    tr_ref room = TR_REF_NONE;
    chat_obj_i64(&in->items[0], &code);
    if (code == CHAT_OK && (in->n < 2 || chat_unpack_ref(tr_ctx_system(self), &in->items[1], &room) != TR_OK))
        code = CHAT_E_PROTO;
    if (code != CHAT_OK) {
        char text[320];
        snprintf(text, sizeof(text), "#%s: nobody there (no such room on server %s, its host)",
                 s->a->arg, s->a->servers[s->target].name);
        fail_client(self, s, CHAT_E_NO_ROOM, text);
        return;
    }
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 0);
    s->step = 1;
    if (ask(self, room, CHAT_WHO, &b, &s->corr) != TR_OK)
        fail_client(self, s, CHAT_E_UNAVAILABLE, "/who: the room is unreachable");
}

/* /who, step 2 answered: [[nick...]]. */
static void on_who(tr_ctx *self, task_state *s, const chat_in *in)
{
    if (in->items[0].type != MSGPACK_OBJECT_ARRAY) {
        fail_client(self, s, CHAT_E_PROTO, "/who: malformed answer");
        return;
    }
    const msgpack_object_array *nicks = &in->items[0].via.array;
    char line[CHAT_MAX_TEXT];
    size_t used = (size_t)snprintf(line, sizeof(line), "#%s on server %s, %u here:", s->a->arg,
                                   s->a->servers[s->target].name, nicks->size);
    chat_append_nicks(line, sizeof(line), used, nicks, " ");
    const char *lines[] = {line};
    info_lines(self, s, lines, 1);
    finish(self);
}

static int by_room(const void *x, const void *y)
{
    const list_row *a = x, *b = y;
    int c = strcmp(a->room, b->room);
    return c != 0 ? c : (int)a->server - (int)b->server;
}

static void list_done(tr_ctx *self, task_state *s)
{
    qsort(s->rows, s->nrows, sizeof(*s->rows), by_room);
    uint32_t n = s->nrows + 1 + (s->silent[0] != '\0');
    char **lines = calloc(n, sizeof(*lines));
    char *text = calloc(n, LIST_LINE);
    if (lines == NULL || text == NULL) {
        free(lines);
        free(text);
        fail_client(self, s, CHAT_E_UNAVAILABLE, "/list: out of memory");
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        lines[i] = text + LIST_LINE * i;
    snprintf(lines[k++], LIST_LINE, "%u room%s with members:", s->nrows, s->nrows == 1 ? "" : "s");
    for (uint32_t i = 0; i < s->nrows; i++)
        snprintf(lines[k++], LIST_LINE, "  #%-32s %5u member%s  on server %s", s->rows[i].room,
                 s->rows[i].members, s->rows[i].members == 1 ? " " : "s",
                 s->a->servers[s->rows[i].server].name);
    if (s->silent[0] != '\0')
        snprintf(lines[k++], LIST_LINE, "(no answer from server%s)", s->silent);
    info_lines(self, s, (const char *const *)lines, k);
    free(lines);
    free(text);
    finish(self);
}

/* /list: one server's [[room, members]...] (or its silence: answered = false). */
static void on_list(tr_ctx *self, task_state *s, uint32_t server, const chat_in *in)
{
    if (in != NULL && in->items[0].type == MSGPACK_OBJECT_ARRAY) {
        const msgpack_object_array *rooms = &in->items[0].via.array;
        for (uint32_t i = 0; i < rooms->size && s->nrows < LIST_MAX_LINES; i++) {
            const msgpack_object *r = &rooms->ptr[i];
            list_row row = {.server = server};
            uint64_t members = 0;
            if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size < 2 ||
                !chat_obj_str(&r->via.array.ptr[0], row.room, sizeof(row.room)) ||
                !chat_valid_room(row.room) || !chat_obj_u64(&r->via.array.ptr[1], &members) ||
                members == 0)
                continue;
            row.members = (uint32_t)members;
            if (!CHAT_ARRAY_MAKE_SPACE(s->rows, s->nrows, s->caprows, 16))
                break;
            s->rows[s->nrows++] = row;
        }
    } else {
        size_t used = strlen(s->silent);
        snprintf(s->silent + used, sizeof(s->silent) - used, " %s", s->a->servers[server].name);
    }
    if (--s->waiting == 0)
        list_done(self, s);
}

static int task_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    task_state *s = state;
    chat_task_arg *a = s->a;
    bool timeout = msg->type == TR_MSG_ASK_FAILED; /* no answer: timed out, or the callee or its node ended */
    if (msg->type != TR_MSG_REPLY && !timeout)
        return TR_OK;
    if (a->kind == CHAT_LIST) {
        for (uint32_t i = 0; i < a->n && s->corrs != NULL; i++) {
            if (s->corrs[i] == 0 || s->corrs[i] != msg->corr)
                continue;
            s->corrs[i] = 0;
            chat_in in;
            bool ok = !timeout && chat_in_open(&in, msg->data, msg->size, 1);
            on_list(self, s, i, ok ? &in : NULL);
            if (!timeout)
                chat_in_close(&in);
            break;
        }
        return TR_OK;
    }
    if (msg->corr != s->corr)
        return TR_OK;
    s->corr = 0;
    chat_in in;
    if (timeout || !chat_in_open(&in, msg->data, msg->size, 1)) {
        if (!timeout)
            chat_in_close(&in);
        if (a->kind == CHAT_LOGIN || a->kind == CHAT_NICK)
            claimed(self, s, CHAT_E_UNAVAILABLE);
        else if (!timeout)
            fail_client(self, s, CHAT_E_UNAVAILABLE, "malformed answer from another server");
        else {
            char text[160];
            int why = tr_ask_failure(msg);
            snprintf(text, sizeof(text), "no answer from the server that knows (%s): try again",
                     why == TR_ETIMEDOUT ? "5 s without one" : tr_strerror(why));
            fail_client(self, s, CHAT_E_UNAVAILABLE, text);
        }
        return TR_OK;
    }
    switch (a->kind) {
    case CHAT_LOGIN:
    case CHAT_NICK: {
        int64_t code = CHAT_E_PROTO;
        chat_obj_i64(&in.items[0], &code);
        claimed(self, s, (int)code);
        break;
    }
    case CHAT_PRIV:
        if (s->step == 0)
            on_located(self, s, &in);
        else
            on_delivered(self, s, &in);
        break;
    case CHAT_WHO:
        if (s->step == 0)
            on_who_opened(self, s, &in);
        else
            on_who(self, s, &in);
        break;
    default:
        break;
    }
    chat_in_close(&in);
    return TR_OK;
}

const tr_behaviour chat_task_behaviour = {
    .name = "chat.task",
    .init = task_init,
    .handle = task_handle,
    .terminate = task_terminate,
    .state_size = sizeof(task_state),
};
