import Synchronization
import Foundation
import Testing
@testable import Core
import TestSupport

/// Feeds end to end over the in-memory network and a stand-in gossip bus (spec §5, §6).
@Suite("Social service")
struct SocialServiceTests {
    @Test func followReceivesGossipPostAndOwnerRecordsFollower() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await b.service.setProfile(displayName: "Bob", bio: "hi", visibility: .public)
        let identity = try await a.service.follow(transportID: b.transport)
        #expect(identity.masterPublicKey == b.master)
        #expect(try a.service.store.profile(for: b.master)?.displayName == "Bob")

        let post = try await b.service.post("hello @\(a.master) #proscenium")
        let feed = try a.service.store.feed(limit: 10)
        #expect(feed == [post])
        #expect(a.metrics.accepted["post"] == 1)
        let kinds = try a.service.store.notifications(limit: 10).map(\.kind)
        #expect(kinds == ["mention"])

        // §5.6: B saw A join its topic, asked A who it is, and recorded a follower.
        #expect(try b.service.store.followers(of: b.master).map(\.pubkey) == [a.master])
        #expect(try b.service.store.notifications(limit: 10).map(\.kind) == ["follower"])

        // Likes, replies and deletes flow the same way.
        let mine = try await a.service.post("my post")
        _ = mine
        let reply = try await b.service.post("re", replyTo: (mine.id, a.master))
        #expect(try a.service.store.post(id: reply.id) == reply)
        #expect(try a.service.store.notifications(limit: 10).map(\.kind).contains("reply"))
        try await b.service.like(post.id)
        #expect(try a.service.store.likeCount(of: post.id) == 1)
        #expect(try await b.service.unlike(post.id))
        #expect(try a.service.store.likeCount(of: post.id) == 0)
        #expect(try await b.service.deletePost(post.id))
        #expect(try a.service.store.post(id: post.id) == nil)
    }

    @Test func offlineFollowerCatchesUpBySync() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport)
        try await b.service.post("first")
        try await b.service.post("second")
        #expect(try a.service.store.postCount(author: b.master) == 2)

        bed.setOnline(a, false)
        _ = await a.service.connectivityChanged(online: false)
        for index in 0..<50 { try await b.service.post("missed \(index)") }
        try await b.service.like(try b.service.store.posts(author: b.master, limit: 1, offset: 0)[0].id)
        #expect(try a.service.store.postCount(author: b.master) == 2)

        bed.setOnline(a, true)
        let results = await a.service.connectivityChanged(online: true)
        #expect(results[b.master]?.mode == .timestampCatchUp)
        #expect(results[b.master]?.postsAccepted == 50)
        #expect(results[b.master]?.interactionsAccepted == 1)
        #expect(try a.service.store.postCount(author: b.master) == 52)
        #expect(try a.service.store.interactionCount(author: b.master) == 1)
        // A second sync finds nothing to do.
        #expect(try await a.service.syncAuthor(b.master).mode == .upToDate)
    }

    /// The outbox is in the database: posts made offline are still published live after a restart.
    @Test func queuedPostsSurviveARestartAndArePublishedLive() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1)
        let database = try AppDatabase.inMemory(clock: bed.clock)
        let b = try await bed.node(2, database: database)
        try await a.service.follow(transportID: b.transport)
        bed.setOnline(b, false)
        _ = await b.service.connectivityChanged(online: false)
        for index in 0..<3 { try await b.service.post("queued \(index)") }
        #expect(await b.service.pendingPublications == 3)
        // B restarts, still offline: a new service on the same database finds the queue.
        let restarted = try await bed.node(2, database: database)
        await restarted.service.flushOutbox()
        let pending = await restarted.service.pendingPublications
        #expect(pending >= 3, "\(pending) queued after the restart")
        #expect(try a.service.store.postCount(author: b.master) == 0)
        bed.setOnline(restarted, true)
        await restarted.service.flushOutbox()
        #expect(await restarted.service.pendingPublications == 0)
        #expect(try a.service.store.postCount(author: b.master) == 3)   // live, over the feed topic
    }

    @Test func offlineAuthorQueuesAndPublishesLater() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport)
        bed.setOnline(b, false)
        _ = await b.service.connectivityChanged(online: false)
        for index in 0..<3 { try await b.service.post("queued \(index)") }
        #expect(await b.service.pendingPublications == 3)
        #expect(try b.service.store.postCount(author: b.master) == 3) // stored locally at once
        #expect(try a.service.store.postCount(author: b.master) == 0)
        bed.setOnline(b, true)
        _ = await b.service.connectivityChanged(online: true)
        #expect(await b.service.pendingPublications == 0)
        #expect(try a.service.store.postCount(author: b.master) == 3)
    }

    /// The relay service learns of followed hosts' Stages from their feeds: only the feed owner's
    /// own announcement counts, and StageEnded is passed on with the host it came from.
    @Test func stageNewsFromAFollowedFeedReachTheObserver() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport)
        let topic = FeedTopicDerivation.topicID(masterPublicKey: b.identity.masterPublicKey)
        let heard = Mutex<[String]>([])
        await a.service.setStageObserver { news in
            switch news {
            case let .started(announcement): heard.withLock { $0.append("started \(announcement.stageID)") }
            case let .ended(stageID, host): heard.withLock { $0.append("ended \(stageID) \(host == b.master)") }
            }
        }
        let ticket = StageTicket(stageID: "s1", hostPublicKey: b.identity.signingKey.publicKey.hex,
                                 hostNodeID: b.transport.hex, title: "B live")
        let own = StageAnnouncement(stageID: "s1", title: "B live", ticket: ticket, hostPublicKey: b.master, startedAt: 1)
        var foreign = own
        foreign.stageID = "s2"
        foreign.hostPublicKey = Ed25519.SecretKey.generate().publicKey.hex   // someone else's Stage on B's feed
        _ = await a.service.receiveGossip(topic: topic, payload: try GossipMessage.stageAnnouncement(foreign).wireBytes())
        _ = await a.service.receiveGossip(topic: topic, payload: try GossipMessage.stageAnnouncement(own).wireBytes())
        _ = await a.service.receiveGossip(topic: topic, payload: try GossipMessage.stageEnded(StageEnded(stageID: "s1")).wireBytes())
        #expect(heard.withLock { $0 } == ["started s1", "ended s1 true"])
    }

    @Test func forgedAndInvalidGossipIsRejectedCountedAndNotStored() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport)
        let topic = FeedTopicDerivation.topicID(masterPublicKey: b.identity.masterPublicKey)
        let now = bed.clock.nowMillis()

        // Signed by a stranger's key, claiming B as author.
        var forged = Post(id: "forged", author: b.master, content: "not from B", timestamp: now)
        forged.sign(with: Ed25519.SecretKey.generate())
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.newPost(forged).wireBytes())
                == .rejected(.badSignature))
        // Signed with B's master key although B delegated a signing key.
        var masterSigned = Post(id: "master", author: b.master, content: "x", timestamp: now)
        masterSigned.sign(with: b.identity.masterKey)
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.newPost(masterSigned).wireBytes())
                == .rejected(.badSignature))
        // Correctly signed but too far in the future.
        var future = Post(id: "future", author: b.master, content: "x", timestamp: now + 300_001 + 1_000)
        future.sign(with: b.identity.signingKey)
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.newPost(future).wireBytes())
                == .rejected(.timestampInFuture))
        // Another author's post on B's topic.
        var stranger = Post(id: "s", author: a.master, content: "x", timestamp: now)
        stranger.sign(with: a.identity.signingKey)
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.newPost(stranger).wireBytes())
                == .rejected(.wrongAuthor))
        // Garbage and oversized payloads.
        #expect(await a.service.receiveGossip(topic: topic, payload: Array("{\"NewPost\":".utf8)) == .rejected(.malformedJSON))
        #expect(await a.service.receiveGossip(topic: topic, payload: [UInt8](repeating: 0x20, count: 5000))
                == .rejected(.oversizedMessage))
        // Forged delete of a real post.
        let real = try await b.service.post("real")
        var forgedDelete = DeletePost(id: real.id, author: b.master)
        forgedDelete.sign(with: Ed25519.SecretKey.generate())
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.deletePost(forgedDelete).wireBytes())
                == .rejected(.badSignature))

        let metrics = a.metrics
        #expect(metrics.rejected(.badSignature) == 3)
        #expect(metrics.rejected(.timestampInFuture) == 1)
        #expect(metrics.rejected(.wrongAuthor) == 1)
        #expect(metrics.rejected(.malformedJSON) == 1)
        #expect(metrics.rejected(.oversizedMessage) == 1)
        #expect(try a.service.store.postCount(author: b.master) == 1)
        #expect(try a.service.store.post(id: real.id) != nil)
        let warnings = a.logs.records.filter { $0.level == .warning }.map(\.message)
        #expect(warnings.count == 7)
        #expect(warnings.first?.contains("bad_signature") == true)

        // Duplicates are counted, not stored twice.
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.newPost(real).wireBytes()) == .duplicate)
        #expect(a.metrics.duplicates["post"] == 1)
    }

    @Test func unknownDelegationFallsBackToMasterKey() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1)
        let stranger = try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: 9, count: 32)))
        // Nothing cached for the stranger: a signing-key signature cannot be checked.
        var post = Post(id: "p", author: stranger.masterPublicKey.hex, content: "x", timestamp: bed.clock.nowMillis())
        post.sign(with: stranger.signingKey)
        #expect(a.service.pipeline.ingest(post, filterModerated: false, context: "test") == .rejected(.unknownDelegation))
        // The legacy path: signed with the master key itself verifies.
        post.sign(with: stranger.masterKey)
        #expect(a.service.pipeline.ingest(post, filterModerated: false, context: "test") == .accepted)
    }

    @Test func muteBlockAndUnfollow() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport)
        let first = try await b.service.post("before mute")
        try await a.service.setModeration(.mute, b.master, active: true)
        try await b.service.post("while muted")
        #expect(a.metrics.rejected(.mutedOrBlocked) == 1)
        #expect(try a.service.store.feed(limit: 10).isEmpty) // muted authors are filtered from the feed
        try await a.service.setModeration(.mute, b.master, active: false)
        #expect(try a.service.store.feed(limit: 10) == [first])

        // Blocking unfollows (deleting B's posts) and makes B's peer/1 requests fail.
        try await a.service.setModeration(.block, b.master, active: true)
        #expect(try a.service.store.isFollowing(a.master, b.master) == false)
        #expect(try a.service.store.postCount(author: b.master) == 0)
        await #expect(throws: PeerClientError.self) { _ = try await b.service.client.identity(of: a.transport) }
        #expect(a.metrics.rejected(.blockedPeer) == 1)
    }

    @Test func listedAccountFollowRequestApprovalAndPush() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await b.service.setProfile(displayName: "Bob", bio: "", visibility: .listed)
        #expect(try await a.service.requestFollow(b.transport) == .pending)
        #expect(try b.service.store.pendingFollowRequests(now: bed.clock.nowMillis()) == [a.master])
        #expect(try b.service.store.notifications(limit: 5).map(\.kind) == ["follow_request"])
        // A is not a follower yet: sync is refused.
        try a.service.directory.cache(try #require(try b.service.directory.delegation(forHex: b.master)),
                                      transportIDs: [b.transport.hex])
        await #expect(throws: PeerClientError.self) { _ = try await a.service.client.sync(author: b.master, from: b.transport) }
        #expect(b.metrics.rejected(.unauthorized) == 1)

        #expect(try await b.service.answerFollowRequest(a.master, approve: true))
        guard case .approved(let identity) = try await a.service.requestFollow(b.transport) else {
            Issue.record("expected Approved")
            return
        }
        #expect(identity.masterPublicKey == b.master)
        try await a.service.follow(master: b.master)

        // B is listed: no topic, so the post reaches A by push.
        let published = bed.bus.publishedCount
        let post = try await b.service.post("for followers only")
        #expect(bed.bus.publishedCount == published)
        #expect(try a.service.store.post(id: post.id) == post)
        // Deletes have no fallback for non-public accounts (spec §5.7, §16.1 item 9).
        try await b.service.deletePost(post.id)
        #expect(try a.service.store.post(id: post.id) != nil)
    }

    @Test func consoleCommandsReturnTextAndJSON() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        let commands = SocialCommands(service: a.service)
        let bCommands = SocialCommands(service: b.service)
        _ = try await bCommands.profileSet(displayName: "Bob", bio: "bio", visibility: .public)
        try await a.service.follow(transportID: b.transport)
        let posted = try await bCommands.post("hello")
        #expect(posted.text.hasPrefix("posted "))
        #expect(posted.json.contains(#""content":"hello""#))
        let feed = try commands.feed()
        #expect(feed.text.contains("hello"))
        if case .array(let items) = feed.value { #expect(items.count == 1) } else { Issue.record("feed value is not an array") }
        #expect(try commands.following().text == b.master)
        #expect(try bCommands.followers().text.hasPrefix(a.master))
        #expect(try commands.profileShow(b.master).text.hasPrefix("Bob (public)"))
        let postID = try #require(try a.service.store.feed(limit: 1).first?.id)
        #expect(try await commands.like(postID).text == "liked \(postID)")
        #expect(try await commands.repost(postID).text.hasPrefix("reposted"))
        #expect(try bCommands.notifications().text.contains("follower from")) // likes reach only the liker's followers
        await #expect(throws: SocialCommandError.unknownPost("nope")) { _ = try await commands.like("nope") }
        await #expect(throws: SocialCommandError.cannotFollowSelf) { _ = try await commands.follow(a.master) }
        #expect(try await commands.unfollow(b.master).text.hasPrefix("unfollowed"))
        #expect(commands.metrics().text.hasPrefix("accepted"))
    }

    @Test func gossipProfileRotationAndDeviceAnnouncements() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await a.service.follow(transportID: b.transport)
        try await b.service.setProfile(displayName: "Bob v2", bio: "new", visibility: .public)
        #expect(try a.service.store.profile(for: b.master)?.displayName == "Bob v2")
        let topic = FeedTopicDerivation.topicID(masterPublicKey: b.identity.masterPublicKey)

        // A profile signed by someone else is refused and leaves the stored one alone.
        var fake = Profile(displayName: "Mallory")
        fake.sign(with: Ed25519.SecretKey.generate())
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.profileUpdate(fake).wireBytes())
                == .rejected(.badSignature))
        #expect(try a.service.store.profile(for: b.master)?.displayName == "Bob v2")

        // Rotation 0 → 1 (spec §3.5): accepted once, stale when replayed.
        let (rotated, rotation) = try b.identity.rotatedSigningKey(now: bed.clock.nowMillis())
        let rotationPayload = try GossipMessage.signingKeyRotation(rotation).wireBytes()
        #expect(await a.service.receiveGossip(topic: topic, payload: rotationPayload) == .accepted)
        #expect(try a.service.directory.delegation(forHex: b.master)?.keyIndex == 1)
        #expect(try a.service.directory.transportIDs(forHex: b.master) == [b.transport.hex]) // ids kept
        #expect(await a.service.receiveGossip(topic: topic, payload: rotationPayload) == .rejected(.staleRotation))
        var newKeyPost = Post(id: "n", author: b.master, content: "new key", timestamp: bed.clock.nowMillis())
        newKeyPost.sign(with: rotated.signingKey)
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.newPost(newKeyPost).wireBytes()) == .accepted)
        var oldKeyPost = Post(id: "o", author: b.master, content: "old key", timestamp: bed.clock.nowMillis())
        oldKeyPost.sign(with: b.identity.signingKey)
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.newPost(oldKeyPost).wireBytes())
                == .rejected(.badSignature))

        // A newer device announcement replaces the transport ids; an old version is stale.
        let second = Ed25519.SecretKey.generate().publicKey.hex
        var announcement = LinkedDevicesAnnouncement(
            masterPublicKey: b.master, delegation: rotated.delegation(issuedAt: bed.clock.nowMillis()),
            devices: [DeviceEntry(nodeID: b.transport.hex, deviceName: "Primary Device", isPrimary: true, addedAt: 1),
                      DeviceEntry(nodeID: second, deviceName: "Device 1", isPrimary: false, addedAt: 2)],
            version: 2, timestamp: bed.clock.nowMillis())
        announcement.sign(with: rotated.signingKey)
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.linkedDevices(announcement).wireBytes())
                == .accepted)
        #expect(try a.service.directory.transportIDs(forHex: b.master) == [b.transport.hex, second])
        announcement.version = 1
        announcement.sign(with: rotated.signingKey)
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.linkedDevices(announcement).wireBytes())
                == .rejected(.staleAnnouncement))
        #expect(await a.service.receiveGossip(topic: topic, payload: try GossipMessage.heartbeat.wireBytes()) == .ignored)
    }

    @Test func privateAccountDeniesStrangersAndServesMutuals() async throws {
        let bed = SocialTestbed()
        let a = try await bed.node(1), b = try await bed.node(2)
        try await b.service.setProfile(displayName: "Bob", bio: "", visibility: .private)
        #expect(try await a.service.requestFollow(b.transport) == .denied)
        try await a.service.follow(master: b.master) // no identity cached: the follow row exists, sync has no route yet
        await #expect(throws: PeerClientError.self) { _ = try await a.service.client.sync(author: b.master, from: b.transport) }
        let hidden = try await a.service.client.followsList(of: b.transport)
        #expect(hidden.hidden)
        // Mutual: B follows A and has A as a follower.
        try b.service.store.upsertFollower(a.master, of: b.master, online: false, now: bed.clock.nowMillis())
        try await b.service.follow(transportID: a.transport) // A sees B join its topic and learns B's delegation (§5.6)
        try await b.service.post("mutuals only")
        #expect(try a.service.store.postCount(author: b.master) == 1) // pushed to the mutual
        let result = try await a.service.client.sync(author: b.master, from: b.transport)
        #expect(result.mode == .upToDate)
    }
}
