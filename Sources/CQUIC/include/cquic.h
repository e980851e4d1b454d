// CQUIC: a thin C shim over ngtcp2 + ngtcp2_crypto_gnutls + GnuTLS.
// It hides the API differences between ngtcp2 0.12 (Debian bookworm) and 1.x (trixie)
// and the GnuTLS raw-public-key setup, so the Swift Transport layer sees one stable surface.
//
// Threading: a cquic_conn (and its streams) must only be used from one thread at a time;
// the Swift Endpoint drives all of them from its network thread. A cquic_identity is
// immutable after creation and may be shared by every connection of an endpoint.
#ifndef CQUIC_H
#define CQUIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The ngtcp2 version this shim was compiled against, e.g. 0x000c01 for 0.12.1.
uint32_t cquic_ngtcp2_version_num(void);

/// Length of every connection id this endpoint issues (routing relies on a fixed length).
#define CQUIC_CIDLEN 16
#define CQUIC_MAX_CIDLEN 20
#define CQUIC_KEYLEN 32
#define CQUIC_RESET_SECRETLEN 32
/// Largest UDP payload the shim writes (ngtcp2's PMTUD ceiling).
#define CQUIC_MAX_PACKET 1452

/// Return codes.
#define CQUIC_OK 0
#define CQUIC_ERR_CLOSED (-1)   ///< the connection is over; see cquic_conn_close_info
#define CQUIC_ERR_BLOCKED (-2)  ///< no stream credit / queue full; retry after a credit event
#define CQUIC_ERR_INVALID (-3)  ///< bad argument or state (e.g. stream already finished)
#define CQUIC_ERR_NOMEM (-4)
#define CQUIC_ERR_TOO_LARGE (-5) ///< datagram larger than the path / peer allows
#define CQUIC_ERR_UNSUPPORTED (-6) ///< the peer does not accept datagrams

typedef struct cquic_identity cquic_identity;
typedef struct cquic_conn cquic_conn;
typedef struct cquic_stream cquic_stream;

/// Why a connection ended (cquic_close_info.kind).
enum cquic_close_kind {
  CQUIC_CLOSE_NONE = 0,
  CQUIC_CLOSE_PEER_TRANSPORT = 1,   ///< peer sent CONNECTION_CLOSE (transport error, code is the QUIC error)
  CQUIC_CLOSE_PEER_APPLICATION = 2, ///< peer sent CONNECTION_CLOSE (application code)
  CQUIC_CLOSE_IDLE = 3,             ///< idle timeout expired
  CQUIC_CLOSE_HANDSHAKE_TIMEOUT = 4,
  CQUIC_CLOSE_LOCAL_ERROR = 5,      ///< we aborted (TLS failure, protocol violation); reason says why
  CQUIC_CLOSE_LOCAL_APPLICATION = 6,///< we closed with cquic_conn_close
  CQUIC_CLOSE_RESET = 7             ///< stateless reset or connection dropped silently
};

typedef struct cquic_close_info {
  int kind;
  uint64_t code;
  char reason[256]; ///< NUL-terminated, possibly truncated
} cquic_close_info;

