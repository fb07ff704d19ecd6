/* The runtime's own counters behind /metrics: actors ended by the class of
 * their exit reason, mailbox high-water marks, supervisor restarts and
 * escalations, the blocking pool. Each test makes a known number of each
 * thing happen, waits for it on monitors and latches, and checks the exact
 * change in tr_metrics and on the /metrics page (and per supervisor, in
 * tr_supervisors_list, tr_actors_list, /metrics and /api/actors). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/observe/http_get.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_QUIT = TR_MSG_USER, MSG_FAIL, MSG_BLOCK, MSG_COUNT, MSG_CALLS, MSG_RESULT };

/* ---- actors that end as they are told ---- */

static int mortal_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_QUIT)
        tr_stop_self(self);
    if (msg->type == MSG_FAIL)
        return TR_EUSER + 7;
    return TR_OK;
}

static const tr_behaviour mortal = {.handle = mortal_handle};

/* Counts the DOWNs it gets: a DOWN is sent after its actor was counted. */
static latch downs;

static int watcher_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type == TR_MSG_DOWN)
        latch_add(&downs, 1);
    return TR_OK;
}

static const tr_behaviour watcher = {.handle = watcher_handle};

static tr_ref spawn_watched(tr_system *sys, tr_ref w)
{
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &mortal, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_monitor(sys, w, a, NULL), TR_OK);
    return a;
}

static tr_observer *observe(tr_system *sys, char *url, size_t len)
{
    tr_observer *obs = NULL;
    cr_assert_eq(tr_observe_start(sys, NULL, "http://127.0.0.1:0", &obs), TR_OK);
    cr_assert_eq(tr_observe_url(obs, url, len), TR_OK);
    return obs;
}

static uint64_t ended_on_page(const char *page, const char *reason)
{
    char series[96];
    snprintf(series, sizeof(series), "troupe_actors_ended_total{reason=\"%s\"}", reason);
    return prom_value(page, series);
}

Test(observe_figures, actors_ended_by_reason)
{
    latch_init(&downs);
    tr_config cfg = {.workers = 2, .quiet_crashes = true};
    tr_system *sys = NULL;
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));
    tr_ref w;
    cr_assert_eq(tr_spawn(sys, &watcher, NULL, NULL, &w), TR_OK);
    tr_metrics before;
    tr_metrics_get(sys, &before);
    http_reply r0 = http_get(url, "/metrics");
    cr_assert_eq(r0.status, 200);

    /* 2 normal, 1 shutdown, 3 killed, 1 cancelled, 2 crashed */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tr_post(sys, spawn_watched(sys, w), MSG_QUIT, NULL, 0, 0), TR_OK);
    cr_assert_eq(tr_stop(sys, spawn_watched(sys, w)), TR_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tr_kill(sys, spawn_watched(sys, w)), TR_OK);
    tr_token *tok = NULL;
    cr_assert_eq(tr_token_create(sys, NULL, &tok), TR_OK);
    cr_assert_eq(tr_token_bind(tok, spawn_watched(sys, w)), TR_OK);
    tr_token_cancel(tok);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tr_post(sys, spawn_watched(sys, w), MSG_FAIL, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&downs, 9, WAIT_MS), "9 DOWNs, got %ld", latch_get(&downs));

    tr_metrics after;
    tr_metrics_get(sys, &after);
    static const uint64_t want[TR_END_KINDS] = {
        [TR_END_NORMAL] = 2, [TR_END_SHUTDOWN] = 1, [TR_END_KILLED] = 3,
        [TR_END_CANCELLED] = 1, [TR_END_CRASHED] = 2};
    for (int k = 0; k < TR_END_KINDS; k++)
        cr_assert_eq(after.actors_ended[k] - before.actors_ended[k], want[k], "kind %d: %lu", k,
                     (unsigned long)(after.actors_ended[k] - before.actors_ended[k]));
    cr_assert_eq(after.actors_alive, before.actors_alive);

    http_reply r1 = http_get(url, "/metrics");
    cr_assert_eq(r1.status, 200);
    cr_assert_not_null(strstr(r1.body, "# TYPE troupe_actors_ended_total counter\n"));
    static const char *const labels[TR_END_KINDS] = {"normal", "shutdown", "killed",
                                                    "cancelled", "crashed"};
    for (int k = 0; k < TR_END_KINDS; k++)
        cr_assert_eq(ended_on_page(r1.body, labels[k]) - ended_on_page(r0.body, labels[k]),
                     want[k], "%s", labels[k]);

    cr_assert_eq(tr_end_kind_of(TR_OK), TR_END_NORMAL);
    cr_assert_eq(tr_end_kind_of(TR_EINTENSITY), TR_END_CRASHED);
    cr_assert_eq(tr_end_kind_of(TR_EDEADLINE), TR_END_CRASHED);
    cr_assert_eq(tr_end_kind_of(-5), TR_END_CRASHED);

    http_reply_free(&r0);
    http_reply_free(&r1);
    tr_token_destroy(tok);
    tr_observe_stop(obs);
    tr_system_destroy(sys);
    latch_fini(&downs);
}

