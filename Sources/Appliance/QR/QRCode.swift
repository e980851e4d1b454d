/// A QR code encoder (ISO/IEC 18004) for the node's tickets: byte mode, error-correction level L or M,
/// versions 1–10 (up to 271 bytes at L), all eight masks scored with the standard penalty rules.
public struct QRCode: Sendable, Equatable {
    public enum ErrorCorrection: Sendable, Equatable {
        case low, medium

        /// The two format-information bits.
        var formatBits: Int { self == .low ? 0b01 : 0b00 }
    }

    public struct EncodingError: Error, Equatable, CustomStringConvertible {
        public let byteCount: Int
        public var description: String { "\(byteCount) bytes do not fit in a version 10 QR code" }
    }

    public let version: Int
    public let errorCorrection: ErrorCorrection
    public let mask: Int
    /// `modules[row][column]`, true = dark.
    public let modules: [[Bool]]

    public var size: Int { modules.count }

    /// Encodes at `minimumLevel` or better: uses M when the data fits a version-10 code at M, else L.
    public static func encode(_ data: [UInt8], minimumLevel: ErrorCorrection = .low) throws(EncodingError) -> QRCode {
        let levels: [ErrorCorrection] = minimumLevel == .medium ? [.medium, .low] : [.low]
        for level in levels {
            if let code = try? encode(data, level: level) { return code }
        }
        throw EncodingError(byteCount: data.count)
    }

    /// Encodes in the smallest version that fits at exactly `level`; `mask` forces a mask (tests).
    public static func encode(_ data: [UInt8], level: ErrorCorrection, mask forcedMask: Int? = nil) throws(EncodingError) -> QRCode {
        guard let version = (1...10).first(where: { capacityBytes(version: $0, level: level) >= data.count }) else {
            throw EncodingError(byteCount: data.count)
        }
        let codewords = interleavedCodewords(data, version: version, level: level)
        var matrix = Matrix(version: version)
        matrix.drawFunctionPatterns()
        matrix.drawFormatBits(level: level, mask: 0)
        matrix.drawCodewords(codewords)
        var best = forcedMask ?? 0
        if forcedMask == nil {
            var bestPenalty = Int.max
            for candidate in 0..<8 {
                var trial = matrix
                trial.applyMask(candidate)
                trial.drawFormatBits(level: level, mask: candidate)
                let penalty = trial.penalty()
                if penalty < bestPenalty {
                    bestPenalty = penalty
                    best = candidate
                }
            }
        }
        matrix.applyMask(best)
        matrix.drawFormatBits(level: level, mask: best)
        return QRCode(version: version, errorCorrection: level, mask: best, modules: matrix.modules)
    }

    // MARK: Tables (ISO/IEC 18004 table 9, versions 1–10)

    /// (error-correction codewords per block, blocks in group 1, data codewords per group-1 block,
    ///  blocks in group 2 — whose blocks hold one more data codeword).
    struct BlockLayout: Equatable {
        let eccPerBlock: Int
        let group1Blocks: Int
        let group1DataPerBlock: Int
        let group2Blocks: Int

        var dataCodewords: Int { group1Blocks * group1DataPerBlock + group2Blocks * (group1DataPerBlock + 1) }
        var totalCodewords: Int { dataCodewords + (group1Blocks + group2Blocks) * eccPerBlock }
    }

