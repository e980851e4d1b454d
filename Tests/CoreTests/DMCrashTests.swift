import Foundation
import Synchronization
import Testing
import TestSupport
@testable import Core

/// SIGKILL the DM sender process (which also hosts the receiver) at random moments while it sends
/// 200 messages: after every kill each announced message is delivered or still queued; in the end
/// each arrived exactly once, in order.
@Suite("DM: crash safety", .serialized)
struct DMCrashTests {
    static let total = 200
    static let kills = 6

    @Test("SIGKILL during sending: none lost, none duplicated, order kept")
    func killedSenderLosesNothing() throws {
        let executable = try #require(Self.locate(), "dm-crash-sender not found next to the test bundle")
        let dir = try TemporaryDirectory("dm-crash")
        defer { dir.remove() }
        var generator = SystemRandomNumberGenerator()
        var announced: [Int] = []
        var perRound: [String] = []
        let alice = try NodeIdentity(masterSeed: SecretBytes(SHA256.hash("dm-crash-alice"))).masterPublicKey.hex
        let bob = try NodeIdentity(masterSeed: SecretBytes(SHA256.hash("dm-crash-bob"))).masterPublicKey.hex

        for round in 0..<Self.kills {
            let run = try ChildProcess(executable: executable, arguments: [dir.path, String(Self.total)])
            if round > 0 { #expect(run.waitForLine(timeoutSeconds: 120), "round \(round): no progress; \(run.stderrText())") }
            usleep(UInt32.random(in: 0...(round == 0 ? 150_000 : 300_000), using: &generator))
            let lines = run.kill()
            #expect(run.wasKilledBySignal || lines.contains("done"), "round \(round): \(run.stderrText())")
            announced += lines.compactMap { $0.hasPrefix("enqueued ") ? Int($0.dropFirst(9)) : nil }
            // The invariant at every kill: announced ⊆ delivered ∪ queued.
            let state = try Self.inspect(dir.path, alice: alice, bob: bob)
            let missing = Set(announced.map { "msg \($0)" }).subtracting(state.received).subtracting(state.queued)
            #expect(missing.isEmpty, "round \(round): lost \(missing.sorted().prefix(10))")
            #expect(state.received.count == Set(state.received).count, "round \(round): duplicates at the receiver")
            perRound.append("\(announced.count) enqueued/\(state.received.count) delivered/\(state.queued.count) queued")
        }
        // Final run to completion.
        let final = try ChildProcess(executable: executable, arguments: [dir.path, String(Self.total)])
        let finished = final.waitForExit(timeoutSeconds: 300)
        #expect(finished && final.lines().last == "done", "final run: \(final.stderrText())")
        announced += final.lines().compactMap { $0.hasPrefix("enqueued ") ? Int($0.dropFirst(9)) : nil }

        let state = try Self.inspect(dir.path, alice: alice, bob: bob)
        #expect(state.received == (0..<Self.total).map { "msg \($0)" })
        #expect(state.queued.isEmpty)
        #expect(state.sent == (0..<Self.total).map { "msg \($0)" })
        #expect(state.undelivered == 0)
        #expect(announced.count == Set(announced).count, "a message was enqueued twice")
        #expect(announced.count >= Self.total - Self.kills, "only \(announced.count) announcements")
        print("dm crash test: \(Self.kills) SIGKILLs at [\(perRound.joined(separator: ", "))]; \(Self.total) delivered exactly once, in order")
    }

    struct State {
        var received: [String]
        var queued: Set<String>
        var sent: [String]
        var undelivered: Int
    }

    static func inspect(_ dir: String, alice: String, bob: String) throws -> State {
        var state = State(received: [], queued: [], sent: [], undelivered: 0)
        let fm = FileManager.default
        if fm.fileExists(atPath: dir + "/bob/social.db") {
            let db = try AppDatabase.open(directory: dir + "/bob").database
            defer { db.close() }
            #expect(try db.query("PRAGMA integrity_check").map { try $0.string(0) } == ["ok"])
            state.received = try db.query("SELECT content FROM dm_messages WHERE from_pubkey = ? ORDER BY rowid", [.text(alice)])
                .map { try $0.string(0) }
        }
        if fm.fileExists(atPath: dir + "/alice/social.db") {
            let db = try AppDatabase.open(directory: dir + "/alice").database
            defer { db.close() }
            #expect(try db.query("PRAGMA integrity_check").map { try $0.string(0) } == ["ok"])
            state.queued = Set(try db.query("""
                SELECT m.content FROM dm_outbox o JOIN dm_messages m ON m.id = o.message_id
                """).map { try $0.string(0) })
            state.sent = try db.query("SELECT content FROM dm_messages WHERE from_pubkey = ? ORDER BY rowid", [.text(alice)])
                .map { try $0.string(0) }
            state.undelivered = try db.queryValue("SELECT COUNT(*) FROM dm_messages WHERE delivered = 0").flatMap { Int(sqlValue: $0) } ?? -1
            // Outbox rows always point at a stored message (one transaction wrote both).
            #expect(try db.queryValue("SELECT COUNT(*) FROM dm_outbox WHERE message_id NOT IN (SELECT id FROM dm_messages)") == .integer(0))
        }
        _ = bob
        return state
    }

    static func locate() -> String? {
        BuiltProducts.locate("dm-crash-sender")
    }
}