/* ---- mailbox high-water marks ---- */

/* Holds the only worker in a handler until the test opens the gate. */
typedef struct gate {
    latch entered, open;
} gate;

static int gate_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type == MSG_BLOCK) {
        gate *g = *(gate *const *)msg->data;
        latch_add(&g->entered, 1);
        latch_wait(&g->open, 1, WAIT_MS);
    }
    return TR_OK;
}

static const tr_behaviour gatekeeper = {.handle = gate_handle};

static latch counted;

static int counter_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type == MSG_COUNT)
        latch_add(&counted, 1);
    return TR_OK;
}

static const tr_behaviour counter = {.handle = counter_handle};

Test(observe_figures, mailbox_high_water)
{
    latch_init(&counted);
    tr_system *sys = make_system(1);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));
    tr_ref keeper, target;
    cr_assert_eq(tr_spawn(sys, &gatekeeper, NULL, NULL, &keeper), TR_OK);
    tr_spawn_opts opts = {.mailbox_capacity = 100};
    cr_assert_eq(tr_spawn(sys, &counter, NULL, &opts, &target), TR_OK);

    /* The only worker is held, so the target's 50 messages wait in its
     * mailbox; its next turn begins with all of them there. */
    gate g;
    latch_init(&g.entered);
    latch_init(&g.open);
    gate *gp = &g;
    cr_assert_eq(tr_post(sys, keeper, MSG_BLOCK, &gp, sizeof(gp), 0), TR_OK);
    cr_assert(latch_wait(&g.entered, 1, WAIT_MS));
    for (int i = 0; i < 50; i++)
        cr_assert_eq(tr_post(sys, target, MSG_COUNT, NULL, 0, 0), TR_OK);
    tr_actor_info info[8];
    size_t live = tr_actors_list(sys, info, 8);
    cr_assert_eq(live, 2);
    for (size_t i = 0; i < live; i++)
        if (tr_ref_equal(info[i].ref, target))
            cr_assert_eq(info[i].mailbox_peak, 50, "waiting: at least what it holds now");
    latch_add(&g.open, 1);
    cr_assert(latch_wait(&counted, 50, WAIT_MS));

    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.mailbox_high_water, 50, "the deepest mailbox held 50: %lu",
                 (unsigned long)m.mailbox_high_water);
    live = tr_actors_list(sys, info, 8);
    cr_assert_eq(live, 2);
    bool seen = false;
    for (size_t i = 0; i < live; i++) {
        if (tr_ref_equal(info[i].ref, target)) {
            cr_assert_eq(info[i].mailbox_peak, 50);
            seen = true;
        } else {
            /* sampled as a turn begins: 1, or 0 when MSG_BLOCK arrived
             * during the gatekeeper's first turn (its init) and was taken
             * in that same turn */
            cr_assert_leq(info[i].mailbox_peak, 1, "the gatekeeper only ever held its MSG_BLOCK: %u",
                          (unsigned)info[i].mailbox_peak);
        }
    }
    cr_assert(seen);
    http_reply r = http_get(url, "/metrics");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(prom_value(r.body, "troupe_mailbox_high_water"), 50);
    http_reply a = http_get(url, "/api/actors");
    cr_assert_eq(a.status, 200);
    cr_assert_not_null(strstr(a.body, "\"queued\":0,\"peak\":50,\"capacity\":100,"), "%s", a.body);

    http_reply_free(&r);
    http_reply_free(&a);
    tr_observe_stop(obs);
    tr_system_destroy(sys);
    latch_fini(&g.entered);
    latch_fini(&g.open);
    latch_fini(&counted);
}

/* ---- supervisors ---- */

static latch inits;

