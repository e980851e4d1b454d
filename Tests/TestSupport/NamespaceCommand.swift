import Foundation

/// Why a namespace helper failed; every case names the input or command that failed.
public enum NamespaceError: Error, CustomStringConvertible, Equatable {
    case notRoot(operation: String)
    case toolMissing(String)
    case commandFailed(command: [String], status: Int32, stderr: String)
    case invalidName(String)
    case invalidAddress(String)

    public var description: String {
        switch self {
        case .notRoot(let operation):
            return "\(operation) needs root (network namespaces and veth pairs are created with `ip`)"
        case .toolMissing(let tool):
            return "`\(tool)` not found in PATH, /usr/sbin, /sbin, /usr/bin or /bin (scripts/setup installs it)"
        case .commandFailed(let command, let status, let stderr):
            let message = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(command.joined(separator: " "))` exited \(status)" + (message.isEmpty ? "" : ": \(message)")
        case .invalidName(let name):
            return "invalid namespace/interface name \"\(name)\" (use a-z, 0-9 and '-', at most 15 characters for interfaces)"
        case .invalidAddress(let address):
            return "address \"\(address)\" is not an IPv4 CIDR inside 10.200.0.0/16 (e.g. 10.200.1.1/24), "
                + "the range reserved for test namespaces"
        }
    }
}

/// What a finished child process printed.
public struct CommandOutput: Sendable, Equatable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs the system tools (`ip`, `ping`, …) the namespace helpers are built on.
public enum NamespaceCommand {
    /// Where a tool lives: PATH first, then the sbin directories that a non-login PATH often lacks.
    public static func locate(_ tool: String) -> String? {
        if tool.contains("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + tool
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `arguments[0]` (looked up with `locate`) with the rest as its arguments and waits for it.
    public static func run(_ arguments: [String], input: String? = nil) throws -> CommandOutput {
        guard let tool = arguments.first else { throw NamespaceError.toolMissing("(empty command)") }
        guard let executable = locate(tool) else { throw NamespaceError.toolMissing(tool) }
        return try Subprocess.run(executable, Array(arguments.dropFirst()), input: input.map { Array($0.utf8) })
    }

    /// Like `run`, but throws `NamespaceError.commandFailed` on a non-zero exit; returns stdout.
    @discardableResult
    public static func check(_ arguments: [String], input: String? = nil) throws -> String {
        let output = try run(arguments, input: input)
        guard output.status == 0 else {
            throw NamespaceError.commandFailed(command: arguments, status: output.status, stderr: output.stderr)
        }
        return output.stdout
    }

    /// True when this process may create namespaces and links.
    public static var isRoot: Bool { geteuid() == 0 }
}
