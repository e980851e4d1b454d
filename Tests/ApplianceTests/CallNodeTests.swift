import Foundation
import TestSupport
import Testing
@testable import Appliance

/// Voice calls between two real node processes over QUIC on loopback, driven through `ctl`.
@Suite("Call nodes", .serialized)
struct CallNodeTests {
    /// `ctl --json calls` state of a node.
    static func callState(_ node: RunningNode) -> String? {
        (try? node.json(["calls"]))?["state"] as? String
    }

    static func master(_ node: RunningNode) throws -> String {
        try #require(try node.json(["identity"])["master_pubkey"] as? String)
    }

    @Test func audioNoneRefusesCallsWithTheReason() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try RunningNode.make(in: dir, name: "a", extraArguments: ["--audio", "none"])
        defer { a.kill() }
        let b = try RunningNode.make(in: dir, name: "b", extraArguments: ["--audio", "none"])
        defer { b.kill() }
        let masterB = try Self.master(b)
        let ticketB = try #require(try b.json(["ticket", "--no-qr"])["ticket"] as? String)
        _ = try a.json(["follow", ticketB])

        let refused = try NodeBinary.run(["ctl", "--data-dir", a.data, "call", masterB])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--audio none"), "stderr: \(refused.stderr)")
        #expect(Self.callState(a) == "idle")
        // Without a call, answer/hangup say so.
        let answer = try NodeBinary.run(["ctl", "--data-dir", b.data, "answer"])
        #expect(answer.status != 0)
        #expect(answer.stderr.contains("no incoming call"), "stderr: \(answer.stderr)")
        let bad = try NodeBinary.run(["ctl", "--data-dir", a.data, "call", "nobody"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("\"nobody\""), "stderr: \(bad.stderr)")
        let status = try a.json(["status"])
        #expect((status["call"] as? [String: Any])?["state"] as? String == "idle")
        #expect(a.terminate(), "A did not exit 0:\n\(a.log_())")
        #expect(b.terminate(), "B did not exit 0:\n\(b.log_())")
    }

    /// Signalling end to end (DMs, directory, commands, status) up to the point media would start:
    /// B rejects one call and A cancels the next. Answered calls are not tested here: ALSA's `null`
    /// PCM, the only device without a sound card, is unpaced, so media over it is not meaningful
    /// (the HIL guest's snd-aloop hook covers an answered call with audio).
    @Test func ringRejectAndCancelOverDMSignalling() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let audio = ["--audio", "alsa", "--audio-in", "null", "--audio-out", "null"]
        let a = try RunningNode.make(in: dir, name: "a", extraArguments: audio)
        defer { a.kill() }
        let b = try RunningNode.make(in: dir, name: "b", extraArguments: audio)
        defer { b.kill() }
        let masterA = try Self.master(a), masterB = try Self.master(b)
        let ticketB = try #require(try b.json(["ticket", "--no-qr"])["ticket"] as? String)
        _ = try a.json(["follow", ticketB])

        // B rejects.
        let calling = try a.json(["call", masterB])
        #expect(calling["state"] as? String == "ringing")
        #expect(calling["direction"] as? String == "outgoing")
        #expect(waitUntil(seconds: 20) { Self.callState(b) == "incoming" }, "B never rang:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        let ringing = try b.json(["calls"])
        #expect(ringing["peer"] as? String == masterA)
        #expect(ringing["call_id"] as? String == calling["call_id"] as? String)
        #expect((try b.json(["status"])["call"] as? [String: Any])?["state"] as? String == "incoming")
        // A second call while busy is refused with the reason.
        let busy = try NodeBinary.run(["ctl", "--data-dir", a.data, "call", masterB])
        #expect(busy.status != 0)
        #expect(busy.stderr.contains("already in a call"), "stderr: \(busy.stderr)")
        _ = try b.json(["reject"])
        #expect(waitUntil(seconds: 20) { Self.callState(a) == "ended" }, "A never saw the reject:\n\(a.log_())")
        #expect(try a.json(["calls"])["end_reason"] as? String == "remote_reject")
        #expect(try b.json(["calls"])["end_reason"] as? String == "local_reject")

        // A cancels while B rings.
        _ = try a.json(["call", masterB])
        #expect(waitUntil(seconds: 20) { Self.callState(b) == "incoming" }, "B never rang again:\n\(b.log_())")
        _ = try a.json(["hangup"])
        #expect(waitUntil(seconds: 20) { Self.callState(b) == "ended" }, "B never saw the cancel:\n\(b.log_())")
        #expect(try b.json(["calls"])["end_reason"] as? String == "remote_cancelled")
        #expect(a.terminate(), "A did not exit 0:\n\(a.log_())")
        #expect(b.terminate(), "B did not exit 0:\n\(b.log_())")
    }
}
