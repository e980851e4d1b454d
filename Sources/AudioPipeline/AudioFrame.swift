/// §9.2 frame tag: `0x00` normal, `0x01` Stage checkpoint.
public enum AudioFrameTag: UInt8, Sendable {
    case normal = 0x00
    case checkpoint = 0x01
}

/// Why bytes are not a valid §9.2 audio frame.
public enum AudioFrameError: Error, Equatable, CustomStringConvertible {
    /// Fewer than the 11 bytes of length prefix plus header.
    case truncatedHeader(available: Int)
    /// The length field counts the 9-byte header, so `len < 9` is malformed.
    case lengthBelowHeader(length: Int)
    /// The length field promises more bytes than were given.
    case truncatedPayload(declared: Int, available: Int)
    case unknownTag(UInt8)
    /// A payload that cannot fit the u16 length field (more than 65,526 bytes).
    case payloadTooLarge(bytes: Int)

    public var description: String {
        switch self {
        case .truncatedHeader(let n): return "audio frame: only \(n) bytes, need \(AudioFrameHeader.wireSize)-byte header"
        case .lengthBelowHeader(let l): return "audio frame: length field \(l) is below the 9-byte header"
        case .truncatedPayload(let d, let a): return "audio frame: length field says \(d) bytes after the prefix, only \(a) present"
        case .unknownTag(let t): return "audio frame: unknown tag 0x\(String(t, radix: 16))"
        case .payloadTooLarge(let n): return "audio frame: payload of \(n) bytes exceeds the u16 length field"
        }
    }
}

/// `[len: u16 BE][seq: u32 BE][timestamp: u32 BE][tag: u8]` — the 11 bytes before each payload.
/// `len` counts the 9 header bytes after it plus the payload.
public struct AudioFrameHeader: Equatable, Sendable {
    public static let wireSize = 11
    /// The part of the header that `len` counts.
    public static let countedHeaderSize = 9
    public static let maxPayloadBytes = Int(UInt16.max) - countedHeaderSize

    public var payloadLength: Int
    public var sequence: UInt32
    public var timestamp: UInt32
    public var tag: AudioFrameTag

    public init(payloadLength: Int, sequence: UInt32, timestamp: UInt32, tag: AudioFrameTag = .normal) {
        self.payloadLength = payloadLength
        self.sequence = sequence
        self.timestamp = timestamp
        self.tag = tag
    }

    /// Parses the first 11 bytes of `bytes`.
    public static func decode(_ bytes: some Collection<UInt8>) throws(AudioFrameError) -> AudioFrameHeader {
        guard bytes.count >= wireSize else { throw .truncatedHeader(available: bytes.count) }
        var it = bytes.makeIterator()
        func next() -> UInt32 { UInt32(it.next() ?? 0) }
        let length = Int(next() << 8 | next())
        guard length >= countedHeaderSize else { throw .lengthBelowHeader(length: length) }
        let seq = next() << 24 | next() << 16 | next() << 8 | next()
        let ts = next() << 24 | next() << 16 | next() << 8 | next()
        let rawTag = UInt8(next())
        guard let tag = AudioFrameTag(rawValue: rawTag) else { throw .unknownTag(rawTag) }
        return AudioFrameHeader(payloadLength: length - countedHeaderSize, sequence: seq, timestamp: ts, tag: tag)
    }

    public func encode() throws(AudioFrameError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.wireSize)
        try append(to: &out)
        return out
    }

    public func append(to out: inout [UInt8]) throws(AudioFrameError) {
        guard payloadLength >= 0, payloadLength <= Self.maxPayloadBytes else { throw .payloadTooLarge(bytes: payloadLength) }
        let len = UInt16(payloadLength + Self.countedHeaderSize)
        out.append(UInt8(len >> 8)); out.append(UInt8(len & 0xff))
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: sequence >> UInt32(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: timestamp >> UInt32(shift))) }
        out.append(tag.rawValue)
    }
}

/// One §9.2 frame: header fields plus the payload (an Opus packet, or for a Stage checkpoint
/// `hash ‖ signature ‖ opus`).
public struct AudioFrame: Equatable, Sendable {
    public var sequence: UInt32
    public var timestamp: UInt32
    public var tag: AudioFrameTag
    public var payload: [UInt8]

    public init(sequence: UInt32, timestamp: UInt32, tag: AudioFrameTag = .normal, payload: [UInt8]) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.tag = tag
        self.payload = payload
    }

    /// Length prefix, header and payload.
    public func encode() throws(AudioFrameError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(AudioFrameHeader.wireSize + payload.count)
        try AudioFrameHeader(payloadLength: payload.count, sequence: sequence, timestamp: timestamp, tag: tag).append(to: &out)
        out.append(contentsOf: payload)
        return out
    }

    /// Parses one frame from the start of `bytes`; returns it and the bytes consumed.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(AudioFrameError) -> (frame: AudioFrame, consumed: Int) {
        let header = try AudioFrameHeader.decode(bytes)
        let total = AudioFrameHeader.wireSize + header.payloadLength
        guard bytes.count >= total else {
            throw .truncatedPayload(declared: header.payloadLength + AudioFrameHeader.countedHeaderSize,
                                    available: bytes.count - 2)
        }
        let start = bytes.startIndex + AudioFrameHeader.wireSize
        let frame = AudioFrame(sequence: header.sequence, timestamp: header.timestamp, tag: header.tag,
                               payload: Array(bytes[start..<(start + header.payloadLength)]))
        return (frame, total)
    }

    public static func decode(_ bytes: [UInt8]) throws(AudioFrameError) -> (frame: AudioFrame, consumed: Int) {
        try decode(bytes[...])
    }
}

/// Splits a byte stream (QUIC stream reads of any size) into §9.2 frames.
public struct AudioFrameStreamReader: Sendable {
    private var buffer: [UInt8] = []

    public init() {}

    /// Bytes received but not yet forming a complete frame.
    public var pendingBytes: Int { buffer.count }

    /// Appends `bytes` and returns every frame now complete. Throws on a malformed header; the
    /// stream is then unusable (the receiver ends the session, §9.2).
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(AudioFrameError) -> [AudioFrame] {
        buffer.append(contentsOf: bytes)
        var frames: [AudioFrame] = []
        var offset = 0
        while buffer.count - offset >= AudioFrameHeader.wireSize {
            let header = try AudioFrameHeader.decode(buffer[offset...])
            let total = AudioFrameHeader.wireSize + header.payloadLength
            guard buffer.count - offset >= total else { break }
            let (frame, consumed) = try AudioFrame.decode(buffer[offset..<(offset + total)])
            frames.append(frame)
            offset += consumed
        }
        if offset > 0 { buffer.removeSubrange(0..<offset) }
        return frames
    }
}

/// Assigns §9.2 sequence numbers (from 0, +1, wrapping) and timestamps (from 0, +960, wrapping).
public struct AudioFrameSequencer: Sendable {
    public private(set) var nextSequence: UInt32 = 0
    public private(set) var nextTimestamp: UInt32 = 0

    public init() {}

    public mutating func frame(payload: [UInt8], tag: AudioFrameTag = .normal) -> AudioFrame {
        let frame = AudioFrame(sequence: nextSequence, timestamp: nextTimestamp, tag: tag, payload: payload)
        nextSequence &+= 1
        nextTimestamp &+= UInt32(AudioFormat.samplesPerFrame)
        return frame
    }
}
