#include "cgpiod.h"
#include <gpiod.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#define CGPIOD_MAX_LINES 64

// libgpiod 1.x defines GPIOD_LINE_BULK_MAX_LINES; 2.x removed the bulk API and reworked requests
// around line settings/configs, so the two implementations differ almost everywhere.
#ifdef GPIOD_LINE_BULK_MAX_LINES

/* ---------------------------------------------------------------- libgpiod 1.6 (bookworm) */

struct cgpiod_chip { struct gpiod_chip *chip; };
struct cgpiod_request {
    struct gpiod_line_bulk bulk;
    unsigned int offsets[CGPIOD_MAX_LINES];
    /* Output levels of every line of the request: v1 sets values per request handle, so one line
       is changed by writing the whole set (a one-line bulk would write index 0 of the handle). */
    int values[CGPIOD_MAX_LINES];
    size_t count;
};

const char *cgpiod_version(void) { return gpiod_version_string(); }

cgpiod_chip *cgpiod_chip_open(const char *name) {
    struct gpiod_chip *chip = gpiod_chip_open_lookup(name);
    if (!chip) return NULL;
    cgpiod_chip *out = calloc(1, sizeof(*out));
    if (!out) { gpiod_chip_close(chip); errno = ENOMEM; return NULL; }
    out->chip = chip;
    return out;
}

void cgpiod_chip_close(cgpiod_chip *chip) {
    if (!chip) return;
    gpiod_chip_close(chip->chip);
    free(chip);
}

int cgpiod_chip_num_lines(cgpiod_chip *chip) { return (int)gpiod_chip_num_lines(chip->chip); }

static int v1_bias_flags(int bias) {
    switch (bias) {
    case CGPIOD_BIAS_DISABLED: return GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    case CGPIOD_BIAS_PULL_UP: return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    case CGPIOD_BIAS_PULL_DOWN: return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    default: return 0;
    }
}

static cgpiod_request *v1_prepare(cgpiod_chip *chip, const unsigned int *offsets, size_t count) {
    if (count == 0 || count > CGPIOD_MAX_LINES) { errno = EINVAL; return NULL; }
    cgpiod_request *req = calloc(1, sizeof(*req));
    if (!req) { errno = ENOMEM; return NULL; }
    if (gpiod_chip_get_lines(chip->chip, (unsigned int *)offsets, (unsigned int)count, &req->bulk) < 0) {
        free(req);
        return NULL;
    }
    memcpy(req->offsets, offsets, count * sizeof(unsigned int));
    req->count = count;
    return req;
}

cgpiod_request *cgpiod_request_inputs(cgpiod_chip *chip, const unsigned int *offsets, size_t count,
                                      int bias, int active_low, const char *consumer) {
    cgpiod_request *req = v1_prepare(chip, offsets, count);
    if (!req) return NULL;
    int flags = v1_bias_flags(bias) | (active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0);
    if (gpiod_line_request_bulk_both_edges_events_flags(&req->bulk, consumer, flags) < 0) {
        int saved = errno;
        free(req);
        errno = saved;
        return NULL;
    }
    return req;
}

cgpiod_request *cgpiod_request_outputs(cgpiod_chip *chip, const unsigned int *offsets, size_t count,
                                       int active_low, const char *consumer) {
    cgpiod_request *req = v1_prepare(chip, offsets, count);
    if (!req) return NULL;
    int defaults[CGPIOD_MAX_LINES] = {0};
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_bulk_output_flags(&req->bulk, consumer, flags, defaults) < 0) {
        int saved = errno;
        free(req);
        errno = saved;
        return NULL;
    }
    return req;
}

void cgpiod_request_release(cgpiod_request *req) {
    if (!req) return;
    gpiod_line_release_bulk(&req->bulk);
    free(req);
}

int cgpiod_get_values(cgpiod_request *req, int *values) {
    return gpiod_line_get_value_bulk(&req->bulk, values) < 0 ? -1 : 0;
}

