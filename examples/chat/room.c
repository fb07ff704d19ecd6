/* The room and the directory that starts rooms.
 *
 * A room keeps its members (a reference, a nickname, a monitor and two
 * counters each), the last CHAT_HISTORY lines in a ring, the uids of its
 * last CHAT_DEDUP lines, and the lines not yet held by its replica: its
 * memory is bounded by CHAT_MAX_MEMBERS, the ring and CHAT_MAX_UNCONFIRMED.
 * A member is whoever sent CHAT_JOIN (msg->sender): in troupe-chat that is a
 * session on the client's server, possibly on another node; in the unit
 * tests a local actor.
 *
 * Slow members: the room counts what it sent each member and what the member
 * acknowledged (CHAT_ACK carries the member's running count). A member with
 * `budget` messages outstanding is cut off: it gets one fatal CHAT_ERROR
 * (CHAT_E_SLOW), is removed, and the others see "<nick> was disconnected (too
 * slow)". So the room never has more than budget+1 messages in flight per
 * member, however slow the member is, and it is never muted by a member's
 * full mailbox (mailboxes hold 1024 > budget).
 *
 * Presence: the room monitors every member; any DOWN (the member ended, or
 * its node went down: TR_ENODEDOWN) removes it and announces that it left.
 *
 * Crashes: each room runs under its own one-for-one supervisor, a child of
 * the directory, so a crashing room is restarted alone. Its state (members,
 * history) is lost; sessions see the DOWN and join the new room again.
 *
 * Replication (chat.h, above chat_room_cfg): every line gets a uid and a
 * time in ms (`at`); the room copies each line to its replica's directory
 * (CHAT_REPLICA says which; a new replica gets the whole ring), and lines
 * from other copies of the room (CHAT_REPLICATE, through our directory) are
 * merged into the ring by uid and `at`, and shown to our members as they
 * arrive (while two servers disagree about who is up, two copies of a room
 * may run for a moment: each shows the other's lines live). The first
 * replica a room gets is also asked for its lines (CHAT_FETCH); joins wait
 * for the answer (or CHAT_FETCH_TIMEOUT_MS), so members who follow the room
 * back see every line.
 *
 * Confirmation: a line sent with an id (CHAT_SAY [text, me, id]) has the uid
 * chat_line_uid(room, id). The copy to the replica is an ask; once the
 * replica's directory answers (it holds the line), the room tells the
 * sender CHAT_SAID [id, CHAT_OK]. An ask that fails is sent again (to the
 * new replica when it changed); with no replica (the only server) the line
 * is confirmed at once. A line sent again (the client did not see its
 * confirmation: a failover) whose uid the room knows is confirmed, not
 * shown again.
 *
 * The directory keeps the servers up (CHAT_SERVERS from its gateway) to
 * tell each room its replica, holds the lines other servers replicate to it
 * (in memory, and in its store when it has one), hands them to its copy of
 * the room when that runs or starts, and answers CHAT_FETCH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"

typedef struct member {
    tr_ref ref;
    char nick[CHAT_MAX_NICK + 1];
    uint64_t mon;
    uint64_t sent, acked;
    bool gone;
} member;

typedef struct hist_line {
    uint64_t uid;
    int64_t at; /* ms: the order */
    int64_t ts;
    char nick[CHAT_MAX_NICK + 1];
    char *text;
    bool me;
} hist_line;

/* The last CHAT_HISTORY lines of a room, oldest first, ordered by `at`
 * (then uid): a room's history, a directory's copy of a room hosted
 * elsewhere, a fetch answer. The texts are the ring's (malloc'd). */
typedef struct line_ring {
    hist_line line[CHAT_HISTORY];
    uint32_t head, n;
} line_ring;

/* A JOIN that waits for the fetch of the room's lines. */
typedef struct waiting_join {
    tr_ref who;
    char nick[CHAT_MAX_NICK + 1];
    int how;
} waiting_join;

/* A line said with an id whose copy the replica has not confirmed yet. */
typedef struct unconfirmed {
    hist_line line; /* text: our own copy */
    uint64_t id;    /* the sender's id for it */
    tr_ref to;      /* the sender (a session), told CHAT_SAID */
    uint64_t corr;  /* the CHAT_REPLICATE ask carrying it; 0 = to send */
} unconfirmed;

typedef struct room_state {
    chat_room_cfg cfg;
    member *m;
    uint32_t n, cap;
    line_ring hist;
    uint64_t known[CHAT_DEDUP]; /* uids of the last lines said or merged */
    uint32_t known_next;
    uint64_t kicked, lines;
    tr_ref replica;      /* the directory our lines are copied to; none = nobody */
    bool replica_known;  /* a CHAT_REPLICA arrived */
    bool fetched;        /* the first replica was asked for its lines */
    uint64_t uid_seed, uid_count;
    int64_t last_at;     /* `at` of the newest line we know */
    uint64_t fetch_corr; /* != 0: asking the replica for lines; joins wait */
    waiting_join *waiting;
    uint32_t nwaiting, capwaiting;
    unconfirmed *unc;
    uint32_t nunc, capunc;
    bool retry_due;      /* a CHAT_TICK will send the copies that could not be sent */
} room_state;

static int64_t now_s(void) { return (int64_t)time(NULL); }

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A line's uid when the sender gave no id: unique across the copies of the
 * room (a seed per room start from the clock, the server and the state's
 * address, then a counter). */
static uint64_t next_uid(room_state *s)
{
    uint64_t u = chat_mix64(s->uid_seed + ++s->uid_count);
    return u != 0 ? u : 1;
}

/* Lines stored before replication have no uid: one from their content. */
static uint64_t content_uid(const char *room, int64_t ts, const char *nick, const char *text)
{
    uint64_t h = chat_hrw_weight(room, nick) ^ chat_mix64((uint64_t)ts);
    for (const char *p = text; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return h != 0 ? h : 1;
}

/* ---- the line ring ---- */

static hist_line *ring_at(line_ring *r, uint32_t i)
{
    return &r->line[(r->head + i) % CHAT_HISTORY];
}

static bool ring_has(line_ring *r, uint64_t uid)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (ring_at(r, i)->uid == uid)
            return true;
    return false;
}

static void ring_clear(line_ring *r)
{
    for (uint32_t i = 0; i < CHAT_HISTORY; i++)
        free(r->line[i].text);
    memset(r, 0, sizeof(*r));
}

