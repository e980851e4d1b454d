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
    @Option(help: "EndpointConfig.streamSendBuffer in KiB for ours->ours (default: the config's default).")
    var sendBufferKib: Int?
    @Option(help: "EndpointConfig.maxStreamReceiveWindow in KiB for ours->ours (default: the config's default).")
    var receiveWindowKib: Int?

    func run() throws {
        let text = (try? String(contentsOfFile: "/proc/net/dev", encoding: .utf8)) ?? ""
        let interfaces = text.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        guard !interfaces.isEmpty, interfaces.allSatisfy({ $0 == "lo" }) else {
            throw ValidationError("interfaces \(interfaces) besides lo are visible; run inside `unshare -n`")
        }
        let (megabytes, handshakes, idle) = (self.megabytes, self.handshakes, self.idleConnections)
        var tuning = EndpointConfig()
        if let kib = sendBufferKib { tuning.streamSendBuffer = kib << 10 }
        if let kib = receiveWindowKib { tuning.maxStreamReceiveWindow = UInt64(kib) << 10 }
        let tuned = tuning
        try blocking {
            try await TransportBenchRun.run(megabytes: megabytes, handshakes: handshakes, idleConnections: idle, tuning: tuned)
        }
        if FileManager.default.isExecutableFile(atPath: asterPython) {
            try asterDirections()
        } else {
            print("aster directions skipped: \(asterPython) not found")
        }
    }

    @Option(help: "Python of the aster-rpc (iroh 0.97) environment, for the aster directions.")
    var asterPython = (ProcessInfo.processInfo.environment["PROSCENIUM_CACHE"] ?? "/var/tmp/proscenium") + "/venv-aster/bin/python"

    /// ours→aster, aster→ours, aster→aster bulk figures (one stream, `megabytes` MiB).
    private func asterDirections() throws {
        let mib = megabytes
        let sink = try AsterProcess(python: asterPython, arguments: ["sink"])
        defer { sink.stop() }
        let sinkInfo = try sink.readJSONLine()
        guard let sinkID = sinkInfo["id"] as? String, let sinkAddress = sinkInfo["addr"] as? String else {
            throw ValidationError("aster sink did not report its address")
        }
        try blocking {
            let client = try TransportBenchRun.endpoint()
            let addr = EndpointAddr(id: try EndpointId(hex: sinkID), ipAddresses: [try SocketAddress(sinkAddress)])
            let seconds = try await TransportBenchRun.bulk(from: client, to: addr, megabytes: mib)
            print(String(format: "bulk ours->aster: %d MiB in %.2f s = %.1f MB/s", mib, seconds, Double(mib << 20) / seconds / 1e6))
            await client.close()
        }
        let server = try TransportBenchRun.endpoint(router: Router().adding(alpn: TransportBenchRun.alpn, handler: Sink()))
        let source = try AsterProcess(python: asterPython, arguments: ["source", server.id.hex, server.localAddress.description, "\(mib)"])
        defer { source.stop() }
        _ = try source.readJSONLine()
        let toOurs = try source.readJSONLine()
        print(String(format: "bulk aster->ours: %d MiB in %.2f s = %.1f MB/s", mib, toOurs["seconds"] as? Double ?? 0,
                     Double(mib << 20) / (toOurs["seconds"] as? Double ?? 1) / 1e6))
        let pair = try AsterProcess(python: asterPython, arguments: ["source", sinkID, sinkAddress, "\(mib)"])
        defer { pair.stop() }
        _ = try pair.readJSONLine()
        let between = try pair.readJSONLine()
        print(String(format: "bulk aster->aster: %d MiB in %.2f s = %.1f MB/s", mib, between["seconds"] as? Double ?? 0,
                     Double(mib << 20) / (between["seconds"] as? Double ?? 1) / 1e6))
        _ = server
    }
}

/// Runs async work from this synchronous command, on the cooperative pool, and waits for it.
private func blocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let failure = FailureBox()
    Task {
        do { try await body() } catch { failure.set("\(error)") }
        done.signal()
    }
    done.wait()
    if let message = failure.message { throw ValidationError(message) }
}

/// An aster-rpc (iroh 0.97) helper process: "sink" serves the bench ALPN and counts bytes,
/// "source <id> <addr> <MiB>" sends that much on one stream and prints the seconds it took.
private final class AsterProcess {
    let process = Process()
    let output = Pipe()
    private var pending: [UInt8] = []

