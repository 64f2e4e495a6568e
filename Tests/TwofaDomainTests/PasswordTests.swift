import Foundation
import Testing
@testable import TwofaDomain

@Suite("Passwords and usernames")
struct PasswordTests {
    // MARK: Password bytes

    @Test("Decomposed and precomposed é give the same NFC bytes")
    func nfc() throws {
        let decomposed = try Password(raw: Array("e\u{301}".utf8))
        let precomposed = try Password(raw: Array("\u{e9}".utf8))
        #expect(Array("e\u{301}".utf8) == [0x65, 0xCC, 0x81])
        #expect(decomposed.bytes == [0xC3, 0xA9])
        #expect(precomposed.bytes == [0xC3, 0xA9])
        let longer = try Password(raw: Array("cafe\u{301}-au-lait".utf8))
        #expect(longer.bytes == Array("caf\u{e9}-au-lait".utf8))
        #expect(Array(longer.bytes.prefix(5)) == [0x63, 0x61, 0x66, 0xC3, 0xA9])
        // Hangul jamo compose too.
        #expect(try Password(raw: Array("\u{1100}\u{1161}".utf8)).bytes == Array("\u{AC00}".utf8))
        // ASCII is unchanged.
        #expect(try Password(raw: Array("Tr0ub4dor&3".utf8)).bytes == Array("Tr0ub4dor&3".utf8))
    }

    @Test("Invalid UTF-8 is refused with exit code 65", arguments: [
        [0xFF] as [UInt8], [0x61, 0xFE, 0x62], [0xC3], [0x61, 0x62, 0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80],
        [0xF4, 0x90, 0x80, 0x80], [0x80, 0x61],
    ])
    func invalidUTF8(raw: [UInt8]) {
        let error = caught { try Password(raw: raw) }
        #expect(error == .invalidPassword("the password is not valid UTF-8"))
        #expect(error?.exitCode == 65)
    }

    @Test("A NUL byte and an empty password are refused")
    func nulAndEmpty() {
        #expect(caught { try Password(raw: [0x61, 0x00, 0x62]) } == .invalidPassword("the password contains a NUL byte"))
        #expect(caught { try Password(raw: [0x00]) }?.exitCode == 65)
        #expect(caught { try Password(raw: []) } == .invalidPassword("the password is empty"))
    }

    @Test("511 bytes (crypt(3)'s limit) are accepted and hash, 512 refused with 65 (counted after NFC)")
    func lengthLimit() throws {
        let exactly = try Password(raw: [UInt8](repeating: UInt8(ascii: "a"), count: 511))
        #expect(exactly.bytes.count == 511)
        // libxcrypt really takes it (before, 512 to 1024 bytes passed here and then failed in
        // crypt(3) with exit 70).
        let hash = try PasswordHasher.default.hash(exactly, random: SystemRandom())
        #expect(PasswordHasher.verify(exactly, against: hash))
        let over = caught { try Password(raw: [UInt8](repeating: UInt8(ascii: "a"), count: 512)) }
        #expect(over == .invalidPassword("the password is longer than 511 bytes of UTF-8, the limit of crypt(3)"))
        #expect(over?.exitCode == 65)
        #expect(caught { try Password(raw: [UInt8](repeating: UInt8(ascii: "a"), count: 1024)) }?.exitCode == 65)
        #expect(caught { try Password(raw: [UInt8](repeating: UInt8(ascii: "a"), count: 100_000)) }?.exitCode == 65)

        // 255 decomposed é are 765 bytes as typed but 510 once composed.
        let decomposed = Array(String(repeating: "e\u{301}", count: 255).utf8)
        #expect(decomposed.count == 765)
        #expect(try Password(raw: decomposed).bytes.count == 510)
        let decomposedOver = decomposed + [UInt8(ascii: "x"), UInt8(ascii: "y")]
        #expect(caught { try Password(raw: decomposedOver) }?.exitCode == 65)
        // A multi-byte character that would straddle the limit.
        let straddling = [UInt8](repeating: UInt8(ascii: "a"), count: 510) + [0xC3, 0xA9]
        #expect(caught { try Password(raw: straddling) }?.exitCode == 65)
    }

