// CQUIC implementation. Every ngtcp2 API difference between 0.12 (bookworm) and 1.x (trixie)
// sits behind NGTCP2_VERSION_NUM checks in this file; the header stays the same.
#define _GNU_SOURCE
#include "cquic.h"

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <nettle/eddsa.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if NGTCP2_VERSION_NUM >= 0x010000
#define CQUIC_NGTCP2_V1 1
typedef ngtcp2_ccerr cquic_ccerr;
#else
#define CQUIC_NGTCP2_V1 0
typedef ngtcp2_connection_close_error cquic_ccerr;
#endif

// Defaults (cquic_limits fields left at 0).
#define DEFAULT_IDLE_TIMEOUT_MS 30000u
#define DEFAULT_KEEP_ALIVE_MS 5000u
#define DEFAULT_HANDSHAKE_TIMEOUT_MS 10000u
#define DEFAULT_STREAM_WINDOW (1u << 20)
#define DEFAULT_MAX_STREAM_WINDOW (4u << 20)
#define DEFAULT_CONN_WINDOW (4u << 20)
#define DEFAULT_MAX_CONN_WINDOW (16u << 20)
#define DEFAULT_MAX_STREAMS 100u
#define DEFAULT_MAX_DATAGRAM_QUEUE 128u

// Priority string proven against iroh (quic-tls-profile.md): TLS 1.3 only, Ed25519 only, raw
// public keys only in both directions, no middlebox compatibility mode (RFC 9001 §8.4).
static const char *const TLS_PRIORITY =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-SIGN-ALL:+SIGN-EDDSA-ED25519:-CTYPE-ALL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:%DISABLE_TLS13_COMPAT_MODE";

// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows (44 bytes in total).
static const uint8_t ED25519_SPKI_PREFIX[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

uint32_t cquic_ngtcp2_version_num(void) { return NGTCP2_VERSION_NUM; }

// ---------------------------------------------------------------------------------------------
// small helpers

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

uint64_t cquic_timestamp(void) {
  struct timespec tp;
  clock_gettime(CLOCK_MONOTONIC, &tp);
  return (uint64_t)tp.tv_sec * NGTCP2_SECONDS + (uint64_t)tp.tv_nsec;
}

void cquic_random(uint8_t *dest, size_t len) {
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dest, len) != 0) abort();
}

static void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx) {
  (void)rand_ctx;
  cquic_random(dest, destlen);
}

static void ccerr_default(cquic_ccerr *e) {
#if CQUIC_NGTCP2_V1
  ngtcp2_ccerr_default(e);
#else
  ngtcp2_connection_close_error_default(e);
#endif
}

static void ccerr_set_application(cquic_ccerr *e, uint64_t code, const uint8_t *reason, size_t len) {
#if CQUIC_NGTCP2_V1
  ngtcp2_ccerr_set_application_error(e, code, reason, len);
#else
  ngtcp2_connection_close_error_set_application_error(e, code, reason, len);
#endif
}

static void ccerr_set_liberr(cquic_ccerr *e, int liberr) {
#if CQUIC_NGTCP2_V1
  ngtcp2_ccerr_set_liberr(e, liberr, NULL, 0);
#else
  ngtcp2_connection_close_error_set_transport_error_liberr(e, liberr, NULL, 0);
#endif
}

static void ccerr_set_tls_alert(cquic_ccerr *e, uint8_t alert) {
#if CQUIC_NGTCP2_V1
  ngtcp2_ccerr_set_tls_alert(e, alert, NULL, 0);
#else
  ngtcp2_connection_close_error_set_transport_error_tls_alert(e, alert, NULL, 0);
#endif
}

static int conn_in_closing_or_draining(ngtcp2_conn *c) {
#if CQUIC_NGTCP2_V1
  return ngtcp2_conn_in_closing_period(c) || ngtcp2_conn_in_draining_period(c);
#else
  return ngtcp2_conn_is_in_closing_period(c) || ngtcp2_conn_is_in_draining_period(c);
#endif
}

// ---------------------------------------------------------------------------------------------
// identity

struct cquic_identity {
  gnutls_certificate_credentials_t cred;
  uint8_t pub[CQUIC_KEYLEN];
};

cquic_identity *cquic_identity_new(const uint8_t *seed, uint8_t *pub_out, char *err, size_t errlen) {
  cquic_identity *id = calloc(1, sizeof(*id));
  if (!id) return NULL;
  ed25519_sha512_public_key(id->pub, seed);

  gnutls_privkey_t priv = NULL;
  gnutls_pubkey_t pub = NULL;
  gnutls_pcert_st *pcert = calloc(1, sizeof(*pcert));
  int rv;
  gnutls_datum_t x = {id->pub, CQUIC_KEYLEN};
  gnutls_datum_t k = {(unsigned char *)seed, CQUIC_KEYLEN};
  if (!pcert) goto fail_nomem;
  if ((rv = gnutls_privkey_init(&priv)) != 0) goto fail;
  if ((rv = gnutls_privkey_import_ecc_raw(priv, GNUTLS_ECC_CURVE_ED25519, &x, NULL, &k)) != 0) goto fail;
  if ((rv = gnutls_pubkey_init(&pub)) != 0) goto fail;
  if ((rv = gnutls_pubkey_import_privkey(pub, priv, 0, 0)) != 0) goto fail;
  if ((rv = gnutls_pcert_import_rawpk(pcert, pub, 0)) != 0) goto fail;
  pub = NULL; // owned by pcert now
  if ((rv = gnutls_certificate_allocate_credentials(&id->cred)) != 0) goto fail;
  // The credentials take ownership of pcert and priv.
  if (pcert->cert.size != 44 || memcmp(pcert->cert.data, ED25519_SPKI_PREFIX, 12) != 0 ||
      memcmp(pcert->cert.data + 12, id->pub, CQUIC_KEYLEN) != 0) {
    set_err(err, errlen, "GnuTLS built an unexpected raw-key SPKI (%u bytes)", pcert->cert.size);
    gnutls_pcert_deinit(pcert);
    free(pcert);
    pcert = NULL;
    goto cleanup;
  }
  if ((rv = gnutls_certificate_set_key(id->cred, NULL, 0, pcert, 1, priv)) != 0) goto fail;
  // The credentials now own the certificate's contents and the key; the array itself is ours.
  free(pcert);
  memcpy(pub_out, id->pub, CQUIC_KEYLEN);
  return id;

fail:
  set_err(err, errlen, "GnuTLS identity setup failed: %s", gnutls_strerror(rv));
  goto cleanup;
fail_nomem:
  set_err(err, errlen, "out of memory");
cleanup:
  free(pcert);
  if (pub) gnutls_pubkey_deinit(pub);
  if (id->cred) {
    gnutls_certificate_free_credentials(id->cred);
  } else {
    if (priv) gnutls_privkey_deinit(priv);
  }
  free(id);
  return NULL;
}