static int child_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    (void)state;
    (void)arg;
    latch_add(&inits, 1);
    return TR_OK;
}

static const tr_behaviour child = {.init = child_init, .handle = mortal_handle};

Test(observe_figures, supervisor_restarts_and_escalations)
{
    latch_init(&inits);
    tr_config cfg = {.workers = 2, .quiet_crashes = true};
    tr_system *sys = NULL;
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));
    tr_child_spec spec = {.id = "c", .name = "the-child", .beh = &child};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 2, .period_ms = 3600000};
    tr_ref sup, calm;
    tr_spawn_opts crashy_opts = {.name = "crashy"};
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, &crashy_opts, &sup), TR_OK);
    cr_assert(latch_wait(&inits, 1, WAIT_MS));
    /* a second supervisor whose child never fails: its own count stays 0 */
    tr_child_spec calm_spec = {.id = "d", .beh = &child};
    tr_spawn_opts calm_opts = {.name = "calm"};
    cr_assert_eq(tr_supervisor_start(sys, &flags, &calm_spec, 1, &calm_opts, &calm), TR_OK);
    cr_assert(latch_wait(&inits, 2, WAIT_MS));

    /* Two crashes: two restarts (each decided before the new init runs). */
    for (int i = 0; i < 2; i++) {
        tr_ref cur;
        cr_assert_eq(tr_whereis(sys, "the-child", &cur), TR_OK);
        cr_assert_eq(tr_post(sys, cur, MSG_FAIL, NULL, 0, 0), TR_OK);
        cr_assert(latch_wait(&inits, 3 + i, WAIT_MS));
    }
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.supervisor_restarts, 2);
    cr_assert_eq(m.supervisor_escalations, 0);
    /* each supervisor's own count: in the listings and on /metrics by name */
    tr_actor_info info[8];
    cr_assert_eq(tr_supervisors_list(sys, info, 8), 2, "the two supervisors, not their children");
    for (int i = 0; i < 2; i++) {
        cr_assert(info[i].supervisor);
        bool is_crashy = tr_ref_equal(info[i].ref, sup);
        cr_assert(is_crashy || tr_ref_equal(info[i].ref, calm));
        cr_assert_str_eq(info[i].name, is_crashy ? "crashy" : "calm");
        cr_assert_eq(info[i].restarts, is_crashy ? 2u : 0u);
    }
    size_t live = tr_actors_list(sys, info, 8);
    cr_assert_eq(live, 4);
    for (size_t i = 0; i < live; i++)
        cr_assert_eq(info[i].restarts, tr_ref_equal(info[i].ref, sup) ? 2u : 0u);
    char series[160];
    http_reply r1 = http_get(url, "/metrics");
    cr_assert_eq(prom_value(r1.body, "troupe_supervisor_restarts_total"), 2);
    cr_assert_eq(prom_value(r1.body, "troupe_supervisor_escalations_total"), 0);
    cr_assert_eq(prom_value(r1.body, "troupe_supervisors"), 2);
    snprintf(series, sizeof(series),
             "troupe_supervisor_child_restarts_total{supervisor=\"crashy\",ref=\"%" PRIu64 "\"}",
             sup.id);
    cr_assert_eq(prom_value(r1.body, series), 2);
    char series_calm[160];
    snprintf(series_calm, sizeof(series_calm),
             "troupe_supervisor_child_restarts_total{supervisor=\"calm\",ref=\"%" PRIu64 "\"}",
             calm.id);
    cr_assert_eq(prom_value(r1.body, series_calm), 0);
    http_reply a1 = http_get(url, "/api/actors");
    snprintf(series, sizeof(series), "{\"id\":\"%" PRIu64 "\",", sup.id);
    const char *entry = strstr(a1.body, series);
    cr_assert_not_null(entry, "%s", a1.body);
    const char *restarts = strstr(entry, "\"restarts\":");
    cr_assert(restarts != NULL && strncmp(restarts, "\"restarts\":2,", 13) == 0, "%s", entry);

    /* The third within the period exceeds the intensity of 2. */
    tr_ref cur;
    cr_assert_eq(tr_whereis(sys, "the-child", &cur), TR_OK);
    cr_assert_eq(tr_post(sys, cur, MSG_FAIL, NULL, 0, 0), TR_OK);
    int reason = TR_OK;
    cr_assert_eq(tr_await_exit(sys, sup, WAIT_MS, &reason), TR_OK);
    cr_assert_eq(reason, TR_EINTENSITY);
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.supervisor_restarts, 2, "no restart after the intensity was exceeded");
    cr_assert_eq(m.supervisor_escalations, 1);
    http_reply r2 = http_get(url, "/metrics");
    cr_assert_eq(prom_value(r2.body, "troupe_supervisor_restarts_total"), 2);
    cr_assert_eq(prom_value(r2.body, "troupe_supervisor_escalations_total"), 1);
    /* the supervisor that gave up has ended: its series is gone, calm's stays */
    cr_assert_eq(prom_value(r2.body, "troupe_supervisors"), 1);
    cr_assert_null(strstr(r2.body, "{supervisor=\"crashy\""), "%s", r2.body);
    cr_assert_eq(prom_value(r2.body, series_calm), 0);
    http_reply o = http_get(url, "/api/overview");
    cr_assert_not_null(strstr(o.body, "\"supervisor_restarts\":2,\"supervisor_escalations\":1,"),
                       "%s", o.body);

    http_reply_free(&r1);
    http_reply_free(&r2);
    http_reply_free(&a1);
    http_reply_free(&o);
    tr_observe_stop(obs);
    tr_system_destroy(sys);
    latch_fini(&inits);
}

