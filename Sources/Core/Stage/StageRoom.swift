/// One participant as the room knows it, keyed by MASTER key.
public struct StageParticipant: Equatable, Sendable {
    public var publicKey: String
    public var role: StageRole
    public var nodeID: String?
    public var lastSeen: UInt64
    public var handRaised = false
    public var selfMuted = false
    /// Set by a moderator's `MuteSpeaker`; display only (the mix is not changed, as in the reference).
    public var hostMuted = false

    public init(publicKey: String, role: StageRole, nodeID: String?, lastSeen: UInt64) {
        self.publicKey = publicKey
        self.role = role
        self.nodeID = nodeID
        self.lastSeen = lastSeen
    }
}

/// What a received control message did, for the service and the UI.
public enum StageRoomEvent: Equatable, Sendable {
    case participantUpdated(String)
    case participantRemoved(String)
    case handChanged(String, raised: Bool)
    case muteChanged(String)
    /// I was promoted: start the speaker pipeline.
    case promotedMe
    /// I was demoted: my role is Listener again.
    case demotedMe
    /// Kicked or banned: leave the stage.
    case removedMe(banned: Bool)
    case ended
    /// The host assigned me to `relayNodeID` (may be the host itself: back to the host).
    case reassignedMe(relayNodeID: String)
    /// Host only: a listener volunteered to relay.
    case relayVolunteered(publicKey: String, nodeID: String, capacity: UInt32)
    case reaction(String, emoji: String)
    case chat(String, text: String)
}

/// Why a control message was dropped.
public enum StageRoomRejection: Error, Equatable, Sendable {
    case ended
    case wrongStage(String)
    case notModerator(String)
    case notHost(String)
    /// `Presence` claims a master key whose known delegation names another signing key.
    case impersonation(claimed: String, sender: String)
    case unknownParticipant(String)
    /// Accepted and deliberately without effect (`Announce`).
    case ignored(String)
}

/// The control-plane state machine of one stage (spec §10.3), pure and driven by an injected clock.
/// It decides; the service signs, publishes and runs the pipelines.
public struct StageRoom: Sendable {
    public static let presenceInterval: UInt64 = 15_000
    public static let presenceExpiry: UInt64 = 45_000

    public let stageID: String
    public let myMasterKey: String
    public let mySigningKey: String
    public private(set) var myRole: StageRole
    /// Keys whose messages count as the host's: on the host its master and signing key; on a joiner
    /// the ticket's signing key, plus the announced master key when known (§16.1.7).
    public private(set) var hostKeys: Set<String>
    public private(set) var participants: [String: StageParticipant] = [:]
    public private(set) var bannedNodeIDs: Set<String> = []
    public private(set) var isEnded = false
    /// signing key → master key, from delegations known to the node.
    private var masterBySigningKey: [String: String] = [:]
    private let clock: any WallClock
    private var lastSweep: UInt64
    private var lastPresence: UInt64?

    /// The host's room.
    public init(hosting stageID: String, identity: NodeIdentity, clock: any WallClock) {
        self.init(stageID: stageID, myMasterKey: identity.masterPublicKey.hex, mySigningKey: identity.signingKey.publicKey.hex,
                  role: .host, hostKeys: [identity.masterPublicKey.hex, identity.signingKey.publicKey.hex], clock: clock)
    }

    /// A joiner's room from the ticket (whose `host_pubkey` is the host's signing key).
    public init(joining ticket: StageTicket, identity: NodeIdentity, hostMasterKey: String? = nil, clock: any WallClock) {
        var keys: Set<String> = [ticket.hostPublicKey]
        if let hostMasterKey { keys.insert(hostMasterKey) }
        self.init(stageID: ticket.stageID, myMasterKey: identity.masterPublicKey.hex,
                  mySigningKey: identity.signingKey.publicKey.hex, role: .listener, hostKeys: keys, clock: clock)
        if let hostMasterKey { masterBySigningKey[ticket.hostPublicKey] = hostMasterKey }
    }

    public init(stageID: String, myMasterKey: String, mySigningKey: String, role: StageRole, hostKeys: Set<String>,
                clock: any WallClock) {
        self.stageID = stageID
        self.myMasterKey = myMasterKey
        self.mySigningKey = mySigningKey
        self.myRole = role
        self.hostKeys = hostKeys
        self.clock = clock
        self.lastSweep = clock.nowMillis()
        masterBySigningKey[mySigningKey] = myMasterKey
        participants[myMasterKey] = StageParticipant(publicKey: myMasterKey, role: role, nodeID: nil, lastSeen: clock.nowMillis())
    }

    public var isHost: Bool { myRole == .host }

