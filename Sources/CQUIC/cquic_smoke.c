// In-memory client/server smoke test of the shim, for checking a different ngtcp2 build (e.g.
// Debian trixie's 1.x) at run time without Swift or sockets. Compiled into the library as an
// empty unit; build it standalone with -DCQUIC_SMOKE_MAIN (see docs/transport.md).
#include "cquic.h"

typedef int cquic_smoke_unused;

#ifdef CQUIC_SMOKE_MAIN
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXQ 4096
typedef struct {
  uint8_t data[MAXQ][1500];
  size_t len[MAXQ];
  int n;
} queue;

typedef struct {
  queue *out;
  const char *name;
  int handshake;
  uint8_t received[65536];
  size_t receivedlen;
  int fin;
  int64_t opened_stream;
  cquic_stream *opened;
} side;

static int send_packet(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *a, socklen_t l) {
  (void)a; (void)l;
  side *s = ctx;
  if (s->out->n < MAXQ && len <= 1500) {
    memcpy(s->out->data[s->out->n], data, len);
    s->out->len[s->out->n++] = len;
  }
  return 0;
}
// Batched sends: every datagram but the last of a run has exactly `segment` bytes.
static int segment_runs, segment_errors;
static int send_segments(void *ctx, const uint8_t *data, size_t len, size_t segment, const struct sockaddr *a,
                         socklen_t l) {
  if (segment == 0 || len <= segment || segment > 1500) segment_errors++;
  segment_runs++;
  for (size_t off = 0; off < len && segment > 0; off += segment)
    send_packet(ctx, data + off, len - off < segment ? len - off : segment, a, l);
  return 0;
}
static void handshake_completed(void *ctx) { ((side *)ctx)->handshake = 1; }
static void stream_opened(void *ctx, int64_t id, cquic_stream *st) {
  side *s = ctx;
  s->opened_stream = id;
  s->opened = st;
}
static void stream_data(void *ctx, int64_t id, const uint8_t *d, size_t len, int fin) {
  (void)id;
  side *s = ctx;
  if (s->receivedlen + len <= sizeof(s->received)) {
    memcpy(s->received + s->receivedlen, d, len);
    s->receivedlen += len;
  }
  if (fin) s->fin = 1;
}

static cquic_callbacks make_cb(side *s) {
  cquic_callbacks cb;
  memset(&cb, 0, sizeof(cb));
  cb.ctx = s;
  cb.send_packet = send_packet;
  cb.send_segments = send_segments;
  cb.handshake_completed = handshake_completed;
  cb.stream_opened = stream_opened;
  cb.stream_data = stream_data;
  return cb;
}

// Delivers queued packets both ways until nothing moves.
static int pump(cquic_conn **client, cquic_conn **server, queue *c2s, queue *s2c, side *ss, const uint8_t *secret,
                const cquic_identity *sid, const uint8_t *alpns, size_t alpnslen, struct sockaddr_in *ca,
                struct sockaddr_in *sa) {
  cquic_limits limits;
  memset(&limits, 0, sizeof(limits));
  for (int round = 0; round < 2000; round++) {
    uint64_t ts = cquic_timestamp();
    if (*client && !cquic_conn_is_closed(*client)) cquic_conn_flush(*client, ts);
    if (*server && !cquic_conn_is_closed(*server)) cquic_conn_flush(*server, ts);
    if (c2s->n == 0 && s2c->n == 0) {
      // Nothing in flight: wait for a near timer (pacing, ACK delay), else we are done.
      uint64_t next = UINT64_MAX;
      if (*client && cquic_conn_expiry(*client) < next) next = cquic_conn_expiry(*client);
      if (*server && cquic_conn_expiry(*server) < next) next = cquic_conn_expiry(*server);
      if (next == UINT64_MAX || next > ts + 100000000u) return 0;
      while (cquic_timestamp() < next) {
      }
      ts = cquic_timestamp();
      if (*client && cquic_conn_expiry(*client) <= ts) cquic_conn_handle_expiry(*client, ts);
      if (*server && cquic_conn_expiry(*server) <= ts) cquic_conn_handle_expiry(*server, ts);
      continue;
    }
    queue in = *c2s;
    c2s->n = 0;
    for (int i = 0; i < in.n; i++) {
      if (!*server) {
        cquic_callbacks cb = make_cb(ss);
        char err[256];
        *server = cquic_server_new(sid, alpns, alpnslen, &limits, &cb, secret, (struct sockaddr *)sa, sizeof(*sa),
                                   (struct sockaddr *)ca, sizeof(*ca), in.data[i], in.len[i], ts, err, sizeof(err));
        if (!*server) {
          fprintf(stderr, "server_new: %s\n", err);
          return -3;
        }
      }
      if (cquic_conn_read(*server, (struct sockaddr *)ca, sizeof(*ca), in.data[i], in.len[i], ts) != CQUIC_OK) return -4;
    }
    in = *s2c;
    s2c->n = 0;
    for (int i = 0; i < in.n; i++)
      if (!cquic_conn_is_closed(*client) &&
          cquic_conn_read(*client, (struct sockaddr *)sa, sizeof(*sa), in.data[i], in.len[i], ts) != CQUIC_OK)
        return -5;
  }
  return 0;
}

