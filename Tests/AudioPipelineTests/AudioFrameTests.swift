import Testing
@testable import AudioPipeline

@Suite("AudioFrame")
struct AudioFrameTests {
    @Test func encodesTheElevenByteHeaderExactly() throws {
        let frame = AudioFrame(sequence: 0x01020304, timestamp: 0xA0B0C0D0, tag: .checkpoint, payload: [0xEE, 0xFF])
        let bytes = try frame.encode()
        #expect(bytes == [0x00, 0x0B, 0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0, 0x01, 0xEE, 0xFF])
        let (decoded, consumed) = try AudioFrame.decode(bytes)
        #expect(decoded == frame)
        #expect(consumed == 13)
    }

    @Test func emptyPayloadHasLengthNine() throws {
        let bytes = try AudioFrame(sequence: 0, timestamp: 0, payload: []).encode()
        #expect(bytes == [0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func rejectsShortAndGarbageInput() {
        #expect(throws: AudioFrameError.truncatedHeader(available: 5)) { try AudioFrameHeader.decode([0, 9, 0, 0, 0]) }
        #expect(throws: AudioFrameError.lengthBelowHeader(length: 8)) {
            try AudioFrameHeader.decode([0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        }
        #expect(throws: AudioFrameError.unknownTag(0x7F)) {
            try AudioFrameHeader.decode([0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F])
        }
        #expect(throws: AudioFrameError.truncatedPayload(declared: 12, available: 10)) {
            try AudioFrame.decode([0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        }
        #expect(throws: AudioFrameError.payloadTooLarge(bytes: 65_527)) {
            try AudioFrame(sequence: 0, timestamp: 0, payload: [UInt8](repeating: 0, count: 65_527)).encode()
        }
    }

    @Test func streamReaderReassemblesSplitFrames() throws {
        var seq = AudioFrameSequencer()
        let frames = (0..<5).map { i in seq.frame(payload: [UInt8](repeating: UInt8(i), count: i * 7)) }
        #expect(frames[3].sequence == 3 && frames[3].timestamp == 2880)
        let stream = try frames.flatMap { try $0.encode() }
        var reader = AudioFrameStreamReader()
        var got: [AudioFrame] = []
        var i = 0
        let sizes = [1, 3, 10, 2, 17, 5]
        var k = 0
        while i < stream.count {
            let n = min(sizes[k % sizes.count], stream.count - i)
            got += try reader.feed(stream[i..<(i + n)])
            i += n; k += 1
        }
        #expect(got == frames)
        #expect(reader.pendingBytes == 0)
    }

    @Test func sequencerWraps() {
        var seq = AudioFrameSequencer()
        for _ in 0..<3 { _ = seq.frame(payload: []) }
        #expect(seq.nextSequence == 3 && seq.nextTimestamp == 2880)
    }
}
