import Core
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs one direction of audio I/O: a real-time thread moves periods between an `AudioDevice`
/// and an `SPSCRing<Float>`, and a supervisor thread watches it, logs, and reopens the device
/// after it is lost.
///
/// Capture: device → `ring` (samples that do not fit are dropped and counted as overruns).
/// Playback: `ring` → device (a short ring is padded with silence and counted as an underrun).
/// The real-time loop touches only the device, the ring and atomics.
public final class AudioStream: @unchecked Sendable {
    public typealias DeviceFactory = @Sendable () throws -> any AudioDevice

    public struct Options: Sendable {
        public var realtimePriority: Int32 = 70
        /// First delay before reopening a lost device; doubles up to `maxReopenDelayMillis`.
        public var reopenDelayMillis = 200
        public var maxReopenDelayMillis = 5_000
        public var supervisorIntervalMillis = 20
        public init() {}
    }

    public enum State: Int, Sendable {
        case stopped = 0, running, deviceLost
    }

    public let direction: AudioDirection
    public let ring: SPSCRing<Float>
    private let openDevice: DeviceFactory
    private let logger: Logger
    private let options: Options

    private let stopRequested = Atomic<Bool>(false)
    private let stateValue = Atomic<Int>(State.stopped.rawValue)
    private let lostCode = Atomic<Int32>(0)
    private let periodsTransferred = Atomic<Int>(0)
    private let xruns = Atomic<Int>(0)
    private let shortSamples = Atomic<Int>(0)
    private let deviceLosses = Atomic<Int>(0)
    private let reopens = Atomic<Int>(0)
    private let lifecycle = Mutex<Lifecycle>(Lifecycle())

    private struct Lifecycle {
        var supervisor: Thread?
        var warnedNoRealtime = false
    }

    private final class Thread: @unchecked Sendable {
        let rt: RealtimeThread
        init(_ rt: RealtimeThread) { self.rt = rt }
    }

    public init(direction: AudioDirection, ring: SPSCRing<Float>, logger: Logger, options: Options = Options(),
                openDevice: @escaping DeviceFactory) {
        self.direction = direction
        self.ring = ring
        self.logger = logger
        self.options = options
        self.openDevice = openDevice
    }

    public var state: State { State(rawValue: stateValue.load(ordering: .acquiring)) ?? .stopped }
    public var periodCount: Int { periodsTransferred.load(ordering: .relaxed) }
    public var xrunCount: Int { xruns.load(ordering: .relaxed) }
    /// Playback: silence samples inserted for an empty ring. Capture: samples dropped for a full ring.
    public var shortfallSamples: Int { shortSamples.load(ordering: .relaxed) }
    public var deviceLossCount: Int { deviceLosses.load(ordering: .relaxed) }
    public var reopenCount: Int { reopens.load(ordering: .relaxed) }

    /// Opens the device on the calling thread (so a bad name fails here, with its error) and
    /// starts the threads.
    public func start() throws {
        guard lifecycle.withLock({ $0.supervisor == nil }) else { return }   // already running
        let device = try openDevice()
        stopRequested.store(false, ordering: .releasing)
        let supervisor = try RealtimeThread(name: "audio-sup-\(direction.rawValue)", priority: nil) { [self] in
            supervise(firstDevice: device)
        }
        lifecycle.withLock { $0.supervisor = Thread(supervisor) }
    }

    /// Stops the threads and closes the device; returns when they have exited.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        let supervisor = lifecycle.withLock { l -> Thread? in
            defer { l.supervisor = nil }
            return l.supervisor
        }
        supervisor?.rt.join()
        stateValue.store(State.stopped.rawValue, ordering: .releasing)
    }

    // The supervisor runs the real-time thread for the current device, waits for it to end
    // (stop or loss), and on loss reopens with backoff.
    private func supervise(firstDevice: any AudioDevice) {
        var device: (any AudioDevice)? = firstDevice
        var delay = options.reopenDelayMillis
        while !stopRequested.load(ordering: .acquiring) {
            guard let current = device else {
                var waited = 0
                while waited < delay && !stopRequested.load(ordering: .acquiring) {
                    sleepMillis(min(20, delay - waited))
                    waited += 20
                }
                if stopRequested.load(ordering: .acquiring) { break }
                do {
                    device = try openDevice()
                    reopens.add(1, ordering: .relaxed)
                    logger.notice("\(direction.rawValue) device reopened after loss")
                    delay = options.reopenDelayMillis
                } catch {
                    logger.warning("\(direction.rawValue) device still unavailable (\(error)); retrying in \(delay) ms")
                    delay = min(delay * 2, options.maxReopenDelayMillis)
                }
                continue
            }
            run(current)
            current.close()
            device = nil
            if stopRequested.load(ordering: .acquiring) { break }
            deviceLosses.add(1, ordering: .relaxed)
            logger.error("\(direction.rawValue) device '\(current.name)' lost (\(String(cString: strerror(-lostCode.load(ordering: .relaxed))))); reopening")
        }
        device?.close()
    }

    private func run(_ device: any AudioDevice) {
        let period = device.periodFrames
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: period)
        buffer.initialize(repeating: 0)
        defer { buffer.deallocate() }
        stateValue.store(State.running.rawValue, ordering: .releasing)
        let body: () -> Void = { [self] in
            loop(device, buffer)
        }
        let thread: RealtimeThread
        do {
            thread = try RealtimeThread(name: "audio-\(direction.rawValue)", priority: options.realtimePriority, body: body)
        } catch {
            logger.error("\(error)")
            stateValue.store(State.deviceLost.rawValue, ordering: .releasing)
            return
        }
        let warn = lifecycle.withLock { l -> Bool in
            defer { if !thread.isRealtime { l.warnedNoRealtime = true } }
            return !thread.isRealtime && !l.warnedNoRealtime
        }
        if warn {
            logger.warning("no permission for SCHED_FIFO: \(direction.rawValue) audio runs at normal priority (grant CAP_SYS_NICE or an rtprio limit)")
        }
        var lastXruns = 0
        while true {
            sleepMillis(options.supervisorIntervalMillis)
            let x = xruns.load(ordering: .relaxed)
            if x != lastXruns {
                logger.warning("\(direction.rawValue) xrun recovered (total \(x))")
                lastXruns = x
            }
            if state != .running || stopRequested.load(ordering: .acquiring) { break }
        }
        thread.join()
    }

    /// The real-time loop: device, ring and atomics only.
    private func loop(_ device: any AudioDevice, _ buffer: UnsafeMutableBufferPointer<Float>) {
        while !stopRequested.load(ordering: .acquiring) {
            if direction == .playback {
                let got = ring.read(into: buffer)
                if got < buffer.count {
                    for i in got..<buffer.count { buffer[i] = 0 }
                    if periodsTransferred.load(ordering: .relaxed) > 0 { shortSamples.add(buffer.count - got, ordering: .relaxed) }
                }
            }
            switch device.transfer(buffer) {
            case .ok:
                break
            case .recoveredFromXrun:
                xruns.add(1, ordering: .relaxed)
            case .lost(let code):
                lostCode.store(code, ordering: .relaxed)
                stateValue.store(State.deviceLost.rawValue, ordering: .releasing)
                return
            }
            if direction == .capture {
                let put = ring.write(UnsafeBufferPointer(buffer))
                if put < buffer.count { shortSamples.add(buffer.count - put, ordering: .relaxed) }
            }
            periodsTransferred.add(1, ordering: .relaxed)
        }
    }

    private func sleepMillis(_ ms: Int) {
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}
