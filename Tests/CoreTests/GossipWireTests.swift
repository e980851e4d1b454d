import Testing
import Core

/// Byte vectors from iroh-wire.md §3.2/§3.7, round trips, and garbage into the decoder.
@Suite("Gossip wire codec")
struct GossipWireTests {
    static let topic = try! TopicID(bytes: Array(0..<32))
    static let helloID = "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"

    static func key(_ n: UInt8) -> EndpointID {
        try! Ed25519.SecretKey(seed: [UInt8](repeating: n, count: 32)).publicKey
    }

    @Test func messageIDIsBLAKE3OfContent() {
        #expect(Hex.encode(GossipMessageID.of(content: Array("hello".utf8)).bytes) == Self.helloID)
    }

    @Test func streamHeaderFrame() {
        let frame = GossipWire.headerFrame(topic: Self.topic)
        #expect(frame == [0, 0, 0, 0x20] + Array(0..<32))
        #expect(frame.count == 36)
    }

    @Test func broadcastHelloFrame() throws {
        let payload = GossipPayload(content: Array("hello".utf8), scope: .swarm(round: 0))
        let frame = try GossipWire.frame(.gossip(.gossip(payload)))
        let expected = [0, 0, 0, 0x2a, 0x01, 0x00] + Hex.decode(Self.helloID)! + [0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00]
        #expect(frame == expected)
        #expect(frame.count == 46)
        // Forwarded by the next hop: round 1.
        var forwarded = payload
        forwarded.scope = .swarm(round: 1)
        #expect(try GossipWire.frame(.gossip(.gossip(forwarded))) == Array(expected.dropLast()) + [0x01])
        // broadcast_neighbors: scope byte 01, no round.
        var neighbors = payload
        neighbors.scope = .neighbors
        #expect(try GossipWire.frame(.gossip(.gossip(neighbors))) == [0, 0, 0, 0x29] + Array(expected[4..<44]) + [0x01])
    }

    @Test func controlFrames() throws {
        let id = GossipMessageID.of(content: Array("hello".utf8))
        #expect(try GossipWire.frame(.gossip(.prune)) == [0, 0, 0, 2, 1, 1])
        #expect(try GossipWire.frame(.gossip(.ihave([IHaveEntry(id: id, round: 0)]))) == [0, 0, 0, 0x24, 1, 3, 1] + id.bytes + [0])
        #expect(try GossipWire.frame(.swarm(.join(data: nil))) == [0, 0, 0, 3, 0, 0, 0])
        #expect(try GossipWire.frame(.swarm(.disconnect(alive: true, respond: false))) == [0, 0, 0, 4, 0, 5, 1, 0])
    }

    @Test func joinWithAddrInfoPeerData() throws {
        let addr = try #require(GossipSocketAddress(ipv4: "192.168.1.10:11204"))
        let info = GossipAddrInfo(relayURL: "https://relay.example.com/", directAddresses: [addr])
        let data = info.encoded()
        #expect(data.count == 36)
        let frame = try GossipWire.frame(.swarm(.join(data: data)))
        let expected: [UInt8] = [0, 0, 0, 0x28, 0, 0, 1, 0x24, 1, 0x1a] + Array("https://relay.example.com/".utf8)
            + [1, 0, 0xc0, 0xa8, 1, 0x0a, 0xc4, 0x57]
        #expect(frame == expected)
        #expect(try GossipAddrInfo.decode(data) == info)
        #expect(try GossipAddrInfo.decode([]) == GossipAddrInfo())
        #expect(addr.description == "192.168.1.10:11204")
    }

    @Test func addrInfoSortsLikeBTreeSet() throws {
        let v6 = try GossipSocketAddress(ip: [UInt8](repeating: 0, count: 15) + [1], port: 7)
        let b = try #require(GossipSocketAddress(ipv4: "10.0.0.2:1"))
        let a = try #require(GossipSocketAddress(ipv4: "10.0.0.1:9"))
        let info = GossipAddrInfo(relayURL: nil, directAddresses: [v6, b, a, b])
        let decoded = try GossipAddrInfo.decode(info.encoded())
        #expect(decoded.directAddresses == [a, b, v6])
        #expect(v6.description == "[0:0:0:0:0:0:0:1]:7")
    }

