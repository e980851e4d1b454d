import Synchronization
import Testing
@testable import Core

/// A downstream writer that records frames, optionally blocking until released (a slow listener).
final class StageRecordingWriter: PeerStreamWriter {
    private let frames = Mutex<[[UInt8]]>([])
    private let gate = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((true, []))

    init(blocked: Bool = false) { gate.withLock { $0.open = !blocked } }

    var received: [[UInt8]] { frames.withLock { $0 } }

    func release() {
        let waiters = gate.withLock { g in g.open = true; defer { g.waiters.removeAll() }; return g.waiters }
        for waiter in waiters { waiter.resume() }
    }

    func write(_ bytes: [UInt8]) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = gate.withLock { g in
                if !g.open { g.waiters.append(continuation) }
                return g.open
            }
            if open { continuation.resume() }
        }
        frames.withLock { $0.append(bytes) }
    }

    func finish() async throws {}
    func reset(code: UInt64) {}
}

/// A downstream that takes frames without waiting (as a QUIC stream does), up to `room` frames;
/// `.closed` once `close()` was called.
final class StageEnqueueWriter: PeerStreamWriter {
    private let state: Mutex<(frames: [[UInt8]], room: Int, closed: Bool)>
    init(room: Int = .max) { state = Mutex(([], room, false)) }
    var received: [[UInt8]] { state.withLock { $0.frames } }
    func close() { state.withLock { $0.closed = true } }
    var supportsEnqueue: Bool { true }
    func enqueue(_ bytes: [UInt8]) -> PeerStreamEnqueueResult {
        state.withLock { s in
            if s.closed { return .closed }
            guard s.frames.count < s.room else { return .full }
            s.frames.append(bytes)
            return .queued
        }
    }
    func write(_ bytes: [UInt8]) async throws { Issue.record("a writer that can enqueue must not be written to") }
    func finish() async throws {}
    func reset(code: UInt64) {}
}

@Suite("Stage relay")
struct StageRelayTests {
    /// Streams that take frames without waiting are served from `ingest` itself (no task each):
    /// every frame reaches them in order, a full one skips frames (counted), a closed one ends its
    /// `serve` and leaves.
    @Test func enqueueingListenersAreServedFromIngest() async throws {
        let relay = StageRelay(limits: StageRelayLimits(maxListeners: 10))
        let fast = StageEnqueueWriter(), full = StageEnqueueWriter(room: 10), leaving = StageEnqueueWriter()
        let subs = try (0..<3).map { _ in try relay.subscribe() }
        let served = [Task { await relay.serve(subs[0], to: fast) }, Task { await relay.serve(subs[1], to: full) }]
        let leaver = Task { await relay.serve(subs[2], to: leaving) }
        // Until all three are registered as direct listeners (bounded: 5 s).
        var registered = false
        for _ in 0..<50_000 {
            try await Task.sleep(nanoseconds: 100_000)
            if fast.received.count > 0 && full.received.count > 0 && leaving.received.count > 0 { registered = true; break }
            relay.ingest(frame(999))
        }
        try #require(registered, "the three listeners never got a frame")
        let warmup = UInt64(relay.metrics.framesIn), dropsBefore = relay.metrics.framesDropped
        let before = (fast.received.count, full.received.count)
        for seq in 0..<20 {
            if seq == 5 { leaving.close() }
            relay.ingest(frame(UInt32(seq)))
        }
        await leaver.value   // ends on its own once its stream reports closed
        #expect(fast.received.dropFirst(before.0).map(StageWireFrame.sequence(of:)) == (0..<20).map { UInt32($0) })
        #expect(full.received.count == 10)
        let metrics = relay.metrics
        #expect(metrics.listeners == 2)
        #expect(metrics.framesIn == warmup + 20)
        #expect(metrics.framesForwarded == UInt64(fast.received.count + full.received.count + leaving.received.count))
        #expect(metrics.framesDropped - dropsBefore == UInt64(20 - (10 - before.1)))
        relay.close()
        for task in served { await task.value }
        #expect(relay.metrics.listeners == 0)
    }

    func frame(_ seq: UInt32, size: Int = 160) -> [UInt8] {
        StageWireFrame.encode(sequence: seq, timestamp: seq &* 960, tag: 0, payload: [UInt8](repeating: UInt8(truncatingIfNeeded: seq), count: size))
    }

