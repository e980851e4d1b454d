import Foundation
import Synchronization

/// Bytes a reader thread collects from a child's pipes.
final class CollectedOutput: Sendable {
    let stdout = Mutex<[UInt8]>([])
    let stderr = Mutex<[UInt8]>([])
    /// Number of pipes read to end-of-file (2 when both are done).
    let finishedPipes = Atomic<Int>(0)

    func read(_ handle: FileHandle, isStdout: Bool) {
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            if isStdout { stdout.withLock { $0.append(contentsOf: chunk) } } else { stderr.withLock { $0.append(contentsOf: chunk) } }
        }
        finishedPipes.add(1, ordering: .sequentiallyConsistent)
    }

    /// Waits (bounded) for both pipes to reach end-of-file after the child is gone.
    func waitForPipes(seconds: Double = 5) {
        let deadline = Date().addingTimeInterval(seconds)
        while finishedPipes.load(ordering: .sequentiallyConsistent) < 2 && Date() < deadline { usleep(1000) }
    }
}

/// One launch of a child process (a test tool), stdout/stderr collected on background threads so a
/// chatty child never blocks on a full pipe; for crash tests that SIGKILL it at random moments.
public final class ChildProcess: @unchecked Sendable {
    private let process: Subprocess
    private let collected = CollectedOutput()

    public init(executable: String, arguments: [String]) throws {
        process = try Subprocess(executable: executable, arguments: arguments)
        let collected = collected
        let out = process.stdoutHandle(), err = process.stderrHandle()
        Thread.detachNewThread { collected.read(out, isStdout: true) }
        Thread.detachNewThread { collected.read(err, isStdout: false) }
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
        guard process.wait(seconds: Double(timeoutSeconds)) else {
            kill()
            return false
        }
        collected.waitForPipes()
        return true
    }

    /// SIGKILLs the child (if still running) and returns its complete stdout lines.
    @discardableResult
    public func kill() -> [String] {
        process.kill()
        collected.waitForPipes()
        return lines()
    }

    public func lines() -> [String] {
        let text = String(decoding: collected.stdout.withLock { $0 }, as: UTF8.self)
        guard let lastNewline = text.lastIndex(of: "\n") else { return [] }
        return text[..<lastNewline].split(separator: "\n").map(String.init)
    }

    public var wasKilledBySignal: Bool { process.terminatingSignal == SIGKILL }

    public func stderrText() -> String { String(decoding: collected.stderr.withLock { $0 }, as: UTF8.self) }
}
