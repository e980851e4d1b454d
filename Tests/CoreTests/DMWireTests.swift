import Testing
@testable import Core

@Suite("DM wire JSON")
struct DMWireTests {
    static let dh = [UInt8](repeating: 0xab, count: 32)

    @Test func handshakeInitAndResponse() throws {
        let initMessage = DMMessage.handshake(.initiate(noiseMessage: [1, 2, 255], sender: "aa11"))
        #expect(String(decoding: initMessage.encoded, as: UTF8.self)
                == #"{"Handshake":{"Init":{"noise_message":[1,2,255],"sender":"aa11"}}}"#)
        #expect(try DMMessage.decode(initMessage.encoded) == initMessage)
        let response = DMHandshakeMessage.response(noiseMessage: [0, 7])
        #expect(String(decoding: response.encoded, as: UTF8.self) == #"{"Response":{"noise_message":[0,7]}}"#)
        #expect(try DMHandshakeMessage.decode(Array(#" { "Response" : { "noise_message" : [ 0 , 7 ] , "extra": {"x":[1.5,-2]} } } "#.utf8)) == response)
    }

    @Test func envelope() throws {
        let envelope = EncryptedEnvelope(sender: "bb22",
                                         header: DoubleRatchet.Header(dhPublic: Self.dh, messageNumber: 3, previousChainLength: 9),
                                         ciphertext: [9, 8, 7])
        let expected = #"{"Envelope":{"sender":"bb22","ratchet_header":{"dh_public":""# + String(repeating: "ab", count: 32)
            + #"","message_number":3,"previous_chain_length":9},"ciphertext":[9,8,7]}}"#
        #expect(String(decoding: DMMessage.envelope(envelope).encoded, as: UTF8.self) == expected)
        #expect(try DMMessage.decode(Array(expected.utf8)) == .envelope(envelope))
        // Any member order is accepted.
        let reordered = #"{"Envelope":{"ciphertext":[9,8,7],"ratchet_header":{"previous_chain_length":9,"message_number":3,"dh_public":""#
            + String(repeating: "AB", count: 32) + #""},"sender":"bb22"}}"#
        #expect(try DMMessage.decode(Array(reordered.utf8)) == .envelope(envelope))
    }

    @Test func ackIsNull() {
        #expect(DMAck.encoded == Array("null".utf8))
        #expect(DMAck.isAck(Array(" null\n".utf8)))
        #expect(!DMAck.isAck(Array("{}".utf8)))
        #expect(!DMAck.isAck([]))
    }

    @Test func everyPayloadVariant() throws {
        let cases: [(DMPayload, String)] = [
            (.message(DirectMessage(id: "0123456789abcdef0123456789abcdef", content: "hi", timestamp: 1700000000000)),
             #"{"Message":{"id":"0123456789abcdef0123456789abcdef","content":"hi","timestamp":1700000000000,"media":[],"reply_to":null}}"#),
            (.message(DirectMessage(id: "m", content: "q\"\n/é", timestamp: 1,
                                    media: [DMMediaAttachment(hash: "h", ticket: "t", mimeType: "image/png", filename: "a.png", size: 5)],
                                    replyTo: "r")),
             #"{"Message":{"id":"m","content":"q\"\n/é","timestamp":1,"media":[{"hash":"h","ticket":"t","mime_type":"image/png","filename":"a.png","size":5}],"reply_to":"r"}}"#),
            (.typing, #""Typing""#),
            (.read(messageID: "x"), #"{"Read":{"message_id":"x"}}"#),
            (.delivered(messageID: "y"), #"{"Delivered":{"message_id":"y"}}"#),
            (.callOffer(callID: "c", video: false), #"{"CallOffer":{"call_id":"c","video":false}}"#),
            (.callAnswer(callID: "c"), #"{"CallAnswer":{"call_id":"c"}}"#),
            (.callReject(callID: "c"), #"{"CallReject":{"call_id":"c"}}"#),
            (.callHangup(callID: "c"), #"{"CallHangup":{"call_id":"c"}}"#)
        ]
        for (payload, json) in cases {
            #expect(String(decoding: payload.encoded, as: UTF8.self) == json)
            #expect(try DMPayload.decode(Array(json.utf8)) == payload)
        }
        // `media` may be missing (serde default).
        #expect(try DMPayload.decode(Array(#"{"Message":{"id":"i","content":"c","timestamp":2,"reply_to":null}}"#.utf8))
                == .message(DirectMessage(id: "i", content: "c", timestamp: 2)))
    }

    @Test func specVectorCiphertextDecodesToMessage() throws {
        // §15.3: the plaintext of the reference vector is exactly our serialization.
        let text = #"{"Message":{"id":"0123456789abcdef0123456789abcdef","content":"hi","timestamp":1700000000000,"media":[],"reply_to":null}}"#
        let key = SecretBytes(Hex.decode("1373f564679a6eefc71f0fff9de8948b0a8e6e7e0c6ca9de4f0d922104c17f11")!)
        let payload = DMPayload.message(DirectMessage(id: "0123456789abcdef0123456789abcdef", content: "hi", timestamp: 1700000000000))
        #expect(Hex.encode(RatchetCipher.encrypt(payload.encoded, messageKey: key)).hasPrefix("802e3dedbfaa0858"))
        #expect(payload.encoded == Array(text.utf8))
    }

    // Swift 6.0.3 crashes on string interpolation inside a macro argument: build the list here.
    static let zeroKey = String(repeating: "00", count: 32)
    static let garbage: [String] = [
        "", "nul", "{", #"{"Envelope":{}}"#, #"{"Handshake":{"Init":{"noise_message":[256],"sender":"a"}}}"#,
        #"{"Handshake":{"Init":{"noise_message":[1],"sender":5}}}"#, #"{"Envelope":1,"Handshake":2}"#,
        #"{"Envelope":{"sender":"s","ratchet_header":{"dh_public":"zz","message_number":0,"previous_chain_length":0},"ciphertext":[]}}"#,
        #"{"Envelope":{"sender":"s","ratchet_header":{"dh_public":"00","message_number":0,"previous_chain_length":0},"ciphertext":[]}}"#,
        #"{"Envelope":{"sender":"s","ratchet_header":{"dh_public":""# + zeroKey + #"","message_number":4294967296,"previous_chain_length":0},"ciphertext":[]}}"#,
        #"{"Unknown":{}}"#, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "\"\\ud800\"", "null x"
    ]

    @Test(arguments: DMWireTests.garbage)
    func garbageIsATypedError(text: String) {
        #expect(throws: DMWireError.self) { try DMMessage.decode(Array(text.utf8)) }
    }

    @Test func ratchetStateJSONRoundTripsInTableOrder() throws {
        let pair = try RatchetPair()
        var alice = pair.alice
        _ = try alice.encrypt([1, 2, 3])
        let json = alice.stateJSON
        let text = json.serializedString
        #expect(text.hasPrefix(#"{"dh_self_private":["#))
        let order = ["dh_self_private", "dh_self_public", "dh_remote_public", "root_key", "chain_key_send", "chain_key_recv",
                     "send_count", "recv_count", "prev_send_count", "skipped_keys"]
        if case let .object(members) = json { #expect(members.map(\.key) == order) } else { Issue.record("not an object") }
        #expect(text.contains(#""chain_key_recv":null,"send_count":1,"recv_count":0,"prev_send_count":0,"skipped_keys":[]}"#))
        #expect(try DoubleRatchet(stateJSON: try DMJSON.parse(text)) == alice)
    }
}
