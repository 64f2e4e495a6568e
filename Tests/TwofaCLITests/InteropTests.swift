import Foundation
import Testing
@testable import TwofaDomain

/// twofa against independent implementations: oathtool for codes, zbarimg for QR codes.
@Suite("interop with oathtool and zbarimg")
struct InteropTests {
    /// Random secrets, algorithms, digits, periods and times: `twofa code` equals oathtool.
    @Test func codeEqualsOathtool() throws {
        let box = try Sandbox()
        var generator = SystemRandomNumberGenerator()
        let algorithms = ["sha1", "sha256", "sha512"]
        for round in 0..<40 {
            let length = Int.random(in: 1...64, using: &generator)
            let secret = Base32.encode((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let algorithm = algorithms[round % 3]
            let digits = [6, 8][round % 2]
            let period = [30, 60, 15, 1, 120, 7][round % 6]
            let time = round == 0 ? 253_402_300_799 : Int64.random(in: 0...20_000_000_000, using: &generator)
            let expected = try oathtool(secret: secret, algorithm: algorithm, digits: digits, period: period, at: time)

            // Lower case and spaces, as people paste them.
            let pasted = Base32.grouped(secret).lowercased()
            let fromSecret = try box.run(
                ["code", "--secret-stdin", "--algorithm", algorithm, "--digits", String(digits),
                 "--period", String(period), "--at", String(time)],
                stdin: pasted + "\n")
            #expect(fromSecret.status == 0, "\(fromSecret.stderr)")
            #expect(fromSecret.stdout == expected + "\n", "secret \(secret) \(algorithm) \(digits) \(period) @\(time)")

            let uri = OTPAuthURI(
                issuer: "Interop", account: "user\(round)@example.com", secret: try Base32.decode(secret),
                parameters: TOTPParameters(algorithm: OTPAlgorithm(rawValue: algorithm)!, digits: digits, period: Int64(period)))
            let fromURI = try box.run(["code", "--uri-stdin", "--at", String(time), "--json"], stdin: uri.string)
            #expect(fromURI.status == 0, "\(fromURI.stderr)")
            #expect(fromURI.json["code"] as? String == expected)
            #expect(fromURI.json["expires_in"] as? Int == Int(Int64(period) - time % Int64(period)))
        }
    }

    @Test(arguments: ["ansi", "utf8", "ascii"])
    func textQRCodesDecodeWithZbarimg(format: String) throws {
        let box = try Sandbox()
        let uri = "otpauth://totp/ACME%20Co:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=ACME%20Co"
        let drawn = try box.run(["qr", "--text", uri, "--format", format])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        #expect(try zbarimg(rasterize(drawn.stdout, format: format, inverted: false), in: box) == uri)
        if format != "ansi" {
            let inverted = try box.run(["qr", "--text", uri, "--format", format, "--invert"])
            #expect(try zbarimg(rasterize(inverted.stdout, format: format, inverted: true), in: box) == uri)
        }
    }

    /// The enrolment's own QR code, drawn again by `qr USER`, carries the exact URI.
    @Test func enrolmentQRDecodesToTheURI() throws {
        let box = try Sandbox()
        try box.register("alice")
        let enrol = try box.run(["enable-2fa", "alice", "--password-stdin", "--json", "--issuer", "Zoë: Test"], stdin: defaultPassword + "\n")
        let uri = try #require(enrol.json["otpauth_uri"] as? String)
        #expect(uri.hasPrefix("otpauth://totp/Zo%C3%AB%3A%20Test:alice?secret="))
        for format in ["utf8", "ascii", "ansi"] {
            let drawn = try box.run(["qr", "alice", "--format", format])
            #expect(drawn.status == 0, "\(drawn.stderr)")
            #expect(try zbarimg(rasterize(drawn.stdout, format: format, inverted: false), in: box) == uri)
        }
    }

    /// A 64-character username's URI fits an 80-column terminal in ansi and utf8.
    @Test func longestUsernameFits80Columns() throws {
        let box = try Sandbox()
        let user = "u" + String(repeating: "x", count: 63)
        try box.register(user)
        for algorithm in ["sha1", "sha512"] {
            let enrol = try box.run(
                ["enable-2fa", user, "--password-stdin", "--json", "--algorithm", algorithm,
                 "--issuer", String(repeating: "i", count: 20)],
                stdin: defaultPassword + "\n")
            #expect(enrol.status == 0, "\(enrol.stderr)")
            for format in ["ansi", "utf8"] {
                let drawn = try box.run(["qr", user, "--format", format])
                #expect(widestLine(drawn.stdout) <= 80, "\(algorithm) \(format): \(widestLine(drawn.stdout)) columns")
            }
        }
    }

    /// The stored password hash verifies through another path to libxcrypt (perl's crypt).
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func storedHashVerifiesWithPerlCrypt() throws {
        let box = try Sandbox()
        try box.register("alice")
        let hash = try storedPasswordHash(database: box.database, user: "alice")
        #expect(hash.hasPrefix("$y$"))
        let right = try runProcess("/usr/bin/perl", ["-e", "print crypt($ARGV[0], $ARGV[1])", defaultPassword, hash])
        #expect(right.stdout == hash)
        let wrong = try runProcess("/usr/bin/perl", ["-e", "print crypt($ARGV[0], $ARGV[1])", "another password", hash])
        #expect(wrong.stdout != hash)
    }
}

/// Turns a text drawing back into pixels: each character cell is one module wide and, for the
/// half-block formats, two modules tall. Dark modules become black pixels, 8 per module.
func rasterize(_ drawing: String, format: String, inverted: Bool) -> [[Bool]] {
    var rows: [[Bool]] = []
    for line in drawing.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
        var clean = ""
        var inEscape = false
        for scalar in line.unicodeScalars {
            if inEscape { if scalar == "m" { inEscape = false }; continue }
            if scalar == "\u{1B}" { inEscape = true; continue }
            clean.unicodeScalars.append(scalar)
        }
        if format == "ascii" {
            let cells = Array(clean)
            rows.append(stride(from: 0, to: cells.count, by: 2).map { (cells[$0] == "#") != inverted })
        } else {
            var top: [Bool] = []
            var bottom: [Bool] = []
            for character in clean {
                top.append((character == "█" || character == "▀") != inverted)
                bottom.append((character == "█" || character == "▄") != inverted)
            }
            rows.append(top)
            rows.append(bottom)
        }
    }
    return rows
}

/// Writes `modules` as a PGM (8 px per module) and returns what zbarimg reads from it.
func zbarimg(_ modules: [[Bool]], in box: Sandbox) throws -> String {
    let scale = 8
    let height = modules.count * scale
    let width = (modules.map(\.count).max() ?? 0) * scale
    var pgm = Data("P5\n\(width) \(height)\n255\n".utf8)
    for row in modules {
        var line = [UInt8]()
        for x in 0..<(width / scale) {
            let dark = x < row.count ? row[x] : false
            line += [UInt8](repeating: dark ? 0 : 255, count: scale)
        }
        for _ in 0..<scale { pgm.append(contentsOf: line) }
    }
    let path = box.folder.appendingPathComponent("qr-\(UUID().uuidString).pgm").path
    #expect(FileManager.default.createFile(atPath: path, contents: pgm))
    let result = try runProcess("/usr/bin/zbarimg", ["--raw", "-q", "-Sbinary", path])
    #expect(result.status == 0, "zbarimg: \(result.stderr)")
    return result.stdout.hasSuffix("\n") ? String(result.stdout.dropLast()) : result.stdout
}
