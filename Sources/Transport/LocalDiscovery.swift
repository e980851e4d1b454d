import Core
import CQUIC
import Foundation
import Synchronization

/// LAN discovery compatible with iroh 0.9x's mDNS address lookup (swarm-discovery, service
/// `_irohv1._udp.local.`; iroh-wire.md §5.1). Periodically asks for the service (PTR query) and
/// answers such queries with one SRV record `<base32 id>._irohv1._udp.local.` per port, targeting
/// `<base32 id>-<port>.local.`, plus A/AAAA records for that target. TTL 0, as swarm-discovery does.
/// IPv4 multicast (224.0.0.251:5353) only. Runs its own small thread; `close()` stops it.
public final class LocalDiscovery: Sendable {
    public static let defaultService = "irohv1"

    private let state: Mutex<State>
    private let fd: Int32
    private let wakeFD: Int32
    private let stopped = Atomic<Bool>(false)
    private let ownLabel: String
    private let serviceName: [String]
    private let advertised: [SocketAddress]
    private let queryInterval: Duration
    private let expiry: Duration

    private struct State {
        var peers: [String: (addrs: Set<SocketAddress>, seen: ContinuousClock.Instant)] = [:]
        var waiters: [(label: String, cont: CheckedContinuation<EndpointAddr?, Never>, id: Int)] = []
        var nextWaiter = 0
    }

    /// Advertises `addresses` (unspecified addresses should be expanded by the caller, e.g. with
    /// `Endpoint.localAddresses()`) for `id`, and listens for others.
    public init(id: EndpointId, addresses: [SocketAddress], service: String = LocalDiscovery.defaultService,
                queryInterval: Duration = .milliseconds(700), expiry: Duration = .seconds(10)) throws(TransportError) {
        ownLabel = Base32.encode(id.bytes)
        serviceName = ["_" + service, "_udp", "local"]
        advertised = addresses.filter { !$0.isUnspecified && !$0.isIPv6LinkLocal }
        self.queryInterval = queryInterval
        self.expiry = expiry
        state = Mutex(State())
        var err = [CChar](repeating: 0, count: 256)
        let sock = cquic_mdns_socket(&err, err.count)
        guard sock >= 0 else { throw .socket("mDNS socket: \(errorText(err))") }
        fd = sock
        wakeFD = cquic_eventfd()
        let thread = Thread { [self] in self.run() }
        thread.name = "mdns"
        thread.start()
    }

    deinit {
        cquic_close_fd(fd)
        cquic_close_fd(wakeFD)
    }

    public func close() {
        stopped.store(true, ordering: .releasing)
        cquic_eventfd_signal(wakeFD)
        let waiters = state.withLock { s -> [CheckedContinuation<EndpointAddr?, Never>] in
            defer { s.waiters = [] }
            return s.waiters.map(\.cont)
        }
        for w in waiters { w.resume(returning: nil) }
    }

    /// Endpoints heard from within the expiry window.
    public func discovered() -> [EndpointAddr] {
        let now = ContinuousClock.now
        return state.withLock { s in
            s.peers.compactMap { label, entry in
                guard now - entry.seen < expiry, let id = LocalDiscovery.id(fromLabel: label) else { return nil }
                return EndpointAddr(id: id, ipAddresses: Array(entry.addrs))
            }
        }
    }