    @Test("A wrong password costs at least a default hash, whatever the stored scheme")
    func wrongPasswordCostsTheDefault() throws {
        let password = try Password(raw: Array("not the password".utf8))
        let hasher = PasswordHasher.default
        // A bcrypt hash at cost 5 (what an import may carry): before, a wrong password was
        // checked against it alone, 4 times faster than an unknown user's dummy yescrypt.
        let cheap = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        let verdict = PasswordHasher.verifyCostingDefault(password, against: cheap, hasher: hasher)
        #expect(!verdict.matched)
        #expect(verdict.settingsHashed == [cheap, hasher.dummySetting()])
        // A default hash costs what it costs: no second hash.
        let ours = try hasher.hash(try Password(raw: Array("the password 42".utf8)), random: SystemRandom())
        #expect(PasswordHasher.verifyCostingDefault(password, against: ours, hasher: hasher).settingsHashed == [ours])
        // A right password is never hashed twice (its rehash follows the login).
        let right = try Password(raw: Array("the password 42".utf8))
        let good = PasswordHasher.verifyCostingDefault(right, against: ours, hasher: hasher)
        #expect(good.matched && good.settingsHashed.count == 1)
        #expect(PasswordHasher.costPrefix(of: "$y$j9T$abcdef$") == "$y$j9T$")
        #expect(PasswordHasher.costPrefix(of: "$6$rounds=5000$salt$hash") == "$6$rounds=5000$")
    }

    @Test("A password never prints itself")
    func description() throws {
        let password = try Password(raw: Array("hunter2hunter2".utf8))
        #expect(password.description == "<password>")
        #expect(!"\(password)".contains("hunter2"))
        #expect(!String(describing: password).contains("hunter2"))
    }

    // MARK: Policy

    static func policyError(_ text: String, username: String = "alice") -> TwofaError? {
        caught { try Password(raw: Array(text.utf8)).checkPolicy(username: username) }
    }

    @Test("Passwords shorter than 8 characters are refused", arguments: [
        "a", "Xk3#pQ9", "ééééééé", "e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}", "👩‍💻👩‍💻👩‍💻👩‍💻👩‍💻👩‍💻👩‍💻",
    ])
    func tooShort(text: String) {
        let error = Self.policyError(text)
        #expect(error == .weakPassword("the password is too short: at least 8 characters"))
        #expect(error?.exitCode == 65)
    }

    @Test("Eight characters are enough, counted as characters, not bytes", arguments: [
        "Xk3#pQ9z", "éééééééé", "東京東京東京東京",
    ])
    func longEnough(text: String) {
        #expect(Self.policyError(text) == nil)
    }

    @Test("The username is refused, case-insensitively", arguments: [
        ("alice.smith", "alice.smith"), ("ALICE.SMITH", "alice.smith"), ("Alice.Smith", "aLICE.sMITH"),
        ("bob@example.com", "Bob@Example.com"),
    ])
    func username(password: String, username: String) {
        let error = Self.policyError(password, username: username)
        #expect(error == .weakPassword("the password must not be the username"))
        #expect(error?.exitCode == 65)
    }

    @Test("Common passwords are refused, case-insensitively", arguments: [
        "password", "12345678", "iloveyou", "iloveyou1", "password1", "password123", "PASSWORD", "Password123",
        "qwertyuiop", "trustno1", "baseball", "!qaz1qaz", "zzzzzzzzzz", "\"k.,jdm\"",
    ])
    func common(text: String) {
        let error = Self.policyError(text)
        #expect(error == .weakPassword("the password is on the list of common passwords"))
        #expect(error?.exitCode == 65)
    }

    @Test("Strong passwords are accepted", arguments: [
        "correct-horse-battery-staple-93", "zzzzzzzzz", "password1234567890xyz!", "Ω≈ç√∫˜µ≤≥÷",
    ])
    func strong(text: String) {
        #expect(Self.policyError(text) == nil)
    }

