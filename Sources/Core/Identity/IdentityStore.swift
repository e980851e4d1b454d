#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The identity files of a data directory (spec §3.3): `master_key.key` (32 raw bytes),
/// `signing_key_index` and `dm_key_index` (decimal text, absent = 0) and `.seed_backed_up`.
///
/// Files are replaced atomically (temporary file in the same directory, fsync, rename, fsync of the
/// directory) with mode 0600; a directory this type creates gets mode 0700. A damaged file is
/// always an error naming it, never a reason to start a fresh identity.
public struct IdentityStore: Sendable {
    public static let masterKeyFile = "master_key.key"
    public static let signingKeyIndexFile = "signing_key_index"
    public static let dmKeyIndexFile = "dm_key_index"
    public static let seedBackedUpFile = ".seed_backed_up"
    /// Written by the reference's device linking but never read at startup (spec §16.1);
    /// recovery deletes them (§3.2 step 3).
    public static let linkingFiles = ["signing_key.key", "transport_key.key", "device_index"]

    public let directory: String

    public init(directory: String) {
        var trimmed = directory
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.directory = trimmed
    }

    public func path(of file: String) -> String {
        directory == "/" ? "/" + file : directory + "/" + file
    }

    /// `master_key.key` is present (in any form: a damaged one still counts, so that nothing
    /// overwrites it).
    public var exists: Bool {
        var info = stat()
        return lstat(path(of: Self.masterKeyFile), &info) == 0
    }

    /// Creates a new random identity. Refuses when one exists. `.seed_backed_up` is not written:
    /// the user has not confirmed the words yet (see `markSeedBackedUp`).
    public func create() throws -> (identity: NodeIdentity, words: [String]) {
        try ensureDirectory()
        guard !exists else { throw IdentityError.identityAlreadyExists(path: path(of: Self.masterKeyFile)) }
        var seedBytes = SecureRandom.bytes(Ed25519.seedLength)
        let seed = SecretBytes(consuming: &seedBytes)
        // Index files left from an earlier identity would silently select other keys.
        try removeFiles([Self.signingKeyIndexFile, Self.dmKeyIndexFile, Self.seedBackedUpFile] + Self.linkingFiles)
        try writeMasterKey(seed)
        let identity = try NodeIdentity(masterSeed: seed)
        return (identity, identity.recoveryWords)
    }

    /// Recovers the identity of a 24-word phrase (spec §3.2 steps 1–4 for files). Refuses when an
    /// identity exists. Wiping the application database (step 5) and rebuilding the network stack
    /// (step 6) belong to the layers that own them.
    public func recover(phrase: String) throws -> NodeIdentity {
        let words = BIP39.normalizedWords(phrase)
        var entropy: [UInt8]
        do {
            entropy = try BIP39.entropy(fromWords: words)
        } catch {
            throw IdentityError.invalidRecoveryPhrase(error)
        }
        guard entropy.count == Ed25519.seedLength else {
            throw IdentityError.recoveryPhraseWrongLength(words: words.count)
        }
        let seed = SecretBytes(consuming: &entropy)
        try ensureDirectory()
        guard !exists else { throw IdentityError.identityAlreadyExists(path: path(of: Self.masterKeyFile)) }
        // Step 3 before step 2, so a crash in between cannot pair the new master key with old indices.
        try removeFiles([Self.signingKeyIndexFile, Self.dmKeyIndexFile] + Self.linkingFiles)
        try writeMasterKey(seed)
        try markSeedBackedUp()
        return try NodeIdentity(masterSeed: seed)
    }

    /// Loads the identity: master seed, and the keys at the stored indices.
    public func load() throws -> NodeIdentity {
        let masterPath = path(of: Self.masterKeyFile)
        guard var raw = try readFile(masterPath, limit: 4096) else {
            throw IdentityError.noIdentity(directory: directory)
        }
        guard raw.count == Ed25519.seedLength else {
            throw IdentityError.keyFileWrongLength(path: masterPath, expected: Ed25519.seedLength, actual: raw.count)
        }
        let seed = SecretBytes(consuming: &raw)
        let signingIndex = try readIndex(Self.signingKeyIndexFile)
        let dmIndex = try readIndex(Self.dmKeyIndexFile)
        return try NodeIdentity(masterSeed: seed, signingKeyIndex: signingIndex, dmKeyIndex: dmIndex)
    }

    /// Moves the signing key to the next index (spec §3.5) and persists the index. The caller
    /// broadcasts the rotation, the new linked-devices announcement, and re-registers.
    public func rotateSigningKey(now: UInt64) throws -> (NodeIdentity, SigningKeyRotation) {
        let current = try load()
        let (next, rotation) = try current.rotatedSigningKey(now: now)
        try writeAtomically(Self.signingKeyIndexFile, Array(String(next.signingKeyIndex).utf8))
        return (next, rotation)
    }

    /// Whether the user confirmed the recovery words.
    public var isSeedBackedUp: Bool {
        var info = stat()
        return lstat(path(of: Self.seedBackedUpFile), &info) == 0
    }

    /// Writes `.seed_backed_up` (contents `1`, as the reference writes it).
    public func markSeedBackedUp() throws {
        try writeAtomically(Self.seedBackedUpFile, [0x31])
    }

