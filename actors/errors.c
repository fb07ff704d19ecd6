/* tr_strerror: one message table for every Troupe error code. */
#include "troupe/errors.h"

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
    case TR_ESTOPPING: return "actor is stopping and takes no new messages";
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
    default: return err >= TR_EUSER ? "application-defined error" : "unknown error";
    }
}