static int by_at(const hist_line *a, const hist_line *b)
{
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* Adds a copy of h (its text copied) in `at` order, unless its uid is there
 * already; when full, the oldest line goes, or h itself when it is older
 * than every line kept. Returns false when h was not added. */
static bool ring_add(line_ring *r, const hist_line *h)
{
    if (ring_has(r, h->uid) || (r->n == CHAT_HISTORY && by_at(h, ring_at(r, 0)) < 0))
        return false;
    char *text = strdup(h->text);
    if (text == NULL)
        return false;
    hist_line *slot;
    if (r->n < CHAT_HISTORY) {
        slot = ring_at(r, r->n++);
    } else { /* the oldest slot becomes the newest */
        slot = ring_at(r, 0);
        free(slot->text);
        r->head = (r->head + 1) % CHAT_HISTORY;
    }
    *slot = *h;
    slot->text = text;
    for (uint32_t i = r->n - 1; i > 0 && by_at(ring_at(r, i - 1), ring_at(r, i)) > 0; i--) {
        hist_line t = *ring_at(r, i - 1);
        *ring_at(r, i - 1) = *ring_at(r, i);
        *ring_at(r, i) = t;
    }
    return true;
}

/* ts, nick, text, me: the part of a line both layouts below share */
static void pack_said(msgpack_packer *pk, const hist_line *h)
{
    msgpack_pack_int64(pk, h->ts);
    chat_pack_str(pk, h->nick);
    chat_pack_str(pk, h->text);
    if (h->me)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* [uid, at, ts, nick, text, me] */
static void pack_line(msgpack_packer *pk, const hist_line *h)
{
    msgpack_pack_array(pk, 6);
    msgpack_pack_uint64(pk, h->uid);
    msgpack_pack_int64(pk, h->at);
    pack_said(pk, h);
}

/* [ts, nick, text, me, uid]: a line as members get it (CHAT_LINE, and each
 * line of a JOINED's history) */
static void pack_shown(msgpack_packer *pk, const hist_line *h)
{
    msgpack_pack_array(pk, 5);
    pack_said(pk, h);
    msgpack_pack_uint64(pk, h->uid);
}

/* Queues h for writing to the store (when there is one). */
static void store_line(chat_store *st, const char *room, const hist_line *h)
{
    if (st == NULL)
        return;
    chat_stored_line l = {.uid = h->uid, .at = h->at, .ts = h->ts, .nick = h->nick,
                          .text = h->text, .me = h->me};
    chat_store_append(st, room, &l);
}

/* Reads [uid, at, ts, nick, text, me]; the text is cleaned into `text`
 * (CHAT_MAX_TEXT + 1 bytes), which h->text then points at. */
static bool unpack_line(const msgpack_object *o, hist_line *h, char *text)
{
    memset(h, 0, sizeof(*h));
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 6)
        return false;
    const msgpack_object *f = o->via.array.ptr;
    if (!chat_obj_u64(&f[0], &h->uid) || h->uid == 0 || !chat_obj_i64(&f[1], &h->at) ||
        !chat_obj_i64(&f[2], &h->ts) || !chat_obj_str(&f[3], h->nick, sizeof(h->nick)) ||
        !chat_valid_nick(h->nick) || f[4].type != MSGPACK_OBJECT_STR ||
        f[4].via.str.size > CHAT_MAX_TEXT)
        return false;
    chat_clean(f[4].via.str.ptr, f[4].via.str.size, text, CHAT_MAX_TEXT + 1, NULL);
    h->text = text;
    h->me = f[5].type == MSGPACK_OBJECT_BOOLEAN && f[5].via.boolean;
    return true;
}

/* A stored line as a ring line (text borrowed); false for a bad nickname. */
static bool stored_to_line(const char *room, const chat_stored_line *l, hist_line *h)
{
    memset(h, 0, sizeof(*h));
    if (!chat_valid_nick(l->nick))
        return false;
    h->uid = l->uid != 0 ? l->uid : content_uid(room, l->ts, l->nick, l->text);
    h->at = l->at != 0 ? l->at : l->ts * 1000;
    h->ts = l->ts;
    h->me = l->me;
    h->text = (char *)l->text;
    snprintf(h->nick, sizeof(h->nick), "%s", l->nick);
    return true;
}

/* ---- the room ---- */

static bool known_uid(const room_state *s, uint64_t uid)
{
    for (uint32_t i = 0; i < CHAT_DEDUP; i++)
        if (s->known[i] == uid)
            return true;
    return false;
}

static void know_uid(room_state *s, uint64_t uid)
{
    s->known[s->known_next++ % CHAT_DEDUP] = uid;
}

/* Tells the directory we run and how many members we have (for /list). */
static void report_up(tr_ctx *self, room_state *s)
{
    if (tr_ref_is_none(s->cfg.directory))
        return;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, s->cfg.name);
    msgpack_pack_uint32(&b.pk, s->n);
    chat_buf_send(self, s->cfg.directory, CHAT_ROOM_UP, &b);
}

static void load_line(void *ctx, const chat_stored_line *l)
{
    room_state *s = ctx;
    hist_line h;
    if (!stored_to_line(s->cfg.name, l, &h) || !ring_add(&s->hist, &h))
        return;
    know_uid(s, h.uid);
    if (h.at > s->last_at)
        s->last_at = h.at;
}

/* Copies lines[0..n) (at most CHAT_HISTORY) to the replica: an ask when
 * corr is not NULL (*corr = 0 when it could not be sent), else a plain send. */
static void replicate(tr_ctx *self, room_state *s, const hist_line *const *lines, uint32_t n,
                      uint64_t *corr)
{
    if (corr != NULL)
        *corr = 0;
    if (tr_ref_is_none(s->replica) || n == 0)
        return;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, s->cfg.name);
    msgpack_pack_array(&b.pk, n);
    for (uint32_t i = 0; i < n; i++)
        pack_line(&b.pk, lines[i]);
    if (corr == NULL)
        tr_send(self, s->replica, CHAT_REPLICATE, b.sb.data, b.sb.size);
    else if (tr_ask(self, s->replica, CHAT_REPLICATE, b.sb.data, b.sb.size,
                    CHAT_REPLICATE_TIMEOUT_MS, corr) != TR_OK)
        *corr = 0;
    chat_buf_destroy(&b);
}

/* The whole ring to the replica (a new one), as plain sends. */
static void replicate_ring(tr_ctx *self, room_state *s)
{
    const hist_line *lines[CHAT_HISTORY];
    for (uint32_t i = 0; i < s->hist.n; i++)
        lines[i] = ring_at(&s->hist, i);
    replicate(self, s, lines, s->hist.n, NULL);
}

/* Confirms (CHAT_SAID, CHAT_OK) and forgets every unconfirmed line carried
 * by ask `corr` (0: those not sent). */
static void confirm(tr_ctx *self, room_state *s, uint64_t corr)
{
    for (uint32_t i = 0; i < s->nunc;) {
        unconfirmed *u = &s->unc[i];
        if (u->corr != corr) {
            i++;
            continue;
        }
        chat_send_said(self, u->to, u->id, CHAT_OK);
        free(u->line.text);
        *u = s->unc[--s->nunc];
    }
}

/* Sends the unconfirmed lines carried by ask `corr` (0: those not sent
 * yet) to the replica again, in asks of at most CHAT_HISTORY lines. With
 * no replica they are confirmed: no other server can hold them. What
 * cannot be sent now is tried again by a CHAT_TICK a second later. */
