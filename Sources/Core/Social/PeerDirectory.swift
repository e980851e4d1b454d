import Foundation

/// Who is behind a key: the lookups the DM and call layers need (backed by `peer_delegations`).
public protocol PeerDirectory: Sendable {
    func delegation(for master: Ed25519.PublicKey) async throws -> SigningKeyDelegation?
    func transportIDs(for master: Ed25519.PublicKey) async throws -> [EndpointID]
    func master(forDMKey dmKeyHex: String) async throws -> Ed25519.PublicKey?
    func master(forTransportID id: EndpointID) async throws -> Ed25519.PublicKey?
}

/// The `peer_delegations` table as a cache of verified delegations (spec §3.4, §3.6, §7.10).
///
/// Tightened per §16.2: every delegation is verified before it is cached, wherever it came from,
/// and a cached delegation is never replaced by one with a lower `key_index` (a replayed old
/// delegation cannot roll a peer back to a retired signing key).
public struct DelegationCache: PeerDirectory {
    public let database: AppDatabase
    let clock: any WallClock

    public init(database: AppDatabase, clock: any WallClock) {
        self.database = database
        self.clock = clock
    }

    /// What caching did.
    public enum CacheOutcome: Equatable, Sendable {
        case stored
        /// A delegation with a higher key index is already cached; only transport ids were updated.
        case keptNewer
    }

    /// Verifies `delegation` and caches it. `transportIDs == nil` keeps the known ids.
    @discardableResult
    public func cache(_ delegation: SigningKeyDelegation, transportIDs: [String]?) throws -> CacheOutcome {
        do {
            try delegation.verify()
        } catch {
            throw SocialRejectionError(.invalidDelegation, "delegation for \(delegation.masterPublicKey.prefix(16)): \(error)")
        }
        let json = String(decoding: try WireJSON.encode(delegation), as: UTF8.self)
        let now = Int64(clamping: clock.nowMillis())
        return try database.database.transaction { connection in
            let existing = try connection.queryRow(
                "SELECT delegation_json, transport_node_ids_json FROM peer_delegations WHERE master_pubkey = ?",
                [.text(delegation.masterPublicKey)])
            var ids = transportIDs
            if ids == nil, let existing {
                ids = Self.decodeIDs(try existing.string("transport_node_ids_json"))
            }
            let idsJSON = Self.encodeIDs(ids ?? [])
            if let existing,
               let cached = try? WireJSON.decode(SigningKeyDelegation.self, from: Array(try existing.string("delegation_json").utf8)),
               cached.keyIndex > delegation.keyIndex {
                try connection.execute("UPDATE peer_delegations SET transport_node_ids_json = ? WHERE master_pubkey = ?",
                                       [.text(idsJSON), .text(delegation.masterPublicKey)])
                return .keptNewer
            }
            try connection.execute("""
                INSERT INTO peer_delegations (master_pubkey, signing_pubkey, dm_pubkey, delegation_json,
                                              transport_node_ids_json, cached_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(master_pubkey) DO UPDATE SET signing_pubkey = excluded.signing_pubkey,
                    dm_pubkey = excluded.dm_pubkey, delegation_json = excluded.delegation_json,
                    transport_node_ids_json = excluded.transport_node_ids_json, cached_at = excluded.cached_at
                """, [.text(delegation.masterPublicKey), .text(delegation.signingPublicKey), .text(delegation.dmPublicKey),
                      .text(json), .text(idsJSON), .integer(now)])
            return .stored
        }
    }

    /// Replaces a peer's transport ids (LinkedDevices announcements). No-op without a cached row.
    public func replaceTransportIDs(master: String, with ids: [String]) throws {
        try database.database.execute("UPDATE peer_delegations SET transport_node_ids_json = ? WHERE master_pubkey = ?",
                                      [.text(Self.encodeIDs(ids)), .text(master)])
    }

    public func delegation(forHex master: String) throws -> SigningKeyDelegation? {
        guard let json = try database.database.queryValue(
            "SELECT delegation_json FROM peer_delegations WHERE master_pubkey = ?", [.text(master)]),
              case .text(let text) = json else { return nil }
        return try? WireJSON.decode(SigningKeyDelegation.self, from: Array(text.utf8))
    }

    public func transportIDs(forHex master: String) throws -> [String] {
        guard let value = try database.database.queryValue(
            "SELECT transport_node_ids_json FROM peer_delegations WHERE master_pubkey = ?", [.text(master)]),
              case .text(let text) = value else { return [] }
        return Self.decodeIDs(text)
    }

    public func masterHex(forTransportID id: String) throws -> String? {
        guard let value = try database.database.queryValue("""
            SELECT master_pubkey FROM peer_delegations
            WHERE EXISTS (SELECT 1 FROM json_each(peer_delegations.transport_node_ids_json) WHERE json_each.value = ?)
            LIMIT 1
            """, [.text(id)]), case .text(let master) = value else { return nil }
        return master
    }

    public func masterHex(forDMKey dmKeyHex: String) throws -> String? {
        guard let value = try database.database.queryValue(
            "SELECT master_pubkey FROM peer_delegations WHERE lower(dm_pubkey) = lower(?) LIMIT 1", [.text(dmKeyHex)]),
              case .text(let master) = value else { return nil }
        return master
    }

    /// The key content by `author` must be signed with (spec §3.6): the cached signing key, or
    /// the master key itself when nothing is cached (legacy path).
    public func signer(forAuthor author: String) throws -> (key: Ed25519.PublicKey, delegated: Bool)? {
        if let delegation = try delegation(forHex: author), let key = try? Ed25519.PublicKey(hex: delegation.signingPublicKey) {
            return (key, true)
        }
        guard let master = try? Ed25519.PublicKey(hex: author) else { return nil }
        return (master, false)
    }

    // MARK: PeerDirectory

    public func delegation(for master: Ed25519.PublicKey) async throws -> SigningKeyDelegation? {
        try delegation(forHex: master.hex)
    }

    public func transportIDs(for master: Ed25519.PublicKey) async throws -> [EndpointID] {
        try transportIDs(forHex: master.hex).compactMap { try? Ed25519.PublicKey(hex: $0) }
    }

    public func master(forDMKey dmKeyHex: String) async throws -> Ed25519.PublicKey? {
        try masterHex(forDMKey: dmKeyHex).flatMap { try? Ed25519.PublicKey(hex: $0) }
    }

    public func master(forTransportID id: EndpointID) async throws -> Ed25519.PublicKey? {
        try masterHex(forTransportID: id.hex).flatMap { try? Ed25519.PublicKey(hex: $0) }
    }

    static func encodeIDs(_ ids: [String]) -> String {
        String(decoding: (try? WireJSON.encode(ids)) ?? Array("[]".utf8), as: UTF8.self)
    }

    static func decodeIDs(_ text: String) -> [String] {
        (try? WireJSON.decode([String].self, from: Array(text.utf8))) ?? []
    }
}
