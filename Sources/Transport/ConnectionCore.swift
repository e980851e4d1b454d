import Core
import CQUIC
import Foundation
import Synchronization

/// One QUIC connection's state. Confined to the endpoint's network thread: every method runs
/// there, including the C callbacks, so nothing here is locked.
final class ConnectionCore: @unchecked Sendable {
    let endpoint: EndpointCore
    let isClient: Bool
    var conn: OpaquePointer?
    private var cids: Set<ConnectionIDKey> = []

    var connectWaiter: Waiter<Connection>?
    var remoteID: EndpointId?
    var alpn = ""
    var remoteAddress: SocketAddress?

    var streams: [Int64: StreamCore] = [:]
    private var incomingBidi: [StreamCore] = []
    private var incomingUni: [StreamCore] = []
    private var acceptBidiWaiters: [Waiter<StreamCore>] = []
    private var acceptUniWaiters: [Waiter<StreamCore>] = []
    private var openBidiWaiters: [Waiter<StreamCore>] = []
    private var openUniWaiters: [Waiter<StreamCore>] = []
    private var datagrams: [[UInt8]] = []
    private var datagramWaiters: [Waiter<[UInt8]>] = []
    private(set) var droppedDatagrams = 0

    var closeReason: ConnectionCloseReason?
    private var closeWaiters: [CheckedContinuation<ConnectionCloseReason, Never>] = []

    /// Credit to return to the peer at the next flush (ngtcp2 calls are kept out of callbacks).
    private var pendingCredit: [Int64: Int] = [:]
    var isDirty = false
    var expiry: UInt64 = .max

    init(endpoint: EndpointCore, isClient: Bool) {
        self.endpoint = endpoint
        self.isClient = isClient
    }

    deinit {
        if let conn { cquic_conn_free(conn) }
    }

    var logger: Logger? { endpoint.logger }

    func markDirty() {
        if !isDirty {
            isDirty = true
            endpoint.markDirty(self)
        }
    }

    // MARK: driving

    func receive(packet: UnsafePointer<UInt8>, length: Int, from: UnsafePointer<sockaddr>, fromLength: socklen_t, now: UInt64) {
        guard let conn, closeReason == nil else { return }
        let rc = cquic_conn_read(conn, from, fromLength, packet, length, now)
        if rc != CQUIC_OK {
            finish(overrideReason: nil)
            return
        }
        markDirty()
    }

    func flush(now: UInt64) {
        isDirty = false
        guard let conn, closeReason == nil else { return }
        if !pendingCredit.isEmpty {
            for (id, n) in pendingCredit { _ = cquic_stream_consumed(conn, id, n) }
            pendingCredit.removeAll(keepingCapacity: true)
        }
        if cquic_conn_flush(conn, now) != CQUIC_OK {
            finish(overrideReason: nil)
            return
        }
        expiry = cquic_conn_expiry(conn)
    }

    func handleExpiry(now: UInt64) {
        guard let conn, closeReason == nil else { return }
        if cquic_conn_handle_expiry(conn, now) != CQUIC_OK {
            finish(overrideReason: nil)
            return
        }
        expiry = cquic_conn_expiry(conn)
        markDirty()
    }

    func closeLocally(code: UInt64, reason: String, now: UInt64) {
        guard let conn, closeReason == nil else { return }
        let bytes = Array(reason.utf8.prefix(255))
        _ = bytes.withUnsafeBufferPointer { cquic_conn_close(conn, code, $0.baseAddress, $0.count, now) }
        finish(overrideReason: nil)
    }

