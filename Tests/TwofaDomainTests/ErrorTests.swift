import Testing
@testable import TwofaDomain

@Suite("Errors and constant-time comparison")
struct ErrorTests {
    static let table: [(TwofaError, Int32, String)] = [
        (.authenticationFailed, 1, "authentication_failed"),
        (.secondFactorRequired(user: "alice", delivery: nil), 2, "second_factor_required"),
        (.lockedOut(user: "alice", retryAfter: 60), 3, "locked_out"),
        (.userNotFound(user: "alice"), 4, "user_not_found"),
        (.userExists(user: "alice"), 5, "user_exists"),
        (.wrongState(user: "alice", reason: "2FA is off"), 5, "wrong_state"),
        (.usage("bad"), 64, "usage"),
        (.invalidUsername("bad"), 65, "invalid_username"),
        (.weakPassword("bad"), 65, "weak_password"),
        (.invalidPassword("bad"), 65, "invalid_password"),
        (.malformedCode("bad"), 65, "malformed_code"),
        (.invalidSecret("bad"), 65, "invalid_secret"),
        (.invalidURI("bad"), 65, "invalid_uri"),
        (.invalidOption("bad"), 65, "invalid_option"),
        (.invalidInput("bad"), 65, "invalid_input"),
        (.internalError("bad"), 70, "internal_error"),
        (.storage(path: "/tmp/x.db", reason: "locked"), 74, "storage_error"),
        (.keyFile(path: "/tmp/key", reason: "mode 0644"), 74, "key_file_error"),
    ]

    @Test("Exit code and JSON code of every case", arguments: table)
    func exitCodes(error: TwofaError, exitCode: Int32, code: String) {
        #expect(error.exitCode == exitCode)
        #expect(error.code == code)
        #expect(!error.message.isEmpty)
        #expect(!error.message.hasSuffix("."))
        #expect(!error.message.contains("\n"))
    }

    @Test("JSON codes are distinct")
    func distinctCodes() {
        #expect(Set(Self.table.map(\.2)).count == Self.table.count)
    }

    @Test("Messages")
    func messages() {
        #expect(TwofaError.authenticationFailed.message == "authentication failed")
        #expect(TwofaError.userNotFound(user: "bob").message == "no user 'bob'")
        #expect(TwofaError.userExists(user: "bob").message == "user 'bob' exists already")
        #expect(TwofaError.lockedOut(user: "bob", retryAfter: 42).message.contains("42"))
        #expect(TwofaError.lockedOut(user: "bob", retryAfter: 42).message.contains("twofa unlock bob"))
        #expect(TwofaError.internalError("x").message == "internal error: x")
        #expect(TwofaError.storage(path: "/a.db", reason: "gone").message == "database /a.db: gone")
        #expect(TwofaError.keyFile(path: "/k", reason: "gone").message == "key file /k: gone")
        #expect(TwofaError.usage("try --help").message == "try --help")
    }

    @Test("retryAfter is only for lock-outs")
    func retryAfter() {
        #expect(TwofaError.lockedOut(user: "a", retryAfter: 900).retryAfter == 900)
        #expect(TwofaError.authenticationFailed.retryAfter == nil)
        #expect(TwofaError.usage("x").retryAfter == nil)
    }

    @Test("constantTimeEquals", arguments: [
        ([], [], true),
        ([1, 2, 3], [1, 2, 3], true),
        ([1, 2, 3], [1, 2, 4], false),
        ([0, 2, 3], [1, 2, 3], false),
        ([1, 2, 3], [1, 2], false),
        ([1, 2], [1, 2, 3], false),
        ([1, 2], [1, 2, 0], false),
        ([1, 2, 0], [1, 2], false),
        ([], [0], false),
        ([0], [], false),
        ([0xFF], [0x7F], false),
        ([0x80], [0x00], false),
    ] as [([UInt8], [UInt8], Bool)])
    func constantTime(a: [UInt8], b: [UInt8], equal: Bool) {
        #expect(constantTimeEquals(a, b) == equal)
        #expect(constantTimeEquals(b, a) == equal)
    }

    @Test("constantTimeEquals over strings' UTF-8 and slices")
    func constantTimeCollections() {
        #expect(constantTimeEquals("287082".utf8, Array("287082".utf8)))
        #expect(!constantTimeEquals("287082".utf8, "287083".utf8))
        let bytes: [UInt8] = [9, 1, 2, 3, 9]
        #expect(constantTimeEquals(bytes[1...3], [1, 2, 3]))
        #expect(!constantTimeEquals(bytes[1...3], [1, 2, 3, 9]))
        var long = [UInt8](repeating: 0xAB, count: 4096)
        let copy = long
        #expect(constantTimeEquals(long, copy))
        long[4095] = 0xAC
        #expect(!constantTimeEquals(long, copy))
    }

    @Test("wipe empties the buffer")
    func wipeEmpties() {
        var secret: [UInt8] = Array("secret".utf8)
        wipe(&secret)
        #expect(secret.isEmpty)
        var empty: [UInt8] = []
        wipe(&empty)
        #expect(empty.isEmpty)
    }

    @Test("SystemRandom gives the count asked for, beyond getentropy's 256 bytes a call")
    func systemRandom() throws {
        for count in [0, 1, 32, 256, 257, 1000] {
            #expect(try SystemRandom().bytes(count).count == count)
        }
        let a = try SystemRandom().bytes(64)
        let b = try SystemRandom().bytes(64)
        #expect(a != b)
        let big = try SystemRandom().bytes(1000)
        #expect(Set(big[256...]).count > 1)  // the part after the first call was filled
    }
}
