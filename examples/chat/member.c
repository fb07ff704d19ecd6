/* A client's own actor: joins through a gateway, reports what arrives to a
 * callback, acknowledges every CHAT_ACK_EVERY messages (the room's measure
 * of a slow client), forwards the user's lines, and ends after a fatal error
 * or when its server or session goes away. Its exit reason is TR_OK after a
 * leave, TR_EUSER + the chat error code after a fatal error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"

typedef struct member_state {
    chat_member_cfg cfg;
    tr_ref session;
    uint64_t gw_mon, session_mon;
    uint64_t received;
    bool joined;
    bool leaving; /* we sent LEAVE: the session's end that follows is expected */
} member_state;

static void emit(member_state *s, const chat_event *ev)
{
    if (s->cfg.on_event != NULL)
        s->cfg.on_event(s->cfg.ctx, ev);
}

static void fatal(tr_ctx *self, member_state *s, int code, const char *text)
{
    chat_event ev = {.kind = CHAT_EV_ERROR, .ts = (int64_t)time(NULL), .text = text,
                     .room = s->cfg.room, .code = code, .fatal = true};
    emit(s, &ev);
    tr_fail(self, TR_EUSER + code);
}

static int member_init(tr_ctx *self, void *state, void *arg)
{
    member_state *s = state;
    if (arg == NULL)
        return TR_EINVAL;
    s->cfg = *(const chat_member_cfg *)arg;
    tr_system *sys = tr_ctx_system(self);
    if (tr_monitor(sys, tr_self(self), s->cfg.gateway, &s->gw_mon) != TR_OK)
        return TR_EDEAD;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, s->cfg.nick);
    chat_pack_str(&b.pk, s->cfg.room);
    int rc = chat_buf_send(self, s->cfg.gateway, CHAT_JOIN, &b);
    if (rc != TR_OK) {
        char text[128];
        snprintf(text, sizeof(text), "cannot reach the server: %s", tr_strerror(rc));
        fatal(self, s, CHAT_E_GONE, text);
    }
    return TR_OK;
}

static void count_and_ack(tr_ctx *self, member_state *s)
{
    s->received++;
    if (s->cfg.no_ack || s->received % CHAT_ACK_EVERY != 0)
        return;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_uint64(&b.pk, s->received);
    chat_buf_send(self, s->session, CHAT_ACK, &b);
}

static void on_joined(tr_ctx *self, member_state *s, const tr_msg *msg)
{
    chat_in in;
    char room[CHAT_MAX_ROOM + 1] = "", server[CHAT_MAX_SERVER + 1] = "";
    if (!chat_in_open(&in, msg->data, msg->size, 4) || !chat_obj_str(&in.items[0], room, sizeof(room)) ||
        !chat_obj_str(&in.items[1], server, sizeof(server)) ||
        in.items[2].type != MSGPACK_OBJECT_ARRAY || in.items[3].type != MSGPACK_OBJECT_ARRAY) {
        chat_in_close(&in);
        return;
    }
    if (!tr_ref_equal(s->session, msg->sender)) {
        if (!tr_ref_is_none(s->session))
            tr_demonitor(tr_ctx_system(self), s->session, s->session_mon);
        s->session = msg->sender;
        tr_monitor(tr_ctx_system(self), tr_self(self), s->session, &s->session_mon);
    }
    s->joined = true;
    s->received = 0;
    const msgpack_object_array *hist = &in.items[3].via.array;
    for (uint32_t i = 0; i < hist->size; i++) {
        const msgpack_object *h = &hist->ptr[i];
        char nick[CHAT_MAX_NICK + 1], text[CHAT_MAX_LINE + 1];
        int64_t ts;
        if (h->type != MSGPACK_OBJECT_ARRAY || h->via.array.size < 3 ||
            !chat_obj_i64(&h->via.array.ptr[0], &ts) ||
            !chat_obj_str(&h->via.array.ptr[1], nick, sizeof(nick)) ||
            !chat_obj_str(&h->via.array.ptr[2], text, sizeof(text)))
            continue;
        chat_event ev = {.kind = CHAT_EV_HISTORY, .ts = ts, .nick = nick, .text = text, .room = room};
        emit(s, &ev);
    }
    char names[1024] = "";
    size_t used = 0;
    const msgpack_object_array *mem = &in.items[2].via.array;
    for (uint32_t i = 0; i < mem->size && used + CHAT_MAX_NICK + 8 < sizeof(names); i++) {
        char nick[CHAT_MAX_NICK + 1];
        if (chat_obj_str(&mem->ptr[i], nick, sizeof(nick)))
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "", nick);
    }
    if (used + CHAT_MAX_NICK + 8 >= sizeof(names))
        snprintf(names + used, sizeof(names) - used, ", ...");
    chat_event ev = {.kind = CHAT_EV_JOINED, .ts = (int64_t)time(NULL), .nick = server,
                     .text = names, .room = room};
    emit(s, &ev);
    chat_in_close(&in);
}