    @Test func queueDropsOldestAndNeverGrows() {
        let queue = StageFrameQueue(capacity: 4)
        for seq in 0..<10 { queue.push(frame(UInt32(seq))) }
        #expect(queue.queued == 4)
        #expect(queue.dropped == 6)
        var seqs: [UInt32] = []
        while let f = queue.poll() { seqs.append(StageWireFrame.sequence(of: f)) }
        #expect(seqs == [6, 7, 8, 9])
    }

    @Test func slowListenerDropsOthersUnaffected() async throws {
        let relay = StageRelay(limits: StageRelayLimits(maxListeners: 10, queueFrames: 8))
        let fast = StageRecordingWriter()
        let slow = StageRecordingWriter(blocked: true)
        let fastSub = try relay.subscribe(), slowSub = try relay.subscribe()
        let tasks = [Task { await relay.serve(fastSub, to: fast) }, Task { await relay.serve(slowSub, to: slow) }]
        for seq in 0..<100 {
            relay.ingest(frame(UInt32(seq)))
            // Let the fast listener keep up, as a real one would between 20 ms frames (bounded by
            // time, not by a number of yields: a busy machine may need many more than 50).
            for _ in 0..<50_000 where fast.received.count <= seq { try await Task.sleep(nanoseconds: 100_000) }
        }
        #expect(fast.received.map(StageWireFrame.sequence(of:)) == (0..<100).map { UInt32($0) })
        #expect(slowSub.queue.queued == 8)
        slow.release()
        for _ in 0..<50_000 where slow.received.count < 9 { try await Task.sleep(nanoseconds: 100_000) }
        // The slow one got the frame it was stuck on plus the newest 8; 91 were dropped for it alone.
        #expect(slow.received.map(StageWireFrame.sequence(of:)).suffix(8) == (92..<100).map { UInt32($0) })
        let metrics = relay.metrics
        #expect(metrics.framesIn == 100)
        #expect(metrics.framesDropped == 91)
        #expect(metrics.listeners == 2)
        #expect(metrics.framesForwarded == UInt64(fast.received.count + slow.received.count))
        #expect(metrics.bytesForwarded == UInt64((fast.received + slow.received).reduce(0) { $0 + $1.count }))
        relay.close()
        for task in tasks { await task.value }
        #expect(relay.metrics.listeners == 0)
    }

    @Test func capacityGuardRefusesWithAReason() throws {
        let relay = StageRelay(limits: StageRelayLimits(maxListeners: 3, maxKilobitsPerSecond: 1_000, queueFrames: 4))
        for _ in 0..<3 { _ = try relay.subscribe() }
        #expect(throws: StageRelayRefusal.listenerLimit(max: 3)) { try relay.subscribe() }
        // Bandwidth: a measured 400 kbit/s stream (1,000 B × 50 frames/s) allows only 2 listeners in 1,000 kbit/s.
        let heavy = StageRelay(limits: StageRelayLimits(maxListeners: 100, maxKilobitsPerSecond: 1_000, queueFrames: 4))
        for seq in 0..<50 { heavy.ingest(frame(UInt32(seq), size: 989)) }
        #expect(heavy.metrics.streamKilobitsPerSecond == 400)
        _ = try heavy.subscribe(); _ = try heavy.subscribe()
        #expect(throws: StageRelayRefusal.bandwidthLimit(neededKbps: 1_200, limitKbps: 1_000)) { try heavy.subscribe() }
        #expect(heavy.metrics.listenersRefused == 1)
        #expect(StageRelayRefusal.listenerLimit(max: 3).description.contains("maximum of 3"))
    }

    @Test func splitterDelimitsAcrossArbitraryReads() throws {
        let frames = (0..<20).map { frame(UInt32($0), size: Int($0) * 7) }
        let stream = frames.flatMap { $0 }
        var splitter = StageFrameSplitter()
        var out: [[UInt8]] = []
        var offset = 0, step = 1
        while offset < stream.count {
            let end = min(stream.count, offset + step)
            try splitter.feed(Array(stream[offset..<end])) { out.append($0) }
            offset = end
            step = step % 37 + 3
        }
        #expect(out == frames)
        var bad = StageFrameSplitter()
        #expect(throws: StageFrameError.lengthBelowHeader(3)) { try bad.feed([0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]) { _ in } }
        var badTag = StageFrameSplitter()
        #expect(throws: StageFrameError.unknownTag(7)) { try badTag.feed(StageWireFrame.encode(sequence: 0, timestamp: 0, tag: 7, payload: [1])) { _ in } }
    }
}
