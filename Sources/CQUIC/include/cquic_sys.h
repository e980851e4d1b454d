// Linux socket / epoll / eventfd / timerfd glue for the Transport event loop. Kept in C because
// epoll_event is a packed union and these headers are awkward to import into Swift.
#ifndef CQUIC_SYS_H
#define CQUIC_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Non-blocking UDP socket bound to addr. An IPv6 wildcard bind is made dual-stack.
/// SO_RCVBUF/SO_SNDBUF are raised towards bufsize. Returns the fd, or -1 with err filled.
int cquic_udp_bind(const struct sockaddr *addr, socklen_t addrlen, int bufsize,
                   struct sockaddr_storage *bound, socklen_t *boundlen, char *err, size_t errlen);
/// Effective kernel buffer sizes.
void cquic_socket_buffers(int fd, int *rcvbuf, int *sndbuf);
/// One datagram: length, -1 when nothing is queued, -2 on another error.
long cquic_recv(int fd, uint8_t *buf, size_t cap, struct sockaddr_storage *from, socklen_t *fromlen);
/// 0, or errno.
int cquic_send(int fd, const uint8_t *buf, size_t len, const struct sockaddr *to, socklen_t tolen);

/// 1 when the kernel offers UDP generic segmentation offload (UDP_SEGMENT) on fd.
int cquic_udp_gso_supported(int fd);
/// Sends `len` bytes as datagrams of `segment` bytes each (the last may be shorter) to one
/// address: a single sendmsg with a UDP_SEGMENT cmsg when use_gso, else one sendmmsg batch.
/// 0, or errno (EAGAIN: the socket is full and the rest was dropped; with use_gso, EIO/EINVAL/
/// EOPNOTSUPP mean the path cannot segment: retry with use_gso 0).
int cquic_send_segments(int fd, const uint8_t *buf, size_t len, size_t segment, const struct sockaddr *to,
                        socklen_t tolen, int use_gso);
/// Asks the kernel to coalesce received datagrams of one flow (UDP_GRO). 1 when enabled.
int cquic_udp_enable_gro(int fd);
/// Like cquic_recv; with GRO, *segment is the size of each coalesced datagram (the last may be
/// shorter), else 0 (one datagram).
long cquic_recv_segments(int fd, uint8_t *buf, size_t cap, struct sockaddr_storage *from, socklen_t *fromlen,
                         size_t *segment);

int cquic_epoll_create(void);
int cquic_epoll_add(int epfd, int fd);
/// Waits and writes ready fds to fds. Returns their number, 0 on EINTR, -1 on error.
int cquic_epoll_wait(int epfd, int *fds, int max, int timeout_ms);

int cquic_eventfd(void);
void cquic_eventfd_signal(int fd);
void cquic_eventfd_drain(int fd);

int cquic_timerfd(void);
/// Arms the timer for an absolute CLOCK_MONOTONIC time in ns; UINT64_MAX disarms it.
void cquic_timerfd_arm(int fd, uint64_t abs_ns);
void cquic_timerfd_drain(int fd);

void cquic_close_fd(int fd);

/// mDNS: non-blocking UDP socket on 0.0.0.0:5353 (SO_REUSEADDR/SO_REUSEPORT, shared with other
/// responders) joined to 224.0.0.251 with multicast loopback on. -1 with err filled on failure.
int cquic_mdns_socket(char *err, size_t errlen);
/// Sends to 224.0.0.251:5353. 0, or errno.
int cquic_mdns_send(int fd, const uint8_t *buf, size_t len);
/// poll() on fd and wakefd: 1 when fd is readable, 0 on timeout/wake, -1 on error.
int cquic_wait_readable(int fd, int wakefd, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
