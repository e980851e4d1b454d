import Core
import CQUIC
import Foundation

/// ALPN → handler (Core's `ProtocolHandler`, one per ALPN, as in iroh). Each accepted connection is
/// handed over as a `QUICPeerConnection` in its own task; it closes (code 0) once `accept` has
/// returned and nothing else references it or its streams. Incoming connections whose ALPN is not
/// registered fail the TLS handshake (no_application_protocol). An empty router makes the endpoint
/// client-only.
public struct Router: Sendable {
    public private(set) var handlers: [String: any ProtocolHandler] = [:]

    public init() {}

    public mutating func register(alpn: String, handler: any ProtocolHandler) {
        handlers[alpn] = handler
    }

    public func adding(alpn: String, handler: any ProtocolHandler) -> Router {
        var copy = self
        copy.register(alpn: alpn, handler: handler)
        return copy
    }

    var alpns: [String] { handlers.keys.sorted() }
}

/// Endpoint settings. Defaults match what iroh offers (30 s idle, 100 streams each way).
public struct EndpointConfig: Sendable {
    /// nil: `[::]:0` dual-stack (falls back to `0.0.0.0:0` without IPv6).
    public var bindAddress: SocketAddress?
    public var maxConnections: Int = 1024
    public var idleTimeout: Duration = .seconds(30)
    /// PING after this much silence, so idle connections survive the idle timeout.
    public var keepAliveInterval: Duration = .seconds(5)
    /// Concurrent peer-initiated streams per connection, per direction kind.
    public var maxConcurrentStreams: UInt64 = 100
    /// Initial per-stream receive window; credit is only returned as the application reads.
    public var streamReceiveWindow: UInt64 = 1 << 20
    /// Ceiling for ngtcp2's window auto-tuning = most bytes buffered per received stream.
    public var maxStreamReceiveWindow: UInt64 = 4 << 20
    public var connectionReceiveWindow: UInt64 = 4 << 20
    public var maxConnectionReceiveWindow: UInt64 = 16 << 20
    /// Unacknowledged bytes a stream may hold before `write` suspends.
    public var streamSendBuffer: Int = 1 << 20
    /// Received datagrams kept for `receiveDatagram`; older ones are dropped beyond this.
    public var datagramReceiveQueue: Int = 256
    /// Requested SO_RCVBUF / SO_SNDBUF.
    public var socketBufferSize: Int = 4 << 20
    public var logger: Logger?

    public init() {}
}

/// An iroh-compatible QUIC endpoint: one UDP socket, one network thread, many connections.
/// Identified by its Ed25519 key. Dropping the last reference closes it.
public final class Endpoint: Sendable {
    public let id: EndpointId
    /// The bound socket address (port resolved).
    public let localAddress: SocketAddress
    let core: EndpointCore

    public init(secretKey: Ed25519.SecretKey, config: EndpointConfig = EndpointConfig(), router: Router = Router()) throws(TransportError) {
        core = try EndpointCore(secretKey: secretKey, config: config, router: router)
        id = secretKey.publicKey
        localAddress = core.localAddress
        core.start()
    }

    deinit {
        core.stop(completion: nil)
    }

    /// Our address as a dialler would need it: every local interface address with our port
    /// when bound to a wildcard address.
    public var addr: EndpointAddr {
        EndpointAddr(id: id, ipAddresses: localAddresses())
    }

    public func localAddresses() -> [SocketAddress] {
        guard localAddress.isUnspecified else { return [localAddress] }
        return InterfaceAddresses.current(includeIPv6: !localAddress.isIPv4 && core.family == AF_INET6)
            .compactMap { ip in
                ip.count == 4 ? try? SocketAddress(ipv4: ip, port: localAddress.port)
                              : try? SocketAddress(ipv6: ip, port: localAddress.port)
            }
            .filter { !$0.isIPv6LinkLocal }
    }

    /// Dials `addr`'s IP addresses in order until one completes the handshake. The server's
    /// raw key must equal `addr.id`.
    public func connect(to addr: EndpointAddr, alpn: String, timeout: Duration = .seconds(10)) async throws -> Connection {
        guard !alpn.isEmpty, alpn.utf8.count <= 255 else { throw TransportError.invalidALPN("'\(alpn)' must be 1...255 bytes") }
        let targets = addr.ipAddresses.filter { core.family == AF_INET6 || $0.isIPv4 }
        guard !targets.isEmpty else {
            throw TransportError.connectFailed("no usable IP address for \(addr.id.hex) in \(addr.addrs)")
        }
        var lastError: Error = TransportError.connectFailed("no address tried")
        for target in targets {
            do {
                return try await connect(to: target, id: addr.id, alpn: alpn, timeout: timeout)
            } catch let error as TransportError {
                lastError = error
                // A peer that answered and refused (wrong key, ALPN) won't accept on another address.
                if case .connectionClosed(let reason) = error {
                    switch reason {
                    case .handshakeTimeout, .idleTimeout, .reset: continue
                    default: throw error
                    }
                }
            }
        }
        throw lastError
    }

    /// Dials the addresses in an `endpoint…` ticket.
    public func connect(to ticket: EndpointTicket, alpn: String, timeout: Duration = .seconds(10)) async throws -> Connection {
        try await connect(to: ticket.addr, alpn: alpn, timeout: timeout)
    }

    /// Dials one socket address.
    public func connect(to address: SocketAddress, id: EndpointId, alpn: String, timeout: Duration = .seconds(10)) async throws -> Connection {
        let core = self.core
        let timeoutMS = UInt64(max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        let holder = CoreHolder()
        return try await suspend(on: core, { waiter in
            core.startClient(to: address, id: id, alpn: alpn, handshakeTimeoutMS: timeoutMS, continuation: waiter, holder: holder)
        }, sweep: { holder.core?.sweepCancelled() })
    }

    /// Closes every connection (application code 0) and stops the network thread.
    public func close() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            core.stop { cont.resume() }
        }
    }

    /// Number of live connections (diagnostics, tests).
    public func connectionCount() async throws -> Int {
        let core = self.core
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int, Error>) in
            core.submitOrFail(cont) { cont.resume(returning: core.connections.count) }
        }
    }

    /// Effective kernel socket buffer sizes (receive, send).
    public var socketBufferSizes: (receive: Int, send: Int) {
        var r: Int32 = 0, s: Int32 = 0
        cquic_socket_buffers(core.fd, &r, &s)
        return (Int(r), Int(s))
    }
}

/// Local interface addresses (getifaddrs), for advertising a wildcard-bound endpoint.
enum InterfaceAddresses {
    static func current(includeIPv6: Bool) -> [[UInt8]] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(head) }
        var result: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr, (entry.pointee.ifa_flags & UInt32(IFF_UP)) != 0 else { continue }
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                let sin = UnsafeRawPointer(sa).load(as: sockaddr_in.self)
                result.append(withUnsafeBytes(of: sin.sin_addr) { Array($0) })
            case AF_INET6 where includeIPv6:
                let sin6 = UnsafeRawPointer(sa).load(as: sockaddr_in6.self)
                result.append(withUnsafeBytes(of: sin6.sin6_addr) { Array($0) })
            default:
                break
            }
        }
        return Array(Set(result)).sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
    }
}
