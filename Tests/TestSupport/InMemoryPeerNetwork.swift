import Core
import Synchronization

/// An in-process network of endpoints for deterministic protocol tests: connections, bidi and uni
/// streams with FIN/reset, datagrams and close — no sockets, no timing.
public final class InMemoryPeerNetwork: Sendable {
    private let handlers = Mutex<[EndpointID: [String: any ProtocolHandler]]>([:])
    private let unreachable = Mutex<Set<EndpointID>>([])

    public init() {}

    /// Registers `handler` for `alpn` on `endpoint`.
    public func serve(_ endpoint: EndpointID, alpn: String, handler: any ProtocolHandler) {
        handlers.withLock { $0[endpoint, default: [:]][alpn] = handler }
    }

    /// Makes an endpoint unreachable (offline) or reachable again.
    public func setOnline(_ endpoint: EndpointID, _ online: Bool) {
        unreachable.withLock { if online { $0.remove(endpoint) } else { $0.insert(endpoint) } }
    }

    /// A dialler whose connections come from `local`.
    public func dialer(for local: EndpointID) -> any PeerDialer { Dialer(network: self, local: local) }

    fileprivate func connect(from local: EndpointID, to remote: EndpointID, alpn: String) throws -> any PeerConnection {
        if unreachable.withLock({ $0.contains(remote) || $0.contains(local) }) {
            throw PeerNetworkError.connectFailed("\(remote.hex.prefix(8)) unreachable")
        }
        guard let handler = handlers.withLock({ $0[remote]?[alpn] }) else {
            throw PeerNetworkError.connectFailed("\(remote.hex.prefix(8)) does not serve \(alpn)")
        }
        let (client, server) = MemoryConnection.pair(client: local, server: remote, alpn: alpn)
        Task { await handler.accept(server) }
        return client
    }

    private struct Dialer: PeerDialer {
        let network: InMemoryPeerNetwork
        let local: EndpointID
        func connect(to address: PeerAddress, alpn: String, timeoutSeconds: Double) async throws -> any PeerConnection {
            try network.connect(from: local, to: address.id, alpn: alpn)
        }
    }
}

