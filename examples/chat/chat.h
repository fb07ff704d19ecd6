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
 *   gateway   (registered "chat")  knows the servers and its own clients
 *                                  (logged-in nicknames), places rooms, starts
 *                                  one session per (client, room), keeps the
 *                                  nickname registry for the nicknames whose
 *                                  home it is (nicks.c), delivers private lines
 *   task      one per request that needs other servers' answers (/msg, /nick,
 *             login, /who, /list): asks them, answers the client, ends
 *   session   one per (client, room), on the client's server: relays between
 *             the client and the room, monitors both
 *   directory one per server: starts rooms on demand, each under its own
 *             one-for-one supervisor, and tells where a room runs
 *   room      members, nicknames, history, presence, slow-member policy
 * and per client process one member actor (member.c): it logs in, runs the
 * user's commands (commands.c), is in several rooms with a current one, and
 * reports what arrives through a callback.
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
#include <troupe/wire.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits ---- */
#define CHAT_MAX_LINE 512        /* bytes of text in one line, as typed */
#define CHAT_MAX_TEXT (3 * CHAT_MAX_LINE) /* after cleaning (a replaced byte takes 3) */
#define CHAT_MAX_NICK 32         /* bytes, [A-Za-z0-9_-] */
#define CHAT_MAX_ROOM 32         /* bytes, [A-Za-z0-9_.-] (a leading '#' is not part of it) */
#define CHAT_MAX_JOINED 32       /* rooms one client is in at once */
#define CHAT_MAX_CLIENTS 65536   /* logged-in clients per server */
#define CHAT_MAX_REASON 128      /* bytes of a /quit or /part reason */
#define CHAT_MAX_SERVER 63       /* bytes, a node name */
#define CHAT_HISTORY 20          /* lines replayed to a joining member */
#define CHAT_DEFAULT_BUDGET 256  /* unacknowledged messages per member before it is cut off */
#define CHAT_ACK_EVERY 8         /* a member acknowledges every this many messages */
#define CHAT_MAX_MEMBERS 1024    /* per room */
#define CHAT_MAX_ROOMS 1024      /* per server */
#define CHAT_MAX_SERVERS 64
#define CHAT_OPEN_TIMEOUT_MS 5000
#define CHAT_REJOIN_ATTEMPTS 3   /* after a room crash (restarted by its supervisor) */
#define CHAT_MOVE_WAIT_MS 10000  /* a session whose room's server went down waits this long
                                  * for its gateway to place the room elsewhere */
#define CHAT_FETCH_TIMEOUT_MS 2000 /* a starting room asks its replica for lines this long */
#define CHAT_REPLICATE_TIMEOUT_MS 5000 /* a room's copy to its replica is sent again after this */
#define CHAT_MAX_UNCONFIRMED 1024 /* per room: lines said, not yet held by the replica */
#define CHAT_MEMBER_UNCONFIRMED 1024 /* per client and room: lines sent, not yet confirmed */
#define CHAT_DEDUP 256           /* a room knows the uids of this many recent lines */
#define CHAT_QUIT_WAIT_MS 2000   /* /quit waits this long at most for unconfirmed lines */
#define CHAT_GATEWAYS_GROUP "chat.gateways" /* the process group (troupe/pg.h) of every gateway */

