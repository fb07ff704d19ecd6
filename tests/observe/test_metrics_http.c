/* The observer's /metrics endpoint, read with a real HTTP GET (NNG's HTTP
 * client over loopback TCP): the page is Prometheus text, and its figures
 * follow what the system does (spawns, messages, dead letters, the node). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/observe/http_get.h"
#include "tests/support/latch.h"
#include "tests/support/members.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_ECHO = TR_MSG_USER };

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)state;
    if (msg->type == MSG_ECHO)
        return tr_reply(self, msg, msg->data, msg->size);
    return TR_OK;
}

static const tr_behaviour echo = {.handle = echo_handle};

static uint64_t messages_sum(const char *page, uint32_t workers)
{
    uint64_t n = 0;
    for (uint32_t w = 0; w < workers; w++) {
        char series[96];
        snprintf(series, sizeof(series), "troupe_worker_messages_total{worker=\"%u\"}", w);
        n += prom_value(page, series);
    }
    return n;
}

static tr_observer *start_observer(tr_system *sys, tr_node *node, char *url, size_t len)
{
    tr_observer *obs = NULL;
    cr_assert_eq(tr_observe_start(sys, node, "http://127.0.0.1:0", &obs), TR_OK);
    cr_assert_eq(tr_observe_url(obs, url, len), TR_OK);
    cr_assert(strncmp(url, "http://127.0.0.1:", 17) == 0, "url %s", url);
    cr_assert_neq(atoi(url + 17), 0, "port 0 was resolved: %s", url);
    return obs;
}

Test(observe_metrics, bad_arguments)
{
    tr_system *sys = make_system(1);
    tr_observer *obs = NULL;
    cr_assert_eq(tr_observe_start(NULL, NULL, "http://127.0.0.1:0", &obs), TR_EINVAL);
    cr_assert_eq(tr_observe_start(sys, NULL, NULL, &obs), TR_EINVAL);
    cr_assert_eq(tr_observe_start(sys, NULL, "http://127.0.0.1:0", NULL), TR_EINVAL);
    cr_assert_eq(tr_observe_start(sys, NULL, "tcp://127.0.0.1:0", &obs), TR_EADDR);
    cr_assert_eq(tr_observe_start(sys, NULL, "not a url", &obs), TR_EADDR);
    cr_assert_null(obs);
    tr_observe_stop(NULL);
    cr_assert_eq(tr_observe_url(NULL, (char[8]){0}, 8), TR_EINVAL);
    tr_system_destroy(sys);
}

Test(observe_metrics, figures_follow_the_system)
{
    tr_system *sys = make_system(2);
    char url[128];
    tr_observer *obs = start_observer(sys, NULL, url, sizeof(url));
    char small[8];
    cr_assert_eq(tr_observe_url(obs, small, sizeof(small)), TR_ETOOBIG);

    http_reply r1 = http_get(url, "/metrics");
    cr_assert_eq(r1.err, 0, "GET failed: %s", strerror(r1.err));
    cr_assert_eq(r1.status, 200);
    cr_assert_str_eq(r1.content_type, "text/plain; version=0.0.4; charset=utf-8");
    cr_assert_not_null(strstr(r1.body, "# TYPE troupe_actors_spawned_total counter\n"));
    cr_assert_not_null(strstr(r1.body, "# TYPE troupe_worker_queue_depth gauge\n"));
    cr_assert_null(strstr(r1.body, "troupe_node_info"), "no node, no node figures");
    cr_assert_eq(prom_value(r1.body, "troupe_workers"), 2);
    cr_assert_eq(prom_value(r1.body, "troupe_observe_scrapes_total"), 1);
    uint64_t spawned1 = prom_value(r1.body, "troupe_actors_spawned_total");
    uint64_t alive1 = prom_value(r1.body, "troupe_actors_alive");
    uint64_t msgs1 = messages_sum(r1.body, 2);
    uint64_t dead1 = prom_value(r1.body, "troupe_dead_letters_total{reason=\"dead\"}");

    /* 10 actors: each answers 3 asks, then stops; then one post to a dead one. */
    tr_ref a[10];
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(tr_spawn(sys, &echo, NULL, NULL, &a[i]), TR_OK);
        for (int k = 0; k < 3; k++) {
            void *reply = NULL;
            size_t n = 0;
            cr_assert_eq(tr_ask_wait(sys, a[i], MSG_ECHO, "hi", 2, WAIT_MS, &reply, &n), TR_OK);
            free(reply);
        }
    }
    http_reply r2 = http_get(url, "/metrics");
    cr_assert_eq(r2.status, 200);
    cr_assert_geq(prom_value(r2.body, "troupe_actors_spawned_total"), spawned1 + 10,
                  "(asks may spawn helpers of their own)");
    cr_assert_eq(prom_value(r2.body, "troupe_actors_alive"), alive1 + 10);
    cr_assert_geq(messages_sum(r2.body, 2), msgs1 + 30);
    cr_assert_eq(prom_value(r2.body, "troupe_observe_scrapes_total"), 2);

    for (int i = 0; i < 10; i++) {
        cr_assert_eq(tr_stop(sys, a[i]), TR_OK);
        cr_assert_eq(tr_await_exit(sys, a[i], WAIT_MS, NULL), TR_OK);
    }
    cr_assert_eq(tr_post(sys, a[0], MSG_ECHO, "x", 1, 0), TR_EDEAD);
    http_reply r3 = http_get(url, "/metrics");
    cr_assert_eq(r3.status, 200);
    cr_assert_eq(prom_value(r3.body, "troupe_actors_alive"), alive1);
    cr_assert_eq(prom_value(r3.body, "troupe_dead_letters_total{reason=\"dead\"}"), dead1 + 1);

    http_reply r4 = http_get(url, "/no-such-page");
    cr_assert_eq(r4.err, 0);
    cr_assert_eq(r4.status, 404);

    http_reply_free(&r1);
    http_reply_free(&r2);
    http_reply_free(&r3);
    http_reply_free(&r4);
    tr_observe_stop(obs);
    http_reply gone = http_get(url, "/metrics");
    cr_assert_neq(gone.err, 0, "the server still answers after tr_observe_stop");
    tr_system_destroy(sys);
}