    /// Every entry of the generated list must be found by the binary search (which needs the
    /// list sorted the way Swift compares strings), and its neighbours must not.
    @Test("Every common password in the list is found")
    func wholeList() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/TwofaDomain/CommonPasswords.swift").path
        let source = try String(contentsOfFile: path, encoding: .utf8)
        let start = try #require(source.range(of: "#\"\"\"\n"))
        let end = try #require(source.range(of: "\n\"\"\"#", range: start.upperBound..<source.endIndex))
        let entries = source[start.upperBound..<end.lowerBound].split(separator: "\n").map(String.init)
        #expect(entries.count == 8354)
        // The binary search needs the list sorted and deduplicated as Swift compares strings.
        let unsorted = zip(entries, entries.dropFirst()).filter { !($0 < $1) }
        #expect(unsorted.isEmpty, "out of order: \(unsorted.prefix(5))")
        #expect(entries.allSatisfy { $0 == $0.lowercased() && $0.count >= 8 })
        // contains() splits the whole list on every call, so look up a spread of entries (both
        // ends, and every 37th) rather than all 8354.
        let sample = Array(entries.prefix(3)) + Array(entries.suffix(3))
            + stride(from: 0, to: entries.count, by: 37).map { entries[$0] }
        var missing: [String] = []
        for entry in sample where !CommonPasswords.contains(entry) { missing.append(entry) }
        #expect(missing.isEmpty, "not found: \(missing.prefix(10))")
        for entry in sample {
            #expect(!CommonPasswords.contains(entry + "\u{7F}"))
        }
        #expect(!CommonPasswords.contains(""))
        #expect(!CommonPasswords.contains(" "))
        #expect(!CommonPasswords.contains("~~~~~~~~~~~~"))
    }

    // MARK: Usernames

    @Test("Usernames are lower-cased", arguments: [
        ("alice", "alice"), ("Alice", "alice"), ("ALICE", "alice"), ("Alice.B_c@d+e-f", "alice.b_c@d+e-f"),
        ("0day", "0day"), ("a", "a"), ("Z9", "z9"),
    ])
    func usernameNormalize(raw: String, normalized: String) throws {
        #expect(try Username.normalize(raw) == normalized)
    }

    @Test("64 characters are the most a username may have")
    func usernameLength() throws {
        let sixtyFour = String(repeating: "A", count: 64)
        #expect(try Username.normalize(sixtyFour) == String(repeating: "a", count: 64))
        let error = caught { try Username.normalize(sixtyFour + "a") }
        #expect(error == .invalidUsername("invalid username: longer than 64 characters"))
        #expect(error?.exitCode == 65)
    }

    @Test("Invalid usernames are refused with exit code 65", arguments: [
        "", ".alice", "_alice", "@alice", "+alice", "-alice", "alice smith", " alice", "alice ", "zoë", "東京",
        "alice\u{0}", "\u{0}", "alice/bob", "alice:bob", "alice\n", "ａlice", "alice#", "al'ice", "e\u{301}",
    ])
    func usernameRejects(raw: String) {
        let error = caught { try Username.normalize(raw) }
        #expect(error?.code == "invalid_username")
        #expect(error?.exitCode == 65)
    }
}

@Suite("crypt(3) password hashes")
struct PasswordHasherTests {
    static let perl = "/usr/bin/perl"

    static func password(_ text: String) throws -> Password {
        try Password(raw: Array(text.utf8))
    }

    /// crypt(3) as perl calls it, through the system's libcrypt (libxcrypt on Debian).
    static func perlCrypt(_ password: String, _ setting: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: perl)
        process.arguments = ["-e", "print crypt($ARGV[0], $ARGV[1]) // ''", password, setting]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    @Test("The default hasher makes $y$ hashes that verify")
    func hashDefault() throws {
        let password = try Self.password("correct-horse-battery-staple-93")
        let hash = try PasswordHasher.default.hash(password, random: SystemRandom())
        #expect(hash.hasPrefix("$y$"))
        #expect(PasswordHasher.verify(password, against: hash))
        #expect(!PasswordHasher.verify(try Self.password("correct-horse-battery-staple-94"), against: hash))
        #expect(!PasswordHasher.verify(try Self.password("Correct-horse-battery-staple-93"), against: hash))
        #expect(!PasswordHasher.default.needsRehash(hash))
        #expect(PasswordHasher.isSupported(hash))
        // A fresh salt every time.
        let again = try PasswordHasher.default.hash(password, random: SystemRandom())
        #expect(again != hash)
        #expect(PasswordHasher.verify(password, against: again))
    }

    @Test("The hash depends only on the password and the salt drawn")
    func deterministicSalt() throws {
        let password = try Self.password("hunter2hunter2")
        let first = try PasswordHasher.default.hash(password, random: FixedRandom(byte: 7))
        let second = try PasswordHasher.default.hash(password, random: FixedRandom(byte: 7))
        let other = try PasswordHasher.default.hash(password, random: FixedRandom(byte: 8))
        #expect(first == second)
        #expect(first != other)
        #expect(try PasswordHasher.default.makeSetting(random: FixedRandom(byte: 7)).hasPrefix("$y$"))
        #expect(first.hasPrefix(try PasswordHasher.default.makeSetting(random: FixedRandom(byte: 7))))
    }

    @Test("NFC-equal passwords verify against each other's hash")
    func normalisedVerify() throws {
        let hash = try PasswordHasher.default.hash(try Self.password("caf\u{e9} au lait"), random: SystemRandom())
        #expect(PasswordHasher.verify(try Self.password("cafe\u{301} au lait"), against: hash))
    }

    static let foreignSettings = [
        "$6$saltsalt$", "$5$saltsalt$", "$2b$05$abcdefghijklmnopqrstuu", "$y$j9T$abcdefghijklmnop$",
        "$1$saltsalt$", "$gy$j9T$abcdefghijklmnop$",
    ]

