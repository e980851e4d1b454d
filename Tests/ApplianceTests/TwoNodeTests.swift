import Core
import Foundation
import TestSupport
import Testing
import Transport
@testable import Appliance
#if canImport(Glibc)
import Glibc
#endif

/// One `proscenium-node run` process on 127.0.0.1 with its own data directory, driven through `ctl`.
final class RunningNode {
    let data: String
    let logPath: String
    let listen: String
    /// More `run` flags (e.g. `--audio none`).
    let extraArguments: [String]
    /// More environment (e.g. `HOME` for a private ALSA configuration).
    let environment: [String: String]
    private(set) var process: Subprocess?

    init(data: String, listen: String = "127.0.0.1:0", extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        self.data = data
        self.listen = listen
        self.extraArguments = extraArguments
        self.environment = environment
        logPath = data + ".log"
        try start()
    }

    /// Starts (again) on a fresh port; returns once every service runs and the endpoint is bound.
    func start() throws {
        // A file, not a pipe: a chatty node must never block on a full pipe.
        process = try NodeBinary.start(["run", "--no-console", "--data-dir", data, "--listen", listen, "--log-level", "debug"] + extraArguments,
                                       environment: environment, stdout: .file(logPath), stderr: .file(logPath))
        let ready = waitUntil(seconds: 20) {
            guard let status = try? self.json(["status"]),
                  let services = status["services"] as? [[String: Any]], services.count >= 5,
                  services.allSatisfy({ $0["state"] as? String == "running" }),
                  let addresses = status["listen_addresses"] as? [String], !addresses.isEmpty else { return false }
            return true
        }
        guard ready else { throw NodeTestError("node in \(data) did not become ready:\n\(log_())") }
    }

    func log_() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `ctl --json ARGS`, parsed; throws with the node's message on failure.
    func json(_ arguments: [String]) throws -> [String: Any] {
        let value = try jsonValue(arguments)
        guard let object = value as? [String: Any] else { throw NodeTestError("ctl \(arguments) gave no object: \(value)") }
        return object
    }

