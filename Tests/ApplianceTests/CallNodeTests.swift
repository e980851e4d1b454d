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
    /// (paced to real time, tied to one clock): each side's microphone is its own noise-burst
    /// recording; frames flow both ways, each speaker file carries the other side's recording (found
    /// by cross-correlation, which also gives the mouth-to-ear delay), and hanging up ends both.
    @Test func answeredCallCarriesEachSideToTheOtherWithMeasuredDelay() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let micA = dir.path + "/a-mic.wav", micB = dir.path + "/b-mic.wav"
        let heardA = dir.path + "/a-speaker.raw", heardB = dir.path + "/b-speaker.raw"
        let sourceA = Self.noiseBursts(seed: 1), sourceB = Self.noiseBursts(seed: 2)
        try Self.writeWAV(sourceA, to: micA)
        try Self.writeWAV(sourceB, to: micB)
        let a = try RunningNode.make(in: dir, name: "a", extraArguments: ["--audio", "file", "--audio-in", micA, "--audio-out", heardA])
        defer { a.kill() }
        let b = try RunningNode.make(in: dir, name: "b", extraArguments: ["--audio", "file", "--audio-in", micB, "--audio-out", heardB])
        defer { b.kill() }
        try Self.callAnswerTalkAndHangUp(a, b, afterAnswer: {
            #expect(waitUntil(seconds: 20) { Self.callState(a) == "active" && Self.callState(b) == "active" },
                    "not active on both:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        }, afterEnd: {
            let reason = try b.json(["calls"])["end_reason"] as? String
            #expect(reason == "remote_hangup")
        })

        // Each speaker played the other side's recording, not its own, a bounded time after it was said.
        for (name, path, other, own) in [("A→B", heardB, sourceA, sourceB), ("B→A", heardA, sourceB, sourceA)] {
            let played = try Self.readS16(path)
            let start = try #require(UInt64(try String(contentsOfFile: path + ".start", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)), "\(path).start")
            // Two 1 s windows from 1.2 s into the call, once the jitter buffer has settled.
            let firstIndex = Int(Self.sampleIndex(atNanos: start) % UInt64(other.count))
            for offset in [57_600, 115_200] {
                #expect(played.count >= offset + 48_000, "\(name): only \(played.count) samples played")
                guard played.count >= offset + 48_000 else { continue }
                let window = Array(played[offset..<offset + 48_000])
                let match = Self.bestLag(window, source: other, firstIndex: firstIndex + offset, maxLag: 19_200)
                let own = Self.bestLag(window, source: own, firstIndex: firstIndex + offset, maxLag: 19_200)
                let delayMillis = Double(match.lag) / 48
                print(String(format: "call nodes: %@ mouth-to-ear %.1f ms at %.1f s (envelope correlation %.2f; with its own source %.2f)",
                             name, delayMillis, Double(offset) / 48_000, match.correlation, own.correlation))
                #expect(match.correlation > 0.7, "\(name): the other side's recording is not in the speaker file (r = \(match.correlation))")
                #expect(own.correlation < match.correlation - 0.2, "\(name): the speaker plays its own microphone (r = \(own.correlation))")
                #expect(delayMillis > 0 && delayMillis < 400, "\(name): delay \(delayMillis) ms")
            }
        }
    }

    /// The same call through the node's ALSA code: each node's `~/.asoundrc` (a private HOME)
    /// makes `call_mic` an ALSA `file` plugin reading its recording and `call_speaker` one writing
    /// raw PCM (file/null plugins are paced in software). Without a shared clock the delay is not
    /// measured here; the speaker files must carry the other side's recording.
    @Test func answeredCallThroughALSAFilePluginDevices() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let sources = [Self.noiseBursts(seed: 1), Self.noiseBursts(seed: 2)]
        var nodes: [RunningNode] = []
        defer { for node in nodes { node.kill() } }
        for (index, name) in ["a", "b"].enumerated() {
            let home = dir.path + "/home-" + name
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            // Ten loops of the recording: the file plugin does not loop by itself.
            let mic = (0..<10).flatMap { _ in sources[index] }
            try RawPCM.writeS16(RawPCM.int16(mic), to: home + "/mic.raw")
            try """
                pcm.call_mic { type file; slave.pcm { type null }; file "/dev/null"; infile "\(home)/mic.raw"; format "raw" }
                pcm.call_speaker { type file; slave.pcm { type null }; file "\(home)/speaker.raw"; format "raw" }
                """.write(toFile: home + "/.asoundrc", atomically: true, encoding: .utf8)
            nodes.append(try RunningNode.make(in: dir, name: name,
                                              extraArguments: ["--audio", "alsa", "--audio-in", "call_mic", "--audio-out", "call_speaker"],
                                              environment: ["HOME": home]))
        }
        try Self.callAnswerTalkAndHangUp(nodes[0], nodes[1])
        for (name, path, other, own) in [("A→B", dir.path + "/home-b/speaker.raw", sources[0], sources[1]),
                                         ("B→A", dir.path + "/home-a/speaker.raw", sources[1], sources[0])] {
            let played = try Self.readS16(path)
            #expect(played.count >= 115_200 + 48_000, "\(name): only \(played.count) samples played")
            guard played.count >= 115_200 + 48_000 else { continue }
            let window = Array(played[115_200..<163_200])
            // Any alignment within the 1 s loop: the two processes' devices started at unknown times.
            let match = Self.bestLag(window, source: other, firstIndex: 0, maxLag: 47_999)
            let ownMatch = Self.bestLag(window, source: own, firstIndex: 0, maxLag: 47_999)
            print(String(format: "call nodes (ALSA file plugin): %@ envelope correlation %.2f; with its own source %.2f",
                         name, match.correlation, ownMatch.correlation))
            #expect(match.correlation > 0.7, "\(name): the other side's recording is not in the speaker file (r = \(match.correlation))")
            #expect(ownMatch.correlation < match.correlation - 0.2, "\(name): the speaker plays its own microphone")
        }
    }

    /// A follows B by ticket and calls; B answers; 4 s of audio each way (200 frames of 20 ms,
    /// however slowly this machine runs); A hangs up, B sees it, both exit 0.
    static func callAnswerTalkAndHangUp(_ a: RunningNode, _ b: RunningNode, afterAnswer: () -> Void = {},
                                        afterEnd: () throws -> Void = {}) throws {
        let ticketB = try #require(try b.json(["ticket", "--no-qr"])["ticket"] as? String)
        _ = try a.json(["follow", ticketB])
        _ = try a.json(["call", try master(b)])
        #expect(waitUntil(seconds: 20) { callState(b) == "incoming" }, "B never rang:\n\(b.log_())")
        _ = try b.json(["answer"])
        afterAnswer()
        func received(_ node: RunningNode) -> Int {
            ((try? node.json(["calls"]))?["media"] as? [String: Any])?["frames_received"] as? Int ?? 0
        }
        #expect(waitUntil(seconds: 30) { received(a) >= 200 && received(b) >= 200 },
                "frames received: A \(received(a)), B \(received(b))\nA:\n\(a.log_())\nB:\n\(b.log_())")
        _ = try a.json(["hangup"])
        #expect(waitUntil(seconds: 20) { callState(b) == "ended" }, "B never saw the hang-up:\n\(b.log_())")
        try afterEnd()
        #expect(a.terminate(), "A did not exit 0:\n\(a.log_())")
        #expect(b.terminate(), "B did not exit 0:\n\(b.log_())")
    }

    /// Speech-like test signal: 1 s of noise bursts (40–200 ms, with gaps) from a seeded generator,
    /// smoothed so Opus keeps its shape.
    static func noiseBursts(seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        var out = [Float](repeating: 0, count: 48_000)
        var i = 0, previous: Float = 0
        while i < out.count {
            let burst = 1_920 + Int(rng.next(upTo: 7_680)), gap = 960 + Int(rng.next(upTo: 4_800))
            for j in i..<min(out.count, i + burst) {
                let white = Float(rng.next(upTo: 2_001)) / 1_000 - 1
                previous = 0.9 * previous + 0.1 * white
                out[j] = max(-0.9, min(0.9, 3 * previous))
            }
            i += burst + gap
        }
        return out
    }

    /// floor(t · 48 kHz) as FileAudioDevice anchors its capture loop.
    static func sampleIndex(atNanos t: UInt64) -> UInt64 { t / 1_000_000_000 * 48_000 + t % 1_000_000_000 * 48_000 / 1_000_000_000 }

    /// The lag (samples) at which `window`, played from source index `firstIndex`, best matches the
    /// looped `source` said `lag` samples earlier; with the normalised correlation there.
    static func bestLag(_ window: [Float], source: [Float], firstIndex: Int, maxLag: Int) -> (lag: Int, correlation: Double) {
        // Loudness envelopes (RMS per 2.5 ms block), compared by Pearson correlation: Opus keeps a
        // noise burst's envelope, not its waveform. Block energies of the looped source come from
        // a prefix sum, so every lag (1 sample) costs one pass over the window's blocks.
        let block = 120, n = source.count
        var prefix = [Double](repeating: 0, count: 2 * n + 1)
        for i in 0..<(2 * n) { prefix[i + 1] = prefix[i] + Double(source[i % n]) * Double(source[i % n]) }
        let blocks = window.count / block
        let heard = (0..<blocks).map { b in
            (window[(b * block)..<((b + 1) * block)].reduce(0.0) { $0 + Double($1) * Double($1) } / Double(block)).squareRoot()
        }
        var best = (lag: 0, correlation: -1.0)
        var said = [Double](repeating: 0, count: blocks)
        for lag in 0...maxLag {
            let base = ((firstIndex - lag) % n + n) % n
            for b in 0..<blocks {
                let start = base + b * block
                said[b] = ((prefix[start + block] - prefix[start]) / Double(block)).squareRoot()
            }
            let r = pearson(heard, said)
            if r > best.correlation { best = (lag, r) }
        }
        return best
    }

    static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in x.indices {
            sxy += (x[i] - mx) * (y[i] - my)
            sxx += (x[i] - mx) * (x[i] - mx)
            syy += (y[i] - my) * (y[i] - my)
        }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
    }

    /// 48 kHz mono 16-bit WAV.
    static func writeWAV(_ samples: [Float], to path: String) throws {
        let pcm = samples.flatMap { sample -> [UInt8] in
            let v = UInt16(bitPattern: Int16(max(-32_768, min(32_767, (sample * 32_767).rounded()))))
            return [UInt8(v & 0xFF), UInt8(v >> 8)]
        }
        func le32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24 & 0xFF)] }
        // Appended piece by piece: one long `+` chain is too much for Swift 6.0.3's type checker.
        var header: [UInt8] = Array("RIFF".utf8)
        header += le32(36 + pcm.count)
        header += Array("WAVEfmt ".utf8)
        header += le32(16)
        header += [1, 0, 1, 0]                // PCM, mono
        header += le32(48_000)
        header += le32(96_000)                // bytes per second
        header += [2, 0, 16, 0]               // block align, bits per sample
        header += Array("data".utf8)
        header += le32(pcm.count)
        try Data(header + pcm).write(to: URL(fileURLWithPath: path))
    }

    static func readS16(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return stride(from: 0, to: data.count - 1, by: 2).map { i in
            Float(Int16(bitPattern: UInt16(data[i]) | UInt16(data[i + 1]) << 8)) / 32_768
        }
    }
}
