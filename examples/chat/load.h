/* troupe-chat load: many clients (member actors in this one process) spread
 * over the servers' gateways and over rooms, each saying numbered lines at a
 * steady rate; every receiver checks that each sender's lines arrive
 * exactly once and in order, and the time each took (send to print, one
 * clock: the same process); every sender checks that each of its lines
 * was confirmed (CHAT_EV_CONFIRMED: its room and the room's replica hold
 * it), and the time that took. */
#ifndef TROUPE_CHAT_LOAD_H
#define TROUPE_CHAT_LOAD_H

#include "chat.h"

typedef struct chat_load_cfg {
    const tr_ref *gateways; /* client i goes through gateways[i % ngateways] */
    uint32_t ngateways;
    uint32_t clients;       /* e.g. 1000 */
    uint32_t rooms;         /* e.g. 10: client i is in room "load<i % rooms>" */
    double rate;            /* lines per second per client */
    double seconds;         /* how long they talk */
} chat_load_cfg;

typedef struct chat_load_result {
    uint64_t sent;          /* lines said */
    uint64_t expected;      /* deliveries due: each line to every other member of its room */
    uint64_t delivered;     /* deliveries seen, in order, once */
    uint64_t duplicated, reordered, errors;
    uint64_t confirmed;     /* lines confirmed to their sender */
    double p50_ms, p99_ms, max_ms;
    double confirm_p50_ms, confirm_p99_ms; /* say -> confirmed */
    double talk_s;          /* from the first line to the last delivery */
    double join_s;          /* all clients logged in and joined */
} chat_load_result;

/* Runs the load in sys (which must run a node connected to the servers).
 * Returns 0 when every line reached every other member of its room exactly
 * once and in order and was confirmed, 1 otherwise (figures in *out either way). */
int chat_load_run(tr_system *sys, const chat_load_cfg *cfg, chat_load_result *out);

#endif