    /// The connection is over: record why, fail every waiter, release the C state.
    func finish(overrideReason: ConnectionCloseReason?) {
        guard closeReason == nil else { return }
        let reason = overrideReason ?? currentCloseReason()
        closeReason = reason
        let error = TransportError.connectionClosed(reason)
        if let waiter = connectWaiter {
            connectWaiter = nil
            waiter.resume(throwing: error)
        }
        for w in acceptBidiWaiters { w.resume(throwing: error) }
        for w in acceptUniWaiters { w.resume(throwing: error) }
        for w in openBidiWaiters { w.resume(throwing: error) }
        for w in openUniWaiters { w.resume(throwing: error) }
        for w in datagramWaiters { w.resume(throwing: error) }
        acceptBidiWaiters = []; acceptUniWaiters = []; openBidiWaiters = []; openUniWaiters = []; datagramWaiters = []
        for stream in streams.values { stream.connectionClosed(error) }
        for stream in incomingBidi + incomingUni { stream.connectionClosed(error) }
        streams = [:]
        for w in closeWaiters { w.resume(returning: reason) }
        closeWaiters = []
        unregisterAllCIDs()
        endpoint.remove(self)
        if let conn {
            cquic_conn_free(conn)
            self.conn = nil
        }
        expiry = .max
        logger?.debug("connection to \(remoteID?.hex ?? "?") closed: \(reason)")
    }

