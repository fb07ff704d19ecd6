/* Crash reports and application error names: a failing actor logs one
 * line naming it, its behaviour, the message it was handling and the
 * reason (with the name registered for it); quiet_crashes silences them;
 * a supervisor logs what it does about the failure. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_WITHDRAW = TR_MSG_USER + 44 };
enum { E_OVERDRAFT = TR_EUSER + 1, E_UNNAMED = TR_EUSER + 77 };

/* Collects the lines of one subsystem. */
typedef struct lines {
    latch count;
    pthread_mutex_t lock;
    char text[8][TR_LOG_LINE_MAX];
    int n;
} lines;

static lines crash_lines, sup_lines;

static void collect(void *user, tr_log_level level, const char *subsystem, const char *line)
{
    (void)user;
    lines *l = strcmp(subsystem, "crash") == 0 ? &crash_lines
               : strcmp(subsystem, "supervisor") == 0 ? &sup_lines : NULL;
    if (l == NULL || level != TR_LOG_ERROR)
        return;
    pthread_mutex_lock(&l->lock);
    if (l->n < 8)
        snprintf(l->text[l->n++], TR_LOG_LINE_MAX, "%s", line);
    pthread_mutex_unlock(&l->lock);
    latch_add(&l->count, 1);
}

/* Each test calls these itself (the TSan build's stand-in for Criterion
 * has no .init/.fini). */
static void setup(void)
{
    latch_init(&crash_lines.count);
    latch_init(&sup_lines.count);
    pthread_mutex_init(&crash_lines.lock, NULL);
    pthread_mutex_init(&sup_lines.lock, NULL);
    tr_set_log_level(TR_LOG_WARN);
    tr_set_log_fn(collect, NULL);
}

static void teardown(void) { tr_set_log_fn(NULL, NULL); }

static int account_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    return msg->type == MSG_WITHDRAW ? E_OVERDRAFT : TR_OK;
}

static const tr_behaviour account = {.handle = account_handle, .name = "account"};

static int bad_init(tr_ctx *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    return E_UNNAMED;
}

static const tr_behaviour broken = {.init = bad_init, .handle = account_handle};

Test(errors, registered_names_appear_in_strerror)
{
    cr_assert_str_eq(tr_strerror(E_UNNAMED), "application-defined error");
    cr_assert_eq(tr_error_register(E_OVERDRAFT, "overdraft"), TR_OK);
    cr_assert_str_eq(tr_strerror(E_OVERDRAFT), "overdraft");
    cr_assert_eq(tr_error_register(E_OVERDRAFT, "account overdrawn"), TR_OK); /* renames */
    cr_assert_str_eq(tr_strerror(E_OVERDRAFT), "account overdrawn");
    cr_assert_str_eq(tr_strerror(TR_EDEAD), "actor is dead or reference is stale");
    cr_assert_eq(tr_error_register(TR_EDEAD, "mine"), TR_EINVAL, "runtime codes are not renamed");
    cr_assert_eq(tr_error_register(TR_EUSER + 2, NULL), TR_EINVAL);
    cr_assert_str_eq(tr_strerror(-5), "unknown error");
}

Test(errors, the_name_table_is_bounded)
{
    int rc = TR_OK, i;
    for (i = 0; i <= TR_ERROR_NAMES_MAX && rc == TR_OK; i++)
        rc = tr_error_register(TR_EUSER + 5000 + i, "n");
    cr_assert_eq(rc, TR_ETOOBIG);
    cr_assert_leq(i, TR_ERROR_NAMES_MAX + 1);
    cr_assert_str_eq(tr_strerror(TR_EUSER + 5000), "n");
}

