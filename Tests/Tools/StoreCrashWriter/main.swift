// store-crash-writer: the victim process of StoreCrashTests. It opens `<data-directory>/social.db`
// through `AppDatabase.open` (so a kill can also land in the migrations), then commits DM-shaped
// transactions forever with `.full` durability and prints `committed <id>` right after each COMMIT
// returns. The test SIGKILLs it at random moments and checks that every printed id is complete.
//
// The expected contents of transaction `id` are a pure function of `id` (CrashWorkload.swift, which
// the test imports), so the checker can verify every byte without any side channel.
import Core
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func fail(_ message: String) -> Never {
    let line = "store-crash-writer: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 2 || arguments.count == 3 else {
    fail("usage: store-crash-writer <data-directory> [max-transactions]")
}
let maxTransactions = arguments.count == 3 ? Int64(arguments[2]) ?? Int64.max : Int64.max

do {
    let app = try AppDatabase.open(directory: arguments[1])
    // Continue after the highest transaction that made it to disk in an earlier (killed) run.
    let last = try app.database.queryValue("SELECT MAX(created_at) FROM dm_conversations")
    var id: Int64 = 1
    if case let .integer(highest)? = last { id = highest + 1 }
    var written: Int64 = 0
    while written < maxTransactions {
        try app.database.transaction(durability: .full) { connection in
            try CrashWorkload.write(transaction: id, to: connection)
        }
        // COMMIT has returned: announce it. One short write(2) to a pipe is atomic, so the reader
        // never sees half a line from us even when we are killed right here.
        let line = "committed \(id)\n"
        let result = line.withCString { write(1, $0, strlen($0)) }
        if result < 0 { fail("stdout: \(String(cString: strerror(errno)))") }
        id += 1
        written += 1
    }
} catch {
    fail("\(error)")
}
