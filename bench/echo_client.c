/* echo_client: load for a line-echo server. Prints, never asserts.
 *
 *   echo_client PORT CONNECTIONS LINES_PER_CONNECTION [WINDOW]
 *
 * Opens CONNECTIONS TCP connections to 127.0.0.1:PORT and on each sends
 * 64-byte lines (63 bytes + '\n', carrying the connection and line number),
 * keeping WINDOW lines (default 16) in flight, until LINES_PER_CONNECTION
 * came back. Every echoed line is compared with the one sent: a lost,
 * duplicated, reordered or damaged line fails the run (exit 1). One thread,
 * epoll, non-blocking sockets, so the client costs the same against any
 * server. Prints RESULT echo <lines> <ms> and the rate. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE 64

typedef struct conn {
    int fd, id;
    long sent, echoed, target;
    char in[LINE];
    size_t in_len;
    char out[LINE * 64];
    size_t out_len, out_off;
} conn;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void make_line(char *p, int id, long seq)
{
    memset(p, '.', LINE);
    snprintf(p, LINE, "c%d l%ld", id, seq);
    p[strlen(p)] = '.';
    p[LINE - 1] = '\n';
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* Queues lines up to the window and writes what the socket takes. */
static void pump_out(conn *c, long window)
{
    while (c->sent < c->target && c->sent - c->echoed < window &&
           c->out_len + LINE <= sizeof(c->out)) {
        make_line(c->out + c->out_len, c->id, c->sent++);
        c->out_len += LINE;
    }
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN)
                return;
            die("write");
        }
        c->out_off += (size_t)w;
    }
    c->out_len = c->out_off = 0;
}

/* Reads echoes and checks each line. Returns lines completed. */
static long pump_in(conn *c)
{
    char buf[16384];
    long done = 0;
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EAGAIN)
                return done;
            die("read");
        }
        if (r == 0) {
            fprintf(stderr, "echo_client: server closed connection %d\n", c->id);
            exit(1);
        }
        for (ssize_t i = 0; i < r;) {
            size_t take = LINE - c->in_len;
            if ((size_t)(r - i) < take)
                take = (size_t)(r - i);
            memcpy(c->in + c->in_len, buf + i, take);
            c->in_len += take;
            i += (ssize_t)take;
            if (c->in_len == LINE) {
                char want[LINE];
                make_line(want, c->id, c->echoed);
                if (memcmp(want, c->in, LINE) != 0) {
                    fprintf(stderr, "echo_client: connection %d line %ld wrong\n", c->id, c->echoed);
                    exit(1);
                }
                c->echoed++;
                c->in_len = 0;
                done++;
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: echo_client PORT CONNECTIONS LINES_PER_CONNECTION [WINDOW]\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    long lines = atol(argv[3]), window = argc > 4 ? atol(argv[4]) : 16;
    if (window > 64)
        window = 64;
    conn *cs = calloc((size_t)n, sizeof(*cs));
    int ep = epoll_create1(0);
    if (cs == NULL || ep < 0)
        die("setup");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < n; i++) {
        conn *c = &cs[i];
        c->id = i;
        c->target = lines;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
            die("connect");
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
    }
    long total = (long)n * lines, done = 0;
    double t0 = now_ms();
    struct epoll_event evs[256];
    while (done < total) {
        int k = epoll_wait(ep, evs, 256, 30000);
        if (k == 0) {
            fprintf(stderr, "echo_client: stalled at %ld of %ld lines\n", done, total);
            return 1;
        }
        for (int i = 0; i < k; i++) {
            conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLIN)
                done += pump_in(c);
            pump_out(c, window);
        }
    }
    double ms = now_ms() - t0;
    printf("RESULT echo %ld %.3f\n", total, ms);
    printf("METRIC echo lines_per_s %.0f conns %d window %ld\n", (double)total / (ms / 1e3), n,
           window);
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    free(cs);
    return 0;
}
