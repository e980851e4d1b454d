import Foundation
import TestSupport
import Testing
@testable import Appliance

@Suite("QR encoder")
struct QRCodeTests {
    @Test func reedSolomonMatchesKnownVector() {
        // "HELLO WORLD" at 1-M (alphanumeric) from the widely published worked example.
        let data: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        let ecc = QRCode.ReedSolomon.remainder(data, generator: QRCode.ReedSolomon.generator(degree: 10))
        #expect(ecc == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
    }

    @Test func formatAndVersionInformationMatchTheStandardTables() {
        #expect(QRCode.formatInformation(level: .low, mask: 0) == 0b111011111000100)
        #expect(QRCode.formatInformation(level: .medium, mask: 0) == 0b101010000010010)
        #expect(QRCode.formatInformation(level: .medium, mask: 5) == 0b100000011001110)
        #expect(QRCode.formatInformation(level: .medium, mask: 7) == 0b100101010100000)
        #expect(QRCode.formatInformation(level: .low, mask: 4) == 0b110011000101111)
        #expect(QRCode.versionInformation(7) == 0x07C94)
        #expect(QRCode.versionInformation(10) == 0x0A4D3)
    }

    @Test func blockTablesAreConsistent() {
        for version in 1...10 {
            for level in [QRCode.ErrorCorrection.low, .medium] {
                let layout = QRCode.layout(version: version, level: level)
                #expect(layout.totalCodewords == QRCode.totalCodewordsByVersion[version - 1], "v\(version) \(level)")
            }
        }
        #expect(QRCode.capacityBytes(version: 10, level: .low) == 271)
        #expect(QRCode.capacityBytes(version: 10, level: .medium) == 213)
        #expect(QRCode.capacityBytes(version: 1, level: .medium) == 14)
    }

    @Test func picksSmallestVersionAndRejectsOversize() throws {
        #expect(try QRCode.encode(Array("hello".utf8), level: .medium).version == 1)
        #expect(try QRCode.encode([UInt8](repeating: 0x41, count: 84), level: .medium).version == 5)
        #expect(try QRCode.encode([UInt8](repeating: 0x41, count: 85), level: .medium).version == 6)
        #expect(try QRCode.encode([UInt8](repeating: 0x41, count: 107), level: .medium).version == 7)
        #expect(try QRCode.encode([UInt8](repeating: 0x41, count: 250), minimumLevel: .medium).errorCorrection == .low)
        #expect(throws: QRCode.EncodingError.self) { try QRCode.encode([UInt8](repeating: 0, count: 272), level: .low) }
    }

    @Test func functionPatternsAreInPlace() throws {
        let code = try QRCode.encode(Array("proscenium".utf8), level: .low)
        let m = code.modules, n = code.size
        #expect(n == 21)
        // Finder corners and their separators, timing pattern, dark module.
        for (r, c) in [(0, 0), (0, n - 7), (n - 7, 0)] {
            #expect(m[r][c] && m[r + 6][c + 6] && m[r + 3][c + 3] && !m[r + 1][c + 1])
        }
        #expect(!m[7][7] && !m[7][n - 8] && !m[n - 8][7])
        #expect((8..<(n - 8)).allSatisfy { m[6][$0] == ($0 % 2 == 0) && m[$0][6] == ($0 % 2 == 0) })
        #expect(m[n - 8][8])
    }

    static let zbar = "/usr/bin/zbarimg"

    /// Renders the code as a PGM image and decodes it with zbarimg (zbar-tools), an independent decoder.
    /// Skipped (visibly) where zbar-tools is not installed, e.g. the Swift 6.0.3 chroot.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: QRCodeTests.zbar), "needs zbar-tools (zbarimg)"),
          arguments: [
        ("hello", QRCode.ErrorCorrection.medium),
        (String(repeating: "endpoint-ticket-", count: 6), .medium),
        (String(repeating: "x", count: 213), .medium),
        (String(repeating: "0123456789abcdef", count: 16) + "tail", .low),
        ("ünïcødé ✓ bytes", .low)
    ])
    func zbarDecodesWhatWeEncode(text: String, level: QRCode.ErrorCorrection) throws {
        let zbar = Self.zbar
        let code = try QRCode.encode(Array(text.utf8), level: level)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for mask in [nil, 0, 3, 7] as [Int?] {
            let forced = mask.map { try? QRCode.encode(Array(text.utf8), level: level, mask: $0) } ?? code
            let image = dir.path + "/code-\(mask ?? -1).pgm"
            try PGM.write(try #require(forced), to: image)
            let decoded = try runZbar(zbar, image)
            #expect(decoded == text, "mask \(mask.map(String.init) ?? "auto"), version \(code.version)")
        }
    }

    @Test func terminalRenderingRoundTrips() throws {
        let code = try QRCode.encode(Array("standin-ticket:abc@127.0.0.1:1234".utf8), level: .medium)
        let text = QRTerminalRenderer.render(code, quietZone: 2)
        let lines = text.split(separator: "\n").map(Array.init)
        #expect(lines.allSatisfy { $0.count == code.size + 4 })
        #expect(lines.count == (code.size + 4 + 1) / 2)
        // Decode the half blocks back into modules (light = printed).
        for (lineIndex, line) in lines.enumerated() {
            for (column, character) in line.enumerated() {
                let (topLight, bottomLight): (Bool, Bool)
                switch character {
                case "█": (topLight, bottomLight) = (true, true)
                case "▀": (topLight, bottomLight) = (true, false)
                case "▄": (topLight, bottomLight) = (false, true)
                default: (topLight, bottomLight) = (false, false)
                }
                for (rowOffset, light) in [(0, topLight), (1, bottomLight)] {
                    let row = lineIndex * 2 + rowOffset - 2, col = column - 2
                    if (0..<code.size).contains(row) && (0..<code.size).contains(col) {
                        #expect(code.modules[row][col] == !light)
                    }
                }
            }
        }
    }

    func runZbar(_ zbar: String, _ image: String) throws -> String {
        var text = try Subprocess.run(zbar, ["--quiet", "--raw", "-Sbinary", image]).stdout
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

enum PGM {
    /// Dark modules black on white, 4-module quiet zone, 4 pixels per module.
    static func write(_ code: QRCode, to path: String, scale: Int = 4, quiet: Int = 4) throws {
        let side = (code.size + 2 * quiet) * scale
        var pixels = [UInt8](repeating: 255, count: side * side)
        for r in 0..<code.size {
            for c in 0..<code.size where code.modules[r][c] {
                for dy in 0..<scale {
                    for dx in 0..<scale {
                        pixels[((r + quiet) * scale + dy) * side + (c + quiet) * scale + dx] = 0
                    }
                }
            }
        }
        var data = Data("P5\n\(side) \(side)\n255\n".utf8)
        data.append(contentsOf: pixels)
        try data.write(to: URL(fileURLWithPath: path))
    }
}
