import Testing
@testable import Core

@Suite("Stage topology")
struct StageTopologyTests {
    func listeners(_ n: Int) -> [String] { (0..<n).map { "L\($0)" } }

    func checkCapacities(_ topology: StageTopology) {
        for source in topology.sources.values { #expect(source.assigned.count <= source.capacity, "\(source.publicKey) over capacity") }
        for (listener, source) in topology.placement { #expect(topology.sources[source]?.assigned.contains(listener) == true) }
    }

    @Test func hostFirstThenMostSpareRelay() {
        let clock = StageFakeClock()
        var topology = StageTopology(hostPublicKey: "H", hostNodeID: "h", hostCapacity: 15, clock: clock)
        for l in listeners(20) { _ = topology.addListener(l) }
        #expect(topology.unassigned == listeners(20).suffix(5).map { $0 })
        let assignments = topology.addRelay(publicKey: "R1", nodeID: "r1", capacity: 3)
        #expect(assignments == [StageTopology.Assignment(relayPublicKey: "R1", relayNodeID: "r1", listeners: ["L15", "L16", "L17"])])
        #expect(topology.unassigned == ["L18", "L19"])
        let more = topology.addRelay(publicKey: "R2", nodeID: "r2", capacity: 10)
        #expect(more.map(\.relayNodeID) == ["r2"])
        #expect(topology.unassigned.isEmpty)
        // Leaving frees a slot on the host; nobody moves needlessly.
        #expect(topology.removeListener("L0").isEmpty)
        #expect(topology.sources["H"]?.assigned.count == 14)
        checkCapacities(topology)
        // A relay is no longer a listener: its own slot is released.
        _ = topology.addListener("R3")
        _ = topology.addRelay(publicKey: "R3", nodeID: "r3", capacity: 5)
        #expect(topology.placement["R3"] == nil)
        checkCapacities(topology)
    }

    @Test func deadRelayListenersAreReassignedWithinThreeSeconds() {
        let clock = StageFakeClock()
        var topology = StageTopology(hostPublicKey: "H", hostNodeID: "h", hostCapacity: 4, clock: clock)
        for l in listeners(12) { _ = topology.addListener(l) }
        _ = topology.addRelay(publicKey: "R1", nodeID: "r1", capacity: 5)
        _ = topology.addRelay(publicKey: "R2", nodeID: "r2", capacity: 5)
        #expect(topology.unassigned.isEmpty)
        let orphans = topology.sources["R1"]!.assigned
        #expect(!orphans.isEmpty)
        // Both relays prove liveness every 500 ms; R1 dies at t = 1 s.
        var reassignedAt: UInt64?
        var assignments: [StageTopology.Assignment] = []
        let start = clock.nowMillis()
        for step in 1...20 {
            clock.advance(500)
            topology.relayAlive("R2")
            if step <= 2 { topology.relayAlive("R1") }
            let out = topology.tick()
            if !out.isEmpty, reassignedAt == nil { reassignedAt = clock.nowMillis() - start; assignments = out }
        }
        let deadline = try! #require(reassignedAt)
        #expect(deadline - 1_000 <= 3_000, "reassigned \(deadline - 1_000) ms after the relay died")
        #expect(topology.sources["R1"] == nil)
        let moved = Set(assignments.flatMap(\.listeners))
        #expect(orphans.isSubset(of: moved.union(Set(topology.unassigned))))
        // 12 listeners, host 4 + R2 5 = 9 slots: 3 left waiting, nobody over capacity.
        #expect(topology.unassigned.count == 3)
        checkCapacities(topology)
    }

    @Test func connectionLossIsImmediateAndFreedSlotsAreReused() {
        let clock = StageFakeClock()
        var topology = StageTopology(hostPublicKey: "H", hostNodeID: "h", hostCapacity: 2, clock: clock)
        for l in listeners(4) { _ = topology.addListener(l) }
        _ = topology.addRelay(publicKey: "R", nodeID: "r", capacity: 2)
        let out = topology.relayLost("R")
        #expect(out.isEmpty) // host is full: both orphans wait
        #expect(topology.unassigned == ["L2", "L3"])
        let back = topology.removeListener("L0")
        #expect(back == [StageTopology.Assignment(relayPublicKey: "H", relayNodeID: "h", listeners: ["L2"])])
        #expect(topology.relayLost("H").isEmpty)
        checkCapacities(topology)
    }
}