    init(python: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-u", "-c", AsterProcess.script] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    func readJSONLine() throws -> [String: Any] {
        while true {
            if let nl = pending.firstIndex(of: 10) {
                let line = Array(pending[..<nl])
                pending.removeSubrange(...nl)
                guard let json = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw ValidationError("aster helper printed: \(String(decoding: line, as: UTF8.self))")
                }
                return json
            }
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { throw ValidationError("aster helper exited early") }
            pending += data
        }
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static let script = #"""
import asyncio, json, os, sys, time
import aster._aster as A
ALPN = b"proscenium/bench/1"
async def w(x):
    return await asyncio.ensure_future(x) if hasattr(x, "__await__") or asyncio.isfuture(x) else x
async def main():
    mode = sys.argv[1]
    cfg = A.EndpointConfig(alpns=[ALPN] if mode == "sink" else [], relay_mode="disabled",
                           bind_addr="127.0.0.1:0", portmapper_config="disabled")
    ep = await w(A.create_endpoint_with_config(cfg))
    addr = [a for a in ep.endpoint_addr_info().direct_addresses if a.startswith("127.0.0.1:")][0]
    print(json.dumps({"id": ep.endpoint_id(), "addr": addr}), flush=True)
    if mode == "sink":
        async def serve(conn):
            while True:
                try:
                    s, r = await w(conn.accept_bi())
                except Exception:
                    return
                # One read_to_end: the bytes are received and buffered in Rust, so the figure is
                # iroh's, not Python's per-chunk call overhead.
                total = len(await w(r.read_to_end(1 << 30)))
                await w(s.write_all(str(total).encode()))
                await w(s.finish())
        while True:
            conn = await w(ep.accept())
            asyncio.ensure_future(serve(conn))
    peer_id, peer_addr, mib = sys.argv[2], sys.argv[3], int(sys.argv[4])
    conn = await w(ep.connect_node_addr(A.NodeAddr(peer_id, None, [peer_addr]), ALPN))
    s, r = await w(conn.open_bi())
    block = b"Z" * (1 << 20)
    t0 = time.monotonic()
    for _ in range(mib):
        await w(s.write_all(block))
    await w(s.finish())
    ack = await w(r.read_to_end(64))
    print(json.dumps({"seconds": time.monotonic() - t0, "ack": ack.decode()}), flush=True)
    os._exit(0)
asyncio.run(main())
"""#
}

private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    func set(_ m: String) { lock.lock(); stored = m; lock.unlock() }
    var message: String? { lock.lock(); defer { lock.unlock() }; return stored }
}

private struct Sink: ProtocolHandler {
    func accept(_ peer: any PeerConnection) async {
        guard let connection = (peer as? QUICPeerConnection)?.connection else { return }
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

    static func endpoint(router: Router = Router(), tuning: EndpointConfig = EndpointConfig()) throws -> Endpoint {
        var config = tuning
        config.bindAddress = try SocketAddress("127.0.0.1:0")
        config.maxConnections = 4096
        return try Endpoint(secretKey: .generate(), config: config, router: router)
    }

    static func run(megabytes: Int, handshakes: Int, idleConnections: Int, tuning: EndpointConfig) async throws {
        let server = try endpoint(router: Router().adding(alpn: alpn, handler: Sink()), tuning: tuning)
        let client = try endpoint(tuning: tuning)
        print("socket buffers (rcv, snd): \(server.socketBufferSizes)")

        let seconds = try await bulk(from: client, to: server.addr, megabytes: megabytes)
        print(String(format: "bulk ours->ours: %d MiB in %.2f s = %.1f MB/s", megabytes, seconds, Double(megabytes << 20) / seconds / 1e6))

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

    /// One stream, `megabytes` MiB from `client` to `addr`'s sink; seconds until the sink's count came back.
    static func bulk(from client: Endpoint, to addr: EndpointAddr, megabytes: Int) async throws -> Double {
        let connection = try await client.connect(to: addr, alpn: alpn)
        let stream = try await connection.openBidirectionalStream()
        let block = [UInt8](repeating: 0x5a, count: 1 << 20)
        let start = ContinuousClock.now
        for _ in 0..<megabytes { try await stream.send.write(block) }
        try await stream.send.finish()
        let ack = try await stream.receive.readToEnd(limit: 64)
        let elapsed = ContinuousClock.now - start
        guard String(decoding: ack, as: UTF8.self) == String(megabytes << 20) else {
            throw ValidationError("sink counted \(String(decoding: ack, as: UTF8.self)) bytes, sent \(megabytes << 20)")
        }
        await connection.close()
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
