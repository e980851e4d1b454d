import ArgumentParser
import Foundation
import Synchronization

/// Runs an async subcommand on the concurrency runtime and blocks the (signal-masked) main thread
/// until it finishes.
enum AsyncEntry {
    /// Parsed commands are plain values handed to exactly one task.
    private struct Handoff: @unchecked Sendable {
        var command: any AsyncParsableCommand
    }

    private final class Outcome: Sendable {
        let error = Mutex<(any Error)?>(nil)
    }

    static func runBlocking(_ command: any AsyncParsableCommand) throws {
        let handoff = Handoff(command: command)
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            var local = handoff
            do {
                try await run(&local.command)
            } catch {
                outcome.error.withLock { $0 = error }
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error.withLock({ $0 }) { throw error }
    }

    private static func run(_ command: inout any AsyncParsableCommand) async throws {
        try await command.run()
    }
}
