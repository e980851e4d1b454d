import Foundation
import Synchronization

/// Which real implementation a peer process runs.
public enum IrohPeerKind: Sendable {
    /// PyPI iroh==1.2.0 (Rust iroh 1.4.1, noq 1.4) in venv-peers.
    case iroh
    /// aster-rpc 0.1.2 (Rust iroh 0.97, noq 0.17) in venv-aster: the version the app pins.
    case aster

    var python: String { self == .iroh ? PythonPeers.peersPython : PythonPeers.asterPython }
    var script: String { self == .iroh ? IrohPeerScripts.iroh : IrohPeerScripts.aster }
}

public struct IrohPeerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A real iroh endpoint in a child Python process, bound to 127.0.0.1 with relays, discovery and
/// port mapping off. It prints `{"id","addr","ticket"}` first, then answers one line per command
/// ("ok ..." / "err ...") and reports asynchronous happenings as "event ..." lines.
/// Only ever run inside a loopback-only network namespace (see `NetworkIsolation.assertLoopbackOnly`).
public final class IrohPeer: @unchecked Sendable {
    public let id: String
    public let address: String
    public let ticket: String
    private let process: Subprocess
    private let input: FileHandle
    private let replies = LineQueue()
    private let events = LineQueue()
    private let stderrBuffer = LockedBytes()

    /// mode "server" echoes bidi, uni and datagrams on `alpns`; "client" dials on command.
    public init(_ kind: IrohPeerKind, mode: String, alpns: [String] = [], seedHex: String? = nil,
                environment: [String: String] = [:]) async throws {
        try NetworkIsolation.assertLoopbackOnly()
        guard FileManager.default.isExecutableFile(atPath: kind.python) else {
            throw IrohPeerError("peer environment missing: \(kind.python) (scripts/setup installs it)")
        }
        var env = ProcessInfo.processInfo.environment
        if let seedHex { env["PEER_SEED"] = seedHex }
        env["RUST_LOG"] = env["PEER_RUST_LOG"] ?? "error"
        for (key, value) in environment { env[key] = value }
        let process = try Subprocess(executable: kind.python, arguments: ["-u", "-c", kind.script, mode] + alpns,
                                     environment: env, stdinPipe: true)
        self.process = process
        input = process.stdinHandle()
        let replies = self.replies, events = self.events
        let out = process.stdoutHandle()
        Thread {
            var pending: [UInt8] = []
            while true {
                let data = out.availableData
                if data.isEmpty { break }
                pending += data
                while let nl = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeSubrange(...nl)
                    if line.hasPrefix("event ") { events.push(line) } else { replies.push(line) }
                }
            }
            replies.close()
            events.close()
        }.start()
        let err = process.stderrHandle()
        let stderrBuffer = self.stderrBuffer
        Thread {
            while true {
                let data = err.availableData
                if data.isEmpty { break }
                stderrBuffer.append(data)
            }
        }.start()
        guard let first = await replies.next(timeout: .seconds(30)),
              let json = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
              let id = json["id"] as? String, let address = json["addr"] as? String else {
            process.kill()
            throw IrohPeerError("peer did not start: \(String(decoding: stderrBuffer.bytes, as: UTF8.self))")
        }
        self.id = id
        self.address = address
        ticket = json["ticket"] as? String ?? ""
    }

    deinit { process.kill() }

    /// Sends one command line and returns its reply line (throws on "err" or timeout).
    @discardableResult
    public func command(_ line: String, timeout: Duration = .seconds(60)) async throws -> [String] {
        input.write(Data((line + "\n").utf8))
        guard let reply = await replies.next(timeout: timeout) else {
            throw IrohPeerError("no reply to '\(line.prefix(80))' within \(timeout); stderr: \(stderrText.suffix(2000))")
        }
        let words = reply.split(separator: " ").map(String.init)
        guard words.first == "ok" else { throw IrohPeerError("peer replied '\(reply)' to '\(line.prefix(80))'") }
        return Array(words.dropFirst())
    }

    /// Sends a command without waiting for its reply (read it later with `nextReply`).
    public func sendLine(_ line: String) {
        input.write(Data((line + "\n").utf8))
    }

    public func nextReply(timeout: Duration = .seconds(60)) async -> String? {
        await replies.next(timeout: timeout)
    }

    /// The next "event ..." line (without the prefix), or nil after `timeout`.
    public func nextEvent(timeout: Duration = .seconds(30)) async -> String? {
        guard let line = await events.next(timeout: timeout) else { return nil }
        return String(line.dropFirst("event ".count))
    }

    /// Waits for an event starting with `prefix`, skipping others.
    public func waitForEvent(_ prefix: String, timeout: Duration = .seconds(30)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let event = await nextEvent(timeout: deadline - ContinuousClock.now) else { return nil }
            if event.hasPrefix(prefix) { return event }
        }
        return nil
    }

    public var stderrText: String { String(decoding: stderrBuffer.bytes, as: UTF8.self) }

    /// SIGKILL: the peer vanishes without closing anything.
    public func kill() { process.kill() }

    /// Asks the peer to close its endpoint and exit.
    public func stop() {
        if process.isRunning {
            input.write(Data("quit\n".utf8))
            if !process.wait(seconds: 5) { process.kill() }
        }
    }
}

