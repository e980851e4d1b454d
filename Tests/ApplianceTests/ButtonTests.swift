import Testing
@testable import Appliance

@Suite("GPIO button logic")
struct ButtonTests {
    @Test func debouncerIgnoresBounces() {
        var d = Debouncer(debounceMillis: 30)
        #expect(d.input(active: true, atMillis: 0) == nil)
        #expect(d.input(active: false, atMillis: 5) == nil)      // bounce back
        #expect(d.input(active: true, atMillis: 8) == nil)
        #expect(d.deadline == 38)
        #expect(d.advance(toMillis: 37) == nil)
        #expect(d.advance(toMillis: 38) == true)
        #expect(d.stableActive)
        #expect(d.deadline == nil)
        #expect(d.input(active: false, atMillis: 100) == nil)
        #expect(d.input(active: true, atMillis: 110) == nil)     // glitch shorter than 30 ms
        #expect(d.advance(toMillis: 200) == nil)
        #expect(d.stableActive)
    }

    @Test func zeroDebounceIsImmediate() {
        var d = Debouncer(debounceMillis: 0)
        #expect(d.input(active: true, atMillis: 1) == true)
        #expect(d.input(active: true, atMillis: 2) == nil)
        #expect(d.input(active: false, atMillis: 3) == false)
    }

    @Test func shortAndLongPresses() {
        var b = ButtonMachine(debounceMillis: 20, longPressMillis: 1000)
        #expect(b.input(active: true, atMillis: 0) == [])
        #expect(b.advance(toMillis: 20) == [.pressed])
        #expect(b.input(active: false, atMillis: 300) == [])
        #expect(b.advance(toMillis: 320) == [.shortPress, .released(heldMillis: 300)])

        #expect(b.input(active: true, atMillis: 1000) == [])
        #expect(b.advance(toMillis: 1020) == [.pressed])
        #expect(b.nextDeadline == 2020)
        #expect(b.advance(toMillis: 2019) == [])
        #expect(b.advance(toMillis: 2020) == [.longPress])
        #expect(b.advance(toMillis: 5000) == [])                 // fires once
        #expect(b.input(active: false, atMillis: 5000) == [])
        #expect(b.advance(toMillis: 5020) == [.released(heldMillis: 4000)])
    }

    @Test func lateAdvanceOrdersDebounceBeforeLongPress() {
        // The thread may wake late; a press and its long-press deadline must still come out in order.
        var b = ButtonMachine(debounceMillis: 30, longPressMillis: 500)
        _ = b.input(active: true, atMillis: 0)
        #expect(b.advance(toMillis: 10_000) == [.pressed, .longPress])
    }

    @Test func releaseAtLongPressBoundaryCountsAsLong() {
        var c = PressClassifier(longPressMillis: 1000)
        #expect(c.press(atMillis: 0) == [.pressed])
        #expect(c.release(atMillis: 1000) == [.longPress, .released(heldMillis: 1000)])
    }

    @Test func callMappingFollowsIntercomConventions() {
        typealias M = CallButtonMapper
        #expect(M.action(for: .shortPress, on: .answer, phase: .ringing) == .answer)
        #expect(M.action(for: .longPress, on: .answer, phase: .ringing) == .reject)
        #expect(M.action(for: .shortPress, on: .answer, phase: .inCall) == .hangUp)
        #expect(M.action(for: .shortPress, on: .answer, phase: .outgoing) == .hangUp)
        #expect(M.action(for: .longPress, on: .answer, phase: .idle) == .callDefault)
        #expect(M.action(for: .shortPress, on: .answer, phase: .idle) == nil)
        #expect(M.action(for: .pressed, on: .answer, phase: .ringing) == nil)
        #expect(M.action(for: .shortPress, on: .hangUp, phase: .ringing) == .reject)
        #expect(M.action(for: .shortPress, on: .hangUp, phase: .inCall) == .hangUp)
        #expect(M.action(for: .shortPress, on: .hangUp, phase: .idle) == nil)
        #expect(M.action(for: .pressed, on: .pushToTalk, phase: .inCall) == .startTalking)
        #expect(M.action(for: .released(heldMillis: 10), on: .pushToTalk, phase: .inCall) == .stopTalking)
        #expect(M.action(for: .pressed, on: .pushToTalk, phase: .ringing) == .answer)
        #expect(M.action(for: .shortPress, on: .pushToTalk, phase: .inCall) == nil)
    }

    @Test func pushToTalkHoldSequence() {
        var b = ButtonMachine(debounceMillis: 10, longPressMillis: 800)
        var actions: [CallAction] = []
        func feed(_ events: [ButtonEvent]) {
            actions += events.compactMap { CallButtonMapper.action(for: $0, on: .pushToTalk, phase: .inCall) }
        }
        feed(b.input(active: true, atMillis: 0))
        feed(b.advance(toMillis: 10))
        feed(b.advance(toMillis: 2000))                          // held through the long-press time
        feed(b.input(active: false, atMillis: 3000))
        feed(b.advance(toMillis: 3010))
        #expect(actions == [.startTalking, .stopTalking])
    }

