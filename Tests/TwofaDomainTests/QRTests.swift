import Testing
@testable import TwofaDomain

@Suite("QR codes")
struct QRTests {
    static func lines(_ text: String) -> [Substring] {
        #expect(text.hasSuffix("\n"))
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    }

    /// Reads an ascii rendering back into a row-major matrix of drawn cells, quiet zone included.
    static func readASCII(_ text: String) -> [[Bool]] {
        lines(text).map { line in
            let cells = Array(line)
            return stride(from: 0, to: cells.count, by: 2).map { index in
                #expect(cells[index] == cells[index + 1])
                #expect(cells[index] == "#" || cells[index] == " ")
                return cells[index] == "#"
            }
        }
    }

    /// Reads a utf8 (or ansi, colours removed) rendering back into rows of drawn cells.
    static func readBlocks(_ text: String, side: Int) -> [[Bool]] {
        var rows: [[Bool]] = []
        for line in lines(text) {
            var top: [Bool] = []
            var bottom: [Bool] = []
            for character in line {
                switch character {
                case "█": top.append(true); bottom.append(true)
                case "▀": top.append(true); bottom.append(false)
                case "▄": top.append(false); bottom.append(true)
                case " ": top.append(false); bottom.append(false)
                default: Issue.record("unexpected character \(character.debugDescription)")
                }
            }
            rows.append(top)
            rows.append(bottom)
        }
        return rows
    }

    /// The modules with a light border of `quietZone` (a terminal drawing's, by default).
    static func matrix(_ code: QRCode, quietZone q: Int = QRRenderer.terminalQuietZone) -> [[Bool]] {
        let side = code.size + 2 * q
        return (0..<side).map { y in
            (0..<side).map { x in
                x >= q && y >= q && x < q + code.size && y < q + code.size && code.modules[(y - q) * code.size + x - q]
            }
        }
    }

    @Test("\"hello\" is a version 1 code, 21 modules a side")
    func version1() throws {
        let code = try QRCode(encoding: "hello")
        #expect(code.size == 21)
        #expect(code.modules.count == 21 * 21)
        #expect(code.sizeWithQuietZone == 29)
        #expect(code.modules.contains(true))
        #expect(code.modules.contains(false))
    }

    @Test("Longer texts need larger versions (size 17 + 4v)", arguments: [
        "otpauth://totp/ACME%20Co:alice%20smith@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co",
        String(repeating: "x", count: 500), String(repeating: "7", count: 2000), String(repeating: "z", count: 2331),
    ])
    func largerVersions(text: String) throws {
        let code = try QRCode(encoding: text)
        #expect(code.size > 21)
        #expect((code.size - 17) % 4 == 0)
        #expect(code.size <= 177)
        #expect(code.modules.count == code.size * code.size)
    }

    @Test("The same text gives the same modules")
    func deterministic() throws {
        let first = try QRCode(encoding: "otpauth://totp/x?secret=AAAA")
        let second = try QRCode(encoding: "otpauth://totp/x?secret=AAAA")
        let other = try QRCode(encoding: "otpauth://totp/x?secret=AAAB")
        #expect(first.modules == second.modules)
        #expect(first.modules != other.modules)
    }

    @Test("Finder patterns, separators and timing patterns are where ISO/IEC 18004 puts them", arguments: [
        "hello", "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME",
    ])
    func functionPatterns(text: String) throws {
        let code = try QRCode(encoding: text)
        let size = code.size
        func dark(_ x: Int, _ y: Int) -> Bool { code.modules[y * size + x] }
        for (originX, originY) in [(0, 0), (size - 7, 0), (0, size - 7)] {
            for dy in 0..<7 {
                for dx in 0..<7 {
                    let ring = max(abs(dx - 3), abs(dy - 3))
                    // Dark border (ring 3), light ring 2, dark 3x3 centre.
                    #expect(dark(originX + dx, originY + dy) == (ring != 2), "finder at \(originX),\(originY) +\(dx),\(dy)")
                }
            }
        }
        // Separators: the light line around each finder.
        for index in 0..<8 {
            #expect(!dark(7, index) && !dark(index, 7))  // top-left
            #expect(!dark(size - 8, index) && !dark(size - 1 - index, 7))  // top-right
            #expect(!dark(7, size - 1 - index) && !dark(index, size - 8))  // bottom-left
        }
        // Timing patterns: row 6 and column 6 alternate between the finders.
        for index in 8..<(size - 8) {
            #expect(dark(index, 6) == (index % 2 == 0))
            #expect(dark(6, index) == (index % 2 == 0))
        }
        // The dark module beside the bottom-left finder.
        #expect(dark(8, size - 8))
    }

