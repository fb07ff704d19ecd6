/* The echo connection actor: each line received is written back. */
#include "echo_server.h"

static int echo_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(tr_sock **)state = arg; /* the connection is init's arg */
    return TR_OK;
}

static int echo_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    tr_sock *s = *(tr_sock **)state;
    if (msg->type == TR_MSG_SOCK_DATA) {
        /* never blocks: a peer that does not read mutes this actor, which
         * then stops reading from it (see socket.h) */
        if (tr_sock_send(s, msg->data, msg->size) != TR_OK)
            tr_sock_close(s); /* the peer is hopeless: let it go */
    }
    /* TR_MSG_SOCK_CLOSED: the actor stops by itself; nothing to free */
    return TR_OK;
}

const tr_behaviour echo_line_behaviour = {
    .init = echo_init,
    .handle = echo_handle,
    .state_size = sizeof(tr_sock *),
};

int echo_listen(tr_system *sys, const char *url, const tr_sock_opts *sock, tr_ref *listener,
                int *port)
{
    tr_listener_config cfg = {.url = url, .conn = &echo_line_behaviour};
    if (sock != NULL)
        cfg.sock = *sock;
    cfg.sock.framing = TR_FRAMING_LINE;
    return tr_listen(sys, &cfg, NULL, listener, port);
}
