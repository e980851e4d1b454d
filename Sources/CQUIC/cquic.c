#include "cquic.h"
#include <ngtcp2/ngtcp2.h>

uint32_t cquic_ngtcp2_version_num(void) { return NGTCP2_VERSION_NUM; }
