import Core
import Synchronization

/// STAND-IN until the iroh-gossip service (`/iroh-gossip/1`) is merged: accepts every own feed
/// payload and keeps the newest ones in memory, so SocialService's offline outbox does not grow
/// while followers still get everything by peer/1 sync. Replace it with the gossip service's
/// `FeedPublisher` in `NodeComponents` (one line); nothing else depends on this type.
final class QueuedFeedPublisher: FeedPublisher {
    /// Payloads kept for inspection/hand-over; older ones are dropped.
    static let capacity = 256

    private struct State {
        var queued: [(topic: [UInt8], payload: [UInt8])] = []
        var published = 0
    }

    private let state = Mutex(State())

    init() {}

    func publish(topic: [UInt8], payload: [UInt8]) async throws {
        state.withLock { s in
            s.queued.append((topic, payload))
            if s.queued.count > Self.capacity { s.queued.removeFirst(s.queued.count - Self.capacity) }
            s.published += 1
        }
    }

    /// Payloads handed to us since start (all of them, not only those still kept).
    var publishedCount: Int { state.withLock { $0.published } }
    var queuedCount: Int { state.withLock { $0.queued.count } }

    /// Takes the kept payloads, oldest first (for the gossip service to publish at hand-over).
    func drain() -> [(topic: [UInt8], payload: [UInt8])] {
        state.withLock { s in
            defer { s.queued.removeAll() }
            return s.queued
        }
    }
}