static int run(int wrong_key) {
  static queue c2s, s2c;
  c2s.n = s2c.n = 0;
  uint8_t cseed[32], sseed[32], cpub[32], spub[32], secret[32];
  cquic_random(cseed, 32);
  cquic_random(sseed, 32);
  cquic_random(secret, 32);
  char err[256];
  cquic_identity *cid = cquic_identity_new(cseed, cpub, err, sizeof(err));
  cquic_identity *sid = cquic_identity_new(sseed, spub, err, sizeof(err));
  if (!cid || !sid) {
    fprintf(stderr, "identity: %s\n", err);
    return 1;
  }
  if (wrong_key) spub[0] ^= 1;
  struct sockaddr_in ca = {.sin_family = AF_INET, .sin_port = htons(1111)};
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(2222)};
  ca.sin_addr.s_addr = htonl(0x7f000001);
  sa.sin_addr.s_addr = htonl(0x7f000001);
  side cs = {.out = &c2s, .name = "client"}, ss = {.out = &s2c, .name = "server"};
  cquic_callbacks ccb = make_cb(&cs);
  cquic_limits limits;
  memset(&limits, 0, sizeof(limits));
  const char *alpn = "smoke/1";
  uint8_t alpns[] = {7, 's', 'm', 'o', 'k', 'e', '/', '1'};
  cquic_conn *client = cquic_client_new(cid, (const uint8_t *)alpn, strlen(alpn), spub, &limits, &ccb, secret,
                                        (struct sockaddr *)&ca, sizeof(ca), (struct sockaddr *)&sa, sizeof(sa),
                                        cquic_timestamp(), err, sizeof(err));
  if (!client) {
    fprintf(stderr, "client_new: %s\n", err);
    return 1;
  }
  cquic_conn *server = NULL;
  int rv = pump(&client, &server, &c2s, &s2c, &ss, secret, sid, alpns, sizeof(alpns), &ca, &sa);
  if (wrong_key) {
    cquic_close_info info;
    cquic_conn_close_info(client, &info);
    printf("wrong key: pump=%d closed=%d kind=%d code=0x%llx reason=%s\n", rv, cquic_conn_is_closed(client), info.kind,
           (unsigned long long)info.code, info.reason);
    int ok = cquic_conn_is_closed(client) && info.code == 0x100 + 42;
    cquic_conn_free(client);
    if (server) cquic_conn_free(server);
    cquic_identity_free(cid);
    cquic_identity_free(sid);
    return ok ? 0 : 1;
  }
  if (rv != 0 || !cs.handshake || !ss.handshake) {
    fprintf(stderr, "handshake failed: pump=%d client=%d server=%d\n", rv, cs.handshake, ss.handshake);
    return 1;
  }
  if (memcmp(cquic_conn_peer_key(server), cpub, 32) != 0 || memcmp(cquic_conn_peer_key(client), spub, 32) != 0) {
    fprintf(stderr, "peer keys differ\n");
    return 1;
  }
  int64_t sidn;
  cquic_stream *st;
  if (cquic_stream_open(client, 1, &sidn, &st) != CQUIC_OK) return 1;
  cquic_stream_send(client, st, (const uint8_t *)"hello", 5, 1);
  pump(&client, &server, &c2s, &s2c, &ss, secret, sid, alpns, sizeof(alpns), &ca, &sa);
  if (ss.receivedlen != 5 || !ss.fin || memcmp(ss.received, "hello", 5) != 0) {
    fprintf(stderr, "server got %zu bytes fin=%d\n", ss.receivedlen, ss.fin);
    return 1;
  }
  cquic_stream_consumed(server, ss.opened_stream, 5);
  cquic_stream_send(server, ss.opened, (const uint8_t *)"echo:hello", 10, 1);
  uint8_t dg[] = "dgram";
  int drv = cquic_conn_send_datagram(client, dg, 5);
  pump(&client, &server, &c2s, &s2c, &ss, secret, sid, alpns, sizeof(alpns), &ca, &sa);
  if (cs.receivedlen != 10 || !cs.fin || memcmp(cs.received, "echo:hello", 10) != 0) {
    fprintf(stderr, "client got %zu bytes fin=%d\n", cs.receivedlen, cs.fin);
    return 1;
  }
  // Bulk: 48 KiB on a second stream leaves in GSO-style runs and arrives intact.
  static uint8_t bulk[48 * 1024];
  for (size_t i = 0; i < sizeof(bulk); i++) bulk[i] = (uint8_t)(i * 7);
  int64_t bulk_id;
  cquic_stream *bulk_st;
  ss.receivedlen = 0;
  ss.fin = 0;
  segment_runs = segment_errors = 0;
  if (cquic_stream_open(client, 1, &bulk_id, &bulk_st) != CQUIC_OK) return 1;
  cquic_stream_send(client, bulk_st, bulk, sizeof(bulk), 1);
  pump(&client, &server, &c2s, &s2c, &ss, secret, sid, alpns, sizeof(alpns), &ca, &sa);
  if (ss.receivedlen != sizeof(bulk) || !ss.fin || memcmp(ss.received, bulk, sizeof(bulk)) != 0 || segment_runs == 0 ||
      segment_errors != 0) {
    fprintf(stderr, "bulk: server got %zu bytes fin=%d, %d segment runs, %d bad\n", ss.receivedlen, ss.fin,
            segment_runs, segment_errors);
    return 1;
  }
  printf("bulk %zu bytes ok in %d segment runs\n", sizeof(bulk), segment_runs);
  uint8_t alpnbuf[32];
  size_t n = cquic_conn_alpn(server, alpnbuf, sizeof(alpnbuf));
  cquic_conn_close(client, 5, (const uint8_t *)"bye", 3, cquic_timestamp());
  pump(&client, &server, &c2s, &s2c, &ss, secret, sid, alpns, sizeof(alpns), &ca, &sa);
  cquic_close_info info;
  cquic_conn_close_info(server, &info);
  printf("ngtcp2 0x%06x: handshake ok, alpn=%.*s, bidi echo ok, datagram queued=%d, server saw close kind=%d code=%llu reason=%s\n",
         cquic_ngtcp2_version_num(), (int)n, alpnbuf, drv, info.kind, (unsigned long long)info.code, info.reason);
  int ok = info.kind == CQUIC_CLOSE_PEER_APPLICATION && info.code == 5 && strcmp(info.reason, "bye") == 0;
  cquic_conn_free(client);
  cquic_conn_free(server);
  cquic_identity_free(cid);
  cquic_identity_free(sid);
  return ok ? 0 : 1;
}