    private func currentCloseReason() -> ConnectionCloseReason {
        guard let conn else { return .reset }
        var info = cquic_close_info()
        cquic_conn_close_info(conn, &info)
        let text = withUnsafeBytes(of: &info.reason) { raw -> String in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
        switch UInt32(info.kind) {
        case CQUIC_CLOSE_PEER_APPLICATION.rawValue: return .closedByPeer(code: info.code, reason: text)
        case CQUIC_CLOSE_PEER_TRANSPORT.rawValue: return .transportError(code: info.code, reason: text)
        case CQUIC_CLOSE_IDLE.rawValue: return .idleTimeout
        case CQUIC_CLOSE_HANDSHAKE_TIMEOUT.rawValue: return .handshakeTimeout
        case CQUIC_CLOSE_LOCAL_ERROR.rawValue: return .localError(code: info.code, reason: text)
        case CQUIC_CLOSE_LOCAL_APPLICATION.rawValue: return .closedLocally(code: info.code, reason: text)
        default: return .reset
        }
    }

    func unregisterAllCIDs() {
        for cid in cids { endpoint.unregister(cid: cid, for: self) }
        endpoint.retire(cids: cids, now: cquic_timestamp())
        cids = []
    }

    func waitClosed(_ cont: CheckedContinuation<ConnectionCloseReason, Never>) {
        if let closeReason { cont.resume(returning: closeReason) } else { closeWaiters.append(cont) }
    }

    /// Fails the waits whose tasks were cancelled; a cancelled connect abandons the handshake.
    func sweepCancelled() {
        func sweep<T>(_ list: inout [Waiter<T>]) {
            let cancelled = list.filter { $0.isCancelled }
            guard !cancelled.isEmpty else { return }
            list.removeAll { $0.isCancelled }
            for w in cancelled { w.resume(throwing: CancellationError()) }
        }
        sweep(&acceptBidiWaiters)
        sweep(&acceptUniWaiters)
        sweep(&openBidiWaiters)
        sweep(&openUniWaiters)
        sweep(&datagramWaiters)
        if let waiter = connectWaiter, waiter.isCancelled {
            connectWaiter = nil
            waiter.resume(throwing: CancellationError())
            closeLocally(code: 0, reason: "connect cancelled", now: cquic_timestamp())
        }
    }

    // MARK: streams

    private func isBidi(_ id: Int64) -> Bool { id & 2 == 0 }

    func openStream(bidi: Bool, _ cont: Waiter<StreamCore>) {
        if let closeReason { cont.resume(throwing: TransportError.connectionClosed(closeReason)); return }
        guard let conn else { cont.resume(throwing: TransportError.connectionClosed(.reset)); return }
        var id: Int64 = 0
        var cStream: OpaquePointer?
        let rc = cquic_stream_open(conn, bidi ? 1 : 0, &id, &cStream)
        if rc == CQUIC_OK, let cStream {
            let stream = StreamCore(id: id, connection: self, cStream: cStream, canSend: true, canReceive: bidi)
            streams[id] = stream
            cont.resume(returning: stream)
        } else if rc == CQUIC_ERR_BLOCKED {
            // Suspend until the peer raises MAX_STREAMS.
            if cont.isCancelled { cont.resume(throwing: CancellationError()) }
            else if bidi { openBidiWaiters.append(cont) } else { openUniWaiters.append(cont) }
        } else {
            cont.resume(throwing: TransportError.setup("cannot open stream (code \(rc))"))
        }
    }

    func acceptStream(bidi: Bool, _ cont: Waiter<StreamCore>) {
        if bidi, !incomingBidi.isEmpty { cont.resume(returning: incomingBidi.removeFirst()); return }
        if !bidi, !incomingUni.isEmpty { cont.resume(returning: incomingUni.removeFirst()); return }
        if let closeReason { cont.resume(throwing: TransportError.connectionClosed(closeReason)); return }
        if cont.isCancelled { cont.resume(throwing: CancellationError()) }
        else if bidi { acceptBidiWaiters.append(cont) } else { acceptUniWaiters.append(cont) }
    }

    func credit(stream id: Int64, bytes: Int) {
        guard bytes > 0, closeReason == nil else { return }
        pendingCredit[id, default: 0] += bytes
        markDirty()
    }

    // MARK: datagrams

    func sendDatagram(_ data: [UInt8], _ cont: CheckedContinuation<Void, Error>) {
        if let closeReason { cont.resume(throwing: TransportError.connectionClosed(closeReason)); return }
        guard let conn else { cont.resume(throwing: TransportError.connectionClosed(.reset)); return }
        let rc = data.withUnsafeBufferPointer { cquic_conn_send_datagram(conn, $0.baseAddress, $0.count) }
        switch rc {
        case CQUIC_OK, CQUIC_ERR_BLOCKED:
            // A full queue drops the datagram: datagrams are unreliable by contract.
            markDirty()
            cont.resume()
        case CQUIC_ERR_TOO_LARGE:
            cont.resume(throwing: TransportError.datagramTooLarge(size: data.count, max: cquic_conn_max_datagram_payload(conn)))
        case CQUIC_ERR_UNSUPPORTED:
            cont.resume(throwing: TransportError.datagramsUnsupported)
        default:
            cont.resume(throwing: TransportError.connectionClosed(closeReason ?? .reset))
        }
    }

    func receiveDatagram(_ cont: Waiter<[UInt8]>) {
        if !datagrams.isEmpty { cont.resume(returning: datagrams.removeFirst()); return }
        if let closeReason { cont.resume(throwing: TransportError.connectionClosed(closeReason)); return }
        if cont.isCancelled { cont.resume(throwing: CancellationError()) } else { datagramWaiters.append(cont) }
    }

    var maxDatagramPayload: Int {
        guard let conn else { return 0 }
        return cquic_conn_max_datagram_payload(conn)
    }

    // MARK: C callbacks

    fileprivate func onHandshakeCompleted() {
        guard let conn, let key = cquic_conn_peer_key(conn) else { return }
        let keyBytes = Array(UnsafeBufferPointer(start: key, count: 32))
        guard let id = try? EndpointId(bytes: keyBytes) else {
            logger?.warning("peer presented an invalid Ed25519 key \(Hex.encode(keyBytes))")
            return
        }
        remoteID = id
        var alpnBuffer = [UInt8](repeating: 0, count: 256)
        let n = cquic_conn_alpn(conn, &alpnBuffer, alpnBuffer.count)
        alpn = String(decoding: alpnBuffer.prefix(n), as: UTF8.self)
        var storage = sockaddr_storage()
        let length = cquic_conn_remote_addr(conn, &storage)
        remoteAddress = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress(storage: $0, length: length) }
        }
        let connection = Connection(core: self, remoteID: id, alpn: alpn, remoteAddress: remoteAddress)
        if isClient {
            if let waiter = connectWaiter {
                connectWaiter = nil
                waiter.resume(returning: connection)
            }
        } else if let handler = endpoint.router.handlers[alpn] {
            logger?.debug("accepted \(alpn) connection from \(id.hex)")
            Task { await handler.accept(QUICPeerConnection(connection)) }
        }
    }

    fileprivate func onStreamOpened(id: Int64, cStream: OpaquePointer) {
        let bidi = isBidi(id)
        let stream = StreamCore(id: id, connection: self, cStream: cStream, canSend: bidi, canReceive: true)
        streams[id] = stream
        if bidi {
            if acceptBidiWaiters.isEmpty { incomingBidi.append(stream) } else { acceptBidiWaiters.removeFirst().resume(returning: stream) }
        } else {
            if acceptUniWaiters.isEmpty { incomingUni.append(stream) } else { acceptUniWaiters.removeFirst().resume(returning: stream) }
        }
    }

    fileprivate func onStreamsAvailable(bidi: Bool) {
        guard let conn else { return }
        while cquic_conn_streams_left(conn, bidi ? 1 : 0) > 0 {
            let waiter: Waiter<StreamCore>
            if bidi {
                guard !openBidiWaiters.isEmpty else { return }
                waiter = openBidiWaiters.removeFirst()
            } else {
                guard !openUniWaiters.isEmpty else { return }
                waiter = openUniWaiters.removeFirst()
            }
            openStream(bidi: bidi, waiter)
        }
    }

    fileprivate func onDatagram(_ data: [UInt8]) {
        if !datagramWaiters.isEmpty {
            datagramWaiters.removeFirst().resume(returning: data)
            return
        }
        datagrams.append(data)
        if datagrams.count > endpoint.config.datagramReceiveQueue {
            datagrams.removeFirst()
            droppedDatagrams += 1
        }
    }

    fileprivate func onCIDAdded(_ cid: ConnectionIDKey) {
        cids.insert(cid)
        endpoint.register(cid: cid, for: self)
    }

    fileprivate func onCIDRemoved(_ cid: ConnectionIDKey) {
        cids.remove(cid)
        endpoint.unregister(cid: cid, for: self)
    }

    fileprivate func onStreamClosed(id: Int64, code: UInt64?) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.closed(code: code)
    }

    func makeCallbacks() -> cquic_callbacks {
        var cb = cquic_callbacks()
        cb.ctx = Unmanaged.passUnretained(self).toOpaque()
        cb.send_packet = { ctx, data, length, addr, addrLength in
            let core = Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue()
            return core.endpoint.send(data!, length, to: addr!, addrLength)
        }
        cb.send_segments = { ctx, data, length, segment, addr, addrLength in
            let core = Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue()
            return core.endpoint.sendSegments(data!, length, segment: segment, to: addr!, addrLength)
        }
        cb.handshake_completed = { ctx in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().onHandshakeCompleted()
        }
        cb.stream_opened = { ctx, id, stream in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().onStreamOpened(id: id, cStream: stream!)
        }
        cb.stream_data = { ctx, id, data, length, fin in
            let core = Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue()
            let bytes = length > 0 ? Array(UnsafeBufferPointer(start: data, count: length)) : []
            core.streams[id]?.received(bytes, fin: fin != 0)
        }
        cb.stream_reset = { ctx, id, code in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().streams[id]?.peerReset(code: code)
        }
        cb.stream_stop_sending = { ctx, id, code in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().streams[id]?.peerStopped(code: code)
        }
        cb.stream_acked = { ctx, id, buffered in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().streams[id]?.acked(buffered: buffered)
        }
        cb.stream_closed = { ctx, id, code, hasCode in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().onStreamClosed(id: id, code: hasCode != 0 ? code : nil)
        }
        cb.streams_available = { ctx, bidi in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().onStreamsAvailable(bidi: bidi != 0)
        }
        cb.datagram = { ctx, data, length in
            let bytes = length > 0 ? Array(UnsafeBufferPointer(start: data, count: length)) : []
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().onDatagram(bytes)
        }
        cb.cid_added = { ctx, cid, length in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().onCIDAdded(ConnectionIDKey(cid!, length))
        }
        cb.cid_removed = { ctx, cid, length in
            Unmanaged<ConnectionCore>.fromOpaque(ctx!).takeUnretainedValue().onCIDRemoved(ConnectionIDKey(cid!, length))
        }
        return cb
    }
}

