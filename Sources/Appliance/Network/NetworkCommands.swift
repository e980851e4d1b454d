import Core
import Transport

/// Admin commands of the feed (Core's `SocialCommands`), DMs (`DMService`) and sync. Registered
/// once; each looks up the running service at call time, so it answers "not running" instead of
/// using a stopped one.
enum NetworkCommands {
    static let maxWords = 200

    static func register(in registry: CommandRegistry, components: NodeComponents) {
        func social(_ name: String, _ summary: String, usage: String = "", details: String = "",
                    arguments: ClosedRange<Int> = 0...0, completions: [String] = [],
                    _ run: @escaping @Sendable (SocialCommands, [String]) async throws -> SocialCommandReply) {
            registry.register(AdminCommand(name: name, summary: summary, usage: usage, details: details,
                                           arguments: arguments, completions: completions) { arguments in
                let commands = SocialCommands(service: try components.requireSocial())
                do {
                    return output(try await run(commands, arguments))
                } catch let error as AdminCommandError {
                    throw error
                } catch {
                    throw AdminCommandError("\(name): \(error)")
                }
            })
        }
        let resolve: @Sendable (String) throws -> String = { try peerKey($0, components: components) }

        social("post", "Publish a post.", usage: "TEXT...", arguments: 1...maxWords) { c, a in
            try await c.post(a.joined(separator: " "))
        }
        social("reply", "Reply to a post.", usage: "POST-ID TEXT...", arguments: 2...maxWords) { c, a in
            try await c.reply(to: a[0], a.dropFirst().joined(separator: " "))
        }
        social("like", "Like a post (`like POST-ID off` removes the like).", usage: "POST-ID [off]", arguments: 1...2) { c, a in
            a.count == 2 && a[1] == "off" ? try await c.unlike(a[0]) : try await c.like(a[0])
        }
        social("repost", "Repost a post.", usage: "POST-ID", arguments: 1...1) { c, a in try await c.repost(a[0]) }
        social("delete", "Delete one of your posts.", usage: "POST-ID", arguments: 1...1) { c, a in try await c.delete(a[0]) }
        social("unfollow", "Stop following someone (their stored posts are removed).", usage: "PEER", arguments: 1...1) { c, a in
            try await c.unfollow(try resolve(a[0]))
        }
        social("feed", "Posts of the people you follow and your own, newest first.", usage: "[LIMIT]", arguments: 0...1) { c, a in
            guard let limit = a.isEmpty ? 20 : Int(a[0]), limit > 0 else { throw AdminCommandError("LIMIT must be a positive number") }
            return try c.feed(limit: limit)
        }
        social("profile", "Show a profile, or change your display name or bio.", usage: "[show [PEER] | set name|bio TEXT...]",
               details: "`profile` shows yours; `profile show PEER` someone else's; `profile set name Alice` and "
                   + "`profile set bio ...` change one field and keep the rest (and the visibility).",
               arguments: 0...maxWords, completions: ["show", "set"]) { c, a in
            try await profile(c, a, resolve: resolve)
        }
        social("followers", "Who follows you.") { c, _ in try c.followers() }
        social("following", "Whom you follow.") { c, _ in try c.following() }
        social("mute", "Hide someone's posts (`mute PEER off` undoes it).", usage: "PEER [off]", arguments: 1...2) { c, a in
            try await c.mute(try resolve(a[0]), a.count == 1 || a[1] != "off")
        }
        social("block", "Block someone and unfollow them (`block PEER off` undoes it).", usage: "PEER [off]", arguments: 1...2) { c, a in
            try await c.block(try resolve(a[0]), a.count == 1 || a[1] != "off")
        }
        social("requests", "Pending follow requests (a listed or private account approves who follows it).") { c, _ in
            try c.followRequests()
        }
        social("approve", "Approve a pending follow request.", usage: "PEER", arguments: 1...1) { c, a in
            try await c.answerFollowRequest(try resolve(a[0]), approve: true)
        }
        social("deny", "Deny a pending follow request.", usage: "PEER", arguments: 1...1) { c, a in
            try await c.answerFollowRequest(try resolve(a[0]), approve: false)
        }
        social("notifications", "Likes, replies, reposts and new followers (`--read` marks them read).", usage: "[--read]",
               arguments: 0...1, completions: ["--read"]) { c, a in
            try c.notifications(markRead: a.first == "--read")
        }

        registry.register(AdminCommand(
            name: "follow", summary: "Follow someone by master key or endpoint ticket, and sync their posts.",
            usage: "MASTER-KEY | TICKET",
            details: "With a ticket (endpoint…), its addresses go into the address book, the node asks the peer who it is "
                + "(Identity over proscenium/peer/1, delegation verified and cached), then follows its master key.",
            arguments: 1...1
        ) { arguments in
            try await follow(arguments[0], components: components)
        })

        registry.register(AdminCommand(
            name: "sync", summary: "Pull posts from followed people now (one PEER, or everyone).", usage: "[PEER]", arguments: 0...1
        ) { arguments in
            let service = try components.requireSocial()
            if let peer = arguments.first {
                let master = try peerKey(peer, components: components)
                let result: SyncResult
                do { result = try await service.syncAuthor(master) } catch { throw AdminCommandError("sync \(master.prefix(12)): \(error)") }
                return CommandOutput(text: "synced \(master.prefix(12)): \(result.postsAccepted) new posts",
                                     json: .object(["results": .object([master: syncJSON(result)])]))
            }
            let results = await service.syncAll()
            let following = (try? service.store.following(of: service.me).count) ?? 0
            let lines = results.sorted { $0.key < $1.key }.map { "\($0.key.prefix(12)): \($0.value.postsAccepted) new posts" }
            return CommandOutput(text: (["synced \(results.count) of \(following) followed"] + lines).joined(separator: "\n"),
                                 json: .object(["followed": .int(following), "results": .object(results.mapValues(syncJSON))]))
        })

        registry.register(AdminCommand(
            name: "dm", summary: "Send a direct message (queued durably; delivered when the peer is reachable).",
            usage: "PEER TEXT...", details: "PEER is a master key (64 hex) or the display name of someone you follow.",
            arguments: 2...maxWords
        ) { arguments in
            let dm = try components.requireDM()
            let master = try peerKey(arguments[0], components: components)
            return output(try await dm.commandSend(peer: master, text: arguments.dropFirst().joined(separator: " ")))
        })
        registry.register(AdminCommand(name: "dms", summary: "Direct-message conversations, newest first.") { _ in
            output(try await components.requireDM().commandConversations())
        })
        registry.register(AdminCommand(
            name: "dm-log", summary: "Messages with one peer, oldest first (marks them read).", usage: "PEER [LIMIT]",
            arguments: 1...2
        ) { arguments in
            let dm = try components.requireDM()
            let master = try peerKey(arguments[0], components: components)
            guard let limit = arguments.count == 2 ? Int(arguments[1]) : 50, limit > 0 else {
                throw AdminCommandError("LIMIT must be a positive number")
            }
            return output(try await dm.commandLog(peer: master, limit: limit))
        })
    }

