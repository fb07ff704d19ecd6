/* Ping-pong: two actors bounce a counter back and forth.
 *
 * What it shows:
 *   - a behaviour (init / handle / terminate) with its own state;
 *   - spawning with options and sending typed messages between actors;
 *   - tr_ask_wait: an outside thread asking an actor and blocking on the reply;
 *   - tr_await_exit: waiting for an actor to end, and its exit reason.
 *
 * Build and run: scripts/demo.sh (or build/default/examples/pingpong [rounds]).
 */
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

/* Message type tags: anything from TR_MSG_USER up is ours. */
enum { MSG_PING = TR_MSG_USER, MSG_PONG, MSG_START, MSG_STATS };

/* The payload of ping and pong: the round number. */
typedef struct ball {
    uint64_t round;
} ball;

/* ---- the ponger: answers every ping with a pong ---- */

typedef struct ponger_state {
    uint64_t pongs;
} ponger_state;

static int ponger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    ponger_state *s = state;
    if (msg->type == MSG_PING) {
        s->pongs++;
        /* msg->data lives until we return; tr_send copies it */
        return tr_send(self, msg->sender, MSG_PONG, msg->data, msg->size);
    }
    if (msg->type == MSG_STATS) /* an ask: reply with our count */
        return tr_reply(self, msg, &s->pongs, sizeof(s->pongs));
    return TR_OK;
}

static const tr_behaviour ponger = {
    .handle = ponger_handle,
    .state_size = sizeof(ponger_state),
};

/* ---- the pinger: starts the rally, stops itself after `rounds` ---- */

typedef struct pinger_state {
    tr_ref partner;
    uint64_t rounds;
} pinger_state;

typedef struct pinger_args {
    tr_ref partner;
    uint64_t rounds;
} pinger_args;

/* init runs on a worker before any message; arg is tr_spawn's arg. */
static int pinger_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    pinger_state *s = state;
    const pinger_args *a = arg;
    s->partner = a->partner;
    s->rounds = a->rounds;
    return TR_OK;
}

static int pinger_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    pinger_state *s = state;
    ball b = {0};
    if (msg->type == MSG_PONG) {
        b = *(const ball *)msg->data;
        if (b.round == s->rounds) {
            tr_stop_self(self); /* done: ends normally after this message */
            return TR_OK;
        }
    } else if (msg->type != MSG_START) {
        return TR_OK;
    }
    b.round++;
    return tr_send(self, s->partner, MSG_PING, &b, sizeof(b));
}

/* terminate runs exactly once, with the exit reason. */
static void pinger_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    const pinger_state *s = state;
    printf("pinger: finished %llu rounds (%s)\n", (unsigned long long)s->rounds, tr_strerror(reason));
}

static const tr_behaviour pinger = {
    .init = pinger_init,
    .handle = pinger_handle,
    .terminate = pinger_terminate,
    .state_size = sizeof(pinger_state),
};

static int check(int rc, const char *what)
{
    if (rc != TR_OK) {
        fprintf(stderr, "pingpong: %s: %s\n", what, tr_strerror(rc));
        exit(1);
    }
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    if (rounds == 0) {
        fprintf(stderr, "usage: pingpong [rounds > 0]\n");
        return 2;
    }

    tr_system *sys;
    check(tr_system_create(NULL, &sys), "create system"); /* one worker per core */

    tr_ref pong_ref, ping_ref;
    tr_spawn_opts opts = {.name = "ponger"};
    check(tr_spawn(sys, &ponger, NULL, &opts, &pong_ref), "spawn ponger");

    pinger_args args = {.partner = pong_ref, .rounds = rounds};
    opts.name = "pinger";
    check(tr_spawn(sys, &pinger, &args, &opts, &ping_ref), "spawn pinger");

    /* Kick off the rally from outside; 0 = do not wait if the mailbox is full. */
    check(tr_post(sys, ping_ref, MSG_START, NULL, 0, 0), "start");

    int reason;
    check(tr_await_exit(sys, ping_ref, -1, &reason), "await pinger");

    /* Ask the ponger how many pings it answered (blocks this thread only). */
    void *reply;
    size_t reply_size;
    check(tr_ask_wait(sys, pong_ref, MSG_STATS, NULL, 0, 1000, &reply, &reply_size), "ask stats");
    uint64_t pongs = *(uint64_t *)reply;
    free(reply);
    printf("ponger: answered %llu pings\n", (unsigned long long)pongs);

    tr_system_destroy(sys); /* stops the ponger gracefully, joins all threads */
    return pongs == rounds ? 0 : 1;
}
