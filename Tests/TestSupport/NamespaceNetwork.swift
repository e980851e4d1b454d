import Foundation
import Synchronization

/// A named network namespace (`ip netns add`) standing in for one host in a multi-host test.
///
/// It starts with only `lo` (brought up); connect namespaces with `connect(to:…)` or `NamespaceLAN`.
/// `remove()` (also run on deinit) kills whatever still runs inside and deletes the namespace, so a
/// failing test leaves nothing behind. Names are unique per process (`<prefix>-<pid>-<random>`)
/// because `/run/netns` may be shared by tests running in parallel from other worktrees.
public final class NetworkNamespace: Sendable, CustomStringConvertible {
    public let name: String
    private let removed = Mutex(false)

    /// Creates a fresh namespace with `lo` up. Needs root.
    public init(prefix: String = "psc") throws {
        guard NamespaceCommand.isRoot else { throw NamespaceError.notRoot(operation: "creating a network namespace") }
        guard NetworkNamespace.isValidToken(prefix, maxLength: 12) else { throw NamespaceError.invalidName(prefix) }
        NetworkNamespace.removeStale(prefix: prefix)
        name = "\(prefix)-\(getpid())-\(NetworkNamespace.randomToken())"
        try NamespaceCommand.check(["ip", "netns", "add", name])
        do {
            try NamespaceCommand.check(["ip", "-n", name, "link", "set", "lo", "up"])
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    public var description: String { "netns \(name)" }

    /// The command line that runs `arguments` inside this namespace (for callers that start it themselves).
    public func commandLine(_ arguments: [String]) -> [String] {
        ["ip", "netns", "exec", name] + arguments
    }

    /// Runs `arguments` inside this namespace and waits for it.
    public func run(_ arguments: [String], input: String? = nil) throws -> CommandOutput {
        try NamespaceCommand.run(commandLine(arguments), input: input)
    }

    /// Runs `arguments` inside this namespace; throws on a non-zero exit, returns stdout.
    @discardableResult
    public func check(_ arguments: [String], input: String? = nil) throws -> String {
        try NamespaceCommand.check(commandLine(arguments), input: input)
    }

    /// Starts a long-running process inside this namespace (a peer, a server), its stdout a pipe
    /// (`stdoutHandle()`), its stderr discarded. `remove()` kills it if the caller has not.
    public func launch(_ arguments: [String], stdinPipe: Bool = false) throws -> Subprocess {
        guard let ip = NamespaceCommand.locate("ip") else { throw NamespaceError.toolMissing("ip") }
        return try Subprocess(executable: ip, arguments: Array(commandLine(arguments).dropFirst()), stdinPipe: stdinPipe, stderr: .null)
    }

    /// `ip -n <name> <arguments…>`.
    @discardableResult
    public func ip(_ arguments: String...) throws -> String {
        try NamespaceCommand.check(["ip", "-n", name] + arguments)
    }

    /// The interfaces inside this namespace (e.g. `["lo", "vea1b2c3a"]`).
    public func interfaceNames() throws -> [String] {
        let listing = try NamespaceCommand.check(["ip", "-n", name, "-o", "link", "show"])
        return listing.split(separator: "\n").compactMap { line in
            // "2: name@peer: <FLAGS> …" — the name is the second field, without the "@peer" suffix.
            let fields = line.split(separator: ":", maxSplits: 2)
            guard fields.count >= 2 else { return nil }
            let field = fields[1].trimmingCharacters(in: .whitespaces)
            return String(field.split(separator: "@").first ?? Substring(field))
        }
    }

    /// Kills the processes still inside and deletes the namespace. Safe to call more than once.
    public func remove() {
        let alreadyRemoved = removed.withLock { (done: inout Bool) -> Bool in
            let was = done
            done = true
            return was
        }
        if alreadyRemoved { return }
        if let pids = try? NamespaceCommand.check(["ip", "netns", "pids", name]) {
            for pid in pids.split(whereSeparator: \.isWhitespace).compactMap({ Int32($0) }) where pid != getpid() {
                kill(pid, SIGKILL)
            }
        }
        _ = try? NamespaceCommand.run(["ip", "netns", "del", name])
    }

    /// Deletes namespaces `<prefix>-<pid>-…` left behind by test processes that no longer exist (a
    /// crashed run started with plain `unshare -n`, whose /run/netns is the host's). Namespaces of live
    /// processes are never touched.
    public static func removeStale(prefix: String = "psc") {
        guard let listing = try? NamespaceCommand.check(["ip", "netns", "list"]) else { return }
        for line in listing.split(separator: "\n") {
            guard let name = line.split(separator: " ").first.map(String.init) else { continue }
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == prefix, let pid = Int32(parts[1]), pid > 0,
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? NamespaceCommand.run(["ip", "netns", "del", name])
        }
    }

    /// Joins this namespace to `other` with a veth pair and gives each end its address.
    /// Addresses are IPv4 CIDRs in 10.200.0.0/16 (e.g. "10.200.1.1/24"); both ends are created
    /// directly inside the two namespaces, never in the namespace the test runs in.
    @discardableResult
    public func connect(to other: NetworkNamespace, address: String, peerAddress: String) throws -> VethLink {
        let local = try TestAddress(cidr: address)
        let remote = try TestAddress(cidr: peerAddress)
        let token = NetworkNamespace.randomToken()
        let localInterface = "ve\(token)a", remoteInterface = "ve\(token)b"
        try NamespaceCommand.check(["ip", "link", "add", localInterface, "netns", name, "type", "veth",
                                    "peer", "name", remoteInterface, "netns", other.name])
        try configure(interface: localInterface, address: local)
        try other.configure(interface: remoteInterface, address: remote)
        return VethLink(first: VethEndpoint(namespace: self, interface: localInterface, address: local),
                        second: VethEndpoint(namespace: other, interface: remoteInterface, address: remote))
    }

    func configure(interface: String, address: TestAddress?) throws {
        if let address { try ip("addr", "add", address.cidr, "dev", interface) }
        try ip("link", "set", interface, "up")
    }

    static func randomToken() -> String {
        String(UInt32.random(in: 0...UInt32.max) & 0xFF_FFFF, radix: 16).leftPadded(to: 6)
    }

    static func isValidToken(_ token: String, maxLength: Int) -> Bool {
        !token.isEmpty && token.count <= maxLength
            && token.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}

/// An IPv4 address with prefix length, restricted to 10.200.0.0/16 so test traffic can never be
/// mistaken for (or routed like) real addresses.
public struct TestAddress: Sendable, Equatable, CustomStringConvertible {
    public let ip: String
    public let prefixLength: Int
    public var cidr: String { "\(ip)/\(prefixLength)" }
    public var description: String { cidr }

    public init(cidr: String) throws {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let prefix = Int(parts[1]), (16...30).contains(prefix) else {
            throw NamespaceError.invalidAddress(cidr)
        }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 != nil && (0...255).contains($0!) }),
              octets[0] == 10, octets[1] == 200 else {
            throw NamespaceError.invalidAddress(cidr)
        }
        ip = String(parts[0])
        prefixLength = prefix
    }
}

/// One end of a veth pair.
public struct VethEndpoint: Sendable {
    public let namespace: NetworkNamespace
    public let interface: String
    public let address: TestAddress
}

/// A veth pair between two namespaces.
public struct VethLink: Sendable {
    public let first: VethEndpoint
    public let second: VethEndpoint
}

/// Several hosts on one Ethernet segment: a bridge in its own namespace, one veth per host.
/// Host `i` (0-based) gets 10.200.<subnet>.<i + 1>/24. Removing the LAN removes every namespace.
public final class NamespaceLAN: Sendable {
    public let hosts: [NetworkNamespace]
    public let addresses: [TestAddress]
    public let switchNamespace: NetworkNamespace

