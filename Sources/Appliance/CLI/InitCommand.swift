import ArgumentParser
import Core
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create this node's identity and print its 24 recovery words once.",
        discussion: """
        Refuses to run when the data directory already holds an identity.
        With --recover -, reads the 24 words of an existing identity from
        standard input instead of creating a new one.
        """
    )

    @OptionGroup var data: DataDirectoryOption

    @Option(help: ArgumentHelp("Recover from 24 words read from FILE ('-' for standard input).", valueName: "FILE"))
    var recover: String?

    func run() throws {
        TerminationSignals.restoreDefault()
        let directory = try DataDirectory.prepare(data.resolve())
        let store = IdentityStore(directory: directory)
        guard !store.exists else {
            throw CommandFailure("""
            \(directory) already holds an identity; refusing to overwrite it.
            To start over, move \(directory)/master_key.key away first (the old identity is lost unless its words are written down).
            """)
        }
        if let source = recover {
            let phrase: String
            if source == "-" {
                var lines: [String] = []
                while let line = readLine() { lines.append(line) }
                phrase = lines.joined(separator: " ")
            } else {
                guard let text = readTextFile(source) else { throw CommandFailure("cannot read recovery words from \(source)") }
                phrase = text
            }
            let identity = try store.recover(phrase: phrase)
            print("Identity recovered in \(directory)")
            print("master key \(identity.masterPublicKey.hex)")
            return
        }
        let (identity, words) = try store.create()
        print("Identity created in \(directory)")
        print("master key \(identity.masterPublicKey.hex)")
        print("")
        print(RecoveryWordsFormatter.format(words))
    }
}

/// The one-time display of the recovery words: numbered, column-major, under 80 columns.
enum RecoveryWordsFormatter {
    static func format(_ words: [String]) -> String {
        var lines = [
            "WRITE THESE \(words.count) WORDS DOWN, in order, on paper. Keep them offline and safe.",
            "They are the only way to recover this identity and are NOT shown again.",
            ""
        ]
        let rows = (words.count + 3) / 4
        for row in 0..<rows {
            var line = ""
            for column in 0..<4 {
                let index = column * rows + row
                guard index < words.count else { continue }
                let number = String(index + 1)
                let cell = String(repeating: " ", count: 4 - number.count) + number + ". " + words[index]
                line += cell.padded(to: 18)
            }
            while line.last == " " { line.removeLast() }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
