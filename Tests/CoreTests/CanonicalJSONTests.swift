import Foundation
import Testing
import TestSupport
@testable import Core

@Suite("Canonical signing JSON (spec §2.2)")
struct CanonicalJSONTests {
    @Test("scalars, explicit null, integer extremes")
    func scalars() {
        #expect(CanonicalJSON.null.canonicalString == "null")
        #expect(CanonicalJSON.bool(true).canonicalString == "true")
        #expect(CanonicalJSON.bool(false).canonicalString == "false")
        #expect(CanonicalJSON.uint(0).canonicalString == "0")
        #expect(CanonicalJSON.uint(UInt64.max).canonicalString == "18446744073709551615")
        #expect(CanonicalJSON.int(Int64.min).canonicalString == "-9223372036854775808")
        #expect(CanonicalJSON.int(Int64.max).canonicalString == "9223372036854775807")
        #expect(CanonicalJSON.int(-1).canonicalString == "-1")
        #expect(CanonicalJSON.unsigned(UInt32.max).canonicalString == "4294967295")
        #expect(CanonicalJSON.optionalString(nil).canonicalString == "null")
        #expect(CanonicalJSON.array([]).canonicalString == "[]")
        #expect(CanonicalJSON.object([:]).canonicalString == "{}")
        let literal: CanonicalJSON = ["a": [1, -2, true, nil, "x"]]
        #expect(literal.canonicalString == #"{"a":[1,-2,true,null,"x"]}"#)
    }

    @Test("serde_json escaping: short escapes, \\u00xx lowercase, raw '/', DEL, U+2028/2029, non-ASCII")
    func escaping() {
        let text = "q\"b\\s/\u{08}\u{0C}\n\r\t\u{00}\u{01}\u{1F}\u{1B}\u{7F}\u{2028}\u{2029}é漢😀"
        let expected = #""q\"b\\s/\b\f\n\r\t\u0000\u0001\u001f\u001b"# + "\u{7F}\u{2028}\u{2029}é漢😀\""
        #expect(CanonicalJSON.string(text).canonicalString == expected)
        #expect(CanonicalJSON.string(text).canonicalBytes == Array(expected.utf8))
        // Keys get the same escaping.
        #expect(CanonicalJSON.object(["a\"\n": .null]).canonicalString == #"{"a\"\n":null}"#)
    }

    @Test("keys sorted by UTF-8 bytes at every nesting level")
    func nestedSorting() {
        let value: CanonicalJSON = .object([
            "zeta": .object(["b": 1, "a": .object(["y": 2, "x": 3]), "B": 4]),
            "alpha": .array([.object(["m": 1, "l": 2])]),
            "é": 1, "z": 2, "Z": 3, "_": 4, "aa": 5, "a": 6, "😀": 7, "\u{FFFD}": 8, "\u{E000}": 9
        ])
        // ASCII: 'Z'(5a) < '_'(5f) < 'a' < 'aa' < 'alpha' < 'z' < 'zeta'; then é (c3 a9) <
        // U+E000 (ee 80 80) < U+FFFD (ef bf bd) < 😀 (f0 9f 98 80): UTF-8 byte order is code-point
        // order, unlike UTF-16 order which would put 😀 (d83d) before U+E000.
        let expected = #"{"Z":3,"_":4,"a":6,"aa":5,"alpha":[{"l":2,"m":1}],"z":2,"zeta":{"B":4,"a":{"x":3,"y":2},"b":1},"# +
            "\"é\":1,\"\u{E000}\":9,\"\u{FFFD}\":8,\"😀\":7}"
        #expect(value.canonicalString == expected)
    }

    @Test("§3.4 delegation key order")
    func delegationOrder() {
        let value: CanonicalJSON = .object([
            "master_pubkey": "m", "signing_pubkey": "s", "key_index": 0, "dm_pubkey": "d", "dm_key_index": 0, "issued_at": 1
        ])
        #expect(value.canonicalString == #"{"dm_key_index":0,"dm_pubkey":"d","issued_at":1,"key_index":0,"master_pubkey":"m","signing_pubkey":"s"}"#)
    }