final class LockedBytes: Sendable {
    private let storage = Mutex<[UInt8]>([])
    func append(_ data: Data) { storage.withLock { $0 += data } }
    var bytes: [UInt8] { storage.withLock { $0 } }
}

/// Lines from a reader thread to async consumers, with timeouts.
final class LineQueue: Sendable {
    private struct State {
        var lines: [String] = []
        var waiter: (id: Int, cont: CheckedContinuation<String?, Never>)?
        var nextID = 0
        var closed = false
    }
    private let state = Mutex(State())

    func push(_ line: String) {
        let waiter = state.withLock { s -> CheckedContinuation<String?, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w.cont
            }
            s.lines.append(line)
            return nil
        }
        waiter?.resume(returning: line)
    }

    func close() {
        let waiter = state.withLock { s -> CheckedContinuation<String?, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter?.cont
        }
        waiter?.resume(returning: nil)
    }

    func next(timeout: Duration) async -> String? {
        let id = state.withLock { s -> Int in s.nextID += 1; return s.nextID }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let waiter = self.state.withLock { s -> CheckedContinuation<String?, Never>? in
                guard let w = s.waiter, w.id == id else { return nil }
                s.waiter = nil
                return w.cont
            }
            waiter?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { (cont: CheckedContinuation<String?, Never>) in
            let immediate = state.withLock { s -> (Bool, String?) in
                if !s.lines.isEmpty { return (true, s.lines.removeFirst()) }
                if s.closed { return (true, nil) }
                s.waiter = (id, cont)
                return (false, nil)
            }
            if immediate.0 { cont.resume(returning: immediate.1) }
        }
    }
}

