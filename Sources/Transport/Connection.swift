import Core
import CQUIC

/// An established, authenticated QUIC connection. Dropping the last reference (including the
/// ones its streams hold) closes it with code 0.
public final class Connection: Sendable {
    /// The peer's Ed25519 key, checked by TLS.
    public let remoteID: EndpointId
    public let alpn: String
    /// The peer's address when the handshake completed.
    public let remoteAddress: SocketAddress?
    let core: ConnectionCore

    init(core: ConnectionCore, remoteID: EndpointId, alpn: String, remoteAddress: SocketAddress?) {
        self.core = core
        self.remoteID = remoteID
        self.alpn = alpn
        self.remoteAddress = remoteAddress
    }

    deinit {
        let core = self.core
        core.endpoint.submit { core.closeLocally(code: 0, reason: "", now: cquic_timestamp()) }
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable (CheckedContinuation<T, Error>) -> Void) async throws -> T {
        let endpoint = core.endpoint
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            endpoint.submitOrFail(cont) { body(cont) }
        }
    }

    /// Like onLoop for calls that may wait on the peer; task cancellation ends the wait.
    private func waiting<T: Sendable>(_ body: @escaping @Sendable (Waiter<T>) -> Void) async throws -> T {
        let core = self.core
        return try await suspend(on: core.endpoint, body) { core.sweepCancelled() }
    }

    /// Opens a bidirectional stream; suspends while the peer's stream limit is reached.
    public func openBidirectionalStream() async throws -> BidirectionalStream {
        let core = self.core
        let stream: StreamCore = try await waiting { core.openStream(bidi: true, $0) }
        return BidirectionalStream(send: SendStream(core: stream, connection: self), receive: ReceiveStream(core: stream, connection: self))
    }

    public func openUnidirectionalStream() async throws -> SendStream {
        let core = self.core
        let stream: StreamCore = try await waiting { core.openStream(bidi: false, $0) }
        return SendStream(core: stream, connection: self)
    }

    /// The next bidirectional stream the peer opened.
    public func acceptBidirectionalStream() async throws -> BidirectionalStream {
        let core = self.core
        let stream: StreamCore = try await waiting { core.acceptStream(bidi: true, $0) }
        return BidirectionalStream(send: SendStream(core: stream, connection: self), receive: ReceiveStream(core: stream, connection: self))
    }

    public func acceptUnidirectionalStream() async throws -> ReceiveStream {
        let core = self.core
        let stream: StreamCore = try await waiting { core.acceptStream(bidi: false, $0) }
        return ReceiveStream(core: stream, connection: self)
    }

    /// Queues an unreliable datagram (RFC 9221). Throws when it is larger than `maxDatagramSize()`.
    public func sendDatagram(_ data: [UInt8]) async throws {
        let core = self.core
        let _: Void = try await onLoop { core.sendDatagram(data, $0) }
    }

    public func receiveDatagram() async throws -> [UInt8] {
        let core = self.core
        return try await waiting { core.receiveDatagram($0) }
    }

    /// Largest datagram payload the current path and the peer accept (0: none).
    public func maxDatagramSize() async throws -> Int {
        let core = self.core
        return try await onLoop { $0.resume(returning: core.maxDatagramPayload) }
    }

    /// Sends CONNECTION_CLOSE with an application code; pending operations fail.
    public func close(code: UInt64 = 0, reason: String = "") async {
        let core = self.core
        _ = try? await onLoop { (cont: CheckedContinuation<Void, Error>) in
            core.closeLocally(code: code, reason: reason, now: cquic_timestamp())
            cont.resume()
        }
    }

    /// Queues CONNECTION_CLOSE on the network thread and returns at once.
    func closeWithoutWaiting(code: UInt64, reason: String) {
        let core = self.core
        _ = core.endpoint.submit { core.closeLocally(code: code, reason: reason, now: cquic_timestamp()) }
    }

    /// Waits until the connection ends and says why.
    public func closed() async -> ConnectionCloseReason {
        let core = self.core
        return await withCheckedContinuation { (cont: CheckedContinuation<ConnectionCloseReason, Never>) in
            if !core.endpoint.submit({ core.waitClosed(cont) }) { cont.resume(returning: .endpointClosed) }
        }
    }

    /// Why the connection ended, or nil while it is open.
    public func closeReason() async -> ConnectionCloseReason? {
        let core = self.core
        return try? await onLoop { $0.resume(returning: core.closeReason) }
    }
}

public struct BidirectionalStream: Sendable {
    public let send: SendStream
    public let receive: ReceiveStream
}

/// The sending half of a stream. Dropping it finishes the stream (FIN after the written bytes).
public final class SendStream: Sendable {
    let core: StreamCore
    /// Keeps the connection open while the stream is in use.
    public let connection: Connection

    init(core: StreamCore, connection: Connection) {
        self.core = core
        self.connection = connection
    }

    deinit {
        let core = self.core
        core.connection.endpoint.submit { core.sendHalfDropped() }
    }

    public var id: Int64 { core.id }

