/* Payloads any node can read, without writing msgpack by hand: tr_pack
 * builds msgpack bytes from a format, tr_unpack checks and reads them back,
 * through the same bounds pre-check the network uses (a hostile payload
 * gets TR_EPROTO, never a huge allocation or a read past its end). No
 * msgpack header is needed to use them (wire.h has the msgpack-c level).
 *
 * Format characters (spaces are ignored):
 *   i  int       (unpack: int *, range-checked)      I  int64_t  (int64_t *)
 *   u  unsigned  (unsigned *, range-checked)         U  uint64_t (uint64_t *)
 *   d  double    (double *; unpack also takes ints)  b  bool     (bool *)
 *   s  const char * NUL-terminated string (unpack: const char **, size_t *len;
 *      the bytes are not NUL-terminated and point into the payload)
 *   y  bytes: const void *, size_t (unpack: const void **, size_t *)
 *   r  tr_ref (unpack: tr_ref *; any node's reference, see wire.h)
 *   n  nil (no argument)
 *   [ ... ]  an array of exactly these items
 *
 *     size_t n;
 *     void *buf = tr_pack(sys, &n, "[Is]", (int64_t)42, "ok");
 *     tr_send_move(self, to, MSG_RESULT, buf, n, free);
 *     ...
 *     int64_t v; const char *s; size_t len;
 *     if (tr_unpack(sys, msg->data, msg->size, "[Is]", &v, &s, &len) != TR_OK) ...
 */
#ifndef TROUPE_PACK_H
#define TROUPE_PACK_H

#include <stdarg.h>
#include <stddef.h>

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Packs the arguments as `fmt` says. Returns the bytes (malloc'd: free
 * with free, or hand them to tr_send_move with free) and their count in
 * *size, or NULL for a bad format, a remote ref unknown here, or ENOMEM.
 * `sys` is needed only for 'r'. */
TR_API void *tr_pack(tr_system *sys, size_t *size, const char *fmt, ...);

/* Reads data[0..size), which must be exactly what `fmt` describes, into
 * the pointed-to variables. Returns TR_OK, or TR_EPROTO (malformed, another
 * shape or type, trailing bytes, a number out of range), TR_EINVAL (bad
 * format) or TR_ENOTCONN (a ref of a node never heard of). Strings and bytes
 * point into `data`. `sys` is needed only for 'r'. */
TR_API int tr_unpack(tr_system *sys, const void *data, size_t size, const char *fmt, ...);

#ifdef __cplusplus
}
#endif
#endif
