// libFuzzer harness for the QUIC packet-input path (what every UDP datagram from the network meets):
// header decoding, version negotiation and stateless-reset writers, server-connection creation from
// an Initial, and packets into a live, fully handshaken server connection.
// Built by scripts/fuzz-transport with clang -fsanitize=fuzzer,address,undefined; it reuses the
// in-memory client/server plumbing of Sources/CQUIC/cquic_smoke.c (main renamed away).
#define main cquic_smoke_main
#include "../../Sources/CQUIC/cquic_smoke.c"
#undef main

#include <stdio.h>
#include <sys/stat.h>

static cquic_identity *server_identity, *client_identity;
static cquic_conn *live_client;  // kept reachable for the whole run
static cquic_conn *live_server;
static uint8_t reset_secret[32];
static uint8_t alpn_list[] = {7, 's', 'm', 'o', 'k', 'e', '/', '1'};
static struct sockaddr_in client_addr = {.sin_family = AF_INET, .sin_port = 1111};
static struct sockaddr_in server_addr = {.sin_family = AF_INET, .sin_port = 2222};
static queue to_server, to_client, sink;

// Records a real handshake; its packets seed the corpus (FUZZ_SEED_DIR) and leave a live connection.
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  uint8_t cseed[32], sseed[32], cpub[32], spub[32];
  char err[256];
  cquic_random(cseed, 32);
  cquic_random(sseed, 32);
  cquic_random(reset_secret, 32);
  client_identity = cquic_identity_new(cseed, cpub, err, sizeof(err));
  server_identity = cquic_identity_new(sseed, spub, err, sizeof(err));
  // Static: the live connections keep pointers to these callback contexts.
  static side client_side, server_side;
  client_side.out = &to_server;
  server_side.out = &to_client;
  cquic_callbacks ccb = make_cb(&client_side);
  cquic_limits limits;
  memset(&limits, 0, sizeof(limits));
  live_client = cquic_client_new(client_identity, alpn_list + 1, 7, spub, &limits, &ccb, reset_secret,
                                        (struct sockaddr *)&client_addr, sizeof(client_addr),
                                        (struct sockaddr *)&server_addr, sizeof(server_addr), cquic_timestamp(), err,
                                        sizeof(err));
  cquic_conn_flush(live_client, cquic_timestamp());
  static queue seeds;
  seeds = to_server;
  pump(&live_client, &live_server, &to_server, &to_client, &server_side, reset_secret, server_identity, alpn_list,
       sizeof(alpn_list), &client_addr, &server_addr);
  const char *dir = getenv("FUZZ_SEED_DIR");
  if (dir) {
    mkdir(dir, 0755);
    for (int i = 0; i < seeds.n; i++) {
      char path[512];
      snprintf(path, sizeof(path), "%s/initial-%d", dir, i);
      FILE *f = fopen(path, "wb");
      if (f) { fwrite(seeds.data[i], 1, seeds.len[i], f); fclose(f); }
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1500) return 0;
  uint8_t packet[1500];
  memcpy(packet, data, size);
  cquic_packet_info info;
  uint8_t out[1500];
  if (cquic_decode_packet(packet, size, &info) == 1) cquic_write_version_negotiation(out, sizeof(out), &info);
  cquic_write_stateless_reset(out, sizeof(out), reset_secret, info.dcid, info.dcidlen, size);
  side fresh_side = {.out = &sink};
  cquic_callbacks fcb = make_cb(&fresh_side);
  cquic_limits limits;
  memset(&limits, 0, sizeof(limits));
  char err[256];
  if (cquic_is_acceptable_initial(packet, size)) {
    cquic_conn *fresh = cquic_server_new(server_identity, alpn_list, sizeof(alpn_list), &limits, &fcb, reset_secret,
                                         (struct sockaddr *)&server_addr, sizeof(server_addr),
                                         (struct sockaddr *)&client_addr, sizeof(client_addr), packet, size,
                                         cquic_timestamp(), err, sizeof(err));
    if (fresh) {
      cquic_conn_read(fresh, (struct sockaddr *)&client_addr, sizeof(client_addr), packet, size, cquic_timestamp());
      cquic_conn_flush(fresh, cquic_timestamp());
      cquic_conn_free(fresh);
    }
  }
  if (live_server && !cquic_conn_is_closed(live_server))
    cquic_conn_read(live_server, (struct sockaddr *)&client_addr, sizeof(client_addr), packet, size,
                    cquic_timestamp());
  sink.n = 0;
  to_client.n = 0;
  return 0;
}