int cgpiod_set_value(cgpiod_request *req, unsigned int offset, int value) {
    for (size_t i = 0; i < req->count; i++) {
        if (req->offsets[i] == offset) {
            req->values[i] = value ? 1 : 0;
            return gpiod_line_set_value_bulk(&req->bulk, req->values) < 0 ? -1 : 0;
        }
    }
    errno = EINVAL;
    return -1;
}

int cgpiod_wait_event(cgpiod_request *req, int timeout_ms, cgpiod_event *event) {
    struct gpiod_line_bulk ready;
    struct timespec ts, *timeout = NULL;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        timeout = &ts;
    }
    int rc = gpiod_line_event_wait_bulk(&req->bulk, timeout, &ready);
    if (rc <= 0) return rc;
    struct gpiod_line *line = gpiod_line_bulk_get_line(&ready, 0);
    struct gpiod_line_event ev;
    if (gpiod_line_event_read(line, &ev) < 0) return -1;
    event->offset = gpiod_line_offset(line);
    event->active = ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE;
    event->timestamp_ns = (uint64_t)ev.ts.tv_sec * 1000000000ULL + (uint64_t)ev.ts.tv_nsec;
    return 1;
}

#else

/* ---------------------------------------------------------------- libgpiod 2.x (trixie) */

#define CGPIOD_EVENT_BUFFER 16

struct cgpiod_chip { struct gpiod_chip *chip; };
struct cgpiod_request {
    struct gpiod_line_request *request;
    struct gpiod_edge_event_buffer *events;
    size_t pending;
    size_t next;
    size_t count;
};

const char *cgpiod_version(void) { return gpiod_api_version(); }

static struct gpiod_chip *v2_open_label(const char *label) {
    for (int i = 0; i < 64; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dev/gpiochip%d", i);
        struct gpiod_chip *chip = gpiod_chip_open(path);
        if (!chip) continue;
        struct gpiod_chip_info *info = gpiod_chip_get_info(chip);
        int match = info && strcmp(gpiod_chip_info_get_label(info), label) == 0;
        if (info) gpiod_chip_info_free(info);
        if (match) return chip;
        gpiod_chip_close(chip);
    }
    errno = ENOENT;
    return NULL;
}

cgpiod_chip *cgpiod_chip_open(const char *name) {
    char path[256];
    struct gpiod_chip *chip;
    char *end = NULL;
    long number = strtol(name, &end, 10);
    if (name[0] == '/') {
        chip = gpiod_chip_open(name);
    } else if (end && *end == '\0' && end != name && number >= 0) {
        snprintf(path, sizeof(path), "/dev/gpiochip%ld", number);
        chip = gpiod_chip_open(path);
    } else if (strncmp(name, "gpiochip", 8) == 0) {
        snprintf(path, sizeof(path), "/dev/%s", name);
        chip = gpiod_chip_open(path);
    } else {
        chip = v2_open_label(name);
    }
    if (!chip) return NULL;
    cgpiod_chip *out = calloc(1, sizeof(*out));
    if (!out) { gpiod_chip_close(chip); errno = ENOMEM; return NULL; }
    out->chip = chip;
    return out;
}

void cgpiod_chip_close(cgpiod_chip *chip) {
    if (!chip) return;
    gpiod_chip_close(chip->chip);
    free(chip);
}

int cgpiod_chip_num_lines(cgpiod_chip *chip) {
    struct gpiod_chip_info *info = gpiod_chip_get_info(chip->chip);
    if (!info) return -1;
    int n = (int)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    return n;
}

static enum gpiod_line_bias v2_bias(int bias) {
    switch (bias) {
    case CGPIOD_BIAS_DISABLED: return GPIOD_LINE_BIAS_DISABLED;
    case CGPIOD_BIAS_PULL_UP: return GPIOD_LINE_BIAS_PULL_UP;
    case CGPIOD_BIAS_PULL_DOWN: return GPIOD_LINE_BIAS_PULL_DOWN;
    default: return GPIOD_LINE_BIAS_AS_IS;
    }
}

