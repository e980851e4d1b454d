import Foundation
import Testing
import Synchronization
import Core
import TestSupport
@testable import AudioPipeline

/// Monotonic nanoseconds for the test devices and timing checks.
func callTestNanos() -> UInt64 { MonotonicClock.nanoseconds() }

/// A sound-card stand-in paced by absolute deadlines (no drift, like a card's crystal): capture
/// returns `source` (then silence) one 10 ms period at a time, playback records what it gets.
/// The time of the first transfer anchors sample 0, so delays can be measured across devices.
final class PacedTestDevice: AudioDevice, @unchecked Sendable {
    let name = "paced-test"
    let direction: AudioDirection
    let periodFrames = 480
    var bufferFrames: Int { periodFrames * 3 }
    private let source: [Float]
    private let state = Mutex<(recorded: [Float], position: Int, startNanos: UInt64?, closed: Bool)>(([], 0, nil, false))

    init(direction: AudioDirection, source: [Float] = []) {
        self.direction = direction
        self.source = source
    }

    var recorded: [Float] { state.withLock { $0.recorded } }
    var startNanos: UInt64? { state.withLock { $0.startNanos } }

    func transfer(_ samples: UnsafeMutableBufferPointer<Float>) -> AudioTransferResult {
        let (start, position, closed): (UInt64, Int, Bool) = state.withLock { s in
            if s.startNanos == nil { s.startNanos = callTestNanos() }
            return (s.startNanos!, s.position, s.closed)
        }
        if closed { return .lost(code: -9) }
        // Capture: the period is complete one period after it began. Playback: paced the same way.
        let deadline = start + UInt64(position + samples.count) * 1_000_000_000 / 48_000
        let now = callTestNanos()
        if deadline > now { usleep(UInt32((deadline - now) / 1_000)) }
        return state.withLock { s in
            if direction == .playback {
                s.recorded.append(contentsOf: samples)
            } else {
                for i in samples.indices {
                    let k = s.position + i
                    samples[i] = k < source.count ? source[k] : 0
                }
            }
            s.position += samples.count
            return .ok
        }
    }

    func close() { state.withLock { $0.closed = true } }
}

/// Hands out paced devices for each call and keeps them for inspection.
final class TestCallAudio: CallAudioProvider, @unchecked Sendable {
    let source: [Float]
    private let made = Mutex<[(capture: PacedTestDevice, playback: PacedTestDevice)]>([])
    private let logger = Logger(label: "call-audio", sink: MemoryLogSink())

    init(source: [Float]) { self.source = source }

    var devices: [(capture: PacedTestDevice, playback: PacedTestDevice)] { made.withLock { $0 } }

    func makeCallAudio() throws -> any CallAudio {
        let capture = PacedTestDevice(direction: .capture, source: source)
        let playback = PacedTestDevice(direction: .playback)
        made.withLock { $0.append((capture, playback)) }
        return StreamCallAudio(openCapture: { capture }, openPlayback: { playback }, logger: logger)
    }
}

/// Delivers DM signals between test nodes; records every signal sent; a node can be made unreachable.
final class FakeSignalHub: Sendable {
    private let handlers = Mutex<[Ed25519.PublicKey: DMService.SignalHandler]>([:])
    private let offline = Mutex<Set<Ed25519.PublicKey>>([])
    private let log = Mutex<[(from: Ed25519.PublicKey, to: Ed25519.PublicKey, payload: DMPayload)]>([])

    func channel(for node: Ed25519.PublicKey) -> Channel { Channel(hub: self, node: node) }
    func setOffline(_ node: Ed25519.PublicKey, _ isOffline: Bool) {
        offline.withLock { if isOffline { $0.insert(node) } else { $0.remove(node) } }
    }
    var sent: [(from: Ed25519.PublicKey, to: Ed25519.PublicKey, payload: DMPayload)] { log.withLock { $0 } }

    struct Channel: CallSignalChannel {
        let hub: FakeSignalHub
        let node: Ed25519.PublicKey
        func sendSignal(_ payload: DMPayload, to peer: Ed25519.PublicKey) async -> Bool {
            guard !hub.offline.withLock({ $0.contains(peer) }),
                  let handler = hub.handlers.withLock({ $0[peer] }) else { return false }
            hub.log.withLock { $0.append((node, peer, payload)) }
            let from = node
            Task { await handler(from, payload) }
            return true
        }
        func setSignalHandler(_ handler: DMService.SignalHandler?) async {
            hub.handlers.withLock { $0[node] = handler }
        }
    }
}