void cquic_identity_free(cquic_identity *id) {
  if (!id) return;
  if (id->cred) gnutls_certificate_free_credentials(id->cred);
  free(id);
}

// ---------------------------------------------------------------------------------------------
// connection and stream state

typedef struct chunk {
  struct chunk *next;
  size_t len;
  uint8_t data[];
} chunk;

struct cquic_stream {
  int64_t id;
  struct cquic_stream *all_prev, *all_next;   // every stream of the connection
  struct cquic_stream *send_prev, *send_next; // streams with data ready to write
  int scheduled;
  chunk *head, *tail;    // unacknowledged bytes, oldest first
  size_t head_acked;     // bytes of head already acknowledged
  chunk *send_chunk;     // next byte to hand to ngtcp2
  size_t send_off;
  uint64_t unsent;       // bytes not yet handed to ngtcp2
  uint64_t buffered;     // bytes not yet acknowledged
  int fin_pending, fin_sent, shut_wr;
};

typedef struct dgram {
  struct dgram *next;
  size_t len;
  int attempts; // writes that did not take it (too big for the packet, or no room)
  uint8_t data[];
} dgram;

struct cquic_conn {
  ngtcp2_crypto_conn_ref conn_ref; // first member: GnuTLS session ptr points here
  ngtcp2_conn *conn;
  gnutls_session_t session;
  cquic_callbacks cb;
  int is_server;
  uint8_t reset_secret[CQUIC_RESET_SECRETLEN];

  struct sockaddr_storage local;
  socklen_t locallen;

  uint8_t expected_key[CQUIC_KEYLEN];
  int has_expected_key;
  uint8_t peer_key[CQUIC_KEYLEN];
  int has_peer_key;
  int verify_ran;
  char verify_error[128];
  uint8_t alpn[256];
  size_t alpnlen;
  int handshake_done;

  cquic_stream *streams;                 // all streams
  cquic_stream *send_head, *send_tail;   // round-robin write queue
  dgram *dgram_head, *dgram_tail;
  size_t dgram_count, dgram_cap;

  int closed;
  cquic_close_info close;
};

static ngtcp2_conn *get_conn_cb(ngtcp2_crypto_conn_ref *ref) {
  return ((cquic_conn *)ref)->conn;
}

static void set_close(cquic_conn *c, int kind, uint64_t code, const char *fmt, ...) {
  if (c->closed) return;
  c->closed = 1;
  c->close.kind = kind;
  c->close.code = code;
  c->close.reason[0] = 0;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->close.reason, sizeof(c->close.reason), fmt, ap);
    va_end(ap);
  }
}

static void sched_add(cquic_conn *c, cquic_stream *s) {
  if (s->scheduled) return;
  s->scheduled = 1;
  s->send_next = NULL;
  s->send_prev = c->send_tail;
  if (c->send_tail) c->send_tail->send_next = s; else c->send_head = s;
  c->send_tail = s;
}

static void sched_remove(cquic_conn *c, cquic_stream *s) {
  if (!s->scheduled) return;
  s->scheduled = 0;
  if (s->send_prev) s->send_prev->send_next = s->send_next; else c->send_head = s->send_next;
  if (s->send_next) s->send_next->send_prev = s->send_prev; else c->send_tail = s->send_prev;
  s->send_prev = s->send_next = NULL;
}

static int stream_wants_send(const cquic_stream *s) {
  return !s->shut_wr && (s->unsent > 0 || (s->fin_pending && !s->fin_sent));
}

static cquic_stream *stream_new(cquic_conn *c, int64_t id) {
  cquic_stream *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->id = id;
  s->all_next = c->streams;
  if (c->streams) c->streams->all_prev = s;
  c->streams = s;
  ngtcp2_conn_set_stream_user_data(c->conn, id, s);
  return s;
}

static void stream_free(cquic_conn *c, cquic_stream *s) {
  sched_remove(c, s);
  if (s->all_prev) s->all_prev->all_next = s->all_next; else c->streams = s->all_next;
  if (s->all_next) s->all_next->all_prev = s->all_prev;
  chunk *ch = s->head;
  while (ch) {
    chunk *n = ch->next;
    free(ch);
    ch = n;
  }
  free(s);
}

// ---------------------------------------------------------------------------------------------
// TLS

