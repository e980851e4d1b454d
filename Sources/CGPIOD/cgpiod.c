#include "cgpiod.h"
#include <gpiod.h>

// libgpiod 1.x defines GPIOD_LINE_BULK_MAX_LINES; 2.x removed the bulk API.
#ifdef GPIOD_LINE_BULK_MAX_LINES
const char *cgpiod_version(void) { return gpiod_version_string(); }
#else
const char *cgpiod_version(void) { return gpiod_api_version(); }
#endif
