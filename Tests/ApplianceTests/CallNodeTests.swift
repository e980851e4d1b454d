import Foundation
import AudioPipeline
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

    /// An answered call end to end between two node processes, with the `file` audio backend
    /// (paced to real time): each side's microphone is a WAV tone (A 440 Hz, B 1 kHz); frames flow
    /// both ways, each speaker file carries the other side's tone, and hanging up ends both.
    @Test func answeredCallCarriesEachSidesToneToTheOther() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let toneA = dir.path + "/a-mic.wav", toneB = dir.path + "/b-mic.wav"
        let heardA = dir.path + "/a-speaker.raw", heardB = dir.path + "/b-speaker.raw"
        try Self.writeToneWAV(frequency: 440, to: toneA)
        try Self.writeToneWAV(frequency: 1_000, to: toneB)
        let a = try RunningNode.make(in: dir, name: "a", extraArguments: ["--audio", "file", "--audio-in", toneA, "--audio-out", heardA])
        defer { a.kill() }
        let b = try RunningNode.make(in: dir, name: "b", extraArguments: ["--audio", "file", "--audio-in", toneB, "--audio-out", heardB])
        defer { b.kill() }
        let masterB = try Self.master(b)
        let ticketB = try #require(try b.json(["ticket", "--no-qr"])["ticket"] as? String)
        _ = try a.json(["follow", ticketB])

        _ = try a.json(["call", masterB])
        #expect(waitUntil(seconds: 20) { Self.callState(b) == "incoming" }, "B never rang:\n\(b.log_())")
        _ = try b.json(["answer"])
        #expect(waitUntil(seconds: 20) { Self.callState(a) == "active" && Self.callState(b) == "active" },
                "not active on both:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        func received(_ node: RunningNode) -> Int {
            ((try? node.json(["calls"]))?["media"] as? [String: Any])?["frames_received"] as? Int ?? 0
        }
        // 2 s of audio each way (100 frames of 20 ms), however slowly this machine runs.
        #expect(waitUntil(seconds: 30) { received(a) >= 100 && received(b) >= 100 },
                "frames received: A \(received(a)), B \(received(b))\nA:\n\(a.log_())\nB:\n\(b.log_())")
        _ = try a.json(["hangup"])
        #expect(waitUntil(seconds: 20) { Self.callState(b) == "ended" }, "B never saw the hang-up:\n\(b.log_())")
        #expect(try b.json(["calls"])["end_reason"] as? String == "remote_hangup")

        // Each speaker played the other side's tone, not its own.
        for (path, expected, own) in [(heardA, 1_000.0, 440.0), (heardB, 440.0, 1_000.0)] {
            let samples = try Self.readS16(path)
            let loud = samples.drop { abs($0) < 0.05 }.prefix(48_000)
            #expect(loud.count >= 24_000, "\(path): only \(loud.count) samples of sound")
            let tone = SignalAnalysis.toneAmplitude(Array(loud), frequency: expected)
            let other = SignalAnalysis.toneAmplitude(Array(loud), frequency: own)
            #expect(tone > 0.1 && tone > 10 * other, "\(path): \(expected) Hz at \(tone), \(own) Hz at \(other)")
        }
        #expect(a.terminate(), "A did not exit 0:\n\(a.log_())")
        #expect(b.terminate(), "B did not exit 0:\n\(b.log_())")
    }

    /// One second of a sine at half scale, as a 48 kHz mono 16-bit WAV.
    static func writeToneWAV(frequency: Double, to path: String) throws {
        var tone = ToneGenerator(frequency: frequency, amplitude: 0.5)
        let pcm = tone.next(count: 48_000).flatMap { sample -> [UInt8] in
            let v = UInt16(bitPattern: Int16(max(-32_768, min(32_767, (sample * 32_767).rounded()))))
            return [UInt8(v & 0xFF), UInt8(v >> 8)]
        }
        func le32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)] }
        let header: [UInt8] = Array("RIFF".utf8) + le32(36 + pcm.count) + Array("WAVEfmt ".utf8) + le32(16)
            + [1, 0, 1, 0] + le32(48_000) + le32(96_000) + [2, 0, 16, 0] + Array("data".utf8) + le32(pcm.count)
        try Data(header + pcm).write(to: URL(fileURLWithPath: path))
    }

    static func readS16(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return stride(from: 0, to: data.count - 1, by: 2).map { i in
            Float(Int16(bitPattern: UInt16(data[i]) | UInt16(data[i + 1]) << 8)) / 32_768
        }
    }
}
