import Testing
@testable import TwofaDomain

@Suite("codes as typed: TOTP or backup")
struct GivenCodeTests {
    @Test("Digits of 6 or 8 are a TOTP code (an 8-digit one may also be a scratch code)", arguments: [
        ("123456", GivenCode.digits("123456")), ("123 456", .digits("123456")), (" 1234 5678 ", .digits("12345678")),
        ("cepe-sbvv-s4d6-qrme", .backup("cepesbvvs4d6qrme")), ("CEPESBVVS4D6QRME", .backup("cepesbvvs4d6qrme")),
        ("cepe sbvv s4d6 qrme", .backup("cepesbvvs4d6qrme")), ("1234-5678", .backup("12345678")),
    ])
    func parses(input: String, expected: GivenCode) throws {
        #expect(try OTPCode.parse(input) == expected)
    }

    @Test("Anything else is malformed, exit 65", arguments: [
        "", "12345", "1234567", "123456789", "12345678901234567890", "123-456", "１２３４５６", "12345６",
        "cepe-sbvv-s4d6-qrm", "cepe-sbvv-s4d6-qrme-x", "cepe_sbvv_s4d6_qrme", "abcdefgh", "12\u{0}456",
    ])
    func refuses(input: String) {
        let error = caught { try OTPCode.parse(input) }
        #expect(error?.exitCode == 65)
        #expect(error?.code == "malformed_code")
    }

    @Test("Backup codes: 10 distinct, 16 Crockford characters in dashed groups of four")
    func generate() throws {
        let codes = try BackupCodes.generate(random: SystemRandom())
        #expect(codes.count == 10)
        #expect(Set(codes).count == 10)
        let alphabet = Set("0123456789abcdefghjkmnpqrstvwxyz")
        for code in codes {
            let groups = code.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.map(\.count) == [4, 4, 4, 4])
            #expect(code.filter { $0 != "-" }.allSatisfy(alphabet.contains))
            #expect(try OTPCode.parse(code) == .backup(code.filter { $0 != "-" }))
        }
        // 10 bytes (80 bits) per code: a fixed source gives fixed codes, and every byte shows.
        let fixed = try BackupCodes.generate(random: FixedRandom(byte: 0))
        #expect(fixed[0] == "000g-40r4-0m30-e209")
        #expect(Set(fixed).count == 1)
    }
}

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test("Format", arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"), (951_782_400, "2000-02-29T00:00:00Z"),
        (1_111_111_109, "2005-03-18T01:58:29Z"), (2_000_000_000, "2033-05-18T03:33:20Z"),
        (20_000_000_000, "2603-10-11T11:33:20Z"), (253_402_300_799, "9999-12-31T23:59:59Z"),
        (-1, "1969-12-31T23:59:59Z"),
    ])
    func format(seconds: Int64, text: String) {
        #expect(Timestamp.format(seconds) == text)
        #expect(Timestamp.parse(text) == seconds)
    }

    @Test("Parse offsets, fractions, lower case and UNIX seconds")
    func parse() {
        #expect(Timestamp.parse("2026-11-23T12:04:05+01:00") == Timestamp.parse("2026-11-23T11:04:05Z"))
        #expect(Timestamp.parse("2026-11-23T06:04:05-05:00") == Timestamp.parse("2026-11-23T11:04:05Z"))
        #expect(Timestamp.parse("2026-11-23t11:04:05.123456z") == Timestamp.parse("2026-11-23T11:04:05Z"))
        #expect(Timestamp.parse("1700000000") == 1_700_000_000)
        for bad in ["", "yesterday", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-23T24:00:00Z",
                    "2026-11-23T11:04:05", "2026-11-23T11:04:05+0100", "-5", "2026-11-23T11:04:05Zjunk"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }
}
