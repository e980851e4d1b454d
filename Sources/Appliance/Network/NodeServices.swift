import AudioPipeline
import Core
import Foundation
import Transport

/// Opens the app database (DIR/social.db) for the services started after it.
actor DatabaseService: Service {
    nonisolated let name = "database"
    private let directory: String
    private let components: NodeComponents
    private let logger: Logger

    init(directory: String, components: NodeComponents, logger: Logger) {
        self.directory = directory
        self.components = components
        self.logger = logger
    }

    func start() async throws {
        let database = try AppDatabase.open(directory: directory)
        components.setDatabase(database)
        logger.info("database \(directory)/\(AppDatabase.fileName) open")
    }

    func stop() async {
        components.database?.database.close()
        components.setDatabase(nil)
    }
}

/// The iroh-compatible QUIC endpoint under the node's transport key, with the ALPNs we serve,
/// the persisted address book (DIR/address_book.json) and optional mDNS discovery.
actor TransportService: Service {
    nonisolated let name = "transport"
    static let addressBookFile = "address_book.json"

    private let identity: NodeIdentity
    private let listen: HostPort
    private let mdns: Bool
    private let dataDirectory: String
    private let components: NodeComponents
    private let state: NodeState
    private let logger: Logger
    private var discovery: LocalDiscovery?
    private var discoveryTask: Task<Void, Never>?

    init(identity: NodeIdentity, listen: HostPort, mdns: Bool, dataDirectory: String, components: NodeComponents,
         state: NodeState, logger: Logger) {
        self.identity = identity
        self.listen = listen
        self.mdns = mdns
        self.dataDirectory = dataDirectory
        self.components = components
        self.state = state
        self.logger = logger
    }

    /// `HostPort` → `SocketAddress`; host names are not resolved (the listen address is an IP).
    static func socketAddress(_ listen: HostPort) throws -> SocketAddress {
        let text = listen.host.contains(":") ? "[\(listen.host)]:\(listen.port)" : "\(listen.host):\(listen.port)"
        do {
            return try SocketAddress(text)
        } catch {
            throw AdminCommandError("network.listen \(listen) is not an IP address and port: \(error)")
        }
    }

    func start() async throws {
        var config = EndpointConfig()
        config.bindAddress = try Self.socketAddress(listen)
        config.logger = logger.child("quic")
        var router = Router()
        router.register(alpn: PeerProtocolHandler.alpn, handler: components.peerHandler)
        router.register(alpn: DMService.alpn, handler: components.dmHandler)
        router.register(alpn: GossipWire.alpn, handler: components.gossipHandler)
        router.register(alpn: CallService.alpn, handler: components.callHandler)
        router.register(alpn: StageMedia.alpn, handler: components.stageHandler)
        let book = try AddressBook(path: dataDirectory + "/" + Self.addressBookFile)
        let endpoint = try Endpoint(secretKey: identity.transportKey, config: config, router: router)
        components.setTransport(endpoint: endpoint, addressBook: book)
        let addresses = endpoint.localAddresses()
        await state.setListenAddresses(addresses.map(\.description))
        logger.info("QUIC endpoint \(identity.transportID.hex.prefix(12)) on \(endpoint.localAddress) "
                    + "(\(addresses.map(\.description).joined(separator: ", ")))")
        if mdns {
            do {
                let discovery = try LocalDiscovery(id: identity.transportID, addresses: addresses)
                self.discovery = discovery
                // Found peers go into the address book, so dialling by id reaches them.
                discoveryTask = Task {
                    while !Task.isCancelled {
                        for addr in discovery.discovered() { book.add(addr) }
                        try? await Task.sleep(nanoseconds: 2_000_000_000)
                    }
                }
                logger.info("mDNS discovery on")
            } catch {
                logger.warning("mDNS discovery unavailable: \(error)")
            }
        }
    }

    func stop() async {
        discoveryTask?.cancel()
        discoveryTask = nil
        discovery?.close()
        discovery = nil
        if let book = components.addressBook {
            do { try book.save() } catch { logger.warning("address book not saved: \(error)") }
        }
        let endpoint = components.endpoint
        components.setTransport(endpoint: nil, addressBook: nil)
        await state.setListenAddresses([])
        await endpoint?.close()
    }
}

