// dm-crash-sender: the victim process of DMCrashTests. It runs two DM services — sender "alice" and
// receiver "bob" — over TestSupport's in-memory network, each on its own file database under
// <dir>/alice and <dir>/bob, and sends "msg <i>" for i = (messages alice already has) ..< total.
// After each send() returns (the message is durable) it prints "enqueued <i>". Once everything is
// enqueued and the outbox is empty it prints "done" and exits 0. The test SIGKILLs it at random
// moments and restarts it; the databases must never lose or duplicate a message.
import Core
import TestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }  // one write(2) per line: a kill never tears it
}

func fail(_ message: String) -> Never {
    let line = "dm-crash-sender: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let total = Int(arguments[2]) else { fail("usage: dm-crash-sender <dir> <total-messages>") }
let directory = arguments[1]

do {
    let aliceIdentity = try NodeIdentity(masterSeed: SecretBytes(SHA256.hash("dm-crash-alice")))
    let bobIdentity = try NodeIdentity(masterSeed: SecretBytes(SHA256.hash("dm-crash-bob")))
    let peers = StaticPeerDirectory()
    try peers.add(aliceIdentity)
    try peers.add(bobIdentity)
    let network = InMemoryPeerNetwork()
    var configuration = DMService.Configuration()
    configuration.retryIntervalSeconds = 0.02
    let sink = StreamLogSink(fd: 2, minimumLevel: .error)
    let alice = DMService(identity: aliceIdentity, database: try AppDatabase.open(directory: directory + "/alice"),
                          dialer: network.dialer(for: aliceIdentity.transportID), directory: peers,
                          logger: Logger(label: "alice", sink: sink), configuration: configuration)
    let bob = DMService(identity: bobIdentity, database: try AppDatabase.open(directory: directory + "/bob"),
                        dialer: network.dialer(for: bobIdentity.transportID), directory: peers,
                        logger: Logger(label: "bob", sink: sink), configuration: configuration)
    network.serve(aliceIdentity.transportID, alpn: DMService.alpn, handler: alice.handler)
    network.serve(bobIdentity.transportID, alpn: DMService.alpn, handler: bob.handler)
    await alice.start()

    let already = try alice.store.database.queryValue("SELECT COUNT(*) FROM dm_messages WHERE from_pubkey = ?",
                                                      [.text(aliceIdentity.masterPublicKey.hex)])
    var next = 0
    if case let .integer(count)? = already { next = Int(count) }
    var random = SystemRandomNumberGenerator()
    while next < total {
        try await alice.send("msg \(next)", to: bobIdentity.masterPublicKey)
        say("enqueued \(next)")
        next += 1
        try await Task.sleep(nanoseconds: UInt64.random(in: 0...2_000_000, using: &random))
    }
    while try alice.store.outboxCount() > 0 {
        try await Task.sleep(nanoseconds: 5_000_000)
    }
    say("done")
    exit(0)
} catch {
    fail("\(error)")
}