Test(observe_metrics, node_figures)
{
    tr_system *sys = make_system(1);
    tr_node *node = NULL;
    tr_node_opts o = {.name = "observed", .cookie = "c"};
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    cr_assert_eq(tr_node_listen(node, "tcp://127.0.0.1:0", NULL, 0), TR_OK);
    char url[128];
    tr_observer *obs = start_observer(sys, node, url, sizeof(url));

    http_reply r = http_get(url, "/metrics");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(prom_value(r.body, "troupe_node_info{node=\"observed\"}"), 1);
    cr_assert_eq(prom_value(r.body, "troupe_node_peers_up"), 0);
    cr_assert_not_null(strstr(r.body, "troupe_node_bytes_total{direction=\"in\"} "));
    http_reply_free(&r);

    tr_observe_stop(obs);
    tr_node_stop(node);
    tr_system_destroy(sys);
}

Test(observe_metrics, system_option_and_environment)
{
    /* tr_config.observe_url: the system serves itself from create to destroy. */
    tr_system *sys = NULL;
    tr_config cfg = {.workers = 1, .observe_url = "http://127.0.0.1:0"};
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    tr_observer *obs = tr_system_observer(sys);
    cr_assert_not_null(obs);
    char url[128];
    cr_assert_eq(tr_observe_url(obs, url, sizeof(url)), TR_OK);
    http_reply r = http_get(url, "/metrics");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(prom_value(r.body, "troupe_workers"), 1);
    http_reply_free(&r);
    tr_system_destroy(sys);
    http_reply gone = http_get(url, "/metrics");
    cr_assert_neq(gone.err, 0, "tr_system_destroy stops the observer");

    /* A bad URL in the option fails the creation. */
    cfg.observe_url = "tcp://127.0.0.1:0";
    sys = NULL;
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_EADDR);
    cr_assert_null(sys);

    /* TROUPE_OBSERVE: the same without code; a bad one is only logged. */
    cfg.observe_url = NULL;
    cr_assert_eq(setenv("TROUPE_OBSERVE", "nonsense", 1), 0);
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    cr_assert_null(tr_system_observer(sys));
    tr_system_destroy(sys);
    cr_assert_eq(setenv("TROUPE_OBSERVE", "http://127.0.0.1:0", 1), 0);
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    cr_assert_not_null(tr_system_observer(sys));
    tr_system_destroy(sys);
    unsetenv("TROUPE_OBSERVE");
    cr_assert_null(tr_system_observer(NULL));
}

