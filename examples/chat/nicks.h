/* The nickname registry a gateway keeps for the nicknames whose home it is
 * (rendezvous placement of "@nick" over the servers it knows to be up): who
 * holds each nickname, as (server, key), key being that server's id for the
 * client. One registry per gateway, used only by the gateway's actor. */
#ifndef TROUPE_CHAT_NICKS_H
#define TROUPE_CHAT_NICKS_H

#include "chat.h"

#define CHAT_MAX_NICKS (4 * CHAT_MAX_CLIENTS) /* entries per registry */

typedef struct chat_nick_entry {
    char nick[CHAT_MAX_NICK + 1];
    char server[CHAT_MAX_SERVER + 1];
    uint64_t key;
} chat_nick_entry;

typedef struct chat_nicks {
    chat_nick_entry *e;
    uint32_t n, cap;
} chat_nicks;

/* Records that (server, key) holds nick. Returns CHAT_OK (also when it
 * already did), CHAT_E_NICK_TAKEN (someone else holds it) or
 * CHAT_E_UNAVAILABLE (registry full or out of memory). */
int chat_nicks_claim(chat_nicks *r, const char *nick, const char *server, uint64_t key);
/* Forgets nick if (server, key) holds it. */
void chat_nicks_release(chat_nicks *r, const char *nick, const char *server, uint64_t key);
/* The server holding nick, or NULL (the pointer is valid until the next change). */
const char *chat_nicks_locate(const chat_nicks *r, const char *nick);
/* Forgets every nickname held through `server` (it went down). */
void chat_nicks_drop_server(chat_nicks *r, const char *server);
void chat_nicks_free(chat_nicks *r);

#endif
