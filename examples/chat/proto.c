/* Chat protocol helpers: msgpack in and out, names, rendezvous placement,
 * and the seam through which references cross nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"

/* ---- references ---- */

/* The default codec: the layout of troupe/wire.h for local references, so a
 * single-process program (and the unit tests) needs no node. */
static int local_pack_ref(tr_system *sys, msgpack_packer *pk, tr_ref ref)
{
    (void)sys;
    if (tr_ref_is_remote(ref))
        return TR_EINVAL;
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, "", 0);
    msgpack_pack_uint64(pk, ref.id);
    return TR_OK;
}

static int local_unpack_ref(tr_system *sys, const msgpack_object *obj, tr_ref *out)
{
    (void)sys;
    if (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size != 2)
        return TR_EPROTO;
    const msgpack_object *node = &obj->via.array.ptr[0];
    const msgpack_object *id = &obj->via.array.ptr[1];
    if (node->type != MSGPACK_OBJECT_STR || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return TR_EPROTO;
    if (node->via.str.size != 0)
        return TR_ENOTCONN;
    out->id = id->via.u64;
    return TR_OK;
}

static chat_pack_ref_fn g_pack = local_pack_ref;
static chat_unpack_ref_fn g_unpack = local_unpack_ref;

void chat_set_ref_codec(chat_pack_ref_fn pack, chat_unpack_ref_fn unpack)
{
    g_pack = pack != NULL ? pack : local_pack_ref;
    g_unpack = unpack != NULL ? unpack : local_unpack_ref;
}

int chat_pack_ref(tr_system *sys, msgpack_packer *pk, tr_ref ref) { return g_pack(sys, pk, ref); }

int chat_unpack_ref(tr_system *sys, const msgpack_object *obj, tr_ref *out)
{
    return g_unpack(sys, obj, out);
}

/* ---- msgpack ---- */

void chat_buf_init(chat_buf *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

void chat_buf_destroy(chat_buf *b) { msgpack_sbuffer_destroy(&b->sb); }

void chat_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str_with_body(pk, s, n);
}

void chat_pack_str(msgpack_packer *pk, const char *s) { chat_pack_strn(pk, s, strlen(s)); }

int chat_buf_send(tr_ctx *self, tr_ref to, uint32_t type, chat_buf *b)
{
    int rc = tr_send(self, to, type, b->sb.data, b->sb.size);
    chat_buf_destroy(b);
    return rc;
}

int chat_buf_post(tr_system *sys, tr_ref to, uint32_t type, chat_buf *b, int timeout_ms)
{
    int rc = tr_post(sys, to, type, b->sb.data, b->sb.size, timeout_ms);
    chat_buf_destroy(b);
    return rc;
}

int chat_buf_reply(tr_ctx *self, const tr_msg *request, chat_buf *b)
{
    int rc = tr_reply(self, request, b->sb.data, b->sb.size);
    chat_buf_destroy(b);
    return rc;
}

bool chat_buf_open_answer(const tr_msg *request, chat_buf *b, uint32_t items)
{
    if (request->corr == 0)
        return false;
    chat_buf_init(b);
    msgpack_pack_array(&b->pk, items);
    return true;
}

int chat_post_ref(tr_system *sys, tr_ref to, uint32_t type, tr_ref ref, int timeout_ms)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    int rc = chat_pack_ref(sys, &b.pk, ref);
    if (rc != TR_OK) {
        chat_buf_destroy(&b);
        return rc;
    }
    return chat_buf_post(sys, to, type, &b, timeout_ms);
}

bool chat_in_open(chat_in *in, const void *data, size_t size, uint32_t min)
{
    msgpack_unpacked_init(&in->u);
    in->items = NULL;
    in->n = 0;
    if (data == NULL || size == 0)
        return false;
    size_t off = 0;
    /* bytes from the network: the bounds pre-check first (a history of
     * [ts, nick, text] entries is three levels under the message) */
    if (!tr_wire_check(data, size, CHAT_IN_MAX_DEPTH, CHAT_IN_MAX_OBJECTS) ||
        msgpack_unpack_next(&in->u, data, size, &off) != MSGPACK_UNPACK_SUCCESS)
        return false;
    if (in->u.data.type != MSGPACK_OBJECT_ARRAY || in->u.data.via.array.size < min)
        return false;
    in->items = in->u.data.via.array.ptr;
    in->n = in->u.data.via.array.size;
    return true;
}