/// master ↔ transport id, as `peer_delegations` would hold it.
struct FakeCallDirectory: PeerDirectory {
    let table: [Ed25519.PublicKey: EndpointID]
    func delegation(for master: Ed25519.PublicKey) async throws -> SigningKeyDelegation? { nil }
    func transportIDs(for master: Ed25519.PublicKey) async throws -> [EndpointID] { table[master].map { [$0] } ?? [] }
    func master(forDMKey dmKeyHex: String) async throws -> Ed25519.PublicKey? { nil }
    func master(forTransportID id: EndpointID) async throws -> Ed25519.PublicKey? { table.first { $0.value == id }?.key }
}

/// Impairs one direction of every stream a connection opens or accepts: the writer's frames are
/// held back as a QUIC stream would after loss (retransmission): `spikeProbability` of writes wait
/// an extra uniform 0…`spikeMaxMicros`, every write a uniform 0…`jitterMicros`, and order is kept
/// (a delayed frame holds up the ones behind it). `blackhole` silently drops everything written.
final class Impairment: Sendable {
    struct Settings: Sendable {
        var spikeProbability = 0.0
        var spikeMaxMicros: UInt64 = 0
        var jitterMicros: UInt64 = 0
        var seed: UInt64 = 1
    }
    let settings: Settings
    private let random: Mutex<SplitMix64>
    private let black = Atomic<Bool>(false)
    private let connections = Mutex<[any PeerConnection]>([])
    let spikes = Atomic<Int>(0)

    init(_ settings: Settings) {
        self.settings = settings
        random = Mutex(SplitMix64(seed: settings.seed))
    }

    var blackhole: Bool {
        get { black.load(ordering: .relaxed) }
        set { black.store(newValue, ordering: .relaxed) }
    }

    /// Extra delay for the next write.
    func nextDelayMicros() -> UInt64 {
        random.withLock { r in
            var delay = settings.jitterMicros > 0 ? UInt64(r.nextUnit() * Double(settings.jitterMicros)) : 0
            if r.nextUnit() < settings.spikeProbability {
                delay += UInt64(r.nextUnit() * Double(settings.spikeMaxMicros))
                spikes.add(1, ordering: .relaxed)
            }
            return delay
        }
    }

    func wrap(_ connection: any PeerConnection) -> any PeerConnection {
        connections.withLock { $0.append(connection) }
        return ImpairedConnection(inner: connection, impairment: self)
    }

    /// The network goes away: every wrapped connection dies with a non-"call ended" close.
    func dropNetwork() {
        for c in connections.withLock({ $0 }) { c.close(code: 99, reason: "network unreachable") }
    }
}

final class ImpairedConnection: PeerConnection {
    let inner: any PeerConnection
    let impairment: Impairment
    init(inner: any PeerConnection, impairment: Impairment) {
        self.inner = inner
        self.impairment = impairment
    }
    var remoteID: EndpointID { inner.remoteID }
    var alpn: String { inner.alpn }
    func openBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        let (send, receive) = try await inner.openBidirectionalStream()
        return (ImpairedWriter(inner: send, impairment: impairment), receive)
    }
    func acceptBidirectionalStream() async throws -> (send: any PeerStreamWriter, receive: any PeerStreamReader) {
        let (send, receive) = try await inner.acceptBidirectionalStream()
        return (ImpairedWriter(inner: send, impairment: impairment), receive)
    }
    func openUnidirectionalStream() async throws -> any PeerStreamWriter { try await inner.openUnidirectionalStream() }
    func acceptUnidirectionalStream() async throws -> any PeerStreamReader { try await inner.acceptUnidirectionalStream() }
    func sendDatagram(_ bytes: [UInt8]) async throws { try await inner.sendDatagram(bytes) }
    func receiveDatagram() async throws -> [UInt8] { try await inner.receiveDatagram() }
    func close(code: UInt64, reason: String) { inner.close(code: code, reason: reason) }
    func closed() async -> PeerNetworkError { await inner.closed() }
}

/// Writes return at once (the bytes are "in the network"); a delivery task releases them in order.
final class ImpairedWriter: PeerStreamWriter {
    private enum Item: Sendable { case bytes([UInt8]), finish }
    private let inner: any PeerStreamWriter
    private let impairment: Impairment
    private let queue: AsyncStream<(UInt64, Item)>.Continuation
    private let lastRelease = Mutex<UInt64>(0)
    private final class FailureBox: Sendable {
        let error = Mutex<(any Error)?>(nil)
    }
    private let failureBox = FailureBox()