    /// Teaches the room a verified delegation (signing → master), so signing-keyed messages
    /// (§16.1.7) attach to the right participant.
    public mutating func learnDelegation(_ delegation: SigningKeyDelegation) {
        guard delegation.isValid else { return }
        masterBySigningKey[delegation.signingPublicKey] = delegation.masterPublicKey
    }

    /// A key from a message mapped to the participant key: master keys pass through, known signing
    /// keys map to their master key.
    public func participantKey(for key: String) -> String {
        if participants[key] != nil { return key }
        return masterBySigningKey[key] ?? key
    }

    private func isHostKey(_ key: String) -> Bool {
        hostKeys.contains(key) || hostKeys.contains(participantKey(for: key))
    }

    /// Moderator: the host, or a participant with the CoHost role (keyed by sender, mapped to master).
    public func isModerator(_ senderKey: String) -> Bool {
        isHostKey(senderKey) || participants[participantKey(for: senderKey)]?.role == .coHost
    }

    // MARK: Receiving

    /// Applies a verified message. The caller verified the signature (`SignedStageControl.verify`).
    public mutating func receive(_ message: SignedStageControl) throws(StageRoomRejection) -> [StageRoomEvent] {
        guard !isEnded else { throw .ended }
        let control = message.control
        guard control.stageID == stageID else { throw .wrongStage(control.stageID) }
        let sender = message.senderPublicKey
        let now = clock.nowMillis()
        switch control {
        case .announce:
            throw .ignored("Announce")
        case .end:
            guard isHostKey(sender) else { throw .notHost(sender) }
            isEnded = true
            return [.ended]
        case let .presence(_, key, role, _, nodeID):
            // Tightening (§16.2): a claimed master key whose delegation we know must be the sender's.
            if let known = masterBySigningKey[sender], known != key { throw .impersonation(claimed: key, sender: sender) }
            if masterBySigningKey[sender] == nil, masterBySigningKey.values.contains(key) {
                throw .impersonation(claimed: key, sender: sender)
            }
            // Only the host may claim Host; only a moderator's promotion makes a CoHost.
            var claimed = role
            if (claimed == .host && !isHostKey(sender)) || claimed == .coHost { claimed = participants[key]?.role == .coHost ? .coHost : .listener }
            var participant = participants[key] ?? StageParticipant(publicKey: key, role: claimed, nodeID: nodeID, lastSeen: now)
            if key != myMasterKey { participant.role = claimed }
            participant.lastSeen = now
            if let nodeID { participant.nodeID = nodeID }
            participants[key] = participant
            if isHostKey(sender) { hostKeys.insert(key); masterBySigningKey[sender] = key }
            return [.participantUpdated(key)]
        case let .relayVolunteer(_, key, node, capacity):
            guard isHost else { throw .ignored("RelayVolunteer on a non-host") }
            return [.relayVolunteered(publicKey: key, nodeID: node, capacity: capacity)]
        case let .relayAssignment(_, _, node, listeners):
            guard isHostKey(sender) else { throw .notHost(sender) }
            return listeners.contains(myMasterKey) ? [.reassignedMe(relayNodeID: node)] : []
        case let .raiseHand(_, key), let .lowerHand(_, key):
            let raised: Bool
            if case .raiseHand = control { raised = true } else { raised = false }
            let target = participantKey(for: key)
            // Only for oneself: the sender's key must be (or map to) the flagged participant.
            guard participantKey(for: sender) == target || sender == key else { throw .notModerator(sender) }
            guard participants[target] != nil else { throw .unknownParticipant(key) }
            participants[target]?.handRaised = raised
            return [.handChanged(target, raised: raised)]
        case let .promoteSpeaker(_, key), let .demoteSpeaker(_, key):
            guard isModerator(sender) else { throw .notModerator(sender) }
            let promote: Bool
            if case .promoteSpeaker = control { promote = true } else { promote = false }
            let target = participantKey(for: key)
            if target == myMasterKey {
                guard myRole != .host else { throw .ignored("role change for the host") }
                myRole = promote ? .speaker : .listener
                participants[target]?.role = myRole
                participants[target]?.handRaised = false
                return [promote ? .promotedMe : .demotedMe]
            }
            guard participants[target] != nil else { throw .unknownParticipant(key) }
            participants[target]?.role = promote ? .speaker : .listener
            if promote { participants[target]?.handRaised = false }
            return [.participantUpdated(target)]
        case let .muteSpeaker(_, key):
            guard isModerator(sender) else { throw .notModerator(sender) }
            let target = participantKey(for: key)
            guard participants[target] != nil else { throw .unknownParticipant(key) }
            participants[target]?.hostMuted = true
            return [.muteChanged(target)]
        case let .selfMuteToggle(_, key, muted):
            let target = participantKey(for: key)
            guard participantKey(for: sender) == target || sender == key else { throw .notModerator(sender) }
            guard participants[target] != nil else { throw .unknownParticipant(key) }
            participants[target]?.selfMuted = muted
            return [.muteChanged(target)]
        case let .kick(_, key), let .ban(_, key):
            let banning: Bool
            if case .ban = control { banning = true } else { banning = false }
            if banning { guard isHostKey(sender) else { throw .notHost(sender) } } else {
                guard isModerator(sender) else { throw .notModerator(sender) }
            }
            let target = participantKey(for: key)
            if banning, let node = participants[target]?.nodeID { bannedNodeIDs.insert(node) }
            if target == myMasterKey {
                isEnded = true
                return [.removedMe(banned: banning)]
            }
            guard participants.removeValue(forKey: target) != nil else { return [] }
            return [.participantRemoved(target)]
        case let .reaction(_, key, emoji):
            return [.reaction(participantKey(for: key), emoji: StageControl.truncated(emoji, toScalars: StageControl.maxReactionScalars))]
        case let .chat(_, key, text):
            return [.chat(participantKey(for: key), text: StageControl.truncated(text, toScalars: StageControl.maxChatScalars))]
        }
    }