/// iroh-gossip on `/iroh-gossip/1`: the live path of feeds (spec §5). The feed bridge it creates
/// carries the social layer's topics; the social service binds to it when it starts.
actor GossipNodeService: Service {
    nonisolated let name = "gossip"
    private let components: NodeComponents
    private let logger: Logger

    init(components: NodeComponents, logger: Logger) {
        self.components = components
        self.logger = logger
    }

    func start() async throws {
        guard let endpoint = components.endpoint else { throw AdminCommandError("transport not running") }
        var addresses = GossipAddrInfo()
        addresses.directAddresses = endpoint.localAddresses().compactMap { GossipSocketAddress(ipv4: $0.description) }
        let gossip = GossipService(me: endpoint.id, dialer: LiveDialer(components: components), myAddresses: addresses,
                                   logger: logger)
        let bridge = GossipFeedBridge(gossip: gossip)
        components.setGossip(gossip, bridge: bridge)
        components.gossipHandler.bind(gossip)
    }

    func stop() async {
        let (gossip, bridge) = (components.gossip, components.feedBridge)
        components.setGossip(nil, bridge: nil)
        await bridge?.stop()
        await gossip?.shutdown()
    }
}

/// The feed: `SocialService` on peer/1 and gossip, with its timers (heartbeat, periodic sync of
/// followed authors, which catches up what gossip missed while offline).
actor SocialNodeService: Service {
    nonisolated let name = "social"
    static let heartbeatSeconds: UInt64 = 30

    private let identity: NodeIdentity
    private let components: NodeComponents
    private let resolver: PeerResolver
    private let syncIntervalSeconds: UInt64
    private let logger: Logger
    private var timers: Task<Void, Never>?

    init(identity: NodeIdentity, components: NodeComponents, resolver: PeerResolver, syncIntervalSeconds: UInt64,
         logger: Logger) {
        self.identity = identity
        self.components = components
        self.resolver = resolver
        self.syncIntervalSeconds = syncIntervalSeconds
        self.logger = logger
    }

    func start() async throws {
        guard let database = components.database, let bridge = components.feedBridge else {
            throw AdminCommandError("database or gossip not running")
        }
        let social = try SocialService(identity: identity, database: database, dialer: LiveDialer(components: components),
                                       publisher: bridge, subscriptions: bridge, logger: logger, clock: SystemWallClock())
        await bridge.bind(social)
        components.setSocial(social)
        components.peerHandler.bind(PeerAwareHandler(inner: social.handler, components: components, resolver: resolver,
                                                     resolveFirst: false))
        try await social.start()
        let heartbeat = Self.heartbeatSeconds, syncEvery = syncIntervalSeconds
        timers = Task {
            var elapsed: UInt64 = 0
            // First: publish what was queued before a restart, and catch up on what was posted
            // while we were down.
            await social.flushOutbox()
            _ = await social.syncAll()
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                elapsed += 1
                if elapsed % heartbeat == 0 { await social.heartbeat() }
                if syncEvery > 0, elapsed % syncEvery == 0 {
                    await social.flushOutbox()
                    _ = await social.syncAll()
                }
            }
        }
    }

    func stop() async {
        timers?.cancel()
        timers = nil
        components.setSocial(nil)
    }
}

/// Direct messages: `DMService` on dm/1 with its outbox retry timer.
actor DMNodeService: Service {
    nonisolated let name = "dm"
    private let identity: NodeIdentity
    private let components: NodeComponents
    private let resolver: PeerResolver
    private let logger: Logger

    init(identity: NodeIdentity, components: NodeComponents, resolver: PeerResolver, logger: Logger) {
        self.identity = identity
        self.components = components
        self.resolver = resolver
        self.logger = logger
    }

    func start() async throws {
        guard let database = components.database, let social = components.social else {
            throw AdminCommandError("database or social service not running")
        }
        let dm = DMService(identity: identity, database: database, dialer: LiveDialer(components: components),
                           directory: social.directory, clock: SystemWallClock(), logger: logger)
        components.setDM(dm)
        components.dmHandler.bind(PeerAwareHandler(inner: dm.handler, components: components, resolver: resolver,
                                                   resolveFirst: true))
        await dm.start()
    }

    func stop() async {
        await components.dm?.shutdown()
        components.setDM(nil)
    }
}