static int verify_peer_cb(gnutls_session_t session) {
  cquic_conn *c = (cquic_conn *)gnutls_session_get_ptr(session);
  c->verify_ran = 1;
  if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_RAWPK) {
    snprintf(c->verify_error, sizeof(c->verify_error), "peer did not present a raw public key");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  unsigned int n = 0;
  const gnutls_datum_t *certs = gnutls_certificate_get_peers(session, &n);
  if (!certs || n != 1 || certs[0].size != 44 || memcmp(certs[0].data, ED25519_SPKI_PREFIX, 12) != 0) {
    snprintf(c->verify_error, sizeof(c->verify_error), "peer key is not a single Ed25519 SPKI");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  const uint8_t *key = certs[0].data + 12;
  if (c->has_expected_key && memcmp(key, c->expected_key, CQUIC_KEYLEN) != 0) {
    snprintf(c->verify_error, sizeof(c->verify_error), "peer key does not match the expected endpoint id");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  memcpy(c->peer_key, key, CQUIC_KEYLEN);
  c->has_peer_key = 1;
  return 0;
}

static int setup_tls(cquic_conn *c, const cquic_identity *id, const uint8_t *alpns, size_t alpnslen,
                     char *err, size_t errlen) {
  unsigned int flags = (c->is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_ENABLE_RAWPK |
                       GNUTLS_NO_END_OF_EARLY_DATA;
  int rv = gnutls_init(&c->session, flags);
  if (rv != 0) {
    set_err(err, errlen, "gnutls_init: %s", gnutls_strerror(rv));
    return -1;
  }
  const char *errpos = NULL;
  if ((rv = gnutls_priority_set_direct(c->session, TLS_PRIORITY, &errpos)) != 0) {
    set_err(err, errlen, "TLS priority rejected at '%s': %s", errpos ? errpos : "?", gnutls_strerror(rv));
    return -1;
  }
  if ((rv = gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, id->cred)) != 0) {
    set_err(err, errlen, "gnutls_credentials_set: %s", gnutls_strerror(rv));
    return -1;
  }
  if (c->is_server) {
    // Without this the iroh client sends no key and we learn no identity (profile X12).
    gnutls_certificate_server_set_request(c->session, GNUTLS_CERT_REQUIRE);
    rv = ngtcp2_crypto_gnutls_configure_server_session(c->session);
  } else {
    rv = ngtcp2_crypto_gnutls_configure_client_session(c->session);
  }
  if (rv != 0) {
    set_err(err, errlen, "ngtcp2_crypto_gnutls_configure_session failed");
    return -1;
  }
  gnutls_session_set_verify_function(c->session, verify_peer_cb);

  gnutls_datum_t protos[32];
  unsigned int nprotos = 0;
  size_t off = 0;
  while (off < alpnslen && nprotos < 32) {
    size_t l = alpns[off];
    if (l == 0 || off + 1 + l > alpnslen) {
      set_err(err, errlen, "malformed ALPN list");
      return -1;
    }
    protos[nprotos].data = (unsigned char *)alpns + off + 1;
    protos[nprotos].size = (unsigned int)l;
    nprotos++;
    off += 1 + l;
  }
  if (nprotos == 0) {
    set_err(err, errlen, "no ALPN given");
    return -1;
  }
  if ((rv = gnutls_alpn_set_protocols(c->session, protos, nprotos, GNUTLS_ALPN_MANDATORY)) != 0) {
    set_err(err, errlen, "gnutls_alpn_set_protocols: %s", gnutls_strerror(rv));
    return -1;
  }
  c->conn_ref.get_conn = get_conn_cb;
  c->conn_ref.user_data = c;
  gnutls_session_set_ptr(c->session, &c->conn_ref);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// ngtcp2 callbacks

static int handshake_completed_cb(ngtcp2_conn *conn, void *user_data) {
  (void)conn;
  cquic_conn *c = user_data;
  gnutls_datum_t proto;
  if (gnutls_alpn_get_selected_protocol(c->session, &proto) != 0 || proto.size == 0 ||
      proto.size > sizeof(c->alpn)) {
    snprintf(c->verify_error, sizeof(c->verify_error), "no ALPN negotiated");
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  memcpy(c->alpn, proto.data, proto.size);
  c->alpnlen = proto.size;
  // Safety net: never report a connection whose peer key we did not check.
  if (!c->verify_ran || !c->has_peer_key) {
    if (verify_peer_cb(c->session) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  c->handshake_done = 1;
  if (c->cb.handshake_completed) c->cb.handshake_completed(c->cb.ctx);
  return 0;
}

static int recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset,
                               const uint8_t *data, size_t datalen, void *user_data,
                               void *stream_user_data) {
  (void)conn; (void)offset; (void)stream_user_data;
  cquic_conn *c = user_data;
  if (c->cb.stream_data)
    c->cb.stream_data(c->cb.ctx, stream_id, data, datalen, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
  return 0;
}

static int stream_open_cb(ngtcp2_conn *conn, int64_t stream_id, void *user_data) {
  (void)conn;
  cquic_conn *c = user_data;
  cquic_stream *s = stream_new(c, stream_id);
  if (!s) return NGTCP2_ERR_CALLBACK_FAILURE;
  if (c->cb.stream_opened) c->cb.stream_opened(c->cb.ctx, stream_id, s);
  return 0;
}

static int stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code,
                           void *user_data, void *stream_user_data) {
  cquic_conn *c = user_data;
  int has_code = (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) != 0;
  if (c->cb.stream_closed) c->cb.stream_closed(c->cb.ctx, stream_id, app_error_code, has_code);
  if (stream_user_data) stream_free(c, stream_user_data);
  // ngtcp2 returns stream credit only for reset streams; a peer stream that ended normally
  // frees its slot here, so the limit bounds concurrent streams, not streams per connection.
  if (!ngtcp2_conn_is_local_stream(conn, stream_id)) {
    if (stream_id & 0x2) ngtcp2_conn_extend_max_streams_uni(conn, 1);
    else ngtcp2_conn_extend_max_streams_bidi(conn, 1);
  }
  return 0;
}

static int stream_reset_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size, uint64_t app_error_code,
                           void *user_data, void *stream_user_data) {
  (void)conn; (void)final_size; (void)stream_user_data;
  cquic_conn *c = user_data;
  if (c->cb.stream_reset) c->cb.stream_reset(c->cb.ctx, stream_id, app_error_code);
  return 0;
}

static int stream_stop_sending_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t app_error_code,
                                  void *user_data, void *stream_user_data) {
  // ngtcp2 calls this when *we* stop reading (ngtcp2_conn_shutdown_stream_read), not when the peer
  // sends STOP_SENDING: our own send half stays usable. The peer's STOP_SENDING shows up as
  // NGTCP2_ERR_STREAM_SHUT_WR on the next write of the stream (write loop below).
  (void)conn; (void)stream_id; (void)app_error_code; (void)user_data; (void)stream_user_data;
  return 0;
}

static int acked_stream_data_offset_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset, uint64_t datalen,
                                       void *user_data, void *stream_user_data) {
  (void)conn; (void)offset;
  cquic_conn *c = user_data;
  cquic_stream *s = stream_user_data;
  if (!s) return 0;
  uint64_t left = datalen;
  while (left > 0 && s->head) {
    chunk *h = s->head;
    size_t avail = h->len - s->head_acked;
    if (left < avail) {
      s->head_acked += (size_t)left;
      left = 0;
      break;
    }
    left -= avail;
    s->head = h->next;
    if (!s->head) s->tail = NULL;
    if (s->send_chunk == h) {
      s->send_chunk = h->next;
      s->send_off = 0;
    }
    s->head_acked = 0;
    free(h);
  }
  s->buffered = datalen > s->buffered ? 0 : s->buffered - datalen;
  if (c->cb.stream_acked) c->cb.stream_acked(c->cb.ctx, stream_id, s->buffered);
  return 0;
}

static int extend_max_stream_data_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t max_data, void *user_data,
                                     void *stream_user_data) {
  (void)conn; (void)stream_id; (void)max_data;
  cquic_conn *c = user_data;
  cquic_stream *s = stream_user_data;
  if (s && stream_wants_send(s)) sched_add(c, s);
  return 0;
}

static int extend_max_local_streams_bidi_cb(ngtcp2_conn *conn, uint64_t max_streams, void *user_data) {
  (void)conn; (void)max_streams;
  cquic_conn *c = user_data;
  if (c->cb.streams_available) c->cb.streams_available(c->cb.ctx, 1);
  return 0;
}

static int extend_max_local_streams_uni_cb(ngtcp2_conn *conn, uint64_t max_streams, void *user_data) {
  (void)conn; (void)max_streams;
  cquic_conn *c = user_data;
  if (c->cb.streams_available) c->cb.streams_available(c->cb.ctx, 0);
  return 0;
}

static int recv_datagram_cb(ngtcp2_conn *conn, uint32_t flags, const uint8_t *data, size_t datalen,
                            void *user_data) {
  (void)conn; (void)flags;
  cquic_conn *c = user_data;
  if (c->cb.datagram) c->cb.datagram(c->cb.ctx, data, datalen);
  return 0;
}

static int get_new_connection_id_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
                                    void *user_data) {
  (void)conn;
  cquic_conn *c = user_data;
  cquic_random(cid->data, cidlen);
  cid->datalen = cidlen;
  if (ngtcp2_crypto_generate_stateless_reset_token(token, c->reset_secret, sizeof(c->reset_secret), cid) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  if (c->cb.cid_added) c->cb.cid_added(c->cb.ctx, cid->data, cid->datalen);
  return 0;
}

static int remove_connection_id_cb(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *user_data) {
  (void)conn;
  cquic_conn *c = user_data;
  if (c->cb.cid_removed) c->cb.cid_removed(c->cb.ctx, cid->data, cid->datalen);
  return 0;
}

static void log_printf_cb(void *user_data, const char *fmt, ...) {
  (void)user_data;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void fill_callbacks(ngtcp2_callbacks *cb, int is_server) {
  memset(cb, 0, sizeof(*cb));
  if (is_server) {
    cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cb->client_initial = ngtcp2_crypto_client_initial_cb;
    cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb->encrypt = ngtcp2_crypto_encrypt_cb;
  cb->decrypt = ngtcp2_crypto_decrypt_cb;
  cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb->update_key = ngtcp2_crypto_update_key_cb;
  cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb->rand = rand_cb;
  cb->get_new_connection_id = get_new_connection_id_cb;
  cb->remove_connection_id = remove_connection_id_cb;
  cb->handshake_completed = handshake_completed_cb;
  cb->recv_stream_data = recv_stream_data_cb;
  cb->stream_open = stream_open_cb;
  cb->stream_close = stream_close_cb;
  cb->stream_reset = stream_reset_cb;
  cb->stream_stop_sending = stream_stop_sending_cb;
  cb->acked_stream_data_offset = acked_stream_data_offset_cb;
  cb->extend_max_stream_data = extend_max_stream_data_cb;
  cb->extend_max_local_streams_bidi = extend_max_local_streams_bidi_cb;
  cb->extend_max_local_streams_uni = extend_max_local_streams_uni_cb;
  cb->recv_datagram = recv_datagram_cb;
}

static uint64_t or_default(uint64_t v, uint64_t d) { return v ? v : d; }

static void fill_settings(ngtcp2_settings *settings, const cquic_limits *l, uint64_t ts) {
  ngtcp2_settings_default(settings);
  settings->initial_ts = ts;
  settings->cc_algo = NGTCP2_CC_ALGO_CUBIC;
  settings->max_tx_udp_payload_size = CQUIC_MAX_PACKET;
  settings->handshake_timeout = or_default(l->handshake_timeout_ms, DEFAULT_HANDSHAKE_TIMEOUT_MS) * NGTCP2_MILLISECONDS;
  settings->max_stream_window = or_default(l->max_stream_window, DEFAULT_MAX_STREAM_WINDOW);
  settings->max_window = or_default(l->max_conn_window, DEFAULT_MAX_CONN_WINDOW);
  if (getenv("CQUIC_TRACE")) settings->log_printf = log_printf_cb;
}

static void fill_params(ngtcp2_transport_params *p, const cquic_limits *l) {
  ngtcp2_transport_params_default(p);
  uint64_t sw = or_default(l->stream_window, DEFAULT_STREAM_WINDOW);
  p->initial_max_stream_data_bidi_local = sw;
  p->initial_max_stream_data_bidi_remote = sw;
  p->initial_max_stream_data_uni = sw;
  p->initial_max_data = or_default(l->conn_window, DEFAULT_CONN_WINDOW);
  p->initial_max_streams_bidi = or_default(l->max_streams_bidi, DEFAULT_MAX_STREAMS);
  p->initial_max_streams_uni = or_default(l->max_streams_uni, DEFAULT_MAX_STREAMS);
  p->max_idle_timeout = or_default(l->idle_timeout_ms, DEFAULT_IDLE_TIMEOUT_MS) * NGTCP2_MILLISECONDS;
  p->active_connection_id_limit = 4;
  // Without it iroh refuses to send datagrams (profile X10).
  p->max_datagram_frame_size = 65535;
}

static cquic_conn *conn_alloc(const cquic_callbacks *callbacks, const cquic_limits *limits,
                              const uint8_t *reset_secret, const struct sockaddr *local, socklen_t locallen) {
  cquic_conn *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->cb = *callbacks;
  memcpy(c->reset_secret, reset_secret, CQUIC_RESET_SECRETLEN);
  if (locallen > sizeof(c->local)) locallen = sizeof(c->local);
  memcpy(&c->local, local, locallen);
  c->locallen = locallen;
  c->dgram_cap = (size_t)or_default(limits->max_datagram_queue, DEFAULT_MAX_DATAGRAM_QUEUE);
  return c;
}

static void conn_after_create(cquic_conn *c, const cquic_limits *limits) {
  ngtcp2_conn_set_tls_native_handle(c->conn, c->session);
  ngtcp2_conn_set_keep_alive_timeout(c->conn,
                                     or_default(limits->keep_alive_ms, DEFAULT_KEEP_ALIVE_MS) * NGTCP2_MILLISECONDS);
}

cquic_conn *cquic_client_new(const cquic_identity *identity, const uint8_t *alpn, size_t alpnlen,
                             const uint8_t *expected_key, const cquic_limits *limits,
                             const cquic_callbacks *callbacks, const uint8_t *reset_secret,
                             const struct sockaddr *local, socklen_t locallen,
                             const struct sockaddr *remote, socklen_t remotelen,
                             uint64_t ts, char *err, size_t errlen) {
  if (alpnlen == 0 || alpnlen > 255) {
    set_err(err, errlen, "ALPN must be 1...255 bytes, got %zu", alpnlen);
    return NULL;
  }
  cquic_conn *c = conn_alloc(callbacks, limits, reset_secret, local, locallen);
  if (!c) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  memcpy(c->expected_key, expected_key, CQUIC_KEYLEN);
  c->has_expected_key = 1;

  uint8_t wire[256];
  wire[0] = (uint8_t)alpnlen;
  memcpy(wire + 1, alpn, alpnlen);
  if (setup_tls(c, identity, wire, alpnlen + 1, err, errlen) != 0) {
    cquic_conn_free(c);
    return NULL;
  }

  ngtcp2_cid dcid, scid;
  dcid.datalen = CQUIC_CIDLEN;
  cquic_random(dcid.data, dcid.datalen);
  scid.datalen = CQUIC_CIDLEN;
  cquic_random(scid.data, scid.datalen);

  ngtcp2_path path;
  memset(&path, 0, sizeof(path));
  path.local.addr = (ngtcp2_sockaddr *)&c->local;
  path.local.addrlen = c->locallen;
  path.remote.addr = (ngtcp2_sockaddr *)remote;
  path.remote.addrlen = remotelen;

  ngtcp2_callbacks cb;
  fill_callbacks(&cb, 0);
  ngtcp2_settings settings;
  fill_settings(&settings, limits, ts);
  ngtcp2_transport_params params;
  fill_params(&params, limits);

  int rv = ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params,
                                  NULL, c);
  if (rv != 0) {
    set_err(err, errlen, "ngtcp2_conn_client_new: %s", ngtcp2_strerror(rv));
    cquic_conn_free(c);
    return NULL;
  }
  conn_after_create(c, limits);
  if (c->cb.cid_added) c->cb.cid_added(c->cb.ctx, scid.data, scid.datalen);
  return c;
}

int cquic_is_acceptable_initial(const uint8_t *pkt, size_t len) {
  ngtcp2_pkt_hd hd;
  if (len < 1200) return 0; // RFC 9000 §14.1: client Initials are padded to 1200 bytes

  return ngtcp2_accept(&hd, pkt, len) == 0 ? 1 : 0;
}

cquic_conn *cquic_server_new(const cquic_identity *identity, const uint8_t *alpns, size_t alpnslen,
                             const cquic_limits *limits, const cquic_callbacks *callbacks,
                             const uint8_t *reset_secret,
                             const struct sockaddr *local, socklen_t locallen,
                             const struct sockaddr *remote, socklen_t remotelen,
                             const uint8_t *pkt, size_t pktlen,
                             uint64_t ts, char *err, size_t errlen) {
  ngtcp2_pkt_hd hd;
  int rv = ngtcp2_accept(&hd, pkt, pktlen);
  if (rv != 0) {
    set_err(err, errlen, "not an acceptable Initial packet: %s", ngtcp2_strerror(rv));
    return NULL;
  }
  cquic_conn *c = conn_alloc(callbacks, limits, reset_secret, local, locallen);
  if (!c) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  c->is_server = 1;
  if (setup_tls(c, identity, alpns, alpnslen, err, errlen) != 0) {
    cquic_conn_free(c);
    return NULL;
  }

  ngtcp2_cid scid;
  scid.datalen = CQUIC_CIDLEN;
  cquic_random(scid.data, scid.datalen);

  ngtcp2_path path;
  memset(&path, 0, sizeof(path));
  path.local.addr = (ngtcp2_sockaddr *)&c->local;
  path.local.addrlen = c->locallen;
  path.remote.addr = (ngtcp2_sockaddr *)remote;
  path.remote.addrlen = remotelen;

  ngtcp2_callbacks cb;
  fill_callbacks(&cb, 1);
  ngtcp2_settings settings;
  fill_settings(&settings, limits, ts);
  ngtcp2_transport_params params;
  fill_params(&params, limits);
  params.original_dcid = hd.dcid;
#if CQUIC_NGTCP2_V1
  params.original_dcid_present = 1;
#endif
  params.stateless_reset_token_present = 1;
  if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, c->reset_secret,
                                                   sizeof(c->reset_secret), &scid) != 0) {
    set_err(err, errlen, "stateless reset token generation failed");
    cquic_conn_free(c);
    return NULL;
  }

  rv = ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params, NULL, c);
  if (rv != 0) {
    set_err(err, errlen, "ngtcp2_conn_server_new: %s", ngtcp2_strerror(rv));
    cquic_conn_free(c);
    return NULL;
  }
  conn_after_create(c, limits);
  if (c->cb.cid_added) {
    c->cb.cid_added(c->cb.ctx, scid.data, scid.datalen);
    // iroh may send the same Initial along several paths: route its DCID here too.
    c->cb.cid_added(c->cb.ctx, hd.dcid.data, hd.dcid.datalen);
  }
  return c;
}

