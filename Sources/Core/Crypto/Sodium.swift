import CSodium

/// libsodium must be initialised once before use (it picks CPU-specific implementations and seeds
/// its RNG). `sodium_init` is idempotent and thread-safe; this constant runs it on first use.
let sodiumReady: Bool = sodium_init() >= 0

@inline(__always)
func requireSodium() {
    precondition(sodiumReady, "libsodium failed to initialise")
}

/// Cryptographically secure random bytes (libsodium's `randombytes_buf`, getrandom(2) underneath).
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        requireSodium()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return out
    }

    public static func uniform(_ upperBound: UInt32) -> UInt32 {
        requireSodium()
        return randombytes_uniform(upperBound)
    }
}

/// Constant-time byte comparison, for MACs, tags and secrets.
public func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    if lhs.isEmpty { return true }
    return lhs.withUnsafeBytes { l in
        rhs.withUnsafeBytes { r in sodium_memcmp(l.baseAddress!, r.baseAddress!, l.count) == 0 }
    }
}

/// Secret key material that is wiped (`sodium_memzero`) when the last reference goes away.
/// Immutable after creation, so it is safe to share between threads.
public final class SecretBytes: @unchecked Sendable, Equatable {
    private let pointer: UnsafeMutableRawBufferPointer

    public init(_ bytes: [UInt8]) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        pointer = storage
        count = bytes.count
    }

    /// Takes ownership of `bytes` and wipes the caller's copy.
    public convenience init(consuming bytes: inout [UInt8]) {
        self.init(bytes)
        bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        bytes.removeAll()
    }

    public let count: Int

    deinit {
        sodium_memzero(pointer.baseAddress, pointer.count)
        pointer.deallocate()
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(pointer)[0..<count]))
    }

    /// A plain copy; the caller is responsible for it. Use sparingly (tests, file writes).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        lhs.count == rhs.count && lhs.withUnsafeBytes { l in
            rhs.withUnsafeBytes { r in l.count == 0 || sodium_memcmp(l.baseAddress!, r.baseAddress!, l.count) == 0 }
        }
    }
}

@inline(__always)
func checkLength(_ bytes: some Collection, _ expected: Int, _ what: String) throws(CryptoError) {
    guard bytes.count == expected else { throw .invalidLength(what: what, expected: expected, actual: bytes.count) }
}

/// libsodium declares most input pointers non-null even for zero-length input; this hands it a
/// valid pointer in every case.
@inline(__always)
func withBytePointer<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
    if bytes.isEmpty {
        var dummy: UInt8 = 0
        return try body(&dummy, 0)
    }
    return try bytes.withUnsafeBufferPointer { try body($0.baseAddress!, $0.count) }
}

@inline(__always)
func withBytePointer<R>(_ buffer: UnsafeRawBufferPointer, _ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
    guard let base = buffer.baseAddress, buffer.count > 0 else {
        var dummy: UInt8 = 0
        return try body(&dummy, 0)
    }
    return try body(base.assumingMemoryBound(to: UInt8.self), buffer.count)
}
