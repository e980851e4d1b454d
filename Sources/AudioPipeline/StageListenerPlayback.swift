/// A Stage listener's playback (spec §10.9), as a pure value: verified Opus frames in (from
/// `StageListenerPipeline`), one 20 ms period of PCM out per `nextPeriod()` (the speaker's clock).
///
/// - Concealment: a sequence jump of 1…63 frames inserts that many Opus PLC frames before the new
///   frame is decoded. A larger jump (or going backwards) is a new stream: nothing is inserted.
/// - Ring of 10 decoded frames; when full the oldest is dropped (counted).
/// - Target depth starts at 4 frames (80 ms), bounded 3…10. Playback starts at once (silence until
///   data arrives); once `target` frames have been decoded the buffer is "live": an underrun raises
///   the target by one and playback then waits until `target` frames are buffered again
///   (our reading of "the target only gates when adaptation begins"), and 250 periods in a row
///   without an underrun lower it by one.
public struct StageListenerPlayback {
    public static let capacity = 10
    public static let initialTarget = 4
    public static let targetRange = 3...10
    public static let calmPeriodsToLower = 250
    public static let maxConcealedGap: UInt32 = 63

    public struct Statistics: Equatable, Sendable {
        public var decoded = 0
        public var concealed = 0
        public var played = 0
        public var underruns = 0
        public var dropped = 0
        public var targetFrames = StageListenerPlayback.initialTarget
        public var depth = 0
        public var live = false
    }

    private let decoder: OpusDecoder
    private var ring: [[Float]] = []
    private var lastSequence: UInt32?
    private var target = StageListenerPlayback.initialTarget
    private var live = false
    private var refilling = false
    private var calmPeriods = 0
    public private(set) var statistics = Statistics()

    public init() throws(OpusError) {
        decoder = try OpusDecoder()
        ring.reserveCapacity(Self.capacity)
    }

    /// One verified frame of the mixed stream.
    public mutating func receive(sequence: UInt32, opus: [UInt8]) throws(OpusError) {
        if let previous = lastSequence {
            let gap = sequence &- (previous &+ 1)
            if gap >= 1 && gap <= Self.maxConcealedGap {
                for _ in 0..<gap {
                    push(try decoder.decode(nil))
                    statistics.concealed += 1
                }
            }
        }
        lastSequence = sequence
        push(try decoder.decode(opus))
        statistics.decoded += 1
        if !live && statistics.decoded >= target { live = true }
        syncStatistics()
    }

    /// The next 20 ms for the speaker: a decoded (or concealed) frame, else silence.
    public mutating func nextPeriod() -> [Float] {
        defer { syncStatistics() }
        if refilling {
            guard ring.count >= target else { return Self.silence }
            refilling = false
        }
        guard !ring.isEmpty else {
            if live {
                statistics.underruns += 1
                target = min(target + 1, Self.targetRange.upperBound)
                calmPeriods = 0
                refilling = true
            }
            return Self.silence
        }
        statistics.played += 1
        if live {
            calmPeriods += 1
            if calmPeriods >= Self.calmPeriodsToLower {
                target = max(target - 1, Self.targetRange.lowerBound)
                calmPeriods = 0
            }
        }
        return ring.removeFirst()
    }

    private mutating func push(_ pcm: [Float]) {
        if ring.count == Self.capacity {
            ring.removeFirst()
            statistics.dropped += 1
        }
        ring.append(pcm)
    }

    private mutating func syncStatistics() {
        statistics.targetFrames = target
        statistics.depth = ring.count
        statistics.live = live
    }

    static let silence = [Float](repeating: 0, count: AudioFormat.samplesPerFrame)
}