void cquic_conn_free(cquic_conn *c) {
  if (!c) return;
  while (c->streams) stream_free(c, c->streams);
  while (c->dgram_head) {
    dgram *d = c->dgram_head;
    c->dgram_head = d->next;
    free(d);
  }
  if (c->conn) ngtcp2_conn_del(c->conn);
  if (c->session) gnutls_deinit(c->session);
  free(c);
}

// ---------------------------------------------------------------------------------------------
// I/O

static void send_out(cquic_conn *c, const uint8_t *data, size_t len, const ngtcp2_path *path) {
  if (c->cb.send_packet)
    c->cb.send_packet(c->cb.ctx, data, len, (const struct sockaddr *)path->remote.addr, path->remote.addrlen);
}

// Sends CONNECTION_CLOSE carrying `e` and marks the connection over.
static void write_close(cquic_conn *c, const cquic_ccerr *e, uint64_t ts) {
  if (conn_in_closing_or_draining(c->conn)) return;
  uint8_t buf[CQUIC_MAX_PACKET];
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->conn, &ps.path, &pi, buf, sizeof(buf), e, ts);
  if (n > 0) send_out(c, buf, (size_t)n, &ps.path);
}

static const char *tls_failure_reason(cquic_conn *c) {
  if (c->verify_error[0]) return c->verify_error;
  return NULL;
}