/// One stream's state, confined to the network thread like its connection.
final class StreamCore: @unchecked Sendable {
    let id: Int64
    let connection: ConnectionCore
    private var cStream: OpaquePointer?
    let canSend: Bool
    let canReceive: Bool

    // receive side
    private var chunks: [[UInt8]] = []
    private var chunkIndex = 0
    private var chunkOffset = 0
    private var receivedBuffered = 0
    private var receivedFin = false
    private var resetByPeer: UInt64?
    private var stoppedLocally = false
    private var readWaiter: (max: Int, cont: Waiter<[UInt8]?>)?

    // send side
    private var sendBuffered: UInt64 = 0
    private var finished = false
    private var resetLocally = false
    private var stoppedByPeer: UInt64?
    private var writeWaiter: (data: [UInt8], offset: Int, cont: Waiter<Void>)? {
        didSet { writeRemaining = writeWaiter.map { $0.data.count - $0.offset } ?? 0 }
    }
    /// Bytes of the waiting write not yet handed to C; read per ACK without copying the waiter.
    private var writeRemaining = 0
    private var finishWaiters: [CheckedContinuation<Void, Error>] = []
    private var connectionError: TransportError?
    private var isClosed = false
    // `SendStream.enqueue`, read on any thread: bytes in the C buffer, bytes submitted but not yet
    // there, and whether the send side is over.
    let bufferedShared = Atomic<Int>(0)
    let enqueuedPending = Atomic<Int>(0)
    let sendClosed = Atomic<Bool>(false)