    @Test("random objects match Python json.dumps(sort_keys=True, separators=(',',':'), ensure_ascii=False)", .enabled(if: PythonPeers.isEnabled))
    func pythonCrossCheck() throws {
        var rng = SeededRandom(seed: 0x5EED_C7A0)
        let values = (0..<300).map { _ in randomValue(&rng, depth: 0) }
        // Transport to Python in an ASCII-only tagged form (strings as hex of their UTF-8), so the
        // check does not depend on the writer's escaping of the content under test.
        let input = values.map { transport($0).canonicalString }.joined(separator: "\n") + "\n"
        let script = """
        import sys, json
        def build(t):
            k = t["t"]
            if k == "n": return None
            if k == "b": return t["v"]
            if k == "i": return int(t["v"])
            if k == "s": return bytes.fromhex(t["v"]).decode("utf-8")
            if k == "a": return [build(x) for x in t["v"]]
            if k == "o": return {bytes.fromhex(key).decode("utf-8"): build(v) for key, v in t["v"]}
        for line in sys.stdin:
            if line.strip():
                out = json.dumps(build(json.loads(line)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                print(out.encode("utf-8").hex())
        """
        let output = try PythonPeers.runText(script, input: Array(input.utf8))
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.count == values.count)
        for (value, line) in zip(values, lines) {
            #expect(Hex.encode(value.canonicalBytes) == line, "mismatch for \(value.canonicalString)")
        }
    }

    private func transport(_ value: CanonicalJSON) -> CanonicalJSON {
        switch value {
        case .null: return ["t": "n"]
        case .bool(let flag): return ["t": "b", "v": .bool(flag)]
        case .int(let number): return ["t": "i", "v": .string(String(number))]
        case .uint(let number): return ["t": "i", "v": .string(String(number))]
        case .string(let text): return ["t": "s", "v": .string(Hex.encode(Array(text.utf8)))]
        case .array(let elements): return ["t": "a", "v": .array(elements.map(transport))]
        case .object(let members):
            return ["t": "o", "v": .array(members.map { .array([.string(Hex.encode(Array($0.key.utf8))), transport($0.value)]) })]
        }
    }

    private func randomValue(_ rng: inout SeededRandom, depth: Int) -> CanonicalJSON {
        let choice = depth >= 3 ? rng.next(upTo: 5) : rng.next(upTo: 7)
        switch choice {
        case 0: return .null
        case 1: return .bool(rng.next(upTo: 2) == 1)
        case 2:
            let extremes: [Int64] = [Int64.min, Int64.max, 0, -1]
            return rng.next(upTo: 4) == 0 ? .int(extremes[Int(rng.next(upTo: 4))]) : .int(Int64(bitPattern: rng.next()))
        case 3:
            return rng.next(upTo: 4) == 0 ? .uint(UInt64.max) : .uint(rng.next() >> rng.next(upTo: 64))
        case 4: return .string(randomString(&rng))
        case 5: return .array((0..<rng.next(upTo: 5)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var members: [String: CanonicalJSON] = [:]
            for _ in 0..<rng.next(upTo: 6) { members[randomString(&rng)] = randomValue(&rng, depth: depth + 1) }
            return .object(members)
        }
    }

    /// ASCII (with every control character and the escaped ones), BMP, private-use and astral
    /// scalars, so key sorting covers the UTF-8/UTF-16 order difference knowingly: Python compares
    /// code points, which is UTF-8 byte order.
    private func randomString(_ rng: inout SeededRandom) -> String {
        let pools: [ClosedRange<UInt32>] = [0x00...0x7F, 0x20...0x7E, 0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF]
        var scalars = String.UnicodeScalarView()
        for _ in 0..<rng.next(upTo: 8) {
            let pool = pools[Int(rng.next(upTo: UInt64(pools.count)))]
            let value = pool.lowerBound + UInt32(rng.next(upTo: UInt64(pool.upperBound - pool.lowerBound + 1)))
            if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
        }
        var special = ["\"", "\\", "/", "\u{2028}", "\u{2029}", "\u{7F}", "\u{08}", "\u{0C}"]
        if rng.next(upTo: 3) == 0 { scalars.append(contentsOf: special.remove(at: Int(rng.next(upTo: 8))).unicodeScalars) }
        return String(scalars)
    }
}

