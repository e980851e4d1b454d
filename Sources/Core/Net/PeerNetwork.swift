/// The network as protocol handlers and services see it. Transport's QUIC endpoint implements these
/// protocols; tests use an in-memory implementation (TestSupport's `InMemoryPeerNetwork`), so every
/// protocol above the transport can be tested deterministically and without sockets.
///
/// Shapes follow iroh: an endpoint is identified by its Ed25519 key, connections carry one ALPN,
/// streams are QUIC streams (bidirectional or unidirectional) with FIN, reset and stop-sending.

/// An iroh EndpointId: the Ed25519 public key of a node's transport key.
public typealias EndpointID = Ed25519.PublicKey

/// Why a connection or stream ended, as the application sees it.
public enum PeerNetworkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer (or we) closed the connection with an application code and reason.
    case connectionClosed(code: UInt64, reason: String)
    /// The connection died without a close: idle timeout, network loss, peer crash.
    case connectionLost(String)
    case connectTimedOut
    /// Dialling failed before a connection existed (no address, handshake refused, wrong id, ALPN refused).
    case connectFailed(String)
    /// The peer reset the stream it was sending on us.
    case streamReset(code: UInt64)
    /// The peer asked us to stop sending on this stream.
    case stopSending(code: UInt64)
    /// A local limit: more data than the caller allowed, too many streams, oversized datagram.
    case limitExceeded(String)

    public var description: String {
        switch self {
        case let .connectionClosed(code, reason): return "connection closed (code \(code), \"\(reason)\")"
        case let .connectionLost(why): return "connection lost: \(why)"
        case .connectTimedOut: return "connect timed out"
        case let .connectFailed(why): return "connect failed: \(why)"
        case let .streamReset(code): return "stream reset by peer (code \(code))"
        case let .stopSending(code): return "peer sent STOP_SENDING (code \(code))"
        case let .limitExceeded(what): return "limit exceeded: \(what)"
        }
    }
}

/// The receiving half of a stream.
public protocol PeerStreamReader: Sendable {
    /// Up to `maxBytes` bytes, suspending until some arrive; `nil` once the peer finished (FIN).
    /// Consuming data releases flow-control credit to the peer.
    func read(maxBytes: Int) async throws -> [UInt8]?
    /// Everything until FIN; throws `.limitExceeded` beyond `limit` bytes (spec caps per message).
    func readToEnd(limit: Int) async throws -> [UInt8]
    /// Ask the peer to stop sending (QUIC STOP_SENDING).
    func stop(code: UInt64)
}

/// The sending half of a stream.
public protocol PeerStreamWriter: Sendable {
    /// Suspends until the bytes are accepted (flow control and local buffer limits: backpressure).
    func write(_ bytes: [UInt8]) async throws
    /// Sends FIN after everything written so far.
    func finish() async throws
    /// Abandons the stream (QUIC RESET_STREAM).
    func reset(code: UInt64)
    /// Whether `enqueue` works on this writer.
    var supportsEnqueue: Bool { get }
    /// Hands `bytes` to the transport without waiting when the stream has room for them now;
    /// for fanning one frame out to many streams (a Stage relay) without a task per stream.
    func enqueue(_ bytes: [UInt8]) -> PeerStreamEnqueueResult
}

/// What `PeerStreamWriter.enqueue` did.
public enum PeerStreamEnqueueResult: Sendable, Equatable {
    case queued
    /// The stream's send buffer is full (a slow reader): the bytes were not taken.
    case full
    /// The stream can take nothing more (finished, reset, stopped by the peer, closed).
    case closed
}

extension PeerStreamWriter {
    public var supportsEnqueue: Bool { false }
    public func enqueue(_ bytes: [UInt8]) -> PeerStreamEnqueueResult { .closed }
}

/// One QUIC connection with a single negotiated ALPN.
public protocol PeerConnection: AnyObject, Sendable {
    var remoteID: EndpointID { get }
    var alpn: String { get }
    func openBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader)
    func acceptBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader)
    func openUnidirectionalStream() async throws -> any PeerStreamWriter
    func acceptUnidirectionalStream() async throws -> any PeerStreamReader
    /// Unreliable datagram (RFC 9221); throws `.limitExceeded` when larger than the peer allows.
    func sendDatagram(_ bytes: [UInt8]) async throws
    func receiveDatagram() async throws -> [UInt8]
    /// Graceful close with an application error code and reason (Proscenium uses 0, "done").
    func close(code: UInt64, reason: String)
    /// Suspends until the connection is closed or lost, and says why.
    func closed() async -> PeerNetworkError
}

/// Where a peer can be reached: its id plus any direct UDP addresses known ("host:port").
public struct PeerAddress: Hashable, Sendable {
    public var id: EndpointID
    public var directAddresses: [String]

    public init(id: EndpointID, directAddresses: [String] = []) {
        self.id = id
        self.directAddresses = directAddresses
    }
}

/// Opens connections. Dialling by id alone uses the address book and discovery.
public protocol PeerDialer: Sendable {
    func connect(to address: PeerAddress, alpn: String, timeoutSeconds: Double) async throws -> any PeerConnection
}

/// Serves one ALPN (as iroh's `ProtocolHandler`): the router hands it each accepted connection.
public protocol ProtocolHandler: Sendable {
    func accept(_ connection: any PeerConnection) async
}
