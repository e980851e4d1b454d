import Foundation
import Synchronization
import Testing
@testable import Core
import TestSupport

/// A dialler around the in-memory network that can delay, fail connects, lose answers after the
/// peer processed the request (a lost ack), hold handshakes at a barrier, and record requests.
final class ScriptedDialer: PeerDialer {
    struct Policy: Sendable {
        var connectFailure: Double = 0
        var answerLoss: Double = 0
        var maxDelayMicroseconds: UInt64 = 0
        /// Fail every connect whose request is an envelope (handshakes still pass).
        var failEnvelopes = false
    }

    let inner: any PeerDialer
    let policy = Mutex(Policy())
    let rng: Mutex<SeededRandom>
    let requests = Mutex<[[UInt8]]>([])
    let barrier = Mutex<HandshakeBarrier?>(nil)

    init(inner: any PeerDialer, seed: UInt64 = 1) {
        self.inner = inner
        rng = Mutex(SeededRandom(seed: seed))
    }

    func roll(_ probability: Double) -> Bool {
        guard probability > 0 else { return false }
        return rng.withLock { Double($0.next() % 1_000_000) / 1_000_000 } < probability
    }

    func connect(to address: PeerAddress, alpn: String, timeoutSeconds: Double) async throws -> any PeerConnection {
        let p = policy.withLock { $0 }
        if p.maxDelayMicroseconds > 0 {
            let delay = rng.withLock { $0.next() % (p.maxDelayMicroseconds + 1) }
            try await Task.sleep(nanoseconds: delay * 1000)
        }
        if roll(p.connectFailure) { throw PeerNetworkError.connectFailed("scripted loss") }
        let connection = try await inner.connect(to: address, alpn: alpn, timeoutSeconds: timeoutSeconds)
        return ScriptedConnection(inner: connection, dialer: self)
    }

    func recordedEnvelopes() -> [EncryptedEnvelope] {
        requests.withLock { $0 }.compactMap { bytes in
            if case let .envelope(e)? = try? DMMessage.decode(bytes) { return e } else { return nil }
        }
    }
}

/// Holds the first handshake of each of two sides until both have written theirs.
final class HandshakeBarrier: Sendable {
    private let state = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))
    func arrive() async {
        await withCheckedContinuation { continuation in
            let release: [CheckedContinuation<Void, Never>] = state.withLock { s in
                s.count += 1
                s.waiters.append(continuation)
                if s.count >= 2 { defer { s.waiters = [] }; return s.waiters }
                return []
            }
            for waiter in release { waiter.resume() }
        }
    }
}

final class ScriptedConnection: PeerConnection {
    let inner: any PeerConnection
    let dialer: ScriptedDialer
    init(inner: any PeerConnection, dialer: ScriptedDialer) {
        self.inner = inner
        self.dialer = dialer
    }
    var remoteID: EndpointID { inner.remoteID }
    var alpn: String { inner.alpn }
    func openBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        let (send, receive) = try await inner.openBidirectionalStream()
        return (ScriptedWriter(inner: send, dialer: dialer), ScriptedReader(inner: receive, dialer: dialer))
    }
    func acceptBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        try await inner.acceptBidirectionalStream()
    }
    func openUnidirectionalStream() async throws -> any PeerStreamWriter { try await inner.openUnidirectionalStream() }
    func acceptUnidirectionalStream() async throws -> any PeerStreamReader { try await inner.acceptUnidirectionalStream() }
    func sendDatagram(_ bytes: [UInt8]) async throws { try await inner.sendDatagram(bytes) }
    func receiveDatagram() async throws -> [UInt8] { try await inner.receiveDatagram() }
    func close(code: UInt64, reason: String) { inner.close(code: code, reason: reason) }
    func closed() async -> PeerNetworkError { await inner.closed() }
}

