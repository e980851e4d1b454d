import ArgumentParser
import Foundation

// Block the termination signals in the main thread before any other thread exists, so every thread
// inherits the mask and `run` receives them synchronously on its own signal thread (sigwait).
// Short-lived commands unblock them again on entry (`TerminationSignals.restoreDefault`).
//
// main.swift deliberately has no top-level `await`: an async main on Linux ends in dispatch_main(),
// which parks the main thread in sigsuspend with the signals unblocked, so SIGTERM would kill the
// process instead of reaching the signal thread. Async subcommands run on a task while the main
// thread waits.
TerminationSignals.blockInCallingThread()

do {
    let command = try ProsceniumNodeCommand.parseAsRoot()
    if let asyncCommand = command as? AsyncParsableCommand {
        try AsyncEntry.runBlocking(asyncCommand)
    } else {
        var syncCommand = command
        try syncCommand.run()
    }
} catch {
    ProsceniumNodeCommand.exit(withError: error)
}