/// Events delivered synchronously from inside cquic_conn_read / _flush / _handle_expiry.
/// They must not call back into the same cquic_conn, except cquic_stream_* bookkeeping getters.
typedef struct cquic_callbacks {
  void *ctx;
  /// Send one UDP datagram to addr. Return 0, or non-zero when the socket refused it.
  int (*send_packet)(void *ctx, const uint8_t *data, size_t len, const struct sockaddr *addr, socklen_t addrlen);
  void (*handshake_completed)(void *ctx);
  /// A peer-initiated stream appeared. `stream` stays valid until stream_closed for this id.
  void (*stream_opened)(void *ctx, int64_t stream_id, cquic_stream *stream);
  void (*stream_data)(void *ctx, int64_t stream_id, const uint8_t *data, size_t len, int fin);
  void (*stream_reset)(void *ctx, int64_t stream_id, uint64_t app_error_code);
  /// The peer stopped the stream's send direction (STOP_SENDING) or it is gone: writes fail. (Not called
  /// when we stop reading ourselves.) ngtcp2 does not expose the peer's code here: 0.
  void (*stream_stop_sending)(void *ctx, int64_t stream_id, uint64_t app_error_code);
  /// Acknowledged bytes were released; `buffered` is what is still held for the stream.
  void (*stream_acked)(void *ctx, int64_t stream_id, uint64_t buffered);
  /// Both directions are done; the cquic_stream is freed right after this returns.
  void (*stream_closed)(void *ctx, int64_t stream_id, uint64_t app_error_code, int has_code);
  /// The peer raised our stream limit (bidi != 0: bidirectional).
  void (*streams_available)(void *ctx, int bidi);
  void (*datagram)(void *ctx, const uint8_t *data, size_t len);
  /// A source connection id of ours became valid / retired: route packets carrying it here.
  void (*cid_added)(void *ctx, const uint8_t *cid, size_t len);
  void (*cid_removed)(void *ctx, const uint8_t *cid, size_t len);
  /// Optional: send `len` bytes as consecutive UDP datagrams of `segment` bytes each (the last
  /// may be shorter), all to addr, in one go (GSO / sendmmsg). NULL: send_packet per datagram.
  int (*send_segments)(void *ctx, const uint8_t *data, size_t len, size_t segment, const struct sockaddr *addr,
                       socklen_t addrlen);
} cquic_callbacks;

/// Transport limits (0 picks the default named in cquic.c).
typedef struct cquic_limits {
  uint64_t idle_timeout_ms;
  uint64_t keep_alive_ms;
  uint64_t handshake_timeout_ms;
  uint64_t stream_window;      ///< initial per-stream receive window
  uint64_t max_stream_window;  ///< ceiling for auto-tuning = max bytes buffered per stream
  uint64_t conn_window;
  uint64_t max_conn_window;
  uint64_t max_streams_bidi;   ///< concurrent peer-initiated streams
  uint64_t max_streams_uni;
  uint64_t max_datagram_queue; ///< queued outgoing datagrams
} cquic_limits;

// ---- identity -------------------------------------------------------------------------------

/// Builds the TLS identity (RFC 7250 raw Ed25519 key) from a 32-byte seed; writes the public
/// key to pub_out. Returns NULL and a message in err (size errlen) on failure.
cquic_identity *cquic_identity_new(const uint8_t *seed, uint8_t *pub_out, char *err, size_t errlen);
void cquic_identity_free(cquic_identity *identity);

// ---- utilities ------------------------------------------------------------------------------

/// CLOCK_MONOTONIC in nanoseconds (the timestamp base of every ts argument).
uint64_t cquic_timestamp(void);
void cquic_random(uint8_t *dest, size_t len);

typedef struct cquic_packet_info {
  uint32_t version;
  int long_header;
  uint8_t dcid[CQUIC_MAX_CIDLEN];
  size_t dcidlen;
  uint8_t scid[CQUIC_MAX_CIDLEN];
  size_t scidlen;
} cquic_packet_info;

/// Extracts version and connection ids. Returns 0, 1 when the version is unsupported and a
/// Version Negotiation packet should be sent, or -1 for garbage.
int cquic_decode_packet(const uint8_t *pkt, size_t len, cquic_packet_info *info);
/// Writes a Version Negotiation reply to `info`'s packet. Returns its length or -1.
long cquic_write_version_negotiation(uint8_t *dest, size_t cap, const cquic_packet_info *info);
/// Writes a stateless reset for a packet of `received_len` bytes carrying `dcid`. Returns length,
/// 0 when the trigger is too small to answer (avoids reset loops), or -1.
long cquic_write_stateless_reset(uint8_t *dest, size_t cap, const uint8_t *secret,
                                 const uint8_t *dcid, size_t dcidlen, size_t received_len);
/// 1 when pkt is a client Initial this endpoint could accept as a server.
int cquic_is_acceptable_initial(const uint8_t *pkt, size_t len);

// ---- connections ----------------------------------------------------------------------------

/// Client connection to a peer whose raw key must equal expected_key (32 bytes).
cquic_conn *cquic_client_new(const cquic_identity *identity, const uint8_t *alpn, size_t alpnlen,
                             const uint8_t *expected_key, const cquic_limits *limits,
                             const cquic_callbacks *callbacks, const uint8_t *reset_secret,
                             const struct sockaddr *local, socklen_t locallen,
                             const struct sockaddr *remote, socklen_t remotelen,
                             uint64_t ts, char *err, size_t errlen);