static void resend(tr_ctx *self, room_state *s, uint64_t corr)
{
    if (!s->replica_known)
        return; /* sent once the directory says where */
    if (tr_ref_is_none(s->replica)) {
        confirm(self, s, corr);
        return;
    }
    for (;;) {
        const hist_line *lines[CHAT_HISTORY];
        uint32_t idx[CHAT_HISTORY], n = 0;
        for (uint32_t i = 0; i < s->nunc && n < CHAT_HISTORY; i++)
            if (s->unc[i].corr == corr) {
                idx[n] = i;
                lines[n++] = &s->unc[i].line;
            }
        if (n == 0)
            return;
        uint64_t c = 0;
        replicate(self, s, lines, n, &c);
        if (c == 0) {
            for (uint32_t i = 0; i < s->nunc; i++)
                if (s->unc[i].corr == corr)
                    s->unc[i].corr = 0;
            if (!s->retry_due) {
                s->retry_due = true;
                tr_send_after(tr_ctx_system(self), tr_self(self), CHAT_TICK, NULL, 0, 1000, NULL);
            }
            return;
        }
        for (uint32_t k = 0; k < n; k++)
            s->unc[idx[k]].corr = c; /* != corr: the next round takes the others */
    }
}

static int room_init(tr_ctx *self, void *state, void *arg)
{
    room_state *s = state;
    if (arg == NULL)
        return TR_EINVAL;
    s->cfg = *(const chat_room_cfg *)arg;
    if (s->cfg.budget == 0)
        s->cfg.budget = CHAT_DEFAULT_BUDGET;
    s->uid_seed = chat_mix64((uint64_t)now_ms() ^ chat_hrw_weight(s->cfg.server, s->cfg.name) ^
                             (uint64_t)(uintptr_t)s);
    /* one indexed read of at most CHAT_HISTORY rows, once per start */
    if (s->cfg.store != NULL && chat_store_recent(s->cfg.store, s->cfg.name, CHAT_HISTORY, load_line, s) < 0)
        fprintf(stderr, "troupe-chat: #%s: cannot read its history from disk\n", s->cfg.name);
    if (tr_ref_is_none(s->cfg.directory))
        s->replica_known = true; /* no directory, no replica: lines are confirmed at once */
    report_up(self, s);
    return TR_OK;
}

static void room_error(tr_ctx *self, room_state *s, tr_ref to, int code, const char *text, bool fatal)
{
    chat_send_room_error(self, to, code, text, fatal, s->cfg.name);
}

static void room_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    room_state *s = state;
    free(s->m);
    free(s->waiting);
    for (uint32_t i = 0; i < s->nunc; i++)
        free(s->unc[i].line.text);
    free(s->unc);
    ring_clear(&s->hist);
}

static member *find_ref(room_state *s, tr_ref r)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (!s->m[i].gone && tr_ref_equal(s->m[i].ref, r))
            return &s->m[i];
    return NULL;
}

static member *find_nick(room_state *s, const char *nick)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (!s->m[i].gone && strcmp(s->m[i].nick, nick) == 0)
            return &s->m[i];
    return NULL;
}

/* Sends one counted message to a member, or cuts the member off when it is
 * over budget (marked gone; sweep() removes it and announces it). */
static void deliver(tr_ctx *self, room_state *s, member *m, uint32_t type, const chat_buf *b)
{
    if (m->gone)
        return;
    if (m->sent - m->acked >= s->cfg.budget) {
        char text[320];
        snprintf(text, sizeof(text), "disconnected: %llu messages unread (budget %u)",
                 (unsigned long long)(m->sent - m->acked), s->cfg.budget);
        room_error(self, s, m->ref, CHAT_E_SLOW, text, true);
        tr_demonitor(tr_ctx_system(self), m->ref, m->mon);
        m->gone = true;
        s->kicked++;
        return;
    }
    if (tr_send(self, m->ref, type, b->sb.data, b->sb.size) == TR_OK)
        m->sent++;
}

static void notice_all(tr_ctx *self, room_state *s, const char *text);

/* Removes members marked gone; those cut off for slowness are announced
 * (which may cut off more: loop until none). */
static void sweep(tr_ctx *self, room_state *s)
{
    for (;;) {
        char gone_nick[CHAT_MAX_NICK + 1] = "";
        for (uint32_t i = 0; i < s->n; i++) {
            if (s->m[i].gone) {
                snprintf(gone_nick, sizeof(gone_nick), "%s", s->m[i].nick);
                s->m[i] = s->m[--s->n];
                break;
            }
        }
        if (gone_nick[0] == '\0') {
            report_up(self, s);
            return;
        }
        char text[CHAT_MAX_NICK + 64];
        snprintf(text, sizeof(text), "%s was disconnected (too slow)", gone_nick);
        notice_all(self, s, text);
    }
}

/* A notice to every member (the subject of a join/leave is already in or out). */
static void notice_all(tr_ctx *self, room_state *s, const char *text)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int64(&b.pk, now_s());
    chat_pack_str(&b.pk, text);
    for (uint32_t i = 0; i < s->n; i++)
        deliver(self, s, &s->m[i], CHAT_NOTICE, &b);
    chat_buf_destroy(&b);
}

static void remove_member(tr_ctx *self, room_state *s, member *m, const char *why)
{
    char text[CHAT_MAX_NICK + CHAT_MAX_TEXT + 64];
    snprintf(text, sizeof(text), "%s left%s", m->nick, why);
    *m = s->m[--s->n];
    notice_all(self, s, text);
    sweep(self, s);
}

static int do_join(tr_ctx *self, room_state *s, tr_ref who, const char *nick, int how);

static int on_join(tr_ctx *self, room_state *s, const tr_msg *msg)
{
    chat_in in;
    char nick[CHAT_MAX_NICK + 1];
    if (!chat_in_open(&in, msg->data, msg->size, 1) || !chat_obj_str(&in.items[0], nick, sizeof(nick)) ||
        !chat_valid_nick(nick)) {
        chat_in_close(&in);
        room_error(self, s, msg->sender, CHAT_E_BAD_NICK,
                   "bad nickname: use 1-32 of A-Z a-z 0-9 _ -", true);
        return TR_OK;
    }
    int64_t how = CHAT_JOIN_NEW;
    if (in.n < 2 || !chat_obj_i64(&in.items[1], &how) || how < CHAT_JOIN_NEW || how > CHAT_JOIN_MOVED)
        how = CHAT_JOIN_NEW;
    chat_in_close(&in);
    if (s->fetch_corr != 0 && !tr_ref_is_none(msg->sender) && s->nwaiting < CHAT_MAX_MEMBERS) {
        /* our lines are still coming from the replica: let them in after */
        if (!CHAT_ARRAY_MAKE_SPACE(s->waiting, s->nwaiting, s->capwaiting, 8))
            return TR_ENOMEM;
        waiting_join *w = &s->waiting[s->nwaiting++];
        w->who = msg->sender;
        w->how = (int)how;
        snprintf(w->nick, sizeof(w->nick), "%s", nick);
        return TR_OK;
    }
    return do_join(self, s, msg->sender, nick, (int)how);
}

