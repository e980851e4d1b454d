import Core

/// Monotonic time source for the jitter buffer; tests inject a manual clock.
public protocol AudioClock: Sendable {
    func nowMicros() -> Int64
}

/// `CLOCK_MONOTONIC` in microseconds.
public struct SystemAudioClock: AudioClock {
    public init() {}
    public func nowMicros() -> Int64 { Int64(MonotonicClock.nanoseconds() / 1000) }
}

/// Receive-side jitter buffer for one Opus stream of §9.2 frames.
///
/// The playout side calls `pull` once per 20 ms of audio the device consumes, so the device
/// clock paces playout. Each packet's *transit* (arrival time minus its media time `seq × 20 ms`)
/// is recorded; the spread of transits over a recent window is the jitter that the target delay
/// must cover. The buffer's *current delay* is how long an on-time packet (the one with the
/// smallest transit in the window) waits before it is played. When the current delay falls below
/// the target, one concealment frame is inserted (playout holds still for 20 ms); when it exceeds
/// the target by a whole frame, one frame is dropped. The same two moves absorb clock drift
/// between sender and sound card.
///
/// A frame missing at playout time is recovered from the next packet's in-band FEC when that
/// packet is already here, otherwise concealed by Opus PLC. Packets for frames already played
/// are discarded as late.
///
/// Pure and single-threaded: time comes only from the injected clock, and nothing here blocks.
/// It runs on the media thread, not on the real-time audio thread.
public final class JitterBuffer {
    public struct Configuration: Sendable {
        public var initialDelayMicros: Int64 = 40_000
        public var minDelayMicros: Int64 = 20_000
        public var maxDelayMicros: Int64 = 200_000
        /// Added to the measured jitter spread, for the sound card's period granularity.
        public var safetyMarginMicros: Int64 = 10_000
        /// Packets whose transits make up the jitter estimate (100 = 2 s).
        public var jitterWindowPackets: Int = 100
        /// The target only shrinks after this long without growing.
        public var shrinkHoldMicros: Int64 = 2_000_000
        /// Then it shrinks by `shrinkStepMicros` at most every `shrinkIntervalMicros`.
        public var shrinkStepMicros: Int64 = 10_000
        public var shrinkIntervalMicros: Int64 = 500_000
        /// Minimum spacing of delay-reducing drops, so they stay inaudible.
        public var dropCooldownFrames: Int = 10
        /// Packets more than this many frames away from the playout point restart the stream.
        public var capacityFrames: Int = 128

        public init() {}
    }

    public enum Playout: Equatable, Sendable {
        /// Not started yet: silence while the first packets build up the initial delay.
        case waiting
        case normal
        /// A lost frame rebuilt from the next packet's in-band FEC.
        case fecRecovered
        /// A missing frame replaced by Opus packet-loss concealment.
        case concealed
        /// A concealment frame played without advancing, to grow the delay.
        case inserted
        /// One frame was skipped to shrink the delay; the next frame was played.
        case droppedThenNormal
    }

    public struct Statistics: Equatable, Sendable {
        public var received = 0
        public var duplicates = 0
        public var late = 0
        /// Frames missing at playout time (`concealed + fecRecovered`).
        public var lost = 0
        public var concealed = 0
        public var fecRecovered = 0
        public var inserted = 0
        public var dropped = 0
        public var played = 0
        public var restarts = 0
        public var currentDelayMicros: Int64 = 0
        public var targetDelayMicros: Int64 = 0
        public var jitterMicros: Int64 = 0
    }

    public let configuration: Configuration
    public private(set) var statistics = Statistics()
    private let clock: any AudioClock
    private let decoder: OpusDecoder

    private var packets: [Int64: [UInt8]] = [:]
    /// Recently accepted sequence numbers (unwrapped), to tell duplicates from late packets.
    private var seen: Set<Int64> = []
    private var highestSequence: Int64?
    private var firstArrivalMicros: Int64?
    /// Next frame to play (unwrapped sequence); nil until playout starts.
    private var playoutSequence: Int64?
    private var transits: [Int64]
    private var transitCount = 0
    private var targetMicros: Int64
    private var lastGrowthMicros: Int64 = 0
    private var lastShrinkMicros: Int64 = 0
    private var framesSinceDrop = Int.max / 2
    private var scratch = [Float](repeating: 0, count: AudioFormat.samplesPerFrame)

    public init(clock: any AudioClock, decoder: OpusDecoder, configuration: Configuration = Configuration()) {
        self.clock = clock
        self.decoder = decoder
        self.configuration = configuration
        targetMicros = min(max(configuration.initialDelayMicros, configuration.minDelayMicros), configuration.maxDelayMicros)
        transits = [Int64](repeating: 0, count: max(configuration.jitterWindowPackets, 1))
        statistics.targetDelayMicros = targetMicros
    }

    public var targetDelayMicros: Int64 { targetMicros }
    public var bufferedFrames: Int { packets.count }

    // MARK: - Receive side

    /// Accepts one received frame (`sequence` and Opus `payload` from §9.2).
    public func insert(sequence rawSequence: UInt32, payload: [UInt8]) {
        let now = clock.nowMicros()
        let sequence = unwrap(rawSequence)
        if let p = playoutSequence, abs(sequence - p) > Int64(configuration.capacityFrames) {
            restart()
            return insert(sequence: rawSequence, payload: payload)
        }
        if seen.contains(sequence) {
            statistics.duplicates += 1
            return
        }
        if let p = playoutSequence, sequence < p {
            statistics.late += 1
            recordTransit(now - sequence * AudioFormat.frameDurationMicros, now: now)
            return
        }
        seen.insert(sequence)
        packets[sequence] = payload
        statistics.received += 1
        if firstArrivalMicros == nil { firstArrivalMicros = now }
        if highestSequence.map({ sequence > $0 }) ?? true { highestSequence = sequence }
        recordTransit(now - sequence * AudioFormat.frameDurationMicros, now: now)
    }

