/* A bounds pre-check for untrusted msgpack bytes. msgpack-c's unpacker
 * allocates an array's elements before reading them, so a 5-byte frame
 * claiming 4 billion elements makes it try a 96 GB allocation. This walk
 * checks, without allocating, that every length and element count fits in
 * the bytes that remain, that nesting stays shallow and that the decoded
 * size stays bounded; only then does the decoder hand the bytes to msgpack-c.
 * Every decode of bytes from the network goes through it. */
#ifndef TROUPE_NET_MSGPACK_CHECK_H
#define TROUPE_NET_MSGPACK_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The unsigned integer stored big-endian (as msgpack stores every length
 * and number) in the n bytes at p; n is at most 8 and the caller has
 * checked that the bytes are there. */
static inline uint64_t tr_msgpack_read_be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* True when data[0..size) is a sequence of complete msgpack objects whose
 * counts and lengths are all plausible, nested at most max_depth deep, with
 * at most max_objects elements inside containers in all. The last bound is
 * the decoded size: msgpack-c turns every element into a 24-byte
 * msgpack_object, so 16 MB of one-byte integers in one array would become
 * 384 MB; callers pass what their shape can legitimately hold. */
bool tr_msgpack_check(const void *data, size_t size, unsigned max_depth, size_t max_objects);
/* The same, also counting the top-level objects into *objects. */
bool tr_msgpack_check_count(const void *data, size_t size, unsigned max_depth, size_t max_objects,
                            size_t *objects);

#endif