/* The fetch of our lines from the replica is over: let the waiting in. */
static int fetch_done(tr_ctx *self, room_state *s)
{
    s->fetch_corr = 0;
    int rc = TR_OK;
    for (uint32_t i = 0; i < s->nwaiting && rc == TR_OK; i++)
        rc = do_join(self, s, s->waiting[i].who, s->waiting[i].nick, s->waiting[i].how);
    s->nwaiting = 0;
    return rc;
}

static int do_join(tr_ctx *self, room_state *s, tr_ref who, const char *nick, int how)
{
    if (tr_ref_is_none(who) || find_ref(s, who) != NULL) {
        room_error(self, s, who, CHAT_E_NICK_TAKEN, "already joined", true);
        return TR_OK;
    }
    member *stale = find_nick(s, nick);
    if (stale != NULL && how != CHAT_JOIN_NEW) {
        /* the same person through a new session (its server was lost, or the
         * room moved) before the old session's DOWN reached us: nicknames are
         * unique across the servers, so the old member is stale */
        tr_demonitor(tr_ctx_system(self), stale->ref, stale->mon);
        *stale = s->m[--s->n];
        stale = NULL;
    }
    if (stale != NULL) {
        char text[320];
        snprintf(text, sizeof(text), "nickname '%s' is taken in #%s", nick, s->cfg.name);
        room_error(self, s, who, CHAT_E_NICK_TAKEN, text, true);
        return TR_OK;
    }
    if (s->n >= CHAT_MAX_MEMBERS) {
        char text[320];
        snprintf(text, sizeof(text), "#%s is full (%d members)", s->cfg.name, CHAT_MAX_MEMBERS);
        room_error(self, s, who, CHAT_E_FULL, text, true);
        return TR_OK;
    }
    if (!CHAT_ARRAY_MAKE_SPACE(s->m, s->n, s->cap, 8))
        return TR_ENOMEM;
    /* announce to the others first, then add: the newcomer's first counted
     * message is whatever comes after its JOINED */
    if (how != CHAT_JOIN_MOVED) { /* the members who move with the room say nothing */
        char text[CHAT_MAX_NICK + 16];
        snprintf(text, sizeof(text), how == CHAT_JOIN_BACK ? "%s is back" : "%s joined", nick);
        notice_all(self, s, text);
        sweep(self, s);
    }

    member *m = &s->m[s->n++];
    memset(m, 0, sizeof(*m));
    m->ref = who;
    snprintf(m->nick, sizeof(m->nick), "%s", nick);
    if (tr_monitor(tr_ctx_system(self), tr_self(self), m->ref, &m->mon) != TR_OK) {
        s->n--;
        return TR_OK;
    }

    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 4);
    chat_pack_str(&b.pk, s->cfg.name);
    chat_pack_str(&b.pk, s->cfg.server);
    msgpack_pack_array(&b.pk, s->n);
    for (uint32_t i = 0; i < s->n; i++)
        chat_pack_str(&b.pk, s->m[i].nick);
    msgpack_pack_array(&b.pk, s->hist.n);
    for (uint32_t i = 0; i < s->hist.n; i++)
        pack_shown(&b.pk, ring_at(&s->hist, i));
    chat_buf_send(self, m->ref, CHAT_JOINED, &b);
    report_up(self, s);
    return TR_OK;
}

/* A line (CHAT_LINE) to every member but `from` (may be NULL). */
static void deliver_line(tr_ctx *self, room_state *s, const hist_line *h, const member *from)
{
    chat_buf b;
    chat_buf_init(&b);
    pack_shown(&b.pk, h);
    for (uint32_t i = 0; i < s->n; i++)
        if (&s->m[i] != from)
            deliver(self, s, &s->m[i], CHAT_LINE, &b);
    chat_buf_destroy(&b);
}

/* A line sent again (same id) that we have: confirmed once its copy is. */
static void said_again(tr_ctx *self, room_state *s, tr_ref to, uint64_t id, uint64_t uid)
{
    for (uint32_t i = 0; i < s->nunc; i++)
        if (s->unc[i].line.uid == uid) { /* the newest sender is the one listening */
            s->unc[i].to = to;
            s->unc[i].id = id;
            return;
        }
    chat_send_said(self, to, id, CHAT_OK);
}

/* Keeps a line said with an id until its replica holds it. */
static int hold_unconfirmed(room_state *s, const hist_line *h, tr_ref to, uint64_t id)
{
    if (!CHAT_ARRAY_MAKE_SPACE(s->unc, s->nunc, s->capunc, 8))
        return TR_ENOMEM;
    char *text = strdup(h->text);
    if (text == NULL)
        return TR_ENOMEM;
    unconfirmed *u = &s->unc[s->nunc++];
    u->line = *h;
    u->line.text = text;
    u->id = id;
    u->to = to;
    u->corr = 0;
    return TR_OK;
}

