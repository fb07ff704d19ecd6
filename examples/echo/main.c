/* Echo: a line-echo TCP server whose connections are actors.
 *
 * What it shows:
 *   - tr_listen: a listener actor spawning one actor per connection;
 *   - received lines arriving as TR_MSG_SOCK_DATA messages, replies written
 *     with tr_sock_send, the end of a connection as TR_MSG_SOCK_CLOSED;
 *   - tr_connect: an actor that dials out and talks to the server.
 *
 *   echo                         listen on a free port, dial it, echo 1000
 *                                lines, check them, exit (scripts/demo.sh)
 *   echo tcp://127.0.0.1:7000    serve until interrupted; try it with
 *                                `nc 127.0.0.1 7000`
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "echo_server.h"

#define LINES 1000

/* ---- a client actor: sends LINES lines, checks each echo ---- */

typedef struct client {
    tr_sock *sock;
    int next_expected;
    int bad;
} client;

typedef struct client_report {
    atomic_int echoed, bad, reason;
} client_report;

static int client_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    client *c = state;
    c->sock = arg;
    char line[32];
    for (int i = 0; i < LINES; i++) { /* queued until the dial completes */
        int n = snprintf(line, sizeof(line), "line %d", i);
        int rc = tr_sock_send(c->sock, line, (size_t)n);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int client_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    client *c = state;
    client_report *r = tr_sock_arg(c->sock);
    if (msg->type == TR_MSG_SOCK_DATA) {
        char want[32];
        int n = snprintf(want, sizeof(want), "line %d", c->next_expected++);
        if (msg->size != (size_t)n || memcmp(msg->data, want, (size_t)n) != 0)
            atomic_fetch_add(&r->bad, 1);
        if (atomic_fetch_add(&r->echoed, 1) + 1 == LINES)
            tr_sock_close(c->sock); /* all back: hang up */
    } else if (msg->type == TR_MSG_SOCK_CLOSED) {
        atomic_store(&r->reason, ((const tr_sock_closed *)msg->data)->reason);
    }
    return TR_OK;
}

static const tr_behaviour client_behaviour = {
    .init = client_init, .handle = client_handle, .state_size = sizeof(client)};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    tr_system *sys;
    int rc = tr_system_create(NULL, &sys);
    if (rc != TR_OK) {
        fprintf(stderr, "echo: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_ref listener;
    int port = 0;
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:0";
    if ((rc = echo_listen(sys, url, NULL, &listener, &port)) != TR_OK) {
        fprintf(stderr, "echo: listen on %s: %s\n", url, tr_strerror(rc));
        tr_system_destroy(sys);
        return 1;
    }
    if (argc > 1) { /* serve until interrupted */
        printf("echo: listening on %s (port %d); Ctrl-C stops\n", url, port);
        fflush(stdout);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!interrupted)
            pause();
        tr_system_destroy(sys);
        return 0;
    }
    char self_url[64];
    snprintf(self_url, sizeof(self_url), "tcp://127.0.0.1:%d", port);
    client_report report = {0};
    tr_sock_opts sock = {.framing = TR_FRAMING_LINE};
    tr_ref c;
    if ((rc = tr_connect(sys, self_url, &client_behaviour, &report, &sock, NULL, &c)) != TR_OK) {
        fprintf(stderr, "echo: connect: %s\n", tr_strerror(rc));
        tr_system_destroy(sys);
        return 1;
    }
    tr_await_exit(sys, c, 30000, NULL);
    int echoed = atomic_load(&report.echoed), bad = atomic_load(&report.bad);
    printf("echo: %d of %d lines echoed through %s, %d wrong, closed: %s\n", echoed, LINES,
           self_url, bad, tr_strerror(atomic_load(&report.reason)));
    tr_system_destroy(sys);
    return echoed == LINES && bad == 0 ? 0 : 1;
}
