/* Room history in SQLite (store.h). Two connections: the writer thread's,
 * and one for reads under a mutex (rooms start on any worker). WAL lets a
 * read run while the writer commits. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

typedef struct pending_line {
    struct pending_line *next;
    uint64_t uid;
    int64_t at, ts;
    bool me;
    char *room, *nick, *text; /* one allocation after the struct */
} pending_line;

struct chat_store {
    sqlite3 *wdb, *rdb;
    sqlite3_stmt *insert, *recent;
    pthread_mutex_t m;   /* queue, counters, stop */
    pthread_cond_t c;
    pthread_mutex_t rm;  /* the read connection */
    pending_line *head, *tail;
    uint32_t queued;
    uint64_t written, lost;
    bool stop;
    pthread_t thread;
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS line ("
    "  id INTEGER PRIMARY KEY,"  /* insertion order */
    "  room TEXT NOT NULL, ts INTEGER NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL,"
    "  me INTEGER NOT NULL DEFAULT 0, uid INTEGER, at INTEGER);"
    "CREATE INDEX IF NOT EXISTS line_room ON line(room, id);";
/* Databases written before replication have no uid/at: added (an error
 * "duplicate column" means it is there already). Their old lines keep a
 * NULL at, which orders them before every newer line. */
static const char *const MIGRATE[] = {"ALTER TABLE line ADD COLUMN uid INTEGER",
                                      "ALTER TABLE line ADD COLUMN at INTEGER", NULL};
static const char INDEXES[] =
    "CREATE UNIQUE INDEX IF NOT EXISTS line_uid ON line(room, uid);"
    "CREATE INDEX IF NOT EXISTS line_at ON line(room, at, id);";

static void write_batch(chat_store *st, pending_line *batch)
{
    uint64_t ok = 0, bad = 0;
    bool in_tx = sqlite3_exec(st->wdb, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    for (pending_line *p = batch; p != NULL; p = p->next) {
        sqlite3_bind_text(st->insert, 1, p->room, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st->insert, 2, p->ts);
        sqlite3_bind_text(st->insert, 3, p->nick, -1, SQLITE_STATIC);
        sqlite3_bind_text(st->insert, 4, p->text, -1, SQLITE_STATIC);
        sqlite3_bind_int(st->insert, 5, p->me);
        sqlite3_bind_int64(st->insert, 6, (sqlite3_int64)p->uid);
        sqlite3_bind_int64(st->insert, 7, p->at);
        if (sqlite3_step(st->insert) == SQLITE_DONE)
            ok++;
        else
            bad++;
        sqlite3_reset(st->insert);
    }
    if (in_tx && sqlite3_exec(st->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
        bad += ok;
        ok = 0;
    }
    if (bad > 0)
        fprintf(stderr, "troupe-chat: history: %llu line(s) not written: %s\n",
                (unsigned long long)bad, sqlite3_errmsg(st->wdb));
    pthread_mutex_lock(&st->m);
    st->written += ok;
    st->lost += bad;
    pthread_mutex_unlock(&st->m);
}

static void *writer(void *arg)
{
    chat_store *st = arg;
    pthread_mutex_lock(&st->m);
    for (;;) {
        while (st->head == NULL && !st->stop)
            pthread_cond_wait(&st->c, &st->m);
        pending_line *batch = st->head;
        st->head = st->tail = NULL;
        st->queued = 0;
        bool stop = st->stop;
        pthread_mutex_unlock(&st->m);
        if (batch != NULL)
            write_batch(st, batch);
        while (batch != NULL) {
            pending_line *next = batch->next;
            free(batch);
            batch = next;
        }
        pthread_mutex_lock(&st->m);
        if (stop && st->head == NULL)
            break;
    }
    pthread_mutex_unlock(&st->m);
    return NULL;
}

static sqlite3 *open_db(const char *path, char *err, size_t cap)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(db, 5000);
    if (rc != SQLITE_OK) {
        snprintf(err, cap, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

chat_store *chat_store_open(const char *path, char *err, size_t cap)
{
    chat_store *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    char *msg = NULL;
    if ((st->wdb = open_db(path, err, cap)) == NULL)
        goto fail;
    if (sqlite3_exec(st->wdb, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, cap, "%s: %s", path, msg ? msg : "cannot create the tables");
        sqlite3_free(msg);
        goto fail;
    }
    for (int i = 0; MIGRATE[i] != NULL; i++)
        sqlite3_exec(st->wdb, MIGRATE[i], NULL, NULL, NULL); /* fails once done: fine */
    if (sqlite3_exec(st->wdb, INDEXES, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, cap, "%s: %s", path, msg ? msg : "cannot create the indexes");
        sqlite3_free(msg);
        goto fail;
    }
    if ((st->rdb = open_db(path, err, cap)) == NULL)
        goto fail;
    if (sqlite3_prepare_v2(st->wdb,
                           "INSERT OR IGNORE INTO line(room, ts, nick, text, me, uid, at) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &st->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->rdb,
                           "SELECT ts, nick, text, me, uid, at FROM (SELECT id, ts, nick, text, "
                           "me, uid, at FROM line WHERE room = ?1 ORDER BY at DESC, id DESC "
                           "LIMIT ?2) ORDER BY at, id",
                           -1, &st->recent, NULL) != SQLITE_OK) {
        snprintf(err, cap, "%s: %s", path, sqlite3_errmsg(st->wdb));
        goto fail;
    }
    pthread_mutex_init(&st->m, NULL);
    pthread_cond_init(&st->c, NULL);
    pthread_mutex_init(&st->rm, NULL);
    if (pthread_create(&st->thread, NULL, writer, st) != 0) {
        snprintf(err, cap, "cannot start the history writer thread");
        pthread_mutex_destroy(&st->m);
        pthread_cond_destroy(&st->c);
        pthread_mutex_destroy(&st->rm);
        goto fail;
    }
    return st;
fail:
    sqlite3_finalize(st->insert);
    sqlite3_finalize(st->recent);
    sqlite3_close(st->rdb);
    sqlite3_close(st->wdb);
    free(st);
    return NULL;
}

bool chat_store_append(chat_store *st, const char *room, const chat_stored_line *line)
{
    const char *nick = line->nick, *text = line->text;
    size_t lr = strlen(room) + 1, ln = strlen(nick) + 1, lt = strlen(text) + 1;
    pending_line *p = malloc(sizeof(*p) + lr + ln + lt);
    pthread_mutex_lock(&st->m);
    if (p == NULL || st->queued >= CHAT_STORE_QUEUE || st->stop) {
        st->lost++;
        pthread_mutex_unlock(&st->m);
        free(p);
        return false;
    }
    p->next = NULL;
    p->uid = line->uid;
    p->at = line->at;
    p->ts = line->ts;
    p->me = line->me;
    p->room = (char *)(p + 1);
    p->nick = p->room + lr;
    p->text = p->nick + ln;
    memcpy(p->room, room, lr);
    memcpy(p->nick, nick, ln);
    memcpy(p->text, text, lt);
    if (st->tail != NULL)
        st->tail->next = p;
    else
        st->head = p;
    st->tail = p;
    st->queued++;
    pthread_cond_signal(&st->c);
    pthread_mutex_unlock(&st->m);
    return true;
}

int chat_store_recent(chat_store *st, const char *room, unsigned max, chat_store_line_fn fn,
                      void *ctx)
{
    int n = 0;
    pthread_mutex_lock(&st->rm);
    sqlite3_bind_text(st->recent, 1, room, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st->recent, 2, (int)max);
    int rc;
    while ((rc = sqlite3_step(st->recent)) == SQLITE_ROW) {
        const char *nick = (const char *)sqlite3_column_text(st->recent, 1);
        const char *text = (const char *)sqlite3_column_text(st->recent, 2);
        chat_stored_line l = {.ts = sqlite3_column_int64(st->recent, 0),
                              .nick = nick ? nick : "",
                              .text = text ? text : "",
                              .me = sqlite3_column_int(st->recent, 3) != 0,
                              .uid = (uint64_t)sqlite3_column_int64(st->recent, 4),
                              .at = sqlite3_column_int64(st->recent, 5)};
        fn(ctx, &l);
        n++;
    }
    if (rc != SQLITE_DONE)
        n = -1;
    sqlite3_reset(st->recent);
    pthread_mutex_unlock(&st->rm);
    return n;
}

void chat_store_counts(chat_store *st, uint64_t *written, uint64_t *lost)
{
    pthread_mutex_lock(&st->m);
    *written = st->written;
    *lost = st->lost;
    pthread_mutex_unlock(&st->m);
}

void chat_store_close(chat_store *st)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&st->m);
    st->stop = true;
    pthread_cond_signal(&st->c);
    pthread_mutex_unlock(&st->m);
    pthread_join(st->thread, NULL);
    sqlite3_finalize(st->insert);
    sqlite3_finalize(st->recent);
    sqlite3_close(st->rdb);
    sqlite3_close(st->wdb);
    pthread_mutex_destroy(&st->m);
    pthread_cond_destroy(&st->c);
    pthread_mutex_destroy(&st->rm);
    free(st);
}
