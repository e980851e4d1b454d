/// Minimal Ogg Opus container (RFC 3533 pages, RFC 7845 headers) for one mono 48 kHz stream:
/// used to record/replay pipeline audio and to check interop with opus-tools.

/// Why bytes are not a usable Ogg Opus stream.
public enum OggOpusError: Error, Equatable, CustomStringConvertible {
    case badCapturePattern(offset: Int)
    case truncatedPage(offset: Int)
    case badChecksum(page: Int)
    case unsupportedVersion(UInt8)
    case missingOpusHead
    case missingOpusTags
    case unsupportedChannelCount(Int)

    public var description: String {
        switch self {
        case .badCapturePattern(let o): return "ogg: no 'OggS' capture pattern at byte \(o)"
        case .truncatedPage(let o): return "ogg: page at byte \(o) is truncated"
        case .badChecksum(let p): return "ogg: CRC mismatch on page \(p)"
        case .unsupportedVersion(let v): return "ogg/opus: unsupported version \(v)"
        case .missingOpusHead: return "ogg/opus: first packet is not OpusHead"
        case .missingOpusTags: return "ogg/opus: second packet is not OpusTags"
        case .unsupportedChannelCount(let c): return "ogg/opus: \(c) channels, only mono is supported"
        }
    }
}

enum OggCRC {
    /// CRC-32 with polynomial 0x04C11DB7, no reflection, initial value 0, no final xor.
    static let table: [UInt32] = (0..<256).map { i in
        var r = UInt32(i) << 24
        for _ in 0..<8 { r = (r & 0x8000_0000) != 0 ? (r << 1) ^ 0x04C1_1DB7 : r << 1 }
        return r
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0
        for b in bytes { crc = (crc << 8) ^ table[Int(((crc >> 24) ^ UInt32(b)) & 0xff)] }
        return crc
    }
}

/// Builds an Ogg Opus byte stream from 20 ms Opus packets.
public struct OggOpusWriter {
    public let serial: UInt32
    public let preSkip: Int
    private(set) public var bytes: [UInt8] = []
    private var pageSequence: UInt32 = 0
    private var pending: [[UInt8]] = []
    /// Samples decodable from the packets so far (granule positions include the pre-skip).
    private var granule: Int64 = 0
    private let packetsPerPage: Int

    /// `preSkip` is the encoder lookahead in samples (decoders drop that many from the start).
    public init(serial: UInt32 = 0x5052_4F53, preSkip: Int, vendor: String = "proscenium-node", packetsPerPage: Int = 50) {
        self.serial = serial
        self.preSkip = preSkip
        self.packetsPerPage = packetsPerPage
        var head: [UInt8] = Array("OpusHead".utf8)
        head += [1, 1]                                              // version, channels
        head += le16(UInt16(preSkip))
        head += le32(UInt32(AudioFormat.sampleRate))
        head += [0, 0, 0]                                           // output gain, mapping family 0
        writePage([head], granule: 0, flags: 0x02)
        var tags: [UInt8] = Array("OpusTags".utf8)
        tags += le32(UInt32(vendor.utf8.count)) + Array(vendor.utf8) + le32(0)
        writePage([tags], granule: 0, flags: 0)
    }

    /// Adds one packet of `samples` (960 for our 20 ms frames).
    public mutating func append(packet: [UInt8], samples: Int = AudioFormat.samplesPerFrame) {
        pending.append(packet)
        granule += Int64(samples)
        let segments = pending.reduce(0) { $0 + $1.count / 255 + 1 }
        if pending.count >= packetsPerPage || segments > 200 { flush(flags: 0) }
    }

    /// Writes the last page (end-of-stream) and returns the whole stream. `totalSamples`, when
    /// given, trims the decoded length to the original input (RFC 7845 end trimming).
    public mutating func finish(totalSamples: Int? = nil) -> [UInt8] {
        if let totalSamples { granule = min(granule, Int64(preSkip + totalSamples)) }
        flush(flags: 0x04)
        return bytes
    }