Test(crash, a_failing_handler_logs_one_report)
{
    setup();
    tr_error_register(E_OVERDRAFT, "overdraft");
    tr_system *sys = make_system(2);
    tr_ref acct;
    tr_spawn_opts o = {.name = "acct-3"};
    cr_assert_eq(tr_spawn(sys, &account, NULL, &o, &acct), TR_OK);
    cr_assert_eq(tr_post(sys, acct, MSG_WITHDRAW, NULL, 0, -1), TR_OK);
    int reason = 0;
    cr_assert_eq(tr_await_exit(sys, acct, WAIT_MS, &reason), TR_OK);
    cr_assert_eq(reason, E_OVERDRAFT);
    cr_assert(latch_wait(&crash_lines.count, 1, WAIT_MS));
    const char *l = crash_lines.text[0];
    char ref[TR_REF_FORMAT_MAX];
    tr_ref_format(acct, ref, sizeof(ref));
    cr_assert_not_null(strstr(l, "actor 'acct-3'"), "%s", l);
    cr_assert_not_null(strstr(l, ref), "%s", l);
    cr_assert_not_null(strstr(l, "behaviour 'account'"), "%s", l);
    char type[48];
    snprintf(type, sizeof(type), "message type %d", MSG_WITHDRAW);
    cr_assert_not_null(strstr(l, type), "%s", l);
    char why[48];
    snprintf(why, sizeof(why), "reason %d 'overdraft'", E_OVERDRAFT);
    cr_assert_not_null(strstr(l, why), "%s", l);
    tr_system_destroy(sys);
    cr_assert_eq(latch_get(&crash_lines.count), 1, "one report per failure");
    teardown();
}

Test(crash, a_failing_init_is_reported_and_normal_stops_are_not)
{
    setup();
    tr_system *sys = make_system(2);
    tr_ref a, b;
    cr_assert_eq(tr_spawn(sys, &broken, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_spawn(sys, &account, NULL, NULL, &b), TR_OK);
    cr_assert_eq(tr_stop(sys, b), TR_OK);
    cr_assert_eq(tr_await_exit(sys, a, WAIT_MS, NULL), TR_OK);
    cr_assert_eq(tr_await_exit(sys, b, WAIT_MS, NULL), TR_OK);
    tr_system_destroy(sys);
    cr_assert_eq(latch_get(&crash_lines.count), 1);
    cr_assert_not_null(strstr(crash_lines.text[0], "failed in init"), "%s", crash_lines.text[0]);
    cr_assert_not_null(strstr(crash_lines.text[0], "application-defined error"));
    teardown();
}

Test(crash, quiet_crashes_turns_reports_off)
{
    setup();
    tr_system *sys = NULL;
    tr_config cfg = {.workers = 2, .quiet_crashes = true};
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &account, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_post(sys, a, MSG_WITHDRAW, NULL, 0, -1), TR_OK);
    cr_assert_eq(tr_await_exit(sys, a, WAIT_MS, NULL), TR_OK);
    tr_system_destroy(sys);
    cr_assert_eq(latch_get(&crash_lines.count), 0);
    teardown();
}

Test(crash, the_supervisor_reports_its_action)
{
    setup();
    tr_error_register(E_OVERDRAFT, "overdraft");
    tr_system *sys = make_system(2);
    tr_child_spec spec = {.id = "acct-1", .beh = &account, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 3, .period_ms = 60000};
    tr_spawn_opts so = {.name = "bank"};
    tr_ref sup, child;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, &so, &sup), TR_OK);
    cr_assert_eq(tr_supervisor_child(sys, sup, "acct-1", WAIT_MS, &child), TR_OK);
    cr_assert_eq(tr_post(sys, child, MSG_WITHDRAW, NULL, 0, -1), TR_OK);
    cr_assert(latch_wait(&sup_lines.count, 1, WAIT_MS));
    const char *l = sup_lines.text[0];
    cr_assert_not_null(strstr(l, "supervisor 'bank'"), "%s", l);
    cr_assert_not_null(strstr(l, "child 'acct-1'"), "%s", l);
    cr_assert_not_null(strstr(l, "'overdraft'"), "%s", l);
    cr_assert_not_null(strstr(l, "restarting it"), "%s", l);
    cr_assert(latch_wait(&crash_lines.count, 1, WAIT_MS));
    cr_assert_not_null(strstr(crash_lines.text[0], "parent 'bank'"), "%s", crash_lines.text[0]);
    tr_system_destroy(sys);
    teardown();
}

Test(crash, ref_format_is_erlang_style)
{
    char buf[TR_REF_FORMAT_MAX];
    tr_ref r = {.id = (2ull << TR_REF_NODE_SHIFT) | (7ull << 25) | 42};
    cr_assert_str_eq(tr_ref_format(r, buf, sizeof(buf)), "<2.42.7>");
    char small[4];
    cr_assert_str_eq(tr_ref_format(r, small, sizeof(small)), "<2.");
}
