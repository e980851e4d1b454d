import Core
#if canImport(Glibc)
import Glibc
#endif

enum SocketAddressText {
    /// "HOST:PORT" / "[v6]:PORT" of a bound socket.
    static func local(of fd: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let named = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard named == 0 else { return nil }
        let hostText = cText(host), port = cText(service)
        return hostText.contains(":") ? "[\(hostText)]:\(port)" : "\(hostText):\(port)"
    }
}

/// A NUL-terminated C character buffer as a String.
func cText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Binding IPv4/IPv6/host-name addresses for UDP and TCP.
enum InetSocket {
    /// Synchronous and outside any actor: Swift 6.0.3's region checker crashes on a `defer` inside an
    /// async actor method.
    static func bind(_ listen: HostPort, type: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = type
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(listen.host, String(listen.port), &hints, &result)
        guard rc == 0, let info = result else {
            throw AdminCommandError("cannot resolve listen address \(listen): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let socketFD = socket(info.pointee.ai_family, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw AdminCommandError("socket(): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        if type == Int32(SOCK_STREAM.rawValue) {
            setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        guard Glibc.bind(socketFD, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            close(socketFD)
            throw AdminCommandError("cannot bind \(listen): \(reason)")
        }
        return socketFD
    }
}