    public init(hostCount: Int, subnet: Int = 1, prefix: String = "psc") throws {
        guard (1...250).contains(hostCount) else { throw NamespaceError.invalidAddress("10.200.\(subnet).\(hostCount)/24") }
        guard (0...255).contains(subnet) else { throw NamespaceError.invalidAddress("10.200.\(subnet).0/24") }
        let bridgeNamespace = try NetworkNamespace(prefix: prefix)
        var hosts: [NetworkNamespace] = []
        var addresses: [TestAddress] = []
        do {
            try bridgeNamespace.ip("link", "add", "br0", "type", "bridge")
            try bridgeNamespace.ip("link", "set", "br0", "up")
            for index in 0..<hostCount {
                let host = try NetworkNamespace(prefix: prefix)
                hosts.append(host)
                let address = try TestAddress(cidr: "10.200.\(subnet).\(index + 1)/24")
                let token = NetworkNamespace.randomToken()
                let hostSide = "ve\(token)h", bridgeSide = "ve\(token)s"
                try NamespaceCommand.check(["ip", "link", "add", hostSide, "netns", host.name, "type", "veth",
                                            "peer", "name", bridgeSide, "netns", bridgeNamespace.name])
                try host.configure(interface: hostSide, address: address)
                try bridgeNamespace.ip("link", "set", bridgeSide, "master", "br0")
                try bridgeNamespace.configure(interface: bridgeSide, address: nil)
                addresses.append(address)
            }
        } catch {
            hosts.forEach { $0.remove() }
            bridgeNamespace.remove()
            throw error
        }
        self.hosts = hosts
        self.addresses = addresses
        self.switchNamespace = bridgeNamespace
    }

    /// Deletes every host namespace and the bridge namespace.
    public func remove() {
        hosts.forEach { $0.remove() }
        switchNamespace.remove()
    }

    deinit { remove() }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