    init(inner: any PeerStreamWriter, impairment: Impairment) {
        self.inner = inner
        self.impairment = impairment
        let (stream, continuation) = AsyncStream<(UInt64, Item)>.makeStream()
        queue = continuation
        let failure = failureBox
        Task {
            for await (release, item) in stream {
                let now = callTestNanos()
                if release > now { try? await Task.sleep(nanoseconds: release - now) }
                do {
                    switch item {
                    case let .bytes(b): try await inner.write(b)
                    case .finish: try await inner.finish()
                    }
                } catch {
                    failure.error.withLock { $0 = error }
                }
            }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        if let error = failureBox.error.withLock({ $0 }) { throw error }
        if impairment.blackhole { return }
        let due = callTestNanos() + impairment.nextDelayMicros() * 1_000
        let release = lastRelease.withLock { last in last = max(last, due); return last }
        queue.yield((release, .bytes(bytes)))
    }

    func finish() async throws {
        let release = lastRelease.withLock { $0 }
        queue.yield((release, .finish))
        queue.finish()
    }

    func reset(code: UInt64) {
        queue.finish()
        inner.reset(code: code)
    }
}

struct ImpairingDialer: PeerDialer {
    let inner: any PeerDialer
    let impairment: Impairment
    func connect(to address: PeerAddress, alpn: String, timeoutSeconds: Double) async throws -> any PeerConnection {
        impairment.wrap(try await inner.connect(to: address, alpn: alpn, timeoutSeconds: timeoutSeconds))
    }
}

struct ImpairingHandler: ProtocolHandler {
    let inner: any ProtocolHandler
    let impairment: Impairment
    func accept(_ connection: any PeerConnection) async { await inner.accept(impairment.wrap(connection)) }
}

/// One test node: identity keys, its call service and fake devices.
struct CallTestNode {
    let master: Ed25519.PublicKey
    let transport: EndpointID
    let service: CallService
    let audio: TestCallAudio?
    let logs: MemoryLogSink
}

/// Two or three nodes on an `InMemoryPeerNetwork` with fake signalling.
struct CallTestBed {
    let network = InMemoryPeerNetwork()
    let hub = FakeSignalHub()
    let nodes: [CallTestNode]
    /// Impairs what the caller (node 0) sends (on its dialled connections) and what the others
    /// send back (on the connections they accept).
    let callerSide: Impairment
    let calleeSide: Impairment

    init(count: Int = 2, sources: [[Float]?], impairment: Impairment.Settings = .init(),
         configuration: CallService.Configuration = CallTestBed.configuration) throws {
        let keys = try (0..<count).map { i -> (Ed25519.PublicKey, EndpointID) in
            (try Ed25519.SecretKey(seed: [UInt8](repeating: UInt8(i + 1), count: 32)).publicKey,
             try Ed25519.SecretKey(seed: [UInt8](repeating: UInt8(i + 101), count: 32)).publicKey)
        }
        let directory = FakeCallDirectory(table: Dictionary(uniqueKeysWithValues: keys))
        var second = impairment
        second.seed &+= 1
        callerSide = Impairment(impairment)
        calleeSide = Impairment(second)
        var nodes: [CallTestNode] = []
        for (i, (master, transport)) in keys.enumerated() {
            let logs = MemoryLogSink()
            let audio = sources[i].map { TestCallAudio(source: $0) }
            let dialer = ImpairingDialer(inner: network.dialer(for: transport), impairment: callerSide)
            let service = CallService(ownMaster: master, signalling: hub.channel(for: master), directory: directory,
                                      dialer: dialer, audio: audio, logger: Logger(label: "call\(i)", sink: logs),
                                      configuration: configuration)
            network.serve(transport, alpn: CallService.alpn, handler: ImpairingHandler(inner: service.handler, impairment: calleeSide))
            nodes.append(CallTestNode(master: master, transport: transport, service: service, audio: audio, logs: logs))
        }
        self.nodes = nodes
    }

    static var configuration: CallService.Configuration {
        var c = CallService.Configuration()
        c.voice.echoCancellation = false   // no acoustic path between the fake devices
        return c
    }