/// An unbounded async queue with a terminal error; the building block of the in-memory streams.
final class MemoryQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiters: [CheckedContinuation<Element?, any Error>] = []
        var ended = false
        var failure: (any Error)?
    }
    private let state = Mutex(State())

    func push(_ item: Element) {
        let waiter: CheckedContinuation<Element?, any Error>? = state.withLock { s in
            guard !s.ended, s.failure == nil else { return nil }
            if s.waiters.isEmpty { s.items.append(item); return nil }
            return s.waiters.removeFirst()
        }
        waiter?.resume(returning: item)
    }

    /// No more items: pending and future pops return nil once the buffer drains.
    func end() { terminate(nil) }

    func fail(_ error: any Error) { terminate(error) }

    private func terminate(_ error: (any Error)?) {
        let waiters: [CheckedContinuation<Element?, any Error>] = state.withLock { s in
            guard !s.ended, s.failure == nil else { return [] }
            if let error { s.failure = error; s.items.removeAll() } else { s.ended = true }
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    func pop() async throws -> Element? {
        try await withCheckedThrowingContinuation { continuation in
            let result: Result<Element?, any Error>? = state.withLock { s in
                if let failure = s.failure { return .failure(failure) }
                if !s.items.isEmpty { return .success(s.items.removeFirst()) }
                if s.ended { return .success(nil) }
                s.waiters.append(continuation)
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }
}

final class MemoryStreamReader: PeerStreamReader {
    let queue = MemoryQueue<[UInt8]>()
    private let pending = Mutex<[UInt8]>([])
    let onStop: @Sendable (UInt64) -> Void

    init(onStop: @escaping @Sendable (UInt64) -> Void) { self.onStop = onStop }

    func read(maxBytes: Int) async throws -> [UInt8]? {
        let buffered: [UInt8]? = pending.withLock { p in
            guard !p.isEmpty else { return nil }
            let chunk = Array(p.prefix(maxBytes))
            p.removeFirst(chunk.count)
            return chunk
        }
        if let buffered { return buffered }
        guard let chunk = try await queue.pop() else { return nil }
        if chunk.count <= maxBytes { return chunk }
        pending.withLock { $0.append(contentsOf: chunk[maxBytes...]) }
        return Array(chunk.prefix(maxBytes))
    }

    func readToEnd(limit: Int) async throws -> [UInt8] {
        var all: [UInt8] = []
        while let chunk = try await read(maxBytes: 65536) {
            all += chunk
            if all.count > limit { throw PeerNetworkError.limitExceeded("stream longer than \(limit) bytes") }
        }
        return all
    }

    func stop(code: UInt64) { onStop(code) }
}

final class MemoryStreamWriter: PeerStreamWriter {
    let target: MemoryStreamReader
    private let stoppedCode = Mutex<UInt64?>(nil)

    init(target: MemoryStreamReader) { self.target = target }

    func peerStopped(code: UInt64) { stoppedCode.withLock { $0 = code } }

    func write(_ bytes: [UInt8]) async throws {
        if let code = stoppedCode.withLock({ $0 }) { throw PeerNetworkError.stopSending(code: code) }
        if !bytes.isEmpty { target.queue.push(bytes) }
    }

    func finish() async throws { target.queue.end() }

    func reset(code: UInt64) { target.queue.fail(PeerNetworkError.streamReset(code: code)) }
}

final class MemoryConnection: PeerConnection {
    let remoteID: EndpointID
    let alpn: String
    private let peerBox = Mutex<MemoryConnection?>(nil)
    let incomingBidi = MemoryQueue<(MemoryStreamWriter, MemoryStreamReader)>()
    let incomingUni = MemoryQueue<MemoryStreamReader>()
    let datagrams = MemoryQueue<[UInt8]>()
    /// Receiving halves on this side; a closed connection fails their pending and future reads, as QUIC does.
    private let readers = Mutex<[MemoryStreamReader]>([])
    private let closeState = Mutex<(reason: PeerNetworkError?, waiters: [CheckedContinuation<PeerNetworkError, Never>])>((nil, []))

    init(remoteID: EndpointID, alpn: String) {
        self.remoteID = remoteID
        self.alpn = alpn
    }

    static func pair(client: EndpointID, server: EndpointID, alpn: String) -> (MemoryConnection, MemoryConnection) {
        let c = MemoryConnection(remoteID: server, alpn: alpn)
        let s = MemoryConnection(remoteID: client, alpn: alpn)
        c.peerBox.withLock { $0 = s }
        s.peerBox.withLock { $0 = c }
        return (c, s)
    }

    private var peer: MemoryConnection? { peerBox.withLock { $0 } }

    private func checkOpen() throws {
        if let reason = closeState.withLock({ $0.reason }) { throw reason }
    }

    private static func streamPair() -> (MemoryStreamWriter, MemoryStreamReader) {
        let writerBox = Mutex<MemoryStreamWriter?>(nil)
        let reader = MemoryStreamReader(onStop: { code in writerBox.withLock { $0 }?.peerStopped(code: code) })
        let writer = MemoryStreamWriter(target: reader)
        writerBox.withLock { $0 = writer }
        return (writer, reader)
    }

    func openBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        try checkOpen()
        let (ourSend, theirReceive) = Self.streamPair()
        let (theirSend, ourReceive) = Self.streamPair()
        track(ourReceive)
        peer?.track(theirReceive)
        peer?.incomingBidi.push((theirSend, theirReceive))
        return (ourSend, ourReceive)
    }

    func acceptBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        guard let (send, receive) = try await incomingBidi.pop() else { throw await closed() }
        return (send, receive)
    }

    func openUnidirectionalStream() async throws -> any PeerStreamWriter {
        try checkOpen()
        let (send, receive) = Self.streamPair()
        peer?.track(receive)
        peer?.incomingUni.push(receive)
        return send
    }

    func acceptUnidirectionalStream() async throws -> any PeerStreamReader {
        guard let receive = try await incomingUni.pop() else { throw await closed() }
        return receive
    }

    func sendDatagram(_ bytes: [UInt8]) async throws {
        try checkOpen()
        guard bytes.count <= 65535 else { throw PeerNetworkError.limitExceeded("datagram of \(bytes.count) bytes") }
        peer?.datagrams.push(bytes)
    }

    func receiveDatagram() async throws -> [UInt8] {
        guard let datagram = try await datagrams.pop() else { throw await closed() }
        return datagram
    }

    func close(code: UInt64, reason: String) {
        let error = PeerNetworkError.connectionClosed(code: code, reason: reason)
        markClosed(error)
        peer?.markClosed(error)
    }

    /// Simulates the peer vanishing (crash, network loss).
    func simulateLoss() {
        let error = PeerNetworkError.connectionLost("simulated")
        markClosed(error)
        peer?.markClosed(error)
    }

    private func track(_ reader: MemoryStreamReader) {
        if let reason = closeState.withLock({ $0.reason }) { reader.queue.fail(reason); return }
        readers.withLock { $0.append(reader) }
    }

    func markClosed(_ error: PeerNetworkError) {
        let waiters: [CheckedContinuation<PeerNetworkError, Never>] = closeState.withLock { s in
            guard s.reason == nil else { return [] }
            s.reason = error
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        incomingBidi.fail(error)
        incomingUni.fail(error)
        for reader in readers.withLock({ r in defer { r.removeAll() }; return r }) { reader.queue.fail(error) }
        datagrams.fail(error)
        for waiter in waiters { waiter.resume(returning: error) }
    }

    func closed() async -> PeerNetworkError {
        await withCheckedContinuation { continuation in
            let reason: PeerNetworkError? = closeState.withLock { s in
                if let reason = s.reason { return reason }
                s.waiters.append(continuation)
                return nil
            }
            if let reason { continuation.resume(returning: reason) }
        }
    }
}
