/* export.h -- symbol visibility: only LINSTAB_API symbols leave the library. */
#ifndef LINSTAB_EXPORT_H
#define LINSTAB_EXPORT_H
#if defined(LINSTAB_BUILDING) && defined(__GNUC__)
#define LINSTAB_API __attribute__((visibility("default")))
#else
#define LINSTAB_API
#endif
#endif
