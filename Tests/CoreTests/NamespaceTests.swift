import Foundation
import Testing
import TestSupport

/// The multi-host helpers the network tests build on. These need root (`ip netns`, veth) and skip otherwise.
@Suite("Network namespace helpers")
struct NamespaceTests {
    @Test("two namespaces joined by a veth pair reach each other, and nothing else", .enabled(if: NamespaceCommand.isRoot, "needs root"))
    func vethPairPing() throws {
        let left = try NetworkNamespace()
        let right = try NetworkNamespace()
        let link = try left.connect(to: right, address: "10.200.1.1/24", peerAddress: "10.200.1.2/24")

        #expect(try left.interfaceNames().sorted() == ["lo", link.first.interface].sorted())
        #expect(try right.interfaceNames().sorted() == ["lo", link.second.interface].sorted())

        let ping = try left.run(["ping", "-c", "1", "-W", "5", link.second.address.ip])
        #expect(ping.status == 0, "ping 10.200.1.2 from \(left): \(ping.stdout) \(ping.stderr)")
        let back = try right.run(["ping", "-c", "1", "-W", "5", link.first.address.ip])
        #expect(back.status == 0, "ping 10.200.1.1 from \(right): \(back.stdout) \(back.stderr)")

        // No route leaves the pair: an address outside the link's subnet is unreachable.
        let elsewhere = try left.run(["ping", "-c", "1", "-W", "1", "10.200.9.9"])
        #expect(elsewhere.status != 0)
    }

    @Test("remove() deletes the namespace and kills what runs inside", .enabled(if: NamespaceCommand.isRoot, "needs root"))
    func removeCleansUp() throws {
        let namespace = try NetworkNamespace()
        let sleeper = try namespace.launch(["sleep", "60"])
        #expect(try NamespaceCommand.check(["ip", "netns", "list"]).contains(namespace.name))
        namespace.remove()
        #expect(sleeper.wait(seconds: 10))
        #expect(sleeper.terminatingSignal != nil)
        #expect(!(try NamespaceCommand.check(["ip", "netns", "list"]).contains(namespace.name)))
        namespace.remove()  // idempotent
    }

    @Test("a bridged LAN of three hosts: first reaches last", .enabled(if: NamespaceCommand.isRoot, "needs root"))
    func lanOfThree() throws {
        let lan = try NamespaceLAN(hostCount: 3, subnet: 7)
        #expect(lan.addresses.map(\.cidr) == ["10.200.7.1/24", "10.200.7.2/24", "10.200.7.3/24"])
        let ping = try lan.hosts[0].run(["ping", "-c", "1", "-W", "5", lan.addresses[2].ip])
        #expect(ping.status == 0, "ping across the bridge: \(ping.stdout) \(ping.stderr)")
    }

    @Test("test addresses must stay inside 10.200.0.0/16")
    func addressRange() throws {
        #expect(try TestAddress(cidr: "10.200.3.4/24").ip == "10.200.3.4")
        for bad in ["192.168.1.1/24", "10.201.0.1/24", "10.200.1.1", "10.200.1.300/24", "10.200.1.1/8", "lo"] {
            #expect(throws: NamespaceError.invalidAddress(bad)) { try TestAddress(cidr: bad) }
        }
    }

    @Test("isolation check reports the interfaces it found")
    func isolationReport() throws {
        let names = try NetworkIsolation.interfaceNames()
        #expect(names.contains("lo"))
        let error = NetworkIsolationError(interfaces: ["lo", "eth0"], loopbackUp: true)
        #expect(error.description.contains("eth0"))
        // scripts/test runs the suite in a loopback-only namespace; elsewhere the check must refuse.
        if names == ["lo"] && NetworkIsolation.isLoopbackUp() {
            try NetworkIsolation.assertLoopbackOnly()
        } else {
            #expect(throws: NetworkIsolationError.self) { try NetworkIsolation.assertLoopbackOnly() }
        }
    }
}