    private mutating func flush(flags: UInt8) {
        guard !pending.isEmpty || flags & 0x04 != 0 else { return }
        writePage(pending, granule: granule, flags: flags)
        pending.removeAll()
    }

    private mutating func writePage(_ packets: [[UInt8]], granule: Int64, flags: UInt8) {
        var lacing: [UInt8] = []
        for p in packets {
            lacing += [UInt8](repeating: 255, count: p.count / 255)
            lacing.append(UInt8(p.count % 255))
        }
        let start = bytes.count
        bytes += Array("OggS".utf8) + [0, flags]
        bytes += le64(UInt64(bitPattern: granule)) + le32(serial) + le32(pageSequence) + [0, 0, 0, 0]
        bytes.append(UInt8(lacing.count))
        bytes += lacing
        for p in packets { bytes += p }
        let crc = OggCRC.checksum(bytes[start...])
        bytes.replaceSubrange((start + 22)..<(start + 26), with: le32(crc))
        pageSequence += 1
    }
}

/// Parses an Ogg Opus byte stream (single logical stream, mono) into its packets.
public struct OggOpusReader {
    public let preSkip: Int
    public let inputSampleRate: Int
    public let packets: [[UInt8]]
    /// Granule position of the last page: `preSkip` + samples to output.
    public let finalGranule: Int64

    public init(bytes: [UInt8]) throws(OggOpusError) {
        var packets: [[UInt8]] = []
        var partial: [UInt8] = []
        var offset = 0
        var pageIndex = 0
        var lastGranule: Int64 = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 27 else { throw .truncatedPage(offset: offset) }
            guard Array(bytes[offset..<(offset + 4)]) == Array("OggS".utf8) else { throw .badCapturePattern(offset: offset) }
            guard bytes[offset + 4] == 0 else { throw .unsupportedVersion(bytes[offset + 4]) }
            let segmentCount = Int(bytes[offset + 26])
            guard bytes.count - offset >= 27 + segmentCount else { throw .truncatedPage(offset: offset) }
            let lacing = bytes[(offset + 27)..<(offset + 27 + segmentCount)]
            let bodyLength = lacing.reduce(0) { $0 + Int($1) }
            let pageEnd = offset + 27 + segmentCount + bodyLength
            guard pageEnd <= bytes.count else { throw .truncatedPage(offset: offset) }
            var page = Array(bytes[offset..<pageEnd])
            let stored = readLE32(page, 22)
            page.replaceSubrange(22..<26, with: [0, 0, 0, 0])
            guard OggCRC.checksum(page[...]) == stored else { throw .badChecksum(page: pageIndex) }
            let granule = Int64(bitPattern: readLE64(page, 6))
            if granule >= 0 { lastGranule = granule }
            var body = 27 + segmentCount
            for l in lacing {
                partial += page[body..<(body + Int(l))]
                body += Int(l)
                if l < 255 {
                    packets.append(partial)
                    partial = []
                }
            }
            offset = pageEnd
            pageIndex += 1
        }
        guard let head = packets.first, head.count >= 19, Array(head[0..<8]) == Array("OpusHead".utf8) else {
            throw .missingOpusHead
        }
        guard head[9] == 1 else { throw .unsupportedChannelCount(Int(head[9])) }
        guard packets.count >= 2, packets[1].count >= 8, Array(packets[1][0..<8]) == Array("OpusTags".utf8) else {
            throw .missingOpusTags
        }
        preSkip = Int(head[10]) | Int(head[11]) << 8
        inputSampleRate = Int(readLE32(head, 12))
        self.packets = Array(packets.dropFirst(2))
        finalGranule = lastGranule
    }

    /// Decodes every packet, drops the pre-skip and trims to the final granule.
    public func decode() throws(OpusError) -> [Float] {
        let decoder = try OpusDecoder()
        var pcm: [Float] = []
        for p in packets { pcm += try decoder.decode(p) }
        let end = min(pcm.count, max(Int(finalGranule), preSkip))
        return Array(pcm[min(preSkip, end)..<end])
    }
}

private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
private func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
private func readLE32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
private func readLE64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
