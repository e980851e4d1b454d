import ArgumentParser
import Core
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `proscenium-bench crypto`: single-threaded throughput of the hashes, the AEAD and the
/// curve operations. Each figure is the best of three runs of a fixed iteration count, timed by
/// the monotonic clock (wall) and by this thread's CPU time (which stays meaningful when other
/// processes share the cores).
struct CryptoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Throughput of BLAKE3, BLAKE2s, SHA-256, ChaCha20-Poly1305, Ed25519 and X25519."
    )

    @Option(help: "Multiplies every iteration count (use < 1 for a quick look, e.g. 0.1).")
    var scale: Double = 1

    func run() throws {
        var sink: UInt8 = 0
        let mebibyte = 1 << 20
        let oneMiB = (0..<mebibyte).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let sixteenMiB = (0..<(16 * mebibyte)).map { UInt8(truncatingIfNeeded: $0 &* 17) }

        print("crypto throughput (single thread, best of 3; MB = 10^6 bytes; wall = monotonic clock, CPU = thread CPU time)")
        throughput("BLAKE3 1 MiB", bytes: oneMiB.count, iterations: count(300)) {
            sink ^= BLAKE3.hash(oneMiB)[0]
        }
        throughput("BLAKE3 16 MiB", bytes: sixteenMiB.count, iterations: count(20)) {
            sink ^= BLAKE3.hash(sixteenMiB)[0]
        }
        throughput("BLAKE2s 1 MiB", bytes: oneMiB.count, iterations: count(60)) {
            sink ^= BLAKE2s.hash(oneMiB)[0]
        }
        throughput("SHA-256 1 MiB", bytes: oneMiB.count, iterations: count(100)) {
            sink ^= SHA256.hash(oneMiB)[0]
        }

        let key = SecretBytes(SecureRandom.bytes(ChaCha20Poly1305.keyLength))
        let nonce = [UInt8](repeating: 7, count: ChaCha20Poly1305.nonceLength)
        for (label, size, iterations) in [("1 KiB", 1024, 40_000), ("64 KiB", 65_536, 1_000)] {
            let message = [UInt8](oneMiB.prefix(size))
            let sealed = try ChaCha20Poly1305.seal(message, key: key, nonce: nonce)
            throughput("ChaCha20-Poly1305 seal \(label)", bytes: size, iterations: count(iterations)) {
                sink ^= (try? ChaCha20Poly1305.seal(message, key: key, nonce: nonce))?[0] ?? 0
            }
            throughput("ChaCha20-Poly1305 open \(label)", bytes: size, iterations: count(iterations)) {
                sink ^= (try? ChaCha20Poly1305.open(sealed, key: key, nonce: nonce))?[0] ?? 0
            }
        }

        let signer = Ed25519.SecretKey.generate()
        let message = [UInt8](oneMiB.prefix(100))
        let signature = signer.signature(for: message)
        operations("Ed25519 sign (100 B)", iterations: count(5_000)) {
            sink ^= signer.signature(for: message)[0]
        }
        operations("Ed25519 verify (100 B)", iterations: count(5_000)) {
            sink ^= signer.publicKey.isValidSignature(signature, for: message) ? 1 : 0
        }
        let alice = X25519.PrivateKey.generate()
        let bob = X25519.PrivateKey.generate().publicKey
        operations("X25519 shared secret", iterations: count(5_000)) {
            sink ^= (try? alice.sharedSecret(with: bob))?.count == 32 ? 1 : 0
        }
        // Printing the folded results keeps the optimiser from dropping the work.
        print("(checksum \(sink))")
    }

    private func count(_ base: Int) -> Int { max(1, Int(Double(base) * scale)) }

    /// Best of three timed runs, in seconds of wall time and of this thread's CPU time.
    private func bestSeconds(iterations: Int, _ body: () -> Void) -> (wall: Double, cpu: Double) {
        var bestWall = Double.infinity, bestCPU = Double.infinity
        for _ in 0..<3 {
            let start = MonotonicClock.nanoseconds(), cpuStart = threadCPUNanoseconds()
            for _ in 0..<iterations { body() }
            bestWall = min(bestWall, Double(MonotonicClock.nanoseconds() - start) / 1e9)
            bestCPU = min(bestCPU, Double(threadCPUNanoseconds() - cpuStart) / 1e9)
        }
        return (bestWall, bestCPU)
    }

    private func threadCPUNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    private func throughput(_ label: String, bytes: Int, iterations: Int, _ body: () -> Void) {
        let seconds = bestSeconds(iterations: iterations, body)
        let total = Double(bytes) * Double(iterations) / 1e6
        print(pad(label) + oneDecimal(total / seconds.wall) + " MB/s wall " + oneDecimal(total / seconds.cpu) + " MB/s CPU")
    }

    private func operations(_ label: String, iterations: Int, _ body: () -> Void) {
        let seconds = bestSeconds(iterations: iterations, body)
        let count = Double(iterations)
        print(pad(label) + whole(count / seconds.wall) + " ops/s wall " + whole(count / seconds.cpu) + " ops/s CPU")
    }

    private func oneDecimal(_ value: Double) -> String { rightAligned(String((value * 10).rounded() / 10)) }

    private func whole(_ value: Double) -> String { rightAligned(String(Int(value.rounded()))) }

    private func rightAligned(_ text: String) -> String {
        String(repeating: " ", count: max(0, 10 - text.count)) + text
    }

    private func pad(_ label: String) -> String {
        label + String(repeating: " ", count: max(1, 34 - label.count))
    }
}
