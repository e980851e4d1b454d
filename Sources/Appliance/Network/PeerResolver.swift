import Core
import Transport

/// Learns who an incoming peer is. A node that messages or syncs with us may not be in our
/// directory yet (without gossip nobody announced it); an `Identity` request over peer/1 to the
/// connection's own address fetches and caches its verified delegation, which the DM layer needs
/// to accept its messages and to answer them. Lookups are shared per peer.
actor PeerResolver {
    private let components: NodeComponents
    private let logger: Logger
    private var inFlight: [String: Task<String?, Never>] = [:]
    /// Peers whose lookup failed, with when: not asked again for `retryAfterNanos`, so a peer that
    /// does not serve peer/1 is not dialled back on every connection it makes.
    private var failedAt: [String: UInt64] = [:]
    static let retryAfterNanos: UInt64 = 60_000_000_000

    init(components: NodeComponents, logger: Logger) {
        self.components = components
        self.logger = logger
    }

    /// The peer's master key (hex), from the directory or by asking it; nil when it cannot be learnt.
    func masterKey(of endpoint: EndpointID) async -> String? {
        guard let social = components.social else { return nil }
        if let known = try? social.directory.masterHex(forTransportID: endpoint.hex) { return known }
        if let running = inFlight[endpoint.hex] { return await running.value }
        if let failed = failedAt[endpoint.hex], MonotonicClock.nanoseconds() - failed < Self.retryAfterNanos { return nil }
        let logger = self.logger
        let lookup = Task<String?, Never> {
            do {
                let identity = try await social.client.identity(of: endpoint)
                logger.info("peer \(endpoint.hex.prefix(12)) is \(identity.masterPublicKey.prefix(12))")
                return identity.masterPublicKey
            } catch {
                logger.info("identity of peer \(endpoint.hex.prefix(12)) unavailable: \(error)")
                return nil
            }
        }
        inFlight[endpoint.hex] = lookup
        let master = await lookup.value
        inFlight[endpoint.hex] = nil
        failedAt[endpoint.hex] = master == nil ? MonotonicClock.nanoseconds() : nil
        return master
    }
}

/// Wraps a protocol handler: records the caller's address, learns its identity, tells the DM
/// service it is reachable (its queued messages go out now), then lets the inner handler serve.
/// `resolveFirst` makes the lookup finish before serving (DMs from an unknown key are otherwise
/// rejected); peer/1 serves at once and looks up in the background, so two nodes that both ask
/// "who are you?" never wait on each other.
struct PeerAwareHandler: ProtocolHandler {
    let inner: any ProtocolHandler
    let components: NodeComponents
    let resolver: PeerResolver
    let resolveFirst: Bool

    func accept(_ connection: any PeerConnection) async {
        let remote = connection.remoteID
        if let quic = connection as? QUICPeerConnection, let address = quic.connection.remoteAddress {
            components.addressBook?.recordSuccess(id: remote, address: address)
        }
        let resolver = self.resolver, components = self.components
        let introduce: @Sendable () async -> Void = {
            guard let master = await resolver.masterKey(of: remote), let key = try? Ed25519.PublicKey(hex: master) else { return }
            await components.dm?.peerReachable(key)
        }
        if resolveFirst {
            await introduce()
            // Block check before reading (spec §8.3): a blocked master key's connection is dropped.
            if let social = components.social, let master = try? await social.directory.master(forTransportID: remote),
               (try? social.store.isBlocked(master.hex)) == true {
                connection.close(code: 0, reason: "")
                return
            }
        } else {
            Task { await introduce() }
        }
        await inner.accept(connection)
    }
}