// Handles a fatal error from ngtcp2: records why, tells the peer where that makes sense.
static int fail_conn(cquic_conn *c, int liberr, uint64_t ts) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  cquic_ccerr e;
  ccerr_default(&e);
  switch (liberr) {
  case NGTCP2_ERR_DRAINING: {
#if CQUIC_NGTCP2_V1
    const ngtcp2_ccerr *r = ngtcp2_conn_get_ccerr(c->conn);
    int app = r->type == NGTCP2_CCERR_TYPE_APPLICATION;
    uint64_t code = r->error_code;
    const uint8_t *reason = r->reason;
    size_t rlen = r->reasonlen;
#else
    ngtcp2_connection_close_error r;
    ngtcp2_conn_get_connection_close_error(c->conn, &r);
    int app = r.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION;
    uint64_t code = r.error_code;
    const uint8_t *reason = r.reason;
    size_t rlen = r.reasonlen;
#endif
    if (rlen > 255) rlen = 255;
    set_close(c, app ? CQUIC_CLOSE_PEER_APPLICATION : CQUIC_CLOSE_PEER_TRANSPORT, code, "%.*s", (int)rlen,
              reason ? (const char *)reason : "");
    return CQUIC_ERR_CLOSED;
  }
  case NGTCP2_ERR_CLOSING:
    set_close(c, CQUIC_CLOSE_LOCAL_ERROR, 0, "connection is closing");
    return CQUIC_ERR_CLOSED;
  case NGTCP2_ERR_DROP_CONN:
    set_close(c, CQUIC_CLOSE_RESET, 0, "connection dropped");
    return CQUIC_ERR_CLOSED;
  case NGTCP2_ERR_IDLE_CLOSE:
    set_close(c, CQUIC_CLOSE_IDLE, 0, "idle timeout");
    return CQUIC_ERR_CLOSED;
  case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
    set_close(c, CQUIC_CLOSE_HANDSHAKE_TIMEOUT, 0, "handshake timeout");
    return CQUIC_ERR_CLOSED;
  case NGTCP2_ERR_CRYPTO: {
    uint8_t alert = ngtcp2_conn_get_tls_alert(c->conn);
    ccerr_set_tls_alert(&e, alert);
    write_close(c, &e, ts);
    const char *why = tls_failure_reason(c);
    set_close(c, CQUIC_CLOSE_LOCAL_ERROR, 0x100u + alert, "TLS handshake failed (alert %u)%s%s", alert,
              why ? ": " : "", why ? why : "");
    return CQUIC_ERR_CLOSED;
  }
  default: {
    ccerr_set_liberr(&e, liberr);
    write_close(c, &e, ts);
    const char *why = tls_failure_reason(c);
    set_close(c, CQUIC_CLOSE_LOCAL_ERROR, (uint64_t)(int64_t)liberr, "%s%s%s", ngtcp2_strerror(liberr),
              why ? ": " : "", why ? why : "");
    return CQUIC_ERR_CLOSED;
  }
  }
}

