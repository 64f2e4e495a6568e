import Testing
@testable import TwofaDomain

@Suite("HOTP and TOTP")
struct OTPTests {
    // MARK: RFC 4226 Appendix D

    static let rfc4226Vectors: [(UInt64, String, String)] = [
        (0, "755224", "1284755224"),
        (1, "287082", "1094287082"),
        (2, "359152", "0137359152"),
        (3, "969429", "1726969429"),
        (4, "338314", "1640338314"),
        (5, "254676", "0868254676"),
        (6, "287922", "1918287922"),
        (7, "162583", "0082162583"),
        (8, "399871", "0673399871"),
        (9, "520489", "0645520489"),
    ]

    @Test("RFC 4226 Appendix D HOTP values, 6 digits", arguments: rfc4226Vectors)
    func rfc4226SixDigits(counter: UInt64, code: String, truncated: String) throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        #expect(generator.hotp(counter: counter) == code)
    }

    /// With 10 digits the modulus exceeds 2^31, so the code is the whole truncated value of
    /// Appendix D (zero-padded); 6 and 8 digits are that value mod 10^6 and 10^8.
    @Test("RFC 4226 Appendix D truncated values: 10 digits is the full value, 6 and 8 are mod 10^n", arguments: rfc4226Vectors)
    func rfc4226Truncated(counter: UInt64, code: String, truncated: String) throws {
        let ten = try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(digits: 10))
        #expect(ten.hotp(counter: counter) == truncated)
        let value = try #require(UInt64(truncated))
        let eight = try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(digits: 8))
        let expected8 = String(value % 100_000_000)
        #expect(eight.hotp(counter: counter) == String(repeating: "0", count: 8 - expected8.count) + expected8)
        let expected6 = String(value % 1_000_000)
        #expect(code == String(repeating: "0", count: 6 - expected6.count) + expected6)
    }

    // MARK: RFC 6238 Appendix B

    static let rfc6238Vectors: [(Int64, UInt64, OTPAlgorithm, String)] = [
        (59, 0x1, .sha1, "94287082"),
        (59, 0x1, .sha256, "46119246"),
        (59, 0x1, .sha512, "90693936"),
        (1_111_111_109, 0x23523EC, .sha1, "07081804"),
        (1_111_111_109, 0x23523EC, .sha256, "68084774"),
        (1_111_111_109, 0x23523EC, .sha512, "25091201"),
        (1_111_111_111, 0x23523ED, .sha1, "14050471"),
        (1_111_111_111, 0x23523ED, .sha256, "67062674"),
        (1_111_111_111, 0x23523ED, .sha512, "99943326"),
        (1_234_567_890, 0x273EF07, .sha1, "89005924"),
        (1_234_567_890, 0x273EF07, .sha256, "91819424"),
        (1_234_567_890, 0x273EF07, .sha512, "93441116"),
        (2_000_000_000, 0x3F940AA, .sha1, "69279037"),
        (2_000_000_000, 0x3F940AA, .sha256, "90698825"),
        (2_000_000_000, 0x3F940AA, .sha512, "38618901"),
        (20_000_000_000, 0x27BC86AA, .sha1, "65353130"),
        (20_000_000_000, 0x27BC86AA, .sha256, "77737706"),
        (20_000_000_000, 0x27BC86AA, .sha512, "47863826"),
    ]

    static func seed(for algorithm: OTPAlgorithm) -> [UInt8] {
        switch algorithm {
        case .sha1: Seeds.sha1
        case .sha256: Seeds.sha256
        case .sha512: Seeds.sha512
        }
    }

    @Test("RFC 6238 Appendix B, 8 digits, period 30", arguments: rfc6238Vectors)
    func rfc6238(time: Int64, step: UInt64, algorithm: OTPAlgorithm, code: String) throws {
        let generator = try OTPGenerator(
            secret: Self.seed(for: algorithm), parameters: TOTPParameters(algorithm: algorithm, digits: 8, period: 30))
        #expect(generator.step(at: time) == step)
        #expect(generator.code(at: time) == code)
        #expect(generator.hotp(counter: step) == code)
        #expect(generator.matchingStep(for: code, at: time) == step)
    }

    @Test("6-digit TOTP at an RFC 6238 time is the RFC 4226 HOTP of its step")
    func sixDigitTOTP() throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        #expect(generator.code(at: 59) == "287082")  // step 1
        #expect(generator.code(at: 29) == "755224")  // step 0
        #expect(generator.code(at: 30) == "287082")
        #expect(generator.code(at: 1_111_111_109) == "081804")
    }

    @Test("The secret length of each algorithm is its HMAC output length")
    func secretLengths() {
        #expect(OTPAlgorithm.sha1.secretLength == 20)
        #expect(OTPAlgorithm.sha256.secretLength == 32)
        #expect(OTPAlgorithm.sha512.secretLength == 64)
        #expect(OTPAlgorithm.sha1.mac(key: Seeds.sha1, message: [0]).count == 20)
        #expect(OTPAlgorithm.sha256.mac(key: Seeds.sha1, message: [0]).count == 32)
        #expect(OTPAlgorithm.sha512.mac(key: Seeds.sha1, message: [0]).count == 64)
    }

    @Test("Algorithm names")
    func algorithmNames() {
        #expect(OTPAlgorithm(name: "SHA1") == .sha1)
        #expect(OTPAlgorithm(name: "sha-1") == .sha1)
        #expect(OTPAlgorithm(name: "Sha256") == .sha256)
        #expect(OTPAlgorithm(name: "SHA-512") == .sha512)
        #expect(OTPAlgorithm(name: "MD5") == nil)
        #expect(OTPAlgorithm(name: "") == nil)
        #expect(OTPAlgorithm.sha256.uriName == "SHA256")
        #expect(OTPAlgorithm.sha512.uriName == "SHA512")
        #expect(OTPAlgorithm.sha1.uriName == "SHA1")
    }

    // MARK: Time steps

    @Test("step() and expiresIn() around period boundaries")
    func stepAndExpiry() throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        #expect(generator.step(at: 0) == 0)
        #expect(generator.step(at: 29) == 0)
        #expect(generator.step(at: 30) == 1)
        #expect(generator.step(at: 59) == 1)
        #expect(generator.step(at: 60) == 2)
        #expect(generator.step(at: -1) == 0)
        #expect(generator.step(at: -100) == 0)
        #expect(generator.expiresIn(at: 0) == 30)
        #expect(generator.expiresIn(at: 1) == 29)
        #expect(generator.expiresIn(at: 29) == 1)
        #expect(generator.expiresIn(at: 30) == 30)
        #expect(generator.expiresIn(at: 59) == 1)
        #expect(generator.expiresIn(at: 1_111_111_111) == 29)

        let sixty = try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(period: 60))
        #expect(sixty.step(at: 59) == 0)
        #expect(sixty.step(at: 120) == 2)
        #expect(sixty.expiresIn(at: 59) == 1)
        #expect(sixty.expiresIn(at: 61) == 59)
    }

    @Test("Times past 2038 and up to year 9999")
    func farFuture() throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        // 2100-01-01T00:00:00Z; reference values from an independent HMAC implementation.
        #expect(generator.step(at: 4_102_444_800) == 136_748_160)
        #expect(generator.code(at: 4_102_444_800) == "612575")
        #expect(generator.expiresIn(at: 4_102_444_800) == 30)
        let eight = try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(digits: 8))
        #expect(eight.code(at: 4_102_444_800) == "47612575")
        let sha256 = try OTPGenerator(secret: Seeds.sha256, parameters: TOTPParameters(algorithm: .sha256, digits: 8))
        #expect(sha256.code(at: 4_102_444_800) == "54474973")
        let sha512 = try OTPGenerator(secret: Seeds.sha512, parameters: TOTPParameters(algorithm: .sha512, digits: 8))
        #expect(sha512.code(at: 4_102_444_800) == "56452708")

        #expect(OTPGenerator.latestTime == 253_402_300_799)
        #expect(generator.step(at: OTPGenerator.latestTime) == 8_446_743_359)
        #expect(generator.code(at: OTPGenerator.latestTime) == "099568")
        #expect(generator.matchingStep(for: "099568", at: OTPGenerator.latestTime) == 8_446_743_359)
    }

    @Test("Counters beyond 32 bits use all 8 bytes of the counter", arguments: [
        (UInt64(1) << 32, "55999456"),
        (UInt64(1) << 40, "57445672"),
        (UInt64(Int64.max), "50181742"),
        (UInt64.max, "63094451"),
    ])
    func wideCounters(counter: UInt64, code: String) throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(digits: 8))
        #expect(generator.hotp(counter: counter) == code)
    }

    // MARK: Verification window

    @Test("matchingStep accepts the current, previous and next step and returns the one matched")
    func window() throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        let time: Int64 = 1_111_111_111  // step 37037037
        let current = generator.step(at: time)
        #expect(current == 37_037_037)
        let codes = (current - 3...current + 3).map { generator.hotp(counter: $0) }
        // The test means something only if the seven codes differ.
        try #require(Set(codes).count == codes.count)

        #expect(generator.matchingStep(for: generator.hotp(counter: current), at: time) == current)
        #expect(generator.matchingStep(for: generator.hotp(counter: current - 1), at: time) == current - 1)
        #expect(generator.matchingStep(for: generator.hotp(counter: current + 1), at: time) == current + 1)
        #expect(generator.matchingStep(for: generator.hotp(counter: current - 2), at: time) == nil)
        #expect(generator.matchingStep(for: generator.hotp(counter: current + 2), at: time) == nil)
        #expect(generator.matchingStep(for: "050471", at: time) == 37_037_037)
        #expect(generator.matchingStep(for: "081804", at: time) == 37_037_036)
        #expect(generator.matchingStep(for: "266759", at: time) == 37_037_038)
        #expect(generator.matchingStep(for: "677498", at: time) == nil)  // 37037031

        // A wider window reaches two steps away; window 0 only the current step.
        #expect(generator.matchingStep(for: generator.hotp(counter: current - 2), at: time, window: 2) == current - 2)
        #expect(generator.matchingStep(for: generator.hotp(counter: current + 2), at: time, window: 2) == current + 2)
        #expect(generator.matchingStep(for: generator.hotp(counter: current - 1), at: time, window: 0) == nil)
        #expect(generator.matchingStep(for: generator.hotp(counter: current), at: time, window: 0) == current)
    }

    @Test("matchingStep rejects wrong, malformed and wrong-length codes")
    func windowRejects() throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        let time: Int64 = 59
        let right = generator.code(at: time)
        #expect(right == "287082")
        #expect(generator.matchingStep(for: right, at: time) == 1)
        #expect(generator.matchingStep(for: "", at: time) == nil)
        #expect(generator.matchingStep(for: "28708", at: time) == nil)
        #expect(generator.matchingStep(for: "2870820", at: time) == nil)
        #expect(generator.matchingStep(for: "94287082", at: time) == nil)  // the 8-digit code of the same step
        #expect(generator.matchingStep(for: "287 082", at: time) == nil)
    }

    @Test("matchingStep at step 0 does not wrap around to the previous step")
    func windowAtZero() throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        #expect(generator.matchingStep(for: "755224", at: 0) == 0)
        #expect(generator.matchingStep(for: "287082", at: 0) == 1)
        #expect(generator.matchingStep(for: generator.hotp(counter: UInt64.max), at: 0) == nil)
        #expect(generator.matchingStep(for: "755224", at: -30) == 0)
    }

    // MARK: Parameters

    @Test("OTPGenerator refuses an empty secret, digits outside 6...10 and a period <= 0")
    func generatorValidation() {
        let empty = caught { try OTPGenerator(secret: [], parameters: .default) }
        #expect(empty == .invalidSecret("the secret is empty"))
        #expect(empty?.exitCode == 65)
        for digits in [0, 5, 11] {
            let error = caught { try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(digits: digits)) }
            #expect(error?.exitCode == 65, "digits \(digits)")
        }
        for period: Int64 in [0, -30] {
            let error = caught { try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(period: period)) }
            #expect(error?.exitCode == 65, "period \(period)")
        }
        #expect(caught { try OTPGenerator(secret: Seeds.sha1, parameters: TOTPParameters(digits: 10)) } == nil)
        #expect(caught { try OTPGenerator(secret: [0], parameters: TOTPParameters(period: 1)) } == nil)
    }

    @Test("Enrolment ranges: digits 6 or 8, period 15...120")
    func enrolmentRanges() {
        #expect(TOTPParameters.default == TOTPParameters(algorithm: .sha1, digits: 6, period: 30))
        for good in [TOTPParameters(digits: 6, period: 15), TOTPParameters(digits: 8, period: 120), .default] {
            #expect(caught { try good.validateForEnrolment() } == nil)
        }
        for bad in [
            TOTPParameters(digits: 7), TOTPParameters(digits: 10), TOTPParameters(period: 14),
            TOTPParameters(period: 121), TOTPParameters(period: 0),
        ] {
            #expect(caught { try bad.validateForEnrolment() }?.exitCode == 65, "\(bad)")
        }
    }

    // MARK: Typed codes

    @Test("OTPCode.parse keeps the digits of 6- or 8-digit codes with spaces", arguments: [
        ("123456", "123456"), ("123 456", "123456"), (" 12\t34 56 ", "123456"), ("1234 5678", "12345678"),
        ("000000", "000000"),
    ])
    func codeNormalize(input: String, digits: String) throws {
        #expect(try OTPCode.parse(input) == .digits(digits))
    }

    @Test("OTPCode.parse refuses other lengths and characters", arguments: [
        "", "12345", "1234567", "123456789", "12345a", "123-456", "１２３４５６", "12345\u{0}6", "123456\n",
    ])
    func codeNormalizeRejects(input: String) {
        let error = caught { try OTPCode.parse(input) }
        #expect(error?.code == "malformed_code")
        #expect(error?.exitCode == 65)
    }
}