    @Test("Hashes made by perl's crypt verify", arguments: foreignSettings)
    func verifiesPerlHashes(setting: String) throws {
        for text in ["correct horse", "pässwörd-ñ", "x"] {
            let hash = try Self.perlCrypt(text, setting)
            try #require(hash.hasPrefix(setting.prefix(4)) && hash.count > setting.count, "perl gave \(hash)")
            #expect(PasswordHasher.verify(try Self.password(text), against: hash), "\(hash)")
            #expect(!PasswordHasher.verify(try Self.password(text + "!"), against: hash), "\(hash)")
            #expect(PasswordHasher.isSupported(hash))
            #expect(PasswordHasher.default.needsRehash(hash) == !hash.hasPrefix("$y$"))
        }
    }

    @Test("Hashes made by PasswordHasher verify with perl's crypt", arguments: [
        PasswordHasher.default, PasswordHasher(prefix: "$y$", cost: 3), PasswordHasher(prefix: "$6$", cost: 0),
        PasswordHasher(prefix: "$2b$", cost: 5), PasswordHasher(prefix: "$gy$", cost: 0),
    ])
    func perlVerifies(hasher: PasswordHasher) throws {
        let text = "pässwörd-ñ 42"
        let hash = try hasher.hash(try Self.password(text), random: SystemRandom())
        #expect(hash.hasPrefix(hasher.prefix))
        #expect(try Self.perlCrypt(text, hash) == hash)
        #expect(try Self.perlCrypt(text + "x", hash) != hash)
        #expect(PasswordHasher.verify(try Self.password(text), against: hash))
        #expect(hasher.needsRehash(hash) == false)
    }

    @Test("isSupported knows libxcrypt's hashes and refuses anything else")
    func isSupported() throws {
        let sha512 = try Self.perlCrypt("pw", "$6$saltsalt$")
        #expect(PasswordHasher.isSupported(sha512))
        // A bare setting is no hash: no password gives it back.
        for bad in ["$6$saltsalt$", "$y$j9T$abcdefghijklmnop$", "", "*", "!", "!!", "*LK*", "$", "$9$abc$def", "$6", "$y$", "$2b$99$abcdefghijklmnopqrstuu"] {
            #expect(!PasswordHasher.isSupported(bad), "\(bad.debugDescription)")
        }
    }

    /// libxcrypt reads any string of two or more characters from [./0-9A-Za-z] as a traditional
    /// DES setting (salt "ga"), so crypt("", "garbage") gives "gaY2L19wgL0Jo"; yet no password
    /// can ever verify against "garbage", so it is no hash. A real DES hash is one.
    @Test("isSupported refuses a string that is not a hash (\"garbage\")")
    func isSupportedGarbage() throws {
        #expect(PasswordHasher.isSupported(try Self.perlCrypt("pw", "ab")))
        #expect(!PasswordHasher.isSupported("garbage"))
        #expect(!PasswordHasher.isSupported("not a hash at all"))
        #expect(!PasswordHasher.isSupported("plaintextpassword"))
    }

    @Test("Verification fails for malformed or unsupported hashes")
    func verifyMalformed() throws {
        let password = try Self.password("anything-at-all")
        for bad in ["", "*", "!", "garbage", "$6$saltsalt$", "$9$abc$def", "$y$j9T$abcdefghijklmnop$"] {
            #expect(!PasswordHasher.verify(password, against: bad), "\(bad.debugDescription)")
        }
    }

    @Test("needsRehash is true for anything but the hasher's prefix")
    func needsRehash() {
        let hasher = PasswordHasher.default
        #expect(hasher.needsRehash("$6$saltsalt$abc"))
        #expect(hasher.needsRehash("$2b$05$abcdefghijklmnopqrstuu"))
        #expect(hasher.needsRehash("$gy$j9T$abc$def"))
        #expect(hasher.needsRehash(""))
        #expect(!hasher.needsRehash("$y$j9T$abcdefghijklmnop$xyz"))
        #expect(!PasswordHasher(prefix: "$6$", cost: 0).needsRehash("$6$saltsalt$abc"))
        #expect(PasswordHasher(prefix: "$6$", cost: 0).needsRehash("$y$j9T$abc$def"))
    }

    @Test("dummySetting is a stable yescrypt setting no password matches")
    func dummySetting() throws {
        let setting = PasswordHasher.default.dummySetting()
        #expect(setting.hasPrefix("$y$"))
        #expect(setting == PasswordHasher.default.dummySetting())
        // It is a setting crypt(3) accepts: hashing against it gives a whole yescrypt hash.
        #expect(PasswordHasher.crypt(Array("x".utf8), setting: setting).map(PasswordHasher.isSupported) == true)
        #expect(!PasswordHasher.verify(try Self.password("password"), against: setting))
        #expect(PasswordHasher(prefix: "$6$", cost: 0).dummySetting().hasPrefix("$6$"))
    }
}
