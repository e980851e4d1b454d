import Core
import Synchronization
import TestSupport
import Transport

/// Where the Stage tests' nodes meet: the in-memory network, or real QUIC endpoints on loopback.
protocol StageTestNetwork: Sendable {
    func serve(_ endpoint: EndpointID, alpn: String, handler: any ProtocolHandler)
    func dialer(for local: EndpointID) -> any PeerDialer
    func shutdown() async
}

extension InMemoryPeerNetwork: StageTestNetwork {
    func shutdown() async {}
}

/// One Transport `Endpoint` per identity on 127.0.0.1, all in one address book, each with a
/// `proscenium/stage/1` handler bound when the test serves it. Needs a loopback-only namespace.
final class QUICStageNetwork: StageTestNetwork {
    private struct Node {
        let endpoint: Endpoint
        let handler: DeferredProtocolHandler
        let dialer: QUICPeerDialer
    }
    private let nodes: [EndpointID: Node]

    init(identities: [NodeIdentity]) throws {
        try NetworkIsolation.assertLoopbackOnly()
        let book = try AddressBook()
        var nodes: [EndpointID: Node] = [:]
        for identity in identities {
            var config = EndpointConfig()
            config.bindAddress = try SocketAddress("127.0.0.1:0")
            let handler = DeferredProtocolHandler()
            let endpoint = try Endpoint(secretKey: identity.transportKey, config: config,
                                        router: Router().adding(alpn: StageMedia.alpn, handler: handler))
            book.add(endpoint.addr)
            nodes[identity.transportID] = Node(endpoint: endpoint, handler: handler,
                                               dialer: QUICPeerDialer(endpoint: endpoint, addressBook: book))
        }
        self.nodes = nodes
    }

    func serve(_ endpoint: EndpointID, alpn: String, handler: any ProtocolHandler) {
        precondition(alpn == StageMedia.alpn, "QUICStageNetwork serves only \(StageMedia.alpn)")
        nodes[endpoint]!.handler.bind(handler)
    }

    func dialer(for local: EndpointID) -> any PeerDialer { nodes[local]!.dialer }

    func shutdown() async {
        for node in nodes.values { await node.endpoint.close() }
    }
}
