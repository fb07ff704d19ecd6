/* Cancellation tokens (see troupe/token.h).
 *
 * Each token has a lock guarding its children list and its bound actors.
 * Cancel sets the flag under the lock and takes both lists, so a bind or a
 * child creation either lands before (and is cancelled with the rest) or
 * sees the flag (and is cancelled at once): each bound actor is stopped
 * exactly once per token. The subtree is walked with an explicit stack, not
 * recursion, so deep chains cannot overflow the C stack. Children hold a
 * reference on their parent; a cancel holds a reference on each child it
 * visits, taken only while the child is still referenced (a child whose last
 * reference is being dropped is skipped: nobody can bind to it any more). */
#include <stdlib.h>

#include "actors/supervision.h"
#include "ds/list.h"
#include "troupe/group.h"
#include "troupe/token.h"

typedef struct tok_entry {
    tr_ref actor;
    bool watch; /* send TR_MSG_CANCELLED instead of stopping */
} tok_entry;

typedef TR_VEC(tok_entry) tok_entry_vec;
typedef TR_VEC(tr_token *) token_stack;

struct tr_token {
    tr_system *sys;
    tr_token *parent; /* holds a reference on it */
    _Atomic uint32_t refs;
    _Atomic bool cancelled;
    pthread_mutex_t lock;
    tr_list children;       /* tr_token.in_parent, oldest first; under this token's lock */
    tr_list_node in_parent; /* in parent->children; under the parent's lock */
    tok_entry_vec bound;
};

int tr_token_create(tr_system *sys, tr_token *parent, tr_token **out)
{
    if (sys == NULL || out == NULL || (parent != NULL && parent->sys != sys))
        return TR_EINVAL;
    tr_token *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return TR_ENOMEM;
    t->sys = sys;
    atomic_init(&t->refs, 1);
    atomic_init(&t->cancelled, false);
    pthread_mutex_init(&t->lock, NULL);
    if (parent != NULL) {
        t->parent = tr_token_retain(parent);
        pthread_mutex_lock(&parent->lock);
        atomic_store(&t->cancelled, atomic_load(&parent->cancelled)); /* born cancelled */
        tr_list_append(&parent->children, &t->in_parent);
        pthread_mutex_unlock(&parent->lock);
    }
    *out = t;
    return TR_OK;
}

tr_token *tr_token_retain(tr_token *tok)
{
    if (tok != NULL)
        atomic_fetch_add_explicit(&tok->refs, 1, memory_order_relaxed);
    return tok;
}

