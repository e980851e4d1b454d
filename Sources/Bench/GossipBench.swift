import ArgumentParser
import Core
import Foundation
import Synchronization
import Transport

/// `proscenium-bench gossip`: how fast a node ingests feed messages (JSON decode, validation,
/// Ed25519 verification through the cached delegation, SQLite storage), and how long a broadcast
/// takes to reach every node of a 12-node swarm of our endpoints on loopback QUIC.
/// Run the fan-out part inside a loopback-only namespace: `unshare -n sh -c 'ip link set lo up && …'`.
struct GossipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip",
        abstract: "Feed ingest rate (verify + store) and 12-node gossip fan-out latency."
    )

    @Option(help: "Posts to ingest.")
    var posts = 5_000

    @Option(help: "Broadcasts for the fan-out measurement.")
    var broadcasts = 200

    @Option(help: "Nodes in the swarm.")
    var nodes = 12

    func run() throws {
        try ingest()
        let semaphore = DispatchSemaphore(value: 0)
        let failure = FailureSlot()
        let (nodes, broadcasts) = (self.nodes, self.broadcasts)
        Task {
            do { try await GossipFanOut.measure(nodes: nodes, broadcasts: broadcasts) } catch { failure.error.withLock { $0 = error } }
            semaphore.signal()
        }
        semaphore.wait()
        if let error = failure.error.withLock({ $0 }) { throw error }
    }

    /// Signed posts from a followed author, as gossip payloads, into a file-backed database.
    private func ingest() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("psc-gossip-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try AppDatabase.open(directory: directory)
        let me = try NodeIdentity(masterSeed: SecretBytes(SecureRandom.bytes(32)))
        let author = try NodeIdentity(masterSeed: SecretBytes(SecureRandom.bytes(32)))
        let clock = SystemWallClock()
        let cache = DelegationCache(database: database, clock: clock)
        _ = try cache.cache(author.delegation(issuedAt: clock.nowMillis()), transportIDs: [author.transportID.hex])
        let pipeline = SocialPipeline(me: me.masterPublicKey.hex, store: SocialStore(database: database), directory: cache,
                                      metrics: SocialMetrics(), logger: Logger(label: "bench", sink: MemoryLogSink(minimumLevel: .error)),
                                      clock: clock)
        let payloads: [[UInt8]] = try (0..<posts).map { index in
            var post = Post(id: RandomID.generate(), author: author.masterPublicKey.hex,
                            content: "bench post \(index) #proscenium with some text to make it a realistic size",
                            timestamp: clock.nowMillis(), media: [], replyTo: nil, replyToAuthor: nil, quoteOf: nil, quoteOfAuthor: nil)
            post.sign(with: author.signingKey)
            return try GossipMessage.newPost(post).wireBytes()
        }
        let start = MonotonicClock.nanoseconds()
        for payload in payloads { _ = pipeline.receiveGossip(payload, topicOwner: author.masterPublicKey.hex) }
        let seconds = Double(MonotonicClock.nanoseconds() - start) / 1e9
        let stored = try SocialStore(database: database).postCount(author: author.masterPublicKey.hex)
        print(String(format: "ingest: %d signed posts (decode + validate + verify + store, file database, WAL) in %.2f s = %.0f messages/s; %d stored",
                     posts, seconds, Double(posts) / seconds, Int(stored)))
    }
}

final class FailureSlot: Sendable {
    let error = Mutex<(any Error)?>(nil)
}

/// Per node, when each payload arrived (monotonic ns).
final class ArrivalLog: Sendable {
    let times = Mutex<[Int: [String: UInt64]]>([:])
}

enum GossipFanOut {
    static func measure(nodes count: Int, broadcasts: Int) async throws {
        let topic = try TopicID(bytes: SHA256.hash("proscenium-bench-gossip"))
        var endpoints: [Endpoint] = []
        var services: [GossipService] = []
        let arrivals = ArrivalLog()
        var listeners: [Task<Void, Never>] = []
        for index in 0..<count {
            var config = EndpointConfig()
            config.bindAddress = try SocketAddress("127.0.0.1:0")
            let handler = DeferredProtocolHandler()
            let endpoint = try Endpoint(secretKey: .generate(), config: config, router: Router().adding(alpn: GossipWire.alpn, handler: handler))
            let service = GossipService(me: endpoint.id, dialer: QUICPeerDialer(endpoint: endpoint))
            handler.bind(service)
            var bootstrap: [EndpointID] = []
            if index > 0 {
                let contact = Int.random(in: 0..<index)
                await service.addAddress(PeerAddress(id: endpoints[contact].id, directAddresses: [endpoints[contact].localAddress.description]))
                bootstrap = [endpoints[contact].id]
            }
            let subscription = await service.subscribe(topic: topic, bootstrap: bootstrap)
            listeners.append(Task {
                for await event in subscription.events {
                    guard case let .received(content, _, _) = event else { continue }
                    let now = MonotonicClock.nanoseconds()
                    arrivals.times.withLock { $0[index, default: [:]][String(decoding: content, as: UTF8.self)] = now }
                }
            })
            endpoints.append(endpoint)
            services.append(service)
        }
        let deadline = MonotonicClock.nanoseconds() + 20_000_000_000
        while MonotonicClock.nanoseconds() < deadline {
            var ready = true
            for service in services where await service.neighbors(topic: topic).isEmpty { ready = false }
            if ready { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        var sent: [(payload: String, origin: Int, at: UInt64)] = []
        for number in 0..<broadcasts {
            let origin = Int.random(in: 0..<count)
            let payload = "fan-out \(number)"
            sent.append((payload, origin, MonotonicClock.nanoseconds()))
            try await services[origin].broadcast(topic: topic, content: Array(payload.utf8))
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .seconds(2))
        let seen = arrivals.times.withLock { $0 }
        var latencies: [Double] = []
        var missing = 0
        for item in sent {
            for node in 0..<count where node != item.origin {
                if let at = seen[node]?[item.payload] { latencies.append(Double(at - min(at, item.at)) / 1e6) } else { missing += 1 }
            }
        }
        latencies.sort()
        let expected = broadcasts * (count - 1)
        print(String(format: "fan-out across %d nodes (loopback QUIC): %d/%d deliveries; latency broadcast → node median %.2f ms, p99 %.2f ms, max %.2f ms",
                     count, expected - missing, expected,
                     latencies.isEmpty ? 0 : latencies[latencies.count / 2],
                     latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, latencies.count * 99 / 100)],
                     latencies.last ?? 0))
        for task in listeners { task.cancel() }
        for service in services { await service.shutdown() }
        for endpoint in endpoints { await endpoint.close() }
    }
}
