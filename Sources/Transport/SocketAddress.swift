#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An IPv4 or IPv6 address with a port, ordered like Rust's `SocketAddr` (all V4 before V6, then
/// address bytes, then port) because iroh's address sets are BTreeSets in that order.
public struct SocketAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let ip: [UInt8]
    public let port: UInt16

    public var isIPv4: Bool { ip.count == 4 }

    public init(ipv4: [UInt8], port: UInt16) throws(TransportError) {
        guard ipv4.count == 4 else { throw .invalidAddress("IPv4 address must be 4 bytes, got \(ipv4.count)") }
        ip = ipv4
        self.port = port
    }

    public init(ipv6: [UInt8], port: UInt16) throws(TransportError) {
        guard ipv6.count == 16 else { throw .invalidAddress("IPv6 address must be 16 bytes, got \(ipv6.count)") }
        ip = ipv6
        self.port = port
    }

    /// Parses `1.2.3.4:5` or `[::1]:5`.
    public init(_ text: String) throws(TransportError) {
        let hostPart: String
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw .invalidAddress("'\(text)' is not [ipv6]:port")
            }
            hostPart = String(text[text.index(after: text.startIndex)..<close])
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .invalidAddress("'\(text)' has no port") }
            hostPart = String(text[..<colon])
            portPart = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portPart) else { throw .invalidAddress("'\(text)' has an invalid port") }
        if text.hasPrefix("[") {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, hostPart, &raw) == 1 else { throw .invalidAddress("'\(hostPart)' is not an IPv6 address") }
            ip = withUnsafeBytes(of: &raw) { Array($0) }
        } else {
            var raw = in_addr()
            guard inet_pton(AF_INET, hostPart, &raw) == 1 else { throw .invalidAddress("'\(hostPart)' is not an IPv4 address") }
            ip = withUnsafeBytes(of: &raw) { Array($0) }
        }
        self.port = port
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        if isIPv4 {
            var raw = in_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: ip) }
            _ = inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + ":\(port)"
        }
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: ip) }
        _ = inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
        return "[" + String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "]:\(port)"
    }

    public static func < (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        if lhs.ip.count != rhs.ip.count { return lhs.ip.count < rhs.ip.count }
        if lhs.ip != rhs.ip { return lhs.ip.lexicographicallyPrecedes(rhs.ip) }
        return lhs.port < rhs.port
    }

    static let v4MappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]

    /// Reads a kernel socket address; IPv4-mapped IPv6 addresses come back as IPv4.
    init?(storage: UnsafePointer<sockaddr>, length: socklen_t) {
        switch Int32(storage.pointee.sa_family) {
        case AF_INET:
            guard length >= MemoryLayout<sockaddr_in>.size else { return nil }
            let sin = UnsafeRawPointer(storage).load(as: sockaddr_in.self)
            ip = withUnsafeBytes(of: sin.sin_addr) { Array($0) }
            port = UInt16(bigEndian: sin.sin_port)
        case AF_INET6:
            guard length >= MemoryLayout<sockaddr_in6>.size else { return nil }
            let sin6 = UnsafeRawPointer(storage).load(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
            ip = Array(bytes.prefix(12)) == SocketAddress.v4MappedPrefix ? Array(bytes.suffix(4)) : bytes
            port = UInt16(bigEndian: sin6.sin6_port)
        default:
            return nil
        }
    }

    /// Calls `body` with this address as a sockaddr for a socket of `family` (IPv4 is written
    /// IPv4-mapped for a dual-stack IPv6 socket). `nil` when the family cannot carry it.
    func withSockAddr<R>(family: Int32, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R? {
        if family == AF_INET {
            guard isIPv4 else { return nil }
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: ip) }
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        let bytes = isIPv4 ? SocketAddress.v4MappedPrefix + ip : ip
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &sin6) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    }

    var isUnspecified: Bool { ip.allSatisfy { $0 == 0 } }
    var isIPv6LinkLocal: Bool { !isIPv4 && ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80 }
}