/* CHAT_SAY [text, me, id] from a member. */
static int on_say(tr_ctx *self, room_state *s, const tr_msg *msg)
{
    member *from = find_ref(s, msg->sender);
    chat_in in;
    bool ok = chat_in_open(&in, msg->data, msg->size, 1) && in.items[0].type == MSGPACK_OBJECT_STR;
    uint64_t id = 0;
    bool has_id = ok && in.n >= 3 && chat_obj_u64(&in.items[2], &id) && id != 0;
    if (from == NULL || !ok) {
        chat_in_close(&in);
        if (from == NULL)
            room_error(self, s, msg->sender, CHAT_E_NOT_MEMBER, "not in this room", false);
        else
            room_error(self, s, msg->sender, CHAT_E_PROTO, "malformed line ignored", false);
        if (has_id)
            chat_send_said(self, msg->sender, id, from == NULL ? CHAT_E_NOT_MEMBER : CHAT_E_PROTO);
        return TR_OK;
    }
    size_t len = in.items[0].via.str.size;
    bool me = in.n >= 2 && in.items[1].type == MSGPACK_OBJECT_BOOLEAN && in.items[1].via.boolean;
    char text[320];
    if (len > CHAT_MAX_LINE) {
        chat_in_close(&in);
        snprintf(text, sizeof(text), "line too long (%zu bytes, max %d): not sent", len,
                 CHAT_MAX_LINE);
        room_error(self, s, msg->sender, CHAT_E_TOO_LONG, text, false);
        if (has_id)
            chat_send_said(self, msg->sender, id, CHAT_E_TOO_LONG);
        return TR_OK;
    }
    if (chat_blank(in.items[0].via.str.ptr, len)) {
        chat_in_close(&in);
        if (has_id) /* a blank line says nothing: nothing to wait for */
            chat_send_said(self, msg->sender, id, CHAT_OK);
        return TR_OK;
    }
    uint64_t uid = has_id ? chat_line_uid(s->cfg.name, id) : next_uid(s);
    if (has_id && (known_uid(s, uid) || ring_has(&s->hist, uid))) {
        chat_in_close(&in); /* sent again after a failover: taken already */
        said_again(self, s, msg->sender, id, uid);
        return TR_OK;
    }
    if (has_id && s->nunc >= CHAT_MAX_UNCONFIRMED) {
        chat_in_close(&in);
        snprintf(text, sizeof(text),
                 "line not sent: %u lines of #%s still wait for the server that keeps its copy",
                 s->nunc, s->cfg.name);
        room_error(self, s, msg->sender, CHAT_E_UNAVAILABLE, text, false);
        chat_send_said(self, msg->sender, id, CHAT_E_UNAVAILABLE);
        return TR_OK;
    }
    /* cleaned again here: a client is not trusted to have done it */
    char clean[CHAT_MAX_TEXT + 1];
    chat_clean(in.items[0].via.str.ptr, len, clean, sizeof(clean), NULL);
    chat_in_close(&in);

    hist_line h = {.uid = uid, .ts = now_s(), .text = clean, .me = me};
    int64_t at = now_ms();
    h.at = s->last_at = at > s->last_at ? at : s->last_at + 1;
    snprintf(h.nick, sizeof(h.nick), "%s", from->nick);
    s->lines++;
    know_uid(s, uid);
    ring_add(&s->hist, &h);
    store_line(s->cfg.store, s->cfg.name, &h);
    if (has_id) {
        int rc = hold_unconfirmed(s, &h, msg->sender, id);
        if (rc != TR_OK)
            return rc;
        resend(self, s, 0); /* a copy as an ask: CHAT_SAID once the replica has it */
    } else {
        const hist_line *one = &h;
        replicate(self, s, &one, 1, NULL);
    }
    deliver_line(self, s, &h, from);
    sweep(self, s);
    return TR_OK;
}

/* Merges lines [[uid, at, ts, nick, text, me]...] from another copy of the
 * room: each one we did not know goes into the ring (and our store when
 * `store`: the directory has not stored it) and to our members as a live
 * line (what a member saw in the other copy already, it skips by uid). */
static void merge_lines(tr_ctx *self, room_state *s, const msgpack_object_array *lines, bool store)
{
    for (uint32_t i = 0; i < lines->size && i < CHAT_HISTORY; i++) {
        hist_line h;
        char text[CHAT_MAX_TEXT + 1];
        if (!unpack_line(&lines->ptr[i], &h, text) || known_uid(s, h.uid) || ring_has(&s->hist, h.uid))
            continue;
        know_uid(s, h.uid);
        ring_add(&s->hist, &h);
        if (h.at > s->last_at)
            s->last_at = h.at;
        if (store)
            store_line(s->cfg.store, s->cfg.name, &h);
        deliver_line(self, s, &h, NULL);
    }
    sweep(self, s);
}

/* CHAT_REPLICA [directory or nil] from our directory. A new replica gets
 * the whole ring and every unconfirmed line; the first one is also asked
 * for its lines (joins wait). */
static int on_replica(tr_ctx *self, room_state *s, const tr_msg *msg)
{
    chat_in in;
    tr_ref to = TR_REF_NONE;
    bool ok = chat_in_open(&in, msg->data, msg->size, 1);
    if (ok && in.items[0].type != MSGPACK_OBJECT_NIL &&
        chat_unpack_ref(tr_ctx_system(self), &in.items[0], &to) != TR_OK)
        ok = false;
    chat_in_close(&in);
    if (!ok)
        return TR_OK;
    bool changed = !s->replica_known || !tr_ref_equal(to, s->replica);
    s->replica_known = true;
    s->replica = to;
    if (!changed)
        return TR_OK;
    for (uint32_t i = 0; i < s->nunc; i++)
        s->unc[i].corr = 0; /* the old replica's answers no longer count */
    resend(self, s, 0);     /* (confirmed at once when we are alone now) */
    if (tr_ref_is_none(to))
        return TR_OK;
    replicate_ring(self, s);
    if (s->fetched)
        return TR_OK;
    s->fetched = true;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    chat_pack_str(&b.pk, s->cfg.name);
    int rc = tr_ask(self, to, CHAT_FETCH, b.sb.data, b.sb.size, CHAT_FETCH_TIMEOUT_MS, &s->fetch_corr);
    chat_buf_destroy(&b);
    if (rc != TR_OK)
        s->fetch_corr = 0;
    return TR_OK;
}

