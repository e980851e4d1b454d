import Testing
import TestSupport
@testable import Core

@Suite("Length-prefixed framing")
struct FramingTests {
    @Test("u32 and u16 big-endian prefixes")
    func encode() throws {
        let u32 = FrameEncoder(prefix: .u32BigEndian, maxFrameSize: FrameEncoder.syncMaxFrameSize)
        #expect(try u32.frame([0xaa, 0xbb]) == [0, 0, 0, 2, 0xaa, 0xbb])
        #expect(try u32.frame([]) == [0, 0, 0, 0])
        #expect(try u32.frame([UInt8](repeating: 1, count: 0x01_02_03)).prefix(4) == [0, 1, 2, 3])
        let u16 = FrameEncoder(prefix: .u16BigEndian, maxFrameSize: 100_000)
        #expect(u16.maxFrameSize == 65_535)
        #expect(try u16.frame([UInt8](repeating: 0, count: 0x1234)).prefix(2) == [0x12, 0x34])
        #expect(try u16.frame([UInt8](repeating: 0, count: 65_535)).prefix(2) == [0xff, 0xff])
        #expect(throws: FramingError.frameTooLarge(length: 65_536, maximum: 65_535)) {
            try u16.frame([UInt8](repeating: 0, count: 65_536))
        }
        let small = FrameEncoder(prefix: .u32BigEndian, maxFrameSize: 10)
        #expect(throws: FramingError.frameTooLarge(length: 11, maximum: 10)) { try small.frame([UInt8](repeating: 0, count: 11)) }
    }

    @Test("incremental decoding in arbitrary pieces", arguments: [LengthPrefix.u16BigEndian, .u32BigEndian])
    func incremental(prefix: LengthPrefix) throws {
        var rng = SeededRandom(seed: prefix == .u16BigEndian ? 16 : 32)
        let encoder = FrameEncoder(prefix: prefix, maxFrameSize: 5000)
        let payloads = (0..<200).map { _ in rng.bytes(Int(rng.next(upTo: 5001))) } + [[]]
        var stream: [UInt8] = []
        for payload in payloads { try encoder.append(payload, to: &stream) }

        for pieceLimit in [1, 3, 7, 4096, stream.count] {
            var decoder = FrameDecoder(prefix: prefix, maxFrameSize: 5000)
            var received: [[UInt8]] = []
            var position = 0
            while position < stream.count {
                let size = min(Int(rng.next(upTo: UInt64(pieceLimit))) + 1, stream.count - position)
                decoder.append(stream[position..<(position + size)])
                position += size
                received.append(contentsOf: try decoder.drainFrames())
            }
            try decoder.finish()
            #expect(received == payloads)
            #expect(decoder.bufferedByteCount == 0)
        }
    }

    @Test("oversized declared length is rejected before the payload arrives")
    func oversized() throws {
        var decoder = FrameDecoder(prefix: .u32BigEndian, maxFrameSize: FrameEncoder.syncMaxFrameSize)
        decoder.append([0x00, 0x98, 0x96])
        #expect(try decoder.nextFrame() == nil)
        decoder.append([0x81]) // 10,000,001
        #expect(throws: FramingError.frameTooLarge(length: 10_000_001, maximum: 10_000_000)) { try decoder.nextFrame() }

        var exact = FrameDecoder(prefix: .u32BigEndian, maxFrameSize: 4)
        exact.append([0, 0, 0, 4, 1, 2, 3])
        #expect(try exact.nextFrame() == nil)
        exact.append([4, 0, 0])
        #expect(try exact.nextFrame() == [1, 2, 3, 4])
        #expect(try exact.nextFrame() == nil)
    }

    @Test("end of stream inside a frame is a typed error")
    func truncated() throws {
        var decoder = FrameDecoder(prefix: .u16BigEndian, maxFrameSize: 100)
        decoder.append([0, 5, 1, 2])
        #expect(try decoder.nextFrame() == nil)
        #expect(throws: FramingError.truncatedFrame(buffered: 4, expected: 7)) { try decoder.finish() }
        var prefixOnly = FrameDecoder(prefix: .u32BigEndian, maxFrameSize: 100)
        prefixOnly.append([0])
        #expect(throws: FramingError.truncatedFrame(buffered: 1, expected: 4)) { try prefixOnly.finish() }
    }

    @Test("random input never crashes the decoder")
    func fuzz() {
        var rng = SeededRandom(seed: 99)
        for _ in 0..<2000 {
            var decoder = FrameDecoder(prefix: rng.next(upTo: 2) == 0 ? .u16BigEndian : .u32BigEndian, maxFrameSize: 300)
            decoder.append(rng.bytes(Int(rng.next(upTo: 64))))
            do throws(FramingError) {
                _ = try decoder.drainFrames()
                try decoder.finish()
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }
}
