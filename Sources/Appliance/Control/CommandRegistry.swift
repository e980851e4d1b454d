import Core
import Synchronization

/// The answer of an admin command: text for people, JSON for scripts.
public struct CommandOutput: Sendable {
    public let text: String
    public let json: JSONValue

    public init(text: String, json: JSONValue = .object([:])) {
        self.text = text
        self.json = json
    }
}

/// A command failure with a message for the operator.
public struct AdminCommandError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Describes one admin command. Services register their own (e.g. `call`, `stage`) at start.
public struct AdminCommand: Sendable {
    public typealias Handler = @Sendable (_ arguments: [String]) async throws -> CommandOutput

    public let name: String
    /// One line for `help`.
    public let summary: String
    /// Argument synopsis, e.g. "[get KEY | set KEY VALUE]".
    public let usage: String
    /// Longer text for `help <command>`.
    public let details: String
    public let minimumArguments: Int
    public let maximumArguments: Int
    /// First-argument words offered by tab completion (e.g. "get", "set").
    public let completions: [String]
    public let handler: Handler

    public init(name: String, summary: String, usage: String = "", details: String = "",
                arguments: ClosedRange<Int> = 0...0, completions: [String] = [], handler: @escaping Handler) {
        self.name = name
        self.summary = summary
        self.usage = usage
        self.details = details
        self.minimumArguments = arguments.lowerBound
        self.maximumArguments = arguments.upperBound
        self.completions = completions
        self.handler = handler
    }
}

/// Name → command. Shared by the control socket and the console; thread-safe.
public final class CommandRegistry: Sendable {
    private let commands = Mutex<[String: AdminCommand]>([:])

    public init() {
        register(AdminCommand(name: "help", summary: "List commands, or explain one.", usage: "[COMMAND]",
                              arguments: 0...1) { [unowned self] arguments in
            try self.help(arguments.first)
        })
    }

    public func register(_ command: AdminCommand) {
        commands.withLock { $0[command.name] = command }
    }

    public func unregister(_ name: String) {
        _ = commands.withLock { $0.removeValue(forKey: name) }
    }

    public var names: [String] { commands.withLock { $0.keys.sorted() } }

    public func command(named name: String) -> AdminCommand? { commands.withLock { $0[name] } }

    /// Validates the argument count and runs the handler.
    public func execute(_ name: String, arguments: [String]) async -> Result<CommandOutput, AdminCommandError> {
        guard let command = command(named: name) else {
            return .failure(AdminCommandError("unknown command '\(name)' (try `help`)"))
        }
        guard arguments.count >= command.minimumArguments, arguments.count <= command.maximumArguments else {
            return .failure(AdminCommandError("usage: \(command.name) \(command.usage)".trimmingSpaces()))
        }
        do {
            return .success(try await command.handler(arguments))
        } catch let error as AdminCommandError {
            return .failure(error)
        } catch {
            return .failure(AdminCommandError("\(error)"))
        }
    }

    private func help(_ name: String?) throws -> CommandOutput {
        if let name {
            guard let command = command(named: name) else { throw AdminCommandError("unknown command '\(name)'") }
            var lines = ["\(command.name) \(command.usage)".trimmingSpaces()]
            lines += TextLayout.wrap(command.summary, width: 78).map { "  " + $0 }
            if !command.details.isEmpty {
                lines.append("")
                lines += TextLayout.wrap(command.details, width: 78).map { "  " + $0 }
            }
            return CommandOutput(text: lines.joined(separator: "\n"),
                                 json: .object(["name": .string(command.name), "usage": .string(command.usage),
                                                "summary": .string(command.summary), "details": .string(command.details)]))
        }
        let all = commands.withLock { Array($0.values) }.sorted { $0.name < $1.name }
        let width = min(all.map(\.name.count).max() ?? 0, 12)
        var lines: [String] = []
        for command in all {
            let head = "  " + command.name.padded(to: width) + "  "
            let wrapped = TextLayout.wrap(command.summary, width: 80 - head.count)
            for (i, line) in wrapped.enumerated() {
                lines.append((i == 0 ? head : String(repeating: " ", count: head.count)) + line)
            }
        }
        lines.append("Type `help COMMAND` for details.")
        return CommandOutput(text: lines.joined(separator: "\n"),
                             json: .object(["commands": .array(all.map {
                                 .object(["name": .string($0.name), "summary": .string($0.summary), "usage": .string($0.usage),
                                          "completions": .array($0.completions.map { .string($0) })])
                             })]))
    }
}

/// Fitting text into the 80-column console.
enum TextLayout {
    static func wrap(_ text: String, width: Int) -> [String] {
        var out: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ") {
                if line.isEmpty {
                    line = String(word)
                } else if line.count + 1 + word.count <= width {
                    line += " " + word
                } else {
                    out.append(line)
                    line = String(word)
                }
            }
            out.append(line)
        }
        return out
    }
}

extension String {
    /// Left-aligned in `length` columns (never truncated).
    func padded(to length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
