/* A server's room history on disk: one SQLite database file per server
 * (troupe-chat server --data DIR: DIR/<server>.sqlite3), so a restart of the
 * whole cluster keeps every room's recent lines.
 *
 * Writes never block an actor: chat_store_append queues the line and the
 * store's own thread inserts queued lines in one transaction per batch (WAL
 * journal, synchronous=NORMAL: a committed line survives kill -9 of the
 * server; a power cut may lose the last ones). chat_store_close commits
 * what is queued. Reads (chat_store_recent) are one indexed query of at
 * most CHAT_HISTORY rows, done by a room when it starts.
 *
 * Replication: each line carries a uid chosen by the room that said it and
 * `at`, its time in ms, which orders the lines. The same line stored twice
 * (it came back from another server's copy) is kept once, so copies of a
 * room's history on several servers merge by just appending. */
#ifndef TROUPE_CHAT_STORE_H
#define TROUPE_CHAT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct chat_store chat_store;

/* One line of a room's history (strings owned by the caller). */
typedef struct chat_stored_line {
    uint64_t uid; /* unique per line: chosen by the room that said it */
    int64_t at;   /* ms since the epoch, when the room took it: the order of lines */
    int64_t ts;   /* s since the epoch: what is shown */
    const char *nick, *text;
    bool me;      /* a /me action */
} chat_stored_line;

/* Opens (creating if needed) the database at path and starts the writer
 * thread. Returns NULL with a reason in err (cap bytes) on failure. */
chat_store *chat_store_open(const char *path, char *err, size_t cap);

/* Queues one line of room for writing (all strings copied); a line whose
 * uid the room has already is ignored when written. Returns false when the
 * queue is full (CHAT_STORE_QUEUE lines not yet written: the disk is far
 * behind) or out of memory; the line is then not stored. */
bool chat_store_append(chat_store *st, const char *room, const chat_stored_line *line);

/* Calls fn for each of the `max` most recent lines of room (by `at`),
 * oldest first; the line is valid during the call only. Returns the number
 * of lines, or -1 on a database error. */
typedef void (*chat_store_line_fn)(void *ctx, const chat_stored_line *line);
int chat_store_recent(chat_store *st, const char *room, unsigned max, chat_store_line_fn fn,
                      void *ctx);

/* Lines written so far and lines refused (queue full or a write error). */
void chat_store_counts(chat_store *st, uint64_t *written, uint64_t *lost);

/* Writes what is queued, stops the thread, closes the database. NULL is ignored. */
void chat_store_close(chat_store *st);

#define CHAT_STORE_QUEUE 65536

#endif