static cgpiod_request *v2_request(cgpiod_chip *chip, const unsigned int *offsets, size_t count,
                                  struct gpiod_line_settings *settings, const char *consumer, int with_events) {
    cgpiod_request *out = NULL;
    struct gpiod_line_config *line_cfg = gpiod_line_config_new();
    struct gpiod_request_config *req_cfg = gpiod_request_config_new();
    if (!line_cfg || !req_cfg) { errno = ENOMEM; goto done; }
    if (gpiod_line_config_add_line_settings(line_cfg, offsets, count, settings) < 0) goto done;
    gpiod_request_config_set_consumer(req_cfg, consumer);
    struct gpiod_line_request *request = gpiod_chip_request_lines(chip->chip, req_cfg, line_cfg);
    if (!request) goto done;
    out = calloc(1, sizeof(*out));
    if (!out) { gpiod_line_request_release(request); errno = ENOMEM; goto done; }
    out->request = request;
    out->count = count;
    if (with_events) {
        out->events = gpiod_edge_event_buffer_new(CGPIOD_EVENT_BUFFER);
        if (!out->events) { gpiod_line_request_release(request); free(out); out = NULL; errno = ENOMEM; }
    }
done:
    if (line_cfg) gpiod_line_config_free(line_cfg);
    if (req_cfg) gpiod_request_config_free(req_cfg);
    return out;
}

cgpiod_request *cgpiod_request_inputs(cgpiod_chip *chip, const unsigned int *offsets, size_t count,
                                      int bias, int active_low, const char *consumer) {
    if (count == 0 || count > CGPIOD_MAX_LINES) { errno = EINVAL; return NULL; }
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    if (!settings) { errno = ENOMEM; return NULL; }
    gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT);
    gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH);
    gpiod_line_settings_set_bias(settings, v2_bias(bias));
    gpiod_line_settings_set_active_low(settings, active_low != 0);
    cgpiod_request *req = v2_request(chip, offsets, count, settings, consumer, 1);
    gpiod_line_settings_free(settings);
    return req;
}

cgpiod_request *cgpiod_request_outputs(cgpiod_chip *chip, const unsigned int *offsets, size_t count,
                                       int active_low, const char *consumer) {
    if (count == 0 || count > CGPIOD_MAX_LINES) { errno = EINVAL; return NULL; }
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    if (!settings) { errno = ENOMEM; return NULL; }
    gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT);
    gpiod_line_settings_set_output_value(settings, GPIOD_LINE_VALUE_INACTIVE);
    gpiod_line_settings_set_active_low(settings, active_low != 0);
    cgpiod_request *req = v2_request(chip, offsets, count, settings, consumer, 0);
    gpiod_line_settings_free(settings);
    return req;
}

void cgpiod_request_release(cgpiod_request *req) {
    if (!req) return;
    if (req->events) gpiod_edge_event_buffer_free(req->events);
    gpiod_line_request_release(req->request);
    free(req);
}

int cgpiod_get_values(cgpiod_request *req, int *values) {
    enum gpiod_line_value raw[CGPIOD_MAX_LINES];
    if (gpiod_line_request_get_values(req->request, raw) < 0) return -1;
    for (size_t i = 0; i < req->count; i++) values[i] = raw[i] == GPIOD_LINE_VALUE_ACTIVE;
    return 0;
}

int cgpiod_set_value(cgpiod_request *req, unsigned int offset, int value) {
    return gpiod_line_request_set_value(req->request, offset,
                                        value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) < 0 ? -1 : 0;
}

int cgpiod_wait_event(cgpiod_request *req, int timeout_ms, cgpiod_event *event) {
    if (!req->events) { errno = EINVAL; return -1; }
    if (req->next >= req->pending) {
        int64_t timeout_ns = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000LL;
        int rc = gpiod_line_request_wait_edge_events(req->request, timeout_ns);
        if (rc <= 0) return rc;
        int n = gpiod_line_request_read_edge_events(req->request, req->events, CGPIOD_EVENT_BUFFER);
        if (n < 0) return -1;
        req->pending = (size_t)n;
        req->next = 0;
        if (n == 0) return 0;
    }
    struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(req->events, req->next++);
    event->offset = gpiod_edge_event_get_line_offset(ev);
    event->active = gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE;
    event->timestamp_ns = gpiod_edge_event_get_timestamp_ns(ev);
    return 1;
}

#endif
