/* Out of memory while the observer builds an answer (tests/support/failalloc.h:
 * fail the 1st allocation, then the 2nd, ... until the call needs no more).
 * Each renderer either completes its text or marks it failed (the server
 * then answers 500), never a text cut short that looks whole, never a leak
 * (the ASan flavour's LeakSanitizer); tr_observe_start fails with
 * TR_ENOMEM and leaves nothing behind. The renderers run here on the test
 * thread (the server runs them on NNG's, where failures cannot be armed). */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "observe/render.h"
#include "tests/support/failalloc.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define MAX_STEPS 200

typedef void (*render_fn)(tr_system *sys, tr_textbuf *out);

static void prometheus(tr_system *sys, tr_textbuf *out)
{
    tr_observe_render_prometheus(sys, NULL, 1, out);
}

static void overview(tr_system *sys, tr_textbuf *out) { tr_observe_render_overview(sys, NULL, out); }

static void actors(tr_system *sys, tr_textbuf *out) { tr_observe_render_actors(sys, out); }

/* Renders with the nth allocation failing, for n = 1, 2, ... until one
 * render needs no more; a whole render ends with `tail`. */
static void sweep(const char *what, tr_system *sys, render_fn render, const char *tail)
{
    long nth;
    int failures = 0;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        tr_textbuf out = {0};
        failalloc_arm(nth);
        render(sys, &out);
        bool fired = failalloc_disarm();
        if (out.failed) {
            cr_assert(fired, "%s: failed without a failed allocation (step %ld)", what, nth);
            failures++;
        } else {
            cr_assert_not_null(out.data, "%s: step %ld", what, nth);
            size_t n = strlen(tail);
            cr_assert(out.len >= n && strcmp(out.data + out.len - n, tail) == 0,
                      "%s: a render not marked failed is whole (step %ld)", what, nth);
        }
        tr_textbuf_free(&out);
        if (!fired)
            break;
    }
    cr_assert_lt(nth, MAX_STEPS, "%s: still allocating after %d steps", what, MAX_STEPS);
    cr_assert_gt(failures, 0, "%s: no allocation was ever failed", what);
}

static int idle_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    (void)state;
    (void)msg;
    return TR_OK;
}

static const tr_behaviour idle = {.handle = idle_handle, .name = "idle \"quoted\"\n"};

Test(observe_nomem, renderers_fail_whole)
{
    tr_system *sys = make_system(1);
    tr_ref a[3];
    for (int i = 0; i < 3; i++) {
        tr_spawn_opts o = {.name = i == 0 ? "a\\name" : NULL};
        cr_assert_eq(tr_spawn(sys, &idle, NULL, &o, &a[i]), TR_OK);
    }
    sweep("/metrics", sys, prometheus, "troupe_observe_scrapes_total 1\n");
    sweep("/api/overview", sys, overview, "\"node\":null}\n");
    sweep("/api/actors", sys, actors, "}]}\n");

    /* the JSON escapes what a name may hold */
    tr_textbuf out = {0};
    tr_observe_render_actors(sys, &out);
    cr_assert(!out.failed);
    cr_assert_not_null(strstr(out.data, "\"name\":\"a\\\\name\""), "%s", out.data);
    cr_assert_not_null(strstr(out.data, "\"behaviour\":\"idle \\\"quoted\\\"\\u000a\""), "%s",
                       out.data);
    tr_textbuf_free(&out);
    tr_system_destroy(sys);
}

Test(observe_nomem, start_fails_cleanly)
{
    tr_system *sys = make_system(1);
    long nth;
    int enomems = 0;
    for (nth = 1; nth < MAX_STEPS; nth++) {
        tr_observer *obs = NULL;
        failalloc_arm(nth);
        int rc = tr_observe_start(sys, NULL, "http://127.0.0.1:0", &obs);
        bool fired = failalloc_disarm();
        if (rc == TR_OK) {
            cr_assert_not_null(obs);
            tr_observe_stop(obs);
        } else {
            cr_assert_eq(rc, TR_ENOMEM, "step %ld: %d", nth, rc);
            cr_assert(fired, "TR_ENOMEM without a failed allocation");
            cr_assert_null(obs);
            enomems++;
        }
        if (!fired)
            break;
    }
    cr_assert_gt(enomems, 0);
    tr_system_destroy(sys);
}