static int room_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    room_state *s = state;
    switch (msg->type) {
    case CHAT_REPLICA:
        return tr_ref_equal(msg->sender, s->cfg.directory) ? on_replica(self, s, msg) : TR_OK;
    case CHAT_REPLICATE: { /* [room, [line...]] from another copy, through our directory */
        chat_in in;
        if (!tr_ref_equal(msg->sender, s->cfg.directory))
            return TR_OK;
        if (chat_in_open(&in, msg->data, msg->size, 2) && in.items[1].type == MSGPACK_OBJECT_ARRAY)
            merge_lines(self, s, &in.items[1].via.array, false); /* the directory stored them */
        chat_in_close(&in);
        return TR_OK;
    }
    case TR_MSG_REPLY: /* the replica's lines [[line...]], or a copy confirmed [] */
    case TR_MSG_ASK_FAILED:
        if (msg->corr == 0)
            return TR_OK;
        if (msg->corr != s->fetch_corr) { /* a CHAT_REPLICATE ask */
            if (msg->type == TR_MSG_REPLY)
                confirm(self, s, msg->corr);
            else
                resend(self, s, msg->corr);
            return TR_OK;
        }
        if (msg->type == TR_MSG_REPLY) {
            chat_in in;
            if (chat_in_open(&in, msg->data, msg->size, 1) &&
                in.items[0].type == MSGPACK_OBJECT_ARRAY)
                merge_lines(self, s, &in.items[0].via.array, true);
            chat_in_close(&in);
        }
        return fetch_done(self, s);
    case CHAT_TICK: /* our own timer: copies that could not be sent, again */
        if (tr_ref_is_none(msg->sender)) {
            s->retry_due = false;
            resend(self, s, 0);
        }
        return TR_OK;
    case CHAT_JOIN:
        return on_join(self, s, msg);
    case CHAT_SAY:
        return on_say(self, s, msg);
    case CHAT_ACK: {
        member *m = find_ref(s, msg->sender);
        chat_in in;
        uint64_t n;
        if (chat_in_open(&in, msg->data, msg->size, 1) && chat_obj_u64(&in.items[0], &n) &&
            m != NULL && n > m->acked && n <= m->sent)
            m->acked = n;
        chat_in_close(&in);
        return TR_OK;
    }
    case CHAT_LEAVE: { /* [reason, quiet] */
        member *m = find_ref(s, msg->sender);
        if (m == NULL)
            return TR_OK;
        char why[CHAT_MAX_TEXT + 4] = "";
        chat_in in;
        if (chat_in_open(&in, msg->data, msg->size, 2) &&
            in.items[1].type == MSGPACK_OBJECT_BOOLEAN && in.items[1].via.boolean) {
            chat_in_close(&in); /* moving with the room: nobody is told */
            tr_demonitor(tr_ctx_system(self), m->ref, m->mon);
            *m = s->m[--s->n];
            report_up(self, s);
            return TR_OK;
        }
        chat_in_close(&in);
        if (chat_in_open(&in, msg->data, msg->size, 1) && in.items[0].type == MSGPACK_OBJECT_STR &&
            in.items[0].via.str.size > 0 && in.items[0].via.str.size <= CHAT_MAX_REASON &&
            !chat_blank(in.items[0].via.str.ptr, in.items[0].via.str.size)) {
            char clean[3 * CHAT_MAX_REASON + 1];
            chat_clean(in.items[0].via.str.ptr, in.items[0].via.str.size, clean, sizeof(clean),
                       NULL);
            snprintf(why, sizeof(why), " (%s)", clean);
        }
        chat_in_close(&in);
        tr_demonitor(tr_ctx_system(self), m->ref, m->mon);
        remove_member(self, s, m, why);
        return TR_OK;
    }
    case CHAT_NICK: { /* [new]: the member's nickname changed (registered by its gateway) */
        member *m = find_ref(s, msg->sender);
        chat_in in;
        char nick[CHAT_MAX_NICK + 1];
        bool ok = m != NULL && chat_in_open(&in, msg->data, msg->size, 1) &&
                  chat_obj_str(&in.items[0], nick, sizeof(nick)) && chat_valid_nick(nick);
        chat_in_close(&in);
        if (!ok || strcmp(nick, m->nick) == 0)
            return TR_OK;
        if (find_nick(s, nick) != NULL) {
            char text[320];
            snprintf(text, sizeof(text), "nickname '%s' is taken in #%s: you stay %s there", nick,
                     s->cfg.name, m->nick);
            room_error(self, s, msg->sender, CHAT_E_COMMAND, text, false);
            return TR_OK;
        }
        char text[2 * CHAT_MAX_NICK + 32];
        snprintf(text, sizeof(text), "%s is now known as %s", m->nick, nick);
        snprintf(m->nick, sizeof(m->nick), "%s", nick);
        notice_all(self, s, text);
        sweep(self, s);
        return TR_OK;
    }
    case CHAT_WHO: { /* an ask: [[nick...]] */
        chat_buf b;
        if (!chat_buf_open_answer(msg, &b, 1))
            return TR_OK;
        msgpack_pack_array(&b.pk, s->n);
        for (uint32_t i = 0; i < s->n; i++)
            chat_pack_str(&b.pk, s->m[i].nick);
        int rc = chat_buf_reply(self, msg, &b);
        return rc == TR_EDEAD ? TR_OK : rc;
    }
    case TR_MSG_DOWN: {
        const tr_down *d = msg->data;
        member *m = find_ref(s, d->actor);
        if (m != NULL && m->mon == d->monitor)
            remove_member(self, s, m,
                          d->reason == TR_ENODEDOWN ? " (its server went down)"
                          : d->reason == TR_OK      ? ""
                                                    : " (connection lost)");
        return TR_OK;
    }
    case CHAT_STATS: {
        chat_buf b;
        chat_buf_init(&b);
        msgpack_pack_array(&b.pk, 4);
        msgpack_pack_uint32(&b.pk, s->n);
        msgpack_pack_uint32(&b.pk, s->hist.n);
        msgpack_pack_uint64(&b.pk, s->kicked);
        msgpack_pack_uint64(&b.pk, s->lines);
        int rc = chat_buf_reply(self, msg, &b);
        return rc == TR_EDEAD ? TR_OK : rc;
    }
    default:
        return TR_OK; /* unknown tags are ignored: a newer peer may send more */
    }
}

const tr_behaviour chat_room_behaviour = {
    .name = "chat.room",
    .init = room_init,
    .handle = room_handle,
    .terminate = room_terminate,
    .state_size = sizeof(room_state),
};

/* ---- directory ----
 * One per server. CHAT_OPEN (an ask) answers [code, room ref] once the room
 * runs, starting it first if needed. A room announces itself with
 * CHAT_ROOM_UP after every (re)start, so the directory always hands out the
 * current reference; asks that arrive while a room (re)starts wait. */

typedef struct pending_ask {
    tr_ref sender;
    uint64_t corr;
} pending_ask;

typedef struct room_entry {
    chat_room_cfg *cfg; /* the supervisor's child arg: freed after the supervisor ended */
    tr_ref sup;
    tr_ref room;        /* none while (re)starting */
    uint32_t members;   /* as the room last said (ROOM_UP) */
    uint64_t sup_mon;
    pending_ask *pend;
    uint32_t npend, cappend;
} room_entry;

/* The lines other servers' copies of a room copied to us (we are its
 * replica): in memory, so a copy of the room that starts here has them
 * with or without a store. At most CHAT_MAX_ROOMS rooms: the one that got
 * lines least recently goes first. */
typedef struct held_room {
    char name[CHAT_MAX_ROOM + 1];
    line_ring ring;
    uint64_t used;
} held_room;

typedef struct directory_state {
    chat_directory_cfg cfg;
    room_entry *rooms;
    uint32_t n, cap;
    held_room *held;
    uint32_t nheld, capheld;
    uint64_t clock; /* for held_room.used */
    /* the servers up, as our gateway last said (CHAT_SERVERS), for replicas */
    char names[CHAT_MAX_SERVERS][CHAT_MAX_SERVER + 1];
    tr_ref dirs[CHAT_MAX_SERVERS];
    uint32_t nservers;
} directory_state;

/* Where room's lines are copied: the room's own server when that is not us
 * (we run a stand-in copy while it is up again), else the next server in
 * rendezvous order; none when we are alone. */
static tr_ref replica_of(const directory_state *s, const char *room)
{
    const char *names[CHAT_MAX_SERVERS];
    uint32_t idx[CHAT_MAX_SERVERS], n = 0;
    for (uint32_t i = 0; i < s->nservers; i++)
        names[i] = s->names[i];
    int owner = chat_place(room, names, s->nservers);
    if (owner < 0)
        return TR_REF_NONE;
    if (strcmp(s->names[owner], s->cfg.server) != 0)
        return s->dirs[owner];
    for (uint32_t i = 0; i < s->nservers; i++)
        if ((int)i != owner) {
            names[n] = s->names[i];
            idx[n++] = i;
        }
    int next = chat_place(room, names, n);
    return next < 0 ? TR_REF_NONE : s->dirs[idx[next]];
}

