#define _GNU_SOURCE
#include "cquic_sys.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int cquic_udp_bind(const struct sockaddr *addr, socklen_t addrlen, int bufsize,
                   struct sockaddr_storage *bound, socklen_t *boundlen, char *err, size_t errlen) {
  int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket(family %d): %s", addr->sa_family, strerror(errno));
    return -1;
  }
  if (addr->sa_family == AF_INET6) {
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  // Bigger buffers absorb bursts (a full congestion window) without kernel drops. The FORCE
  // variants need CAP_NET_ADMIN; otherwise the kernel caps at net.core.{r,w}mem_max.
  if (bufsize > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize)) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof(bufsize)) != 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
  }
  if (bind(fd, addr, addrlen) != 0) {
    snprintf(err, errlen, "bind: %s", strerror(errno));
    close(fd);
    return -1;
  }
  *boundlen = sizeof(*bound);
  if (getsockname(fd, (struct sockaddr *)bound, boundlen) != 0) {
    snprintf(err, errlen, "getsockname: %s", strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

void cquic_socket_buffers(int fd, int *rcvbuf, int *sndbuf) {
  socklen_t l = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, &l);
  l = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, sndbuf, &l);
}

long cquic_recv(int fd, uint8_t *buf, size_t cap, struct sockaddr_storage *from, socklen_t *fromlen) {
  for (;;) {
    *fromlen = sizeof(*from);
    ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, fromlen);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    return -2;
  }
}

int cquic_send(int fd, const uint8_t *buf, size_t len, const struct sockaddr *to, socklen_t tolen) {
  for (;;) {
    ssize_t n = sendto(fd, buf, len, 0, to, tolen);
    if (n >= 0) return 0;
    if (errno == EINTR) continue;
    return errno;
  }
}

int cquic_udp_gso_supported(int fd) {
  int v = 0;
  socklen_t l = sizeof(v);
  return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &l) == 0;
}

#define CQUIC_MAX_SEGMENTS 64

int cquic_send_segments(int fd, const uint8_t *buf, size_t len, size_t segment, const struct sockaddr *to,
                        socklen_t tolen, int use_gso) {
  if (segment == 0 || len <= segment) return cquic_send(fd, buf, len, to, tolen);
  if (use_gso) {
    struct iovec iov = {(void *)buf, len};
    union {
      char buf[CMSG_SPACE(sizeof(uint16_t))];
      struct cmsghdr align;
    } ctrl;
    memset(&ctrl, 0, sizeof(ctrl));
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = (void *)to;
    msg.msg_namelen = tolen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.buf;
    msg.msg_controllen = sizeof(ctrl.buf);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t seg = (uint16_t)segment;
    memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
    for (;;) {
      if (sendmsg(fd, &msg, 0) >= 0) return 0;
      if (errno == EINTR) continue;
      return errno;
    }
  }
  struct mmsghdr msgs[CQUIC_MAX_SEGMENTS];
  struct iovec iovs[CQUIC_MAX_SEGMENTS];
  size_t off = 0;
  while (off < len) {
    unsigned n = 0;
    for (; n < CQUIC_MAX_SEGMENTS && off < len; n++) {
      size_t l = len - off < segment ? len - off : segment;
      iovs[n].iov_base = (void *)(buf + off);
      iovs[n].iov_len = l;
      memset(&msgs[n], 0, sizeof(msgs[n]));
      msgs[n].msg_hdr.msg_name = (void *)to;
      msgs[n].msg_hdr.msg_namelen = tolen;
      msgs[n].msg_hdr.msg_iov = &iovs[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      off += l;
    }
    unsigned done = 0;
    while (done < n) {
      int r = sendmmsg(fd, msgs + done, n - done, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      done += (unsigned)r;
    }
  }
  return 0;
}

int cquic_udp_enable_gro(int fd) {
  int one = 1;
  return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
}

long cquic_recv_segments(int fd, uint8_t *buf, size_t cap, struct sockaddr_storage *from, socklen_t *fromlen,
                         size_t *segment) {
  struct iovec iov = {buf, cap};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctrl;
  struct msghdr msg;
  for (;;) {
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = from;
    msg.msg_namelen = sizeof(*from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.buf;
    msg.msg_controllen = sizeof(ctrl.buf);
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n >= 0) {
      *fromlen = msg.msg_namelen;
      *segment = 0;
      for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
          int seg = 0;
          memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
          if (seg > 0 && (size_t)seg < (size_t)n) *segment = (size_t)seg;
        }
      }
      return (long)n;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    return -2;
  }
}

int cquic_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cquic_epoll_add(int epfd, int fd) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int cquic_epoll_wait(int epfd, int *fds, int max, int timeout_ms) {
  struct epoll_event evs[64];
  if (max > 64) max = 64;
  int n = epoll_wait(epfd, evs, max, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -1;
  for (int i = 0; i < n; i++) fds[i] = evs[i].data.fd;
  return n;
}

int cquic_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void cquic_eventfd_signal(int fd) {
  uint64_t one = 1;
  ssize_t r = write(fd, &one, sizeof(one));
  (void)r;
}

void cquic_eventfd_drain(int fd) {
  uint64_t v;
  ssize_t r = read(fd, &v, sizeof(v));
  (void)r;
}

int cquic_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

void cquic_timerfd_arm(int fd, uint64_t abs_ns) {
  struct itimerspec its;
  memset(&its, 0, sizeof(its));
  if (abs_ns != UINT64_MAX) {
    if (abs_ns == 0) abs_ns = 1; // 0 would disarm
    its.it_value.tv_sec = (time_t)(abs_ns / 1000000000u);
    its.it_value.tv_nsec = (long)(abs_ns % 1000000000u);
  }
  timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void cquic_timerfd_drain(int fd) {
  uint64_t v;
  ssize_t r = read(fd, &v, sizeof(v));
  (void)r;
}

void cquic_close_fd(int fd) {
  if (fd >= 0) close(fd);
}

int cquic_mdns_socket(char *err, size_t errlen) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(5353);
  if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
    snprintf(err, errlen, "bind 0.0.0.0:5353: %s", strerror(errno));
    close(fd);
    return -1;
  }
  struct ip_mreqn mreq;
  memset(&mreq, 0, sizeof(mreq));
  inet_pton(AF_INET, "224.0.0.251", &mreq.imr_multiaddr);
  if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0) {
    snprintf(err, errlen, "join 224.0.0.251: %s", strerror(errno));
    close(fd);
    return -1;
  }
  unsigned char loop = 1, ttl = 255;
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
  return fd;
}

int cquic_mdns_send(int fd, const uint8_t *buf, size_t len) {
  struct sockaddr_in to;
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons(5353);
  inet_pton(AF_INET, "224.0.0.251", &to.sin_addr);
  return cquic_send(fd, buf, len, (struct sockaddr *)&to, sizeof(to));
}

int cquic_wait_readable(int fd, int wakefd, int timeout_ms) {
  struct pollfd p[2];
  p[0].fd = fd;
  p[0].events = POLLIN;
  p[1].fd = wakefd;
  p[1].events = POLLIN;
  int n = poll(p, wakefd >= 0 ? 2 : 1, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -1;
  if (wakefd >= 0 && (p[1].revents & POLLIN)) cquic_eventfd_drain(wakefd);
  return (p[0].revents & POLLIN) ? 1 : 0;
}