/* ---- message tags (payload layouts in msgpack notation) ---- */
enum {
    CHAT_JOIN = TR_MSG_USER + 0x4300, /* client->gateway [room, how]; session->room [nick, how]
                                       * (how: a chat_join_how; absent = CHAT_JOIN_NEW) */
    CHAT_JOINED,  /* room->session->client [room, server, [nick...], [[ts, nick, text, me, uid]...]] */
    CHAT_SAY,     /* client->session->room [text, me, id] (me: a /me action; id: the
                   * client's id for the line, optional: with it the room answers
                   * CHAT_SAID, and a line sent again with the same id is taken once) */
    CHAT_LINE,    /* room->session->client [ts, nick, text, me, uid] */
    CHAT_NOTICE,  /* room->session->client [ts, text] */
    CHAT_ERROR,   /* anyone->client [code, text, fatal, room] (room "" = not about one room) */
    CHAT_ACK,     /* client->session->room [count of LINE+NOTICE since JOINED] */
    CHAT_LEAVE,   /* client->session->room [reason, quiet] ("" = none; quiet: the member
                   * moves with the room, nobody is told) */
    CHAT_OPEN,    /* session/task->directory, an ask [room, create]; reply [code, ref] */
    CHAT_ROOM_UP, /* room->directory [room, members], after every (re)start and membership change */
    CHAT_HELLO,   /* gateway->gateway [server, directory ref] */
    CHAT_PEER,    /* main->own gateway [gateway ref]: introduce yourself to it */
    CHAT_STATS,   /* an ask to a room: reply [members, history, kicked, lines]
                   * or to a gateway: reply [[server, up]...] */
    CHAT_TICK,    /* bots' own timer */
    CHAT_LOGIN,   /* client->gateway [nick]: answered WELCOME or a fatal ERROR */
    CHAT_WELCOME, /* gateway->client [server, nick] */
    CHAT_NICK,    /* client->gateway [new]; gateway->client and gateway->session [old, new];
                   * session->room [new] */
    CHAT_PRIV,    /* client->gateway [to, text, id] (id optional: then the gateway or its
                   * task answers CHAT_SAID [id, code] once the addressee's server handed
                   * it to the addressee, or it failed); gateway->client
                   * [ts, from, to, text, echo] */
    CHAT_DELIVER, /* task->gateway, an ask [to, from, text]; reply [code] */
    CHAT_CLAIM,   /* task/gateway->home gateway [nick, server, key] (an ask or not); reply [code] */
    CHAT_RELEASE, /* gateway->home gateway [nick, server, key] */
    CHAT_LOCATE,  /* task->home gateway, an ask [nick]; reply [code, server] */
    CHAT_CLAIMED, /* task->own gateway [code, client ref, old nick, new nick] */
    CHAT_WHO,     /* client->gateway [room]; task->room, an ask []; reply [[nick...]] */
    CHAT_LIST,    /* client->gateway []; task->directory, an ask []; reply [[room, members]...] */
    CHAT_WHERE,   /* client->gateway [room] */
    CHAT_INFO,    /* gateway/task->client [ts, [line...]]: the answer to a command */
    CHAT_INPUT,   /* front end->member [line]: one line the user typed (text or command) */
    CHAT_SHUTDOWN, /* main->own gateway, an ask [why]: tell every client, then reply [] */
    CHAT_RECONNECT, /* main->member [gateway ref]: log in there again and rejoin every room
                     * (after CHAT_EV_LOST); [nil, why]: give up (the member ends) */
    CHAT_SERVERS,  /* gateway->own directory and own sessions [[server, directory ref]...]:
                    * the servers up, after every change (placement follows it) */
    CHAT_REPLICA,  /* directory->room [directory ref or nil]: where the room copies its lines */
    CHAT_REPLICATE, /* room->directory (an ask: reply [] once the directory holds the lines),
                     * directory->own room [room, [line...]], a line being
                     * [uid, at, ts, nick, text, me] (chat_stored_line) */
    CHAT_FETCH,    /* room->directory, an ask [room]; reply [[line...]]: its recent lines */
    CHAT_SAID      /* room->session->client [id, code]: the line the client sent with this id
                    * is taken (code CHAT_OK: the room has it and so does its replica, so the
                    * death of the room's server does not lose it) or refused (the room sent
                    * a CHAT_ERROR saying why); gateway/task->client [id, code]: the private
                    * line with this id was delivered (CHAT_OK) or not (a CHAT_ERROR says why) */
};

