// CGPIOD: one small surface over libgpiod 1.6 (bookworm) and 2.x (trixie).
#ifndef CGPIOD_H
#define CGPIOD_H

/// The libgpiod version string reported by the library at run time.
const char *cgpiod_version(void);

#endif
