import Synchronization

/// One downstream's bounded frame queue: a fixed ring of `capacity` slots allocated once. When the
/// listener is slow the oldest frame is dropped (and counted), so memory per listener never grows.
/// Frames are shared `[UInt8]` buffers: fanning one frame out to N queues copies no bytes.
public final class StageFrameQueue: Sendable {
    private struct State {
        var slots: [[UInt8]]
        var head = 0
        var count = 0
        var dropped: UInt64 = 0
        var closed = false
        var waiter: CheckedContinuation<[UInt8]?, Never>?
    }
    private let state: Mutex<State>
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        state = Mutex(State(slots: [[UInt8]](repeating: [], count: max(1, capacity))))
    }

    /// Enqueues `frame`; returns true when the oldest queued frame was dropped to make room.
    @discardableResult
    public func push(_ frame: [UInt8]) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            if let waiter = s.waiter {
                s.waiter = nil
                waiter.resume(returning: frame)
                return false
            }
            var dropped = false
            if s.count == capacity {
                s.head = (s.head + 1) % capacity
                s.count -= 1
                s.dropped += 1
                dropped = true
            }
            s.slots[(s.head + s.count) % capacity] = frame
            s.count += 1
            return dropped
        }
    }

    /// The next frame, suspending while empty; nil once closed.
    public func next() async -> [UInt8]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
            state.withLock { s in
                if s.count > 0 {
                    let frame = s.slots[s.head]
                    s.slots[s.head] = []
                    s.head = (s.head + 1) % capacity
                    s.count -= 1
                    continuation.resume(returning: frame)
                } else if s.closed {
                    continuation.resume(returning: nil)
                } else {
                    s.waiter = continuation
                }
            }
        }
    }

    /// Frames waiting without suspending (tests and the synchronous bench path).
    public func poll() -> [UInt8]? {
        state.withLock { s in
            guard s.count > 0 else { return nil }
            let frame = s.slots[s.head]
            s.slots[s.head] = []
            s.head = (s.head + 1) % capacity
            s.count -= 1
            return frame
        }
    }

    public var dropped: UInt64 { state.withLock { $0.dropped } }
    public var queued: Int { state.withLock { $0.count } }

    public func close() {
        state.withLock { s in
            s.closed = true
            s.count = 0
            for i in s.slots.indices { s.slots[i] = [] }
            s.waiter?.resume(returning: nil)
            s.waiter = nil
        }
    }
}

/// Limits of a relay (or of the host's listener fan-out).
public struct StageRelayLimits: Equatable, Sendable {
    public var maxListeners: Int
    /// Upload budget for all downstreams together.
    public var maxKilobitsPerSecond: Int
    /// Per-listener queue (the reference's broadcast buffer is 50 frames).
    public var queueFrames: Int
    /// Assumed rate of one mixed stream until a second of traffic has been measured (64 kbit/s Opus
    /// plus headers and checkpoints).
    public var assumedStreamKilobitsPerSecond: Int

    public init(maxListeners: Int = 1_000, maxKilobitsPerSecond: Int = 100_000, queueFrames: Int = 50,
                assumedStreamKilobitsPerSecond: Int = 72) {
        self.maxListeners = maxListeners
        self.maxKilobitsPerSecond = maxKilobitsPerSecond
        self.queueFrames = queueFrames
        self.assumedStreamKilobitsPerSecond = assumedStreamKilobitsPerSecond
    }
}

/// Why the relay refused a listener.
public enum StageRelayRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case listenerLimit(max: Int)
    case bandwidthLimit(neededKbps: Int, limitKbps: Int)
    case closed

    public var description: String {
        switch self {
        case .listenerLimit(let max): return "relay full: already serving its maximum of \(max) listeners"
        case let .bandwidthLimit(needed, limit):
            return "relay bandwidth: one more listener needs \(needed) kbit/s in total, limit is \(limit) kbit/s"
        case .closed: return "relay stopped"
        }
    }
}

/// Counters, read as one snapshot.
public struct StageRelayMetrics: Equatable, Sendable {
    public var listeners: Int
    public var framesIn: UInt64
    public var framesForwarded: UInt64
    public var framesDropped: UInt64
    public var bytesForwarded: UInt64
    public var listenersRefused: UInt64
    /// Measured rate of the incoming stream over its last 50 frames (≈1 s).
    public var streamKilobitsPerSecond: Int
}

/// A subscription handle: the queue to drain and the id to unsubscribe with.
public struct StageRelaySubscription: Sendable {
    public let id: UInt64
    public let queue: StageFrameQueue
}

/// Fans the host's mixed, authenticated stream out to downstream listeners without decoding it
/// (spec §10.7). Used by relays and by the host's own listener fan-out.
public final class StageRelay: Sendable {
    /// A listener whose stream takes frames without waiting (`PeerStreamWriter.enqueue`): served
    /// straight from `ingest`, with no task of its own.
    private struct DirectListener {
        let writer: any PeerStreamWriter
        let done: CheckedContinuation<Void, Never>
    }

    private struct State {
        var queues: [UInt64: StageFrameQueue] = [:]
        var direct: [UInt64: DirectListener] = [:]
        var nextID: UInt64 = 1
        var closed = false
        /// Byte sizes of the last 50 frames: the measured stream rate.
        var recentSizes = [Int](repeating: 0, count: 50)
        var recentIndex = 0
        var recentTotal = 0
        var recentFilled = 0
    }
    private let state = Mutex(State())
    public let limits: StageRelayLimits
    private let framesIn = Atomic<UInt64>(0)
    private let framesForwarded = Atomic<UInt64>(0)
    private let framesDropped = Atomic<UInt64>(0)
    private let bytesForwarded = Atomic<UInt64>(0)
    private let refused = Atomic<UInt64>(0)

