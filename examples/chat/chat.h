/* The chat example's actors and protocol (the "chat core").
 *
 * Everything here works with local references in one process, which is how
 * tests/chat/test_room.c exercises it; the troupe-chat program (main.c) runs
 * the very same behaviours on several nodes, where the references in
 * messages point at other processes. The core never calls the network API
 * itself: references inside payloads go through chat_set_ref_codec (main.c
 * installs tr_pack_ref/tr_unpack_ref), and members are always msg->sender.
 *
 * Actors, per server node:
 *   gateway   (registered "chat")  knows the servers, places rooms, starts one
 *                                  session per joining client
 *   session   one per (client, room), on the client's server: relays between
 *             the client and the room, monitors both
 *   directory one per server: starts rooms on demand, each under its own
 *             one-for-one supervisor, and tells where a room runs
 *   room      members, nicknames, history, presence, slow-member policy
 * and per client process one member actor (member.c) that prints what it
 * receives through a callback.
 *
 * Every payload between actors is msgpack (an array; layouts next to each
 * tag below), so the actors may sit on different nodes and architectures. */
#ifndef TROUPE_CHAT_H
#define TROUPE_CHAT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <troupe/troupe.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits ---- */
#define CHAT_MAX_LINE 512        /* bytes of text in one line */
#define CHAT_MAX_NICK 32         /* bytes, [A-Za-z0-9_-] */
#define CHAT_MAX_ROOM 32         /* bytes, [A-Za-z0-9_.-] */
#define CHAT_MAX_SERVER 63       /* bytes, a node name */
#define CHAT_HISTORY 20          /* lines replayed to a joining member */
#define CHAT_DEFAULT_BUDGET 256  /* unacknowledged messages per member before it is cut off */
#define CHAT_ACK_EVERY 8         /* a member acknowledges every this many messages */
#define CHAT_MAX_MEMBERS 1024    /* per room */
#define CHAT_MAX_ROOMS 1024      /* per server */
#define CHAT_MAX_SERVERS 64
#define CHAT_OPEN_TIMEOUT_MS 5000
#define CHAT_REJOIN_ATTEMPTS 3   /* after a room crash (restarted by its supervisor) */

/* ---- message tags (payload layouts in msgpack notation) ---- */
enum {
    CHAT_JOIN = TR_MSG_USER + 0x4300, /* client->gateway [nick, room]; session->room [nick] */
    CHAT_JOINED,  /* room->session->client [room, server, [nick...], [[ts, nick, text]...]] */
    CHAT_SAY,     /* client->session->room [text] */
    CHAT_LINE,    /* room->session->client [ts, nick, text] */
    CHAT_NOTICE,  /* room->session->client [ts, text] */
    CHAT_ERROR,   /* anyone->client [code, text, fatal] */
    CHAT_ACK,     /* client->session->room [count of LINE+NOTICE since JOINED] */
    CHAT_LEAVE,   /* client->session->room [] */
    CHAT_OPEN,    /* session->directory, an ask [room]; reply [code, ref] */
    CHAT_ROOM_UP, /* room->directory [room], sent by every (re)started room */
    CHAT_HELLO,   /* gateway->gateway [server, directory ref] */
    CHAT_PEER,    /* main->own gateway [gateway ref]: introduce yourself to it */
    CHAT_STATS,   /* an ask to a room: reply [members, history, kicked, lines]
                   * or to a gateway: reply [[server, up]...] */
    CHAT_TICK     /* bots' own timer */
};

/* Error codes carried by CHAT_ERROR and OPEN replies. */
enum {
    CHAT_OK = 0,
    CHAT_E_NICK_TAKEN = 1,  /* fatal */
    CHAT_E_BAD_NICK = 2,    /* fatal */
    CHAT_E_BAD_ROOM = 3,    /* fatal */
    CHAT_E_TOO_LONG = 4,    /* not fatal: the line was not sent */
    CHAT_E_SLOW = 5,        /* fatal: over the outstanding-message budget */
    CHAT_E_UNAVAILABLE = 6, /* fatal: the room's server did not answer / too many rooms */
    CHAT_E_GONE = 7,        /* fatal: the room's or the client's server went down */
    CHAT_E_FULL = 8,        /* fatal: room full */
    CHAT_E_PROTO = 9,       /* not fatal: a malformed message was ignored */
    CHAT_E_NOT_MEMBER = 10  /* not fatal */
};
const char *chat_error_name(int code);

/* ---- references inside payloads ---- */

/* Packs/unpacks a reference with the layout of troupe/wire.h. The default
 * codec handles local references only ([ "", id ]); a networked program
 * installs tr_pack_ref/tr_unpack_ref (same signatures) before starting. */
typedef int (*chat_pack_ref_fn)(tr_system *sys, msgpack_packer *pk, tr_ref ref);
typedef int (*chat_unpack_ref_fn)(tr_system *sys, const msgpack_object *obj, tr_ref *out);
void chat_set_ref_codec(chat_pack_ref_fn pack, chat_unpack_ref_fn unpack);
int chat_pack_ref(tr_system *sys, msgpack_packer *pk, tr_ref ref);
int chat_unpack_ref(tr_system *sys, const msgpack_object *obj, tr_ref *out);

/* ---- msgpack helpers ---- */

