import ArgumentParser
import Core
import Foundation
import Transport

/// `proscenium-bench transport`: ours→ours bulk throughput, handshake latency and memory per idle
/// connection over loopback. Refuses to run outside a loopback-only network namespace.
struct TransportBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "QUIC endpoint figures (run as: unshare -n sh -c 'ip link set lo up && proscenium-bench transport')."
    )

    @Option(help: "MiB moved one way for the throughput figure.") var megabytes = 256
    @Option(help: "Handshakes timed for median/p99.") var handshakes = 200
    @Option(help: "Idle connections held for the memory figure.") var idleConnections = 1000

    func run() throws {
        let text = (try? String(contentsOfFile: "/proc/net/dev", encoding: .utf8)) ?? ""
        let interfaces = text.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        guard !interfaces.isEmpty, interfaces.allSatisfy({ $0 == "lo" }) else {
            throw ValidationError("interfaces \(interfaces) besides lo are visible; run inside `unshare -n`")
        }
        let (megabytes, handshakes, idle) = (self.megabytes, self.handshakes, self.idleConnections)
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do { try await TransportBenchRun.run(megabytes: megabytes, handshakes: handshakes, idleConnections: idle) } catch { failure.set("\(error)") }
            done.signal()
        }
        done.wait()
        if let message = failure.message { throw ValidationError(message) }
    }
}

private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    func set(_ m: String) { lock.lock(); stored = m; lock.unlock() }
    var message: String? { lock.lock(); defer { lock.unlock() }; return stored }
}

private struct Sink: ProtocolHandler {
    func accept(_ connection: Connection) async {
        while let stream = try? await connection.acceptBidirectionalStream() {
            Task {
                var total = 0
                while let chunk = try? await stream.receive.read(max: 1 << 20) { total += chunk.count }
                try? await stream.send.write(Array(String(total).utf8))
                try? await stream.send.finish()
            }
        }
    }
}

enum TransportBenchRun {
    static let alpn = "proscenium/bench/1"

    static func endpoint(router: Router = Router()) throws -> Endpoint {
        var config = EndpointConfig()
        config.bindAddress = try SocketAddress("127.0.0.1:0")
        config.maxConnections = 4096
        return try Endpoint(secretKey: .generate(), config: config, router: router)
    }

    static func run(megabytes: Int, handshakes: Int, idleConnections: Int) async throws {
        let server = try endpoint(router: Router().adding(alpn: alpn, handler: Sink()))
        let client = try endpoint()
        print("socket buffers (rcv, snd): \(server.socketBufferSizes)")

        // Bulk: one stream, `megabytes` MiB client → server.
        let connection = try await client.connect(to: server.addr, alpn: alpn)
        let stream = try await connection.openBidirectionalStream()
        let block = [UInt8](repeating: 0x5a, count: 1 << 20)
        let start = ContinuousClock.now
        for _ in 0..<megabytes { try await stream.send.write(block) }
        try await stream.send.finish()
        let ack = try await stream.receive.readToEnd(limit: 64)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "bulk ours->ours: %d MiB in %.2f s = %.1f MB/s (server counted %@ bytes)",
                     megabytes, seconds, Double(megabytes << 20) / seconds / 1e6, String(decoding: ack, as: UTF8.self)))
        await connection.close()

        // Handshakes: sequential connect + close.
        var samples: [Double] = []
        for _ in 0..<handshakes {
            let t0 = ContinuousClock.now
            let c = try await client.connect(to: server.addr, alpn: alpn)
            let d = ContinuousClock.now - t0
            samples.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            await c.close()
        }
        samples.sort()
        print(String(format: "handshake: median %.2f ms, p99 %.2f ms (%d samples)",
                     samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)], samples.count))

        // Memory: RSS before and after opening idle connections.
        let before = residentKiB()
        var held: [Connection] = []
        for _ in 0..<idleConnections { held.append(try await client.connect(to: server.addr, alpn: alpn)) }
        try await Task.sleep(for: .seconds(1))
        let after = residentKiB()
        print("RSS with \(held.count) idle connections (both ends in this process): \(before) KiB -> \(after) KiB, "
              + "\((after - before) * 1024 / max(1, held.count * 2)) bytes per connection end")
        for c in held { await c.close() }
        await client.close()
        await server.close()
    }

    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
