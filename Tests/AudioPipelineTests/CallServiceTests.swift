import Testing
import Foundation
import Core
import TestSupport
@testable import AudioPipeline

/// Two (or three) CallServices over the in-memory network with fake signalling and paced fake
/// sound cards. Real time: each call runs a few seconds.
/// Every real-time call suite runs inside this one, one test at a time.
@Suite("Calls (real time)", .serialized)
enum CallRealtimeTests {}

extension CallRealtimeTests {
@Suite("CallService", .serialized)
struct CallServiceTests {
    static let speechA = CallSignal.speechA
    static let speechB = CallSignal.speechB

    func establish(_ bed: CallTestBed, from a: Int = 0, to b: Int = 1) async throws {
        let caller = bed.nodes[a].service, callee = bed.nodes[b].service
        try await caller.call(bed.nodes[b].master)
        #expect(await eventually(10) { await callee.phase == .incomingRinging })
        #expect(await caller.phase == .outgoingRinging)
        try await callee.answer()
        #expect(await eventually(10) {
            let callerPhase = await caller.phase
            let calleePhase = await callee.phase
            return callerPhase == .active && calleePhase == .active
        })
    }

    @Test func callCarriesAudioBothWaysAndReportsDelay() async throws {
        let probe = StarvationProbe()
        defer { probe.stop() }
        let bed = try CallTestBed(sources: [Self.speechA, Self.speechB])
        await bed.start()
        try await establish(bed)
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let a = bed.nodes[0], b = bed.nodes[1]
        let aStatus = await a.service.status(), bStatus = await b.service.status()
        try await a.service.hangup()
        #expect(await eventually(3) { await b.service.phase == .ended(.remoteHangup) })
        #expect(await a.service.phase == .ended(.localHangup))
        await bed.stop()

        let aDev = try #require(a.audio?.devices.first), bDev = try #require(b.audio?.devices.first)
        let am = try #require(aStatus.media), bm = try #require(bStatus.media)
        try unlessStarved([am, bm], probe: probe) {
            let ab = try measureDelay(said: Self.speechA, capture: aDev.capture, playback: bDev.playback)
            let ba = try measureDelay(said: Self.speechB, capture: bDev.capture, playback: aDev.playback)
            print("call delay A→B \(String(format: "%.1f", ab.millis)) ms [\(Int(ab.minMillis))–\(Int(ab.maxMillis))] (corr \(String(format: "%.3f", ab.correlation))), B→A \(String(format: "%.1f", ba.millis)) ms [\(Int(ba.minMillis))–\(Int(ba.maxMillis))] (corr \(String(format: "%.3f", ba.correlation)))")
            print("A stats \(String(describing: aStatus.media)); B stats \(String(describing: bStatus.media))")
            // Opus (SILK at 64 kbit/s) does not keep a noise-like waveform exactly and the jitter buffer's
            // inserts/drops move the alignment in 20 ms steps, so the peak is well below 1; audio that
            // was never sent (B's own signal against B's speaker) is the control.
            let control = try measureDelay(said: Self.speechB, capture: bDev.capture, playback: bDev.playback)
            print("control (unsent signal) corr \(String(format: "%.3f", control.correlation))")
            #expect(control.correlation < 0.15)
            #expect(ab.correlation > 0.35, "A→B correlation \(ab.correlation)")
            #expect(ba.correlation > 0.35, "B→A correlation \(ba.correlation)")
            #expect(ab.maxMillis - ab.minMillis <= 80 && ba.maxMillis - ba.minMillis <= 80)
            #expect(ab.millis > 20 && ab.millis < 400, "A→B delay \(ab.millis) ms")
            #expect(ba.millis > 20 && ba.millis < 400, "B→A delay \(ba.millis) ms")
            // About 3 s of 20 ms frames each way, nothing lost on a clean path.
            #expect(am.framesSent > 120 && bm.framesSent > 120)
            #expect(am.framesReceived > 120 && bm.framesReceived > 120)
            // A clean path: at most a few frames late (only when this process is starved of CPU).
            #expect(am.late <= am.framesReceived / 20 && bm.late <= bm.framesReceived / 20)
        }
    }

    @Test func impairedPathConcealsAndSurvives() async throws {
        var impairment = Impairment.Settings()
        impairment.spikeProbability = 0.10
        impairment.spikeMaxMicros = 200_000
        impairment.jitterMicros = 30_000
        impairment.seed = 7
        let probe = StarvationProbe()
        defer { probe.stop() }
        let bed = try CallTestBed(sources: [Self.speechA, Self.speechB], impairment: impairment)
        await bed.start()
        try await establish(bed)
        let a = bed.nodes[0], b = bed.nodes[1]
        let started = callTestNanos()
        // Delay samples in the second half, with the playback shortfall (device underruns) seen by then:
        // a stall of this process (other work on the machine) delays playout by as much, and the
        // buffer then works it off by dropping frames; the impairment alone must not add to it.
        var secondHalf: [(delay: Int, shortfallMillis: Int)] = []
        for step in 0..<30 {   // 6 s
            try await Task.sleep(nanoseconds: 200_000_000)
            for n in [a, b] {
                let m = try #require(await n.service.status().media)
                if step >= 15 { secondHalf.append((m.currentDelayMillis, m.playbackShortfallSamples / 48)) }
            }
        }
        let elapsedMillis = Double(callTestNanos() - started) / 1e6
        let aMedia = try #require(await a.service.status().media), bMedia = try #require(await b.service.status().media)
        let phases = (await a.service.phase, await b.service.phase)
        #expect(phases.0 == .active && phases.1 == .active)
        let worst = secondHalf.max { $0.delay - $0.shortfallMillis < $1.delay - $1.shortfallMillis }
        print("impaired: A \(aMedia); B \(bMedia); spikes \(bed.callerSide.spikes.load(ordering: .relaxed))/\(bed.calleeSide.spikes.load(ordering: .relaxed)); worst second-half delay \(String(describing: worst)) over \(Int(elapsedMillis)) ms")
        unlessStarved([aMedia, bMedia], probe: probe) {
            for m in [aMedia, bMedia] {
                // Concealment instead of stalls: lateness shows up as concealed frames…
                #expect(m.concealed > 0)
                #expect(m.late > 0)
                // …while playout keeps producing one 20 ms frame per 20 ms (±15 %).
                let expected = elapsedMillis / 20
                #expect(Double(m.played + m.inserted + m.concealed) > expected * 0.85, "\(m) vs \(expected)")
                #expect(m.targetDelayMillis <= 200)
            }
        }
        // No unbounded growth: once settled, the delay stays near the 200 ms cap.
        for sample in secondHalf {
            #expect(sample.delay <= 300 + sample.shortfallMillis, "delay \(sample.delay) ms, shortfall \(sample.shortfallMillis) ms")
        }
        try await b.service.hangup()
        #expect(await eventually(3) { await a.service.phase == .ended(.remoteHangup) })
        #expect(await b.service.phase == .ended(.localHangup))
        await bed.stop()
    }

    @Test func muteSendsSilenceButKeepsTheCallAlive() async throws {
        let bed = try CallTestBed(sources: [Self.speechA, Self.speechB])
        await bed.start()
        try await establish(bed)
        let a = bed.nodes[0], b = bed.nodes[1]
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let bPlayback = try #require(b.audio?.devices.first?.playback)
        let before = SignalAnalysis.rms(Array(bPlayback.recorded.suffix(24_000)))
        await a.service.setMuted(true)
        try await Task.sleep(nanoseconds: 3_000_000_000)   // longer than the silence timeout
        let after = SignalAnalysis.rms(Array(bPlayback.recorded.suffix(24_000)))
        #expect(before > 0.02, "rms before mute \(before)")
        #expect(after < 0.002, "rms after mute \(after)")
        #expect(await b.service.phase == .active)   // muted frames still flow (§9.4)
        await bed.stop()
    }

    @Test func peerDeathIsDetectedWithinThreeSeconds() async throws {
        let bed = try CallTestBed(sources: [Self.speechA, Self.speechB])
        await bed.start()
        try await establish(bed)
        let a = bed.nodes[0], b = bed.nodes[1]
        try await Task.sleep(nanoseconds: 500_000_000)
        // B "dies": its frames stop arriving, but no FIN, no close (a crashed process or a frozen path).
        let died = callTestNanos()
        bed.calleeSide.blackhole = true
        #expect(await eventually(4) {
            if case .ended = await a.service.phase { return true }
            return false
        })
        let detectedMillis = Double(callTestNanos() - died) / 1e6
        let phase = await a.service.phase
        guard case let .ended(.peerSilent(silent)) = phase else {
            Issue.record("A ended with \(phase)")
            return
        }
        print("peer death detected after \(Int(detectedMillis)) ms (silence \(silent) ms)")
        #expect(detectedMillis <= 3_000)
        // A's hang-up reaches B, which ends too.
        #expect(await eventually(3) { await b.service.phase == .ended(.remoteHangup) })
        await bed.stop()
    }

    @Test func networkDropEndsBothSides() async throws {
        let bed = try CallTestBed(sources: [Self.speechA, Self.speechB])
        await bed.start()
        try await establish(bed)
        let a = bed.nodes[0], b = bed.nodes[1]
        try await Task.sleep(nanoseconds: 300_000_000)
        bed.callerSide.dropNetwork()
        for n in [a, b] {
            #expect(await eventually(3) {
                if case .ended(.networkLost) = await n.service.phase { return true }
                return false
            })
        }
        await bed.stop()
    }

    @Test func blackholedNetworkEndsBothSidesBySilence() async throws {
        let bed = try CallTestBed(sources: [Self.speechA, Self.speechB])
        await bed.start()
        try await establish(bed)
        let a = bed.nodes[0], b = bed.nodes[1]
        bed.callerSide.blackhole = true
        bed.calleeSide.blackhole = true
        bed.hub.setOffline(a.master, true)   // the hang-up signals cannot get through either
        bed.hub.setOffline(b.master, true)
        for n in [a, b] {
            #expect(await eventually(4) {
                if case .ended(.peerSilent) = await n.service.phase { return true }
                return false
            })
        }
        await bed.stop()
    }

    @Test func rejectCancelBusyAndUnreachable() async throws {
        let bed = try CallTestBed(count: 3, sources: [Self.speechA, Self.speechB, Self.speechB])
        await bed.start()
        let a = bed.nodes[0], b = bed.nodes[1], c = bed.nodes[2]

        // B rejects.
        try await a.service.call(b.master)
        #expect(await eventually(3) { await b.service.phase == .incomingRinging })
        try await b.service.reject()
        #expect(await eventually(3) { await a.service.phase == .ended(.remoteReject) })
        #expect(await b.service.phase == .ended(.localReject))

        // A cancels while ringing.
        try await a.service.call(b.master)
        #expect(await eventually(3) { await b.service.phase == .incomingRinging })
        try await a.service.hangup()
        #expect(await eventually(3) { await b.service.phase == .ended(.remoteCancelled) })

        // Busy: C calls B while A and B talk; C is rejected, the call goes on.
        try await establish(bed)
        try await c.service.call(b.master)
        #expect(await eventually(3) { await c.service.phase == .ended(.remoteReject) })
        let phases = (await a.service.phase, await b.service.phase)
        #expect(phases.0 == .active && phases.1 == .active)
        #expect(await b.service.status().busyRejections == 1)
        let currentID = await a.service.status().callID
        do {
            try await a.service.call(c.master)
            Issue.record("a second outgoing call was accepted")
        } catch {
            #expect(error == .busy(phase: "active", callID: currentID ?? "?"))
        }
        try await a.service.hangup()

        // Unreachable: the offer cannot be delivered, the call fails at once.
        bed.hub.setOffline(c.master, true)
        try await a.service.call(c.master)
        #expect(await eventually(3) { await a.service.phase == .ended(.offerNotDelivered) })
        await bed.stop()
    }

    @Test func nodeWithoutAudioRefusesCalls() async throws {
        let bed = try CallTestBed(sources: [Self.speechA, nil])
        await bed.start()
        let a = bed.nodes[0], b = bed.nodes[1]
        do {
            try await b.service.call(a.master)
            Issue.record("call without audio accepted")
        } catch {
            #expect(error == .audioUnavailable)
            #expect(error.description.contains("--audio none"))
        }
        try await a.service.call(b.master)
        #expect(await eventually(3) { await a.service.phase == .ended(.remoteReject) })
        #expect(bed.hub.sent.contains { if case .callReject = $0.payload { return $0.from == b.master }; return false })
        await bed.stop()
    }

    @Test func callConnectionWithoutAnAnsweredCallIsRefused() async throws {
        let bed = try CallTestBed(sources: [Self.speechA, Self.speechB])
        await bed.start()
        let a = bed.nodes[0], b = bed.nodes[1]
        let connection = try await bed.network.dialer(for: a.transport).connect(to: PeerAddress(id: b.transport),
                                                                               alpn: CallService.alpn, timeoutSeconds: 1)
        #expect(await connection.closed() == .connectionClosed(code: 0, reason: "no call"))
        #expect(await b.service.phase == .idle)
        await bed.stop()
    }
}

}