/* A reference on a child found in a list, unless it is already being freed. */
static bool try_retain(tr_token *t)
{
    uint32_t r = atomic_load_explicit(&t->refs, memory_order_relaxed);
    while (r > 0)
        if (atomic_compare_exchange_weak_explicit(&t->refs, &r, r + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

void tr_token_destroy(tr_token *tok)
{
    while (tok != NULL && atomic_fetch_sub_explicit(&tok->refs, 1, memory_order_acq_rel) == 1) {
        tr_token *p = tok->parent;
        if (p != NULL) {
            pthread_mutex_lock(&p->lock);
            tr_list_remove(&p->children, &tok->in_parent);
            pthread_mutex_unlock(&p->lock);
        }
        tr_vec_free(&tok->bound);
        pthread_mutex_destroy(&tok->lock);
        free(tok);
        tok = p; /* drop the reference the child held (a loop, not recursion) */
    }
}

bool tr_token_is_cancelled(const tr_token *tok)
{
    return tok != NULL && atomic_load_explicit(&tok->cancelled, memory_order_acquire);
}

static void act(tr_token *t, const tok_entry *e)
{
    if (!e->watch) {
        tr_lifecycle_cancel(t->sys, e->actor); /* TR_EDEAD for actors gone since: fine */
        return;
    }
    tr_mnode *n = tr_mnode_copy(TR_MSG_CANCELLED, &t, sizeof(t));
    if (n == NULL) {
        tr_dead_letter_record(t->sys, e->actor, TR_REF_NONE, TR_MSG_CANCELLED, TR_ENOMEM);
        return;
    }
    tr_deliver(t->sys, NULL, e->actor, n, true, 0); /* one per watch: may pass the bound */
}

/* Cancels `t` alone; pushes its children (retained) on the stack. False if
 * it was cancelled already (its subtree then is too). */
static bool cancel_one(tr_token *t, token_stack *stack)
{
    pthread_mutex_lock(&t->lock);
    if (atomic_load_explicit(&t->cancelled, memory_order_relaxed)) {
        pthread_mutex_unlock(&t->lock);
        return false;
    }
    atomic_store_explicit(&t->cancelled, true, memory_order_release);
    tok_entry_vec bound = t->bound;
    t->bound = (tok_entry_vec){0};
    for (tr_list_node *n = t->children.last; n != NULL; n = n->prev) { /* newest first */
        tr_token *c = TR_CONTAINER_OF(n, tr_token, in_parent);
        if (tr_vec_reserve(stack, stack->len + 1) != 0) {
            /* no room on the stack: cancel that subtree right here. c
             * cannot be freed meanwhile: its unlink waits for our lock */
            tr_token_cancel(c);
            continue;
        }
        if (try_retain(c))
            stack->at[stack->len++] = c;
    }
    pthread_mutex_unlock(&t->lock);
    for (uint32_t i = 0; i < bound.len; i++)
        act(t, &bound.at[i]);
    tr_vec_free(&bound);
    return true;
}

void tr_token_cancel(tr_token *tok)
{
    if (tok == NULL)
        return;
    token_stack stack = {0};
    cancel_one(tok, &stack);
    while (stack.len > 0) {
        tr_token *t = stack.at[--stack.len];
        cancel_one(t, &stack);
        tr_token_destroy(t); /* the reference taken when it was pushed */
    }
    tr_vec_free(&stack);
}

/* Forgets bound actors that have ended, to make room. Lock held. */
static void prune(tr_token *t)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < t->bound.len; i++)
        if (tr_actor_state_of(t->sys, t->bound.at[i].actor) != TR_STATE_DEAD)
            t->bound.at[kept++] = t->bound.at[i];
    t->bound.len = kept;
}

static int add(tr_token *tok, tr_ref actor, bool watch)
{
    if (tok == NULL || tr_ref_is_none(actor))
        return TR_EINVAL;
    if (tr_actor_state_of(tok->sys, actor) == TR_STATE_DEAD)
        return TR_EDEAD;
    tok_entry e = {.actor = actor, .watch = watch};
    int rc = TR_OK;
    bool now = false;
    pthread_mutex_lock(&tok->lock);
    if (atomic_load_explicit(&tok->cancelled, memory_order_relaxed)) {
        now = true;
    } else {
        if (tok->bound.len == tok->bound.cap)
            prune(tok);
        rc = tr_vec_push(&tok->bound, e) == 0 ? TR_OK : TR_ENOMEM;
    }
    pthread_mutex_unlock(&tok->lock);
    if (now)
        act(tok, &e);
    return rc;
}

int tr_token_bind(tr_token *tok, tr_ref actor) { return add(tok, actor, false); }

int tr_token_watch(tr_token *tok, tr_ref actor) { return add(tok, actor, true); }

/* A spawn group bound to a token (tr_group_bind): the group, in actors/,
 * sees the token only through these. */
static int group_bind_member(void *tok, tr_ref member) { return tr_token_bind(tok, member); }
static bool group_cancelled(void *tok) { return tr_token_is_cancelled(tok); }
static void group_release(void *tok) { tr_token_destroy(tok); }

static const tr_group_binding_ops group_binding = {
    .bind = group_bind_member,
    .cancelled = group_cancelled,
    .release = group_release,
};

int tr_group_bind(tr_group *g, tr_token *tok)
{
    if (g == NULL || tok == NULL)
        return TR_EINVAL;
    int rc = tr_group_set_binding(g, &group_binding, tr_token_retain(tok));
    if (rc != TR_OK)
        tr_token_destroy(tok); /* the reference just taken */
    return rc;
}
