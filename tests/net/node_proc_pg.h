/* node_proc's commands for process groups and seeds (included by
 * tests/net/node_proc.c; each answers one line):
 *   pgspawn NAME GROUP  spawns an echo actor registered as NAME, joins it
 *                       to GROUP                         -> "PGJOINED <rc>"
 *   pgjoin NAME GROUP   joins NAME to GROUP once more    -> "PGJOINED <rc>"
 *   pgleave NAME GROUP  one leave of NAME from GROUP     -> "PGLEFT <rc>"
 *   pgkill NAME         kills NAME (it leaves its groups) -> "PGKILLED <rc>"
 *   pgcount GROUP N     waits (up to 30 s) until GROUP has N members here,
 *                       woken by this node's pg events   -> "PGCOUNT <members now>"
 *   seed URL MS         tr_node_add_seed(URL, MS)         -> "SEEDED <rc>"
 *   peers N             waits (up to 30 s) until N peers are up -> "PEERS <up now>"
 *   up NAME             tr_node_peer_up                   -> "UP <0|1>"
 * Waits are bounded only to turn a hang into a failed test. */
#ifndef TROUPE_TESTS_NET_NODE_PROC_PG_H
#define TROUPE_TESTS_NET_NODE_PROC_PG_H

#include <pthread.h>
#include <time.h>

#include "troupe/troupe.h"

static pthread_mutex_t pg_events_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pg_events_cv = PTHREAD_COND_INITIALIZER;
static uint64_t pg_events;

/* Subscribed to every group: wakes pgcount on each change. */
static int pg_listener_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type == TR_MSG_PG_JOINED || msg->type == TR_MSG_PG_LEFT) {
        pthread_mutex_lock(&pg_events_lock);
        pg_events++;
        pthread_cond_broadcast(&pg_events_cv);
        pthread_mutex_unlock(&pg_events_lock);
    }
    return TR_OK;
}
static const tr_behaviour pg_listener_b = {.handle = pg_listener_handle};

static size_t pg_count_now(tr_system *sys, const char *group)
{
    size_t n = 0;
    tr_pg_members(sys, group, NULL, 0, &n);
    return n;
}

/* Waits until `ready(sys, node, arg)` holds, rechecking on every pg event
 * and at least every 20 ms (for conditions no pg event announces). */
static bool pg_wait(tr_system *sys, tr_node *node, bool (*ready)(tr_system *, tr_node *, const char *, long),
                    const char *arg, long want)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += 30;
    pthread_mutex_lock(&pg_events_lock);
    bool ok;
    while (!(ok = ready(sys, node, arg, want))) {
        struct timespec now, next;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            break;
        next = now;
        next.tv_nsec += 20 * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pg_events_cv, &pg_events_lock, &next);
    }
    pthread_mutex_unlock(&pg_events_lock);
    return ok;
}

static bool group_has(tr_system *sys, tr_node *node, const char *group, long want)
{
    (void)node;
    return (long)pg_count_now(sys, group) == want;
}

static bool peers_are(tr_system *sys, tr_node *node, const char *unused, long want)
{
    (void)sys;
    (void)unused;
    tr_node_stats st;
    tr_node_stats_get(node, &st);
    return (long)st.peers_up == want;
}

/* Splits "A B" into two words (b NULL when there is one). */
static char *pg_second_word(char *a)
{
    char *b = strchr(a, ' ');
    if (b != NULL)
        *b++ = '\0';
    return b;
}

/* Runs `line arg` if it is one of the commands above; false otherwise. */
static bool pg_command(tr_system *sys, tr_node *node, const char *line, char *arg)
{
    static bool listening;
    if (!listening) {
        tr_ref l;
        listening = tr_spawn(sys, &pg_listener_b, NULL, NULL, &l) == TR_OK && tr_pg_monitor(sys, NULL, l, NULL) == TR_OK;
    }
    char *second = pg_second_word(arg);
    tr_ref ref = TR_REF_NONE;
    if (strcmp(line, "pgspawn") == 0 && second != NULL) {
        static const tr_behaviour member_b = {.handle = proto_echo_handle};
        tr_spawn_opts o = {.name = arg};
        int rc = tr_spawn(sys, &member_b, NULL, &o, &ref);
        if (rc == TR_OK)
            rc = tr_register(sys, arg, ref);
        say("PGJOINED %d", rc == TR_OK ? tr_pg_join(sys, second, ref) : rc);
    } else if (strcmp(line, "pgjoin") == 0 && second != NULL) {
        int rc = tr_whereis(sys, arg, &ref);
        say("PGJOINED %d", rc == TR_OK ? tr_pg_join(sys, second, ref) : rc);
    } else if (strcmp(line, "pgleave") == 0 && second != NULL) {
        int rc = tr_whereis(sys, arg, &ref);
        say("PGLEFT %d", rc == TR_OK ? tr_pg_leave(sys, second, ref) : rc);
    } else if (strcmp(line, "pgkill") == 0) {
        int rc = tr_whereis(sys, arg, &ref);
        say("PGKILLED %d", rc == TR_OK ? tr_kill(sys, ref) : rc);
    } else if (strcmp(line, "pgcount") == 0 && second != NULL) {
        pg_wait(sys, node, group_has, arg, atol(second));
        say("PGCOUNT %zu", pg_count_now(sys, arg));
    } else if (strcmp(line, "seed") == 0) {
        say("SEEDED %d", tr_node_add_seed(node, arg, second != NULL ? (uint32_t)atol(second) : 0));
    } else if (strcmp(line, "peers") == 0) {
        pg_wait(sys, node, peers_are, NULL, atol(arg));
        tr_node_stats st;
        tr_node_stats_get(node, &st);
        say("PEERS %u", st.peers_up);
    } else if (strcmp(line, "up") == 0) {
        say("UP %d", tr_node_peer_up(node, arg) ? 1 : 0);
    } else {
        if (second != NULL)
            second[-1] = ' '; /* not ours: give the argument back whole */
        return false;
    }
    return true;
}

#endif