extension CallRealtimeTests {
@Suite("CallCommands", .serialized)
struct CallCommandsTests {
    @Test func commandsDriveACallAndReportIt() async throws {
        let bed = try CallTestBed(sources: [CallSignal.speechA, CallSignal.speechB])
        await bed.start()
        let a = CallCommands(service: bed.nodes[0].service), b = CallCommands(service: bed.nodes[1].service)
        #expect(await a.calls().text == "no calls")
        do {
            _ = try await a.call("not-a-key")
            Issue.record("bad peer accepted")
        } catch {
            #expect(error.description.contains("not-a-key"))
        }
        do {
            _ = try await b.answer()
            Issue.record("answer with nothing ringing accepted")
        } catch {
            #expect(error == .noIncomingCall)
        }
        let calling = try await a.call(bed.nodes[1].master.hex)
        #expect(calling.text.hasPrefix("calling "))
        #expect(calling.json.contains("\"state\":\"ringing\""))
        #expect(await eventually(10) { await b.calls().json.contains("\"state\":\"incoming\"") })
        _ = try await b.answer()
        #expect(await eventually(3) { await a.calls().json.contains("\"state\":\"active\"") })
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let status = await a.calls()
        #expect(status.text.contains("jitter delay"))
        #expect(status.json.contains("\"frames_received\":"))
        let hung = try await a.hangup()
        #expect(hung.json.contains("\"end_reason\":\"local_hangup\""))
        #expect(await eventually(3) { await b.calls().json.contains("\"end_reason\":\"remote_hangup\"") })
        do {
            _ = try await a.hangup()
            Issue.record("hang-up with no call accepted")
        } catch {
            #expect(error == .noCall)
        }
        await bed.stop()
    }
}
}
