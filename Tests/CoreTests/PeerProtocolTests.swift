import Foundation
import Testing
@testable import Core
import TestSupport

/// A peer/1 responder scripted by the test (for malformed answers).
struct ScriptedPeerHandler: ProtocolHandler {
    let script: @Sendable (any PeerConnection) async throws -> Void
    func accept(_ connection: any PeerConnection) async { try? await script(connection) }
}

/// `proscenium/peer/1` at the byte level (spec §1.3, §6).
@Suite("Peer protocol")
struct PeerProtocolTests {
    /// Sends raw bytes as a request; returns the response bytes, or nil when the responder dropped
    /// the connection without answering.
    static func rawRequest(_ bytes: [UInt8], to node: SocialTestbed.Node, in bed: SocialTestbed) async throws -> [UInt8]? {
        let stranger = Ed25519.SecretKey.generate().publicKey
        let connection = try await bed.network.dialer(for: stranger).connect(
            to: PeerAddress(id: node.transport), alpn: PeerProtocolHandler.alpn, timeoutSeconds: 5)
        defer { connection.close(code: 0, reason: "done") }
        return try? await PeerDeadline.run(on: connection, timeoutSeconds: 60) {
            let (send, receive) = try await connection.openBidirectionalStream()
            try await send.write(bytes)
            try await send.finish()
            return try await receive.readToEnd(limit: 1 << 20)
        }
    }

    @Test func identityResponseCarriesAVerifiableDelegation() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await b.service.setProfile(displayName: "Bob", bio: "", visibility: .public)
        let raw = try #require(try await Self.rawRequest(Array(#""IdentityRequest""#.utf8), to: b, in: bed))
        #expect(String(decoding: raw, as: UTF8.self).hasPrefix(#"{"Identity":{"master_pubkey":""#))
        guard case .identity(let identity) = try WireJSON.decode(PeerResponse.self, from: raw) else {
            Issue.record("not an Identity response")
            return
        }
        try identity.verify()
        #expect(identity.masterPublicKey == b.master)
        #expect(identity.delegation.signingPublicKey == b.identity.signingKey.publicKey.hex)
        #expect(identity.delegation.dmPublicKey == b.identity.dmKey.publicKey.hex)
        #expect(identity.transportNodeIDs == [b.transport.hex])
        #expect(identity.profile?.displayName == "Bob")

