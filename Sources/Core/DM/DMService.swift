import Synchronization

/// Counters for everything the DM service rejects or retries (bad input never throws out of the
/// handler; it is logged and counted here).
public struct DMMetrics: Sendable, Equatable {
    public var envelopesSent = 0
    public var envelopesAcked = 0
    public var envelopesReceived = 0
    public var messagesStored = 0
    public var duplicateMessages = 0
    public var duplicateEnvelopesAcked = 0
    public var handshakesInitiated = 0
    public var handshakesCompleted = 0
    public var handshakesAccepted = 0
    public var handshakeRacesWon = 0
    public var handshakeRacesLost = 0
    public var sendFailures = 0
    public var rejectedByPeer = 0
    public var garbageRejected = 0
    public var replaysRejected = 0
    public var decryptFailures = 0
    public var unknownSenderRejected = 0
    public var wrongSenderRejected = 0
    public var noSessionRejected = 0
    public var badHandshakesRejected = 0
    public var undecodablePayloads = 0
    public var signalsReceived = 0
    public init() {}
}

/// Errors the DM service reports to its callers (command layer, call signalling).
public enum DMError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidPeer(String)
    case invalidContent(String)
    case unknownPeer(String)
    case timedOut(String)
    case protocolViolation(String)

    public var description: String {
        switch self {
        case let .invalidPeer(text): return "invalid peer: \(text)"
        case let .invalidContent(text): return "invalid message: \(text)"
        case let .unknownPeer(text): return "unknown peer: \(text)"
        case let .timedOut(what): return "timed out: \(what)"
        case let .protocolViolation(text): return "protocol violation: \(text)"
        }
    }
}