void chat_in_close(chat_in *in) { msgpack_unpacked_destroy(&in->u); }

bool chat_obj_str(const msgpack_object *o, char *buf, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap)
        return false;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return true;
}

bool chat_obj_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = o->via.u64;
    return true;
}

bool chat_obj_i64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return true;
    }
    return false;
}

bool chat_error_fatal(int code)
{
    switch (code) {
    case CHAT_E_TOO_LONG:
    case CHAT_E_PROTO:
    case CHAT_E_NOT_MEMBER:
    case CHAT_E_NO_USER:
    case CHAT_E_NO_ROOM:
    case CHAT_E_COMMAND:
    case CHAT_E_INPUT:
    case CHAT_E_TOO_MANY:
        return false;
    default:
        return true;
    }
}

int chat_send_room_error(tr_ctx *self, tr_ref to, int code, const char *text, bool fatal,
                         const char *room)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_int(&b.pk, code);
    chat_pack_str(&b.pk, text);
    if (fatal)
        msgpack_pack_true(&b.pk);
    else
        msgpack_pack_false(&b.pk);
    chat_pack_str(&b.pk, room != NULL ? room : "");
    return chat_buf_send(self, to, CHAT_ERROR, &b);
}

int chat_send_error(tr_ctx *self, tr_ref to, int code, const char *text, bool fatal)
{
    return chat_send_room_error(self, to, code, text, fatal, "");
}

int chat_send_info(tr_ctx *self, tr_ref to, const char *line)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int64(&b.pk, (int64_t)time(NULL));
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, line);
    return chat_buf_send(self, to, CHAT_INFO, &b);
}

int chat_send_said(tr_ctx *self, tr_ref to, uint64_t id, int code)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_uint64(&b.pk, id);
    msgpack_pack_int(&b.pk, code);
    return chat_buf_send(self, to, CHAT_SAID, &b);
}

const char *chat_error_name(int code)
{
    switch (code) {
    case CHAT_OK: return "ok";
    case CHAT_E_NICK_TAKEN: return "nickname taken";
    case CHAT_E_BAD_NICK: return "bad nickname";
    case CHAT_E_BAD_ROOM: return "bad room name";
    case CHAT_E_TOO_LONG: return "line too long";
    case CHAT_E_SLOW: return "too slow";
    case CHAT_E_UNAVAILABLE: return "room unavailable";
    case CHAT_E_GONE: return "connection lost";
    case CHAT_E_FULL: return "room full";
    case CHAT_E_PROTO: return "malformed message";
    case CHAT_E_NOT_MEMBER: return "not a member";
    case CHAT_E_NO_USER: return "no such user";
    case CHAT_E_NO_ROOM: return "no such room";
    case CHAT_E_COMMAND: return "bad command";
    case CHAT_E_INPUT: return "input cleaned";
    case CHAT_E_TOO_MANY: return "too many rooms";
    case CHAT_E_UNDELIVERED: return "not delivered";
    default: return "unknown error";
    }
}

/* ---- names ---- */

static bool valid_name(const char *s, size_t max, const char *extra)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr(extra, c) != NULL);
        if (!ok || n >= max)
            return false;
    }
    return n > 0;
}

bool chat_valid_nick(const char *nick) { return nick != NULL && valid_name(nick, CHAT_MAX_NICK, "_-"); }
bool chat_valid_room(const char *room) { return room != NULL && valid_name(room, CHAT_MAX_ROOM, "_.-"); }

const char *chat_room_name(const char *s) { return s[0] == '#' ? s + 1 : s; }

void chat_nick_key(const char *nick, char *buf, size_t cap) { snprintf(buf, cap, "@%s", nick); }

void chat_append_nicks(char *buf, size_t cap, size_t used, const msgpack_object_array *nicks,
                       const char *lead)
{
    bool first = true;
    for (uint32_t i = 0; i < nicks->size && used + CHAT_MAX_NICK + 8 < cap; i++) {
        char nick[CHAT_MAX_NICK + 1];
        if (!chat_obj_str(&nicks->ptr[i], nick, sizeof(nick)) || !chat_valid_nick(nick))
            continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", first ? lead : ", ", nick);
        first = false;
    }
    if (used + CHAT_MAX_NICK + 8 >= cap)
        snprintf(buf + used, cap - used, ", ...");
}

