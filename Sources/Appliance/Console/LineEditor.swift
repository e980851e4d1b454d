/// A pure line editor: bytes from a raw-mode terminal in, editing actions out. Supports left/right,
/// Home/End, Backspace/Delete, Ctrl-A/E/U/K/W, history (Up/Down), tab completion via `completer`,
/// UTF-8 input. The console renders `buffer`/`cursor` after each `.redraw`.
struct LineEditor {
    enum Action: Equatable {
        case none
        case redraw
        case submit(String)
        /// Ctrl-C: the line was discarded.
        case cancel
        /// Ctrl-D on an empty line.
        case endOfInput
        case bell
        /// Several completions: list them, then redraw.
        case showCompletions([String])
    }

    /// Returns the candidates for the word being completed, given the words before it.
    typealias Completer = (_ previousWords: [String], _ partial: String) -> [String]

    private(set) var buffer: [Character] = []
    private(set) var cursor = 0
    private(set) var history: [String] = []
    let historyLimit: Int
    private var historyIndex: Int?
    private var draft: [Character] = []
    private var escape: [UInt8]?
    private var pendingUTF8: [UInt8] = []

    init(historyLimit: Int = 100) { self.historyLimit = historyLimit }

    var line: String { String(buffer) }

    mutating func feed(_ byte: UInt8, completer: Completer = { _, _ in [] }) -> Action {
        if var sequence = escape {
            sequence.append(byte)
            escape = sequence
            return handleEscape(sequence)
        }
        if !pendingUTF8.isEmpty || byte >= 0x80 {
            return feedUTF8(byte)
        }
        switch byte {
        case 0x1b: escape = []; return .none
        case 0x0d, 0x0a: return submit()
        case 0x01: return moveTo(0)                        // Ctrl-A
        case 0x05: return moveTo(buffer.count)             // Ctrl-E
        case 0x02: return moveTo(cursor - 1)               // Ctrl-B
        case 0x06: return moveTo(cursor + 1)               // Ctrl-F
        case 0x03:                                         // Ctrl-C
            buffer.removeAll(); cursor = 0; historyIndex = nil
            return .cancel
        case 0x04:                                         // Ctrl-D
            if buffer.isEmpty { return .endOfInput }
            return deleteForward()
        case 0x7f, 0x08:                                   // Backspace
            guard cursor > 0 else { return .bell }
            buffer.remove(at: cursor - 1)
            cursor -= 1
            return .redraw
        case 0x15:                                         // Ctrl-U: delete to start
            buffer.removeSubrange(0..<cursor); cursor = 0
            return .redraw
        case 0x0b:                                         // Ctrl-K: delete to end
            buffer.removeSubrange(cursor...); return .redraw
        case 0x17:                                         // Ctrl-W: delete previous word
            var start = cursor
            while start > 0 && buffer[start - 1] == " " { start -= 1 }
            while start > 0 && buffer[start - 1] != " " { start -= 1 }
            buffer.removeSubrange(start..<cursor); cursor = start
            return .redraw
        case 0x0c: return .redraw                          // Ctrl-L
        case 0x10: return recall(older: true)              // Ctrl-P
        case 0x0e: return recall(older: false)             // Ctrl-N
        case 0x09: return complete(completer)
        default:
            guard byte >= 0x20 else { return .none }
            insert(Character(Unicode.Scalar(byte)))
            return .redraw
        }
    }

    private mutating func feedUTF8(_ byte: UInt8) -> Action {
        pendingUTF8.append(byte)
        let lead = pendingUTF8[0]
        let expected = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        guard pendingUTF8.count >= expected else { return .none }
        let text = String(decoding: pendingUTF8, as: UTF8.self)
        pendingUTF8.removeAll()
        for character in text where !character.unicodeScalars.contains(where: { $0 == "\u{FFFD}" }) {
            insert(character)
        }
        return .redraw
    }

    private mutating func insert(_ character: Character) {
        buffer.insert(character, at: cursor)
        cursor += 1
    }