    @Test func ledPatterns() {
        #expect(!LEDPattern.off.isOn(elapsedMillis: 5))
        #expect(LEDPattern.on.isOn(elapsedMillis: 5))
        #expect(LEDPattern.on.nextChange(afterElapsedMillis: 0) == nil)
        let ring = LEDPattern.ringing
        let samples = [0, 149, 150, 299, 300, 449, 450, 1199, 1200, 1350].map { ring.isOn(elapsedMillis: UInt64($0)) }
        #expect(samples == [true, true, false, false, true, true, false, false, true, false])
        #expect(ring.nextChange(afterElapsedMillis: 0) == 150)
        #expect(ring.nextChange(afterElapsedMillis: 150) == 300)
        #expect(ring.nextChange(afterElapsedMillis: 500) == 1200)
        #expect(ring.nextChange(afterElapsedMillis: 1250) == 1350)
        let blink = LEDPattern.blink(onMillis: 500, offMillis: 500)
        #expect(blink.isOn(elapsedMillis: 499) && !blink.isOn(elapsedMillis: 500) && blink.isOn(elapsedMillis: 1000))
        #expect(LEDPattern.callLED(for: .ringing) == .ringing)
        #expect(LEDPattern.callLED(for: .inCall) == .on)
        #expect(LEDPattern.callLED(for: .idle) == .off)
    }
}

@Suite("GPIO controller")
struct GPIOControllerTests {
    func controller() -> GPIOController {
        GPIOController(buttons: [(.answer, 17), (.pushToTalk, 27)], leds: [("online", 23), ("call", 24)],
                       debounceMillis: 20, longPressMillis: 1000, startMillis: 0)
    }

    /// Presses `offset` at `at` for `held` ms with one bounce, returning the decisions.
    func press(_ c: inout GPIOController, _ offset: UInt32, at: UInt64, held: UInt64) -> [GPIOController.Decision] {
        var out = c.edge(offset: offset, active: true, atMillis: at)
        out += c.edge(offset: offset, active: false, atMillis: at + 3)      // bounce
        out += c.edge(offset: offset, active: true, atMillis: at + 5)
        out += c.advance(toMillis: at + held)
        out += c.edge(offset: offset, active: false, atMillis: at + held)
        out += c.advance(toMillis: at + held + 50)
        return out
    }

    @Test func ringingAnsweredByShortPressThenHungUp() {
        var c = controller()
        #expect(c.ledChanges(atMillis: 0).map(\.lit) == [true, false])        // online on, call off
        c.setPhase(.ringing, atMillis: 1000)
        // Call LED follows the ringing cadence from the phase change on.
        #expect(c.ledChanges(atMillis: 1000).map { $0.offset } == [24])
        #expect(c.nextDeadline(afterMillis: 1000) == 1150)
        #expect(c.ledChanges(atMillis: 1150).map(\.lit) == [false])
        #expect(press(&c, 17, at: 1200, held: 200) == [.init(role: .answer, action: .answer)])
        c.setPhase(.inCall, atMillis: 1500)
        _ = c.ledChanges(atMillis: 1500)
        #expect(c.leds.map(\.lit) == [true, true])
        #expect(press(&c, 17, at: 3000, held: 100) == [.init(role: .answer, action: .hangUp)])
        #expect(c.snapshot(chip: "gpiochip0").lastEvent == "answer: hang_up")
    }

    @Test func transmitLEDFollowsPushToTalkAndRelayLEDFollowsRelaying() {
        var c = GPIOController(buttons: [(.pushToTalk, 27)], leds: [("transmit", 25), ("relay", 26)],
                               debounceMillis: 20, longPressMillis: 1000, startMillis: 0)
        #expect(c.ledChanges(atMillis: 0).map(\.lit) == [false, false])
        _ = c.edge(offset: 27, active: true, atMillis: 100)
        #expect(c.advance(toMillis: 130) == [.init(role: .pushToTalk, action: .startTalking)])
        #expect(c.ledChanges(atMillis: 130).map { [$0.offset: $0.lit] } == [[25: true]])
        _ = c.edge(offset: 27, active: false, atMillis: 500)
        #expect(c.advance(toMillis: 530) == [.init(role: .pushToTalk, action: .stopTalking)])
        #expect(c.ledChanges(atMillis: 530).map { [$0.offset: $0.lit] } == [[25: false]])
        c.setRelaying(true)
        #expect(c.ledChanges(atMillis: 600).map { [$0.offset: $0.lit] } == [[26: true]])
    }

    @Test func longPressRejectsWhileRinging() {
        var c = controller()
        c.setPhase(.ringing, atMillis: 0)
        #expect(press(&c, 17, at: 100, held: 1500) == [.init(role: .answer, action: .reject)])
    }

    @Test func pushToTalkWhileInCall() {
        var c = controller()
        c.setPhase(.inCall, atMillis: 0)
        var decisions = c.edge(offset: 27, active: true, atMillis: 10)
        decisions += c.advance(toMillis: 30)
        #expect(decisions == [.init(role: .pushToTalk, action: .startTalking)])
        #expect(c.talking)
        #expect(c.snapshot(chip: "x").lines.first { $0.role == "ptt" }?.active == true)
        decisions = c.edge(offset: 27, active: false, atMillis: 5000)
        decisions += c.advance(toMillis: 5020)
        #expect(decisions == [.init(role: .pushToTalk, action: .stopTalking)])
        #expect(!c.talking)
    }

    @Test func unknownLinesAndIdleShortPressDoNothing() {
        var c = controller()
        #expect(c.edge(offset: 99, active: true, atMillis: 0) == [])
        #expect(press(&c, 17, at: 100, held: 100) == [])
        #expect(c.nextDeadline(afterMillis: 1000) == nil)                    // steady LEDs, no pending input
    }
}