    @Test("isDark is light outside the code and matches modules inside")
    func isDark() throws {
        let code = try QRCode(encoding: "hello")
        let q = QRCode.quietZone
        #expect(q == 4)
        #expect(!code.isDark(x: -1, y: -1))
        #expect(!code.isDark(x: 0, y: 0))
        #expect(!code.isDark(x: q - 1, y: q))
        #expect(code.isDark(x: q, y: q))  // the top-left finder's corner
        #expect(!code.isDark(x: q + code.size, y: q))
        #expect(!code.isDark(x: q, y: q + code.size))
        #expect(!code.isDark(x: 1000, y: 1000))
        for y in 0..<code.size {
            for x in 0..<code.size {
                #expect(code.isDark(x: x + q, y: y + q) == code.modules[y * code.size + x])
            }
        }
    }

    @Test("ascii: (size+4) lines of 2(size+4) characters, a 2-module quiet zone blank, modules as ##")
    func ascii() throws {
        let code = try QRCode(encoding: "hello")
        #expect(QRRenderer.terminalQuietZone == 2)
        let side = code.size + 4
        let text = QRRenderer.render(code, format: .ascii)
        let lines = Self.lines(text)
        #expect(lines.count == side)
        for line in lines { #expect(line.count == 2 * side) }
        for line in lines.prefix(2) + lines.suffix(2) { #expect(line.allSatisfy { $0 == " " }) }
        for line in lines { #expect(line.hasPrefix("    ") && line.hasSuffix("    ")) }
        #expect(lines[2].hasPrefix("    ##############  "))  // finder: 7 dark, 1 light

        let read = Self.readASCII(text)
        #expect(read == Self.matrix(code))
        let inner = read[2..<(2 + code.size)].flatMap { Array($0[2..<(2 + code.size)]) }
        #expect(inner == code.modules)
    }

    @Test("Any quiet zone: 4 modules (as the image files have) draws what isDark says")
    func quietZoneOfFour() throws {
        let code = try QRCode(encoding: "hello")
        let read = Self.readASCII(QRRenderer.render(code, format: .ascii, quietZone: 4))
        #expect(read.count == code.sizeWithQuietZone)
        #expect(read == (0..<code.sizeWithQuietZone).map { y in
            (0..<code.sizeWithQuietZone).map { x in code.isDark(x: x, y: y) }
        })
        #expect(read == Self.matrix(code, quietZone: 4))
        #expect(Self.readASCII(QRRenderer.render(code, format: .ascii, quietZone: 0)) == Self.matrix(code, quietZone: 0))
    }

    @Test("ascii inverted draws the light modules: the quiet zone is all ##")
    func asciiInverted() throws {
        let code = try QRCode(encoding: "hello")
        let side = code.size + 4
        let text = QRRenderer.render(code, format: .ascii, invert: true)
        let lines = Self.lines(text)
        #expect(lines.count == side)
        for line in lines.prefix(2) + lines.suffix(2) {
            #expect(line == Substring(String(repeating: "##", count: side)))
        }
        let read = Self.readASCII(text)
        #expect(read == Self.matrix(code).map { $0.map { !$0 } })
    }

    @Test("utf8: (size+4+1)/2 lines of size+4 half blocks that decode to the modules", arguments: [false, true])
    func utf8(invert: Bool) throws {
        for text in ["hello", "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME"] {
            let code = try QRCode(encoding: text)
            let side = code.size + 4
            #expect(side % 2 == 1)  // QR sizes are odd, so the last line pairs a row with nothing
            let rendered = QRRenderer.render(code, format: .utf8, invert: invert)
            let lines = Self.lines(rendered)
            #expect(lines.count == (side + 1) / 2)
            for line in lines { #expect(line.count == side) }
            #expect(!rendered.contains("\u{1B}"))
            let read = Self.readBlocks(rendered, side: side)
            #expect(read.count == side + 1)
            let expected = Self.matrix(code).map { $0.map { $0 != invert } }
            #expect(Array(read.prefix(side)) == expected)
            // The padding half-row is light, drawn as such when inverted.
            #expect(read[side] == [Bool](repeating: invert, count: side))
            if !invert {
                #expect(lines.first!.allSatisfy { $0 == " " })
                #expect(lines.last!.allSatisfy { $0 == " " })
            } else {
                #expect(lines.first!.allSatisfy { $0 == "█" })
                #expect(lines.last!.allSatisfy { $0 == "█" })
            }
        }
    }

    @Test("ansi: every line black on white, reset at its end; invert is ignored")
    func ansi() throws {
        let code = try QRCode(encoding: "hello")
        let side = code.size + 4
        let rendered = QRRenderer.render(code, format: .ansi)
        #expect(QRRenderer.render(code, format: .ansi, invert: true) == rendered)
        let lines = Self.lines(rendered)
        #expect(lines.count == (side + 1) / 2)
        var stripped = ""
        for line in lines {
            #expect(line.hasPrefix("\u{1B}[30;47m"))
            #expect(line.hasSuffix("\u{1B}[0m"))
            let body = line.dropFirst("\u{1B}[30;47m".count).dropLast("\u{1B}[0m".count)
            #expect(body.count == side)
            #expect(!body.contains("\u{1B}"))
            stripped += body + "\n"
        }
        #expect(stripped == QRRenderer.render(code, format: .utf8))
    }

    @Test("A default SHA1 enrolment's URI draws in 21 lines of 41 columns: room for 2 lines of text and a prompt on 80x24")
    func defaultEnrolmentFitsATerminal() throws {
        let uri = "otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example"
        let code = try QRCode(encoding: uri)
        #expect(code.size == 37)  // version 5
        for format in [QRTextFormat.utf8, .ansi] {
            let lines = Self.lines(QRRenderer.render(code, format: format))
            #expect(lines.count == 21)
        }
        #expect(Self.lines(QRRenderer.render(code, format: .utf8)).allSatisfy { $0.count == 41 })
    }

    @Test("Nothing to encode, or a NUL byte, is invalid input")
    func emptyAndNul() {
        let empty = caught { try QRCode(encoding: "") }
        #expect(empty == .invalidInput("nothing to encode: the text is empty"))
        #expect(empty?.exitCode == 65)
        let nul = caught { try QRCode(encoding: "abc\u{0}def") }
        #expect(nul?.code == "invalid_input")
        #expect(nul?.exitCode == 65)
    }

    @Test("A text too long for any QR code is invalid input (exit code 65), not an internal error", arguments: [
        String(repeating: "a", count: 3000), String(repeating: "a", count: 2332), String(repeating: "é", count: 1500),
        String(repeating: "1", count: 10_000),
    ])
    func tooLong(text: String) {
        let error = caught { try QRCode(encoding: text) }
        #expect(error?.code == "invalid_input")
        #expect(error?.exitCode == 65)
    }

    @Test("Text formats")
    func formats() {
        #expect(QRTextFormat.allCases == [.ansi, .utf8, .ascii])
        #expect(QRTextFormat(rawValue: "ascii") == .ascii)
        #expect(QRTextFormat(rawValue: "png") == nil)
    }
}