    // MARK: Helpers

    /// A master key (64 hex characters) or the display name of someone followed.
    static func peerKey(_ text: String, components: NodeComponents) throws -> String {
        if text.utf8.count == 64, (try? Ed25519.PublicKey(hex: text.lowercased())) != nil { return text.lowercased() }
        guard let social = components.social else {
            throw AdminCommandError("\"\(text)\" is not a master key, and names need the social service running")
        }
        let followed = (try? social.store.following(of: social.me)) ?? []
        let matches = followed.filter { entry in
            ((try? social.store.profile(for: entry.pubkey))?.displayName.lowercased() ?? nil) == text.lowercased()
        }
        guard matches.count == 1 else {
            throw AdminCommandError(matches.isEmpty
                ? "\"\(text)\" is neither a 64-hex master key nor the name of someone you follow"
                : "\"\(text)\" names \(matches.count) people you follow; use the master key")
        }
        return matches[0].pubkey
    }

    static func follow(_ target: String, components: NodeComponents) async throws -> CommandOutput {
        let service = try components.requireSocial()
        var master = target
        if target.hasPrefix(EndpointTicket.prefix) {
            let ticket: EndpointTicket
            do { ticket = try EndpointTicket(parsing: target) } catch {
                throw AdminCommandError("follow: not a valid endpoint ticket: \(error)")
            }
            guard let book = components.addressBook else { throw AdminCommandError("the transport is not running (see `status`)") }
            book.add(ticket.addr)
            try? book.save()
            do {
                master = try await service.client.identity(of: ticket.addr.id).masterPublicKey
            } catch {
                throw AdminCommandError("follow: cannot ask \(ticket.addr.id.hex.prefix(12)) who it is: \(error)")
            }
        }
        let synced: SyncResult?
        do {
            synced = try await service.follow(master: master)
        } catch {
            throw AdminCommandError("follow: \(error)")
        }
        // Messages queued for this person can go out now that we know where they are.
        if let key = try? Ed25519.PublicKey(hex: master) { await components.dm?.peerReachable(key) }
        let note = synced.map { ", synced \($0.postsAccepted) posts" } ?? ", not synced yet (peer unreachable)"
        return CommandOutput(text: "following \(master.prefix(12))\(note)",
                             json: .object(["following": .string(master), "sync": synced.map(syncJSON) ?? .null]))
    }

