import ArgumentParser
import AudioPipeline
import Core
import Foundation
import Synchronization
import Transport

/// `proscenium-bench relay`: one Stage relay fanning the mixed stream (50 frames/s) out to N
/// simulated listeners in-process, over the relay's real forwarding path, in both modes: `enqueue`
/// (what a QUIC stream offers: `StageRelay.ingest` hands the frame to every stream directly, no task
/// per listener) and `write` (per-listener bounded queue → a `serve` task → `write`, for writers
/// that can only suspend). Reports CPU % of one core (getrusage, whole process), RSS, forwarding
/// delay p50/p99 (ingest → the frame handed to the listener's stream) and drops.
/// Also the host's cost to mix 8 speakers per 20 ms frame (decode 8, mix, encode, chain/sign).
struct RelayBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Stage relay fan-out (CPU, RSS, forwarding delay, drops) and host mixing cost."
    )

    @Option(help: "Listener counts, comma-separated.")
    var listeners = "100,500,1000,2000"

    @Option(help: "Seconds of stream per listener count.")
    var seconds = 5.0

    @Option(help: "Frames for the 8-speaker mixing measurement.")
    var mixFrames = 500

    @Option(help: "Writer modes, comma-separated: enqueue (direct, as over QUIC), write (task per listener).")
    var modes = "enqueue,write"

    @Option(help: "Listener counts over real QUIC on loopback (relay endpoint → 4 listener endpoints), comma-separated; empty to skip.")
    var quicListeners = "100,1000"

    func run() throws {
        let counts = listeners.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let duration = seconds
        print("relay fan-out: 50 frames/s, 171-byte frames (160 B Opus + 11 B header; every 50th +96 B checkpoint), queue 50 frames")
        print("mode    | listeners | CPU % of one core | RSS MiB | delay p50 µs | p99 µs | max µs | forwarded | dropped")
        for mode in modes.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            guard mode == "enqueue" || mode == "write" else { throw ValidationError("unknown mode \(mode) (enqueue, write)") }
            for count in counts {
                try blockingRelay { try await RelayBench.fanOut(listeners: count, seconds: duration, direct: mode == "enqueue") }
            }
        }
        let quicCounts = quicListeners.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if !quicCounts.isEmpty {
            print("\nover QUIC on loopback: the relay's endpoint sends to N listener streams on 4 client endpoints in the same")
            print("process; delay = ingest → frame read by the listener; CPU is the whole process (relay and listeners)")
            print("listeners | CPU % of one core | RSS MiB | delay p50 µs | p99 µs | max µs | received | dropped")
            for count in quicCounts {
                try blockingRelay { try await RelayBench.overQUIC(listeners: count, seconds: duration) }
            }
        }
        try mixCost()
    }

    /// Serves `proscenium/stage/1`-like listener streams: every bi stream a client opens gets the relay.
    struct RelayHandler: ProtocolHandler {
        let relay: StageRelay
        func accept(_ connection: any PeerConnection) async {
            while let (send, receive) = try? await connection.acceptBidirectionalStream() {
                let relay = self.relay
                Task {
                    _ = try? await receive.read(maxBytes: 1)
                    guard let subscription = try? relay.subscribe() else { return }
                    await relay.serve(subscription, to: send)
                }
            }
        }
    }

    /// What one QUIC listener read: forwarding delays in µs (its own reader task only).
    final class QUICListener: @unchecked Sendable {
        let ingestTimes: UnsafeMutableBufferPointer<UInt64>
        var delays: [UInt32] = []
        init(ingestTimes: UnsafeMutableBufferPointer<UInt64>) { self.ingestTimes = ingestTimes }
    }

    static func overQUIC(listeners count: Int, seconds: Double) async throws {
        let frames = Int(seconds * 50)
        let relay = StageRelay(limits: StageRelayLimits(maxListeners: count, maxKilobitsPerSecond: .max / 2, queueFrames: 50))
        let times = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: frames)
        times.initialize(repeating: 0)
        defer { times.deallocate() }
        var relayConfig = EndpointConfig()
        relayConfig.bindAddress = try SocketAddress("127.0.0.1:0")
        relayConfig.maxConcurrentStreams = UInt64(count + 10)
        let relayEndpoint = try Endpoint(secretKey: .generate(), config: relayConfig,
                                         router: Router().adding(alpn: StageMedia.alpn, handler: RelayHandler(relay: relay)))
        var clients: [Endpoint] = []
        var listeners: [QUICListener] = []
        var readers: [Task<Void, Never>] = []
        for client in 0..<4 {
            var config = EndpointConfig()
            config.bindAddress = try SocketAddress("127.0.0.1:0")
            let endpoint = try Endpoint(secretKey: .generate(), config: config)
            clients.append(endpoint)
            let connection = try await QUICPeerDialer(endpoint: endpoint)
                .connect(to: PeerAddress(id: relayEndpoint.id, directAddresses: [relayEndpoint.localAddress.description]),
                         alpn: StageMedia.alpn, timeoutSeconds: 10)
            for _ in stride(from: client, to: count, by: 4) {
                let (send, receive) = try await connection.openBidirectionalStream()
                try await send.write([StageMedia.ConnectionType.listener.rawValue])
                let listener = QUICListener(ingestTimes: times)
                listeners.append(listener)
                readers.append(Task {
                    var splitter = StageFrameSplitter()
                    while let chunk = try? await receive.read(maxBytes: 65_536) {
                        let now = MonotonicClock.nanoseconds()
                        try? splitter.feed(chunk) { frame in
                            let seq = Int(StageWireFrame.sequence(of: frame))
                            if seq < listener.ingestTimes.count {
                                listener.delays.append(UInt32(min(UInt64(UInt32.max), (now &- listener.ingestTimes[seq]) / 1_000)))
                            }
                        }
                    }
                    _ = send
                })
            }
        }
        for _ in 0..<500 where relay.metrics.listeners < count { try await Task.sleep(nanoseconds: 10_000_000) }
        guard relay.metrics.listeners == count else { throw ValidationError("only \(relay.metrics.listeners) of \(count) listeners connected") }
        let cpu0 = processCPUNanos(), wall0 = MonotonicClock.nanoseconds()
        try await stream(Self.payloads(frames), into: relay, stamping: times)
        try await Task.sleep(nanoseconds: 200_000_000)
        let cpu = processCPUNanos() - cpu0, wall = MonotonicClock.nanoseconds() - wall0
        let rss = residentMiB()
        let metrics = relay.metrics
        relay.close()
        for client in clients { await client.close() }
        await relayEndpoint.close()
        for reader in readers { await reader.value }
        var all: [UInt32] = []
        for listener in listeners { all += listener.delays }
        all.sort()
        func percentile(_ p: Double) -> UInt32 { all.isEmpty ? 0 : all[min(all.count - 1, Int(Double(all.count) * p))] }
        print(String(format: "%9d | %17.1f | %7.1f | %12d | %6d | %6d | %8d | %7d", count, Double(cpu) / Double(wall) * 100, rss,
                     percentile(0.5), percentile(0.99), all.last ?? 0, all.count, metrics.framesDropped))
    }

    /// A listener's stream: records the forwarding delay of every frame (single writer per listener).
    final class DelaySink: PeerStreamWriter, @unchecked Sendable {
        let ingestTimes: UnsafeMutableBufferPointer<UInt64>
        let supportsEnqueue: Bool
        var delays: [UInt32] = []
        init(ingestTimes: UnsafeMutableBufferPointer<UInt64>, capacity: Int, direct: Bool) {
            self.ingestTimes = ingestTimes
            supportsEnqueue = direct
            delays.reserveCapacity(capacity)
        }
        func write(_ bytes: [UInt8]) async throws { record(bytes) }
        func enqueue(_ bytes: [UInt8]) -> PeerStreamEnqueueResult {
            record(bytes)
            return .queued
        }
        private func record(_ bytes: [UInt8]) {
            let now = MonotonicClock.nanoseconds()
            let seq = Int(StageWireFrame.sequence(of: bytes))
            delays.append(UInt32(min(UInt64(UInt32.max), (now &- ingestTimes[seq]) / 1_000)))
        }
        func finish() async throws {}
        func reset(code: UInt64) {}
    }

    static func fanOut(listeners count: Int, seconds: Double, direct: Bool) async throws {
        let frames = Int(seconds * 50)
        let relay = StageRelay(limits: StageRelayLimits(maxListeners: count, maxKilobitsPerSecond: .max / 2, queueFrames: 50))
        let times = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: frames)
        times.initialize(repeating: 0)
        defer { times.deallocate() }
        let payloads = Self.payloads(frames)
        var sinks: [DelaySink] = []
        var tasks: [Task<Void, Never>] = []
        for _ in 0..<count {
            let sink = DelaySink(ingestTimes: times, capacity: frames, direct: direct)
            let subscription = try relay.subscribe()
            sinks.append(sink)
            tasks.append(Task { await relay.serve(subscription, to: sink) })
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        let cpu0 = processCPUNanos(), wall0 = MonotonicClock.nanoseconds()
        try await stream(payloads, into: relay, stamping: times)
        // Let the last frame drain before stopping the clock.
        try await Task.sleep(nanoseconds: 20_000_000)
        let cpu = processCPUNanos() - cpu0, wall = MonotonicClock.nanoseconds() - wall0
        let rss = residentMiB()
        relay.close()
        for task in tasks { await task.value }
        var all: [UInt32] = []
        all.reserveCapacity(count * frames)
        for sink in sinks { all += sink.delays }
        all.sort()
        func percentile(_ p: Double) -> UInt32 { all.isEmpty ? 0 : all[min(all.count - 1, Int(Double(all.count) * p))] }
        let metrics = relay.metrics
        print((direct ? "enqueue" : "write  ") + String(format: " | %9d | %17.1f | %7.1f | %12d | %6d | %6d | %9d | %7d", count,
                     Double(cpu) / Double(wall) * 100, rss,
                     percentile(0.5), percentile(0.99), all.last ?? 0, metrics.framesForwarded, metrics.framesDropped))
    }

    private func mixCost() throws {
        let speakers = 8
        let mixer = try StageMixer(hostSigningKey: Ed25519.SecretKey.generate())
        let ids = (0..<speakers).map { _ in Ed25519.SecretKey.generate().publicKey }
        var streams: [[[UInt8]]] = []
        for index in 0..<speakers {
            var tone = ToneGenerator(frequency: 200 + Double(index) * 150, amplitude: 0.2)
            let encoder = try OpusEncoder()
            var sequencer = AudioFrameSequencer()
            var frames: [[UInt8]] = []
            for _ in 0..<mixFrames { frames.append(try sequencer.frame(payload: try encoder.encode(tone.nextFrame())).encode()) }
            streams.append(frames)
        }
        let start = Self.threadCPUNanos()
        for frame in 0..<mixFrames {
            for (index, id) in ids.enumerated() { mixer.speakerFrame(id, frame: streams[index][frame]) }
            _ = try mixer.tick()
        }
        let perFrame = Double(Self.threadCPUNanos() - start) / Double(mixFrames) / 1_000
        print(String(format: "\nhost mixing, %d speakers: %.1f µs CPU per 20 ms frame (decode %d + mix + limiter + encode + chain/sign) = %.1f %% of one core",
                     speakers, perFrame, speakers, perFrame / 200))
    }

    /// The mixed stream: 160 B of Opus per frame, every 50th a checkpoint (+96 B).
    static func payloads(_ frames: Int) -> [[UInt8]] {
        (0..<frames).map { seq in
            let checkpoint = (seq + 1) % 50 == 0
            return StageWireFrame.encode(sequence: UInt32(seq), timestamp: UInt32(seq * 960), tag: checkpoint ? 1 : 0,
                                         payload: [UInt8](repeating: 0x5a, count: checkpoint ? 256 : 160))
        }
    }

    /// Ingests one frame every 20 ms (absolute deadlines), recording when each went in.
    static func stream(_ payloads: [[UInt8]], into relay: StageRelay, stamping times: UnsafeMutableBufferPointer<UInt64>) async throws {
        let clock = ContinuousClock()
        var next = clock.now
        for (seq, payload) in payloads.enumerated() {
            next = next.advanced(by: .milliseconds(20))
            try await Task.sleep(until: next, clock: clock)
            times[seq] = MonotonicClock.nanoseconds()
            relay.ingest(payload)
        }
    }

    static func processCPUNanos() -> UInt64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1_000 }
        return ns(usage.ru_utime) + ns(usage.ru_stime)
    }

    static func threadCPUNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func residentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }
}

/// Runs async work from this synchronous command and waits for it.
private func blockingRelay(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let failure = Mutex<String?>(nil)
    Task {
        do { try await body() } catch { failure.withLock { $0 = "\(error)" } }
        done.signal()
    }
    done.wait()
    if let message = failure.withLock({ $0 }) { throw ValidationError(message) }
}