/// Direct messages over `proscenium/dm/1` (spec §8): Noise IK handshake, Double Ratchet, durable
/// outbox. docs/dm.md explains the persistence order and how we depart from the seed app's bugs.
public actor DMService {
    public static let alpn = "proscenium/dm/1"
    /// Stream code and connection close code with which we refuse an envelope we cannot decrypt
    /// (our senders re-handshake on it; seed senders see a failed send and queue the envelope).
    public static let rejectCode: UInt64 = 1

    public struct Configuration: Sendable {
        public var connectTimeoutSeconds = 10.0
        public var ackTimeoutSeconds = 5.0
        public var handshakeResponseTimeoutSeconds = 10.0
        public var retryIntervalSeconds = 15.0
        /// How long a fresh responder session waits for the initiator's first envelope (which
        /// gives it a sending chain) before running its own handshake to send first.
        public var responderGraceSeconds = 10.0
        public var messageReadCap = 1_048_576
        public var handshakeResponseReadCap = 65_536
        public var ackReadCap = 256
        public var maxContentBytes = 10_000
        public var ratchetKeys: DoubleRatchet.KeyGenerator = DoubleRatchet.randomKeys
        public var ephemeralKeys: @Sendable () -> X25519.PrivateKey = { X25519.PrivateKey.generate() }
        public init() {}
    }

    public typealias SignalHandler = @Sendable (_ from: Ed25519.PublicKey, _ payload: DMPayload) async -> Void

    public nonisolated let identity: NodeIdentity
    public nonisolated let store: DMStore
    let dialer: any PeerDialer
    let directory: any PeerDirectory
    let clock: any WallClock
    let logger: Logger
    let configuration: Configuration
    nonisolated let ownDMKeyHex: String

    private(set) var metrics = DMMetrics()
    private var handshaking: Set<String> = []
    private var lostRace: Set<String> = []
    private var flushing: Set<String> = []
    private var flushAgain: Set<String> = []
    private var retryTask: Task<Void, Never>?
    private var isShutDown = false
    private var signalHandler: SignalHandler?
    /// Write-through cache of the sealed sessions: this actor is their only writer.
    private var sessionCache: [String: DMPeerSessions] = [:]
    /// Envelopes whose transmission failed, by outbox id, with the session generation they used.
    private var pendingEnvelopes: [String: (envelope: EncryptedEnvelope, generation: UInt64)] = [:]

    public init(identity: NodeIdentity, database: AppDatabase, dialer: any PeerDialer, directory: any PeerDirectory,
                clock: any WallClock = SystemWallClock(), logger: Logger, configuration: Configuration = Configuration()) {
        self.identity = identity
        store = DMStore(database: database.database, ownMasterHex: identity.masterPublicKey.hex, storageKey: identity.ratchetStorageKey)
        self.dialer = dialer
        self.directory = directory
        self.clock = clock
        self.logger = logger
        self.configuration = configuration
        ownDMKeyHex = identity.dmKey.publicKey.hex
    }

    /// The `ProtocolHandler` to register for `proscenium/dm/1`.
    public nonisolated var handler: DMProtocolHandler { DMProtocolHandler(service: self) }

    public func currentMetrics() -> DMMetrics { metrics }

    public func setSignalHandler(_ handler: SignalHandler?) { signalHandler = handler }

    /// Starts the periodic outbox retry and flushes what a previous run left queued.
    public func start() {
        guard retryTask == nil else { return }
        let interval = configuration.retryIntervalSeconds
        retryTask = Task { [weak self] in
            while !Task.isCancelled {
                await self?.flushAll()
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            }
        }
    }

    public func stop() {
        retryTask?.cancel()
        retryTask = nil
    }

    /// Stops the retry loop and every further delivery attempt of this instance (before another
    /// instance takes over the same database).
    public func shutdown() {
        stop()
        isShutDown = true
    }

    // MARK: - Sending

    /// Stores the message durably (message + outbox row, one fsynced transaction) and starts
    /// delivery. Returns as soon as the message is durable; delivery continues in the background.
    @discardableResult
    public func send(_ content: String, to peer: Ed25519.PublicKey, replyTo: String? = nil,
                     media: [DMMediaAttachment] = []) throws -> DirectMessage {
        guard !content.isEmpty || !media.isEmpty else { throw DMError.invalidContent("empty message") }
        guard content.utf8.count <= configuration.maxContentBytes else {
            throw DMError.invalidContent("\(content.utf8.count) bytes, at most \(configuration.maxContentBytes)")
        }
        guard peer != identity.masterPublicKey else { throw DMError.invalidPeer("cannot message yourself") }
        let now = clock.nowMillis()
        let message = DirectMessage(id: RandomID.generate(), content: content, timestamp: now, media: media, replyTo: replyTo)
        try store.enqueueOutgoing(message, peerMasterHex: peer.hex, outboxID: RandomID.generate(), now: now)
        wake(peer.hex)
        return message
    }

    /// Sends a signal (typing, receipts, call signalling) once; not queued (spec §8.6).
    public func sendSignal(_ payload: DMPayload, to peer: Ed25519.PublicKey) async -> Bool {
        await deliver(payload, toMasterHex: peer.hex, retryAfterRejection: true) == .delivered
    }

    /// The peer became reachable (discovery, an incoming connection): flush its queue now.
    public func peerReachable(_ peer: Ed25519.PublicKey) {
        wake(peer.hex)
    }

    private func wake(_ masterHex: String) {
        Task { await self.flush(peerMasterHex: masterHex) }
    }

    private func wake(_ masterHex: String, afterSeconds seconds: Double) {
        Task {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            await self.flush(peerMasterHex: masterHex)
        }
    }

    /// Tries every queued peer once.
    public func flushAll() async {
        let peers: [String]
        do { peers = try store.outboxPeers() } catch {
            logger.error("outbox unreadable: \(error)")
            return
        }
        await withTaskGroup(of: Void.self) { group in
            for peer in peers { group.addTask { await self.flush(peerMasterHex: peer) } }
        }
    }

    public func flush(peer: Ed25519.PublicKey) async { await flush(peerMasterHex: peer.hex) }

    /// Delivers one peer's queue oldest first, stopping at the first failure so order holds.
    /// One flush per peer at a time; a wake during a flush makes it run once more.
    func flush(peerMasterHex: String) async {
        guard !isShutDown else { return }
        guard !flushing.contains(peerMasterHex) else {
            flushAgain.insert(peerMasterHex)
            return
        }
        flushing.insert(peerMasterHex)
        defer { flushing.remove(peerMasterHex) }
        repeat {
            flushAgain.remove(peerMasterHex)
            let entries: [DMStore.OutboxEntry]
            do { entries = try store.outbox(peerMasterHex: peerMasterHex) } catch {
                logger.error("outbox unreadable: \(error)")
                return
            }
            for entry in entries {
                guard !isShutDown else { return }
                let outcome: DeliveryOutcome
                if let payload = try? DMPayload.decode(Array(entry.body.utf8)) {
                    outcome = await deliver(payload, toMasterHex: peerMasterHex, retryAfterRejection: true, outboxID: entry.id)
                } else if let envelope = try? EncryptedEnvelope.decode(Array(entry.body.utf8)) {
                    outcome = await transmit(envelope, toMasterHex: peerMasterHex)
                } else {
                    logger.error("outbox entry \(entry.id) is neither a payload nor an envelope; dropping it")
                    outcome = .delivered
                }
                guard outcome == .delivered else {
                    try? store.recordAttempt(entry, now: clock.nowMillis())
                    break
                }
                do { try store.markDelivered(entry) } catch {
                    logger.error("cannot mark \(entry.messageID) delivered: \(error)")
                    break
                }
            }
        } while flushAgain.contains(peerMasterHex)
    }

    enum DeliveryOutcome: Equatable { case delivered, failed, rejected }

    /// Get or establish the session, encrypt, persist the state (fsynced), then transmit.
    func deliver(_ payload: DMPayload, toMasterHex masterHex: String, retryAfterRejection: Bool,
                 outboxID: String? = nil) async -> DeliveryOutcome {
        guard let master = try? Ed25519.PublicKey(hex: masterHex) else { return .failed }
        let dmKeyHex: String, transport: EndpointID
        do {
            guard let delegation = try await directory.delegation(for: master), let dmKey = try? X25519.PublicKey(hex: delegation.dmPublicKey),
                  let first = try await directory.transportIDs(for: master).first else {
                logger.info("no DM key or transport id for \(masterHex.prefix(8)) yet")
                return .failed
            }
            dmKeyHex = dmKey.hex
            transport = first
        } catch {
            logger.warning("peer directory failed for \(masterHex.prefix(8)): \(error)")
            return .failed
        }
        var attempts = retryAfterRejection ? 2 : 1
        while attempts > 0 {
            attempts -= 1
            guard await ensureSendableSession(dmKeyHex: dmKeyHex, transport: transport, masterHex: masterHex) else { return .failed }
            let envelope: EncryptedEnvelope, generation: UInt64
            if let outboxID, let pending = pendingEnvelopes[outboxID],
               let sessions = try? loadSessions(dmKeyHex), sessions.current.generation == pending.generation {
                // Resend the very envelope that failed: no message key is burnt per retry, and if
                // it did arrive (lost ack) the receiver recognises it and acks again.
                (envelope, generation) = (pending.envelope, pending.generation)
            } else {
                do {
                    (envelope, generation) = try encryptAndPersist(payload, dmKeyHex: dmKeyHex)
                } catch {
                    logger.error("cannot encrypt for \(dmKeyHex.prefix(8)): \(error)")
                    return .failed
                }
            }
            let outcome = await transmit(envelope, to: transport)
            if let outboxID {
                pendingEnvelopes[outboxID] = outcome == .failed ? (envelope, generation) : nil
            }
            if outcome == .rejected {
                markBroken(dmKeyHex: dmKeyHex)
                continue
            }
            return outcome
        }
        return .rejected
    }

    private func transmit(_ envelope: EncryptedEnvelope, toMasterHex masterHex: String) async -> DeliveryOutcome {
        guard let master = try? Ed25519.PublicKey(hex: masterHex),
              let transport = try? await directory.transportIDs(for: master).first else { return .failed }
        return await transmit(envelope, to: transport)
    }

    /// A session we may send with exists afterwards, or false. We run our own handshake when we
    /// have no session, when we are the responder without a sending chain (the reference would
    /// panic), or when the peer rejected our envelopes.
    private func ensureSendableSession(dmKeyHex: String, transport: EndpointID, masterHex: String) async -> Bool {
        if let sessions = try? loadSessions(dmKeyHex) {
            if sessions.current.ratchet.canSend && !sessions.broken { return true }
            // A fresh responder session: the initiator's envelope is normally right behind its
            // handshake; wait for it rather than racing it with a handshake of our own.
            let graceMillis = UInt64(configuration.responderGraceSeconds * 1000)
            let age = clock.nowMillis() &- sessions.current.createdAt
            if !sessions.broken && age < graceMillis {
                wake(masterHex, afterSeconds: Double(graceMillis - age) / 1000 + 0.001)
                return false
            }
        }
        guard !handshaking.contains(dmKeyHex) else { return false }
        return await initiateHandshake(dmKeyHex: dmKeyHex, transport: transport)
    }

    private func encryptAndPersist(_ payload: DMPayload, dmKeyHex: String) throws -> (EncryptedEnvelope, UInt64) {
        guard var sessions = try loadSessions(dmKeyHex) else {
            throw DMError.protocolViolation("session vanished")
        }
        let (header, ciphertext) = try sessions.current.ratchet.encrypt(payload.encoded)
        try saveSessions(sessions, dmKeyHex)
        return (EncryptedEnvelope(sender: ownDMKeyHex, header: header, ciphertext: ciphertext), sessions.current.generation)
    }

    private func loadSessions(_ dmKeyHex: String) throws -> DMPeerSessions? {
        if let cached = sessionCache[dmKeyHex] { return cached }
        let loaded = try store.loadSessions(peerDMKeyHex: dmKeyHex)
        sessionCache[dmKeyHex] = loaded
        return loaded
    }

    /// Fsynced before returning; the cache follows only a successful commit.
    private func saveSessions(_ sessions: DMPeerSessions, _ dmKeyHex: String, now: UInt64? = nil) throws {
        try store.saveSessions(sessions, peerDMKeyHex: dmKeyHex, now: now ?? clock.nowMillis())
        sessionCache[dmKeyHex] = sessions
    }

    private func markBroken(dmKeyHex: String) {
        metrics.rejectedByPeer += 1
        guard var sessions = try? loadSessions(dmKeyHex) else { return }
        sessions.broken = true
        try? saveSessions(sessions, dmKeyHex)
        logger.notice("peer \(dmKeyHex.prefix(8)) cannot decrypt our envelopes; re-handshaking")
    }

    /// One envelope on a new connection; waits for the `null` ack (spec §8.6).
    private func transmit(_ envelope: EncryptedEnvelope, to transport: EndpointID) async -> DeliveryOutcome {
        metrics.envelopesSent += 1
        let config = configuration
        let dialer = dialer
        do {
            let ack = try await Self.exchange(dialer: dialer, transport: transport, request: DMMessage.envelope(envelope).encoded,
                                              readCap: config.ackReadCap, connectTimeout: config.connectTimeoutSeconds,
                                              readTimeout: config.ackTimeoutSeconds)
            guard DMAck.isAck(ack) else {
                metrics.sendFailures += 1
                logger.warning("peer answered an envelope with \(ack.count) bytes that are not an ack")
                return .failed
            }
            metrics.envelopesAcked += 1
            return .delivered
        } catch PeerNetworkError.streamReset(code: Self.rejectCode) {
            return .rejected
        } catch PeerNetworkError.connectionClosed(code: Self.rejectCode, reason: _) {
            return .rejected
        } catch {
            metrics.sendFailures += 1
            logger.info("envelope to \(transport.hex.prefix(8)) not delivered: \(error)")
            return .failed
        }
    }

    /// Connect, one bi stream, write + FIN, read the answer to FIN, close (0, "done").
    static func exchange(dialer: any PeerDialer, transport: EndpointID, request: [UInt8], readCap: Int,
                         connectTimeout: Double, readTimeout: Double) async throws -> [UInt8] {
        let connection = try await dialer.connect(to: PeerAddress(id: transport), alpn: alpn, timeoutSeconds: connectTimeout)
        do {
            let (send, receive) = try await connection.openBidirectionalStream()
            try await send.write(request)
            try await send.finish()
            let answer = try await withDeadline(seconds: readTimeout, what: "answer from \(transport.hex.prefix(8))") {
                try await receive.readToEnd(limit: readCap)
            }
            connection.close(code: 0, reason: "done")
            return answer
        } catch {
            connection.close(code: 0, reason: "done")
            throw error
        }
    }

    // MARK: - Handshake (initiator)

    private func initiateHandshake(dmKeyHex: String, transport: EndpointID) async -> Bool {
        guard let peerKey = try? X25519.PublicKey(hex: dmKeyHex) else { return false }
        handshaking.insert(dmKeyHex)
        lostRace.remove(dmKeyHex)
        defer {
            handshaking.remove(dmKeyHex)
            lostRace.remove(dmKeyHex)
        }
        metrics.handshakesInitiated += 1
        var noise = NoiseIKHandshake.initiator(staticKey: identity.dmKey, responderStaticKey: peerKey,
                                               ephemeralKey: configuration.ephemeralKeys())
        do {
            let message1 = try noise.writeMessage()
            let request = DMMessage.handshake(.initiate(noiseMessage: message1, sender: ownDMKeyHex)).encoded
            let answer = try await Self.exchange(dialer: dialer, transport: transport, request: request,
                                                 readCap: configuration.handshakeResponseReadCap,
                                                 connectTimeout: configuration.connectTimeoutSeconds,
                                                 readTimeout: configuration.handshakeResponseTimeoutSeconds)
            guard case let .response(message2) = try DMHandshakeMessage.decode(answer) else {
                throw DMError.protocolViolation("handshake answered with Init")
            }
            guard message2.count == NoiseIKHandshake.responderMessageLength else {
                throw DMError.protocolViolation("Noise message 2 has \(message2.count) bytes")
            }
            _ = try noise.readMessage(message2)
        } catch {
            metrics.sendFailures += 1
            logger.info("handshake with \(dmKeyHex.prefix(8)) failed: \(error)")
            return false
        }
        do {
            let ratchet = try DoubleRatchet.initiator(sharedSecret: SecretBytes(noise.handshakeHash), responderDMKey: peerKey,
                                                      keyGenerator: configuration.ratchetKeys)
            var sessions: DMPeerSessions
            let now = clock.nowMillis()
            let lost = lostRace.contains(dmKeyHex)
            if var existing = try loadSessions(dmKeyHex) {
                if lost { existing.archiveOnly(ratchet, now: now) } else { existing.adopt(ratchet, now: now) }
                sessions = existing
            } else {
                sessions = DMPeerSessions(current: .init(ratchet: ratchet, generation: 1, createdAt: now))
            }
            try saveSessions(sessions, dmKeyHex)
            metrics.handshakesCompleted += 1
            if lost {
                metrics.handshakeRacesLost += 1
                logger.info("simultaneous handshake with \(dmKeyHex.prefix(8)): theirs wins, waiting for their first envelope")
                return sessions.current.ratchet.canSend
            }
            return true
        } catch {
            logger.error("cannot store the session with \(dmKeyHex.prefix(8)): \(error)")
            return false
        }
    }

    // MARK: - Receiving

    /// Processes a `Handshake::Init` and returns the `Response` to write (spec §8.3). The session is
    /// fsynced before the response leaves.
    func acceptHandshake(noiseMessage: [UInt8], senderHex: String, remote: EndpointID) async -> [UInt8]? {
        guard let sender = try? X25519.PublicKey(hex: senderHex) else {
            return rejectHandshake("sender is not an X25519 key: \(senderHex.prefix(16))")
        }
        guard noiseMessage.count == NoiseIKHandshake.initiatorMessageLength else {
            return rejectHandshake("Noise message 1 has \(noiseMessage.count) bytes, expected 96")
        }
        guard await senderMatchesConnection(dmKeyHex: sender.hex, remote: remote, allowUnknownDMKey: true) else {
            metrics.wrongSenderRejected += 1
            logger.warning("handshake claims DM key \(sender.hex.prefix(8)) that is not \(remote.hex.prefix(8))'s")
            return nil
        }
        var noise = NoiseIKHandshake.responder(staticKey: identity.dmKey, ephemeralKey: configuration.ephemeralKeys())
        let message2: [UInt8]
        do {
            _ = try noise.readMessage(noiseMessage)
            guard noise.remoteStaticKey == sender else {
                return rejectHandshake("Noise static key differs from sender \(sender.hex.prefix(8))")
            }
            message2 = try noise.writeMessage()
        } catch {
            return rejectHandshake("\(error)")
        }
        let dmKeyHex = sender.hex
        let ratchet = DoubleRatchet.responder(sharedSecret: SecretBytes(noise.handshakeHash), ownDMKey: identity.dmKey)
        let now = clock.nowMillis()
        do {
            var sessions: DMPeerSessions
            if var existing = try loadSessions(dmKeyHex) {
                if handshaking.contains(dmKeyHex) && ownDMKeyHex < dmKeyHex {
                    // Simultaneous handshakes: the lower DM key's initiator session wins on both sides.
                    existing.archiveOnly(ratchet, now: now)
                    metrics.handshakeRacesWon += 1
                } else {
                    existing.adopt(ratchet, now: now)
                    if handshaking.contains(dmKeyHex) { lostRace.insert(dmKeyHex) }
                }
                sessions = existing
            } else {
                sessions = DMPeerSessions(current: .init(ratchet: ratchet, generation: 1, createdAt: now))
                if handshaking.contains(dmKeyHex) {
                    if ownDMKeyHex < dmKeyHex {
                        metrics.handshakeRacesWon += 1
                    } else {
                        lostRace.insert(dmKeyHex)
                    }
                }
            }
            try saveSessions(sessions, dmKeyHex, now: now)
        } catch {
            logger.error("cannot store the responder session for \(dmKeyHex.prefix(8)): \(error)")
            return nil
        }
        metrics.handshakesAccepted += 1
        return DMHandshakeMessage.response(noiseMessage: message2).encoded
    }

    private func rejectHandshake(_ reason: String) -> [UInt8]? {
        metrics.badHandshakesRejected += 1
        logger.warning("rejected DM handshake: \(reason)")
        return nil
    }

    /// The connection's transport id, when the directory knows it, must belong to the same user
    /// as the claimed DM key.
    private func senderMatchesConnection(dmKeyHex: String, remote: EndpointID, allowUnknownDMKey: Bool) async -> Bool {
        let byTransport = try? await directory.master(forTransportID: remote)
        let byDMKey = try? await directory.master(forDMKey: dmKeyHex)
        guard let byTransport, let byDMKey else { return allowUnknownDMKey || byDMKey != nil }
        return byTransport == byDMKey
    }

    enum EnvelopeVerdict: Equatable { case ack, reject }

    /// Decrypts and dispatches an envelope; `.ack` only when it decrypted (and, for a message,
    /// was stored) — docs/dm.md explains why we depart from the reference's ack-always.
    func acceptEnvelope(_ envelope: EncryptedEnvelope, remote: EndpointID) async -> EnvelopeVerdict {
        metrics.envelopesReceived += 1
        guard let senderKey = try? X25519.PublicKey(hex: envelope.sender) else {
            metrics.garbageRejected += 1
            logger.warning("envelope sender is not an X25519 key")
            return .reject
        }
        let dmKeyHex = senderKey.hex
        guard let master = try? await directory.master(forDMKey: dmKeyHex) else {
            metrics.unknownSenderRejected += 1
            logger.warning("envelope from unknown DM key \(dmKeyHex.prefix(8))")
            return .reject
        }
        guard await senderMatchesConnection(dmKeyHex: dmKeyHex, remote: remote, allowUnknownDMKey: false) else {
            metrics.wrongSenderRejected += 1
            logger.warning("envelope claims DM key \(dmKeyHex.prefix(8)) that is not \(remote.hex.prefix(8))'s")
            return .reject
        }
        let loaded: DMPeerSessions?
        do { loaded = try loadSessions(dmKeyHex) } catch {
            logger.error("session for \(dmKeyHex.prefix(8)) unreadable: \(error)")
            return .reject
        }
        guard var sessions = loaded else {
            metrics.noSessionRejected += 1
            logger.warning("envelope from \(dmKeyHex.prefix(8)) without a session")
            return .reject
        }
        let couldSend = sessions.current.ratchet.canSend
        let plaintext: [UInt8]
        switch sessions.decrypt(envelope, keyGenerator: configuration.ratchetKeys) {
        case let .decrypted(bytes): plaintext = bytes
        case .duplicate:
            metrics.duplicateEnvelopesAcked += 1
            return .ack
        case .replay:
            metrics.replaysRejected += 1
            logger.warning("replayed envelope from \(dmKeyHex.prefix(8)) (message \(envelope.header.messageNumber))")
            return .reject
        case let .failed(failure):
            metrics.decryptFailures += 1
            logger.warning("envelope from \(dmKeyHex.prefix(8)) does not decrypt: \(failure)")
            return .reject
        }
        let now = clock.nowMillis()
        do {
            switch try? DMPayload.decode(plaintext) {
            case let .message(message)?:
                let inserted = try store.storeIncoming(message, fromMasterHex: master.hex, sessions: sessions,
                                                       peerDMKeyHex: dmKeyHex, now: now)
                sessionCache[dmKeyHex] = sessions
                if inserted {
                    metrics.messagesStored += 1
                } else {
                    metrics.duplicateMessages += 1
                }
            case let .read(id)?:
                try store.applyReceipt(messageID: id, column: "read", sessions: sessions, peerDMKeyHex: dmKeyHex, now: now)
                sessionCache[dmKeyHex] = sessions
            case let .delivered(id)?:
                try store.applyReceipt(messageID: id, column: "delivered", sessions: sessions, peerDMKeyHex: dmKeyHex, now: now)
                sessionCache[dmKeyHex] = sessions
            case let signal?:
                try saveSessions(sessions, dmKeyHex, now: now)
                metrics.signalsReceived += 1
                if let handler = signalHandler { Task { await handler(master, signal) } }
            case nil:
                // Authenticated but not a payload we know: keep the advanced state and ack, so the
                // sender does not retry something no retry can fix.
                try saveSessions(sessions, dmKeyHex, now: now)
                metrics.undecodablePayloads += 1
                logger.warning("envelope from \(dmKeyHex.prefix(8)) holds no known DmPayload")
            }
        } catch {
            logger.error("cannot store what \(dmKeyHex.prefix(8)) sent: \(error)")
            return .reject
        }
        if !couldSend && sessions.current.ratchet.canSend { wake(master.hex) }
        return .ack
    }

    func countGarbage(_ reason: String) {
        metrics.garbageRejected += 1
        logger.warning("rejected DM input: \(reason)")
    }

    // MARK: - Console commands

    public struct CommandOutput: Sendable {
        public let text: String
        public let json: DMJSON
    }

    static func parsePeer(_ text: String) throws -> Ed25519.PublicKey {
        guard text.utf8.count == 64, let key = try? Ed25519.PublicKey(hex: text) else {
            throw DMError.invalidPeer("\"\(text.prefix(80))\" is not a 64-character master public key")
        }
        return key
    }

    /// `dm <peer> <text>`
    public func commandSend(peer: String, text: String) throws -> CommandOutput {
        let master = try Self.parsePeer(peer)
        let message = try send(text, to: master)
        return CommandOutput(text: "queued \(message.id) for \(master.hex.prefix(8))",
                             json: .fields(("id", .string(message.id)), ("peer", .string(master.hex)),
                                           ("timestamp", .uint(message.timestamp)), ("queued", .bool(true))))
    }

    /// `dms`: conversations, newest first, with unread counts.
    public func commandConversations() throws -> CommandOutput {
        let conversations = try store.conversations()
        let lines = conversations.map { "\($0.peerMasterHex.prefix(16))  unread \($0.unreadCount)  \($0.preview)" }
        let json = DMJSON.array(conversations.map {
            .fields(("peer", .string($0.peerMasterHex)), ("unread", .uint(UInt64($0.unreadCount))),
                    ("last_message_at", .uint($0.lastMessageAt)), ("preview", .string($0.preview)))
        })
        return CommandOutput(text: lines.isEmpty ? "no conversations" : lines.joined(separator: "\n"), json: json)
    }

    /// `dm-log <peer>`: the last messages, oldest first; marks the conversation read locally.
    public func commandLog(peer: String, limit: Int = 50) throws -> CommandOutput {
        let master = try Self.parsePeer(peer)
        let messages = try store.messages(peerMasterHex: master.hex, limit: limit)
        try store.markConversationRead(peerMasterHex: master.hex)
        let me = identity.masterPublicKey.hex
        let lines = messages.map { m -> String in
            let who = m.fromMasterHex == me ? "me" : "them"
            let state = m.fromMasterHex == me ? (m.delivered ? " ✓" : " …") : ""
            return "[\(m.timestamp)] \(who): \(m.content)\(state)"
        }
        let json = DMJSON.array(messages.map {
            .fields(("id", .string($0.id)), ("from", .string($0.fromMasterHex)), ("content", .string($0.content)),
                    ("timestamp", .uint($0.timestamp)), ("delivered", .bool($0.delivered)), ("read", .bool($0.read)))
        })
        return CommandOutput(text: lines.isEmpty ? "no messages" : lines.joined(separator: "\n"), json: json)
    }
}

