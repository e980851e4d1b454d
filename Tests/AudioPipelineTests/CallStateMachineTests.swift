import Testing
@testable import AudioPipeline

@Suite("CallStateMachine")
struct CallStateMachineTests {
    typealias Machine = CallStateMachine
    let peer = String(repeating: "ab", count: 32)
    let other = String(repeating: "cd", count: 32)

    func machine() -> (Machine, SimulatedAudioClock) {
        let clock = SimulatedAudioClock()
        clock.set(1_000_000)
        return (Machine(clock: clock), clock)
    }

    /// Caller side up to active.
    func outgoingActive() -> (Machine, SimulatedAudioClock) {
        var (m, clock) = machine()
        _ = m.handle(.dial(callID: "c1", peer: peer))
        _ = m.handle(.answerReceived(callID: "c1", peer: peer))
        _ = m.handle(.mediaConnected)
        return (m, clock)
    }

    @Test func outgoingCallRingsConnectsAndGoesActive() {
        var (m, clock) = machine()
        #expect(m.phase == .idle)
        #expect(m.handle(.dial(callID: "c1", peer: peer)) == [.sendOffer(callID: "c1", peer: peer)])
        #expect(m.phase == .outgoingRinging)
        #expect(m.call?.direction == .outgoing)
        // An answer for another call id, or from another peer, is ignored.
        #expect(m.handle(.answerReceived(callID: "zz", peer: peer)) == [])
        #expect(m.handle(.answerReceived(callID: "c1", peer: other)) == [])
        #expect(m.phase == .outgoingRinging)
        clock.set(2_000_000)
        #expect(m.handle(.answerReceived(callID: "c1", peer: peer)) == [.dialMedia(callID: "c1", peer: peer)])
        #expect(m.phase == .connecting)
        #expect(m.call?.answeredMicros == 2_000_000)
        #expect(m.handle(.mediaConnected) == [])
        #expect(m.phase == .active)
    }

    @Test func incomingCallRingsAndIsAnswered() {
        var (m, _) = machine()
        #expect(m.handle(.offerReceived(callID: "c9", peer: peer)) == [])
        #expect(m.phase == .incomingRinging)
        #expect(m.call?.direction == .incoming)
        #expect(m.handle(.answer) == [.sendAnswer(callID: "c9", peer: peer), .awaitMedia(callID: "c9", peer: peer)])
        #expect(m.phase == .connecting)
        #expect(m.handle(.answer) == [])   // a second answer does nothing
        _ = m.handle(.mediaConnected)
        #expect(m.phase == .active)
    }

    @Test func outgoingRingTimeoutEndsWithoutSending() {
        var (m, clock) = machine()
        _ = m.handle(.dial(callID: "c1", peer: peer))
        clock.set(1_000_000 + 29_999_000)
        #expect(m.tick() == [])
        clock.set(1_000_000 + 30_000_000)
        #expect(m.tick() == [.ended(callID: "c1", reason: .noAnswer)])
        #expect(m.phase == .ended(.noAnswer))
    }

    @Test func incomingRingTimeoutSendsReject() {
        var (m, clock) = machine()
        _ = m.handle(.offerReceived(callID: "c1", peer: peer))
        clock.set(31_000_000)
        #expect(m.tick() == [.sendReject(callID: "c1", peer: peer), .ended(callID: "c1", reason: .missed)])
        #expect(m.handle(.answer) == [])   // too late
        #expect(m.phase == .ended(.missed))
    }

    @Test func offerThatCannotBeSentFailsAtOnce() {
        var (m, _) = machine()
        _ = m.handle(.dial(callID: "c1", peer: peer))
        #expect(m.handle(.offerFailed) == [.ended(callID: "c1", reason: .offerNotDelivered)])
    }

    @Test func rejectAndCancel() {
        var (m, _) = machine()
        _ = m.handle(.offerReceived(callID: "c1", peer: peer))
        #expect(m.handle(.reject) == [.sendReject(callID: "c1", peer: peer), .ended(callID: "c1", reason: .localReject)])

        // Cancelling our own outgoing call sends CallReject (§9.1).
        _ = m.handle(.dial(callID: "c2", peer: peer))
        #expect(m.handle(.hangup) == [.sendReject(callID: "c2", peer: peer), .ended(callID: "c2", reason: .localReject)])

        // The peer rejects our offer.
        _ = m.handle(.dial(callID: "c3", peer: peer))
        #expect(m.handle(.rejectReceived(callID: "c3", peer: peer)) == [.ended(callID: "c3", reason: .remoteReject)])

        // The caller cancels before we answer.
        _ = m.handle(.offerReceived(callID: "c4", peer: peer))
        #expect(m.handle(.rejectReceived(callID: "c4", peer: peer)) == [.ended(callID: "c4", reason: .remoteCancelled)])
    }

