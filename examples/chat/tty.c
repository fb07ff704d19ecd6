/* The terminal front end (tty.h), on GNU readline's callback interface: one
 * thread waits (poll) on stdin and on a pipe that tty_print writes to; typed
 * characters go to readline, queued lines are printed above the input line
 * by clearing it, printing, and redrawing it with what was typed so far. */
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "tty.h"

typedef struct queued {
    struct queued *next;
    tty_style style;
    char text[];
} queued;

static struct {
    pthread_mutex_t m;
    queued *head, *tail;
    int wake[2]; /* tty_print -> the thread */
    atomic_bool active; /* read by any thread printing */
    bool stop, erase;
    pthread_t thread;
    const char *prompt;
    void (*on_line)(const char *line, size_t n, void *ctx);
    void *ctx;
    size_t typed_cols; /* prompt + last line typed, to erase it */
} g = {.m = PTHREAD_MUTEX_INITIALIZER, .wake = {-1, -1}};

static void print_above(const queued *q)
{
    /* save what is being typed, clear the input line, print, redraw */
    char *saved = rl_copy_text(0, rl_end);
    int point = rl_point;
    rl_set_prompt("");
    rl_replace_line("", 0);
    rl_redisplay();
    FILE *out = q->style == TTY_ERROR ? stderr : stdout;
    if (q->style == TTY_DIM)
        fprintf(out, "\033[2m%s\033[0m\n", q->text);
    else
        fprintf(out, "%s\n", q->text);
    fflush(out);
    rl_set_prompt(g.prompt);
    rl_replace_line(saved, 0);
    rl_point = point;
    rl_redisplay();
    free(saved);
}

static void drain(void)
{
    pthread_mutex_lock(&g.m);
    queued *q = g.head;
    bool erase = g.erase;
    g.head = g.tail = NULL;
    g.erase = false;
    pthread_mutex_unlock(&g.m);
    if (erase) {
        /* the accepted line is on screen above the new prompt: remove it
         * (every terminal row it took) */
        struct winsize ws;
        size_t cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
        size_t rows = g.typed_cols / cols + 1;
        rl_set_prompt("");
        rl_replace_line("", 0);
        rl_redisplay();
        for (size_t i = 0; i < rows; i++)
            fputs("\033[1A\r\033[2K", stdout);
        fflush(stdout);
        rl_set_prompt(g.prompt);
        rl_redisplay();
    }
    while (q != NULL) {
        queued *next = q->next;
        print_above(q);
        free(q);
        q = next;
    }
}

static void line_typed(char *line)
{
    if (line == NULL) { /* Ctrl-D */
        g.on_line(NULL, 0, g.ctx);
        return;
    }
    if (line[0] != '\0')
        add_history(line);
    g.typed_cols = strlen(g.prompt) + strlen(line);
    g.on_line(line, strlen(line), g.ctx);
    free(line);
}

static void *tty_thread(void *arg)
{
    (void)arg;
    rl_catch_signals = 0; /* Ctrl-C is ours: it leaves like /quit (on_interrupt) */
    rl_callback_handler_install(g.prompt, line_typed);
    bool eof = false;
    for (;;) {
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = eof ? 0 : POLLIN},
                                {.fd = g.wake[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0)
            continue;
        if (fds[1].revents & POLLIN) {
            char buf[64];
            ssize_t got = read(g.wake[0], buf, sizeof(buf));
            drain();
            if (got > 0 && memchr(buf, 'i', (size_t)got) != NULL && !eof) {
                eof = true; /* Ctrl-C: leave as at end of input */
                g.on_line(NULL, 0, g.ctx);
            }
        }
        pthread_mutex_lock(&g.m);
        bool stop = g.stop;
        pthread_mutex_unlock(&g.m);
        if (stop)
            break;
        if (fds[0].revents & (POLLIN | POLLHUP))
            rl_callback_read_char();
        if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            eof = true;
    }
    drain();
    rl_set_prompt(""); /* leave no half-typed line behind */
    rl_replace_line("", 0);
    rl_redisplay();
    rl_callback_handler_remove();
    return NULL;
}

/* SIGINT (Ctrl-C): wake the thread, which leaves cleanly (the terminal is
 * given back by tty_stop). Only write(2) here: async-signal-safe. */
static void on_interrupt(int sig)
{
    (void)sig;
    (void)!write(g.wake[1], "i", 1);
}

bool tty_start(const char *prompt, void (*on_line)(const char *line, size_t n, void *ctx),
               void *ctx)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO) || pipe(g.wake) != 0)
        return false;
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    g.prompt = prompt;
    g.on_line = on_line;
    g.ctx = ctx;
    if (pthread_create(&g.thread, NULL, tty_thread, NULL) != 0)
        return false;
    atomic_store(&g.active, true);
    return true;
}

bool tty_active(void) { return atomic_load(&g.active); }

static void wake(void) { (void)!write(g.wake[1], "", 1); }

void tty_print(const char *line, tty_style style)
{
    size_t n = strlen(line);
    queued *q = malloc(sizeof(*q) + n + 1);
    if (q == NULL)
        return;
    q->next = NULL;
    q->style = style;
    memcpy(q->text, line, n + 1);
    pthread_mutex_lock(&g.m);
    if (g.tail != NULL)
        g.tail->next = q;
    else
        g.head = q;
    g.tail = q;
    pthread_mutex_unlock(&g.m);
    wake();
}

void tty_erase_typed(void)
{
    pthread_mutex_lock(&g.m);
    g.erase = true;
    pthread_mutex_unlock(&g.m);
    wake();
}

void tty_stop(void)
{
    if (!atomic_load(&g.active))
        return;
    pthread_mutex_lock(&g.m);
    g.stop = true;
    pthread_mutex_unlock(&g.m);
    wake();
    pthread_join(g.thread, NULL);
    atomic_store(&g.active, false);
    close(g.wake[0]);
    close(g.wake[1]);
}
