import Core
import Synchronization

/// Transport's QUIC types seen through Core/Net, so every protocol handler and service written
/// against `PeerConnection` runs over real QUIC unchanged. Transport errors are mapped to
/// `PeerNetworkError`, the vocabulary the protocol layers reason with.
public final class QUICPeerConnection: PeerConnection {
    /// The native connection, for transport-level code (addresses, datagram size, statistics).
    public let connection: Connection

    public init(_ connection: Connection) { self.connection = connection }

    public var remoteID: EndpointID { connection.remoteID }
    public var alpn: String { connection.alpn }

    public func openBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        let stream = try await mappingErrors { try await connection.openBidirectionalStream() }
        return (QUICStreamWriter(stream.send), QUICStreamReader(stream.receive))
    }

    public func acceptBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        let stream = try await mappingErrors { try await connection.acceptBidirectionalStream() }
        return (QUICStreamWriter(stream.send), QUICStreamReader(stream.receive))
    }

    public func openUnidirectionalStream() async throws -> any PeerStreamWriter {
        QUICStreamWriter(try await mappingErrors { try await connection.openUnidirectionalStream() })
    }

    public func acceptUnidirectionalStream() async throws -> any PeerStreamReader {
        QUICStreamReader(try await mappingErrors { try await connection.acceptUnidirectionalStream() })
    }

    public func sendDatagram(_ bytes: [UInt8]) async throws {
        try await mappingErrors { try await connection.sendDatagram(bytes) }
    }

    public func receiveDatagram() async throws -> [UInt8] {
        try await mappingErrors { try await connection.receiveDatagram() }
    }

    public func close(code: UInt64, reason: String) {
        connection.closeWithoutWaiting(code: code, reason: reason)
    }

    public func closed() async -> PeerNetworkError {
        QUICPeerConnection.map(await connection.closed())
    }

    static func map(_ reason: ConnectionCloseReason) -> PeerNetworkError {
        switch reason {
        case let .closedLocally(code, text), let .closedByPeer(code, text):
            return .connectionClosed(code: code, reason: text)
        default:
            return .connectionLost(reason.description)
        }
    }

    static func map(_ error: any Error) -> any Error {
        guard let transport = error as? TransportError else { return error }
        switch transport {
        case let .connectionClosed(reason): return map(reason)
        case let .streamReset(code): return PeerNetworkError.streamReset(code: code)
        case let .streamStopped(code): return PeerNetworkError.stopSending(code: code)
        case let .readLimitExceeded(limit): return PeerNetworkError.limitExceeded("stream longer than \(limit) bytes")
        case .datagramTooLarge, .datagramsUnsupported, .tooManyConnections:
            return PeerNetworkError.limitExceeded(transport.description)
        case let .connectFailed(text): return PeerNetworkError.connectFailed(text)
        case .endpointClosed: return PeerNetworkError.connectionLost(transport.description)
        default: return transport
        }
    }
}

/// Runs `body`, translating Transport errors into `PeerNetworkError`.
@inline(__always)
func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw QUICPeerConnection.map(error) }
}

final class QUICStreamReader: PeerStreamReader {
    let stream: ReceiveStream
    init(_ stream: ReceiveStream) { self.stream = stream }

    func read(maxBytes: Int) async throws -> [UInt8]? {
        try await mappingErrors { try await stream.read(max: maxBytes) }
    }

    func readToEnd(limit: Int) async throws -> [UInt8] {
        try await mappingErrors { try await stream.readToEnd(limit: limit) }
    }

    func stop(code: UInt64) { stream.stopSendingWithoutWaiting(code: code) }
}

final class QUICStreamWriter: PeerStreamWriter {
    let stream: SendStream
    init(_ stream: SendStream) { self.stream = stream }

    func write(_ bytes: [UInt8]) async throws {
        try await mappingErrors { try await stream.write(bytes) }
    }

    func finish() async throws {
        try await mappingErrors { try await stream.finish() }
    }

    func reset(code: UInt64) { stream.resetWithoutWaiting(code: code) }

    var supportsEnqueue: Bool { true }

    func enqueue(_ bytes: [UInt8]) -> PeerStreamEnqueueResult {
        switch stream.enqueue(bytes) {
        case .queued: return .queued
        case .full: return .full
        case .closed: return .closed
        }
    }
}

/// Dials through a QUIC endpoint: the given direct addresses first, else the address book.
public struct QUICPeerDialer: PeerDialer {
    public let endpoint: Endpoint
    public let addressBook: AddressBook?

    public init(endpoint: Endpoint, addressBook: AddressBook? = nil) {
        self.endpoint = endpoint
        self.addressBook = addressBook
    }

    public func connect(to address: PeerAddress, alpn: String, timeoutSeconds: Double) async throws -> any PeerConnection {
        let timeout = Duration.milliseconds(Int64(max(0.001, timeoutSeconds) * 1000))
        let socketAddresses = address.directAddresses.compactMap { try? SocketAddress($0) }
        let connection: Connection = try await mappingErrors {
            if !socketAddresses.isEmpty {
                return try await endpoint.connect(to: EndpointAddr(id: address.id, ipAddresses: socketAddresses), alpn: alpn, timeout: timeout)
            }
            guard let addressBook else {
                throw PeerNetworkError.connectFailed("no known address for \(address.id.hex)")
            }
            return try await endpoint.connect(to: address.id, alpn: alpn, addressBook: addressBook, timeout: timeout)
        }
        return QUICPeerConnection(connection)
    }
}

/// Reserves an ALPN when the endpoint is created for a handler that can only be built afterwards
/// (services dial through the very endpoint that serves them, as with iroh's Router builder).
/// Connections that arrive before `bind` are closed with code 0, "starting".
public final class DeferredProtocolHandler: ProtocolHandler {
    private let target = Mutex<(any ProtocolHandler)?>(nil)

    public init() {}

    public func bind(_ handler: any ProtocolHandler) {
        target.withLock { $0 = handler }
    }

    public func accept(_ connection: any PeerConnection) async {
        guard let handler = target.withLock({ $0 }) else {
            connection.close(code: 0, reason: "starting")
            return
        }
        await handler.accept(connection)
    }
}