    static func layout(version: Int, level: ErrorCorrection) -> BlockLayout {
        let low: [BlockLayout] = [
            .init(eccPerBlock: 7, group1Blocks: 1, group1DataPerBlock: 19, group2Blocks: 0),
            .init(eccPerBlock: 10, group1Blocks: 1, group1DataPerBlock: 34, group2Blocks: 0),
            .init(eccPerBlock: 15, group1Blocks: 1, group1DataPerBlock: 55, group2Blocks: 0),
            .init(eccPerBlock: 20, group1Blocks: 1, group1DataPerBlock: 80, group2Blocks: 0),
            .init(eccPerBlock: 26, group1Blocks: 1, group1DataPerBlock: 108, group2Blocks: 0),
            .init(eccPerBlock: 18, group1Blocks: 2, group1DataPerBlock: 68, group2Blocks: 0),
            .init(eccPerBlock: 20, group1Blocks: 2, group1DataPerBlock: 78, group2Blocks: 0),
            .init(eccPerBlock: 24, group1Blocks: 2, group1DataPerBlock: 97, group2Blocks: 0),
            .init(eccPerBlock: 30, group1Blocks: 2, group1DataPerBlock: 116, group2Blocks: 0),
            .init(eccPerBlock: 18, group1Blocks: 2, group1DataPerBlock: 68, group2Blocks: 2)
        ]
        let medium: [BlockLayout] = [
            .init(eccPerBlock: 10, group1Blocks: 1, group1DataPerBlock: 16, group2Blocks: 0),
            .init(eccPerBlock: 16, group1Blocks: 1, group1DataPerBlock: 28, group2Blocks: 0),
            .init(eccPerBlock: 26, group1Blocks: 1, group1DataPerBlock: 44, group2Blocks: 0),
            .init(eccPerBlock: 18, group1Blocks: 2, group1DataPerBlock: 32, group2Blocks: 0),
            .init(eccPerBlock: 24, group1Blocks: 2, group1DataPerBlock: 43, group2Blocks: 0),
            .init(eccPerBlock: 16, group1Blocks: 4, group1DataPerBlock: 27, group2Blocks: 0),
            .init(eccPerBlock: 18, group1Blocks: 4, group1DataPerBlock: 31, group2Blocks: 0),
            .init(eccPerBlock: 22, group1Blocks: 2, group1DataPerBlock: 38, group2Blocks: 2),
            .init(eccPerBlock: 22, group1Blocks: 3, group1DataPerBlock: 36, group2Blocks: 2),
            .init(eccPerBlock: 26, group1Blocks: 4, group1DataPerBlock: 43, group2Blocks: 1)
        ]
        return (level == .low ? low : medium)[version - 1]
    }

    /// Raw modules available for codewords: (size² − function modules) / 8, rounded down.
    static let totalCodewordsByVersion = [26, 44, 70, 100, 134, 172, 196, 242, 292, 346]

    static func countBits(version: Int) -> Int { version <= 9 ? 8 : 16 }

    public static func capacityBytes(version: Int, level: ErrorCorrection) -> Int {
        (layout(version: version, level: level).dataCodewords * 8 - 4 - countBits(version: version)) / 8
    }