    // MARK: Time

    /// What the clock says is due.
    public struct Tick: Equatable, Sendable {
        public var presenceDue: Bool
        public var expired: [String]
    }

    /// Runs the 45 s presence sweep when due and says whether my 15 s presence heartbeat is due.
    public mutating func tick() -> Tick {
        let now = clock.nowMillis()
        var expired: [String] = []
        if now &- lastSweep >= Self.presenceExpiry {
            lastSweep = now
            expired = sweep(now: now)
        }
        let due = lastPresence.map { now &- $0 >= Self.presenceInterval } ?? true
        return Tick(presenceDue: due, expired: expired)
    }

    /// Removes every participant but me not seen for more than 45 s.
    public mutating func sweep(now: UInt64) -> [String] {
        let stale = participants.values.filter { $0.publicKey != myMasterKey && now > $0.lastSeen &+ Self.presenceExpiry }
            .map(\.publicKey).sorted()
        for key in stale { participants.removeValue(forKey: key) }
        return stale
    }

    // MARK: Sending (what the reference sends, §16.1.7)

    /// My presence (master key, my transport id); marks the heartbeat as sent.
    public mutating func presence(nodeID: String?) -> StageControl {
        let now = clock.nowMillis()
        lastPresence = now
        participants[myMasterKey]?.lastSeen = now
        return .presence(stageID: stageID, publicKey: myMasterKey, role: myRole, timestamp: now, nodeID: nodeID)
    }

    /// Hand, self-mute, reaction and chat carry my SIGNING key, as the reference sends them.
    public mutating func raiseHand(_ raised: Bool) -> StageControl {
        participants[myMasterKey]?.handRaised = raised
        return raised ? .raiseHand(stageID: stageID, publicKey: mySigningKey) : .lowerHand(stageID: stageID, publicKey: mySigningKey)
    }

    public mutating func selfMute(_ muted: Bool) -> StageControl {
        participants[myMasterKey]?.selfMuted = muted
        return .selfMuteToggle(stageID: stageID, publicKey: mySigningKey, muted: muted)
    }

    public func reaction(_ emoji: String) -> StageControl {
        .reaction(stageID: stageID, publicKey: mySigningKey, emoji: StageControl.truncated(emoji, toScalars: StageControl.maxReactionScalars))
    }

    public func chat(_ text: String) -> StageControl {
        .chat(stageID: stageID, publicKey: mySigningKey, text: StageControl.truncated(text, toScalars: StageControl.maxChatScalars))
    }

    /// Moderator actions; the room applies them locally at once (gossip does not echo to the sender).
    public enum ModerationError: Error, Equatable, Sendable {
        case notModerator
        case unknownParticipant(String)
    }

    public mutating func moderate(_ control: StageControl) throws(ModerationError) -> StageControl {
        guard isModerator(mySigningKey) || isHost else { throw .notModerator }
        switch control {
        case let .promoteSpeaker(_, key), let .demoteSpeaker(_, key), let .muteSpeaker(_, key), let .kick(_, key):
            guard participants[key] != nil else { throw .unknownParticipant(key) }
        case let .ban(_, key):
            guard isHost else { throw .notModerator }
            guard participants[key] != nil else { throw .unknownParticipant(key) }
        default: break
        }
        let local = SignedStageControl(senderPublicKey: mySigningKey, control: control, timestamp: clock.nowMillis(), signature: "")
        _ = try? receive(local)
        return control
    }

    /// Host: ends the stage.
    public mutating func end() -> StageControl {
        isEnded = true
        return .end(stageID: stageID)
    }
}
