import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Severity, ordered; `syslogPriority` is the sd-daemon prefix journald understands.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
    case trace, debug, info, notice, warning, error, critical

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    public var syslogPriority: Int {
        switch self {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    public var description: String {
        switch self {
        case .trace: return "trace"
        case .debug: return "debug"
        case .info: return "info"
        case .notice: return "notice"
        case .warning: return "warning"
        case .error: return "error"
        case .critical: return "critical"
        }
    }

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = level
    }
}

/// One log line before formatting.
public struct LogRecord: Sendable {
    public let level: LogLevel
    public let label: String
    public let message: String
}

/// Where records go. The node owns one sink and hands it to every service's `Logger`.
public protocol LogSink: Sendable {
    var minimumLevel: LogLevel { get }
    func write(_ record: LogRecord)
}

/// Writes `<priority>label: message` lines to a file descriptor (stdout for journald by default).
public final class StreamLogSink: LogSink {
    private let fd: Int32
    private let level: Atomic<Int>
    private let writeLock = Mutex(())

    public init(fd: Int32 = 1, minimumLevel: LogLevel = .info) {
        self.fd = fd
        self.level = Atomic(minimumLevel.rawValue)
    }

    public var minimumLevel: LogLevel {
        LogLevel(rawValue: level.load(ordering: .relaxed)) ?? .info
    }

    public func setMinimumLevel(_ newLevel: LogLevel) {
        level.store(newLevel.rawValue, ordering: .relaxed)
    }

    public func write(_ record: LogRecord) {
        let line = "<\(record.level.syslogPriority)>\(record.label): \(record.message)\n"
        writeLock.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { buf in
                    Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
            bytes.removeAll()
        }
    }
}

/// Collects records in memory; for tests.
public final class MemoryLogSink: LogSink {
    private let storage = Mutex<[LogRecord]>([])
    public let minimumLevel: LogLevel

    public init(minimumLevel: LogLevel = .trace) { self.minimumLevel = minimumLevel }

    public func write(_ record: LogRecord) { storage.withLock { $0.append(record) } }

    public var records: [LogRecord] { storage.withLock { $0 } }
}

/// A labelled handle on a sink. Cheap to copy; pass it to each service.
public struct Logger: Sendable {
    public let label: String
    public let sink: any LogSink

    public init(label: String, sink: any LogSink) {
        self.label = label
        self.sink = sink
    }

    public func child(_ suffix: String) -> Logger { Logger(label: "\(label).\(suffix)", sink: sink) }

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard level >= sink.minimumLevel else { return }
        sink.write(LogRecord(level: level, label: label, message: message()))
    }

    public func trace(_ message: @autoclosure () -> String) { log(.trace, message()) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func notice(_ message: @autoclosure () -> String) { log(.notice, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
}