/* How a member joins a room (the second item of CHAT_JOIN). */
typedef enum chat_join_how {
    CHAT_JOIN_NEW = 0,   /* others see "alice joined" */
    CHAT_JOIN_BACK = 1,  /* the client reconnected (its server was lost): a stale member of
                          * the same nickname is replaced; others see "alice is back" */
    CHAT_JOIN_MOVED = 2  /* the member follows its room to another server: nobody is told */
} chat_join_how;

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
    CHAT_E_NOT_MEMBER = 10, /* not fatal */
    CHAT_E_NO_USER = 11,    /* not fatal: /msg to a nickname nobody has */
    CHAT_E_NO_ROOM = 12,    /* not fatal: /who of a room that does not exist */
    CHAT_E_COMMAND = 13,    /* not fatal: unknown command or bad arguments (answered locally) */
    CHAT_E_INPUT = 14,      /* not fatal: something in a typed line was replaced or refused */
    CHAT_E_TOO_MANY = 15,   /* not fatal: too many rooms for one client */
    CHAT_E_UNDELIVERED = 16 /* not fatal: a line we sent was not confirmed and will not be */
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
/* Sends the packed bytes (copied) from an actor / from outside / as the
 * answer to an ask, then destroys b. Return as tr_send / tr_post / tr_reply. */
int chat_buf_send(tr_ctx *self, tr_ref to, uint32_t type, chat_buf *b);
int chat_buf_post(tr_system *sys, tr_ref to, uint32_t type, chat_buf *b, int timeout_ms);
int chat_buf_reply(tr_ctx *self, const tr_msg *request, chat_buf *b);
/* Starts the answer to `request`: false when it is no ask (nobody waits
 * for an answer; b untouched), else true with b initialised and an array
 * of `items` items opened in it, to fill and pass to chat_buf_reply. */
bool chat_buf_open_answer(const tr_msg *request, chat_buf *b, uint32_t items);
/* Posts [ref] (packed by chat_pack_ref) to `to` from outside an actor.
 * Returns chat_pack_ref's error when ref cannot be packed, else as tr_post. */
int chat_post_ref(tr_system *sys, tr_ref to, uint32_t type, tr_ref ref, int timeout_ms);

/* An unpacked payload: root must be an array of at least `min` items. */
typedef struct chat_in {
    msgpack_unpacked u;
    const msgpack_object *items;
    uint32_t n;
} chat_in;
/* Decoding bounds of chat_in_open: nesting, and elements in all (each
 * decodes to a 24-byte msgpack_object: at most 1.5 MB per message). */
#define CHAT_IN_MAX_DEPTH 4
#define CHAT_IN_MAX_OBJECTS 65536
bool chat_in_open(chat_in *in, const void *data, size_t size, uint32_t min);
void chat_in_close(chat_in *in);
/* Copies a str object into buf (NUL-terminated); false if not a str or too long. */
bool chat_obj_str(const msgpack_object *o, char *buf, size_t cap);
bool chat_obj_u64(const msgpack_object *o, uint64_t *out);
bool chat_obj_i64(const msgpack_object *o, int64_t *out);

/* Sends CHAT_ERROR [code, text, fatal, ""] / [code, text, fatal, room]. */
int chat_send_error(tr_ctx *self, tr_ref to, int code, const char *text, bool fatal);
int chat_send_room_error(tr_ctx *self, tr_ref to, int code, const char *text, bool fatal,
                         const char *room);
/* Sends CHAT_INFO [now, [line]] with one line. */
int chat_send_info(tr_ctx *self, tr_ref to, const char *line);
/* Sends CHAT_SAID [id, code]: the line the client sent with this id is taken
 * (CHAT_OK) or refused (code; a CHAT_ERROR says why). */
int chat_send_said(tr_ctx *self, tr_ref to, uint64_t id, int code);
bool chat_error_fatal(int code);

