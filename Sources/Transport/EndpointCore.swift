import Core
import CQUIC
// Imported only so its module map links ngtcp2, GnuTLS and nettle into whatever uses CQUIC.
import CNGTCP2
import Foundation
import Synchronization

/// Connection-id bytes as a dictionary key.
struct ConnectionIDKey: Hashable {
    let bytes: [UInt8]
    init(_ pointer: UnsafePointer<UInt8>, _ count: Int) { bytes = Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// The endpoint's state and event loop. Everything except `submit`/`stop` runs on the one
/// network thread (epoll over the UDP socket, an eventfd for commands and a timerfd for ngtcp2
/// expiries), so the QUIC state needs no locks.
final class EndpointCore: @unchecked Sendable {
    let fd: Int32
    let family: Int32
    let localAddress: SocketAddress
    private var localStorage = sockaddr_storage()
    private let localLength: socklen_t
    private let epollFD: Int32
    private let wakeFD: Int32
    private let timerFD: Int32
    let identity: OpaquePointer
    let resetSecret: [UInt8]
    let config: EndpointConfig
    let router: Router
    private let serverALPNWire: [UInt8]
    let logger: Logger?
    var limits: cquic_limits

    private struct Commands {
        var queue: [@Sendable () -> Void] = []
        var stopped = false
        var stopCompletions: [@Sendable () -> Void] = []
        var stopRequested = false
    }
    private let commands = Mutex(Commands())

    // Network-thread state.
    var connections: [ObjectIdentifier: ConnectionCore] = [:]
    private var cidTable: [ConnectionIDKey: ConnectionCore] = [:]
    private var dirty: [ConnectionCore] = []
    private var receiveBuffer = [UInt8](repeating: 0, count: 65536)
    private var sendScratch = [UInt8](repeating: 0, count: 1500)
    /// UDP GSO for bursts; switched off for good the first time the kernel refuses it.
    private var gsoEnabled: Bool
    /// Received datagrams may arrive coalesced (UDP_GRO) and are split before dispatch.
    private let groEnabled: Bool
    private var resetWindowStart: UInt64 = 0
    private var resetsInWindow = 0
    private var armedExpiry: UInt64 = 0
    private var thread: Thread?

    init(secretKey: Ed25519.SecretKey, config: EndpointConfig, router: Router) throws(TransportError) {
        self.config = config
        self.router = router
        self.logger = config.logger

        var err = [CChar](repeating: 0, count: 256)
        var pub = [UInt8](repeating: 0, count: 32)
        let identity = secretKey.seed.withUnsafeBytes { seed in
            cquic_identity_new(seed.baseAddress!.assumingMemoryBound(to: UInt8.self), &pub, &err, err.count)
        }
        guard let identity else { throw .setup(errorText(err)) }
        guard pub == secretKey.publicKey.bytes else {
            cquic_identity_free(identity)
            throw .setup("TLS identity key differs from the Ed25519 public key")
        }
        self.identity = identity
        var secret = [UInt8](repeating: 0, count: 32)
        cquic_random(&secret, 32)
        resetSecret = secret

        var wire: [UInt8] = []
        for alpn in router.alpns {
            let bytes = Array(alpn.utf8)
            guard !bytes.isEmpty, bytes.count <= 255 else {
                cquic_identity_free(identity)
                throw .invalidALPN("'\(alpn)' must be 1...255 bytes")
            }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        serverALPNWire = wire

        // Bind: dual-stack [::]:0 unless told otherwise; IPv4 wildcard if IPv6 is unavailable.
        var candidates: [SocketAddress] = []
        if let bind = config.bindAddress {
            candidates = [bind]
        } else {
            candidates = [try SocketAddress(ipv6: [UInt8](repeating: 0, count: 16), port: 0),
                          try SocketAddress(ipv4: [0, 0, 0, 0], port: 0)]
        }
        var boundFD: Int32 = -1
        var boundFamily: Int32 = AF_INET6
        var storage = sockaddr_storage()
        var storageLength = socklen_t(0)
        var lastError = ""
        for candidate in candidates {
            let fam: Int32 = candidate.isIPv4 ? AF_INET : AF_INET6
            let result = candidate.withSockAddr(family: fam) { sa, len in
                cquic_udp_bind(sa, len, Int32(config.socketBufferSize), &storage, &storageLength, &err, err.count)
            } ?? -1
            if result >= 0 {
                boundFD = result
                boundFamily = fam
                break
            }
            lastError = errorText(err)
        }
        guard boundFD >= 0 else {
            cquic_identity_free(identity)
            throw .socket("cannot bind UDP socket: \(lastError)")
        }
        fd = boundFD
        family = boundFamily
        localStorage = storage
        localLength = storageLength
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress(storage: $0, length: storageLength) }
        }
        guard let bound else {
            cquic_close_fd(boundFD)
            cquic_identity_free(identity)
            throw .socket("getsockname returned an unknown address family")
        }
        localAddress = bound
        gsoEnabled = cquic_udp_gso_supported(boundFD) != 0
        groEnabled = cquic_udp_enable_gro(boundFD) != 0

        epollFD = cquic_epoll_create()
        wakeFD = cquic_eventfd()
        timerFD = cquic_timerfd()
        guard epollFD >= 0, wakeFD >= 0, timerFD >= 0,
              cquic_epoll_add(epollFD, fd) == 0, cquic_epoll_add(epollFD, wakeFD) == 0, cquic_epoll_add(epollFD, timerFD) == 0 else {
            cquic_close_fd(epollFD); cquic_close_fd(wakeFD); cquic_close_fd(timerFD); cquic_close_fd(boundFD)
            cquic_identity_free(identity)
            throw .socket("epoll/eventfd/timerfd setup failed")
        }

        func ms(_ d: Duration) -> UInt64 {
            UInt64(max(0, d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000))
        }
        limits = cquic_limits(
            idle_timeout_ms: ms(config.idleTimeout),
            keep_alive_ms: ms(config.keepAliveInterval),
            handshake_timeout_ms: 10_000,
            stream_window: config.streamReceiveWindow,
            max_stream_window: config.maxStreamReceiveWindow,
            conn_window: config.connectionReceiveWindow,
            max_conn_window: config.maxConnectionReceiveWindow,
            max_streams_bidi: config.maxConcurrentStreams,
            max_streams_uni: config.maxConcurrentStreams,
            max_datagram_queue: 128)
    }

    deinit {
        cquic_close_fd(epollFD)
        cquic_close_fd(wakeFD)
        cquic_close_fd(timerFD)
        cquic_close_fd(fd)
        cquic_identity_free(identity)
    }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "quic-endpoint"
        self.thread = thread
        thread.start()
    }

