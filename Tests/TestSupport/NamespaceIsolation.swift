import Foundation

/// The current process is not in a loopback-only network namespace.
public struct NetworkIsolationError: Error, CustomStringConvertible, Equatable {
    public let interfaces: [String]
    public let loopbackUp: Bool

    public init(interfaces: [String], loopbackUp: Bool) {
        self.interfaces = interfaces
        self.loopbackUp = loopbackUp
    }

    public var description: String {
        let problem = interfaces != ["lo"]
            ? "this process's network namespace has interfaces other than lo: \(interfaces.joined(separator: ", "))"
            : "the loopback interface lo is not up"
        return problem + ". Tests that start network peers must run in a loopback-only namespace: "
            + "scripts/test, or unshare -n sh -c 'ip link set lo up && swift test --skip-build --filter …'"
    }
}

/// Checks that traffic from this process cannot leave the machine.
///
/// Tests that start iroh/aster peers or open sockets call `try NetworkIsolation.assertLoopbackOnly()`
/// first: iroh's DNS/pkarr lookups must never reach a real network.
public enum NetworkIsolation {
    /// Interface names in this process's network namespace. Read from /proc/self/net/dev, which
    /// follows the process's namespace (/sys/class/net follows the namespace sysfs was mounted in).
    public static func interfaceNames() throws -> [String] {
        let table = try String(contentsOfFile: "/proc/self/net/dev", encoding: .utf8)
        return table.split(separator: "\n").dropFirst(2).compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return line[..<colon].trimmingCharacters(in: .whitespaces)
        }
    }

    /// Whether `lo` carries IFF_UP in this namespace.
    public static func isLoopbackUp() -> Bool {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return false }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if String(cString: entry.pointee.ifa_name) == "lo" {
                return entry.pointee.ifa_flags & 0x1 != 0  // IFF_UP
            }
            cursor = entry.pointee.ifa_next
        }
        return false
    }

    public static var isLoopbackOnly: Bool {
        ((try? interfaceNames()) ?? []) == ["lo"] && isLoopbackUp()
    }

    /// Throws `NetworkIsolationError` (naming the interfaces found) unless the only interface is an up `lo`.
    public static func assertLoopbackOnly() throws {
        let names = try interfaceNames()
        let up = isLoopbackUp()
        guard names == ["lo"], up else { throw NetworkIsolationError(interfaces: names, loopbackUp: up) }
    }
}