// Packet-input fuzzing: records a real handshake, then feeds bit-flipped, truncated and spliced
// copies of every recorded packet to fresh server connections and to the endpoint-level parsers.
// Success = no crash, no sanitizer report.
static int fuzz(int iterations) {
  static queue c2s, s2c;
  c2s.n = s2c.n = 0;
  uint8_t cseed[32], sseed[32], cpub[32], spub[32], secret[32];
  cquic_random(cseed, 32);
  cquic_random(sseed, 32);
  cquic_random(secret, 32);
  char err[256];
  cquic_identity *cid = cquic_identity_new(cseed, cpub, err, sizeof(err));
  cquic_identity *sid = cquic_identity_new(sseed, spub, err, sizeof(err));
  struct sockaddr_in ca = {.sin_family = AF_INET, .sin_port = htons(1111)};
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(2222)};
  side cs = {.out = &c2s}, ss = {.out = &s2c};
  cquic_callbacks ccb = make_cb(&cs);
  cquic_limits limits;
  memset(&limits, 0, sizeof(limits));
  uint8_t alpns[] = {7, 's', 'm', 'o', 'k', 'e', '/', '1'};
  cquic_conn *client = cquic_client_new(cid, alpns + 1, 7, spub, &limits, &ccb, secret, (struct sockaddr *)&ca,
                                        sizeof(ca), (struct sockaddr *)&sa, sizeof(sa), cquic_timestamp(), err,
                                        sizeof(err));
  // Record the client's first flight (Initial) and the server's reply.
  cquic_conn_flush(client, cquic_timestamp());
  static queue corpus;
  corpus = c2s;
  cquic_conn *server = NULL;
  pump(&client, &server, &c2s, &s2c, &ss, secret, sid, alpns, sizeof(alpns), &ca, &sa);
  int crashes_avoided = 0;
  for (int it = 0; it < iterations; it++) {
    uint8_t pkt[1500];
    int pick = rand() % corpus.n;
    size_t len = corpus.len[pick];
    memcpy(pkt, corpus.data[pick], len);
    int flips = 1 + rand() % 8;
    for (int f = 0; f < flips; f++) pkt[rand() % len] ^= (uint8_t)(1u << (rand() % 8));
    if (rand() % 4 == 0) len = (size_t)(rand() % (int)len);
    cquic_packet_info info;
    cquic_decode_packet(pkt, len, &info);
    uint8_t out[1500];
    if (cquic_decode_packet(pkt, len, &info) == 1) cquic_write_version_negotiation(out, sizeof(out), &info);
    cquic_write_stateless_reset(out, sizeof(out), secret, info.dcid, info.dcidlen, len);
    side fs = {.out = &s2c};
    cquic_callbacks fcb = make_cb(&fs);
    if (cquic_is_acceptable_initial(pkt, len)) {
      cquic_conn *f = cquic_server_new(sid, alpns, sizeof(alpns), &limits, &fcb, secret, (struct sockaddr *)&sa,
                                       sizeof(sa), (struct sockaddr *)&ca, sizeof(ca), pkt, len, cquic_timestamp(), err,
                                       sizeof(err));
      if (f) {
        cquic_conn_read(f, (struct sockaddr *)&ca, sizeof(ca), pkt, len, cquic_timestamp());
        cquic_conn_flush(f, cquic_timestamp());
        cquic_conn_free(f);
        crashes_avoided++;
      }
    }
    // Also into the live server connection (wrong keys / garbage: must be discarded or close it).
    if (server && !cquic_conn_is_closed(server))
      cquic_conn_read(server, (struct sockaddr *)&ca, sizeof(ca), pkt, len, cquic_timestamp());
    s2c.n = 0;
  }
  printf("fuzz: %d mutated packets, %d reached a fresh server connection, no crash\n", iterations, crashes_avoided);
  cquic_conn_free(client);
  if (server) cquic_conn_free(server);
  cquic_identity_free(cid);
  cquic_identity_free(sid);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int a = run(0);
  int b = run(1);
  int c = argc > 1 ? fuzz(atoi(argv[1])) : 0;
  printf("%s\n", a == 0 && b == 0 && c == 0 ? "SMOKE OK" : "SMOKE FAILED");
  return a || b || c;
}
#endif
