import Core
import Synchronization

/// Keeps log lines and the console prompt apart when both go to the same terminal (the foreground
/// console on stdout): a log line first clears the prompt line, then the prompt — with what has been
/// typed so far — is drawn again below it. Console output and log lines never interleave mid-line.
final class PromptLine: Sendable {
    private let terminal: Terminal
    /// The prompt line currently on screen (as last drawn), nil when none is shown.
    private let shown = Mutex<String?>(nil)

    init(terminal: Terminal) { self.terminal = terminal }

    /// Writes console output; `prompt` is what is left on the current line afterwards (nil: nothing).
    func write(_ text: String, leaving prompt: String?) {
        shown.withLock { current in
            terminal.write(text)
            current = prompt
        }
    }

    /// Runs `writeLog` (which writes one log line) with the prompt moved out of its way.
    func aroundLog(_ writeLog: () -> Void) {
        shown.withLock { current in
            if current != nil { terminal.write("\r\u{1b}[K") }
            writeLog()
            if let current { terminal.write(current) }
        }
    }
}

/// A log sink that hands records to `inner` (Core's StreamLogSink) around the console prompt.
final class PromptAwareLogSink: LogSink {
    let inner: StreamLogSink
    let promptLine: PromptLine

    init(inner: StreamLogSink, promptLine: PromptLine) {
        self.inner = inner
        self.promptLine = promptLine
    }

    var minimumLevel: LogLevel { inner.minimumLevel }

    func write(_ record: LogRecord) {
        promptLine.aroundLog { inner.write(record) }
    }
}
