/* Test support: run tests/net/node_proc (or any program) as a child process
 * with its stdin and stdout on pipes. The child's stdout is read line by
 * line with a timeout (a hang becomes a failed assertion, never a stuck
 * test); closing its stdin asks it to stop. Include after criterion.h. */
#ifndef TROUPE_TEST_NET_CHILD_H
#define TROUPE_TEST_NET_CHILD_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct child {
    pid_t pid;    /* 0 when not running */
    int in_fd;    /* its stdin (write end), -1 when closed */
    int out_fd;   /* its stdout (read end), -1 at EOF */
    char buf[4096];
    size_t len;
} child;

/* Starts argv[0] (searched in PATH) with piped stdin/stdout; stderr is
 * shared with the test (sanitizer reports show up there). */
static inline bool child_start(child *c, char *const argv[])
{
    int in[2], out[2];
    memset(c, 0, sizeof(*c));
    c->in_fd = c->out_fd = -1;
    if (pipe2(in, O_CLOEXEC) != 0)
        return false;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    int rc = posix_spawnp(&c->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        c->pid = 0;
        return false;
    }
    c->in_fd = in[1];
    c->out_fd = out[0];
    signal(SIGPIPE, SIG_IGN); /* writing to a dead child must not kill the test */
    return true;
}

/* Copies src into dst[len], cut short if needed. */
static inline void child_copy(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (len == 0)
        return;
    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static inline long child_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads the next line of the child's stdout (without the newline) into
 * line. False at EOF or after timeout_ms. */
static inline bool child_line(child *c, char *line, size_t len, int timeout_ms)
{
    long deadline = child_ms_now() + timeout_ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            snprintf(line, len, "%.*s", (int)n, c->buf);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return true;
        }
        long left = deadline - child_ms_now();
        if (c->out_fd < 0 || left <= 0 || c->len == sizeof(c->buf))
            return false;
        struct pollfd pfd = {.fd = c->out_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return false;
        ssize_t got = read(c->out_fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            close(c->out_fd);
            c->out_fd = -1;
            continue; /* a last line without newline is dropped */
        }
        c->len += (size_t)got;
    }
}

/* Skips lines until one starts with `prefix`; copies what follows the
 * prefix (and one space) to rest. False at EOF or timeout. */
static inline bool child_expect(child *c, const char *prefix, char *rest, size_t len, int timeout_ms)
{
    long deadline = child_ms_now() + timeout_ms;
    char line[512];
    size_t n = strlen(prefix);
    for (;;) {
        long left = deadline - child_ms_now();
        if (left <= 0 || !child_line(c, line, sizeof(line), (int)left))
            return false;
        if (strncmp(line, prefix, n) == 0) {
            if (rest != NULL)
                child_copy(rest, len, line[n] == ' ' ? line + n + 1 : line + n);
            return true;
        }
    }
}

/* Writes one line (a command) to the child's stdin. */
static inline bool child_say(child *c, const char *line)
{
    size_t n = strlen(line);
    return c->in_fd >= 0 && write(c->in_fd, line, n) == (ssize_t)n && write(c->in_fd, "\n", 1) == 1;
}

static inline void child_close_stdin(child *c)
{
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = -1;
}

/* SIGKILLs the child and reaps it. Safe to call twice. */
static inline void child_kill(child *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    child_close_stdin(c);
    if (c->out_fd >= 0)
        close(c->out_fd);
    c->out_fd = -1;
}

/* Asks the child to stop (closes its stdin), counts the remaining stdout
 * lines starting with `count_prefix` (may be NULL) into *counted, and reaps
 * it. Returns its exit status, or -1 if it had not ended after timeout_ms
 * (it is then killed) or died of a signal. */
static inline int child_stop(child *c, int timeout_ms, const char *count_prefix, int *counted)
{
    child_close_stdin(c);
    long deadline = child_ms_now() + timeout_ms;
    char line[512];
    int n = 0;
    for (;;) {
        long left = deadline - child_ms_now();
        if (left <= 0 || !child_line(c, line, sizeof(line), (int)left))
            break;
        if (count_prefix != NULL && strncmp(line, count_prefix, strlen(count_prefix)) == 0)
            n++;
    }
    if (counted != NULL)
        *counted = n;
    if (c->out_fd >= 0) { /* no EOF in time: hung */
        child_kill(c);
        return -1;
    }
    int status = 0;
    waitpid(c->pid, &status, 0);
    c->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
