/* epoll_echo: the baseline for Troupe's socket echo (bench/echo.sh). A
 * minimal line-echo server as one writes it in C without a framework: one
 * thread, epoll edge-triggered, non-blocking sockets, TCP_NODELAY; each
 * read is scanned for complete lines, which are written back at once, with
 * a per-connection output buffer (and EPOLLOUT) only when the socket is
 * full; a partial line waits in a per-connection input buffer.
 *
 *   epoll_echo PORT      (0 = any; prints "listening on PORT") */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LINE 65536

typedef struct client {
    int fd;
    char *in;       /* a partial line */
    size_t in_len;
    char *out;      /* unsent echo bytes */
    size_t out_len, out_cap;
} client;

static void drop(client *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Writes what it can; keeps the rest. False when the peer is gone. */
static int send_or_keep(client *c, const char *p, size_t n)
{
    if (c->out_len == 0) {
        while (n > 0) {
            ssize_t w = write(c->fd, p, n);
            if (w < 0) {
                if (errno == EAGAIN)
                    break;
                return 0;
            }
            p += w;
            n -= (size_t)w;
        }
    }
    if (n > 0) {
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap * 2 : 65536;
            while (cap < c->out_len + n)
                cap *= 2;
            char *grown = realloc(c->out, cap);
            if (grown == NULL)
                return 0;
            c->out = grown;
            c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, p, n);
        c->out_len += n;
    }
    return 1;
}

static int flush_out(client *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = write(c->fd, c->out + off, c->out_len - off);
        if (w < 0) {
            if (errno == EAGAIN)
                break;
            return 0;
        }
        off += (size_t)w;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    return 1;
}

static int on_readable(client *c)
{
    char buf[16384];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EAGAIN;
        /* echo every complete line; keep the tail */
        char *end = memrchr(buf, '\n', (size_t)r);
        if (end == NULL) {
            if (c->in_len + (size_t)r > MAX_LINE)
                return 0;
            memcpy(c->in + c->in_len, buf, (size_t)r);
            c->in_len += (size_t)r;
            continue;
        }
        size_t whole = (size_t)(end - buf) + 1;
        if (c->in_len > 0) {
            if (!send_or_keep(c, c->in, c->in_len))
                return 0;
            c->in_len = 0;
        }
        if (!send_or_keep(c, buf, whole))
            return 0;
        memcpy(c->in, buf + whole, (size_t)r - whole);
        c->in_len = (size_t)r - whole;
    }
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("epoll_echo");
        return 1;
    }
    printf("listening on %d\n", ntohs(a.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event evs[256];
    for (;;) {
        int k = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < k; i++) {
            client *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    client *n = calloc(1, sizeof(*n));
                    n->fd = fd;
                    n->in = malloc(MAX_LINE);
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = n};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            int ok = 1;
            if (evs[i].events & EPOLLOUT)
                ok = flush_out(c);
            if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                ok = on_readable(c);
            if (!ok)
                drop(c);
        }
    }
}
