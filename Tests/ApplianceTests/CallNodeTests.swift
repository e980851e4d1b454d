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

    static func media(_ node: RunningNode) -> [String: Any]? {
        (try? node.json(["calls"]))?["media"] as? [String: Any]
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

    /// ALSA's `null` PCM stands in for a sound card (silence in, discarded out).
    @Test func callAnswerHangUpOverNullAudio() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let audio = ["--audio", "alsa", "--audio-in", "null", "--audio-out", "null"]
        let a = try RunningNode.make(in: dir, name: "a", extraArguments: audio)
        defer { a.kill() }
        let b = try RunningNode.make(in: dir, name: "b", extraArguments: audio)
        defer { b.kill() }
        let masterB = try Self.master(b)
        let ticketB = try #require(try b.json(["ticket", "--no-qr"])["ticket"] as? String)
        _ = try a.json(["follow", ticketB])

        let calling = try a.json(["call", masterB])
        #expect(calling["state"] as? String == "ringing")
        #expect(waitUntil(seconds: 20) { Self.callState(b) == "incoming" }, "B never rang:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        let status = try b.json(["status"])
        #expect((status["call"] as? [String: Any])?["state"] as? String == "incoming")
        _ = try b.json(["answer"])
        #expect(waitUntil(seconds: 20) { Self.callState(a) == "active" && Self.callState(b) == "active" },
                "call never went active:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        #expect(waitUntil(seconds: 20) {
            ((Self.media(a)?["frames_received"] as? Int) ?? 0) > 0 && ((Self.media(b)?["frames_received"] as? Int) ?? 0) > 0
        }, "no media both ways: A \(String(describing: Self.media(a))), B \(String(describing: Self.media(b)))")

        _ = try a.json(["hangup"])
        #expect(waitUntil(seconds: 20) {
            let states = [Self.callState(a), Self.callState(b)]
            return states.allSatisfy { $0 == "ended" || $0 == "idle" }
        }, "call did not end on both sides:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        #expect((try a.json(["calls"]))["end_reason"] as? String == "local_hangup")
        #expect((try b.json(["calls"]))["end_reason"] as? String == "remote_hangup")
        #expect(a.terminate(), "A did not exit 0:\n\(a.log_())")
        #expect(b.terminate(), "B did not exit 0:\n\(b.log_())")
    }
}