        // Through the client: verified, cached, and visible through PeerDirectory.
        _ = try await a.service.client.identity(of: b.transport)
        let directory: any PeerDirectory = a.service.directory
        #expect(try await directory.delegation(for: b.identity.masterPublicKey) == identity.delegation)
        #expect(try await directory.transportIDs(for: b.identity.masterPublicKey) == [b.transport])
        #expect(try await directory.master(forTransportID: b.transport) == b.identity.masterPublicKey)
        #expect(try await directory.master(forDMKey: b.identity.dmKey.publicKey.hex.uppercased()) == b.identity.masterPublicKey)
        #expect(try await directory.master(forDMKey: String(repeating: "0", count: 64)) == nil)
    }

    @Test func delegationCacheRefusesInvalidAndOlderDelegations() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1)
        let b = try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: 2, count: 32)))
        var forged = b.delegation(issuedAt: 1)
        forged.signingPublicKey = Ed25519.SecretKey.generate().publicKey.hex
        #expect(throws: SocialRejectionError.self) { try a.service.directory.cache(forged, transportIDs: []) }
        #expect(try a.service.directory.delegation(forHex: b.masterPublicKey.hex) == nil)

        let (rotated, _) = try b.rotatedSigningKey(now: 2)
        #expect(try a.service.directory.cache(rotated.delegation(issuedAt: 2), transportIDs: ["t1"]) == .stored)
        #expect(try a.service.directory.cache(b.delegation(issuedAt: 3), transportIDs: ["t2"]) == .keptNewer)
        #expect(try a.service.directory.delegation(forHex: b.masterPublicKey.hex)?.keyIndex == 1)
        #expect(try a.service.directory.transportIDs(forHex: b.masterPublicKey.hex) == ["t2"])
    }

    @Test func badRequestsAreDroppedWithoutAnswerAndCounted() async throws {
        let bed = SocialTestbed()
        let b = try await bed.node(2)
        #expect(try await Self.rawRequest(Array("not json".utf8), to: b, in: bed) == nil)
        #expect(try await Self.rawRequest(Array(#"{"Unknown":{}}"#.utf8), to: b, in: bed) == nil)
        #expect(try await Self.rawRequest(Array(#"{"LinkRequest":{"noise_init":[1,2]}}"#.utf8), to: b, in: bed) == nil)
        #expect(try await Self.rawRequest([UInt8](repeating: 0x20, count: SocialLimits.peerRequestCap + 1), to: b, in: bed) == nil)
        // A push of someone else's content, and a push from a stranger.
        let push = PushMessage(author: String(repeating: "ab", count: 32))
        #expect(try await Self.rawRequest(try WireJSON.encode(PeerRequest.push(push)), to: b, in: bed) == nil)
        // A follow request whose signature does not match.
        let requester = try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: 7, count: 32)))
        var request = FollowRequest(requester: requester.masterPublicKey.hex, timestamp: 5, delegation: requester.delegation(issuedAt: 5))
        request.sign(with: Ed25519.SecretKey.generate())
        #expect(try await Self.rawRequest(try WireJSON.encode(PeerRequest.followRequest(request)), to: b, in: bed) == nil)

        let metrics = b.metrics
        #expect(metrics.rejected(.malformedJSON) == 2)
        #expect(metrics.rejected(.unsupportedRequest) == 1)
        #expect(metrics.rejected(.oversizedMessage) == 1)
        #expect(metrics.rejected(.wrongAuthor) == 1)
        #expect(metrics.rejected(.badSignature) == 1)
        #expect(b.logs.records.filter { $0.level == .warning }.count == 6)
    }

    @Test func pushLimitsAndAuthorisation() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport) // B learns A as a follower
        let now = bed.clock.nowMillis()
        let posts = (0..<51).map { index -> Post in
            var post = Post(id: "p\(index)", author: a.master, content: "x", timestamp: now)
            post.sign(with: a.identity.signingKey)
            return post
        }
        await #expect(throws: PeerClientError.self) {
            _ = try await a.service.client.push(PushMessage(author: a.master, posts: posts), to: b.transport)
        }
        #expect(b.metrics.rejected(.tooManyItems) == 1)
        let ack = try await a.service.client.push(PushMessage(author: a.master, posts: Array(posts.prefix(50))), to: b.transport)
        #expect(ack.receivedPostIDs.count == 50)
        #expect(try b.service.store.postCount(author: a.master) == 50)

        // A stranger (neither follower nor followee of B) may not push.
        let c = try await bed.node(3)
        // The follow request teaches B who C is (public: approved, no state stored).
        guard case .approved = try await c.service.requestFollow(b.transport) else {
            Issue.record("a public account approves follow requests")
            return
        }
        await #expect(throws: PeerClientError.self) {
            _ = try await c.service.client.push(PushMessage(author: c.master), to: b.transport)
        }
        #expect(b.metrics.rejected(.unauthorized) == 1)
    }

    @Test func syncStreamsBatchesOf200ThenDiffsByID() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        for index in 0..<450 { try await b.service.post("post \(index)") }

        // Raw phase 1 + 2: the summary, then frames of 200, 200, 50 and a terminator.
        let connection = try await bed.network.dialer(for: a.transport).connect(
            to: PeerAddress(id: b.transport), alpn: PeerProtocolHandler.alpn, timeoutSeconds: 5)
        let (send, receive) = try await connection.openBidirectionalStream()
        let request = SyncRequest(author: b.master, postCount: 0, interactionCount: 0, newestTimestamp: 0, newestInteractionTimestamp: 0)
        try await send.write(try WireJSON.encode(PeerRequest.sync(request)))
        try await send.finish()
        let summary = try WireJSON.decode(SyncSummary.self, from: try await receive.readToEnd(limit: 65_536))
        #expect(summary.mode == .timestampCatchUp && summary.serverPostCount == 450 && summary.postsAfterCount == 450)
        let frames = try await PeerProtocolClient.receiveFrames(on: connection, ids: nil)
        connection.close(code: 0, reason: "done")
        let sizes = try frames.map { frame -> Int in
            guard case .posts(let posts) = try WireJSON.decode(SyncFrame.self, from: frame) else { return -1 }
            return posts.count
        }
        #expect(sizes == [200, 200, 50])

        // Through the client (after learning B's delegation, which the posts verify against).
        _ = try await a.service.client.identity(of: b.transport)
        let first = try await a.service.client.sync(author: b.master, from: b.transport)
        #expect(first.mode == .timestampCatchUp && first.postsAccepted == 450)

        // B deletes two posts A holds and writes a new one: A holds more than B (449), so the
        // counts cannot be explained by a timestamp catch-up. (Equal counts would be UpToDate.)
        for victim in try b.service.store.posts(author: b.master, limit: 2, offset: 10) {
            try b.service.store.deletePost(id: victim.id, author: b.master, durability: .normal)
        }
        try await b.service.post("newest")
        let second = try await a.service.client.sync(author: b.master, from: b.transport)
        #expect(second.mode == .needIDDiff)
        #expect(second.postsAccepted == 1)
        #expect(try a.service.store.postCount(author: b.master) == 451)
    }

    @Test func oversizedOrMalformedSyncFramesAreRejected() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1)
        let author = String(repeating: "cd", count: 32)
        func fakeServer(_ frame: [UInt8]) -> EndpointID {
            let id = Ed25519.SecretKey.generate().publicKey
            bed.network.serve(id, alpn: PeerProtocolHandler.alpn, handler: ScriptedPeerHandler { connection in
                let (send, receive) = try await connection.acceptBidirectionalStream()
                _ = try await receive.readToEnd(limit: 1 << 20)
                let summary = SyncSummary(serverPostCount: 1, serverInteractionCount: 0, postsAfterCount: 1,
                                          interactionsAfterCount: 0, mode: .timestampCatchUp, profile: nil)
                try await send.write(try WireJSON.encode(summary))
                try await send.finish()
                let (dataSend, dataReceive) = try await connection.acceptBidirectionalStream()
                _ = try await dataReceive.readToEnd(limit: 1 << 20)
                try await dataSend.write(frame)
                try await dataSend.finish()
            })
            return id
        }
        // A length prefix of 10,000,001 bytes: refused before any payload is buffered.
        let oversized = fakeServer([0x00, 0x98, 0x96, 0x81])
        await #expect(throws: PeerClientError.self) { _ = try await a.service.client.sync(author: author, from: oversized) }
        #expect(a.metrics.rejected(.oversizedMessage) == 1)
        // A well-framed frame of garbage JSON.
        let garbage = fakeServer(try FrameEncoder(prefix: .u32BigEndian, maxFrameSize: 100).frame(Array("{oops".utf8)) + [0, 0, 0, 0])
        await #expect(throws: PeerClientError.self) { _ = try await a.service.client.sync(author: author, from: garbage) }
        #expect(a.metrics.rejected(.malformedJSON) == 1)
        // A stream that ends without the terminator.
        let truncated = fakeServer([0, 0, 0, 5, 1])
        await #expect(throws: PeerClientError.self) { _ = try await a.service.client.sync(author: author, from: truncated) }
        #expect(try a.service.store.postCount(author: author) == 0)
    }

    @Test func silentResponderTimesOut() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1)
        let silent = Ed25519.SecretKey.generate().publicKey
        bed.network.serve(silent, alpn: PeerProtocolHandler.alpn, handler: ScriptedPeerHandler { connection in
            _ = try await connection.acceptBidirectionalStream() // reads nothing, never answers
            _ = await connection.closed()
        })
        var client = a.service.client
        client.requestTimeoutSeconds = 0.2
        do {
            _ = try await client.identity(of: silent)
            Issue.record("expected a timeout")
        } catch let error as PeerClientError {
            #expect(error.description.contains("no answer within 0.2 s"))
        }
    }

    @Test func followsAndFollowersLists() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport)
        let follows = try await b.service.client.followsList(of: a.transport)
        #expect(follows.pubkey == a.master && follows.hidden == false && follows.follows.map(\.pubkey) == [b.master])
        let followers = try await a.service.client.followersList(of: b.transport)
        #expect(followers.followers.map(\.pubkey) == [a.master] && followers.followers[0].isOnline)
        try a.service.store.setPreference("share_follows", "0")
        let hidden = try await b.service.client.followsList(of: a.transport)
        #expect(hidden.hidden && hidden.follows.isEmpty)
    }

    /// The Identity response's delegation, checked by an independent Ed25519 (PyPI pynacl) that
    /// rebuilds the §3.4 signed bytes from the JSON it receives.
    @Test(.enabled(if: PythonPeers.isEnabled))
    func identityDelegationVerifiesWithPyNaCl() async throws {
        let bed = SocialTestbed()
        let b = try await bed.node(2)
        let raw = try #require(try await Self.rawRequest(Array(#""IdentityRequest""#.utf8), to: b, in: bed))
        let script = """
        import json, sys
        from nacl.signing import VerifyKey
        from nacl.exceptions import BadSignatureError
        d = json.loads(sys.stdin.buffer.read())["Identity"]["delegation"]
        fields = {k: d[k] for k in ("master_pubkey", "signing_pubkey", "key_index", "dm_pubkey", "dm_key_index", "issued_at")}
        msg = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        key = VerifyKey(bytes.fromhex(d["master_pubkey"]))
        key.verify(msg, bytes.fromhex(d["signature"]))
        tampered = dict(fields, issued_at=fields["issued_at"] + 1)
        try:
            key.verify(json.dumps(tampered, sort_keys=True, separators=(",", ":")).encode(), bytes.fromhex(d["signature"]))
            print("tamper-accepted")
        except BadSignatureError:
            print("ok " + d["signing_pubkey"])
        """
        let output = try PythonPeers.runText(script, input: raw)
        #expect(output == "ok " + b.identity.signingKey.publicKey.hex)
    }
}
