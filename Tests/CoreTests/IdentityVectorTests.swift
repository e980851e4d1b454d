import Foundation
import Testing
@testable import Core

/// Spec §15.2: all 12 canonical signing byte strings, built from typed fields, and their signatures.
@Suite("Identity signing vectors (spec §15.2)")
struct IdentityVectorTests {
    static let M = IdentityKeyTests.master
    static let S0 = IdentityKeyTests.signing0
    static let T0 = IdentityKeyTests.transport0
    let identity: NodeIdentity

    init() throws {
        identity = try NodeIdentity(masterSeed: IdentityKeyTests.masterSeed)
    }

    /// Checks the bytes and the signing key's deterministic Ed25519 signature, and that it verifies.
    private func check(_ value: CanonicalJSON, bytes expected: String, signature: String,
                       signer: Ed25519.SecretKey? = nil) {
        let key = signer ?? identity.signingKey
        let bytes = value.canonicalBytes
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        #expect(Hex.encode(key.signature(for: bytes)) == signature)
        #expect(key.publicKey.isValidSignature(Hex.decode(signature)!, for: Array(expected.utf8)))
    }

    @Test("1. delegation (master key)")
    func delegation() throws {
        let delegation = identity.delegation(issuedAt: 1_700_000_000_000)
        let expected = #"{"dm_key_index":0,"dm_pubkey":"0a69f94503e169206b449e0d775796b3cbf27f17602a6625b8ac43e14856d12f","issued_at":1700000000000,"key_index":0,"master_pubkey":"197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61","signing_pubkey":"1728df4c6bb624f875c5d00cdeb35eb583fcb9bda1a5c297ea86f4046f10d10d"}"#
        let signature = "29eaaa902f2bc848b093e993ae9aa308098a60d9afc00e3737d3460554366314fd72e482378ffbfa14bbc97196537970eee80937840c2fc0d02943a136ccaa07"
        #expect(String(decoding: delegation.signedBytes, as: UTF8.self) == expected)
        #expect(delegation.signature == signature)
        try delegation.verify()
    }

    static func post(media: [CanonicalJSON]) -> CanonicalJSON {
        .object([
            "id": "0123456789abcdef0123456789abcdef", "author": .string(M), "content": "hello #proscenium",
            "timestamp": 1_700_000_000_000, "media": .array(media), "reply_to": nil, "reply_to_author": nil,
            "quote_of": nil, "quote_of_author": nil
        ])
    }

    @Test("2. post")
    func post() {
        check(Self.post(media: []),
              bytes: #"{"author":"\#(Self.M)","content":"hello #proscenium","id":"0123456789abcdef0123456789abcdef","media":[],"quote_of":null,"quote_of_author":null,"reply_to":null,"reply_to_author":null,"timestamp":1700000000000}"#,
              signature: "2cfdf956a0a23945b396db7e4e4d8ffab328967dd9d66ff1a0e6a7cafa857f12b599c36c394573dd72bb0c13778f26436c80f61e57e367f9f4f6439525c6ba09")
    }

    @Test("3. post with media (bytes only: nested sorting)")
    func postWithMedia() {
        let hash = String(repeating: "ab", count: 32)
        let media: CanonicalJSON = ["hash": .string(hash), "ticket": "blobexample", "mime_type": "image/png", "filename": "a.png", "size": 1234]
        let bytes = Self.post(media: [media]).canonicalString
        let mediaPart = #""media":[{"filename":"a.png","hash":"\#(hash)","mime_type":"image/png","size":1234,"ticket":"blobexample"}],"#
        #expect(bytes.contains(mediaPart))
        #expect(bytes == #"{"author":"\#(Self.M)","content":"hello #proscenium","id":"0123456789abcdef0123456789abcdef",\#(mediaPart)"quote_of":null,"quote_of_author":null,"reply_to":null,"reply_to_author":null,"timestamp":1700000000000}"#)
    }

    @Test("4. interaction")
    func interaction() {
        check(["id": "fedcba9876543210fedcba9876543210", "author": .string(Self.M), "kind": "Like",
               "target_post_id": "0123456789abcdef0123456789abcdef", "target_author": .string(Self.M), "timestamp": 1_700_000_000_001],
              bytes: #"{"author":"\#(Self.M)","id":"fedcba9876543210fedcba9876543210","kind":"Like","target_author":"\#(Self.M)","target_post_id":"0123456789abcdef0123456789abcdef","timestamp":1700000000001}"#,
              signature: "11b293c921af0a114a139a2106054aca4d99f68dfa49f51a3dde7a5ceb08de8f941ffcf1eec0555ab2dde144579efc9012bdcac4a1d6d50827d90c753213d80b")
    }

    @Test("5. profile")
    func profile() {
        check(["display_name": "Alice", "bio": "", "avatar_hash": nil, "avatar_ticket": nil, "visibility": "public"],
              bytes: #"{"avatar_hash":null,"avatar_ticket":null,"bio":"","display_name":"Alice","visibility":"public"}"#,
              signature: "8d1b10c47822e9b0792ca57ca7313e95cbf6e83fa9baed74efda5be501da4204846282ff07633115442a3ea6dfa9709e7199bbe7168159a4e4efe39d82378e06")
    }

