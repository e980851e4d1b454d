import Core

/// An endpoint's identity: its Ed25519 public key (iroh `EndpointId`).
public typealias EndpointId = Ed25519.PublicKey

/// One way to reach an endpoint (iroh `TransportAddr`, enum order = postcard tag = sort order).
public enum TransportAddr: Hashable, Sendable, Comparable, CustomStringConvertible {
    case relay(String)
    case ip(SocketAddress)
    /// iroh's unstable custom transports; carried through, never dialled.
    case custom(id: UInt64, data: [UInt8])

    private var tag: Int {
        switch self {
        case .relay: return 0
        case .ip: return 1
        case .custom: return 2
        }
    }

    public static func < (lhs: TransportAddr, rhs: TransportAddr) -> Bool {
        switch (lhs, rhs) {
        case let (.relay(a), .relay(b)): return Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
        case let (.ip(a), .ip(b)): return a < b
        case let (.custom(ia, da), .custom(ib, db)): return ia != ib ? ia < ib : da.lexicographicallyPrecedes(db)
        default: return lhs.tag < rhs.tag
        }
    }

    public var description: String {
        switch self {
        case let .relay(url): return "relay:\(url)"
        case let .ip(addr): return addr.description
        case let .custom(id, data): return "custom:\(id):\(Hex.encode(data))"
        }
    }
}

/// iroh `EndpointAddr { id, addrs: BTreeSet<TransportAddr> }` (iroh-wire.md §1.2).
public struct EndpointAddr: Hashable, Sendable, CustomStringConvertible {
    public let id: EndpointId
    /// Sorted and de-duplicated, as the BTreeSet on the wire.
    public let addrs: [TransportAddr]

    public init(id: EndpointId, addrs: [TransportAddr]) {
        self.id = id
        self.addrs = Array(Set(addrs)).sorted()
    }

    public init(id: EndpointId, ipAddresses: [SocketAddress], relayURL: String? = nil) {
        self.init(id: id, addrs: ipAddresses.map { TransportAddr.ip($0) } + (relayURL.map { [TransportAddr.relay($0)] } ?? []))
    }

    public var ipAddresses: [SocketAddress] {
        addrs.compactMap { if case let .ip(a) = $0 { return a } else { return nil } }
    }

    public var relayURLs: [String] {
        addrs.compactMap { if case let .relay(u) = $0 { return u } else { return nil } }
    }

    public var description: String { "\(id.hex)@[\(addrs.map(\.description).joined(separator: ", "))]" }

    /// postcard bytes of `EndpointAddr`.
    public var postcard: [UInt8] {
        var w = PostcardWriter()
        encode(into: &w)
        return w.bytes
    }

    func encode(into w: inout PostcardWriter) {
        w.raw(id.bytes)
        w.varint(UInt64(addrs.count))
        for addr in addrs {
            switch addr {
            case let .relay(url):
                w.byte(0)
                w.lengthPrefixed(Array(url.utf8))
            case let .ip(sa):
                w.byte(1)
                w.byte(sa.isIPv4 ? 0 : 1)
                w.raw(sa.ip)
                w.varint(UInt64(sa.port))
            case let .custom(id, data):
                w.byte(2)
                w.varint(id)
                if data.count <= 30 {
                    w.byte(0)
                    w.byte(UInt8(data.count))
                    w.raw(data + [UInt8](repeating: 0, count: 30 - data.count))
                } else {
                    w.byte(1)
                    w.lengthPrefixed(data)
                }
            }
        }
    }

    public init(postcard bytes: [UInt8]) throws(TransportError) {
        var r = PostcardReader(bytes)
        try self.init(reading: &r)
        guard r.isAtEnd else { throw .invalidTicket("\(bytes.count - r.offset) trailing bytes after EndpointAddr") }
    }

    init(reading r: inout PostcardReader) throws(TransportError) {
        let idBytes = try r.raw(32, "endpoint id")
        let id: EndpointId
        do { id = try EndpointId(bytes: idBytes) } catch {
            throw .invalidTicket("endpoint id \(Hex.encode(idBytes)) is not a valid Ed25519 key")
        }
        let count = try r.varint("address count")
        guard count <= 1024 else { throw .invalidTicket("\(count) addresses is implausible") }
        var addrs: [TransportAddr] = []
        for _ in 0..<count {
            switch try r.byte("address kind") {
            case 0:
                let url = try r.lengthPrefixed("relay url")
                guard let text = String(validating: url, as: UTF8.self) else { throw .invalidTicket("relay url is not UTF-8") }
                addrs.append(.relay(text))
            case 1:
                let family = try r.byte("ip family")
                let ipBytes: [UInt8]
                switch family {
                case 0: ipBytes = try r.raw(4, "ipv4 address")
                case 1: ipBytes = try r.raw(16, "ipv6 address")
                default: throw .invalidTicket("unknown socket address family \(family)")
                }
                let port = try r.varint("port")
                guard port <= UInt64(UInt16.max) else { throw .invalidTicket("port \(port) out of range") }
                let sa = family == 0 ? try SocketAddress(ipv4: ipBytes, port: UInt16(port))
                                     : try SocketAddress(ipv6: ipBytes, port: UInt16(port))
                addrs.append(.ip(sa))
            case 2:
                let customID = try r.varint("custom address id")
                switch try r.byte("custom address data kind") {
                case 0:
                    let size = Int(try r.byte("inline size"))
                    let inline = try r.raw(30, "inline data")
                    guard size <= 30 else { throw .invalidTicket("inline custom address size \(size) > 30") }
                    addrs.append(.custom(id: customID, data: Array(inline.prefix(size))))
                case 1:
                    addrs.append(.custom(id: customID, data: try r.lengthPrefixed("custom address data")))
                case let other:
                    throw .invalidTicket("unknown custom address data kind \(other)")
                }
            case let other:
                throw .invalidTicket("unknown transport address kind \(other)")
            }
        }
        self.init(id: id, addrs: addrs)
    }
}

/// `endpoint…` ticket text (iroh-tickets `EndpointTicket`, iroh-wire.md §1.3): the prefix, then
/// lowercase unpadded base32 of postcard(variant 0, EndpointAddr).
public struct EndpointTicket: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    public static let prefix = "endpoint"
    public let addr: EndpointAddr

    public init(addr: EndpointAddr) { self.addr = addr }

    public init(parsing text: String) throws(TransportError) {
        guard text.hasPrefix(EndpointTicket.prefix) else { throw .invalidTicket("'\(text.prefix(16))…' does not start with 'endpoint'") }
        guard let bytes = Base32.decode(String(text.dropFirst(EndpointTicket.prefix.count))) else {
            throw .invalidTicket("ticket body is not base32")
        }
        var r = PostcardReader(bytes)
        let variant = try r.varint("ticket variant")
        guard variant == 0 else { throw .invalidTicket("unknown endpoint ticket variant \(variant)") }
        addr = try EndpointAddr(reading: &r)
        guard r.isAtEnd else { throw .invalidTicket("trailing bytes after the endpoint address") }
    }

    public init?(_ description: String) {
        guard let ticket = try? EndpointTicket(parsing: description) else { return nil }
        self = ticket
    }

    public var description: String {
        var w = PostcardWriter()
        w.varint(0)
        addr.encode(into: &w)
        return EndpointTicket.prefix + Base32.encode(w.bytes)
    }
}