    @Test func secondOfferWhileBusyIsRejectedAndCallKept() {
        var (m, _) = outgoingActive()
        #expect(m.handle(.offerReceived(callID: "x", peer: other)) == [.sendReject(callID: "x", peer: other)])
        #expect(m.phase == .active && m.call?.id == "c1")
        #expect(m.busyRejections == 1)
        // Busy while ringing too, but a repeated offer of the ringing call is not "busy".
        var (n, _) = machine()
        _ = n.handle(.offerReceived(callID: "c1", peer: peer))
        #expect(n.handle(.offerReceived(callID: "c1", peer: peer)) == [])
        #expect(n.handle(.offerReceived(callID: "c2", peer: other)) == [.sendReject(callID: "c2", peer: other)])
        // Dialling out while in a call does nothing.
        #expect(n.handle(.dial(callID: "c3", peer: other)) == [])
        #expect(n.call?.id == "c1")
    }

    @Test func hangupFromEitherSide() {
        var (a, _) = outgoingActive()
        #expect(a.handle(.hangup) == [.sendHangup(callID: "c1", peer: peer), .stopMedia(callID: "c1"),
                                      .ended(callID: "c1", reason: .localHangup)])
        var (b, _) = outgoingActive()
        #expect(b.handle(.hangupReceived(callID: "other", peer: peer)) == [])
        #expect(b.handle(.hangupReceived(callID: "c1", peer: peer)) == [.stopMedia(callID: "c1"),
                                                                         .ended(callID: "c1", reason: .remoteHangup)])
        // A clean end of the peer's media stream is a hang-up too.
        var (c, _) = outgoingActive()
        #expect(c.handle(.mediaEnded) == [.stopMedia(callID: "c1"), .ended(callID: "c1", reason: .remoteHangup)])
        // Hanging up while still connecting.
        var (d, _) = machine()
        _ = d.handle(.offerReceived(callID: "c5", peer: peer))
        _ = d.handle(.answer)
        #expect(d.handle(.hangup) == [.sendHangup(callID: "c5", peer: peer), .stopMedia(callID: "c5"),
                                      .ended(callID: "c5", reason: .localHangup)])
    }

    @Test func peerSilenceEndsTheCallWithinTheTimeout() {
        var (m, clock) = outgoingActive()
        for step in 1...100 {   // 2 s of frames every 20 ms
            clock.set(1_000_000 + Int64(step) * 20_000)
            _ = m.handle(.mediaReceived)
            #expect(m.tick() == [])
        }
        let lastFrame = clock.nowMicros()
        clock.set(lastFrame + 2_499_000)
        #expect(m.tick() == [])
        clock.set(lastFrame + 2_500_000)
        #expect(m.tick() == [.sendHangup(callID: "c1", peer: peer), .stopMedia(callID: "c1"),
                             .ended(callID: "c1", reason: .peerSilent(millis: 2_500))])
        #expect(m.timeouts.mediaSilenceMicros <= 3_000_000)
    }

    @Test func activeCallThatNeverGetsMediaEndsToo() {
        var (m, clock) = outgoingActive()
        clock.set(1_000_000 + 2_500_000)
        #expect(m.tick().last == .ended(callID: "c1", reason: .peerSilent(millis: 2_500)))
    }

    @Test func networkDropAndConnectFailures() {
        var (a, _) = outgoingActive()
        #expect(a.handle(.mediaLost("connection lost: idle")) == [.sendHangup(callID: "c1", peer: peer), .stopMedia(callID: "c1"),
                                                                  .ended(callID: "c1", reason: .networkLost("connection lost: idle"))])
        var (b, clock) = machine()
        _ = b.handle(.dial(callID: "c2", peer: peer))
        _ = b.handle(.answerReceived(callID: "c2", peer: peer))
        #expect(b.handle(.mediaConnectFailed("unreachable")).last == .ended(callID: "c2", reason: .connectFailed("unreachable")))
        _ = b.handle(.offerReceived(callID: "c3", peer: peer))
        _ = b.handle(.answer)
        clock.set(1_000_000 + 10_000_000)
        #expect(b.tick() == [.sendHangup(callID: "c3", peer: peer), .stopMedia(callID: "c3"),
                             .ended(callID: "c3", reason: .connectTimeout)])
        var (c, _) = outgoingActive()
        #expect(c.handle(.audioFailed("no device")).last == .ended(callID: "c1", reason: .audioFailed("no device")))
    }

    @Test func eventsOutOfPhaseChangeNothing() {
        var (m, _) = machine()
        for event: Machine.Event in [.answer, .reject, .hangup, .mediaConnected, .mediaReceived, .mediaEnded,
                                     .mediaLost("x"), .offerFailed, .answerReceived(callID: "a", peer: peer),
                                     .rejectReceived(callID: "a", peer: peer), .hangupReceived(callID: "a", peer: peer)] {
            #expect(m.handle(event) == [])
            #expect(m.phase == .idle)
        }
        #expect(m.tick() == [])
        // After an end, a new call can start; the ended call's signals no longer matter.
        _ = m.handle(.dial(callID: "c1", peer: peer))
        _ = m.handle(.hangup)
        #expect(m.handle(.answerReceived(callID: "c1", peer: peer)) == [])
        #expect(m.handle(.offerReceived(callID: "c2", peer: other)) == [])
        #expect(m.phase == .incomingRinging && m.call?.id == "c2")
    }
}
