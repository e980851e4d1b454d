import Testing
import TestSupport
@testable import Core

@Suite("postcard (iroh-wire.md §0.1)")
struct PostcardTests {
    private func hex(_ text: String) -> [UInt8] {
        Hex.decode(text.filter { !$0.isWhitespace })!
    }

    @Test("§0.1 varint examples", arguments: [
        (UInt64(0), "00"), (127, "7f"), (128, "8001"), (300, "ac02"), (1024, "8008"), (11204, "c457"),
        (UInt64.max, "ffffffffffffffffff01")
    ])
    func varintExamples(value: UInt64, encoded: String) throws {
        var writer = PostcardWriter()
        writer.writeU64(value)
        #expect(Hex.encode(writer.bytes) == encoded)
        var reader = PostcardReader(hex(encoded))
        #expect(try reader.readU64() == value)
        try reader.finish()
    }

    @Test("u16/u32 maxima, varint length limits and overflow")
    func varintBounds() throws {
        var writer = PostcardWriter()
        writer.writeU16(UInt16.max)
        writer.writeU32(UInt32.max)
        #expect(Hex.encode(writer.bytes) == "ffff03" + "ffffffff0f")
        var reader = PostcardReader(writer.bytes)
        #expect(try reader.readU16() == UInt16.max)
        #expect(try reader.readU32() == UInt32.max)
        try reader.finish()

        // Last permitted byte carries bits the type does not have.
        #expect(throws: PostcardError.varintOverflow(type: "u16", offset: 0)) { var r = PostcardReader(hex("ffff04")); _ = try r.readU16() }
        #expect(throws: PostcardError.varintOverflow(type: "u32", offset: 0)) { var r = PostcardReader(hex("ffffffff10")); _ = try r.readU32() }
        #expect(throws: PostcardError.varintOverflow(type: "u64", offset: 0)) {
            var r = PostcardReader(hex("ffffffffffffffffff02")); _ = try r.readU64()
        }
        // Continuation bit still set on the last permitted byte.
        #expect(throws: PostcardError.varintTooLong(type: "u16", offset: 0)) { var r = PostcardReader(hex("808080")); _ = try r.readU16() }
        #expect(throws: PostcardError.varintTooLong(type: "u32", offset: 0)) { var r = PostcardReader(hex("8080808080")); _ = try r.readU32() }
        #expect(throws: PostcardError.varintTooLong(type: "u64", offset: 1)) {
            var r = PostcardReader(hex("00 80808080808080808080")); _ = try r.readU8(); _ = try r.readU64()
        }
        // Truncated in the middle.
        #expect(throws: PostcardError.truncated(what: "u64", offset: 2, needed: 1)) { var r = PostcardReader(hex("8080")); _ = try r.readU64() }
        // Padded (non-minimal) encodings: accepted as postcard does, refused on request.
        var lenient = PostcardReader(hex("8000"))
        #expect(try lenient.readU32() == 0)
        #expect(throws: PostcardError.nonMinimalVarint(type: "u32", offset: 0)) {
            var r = PostcardReader(hex("8000"), limits: PostcardLimits(rejectNonMinimalVarints: true)); _ = try r.readU32()
        }
        var strict = PostcardReader(hex("8001"), limits: PostcardLimits(rejectNonMinimalVarints: true))
        #expect(try strict.readU32() == 128)
    }

    @Test("zig-zag signed integers")
    func signed() throws {
        #expect(Postcard.zigzag(0) == 0)
        #expect(Postcard.zigzag(-1) == 1)
        #expect(Postcard.zigzag(1) == 2)
        #expect(Postcard.zigzag(-2) == 3)
        #expect(Postcard.zigzag(Int64.max) == UInt64.max - 1)
        #expect(Postcard.zigzag(Int64.min) == UInt64.max)
        var writer = PostcardWriter()
        writer.writeI16(-1)
        writer.writeI16(Int16.min)
        writer.writeI32(Int32.max)
        writer.writeI64(Int64.min)
        writer.writeI8(-2)
        #expect(Hex.encode(writer.bytes) == "01" + "ffff03" + "feffffff0f" + "ffffffffffffffffff01" + "fe")
        var reader = PostcardReader(writer.bytes)
        #expect(try reader.readI16() == -1)
        #expect(try reader.readI16() == Int16.min)
        #expect(try reader.readI32() == Int32.max)
        #expect(try reader.readI64() == Int64.min)
        #expect(try reader.readI8() == -2)
        try reader.finish()
    }

    @Test("bool, Option, enum index, bytes, string, fixed arrays, sequences, floats")
    func shapes() throws {
        var writer = PostcardWriter()
        writer.writeBool(false)
        writer.writeBool(true)
        writer.writeOption(nil as UInt32?) { $0.writeU32($1) }
        writer.writeOption(UInt32(300)) { $0.writeU32($1) }
        writer.writeVariant(2)
        writer.writeBytes([0xde, 0xad])
        writer.writeString("hé")
        writer.writeFixed([1, 2, 3])
        writer.writeSequence([UInt16(1), 128]) { $0.writeU16($1) }
        writer.writeF32(1.0)
        writer.writeF64(-2.5)
        #expect(Hex.encode(writer.bytes) == "00" + "01" + "00" + "01ac02" + "02" + "02dead" + "0368c3a9" + "010203"
                + "02018001" + "0000803f" + "00000000000004c0")
        var reader = PostcardReader(writer.bytes)
        #expect(try reader.readBool() == false)
        #expect(try reader.readBool() == true)
        let none = try reader.readOption { (r: inout PostcardReader) throws(PostcardError) in try r.readU32() }
        #expect(none == nil)
        let some = try reader.readOption { (r: inout PostcardReader) throws(PostcardError) in try r.readU32() }
        #expect(some == 300)
        #expect(try reader.readVariant() == 2)
        #expect(try reader.readBytes() == [0xde, 0xad])
        #expect(try reader.readString() == "hé")
        #expect(try reader.readFixed(count: 3) == [1, 2, 3])
        let sequence = try reader.readSequence { (r: inout PostcardReader) throws(PostcardError) in try r.readU16() }
        #expect(sequence == [1, 128])
        #expect(try reader.readF32() == 1.0)
        #expect(try reader.readF64() == -2.5)
        try reader.finish()
    }

    @Test("decoding errors are typed")
    func decodeErrors() {
        #expect(throws: PostcardError.invalidBool(byte: 2, offset: 0)) { var r = PostcardReader([2]); _ = try r.readBool() }
        #expect(throws: PostcardError.invalidOptionTag(byte: 7, offset: 0)) { var r = PostcardReader([7]); _ = try r.readOptionTag() }
        #expect(throws: PostcardError.invalidUTF8(offset: 1)) { var r = PostcardReader([2, 0xc3, 0x28]); _ = try r.readString() }
        #expect(throws: PostcardError.invalidUTF8(offset: 1)) { var r = PostcardReader([3, 0xed, 0xa0, 0x80]); _ = try r.readString() } // surrogate
        #expect(throws: PostcardError.truncated(what: "byte string", offset: 1, needed: 3)) { var r = PostcardReader([5, 1, 2]); _ = try r.readBytes() }
        #expect(throws: PostcardError.truncated(what: "fixed array", offset: 0, needed: 30)) { var r = PostcardReader([UInt8](repeating: 0, count: 2)); _ = try r.readFixed(count: 32) }
        #expect(throws: PostcardError.truncated(what: "u8", offset: 0, needed: 1)) { var r = PostcardReader([]); _ = try r.readU8() }
        #expect(throws: PostcardError.lengthTooLarge(what: "byte string", length: 17, maximum: 16, offset: 0)) {
            var r = PostcardReader([17] + [UInt8](repeating: 0, count: 17), limits: PostcardLimits(maxByteLength: 16)); _ = try r.readBytes()
        }
        #expect(throws: PostcardError.lengthTooLarge(what: "sequence", length: 1_000_001, maximum: 1000, offset: 0)) {
            var r = PostcardReader(Postcard.varint(1_000_001), limits: PostcardLimits(maxSequenceLength: 1000)); _ = try r.readSequenceLength()
        }
        // A forged huge element count fails on the missing elements without allocating for them.
        #expect(throws: PostcardError.self) {
            var r = PostcardReader(Postcard.varint(1 << 20)); _ = try r.readSequence { (r: inout PostcardReader) throws(PostcardError) in try r.readU64() }
        }
        #expect(throws: PostcardError.varintOverflow(type: "usize", offset: 0)) {
            var r = PostcardReader(hex("ffffffffffffffffff01")); _ = try r.readUsize()
        }
        #expect(throws: PostcardError.trailingBytes(count: 1, offset: 1)) { var r = PostcardReader([0, 0]); _ = try r.readU8(); try r.finish() }
    }

    // MARK: - Vectors elsewhere in iroh-wire.md

    private func writeSocketAddrV4(_ w: inout PostcardWriter, _ ip: [UInt8], _ port: UInt16) {
        w.writeVariant(0)
        w.writeFixed(ip)
        w.writeU16(port)
    }

    @Test("§1.3 EndpointTicket and BlobTicket postcard bytes and ticket strings")
    func tickets() throws {
        let id = hex("ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6")
        var endpoint = PostcardWriter()
        endpoint.writeVariant(0)                  // Variant1 (the only variant)
        endpoint.writeFixed(id)
        endpoint.writeSequenceLength(2)           // BTreeSet<TransportAddr>: Relay before Ip
        endpoint.writeVariant(0)
        endpoint.writeString("http://derp.me./")
        endpoint.writeVariant(1)
        writeSocketAddrV4(&endpoint, [127, 0, 0, 1], 1024)
        #expect(endpoint.bytes == hex("00 ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6 02 00 10 687474703a2f2f646572702e6d652e2f 01 00 7f000001 8008"))
        #expect("endpoint" + Self.base32Lower(endpoint.bytes) == "endpointacxfr74igmsbvsbnn73wcecg5vt3kbzncqwfrdiampuufwnhkublmaqacbuhi5dqhixs6zdfojyc43lffyxqcad7aaaadaai")

        var reader = PostcardReader(endpoint.bytes)
        #expect(try reader.readVariant() == 0)
        #expect(try reader.readFixed(count: 32) == id)
        #expect(try reader.readSequenceLength() == 2)
        #expect(try reader.readVariant() == 0)
        #expect(try reader.readString() == "http://derp.me./")
        #expect(try reader.readVariant() == 1)
        #expect(try reader.readVariant() == 0)
        #expect(try reader.readFixed(count: 4) == [127, 0, 0, 1])
        #expect(try reader.readU16() == 1024)
        try reader.finish()

        var blob = PostcardWriter()
        blob.writeVariant(0)
        blob.writeFixed(id)
        blob.writeOption(nil as String?) { $0.writeString($1) }
        blob.writeSequenceLength(0)
        blob.writeVariant(0)                      // BlobFormat::Raw
        blob.writeFixed(hex("0b84d358e4c8be6c38626b2182ff575818ba6bd3f4b90464994be14cb354a072"))
        #expect(blob.bytes == hex("00 ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6 00 00 00 0b84d358e4c8be6c38626b2182ff575818ba6bd3f4b90464994be14cb354a072"))
        #expect("blob" + Self.base32Lower(blob.bytes) == "blobacxfr74igmsbvsbnn73wcecg5vt3kbzncqwfrdiampuufwnhkublmaaaaafyju2y4tel43bymjvsdax7k5mbrotl2p2lsbdetff6ctftksqhe")
    }

    @Test("§3.7 iroh-gossip frames (postcard inside u32 BE frames)")
    func gossipFrames() throws {
        let topic = (0..<32).map { UInt8($0) }
        let id = hex("ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f")
        let framer = FrameEncoder(prefix: .u32BigEndian, maxFrameSize: 4096)
        #expect(try framer.frame(topic) == hex("00000020") + topic)

        func gossip(scope: (inout PostcardWriter) -> Void) -> [UInt8] {
            var w = PostcardWriter()
            w.writeVariant(1)   // topic::Message::Gossip
            w.writeVariant(0)   // plumtree::Message::Gossip
            w.writeFixed(id)
            w.writeBytes(Array("hello".utf8))
            scope(&w)
            return w.bytes
        }
        let broadcast = gossip { $0.writeVariant(0); $0.writeU16(0) }
        #expect(try framer.frame(broadcast) == hex("""
            0000002a 01 00 ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f 0568656c6c6f 00 00
            """))
        let forwarded = gossip { $0.writeVariant(0); $0.writeU16(1) }
        #expect(try framer.frame(forwarded).last == 1)
        let neighbors = gossip { $0.writeVariant(1) }
        #expect(try Array(framer.frame(neighbors).prefix(4)) == hex("00000029"))
        #expect(neighbors.last == 1)

        var prune = PostcardWriter(); prune.writeVariant(1); prune.writeVariant(1)
        #expect(try framer.frame(prune.bytes) == hex("00000002 01 01"))
        var ihave = PostcardWriter(); ihave.writeVariant(1); ihave.writeVariant(3)
        ihave.writeSequence([id]) { $0.writeFixed($1); $0.writeU16(0) }
        #expect(try framer.frame(ihave.bytes) == hex("00000024 01 03 01") + id + [0])
        var join = PostcardWriter(); join.writeVariant(0); join.writeVariant(0); join.writeOption(nil as [UInt8]?) { $0.writeBytes($1) }
        #expect(try framer.frame(join.bytes) == hex("00000003 00 00 00"))
        var disconnect = PostcardWriter(); disconnect.writeVariant(0); disconnect.writeVariant(5)
        disconnect.writeBool(true); disconnect.writeBool(false)
        #expect(try framer.frame(disconnect.bytes) == hex("00000004 00 05 01 00"))

        var addrInfo = PostcardWriter()
        addrInfo.writeOption("https://relay.example.com/") { $0.writeString($1) }
        addrInfo.writeSequenceLength(1)
        writeSocketAddrV4(&addrInfo, [192, 168, 1, 10], 11204)
        var joinData = PostcardWriter(); joinData.writeVariant(0); joinData.writeVariant(0)
        joinData.writeOption(addrInfo.bytes) { $0.writeBytes($1) }
        #expect(try framer.frame(joinData.bytes) == hex("""
            00000028 00 00 01 24
            01 1a 68 74 74 70 73 3a 2f 2f 72 65 6c 61 79 2e 65 78 61 6d 70 6c 65 2e 63 6f 6d 2f
            01 00 c0 a8 01 0a c4 57
            """))
        // 0.35 framing: u32 length + topic + the same 42 bytes.
        #expect(try framer.frame(topic + broadcast).prefix(4) == [0x00, 0x00, 0x00, 0x4a])

        // And back: decode the Join-with-PeerData frame.
        var decoder = FrameDecoder(prefix: .u32BigEndian, maxFrameSize: 4096)
        decoder.append(try framer.frame(joinData.bytes))
        let maybePayload = try decoder.nextFrame()
        let payload = try #require(maybePayload)
        var reader = PostcardReader(payload)
        #expect(try reader.readVariant() == 0)
        #expect(try reader.readVariant() == 0)
        let maybePeerData = try reader.readOption { (r: inout PostcardReader) throws(PostcardError) in try r.readBytes() }
        let peerData = try #require(maybePeerData)
        try reader.finish()
        var inner = PostcardReader(peerData)
        let relay = try inner.readOption { (r: inout PostcardReader) throws(PostcardError) in try r.readString() }
        #expect(relay == "https://relay.example.com/")
        #expect(try inner.readSequenceLength() == 1)
        #expect(try inner.readVariant() == 0)
        #expect(try inner.readFixed(count: 4) == [192, 168, 1, 10])
        #expect(try inner.readU16() == 11204)
        try inner.finish()
    }

    @Test("§4.2 iroh-blobs GetRequest vectors")
    func blobRequests() throws {
        let hash = [UInt8](repeating: 0xda, count: 32)
        func request(_ ranges: [(UInt64, [UInt64])]) -> [UInt8] {
            var w = PostcardWriter()
            w.writeVariant(0)          // Request::Get
            w.writeFixed(hash)
            w.writeSequence(ranges) { w, entry in
                w.writeU64(entry.0)
                w.writeSequence(entry.1) { $0.writeU64($1) }
            }
            return w.bytes
        }
        #expect(request([(0, [0]), (1, [])]) == [0] + hash + hex("02 00 01 00 01 00"))
        #expect(request([(0, [0])]) == [0] + hash + hex("01 00 01 00"))
        #expect(request([(0, [0, 10]), (1, [])]) == [0] + hash + hex("02 00 02 00 0a 01 00"))
        #expect(Array(request([(0, [UInt64.max]), (1, [])]).dropFirst(33)) == hex("02 00 01 ff ff ff ff ff ff ff ff ff 01 01 00"))
    }

    @Test("§6.3 relay ClientAuth: serde_bytes signature carries a varint length 0x40")
    func relayClientAuth() {
        let key = [UInt8](repeating: 0x11, count: 32)
        let signature = [UInt8](repeating: 0x22, count: 64)
        var w = PostcardWriter()
        w.writeFixed(key)
        w.writeBytes(signature)
        #expect(w.bytes.count == 97)
        #expect(w.bytes[32] == 0x40)
        var withSuffix = w
        withSuffix.writeFixed([UInt8](repeating: 0, count: 16))
        #expect(withSuffix.bytes.count == 113)
    }

    @Test("random bytes into every decoder never crash")
    func fuzzDecoders() {
        var rng = SeededRandom(seed: 0xF022)
        let limits = PostcardLimits(maxByteLength: 64, maxSequenceLength: 64)
        var failures = 0
        var successes = 0
        for _ in 0..<3000 {
            let bytes = rng.bytes(Int(rng.next(upTo: 24)))
            var reader = PostcardReader(bytes, limits: limits)
            for _ in 0..<8 {
                do throws(PostcardError) {
                    switch rng.next(upTo: 20) {
                    case 0: _ = try reader.readU8()
                    case 1: _ = try reader.readU16()
                    case 2: _ = try reader.readU32()
                    case 3: _ = try reader.readU64()
                    case 4: _ = try reader.readI16()
                    case 5: _ = try reader.readI32()
                    case 6: _ = try reader.readI64()
                    case 7: _ = try reader.readBool()
                    case 8: _ = try reader.readBytes()
                    case 9: _ = try reader.readString()
                    case 10: _ = try reader.readFixed(count: Int(rng.next(upTo: 40)))
                    case 11: _ = try reader.readVariant()
                    case 12: _ = try reader.readSequenceLength()
                    case 13: _ = try reader.readOptionTag()
                    case 14: _ = try reader.readUsize()
                    case 15: _ = try reader.readF32()
                    case 16: _ = try reader.readF64()
                    case 17: _ = try reader.readI8()
                    case 18: _ = try reader.readSequence { (r: inout PostcardReader) throws(PostcardError) in try r.readString() }
                    default: try reader.finish()
                    }
                    successes += 1
                } catch {
                    failures += 1
                    #expect(!error.description.isEmpty)
                    break
                }
            }
            #expect(reader.offset <= bytes.count)
        }
        #expect(failures > 0 && successes > 0)
    }

    @Test("random values round-trip")
    func roundTrip() throws {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<500 {
            let u = rng.next() >> rng.next(upTo: 64)
            let i = Int64(bitPattern: rng.next()) >> Int64(rng.next(upTo: 64))
            let data = rng.bytes(Int(rng.next(upTo: 300)))
            var w = PostcardWriter()
            w.writeU64(u); w.writeI64(i); w.writeBytes(data); w.writeU32(UInt32(truncatingIfNeeded: u))
            var r = PostcardReader(w.bytes)
            #expect(try r.readU64() == u)
            #expect(try r.readI64() == i)
            #expect(try r.readBytes() == data)
            #expect(try r.readU32() == UInt32(truncatingIfNeeded: u))
            try r.finish()
        }
    }

    /// RFC 4648 base32, lowercase, no padding (test-local, for the ticket strings).
    private static func base32Lower(_ bytes: [UInt8]) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var out = ""
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
        return out
    }
}