    /// Extends a wrapping u32 sequence to 64 bits, relative to the highest one seen.
    private func unwrap(_ raw: UInt32) -> Int64 {
        guard let highest = highestSequence else { return Int64(raw) }
        let delta = Int32(bitPattern: raw &- UInt32(truncatingIfNeeded: highest))
        return highest + Int64(delta)
    }

    private func recordTransit(_ transit: Int64, now: Int64) {
        transits[transitCount % transits.count] = transit
        transitCount += 1
        let jitter = transitSpread()
        statistics.jitterMicros = jitter
        let desired = clampTarget(jitter + configuration.safetyMarginMicros)
        if desired > targetMicros {
            targetMicros = desired
            lastGrowthMicros = now
        }
        statistics.targetDelayMicros = targetMicros
    }

    private func transitWindow() -> ArraySlice<Int64> { transits[0..<min(transitCount, transits.count)] }

    private func transitSpread() -> Int64 {
        let window = transitWindow()
        guard let lo = window.min(), let hi = window.max() else { return 0 }
        return hi - lo
    }

    private func clampTarget(_ micros: Int64) -> Int64 {
        min(max(micros, configuration.minDelayMicros), configuration.maxDelayMicros)
    }

    private func restart() {
        packets.removeAll(keepingCapacity: true)
        seen.removeAll(keepingCapacity: true)
        highestSequence = nil
        firstArrivalMicros = nil
        playoutSequence = nil
        transitCount = 0
        statistics.restarts += 1
        decoder.reset()
    }

    // MARK: - Playout side

    /// Produces the next 20 ms (960 samples) into `pcm`.
    public func pull(into pcm: UnsafeMutableBufferPointer<Float>) -> Playout {
        precondition(pcm.count == AudioFormat.samplesPerFrame, "JitterBuffer.pull needs 960 samples, got \(pcm.count)")
        let now = clock.nowMicros()
        guard let playout = startedPlayoutSequence(now: now) else {
            for i in pcm.indices { pcm[i] = 0 }
            return .waiting
        }
        shrinkTargetIfCalm(now: now)
        let delay = now - playout * AudioFormat.frameDurationMicros - (transitWindow().min() ?? 0)
        statistics.currentDelayMicros = delay
        statistics.played += 1
        framesSinceDrop += 1

        if delay < targetMicros {
            conceal(into: pcm)
            statistics.inserted += 1
            statistics.currentDelayMicros = delay + AudioFormat.frameDurationMicros
            return .inserted
        }
        var result = Playout.normal
        var sequence = playout
        if delay >= targetMicros + AudioFormat.frameDurationMicros, framesSinceDrop >= configuration.dropCooldownFrames,
           let skipped = packets[sequence], packets[sequence + 1] != nil {
            // Decode the skipped frame anyway so the decoder state stays continuous.
            _ = scratch.withUnsafeMutableBufferPointer { out in
                skipped.withUnsafeBytes { try? decoder.decode($0, into: out) }
            }
            packets[sequence] = nil
            sequence += 1
            statistics.dropped += 1
            statistics.currentDelayMicros = delay - AudioFormat.frameDurationMicros
            framesSinceDrop = 0
            result = .droppedThenNormal
        }
        playoutSequence = sequence + 1
        forgetOld(before: sequence)
        if let packet = packets.removeValue(forKey: sequence) {
            let ok = packet.withUnsafeBytes { (try? decoder.decode($0, into: pcm)) == pcm.count }
            if !ok { conceal(into: pcm) }   // a corrupt packet is treated like a lost one
            return result
        }
        statistics.lost += 1
        if let next = packets[sequence + 1],
           next.withUnsafeBytes({ (try? decoder.decode($0, fec: true, into: pcm)) == pcm.count }) {
            statistics.fecRecovered += 1
            return .fecRecovered
        }
        conceal(into: pcm)
        statistics.concealed += 1
        return .concealed
    }

    /// Array convenience for `pull(into:)`.
    public func pull(into pcm: inout [Float]) -> Playout {
        pcm.withUnsafeMutableBufferPointer { pull(into: $0) }
    }

    private func startedPlayoutSequence(now: Int64) -> Int64? {
        if let p = playoutSequence { return p }
        guard let first = firstArrivalMicros, now - first >= targetMicros, let lowest = packets.keys.min() else { return nil }
        playoutSequence = lowest
        return lowest
    }

    private func shrinkTargetIfCalm(now: Int64) {
        let desired = clampTarget(transitSpread() + configuration.safetyMarginMicros)
        guard desired < targetMicros, now - lastGrowthMicros >= configuration.shrinkHoldMicros,
              now - lastShrinkMicros >= configuration.shrinkIntervalMicros else { return }
        targetMicros = max(desired, targetMicros - configuration.shrinkStepMicros)
        lastShrinkMicros = now
        statistics.targetDelayMicros = targetMicros
    }

    private func conceal(into pcm: UnsafeMutableBufferPointer<Float>) {
        if (try? decoder.decode(nil, into: pcm)) != pcm.count {
            for i in pcm.indices { pcm[i] = 0 }
        }
    }

    private func forgetOld(before sequence: Int64) {
        let horizon = sequence - Int64(configuration.capacityFrames)
        if seen.count > configuration.capacityFrames * 2 {
            seen = seen.filter { $0 >= horizon }
        }
        if packets.count > configuration.capacityFrames {
            packets = packets.filter { $0.key >= sequence }
        }
    }
}