final class ScriptedWriter: PeerStreamWriter {
    let inner: any PeerStreamWriter
    let dialer: ScriptedDialer
    let buffer = Mutex<[UInt8]>([])
    init(inner: any PeerStreamWriter, dialer: ScriptedDialer) {
        self.inner = inner
        self.dialer = dialer
    }
    func write(_ bytes: [UInt8]) async throws { buffer.withLock { $0 += bytes } }
    func finish() async throws {
        let bytes = buffer.withLock { $0 }
        dialer.requests.withLock { $0.append(bytes) }
        let isEnvelope = bytes.starts(with: Array(#"{"Envelope""#.utf8))
        if isEnvelope && dialer.policy.withLock({ $0.failEnvelopes }) {
            throw PeerNetworkError.connectionLost("scripted: envelopes fail")
        }
        if !isEnvelope, let barrier = dialer.barrier.withLock({ $0 }) { await barrier.arrive() }
        try await inner.write(bytes)
        try await inner.finish()
    }
    func reset(code: UInt64) { inner.reset(code: code) }
}

final class ScriptedReader: PeerStreamReader {
    let inner: any PeerStreamReader
    let dialer: ScriptedDialer
    init(inner: any PeerStreamReader, dialer: ScriptedDialer) {
        self.inner = inner
        self.dialer = dialer
    }
    func read(maxBytes: Int) async throws -> [UInt8]? { try await inner.read(maxBytes: maxBytes) }
    func readToEnd(limit: Int) async throws -> [UInt8] {
        let answer = try await inner.readToEnd(limit: limit)
        if dialer.roll(dialer.policy.withLock { $0.answerLoss }) { throw PeerNetworkError.connectionLost("scripted: answer lost") }
        return answer
    }
    func stop(code: UInt64) { inner.stop(code: code) }
}

/// One DM node on the in-memory network.
struct DMNode {
    let identity: NodeIdentity
    let database: AppDatabase
    let dialer: ScriptedDialer
    let service: DMService
    let logs: MemoryLogSink

    var master: Ed25519.PublicKey { identity.masterPublicKey }
    var hex: String { identity.masterPublicKey.hex }

    func messages(with peer: DMNode) throws -> [DMStore.StoredMessage] {
        try service.store.messages(peerMasterHex: peer.hex, limit: 1_000_000)
    }

    func received(from peer: DMNode) throws -> [String] {
        try messages(with: peer).filter { $0.fromMasterHex == peer.hex }.map(\.content)
    }

    func metrics() async -> DMMetrics { await service.currentMetrics() }
}

final class DMWorld {
    let network = InMemoryPeerNetwork()
    let directory = StaticPeerDirectory()

    static func configuration() -> DMService.Configuration {
        var config = DMService.Configuration()
        config.retryIntervalSeconds = 0.05
        config.responderGraceSeconds = 0.3
        config.ackTimeoutSeconds = 5
        return config
    }

    func identity(_ label: String) throws -> NodeIdentity {
        try NodeIdentity(masterSeed: SecretBytes(SHA256.hash("dm-test-\(label)")))
    }

    func node(_ label: String, database: AppDatabase? = nil, seed: UInt64 = 1, register: Bool = true,
              configuration: DMService.Configuration = DMWorld.configuration()) throws -> DMNode {
        let identity = try identity(label)
        if register { try directory.add(identity) }
        let db = try database ?? AppDatabase.inMemory()
        let dialer = ScriptedDialer(inner: network.dialer(for: identity.transportID), seed: seed)
        let logs = MemoryLogSink(minimumLevel: .info)
        let service = DMService(identity: identity, database: db, dialer: dialer, directory: directory,
                                logger: Logger(label: "dm.\(label)", sink: logs), configuration: configuration)
        network.serve(identity.transportID, alpn: DMService.alpn, handler: service.handler)
        return DMNode(identity: identity, database: db, dialer: dialer, service: service, logs: logs)
    }
}

/// Polls `condition` until it holds (event-driven tests must not depend on speed; the limit only
/// turns a hang into a failure).
func eventually(_ what: String, seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
    Issue.record("never happened: \(what)")
    throw ExpectedFailure(reason: "timeout: \(what)")
}