/* ---- per-peer figures (tr_node_members) ---- */

static latch sunk, left;

static int sink_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type == MSG_ECHO)
        latch_add(&sunk, 1);
    return TR_OK;
}

static const tr_behaviour sink = {.handle = sink_handle};

static int events_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    if (msg->type == TR_MSG_NODE_DOWN)
        latch_add(&left, 1);
    return TR_OK;
}

static const tr_behaviour events = {.handle = events_handle};

static uint64_t peer_value(const char *page, const char *family, const char *peer,
                           const char *extra)
{
    char series[160];
    snprintf(series, sizeof(series), "%s{peer=\"%s\"%s}", family, peer, extra);
    return prom_value(page, series);
}

Test(observe_metrics, per_peer_figures)
{
    latch_init(&sunk);
    latch_init(&left);
    tr_system *sa = make_system(1), *sb = make_system(1);
    tr_node *a = NULL, *b = NULL;
    tr_node_opts oa = {.name = "A", .cookie = "c", .heartbeat_ms = 20};
    tr_node_opts ob = {.name = "B", .cookie = "c", .heartbeat_ms = 20};
    cr_assert_eq(tr_node_start(sa, &oa, &a), TR_OK);
    cr_assert_eq(tr_node_start(sb, &ob, &b), TR_OK);
    char listen[128];
    cr_assert_eq(tr_node_listen(a, "tcp://127.0.0.1:0", listen, sizeof(listen)), TR_OK);
    tr_ref sinker, watcher;
    cr_assert_eq(tr_spawn(sa, &sink, NULL, NULL, &sinker), TR_OK);
    cr_assert_eq(tr_register(sa, "sink", sinker), TR_OK);
    cr_assert_eq(tr_spawn(sa, &events, NULL, NULL, &watcher), TR_OK);
    cr_assert_eq(tr_node_subscribe(a, watcher, 0), TR_OK);
    cr_assert_eq(tr_node_connect(b, listen, WAIT_MS, NULL, 0), TR_OK);
    char url[128];
    tr_observer *obs = start_observer(sa, a, url, sizeof(url));

    /* 20 messages of 1000 bytes from B to A's sink. */
    tr_ref remote;
    cr_assert_eq(tr_lookup(sb, "A/sink", WAIT_MS, &remote), TR_OK);
    char payload[1000];
    memset(payload, 'x', sizeof(payload));
    for (int i = 0; i < 20; i++)
        cr_assert_eq(tr_post(sb, remote, MSG_ECHO, payload, sizeof(payload), WAIT_MS), TR_OK);
    cr_assert(latch_wait(&sunk, 20, WAIT_MS));

    /* The page's counters lie between two snapshots taken around it. */
    tr_member before = member_of(a, "B");
    http_reply r = http_get(url, "/metrics");
    tr_member after = member_of(a, "B");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(before.state, TR_MEMBER_UP);
    cr_assert_eq(peer_value(r.body, "troupe_peer_state", "B", ",state=\"up\""), 1);
    cr_assert_eq(peer_value(r.body, "troupe_peer_state", "B", ",state=\"down\""), 0);
    cr_assert_eq(peer_value(r.body, "troupe_peer_state", "B", ",state=\"left\""), 0);
    cr_assert_geq(before.bytes_in, 20 * sizeof(payload), "20 KB came from B: %lu",
                  (unsigned long)before.bytes_in);
    uint64_t bytes_in = peer_value(r.body, "troupe_peer_bytes_total", "B", ",direction=\"in\"");
    uint64_t frames_in = peer_value(r.body, "troupe_peer_frames_total", "B", ",direction=\"in\"");
    uint64_t frames_out = peer_value(r.body, "troupe_peer_frames_total", "B", ",direction=\"out\"");
    cr_assert(bytes_in >= before.bytes_in && bytes_in <= after.bytes_in);
    cr_assert(frames_in >= before.frames_in && frames_in <= after.frames_in && frames_in >= 1);
    cr_assert(frames_out >= before.frames_out && frames_out <= after.frames_out);
    uint64_t env_in = peer_value(r.body, "troupe_peer_envelopes_total", "B", ",direction=\"in\"");
    cr_assert_geq(before.envelopes_in, 20, "B's 20 messages: %lu",
                  (unsigned long)before.envelopes_in);
    cr_assert(env_in >= before.envelopes_in && env_in <= after.envelopes_in);
    tr_member b_view = member_of(b, "A");
    cr_assert_geq(b_view.envelopes_out, 20, "B sent 20: %lu", (unsigned long)b_view.envelopes_out);
    http_reply_free(&r);

    http_reply o = http_get(url, "/api/overview");
    cr_assert_eq(o.status, 200);
    cr_assert_not_null(strstr(o.body, "\"peers\":[{\"name\":\"B\",\"state\":\"up\",\"hidden\":false,"),
                       "%s", o.body);
    http_reply_free(&o);

    /* A pings B once a second: wait for a round trip (the wait only turns a
     * hang into a failure), then the page shows it in seconds. */
    struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
    for (int i = 0; i < WAIT_MS / 10 && member_of(a, "B").rtt_us == 0; i++)
        nanosleep(&pause, NULL);
    uint32_t rtt_us = member_of(a, "B").rtt_us;
    cr_assert_gt(rtt_us, 0, "no round trip measured");
    http_reply t = http_get(url, "/metrics");
    const char *rtt = strstr(t.body, "troupe_peer_rtt_seconds{peer=\"B\"} ");
    cr_assert_not_null(rtt, "%s", t.body);
    double seconds = strtod(rtt + strlen("troupe_peer_rtt_seconds{peer=\"B\"} "), NULL);
    cr_assert(seconds > 0 && seconds < 10, "rtt %f s", seconds);
    /* the failure detector's view of B (up, heard from) */
    const char *phi = strstr(t.body, "troupe_peer_phi{peer=\"B\"} ");
    cr_assert_not_null(phi, "%s", t.body);
    cr_assert_geq(strtod(phi + strlen("troupe_peer_phi{peer=\"B\"} "), NULL), 0);
    const char *heard = strstr(t.body, "troupe_peer_last_heard_seconds{peer=\"B\"} ");
    cr_assert_not_null(heard, "%s", t.body);
    cr_assert_geq(strtod(heard + strlen("troupe_peer_last_heard_seconds{peer=\"B\"} "), NULL), 0);
    cr_assert_not_null(strstr(t.body, "# TYPE troupe_peer_phi gauge\n"));
    http_reply_free(&t);
    http_reply o2 = http_get(url, "/api/overview");
    cr_assert_not_null(strstr(o2.body, "\"phi\":"), "%s", o2.body);
    cr_assert_not_null(strstr(o2.body, "\"heard_ago_ms\":"), "%s", o2.body);
    http_reply_free(&o2);

    /* B leaves: A sees it LEFT (its NODE_DOWN comes after the state changed). */
    cr_assert_eq(tr_node_leave(b, WAIT_MS), TR_OK);
    cr_assert(latch_wait(&left, 1, WAIT_MS));
    http_reply l = http_get(url, "/metrics");
    cr_assert_eq(peer_value(l.body, "troupe_peer_state", "B", ",state=\"left\""), 1);
    cr_assert_eq(peer_value(l.body, "troupe_peer_state", "B", ",state=\"up\""), 0);
    cr_assert_null(strstr(l.body, "troupe_peer_phi{peer=\"B\"}"), "phi only for peers up");
    http_reply_free(&l);

    tr_observe_stop(obs);
    tr_node_stop(b);
    tr_node_stop(a);
    tr_system_destroy(sb);
    tr_system_destroy(sa);
    latch_fini(&sunk);
    latch_fini(&left);
}
