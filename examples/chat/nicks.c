/* The nickname registry (nicks.h): an array searched linearly, which is
 * plenty for thousands of nicknames per server; swap-remove on release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nicks.h"

static chat_nick_entry *find(const chat_nicks *r, const char *nick)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (strcmp(r->e[i].nick, nick) == 0)
            return &r->e[i];
    return NULL;
}

int chat_nicks_claim(chat_nicks *r, const char *nick, const char *server, uint64_t key)
{
    chat_nick_entry *e = find(r, nick);
    if (e != NULL)
        return strcmp(e->server, server) == 0 && e->key == key ? CHAT_OK : CHAT_E_NICK_TAKEN;
    if (r->n >= CHAT_MAX_NICKS)
        return CHAT_E_UNAVAILABLE;
    if (!CHAT_ARRAY_MAKE_SPACE(r->e, r->n, r->cap, 16))
        return CHAT_E_UNAVAILABLE;
    e = &r->e[r->n++];
    snprintf(e->nick, sizeof(e->nick), "%s", nick);
    snprintf(e->server, sizeof(e->server), "%s", server);
    e->key = key;
    return CHAT_OK;
}

void chat_nicks_release(chat_nicks *r, const char *nick, const char *server, uint64_t key)
{
    chat_nick_entry *e = find(r, nick);
    if (e != NULL && strcmp(e->server, server) == 0 && e->key == key)
        *e = r->e[--r->n];
}

const char *chat_nicks_locate(const chat_nicks *r, const char *nick)
{
    const chat_nick_entry *e = find(r, nick);
    return e != NULL ? e->server : NULL;
}

void chat_nicks_drop_server(chat_nicks *r, const char *server)
{
    for (uint32_t i = 0; i < r->n;)
        if (strcmp(r->e[i].server, server) == 0)
            r->e[i] = r->e[--r->n];
        else
            i++;
}

void chat_nicks_free(chat_nicks *r)
{
    free(r->e);
    r->e = NULL;
    r->n = r->cap = 0;
}
