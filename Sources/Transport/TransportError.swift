/// Why a Transport operation failed. Messages name the input or peer state at fault.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidAddress(String)
    case invalidTicket(String)
    case invalidALPN(String)
    case socket(String)
    case setup(String)
    case connectFailed(String)
    case connectionClosed(ConnectionCloseReason)
    case streamReset(code: UInt64)
    case streamStopped(code: UInt64)
    case streamFinished
    case readLimitExceeded(limit: Int)
    case unexpectedEnd(received: Int, expected: Int)
    case datagramTooLarge(size: Int, max: Int)
    case datagramsUnsupported
    case tooManyConnections(limit: Int)
    case endpointClosed

    public var description: String {
        switch self {
        case let .invalidAddress(text): return "invalid socket address: \(text)"
        case let .invalidTicket(text): return "invalid ticket: \(text)"
        case let .invalidALPN(text): return "invalid ALPN: \(text)"
        case let .socket(text): return "socket error: \(text)"
        case let .setup(text): return "QUIC setup failed: \(text)"
        case let .connectFailed(text): return "connect failed: \(text)"
        case let .connectionClosed(reason): return "connection closed: \(reason)"
        case let .streamReset(code): return "stream reset by peer with code \(code)"
        case let .streamStopped(code): return "peer stopped reading the stream (code \(code))"
        case .streamFinished: return "stream already finished or reset locally"
        case let .readLimitExceeded(limit): return "stream carries more than the \(limit)-byte limit"
        case let .unexpectedEnd(received, expected): return "stream ended after \(received) of \(expected) bytes"
        case let .datagramTooLarge(size, max): return "datagram of \(size) bytes exceeds the \(max)-byte limit"
        case .datagramsUnsupported: return "the peer does not accept datagrams"
        case let .tooManyConnections(limit): return "connection limit of \(limit) reached"
        case .endpointClosed: return "endpoint is closed"
        }
    }
}

/// How a connection ended.
public enum ConnectionCloseReason: Equatable, Sendable, CustomStringConvertible {
    /// We called `close(code:reason:)`.
    case closedLocally(code: UInt64, reason: String)
    /// The peer closed with an application code.
    case closedByPeer(code: UInt64, reason: String)
    /// The peer closed with a QUIC transport error (0x100 + n is TLS alert n).
    case transportError(code: UInt64, reason: String)
    /// We aborted: TLS failure (wrong peer key, no common ALPN), protocol violation.
    case localError(code: UInt64, reason: String)
    case idleTimeout
    case handshakeTimeout
    /// Stateless reset or silently dropped.
    case reset
    case endpointClosed

    public var description: String {
        switch self {
        case let .closedLocally(code, reason): return "closed locally (code \(code)\(reason.isEmpty ? "" : ", \"\(reason)\""))"
        case let .closedByPeer(code, reason): return "closed by peer (code \(code)\(reason.isEmpty ? "" : ", \"\(reason)\""))"
        case let .transportError(code, reason): return "peer reported transport error 0x\(String(code, radix: 16))\(reason.isEmpty ? "" : ": \(reason)")"
        case let .localError(code, reason): return "aborted locally (0x\(String(code, radix: 16))): \(reason)"
        case .idleTimeout: return "idle timeout"
        case .handshakeTimeout: return "handshake timeout"
        case .reset: return "connection reset"
        case .endpointClosed: return "endpoint closed"
        }
    }
}
