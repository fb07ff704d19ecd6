/* Troupe error codes. Every fallible function returns one of these
 * (0 on success); tr_strerror() turns any of them into a message. */
#ifndef TROUPE_ERRORS_H
#define TROUPE_ERRORS_H

#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_error {
    TR_OK = 0,
    TR_EINVAL = 1,      /* an argument is invalid (NULL, zero size, out of range) */
    TR_ENOMEM = 2,      /* out of memory */
    TR_EDEAD = 3,       /* the target actor is dead or the reference is stale */
    TR_EFULL = 4,       /* the target mailbox is full */
    TR_ETIMEDOUT = 5,   /* the operation timed out */
    TR_ECLOSED = 6,     /* the system is shutting down */
    TR_ESTOPPING = 7,   /* the target actor is stopping and takes no new messages */
    TR_ENOTFOUND = 8,   /* no such timer, name or entry */
    TR_ECONTEXT = 9,    /* called from the wrong thread (e.g. a blocking call on a worker) */
    TR_ESHUTDOWN = 10,  /* exit reason: stopped by its parent, tr_stop or system shutdown */
    TR_EKILLED = 11,    /* exit reason: killed (tr_kill, or a drain deadline passed) */
    TR_EFAILED = 12,    /* exit reason: the actor failed without a more specific code */
    TR_EDROPPED = 13,   /* dead-letter reason: dropped by the drop overflow policy */
    TR_ETOOBIG = 14,    /* a payload or count exceeds a hard limit */
    TR_EINTENSITY = 15, /* exit reason: a supervisor exceeded its restart intensity */
    TR_EDEADLINE = 16,  /* exit reason: a handler ran past its per-message deadline */
    TR_ECANCELLED = 17, /* exit reason: the actor's cancellation token was cancelled */
    TR_ENODEDOWN = 18,  /* DOWN reason: the actor's node went down or the link was cut */
    TR_ENOTCONN = 19,   /* no connection to the target's node (unknown or not connected) */
    TR_EREFUSED = 20,   /* a peer refused the connection (wrong cookie or protocol) */
    TR_EPROTO = 21,     /* a malformed, truncated or wrong-version frame */
    TR_EEXIST = 22,     /* the name is already registered or taken */
    TR_EADDR = 23,      /* a bad or unusable URL / address */
    TR_EOPEN = 24,      /* a circuit breaker is open: the call was refused without trying */
    TR_ENAMETAKEN = 25, /* a node of that name is already up (another incarnation), or it is ours */
    TR_ETLS = 26,       /* TLS: a certificate, key or CA file missing or invalid, or a TLS handshake
                         * failed (a certificate not trusted by one side) */
    TR_EUSER = 1000     /* first code free for applications' own failure reasons */
} tr_error;

/* Returns a human-readable description of `err` (never NULL): Troupe's
 * own, the name an application registered with tr_error_register, else
 * "application-defined error" for codes >= TR_EUSER. The string stays valid
 * for the life of the process. */
TR_API const char *tr_strerror(int err);

/* Names an application's own code (>= TR_EUSER) in tr_strerror and crash
 * reports, e.g. tr_error_register(E_OVERDRAFT, "overdraft"). `name` is not
 * copied: pass a string that lives as long as the process (a literal).
 * Registering a code again renames it. Any thread. Returns TR_OK,
 * TR_EINVAL (code < TR_EUSER or name NULL) or TR_ETOOBIG (more than
 * TR_ERROR_NAMES_MAX codes). */
#define TR_ERROR_NAMES_MAX 256
TR_API int tr_error_register(int code, const char *name);

#ifdef __cplusplus
}
#endif
#endif