extension NetworkIsolation {
    /// Lets multicast (mDNS) work on the namespace's loopback: multicast flag plus a route for
    /// 224.0.0.0/4. Only inside an isolated namespace.
    public static func enableLoopbackMulticast() throws {
        try assertLoopbackOnly()
        for arguments in [["link", "set", "lo", "multicast", "on"], ["route", "replace", "224.0.0.0/4", "dev", "lo"]] {
            let result = try NamespaceCommand.run(["ip"] + arguments)
            guard result.status == 0 else { throw IrohPeerError("ip \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
        }
    }
}

enum IrohPeerScripts {
    static let iroh = #"""
# Real iroh peer for Proscenium's transport interop tests (PyPI iroh==1.2.0).
# argv: mode ("server" | "client") alpn [alpn...]. Prints one JSON line {"id","addr"} first,
# then answers line commands from stdin with one line each ("ok ..." / "err ...").
import asyncio, hashlib, json, os, sys, traceback
import iroh

MODE = sys.argv[1]
ALPNS = [a.encode() for a in sys.argv[2:]]
LIMIT = 64 << 20

def out(*parts):
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()

def pattern(n, seed):
    # Deterministic bytes both sides can recompute: sha256 counter mode.
    buf, i = bytearray(), 0
    while len(buf) < n:
        buf += hashlib.sha256(f"{seed}:{i}".encode()).digest(); i += 1
    return bytes(buf[:n])

async def echo_bi(conn):
    while True:
        try:
            bi = await conn.accept_bi()
        except Exception:
            return
        async def one(bi):
            try:
                data = await bi.recv().read_to_end(LIMIT)
                await bi.send().write_all(data)
                await bi.send().finish()
            except Exception as e:
                out("event", "bidi-error", repr(e))
        asyncio.ensure_future(one(bi))

async def echo_uni(conn):
    while True:
        try:
            r = await conn.accept_uni()
        except Exception:
            return
        async def one(r):
            try:
                data = await r.read_to_end(LIMIT)
                s = await conn.open_uni()
                await s.write_all(data)
                await s.finish()
            except Exception as e:
                out("event", "uni-error", repr(e))
        asyncio.ensure_future(one(r))

async def echo_dgram(conn):
    while True:
        try:
            d = await conn.read_datagram()
            conn.send_datagram(d)
        except Exception:
            return

async def serve_conn(conn):
    out("event", "conn", conn.remote_id().to_bytes().hex(), conn.alpn().decode())
    tasks = [asyncio.ensure_future(f(conn)) for f in (echo_bi, echo_uni, echo_dgram)]
    reason = await conn.closed()
    out("event", "closed", json.dumps(str(reason)))
    for t in tasks: t.cancel()

async def accept_loop(ep):
    while True:
        inc = await ep.accept_next()
        if inc is None:
            return
        async def one(inc):
            try:
                conn = await (await inc.accept()).connect()
                await serve_conn(conn)
            except Exception as e:
                out("event", "accept-error", json.dumps(str(e)))
        asyncio.ensure_future(one(inc))

async def main():
    seed = bytes.fromhex(os.environ["PEER_SEED"]) if os.environ.get("PEER_SEED") else None
    opts = iroh.EndpointOptions(preset=iroh.preset_minimal(), relay_mode=iroh.RelayMode.disabled(),
                                bind_addr="127.0.0.1:0", alpns=ALPNS if MODE == "server" else [], secret_key=seed)
    ep = await iroh.Endpoint.bind(opts)
    addrs = [a for a in ep.addr().direct_addresses() if a.startswith("127.0.0.1:")]
    out(json.dumps({"id": ep.id().to_bytes().hex(), "addr": addrs[0] if addrs else "",
                    "ticket": str(iroh.EndpointTicket.from_addr(ep.addr()))}))
    if MODE == "server":
        asyncio.ensure_future(accept_loop(ep))
    loop = asyncio.get_running_loop()
    conn = None
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "quit":
                break
            elif cmd[0] == "connect":          # connect <id hex> <addr> <alpn>
                addr = iroh.EndpointAddr(iroh.EndpointId.from_string(cmd[1]), None, [cmd[2]])
                conn = await asyncio.wait_for(ep.connect(addr, cmd[3].encode()), 20)
                out("ok", conn.remote_id().to_bytes().hex(), conn.alpn().decode())
            elif cmd[0] == "bidi":             # bidi <hex>  -> ok <echo hex>
                bi = await conn.open_bi()
                await bi.send().write_all(bytes.fromhex(cmd[1]) if len(cmd) > 1 else b"")
                await bi.send().finish()
                data = await bi.recv().read_to_end(LIMIT)
                out("ok", data.hex() or "-")
            elif cmd[0] == "uni":              # uni <hex> -> ok <echo hex> (peer echoes on a new uni stream)
                s = await conn.open_uni()
                await s.write_all(bytes.fromhex(cmd[1]))
                await s.finish()
                r = await conn.accept_uni()
                out("ok", (await r.read_to_end(LIMIT)).hex())
            elif cmd[0] == "dgram":            # dgram <hex> -> ok <echo hex>
                conn.send_datagram(bytes.fromhex(cmd[1]))
                d = await asyncio.wait_for(conn.read_datagram(), 5)
                out("ok", d.hex())
            elif cmd[0] == "big":              # big <n> -> ok <sha256 of echo>
                n = int(cmd[1])
                data = pattern(n, "big")
                bi = await conn.open_bi()
                async def send():
                    await bi.send().write_all(data)
                    await bi.send().finish()
                st = asyncio.ensure_future(send())
                echo = await bi.recv().read_to_end(LIMIT)
                await st
                out("ok", hashlib.sha256(echo).hexdigest(), len(echo))
            elif cmd[0] == "many":             # many <n>: n concurrent bidi echoes -> ok <n matched>
                n = int(cmd[1])
                async def one(i):
                    bi = await conn.open_bi()
                    payload = f"stream-{i}".encode() * 10
                    await bi.send().write_all(payload)
                    await bi.send().finish()
                    return (await bi.recv().read_to_end(LIMIT)) == payload
                res = await asyncio.gather(*[one(i) for i in range(n)])
                out("ok", sum(1 for r in res if r))
            elif cmd[0] == "close":            # close <code> <reason>
                conn.close(int(cmd[1]), (cmd[2] if len(cmd) > 2 else "").encode())
                out("ok")
            elif cmd[0] == "closed":           # wait until the current connection closes
                reason = await conn.closed()
                out("ok", json.dumps(str(reason)))
            elif cmd[0] == "ticket":           # ticket <text> -> ok <id hex> <addrs...>
                t = iroh.EndpointTicket.from_string(cmd[1])
                a = t.endpoint_addr()
                out("ok", a.id().to_bytes().hex(), a.relay_url() or "-", *sorted(a.direct_addresses()))
            elif cmd[0] == "mkticket":         # mkticket <id hex> <relay|-> <addr...> -> ok <ticket>
                a = iroh.EndpointAddr(iroh.EndpointId.from_string(cmd[1]), None if cmd[2] == "-" else cmd[2], cmd[3:])
                out("ok", str(iroh.EndpointTicket.from_addr(a)))
            else:
                out("err", "unknown command", cmd[0])
        except Exception as e:
            out("err", json.dumps(f"{type(e).__name__}: {e}"))
    try:
        await asyncio.wait_for(ep.close(), 3)
    except Exception:
        pass
    os._exit(0)

asyncio.run(main())
"""#

    static let aster = #"""
# Real iroh 0.97 peer (aster-rpc 0.1.2) for Proscenium's transport interop tests. Same command
# protocol as the iroh 1.x peer. Native calls return futures: always wrap them in w().
import asyncio, hashlib, json, os, sys
import aster._aster as A

MODE = sys.argv[1]
ALPNS = [a.encode() for a in sys.argv[2:]]
LIMIT = 64 << 20

def out(*parts):
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()

async def w(x):
    if asyncio.isfuture(x) or asyncio.iscoroutine(x) or hasattr(x, "__await__"):
        return await asyncio.ensure_future(x)
    return x

def pattern(n, seed):
    buf, i = bytearray(), 0
    while len(buf) < n:
        buf += hashlib.sha256(f"{seed}:{i}".encode()).digest(); i += 1
    return bytes(buf[:n])

async def echo_bi(conn):
    while True:
        try:
            s, r = await w(conn.accept_bi())
        except Exception:
            return
        async def one(s, r):
            try:
                data = await w(r.read_to_end(LIMIT))
                await w(s.write_all(data)); await w(s.finish())
            except Exception as e:
                out("event", "bidi-error", repr(e))
        asyncio.ensure_future(one(s, r))

async def echo_uni(conn):
    while True:
        try:
            r = await w(conn.accept_uni())
        except Exception:
            return
        async def one(r):
            try:
                data = await w(r.read_to_end(LIMIT))
                s = await w(conn.open_uni())
                await w(s.write_all(data)); await w(s.finish())
            except Exception as e:
                out("event", "uni-error", repr(e))
        asyncio.ensure_future(one(r))

async def echo_dgram(conn):
    while True:
        try:
            d = await w(conn.read_datagram())
            await w(conn.send_datagram(d))
        except Exception:
            return

async def serve_conn(conn):
    out("event", "conn", conn.remote_id(), conn.connection_info().alpn.decode())
    tasks = [asyncio.ensure_future(f(conn)) for f in (echo_bi, echo_uni, echo_dgram)]
    reason = await w(conn.closed())
    out("event", "closed", json.dumps(str(reason)))
    for t in tasks: t.cancel()

async def accept_loop(ep):
    while True:
        try:
            conn = await w(ep.accept())
        except Exception as e:
            out("event", "accept-error", json.dumps(str(e)))
            await asyncio.sleep(0.05)
            continue
        asyncio.ensure_future(serve_conn(conn))

async def main():
    seed = bytes.fromhex(os.environ["PEER_SEED"]) if os.environ.get("PEER_SEED") else None
    cfg = A.EndpointConfig(alpns=ALPNS if MODE == "server" else [], relay_mode="disabled", secret_key=seed,
                           bind_addr="127.0.0.1:0", portmapper_config="disabled",
                           enable_local_discovery=bool(os.environ.get("PEER_MDNS")))
    ep = await w(A.create_endpoint_with_config(cfg))
    addrs = [a for a in ep.endpoint_addr_info().direct_addresses if a.startswith("127.0.0.1:")]
    out(json.dumps({"id": ep.endpoint_id(), "addr": addrs[0] if addrs else "", "ticket": ""}))
    if MODE == "server":
        asyncio.ensure_future(accept_loop(ep))
    loop = asyncio.get_running_loop()
    conn = None
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "quit":
                break
            elif cmd[0] == "connect":
                conn = await asyncio.wait_for(w(ep.connect_node_addr(A.NodeAddr(cmd[1], None, [cmd[2]]), cmd[3].encode())), 20)
                out("ok", conn.remote_id(), conn.connection_info().alpn.decode())
            elif cmd[0] == "connectid":        # connectid <id hex> <alpn>: address from discovery
                conn = await asyncio.wait_for(w(ep.connect(cmd[1], cmd[2].encode())), 25)
                out("ok", conn.remote_id(), conn.connection_info().alpn.decode())
            elif cmd[0] == "bidi":
                s, r = await w(conn.open_bi())
                await w(s.write_all(bytes.fromhex(cmd[1]) if len(cmd) > 1 else b"")); await w(s.finish())
                out("ok", (await w(r.read_to_end(LIMIT))).hex() or "-")
            elif cmd[0] == "uni":
                s = await w(conn.open_uni())
                await w(s.write_all(bytes.fromhex(cmd[1]))); await w(s.finish())
                r = await w(conn.accept_uni())
                out("ok", (await w(r.read_to_end(LIMIT))).hex())
            elif cmd[0] == "dgram":
                await w(conn.send_datagram(bytes.fromhex(cmd[1])))
                d = await asyncio.wait_for(w(conn.read_datagram()), 5)
                out("ok", bytes(d).hex())
            elif cmd[0] == "big":
                n = int(cmd[1])
                data = pattern(n, "big")
                s, r = await w(conn.open_bi())
                async def send():
                    await w(s.write_all(data)); await w(s.finish())
                st = asyncio.ensure_future(send())
                echo = await w(r.read_to_end(LIMIT))
                await st
                out("ok", hashlib.sha256(echo).hexdigest(), len(echo))
            elif cmd[0] == "many":
                n = int(cmd[1])
                async def one(i):
                    s, r = await w(conn.open_bi())
                    payload = f"stream-{i}".encode() * 10
                    await w(s.write_all(payload)); await w(s.finish())
                    return (await w(r.read_to_end(LIMIT))) == payload
                res = await asyncio.gather(*[one(i) for i in range(n)])
                out("ok", sum(1 for r in res if r))
            elif cmd[0] == "close":
                await w(conn.close(int(cmd[1]), (cmd[2] if len(cmd) > 2 else "").encode()))
                out("ok")
            elif cmd[0] == "closed":
                out("ok", json.dumps(str(await w(conn.closed()))))
            else:
                out("err", "unknown command", cmd[0])
        except Exception as e:
            out("err", json.dumps(f"{type(e).__name__}: {e}"))
    os._exit(0)

asyncio.run(main())
"""#
}
