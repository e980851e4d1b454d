import Foundation
import Testing
import TestSupport

/// mDNS across a real link: two hosts in their own network namespaces joined by a veth pair (issue
/// requirement), each running one of our endpoints in its own process (`transport-peer`).
@Suite("mDNS discovery between two network namespaces", .serialized)
struct NamespaceDiscoveryTests {
    @Test("a host finds the other by mDNS over a veth pair and dials it by id",
          .enabled(if: NamespaceCommand.isRoot, "needs root for ip netns"))
    func discoveryAcrossVeth() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let tool = try #require(BuiltProducts.locate("transport-peer"), "transport-peer not built next to the tests")
        let hostA = try NetworkNamespace(), hostB = try NetworkNamespace()
        defer { hostA.remove(); hostB.remove() }
        let link = try hostA.connect(to: hostB, address: "10.200.7.1/24", peerAddress: "10.200.7.2/24")
        // Multicast needs a route; the namespaces have no default route, so point 224/4 at the link.
        _ = try hostA.ip("route", "add", "224.0.0.0/4", "dev", link.first.interface)
        _ = try hostB.ip("route", "add", "224.0.0.0/4", "dev", link.second.interface)

        let server = try hostA.launch([tool, "serve", "10.200.7.1:0"], stdinPipe: true)
        defer {
            server.closeStdin()   // the tool exits at end of its input
            if !server.wait(seconds: 10) { server.kill() }
        }
        let ready = String(decoding: server.stdoutHandle().availableLine(timeoutSeconds: 20), as: UTF8.self)
        let id = try #require(ready.hasPrefix("READY ") ? String(ready.dropFirst(6)) : nil, "server said: \(ready)")

        let result = try hostB.run([tool, "find", "10.200.7.2:0", id])
        #expect(result.status == 0, "find failed: \(result.stderr)")
        #expect(result.stdout.contains("FOUND 10.200.7.1:"), "\(result.stdout)")
        #expect(result.stdout.contains("ECHO ok"), "\(result.stdout)")
    }
}

extension FileHandle {
    /// One line (without the newline), or what arrived before the timeout.
    func availableLine(timeoutSeconds: Double) -> [UInt8] {
        var line: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            let byte = readData(ofLength: 1)
            guard let value = byte.first else { break }
            if value == 0x0a { break }
            line.append(value)
        }
        return line
    }
}