    init(id: Int64, connection: ConnectionCore, cStream: OpaquePointer, canSend: Bool, canReceive: Bool) {
        self.id = id
        self.connection = connection
        self.cStream = cStream
        self.canSend = canSend
        self.canReceive = canReceive
    }

    // MARK: application side (network thread)

    func write(_ data: [UInt8], _ cont: Waiter<Void>) {
        if let error = writeError { cont.resume(throwing: error); return }
        if data.isEmpty { cont.resume(); return }
        writeWaiter = (data, 0, cont)
        pumpWrite()
        sweepCancelled()
    }

    /// `SendStream.enqueue`'s bytes, on the network thread: into the C buffer unless the send side
    /// is over (the bytes are then dropped, as a write would have failed).
    func enqueueWrite(_ data: [UInt8]) {
        enqueuedPending.subtract(data.count, ordering: .relaxed)
        guard writeError == nil, !finished, !resetLocally, stoppedByPeer == nil, let conn = connection.conn, let cStream else {
            sendClosed.store(true, ordering: .releasing)
            return
        }
        let rc = data.withUnsafeBufferPointer { cquic_stream_send(conn, cStream, $0.baseAddress!, data.count, 0) }
        guard rc == CQUIC_OK else {
            sendClosed.store(true, ordering: .releasing)
            return
        }
        sendBuffered = cquic_stream_buffered(cStream)
        bufferedShared.store(Int(sendBuffered), ordering: .relaxed)
        connection.markDirty()
    }

    func finish(_ cont: CheckedContinuation<Void, Error>) {
        if let error = writeError { cont.resume(throwing: error); return }
        // A write still waiting for buffer space goes first; FIN follows its last byte.
        if writeWaiter != nil { finishWaiters.append(cont); return }
        guard let conn = connection.conn, let cStream else { cont.resume(throwing: TransportError.streamFinished); return }
        finished = true
        sendClosed.store(true, ordering: .releasing)
        _ = cquic_stream_send(conn, cStream, nil, 0, 1)
        connection.markDirty()
        cont.resume()
    }