/// Serves `proscenium/dm/1`: one bi stream per connection, a `DmMessage` up to 1 MiB, then the
/// bare `Response` or the `null` ack; rejected input gets a stream reset and a close.
public struct DMProtocolHandler: ProtocolHandler {
    let service: DMService

    public func accept(_ connection: any PeerConnection) async {
        let remote = connection.remoteID
        let send: any PeerStreamWriter, receive: any PeerStreamReader
        do {
            (send, receive) = try await connection.acceptBidirectionalStream()
        } catch {
            return
        }
        let request: [UInt8]
        do {
            request = try await withDeadline(seconds: service.configuration.handshakeResponseTimeoutSeconds, what: "DM request") {
                try await receive.readToEnd(limit: service.configuration.messageReadCap)
            }
        } catch {
            await service.countGarbage("request not read: \(error)")
            reject(connection, send)
            return
        }
        let message: DMMessage
        do {
            message = try DMMessage.decode(request)
        } catch {
            await service.countGarbage("\(error)")
            reject(connection, send)
            return
        }
        let answer: [UInt8]?
        switch message {
        case let .handshake(.initiate(noiseMessage, sender)):
            answer = await service.acceptHandshake(noiseMessage: noiseMessage, senderHex: sender, remote: remote)
        case .handshake(.response):
            await service.countGarbage("unsolicited handshake Response")
            answer = nil
        case let .envelope(envelope):
            answer = await service.acceptEnvelope(envelope, remote: remote) == .ack ? DMAck.encoded : nil
        }
        guard let answer else {
            reject(connection, send)
            return
        }
        do {
            try await send.write(answer)
            try await send.finish()
        } catch {
            return
        }
        // The initiator closes (0, "done") after reading; don't wait forever for a silent one.
        _ = try? await withDeadline(seconds: service.configuration.handshakeResponseTimeoutSeconds, what: "close") {
            await connection.closed()
        }
    }