static int member_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    member_state *s = state;
    switch (msg->type) {
    case CHAT_JOINED:
        on_joined(self, s, msg);
        return TR_OK;
    case CHAT_LINE: {
        chat_in in;
        int64_t ts;
        char nick[CHAT_MAX_NICK + 1], text[CHAT_MAX_LINE + 1];
        if (chat_in_open(&in, msg->data, msg->size, 3) && chat_obj_i64(&in.items[0], &ts) &&
            chat_obj_str(&in.items[1], nick, sizeof(nick)) &&
            chat_obj_str(&in.items[2], text, sizeof(text))) {
            chat_event ev = {.kind = CHAT_EV_LINE, .ts = ts, .nick = nick, .text = text,
                             .room = s->cfg.room};
            emit(s, &ev);
        }
        chat_in_close(&in);
        count_and_ack(self, s);
        return TR_OK;
    }
    case CHAT_NOTICE: {
        chat_in in;
        int64_t ts;
        char text[CHAT_MAX_LINE + 1];
        if (chat_in_open(&in, msg->data, msg->size, 2) && chat_obj_i64(&in.items[0], &ts) &&
            chat_obj_str(&in.items[1], text, sizeof(text))) {
            chat_event ev = {.kind = CHAT_EV_NOTICE, .ts = ts, .text = text, .room = s->cfg.room};
            emit(s, &ev);
        }
        chat_in_close(&in);
        count_and_ack(self, s);
        return TR_OK;
    }
    case CHAT_ERROR: {
        chat_in in;
        int64_t code = CHAT_E_PROTO;
        char text[CHAT_MAX_LINE + 1] = "error";
        if (chat_in_open(&in, msg->data, msg->size, 2)) {
            chat_obj_i64(&in.items[0], &code);
            chat_obj_str(&in.items[1], text, sizeof(text));
        }
        chat_in_close(&in);
        if (chat_error_fatal((int)code)) {
            fatal(self, s, (int)code, text);
        } else {
            chat_event ev = {.kind = CHAT_EV_ERROR, .ts = (int64_t)time(NULL), .text = text,
                             .room = s->cfg.room, .code = (int)code};
            emit(s, &ev);
        }
        return TR_OK;
    }
    case CHAT_SAY: /* from our own program (tr_post): forward, and show it as sent */
        if (s->joined && !tr_ref_equal(msg->sender, s->session)) {
            tr_send(self, s->session, CHAT_SAY, msg->data, msg->size);
            chat_in in;
            char text[CHAT_MAX_LINE + 1];
            if (chat_in_open(&in, msg->data, msg->size, 1) &&
                chat_obj_str(&in.items[0], text, sizeof(text))) {
                chat_event ev = {.kind = CHAT_EV_SENT, .ts = (int64_t)time(NULL),
                                 .nick = s->cfg.nick, .text = text, .room = s->cfg.room};
                emit(s, &ev);
            }
            chat_in_close(&in);
        }
        return TR_OK;
    case CHAT_LEAVE:
        if (!tr_ref_equal(msg->sender, s->session)) {
            if (s->joined)
                tr_send(self, s->session, CHAT_LEAVE, msg->data, msg->size);
            s->leaving = true;
            tr_stop_self(self); /* after the queued messages, which may
                                 * include the DOWN of the session we ended */
        }
        return TR_OK;
    case TR_MSG_DOWN: {
        const tr_down *d = msg->data;
        bool gw = tr_ref_equal(d->actor, s->cfg.gateway) && d->monitor == s->gw_mon;
        bool ses = tr_ref_equal(d->actor, s->session) && d->monitor == s->session_mon;
        if ((!gw && !ses) || s->leaving)
            return TR_OK;
        char text[160];
        if (d->reason == TR_ENODEDOWN)
            snprintf(text, sizeof(text), "lost the connection to the server (it went down)");
        else
            snprintf(text, sizeof(text), "the server ended our %s (%s)", gw ? "gateway" : "session",
                     tr_strerror(d->reason));
        fatal(self, s, CHAT_E_GONE, text);
        return TR_OK;
    }
    default:
        return TR_OK;
    }
}

const tr_behaviour chat_member_behaviour = {
    .init = member_init,
    .handle = member_handle,
    .state_size = sizeof(member_state),
};

int chat_member_say(tr_system *sys, tr_ref member, const char *text, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, text);
    return chat_buf_post(sys, member, CHAT_SAY, &b, timeout_ms);
}

int chat_member_leave(tr_system *sys, tr_ref member, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 0);
    return chat_buf_post(sys, member, CHAT_LEAVE, &b, timeout_ms);
}