    func start() async { for n in nodes { await n.service.start() } }
    func stop() async { for n in nodes { await n.service.stop() } }
}

/// Polls `condition` every 20 ms for up to `seconds`; returns whether it became true.
func eventually(_ seconds: Double, _ condition: () async -> Bool) async -> Bool {
    let deadline = callTestNanos() + UInt64(seconds * 1e9)
    while callTestNanos() < deadline {
        if await condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return await condition()
}

enum CallSignal {
    static let speechA = speech(seed: 11, seconds: 12)
    static let speechB = speech(seed: 29, seconds: 12)

    /// Deterministic speech-like test signal.
    static func speech(seed: UInt64, seconds: Double) -> [Float] {
        var g = SpeechLikeSignal(seed: seed, syllableHz: 3)
        return g.next(count: Int(seconds * 48_000))
    }

    /// Lag (samples) maximising the normalised correlation of `heard[j]` with `said[j - lag]`,
    /// searched in `lags`; coarse on 8× decimated signals, then refined at full rate.
    static func bestLag(said: [Float], heard: [Float], window: Range<Int>, lags: ClosedRange<Int>) -> (lag: Int, correlation: Double) {
        func corr(_ a: [Float], _ b: [Float], _ w: Range<Int>, _ lag: Int) -> Double {
            var ab = 0.0, aa = 0.0, bb = 0.0
            for j in w {
                let k = j - lag
                guard j >= 0, j < b.count, k >= 0, k < a.count else { continue }
                let x = Double(a[k]), y = Double(b[j])
                ab += x * y; aa += x * x; bb += y * y
            }
            return aa > 0 && bb > 0 ? ab / (aa * bb).squareRoot() : 0
        }
        func decimate(_ x: [Float]) -> [Float] {
            stride(from: 0, to: x.count - 7, by: 8).map { i in (0..<8).reduce(Float(0)) { $0 + x[i + $1] } / 8 }
        }
        let ds = decimate(said), dh = decimate(heard)
        let dw = (window.lowerBound / 8)..<(window.upperBound / 8)
        var best = (lag: lags.lowerBound, correlation: -2.0)
        for lag in stride(from: lags.lowerBound / 8, through: lags.upperBound / 8, by: 1) {
            let c = corr(ds, dh, dw, lag)
            if c > best.correlation { best = (lag * 8, c) }
        }
        var fine = (lag: best.lag, correlation: corr(said, heard, window, best.lag))
        for lag in (best.lag - 12)...(best.lag + 12) {
            let c = corr(said, heard, window, lag)
            if c > fine.correlation { fine = (lag, c) }
        }
        return fine
    }
}

/// Measures the A→B delay: cross-correlation of what A's microphone got with what B's speaker
/// played, over five 400 ms windows of the last 2 s (the jitter buffer inserts and drops frames,
/// so the delay moves a little within a call). Returns the median delay and correlation, and the
/// spread of the per-window delays.
func measureDelay(said: [Float], capture: PacedTestDevice, playback: PacedTestDevice) throws
    -> (millis: Double, correlation: Double, minMillis: Double, maxMillis: Double) {
    let heard = playback.recorded
    let capStart = try #require(capture.startNanos), pbStart = try #require(playback.startNanos)
    let offset = (Double(pbStart) - Double(capStart)) / 1e9   // playback clock starts this much later
    let lags = Int((0 - offset) * 48_000)...Int((0.6 - offset) * 48_000)
    let windowLength = 19_200
    let end = heard.count - 4_800
    try #require(end - 5 * windowLength > 0, "only \(heard.count) samples played")
    var results: [(millis: Double, correlation: Double)] = []
    for w in 0..<5 {
        let start = end - (5 - w) * windowLength
        let (lag, correlation) = CallSignal.bestLag(said: said, heard: heard, window: start..<(start + windowLength), lags: lags)
        results.append(((offset + Double(lag) / 48_000) * 1_000, correlation))
    }
    let delays = results.map(\.millis).sorted(), correlations = results.map(\.correlation).sorted()
    return (delays[2], correlations[2], delays[0], delays[4])
}

/// Measures how late a task that sleeps 10 ms wakes up: the starvation of this process's Swift
/// concurrency pool (other suites running CPU-bound or blocking work on its few threads).
final class StarvationProbe: Sendable {
    private let worst = Atomic<Int>(0)
    private let running = Atomic<Bool>(true)

    init() {
        Task { [self] in
            while running.load(ordering: .relaxed) {
                let t0 = callTestNanos()
                try? await Task.sleep(nanoseconds: 10_000_000)
                let lag = Int((callTestNanos() - t0) / 1_000_000) - 10
                if lag > worst.load(ordering: .relaxed) { worst.store(lag, ordering: .relaxed) }
            }
        }
    }

    var maxLagMillis: Int { worst.load(ordering: .relaxed) }
    func stop() { running.store(false, ordering: .relaxed) }
}

/// These tests run in real time on a machine where CPU-bound suites may hold every thread of the
/// Swift concurrency pool for seconds. That is measured independently — the paced fake speaker ran
/// dry for more than 100 ms, or a 10 ms sleep woke more than 300 ms late — and then the timing
/// assertions in `body` are recorded as known (intermittent) issues instead of failures. When the
/// process was not starved, they must hold.
func unlessStarved(_ media: [CallMediaStatistics], probe: StarvationProbe? = nil, _ body: () throws -> Void) rethrows {
    let dryMillis = media.map { $0.playbackShortfallSamples / 48 }.max() ?? 0
    let lag = probe?.maxLagMillis ?? 0
    let starved = dryMillis > 100 || lag > 300
    if starved { print("process starved: speaker ran dry for \(dryMillis) ms, scheduling lag up to \(lag) ms") }
    try withKnownIssue("process starved of CPU (speaker dry \(dryMillis) ms, lag \(lag) ms)", isIntermittent: true) {
        try body()
    } when: {
        starved
    }
}