    func jsonValue(_ arguments: [String]) throws -> Any {
        let result = try NodeBinary.run(["ctl", "--data-dir", data, "--json"] + arguments)
        guard result.status == 0 else { throw NodeTestError("ctl \(arguments) failed: \(result.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8), options: [.fragmentsAllowed])
    }

    /// SIGTERM; true when the process exited with status 0 within 5 s.
    func terminate() -> Bool {
        guard let process else { return false }
        process.signal(SIGTERM)
        return process.wait(seconds: 5) && process.exitCode == 0
    }

    func kill() { process?.kill() }

    static func make(in directory: TemporaryDirectory, name: String, listen: String = "127.0.0.1:0",
                     extraArguments: [String] = [], environment: [String: String] = [:]) throws -> RunningNode {
        let data = directory.path + "/" + name
        let initialised = try NodeBinary.run(["init", "--data-dir", data])
        guard initialised.status == 0 else { throw NodeTestError("init \(name): \(initialised.stderr)") }
        return try RunningNode(data: data, listen: listen, extraArguments: extraArguments, environment: environment)
    }
}

struct NodeTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Two real node processes over QUIC on loopback: follow by ticket, sync, DMs both ways, restart.
@Suite("Two nodes", .serialized)
struct TwoNodeTests {
    static func posts(_ node: RunningNode) throws -> [[String: Any]] {
        (try node.jsonValue(["feed", "100"]) as? [[String: Any]]) ?? []
    }

    static func messages(_ node: RunningNode, with peer: String) throws -> [[String: Any]] {
        (try node.jsonValue(["dm-log", peer]) as? [[String: Any]]) ?? []
    }

    @Test func followPostSyncAndDirectMessages() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try RunningNode.make(in: dir, name: "a")
        defer { a.kill() }
        let b = try RunningNode.make(in: dir, name: "b")
        defer { b.kill() }

        let identityA = try a.json(["identity"]), identityB = try b.json(["identity"])
        let masterA = try #require(identityA["master_pubkey"] as? String)
        let masterB = try #require(identityB["master_pubkey"] as? String)
        let signingB = try #require(identityB["signing_pubkey"] as? String)
        let statusB = try b.json(["status"])
        let listenB = try #require(statusB["listen_addresses"] as? [String])
        #expect(listenB.allSatisfy { $0.hasPrefix("127.0.0.1:") && $0 != "127.0.0.1:0" })
        let ticketB = try #require(try b.json(["ticket", "--no-qr"])["ticket"] as? String)
        // The ticket carries the bound address: it differs from the address-less one `identity` prints offline.
        let offline = try NodeBinary.run(["identity", "--data-dir", b.data, "--json"])
        #expect(!offline.stdout.contains(ticketB))

        // A follows B by ticket: B's master key is learnt over peer/1.
        let followed = try a.json(["follow", ticketB])
        #expect(followed["following"] as? String == masterB)
        let following = try #require(try a.jsonValue(["following"]) as? [[String: Any]])
        #expect(following.contains { $0["pubkey"] as? String == masterB })

        // B posts; A syncs and holds it with B's valid signature.
        let post = try b.json(["post", "hello from B"])
        let postID = try #require(post["id"] as? String)
        var received: [String: Any]?
        #expect(waitUntil(seconds: 20) {
            _ = try? a.json(["sync"])
            received = (try? Self.posts(a))?.first { $0["id"] as? String == postID }
            return received != nil
        }, "A never received B's post:\n\(a.log_())")
        let got = try #require(received)
        #expect(got["author"] as? String == masterB)
        #expect(got["content"] as? String == "hello from B")
        let decoded = try JSONDecoder().decode(Post.self, from: JSONSerialization.data(withJSONObject: got))
        let key = try Ed25519.PublicKey(hex: signingB)
        #expect(key.isValidSignature(Hex.decode(decoded.signature) ?? [], for: decoded.signedBytes))

