import Testing
@testable import TwofaDomain

@Suite("otpauth URIs")
struct URITests {
    static let secret = Seeds.sha1
    static let secretText = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

    // MARK: Building

    @Test("Default parameters are left out; a space is %20 in label and issuer")
    func buildDefault() {
        let uri = OTPAuthURI(issuer: "ACME Co", account: "alice smith@example.com", secret: Self.secret, parameters: .default)
        #expect(uri.string == "otpauth://totp/ACME%20Co:alice%20smith@example.com?secret=\(Self.secretText)&issuer=ACME%20Co")
        #expect(!uri.string.contains("+"))
        #expect(!uri.string.contains("algorithm="))
        #expect(!uri.string.contains("digits="))
        #expect(!uri.string.contains("period="))
    }

    @Test("Parameters that differ from the defaults are included")
    func buildNonDefault() {
        let all = OTPAuthURI(
            issuer: "ACME", account: "bob", secret: Self.secret,
            parameters: TOTPParameters(algorithm: .sha256, digits: 8, period: 60))
        #expect(all.string == "otpauth://totp/ACME:bob?secret=\(Self.secretText)&issuer=ACME&algorithm=SHA256&digits=8&period=60")
        let sha512 = OTPAuthURI(issuer: nil, account: "bob", secret: Self.secret, parameters: TOTPParameters(algorithm: .sha512))
        #expect(sha512.string == "otpauth://totp/bob?secret=\(Self.secretText)&algorithm=SHA512")
        let digits = OTPAuthURI(issuer: nil, account: "bob", secret: Self.secret, parameters: TOTPParameters(digits: 8))
        #expect(digits.string == "otpauth://totp/bob?secret=\(Self.secretText)&digits=8")
        let period = OTPAuthURI(issuer: nil, account: "bob", secret: Self.secret, parameters: TOTPParameters(period: 45))
        #expect(period.string == "otpauth://totp/bob?secret=\(Self.secretText)&period=45")
    }

    @Test("No issuer, or an empty one, gives a bare label and no issuer parameter")
    func buildWithoutIssuer() {
        for issuer in [nil, ""] as [String?] {
            let uri = OTPAuthURI(issuer: issuer, account: "alice", secret: Self.secret, parameters: .default)
            #expect(uri.string == "otpauth://totp/alice?secret=\(Self.secretText)")
        }
    }

    @Test("A colon inside the issuer or the account is %3A; the separator stays a colon")
    func buildColons() {
        let uri = OTPAuthURI(issuer: "A:B", account: "c:d", secret: Self.secret, parameters: .default)
        #expect(uri.string == "otpauth://totp/A%3AB:c%3Ad?secret=\(Self.secretText)&issuer=A%3AB")
    }

