import ArgumentParser
import Core
import Foundation

struct SetPinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-pin",
        abstract: "Set the admin console PIN, read from standard input (stored as a salted Argon2id hash).",
        discussion: """
        On a terminal the PIN is asked twice without echo; from a pipe, the first
        line is the PIN. A running node uses the new PIN at its next login prompt.
        """
    )

    @OptionGroup var data: DataDirectoryOption

    func run() throws {
        TerminationSignals.restoreDefault()
        let directory = try DataDirectory.prepare(data.resolve())
        let store = AdminPinStore(dataDirectory: directory)
        let pin: String
        if isatty(0) == 1 {
            let first = try Terminal.readSecretLine(prompt: "New admin PIN: ")
            let second = try Terminal.readSecretLine(prompt: "Repeat the PIN: ")
            guard first == second else { throw CommandFailure("the two PINs differ; nothing changed") }
            pin = first
        } else {
            guard let line = readLine(strippingNewline: true) else { throw CommandFailure("no PIN on standard input") }
            pin = line.trimmingSpaces()
        }
        try store.set(pin)
        print("Admin PIN set (\(store.path)).")
    }
}
