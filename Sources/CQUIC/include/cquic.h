// CQUIC: a thin C shim over ngtcp2 + ngtcp2_crypto_gnutls + GnuTLS.
// It hides the API differences between ngtcp2 0.12 (Debian bookworm) and 1.x (trixie)
// and GnuTLS raw-public-key setup, so the Swift Transport layer sees one stable surface.
#ifndef CQUIC_H
#define CQUIC_H

#include <stdint.h>

/// The ngtcp2 version this shim was compiled against, e.g. 0x000c01 for 0.12.1.
uint32_t cquic_ngtcp2_version_num(void);

#endif
