import Core
import Foundation
import Synchronization

/// Receive and send statistics of one call's media.
public struct CallMediaStatistics: Equatable, Sendable {
    public var framesSent = 0
    public var framesReceived = 0
    /// Frames missing at playout (`concealed + fecRecovered`).
    public var lost = 0
    /// Frames that arrived after their playout time (on a QUIC stream, loss shows up as lateness).
    public var late = 0
    public var concealed = 0
    public var fecRecovered = 0
    public var inserted = 0
    public var dropped = 0
    public var played = 0
    public var currentDelayMillis = 0
    public var targetDelayMillis = 0
    public var jitterMillis = 0
    public var playbackShortfallSamples = 0
    public init() {}
}

/// The media of one call on its `proscenium/call/1` bi stream (§9.1 step 4–5): both directions at
/// once. A send loop every `tickMicros` drains the capture ring into §9.2 frames and tops up the
/// playback ring; a receive loop splits the stream into frames for the jitter buffer.
/// The VoiceSession is shared by the two loops under a lock (it is not thread-safe).
final class CallMedia: @unchecked Sendable {
    enum End: Sendable, Equatable {
        /// FIN, or the peer closed with "call ended".
        case finished
        case failed(String)
    }

    private let lock = NSLock()
    private let session: VoiceSession
    private let audio: any CallAudio
    private let connection: any PeerConnection
    private let send: any PeerStreamWriter
    private let receive: any PeerStreamReader
    private let tickNanos: UInt64
    private let received = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let onEnd: @Sendable (End) async -> Void

    init(audio: any CallAudio, connection: any PeerConnection, send: any PeerStreamWriter, receive: any PeerStreamReader,
         clock: any AudioClock, options: VoiceSession.Options, tickMicros: Int64,
         onEnd: @escaping @Sendable (End) async -> Void) throws {
        session = try VoiceSession(captureRing: audio.captureRing, playbackRing: audio.playbackRing, clock: clock, options: options)
        self.audio = audio
        self.connection = connection
        self.send = send
        self.receive = receive
        tickNanos = UInt64(max(tickMicros, 1_000)) * 1_000
        self.onEnd = onEnd
    }

    var framesReceived: Int { received.load(ordering: .relaxed) }

    var statistics: CallMediaStatistics {
        lock.lock()
        let jitter = session.receiveStatistics
        var s = CallMediaStatistics()
        s.framesSent = session.framesSent
        lock.unlock()
        s.framesReceived = framesReceived
        s.lost = jitter.lost
        s.late = jitter.late
        s.concealed = jitter.concealed
        s.fecRecovered = jitter.fecRecovered
        s.inserted = jitter.inserted
        s.dropped = jitter.dropped
        s.played = jitter.played
        s.currentDelayMillis = Int(jitter.currentDelayMicros / 1_000)
        s.targetDelayMillis = Int(jitter.targetDelayMicros / 1_000)
        s.jitterMillis = Int(jitter.jitterMicros / 1_000)
        s.playbackShortfallSamples = audio.playbackShortfallSamples
        return s
    }

    func start() throws {
        try audio.start()
        let sender = Task { [self] in await sendLoop() }
        let receiver = Task { [self] in await receiveLoop() }
        tasks.withLock { $0 = [sender, receiver] }
    }

    /// Stops both loops and the devices, finishes our half and closes the connection with
    /// "call ended" (§9.1; the spec has the caller close, the callee closing too is harmless and
    /// frees its side when the caller is gone).
    func stop() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for task in tasks.withLock({ $0 }) { task.cancel() }
        audio.stop()
        try? await send.finish()
        connection.close(code: 0, reason: "call ended")
    }

    private func report(_ end: End) async {
        guard !stopped.load(ordering: .acquiring) else { return }
        await onEnd(end)
    }

    private func sendLoop() async {
        while !Task.isCancelled && !stopped.load(ordering: .acquiring) {
            let frames: [AudioFrame]
            do {
                frames = try pump()
            } catch {
                await report(.failed("encoder: \(error)"))
                return
            }
            for frame in frames {
                do {
                    try await send.write(try frame.encode())
                } catch {
                    await report(Self.classify(error))
                    return
                }
            }
            try? await Task.sleep(nanoseconds: tickNanos)
        }
    }

    /// §9.4: mute sends zeroed PCM; frames keep flowing (so the peer's silence watchdog stays quiet).
    func setMuted(_ muted: Bool) {
        lock.lock()
        defer { lock.unlock() }
        session.muted = muted
    }

    /// Captured audio → frames to send; jitter buffer → playback ring.
    private func pump() throws -> [AudioFrame] {
        lock.lock()
        defer { lock.unlock() }
        let frames = try session.drainCapture()
        session.feedPlayback()
        return frames
    }

    private func deliver(_ frames: [AudioFrame]) {
        lock.lock()
        defer { lock.unlock() }
        for frame in frames { session.receive(frame) }
    }

    private func receiveLoop() async {
        var reader = AudioFrameStreamReader()
        do {
            while let bytes = try await receive.read(maxBytes: 16_384) {
                let frames = try reader.feed(bytes)
                guard !frames.isEmpty else { continue }
                deliver(frames)
                received.add(frames.count, ordering: .relaxed)
            }
            await report(.finished)
        } catch let error as AudioFrameError {
            await report(.failed("bad audio frame: \(error)"))
        } catch {
            await report(Self.classify(error))
        }
    }

    static func classify(_ error: any Error) -> End {
        if let network = error as? PeerNetworkError, case let .connectionClosed(code, reason) = network,
           code == 0, reason == "call ended" {
            return .finished
        }
        return .failed(String(describing: error))
    }
}
