/* State that survives restarts: a supervisor restarts a child with fresh
 * state (its state_size bytes, zeroed) and the same `arg`. What must
 * survive a crash therefore lives in the arg, owned by whoever started the
 * supervisor, and the actor keeps only a pointer to it. Here a tally
 * crashes on a bad entry; its restarted incarnation carries on from the
 * total so far. (Erlang keeps such state in an ETS table or in the
 * supervisor's child spec args the same way.) Run: build/default/examples/restart_state */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "restart_state: failed: %s\n", #c); exit(1); } } while (0)

enum { ADD = TR_MSG_USER };
enum { E_NEGATIVE = TR_EUSER };

/* What survives: owned by main, shared by every incarnation in turn (one at
 * a time, so no lock). A real program would keep it in a store actor or on
 * disk when it must survive the supervisor too. */
typedef struct tally_store { int64_t total; int incarnations; } tally_store;
typedef struct tally { tally_store *store; } tally;

static int tally_init(tr_ctx *self, void *state, void *arg) {
    (void)self;
    ((tally *)state)->store = arg;
    ((tally_store *)arg)->incarnations++;
    return TR_OK;
}
TR_HANDLER(on_add, tally, int64_t) {
    if (*value < 0)
        return E_NEGATIVE; /* crash: the supervisor restarts us, the store stays */
    state->store->total += *value;
    return tr_reply_value(self, msg, state->store->total);
}
static const tr_route routes[] = {TR_ON(ADD, on_add)};
static const tr_behaviour tally_beh = {TR_ROUTES(routes), .init = tally_init, .state_size = sizeof(tally)};

static int add(tr_system *sys, tr_ref sup, int64_t v, int64_t *total) {
    tr_ref t;
    int rc = tr_supervisor_child(sys, sup, "tally", 1000, &t);
    return rc != TR_OK ? rc : tr_call(sys, t, ADD, &v, sizeof(v), total, sizeof(*total), 1000);
}

int main(void) {
    tr_system *sys;
    tr_config cfg = {.quiet_crashes = true}; /* the crash is part of the plan */
    CHECK(tr_system_create(&cfg, &sys) == TR_OK);
    tally_store store = {0};
    tr_child_spec spec = {.id = "tally", .beh = &tally_beh, .arg = &store};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 5000};
    tr_ref sup;
    CHECK(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup) == TR_OK);
    int64_t total = 0;
    CHECK(add(sys, sup, 40, &total) == TR_OK && total == 40);
    CHECK(add(sys, sup, -1, &total) == E_NEGATIVE); /* crashes it */
    CHECK(add(sys, sup, 2, &total) == TR_OK);       /* the new incarnation */
    printf("total %lld after %d incarnations\n", (long long)total, store.incarnations);
    CHECK(total == 42 && store.incarnations == 2);
    tr_system_destroy(sys); /* before `store` goes out of scope */
    return 0;
}