int cquic_conn_read(cquic_conn *c, const struct sockaddr *remote, socklen_t remotelen, const uint8_t *pkt,
                    size_t len, uint64_t ts) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  ngtcp2_path path;
  memset(&path, 0, sizeof(path));
  path.local.addr = (ngtcp2_sockaddr *)&c->local;
  path.local.addrlen = c->locallen;
  path.remote.addr = (ngtcp2_sockaddr *)remote;
  path.remote.addrlen = remotelen;
  ngtcp2_pkt_info pi;
  memset(&pi, 0, sizeof(pi));
  int rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, pkt, len, ts);
  if (rv == 0) return CQUIC_OK;
  if (rv == NGTCP2_ERR_DISCARD_PKT) return CQUIC_OK;
  return fail_conn(c, rv, ts);
}

// Writes one packet into buf. Returns its length, 0 when nothing can be sent now, or <0 (ngtcp2 error).
static ngtcp2_ssize write_one(cquic_conn *c, ngtcp2_path_storage *ps, uint8_t *buf, size_t cap, uint64_t ts) {
  ngtcp2_pkt_info pi;
  for (;;) {
    if (c->dgram_head) {
      dgram *d = c->dgram_head;
      ngtcp2_vec v = {d->data, d->len};
      int accepted = 0;
      ngtcp2_ssize n = ngtcp2_conn_writev_datagram(c->conn, &ps->path, &pi, buf, cap, &accepted,
                                                   NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &v, 1, ts);
      // A datagram that keeps not fitting (e.g. the path shrank) must not block the streams
      // queued behind it forever: give up on it after a few packets.
      if (accepted || n == NGTCP2_ERR_INVALID_ARGUMENT || n == NGTCP2_ERR_INVALID_STATE ||
          (!accepted && n >= 0 && ++d->attempts > 8)) {
        // Sent, or it can never be sent (too large / not negotiated): drop it either way.
        c->dgram_head = d->next;
        if (!c->dgram_head) c->dgram_tail = NULL;
        c->dgram_count--;
        free(d);
      }
      if (n == NGTCP2_ERR_WRITE_MORE) continue;
      if (n == NGTCP2_ERR_INVALID_ARGUMENT || n == NGTCP2_ERR_INVALID_STATE) continue;
      if (n < 0) return n;
      if (n > 0 || !accepted) return n;
      continue;
    }
    cquic_stream *s = c->send_head;
    if (s) {
      if (!stream_wants_send(s)) {
        sched_remove(c, s);
        continue;
      }
      ngtcp2_vec vec[16];
      size_t nvec = 0;
      uint64_t total = 0;
      chunk *ch = s->send_chunk;
      size_t off = s->send_off;
      while (ch && nvec < 16) {
        if (off < ch->len) {
          vec[nvec].base = ch->data + off;
          vec[nvec].len = ch->len - off;
          total += vec[nvec].len;
          nvec++;
        }
        ch = ch->next;
        off = 0;
      }
      uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      int all = total == s->unsent;
      if (s->fin_pending && all) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      ngtcp2_ssize ndatalen = -1;
      ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->conn, &ps->path, &pi, buf, cap, &ndatalen, flags, s->id,
                                                 nvec ? vec : NULL, nvec, ts);
      if (ndatalen >= 0) {
        uint64_t adv = (uint64_t)ndatalen;
        s->unsent -= adv;
        while (adv > 0 && s->send_chunk) {
          size_t avail = s->send_chunk->len - s->send_off;
          if (adv < avail) {
            s->send_off += (size_t)adv;
            adv = 0;
          } else {
            adv -= avail;
            s->send_chunk = s->send_chunk->next;
            s->send_off = 0;
          }
        }
        if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && (uint64_t)ndatalen == total) s->fin_sent = 1;
      }
      if (n == NGTCP2_ERR_WRITE_MORE) {
        // Round robin: the stream goes to the back so others share the next packets.
        sched_remove(c, s);
        if (stream_wants_send(s)) sched_add(c, s);
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR ||
          n == NGTCP2_ERR_STREAM_NOT_FOUND) {
        // Blocked by the stream's flow control: extend_max_stream_data puts it back.
        sched_remove(c, s);
        if (n != NGTCP2_ERR_STREAM_DATA_BLOCKED && !s->shut_wr) {
          // The peer stopped (STOP_SENDING; ngtcp2 answered with RESET_STREAM) or the stream is gone:
          // fail the writer. ngtcp2 does not hand us the peer's code here.
          s->shut_wr = 1;
          if (c->cb.stream_stop_sending) c->cb.stream_stop_sending(c->cb.ctx, s->id, 0);
        }
        continue;
      }
      if (n < 0) return n;
      if (n > 0) {
        sched_remove(c, s);
        if (stream_wants_send(s)) sched_add(c, s);
      }
      return n;
    }
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->conn, &ps->path, &pi, buf, cap, NULL,
                                               NGTCP2_WRITE_STREAM_FLAG_NONE, -1, NULL, 0, ts);
    return n;
  }
}