    // MARK: - Files

    private func writeMasterKey(_ seed: SecretBytes) throws {
        var bytes = seed.bytes
        defer { for index in bytes.indices { bytes[index] = 0 } }
        try writeAtomically(Self.masterKeyFile, bytes, refuseExisting: true)
    }

    private func readIndex(_ name: String) throws -> UInt32 {
        let filePath = path(of: name)
        guard let raw = try readFile(filePath, limit: 64) else { return 0 }
        // The reference trims before parsing, so a trailing newline is fine.
        let text = String(decoding: raw, as: UTF8.self)
        let trimmed = text.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = UInt32(trimmed) else {
            throw IdentityError.indexFileNotDecimal(path: filePath, content: Self.printable(text))
        }
        return value
    }

    /// File contents, nil when the file does not exist. Reads at most `limit + 1` bytes, which is
    /// enough to tell that a file is too long.
    private func readFile(_ filePath: String, limit: Int) throws -> [UInt8]? {
        let fd = open(filePath, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT {
                // A dangling symlink must not read as "absent" (index 0, or no identity).
                var info = stat()
                if lstat(filePath, &info) == 0 {
                    throw IdentityError.unreadableFile(path: filePath, reason: "broken symbolic link")
                }
                return nil
            }
            throw IdentityError.unreadableFile(path: filePath, reason: Self.errorText(code))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw IdentityError.unreadableFile(path: filePath, reason: Self.errorText(errno)) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw IdentityError.unreadableFile(path: filePath, reason: "not a regular file")
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: limit + 1)
        while out.count <= limit {
            let wanted = limit + 1 - out.count
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if got < 0 {
                if errno == EINTR { continue }
                throw IdentityError.unreadableFile(path: filePath, reason: Self.errorText(errno))
            }
            if got == 0 { break }
            out.append(contentsOf: chunk[0..<got])
        }
        for index in chunk.indices { chunk[index] = 0 }
        return out
    }

    /// Temp file in the same directory, fsync, then rename (or link, when `refuseExisting`, so an
    /// existing file is never replaced), then fsync of the directory.
    private func writeAtomically(_ name: String, _ bytes: [UInt8], refuseExisting: Bool = false) throws {
        let finalPath = path(of: name)
        let tempPath = path(of: ".\(name).tmp-\(Hex.encode(SecureRandom.bytes(6)))")
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IdentityError.writeFailed(path: finalPath, reason: Self.errorText(errno)) }
        var committed = false
        defer { if !committed { unlink(tempPath) } }
        do {
            defer { close(fd) }
            // The umask can only remove bits; fchmod makes the mode exact.
            guard fchmod(fd, 0o600) == 0 else { throw IdentityError.writeFailed(path: finalPath, reason: Self.errorText(errno)) }
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw IdentityError.writeFailed(path: finalPath, reason: Self.errorText(errno))
                }
                written += count
            }
            guard fsync(fd) == 0 else { throw IdentityError.writeFailed(path: finalPath, reason: Self.errorText(errno)) }
        }
        if refuseExisting {
            guard link(tempPath, finalPath) == 0 else {
                let code = errno
                if code == EEXIST { throw IdentityError.identityAlreadyExists(path: finalPath) }
                throw IdentityError.writeFailed(path: finalPath, reason: Self.errorText(code))
            }
            unlink(tempPath)
        } else {
            guard rename(tempPath, finalPath) == 0 else {
                throw IdentityError.writeFailed(path: finalPath, reason: Self.errorText(errno))
            }
        }
        committed = true
        try syncDirectory()
    }

    private func removeFiles(_ names: [String]) throws {
        var removedAny = false
        for name in names {
            let filePath = path(of: name)
            if unlink(filePath) == 0 {
                removedAny = true
            } else if errno != ENOENT {
                throw IdentityError.writeFailed(path: filePath, reason: "cannot delete: " + Self.errorText(errno))
            }
        }
        if removedAny { try syncDirectory() }
    }

    private func syncDirectory() throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw IdentityError.writeFailed(path: directory, reason: Self.errorText(errno)) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw IdentityError.writeFailed(path: directory, reason: Self.errorText(errno)) }
    }

    /// Creates the directory (and missing parents) with mode 0700. An existing directory is left as
    /// it is: its mode is the operator's choice.
    private func ensureDirectory() throws {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw IdentityError.writeFailed(path: directory, reason: "exists and is not a directory")
            }
            return
        }
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if stat(prefix, &info) == 0 { continue }
            if mkdir(prefix, 0o700) != 0 {
                // Lost a race with another creator: theirs stands, with their mode.
                guard errno == EEXIST else { throw IdentityError.writeFailed(path: prefix, reason: Self.errorText(errno)) }
                continue
            }
            // The umask may have removed bits; make the mode exactly 0700.
            guard chmod(prefix, 0o700) == 0 else { throw IdentityError.writeFailed(path: prefix, reason: Self.errorText(errno)) }
        }
    }

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Index-file content for an error message: control characters escaped, at most 40 characters.
    private static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(40) {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > 40 ? out + "…" : out
    }
}

extension String {
    fileprivate func trimmingASCIIWhitespace() -> String {
        let bytes = Array(utf8)
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
