import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One request/response exchange with a running node over `DIR/control.sock`.
/// Wire format: one JSON object per line each way.
///   request:  {"command": "status", "args": ["..."]}
///   response: {"ok": true, "text": "...", "data": {...}}  or  {"ok": false, "error": "..."}
struct ControlClient {
    let socketPath: String

    func send(command: String, arguments: [String], timeoutSeconds: Int = 10) throws -> ControlResponse {
        let fd = try UnixSocket.connect(path: socketPath)
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = JSONText.encode(["command": command, "args": arguments] as [String: Any]) + "\n"
        guard UnixSocket.writeAll(fd, Array(request.utf8)) else { throw CommandFailure("cannot send to \(socketPath)") }
        var reader = LineReader(fd: fd)
        guard let line = reader.nextLine() else { throw CommandFailure("the node closed the control connection without answering") }
        guard let response = ControlResponse(line: line) else { throw CommandFailure("malformed answer from the node: \(line)") }
        return response
    }
}

struct ControlResponse {
    let ok: Bool
    let text: String
    let data: Any
    let error: String?

    init(ok: Bool, text: String, data: Any, error: String?) {
        self.ok = ok
        self.text = text
        self.data = data
        self.error = error
    }

    init?(line: String) {
        guard let object = JSONText.decodeObject(line), let ok = object["ok"] as? Bool else { return nil }
        self.ok = ok
        text = object["text"] as? String ?? ""
        data = object["data"] ?? [String: Any]()
        error = object["error"] as? String
    }

    var line: String {
        if ok { return JSONText.encode(["ok": true, "text": text, "data": data] as [String: Any]) }
        return JSONText.encode(["ok": false, "error": error ?? "failed"] as [String: Any])
    }
}

/// Small helpers over AF_UNIX stream sockets.
enum UnixSocket {
    static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw CommandFailure("socket path too long (\(bytes.count) bytes, max \(capacity - 1)): \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return address
    }

    static func connect(path: String) throws -> Int32 {
        var address = try address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CommandFailure("socket(): \(String(cString: strerror(errno)))") }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CommandFailure("cannot connect to \(path): \(reason) (is the node running?)")
        }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; return false }
            offset += n
        }
        return true
    }
}

/// Buffered line reading from a file descriptor (lines up to 1 MiB).
struct LineReader {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(fd: Int32) { self.fd = fd }

    mutating func nextLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            if closed || buffer.count > 1 << 20 { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                closed = true
                if buffer.isEmpty { return nil }
                let line = String(decoding: buffer, as: UTF8.self)
                buffer.removeAll()
                return line
            }
            buffer += chunk[0..<n]
        }
    }
}
