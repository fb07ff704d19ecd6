/* troupe-chat's terminal front end: when stdin and stdout are a terminal,
 * the input line is edited with GNU readline (history with the arrow keys)
 * and stays whole at the bottom while lines arrive: every line printed goes
 * above it. Lines come from any thread (tty_print queues them); readline
 * and the terminal are touched by the front end's own thread only. */
#ifndef TROUPE_CHAT_TTY_H
#define TROUPE_CHAT_TTY_H

#include <stdbool.h>
#include <stddef.h>

typedef enum tty_style {
    TTY_PLAIN,
    TTY_DIM,   /* history: dimmed */
    TTY_ERROR  /* to stderr */
} tty_style;

/* Starts the front end if stdin and stdout are both terminals: `on_line`
 * is called on the front end's thread with each line typed (NULL at end of
 * input, Ctrl-D). Returns false (and does nothing) when not on a terminal. */
bool tty_start(const char *prompt, void (*on_line)(const char *line, size_t n, void *ctx),
               void *ctx);
/* True between a successful tty_start and tty_stop. */
bool tty_active(void);
/* Prints one line above the input line (copied; any thread). */
void tty_print(const char *line, tty_style style);
/* Erases the line just typed (it comes back echoed with time and nick). */
void tty_erase_typed(void);
/* Prints what is queued, restores the terminal, joins the thread. */
void tty_stop(void);

#endif