    public init(limits: StageRelayLimits = StageRelayLimits()) {
        self.limits = limits
    }

    private static func streamKbps(_ s: State, assumed: Int) -> Int {
        guard s.recentFilled == s.recentSizes.count else { return assumed }
        return s.recentTotal * 8 / 1_000
    }

    /// Adds a listener, or refuses it when the listener or bandwidth cap would be exceeded.
    public func subscribe() throws(StageRelayRefusal) -> StageRelaySubscription {
        let result: Result<StageRelaySubscription, StageRelayRefusal> = state.withLock { s in
            guard !s.closed else { return .failure(.closed) }
            guard s.queues.count < limits.maxListeners else { return .failure(.listenerLimit(max: limits.maxListeners)) }
            let perListener = max(Self.streamKbps(s, assumed: limits.assumedStreamKilobitsPerSecond), 1)
            let needed = perListener * (s.queues.count + 1)
            guard needed <= limits.maxKilobitsPerSecond else {
                return .failure(.bandwidthLimit(neededKbps: needed, limitKbps: limits.maxKilobitsPerSecond))
            }
            let id = s.nextID
            s.nextID += 1
            let queue = StageFrameQueue(capacity: limits.queueFrames)
            s.queues[id] = queue
            return .success(StageRelaySubscription(id: id, queue: queue))
        }
        switch result {
        case .success(let subscription): return subscription
        case .failure(let refusal):
            refused.add(1, ordering: .relaxed)
            throw refusal
        }
    }

    public func unsubscribe(_ id: UInt64) {
        let (queue, direct) = state.withLock { ($0.queues.removeValue(forKey: id), $0.direct.removeValue(forKey: id)) }
        queue?.close()
        direct?.done.resume()
    }

    /// One complete frame from upstream, to every downstream queue.
    public func ingest(_ frame: [UInt8]) {
        framesIn.add(1, ordering: .relaxed)
        var drops: UInt64 = 0, forwarded: UInt64 = 0
        let ended: [DirectListener] = state.withLock { s in
            s.recentTotal += frame.count - s.recentSizes[s.recentIndex]
            s.recentSizes[s.recentIndex] = frame.count
            s.recentIndex = (s.recentIndex + 1) % s.recentSizes.count
            s.recentFilled = min(s.recentFilled + 1, s.recentSizes.count)
            for (id, queue) in s.queues where s.direct[id] == nil && queue.push(frame) { drops += 1 }
            // Direct listeners: handed to their transport right here. A full stream (slow
            // listener) skips this frame, as the queue would have dropped its oldest.
            var gone: [UInt64] = []
            for (id, listener) in s.direct {
                switch listener.writer.enqueue(frame) {
                case .queued: forwarded += 1
                case .full: drops += 1
                case .closed: gone.append(id)
                }
            }
            return gone.compactMap { id in
                s.queues.removeValue(forKey: id)?.close()
                return s.direct.removeValue(forKey: id)
            }
        }
        if drops > 0 { framesDropped.add(drops, ordering: .relaxed) }
        if forwarded > 0 {
            framesForwarded.add(forwarded, ordering: .relaxed)
            bytesForwarded.add(forwarded * UInt64(frame.count), ordering: .relaxed)
        }
        for listener in ended { listener.done.resume() }
    }

    /// Counts a frame handed to a downstream (the serving loop calls this after each write).
    public func recordForwarded(bytes: Int) {
        framesForwarded.add(1, ordering: .relaxed)
        bytesForwarded.add(UInt64(bytes), ordering: .relaxed)
    }

    /// Serves `subscription` on `writer` until the listener is unsubscribed, the relay closes or
    /// the stream fails: from `ingest` itself when the writer can `enqueue` (no task per listener,
    /// the relay's fan-out path over QUIC), else by draining its queue here.
    public func serve(_ subscription: StageRelaySubscription, to writer: any PeerStreamWriter) async {
        if writer.supportsEnqueue {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let registered = state.withLock { s -> Bool in
                    guard !s.closed, s.queues[subscription.id] != nil else { return false }
                    s.direct[subscription.id] = DirectListener(writer: writer, done: done)
                    return true
                }
                if !registered { done.resume() }
            }
            unsubscribe(subscription.id)
            return
        }
        while let frame = await subscription.queue.next() {
            do {
                try await writer.write(frame)
            } catch {
                break
            }
            recordForwarded(bytes: frame.count)
        }
        unsubscribe(subscription.id)
    }

    public var metrics: StageRelayMetrics {
        let (listeners, kbps) = state.withLock { s in (s.queues.count, Self.streamKbps(s, assumed: limits.assumedStreamKilobitsPerSecond)) }
        return StageRelayMetrics(listeners: listeners, framesIn: framesIn.load(ordering: .relaxed),
                                 framesForwarded: framesForwarded.load(ordering: .relaxed),
                                 framesDropped: framesDropped.load(ordering: .relaxed),
                                 bytesForwarded: bytesForwarded.load(ordering: .relaxed),
                                 listenersRefused: refused.load(ordering: .relaxed), streamKilobitsPerSecond: kbps)
    }

    /// Stops: every downstream queue closes (their serving loops end).
    public func close() {
        let (queues, direct) = state.withLock { s in
            s.closed = true
            defer {
                s.queues.removeAll()
                s.direct.removeAll()
            }
            return (Array(s.queues.values), Array(s.direct.values))
        }
        for queue in queues { queue.close() }
        for listener in direct { listener.done.resume() }
    }
}
