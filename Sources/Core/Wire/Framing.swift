/// Length-prefixed frames: `[length][payload]` with a big-endian length (spec §0, §14).
/// u32 prefixes carry sync and device-sync data (and iroh-gossip messages); u16 prefixes carry
/// audio frames.

/// Width of the big-endian length prefix.
public enum LengthPrefix: Sendable, Equatable {
    case u16BigEndian
    case u32BigEndian

    public var byteCount: Int {
        switch self {
        case .u16BigEndian: return 2
        case .u32BigEndian: return 4
        }
    }

    /// The largest length the prefix can express.
    public var maximumRepresentable: Int {
        switch self {
        case .u16BigEndian: return Int(UInt16.max)
        case .u32BigEndian: return Int(UInt32.max)
        }
    }
}

/// Why a frame could not be written or read.
public enum FramingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A frame (incoming length prefix or outgoing payload) is above the configured maximum.
    case frameTooLarge(length: Int, maximum: Int)
    /// The stream ended inside a frame: `buffered` bytes held, `expected` needed to complete it.
    case truncatedFrame(buffered: Int, expected: Int)

    public var description: String {
        switch self {
        case let .frameTooLarge(length, maximum):
            return "frame of \(length) bytes exceeds the maximum of \(maximum) bytes"
        case let .truncatedFrame(buffered, expected):
            return "stream ended inside a frame: \(buffered) of \(expected) bytes received"
        }
    }
}

/// Encodes frames.
public struct FrameEncoder: Sendable, Equatable {
    public let prefix: LengthPrefix
    public let maxFrameSize: Int

    /// Maximum frame of the sync and device-sync data streams (spec §14).
    public static let syncMaxFrameSize = 10_000_000

    /// `maxFrameSize` is clamped to what the prefix can express.
    public init(prefix: LengthPrefix, maxFrameSize: Int) {
        self.prefix = prefix
        self.maxFrameSize = min(maxFrameSize, prefix.maximumRepresentable)
    }

    /// Returns the prefix followed by `payload`.
    public func frame(_ payload: [UInt8]) throws(FramingError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(prefix.byteCount + payload.count)
        try append(payload, to: &out)
        return out
    }

    /// Appends prefix and payload to `out` (avoids a copy when building several frames).
    public func append(_ payload: [UInt8], to out: inout [UInt8]) throws(FramingError) {
        guard payload.count <= maxFrameSize else {
            throw .frameTooLarge(length: payload.count, maximum: maxFrameSize)
        }
        let length = UInt32(payload.count)
        switch prefix {
        case .u16BigEndian:
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
        case .u32BigEndian:
            out.append(UInt8(truncatingIfNeeded: length >> 24))
            out.append(UInt8(truncatingIfNeeded: length >> 16))
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
        }
        out.append(contentsOf: payload)
    }
}

/// Incremental decoder: feed bytes in pieces of any size with `append`, take complete frames with
/// `nextFrame`. A declared length above the maximum is reported as soon as the prefix is complete,
/// before any payload is buffered, so a peer cannot make it allocate. A zero-length frame is
/// returned as an empty payload (sync uses it as its end marker; the caller decides).
public struct FrameDecoder: Sendable {
    public let prefix: LengthPrefix
    public let maxFrameSize: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(prefix: LengthPrefix, maxFrameSize: Int) {
        self.prefix = prefix
        self.maxFrameSize = min(maxFrameSize, prefix.maximumRepresentable)
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's payload, or nil when more bytes are needed.
    public mutating func nextFrame() throws(FramingError) -> [UInt8]? {
        guard bufferedByteCount >= prefix.byteCount else { return nil }
        let length = declaredLength()
        guard length <= maxFrameSize else { throw .frameTooLarge(length: length, maximum: maxFrameSize) }
        let total = prefix.byteCount + length
        guard bufferedByteCount >= total else { return nil }
        let start = readIndex + prefix.byteCount
        let payload = Array(buffer[start..<(start + length)])
        readIndex += total
        compactIfWorthwhile()
        return payload
    }

    /// All complete frames currently buffered.
    public mutating func drainFrames() throws(FramingError) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while let frame = try nextFrame() { frames.append(frame) }
        return frames
    }

    /// Call at end of stream: throws when a partial frame is left over.
    public func finish() throws(FramingError) {
        let held = bufferedByteCount
        guard held > 0 else { return }
        let expected = held >= prefix.byteCount ? prefix.byteCount + declaredLength() : prefix.byteCount
        throw .truncatedFrame(buffered: held, expected: expected)
    }

    private func declaredLength() -> Int {
        var length = 0
        for index in 0..<prefix.byteCount { length = length << 8 | Int(buffer[readIndex + index]) }
        return length
    }

    /// Drops consumed bytes once they dominate the buffer, keeping appends amortised O(1).
    private mutating func compactIfWorthwhile() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex >= 4096, readIndex * 2 >= buffer.count {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }
}