    private func onLoop(_ body: @escaping @Sendable (CheckedContinuation<Void, Error>) -> Void) async throws {
        let endpoint = core.connection.endpoint
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, Error>) in
            endpoint.submitOrFail(cont) { body(cont) }
        }
    }

    /// Returns once all of `data` is in the stream's send buffer; suspends while the buffer
    /// (bounded by `EndpointConfig.streamSendBuffer`) is full, i.e. until the peer acknowledges.
    public func write(_ data: [UInt8]) async throws {
        let core = self.core
        try await suspend(on: core.connection.endpoint, { core.write(data, $0) }, sweep: { core.sweepCancelled() })
    }

    /// What `enqueue` did.
    public enum EnqueueResult: Sendable, Equatable {
        case queued, full, closed
    }

    /// Queues `data` for the stream without waiting, if its send buffer has room for it now
    /// (counting bytes already queued this way); `.full` otherwise, `.closed` once the stream can
    /// take nothing more. Bytes of one `enqueue` are never split; order with `write` is not kept,
    /// so use one or the other on a stream.
    public func enqueue(_ data: [UInt8]) -> EnqueueResult {
        let core = self.core
        if core.sendClosed.load(ordering: .acquiring) { return .closed }
        guard !data.isEmpty else { return .queued }
        let limit = core.connection.endpoint.config.streamSendBuffer
        let held = core.bufferedShared.load(ordering: .relaxed) + core.enqueuedPending.load(ordering: .relaxed)
        guard held + data.count <= limit else { return .full }
        core.enqueuedPending.add(data.count, ordering: .relaxed)
        guard core.connection.endpoint.submit({ core.enqueueWrite(data) }) else {
            core.enqueuedPending.subtract(data.count, ordering: .relaxed)
            return .closed
        }
        return .queued
    }

    /// Sends FIN after the buffered data.
    public func finish() async throws {
        let core = self.core
        try await onLoop { core.finish($0) }
    }

    /// Queues RESET_STREAM on the network thread and returns at once.
    func resetWithoutWaiting(code: UInt64) {
        let core = self.core
        _ = core.connection.endpoint.submit { core.reset(code: code) }
    }

    /// Abandons sending (RESET_STREAM).
    public func reset(code: UInt64) async {
        let core = self.core
        try? await onLoop { core.reset(code: code); $0.resume() }
    }
}

/// The receiving half of a stream. Dropping it before the end sends STOP_SENDING (code 0).
public final class ReceiveStream: Sendable {
    let core: StreamCore
    public let connection: Connection

    init(core: StreamCore, connection: Connection) {
        self.core = core
        self.connection = connection
    }

    deinit {
        let core = self.core
        core.connection.endpoint.submit { core.receiveHalfDropped() }
    }

    public var id: Int64 { core.id }

    /// Up to `max` bytes; nil at the end of the stream. Reading returns flow-control credit.
    public func read(max: Int = 65536) async throws -> [UInt8]? {
        let core = self.core
        let endpoint = core.connection.endpoint
        return try await suspend(on: endpoint, { core.read(max: Swift.max(1, max), $0) }, sweep: { core.sweepCancelled() })
    }

    /// Everything up to FIN. Throws `readLimitExceeded` past `limit` bytes.
    public func readToEnd(limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        while let chunk = try await read(max: 256 * 1024) {
            out += chunk
            if out.count > limit {
                await stopSending(code: 0)
                throw TransportError.readLimitExceeded(limit: limit)
            }
        }
        return out
    }

    /// Exactly `count` bytes, or throws if the stream ends first.
    public func readExactly(_ count: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count {
            guard let chunk = try await read(max: count - out.count) else {
                throw TransportError.unexpectedEnd(received: out.count, expected: count)
            }
            out += chunk
        }
        return out
    }

    /// Queues STOP_SENDING on the network thread and returns at once.
    func stopSendingWithoutWaiting(code: UInt64) {
        let core = self.core
        _ = core.connection.endpoint.submit { core.stopSending(code: code) }
    }

    /// Abandons receiving (STOP_SENDING).
    public func stopSending(code: UInt64) async {
        let core = self.core
        let endpoint = core.connection.endpoint
        _ = try? await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, Error>) in
            endpoint.submitOrFail(cont) { core.stopSending(code: code); cont.resume() }
        }
    }
}

/// Suspends on a network-thread operation. `register` runs on the loop with a Waiter; if the
/// task is cancelled, the waiter's flag is raised and `sweep` runs on the loop to fail it with
/// CancellationError (whichever of register/sweep runs first, the flag decides).
func suspend<T: Sendable>(on endpoint: EndpointCore, _ register: @escaping @Sendable (Waiter<T>) -> Void,
                          sweep: @escaping @Sendable () -> Void) async throws -> T {
    let flag = CancelFlag()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            let waiter = Waiter(continuation: cont, flag: flag)
            endpoint.submitOrFail(cont) { register(waiter) }
        }
    } onCancel: {
        flag.set()
        endpoint.submit { sweep() }
    }
}