static void tell_replica(tr_ctx *self, const directory_state *s, const room_entry *e)
{
    if (tr_ref_is_none(e->room))
        return;
    tr_ref to = replica_of(s, e->cfg->name);
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    if (tr_ref_is_none(to) || chat_pack_ref(tr_ctx_system(self), &b.pk, to) != TR_OK)
        msgpack_pack_nil(&b.pk);
    chat_buf_send(self, e->room, CHAT_REPLICA, &b);
}

/* CHAT_SERVERS [[server, directory]...] from our own gateway. */
static void on_servers(tr_ctx *self, directory_state *s, const tr_msg *msg)
{
    chat_in in;
    uint32_t n = 0;
    if (chat_in_open(&in, msg->data, msg->size, 1) && in.items[0].type == MSGPACK_OBJECT_ARRAY) {
        const msgpack_object_array *list = &in.items[0].via.array;
        for (uint32_t i = 0; i < list->size && n < CHAT_MAX_SERVERS; i++) {
            const msgpack_object *e = &list->ptr[i];
            if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size >= 2 &&
                chat_obj_str(&e->via.array.ptr[0], s->names[n], sizeof(s->names[n])) &&
                chat_unpack_ref(tr_ctx_system(self), &e->via.array.ptr[1], &s->dirs[n]) == TR_OK)
                n++;
        }
    }
    chat_in_close(&in);
    s->nservers = n;
    for (uint32_t i = 0; i < s->n; i++)
        tell_replica(self, s, &s->rooms[i]);
}

static room_entry *find_room(directory_state *s, const char *name);

static held_room *find_held(directory_state *s, const char *room)
{
    for (uint32_t i = 0; i < s->nheld; i++)
        if (strcmp(s->held[i].name, room) == 0)
            return &s->held[i];
    return NULL;
}

/* The held lines of room, made (or taking the least recently used slot) if needed. */
static held_room *hold_room(directory_state *s, const char *room)
{
    held_room *h = find_held(s, room);
    if (h == NULL && s->nheld == CHAT_MAX_ROOMS) {
        h = &s->held[0];
        for (uint32_t i = 1; i < s->nheld; i++)
            if (s->held[i].used < h->used)
                h = &s->held[i];
        ring_clear(&h->ring);
    } else if (h == NULL) {
        if (!CHAT_ARRAY_MAKE_SPACE(s->held, s->nheld, s->capheld, 8))
            return NULL;
        h = &s->held[s->nheld++];
        memset(h, 0, sizeof(*h));
    }
    snprintf(h->name, sizeof(h->name), "%s", room);
    h->used = ++s->clock;
    return h;
}

/* CHAT_REPLICATE [room, [line...]] from a copy of the room on another
 * server (or a stand-in handing lines back): hold them (memory, store),
 * answer an ask with [] (the sender's lines are safe from its death now),
 * and give them to our copy of the room if it runs. */
static void on_replicate(tr_ctx *self, directory_state *s, const tr_msg *msg)
{
    chat_in in;
    char room[CHAT_MAX_ROOM + 1];
    if (!chat_in_open(&in, msg->data, msg->size, 2) || !chat_obj_str(&in.items[0], room, sizeof(room)) ||
        !chat_valid_room(room) || in.items[1].type != MSGPACK_OBJECT_ARRAY) {
        chat_in_close(&in);
        return;
    }
    held_room *held = hold_room(s, room);
    const msgpack_object_array *lines = &in.items[1].via.array;
    for (uint32_t i = 0; i < lines->size && i < CHAT_HISTORY; i++) {
        hist_line h;
        char text[CHAT_MAX_TEXT + 1];
        if (!unpack_line(&lines->ptr[i], &h, text))
            continue;
        if (held != NULL)
            ring_add(&held->ring, &h);
        store_line(s->cfg.store, room, &h);
    }
    chat_in_close(&in);
    if (msg->corr != 0) {
        static const unsigned char empty[] = {0x90}; /* [] */
        tr_reply(self, msg, empty, sizeof(empty));
    }
    room_entry *e = find_room(s, room);
    if (e != NULL && !tr_ref_is_none(e->room) && !tr_ref_equal(e->room, msg->sender))
        tr_send(self, e->room, CHAT_REPLICATE, msg->data, msg->size);
}

/* [room, [line...]]: the lines of ring (or nothing when it is empty) to `to`. */
static void send_ring(tr_ctx *self, tr_ref to, uint32_t type, const char *room, line_ring *r)
{
    if (r->n == 0)
        return;
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    chat_pack_str(&b.pk, room);
    msgpack_pack_array(&b.pk, r->n);
    for (uint32_t i = 0; i < r->n; i++)
        pack_line(&b.pk, ring_at(r, i));
    chat_buf_send(self, to, type, &b);
}

typedef struct fetch_ctx {
    const char *room;
    line_ring *ring;
} fetch_ctx;

static void fetch_line(void *ctx, const chat_stored_line *l)
{
    fetch_ctx *f = ctx;
    hist_line h;
    if (stored_to_line(f->room, l, &h))
        ring_add(f->ring, &h);
}

/* CHAT_FETCH [room], an ask from a starting copy of the room: [[line...]],
 * the most recent lines we hold and have stored. */
static void on_fetch(tr_ctx *self, directory_state *s, const tr_msg *msg)
{
    chat_in in;
    char room[CHAT_MAX_ROOM + 1];
    bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
              chat_obj_str(&in.items[0], room, sizeof(room)) && chat_valid_room(room);
    chat_in_close(&in);
    if (msg->corr == 0)
        return;
    line_ring ring;
    memset(&ring, 0, sizeof(ring));
    if (ok && s->cfg.store != NULL) {
        fetch_ctx f = {room, &ring};
        chat_store_recent(s->cfg.store, room, CHAT_HISTORY, fetch_line, &f);
    }
    held_room *held = ok ? find_held(s, room) : NULL;
    for (uint32_t i = 0; held != NULL && i < held->ring.n; i++)
        ring_add(&ring, ring_at(&held->ring, i));
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_array(&b.pk, ring.n);
    for (uint32_t i = 0; i < ring.n; i++)
        pack_line(&b.pk, ring_at(&ring, i));
    chat_buf_reply(self, msg, &b);
    ring_clear(&ring);
}

static int directory_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    directory_state *s = state;
    if (arg == NULL)
        return TR_EINVAL;
    s->cfg = *(const chat_directory_cfg *)arg;
    if (s->cfg.room_intensity == 0)
        s->cfg.room_intensity = 5;
    if (s->cfg.room_period_ms == 0)
        s->cfg.room_period_ms = 10000;
    return TR_OK;
}

/* Runs when every child (each room's supervisor, each room) has ended. */
static void directory_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    directory_state *s = state;
    for (uint32_t i = 0; i < s->n; i++) {
        free(s->rooms[i].cfg);
        free(s->rooms[i].pend);
    }
    free(s->rooms);
    for (uint32_t i = 0; i < s->nheld; i++)
        ring_clear(&s->held[i].ring);
    free(s->held);
}

