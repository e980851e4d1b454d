import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Bytes a reader thread collects from a child's pipes.
final class CollectedOutput: Sendable {
    let stdout = Mutex<[UInt8]>([])
    let stderr = Mutex<[UInt8]>([])
    /// Number of pipes read to end-of-file (2 when both are done).
    let finishedPipes = Atomic<Int>(0)
}

/// One launch of a child process (a test tool), stdout/stderr collected on background threads so a
/// chatty child never blocks on a full pipe; for crash tests that SIGKILL it at random moments.
public final class ChildProcess: @unchecked Sendable {
    private let process = Process()
    private let collected = CollectedOutput()

    public init(executable: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let collected = collected
        let outHandle = out.fileHandleForReading, errHandle = err.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let chunk = outHandle.availableData
                if chunk.isEmpty { break }
                collected.stdout.withLock { $0.append(contentsOf: chunk) }
            }
            collected.finishedPipes.add(1, ordering: .sequentiallyConsistent)
        }
        Thread.detachNewThread {
            let all = errHandle.readDataToEndOfFile()
            collected.stderr.withLock { $0.append(contentsOf: all) }
            collected.finishedPipes.add(1, ordering: .sequentiallyConsistent)
        }
    }

    public func waitForLine(timeoutSeconds: Int) -> Bool {
        for _ in 0..<(timeoutSeconds * 500) {
            if collected.stdout.withLock({ $0.contains(UInt8(ascii: "\n")) }) { return true }
            if !process.isRunning { return false }
            usleep(2000)
        }
        return false
    }

    public func waitForExit(timeoutSeconds: Int) -> Bool {
        for _ in 0..<(timeoutSeconds * 100) {
            if !process.isRunning { break }
            usleep(10_000)
        }
        if process.isRunning { _ = kill(); return false }
        process.waitUntilExit()
        while collected.finishedPipes.load(ordering: .sequentiallyConsistent) < 2 { usleep(1000) }
        return true
    }

    /// SIGKILLs the child (if still running) and returns its complete stdout lines.
    @discardableResult
    public func kill() -> [String] {
        if process.isRunning { _ = Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        while collected.finishedPipes.load(ordering: .sequentiallyConsistent) < 2 { usleep(1000) }
        return lines()
    }

    public func lines() -> [String] {
        let text = String(decoding: collected.stdout.withLock { $0 }, as: UTF8.self)
        guard let lastNewline = text.lastIndex(of: "\n") else { return [] }
        return text[..<lastNewline].split(separator: "\n").map(String.init)
    }

    public var wasKilledBySignal: Bool { process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL }

    public func stderrText() -> String { String(decoding: collected.stderr.withLock { $0 }, as: UTF8.self) }
}
