// delete at merge: Core/Social/PeerDirectory.swift defines it
/// What the DM service needs to know about other users: their delegation (for the DM key),
/// transport ids, and the reverse lookups the acceptor uses (spec §8.3, §8.5).
public protocol PeerDirectory: Sendable {
    func delegation(for master: Ed25519.PublicKey) async throws -> SigningKeyDelegation?
    func transportIDs(for master: Ed25519.PublicKey) async throws -> [EndpointID]
    func master(forDMKey dmKeyHex: String) async throws -> Ed25519.PublicKey?
    func master(forTransportID id: EndpointID) async throws -> Ed25519.PublicKey?
}