// Most bytes one flush hands to send_segments at once: a UDP GSO send must stay below 64 KiB.
#define CQUIC_BATCH_BYTES 64000
#define CQUIC_BATCH_SEGMENTS 64

static int same_remote(const ngtcp2_path *a, const struct sockaddr_storage *b, socklen_t blen) {
  return a->remote.addrlen == blen && memcmp(a->remote.addr, b, blen) == 0;
}

static void send_batch(cquic_conn *c, const uint8_t *data, size_t len, size_t segment,
                       const struct sockaddr_storage *to, socklen_t tolen) {
  if (len == 0) return;
  if (len > segment && c->cb.send_segments) {
    c->cb.send_segments(c->cb.ctx, data, len, segment, (const struct sockaddr *)to, tolen);
    return;
  }
  for (size_t off = 0; off < len && c->cb.send_packet; off += segment) {
    size_t l = len - off < segment ? len - off : segment;
    c->cb.send_packet(c->cb.ctx, data + off, l, (const struct sockaddr *)to, tolen);
  }
}

int cquic_conn_flush(cquic_conn *c, uint64_t ts) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  // Packets are written back to back into `batch`; runs of equal-sized packets to the same
  // address (the last may be shorter) leave in one send_segments call, so a burst of the send
  // quantum costs one syscall instead of one per packet.
  uint8_t batch[CQUIC_BATCH_BYTES];
  size_t max_udp = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
  if (max_udp > CQUIC_MAX_PACKET || max_udp == 0) max_udp = CQUIC_MAX_PACKET;
  size_t max_pkts = ngtcp2_conn_get_send_quantum(c->conn) / max_udp;
  if (max_pkts < 1) max_pkts = 1;
  if (max_pkts > CQUIC_BATCH_SEGMENTS) max_pkts = CQUIC_BATCH_SEGMENTS;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  struct sockaddr_storage to;
  socklen_t tolen = 0;
  size_t blen = 0, nseg = 0, segment = 0;
  int rc = CQUIC_OK;
  for (size_t i = 0; i < max_pkts; i++) {
    if (CQUIC_BATCH_BYTES - blen < max_udp) {
      send_batch(c, batch, blen, segment, &to, tolen);
      blen = nseg = 0;
    }
    ngtcp2_ssize n = write_one(c, &ps, batch + blen, max_udp, ts);
    if (n < 0) {
      send_batch(c, batch, blen, segment, &to, tolen);
      blen = 0;
      rc = fail_conn(c, (int)n, ts);
      break;
    }
    if (n == 0) break;
    if (nseg > 0 && ((size_t)n > segment || !same_remote(&ps.path, &to, tolen))) {
      // Cannot join the current run: send the run, start a new one with this packet.
      send_batch(c, batch, blen, segment, &to, tolen);
      memmove(batch, batch + blen, (size_t)n);
      blen = nseg = 0;
    }
    if (nseg == 0) {
      segment = (size_t)n;
      tolen = (socklen_t)ps.path.remote.addrlen;
      if (tolen > sizeof(to)) tolen = sizeof(to);
      memcpy(&to, ps.path.remote.addr, tolen);
    }
    blen += (size_t)n;
    nseg++;
    if ((size_t)n < segment) {
      // A shorter packet can only end a run.
      send_batch(c, batch, blen, segment, &to, tolen);
      blen = nseg = 0;
    }
  }
  send_batch(c, batch, blen, segment, &to, tolen);
  if (rc != CQUIC_OK) return rc;
  ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
  return CQUIC_OK;
}

uint64_t cquic_conn_expiry(cquic_conn *c) {
  if (c->closed) return UINT64_MAX;
  return ngtcp2_conn_get_expiry(c->conn);
}

int cquic_conn_handle_expiry(cquic_conn *c, uint64_t ts) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  int rv = ngtcp2_conn_handle_expiry(c->conn, ts);
  if (rv != 0) return fail_conn(c, rv, ts);
  return CQUIC_OK;
}

int cquic_conn_close(cquic_conn *c, uint64_t code, const uint8_t *reason, size_t reasonlen, uint64_t ts) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  cquic_ccerr e;
  ccerr_default(&e);
  ccerr_set_application(&e, code, reason, reasonlen);
  write_close(c, &e, ts);
  if (reasonlen > 255) reasonlen = 255;
  set_close(c, CQUIC_CLOSE_LOCAL_APPLICATION, code, "%.*s", (int)reasonlen, reason ? (const char *)reason : "");
  return CQUIC_OK;
}

int cquic_conn_is_closed(const cquic_conn *c) { return c->closed; }

void cquic_conn_close_info(const cquic_conn *c, cquic_close_info *info) { *info = c->close; }

int cquic_conn_handshake_completed(const cquic_conn *c) { return c->handshake_done; }

const uint8_t *cquic_conn_peer_key(const cquic_conn *c) { return c->has_peer_key ? c->peer_key : NULL; }

size_t cquic_conn_alpn(const cquic_conn *c, uint8_t *dest, size_t cap) {
  size_t n = c->alpnlen < cap ? c->alpnlen : cap;
  memcpy(dest, c->alpn, n);
  return n;
}

socklen_t cquic_conn_remote_addr(const cquic_conn *c, struct sockaddr_storage *dest) {
  const ngtcp2_path *p = ngtcp2_conn_get_path(c->conn);
  socklen_t n = (socklen_t)p->remote.addrlen;
  if (n > sizeof(*dest)) n = sizeof(*dest);
  memcpy(dest, p->remote.addr, n);
  return n;
}

size_t cquic_conn_max_datagram_payload(cquic_conn *c) {
  if (!c->handshake_done) return 0;
  const ngtcp2_transport_params *p = ngtcp2_conn_get_remote_transport_params(c->conn);
  if (!p || p->max_datagram_frame_size == 0) return 0;
  // Short header (1) + DCID + packet number (4) + AEAD tag (16) + DATAGRAM frame type and length (1 + 2).
  size_t path = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
  size_t overhead = 1 + CQUIC_MAX_CIDLEN + 4 + 16 + 3;
  size_t limit = path > overhead ? path - overhead : 0;
  uint64_t frame_limit = p->max_datagram_frame_size > 3 ? p->max_datagram_frame_size - 3 : 0;
  return frame_limit < limit ? (size_t)frame_limit : limit;
}

