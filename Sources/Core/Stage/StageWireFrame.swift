/// The §9.2 frame as the Stage media plane in Core sees it: `[len u16][seq u32][ts u32][tag u8][payload]`.
/// AudioPipeline's `AudioFrame` is the full codec-side type; Core sits below AudioPipeline, and a
/// relay must forward frames without decoding them, so Core only delimits frames and reads the
/// few header fields it needs (the AudioPipeline tests check that both agree byte for byte).
public enum StageWireFrame {
    public static let headerSize = 11
    public static let countedHeaderSize = 9

    public static func encode(sequence: UInt32, timestamp: UInt32, tag: UInt8, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + payload.count)
        let len = UInt16(truncatingIfNeeded: payload.count + countedHeaderSize)
        out.append(UInt8(len >> 8)); out.append(UInt8(len & 0xff))
        for shift in [24, 16, 8, 0] as [UInt32] { out.append(UInt8(truncatingIfNeeded: sequence >> shift)) }
        for shift in [24, 16, 8, 0] as [UInt32] { out.append(UInt8(truncatingIfNeeded: timestamp >> shift)) }
        out.append(tag)
        out.append(contentsOf: payload)
        return out
    }

    /// `seq` of a complete frame (including its length prefix).
    public static func sequence(of frame: [UInt8]) -> UInt32 {
        frame[2...5].reduce(0) { $0 << 8 | UInt32($1) }
    }

    public static func tag(of frame: [UInt8]) -> UInt8 { frame[10] }

    public static func payload(of frame: [UInt8]) -> [UInt8] { Array(frame[headerSize...]) }

    /// The frame as the §10.8 verifier takes it.
    public static func authenticated(_ frame: [UInt8]) -> AuthenticatedStageFrame {
        AuthenticatedStageFrame(isCheckpoint: tag(of: frame) == 1, payload: payload(of: frame))
    }
}

/// Why a media stream is unusable.
public enum StageFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case lengthBelowHeader(Int)
    case unknownTag(UInt8)
    public var description: String {
        switch self {
        case .lengthBelowHeader(let n): return "stage frame: length field \(n) is below the 9-byte header"
        case .unknownTag(let t): return "stage frame: unknown tag 0x\(String(t, radix: 16))"
        }
    }
}

/// Splits stream reads into whole frames (each returned with its length prefix, ready to forward).
/// The staging buffer keeps its capacity, so steady-state splitting allocates only the frames.
public struct StageFrameSplitter: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() { buffer.reserveCapacity(8192) }

    public mutating func feed(_ bytes: [UInt8], _ emit: ([UInt8]) -> Void) throws(StageFrameError) {
        buffer.append(contentsOf: bytes)
        while buffer.count - start >= 2 {
            let len = Int(buffer[start]) << 8 | Int(buffer[start + 1])
            guard len >= StageWireFrame.countedHeaderSize else { throw .lengthBelowHeader(len) }
            guard buffer.count - start >= len + 2 else { break }
            let tag = buffer[start + 10]
            guard tag <= 1 else { throw .unknownTag(tag) }
            emit(Array(buffer[start..<(start + len + 2)]))
            start += len + 2
        }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 4096 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }
}