    /// The application dropped its SendStream: finish what was written.
    func sendHalfDropped() {
        guard canSend, !finished, !resetLocally, writeWaiter == nil, let conn = connection.conn, let cStream else { return }
        finished = true
        _ = cquic_stream_send(conn, cStream, nil, 0, 1)
        connection.markDirty()
    }

    /// The application dropped its ReceiveStream before the end: tell the peer to stop.
    func receiveHalfDropped() {
        guard canReceive, !receivedFin, resetByPeer == nil, !isClosed else { return }
        stopSending(code: 0)
    }

    func reset(code: UInt64) {
        guard let conn = connection.conn, let cStream, !finished || sendBuffered > 0, !resetLocally else { return }
        resetLocally = true
        sendClosed.store(true, ordering: .releasing)
        _ = cquic_stream_reset(conn, cStream, code)
        failWriter(TransportError.streamFinished)
        connection.markDirty()
    }

    func stopSending(code: UInt64) {
        guard let conn = connection.conn, let cStream, !stoppedLocally else { return }
        stoppedLocally = true
        _ = cquic_stream_stop_sending(conn, cStream, code)
        connection.markDirty()
    }

    func read(max: Int, _ cont: Waiter<[UInt8]?>) {
        if receivedBuffered > 0 { cont.resume(returning: take(max)); return }
        if let code = resetByPeer { cont.resume(throwing: TransportError.streamReset(code: code)); return }
        if receivedFin || stoppedLocally { cont.resume(returning: nil); return }
        if let connectionError { cont.resume(throwing: connectionError); return }
        if isClosed { cont.resume(returning: nil); return }
        if cont.isCancelled { cont.resume(throwing: CancellationError()) } else { readWaiter = (max, cont) }
    }

    /// Fails the waits whose tasks were cancelled (bytes already buffered stay queued).
    func sweepCancelled() {
        if let waiter = readWaiter, waiter.cont.isCancelled {
            readWaiter = nil
            waiter.cont.resume(throwing: CancellationError())
        }
        if let waiter = writeWaiter, waiter.cont.isCancelled {
            writeWaiter = nil
            waiter.cont.resume(throwing: CancellationError())
            let pendingFinishes = finishWaiters
            finishWaiters = []
            for f in pendingFinishes { f.resume(throwing: CancellationError()) }
        }
    }

    private var writeError: TransportError? {
        if let code = stoppedByPeer { return .streamStopped(code: code) }
        if finished || resetLocally { return .streamFinished }
        if let connectionError { return connectionError }
        if cStream == nil { return .streamFinished }
        return nil
    }

    private func pumpWrite() {
        guard let waiter = writeWaiter else { return }
        if let error = writeError { failWriter(error); return }
        guard let conn = connection.conn, let cStream else { failWriter(.streamFinished); return }
        let limit = UInt64(connection.endpoint.config.streamSendBuffer)
        var offset = waiter.offset
        while offset < waiter.data.count {
            let held = cquic_stream_buffered(cStream)
            guard held < limit else { break }
            let n = min(Int(limit - held), waiter.data.count - offset, 256 * 1024)
            let rc = waiter.data.withUnsafeBufferPointer { cquic_stream_send(conn, cStream, $0.baseAddress! + offset, n, 0) }
            guard rc == CQUIC_OK else { failWriter(.streamFinished); return }
            offset += n
            connection.markDirty()
        }
        sendBuffered = cquic_stream_buffered(cStream)
        if offset == waiter.data.count {
            writeWaiter = nil
            waiter.cont.resume()
            let pendingFinishes = finishWaiters
            finishWaiters = []
            for f in pendingFinishes { finish(f) }
        } else {
            writeWaiter = (waiter.data, offset, waiter.cont)
        }
    }