    @Test("6. delete post")
    func deletePost() {
        check(["action": "delete_post", "id": "0123456789abcdef0123456789abcdef", "author": .string(Self.M)],
              bytes: #"{"action":"delete_post","author":"\#(Self.M)","id":"0123456789abcdef0123456789abcdef"}"#,
              signature: "8ec5453808f7d9899bfbbb189385cc676af2073b567184ad9180cf74bc56545fed6f99379c979f0c9722092aea47c11330b6470a74d53d9799e3984c49cb8800")
    }

    @Test("7. follow request")
    func followRequest() {
        check(["requester": .string(Self.M), "timestamp": 1_700_000_000_000],
              bytes: #"{"requester":"\#(Self.M)","timestamp":1700000000000}"#,
              signature: "e2c62189997974d1475beb0c8d6bcb5be216aa665084877ee923703f3527dd00ca163977a6405487053f6962624114f6d40c21c466e0e42fb4a659a1f8663d0e")
    }

    @Test("8. device-sync challenge (raw bytes, not CJSON)")
    func deviceSyncChallenge() {
        let message = Array("proscenium-device-sync-v1:".utf8) + (0..<32).map { UInt8($0) }
        #expect(Hex.encode(message) == "70726f7363656e69756d2d6465766963652d73796e632d76313a000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        let signature = identity.signingKey.signature(for: message)
        #expect(Hex.encode(signature) == "759eb810084119e14bf3d8351e428f9ac6f68be26c199e2e2e013de41db50b6ac7b66e70717ec1e3ef339eda4605b930872a0272547c2fc3db32693ecf1fa504")
        #expect(identity.signingKey.publicKey.isValidSignature(signature, for: message))
    }

    @Test("9. registration")
    func registration() {
        check(["master_pubkey": .string(Self.M), "transport_node_id": .string(Self.T0), "server_url": "https://example.org",
               "visibility": "public", "action": nil, "timestamp": 1_700_000_000_000],
              bytes: #"{"action":null,"master_pubkey":"\#(Self.M)","server_url":"https://example.org","timestamp":1700000000000,"transport_node_id":"\#(Self.T0)","visibility":"public"}"#,
              signature: "f6969463b06de973e654042d7064965921987343e1cd92a4d8d7ecd2dc2c8183712fc209a59b7ec22b55990cb9e104e0e5952bcbb56a2897273e1edc4ca68601")
    }

    @Test("10. stage control (externally tagged enum, nested sorting)")
    func stageControl() {
        let presence: CanonicalJSON = ["stage_id": "00112233445566778899aabbccddeeff", "pubkey": .string(Self.M),
                                       "node_id": .string(Self.T0), "role": "Listener", "timestamp": 1_700_000_000_000]
        check(["control": ["Presence": presence], "sender_pubkey": .string(Self.S0), "timestamp": 1_700_000_000_000],
              bytes: #"{"control":{"Presence":{"node_id":"\#(Self.T0)","pubkey":"\#(Self.M)","role":"Listener","stage_id":"00112233445566778899aabbccddeeff","timestamp":1700000000000}},"sender_pubkey":"\#(Self.S0)","timestamp":1700000000000}"#,
              signature: "ba858d9514fb32e17d6a259b4ed035eeb9f48cdb0622d204167091d7450d1f84019fa6f51a5c36f2a5803a2d71e97d829668ebdb2f6a236aa0ec35223830bc08")
    }

    @Test("11. linked-devices announcement")
    func linkedDevices() {
        let device: CanonicalJSON = ["node_id": .string(Self.T0), "device_name": "Primary Device", "is_primary": true,
                                     "added_at": 1_700_000_000_000]
        check(["master_pubkey": .string(Self.M), "devices": [device], "version": 1, "timestamp": 1_700_000_000_000],
              bytes: #"{"devices":[{"added_at":1700000000000,"device_name":"Primary Device","is_primary":true,"node_id":"\#(Self.T0)"}],"master_pubkey":"\#(Self.M)","timestamp":1700000000000,"version":1}"#,
              signature: "59e295456cf848a5d59a512020e985ab4fa83233df290240ab058d557e3899f3a5ec237847754aee3a7ceb1137b174cd7ba7e2b777562380bc26799626662009")
    }

    @Test("12. rotation 0 → 1 (master key)")
    func rotation() throws {
        let (next, rotation) = try identity.rotatedSigningKey(now: 1_700_000_000_000)
        #expect(next.signingKeyIndex == 1)
        #expect(String(decoding: rotation.signedBytes, as: UTF8.self) == #"{"action":"signing_key_rotation","master_pubkey":"\#(Self.M)","new_key_index":1,"new_signing_pubkey":"39655c239bf8d8ca99db9da2e6737d4d4df790c0acabcaeced8e72e4cfdcef19","old_signing_pubkey":"1728df4c6bb624f875c5d00cdeb35eb583fcb9bda1a5c297ea86f4046f10d10d","timestamp":1700000000000}"#)
        #expect(rotation.signature == "6f217be514102ddce9d93806c34622741cbee8014c107ffa299c0cdcd9abc83b61585ed9d3e25aedd2d580b56c0de6ab6f93d809f3d3848525e78b791ece2509")
        try rotation.verify()
    }
}