/* ---- growable arrays (array.c) ----
 * A typed pointer, a count n and a capacity cap, all uint32_t, grown by
 * doubling; each caller keeps its own limit on n. */

/* Doubles the capacity (to first_cap when there is none) of the array whose
 * pointer is at items_field (a T **) of elem_size-byte elements. Returns
 * true, or false when out of memory (array and *cap untouched). Use
 * CHAT_ARRAY_MAKE_SPACE. */
bool chat_array_grow(void *items_field, uint32_t *cap, size_t elem_size, uint32_t first_cap);

/* True when items[n] may be written: n < cap, or the array was grown. False
 * when out of memory (nothing changed). items and cap are lvalues, evaluated
 * more than once: pass plain fields. */
#define CHAT_ARRAY_MAKE_SPACE(items, n, cap, first_cap)                                         \
    ((n) < (cap) || chat_array_grow(&(items), &(cap), sizeof(*(items)), (first_cap)))

/* ---- names ---- */
bool chat_valid_nick(const char *nick);
bool chat_valid_room(const char *room);
/* A room name as typed: one leading '#' is dropped ("#lobby" -> "lobby").
 * Returns the name without it (a pointer into s). */
const char *chat_room_name(const char *s);
/* The key a nickname is placed by (its home server): "@" + nick. */
void chat_nick_key(const char *nick, char *buf, size_t cap);
/* Appends the valid nicknames in `nicks` (msgpack strs) to the text
 * buf[0, used) of cap bytes: the first after `lead`, the others after ", ";
 * ", ..." ends the text when the rest does not fit. */
void chat_append_nicks(char *buf, size_t cap, size_t used, const msgpack_object_array *nicks,
                       const char *lead);
/* The uid of the line a client sent to room with id `id` (CHAT_SAY): the
 * same in every copy of the room, never 0. So the room recognises a line
 * sent again after a failover, and the client its own line when it comes
 * back as history. */
uint64_t chat_line_uid(const char *room, uint64_t id);

/* ---- cleaning (clean.c) ----
 * What one user types must not rewrite another's terminal. chat_clean
 * copies `n` bytes of `in` to `out` (NUL-terminated; cap >= 3 * n + 1 is
 * always enough) keeping tab and printable UTF-8, and writing U+FFFD in place
 * of: C0 controls but tab (including NUL and ESC), DEL, C1 controls
 * (U+0080-U+009F, e.g. CSI), Unicode bidi controls (U+061C, U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069), line/paragraph separators (U+2028, U+2029),
 * and every byte of invalid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). Returns the bytes written; the counts of what was replaced go
 * to *report when not NULL. */
typedef struct chat_clean_report {
    uint32_t nul, controls, bidi, invalid;
} chat_clean_report;
size_t chat_clean(const char *in, size_t n, char *out, size_t cap, chat_clean_report *report);
/* True when the line has nothing but spaces and tabs (or nothing). */
bool chat_blank(const char *s, size_t n);
/* "2 NUL bytes and 1 control character replaced by U+FFFD" into buf, or ""
 * when nothing was replaced. */
void chat_clean_describe(const chat_clean_report *r, char *buf, size_t cap);

/* ---- commands (commands.c) ---- */
typedef enum chat_cmd_kind {
    CHAT_CMD_SAY,     /* not a command: a line for the current room (arg: the text) */
    CHAT_CMD_JOIN,    /* room */
    CHAT_CMD_PART,    /* room (may be ""), text: reason */
    CHAT_CMD_NICK,    /* arg: new nickname */
    CHAT_CMD_MSG,     /* arg: nick, text */
    CHAT_CMD_ME,      /* text */
    CHAT_CMD_WHO,     /* room (may be "") */
    CHAT_CMD_LIST,
    CHAT_CMD_WHERE,   /* room */
    CHAT_CMD_HELP,
    CHAT_CMD_QUIT,    /* text: reason */
    CHAT_CMD_BAD      /* text: what to tell the user (unknown command, bad arguments) */
} chat_cmd_kind;
typedef struct chat_cmd {
    chat_cmd_kind kind;
    char arg[CHAT_MAX_LINE + 1]; /* room (without '#') or nickname */
    const char *text;            /* points into the parsed line */
} chat_cmd;
/* Parses one typed line (already cleaned, NUL-terminated). A line starting
 * with '/' is a command: the name is case-insensitive, surrounding blanks
 * are trimmed; "//text" says "/text". Anything else is CHAT_CMD_SAY. The
 * result points into `line`, which must outlive it. */