    @Test func payloadLimitArithmetic() throws {
        // 38 bytes of overhead: 2 tags + 32 id + 2-byte length varint + scope tag + round.
        #expect(GossipWire.maxBroadcastPayload() == 4057)
        #expect(GossipConfig().maxIHavesPerMessage == 116)
        let fits = GossipPayload(content: [UInt8](repeating: 7, count: 4057), scope: .swarm(round: 0))
        let frame = try GossipWire.frame(.gossip(.gossip(fits)))
        #expect(frame.count == 4 + 4095)
        let tooBig = GossipPayload(content: [UInt8](repeating: 7, count: 4058), scope: .swarm(round: 0))
        #expect(throws: GossipWireError.messageTooLarge(size: 4096, maximum: 4096)) {
            _ = try GossipWire.frame(.gossip(.gossip(tooBig)))
        }
        // The reader accepts a declared length of exactly 4096 but not 4097 (asymmetric, §3.2).
        var decoder = GossipStreamDecoder()
        decoder.append(GossipWire.headerFrame(topic: Self.topic) + [0, 0, 0x10, 0x01])
        #expect(throws: GossipWireError.framing(.frameTooLarge(length: 4097, maximum: 4096))) { _ = try decoder.next() }
    }

    static func allMessages() -> [TopicMessage<EndpointID>] {
        let a = key(1), b = key(2)
        let id = GossipMessageID.of(content: [1, 2, 3])
        let infos = [GossipPeerInfo(id: a, data: [9, 9]), GossipPeerInfo(id: b, data: nil), GossipPeerInfo(id: a, data: [])]
        return [
            .swarm(.join(data: nil)),
            .swarm(.join(data: [1, 2, 3])),
            .swarm(.forwardJoin(peer: infos[0], ttl: 6)),
            .swarm(.forwardJoin(peer: infos[1], ttl: 300)),
            .swarm(.shuffle(origin: b, nodes: infos, ttl: 6)),
            .swarm(.shuffle(origin: a, nodes: [], ttl: 0)),
            .swarm(.shuffleReply(nodes: infos)),
            .swarm(.neighbor(priority: .high, data: [4])),
            .swarm(.neighbor(priority: .low, data: nil)),
            .swarm(.disconnect(alive: false, respond: false)),
            .swarm(.disconnect(alive: true, respond: true)),
            .gossip(.gossip(GossipPayload(content: [], scope: .swarm(round: 0)))),
            .gossip(.gossip(GossipPayload(content: [UInt8](repeating: 1, count: 200), scope: .swarm(round: 65535)))),
            .gossip(.gossip(GossipPayload(content: [5], scope: .neighbors))),
            .gossip(.prune),
            .gossip(.graft(id: nil, round: 3)),
            .gossip(.graft(id: id, round: 128)),
            .gossip(.ihave([])),
            .gossip(.ihave((0..<116).map { IHaveEntry(id: id, round: UInt16($0) * 300) }))
        ]
    }

    @Test func roundTripEveryMessageType() throws {
        for message in Self.allMessages() {
            let bytes = GossipWire.encode(message)
            #expect(try GossipWire.decode(bytes) == message)
            // Every strict prefix is truncated input, never a valid message or a crash.
            for cut in 0..<bytes.count {
                #expect(throws: GossipWireError.self) { _ = try GossipWire.decode(Array(bytes[0..<cut])) }
            }
            #expect(throws: GossipWireError.self) { _ = try GossipWire.decode(bytes + [0]) }
        }
    }

    @Test func streamDecoderReassemblesByteByByte() throws {
        let messages = Self.allMessages()
        var stream = GossipWire.headerFrame(topic: Self.topic)
        for message in messages { stream += try GossipWire.frame(message) }
        var decoder = GossipStreamDecoder()
        var decoded: [TopicMessage<EndpointID>] = []
        for byte in stream {
            decoder.append([byte])
            while let message = try decoder.next() { decoded.append(message) }
        }
        try decoder.finish()
        #expect(decoder.topic == Self.topic)
        #expect(decoded == messages)
    }

    @Test func typedErrorsForBadInput() {
        #expect(throws: GossipWireError.postcard(.unknownVariant(type: "topic::Message", index: 2, offset: 0))) {
            _ = try GossipWire.decode([2])
        }
        #expect(throws: GossipWireError.postcard(.unknownVariant(type: "hyparview::Message", index: 6, offset: 1))) {
            _ = try GossipWire.decode([0, 6])
        }
        #expect(throws: GossipWireError.postcard(.unknownVariant(type: "Priority", index: 2, offset: 2))) {
            _ = try GossipWire.decode([0, 4, 2, 0])
        }
        // A Gossip whose id is fine but content length points past the end.
        #expect(throws: GossipWireError.self) { _ = try GossipWire.decode([1, 0] + [UInt8](repeating: 0, count: 32) + [0x80, 0x01]) }
        // An endpoint id that is not a curve point (y = 2^255 - 1 is non-canonical).
        let badKey = [UInt8](repeating: 0xff, count: 32)
        #expect(throws: GossipWireError.invalidEndpointID(offset: 2)) {
            _ = try GossipWire.decode([0, 1] + badKey + [0, 6])
        }
        var decoder = GossipStreamDecoder()
        decoder.append([0, 0, 0, 5, 1, 2, 3, 4, 5])
        #expect(throws: GossipWireError.self) { _ = try decoder.next() }
        var empty = GossipStreamDecoder()
        #expect(throws: GossipWireError.missingStreamHeader) { try empty.finish() }
        empty.append([0, 0])
        #expect(throws: GossipWireError.self) { try empty.finish() }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var rng = GossipRandom(seed: 42)
        var decodedCount = 0
        for iteration in 0..<20_000 {
            let length = Int(rng.next(upperBound: UInt64(80)))
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Bias half the inputs towards valid tags so the fuzz reaches the inner decoders.
            if iteration % 2 == 0, !bytes.isEmpty {
                bytes[0] = UInt8(rng.next(upperBound: UInt64(2)))
                if bytes.count > 1 { bytes[1] = UInt8(rng.next(upperBound: UInt64(7))) }
            }
            if let message = try? GossipWire.decode(bytes) {
                decodedCount += 1
                #expect((try? GossipWire.decode(GossipWire.encode(message))) == message)
            }
            var decoder = GossipStreamDecoder()
            decoder.append(bytes)
            while let _ = try? decoder.next() {}
        }
        #expect(decodedCount > 0)
    }
}