/* ---- rendezvous hashing ----
 * Every server computes the same weight for (server, room); the room lives on
 * the server with the highest weight. Adding or removing a server moves only
 * the rooms whose highest weight it holds (about 1/n of them). */

uint64_t chat_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t chat_hrw_weight(const char *server, const char *room)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over server, a 0 byte, room */
    for (const unsigned char *p = (const unsigned char *)server; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h = (h ^ 0) * 0x100000001b3ULL;
    for (const unsigned char *p = (const unsigned char *)room; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return chat_mix64(h);
}

uint64_t chat_line_uid(const char *room, uint64_t id)
{
    uint64_t u = chat_mix64(id ^ chat_hrw_weight("line", room));
    return u != 0 ? u : 1;
}

int chat_place(const char *room, const char *const *names, size_t n)
{
    int best = -1;
    uint64_t best_w = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t w = chat_hrw_weight(names[i], room);
        if (best < 0 || w > best_w || (w == best_w && strcmp(names[i], names[best]) < 0)) {
            best = (int)i;
            best_w = w;
        }
    }
    return best;
}

/* ---- display ---- */

void chat_format_event(const chat_event *ev, char *buf, size_t cap)
{
    char when[16] = "--:--:--";
    time_t t = (time_t)ev->ts;
    struct tm tm;
    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
    char tag[CHAT_MAX_ROOM + 4] = "";
    if (ev->tagged && ev->room != NULL && ev->room[0] != '\0')
        snprintf(tag, sizeof(tag), "#%s ", ev->room);
    const char *hist = ev->kind == CHAT_EV_HISTORY ? "(history) " : "";
    switch (ev->kind) {
    case CHAT_EV_LINE:
    case CHAT_EV_HISTORY:
    case CHAT_EV_SENT:
        if (ev->me)
            snprintf(buf, cap, "[%s] %s%s* %s %s", when, tag, hist, ev->nick, ev->text);
        else
            snprintf(buf, cap, "[%s] %s%s<%s> %s", when, tag, hist, ev->nick, ev->text);
        break;
    case CHAT_EV_NOTICE:
        snprintf(buf, cap, "[%s] %s* %s", when, tag, ev->text);
        break;
    case CHAT_EV_INFO:
        snprintf(buf, cap, "[%s] - %s", when, ev->text);
        break;
    case CHAT_EV_JOINED:
        snprintf(buf, cap, "[%s] * you %s #%s on server %s (the server that hosts it); here: %s",
                 when, ev->again ? "are back in" : "joined", ev->room, ev->nick, ev->text);
        break;
    case CHAT_EV_WELCOME:
        snprintf(buf, cap, "[%s] * connected to server %s as %s; /help lists the commands", when,
                 ev->text, ev->nick);
        break;
    case CHAT_EV_PRIV:
        if (ev->echo)
            snprintf(buf, cap, "[%s] -> *%s* %s", when, ev->to, ev->text);
        else
            snprintf(buf, cap, "[%s] *%s* %s", when, ev->nick, ev->text);
        break;
    case CHAT_EV_PARTED:
        snprintf(buf, cap, "[%s] * you left #%s%s%s%s", when, ev->room,
                 ev->text && ev->text[0] ? " (" : "", ev->text ? ev->text : "",
                 ev->text && ev->text[0] ? ")" : "");
        break;
    case CHAT_EV_NICK:
        snprintf(buf, cap, "[%s] * you are now known as %s", when, ev->nick);
        break;
    case CHAT_EV_ERROR:
        snprintf(buf, cap, "%s", ev->text);
        break;
    case CHAT_EV_LOST:
        snprintf(buf, cap, "[%s] * %s; reconnecting", when, ev->text);
        break;
    case CHAT_EV_BACK:
        snprintf(buf, cap, "[%s] * reconnected through server %s as %s (after losing server %s)", when,
                 ev->text, ev->nick, ev->to != NULL && ev->to[0] ? ev->to : "?");
        break;
    case CHAT_EV_CONFIRMED: /* (a program shows it its own way, if at all) */
        snprintf(buf, cap, "[%s] %sconfirmed: <%s> %s", when, tag, ev->nick, ev->text);
        break;
    }
}