    static func alignmentCenters(version: Int) -> [Int] {
        let table: [[Int]] = [[], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]]
        return table[version - 1]
    }

    // MARK: Data codewords and Reed–Solomon

    static func dataCodewords(_ data: [UInt8], version: Int, level: ErrorCorrection) -> [UInt8] {
        let capacity = layout(version: version, level: level).dataCodewords
        var bits = BitBuffer()
        bits.append(0b0100, count: 4)
        bits.append(data.count, count: countBits(version: version))
        for byte in data { bits.append(Int(byte), count: 8) }
        bits.append(0, count: min(4, capacity * 8 - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var bytes = bits.bytes
        var pad: UInt8 = 0xEC
        while bytes.count < capacity {
            bytes.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        return bytes
    }

    static func interleavedCodewords(_ data: [UInt8], version: Int, level: ErrorCorrection) -> [UInt8] {
        let shape = layout(version: version, level: level)
        let codewords = dataCodewords(data, version: version, level: level)
        let divisor = ReedSolomon.generator(degree: shape.eccPerBlock)
        var blocks: [[UInt8]] = [], eccBlocks: [[UInt8]] = []
        var offset = 0
        for index in 0..<(shape.group1Blocks + shape.group2Blocks) {
            let length = shape.group1DataPerBlock + (index < shape.group1Blocks ? 0 : 1)
            let block = Array(codewords[offset..<(offset + length)])
            offset += length
            blocks.append(block)
            eccBlocks.append(ReedSolomon.remainder(block, generator: divisor))
        }
        var out: [UInt8] = []
        for i in 0...(shape.group1DataPerBlock) {
            for block in blocks where i < block.count { out.append(block[i]) }
        }
        for i in 0..<shape.eccPerBlock {
            for ecc in eccBlocks { out.append(ecc[i]) }
        }
        return out
    }

    enum ReedSolomon {
        /// Multiplication in GF(2⁸) modulo x⁸ + x⁴ + x³ + x² + 1 (0x11D).
        static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
            var result: UInt16 = 0
            var a = UInt16(x), b = y
            while b != 0 {
                if b & 1 != 0 { result ^= a }
                a <<= 1
                if a & 0x100 != 0 { a ^= 0x11D }
                b >>= 1
            }
            return UInt8(result)
        }

        /// Coefficients of ∏(x − αⁱ), i = 0..<degree, highest power first, leading 1 omitted.
        static func generator(degree: Int) -> [UInt8] {
            var result = [UInt8](repeating: 0, count: degree)
            result[degree - 1] = 1
            var root: UInt8 = 1
            for _ in 0..<degree {
                for j in 0..<degree {
                    result[j] = multiply(result[j], root)
                    if j + 1 < degree { result[j] ^= result[j + 1] }
                }
                root = multiply(root, 0x02)
            }
            return result
        }

        static func remainder(_ data: [UInt8], generator: [UInt8]) -> [UInt8] {
            var result = [UInt8](repeating: 0, count: generator.count)
            for byte in data {
                let factor = byte ^ result.removeFirst()
                result.append(0)
                for i in 0..<generator.count { result[i] ^= multiply(generator[i], factor) }
            }
            return result
        }
    }

    struct BitBuffer {
        private(set) var bits: [Bool] = []
        var count: Int { bits.count }

        mutating func append(_ value: Int, count: Int) {
            guard count > 0 else { return }
            for i in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> i) & 1 == 1) }
        }

        var bytes: [UInt8] {
            var out = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
            for (i, bit) in bits.enumerated() where bit { out[i / 8] |= 0x80 >> UInt8(i % 8) }
            return out
        }
    }

    /// The 15-bit format information: level and mask with a BCH(15,5) code, XOR-masked.
    static func formatInformation(level: ErrorCorrection, mask: Int) -> Int {
        let data = level.formatBits << 3 | mask
        var remainder = data
        for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
        return (data << 10 | remainder) ^ 0x5412
    }

    /// The 18-bit version information (versions 7+) with a BCH(18,6) code.
    static func versionInformation(_ version: Int) -> Int {
        var remainder = version
        for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
        return version << 12 | remainder
    }

    // MARK: Module matrix

    struct Matrix {
        let version: Int
        let size: Int
        var modules: [[Bool]]
        var isFunction: [[Bool]]

        init(version: Int) {
            self.version = version
            size = version * 4 + 17
            modules = Array(repeating: Array(repeating: false, count: size), count: size)
            isFunction = modules
        }

        mutating func setFunction(row: Int, column: Int, dark: Bool) {
            modules[row][column] = dark
            isFunction[row][column] = true
        }

        mutating func drawFunctionPatterns() {
            for i in 0..<size {
                setFunction(row: 6, column: i, dark: i % 2 == 0)
                setFunction(row: i, column: 6, dark: i % 2 == 0)
            }
            drawFinder(row: 3, column: 3)
            drawFinder(row: 3, column: size - 4)
            drawFinder(row: size - 4, column: 3)
            let centers = QRCode.alignmentCenters(version: version)
            for (i, r) in centers.enumerated() {
                for (j, c) in centers.enumerated() {
                    let last = centers.count - 1
                    if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) { continue }
                    for dr in -2...2 {
                        for dc in -2...2 {
                            setFunction(row: r + dr, column: c + dc, dark: max(abs(dr), abs(dc)) != 1)
                        }
                    }
                }
            }
            drawVersionBits()
        }

        mutating func drawFinder(row: Int, column: Int) {
            for dr in -4...4 {
                for dc in -4...4 {
                    let r = row + dr, c = column + dc
                    guard (0..<size).contains(r), (0..<size).contains(c) else { continue }
                    let distance = max(abs(dr), abs(dc))
                    setFunction(row: r, column: c, dark: distance != 2 && distance != 4)
                }
            }
        }

        mutating func drawFormatBits(level: ErrorCorrection, mask: Int) {
            let bits = QRCode.formatInformation(level: level, mask: mask)
            func bit(_ i: Int) -> Bool { (bits >> i) & 1 == 1 }
            for i in 0..<6 { setFunction(row: i, column: 8, dark: bit(i)) }
            setFunction(row: 7, column: 8, dark: bit(6))
            setFunction(row: 8, column: 8, dark: bit(7))
            setFunction(row: 8, column: 7, dark: bit(8))
            for i in 9..<15 { setFunction(row: 8, column: 14 - i, dark: bit(i)) }
            for i in 0..<8 { setFunction(row: 8, column: size - 1 - i, dark: bit(i)) }
            for i in 8..<15 { setFunction(row: size - 15 + i, column: 8, dark: bit(i)) }
            setFunction(row: size - 8, column: 8, dark: true)
        }

        mutating func drawVersionBits() {
            guard version >= 7 else { return }
            let bits = QRCode.versionInformation(version)
            for i in 0..<18 {
                let dark = (bits >> i) & 1 == 1
                let a = size - 11 + i % 3, b = i / 3
                setFunction(row: b, column: a, dark: dark)
                setFunction(row: a, column: b, dark: dark)
            }
        }

        /// Zig-zag placement in two-column strips from the bottom-right, skipping the timing column.
        mutating func drawCodewords(_ data: [UInt8]) {
            var bitIndex = 0
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                for vertical in 0..<size {
                    for j in 0..<2 {
                        let column = right - j
                        let upward = (right + 1) & 2 == 0
                        let row = upward ? size - 1 - vertical : vertical
                        if !isFunction[row][column] && bitIndex < data.count * 8 {
                            modules[row][column] = (data[bitIndex >> 3] >> (7 - UInt8(bitIndex & 7))) & 1 == 1
                            bitIndex += 1
                        }
                    }
                }
                right -= 2
            }
        }

        static func maskBit(_ mask: Int, row r: Int, column c: Int) -> Bool {
            switch mask {
            case 0: return (r + c) % 2 == 0
            case 1: return r % 2 == 0
            case 2: return c % 3 == 0
            case 3: return (r + c) % 3 == 0
            case 4: return (r / 2 + c / 3) % 2 == 0
            case 5: return (r * c) % 2 + (r * c) % 3 == 0
            case 6: return ((r * c) % 2 + (r * c) % 3) % 2 == 0
            default: return ((r + c) % 2 + (r * c) % 3) % 2 == 0
            }
        }

        mutating func applyMask(_ mask: Int) {
            for r in 0..<size {
                for c in 0..<size where !isFunction[r][c] && Matrix.maskBit(mask, row: r, column: c) {
                    modules[r][c].toggle()
                }
            }
        }

        /// ISO/IEC 18004 §7.8.3 penalty: runs, 2×2 blocks, finder-like patterns, dark balance.
        func penalty() -> Int {
            var total = 0
            let finderLike: [[Bool]] = [
                [true, false, true, true, true, false, true, false, false, false, false],
                [false, false, false, false, true, false, true, true, true, false, true]
            ]
            for pass in 0..<2 {
                for i in 0..<size {
                    let line: [Bool] = (0..<size).map { pass == 0 ? modules[i][$0] : modules[$0][i] }
                    var runLength = 1
                    for j in 1..<size {
                        if line[j] == line[j - 1] {
                            runLength += 1
                        } else {
                            if runLength >= 5 { total += runLength - 2 }
                            runLength = 1
                        }
                    }
                    if runLength >= 5 { total += runLength - 2 }
                    if size >= 11 {
                        for start in 0...(size - 11) {
                            for pattern in finderLike where (0..<11).allSatisfy({ line[start + $0] == pattern[$0] }) {
                                total += 40
                            }
                        }
                    }
                }
            }
            for r in 0..<(size - 1) {
                for c in 0..<(size - 1) {
                    let v = modules[r][c]
                    if modules[r][c + 1] == v && modules[r + 1][c] == v && modules[r + 1][c + 1] == v { total += 3 }
                }
            }
            let dark = modules.reduce(0) { $0 + $1.filter { $0 }.count }
            let percent = dark * 100 / (size * size)
            total += abs(percent - 50) / 5 * 10
            return total
        }
    }
}

/// Draws a QR code in a terminal with Unicode half blocks: each text row shows two module rows.
/// Light modules are printed as filled blocks, so the code reads correctly on the usual light-on-dark
/// console (scanners need dark modules on a light background with a light quiet zone).
public enum QRTerminalRenderer {
    public static func render(_ code: QRCode, quietZone: Int = 2) -> String {
        let size = code.size + 2 * quietZone
        func dark(_ r: Int, _ c: Int) -> Bool {
            let rr = r - quietZone, cc = c - quietZone
            guard (0..<code.size).contains(rr), (0..<code.size).contains(cc) else { return false }
            return code.modules[rr][cc]
        }
        var lines: [String] = []
        var row = 0
        while row < size {
            var line = ""
            for column in 0..<size {
                let top = !dark(row, column)
                let bottom = row + 1 < size ? !dark(row + 1, column) : false
                switch (top, bottom) {
                case (true, true): line += "█"
                case (true, false): line += "▀"
                case (false, true): line += "▄"
                case (false, false): line += " "
                }
            }
            lines.append(line)
            row += 2
        }
        return lines.joined(separator: "\n")
    }
}
