import Foundation
import Synchronization

/// A real iroh-gossip 0.97 peer (aster-rpc 0.1.2, spec aster-test-peer.md) driven over a line
/// protocol, for interop tests of `GossipService` once the QUIC transport can dial it.
///
/// Network safety: the aster endpoint always tries n0 DNS, so `start` refuses to run unless the
/// process is in a loopback-only namespace (`unshare -n sh -c 'ip link set lo up && swift test …'`).
/// Relay and port mapping are disabled in the script.
///
/// Line protocol (see the script header): `READY <id> <ip:port>` on start; commands `PEER <id>
/// <ip:port>` (teach an address: permanent, sends nothing), `JOIN [id,…]` (subscribe_and_join:
/// `JOINED` once a neighbour is up; with no ids it waits for someone to join), `BROADCAST <hex>`
/// (`SENT`), `QUIT` (`BYE`); events `RECEIVED <hex>`, `NEIGHBOR_UP <id>`, `NEIGHBOR_DOWN <id>`,
/// `LAGGED`, `CLOSED`, `ERROR <text>`.
///
/// Interop recipe for the later Swift↔aster test: start the aster peer with `JOIN` (no ids) and
/// wait ~0.3 s (its subscription must be registered before a Join arrives, or the Join is
/// dropped), then subscribe the Swift `GossipService` with the aster id as bootstrap and give the
/// dialer its `127.0.0.1:port`. For aster → Swift dialling, send `PEER <swift id> <swift addr>`
/// first. Payloads ≤ 4057 bytes; identical payloads are delivered once.
public final class AsterGossipPeer: @unchecked Sendable {
    /// Endpoint id (64 hex) and `127.0.0.1:port`, from the READY line.
    public private(set) var id = ""
    public private(set) var address = ""
    private let process: Subprocess
    private let stdinHandle: FileHandle
    private let reader: Thread
    private let box: LineBox

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts the peer for `topic` (32 bytes); `secretKey` (32 bytes) fixes its id.
    public static func start(topic: [UInt8], secretKey: [UInt8]? = nil, bind: String = "127.0.0.1:0",
                             python: String = PythonPeers.asterPython, timeoutSeconds: Double = 30) throws -> AsterGossipPeer {
        try NetworkIsolation.assertLoopbackOnly()
        let process = try Subprocess(executable: python, arguments: ["-c", script, hex(topic), secretKey.map(hex) ?? "-", bind],
                                     stdinPipe: true, stderr: .null)
        let peer = AsterGossipPeer(process: process, stdin: process.stdinHandle(), stdout: process.stdoutHandle())
        let ready = try peer.waitFor(prefix: "READY", timeoutSeconds: timeoutSeconds).split(separator: " ")
        guard ready.count == 3 else { throw Failure(description: "aster peer: bad READY line") }
        peer.id = String(ready[1])
        peer.address = String(ready[2])
        return peer
    }

    private init(process: Subprocess, stdin: FileHandle, stdout: FileHandle) {
        self.process = process
        self.stdinHandle = stdin
        let box = LineBox()
        self.box = box
        reader = Thread {
            var buffer = Data()
            while true {
                let chunk = stdout.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 10) {
                    box.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
            box.close()
        }
        reader.start()
    }

    public func send(_ line: String) {
        stdinHandle.write(Data((line + "\n").utf8))
    }

    /// The next output line starting with `prefix` (earlier lines are consumed).
    public func waitFor(prefix: String, timeoutSeconds: Double = 20) throws -> String {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if let line = box.pop() {
                if line.hasPrefix(prefix) { return line }
                if line.hasPrefix("ERROR") { throw Failure(description: "aster peer: \(line)") }
                continue
            }
            if box.isClosed { throw Failure(description: "aster peer exited while waiting for \(prefix)") }
            usleep(5000)
        }
        throw Failure(description: "aster peer: no \(prefix) within \(timeoutSeconds) s")
    }

    /// `RECEIVED` payload bytes.
    public func nextReceived(timeoutSeconds: Double = 20) throws -> [UInt8] {
        let line = try waitFor(prefix: "RECEIVED", timeoutSeconds: timeoutSeconds)
        return hexDecode(String(line.dropFirst("RECEIVED ".count)))
    }

    public func stop() {
        send("QUIT")
        _ = try? waitFor(prefix: "BYE", timeoutSeconds: 5)
        process.terminate()
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func hexDecode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex, let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) {
            out.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        return out
    }

