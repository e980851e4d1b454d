/// iroh-gossip's `PeerData` convention (§3.3): postcard of
/// `AddrInfo { relay_url: Option<RelayUrl>, direct_addresses: BTreeSet<SocketAddr> }`.

/// A UDP socket address as serde's non-human-readable `SocketAddr` writes it.
public struct GossipSocketAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6).
    public let ip: [UInt8]
    public let port: UInt16

    public init(ip: [UInt8], port: UInt16) throws(GossipWireError) {
        guard ip.count == 4 || ip.count == 16 else { throw .invalidLength(what: "IP address", length: ip.count, expected: 4) }
        self.ip = ip
        self.port = port
    }

    /// Parses "a.b.c.d:port" (IPv4 only; IPv6 peers are given as bytes).
    public init?(ipv4 text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
        guard octets.count == 4 else { return nil }
        self.ip = octets
        self.port = port
    }

    public var isIPv4: Bool { ip.count == 4 }

    /// Rust's `Ord` for `SocketAddr`: V4 before V6, then address bytes, then port.
    public static func < (lhs: GossipSocketAddress, rhs: GossipSocketAddress) -> Bool {
        if lhs.isIPv4 != rhs.isIPv4 { return lhs.isIPv4 }
        if lhs.ip != rhs.ip { return lhs.ip.lexicographicallyPrecedes(rhs.ip) }
        return lhs.port < rhs.port
    }

    public var description: String {
        if isIPv4 { return ip.map(String.init).joined(separator: ".") + ":\(port)" }
        var groups: [String] = []
        for index in stride(from: 0, to: 16, by: 2) {
            groups.append(String(UInt16(ip[index]) << 8 | UInt16(ip[index + 1]), radix: 16))
        }
        return "[" + groups.joined(separator: ":") + "]:\(port)"
    }
}

/// The addresses a peer advertises in gossip `PeerData`.
public struct GossipAddrInfo: Hashable, Sendable {
    public var relayURL: String?
    public var directAddresses: [GossipSocketAddress]

    public init(relayURL: String? = nil, directAddresses: [GossipSocketAddress] = []) {
        self.relayURL = relayURL
        self.directAddresses = directAddresses
    }

    /// Postcard bytes; addresses are written sorted and deduplicated, as a `BTreeSet` is.
    public func encoded() -> [UInt8] {
        var w = PostcardWriter()
        w.writeOption(relayURL) { $0.writeString($1) }
        let sorted = Array(Set(directAddresses)).sorted()
        w.writeSequence(sorted) { w, address in
            w.writeVariant(address.isIPv4 ? 0 : 1)
            w.writeFixed(address.ip)
            w.writeU16(address.port)
        }
        return w.bytes
    }

    /// Decodes `PeerData`; empty bytes mean "no info" (an empty `GossipAddrInfo`).
    public static func decode(_ bytes: [UInt8]) throws(GossipWireError) -> GossipAddrInfo {
        if bytes.isEmpty { return GossipAddrInfo() }
        var r = PostcardReader(bytes, limits: PostcardLimits(maxByteLength: bytes.count, maxSequenceLength: bytes.count))
        do {
            let relay = try r.readOption { (r: inout PostcardReader) throws(PostcardError) -> String in try r.readString() }
            let count = try r.readSequenceLength()
            var addresses: [GossipSocketAddress] = []
            for _ in 0..<count {
                let tagOffset = r.offset
                let tag = try r.readVariant()
                guard tag <= 1 else { throw PostcardError.unknownVariant(type: "SocketAddr", index: tag, offset: tagOffset) }
                let ip = try r.readFixed(count: tag == 0 ? 4 : 16, what: "IP address")
                let port = try r.readU16()
                addresses.append(try GossipSocketAddress(ip: ip, port: port))
            }
            try r.finish()
            return GossipAddrInfo(relayURL: relay, directAddresses: addresses)
        } catch let error as PostcardError {
            throw .postcard(error)
        } catch let error as GossipWireError {
            throw error
        } catch {
            throw .postcard(.invalidValue(what: "AddrInfo", offset: r.offset))
        }
    }
}
