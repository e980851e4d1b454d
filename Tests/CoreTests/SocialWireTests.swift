import Foundation
import Testing
@testable import Core

/// Spec §15.2 vectors re-derived from the typed content structs, and the wire JSON shapes of
/// §2.1, §5.3, §6 (exact bytes out; any order, unknown fields, missing optionals in).
@Suite("Social wire format")
struct SocialWireTests {
    static let M = IdentityKeyTests.master
    static let S0 = IdentityKeyTests.signing0
    static let T0 = IdentityKeyTests.transport0
    static let postID = "0123456789abcdef0123456789abcdef"
    let identity: NodeIdentity

    init() throws {
        identity = try NodeIdentity(masterSeed: IdentityKeyTests.masterSeed)
    }

    private func expectSigned(_ bytes: [UInt8], _ signature: String, expected: String, by key: Ed25519.SecretKey? = nil) {
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        #expect(Hex.encode((key ?? identity.signingKey).signature(for: bytes)) == signature)
    }

    static func vectorPost() -> Post {
        Post(id: postID, author: M, content: "hello #proscenium", timestamp: 1_700_000_000_000)
    }

    @Test("15.2.2 post bytes and signature from Post")
    func post() {
        var post = Self.vectorPost()
        post.sign(with: identity.signingKey)
        expectSigned(post.signedBytes, "2cfdf956a0a23945b396db7e4e4d8ffab328967dd9d66ff1a0e6a7cafa857f12b599c36c394573dd72bb0c13778f26436c80f61e57e367f9f4f6439525c6ba09",
                     expected: #"{"author":"\#(Self.M)","content":"hello #proscenium","id":"\#(Self.postID)","media":[],"quote_of":null,"quote_of_author":null,"reply_to":null,"reply_to_author":null,"timestamp":1700000000000}"#)
        #expect(post.signature.hasPrefix("2cfdf956"))
    }

    @Test("15.2.3 post with media: nested keys sorted")
    func postWithMedia() {
        var post = Self.vectorPost()
        post.media = [MediaAttachment(hash: String(repeating: "ab", count: 32), ticket: "blobexample", mimeType: "image/png",
                                      filename: "a.png", size: 1234)]
        let text = String(decoding: post.signedBytes, as: UTF8.self)
        #expect(text.contains(#""media":[{"filename":"a.png","hash":"\#(String(repeating: "ab", count: 32))","mime_type":"image/png","size":1234,"ticket":"blobexample"}],"#))
    }

    @Test("15.2.4 interaction")
    func interaction() {
        let like = Interaction(id: "fedcba9876543210fedcba9876543210", author: Self.M, targetPostID: Self.postID,
                               targetAuthor: Self.M, timestamp: 1_700_000_000_001)
        expectSigned(like.signedBytes, "11b293c921af0a114a139a2106054aca4d99f68dfa49f51a3dde7a5ceb08de8f941ffcf1eec0555ab2dde144579efc9012bdcac4a1d6d50827d90c753213d80b",
                     expected: #"{"author":"\#(Self.M)","id":"fedcba9876543210fedcba9876543210","kind":"Like","target_author":"\#(Self.M)","target_post_id":"\#(Self.postID)","timestamp":1700000000001}"#)
    }

    @Test("15.2.5 profile")
    func profile() {
        let profile = Profile(displayName: "Alice", bio: "", visibility: .public)
        expectSigned(profile.signedBytes, "8d1b10c47822e9b0792ca57ca7313e95cbf6e83fa9baed74efda5be501da4204846282ff07633115442a3ea6dfa9709e7199bbe7168159a4e4efe39d82378e06",
                     expected: #"{"avatar_hash":null,"avatar_ticket":null,"bio":"","display_name":"Alice","visibility":"public"}"#)
    }

    @Test("15.2.6 delete post; delete interaction action")
    func deletes() {
        let delete = DeletePost(id: Self.postID, author: Self.M)
        expectSigned(delete.signedBytes, "8ec5453808f7d9899bfbbb189385cc676af2073b567184ad9180cf74bc56545fed6f99379c979f0c9722092aea47c11330b6470a74d53d9799e3984c49cb8800",
                     expected: #"{"action":"delete_post","author":"\#(Self.M)","id":"\#(Self.postID)"}"#)
        #expect(String(decoding: DeleteInteraction(id: "x", author: "y").signedBytes, as: UTF8.self)
                == #"{"action":"delete_interaction","author":"y","id":"x"}"#)
    }

    @Test("15.2.7 follow request, and its verification")
    func followRequest() throws {
        var request = FollowRequest(requester: Self.M, timestamp: 1_700_000_000_000,
                                    delegation: identity.delegation(issuedAt: 1_700_000_000_000))
        request.sign(with: identity.signingKey)
        expectSigned(request.signedBytes, "e2c62189997974d1475beb0c8d6bcb5be216aa665084877ee923703f3527dd00ca163977a6405487053f6962624114f6d40c21c466e0e42fb4a659a1f8663d0e",
                     expected: #"{"requester":"\#(Self.M)","timestamp":1700000000000}"#)
        try request.verify()
        var forged = request
        forged.timestamp += 1
        #expect(throws: SignedRecordError.self) { try forged.verify() }
    }

    @Test("15.2.1 delegation and 15.2.12 rotation through the content path")
    func delegationAndRotation() throws {
        let delegation = identity.delegation(issuedAt: 1_700_000_000_000)
        #expect(delegation.signature == "29eaaa902f2bc848b093e993ae9aa308098a60d9afc00e3737d3460554366314fd72e482378ffbfa14bbc97196537970eee80937840c2fc0d02943a136ccaa07")
        // Round trip through wire JSON keeps it verifiable.
        let decoded = try WireJSON.decode(SigningKeyDelegation.self, from: try WireJSON.encode(delegation))
        try decoded.verify()
        let (_, rotation) = try identity.rotatedSigningKey(now: 1_700_000_000_000)
        let message = GossipMessage.signingKeyRotation(rotation)
        let back = try GossipMessage.decode(try message.wireBytes())
        #expect(back == message)
    }

    @Test("15.2.11 linked-devices announcement")
    func announcement() throws {
        var announcement = LinkedDevicesAnnouncement(
            masterPublicKey: Self.M, delegation: identity.delegation(issuedAt: 1_700_000_000_000),
            devices: [DeviceEntry(nodeID: Self.T0, deviceName: "Primary Device", isPrimary: true, addedAt: 1_700_000_000_000)],
            version: 1, timestamp: 1_700_000_000_000)
        announcement.sign(with: identity.signingKey)
        expectSigned(announcement.signedBytes, "59e295456cf848a5d59a512020e985ab4fa83233df290240ab058d557e3899f3a5ec237847754aee3a7ceb1137b174cd7ba7e2b777562380bc26799626662009",
                     expected: #"{"devices":[{"added_at":1700000000000,"device_name":"Primary Device","is_primary":true,"node_id":"\#(Self.T0)"}],"master_pubkey":"\#(Self.M)","timestamp":1700000000000,"version":1}"#)
        try announcement.verify()
    }

    @Test("15.3 stage ticket string form")
    func stageTicket() throws {
        let vector = "7b2273746167655f6964223a223030313132323333343435353636373738383939616162626363646465656666222c22686f73745f7075626b6579223a2231373238646634633662623632346638373563356430306364656233356562353833666362396264613161356332393765613836663430343666313064313064222c22686f73745f6e6f64655f6964223a2233363939363033373530633664626135343962643462363737356462336535663133393038643661656538646230383863313462373765373962323539343461222c227469746c65223a224869227d"
        let ticket = StageTicket(stageID: "00112233445566778899aabbccddeeff", hostPublicKey: Self.S0, hostNodeID: Self.T0, title: "Hi")
        #expect(ticket.stringForm == vector)
        #expect(try StageTicket(stringForm: vector) == ticket)
        #expect(throws: WireJSONError.self) { _ = try StageTicket(stringForm: "zz") }
    }

    // MARK: Wire JSON out

    @Test func postWireBytesHaveDeclarationOrderAndExplicitNulls() throws {
        let post = Post(id: "i", author: "a", content: "q\"/é\n", timestamp: 5)
        let json = String(decoding: try WireJSON.encode(GossipMessage.newPost(post)), as: UTF8.self)
        #expect(json == #"{"NewPost":{"id":"i","author":"a","content":"q\"/é\n","timestamp":5,"media":[],"reply_to":null,"reply_to_author":null,"quote_of":null,"quote_of_author":null,"signature":""}}"#)
    }

    @Test func unitVariantsAndBareResponses() throws {
        #expect(String(decoding: try GossipMessage.heartbeat.wireBytes(), as: UTF8.self) == #""Heartbeat""#)
        #expect(String(decoding: try WireJSON.encode(PeerRequest.identityRequest), as: UTF8.self) == #""IdentityRequest""#)
        #expect(String(decoding: try WireJSON.encode(FollowResponse.pending), as: UTF8.self) == #""Pending""#)
        #expect(String(decoding: try WireJSON.encode(GossipMessage.stageEnded(StageEnded(stageID: "s"))), as: UTF8.self)
                == #"{"StageEnded":{"stage_id":"s"}}"#)
        let link = PeerRequest.linkRequest(LinkRequest(noiseInit: [12, 250, 0]))
        #expect(String(decoding: try WireJSON.encode(link), as: UTF8.self) == #"{"LinkRequest":{"noise_init":[12,250,0]}}"#)
    }

    @Test func syncSummaryOmitsAbsentActiveStage() throws {
        var summary = SyncSummary(serverPostCount: 3, serverInteractionCount: 1, postsAfterCount: 2, interactionsAfterCount: 0,
                                  mode: .timestampCatchUp, profile: nil)
        #expect(String(decoding: try WireJSON.encode(summary), as: UTF8.self)
                == #"{"server_post_count":3,"server_interaction_count":1,"posts_after_count":2,"interactions_after_count":0,"mode":"TimestampCatchUp","profile":null}"#)
        let ticket = StageTicket(stageID: "s", hostPublicKey: "h", hostNodeID: "n", title: "t")
        summary.activeStage = StageAnnouncement(stageID: "s", title: "t", ticket: ticket, hostPublicKey: "m", startedAt: 9)
        let json = String(decoding: try WireJSON.encode(summary), as: UTF8.self)
        #expect(json.hasSuffix(#""profile":null,"active_stage":{"stage_id":"s","title":"t","ticket":{"stage_id":"s","host_pubkey":"h","host_node_id":"n","title":"t"},"host_pubkey":"m","started_at":9}}"#))
        #expect(try WireJSON.decode(SyncSummary.self, from: Array(json.utf8)) == summary)
    }

    @Test func identityResponseWrapped() throws {
        let identityResponse = IdentityResponse(masterPublicKey: Self.M, delegation: identity.delegation(issuedAt: 1),
                                                transportNodeIDs: [Self.T0], profile: nil)
        let json = String(decoding: try WireJSON.encode(PeerResponse.identity(identityResponse)), as: UTF8.self)
        #expect(json.hasPrefix(#"{"Identity":{"master_pubkey":"\#(Self.M)","delegation":{"master_pubkey":"#))
        #expect(json.hasSuffix(#""transport_node_ids":["\#(Self.T0)"],"profile":null}}"#))
    }

    // MARK: Wire JSON in (hand-written, reference-shaped)

    @Test func decodeAcceptsAnyOrderUnknownFieldsAndDefaults() throws {
        // Fields shuffled, an unknown field, media/reply_to/quote fields missing.
        let text = #"{"NewPost":{"signature":"ab","timestamp":1700000000000,"extra":{"x":[1,2]},"content":"hi","author":"\#(Self.M)","id":"p1"}}"#
        guard case .newPost(let post) = try GossipMessage.decode(Array(text.utf8)) else {
            Issue.record("not a NewPost")
            return
        }
        #expect(post.media == [] && post.replyTo == nil && post.quoteOfAuthor == nil && post.content == "hi")
        let profile = try WireJSON.decode(Profile.self, from: Array(#"{"visibility":"listed","bio":"b","display_name":"n"}"#.utf8))
        #expect(profile.signature == "" && profile.visibility == .listed && profile.avatarHash == nil)
        let heartbeat = try GossipMessage.decode(Array(#""Heartbeat""#.utf8))
        #expect(heartbeat == .heartbeat)
        let like = try GossipMessage.decode(Array(#"{"NewInteraction":{"id":"i","author":"a","kind":"Like","target_post_id":"t","target_author":"b","timestamp":3,"signature":"s"}}"#.utf8))
        #expect(like == .newInteraction(Interaction(id: "i", author: "a", targetPostID: "t", targetAuthor: "b", timestamp: 3, signature: "s")))
        let response = try WireJSON.decode(FollowResponse.self, from: Array(#""Denied""#.utf8))
        #expect(response == .denied)
        let frame = try WireJSON.decode(SyncFrame.self, from: Array(#"{"Interactions":[]}"#.utf8))
        #expect(frame == .interactions([]))
        let ack = try WireJSON.decode(PushAck.self, from: Array(#"{"received_interaction_ids":["b"],"received_post_ids":["a"]}"#.utf8))
        #expect(ack == PushAck(receivedPostIDs: ["a"], receivedInteractionIDs: ["b"]))
        let request = try WireJSON.decode(PeerRequest.self, from: Array(#"{"Sync":{"newest_interaction_timestamp":0,"author":"a","post_count":1,"interaction_count":2,"newest_timestamp":3}}"#.utf8))
        #expect(request == .sync(SyncRequest(author: "a", postCount: 1, interactionCount: 2, newestTimestamp: 3, newestInteractionTimestamp: 0)))
    }

    @Test func decodeRejectsMalformedInput() {
        for bad in [#"{"NewPost":{"id":"x"}}"#, #"{"Bogus":{}}"#, #"{"NewPost":{},"DeletePost":{}}"#, "not json", #"{"ProfileUpdate":{"display_name":"a","bio":"","visibility":"secret"}}"#] {
            #expect(throws: WireJSONError.self) { _ = try GossipMessage.decode(Array(bad.utf8)) }
        }
    }

    @Test func mentionsAndHashtags() {
        let text = "hi @\(Self.M) and @\(Self.M.uppercased()) @abc #Proscenium #swift_6 #é1 #"
        #expect(Mentions.mentions(in: text) == [Self.M])
        #expect(Mentions.hashtags(in: text) == ["proscenium", "swift_6", "é1"])
    }

    @Test func validationLimits() {
        let now: UInt64 = 1_000_000
        var post = Post(id: "p", author: Self.M, content: String(repeating: "é", count: 5_001), timestamp: now)
        #expect(throws: SocialRejectionError.self) { try SocialValidator.validate(post, now: now) }
        post.content = String(repeating: "a", count: 10_000)
        #expect(throws: Never.self) { try SocialValidator.validate(post, now: now) }
        post.timestamp = now + 300_001
        #expect(throws: SocialRejectionError(.timestampInFuture, "post p timestamp 1300001 is 300001 ms ahead of now 1000000 (max 300000)")) {
            try SocialValidator.validate(post, now: now)
        }
        post.timestamp = 0
        post.media = Array(repeating: MediaAttachment(hash: "", ticket: "", mimeType: "", filename: "", size: 0), count: 11)
        #expect(throws: SocialRejectionError.self) { try SocialValidator.validate(post, now: now) }
        #expect(throws: SocialRejectionError.self) {
            try SocialValidator.validate(Profile(displayName: String(repeating: "n", count: 201)))
        }
    }
}