    /// The Python side (runs with aster-rpc 0.1.2's interpreter).
    public static let script = #"""
# iroh-gossip 0.97 test peer (aster-rpc 0.1.2). Line protocol on stdin/stdout; run ONLY inside
# `unshare -n` (the endpoint always tries n0 DNS; relay and portmapper are disabled here).
#   argv: <topic hex (64)> [secret key hex (64) | -] [bind addr, default 127.0.0.1:0]
#   out:  READY <id hex> <ip:port>          then events:
#         JOINED | RECEIVED <hex> | NEIGHBOR_UP <id> | NEIGHBOR_DOWN <id> | LAGGED | CLOSED | SENT | ERROR <text>
#   in:   PEER <id hex> <ip:port>   remember where a peer is (permanent, sends no packets)
#         JOIN [<id hex>,...]       subscribe_and_join (returns JOINED once a neighbour is up)
#         BROADCAST <hex>           broadcast on the topic (SENT)
#         QUIT
import asyncio, base64, sys
import aster  # noqa: F401  (installs uvloop as the event loop policy)
from aster._aster import IrohNode, EndpointConfig, gossip_client, blobs_client

def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def varint(n):
    b = bytearray()
    while n >= 0x80:
        b.append((n & 0x7F) | 0x80)
        n >>= 7
    b.append(n)
    return bytes(b)

def socket_addr(text):
    host, port = text.rsplit(":", 1)
    return b"\x00" + bytes(int(x) for x in host.split(".")) + varint(int(port))

async def remember_peer(node, empty_hash_hex, id_hex, addr):
    # A blob ticket for a blob we hold ourselves: the binding adds the ticket's address to the
    # endpoint's memory lookup for good, and the download finishes locally.
    raw = (b"\x00" + bytes.fromhex(id_hex) + b"\x00" + varint(1) + socket_addr(addr) + b"\x00"
           + bytes.fromhex(empty_hash_hex))
    ticket = "blob" + base64.b32encode(raw).decode().lower().rstrip("=")
    await blobs_client(node).download_blob(ticket)

async def pump(handle):
    while True:
        try:
            kind, data = await handle.recv()
        except Exception:
            out("CLOSED")
            return
        if kind == "received":
            out("RECEIVED " + bytes(data).hex())
        elif kind == "neighbor_up":
            out("NEIGHBOR_UP " + bytes(data).decode())
        elif kind == "neighbor_down":
            out("NEIGHBOR_DOWN " + bytes(data).decode())
        elif kind == "lagged":
            out("LAGGED")

async def main():
    topic = bytes.fromhex(sys.argv[1])
    secret = bytes.fromhex(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    bind = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:0"
    cfg = EndpointConfig(alpns=[], relay_mode="disabled", secret_key=secret, bind_addr=bind,
                         portmapper_config="disabled")
    node = await IrohNode.memory_with_alpns([b"proscenium/gossip-test/0"], cfg)
    empty_hash = await blobs_client(node).add_bytes(b"")
    addrs = [a for a in node.node_addr_info().direct_addresses if a.startswith("127.")]
    out("READY %s %s" % (node.node_id(), addrs[0] if addrs else "-"))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    handle = None
    tasks = []

    async def join(peers):
        nonlocal handle
        try:
            handle = await asyncio.ensure_future(gossip_client(node).subscribe(topic, peers))
        except Exception as e:  # noqa: BLE001
            out("ERROR join: %s" % e)
            return
        out("JOINED")
        tasks.append(asyncio.ensure_future(pump(handle)))

    while True:
        line = (await reader.readline()).decode().strip()
        if not line:
            break
        cmd, _, rest = line.partition(" ")
        try:
            if cmd == "PEER":
                id_hex, addr = rest.split()
                await remember_peer(node, empty_hash, id_hex, addr)
                out("OK")
            elif cmd == "JOIN":
                peers = [p for p in rest.split(",") if p]
                tasks.append(asyncio.ensure_future(join(peers)))
            elif cmd == "BROADCAST":
                if handle is None:
                    out("ERROR not joined")
                else:
                    await handle.broadcast(bytes.fromhex(rest))
                    out("SENT")
            elif cmd == "QUIT":
                break
            else:
                out("ERROR unknown command " + cmd)
        except Exception as e:  # noqa: BLE001
            out("ERROR %s: %s" % (cmd, e))
    for t in tasks:
        t.cancel()
    await node.close()
    out("BYE")

asyncio.run(main())
"""#
}

/// Lines read by the reader thread.
final class LineBox: Sendable {
    private let state = Mutex<(lines: [String], closed: Bool)>(([], false))
    func append(_ line: String) { state.withLock { $0.lines.append(line) } }
    func close() { state.withLock { $0.closed = true } }
    func pop() -> String? { state.withLock { $0.lines.isEmpty ? nil : $0.lines.removeFirst() } }
    var isClosed: Bool { state.withLock { $0.closed && $0.lines.isEmpty } }
}
