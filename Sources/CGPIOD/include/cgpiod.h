// CGPIOD: one small surface over libgpiod 1.6 (bookworm) and 2.x (trixie). Swift sees only this.
#ifndef CGPIOD_H
#define CGPIOD_H

#include <stddef.h>
#include <stdint.h>

/// The libgpiod version string reported by the library at run time.
const char *cgpiod_version(void);

typedef struct cgpiod_chip cgpiod_chip;
typedef struct cgpiod_request cgpiod_request;

enum {
    CGPIOD_BIAS_AS_IS = 0,
    CGPIOD_BIAS_DISABLED = 1,
    CGPIOD_BIAS_PULL_UP = 2,
    CGPIOD_BIAS_PULL_DOWN = 3
};

/// One edge on a requested input line. `active` is the logical level after the edge (active-low
/// already applied), `timestamp_ns` the kernel's timestamp.
typedef struct {
    unsigned int offset;
    int active;
    uint64_t timestamp_ns;
} cgpiod_event;

/// Opens a chip by path (/dev/gpiochip4), name (gpiochip4), number (4) or label (pinctrl-rp1).
/// NULL with errno set on failure.
cgpiod_chip *cgpiod_chip_open(const char *chip);
void cgpiod_chip_close(cgpiod_chip *chip);
/// Number of lines on the chip, or -1.
int cgpiod_chip_num_lines(cgpiod_chip *chip);

/// Requests `count` (max 64) input lines with both-edge events. NULL with errno set on failure.
cgpiod_request *cgpiod_request_inputs(cgpiod_chip *chip, const unsigned int *offsets, size_t count,
                                      int bias, int active_low, const char *consumer);
/// Requests `count` output lines, initially inactive.
cgpiod_request *cgpiod_request_outputs(cgpiod_chip *chip, const unsigned int *offsets, size_t count,
                                       int active_low, const char *consumer);
void cgpiod_request_release(cgpiod_request *request);

/// Logical values (0/1) of all lines of the request, in request order. 0 on success, -1 on error.
int cgpiod_get_values(cgpiod_request *request, int *values);
/// Sets one output line (by offset) to a logical value. 0 on success, -1 on error.
int cgpiod_set_value(cgpiod_request *request, unsigned int offset, int value);

/// Waits up to `timeout_ms` (-1: forever) for an edge event on an input request.
/// 1: `*event` filled; 0: timeout; -1: error (errno set).
int cgpiod_wait_event(cgpiod_request *request, int timeout_ms, cgpiod_event *event);

#endif
