/* tr_strerror: one message table for every Troupe error code, and the
 * names applications give their own codes (tr_error_register).
 *
 * Registered names: an append-only array of (code, name) pairs. Writers
 * append under a mutex and publish the new count with a release store;
 * readers scan up to an acquire load of the count without locking. A code
 * registered again gets its name replaced by an atomic store. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "troupe/errors.h"

typedef struct app_error {
    _Atomic int code;
    _Atomic(const char *) name;
} app_error;

static app_error app_errors[TR_ERROR_NAMES_MAX];
static _Atomic size_t app_error_count;
static pthread_mutex_t app_error_lock = PTHREAD_MUTEX_INITIALIZER;

static app_error *app_error_find(int code)
{
    size_t n = atomic_load_explicit(&app_error_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&app_errors[i].code, memory_order_relaxed) == code)
            return &app_errors[i];
    return NULL;
}

int tr_error_register(int code, const char *name)
{
    if (code < TR_EUSER || name == NULL)
        return TR_EINVAL;
    int rc = TR_OK;
    pthread_mutex_lock(&app_error_lock);
    app_error *e = app_error_find(code);
    if (e != NULL) {
        atomic_store_explicit(&e->name, name, memory_order_release);
    } else {
        size_t n = atomic_load_explicit(&app_error_count, memory_order_relaxed);
        if (n == TR_ERROR_NAMES_MAX) {
            rc = TR_ETOOBIG;
        } else {
            atomic_store_explicit(&app_errors[n].code, code, memory_order_relaxed);
            atomic_store_explicit(&app_errors[n].name, name, memory_order_relaxed);
            atomic_store_explicit(&app_error_count, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&app_error_lock);
    return rc;
}

const char *tr_strerror(int err)
{
    switch (err) {
    case TR_OK: return "success";
    case TR_EINVAL: return "invalid argument";
    case TR_ENOMEM: return "out of memory";
    case TR_EDEAD: return "actor is dead or reference is stale";
    case TR_EFULL: return "mailbox is full";
    case TR_ETIMEDOUT: return "timed out";
    case TR_ECLOSED: return "system is shutting down";
    case TR_ESTOPPING: return "actor is stopping: it takes no new messages or children";
    case TR_ENOTFOUND: return "not found";
    case TR_ECONTEXT: return "not allowed from this thread (blocking call on a worker?)";
    case TR_ESHUTDOWN: return "stopped (shutdown)";
    case TR_EKILLED: return "killed";
    case TR_EFAILED: return "actor failed";
    case TR_EDROPPED: return "dropped by overflow policy";
    case TR_ETOOBIG: return "limit exceeded";
    case TR_EINTENSITY: return "supervisor restart intensity exceeded";
    case TR_EDEADLINE: return "handler exceeded its per-message deadline";
    case TR_ECANCELLED: return "cancelled by its cancellation token";
    case TR_ENODEDOWN: return "node down";
    case TR_ENOTCONN: return "not connected to that node";
    case TR_EREFUSED: return "connection refused by peer (wrong cookie or protocol)";
    case TR_EPROTO: return "protocol error (malformed or wrong-version frame)";
    case TR_EEXIST: return "name already taken";
    case TR_EADDR: return "bad or unusable address";
    case TR_EOPEN: return "circuit breaker open: call refused without trying";
    case TR_ENAMETAKEN: return "node name already in use";
    case TR_ETLS: return "TLS failure: certificate, key or CA file missing or invalid, or a certificate not trusted";
    default: break;
    }
    if (err < TR_EUSER)
        return "unknown error";
    app_error *e = app_error_find(err);
    return e != NULL ? atomic_load_explicit(&e->name, memory_order_acquire)
                     : "application-defined error";
}
