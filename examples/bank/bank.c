/* The bank: a one-for-one supervisor over four account actors; clients
 * deposit, withdraw and read balances; an overdraft crashes the account,
 * the call returns the reason at once, and the supervisor restarts the
 * account with a fresh balance. Erlang version: docs/erlang/bank.erl.
 * Shows typed messages (TR_HANDLER, TR_ROUTES), tr_call, fail-fast asks,
 * crash reports and tr_error_register. Run: build/default/examples/bank */
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "bank: failed: %s\n", #c); exit(1); } } while (0)

enum { DEPOSIT = TR_MSG_USER, WITHDRAW, BALANCE };
enum { E_OVERDRAFT = TR_EUSER };

typedef struct account { int64_t balance; } account;

TR_HANDLER(deposit, account, int64_t) { return tr_reply_value(self, msg, state->balance += *value); }
TR_HANDLER(withdraw, account, int64_t) {
    if (*value > state->balance)
        return E_OVERDRAFT;
    return tr_reply_value(self, msg, state->balance -= *value);
}
TR_HANDLER_EMPTY(balance, account) { return tr_reply_value(self, msg, state->balance); }

static const tr_route routes[] = {TR_ON(DEPOSIT, deposit), TR_ON(WITHDRAW, withdraw), TR_ON(BALANCE, balance)};
static const tr_behaviour account_beh = {TR_ROUTES(routes), .state_size = sizeof(account), .name = "account"};

/* A client call: the account's current actor (it may have been restarted), asked and awaited. */
static int call(tr_system *sys, tr_ref bank, const char *id, uint32_t type, int64_t amount, int64_t *out) {
    tr_ref a;
    int rc = tr_supervisor_child(sys, bank, id, 1000, &a);
    return rc ? rc : tr_call(sys, a, type, &amount, type == BALANCE ? 0 : sizeof(amount), out, sizeof(*out), 1000);
}

int main(void) {
    tr_system *sys;
    CHECK(tr_system_create(NULL, &sys) == TR_OK);
    tr_error_register(E_OVERDRAFT, "overdraft");
    tr_child_spec specs[] = {{.id = "a1", .beh = &account_beh}, {.id = "a2", .beh = &account_beh},
                             {.id = "a3", .beh = &account_beh}, {.id = "a4", .beh = &account_beh}};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 3, .period_ms = 5000};
    tr_ref bank;
    CHECK(tr_supervisor_start(sys, &flags, specs, 4, &(tr_spawn_opts){.name = "bank"}, &bank) == TR_OK);
    int64_t b[4];
    for (int i = 0; i < 4; i++)
        CHECK(call(sys, bank, specs[i].id, DEPOSIT, 100, &b[i]) == TR_OK && b[i] == 100);
    CHECK(call(sys, bank, "a2", WITHDRAW, 30, &b[1]) == TR_OK && b[1] == 70);
    CHECK(call(sys, bank, "a3", WITHDRAW, 500, &b[2]) == E_OVERDRAFT); /* crashes a3: reason at once */
    for (int i = 0; i < 4; i++)
        CHECK(call(sys, bank, specs[i].id, BALANCE, 0, &b[i]) == TR_OK);
    printf("balances [%lld,%lld,%lld,%lld]\n", (long long)b[0], (long long)b[1], (long long)b[2], (long long)b[3]);
    CHECK(b[0] == 100 && b[1] == 70 && b[2] == 0 && b[3] == 100);
    tr_system_destroy(sys);
    return 0;
}
