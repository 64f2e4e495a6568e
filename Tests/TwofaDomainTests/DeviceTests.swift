import Crypto
import Foundation
import Testing
@testable import TwofaDomain

/// HOTP's look-ahead and URI, google-authenticator's HOTP files, and the email device's
/// address, codes and message.
@Suite("HOTP and the email device")
struct DeviceTests {
    // MARK: HOTP

    @Test("The look-ahead finds RFC 4226 Appendix D codes from the next counter to 9 beyond it, and no further")
    func lookAhead() throws {
        let generator = try OTPGenerator(secret: Seeds.sha1, parameters: .default)
        // Appendix D: counter 5 is 254676, 9 is 520489.
        #expect(generator.matchingCounter(for: "254676", from: 0) == 5)
        #expect(generator.matchingCounter(for: "520489", from: 0) == 9)
        #expect(generator.matchingCounter(for: "254676", from: 5) == 5)
        // Behind the next counter: never (the counter has moved past it).
        #expect(generator.matchingCounter(for: "254676", from: 6) == nil)
        // 10 beyond: outside the window.
        let tenth = generator.hotp(counter: 10)
        #expect(generator.matchingCounter(for: tenth, from: 0) == nil)
        #expect(generator.matchingCounter(for: tenth, from: 1) == 10)
        // The top of the counter's range does not wrap to 0.
        #expect(generator.matchingCounter(for: "755224", from: UInt64.max - 3) == nil)
    }

    @Test func hotpURIRoundTrips() throws {
        let uri = OTPAuthURI(
            issuer: "ACME", account: "alice", secret: Array(Seeds.sha1.prefix(20)), parameters: .default, counter: 7)
        #expect(uri.string.hasPrefix("otpauth://hotp/ACME:alice?secret="))
        #expect(uri.string.hasSuffix("&issuer=ACME&counter=7"))
        #expect(!uri.string.contains("period"))
        let parsed = try OTPAuthURI(parsing: uri.string)
        #expect(parsed == uri)
        let big = try OTPAuthURI(parsing: "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551615")
        #expect(big.counter == UInt64.max)
        // A TOTP URI has no counter, and says so.
        #expect(try OTPAuthURI(parsing: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").counter == nil)
        #expect(throws: TwofaError.self) { try OTPAuthURI(parsing: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&counter=1") }
    }

    @Test("google-authenticator HOTP files: HOTP_COUNTER is read; TOTP_AUTH and HOTP_COUNTER together, or neither, are refused")
    func googleAuthenticatorHOTPFiles() throws {
        let file = try GoogleAuthenticatorFile(parsing: Array(
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" HOTP_COUNTER 12\n12345678\n".utf8))
        #expect(file.counter == 12)
        #expect(file.scratchCodes == ["12345678"])
        let totp = try GoogleAuthenticatorFile(parsing: Array("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n".utf8))
        #expect(totp.counter == nil)
        for bad in [
            "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" HOTP_COUNTER 1\n", "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n",
            "JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER -1\n", "JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER\n",
        ] {
            #expect(throws: TwofaError.self) { try GoogleAuthenticatorFile(parsing: Array(bad.utf8)) }
        }
    }

    /// pam_google_authenticator takes only 10000000 to 99999999 as scratch codes: an exported
    /// one with a leading zero failed there one time in ten (and hid the codes after it).
    @Test func scratchCodesAreEightDigitsFromTenMillion() {
        #expect(GoogleAuthenticatorFile.scratchCode(0) == "10000000")
        #expect(GoogleAuthenticatorFile.scratchCode(89_999_999) == "99999999")
        #expect(GoogleAuthenticatorFile.scratchCode(90_000_000) == "10000000")
        #expect(GoogleAuthenticatorFile.scratchCode(4_229_999_999) == "99999999")
        #expect(GoogleAuthenticatorFile.scratchCode(4_230_000_000) == nil)
        #expect(GoogleAuthenticatorFile.scratchCode(UInt32.max) == nil)
        for _ in 0..<1000 {
            let code = GoogleAuthenticatorFile.scratchCode(UInt32.random(in: 0..<4_230_000_000)) ?? ""
            #expect(code.count == 8 && code.first != "0")
        }
    }

