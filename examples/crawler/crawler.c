/* The cancellable crawler: at most 8 workers at a time fetch pages (a timer
 * stands for the network); the crawl is cancelled halfway with a token:
 * queued pages are dropped, running workers are stopped, both end with
 * TR_ECANCELLED. Erlang version: docs/erlang/crawler.erl. Shows a spawn
 * group bound to a token, and an inbox receiving the group's results in
 * main. Run: build/default/examples/crawler */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "crawler: failed: %s\n", #c); exit(1); } } while (0)
#define PAGES 40
#define SLOTS 8

enum { FETCHED = TR_MSG_USER };

static int fetch_init(tr_ctx *self, void *state, void *page) {
    (void)state;
    return tr_send_after(tr_ctx_system(self), tr_self(self), FETCHED, NULL, 0, 1 + (uintptr_t)page % 5, NULL);
}
static int fetch_handle(tr_ctx *self, void *state, const tr_msg *msg) {
    (void)state, (void)msg;
    tr_stop_self(self); /* fetched */
    return TR_OK;
}
static const tr_behaviour fetcher = {.init = fetch_init, .handle = fetch_handle, .name = "fetcher"};

int main(void) {
    tr_system *sys;
    tr_inbox *in;
    tr_token *crawl;
    tr_group *g;
    CHECK(tr_system_create(NULL, &sys) == TR_OK && tr_inbox_create(sys, 0, &in) == TR_OK);
    CHECK(tr_token_create(sys, NULL, &crawl) == TR_OK);
    CHECK(tr_group_create(sys, SLOTS, tr_inbox_ref(in), &g) == TR_OK && tr_group_bind(g, crawl) == TR_OK);
    for (uintptr_t page = 1; page <= PAGES; page++)
        CHECK(tr_group_spawn(g, &fetcher, (void *)page, NULL) == TR_OK);
    for (int done = 0; done < PAGES / 2; done++) { /* halfway */
        tr_inbox_msg *m;
        CHECK(tr_inbox_receive(in, TR_MSG_GROUP_DONE, 0, -1, &m) == TR_OK);
        tr_inbox_msg_free(m);
    }
    tr_token_cancel(crawl);
    CHECK(tr_group_wait(g, -1) == TR_OK);
    size_t added, ended, cancelled;
    tr_group_counts(g, &added, &ended, &cancelled);
    printf("fetched %zu, cancelled %zu\n", ended - cancelled, cancelled);
    CHECK(ended - cancelled >= PAGES / 2 && ended == PAGES);
    tr_group_destroy(g);
    tr_token_destroy(crawl);
    tr_inbox_destroy(in);
    tr_system_destroy(sys);
    return 0;
}