    @Test("Reserved characters are percent-encoded; @ stays in the label but not in the issuer")
    func buildReserved() {
        let uri = OTPAuthURI(issuer: "a@b&c=d?e/f#g+h%i", account: "x@y/z?w", secret: Self.secret, parameters: .default)
        #expect(uri.string == "otpauth://totp/a@b%26c%3Dd%3Fe%2Ff%23g%2Bh%25i:x@y%2Fz%3Fw?secret=\(Self.secretText)"
            + "&issuer=a%40b%26c%3Dd%3Fe%2Ff%23g%2Bh%25i")
        #expect(PercentEncoding.encode("Az09-._~", keeping: PercentEncoding.querySafe) == "Az09-._~")
    }

    @Test("Unicode is percent-encoded UTF-8")
    func buildUnicode() {
        let uri = OTPAuthURI(issuer: "東京", account: "Zoë", secret: Self.secret, parameters: .default)
        #expect(uri.string == "otpauth://totp/%E6%9D%B1%E4%BA%AC:Zo%C3%AB?secret=\(Self.secretText)&issuer=%E6%9D%B1%E4%BA%AC")
        #expect(uri.string.utf8.allSatisfy { $0 < 0x80 })
    }

    static let roundTrips: [OTPAuthURI] = [
        OTPAuthURI(issuer: "ACME Co", account: "alice smith@example.com", secret: secret, parameters: .default),
        OTPAuthURI(issuer: "Zoë", account: "東京", secret: secret, parameters: .default),
        OTPAuthURI(issuer: "東京", account: "Zoë", secret: Seeds.sha256, parameters: TOTPParameters(algorithm: .sha256, digits: 8, period: 60)),
        OTPAuthURI(issuer: "A:B", account: "c:d", secret: Seeds.sha512, parameters: TOTPParameters(algorithm: .sha512)),
        OTPAuthURI(issuer: nil, account: "alice", secret: [0x01], parameters: TOTPParameters(period: 15)),
        OTPAuthURI(issuer: "a+b&c=d%e", account: "x+y", secret: secret, parameters: .default),
        OTPAuthURI(issuer: "👩‍💻 Team", account: "e\u{301}", secret: secret, parameters: .default),
    ]

    @Test("Built URIs parse back to the same value", arguments: roundTrips)
    func roundTrip(uri: OTPAuthURI) throws {
        let parsed = try OTPAuthURI(parsing: uri.string)
        #expect(parsed == uri)
        #expect(parsed.account.unicodeScalars.elementsEqual(uri.account.unicodeScalars))
        #expect(parsed.string == uri.string)
    }

    // MARK: Parsing

    @Test("Parsing the Key Uri Format example")
    func parseExample() throws {
        let uri = try OTPAuthURI(parsing: "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example")
        #expect(uri.issuer == "Example")
        #expect(uri.account == "alice@google.com")
        #expect(uri.secret == Array("Hello!\u{DE}\u{AD}\u{BE}\u{EF}".unicodeScalars.map { UInt8($0.value) }))
        #expect(uri.parameters == .default)
    }

    @Test("Parsing accepts any case in scheme and type, and surrounding whitespace", arguments: [
        "otpauth://TOTP/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "OTPAUTH://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "OtpAuth://ToTp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "  otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
        "otpauth://totp/ACME%3Aalice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/ACME%3aalice?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
        "otpauth://totp/ACME:alice?SECRET=GEZD%20GNBV%20GY3T%20QOJQ%20GEZD%20GNBV%20GY3T%20QOJQ",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&image=https%3A%2F%2Fx&color=red",
    ])
    func parseForgiving(text: String) throws {
        let uri = try OTPAuthURI(parsing: text)
        #expect(uri.issuer == "ACME")
        #expect(uri.account == "alice")
        #expect(uri.secret == Seeds.sha1)
        #expect(uri.parameters == .default)
    }

    @Test("An encoded colon separates issuer and account")
    func parseEncodedColon() throws {
        let uri = try OTPAuthURI(parsing: "otpauth://totp/Issuer%3Aalice?secret=\(Self.secretText)")
        #expect(uri.issuer == "Issuer")
        #expect(uri.account == "alice")
    }

    @Test("The issuer parameter gives or overrides the issuer")
    func parseIssuerParameter() throws {
        let only = try OTPAuthURI(parsing: "otpauth://totp/alice?secret=\(Self.secretText)&issuer=ACME%20Co")
        #expect(only.issuer == "ACME Co")
        #expect(only.account == "alice")
        let override = try OTPAuthURI(parsing: "otpauth://totp/Old:alice?issuer=New&secret=\(Self.secretText)")
        #expect(override.issuer == "New")
        let none = try OTPAuthURI(parsing: "otpauth://totp/alice?secret=\(Self.secretText)")
        #expect(none.issuer == nil)
        let plus = try OTPAuthURI(parsing: "otpauth://totp/a+b?secret=\(Self.secretText)&issuer=x+y")
        #expect(plus.account == "a+b")
        #expect(plus.issuer == "x+y")
    }

    @Test("Parsing algorithm, digits and period")
    func parseParameters() throws {
        let a = try OTPAuthURI(parsing: "otpauth://totp/x?secret=\(Self.secretText)&algorithm=sha256")
        #expect(a.parameters == TOTPParameters(algorithm: .sha256))
        let b = try OTPAuthURI(parsing: "otpauth://totp/x?secret=\(Self.secretText)&algorithm=SHA512&digits=8&period=60")
        #expect(b.parameters == TOTPParameters(algorithm: .sha512, digits: 8, period: 60))
        let c = try OTPAuthURI(parsing: "otpauth://totp/x?period=60&digits=8&secret=\(Self.secretText)&algorithm=SHA1")
        #expect(c.parameters == TOTPParameters(algorithm: .sha1, digits: 8, period: 60))
        let d = try OTPAuthURI(parsing: "otpauth://totp/x?secret=\(Self.secretText)&digits=6&period=30")
        #expect(d.parameters == .default)
    }

    @Test("Parsing refuses what is not a valid TOTP or HOTP URI, with exit code 65", arguments: [
        "otpauth://HOTP/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://hotp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=-1",
        "otpauth://hotp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=x",
        "otpauth://hotp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=18446744073709551616",
        "otpauth://motp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/ACME:alice?issuer=ACME",
        "otpauth://totp/ACME:alice",
        "otpauth://totp/ACME:alice?secret=",
        "otpauth://totp/ACME:alice?secret",
        "otpauth://totp/ACME:alice?secret=GEZDGNBV1",
        "otpauth://totp/ACME:alice?secret=ABC",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=7",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=six",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=0",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=-5",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=1.5",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=MD5",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=5",
        "https://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth:/totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://",
        "otpauth://totp",
        "otpauth://steam/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "",
        "   ",
        "otpauth://totp/ACME%G1:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/ACME:al%G1ice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/ACME:alice%?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/ACME:alice%4?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=%G1",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQ%ZZ",
        "otpauth://totp/ACME:%FF%FE?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=+5",
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=+6",
        "otpauth://\u{301}totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    ])
    func parseRejects(text: String) {
        let error = caught { try OTPAuthURI(parsing: text) }
        #expect(error?.exitCode == 65)
        #expect(error?.code == "invalid_uri")
    }

    @Test("Spaces between the issuer's colon and the account are dropped (Key Uri Format)")
    func spacesBeforeAccount() throws {
        let uri = try OTPAuthURI(parsing: "otpauth://totp/ACME:%20%20alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(uri.issuer == "ACME")
        #expect(uri.account == "alice")
    }

    @Test("PercentEncoding.decode")
    func percentDecode() throws {
        #expect(try PercentEncoding.decode("a%20b") == "a b")
        #expect(try PercentEncoding.decode("a+b") == "a+b")
        #expect(try PercentEncoding.decode("%e6%9D%b1") == "東")
        #expect(try PercentEncoding.decode("") == "")
        #expect(caught { try PercentEncoding.decode("%G1") } == .invalidURI("invalid otpauth URI: a malformed %-escape"))
        #expect(caught { try PercentEncoding.decode("%1") }?.exitCode == 65)
        #expect(caught { try PercentEncoding.decode("%C3") }?.exitCode == 65)
    }

    @Test("trimmingASCIIWhitespace")
    func trimming() {
        #expect(" \t\r\n a b \n".trimmingASCIIWhitespace() == "a b")
        #expect("   ".trimmingASCIIWhitespace() == "")
        #expect("\u{A0}x\u{A0}".trimmingASCIIWhitespace() == "\u{A0}x\u{A0}")
    }
}