int cquic_conn_send_datagram(cquic_conn *c, const uint8_t *data, size_t len) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  const ngtcp2_transport_params *p = ngtcp2_conn_get_remote_transport_params(c->conn);
  if (!c->handshake_done || !p || p->max_datagram_frame_size == 0) return CQUIC_ERR_UNSUPPORTED;
  if (len > cquic_conn_max_datagram_payload(c)) return CQUIC_ERR_TOO_LARGE;
  if (c->dgram_count >= c->dgram_cap) return CQUIC_ERR_BLOCKED;
  dgram *d = malloc(sizeof(*d) + (len ? len : 1));
  if (!d) return CQUIC_ERR_NOMEM;
  d->next = NULL;
  d->len = len;
  d->attempts = 0;
  if (len) memcpy(d->data, data, len);
  if (c->dgram_tail) c->dgram_tail->next = d; else c->dgram_head = d;
  c->dgram_tail = d;
  c->dgram_count++;
  return CQUIC_OK;
}

uint64_t cquic_conn_streams_left(cquic_conn *c, int bidi) {
  return bidi ? ngtcp2_conn_get_streams_bidi_left(c->conn) : ngtcp2_conn_get_streams_uni_left(c->conn);
}

// ---------------------------------------------------------------------------------------------
// streams

int cquic_stream_open(cquic_conn *c, int bidi, int64_t *stream_id, cquic_stream **stream) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  int64_t id;
  int rv = bidi ? ngtcp2_conn_open_bidi_stream(c->conn, &id, NULL) : ngtcp2_conn_open_uni_stream(c->conn, &id, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) return CQUIC_ERR_BLOCKED;
  if (rv != 0) return CQUIC_ERR_INVALID;
  cquic_stream *s = stream_new(c, id);
  if (!s) {
    ngtcp2_conn_shutdown_stream(c->conn,
#if CQUIC_NGTCP2_V1
                                0,
#endif
                                id, 0);
    return CQUIC_ERR_NOMEM;
  }
  *stream_id = id;
  *stream = s;
  return CQUIC_OK;
}

int cquic_stream_send(cquic_conn *c, cquic_stream *s, const uint8_t *data, size_t len, int fin) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  if (s->fin_pending || s->shut_wr) return CQUIC_ERR_INVALID;
  if (len > 0) {
    chunk *ch = malloc(sizeof(*ch) + len);
    if (!ch) return CQUIC_ERR_NOMEM;
    ch->next = NULL;
    ch->len = len;
    memcpy(ch->data, data, len);
    if (s->tail) s->tail->next = ch; else s->head = ch;
    s->tail = ch;
    if (!s->send_chunk) {
      s->send_chunk = ch;
      s->send_off = 0;
    }
    s->unsent += len;
    s->buffered += len;
  }
  if (fin) s->fin_pending = 1;
  if (stream_wants_send(s)) sched_add(c, s);
  return CQUIC_OK;
}

uint64_t cquic_stream_buffered(const cquic_stream *s) { return s->buffered; }

int cquic_stream_consumed(cquic_conn *c, int64_t stream_id, size_t len) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  ngtcp2_conn_extend_max_stream_offset(c->conn, stream_id, len);
  ngtcp2_conn_extend_max_offset(c->conn, len);
  return CQUIC_OK;
}

int cquic_stream_reset(cquic_conn *c, cquic_stream *s, uint64_t code) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  s->shut_wr = 1;
  sched_remove(c, s);
  int rv = ngtcp2_conn_shutdown_stream_write(c->conn,
#if CQUIC_NGTCP2_V1
                                             0,
#endif
                                             s->id, code);
  return rv == 0 ? CQUIC_OK : CQUIC_ERR_INVALID;
}

int cquic_stream_stop_sending(cquic_conn *c, cquic_stream *s, uint64_t code) {
  if (c->closed) return CQUIC_ERR_CLOSED;
  int rv = ngtcp2_conn_shutdown_stream_read(c->conn,
#if CQUIC_NGTCP2_V1
                                            0,
#endif
                                            s->id, code);
  return rv == 0 ? CQUIC_OK : CQUIC_ERR_INVALID;
}

// ---------------------------------------------------------------------------------------------
// endpoint-level packets

int cquic_decode_packet(const uint8_t *pkt, size_t len, cquic_packet_info *info) {
  ngtcp2_version_cid vc;
  memset(info, 0, sizeof(*info));
  // ngtcp2 asserts on empty input; QUIC packets are never shorter than a short header.
  if (len < 1 + CQUIC_CIDLEN) return -1;
  int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, CQUIC_CIDLEN);
  if (rv != 0 && rv != NGTCP2_ERR_VERSION_NEGOTIATION) return -1;
  if (vc.dcidlen > CQUIC_MAX_CIDLEN || vc.scidlen > CQUIC_MAX_CIDLEN) return -1;
  info->version = vc.version;
  info->long_header = len > 0 && (pkt[0] & 0x80) != 0;
  memcpy(info->dcid, vc.dcid, vc.dcidlen);
  info->dcidlen = vc.dcidlen;
  if (vc.scid && vc.scidlen) memcpy(info->scid, vc.scid, vc.scidlen);
  info->scidlen = vc.scidlen;
  return rv == NGTCP2_ERR_VERSION_NEGOTIATION ? 1 : 0;
}

long cquic_write_version_negotiation(uint8_t *dest, size_t cap, const cquic_packet_info *info) {
  uint8_t unused;
  cquic_random(&unused, 1);
  uint32_t versions[2];
  // A reserved (GREASE) version alongside v1, as RFC 9000 §6.3 suggests.
  versions[0] = NGTCP2_PROTO_VER_V1;
  versions[1] = 0x1a2a3a4au;
  ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(dest, cap, unused, info->scid, info->scidlen, info->dcid,
                                                        info->dcidlen, versions, 2);
  return n < 0 ? -1 : (long)n;
}

long cquic_write_stateless_reset(uint8_t *dest, size_t cap, const uint8_t *secret, const uint8_t *dcid,
                                 size_t dcidlen, size_t received_len) {
  // RFC 9000 §10.3.3: the reset must be smaller than what triggered it, and at least 21 bytes + 1.
  if (received_len <= NGTCP2_STATELESS_RESET_TOKENLEN + NGTCP2_MIN_STATELESS_RESET_RANDLEN + 1) return 0;
  size_t total = received_len - 1;
  if (total > cap) total = cap;
  if (total > 1200) total = 1200;
  ngtcp2_cid cid;
  if (dcidlen > NGTCP2_MAX_CIDLEN) return -1;
  cid.datalen = dcidlen;
  memcpy(cid.data, dcid, dcidlen);
  uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  if (ngtcp2_crypto_generate_stateless_reset_token(token, secret, CQUIC_RESET_SECRETLEN, &cid) != 0) return -1;
  size_t randlen = total - NGTCP2_STATELESS_RESET_TOKENLEN;
  uint8_t rand[1200];
  cquic_random(rand, randlen);
  ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(dest, cap, token, rand, randlen);
  return n < 0 ? -1 : (long)n;
}