    /// Waits until `id` is heard from (or `timeout` passes).
    public func waitFor(_ id: EndpointId, timeout: Duration = .seconds(10)) async -> EndpointAddr? {
        let label = Base32.encode(id.bytes)
        if let found = discovered().first(where: { $0.id == id }) { return found }
        let ticket = state.withLock { s -> Int in s.nextWaiter += 1; return s.nextWaiter }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let cont = self.state.withLock { s -> CheckedContinuation<EndpointAddr?, Never>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == ticket }) else { return nil }
                return s.waiters.remove(at: i).cont
            }
            cont?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { (cont: CheckedContinuation<EndpointAddr?, Never>) in
            let immediate = state.withLock { s -> EndpointAddr?? in
                if let entry = s.peers[label] { return .some(EndpointAddr(id: id, ipAddresses: Array(entry.addrs))) }
                s.waiters.append((label, cont, ticket))
                return .none
            }
            if let immediate { cont.resume(returning: immediate) }
        }
    }

    static func id(fromLabel label: String) -> EndpointId? {
        guard label.utf8.count == 52, let bytes = Base32.decode(label), bytes.count == 32 else { return nil }
        return try? EndpointId(bytes: bytes)
    }

    // MARK: network thread

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 9000)
        var nextQuery = ContinuousClock.now
        while !stopped.load(ordering: .acquiring) {
            let now = ContinuousClock.now
            if now >= nextQuery {
                send(DNSMessage.query(service: serviceName))
                // Jitter keeps several nodes from querying in lockstep.
                let jitter = Duration.milliseconds(Int.random(in: 0...300))
                nextQuery = now + queryInterval + jitter
            }
            let waitMS = Int32(max(1, min(1000, (nextQuery - now).components.seconds * 1000 + (nextQuery - now).components.attoseconds / 1_000_000_000_000_000)))
            var from = sockaddr_storage()
            var fromLength = socklen_t(0)
            let ready = cquic_wait_readable(fd, wakeFD, waitMS)
            if ready <= 0 { continue }
            while true {
                let n = buffer.withUnsafeMutableBufferPointer { cquic_recv(fd, $0.baseAddress!, $0.count, &from, &fromLength) }
                if n < 0 { break }
                handle(Array(buffer.prefix(n)))
            }
        }
    }

    private func send(_ message: [UInt8]) {
        _ = message.withUnsafeBufferPointer { cquic_mdns_send(fd, $0.baseAddress, $0.count) }
    }

    private func handle(_ packet: [UInt8]) {
        guard let message = try? DNSMessage(parsing: packet) else { return }
        if !message.isResponse {
            if message.questions.contains(where: { $0.type == DNSMessage.ptr && $0.name.map { $0.lowercased() } == serviceName.map { $0.lowercased() } }),
               !advertised.isEmpty {
                send(DNSMessage.response(label: ownLabel, service: serviceName, addresses: advertised))
            }
            return
        }
        // SRV answers name the peer and its port; A/AAAA additionals give addresses of the target.
        var targets: [String: [(port: UInt16, label: String)]] = [:]
        for record in message.answers where record.type == DNSMessage.srv {
            guard record.name.count == serviceName.count + 1,
                  Array(record.name.dropFirst()).map({ $0.lowercased() }) == serviceName.map({ $0.lowercased() }),
                  let srv = record.srv else { continue }
            let label = record.name[0].lowercased()
            guard label != ownLabel else { continue }
            targets[srv.target.joined(separator: ".").lowercased(), default: []].append((srv.port, label))
        }
        guard !targets.isEmpty else { return }
        var found: [String: Set<SocketAddress>] = [:]
        for record in message.additionals {
            guard let entries = targets[record.name.joined(separator: ".").lowercased()] else { continue }
            for (port, label) in entries {
                let address: SocketAddress?
                if record.type == DNSMessage.a, record.data.count == 4 { address = try? SocketAddress(ipv4: record.data, port: port) }
                else if record.type == DNSMessage.aaaa, record.data.count == 16 { address = try? SocketAddress(ipv6: record.data, port: port) }
                else { address = nil }
                if let address { found[label, default: []].insert(address) }
            }
        }
        let now = ContinuousClock.now
        var ready: [(CheckedContinuation<EndpointAddr?, Never>, EndpointAddr)] = []
        state.withLock { s in
            for (label, addrs) in found where LocalDiscovery.id(fromLabel: label) != nil {
                s.peers[label] = (addrs, now)
                while let i = s.waiters.firstIndex(where: { $0.label == label }) {
                    let waiter = s.waiters.remove(at: i)
                    ready.append((waiter.cont, EndpointAddr(id: LocalDiscovery.id(fromLabel: label)!, ipAddresses: Array(addrs))))
                }
            }
        }
        for (cont, addr) in ready { cont.resume(returning: addr) }
    }
}

/// The DNS message subset mDNS discovery needs (RFC 1035 wire format with name compression).
struct DNSMessage {
    static let a: UInt16 = 1, ptr: UInt16 = 12, txt: UInt16 = 16, aaaa: UInt16 = 28, srv: UInt16 = 33

    struct Question { let name: [String]; let type: UInt16 }
    struct Record {
        let name: [String]
        let type: UInt16
        let data: [UInt8]
        /// Decoded SRV target (names inside rdata may be compressed against the whole message).
        var srv: (port: UInt16, target: [String])?
    }

    var isResponse = false
    var questions: [Question] = []
    var answers: [Record] = []
    var additionals: [Record] = []

    struct Malformed: Error {}

