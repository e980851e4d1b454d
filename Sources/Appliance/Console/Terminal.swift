#if canImport(Glibc)
import Glibc
#endif

/// Raw-mode terminal handling (termios) for the admin console and PIN prompts.
struct Terminal {
    let inputFD: Int32
    let outputFD: Int32

    var isTTY: Bool { isatty(inputFD) == 1 }

    /// Switches `inputFD` to raw mode (no echo, no line buffering, signals still generated for ^C? no:
    /// ISIG off so Ctrl-C reaches the editor), returning a value that restores the old settings.
    func enterRawMode() -> termios? {
        var original = termios()
        guard tcgetattr(inputFD, &original) == 0 else { return nil }
        var raw = original
        raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        raw.c_cflag |= tcflag_t(CS8)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(inputFD, TCSAFLUSH, &raw)
        return original
    }

    func restore(_ settings: termios) {
        var copy = settings
        tcsetattr(inputFD, TCSAFLUSH, &copy)
    }

    func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(outputFD, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 { if errno == EINTR { continue }; return }
            offset += n
        }
        bytes.removeAll()
    }

    /// Reads one byte, waiting at most `timeoutMillis` (-1: forever). nil on timeout; throws at EOF.
    func readByte(timeoutMillis: Int32) throws -> UInt8? {
        var pfd = pollfd(fd: inputFD, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&pfd, 1, timeoutMillis)
            if ready < 0 { if errno == EINTR { continue }; throw CommandFailure("poll failed on the console") }
            if ready == 0 { return nil }
            var byte: UInt8 = 0
            let n = read(inputFD, &byte, 1)
            if n == 1 { return byte }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            throw CommandFailure("console input closed")
        }
    }

    /// Prompts on stdout/stdin and reads a line without echo (for `set-pin`).
    static func readSecretLine(prompt: String) throws -> String {
        let terminal = Terminal(inputFD: 0, outputFD: 1)
        terminal.write(prompt)
        let saved = terminal.enterRawMode()
        defer {
            if let saved { terminal.restore(saved) }
            terminal.write("\n")
        }
        var bytes: [UInt8] = []
        while let byte = try terminal.readByte(timeoutMillis: -1) {
            switch byte {
            case 0x0d, 0x0a: return String(decoding: bytes, as: UTF8.self)
            case 0x03, 0x04: throw CommandFailure("cancelled")
            case 0x7f, 0x08: if !bytes.isEmpty { bytes.removeLast() }
            default: if byte >= 0x20 { bytes.append(byte) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