/* A buffer and its packer (the same shape as tr_wire). */
typedef struct chat_buf {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} chat_buf;
void chat_buf_init(chat_buf *b);
void chat_buf_destroy(chat_buf *b);
void chat_pack_str(msgpack_packer *pk, const char *s);
void chat_pack_strn(msgpack_packer *pk, const char *s, size_t n);
/* Sends the packed bytes (copied) from an actor / from outside. */
int chat_buf_send(tr_ctx *self, tr_ref to, uint32_t type, chat_buf *b);
int chat_buf_post(tr_system *sys, tr_ref to, uint32_t type, chat_buf *b, int timeout_ms);

/* An unpacked payload: root must be an array of at least `min` items. */
typedef struct chat_in {
    msgpack_unpacked u;
    const msgpack_object *items;
    uint32_t n;
} chat_in;
bool chat_in_open(chat_in *in, const void *data, size_t size, uint32_t min);
void chat_in_close(chat_in *in);
/* Copies a str object into buf (NUL-terminated); false if not a str or too long. */
bool chat_obj_str(const msgpack_object *o, char *buf, size_t cap);
bool chat_obj_u64(const msgpack_object *o, uint64_t *out);
bool chat_obj_i64(const msgpack_object *o, int64_t *out);

/* Sends CHAT_ERROR [code, text, fatal]. */
int chat_send_error(tr_ctx *self, tr_ref to, int code, const char *text, bool fatal);
bool chat_error_fatal(int code);

/* ---- names ---- */
bool chat_valid_nick(const char *nick);
bool chat_valid_room(const char *room);

/* ---- placement: rendezvous (highest random weight) hashing ---- */

/* The weight of `server` for `room`: a 64-bit mix of both names. */
uint64_t chat_hrw_weight(const char *server, const char *room);
/* Index of the server with the highest weight for room among names[0..n)
 * (ties: the smaller name), or -1 when n is 0. */
int chat_place(const char *room, const char *const *names, size_t n);

/* ---- behaviours and their spawn arguments ----
 * Every arg is read by init, which runs later on a worker: keep it valid
 * until the actor has started (e.g. static, heap, or a parent's state). */

/* Room: arg is a chat_room_cfg that must outlive the room's supervisor. */
typedef struct chat_room_cfg {
    char name[CHAT_MAX_ROOM + 1];
    char server[CHAT_MAX_SERVER + 1];
    tr_ref directory;  /* told CHAT_ROOM_UP on every start; may be none */
    uint32_t budget;   /* 0 = CHAT_DEFAULT_BUDGET */
} chat_room_cfg;
extern const tr_behaviour chat_room_behaviour;

/* Directory: arg is a chat_directory_cfg (copied in init). */
typedef struct chat_directory_cfg {
    char server[CHAT_MAX_SERVER + 1];
    uint32_t budget;         /* handed to every room */
    uint32_t room_intensity; /* restarts of one room per room_period_ms; 0 = 5 */
    uint32_t room_period_ms; /* 0 = 10000 */
} chat_directory_cfg;
extern const tr_behaviour chat_directory_behaviour;

/* Gateway: arg is a chat_gateway_cfg (copied in init). */
typedef struct chat_gateway_cfg {
    char server[CHAT_MAX_SERVER + 1];
    tr_ref directory; /* this server's directory; none = the gateway starts
                       * one as its child (and fails when it fails, so the
                       * gateway's supervisor restarts both) */
    uint32_t budget;  /* for a directory it starts */
    /* Optional: called by init with the gateway's own reference, on every
     * (re)start; troupe-chat passes tr_register to publish it as "chat". */
    int (*register_fn)(tr_system *sys, const char *name, tr_ref ref);
} chat_gateway_cfg;
extern const tr_behaviour chat_gateway_behaviour;
/* Session: spawned by the gateway only. */
extern const tr_behaviour chat_session_behaviour;

/* Member (a client's own actor). Events go to on_event, called on a worker:
 * keep it short. The arg is copied in init; ctx is passed back. */
typedef enum chat_event_kind {
    CHAT_EV_JOINED,  /* text: "nick1, nick2", nick: server, room: room */
    CHAT_EV_HISTORY, /* a line from before we joined: ts, nick, text */
    CHAT_EV_LINE,    /* ts, nick, text */
    CHAT_EV_NOTICE,  /* ts, text */
    CHAT_EV_ERROR,   /* code, text, fatal (the member ends after a fatal one) */
    CHAT_EV_SENT     /* our own line, as sent (ts = now) */
} chat_event_kind;
typedef struct chat_event {
    chat_event_kind kind;
    int64_t ts;
    const char *nick;
    const char *text;
    const char *room;
    int code;
    bool fatal;
} chat_event;
typedef struct chat_member_cfg {
    tr_ref gateway;
    char nick[CHAT_MAX_NICK + 1];
    char room[CHAT_MAX_ROOM + 1];
    void (*on_event)(void *ctx, const chat_event *ev);
    void *ctx;
    bool no_ack;      /* tests only: never acknowledge (a slow client) */
} chat_member_cfg;
extern const tr_behaviour chat_member_behaviour;

/* Post a line / a leave to a member from an outside thread. */
int chat_member_say(tr_system *sys, tr_ref member, const char *text, int timeout_ms);
int chat_member_leave(tr_system *sys, tr_ref member, int timeout_ms);
/* Writes "[HH:MM:SS] <nick> text" (or "* text" for notices) for ev to buf. */
void chat_format_event(const chat_event *ev, char *buf, size_t cap);

/* Introduce gateway `peer_gateway` to `gateway` (outside thread). */
int chat_gateway_add_peer(tr_system *sys, tr_ref gateway, tr_ref peer_gateway, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