    private mutating func moveTo(_ position: Int) -> Action {
        let clamped = max(0, min(buffer.count, position))
        guard clamped != cursor else { return .none }
        cursor = clamped
        return .redraw
    }

    private mutating func deleteForward() -> Action {
        guard cursor < buffer.count else { return .bell }
        buffer.remove(at: cursor)
        return .redraw
    }

    /// CSI (`ESC [`) and SS3 (`ESC O`) sequences for the arrow, Home, End and Delete keys.
    private mutating func handleEscape(_ sequence: [UInt8]) -> Action {
        guard let first = sequence.first else { return .none }
        guard first == UInt8(ascii: "[") || first == UInt8(ascii: "O") else {
            escape = nil                                   // Alt-key or lone ESC: ignore
            return .none
        }
        guard sequence.count >= 2 else { return .none }
        let final = sequence[sequence.count - 1]
        if (0x30...0x3f).contains(final) && sequence.count < 6 { return .none }  // parameters continue
        escape = nil
        let parameter = String(decoding: sequence.dropFirst().dropLast(), as: UTF8.self)
        switch final {
        case UInt8(ascii: "A"): return recall(older: true)
        case UInt8(ascii: "B"): return recall(older: false)
        case UInt8(ascii: "C"): return moveTo(cursor + 1)
        case UInt8(ascii: "D"): return moveTo(cursor - 1)
        case UInt8(ascii: "H"): return moveTo(0)
        case UInt8(ascii: "F"): return moveTo(buffer.count)
        case UInt8(ascii: "~"):
            switch parameter {
            case "1", "7": return moveTo(0)
            case "4", "8": return moveTo(buffer.count)
            case "3": return deleteForward()
            default: return .none
            }
        default: return .none
        }
    }

    private mutating func submit() -> Action {
        let text = String(buffer)
        let trimmed = text.trimmingSpaces()
        if !trimmed.isEmpty && history.last != trimmed {
            history.append(trimmed)
            if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
        }
        buffer.removeAll()
        cursor = 0
        historyIndex = nil
        draft.removeAll()
        return .submit(text)
    }

    private mutating func recall(older: Bool) -> Action {
        guard !history.isEmpty else { return .bell }
        if older {
            let next: Int
            if let index = historyIndex {
                guard index > 0 else { return .bell }
                next = index - 1
            } else {
                draft = buffer
                next = history.count - 1
            }
            historyIndex = next
            buffer = Array(history[next])
        } else {
            guard let index = historyIndex else { return .bell }
            if index + 1 < history.count {
                historyIndex = index + 1
                buffer = Array(history[index + 1])
            } else {
                historyIndex = nil
                buffer = draft
            }
        }
        cursor = buffer.count
        return .redraw
    }

    private mutating func complete(_ completer: Completer) -> Action {
        let beforeCursor = String(buffer[0..<cursor])
        var words = beforeCursor.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let partial = beforeCursor.last == " " || beforeCursor.isEmpty ? "" : (words.popLast() ?? "")
        let candidates = completer(words, partial).filter { $0.hasPrefix(partial) }.sorted()
        guard !candidates.isEmpty else { return .bell }
        if candidates.count == 1 {
            let addition = String(candidates[0].dropFirst(partial.count)) + " "
            for character in addition { insert(character) }
            return .redraw
        }
        let common = candidates.dropFirst().reduce(candidates[0]) { prefix, candidate in
            String(zip(prefix, candidate).prefix { $0 == $1 }.map(\.0))
        }
        if common.count > partial.count {
            for character in common.dropFirst(partial.count) { insert(character) }
            return .redraw
        }
        return .showCompletions(candidates)
    }
}

/// Splits a console line into words; double or single quotes group words with spaces.
enum CommandLineWords {
    static func split(_ line: String) -> [String] {
        var words: [String] = [], current = "", quote: Character?, inWord = false
        for character in line {
            if let q = quote {
                if character == q { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
