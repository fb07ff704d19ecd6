/* The dashboard's side of the observer: tr_actors_list (the tree with
 * parents, supervisors, names and mailbox depth), /api/actors and
 * /api/overview as JSON over a real HTTP GET, and the page itself. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/observe/http_get.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { MSG_BLOCK = TR_MSG_USER, MSG_FILL };

/* An actor that, on MSG_BLOCK, waits for the test to open its gate, so the
 * messages sent meanwhile stay in its mailbox where the listing sees them. */
typedef struct gate {
    latch entered;
    latch open;
} gate;

static int gated_handle(tr_ctx *self, void *state, const tr_msg *msg)
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

static const tr_behaviour gated = {.handle = gated_handle};

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    (void)msg;
    return TR_OK;
}

static const tr_behaviour idle = {.handle = idle_handle, .name = "idle"};

static const tr_actor_info *find(const tr_actor_info *info, size_t n, tr_ref ref)
{
    for (size_t i = 0; i < n; i++)
        if (tr_ref_equal(info[i].ref, ref))
            return &info[i];
    return NULL;
}

Test(observe_dashboard, actors_list_shows_the_tree)
{
    tr_system *sys = make_system(2);
    tr_child_spec spec = {.id = "worker", .beh = &idle, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000};
    tr_ref sup, child, top, kid;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    cr_assert_eq(tr_supervisor_child(sys, sup, "worker", WAIT_MS, &child), TR_OK);
    tr_spawn_opts top_opts = {.name = "gated-top", .mailbox_capacity = 64};
    cr_assert_eq(tr_spawn(sys, &gated, NULL, &top_opts, &top), TR_OK);
    tr_spawn_opts kid_opts = {.name = "kid", .parent = top};
    cr_assert_eq(tr_spawn(sys, &idle, NULL, &kid_opts, &kid), TR_OK);

    /* Hold `top` in a handler and queue 5 more messages behind it. */
    gate g;
    latch_init(&g.entered);
    latch_init(&g.open);
    gate *gp = &g;
    cr_assert_eq(tr_post(sys, top, MSG_BLOCK, &gp, sizeof(gp), 0), TR_OK);
    cr_assert(latch_wait(&g.entered, 1, WAIT_MS));
    for (int i = 0; i < 5; i++)
        cr_assert_eq(tr_post(sys, top, MSG_FILL, NULL, 0, 0), TR_OK);

    tr_actor_info info[16];
    size_t live = tr_actors_list(sys, info, 16);
    cr_assert_eq(live, 4, "sup, its child, top, kid: %zu", live);
    const tr_actor_info *s = find(info, 4, sup), *c = find(info, 4, child);
    const tr_actor_info *t = find(info, 4, top), *k = find(info, 4, kid);
    cr_assert(s && c && t && k);
    cr_assert(s->supervisor);
    cr_assert_str_eq(s->behaviour, "supervisor");
    cr_assert_str_eq(c->behaviour, "idle");
    cr_assert_str_eq(t->behaviour, "", "a behaviour without a name");
    cr_assert(!c->supervisor);
    cr_assert(tr_ref_is_none(s->parent));
    cr_assert(tr_ref_equal(c->parent, sup));
    cr_assert_str_eq(c->name, "worker", "supervised children are named after their id");
    cr_assert_eq(s->children, 1);
    cr_assert(tr_ref_equal(k->parent, top));
    cr_assert_str_eq(t->name, "gated-top");
    cr_assert_eq(t->state, TR_STATE_RUNNING);
    cr_assert_eq(t->queued, 5);
    cr_assert_eq(t->mailbox_peak, 5, "its turn began with 1; 5 wait now");
    cr_assert_eq(t->capacity, 64);
    cr_assert_eq(t->children, 1);

    /* A listing cut short still counts every live actor. */
    cr_assert_eq(tr_actors_list(sys, info, 2), 4);
    cr_assert_eq(tr_actors_list(NULL, info, 2), 0);

    latch_add(&g.open, 1);
    tr_system_destroy(sys);
    latch_fini(&g.entered);
    latch_fini(&g.open);
}

Test(observe_dashboard, json_and_page_over_http)
{
    tr_system *sys = make_system(1);
    tr_child_spec spec = {.id = "worker", .beh = &idle, .restart = TR_PERMANENT};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000};
    tr_ref sup, child;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    cr_assert_eq(tr_supervisor_child(sys, sup, "worker", WAIT_MS, &child), TR_OK);
    tr_observer *obs = NULL;
    cr_assert_eq(tr_observe_start(sys, NULL, "http://127.0.0.1:0", &obs), TR_OK);
    char url[128];
    cr_assert_eq(tr_observe_url(obs, url, sizeof(url)), TR_OK);

    http_reply a = http_get(url, "/api/actors");
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(a.content_type, "application/json");
    char want[160];
    snprintf(want, sizeof(want), "{\"id\":\"%" PRIu64 "\",\"parent\":\"%" PRIu64 "\"", child.id,
             sup.id);
    cr_assert_not_null(strstr(a.body, want), "%s not in %s", want, a.body);
    cr_assert_not_null(strstr(a.body, "\"supervisor\":true"));
    cr_assert_not_null(strstr(a.body, "\"name\":\"worker\""));
    cr_assert_not_null(strstr(a.body, "\"live\":2,"));

    /* Kill the child: the supervisor restarts it under a new reference. */
    cr_assert_eq(tr_kill(sys, child), TR_OK);
    cr_assert_eq(tr_await_exit(sys, child, WAIT_MS, NULL), TR_OK);
    tr_ref again = TR_REF_NONE;
    for (int i = 0; i < 1000 && (tr_ref_is_none(again) || tr_ref_equal(again, child)); i++)
        tr_supervisor_child(sys, sup, "worker", WAIT_MS, &again); /* an ask: no sleep */
    cr_assert(!tr_ref_is_none(again) && !tr_ref_equal(again, child));
    http_reply b = http_get(url, "/api/actors");
    snprintf(want, sizeof(want), "{\"id\":\"%" PRIu64 "\",\"parent\":\"%" PRIu64 "\"", again.id,
             sup.id);
    cr_assert_not_null(strstr(b.body, want), "%s not in %s", want, b.body);

    http_reply o = http_get(url, "/api/overview");
    cr_assert_eq(o.status, 200);
    cr_assert_not_null(strstr(o.body, "\"actors_alive\":2,"), "%s", o.body);
    cr_assert_not_null(strstr(o.body, "\"node\":null"));

    http_reply page = http_get(url, "/");
    cr_assert_eq(page.status, 200);
    cr_assert_str_eq(page.content_type, "text/html; charset=utf-8");
    cr_assert_not_null(strstr(page.body, "<script src=\"app.js\"></script>"));
    http_reply js = http_get(url, "/app.js");
    cr_assert_eq(js.status, 200);
    cr_assert_not_null(strstr(js.body, "api/actors"));

    http_reply_free(&a);
    http_reply_free(&b);
    http_reply_free(&o);
    http_reply_free(&page);
    http_reply_free(&js);
    tr_observe_stop(obs);
    tr_system_destroy(sys);
}