        // Live: the next post reaches A over iroh-gossip with no sync asked for (periodic sync is 60 s away).
        let livePost = try b.json(["post", "live over gossip"])
        let liveID = try #require(livePost["id"] as? String)
        #expect(waitUntil(seconds: 20) {
            ((try? Self.posts(a)) ?? []).contains { $0["id"] as? String == liveID }
        }, "A never received B's live post over gossip:\nA:\n\(a.log_())\nB:\n\(b.log_())")

        // A → B by master key; B has never heard of A and learns it from the incoming connection.
        _ = try a.json(["dm", masterB, "hi"])
        #expect(waitUntil(seconds: 30) {
            ((try? Self.messages(b, with: masterA)) ?? []).contains { $0["content"] as? String == "hi" && $0["from"] as? String == masterA }
        }, "B never got A's DM:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        let conversations = try #require(try b.jsonValue(["dms"]) as? [[String: Any]])
        #expect(conversations.contains { $0["peer"] as? String == masterA })

        // B → A.
        _ = try b.json(["dm", masterA, "hi back"])
        #expect(waitUntil(seconds: 30) {
            ((try? Self.messages(a, with: masterB)) ?? []).contains { $0["content"] as? String == "hi back" && $0["from"] as? String == masterB }
        }, "A never got B's DM:\nA:\n\(a.log_())\nB:\n\(b.log_())")
        // A's own message is marked delivered (B acked it).
        #expect(try Self.messages(a, with: masterB).contains { $0["content"] as? String == "hi" && $0["delivered"] as? Bool == true })

        // B blocks A: A's next DM is dropped at B's door (spec §8.3 block check) and stays queued at A.
        _ = try b.json(["block", masterA])
        _ = try a.json(["dm", masterB, "after the block"])
        let deadline = Date().addingTimeInterval(4)
        while Date() < deadline { usleep(200_000) }
        #expect(!((try? Self.messages(b, with: masterA)) ?? []).contains { $0["content"] as? String == "after the block" },
                "a blocked peer's DM was stored")
        #expect(try Self.messages(a, with: masterB).contains { $0["content"] as? String == "after the block" && $0["delivered"] as? Bool == false })

        let statusA = try a.json(["status"])
        let peersA = try #require(statusA["peers"] as? [String: Any])
        #expect((peersA["following"] as? Int) == 1)
        #expect((peersA["known"] as? Int ?? 0) >= 1)

        #expect(a.terminate(), "A did not exit 0 within 5 s:\n\(a.log_())")
        #expect(b.terminate(), "B did not exit 0 within 5 s:\n\(b.log_())")
    }

    @Test func wildcardListenAdvertisesInterfaceAddresses() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let node = try RunningNode.make(in: dir, name: "w", listen: "0.0.0.0:0")
        defer { node.kill() }
        let status = try node.json(["status"])
        let addresses = try #require(status["listen_addresses"] as? [String])
        // The namespace has only lo: the one interface address, with the bound port.
        #expect(addresses.count == 1)
        #expect(addresses.first?.hasPrefix("127.0.0.1:") == true && addresses.first != "127.0.0.1:0")
        let ticketText = try #require(try node.json(["ticket", "--no-qr"])["ticket"] as? String)
        let ticket = try EndpointTicket(parsing: ticketText)
        #expect(ticket.addr.ipAddresses.map(\.description) == addresses)
        let identity = try node.json(["identity"])
        #expect(ticket.addr.id.hex == identity["transport_id"] as? String)

        // Bad input is refused with a message that names it.
        let unknownPeer = try NodeBinary.run(["ctl", "--data-dir", node.data, "dm", "nobody", "hi"])
        #expect(unknownPeer.status != 0)
        #expect(unknownPeer.stderr.contains("\"nobody\" is neither a 64-hex master key nor the name of someone you follow"))
        let badTicket = try NodeBinary.run(["ctl", "--data-dir", node.data, "follow", "endpointnotaticket"])
        #expect(badTicket.status != 0)
        #expect(badTicket.stderr.contains("not a valid endpoint ticket"))
        let empty = try node.jsonValue(["feed"]) as? [Any]
        #expect(empty?.isEmpty == true)
        let synced = try node.json(["sync"])
        #expect(synced["followed"] as? Int == 0)
        #expect(node.terminate())
    }

    @Test func restartedNodeCatchesUpBySync() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = try RunningNode.make(in: dir, name: "a")
        defer { a.kill() }
        let b = try RunningNode.make(in: dir, name: "b")
        defer { b.kill() }
        let ticketB = try #require(try b.json(["ticket", "--no-qr"])["ticket"] as? String)
        #expect(try a.json(["follow", ticketB])["following"] != nil)
        let first = try #require(try b.json(["post", "before the restart"])["id"] as? String)
        #expect(waitUntil(seconds: 20) {
            _ = try? a.json(["sync"])
            return ((try? Self.posts(a)) ?? []).contains { $0["id"] as? String == first }
        })

        #expect(a.terminate(), "A did not stop cleanly:\n\(a.log_())")
        var ids: [String] = []
        for index in 1...5 {
            ids.append(try #require(try b.json(["post", "while A was down \(index)"])["id"] as? String))
        }
        try a.start()
        // Same data directory: follows and the address book survived; one sync brings the five posts.
        #expect(waitUntil(seconds: 20) {
            _ = try? a.json(["sync"])
            let have = Set(((try? Self.posts(a)) ?? []).compactMap { $0["id"] as? String })
            return have.isSuperset(of: ids + [first])
        }, "A did not catch up:\n\(a.log_())")
        #expect(a.terminate())
        #expect(b.terminate())
    }
}
