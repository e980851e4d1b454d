/// A value in the node's configuration file: the TOML subset the node needs.
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case bool(Bool)
    case strings([String])

    /// TOML spelling, as `config get` prints it and the example file shows it.
    public var description: String {
        switch self {
        case .string(let s): return TOMLSubset.quote(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .strings(let list): return "[" + list.map(TOMLSubset.quote).joined(separator: ", ") + "]"
        }
    }

    /// Plain JSON-compatible form for `--json` answers.
    public var jsonValue: Any {
        switch self {
        case .string(let s): return s
        case .int(let i): return i
        case .bool(let b): return b
        case .strings(let list): return list
        }
    }

    var typeName: String {
        switch self {
        case .string: return "string"
        case .int: return "integer"
        case .bool: return "boolean"
        case .strings: return "array of strings"
        }
    }
}

/// One `key = value` line of a parsed file.
public struct TOMLEntry: Sendable, Equatable {
    public let section: String
    public let key: String
    public let value: ConfigValue
    public let line: Int
}

/// A syntax error, located by line.
public struct TOMLSyntaxError: Error, Equatable, CustomStringConvertible {
    public let line: Int
    public let message: String
    public var description: String { "line \(line): \(message)" }
}

/// Parser for the TOML subset used by node.toml and board profiles: `[section]` headers, `key = value`
/// with basic/literal strings, decimal integers, booleans and single-line arrays of strings, and `#`
/// comments. Own parser (rather than a full TOML library) so every entry keeps its line number for
/// error messages.
public enum TOMLSubset {
    public static func parse(_ text: String) throws(TOMLSyntaxError) -> [TOMLEntry] {
        var entries: [TOMLEntry] = []
        var section = ""
        var seen: [String: Int] = [:]
        var seenSections: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var scanner = Scanner(chars: Array(rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine), line: lineNumber)
            scanner.skipSpaces()
            if scanner.atEndOrComment { continue }
            if scanner.peek == "[" {
                scanner.advance()
                scanner.skipSpaces()
                let name = scanner.bareKey()
                guard !name.isEmpty else { throw scanner.error("expected a section name after '['") }
                scanner.skipSpaces()
                guard scanner.peek == "]" else { throw scanner.error("expected ']' after section name '\(name)'") }
                scanner.advance()
                scanner.skipSpaces()
                guard scanner.atEndOrComment else { throw scanner.error("unexpected text after [\(name)]") }
                if let first = seenSections[name] {
                    throw scanner.error("section [\(name)] appears twice (first on line \(first))")
                }
                seenSections[name] = lineNumber
                section = name
                continue
            }
            let key = scanner.bareKey()
            guard !key.isEmpty else { throw scanner.error("expected 'key = value', a [section] or a # comment") }
            scanner.skipSpaces()
            guard scanner.peek == "=" else { throw scanner.error("expected '=' after key '\(key)'") }
            scanner.advance()
            scanner.skipSpaces()
            let value = try scanner.value(key: key)
            scanner.skipSpaces()
            guard scanner.atEndOrComment else { throw scanner.error("unexpected text after the value of '\(key)'") }
            guard !section.isEmpty else { throw scanner.error("key '\(key)' is outside any [section]") }
            let qualified = section + "." + key
            if let first = seen[qualified] {
                throw scanner.error("key '\(key)' in [\(section)] is set twice (first on line \(first))")
            }
            seen[qualified] = lineNumber
            entries.append(TOMLEntry(section: section, key: key, value: value, line: lineNumber))
        }
        return entries
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private struct Scanner {
        let chars: [Character]
        let line: Int
        var position = 0

        init(chars: some Sequence<Character>, line: Int) {
            self.chars = Array(chars)
            self.line = line
        }

        var peek: Character? { position < chars.count ? chars[position] : nil }
        var atEndOrComment: Bool { peek == nil || peek == "#" }
        mutating func advance() { position += 1 }
        mutating func skipSpaces() { while peek == " " || peek == "\t" { advance() } }

        func error(_ message: String) -> TOMLSyntaxError { TOMLSyntaxError(line: line, message: message) }

        mutating func bareKey() -> String {
            var out = ""
            while let c = peek, c.isASCII, c.isLetter || c.isNumber || c == "_" || c == "-" {
                out.append(c)
                advance()
            }
            return out
        }

        mutating func value(key: String) throws(TOMLSyntaxError) -> ConfigValue {
            guard let c = peek else { throw error("missing value for '\(key)'") }
            switch c {
            case "\"", "'":
                return .string(try string(key: key))
            case "[":
                advance()
                var items: [String] = []
                skipSpaces()
                if peek == "]" { advance(); return .strings([]) }
                while true {
                    skipSpaces()
                    guard peek == "\"" || peek == "'" else {
                        throw error("'\(key)': arrays may hold only strings (and must close on the same line)")
                    }
                    items.append(try string(key: key))
                    skipSpaces()
                    if peek == "," {
                        advance()
                        skipSpaces()
                        if peek == "]" { advance(); return .strings(items) }
                        continue
                    }
                    if peek == "]" { advance(); return .strings(items) }
                    throw error("'\(key)': expected ',' or ']' in array")
                }
            default:
                var word = ""
                while let ch = peek, ch != " ", ch != "\t", ch != "#" {
                    word.append(ch)
                    advance()
                }
                if word == "true" { return .bool(true) }
                if word == "false" { return .bool(false) }
                let digits = word.replacingUnderscores()
                if let number = Int(digits), !word.hasPrefix("_"), !word.hasSuffix("_") { return .int(number) }
                throw error("'\(key)': '\(word)' is not a string, integer, boolean or array (strings need quotes)")
            }
        }

        mutating func string(key: String) throws(TOMLSyntaxError) -> String {
            let quote = peek!
            advance()
            var out = ""
            while let c = peek {
                advance()
                if c == quote { return out }
                if c == "\\" && quote == "\"" {
                    guard let e = peek else { break }
                    advance()
                    switch e {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    case "\"": out.append("\"")
                    case "\\": out.append("\\")
                    case "u":
                        var hex = ""
                        for _ in 0..<4 { if let h = peek { hex.append(h); advance() } }
                        guard let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) else {
                            throw error("'\(key)': bad \\u escape '\\u\(hex)'")
                        }
                        out.unicodeScalars.append(scalar)
                    default: throw error("'\(key)': unknown escape '\\\(e)' in string")
                    }
                } else {
                    out.append(c)
                }
            }
            throw error("'\(key)': string is not closed on this line")
        }
    }
}

private extension String {
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
