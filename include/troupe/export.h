/* Symbol visibility for the shared library: only TR_API symbols are exported. */
#ifndef TROUPE_EXPORT_H
#define TROUPE_EXPORT_H
#if defined(TROUPE_BUILDING) && defined(__GNUC__)
#define TR_API __attribute__((visibility("default")))
#else
#define TR_API
#endif
#endif
