import ArgumentParser

// Block the termination signals in the main thread before any other thread exists, so every thread
// inherits the mask and `run` can receive them synchronously on its own signal thread (sigwait).
// Short-lived commands unblock them again on entry (see `TerminationSignals.restoreDefault`).
TerminationSignals.blockInCallingThread()

// Called from an async function: in top-level code `await ProsceniumNodeCommand.main()` resolves to
// the synchronous overload and async subcommands would never run on the concurrency runtime.
enum EntryPoint {
    static func run() async { await ProsceniumNodeCommand.main() }
}

await EntryPoint.run()
