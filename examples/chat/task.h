/* Tasks: one short-lived actor per client request that needs answers from
 * other servers (a login or /nick: claim the nickname at its home; /msg:
 * find where the addressee is connected and deliver there; /who: find the
 * room; /list: ask every server). The gateway spawns a task as its child
 * with a copy of what it knows (the servers up, the client), so the gateway
 * itself never waits for anybody; the task asks, answers the client (or the
 * gateway, for nickname claims) and ends. Every ask has a deadline. */
#ifndef TROUPE_CHAT_TASK_H
#define TROUPE_CHAT_TASK_H

#include "chat.h"

#define CHAT_TASK_TIMEOUT_MS 5000

typedef struct chat_task_server {
    char name[CHAT_MAX_SERVER + 1];
    tr_ref gateway;   /* our own gateway for ourselves */
    tr_ref directory;
} chat_task_server;

typedef struct chat_task_arg {
    uint32_t kind;    /* CHAT_LOGIN, CHAT_NICK, CHAT_PRIV, CHAT_WHO or CHAT_LIST */
    tr_ref client;    /* the client's member actor */
    tr_ref gateway;   /* the gateway that spawned the task */
    char server[CHAT_MAX_SERVER + 1]; /* the gateway's server */
    uint64_t key;     /* the gateway's id for the client (nickname claims) */
    char nick[CHAT_MAX_NICK + 1];     /* the client's nickname ("" before login) */
    char arg[CHAT_MAX_NICK + CHAT_MAX_ROOM + 2]; /* new nickname, addressee or room */
    char text[CHAT_MAX_TEXT + 1];     /* a private line, cleaned */
    uint64_t id;      /* CHAT_PRIV: the client's id for the line (0: none), for CHAT_SAID */
    uint32_t n;
    chat_task_server servers[CHAT_MAX_SERVERS]; /* the servers up, in the gateway's order */
} chat_task_arg;

/* The task; its arg is a malloc'd chat_task_arg that the task frees. */
extern const tr_behaviour chat_task_behaviour;

/* Index in servers[0..n) of the home of `key` (a room, or chat_nick_key of
 * a nickname): rendezvous placement over the names. -1 when n is 0. */
int chat_task_place(const chat_task_server *servers, uint32_t n, const char *key);

#endif