void chat_parse_command(const char *line, chat_cmd *out);
/* The /help text: lines, NULL-terminated. */
extern const char *const chat_help_lines[];

/* ---- placement: rendezvous (highest random weight) hashing ---- */

/* The weight of `server` for `room`: a 64-bit mix of both names. */
uint64_t chat_hrw_weight(const char *server, const char *room);
/* splitmix64's finaliser: z's bits mixed into every bit of the result (a
 * bijection), for weights and uids. */
uint64_t chat_mix64(uint64_t z);
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
    chat_store *store; /* history on disk, or NULL (history in memory only) */
} chat_room_cfg;
/* Room history replication (room.c, directory): a room copies every line to
 * the directory of its replica, the next server in rendezvous order for the
 * room (or, on a stand-in while the room's own server is back, to that
 * server), which stores it and hands it to its copy of the room if one
 * runs. So when the host dies, the room starts on the next server with the
 * lines; when the host returns, it asks that server for them (CHAT_FETCH)
 * before letting anyone in. Lines are merged by uid, ordered by `at`. */
extern const tr_behaviour chat_room_behaviour;

/* Directory: arg is a chat_directory_cfg (copied in init). */
typedef struct chat_directory_cfg {
    char server[CHAT_MAX_SERVER + 1];
    uint32_t budget;         /* handed to every room */
    uint32_t room_intensity; /* restarts of one room per room_period_ms; 0 = 5 */
    uint32_t room_period_ms; /* 0 = 10000 */
    chat_store *store;       /* handed to every room; may be NULL */
} chat_directory_cfg;
extern const tr_behaviour chat_directory_behaviour;

/* Gateway: arg is a chat_gateway_cfg (copied in init). */
typedef struct chat_gateway_cfg {
    char server[CHAT_MAX_SERVER + 1];
    tr_ref directory; /* this server's directory; none = the gateway starts
                       * one as its child (and fails when it fails, so the
                       * gateway's supervisor restarts both) */
    uint32_t budget;  /* for a directory it starts */
    chat_store *store; /* for a directory it starts: history on disk, or NULL */
    /* Optional: called by init with the gateway's own reference, on every
     * (re)start; troupe-chat passes tr_register to publish it as "chat". */
    int (*register_fn)(tr_system *sys, const char *name, tr_ref ref);
    /* Optional: called (on a worker: keep it short) when another server
     * comes up (why NULL) or goes down (why: the reason). */
    void (*on_peer)(const char *server, bool up, const char *why);
} chat_gateway_cfg;
extern const tr_behaviour chat_gateway_behaviour;
/* Session: spawned by the gateway only. */
extern const tr_behaviour chat_session_behaviour;

/* Member (a client's own actor). Events go to on_event, called on a worker:
 * keep it short. The arg is copied in init; ctx is passed back. */