/// Server connection for the client Initial `pkt` (feed the same packet to cquic_conn_read next).
/// alpns is a concatenation of length-prefixed protocol names (TLS wire format).
cquic_conn *cquic_server_new(const cquic_identity *identity, const uint8_t *alpns, size_t alpnslen,
                             const cquic_limits *limits, const cquic_callbacks *callbacks,
                             const uint8_t *reset_secret,
                             const struct sockaddr *local, socklen_t locallen,
                             const struct sockaddr *remote, socklen_t remotelen,
                             const uint8_t *pkt, size_t pktlen,
                             uint64_t ts, char *err, size_t errlen);

void cquic_conn_free(cquic_conn *conn);

/// Feeds one received UDP datagram. CQUIC_OK or CQUIC_ERR_CLOSED (a CONNECTION_CLOSE has been
/// sent where appropriate).
int cquic_conn_read(cquic_conn *conn, const struct sockaddr *remote, socklen_t remotelen,
                    const uint8_t *pkt, size_t len, uint64_t ts);
/// Writes as many packets as congestion control and pacing allow, through send_packet.
int cquic_conn_flush(cquic_conn *conn, uint64_t ts);
/// Next timestamp at which cquic_conn_handle_expiry must run (UINT64_MAX: none).
uint64_t cquic_conn_expiry(cquic_conn *conn);
int cquic_conn_handle_expiry(cquic_conn *conn, uint64_t ts);
/// Sends CONNECTION_CLOSE with an application code and reason. Afterwards the connection is over.
int cquic_conn_close(cquic_conn *conn, uint64_t code, const uint8_t *reason, size_t reasonlen, uint64_t ts);
int cquic_conn_is_closed(const cquic_conn *conn);
void cquic_conn_close_info(const cquic_conn *conn, cquic_close_info *info);
int cquic_conn_handshake_completed(const cquic_conn *conn);
/// The peer's 32-byte raw public key once TLS has verified it, else NULL.
const uint8_t *cquic_conn_peer_key(const cquic_conn *conn);
/// The negotiated ALPN; returns its length (0 before the handshake).
size_t cquic_conn_alpn(const cquic_conn *conn, uint8_t *dest, size_t cap);
/// Current remote address; returns its length.
socklen_t cquic_conn_remote_addr(const cquic_conn *conn, struct sockaddr_storage *dest);
/// Largest datagram payload that fits now (0: the peer does not accept datagrams).
size_t cquic_conn_max_datagram_payload(cquic_conn *conn);
/// Queues a datagram (copied). CQUIC_ERR_TOO_LARGE / _UNSUPPORTED / _BLOCKED (queue full).
int cquic_conn_send_datagram(cquic_conn *conn, const uint8_t *data, size_t len);
/// Number of streams of this kind we may still open.
uint64_t cquic_conn_streams_left(cquic_conn *conn, int bidi);

// ---- streams --------------------------------------------------------------------------------

/// Opens a local stream. CQUIC_ERR_BLOCKED when the peer's stream limit is reached.
int cquic_stream_open(cquic_conn *conn, int bidi, int64_t *stream_id, cquic_stream **stream);
/// Appends data (copied) and optionally FIN. The bytes stay buffered until acknowledged.
int cquic_stream_send(cquic_conn *conn, cquic_stream *stream, const uint8_t *data, size_t len, int fin);
/// Bytes written but not yet acknowledged by the peer.
uint64_t cquic_stream_buffered(const cquic_stream *stream);
/// The application consumed `len` received bytes: grant the peer that much more credit.
int cquic_stream_consumed(cquic_conn *conn, int64_t stream_id, size_t len);
/// RESET_STREAM (abandon sending) / STOP_SENDING (abandon receiving).
int cquic_stream_reset(cquic_conn *conn, cquic_stream *stream, uint64_t app_error_code);
int cquic_stream_stop_sending(cquic_conn *conn, cquic_stream *stream, uint64_t app_error_code);

#ifdef __cplusplus
}
#endif

#endif
