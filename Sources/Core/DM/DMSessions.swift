/// Everything we keep for one peer DM key: the session we send with (`current`), a few older
/// sessions still used for decrypting (`archive`), and digests of recently decrypted envelopes.
///
/// Why an archive: a re-handshake (ours or the peer's) replaces the session, but envelopes the
/// peer encrypted under the old one may still be in flight or queued in its outbox. Keeping the
/// last `archiveLimit` sessions lets those decrypt; sending always uses `current`.
public struct DMPeerSessions: Sendable, Equatable {
    public static let archiveLimit = 3
    public static let digestLimit = 64

    public struct Entry: Sendable, Equatable {
        public var ratchet: DoubleRatchet
        /// Local creation order: a newer session supersedes an older one.
        public var generation: UInt64
        /// Wall-clock ms when the session was made (the responder's grace period runs from here).
        public var createdAt: UInt64
        public init(ratchet: DoubleRatchet, generation: UInt64, createdAt: UInt64 = 0) {
            self.ratchet = ratchet
            self.generation = generation
            self.createdAt = createdAt
        }
    }

    public var current: Entry
    /// Newest first.
    public var archive: [Entry] = []
    /// The peer told us it cannot decrypt what we send: re-handshake before the next send.
    public var broken = false
    /// 16-byte digests of the last envelopes we decrypted, so an identical retransmission (a seed
    /// sender that missed our ack) is acknowledged again instead of failing on a used key.
    public var recentDigests: [[UInt8]] = []

    public init(current: Entry) {
        self.current = current
    }

    public var nextGeneration: UInt64 { ([current] + archive).map(\.generation).max()! + 1 }

    /// Makes `ratchet` the session we send with; the old one goes to the archive.
    public mutating func adopt(_ ratchet: DoubleRatchet, now: UInt64) {
        let entry = Entry(ratchet: ratchet, generation: nextGeneration, createdAt: now)
        archive.insert(current, at: 0)
        current = entry
        broken = false
        trimArchive()
    }

    /// Keeps `ratchet` for decrypting only (a handshake that lost the tie-break).
    public mutating func archiveOnly(_ ratchet: DoubleRatchet, now: UInt64) {
        archive.insert(Entry(ratchet: ratchet, generation: nextGeneration, createdAt: now), at: 0)
        trimArchive()
    }

    private mutating func trimArchive() {
        if archive.count > Self.archiveLimit { archive.removeLast(archive.count - Self.archiveLimit) }
    }

    public static func digest(_ envelope: EncryptedEnvelope) -> [UInt8] {
        Array(SHA256.hash(envelope.header.dhPublic + Array(String(envelope.header.messageNumber).utf8) + envelope.ciphertext).prefix(16))
    }

    public mutating func remember(_ digest: [UInt8]) {
        recentDigests.append(digest)
        if recentDigests.count > Self.digestLimit { recentDigests.removeFirst(recentDigests.count - Self.digestLimit) }
    }

    public enum DecryptOutcome: Equatable {
        case decrypted([UInt8])
        /// Same envelope as one already decrypted: acknowledge, do not process again.
        case duplicate
        /// A message key this state already used (replay of an older envelope).
        case replay
        case failed(DoubleRatchet.Failure)
    }

    /// Tries `current`, then the archive newest first. On success the session that decrypted is
    /// updated, and promoted to `current` when it is newer than `current` or `current` cannot send
    /// (the peer is evidently using it; both sides converge on it). On failure nothing changes.
    public mutating func decrypt(_ envelope: EncryptedEnvelope, keyGenerator: DoubleRatchet.KeyGenerator) -> DecryptOutcome {
        let digest = Self.digest(envelope)
        if recentDigests.contains(digest) { return .duplicate }
        var lastFailure = DoubleRatchet.Failure.decryptionFailed
        for index in -1..<archive.count {
            var entry = index < 0 ? current : archive[index]
            do {
                let plaintext = try entry.ratchet.decrypt(header: envelope.header, ciphertext: envelope.ciphertext, keyGenerator: keyGenerator)
                if index < 0 {
                    current = entry
                } else if entry.generation > current.generation || !current.ratchet.canSend {
                    archive.remove(at: index)
                    archive.insert(current, at: 0)
                    current = entry
                    trimArchive()
                } else {
                    archive[index] = entry
                }
                remember(digest)
                return .decrypted(plaintext)
            } catch {
                lastFailure = error
            }
        }
        if ([current] + archive).contains(where: { $0.ratchet.hasConsumed(envelope.header) }) { return .replay }
        return .failed(lastFailure)
    }

    // MARK: at rest

    /// §8.7 state JSON of `current`, followed by our metadata under one extra member, which serde
    /// (the reference, and device sync) ignores.
    public var json: DMJSON {
        func entryJSON(_ entry: Entry) -> DMJSON {
            .object(entry.ratchet.stateJSONMembers + [DMJSON.Member("generation", .uint(entry.generation)),
                                                      DMJSON.Member("created_at", .uint(entry.createdAt))])
        }
        let meta = DMJSON.fields(("generation", .uint(current.generation)), ("created_at", .uint(current.createdAt)),
                                 ("broken", .bool(broken)),
                                 ("archive", .array(archive.map(entryJSON))),
                                 ("recent", .array(recentDigests.map { .string(Hex.encode($0)) })))
        return .object(current.ratchet.stateJSONMembers + [DMJSON.Member(Self.metaKey, meta)])
    }

    static let metaKey = "proscenium_node_sessions"

    public init(json: DMJSON) throws(DMWireError) {
        current = Entry(ratchet: try DoubleRatchet(stateJSON: json), generation: 0)
        guard let meta = json[Self.metaKey] else { return }  // a plain state (reference, device sync)
        current.generation = meta["generation"]?.uint64Value ?? 0
        current.createdAt = meta["created_at"]?.uint64Value ?? 0
        broken = meta["broken"]?.boolValue ?? false
        if case let .array(items)? = meta["archive"] {
            for item in items {
                archive.append(Entry(ratchet: try DoubleRatchet(stateJSON: item), generation: item["generation"]?.uint64Value ?? 0,
                                     createdAt: item["created_at"]?.uint64Value ?? 0))
            }
        }
        if case let .array(items)? = meta["recent"] {
            recentDigests = items.compactMap { $0.stringValue.flatMap(Hex.decode) }
        }
    }

    public func sealed(storageKey: SecretBytes) -> String {
        SealedRatchetState.seal(json.serialized, storageKey: storageKey)
    }

    public init(sealed: String, storageKey: SecretBytes) throws {
        let plaintext = try SealedRatchetState.open(sealed, storageKey: storageKey)
        try self.init(json: try DMJSON.parseWire(plaintext))
    }
}