    @Test("Export's JSON Lines carry a HOTP counter and an email device, and read back")
    func transferredKinds() throws {
        let secret = Array(Seeds.sha1.prefix(20))
        let hotp = TransferredAccount(
            user: "alice", passwordHash: "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
            createdAt: 1_700_000_000,
            totp: TransferredTOTP(secret: secret, issuer: "ACME", parameters: .default, status: .on, lastStep: 41, kind: .hotp),
            backupCodeDigests: [])
        #expect(hotp.jsonLine.contains(#""type":"hotp","counter":42"#))
        let email = TransferredAccount(
            user: "bob", passwordHash: hotp.passwordHash, createdAt: 1_700_000_000,
            totp: TransferredTOTP(
                secret: secret, issuer: "ACME", parameters: .default, status: .on, kind: .email,
                email: try EmailAddress("bob@example.com")),
            backupCodeDigests: [])
        let read = try ImportReader.readAll(Array((hotp.jsonLine + "\n" + email.jsonLine + "\n").utf8), format: .jsonl, now: 0)
        #expect(read.count == 2)
        #expect(read[0].totp?.kind == .hotp)
        #expect(read[0].totp?.lastStep == 41)
        #expect(read[0].totp?.nextCounter == 42)
        #expect(read[1].totp?.kind == .email)
        #expect(read[1].totp?.email?.text == "bob@example.com")
        for bad in [
            #"{"user":"c","password_hash":"$y$x","totp":{"secret":"JBSWY3DPEHPK3PXP","type":"hotp"}}"#,
            #"{"user":"c","password_hash":"$y$x","totp":{"secret":"JBSWY3DPEHPK3PXP","type":"email"}}"#,
            #"{"user":"c","password_hash":"$y$x","totp":{"secret":"JBSWY3DPEHPK3PXP","type":"email","email":"a@b\nBcc: c@d"}}"#,
            #"{"user":"c","password_hash":"$y$x","totp":{"secret":"JBSWY3DPEHPK3PXP","counter":3}}"#,
            #"{"user":"c","password_hash":"$y$x","totp":{"secret":"JBSWY3DPEHPK3PXP","type":"sms"}}"#,
        ] {
            #expect(throws: TwofaError.self) { try ImportReader.readAll(Array(bad.utf8), format: .jsonl, now: 0) }
        }
    }

    // MARK: The email device

    @Test("An address is a plain local@domain: nothing that could add a header or a recipient", arguments: [
        "a@example.com\r\nBcc: x@evil.example", "a@example.com\nBcc: x@evil.example", "a@example.com, b@evil.example",
        "a@example.com,b@evil.example", "Alice <a@example.com>", "a b@example.com", "@example.com", "a@", "a@@example.com",
        ".a@example.com", "a..b@example.com", "a@example..com", "a@-", "ä@example.com", "a@exa_mple.com",
        "\u{202E}a@example.com", String(repeating: "a", count: 65) + "@example.com",
        "a@" + String(repeating: "b", count: 260) + ".com", "",
    ])
    func addressesThatAreRefused(address: String) {
        #expect(throws: TwofaError.self) { try EmailAddress(address) }
    }

    @Test func addressesAndTheirMasks() throws {
        #expect(try EmailAddress("alice@example.com").masked == "a***@example.com")
        #expect(try EmailAddress("root@localhost").masked == "r***@localhost")
        #expect(try EmailAddress("o'brien+2fa@mail.example.org").text == "o'brien+2fa@mail.example.org")
    }

    @Test("Codes are 6 digits, uniform, and stored as a keyed digest bound to the user and the time sent")
    func codesAndDigests() throws {
        let random = SystemRandom()
        var seen = Set<String>()
        for _ in 0..<200 {
            let code = try EmailCodes.generate(random: random)
            #expect(code.count == 6 && code.allSatisfy(\.isASCII) && code.allSatisfy(\.isNumber))
            seen.insert(code)
        }
        #expect(seen.count > 190)
        let secret = Array(Seeds.sha1.prefix(20))
        let digest = EmailCodes.digest("123456", secret: secret, user: "alice", sentAt: 100)
        #expect(digest.count == 32)
        #expect(digest == EmailCodes.digest("123456", secret: secret, user: "alice", sentAt: 100))
        #expect(digest != EmailCodes.digest("123456", secret: secret, user: "bob", sentAt: 100))
        #expect(digest != EmailCodes.digest("123456", secret: secret, user: "alice", sentAt: 101))
        #expect(digest != EmailCodes.digest("123456", secret: Array(secret.reversed()), user: "alice", sentAt: 100))
        // Not the plain SHA-256 of the code: that one is undone by trying all 10^6 codes.
        #expect(digest != Array(SHA256Probe.hash("123456")))
    }

    @Test("The message: RFC 5322 headers, an RFC 5322 date, the code in the body only")
    func message() throws {
        let message = EmailCodeMessage(
            from: "twofa@host.example\r\nBcc: x@evil.example", to: try EmailAddress("alice@example.com"), user: "alice",
            issuer: "ACME\u{7}", code: "012345", sentAt: 1_796_053_200, messageID: "abc", host: "host.example")
        let text = String(decoding: message.bytes, as: UTF8.self)
        let split = try #require(text.range(of: "\n\n"))
        let parts = [String(text[..<split.lowerBound]), String(text[split.upperBound...])]
        let headers = parts[0].split(separator: "\n").map(String.init)
        #expect(headers.allSatisfy { $0.contains(": ") && $0.utf8.allSatisfy { (0x20...0x7e).contains($0) } })
        #expect(headers.contains("To: alice@example.com"))
        #expect(headers.filter { $0.hasPrefix("Bcc") }.isEmpty)
        #expect(headers.contains("Date: Mon, 30 Nov 2026 15:40:00 +0000"))
        #expect(headers.contains("Message-ID: <abc@host.example>"))
        #expect(!parts[0].contains("012345"))
        #expect(parts[1].contains("012345"))
        #expect(EmailCodeMessage.date(0) == "Thu, 1 Jan 1970 00:00:00 +0000")
        #expect(EmailCodeMessage.date(951_782_400) == "Tue, 29 Feb 2000 00:00:00 +0000")
    }
}

/// SHA-256 through swift-crypto, for the comparison above.
enum SHA256Probe {
    static func hash(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }
}