/* ---- the blocking pool ---- */

static latch calls_entered, calls_open, calls_queued, results;
static int run_rc[2]; /* what tr_blocking_run returned (asserted on the test thread) */

static void *blocking_wait(void *arg)
{
    latch_add(&calls_entered, 1);
    latch_wait(&calls_open, 1, WAIT_MS);
    return arg;
}

static int caller_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_CALLS) {
        for (int i = 0; i < 2; i++)
            run_rc[i] = tr_blocking_run(self, blocking_wait, NULL, NULL, MSG_RESULT, NULL);
        latch_add(&calls_queued, 2);
    } else if (msg->type == MSG_RESULT) {
        latch_add(&results, 1);
    }
    return TR_OK;
}

static const tr_behaviour caller = {.handle = caller_handle};

Test(observe_figures, blocking_pool)
{
    latch_init(&calls_entered);
    latch_init(&calls_open);
    latch_init(&calls_queued);
    latch_init(&results);
    tr_config cfg = {.workers = 1, .blocking_threads_max = 1};
    tr_system *sys = NULL;
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));
    http_reply r0 = http_get(url, "/metrics");
    uint64_t calls0 = prom_value(r0.body, "troupe_blocking_calls_total");

    /* One thread at most: the first call holds it, the second waits. */
    tr_ref a;
    cr_assert_eq(tr_spawn(sys, &caller, NULL, NULL, &a), TR_OK);
    cr_assert_eq(tr_post(sys, a, MSG_CALLS, NULL, 0, 0), TR_OK);
    cr_assert(latch_wait(&calls_queued, 2, WAIT_MS));
    cr_assert_eq(run_rc[0], TR_OK);
    cr_assert_eq(run_rc[1], TR_OK);
    cr_assert(latch_wait(&calls_entered, 1, WAIT_MS));
    http_reply r1 = http_get(url, "/metrics");
    cr_assert_eq(r1.status, 200);
    cr_assert_eq(prom_value(r1.body, "troupe_blocking_threads"), 1);
    cr_assert_eq(prom_value(r1.body, "troupe_blocking_idle_threads"), 0);
    cr_assert_eq(prom_value(r1.body, "troupe_blocking_queue_depth"), 1);
    http_reply o = http_get(url, "/api/overview");
    cr_assert_not_null(strstr(o.body, "\"blocking\":{\"threads\":1,\"idle\":0,\"queued\":1,"),
                       "%s", o.body);

    latch_add(&calls_open, 1);
    cr_assert(latch_wait(&results, 2, WAIT_MS));
    http_reply r2 = http_get(url, "/metrics");
    cr_assert_eq(prom_value(r2.body, "troupe_blocking_calls_total"), calls0 + 2);
    cr_assert_eq(prom_value(r2.body, "troupe_blocking_queue_depth"), 0);

    http_reply_free(&r0);
    http_reply_free(&r1);
    http_reply_free(&r2);
    http_reply_free(&o);
    tr_observe_stop(obs);
    tr_system_destroy(sys);
    latch_fini(&calls_entered);
    latch_fini(&calls_open);
    latch_fini(&calls_queued);
    latch_fini(&results);
}
