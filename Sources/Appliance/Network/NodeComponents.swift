import AudioPipeline
import Core
import Synchronization
import Transport

/// The live parts of the node that services create and admin commands use. Each service puts its
/// part here when it starts and removes it when it stops, so a restarted service is picked up by
/// everyone else without rewiring (dialers, commands and handlers look parts up at use time).
final class NodeComponents: Sendable {
    private struct Parts {
        var database: AppDatabase?
        var endpoint: Endpoint?
        var addressBook: AddressBook?
        var gossip: GossipService?
        var feedBridge: GossipFeedBridge?
        var social: SocialService?
        var dm: DMService?
        var call: CallService?
        var stageRelay: StageRelayNodeService?
    }

    private let parts = Mutex(Parts())
    /// ALPNs reserved when the endpoint is created; the social and DM services bind them at start.
    let peerHandler = DeferredProtocolHandler()
    let dmHandler = DeferredProtocolHandler()
    let gossipHandler = DeferredProtocolHandler()
    let callHandler = DeferredProtocolHandler()
    let stageHandler = DeferredProtocolHandler()

    var database: AppDatabase? { parts.withLock { $0.database } }
    var endpoint: Endpoint? { parts.withLock { $0.endpoint } }
    var addressBook: AddressBook? { parts.withLock { $0.addressBook } }
    var gossip: GossipService? { parts.withLock { $0.gossip } }
    var feedBridge: GossipFeedBridge? { parts.withLock { $0.feedBridge } }
    var social: SocialService? { parts.withLock { $0.social } }
    var dm: DMService? { parts.withLock { $0.dm } }
    var call: CallService? { parts.withLock { $0.call } }
    var stageRelay: StageRelayNodeService? { parts.withLock { $0.stageRelay } }

    func setDatabase(_ value: AppDatabase?) { parts.withLock { $0.database = value } }
    func setTransport(endpoint: Endpoint?, addressBook: AddressBook?) {
        parts.withLock {
            $0.endpoint = endpoint
            $0.addressBook = addressBook
        }
    }
    func setGossip(_ gossip: GossipService?, bridge: GossipFeedBridge?) {
        parts.withLock {
            $0.gossip = gossip
            $0.feedBridge = bridge
        }
    }
    func setSocial(_ value: SocialService?) { parts.withLock { $0.social = value } }
    func setDM(_ value: DMService?) { parts.withLock { $0.dm = value } }
    func setCall(_ value: CallService?) { parts.withLock { $0.call = value } }
    func setStageRelay(_ value: StageRelayNodeService?) { parts.withLock { $0.stageRelay = value } }

    /// The running social service, or an error an admin command can show.
    func requireSocial() throws -> SocialService {
        guard let social else { throw AdminCommandError("the social service is not running (see `status`)") }
        return social
    }

    func requireCall() throws -> CallService {
        guard let call else { throw AdminCommandError("the call service is not running (see `status`)") }
        return call
    }

    func requireDM() throws -> DMService {
        guard let dm else { throw AdminCommandError("the DM service is not running (see `status`)") }
        return dm
    }
}

/// Dials through whatever endpoint is current, with the persisted address book.
struct LiveDialer: PeerDialer {
    let components: NodeComponents

    func connect(to address: PeerAddress, alpn: String, timeoutSeconds: Double) async throws -> any PeerConnection {
        guard let endpoint = components.endpoint else {
            throw PeerNetworkError.connectFailed("transport not running")
        }
        return try await QUICPeerDialer(endpoint: endpoint, addressBook: components.addressBook)
            .connect(to: address, alpn: alpn, timeoutSeconds: timeoutSeconds)
    }
}