typedef enum chat_event_kind {
    CHAT_EV_JOINED,  /* text: "nick1, nick2", nick: server, room: room */
    CHAT_EV_HISTORY, /* a line from before we joined: ts, nick, text, me */
    CHAT_EV_LINE,    /* ts, nick, text, me */
    CHAT_EV_NOTICE,  /* ts, text */
    CHAT_EV_ERROR,   /* code, text, fatal (the member ends after a fatal one), room or "" */
    CHAT_EV_SENT,    /* our own line, as sent (ts = now), me */
    CHAT_EV_WELCOME, /* logged in: nick: our nickname, text: server */
    CHAT_EV_INFO,    /* one line answering a command: text */
    CHAT_EV_PRIV,    /* a private line: nick: from, to, text; echo: our own, as delivered */
    CHAT_EV_PARTED,  /* we left room (text: reason or "") */
    CHAT_EV_NICK,    /* our nickname changed: text: old, nick: new */
    CHAT_EV_LOST,    /* (failover) our server is lost: text: why; nick: that server. The
                      * member now waits for chat_member_reconnect (lines typed meanwhile
                      * wait for their rooms) */
    CHAT_EV_BACK,    /* (failover) logged in again: text: the new server, nick: our nickname,
                      * to: the old server; the rooms are being rejoined */
    CHAT_EV_CONFIRMED /* our line (nick, text, me, room) is taken by its room and held by
                       * the room's replica too. A line that will never be confirmed (its
                       * room or the member is lost first) is a CHAT_EV_ERROR with code
                       * CHAT_E_UNDELIVERED: "not delivered to #room: text" */
} chat_event_kind;
typedef struct chat_event {
    chat_event_kind kind;
    int64_t ts;
    const char *nick;
    const char *text;
    const char *room;
    const char *to;
    int code;
    bool fatal;
    bool me;     /* a /me action */
    bool echo;   /* CHAT_EV_PRIV: our own line, delivered */
    bool tagged; /* the client is in several rooms: show which */
    bool again;  /* CHAT_EV_JOINED: a rejoin (after a reconnect, a room restart or move) */
} chat_event;
typedef struct chat_member_cfg {
    tr_ref gateway;
    char nick[CHAT_MAX_NICK + 1];
    char room[CHAT_MAX_ROOM + 1]; /* joined after login; "" = none */
    void (*on_event)(void *ctx, const chat_event *ev);
    void *ctx;
    bool no_ack;      /* tests only: never acknowledge (a slow client) */
    bool failover;    /* losing the server (after the first login) is CHAT_EV_LOST, not the
                       * end: the program finds another server and calls
                       * chat_member_reconnect (or chat_member_give_up) */
} chat_member_cfg;
extern const tr_behaviour chat_member_behaviour;

/* From an outside thread: a line of text for the member's current room
 * (never parsed as a command), a line as typed (text or a command: the
 * member cleans and runs it), or /quit. */
int chat_member_say(tr_system *sys, tr_ref member, const char *text, int timeout_ms);
int chat_member_input(tr_system *sys, tr_ref member, const char *line, size_t n, int timeout_ms);
int chat_member_leave(tr_system *sys, tr_ref member, int timeout_ms);
/* From an outside thread, after CHAT_EV_LOST: log in at `gateway` again with
 * the same nickname and rejoin every room (CHAT_EV_BACK, then a JOINED per
 * room, whose history shows only lines not seen yet). A failed login is
 * another CHAT_EV_LOST. chat_member_give_up ends the member with CHAT_E_GONE
 * and `why` as its last error. Both return what tr_post returns. */
int chat_member_reconnect(tr_system *sys, tr_ref member, tr_ref gateway, int timeout_ms);
int chat_member_give_up(tr_system *sys, tr_ref member, const char *why, int timeout_ms);
/* Writes ev for a person to buf: "[HH:MM:SS] <nick> text", "[..] * nick
 * action", "[..] * notice", "[..] (history) <nick> text", "[..] *from* text"
 * (a private line; "-> *to* text" for our own), with "#room " after the time
 * when ev->tagged; an error is its text alone. */
void chat_format_event(const chat_event *ev, char *buf, size_t cap);

/* Introduce gateway `peer_gateway` to `gateway` (outside thread). */
int chat_gateway_add_peer(tr_system *sys, tr_ref gateway, tr_ref peer_gateway, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