    static func profile(_ commands: SocialCommands, _ arguments: [String],
                        resolve: (String) throws -> String) async throws -> SocialCommandReply {
        guard let verb = arguments.first else { return try commands.profileShow() }
        switch verb {
        case "show":
            guard arguments.count <= 2 else { throw AdminCommandError("usage: profile show [PEER]") }
            return try commands.profileShow(arguments.count == 2 ? try resolve(arguments[1]) : nil)
        case "set":
            guard arguments.count >= 3, arguments[1] == "name" || arguments[1] == "bio" else {
                throw AdminCommandError("usage: profile set name|bio TEXT...")
            }
            let text = arguments.dropFirst(2).joined(separator: " ")
            let service = commands.service
            let current = try service.store.profile(for: service.me)
            let name = arguments[1] == "name" ? text : current?.displayName ?? ""
            let bio = arguments[1] == "bio" ? text : current?.bio ?? ""
            return try await commands.profileSet(displayName: name, bio: bio, visibility: current?.visibility ?? .public)
        default:
            throw AdminCommandError("usage: profile [show [PEER] | set name|bio TEXT...]")
        }
    }

    static func syncJSON(_ result: SyncResult) -> JSONValue {
        .object(["mode": .string(result.mode.rawValue), "posts": .int(result.postsAccepted),
                 "interactions": .int(result.interactionsAccepted)])
    }

    /// Scalars are wrapped as {"value": ...}: `ctl --json` prints objects and arrays only.
    static func output(_ reply: SocialCommandReply) -> CommandOutput {
        let json = JSONValue(wire: reply.value)
        switch json {
        case .object, .array: return CommandOutput(text: reply.text, json: json)
        default: return CommandOutput(text: reply.text, json: .object(["value": json]))
        }
    }

    static func output(_ reply: DMService.CommandOutput) -> CommandOutput {
        CommandOutput(text: reply.text, json: JSONValue(dm: reply.json))
    }
}

extension JSONValue {
    init(wire: WireJSONValue) {
        switch wire {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(Int(clamping: i))
        case .uint(let u): self = .int(Int(clamping: u))
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map { JSONValue(wire: $0) })
        case .object(let members):
            var object: [String: JSONValue] = [:]
            for (key, value) in members { object[key] = JSONValue(wire: value) }
            self = .object(object)
        }
    }

    init(dm: DMJSON) {
        switch dm {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(Int(clamping: i))
        case .uint(let u): self = .int(Int(clamping: u))
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map { JSONValue(dm: $0) })
        case .object(let members):
            var object: [String: JSONValue] = [:]
            for member in members { object[member.key] = JSONValue(dm: member.value) }
            self = .object(object)
        }
    }
}