static void answer_open(tr_ctx *self, tr_ref to, uint64_t corr, int code, tr_ref room)
{
    chat_buf b;
    chat_buf_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int(&b.pk, code);
    if (code == CHAT_OK && chat_pack_ref(tr_ctx_system(self), &b.pk, room) == TR_OK) {
        /* packed */
    } else {
        msgpack_pack_nil(&b.pk);
    }
    tr_msg req = {.type = CHAT_OPEN, .sender = to, .corr = corr};
    chat_buf_reply(self, &req, &b);
}

static room_entry *find_room(directory_state *s, const char *name)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->rooms[i].cfg->name, name) == 0)
            return &s->rooms[i];
    return NULL;
}

static room_entry *start_room(tr_ctx *self, directory_state *s, const char *name)
{
    if (s->n >= CHAT_MAX_ROOMS)
        return NULL;
    if (!CHAT_ARRAY_MAKE_SPACE(s->rooms, s->n, s->cap, 8))
        return NULL;
    chat_room_cfg *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return NULL;
    snprintf(cfg->name, sizeof(cfg->name), "%s", name);
    snprintf(cfg->server, sizeof(cfg->server), "%s", s->cfg.server);
    cfg->directory = tr_self(self);
    cfg->budget = s->cfg.budget;
    cfg->store = s->cfg.store;

    tr_child_spec spec = {
        .id = "room",
        .beh = &chat_room_behaviour,
        .arg = cfg,
        .restart = TR_PERMANENT,
    };
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE,
                          .intensity = s->cfg.room_intensity,
                          .period_ms = s->cfg.room_period_ms};
    char sup_name[CHAT_MAX_ROOM + 8];
    snprintf(sup_name, sizeof(sup_name), "sup:%s", name);
    tr_spawn_opts opts = {.parent = tr_self(self), .name = sup_name};
    tr_ref sup;
    if (tr_supervisor_start(tr_ctx_system(self), &flags, &spec, 1, &opts, &sup) != TR_OK) {
        free(cfg);
        return NULL;
    }
    room_entry *e = &s->rooms[s->n++];
    memset(e, 0, sizeof(*e));
    e->cfg = cfg;
    e->sup = sup;
    tr_monitor(tr_ctx_system(self), tr_self(self), sup, &e->sup_mon);
    return e;
}

static int directory_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    directory_state *s = state;
    switch (msg->type) {
    case CHAT_OPEN: {
        chat_in in;
        char name[CHAT_MAX_ROOM + 1];
        bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
                  chat_obj_str(&in.items[0], name, sizeof(name)) && chat_valid_room(name);
        bool create = !(in.n >= 2 && in.items[1].type == MSGPACK_OBJECT_BOOLEAN &&
                        !in.items[1].via.boolean);
        chat_in_close(&in);
        if (msg->corr == 0)
            return TR_OK;
        if (!ok) {
            answer_open(self, msg->sender, msg->corr, CHAT_E_BAD_ROOM, TR_REF_NONE);
            return TR_OK;
        }
        room_entry *e = find_room(s, name);
        if (e == NULL && !create) {
            answer_open(self, msg->sender, msg->corr, CHAT_E_NO_ROOM, TR_REF_NONE);
            return TR_OK;
        }
        if (e == NULL && (e = start_room(self, s, name)) == NULL) {
            answer_open(self, msg->sender, msg->corr, CHAT_E_UNAVAILABLE, TR_REF_NONE);
            return TR_OK;
        }
        if (!tr_ref_is_none(e->room) &&
            tr_actor_state_of(tr_ctx_system(self), e->room) != TR_STATE_DEAD) {
            answer_open(self, msg->sender, msg->corr, CHAT_OK, e->room);
            return TR_OK;
        }
        if (!CHAT_ARRAY_MAKE_SPACE(e->pend, e->npend, e->cappend, 4))
            return TR_ENOMEM;
        e->pend[e->npend++] = (pending_ask){msg->sender, msg->corr};
        return TR_OK;
    }
    case CHAT_ROOM_UP: {
        chat_in in;
        char name[CHAT_MAX_ROOM + 1];
        bool ok = chat_in_open(&in, msg->data, msg->size, 1) &&
                  chat_obj_str(&in.items[0], name, sizeof(name));
        chat_in_close(&in);
        room_entry *e = ok ? find_room(s, name) : NULL;
        if (e == NULL)
            return TR_OK;
        uint64_t members = 0;
        if (chat_in_open(&in, msg->data, msg->size, 2) && chat_obj_u64(&in.items[1], &members))
            e->members = (uint32_t)members;
        chat_in_close(&in);
        if (tr_ref_equal(e->room, msg->sender))
            return TR_OK; /* a membership change */
        e->room = msg->sender;
        tell_replica(self, s, e); /* before anyone is told where it is: it fetches first */
        held_room *held = find_held(s, name);
        if (held != NULL) /* what its copy on another server said, for its history */
            send_ring(self, e->room, CHAT_REPLICATE, name, &held->ring);
        for (uint32_t i = 0; i < e->npend; i++)
            answer_open(self, e->pend[i].sender, e->pend[i].corr, CHAT_OK, e->room);
        e->npend = 0;
        return TR_OK;
    }
    case CHAT_SERVERS:
        if (!tr_ref_is_remote(msg->sender))
            on_servers(self, s, msg);
        return TR_OK;
    case CHAT_REPLICATE:
        on_replicate(self, s, msg);
        return TR_OK;
    case CHAT_FETCH:
        on_fetch(self, s, msg);
        return TR_OK;
    case CHAT_LIST: { /* an ask: [[room, members]...] */
        chat_buf b;
        if (!chat_buf_open_answer(msg, &b, 1))
            return TR_OK;
        msgpack_pack_array(&b.pk, s->n);
        for (uint32_t i = 0; i < s->n; i++) {
            msgpack_pack_array(&b.pk, 2);
            chat_pack_str(&b.pk, s->rooms[i].cfg->name);
            msgpack_pack_uint32(&b.pk, s->rooms[i].members);
        }
        chat_buf_reply(self, msg, &b);
        return TR_OK;
    }
    case TR_MSG_DOWN: { /* a room's supervisor gave up (restart intensity) */
        const tr_down *d = msg->data;
        for (uint32_t i = 0; i < s->n; i++) {
            room_entry *e = &s->rooms[i];
            if (!tr_ref_equal(e->sup, d->actor))
                continue;
            for (uint32_t k = 0; k < e->npend; k++)
                answer_open(self, e->pend[k].sender, e->pend[k].corr, CHAT_E_UNAVAILABLE,
                            TR_REF_NONE);
            free(e->pend);
            free(e->cfg);
            s->rooms[i] = s->rooms[--s->n];
            break;
        }
        return TR_OK;
    }
    default:
        return TR_OK;
    }
}

const tr_behaviour chat_directory_behaviour = {
    .name = "chat.directory",
    .init = directory_init,
    .handle = directory_handle,
    .terminate = directory_terminate,
    .state_size = sizeof(directory_state),
};