    // MARK: commands from other threads

    /// Queues work for the network thread. False once the endpoint has stopped.
    @discardableResult
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        // Only the first command of a batch wakes the thread: it takes the whole queue each
        // round, so a relay queueing a frame for 1,000 streams costs one eventfd write, not 1,000.
        let (accepted, wake) = commands.withLock { state -> (Bool, Bool) in
            guard !state.stopped else { return (false, false) }
            state.queue.append(work)
            return (true, state.queue.count == 1)
        }
        if wake { cquic_eventfd_signal(wakeFD) }
        return accepted
    }

    /// Runs `body` on the network thread and returns its result (tests, diagnostics).
    func submitAndWait<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            submitOrFail(cont) { cont.resume(returning: body()) }
        }
    }

    func submitOrFail<T>(_ cont: CheckedContinuation<T, Error>, _ work: @escaping @Sendable () -> Void) {
        if !submit(work) { cont.resume(throwing: TransportError.endpointClosed) }
    }

    /// Closes all connections and ends the thread; `completion` runs once it has.
    func stop(completion: (@Sendable () -> Void)?) {
        let alreadyStopped = commands.withLock { state -> Bool in
            if state.stopped { return true }
            state.stopRequested = true
            if let completion { state.stopCompletions.append(completion) }
            return false
        }
        if alreadyStopped {
            completion?()
        } else {
            cquic_eventfd_signal(wakeFD)
        }
    }

    // MARK: the loop

    private func run() {
        var ready = [Int32](repeating: 0, count: 64)
        while true {
            let n = cquic_epoll_wait(epollFD, &ready, Int32(ready.count), -1)
            if n < 0 { break }
            for i in 0..<Int(n) {
                switch ready[i] {
                case fd: receivePackets()
                case timerFD:
                    cquic_timerfd_drain(timerFD)
                    armedExpiry = 0
                    handleExpiries()
                default:
                    cquic_eventfd_drain(wakeFD)
                }
            }
            // Commands are checked every round: cheap, and no wake-up can be lost.
            if runCommands() { break }
            flushDirty()
            armTimer()
        }
        shutdown()
    }

    /// Runs queued commands; true when a stop was requested.
    private func runCommands() -> Bool {
        let (work, stopRequested) = commands.withLock { state -> ([@Sendable () -> Void], Bool) in
            let w = state.queue
            state.queue.removeAll(keepingCapacity: true)
            return (w, state.stopRequested)
        }
        for item in work { item() }
        return stopRequested
    }

    private func shutdown() {
        let now = cquic_timestamp()
        for core in Array(connections.values) {
            core.closeLocally(code: 0, reason: "endpoint closed", now: now)
            core.finish(overrideReason: .endpointClosed)
        }
        let (work, completions) = commands.withLock { state -> ([@Sendable () -> Void], [@Sendable () -> Void]) in
            state.stopped = true
            let w = state.queue
            state.queue.removeAll()
            let c = state.stopCompletions
            state.stopCompletions.removeAll()
            return (w, c)
        }
        // Late commands see no connections and fail their continuations.
        for item in work { item() }
        for completion in completions { completion() }
        thread = nil
    }

    private func receivePackets() {
        var from = sockaddr_storage()
        var fromLength = socklen_t(0)
        var segment = 0
        // Bounded per wake-up so timers and commands are not starved under load.
        for _ in 0..<512 {
            let n = receiveBuffer.withUnsafeMutableBufferPointer { buf in
                groEnabled
                    ? cquic_recv_segments(fd, buf.baseAddress!, buf.count, &from, &fromLength, &segment)
                    : cquic_recv(fd, buf.baseAddress!, buf.count, &from, &fromLength)
            }
            if n < 0 { return }
            let now = cquic_timestamp()
            let total = Int(n)
            let step = segment > 0 ? segment : max(total, 1)
            receiveBuffer.withUnsafeBufferPointer { buf in
                withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        var offset = 0
                        repeat {
                            let length = min(step, total - offset)
                            dispatch(packet: buf.baseAddress! + offset, length: length, from: sa, fromLength: fromLength, now: now)
                            offset += length
                        } while offset < total
                    }
                }
            }
        }
    }

    private func dispatch(packet: UnsafePointer<UInt8>, length: Int, from: UnsafePointer<sockaddr>, fromLength: socklen_t, now: UInt64) {
        var info = cquic_packet_info()
        let kind = cquic_decode_packet(packet, length, &info)
        if kind < 0 { return }
        if kind == 1 {
            // Unknown version: answer with Version Negotiation (only long headers get here).
            let n = sendScratch.withUnsafeMutableBufferPointer { cquic_write_version_negotiation($0.baseAddress!, $0.count, &info) }
            if n > 0 { sendRaw(count: n, to: from, length: fromLength) }
            return
        }
        let key = withUnsafeBytes(of: &info.dcid) { ConnectionIDKey($0.baseAddress!.assumingMemoryBound(to: UInt8.self), info.dcidlen) }
        if let core = cidTable[key] {
            core.receive(packet: packet, length: length, from: from, fromLength: fromLength, now: now)
            return
        }
        if isRetired(key, now: now) { return }
        if info.long_header != 0 {
            acceptIncoming(packet: packet, length: length, from: from, fromLength: fromLength, now: now)
            return
        }
        sendStatelessReset(for: key, receivedLength: length, to: from, length: fromLength, now: now)
    }

    private func acceptIncoming(packet: UnsafePointer<UInt8>, length: Int, from: UnsafePointer<sockaddr>, fromLength: socklen_t, now: UInt64) {
        guard !serverALPNWire.isEmpty, cquic_is_acceptable_initial(packet, length) == 1 else { return }
        guard connections.count < config.maxConnections else {
            logger?.warning("refusing connection from \(SocketAddress(storage: from, length: fromLength).map(\.description) ?? "?"): \(config.maxConnections) connections open")
            return
        }
        let core = ConnectionCore(endpoint: self, isClient: false)
        var err = [CChar](repeating: 0, count: 256)
        var callbacks = core.makeCallbacks()
        var limits = self.limits
        let conn = serverALPNWire.withUnsafeBufferPointer { alpns in
            resetSecret.withUnsafeBufferPointer { secret in
                withUnsafePointer(to: &localStorage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { local in
                        cquic_server_new(identity, alpns.baseAddress, alpns.count, &limits, &callbacks, secret.baseAddress,
                                         local, localLength, from, fromLength, packet, length, now, &err, err.count)
                    }
                }
            }
        }
        guard let conn else {
            logger?.debug("incoming Initial rejected: \(errorText(err))")
            core.unregisterAllCIDs()
            return
        }
        core.conn = conn
        connections[ObjectIdentifier(core)] = core
        core.receive(packet: packet, length: length, from: from, fromLength: fromLength, now: now)
    }

    func startClient(to address: SocketAddress, id: EndpointId, alpn: String, handshakeTimeoutMS: UInt64,
                     continuation: Waiter<Connection>, holder: CoreHolder) {
        if continuation.isCancelled {
            continuation.resume(throwing: CancellationError())
            return
        }
        guard connections.count < config.maxConnections else {
            continuation.resume(throwing: TransportError.tooManyConnections(limit: config.maxConnections))
            return
        }
        let core = ConnectionCore(endpoint: self, isClient: true)
        holder.core = core
        core.connectWaiter = continuation
        var err = [CChar](repeating: 0, count: 256)
        var callbacks = core.makeCallbacks()
        var limits = self.limits
        limits.handshake_timeout_ms = handshakeTimeoutMS
        let alpnBytes = Array(alpn.utf8)
        let now = cquic_timestamp()
        let conn: OpaquePointer?? = address.withSockAddr(family: family) { remote, remoteLength in
            alpnBytes.withUnsafeBufferPointer { alpnBuf in
                id.bytes.withUnsafeBufferPointer { key in
                    resetSecret.withUnsafeBufferPointer { secret in
                        withUnsafePointer(to: &localStorage) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { local in
                                cquic_client_new(identity, alpnBuf.baseAddress, alpnBuf.count, key.baseAddress, &limits, &callbacks,
                                                 secret.baseAddress, local, localLength, remote, remoteLength, now, &err, err.count)
                            }
                        }
                    }
                }
            }
        }
        guard let maybe = conn else {
            core.connectWaiter = nil
            continuation.resume(throwing: TransportError.connectFailed("\(address) is IPv6 but the socket is IPv4-only"))
            return
        }
        guard let created = maybe else {
            core.connectWaiter = nil
            core.unregisterAllCIDs()
            continuation.resume(throwing: TransportError.setup(errorText(err)))
            return
        }
        core.conn = created
        connections[ObjectIdentifier(core)] = core
        core.markDirty()
    }

    // MARK: per-connection plumbing

    func register(cid: ConnectionIDKey, for core: ConnectionCore) { cidTable[cid] = core }

    /// Connection ids of connections that just ended. Packets still in flight to them are dropped
    /// silently for a few seconds (RFC 9000 §10.2 closing/draining) instead of drawing a stateless
    /// reset, which could overtake our CONNECTION_CLOSE in the peer's view.
    private var retiredCIDs: [ConnectionIDKey: UInt64] = [:]
    private var retiredOrder: [(deadline: UInt64, cid: ConnectionIDKey)] = []
    private var retiredHead = 0

    func retire(cids: Set<ConnectionIDKey>, now: UInt64) {
        let deadline = now + 3_000_000_000
        for cid in cids where cidTable[cid] == nil {
            retiredCIDs[cid] = deadline
            retiredOrder.append((deadline, cid))
        }
    }

    private func isRetired(_ cid: ConnectionIDKey, now: UInt64) -> Bool {
        while retiredHead < retiredOrder.count, retiredOrder[retiredHead].deadline <= now {
            let entry = retiredOrder[retiredHead]
            if retiredCIDs[entry.cid] == entry.deadline { retiredCIDs[entry.cid] = nil }
            retiredHead += 1
        }
        if retiredHead > 1024 && retiredHead * 2 > retiredOrder.count {
            retiredOrder.removeFirst(retiredHead)
            retiredHead = 0
        }
        return retiredCIDs[cid] != nil
    }

    func unregister(cid: ConnectionIDKey, for core: ConnectionCore) {
        if cidTable[cid] === core { cidTable[cid] = nil }
    }

    func remove(_ core: ConnectionCore) {
        connections[ObjectIdentifier(core)] = nil
    }

    func markDirty(_ core: ConnectionCore) { dirty.append(core) }

    /// Sends one datagram; drops it when the socket is full (QUIC recovers the loss).
    func send(_ data: UnsafePointer<UInt8>, _ length: Int, to address: UnsafePointer<sockaddr>, _ addressLength: socklen_t) -> Int32 {
        let rc = cquic_send(fd, data, length, address, addressLength)
        if rc != 0 && rc != EAGAIN && rc != EWOULDBLOCK {
            logger?.debug("sendto failed: errno \(rc)")
        }
        return rc
    }

    /// Sends `length` bytes as datagrams of `segment` bytes (the last may be shorter) to one address.
    func sendSegments(_ data: UnsafePointer<UInt8>, _ length: Int, segment: Int, to address: UnsafePointer<sockaddr>, _ addressLength: socklen_t) -> Int32 {
        var rc = cquic_send_segments(fd, data, length, segment, address, addressLength, gsoEnabled ? 1 : 0)
        if gsoEnabled && (rc == EIO || rc == EINVAL || rc == EOPNOTSUPP || rc == ENOPROTOOPT) {
            // The route or device cannot segment (e.g. no checksum offload): batch with sendmmsg instead.
            logger?.debug("UDP GSO refused (errno \(rc)); using sendmmsg")
            gsoEnabled = false
            rc = cquic_send_segments(fd, data, length, segment, address, addressLength, 0)
        }
        if rc != 0 && rc != EAGAIN && rc != EWOULDBLOCK {
            logger?.debug("sendmsg failed: errno \(rc)")
        }
        return rc
    }

    private func sendRaw(count: Int, to address: UnsafePointer<sockaddr>, length: socklen_t) {
        sendScratch.withUnsafeBufferPointer { _ = send($0.baseAddress!, count, to: address, length) }
    }

    private func sendStatelessReset(for cid: ConnectionIDKey, receivedLength: Int, to address: UnsafePointer<sockaddr>, length: socklen_t, now: UInt64) {
        // At most 100 resets per second: never an amplification or CPU sink.
        if now &- resetWindowStart > 1_000_000_000 {
            resetWindowStart = now
            resetsInWindow = 0
        }
        guard resetsInWindow < 100 else { return }
        resetsInWindow += 1
        let n = sendScratch.withUnsafeMutableBufferPointer { out in
            resetSecret.withUnsafeBufferPointer { secret in
                cid.bytes.withUnsafeBufferPointer { dcid in
                    cquic_write_stateless_reset(out.baseAddress!, out.count, secret.baseAddress!, dcid.baseAddress, dcid.count, receivedLength)
                }
            }
        }
        if n > 0 { sendRaw(count: n, to: address, length: length) }
    }

    private func flushDirty() {
        guard !dirty.isEmpty else { return }
        let now = cquic_timestamp()
        let batch = dirty
        dirty.removeAll(keepingCapacity: true)
        for core in batch where core.isDirty {
            core.flush(now: now)
        }
    }

    private func handleExpiries() {
        let now = cquic_timestamp()
        for core in Array(connections.values) where core.expiry <= now {
            core.handleExpiry(now: now)
        }
    }

    private func armTimer() {
        var next = UInt64.max
        for core in connections.values where core.expiry < next { next = core.expiry }
        if next != armedExpiry {
            armedExpiry = next
            cquic_timerfd_arm(timerFD, next)
        }
    }
}

/// Hands the connection a `connect` created to its cancellation handler (network thread only).
final class CoreHolder: @unchecked Sendable {
    var core: ConnectionCore?
}

/// A NUL-terminated C message buffer as text.
func errorText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