    private func reject(_ connection: any PeerConnection, _ send: any PeerStreamWriter) {
        send.reset(code: DMService.rejectCode)
        connection.close(code: DMService.rejectCode, reason: "rejected")
    }
}

/// Runs `operation`, failing with `DMError.timedOut` after `seconds`. The operation is cancelled
/// but not awaited (a stream read that ignores cancellation must not hold the caller).
func withDeadline<T: Sendable>(seconds: Double, what: String,
                               _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        race.install(continuation)
        let work = Task {
            do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
        }
        let timer = Task {
            try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
            if !Task.isCancelled, race.finish(.failure(DMError.timedOut(what))) { work.cancel() }
        }
        race.setTimer(timer)
    }
}

final class DeadlineRace<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, timer: Task<Void, Never>?, done: Bool)>((nil, nil, false))

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func setTimer(_ timer: Task<Void, Never>) {
        let cancelNow = state.withLock { s -> Bool in
            if s.done { return true }
            s.timer = timer
            return false
        }
        if cancelNow { timer.cancel() }
    }

    /// First caller wins; returns whether it did.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, timer): (CheckedContinuation<T, any Error>?, Task<Void, Never>?) = state.withLock { s in
            guard !s.done else { return (nil, nil) }
            s.done = true
            defer { s.continuation = nil; s.timer = nil }
            return (s.continuation, s.timer)
        }
        guard let continuation else { return false }
        timer?.cancel()
        continuation.resume(with: result)
        return true
    }
}