    private func failWriter(_ error: TransportError) {
        sendClosed.store(true, ordering: .releasing)
        if let waiter = writeWaiter {
            writeWaiter = nil
            waiter.cont.resume(throwing: error)
        }
        let pendingFinishes = finishWaiters
        finishWaiters = []
        for f in pendingFinishes { f.resume(throwing: error) }
    }

    private func take(_ max: Int) -> [UInt8] {
        var out: [UInt8] = []
        let want = Swift.min(max, receivedBuffered)
        out.reserveCapacity(want)
        while out.count < want {
            let chunk = chunks[chunkIndex]
            let n = Swift.min(chunk.count - chunkOffset, want - out.count)
            out.append(contentsOf: chunk[chunkOffset..<chunkOffset + n])
            chunkOffset += n
            if chunkOffset == chunk.count {
                chunkIndex += 1
                chunkOffset = 0
            }
        }
        if chunkIndex == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            chunkIndex = 0
        } else if chunkIndex > 64 {
            chunks.removeFirst(chunkIndex)
            chunkIndex = 0
        }
        receivedBuffered -= want
        // Flow-control credit goes back only now that the application has the bytes.
        connection.credit(stream: id, bytes: want)
        return out
    }

    private func serveReader() {
        guard let waiter = readWaiter else { return }
        if receivedBuffered > 0 {
            readWaiter = nil
            waiter.cont.resume(returning: take(waiter.max))
        } else if let code = resetByPeer {
            readWaiter = nil
            waiter.cont.resume(throwing: TransportError.streamReset(code: code))
        } else if receivedFin || isClosed {
            readWaiter = nil
            waiter.cont.resume(returning: nil)
        } else if let connectionError {
            readWaiter = nil
            waiter.cont.resume(throwing: connectionError)
        }
    }

    // MARK: events from C

    func received(_ bytes: [UInt8], fin: Bool) {
        if stoppedLocally {
            // Nobody will read it: return the credit straight away.
            connection.credit(stream: id, bytes: bytes.count)
        } else if !bytes.isEmpty {
            chunks.append(bytes)
            receivedBuffered += bytes.count
        }
        if fin { receivedFin = true }
        serveReader()
    }

    func peerReset(code: UInt64) {
        resetByPeer = code
        serveReader()
    }

    func peerStopped(code: UInt64) {
        stoppedByPeer = code
        failWriter(.streamStopped(code: code))
    }

    func acked(buffered: UInt64) {
        sendBuffered = buffered
        bufferedShared.store(Int(buffered), ordering: .relaxed)
        // Top the C buffer up in large pieces, not after every ACK: each refill is a malloc'd
        // chunk plus a scatter entry ngtcp2 walks per packet, so ACK-sized refills cost CPU.
        guard writeRemaining > 0 else { return }
        let limit = UInt64(connection.endpoint.config.streamSendBuffer)
        let free = limit > buffered ? limit - buffered : 0
        guard free >= min(limit / 4, UInt64(writeRemaining)) || writeError != nil else { return }
        pumpWrite()
    }

    func closed(code: UInt64?) {
        isClosed = true
        sendClosed.store(true, ordering: .releasing)
        cStream = nil
        if writeWaiter != nil { failWriter(stoppedByPeer.map { .streamStopped(code: $0) } ?? .streamFinished) }
        serveReader()
    }

    func connectionClosed(_ error: TransportError) {
        connectionError = error
        cStream = nil
        failWriter(error)
        serveReader()
    }
}

/// A suspended caller: its continuation plus the flag its task's cancellation handler raises.
/// Only the network thread resumes it, so it is resumed exactly once.
struct Waiter<T: Sendable>: Sendable {
    let continuation: CheckedContinuation<T, Error>
    let flag: CancelFlag

    var isCancelled: Bool { flag.isSet }
    func resume(returning value: T) { continuation.resume(returning: value) }
    func resume(throwing error: Error) { continuation.resume(throwing: error) }
}

extension Waiter where T == Void {
    func resume() { continuation.resume(returning: ()) }
}

final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}