    init(parsing bytes: [UInt8]) throws {
        guard bytes.count >= 12 else { throw Malformed() }
        func u16(_ at: Int) throws -> UInt16 {
            guard at + 2 <= bytes.count else { throw Malformed() }
            return UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
        }
        isResponse = bytes[2] & 0x80 != 0
        let qd = Int(try u16(4)), an = Int(try u16(6)), ns = Int(try u16(8)), ar = Int(try u16(10))
        guard qd + an + ns + ar <= 512 else { throw Malformed() }
        var offset = 12
        func name(at start: Int) throws -> (labels: [String], end: Int) {
            var labels: [String] = []
            var position = start
            var end: Int?
            var jumps = 0
            while true {
                guard position < bytes.count else { throw Malformed() }
                let length = Int(bytes[position])
                if length == 0 {
                    return (labels, end ?? position + 1)
                } else if length & 0xc0 == 0xc0 {
                    guard position + 1 < bytes.count, jumps < 32 else { throw Malformed() }
                    if end == nil { end = position + 2 }
                    position = (length & 0x3f) << 8 | Int(bytes[position + 1])
                    jumps += 1
                } else {
                    guard length <= 63, position + 1 + length <= bytes.count, labels.count < 128 else { throw Malformed() }
                    labels.append(String(decoding: bytes[(position + 1)...(position + length)], as: UTF8.self))
                    position += 1 + length
                }
            }
        }
        for _ in 0..<qd {
            let (labels, end) = try name(at: offset)
            questions.append(Question(name: labels, type: try u16(end)))
            offset = end + 4
        }
        func record() throws -> Record {
            let (labels, end) = try name(at: offset)
            let type = try u16(end)
            let length = Int(try u16(end + 8))
            let dataStart = end + 10
            guard dataStart + length <= bytes.count else { throw Malformed() }
            var r = Record(name: labels, type: type, data: Array(bytes[dataStart..<dataStart + length]), srv: nil)
            if type == DNSMessage.srv, length >= 7 {
                r.srv = (try u16(dataStart + 4), try name(at: dataStart + 6).labels)
            }
            offset = dataStart + length
            return r
        }
        for _ in 0..<an { answers.append(try record()) }
        for _ in 0..<ns { _ = try record() }
        for _ in 0..<ar { additionals.append(try record()) }
    }

    private static func encode(name: [String], into out: inout [UInt8]) {
        for label in name {
            let bytes = Array(label.utf8.prefix(63))
            out.append(UInt8(bytes.count))
            out += bytes
        }
        out.append(0)
    }

    private static func header(id: UInt16 = 0, flags: UInt16, qd: Int, an: Int, ar: Int) -> [UInt8] {
        [UInt8(id >> 8), UInt8(id & 0xff), UInt8(flags >> 8), UInt8(flags & 0xff),
         0, UInt8(qd), UInt8(an >> 8), UInt8(an & 0xff), 0, 0, UInt8(ar >> 8), UInt8(ar & 0xff)]
    }

    static func query(service: [String]) -> [UInt8] {
        var out = header(flags: 0, qd: 1, an: 0, ar: 0)
        encode(name: service, into: &out)
        out += [0, UInt8(ptr), 0, 1]  // type PTR, class IN
        return out
    }

    /// One SRV answer per port, A/AAAA additionals for each `<label>-<port>.local.` target.
    static func response(label: String, service: [String], addresses: [SocketAddress]) -> [UInt8] {
        let byPort = Dictionary(grouping: addresses, by: \.port)
        var answers: [UInt8] = []
        var additionals: [UInt8] = []
        var additionalCount = 0
        for port in byPort.keys.sorted() {
            let target = ["\(label)-\(port)", "local"]
            var rdata: [UInt8] = [0, 0, 0, 0, UInt8(port >> 8), UInt8(port & 0xff)]
            encode(name: target, into: &rdata)
            encode(name: [label] + service, into: &answers)
            answers += [0, UInt8(srv), 0, 1, 0, 0, 0, 0, UInt8(rdata.count >> 8), UInt8(rdata.count & 0xff)] + rdata
            for address in byPort[port]! {
                encode(name: target, into: &additionals)
                let type = address.isIPv4 ? a : aaaa
                additionals += [0, UInt8(type), 0, 1, 0, 0, 0, 0, 0, UInt8(address.ip.count)] + address.ip
                additionalCount += 1
            }
        }
        return header(flags: 0x8400, qd: 0, an: byPort.count, ar: additionalCount) + answers + additionals
    }
}
