import Synchronization

/// A `PeerDirectory` over a fixed, in-memory table: for tools, tests and benchmarks that run
/// without the social layer's delegation cache.
public final class StaticPeerDirectory: PeerDirectory {
    public struct Entry: Sendable {
        public var delegation: SigningKeyDelegation
        public var transportIDs: [EndpointID]
        public init(delegation: SigningKeyDelegation, transportIDs: [EndpointID]) {
            self.delegation = delegation
            self.transportIDs = transportIDs
        }
    }

    private let entries = Mutex<[Ed25519.PublicKey: Entry]>([:])

    public init() {}

    public func add(_ delegation: SigningKeyDelegation, transportIDs: [EndpointID]) throws {
        let master = try Ed25519.PublicKey(hex: delegation.masterPublicKey)
        entries.withLock { $0[master] = Entry(delegation: delegation, transportIDs: transportIDs) }
    }

    /// Registers `identity`'s current delegation and transport id.
    public func add(_ identity: NodeIdentity, issuedAt: UInt64 = 0) throws {
        try add(identity.delegation(issuedAt: issuedAt), transportIDs: [identity.transportID])
    }

    public func delegation(for master: Ed25519.PublicKey) async throws -> SigningKeyDelegation? {
        entries.withLock { $0[master]?.delegation }
    }

    public func transportIDs(for master: Ed25519.PublicKey) async throws -> [EndpointID] {
        entries.withLock { $0[master]?.transportIDs ?? [] }
    }

    public func master(forDMKey dmKeyHex: String) async throws -> Ed25519.PublicKey? {
        let wanted = dmKeyHex.lowercased()
        return entries.withLock { table in table.first { $0.value.delegation.dmPublicKey.lowercased() == wanted }?.key }
    }

    public func master(forTransportID id: EndpointID) async throws -> Ed25519.PublicKey? {
        entries.withLock { table in table.first { $0.value.transportIDs.contains(id) }?.key }
    }
}
