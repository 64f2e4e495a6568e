import Foundation
import Testing

/// Every exit code of the table that these commands reach, each with one line on stderr (or
/// one JSON error object) and nothing changed on disk.
@Suite("exit codes and bad input")
struct ExitCodeTests {
    @Test func usageErrorsAre64() throws {
        let box = try Sandbox()
        // A password needs --password-stdin when stdin is not a terminal.
        let noStdin = try box.run(["register", "alice"])
        #expect(noStdin.status == 64)
        #expect(noStdin.stderr.hasPrefix("twofa: "))
        #expect(noStdin.stderr.filter { $0 == "\n" }.count == 1)
        let json = try box.run(["register", "alice", "--json"])
        #expect(json.status == 64)
        #expect(json.error["code"] as? String == "usage")
        #expect(try box.run(["verify", "alice"]).status == 64)
        #expect(try box.run(["frobnicate"]).status == 64)
        #expect(try box.run(["login"]).status == 64)
        #expect(try box.run(["code", "--secret-stdin", "--uri-stdin"]).status == 64)
        #expect(try box.run(["code", "--uri-stdin", "--digits", "8"], stdin: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").status == 64)
        #expect(try box.run(["qr"]).status == 64)
        #expect(try box.run(["code", "--at", "soon", "--secret-stdin"], stdin: "JBSWY3DPEHPK3PXP").status == 64)
        #expect(try box.run(["qr", "--text", "x", "--format", "jpeg"]).status == 64)
        #expect(try box.run(["enable-2fa", "alice", "--algorithm", "md5", "--password-stdin"], stdin: "x\n").status == 64)
        let usageJSON = try box.run(["qr", "--json"])
        #expect(usageJSON.status == 64)
        #expect(usageJSON.error["message"] is String)
        #expect(!FileManager.default.fileExists(atPath: box.database))
    }

    @Test(arguments: [
        (["register", "", "--password-stdin"], defaultPassword, "invalid_username"),
        (["register", ".alice", "--password-stdin"], defaultPassword, "invalid_username"),
        (["register", "al ice", "--password-stdin"], defaultPassword, "invalid_username"),
        (["register", String(repeating: "a", count: 65), "--password-stdin"], defaultPassword, "invalid_username"),
        (["register", "alice", "--password-stdin"], "short", "weak_password"),
        (["register", "alice", "--password-stdin"], "Alice", "weak_password"),
        (["register", "alicealice", "--password-stdin"], "AliceAlice", "weak_password"),
        (["register", "alice", "--password-stdin"], "password1234", "weak_password"),
        (["register", "alice", "--password-stdin"], String(repeating: "x", count: 1025), "invalid_password"),
        (["register", "alice", "--password-stdin", "--enable-2fa", "--digits", "7"], defaultPassword, "invalid_option"),
        (["register", "alice", "--password-stdin", "--enable-2fa", "--period", "10"], defaultPassword, "invalid_option"),
        (["register", "alice", "--password-stdin", "--enable-2fa", "--period", "121"], defaultPassword, "invalid_option"),
        (["verify", "alice", "--code", "12345"], "", "malformed_code"),
        (["verify", "alice", "--code", "12a456"], "", "malformed_code"),
        (["verify", "alice", "--code", "１２３４５６"], "", "malformed_code"),
        (["verify", "alice", "--code", "12345678901234567890"], "", "malformed_code"),
        (["code", "--secret-stdin"], "not base32!", "invalid_secret"),
        (["code", "--secret-stdin"], "", "invalid_secret"),
        (["code", "--secret-stdin", "--digits", "9"], "JBSWY3DPEHPK3PXP", "invalid_option"),
        (["code", "--uri-stdin"], "https://example.com", "invalid_uri"),
        (["code", "--uri-stdin"], "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=1", "invalid_uri"),
        (["code", "--uri-stdin", "--hotp"], "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", "invalid_uri"),
        (["code", "--uri-stdin", "--hotp"], "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP", "invalid_uri"),
        // An address that would add a header (a hidden recipient) to the message.
        (["register", "alice", "--password-stdin", "--enable-2fa", "--device", "email", "--email", "a@example.com\r\nBcc: x@evil.example"],
         defaultPassword, "invalid_option"),
        (["register", "alice", "--password-stdin", "--enable-2fa", "--device", "email", "--email", "a@example.com,b@evil.example"],
         defaultPassword, "invalid_option"),
        (["code", "--uri-stdin"], "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=7", "invalid_uri"),
        (["code", "--uri-stdin"], "otpauth://totp/x?issuer=y", "invalid_uri"),
        (["code", "--secret-stdin", "--at=-1"], "JBSWY3DPEHPK3PXP", "invalid_option"),
        (["code", "--secret-stdin", "--at", "253402300800"], "JBSWY3DPEHPK3PXP", "invalid_option"),
    ] as [([String], String, String)])
    func invalidInputIs65AndChangesNothing(arguments: [String], stdin: String, code: String) throws {
        let box = try Sandbox()
        try box.register("bob")
        let before = box.snapshot()
        let result = try box.run(arguments + ["--json"], stdin: stdin + "\n")
        #expect(result.status == 65, "\(arguments): \(result.stderr)")
        #expect(result.error["code"] as? String == code)
        #expect(result.stdout.isEmpty)
        #expect(box.snapshot() == before)
        let human = try box.run(arguments, stdin: stdin + "\n")
        #expect(human.status == 65)
        #expect(human.stderr.hasPrefix("twofa: ") && human.stderr.filter { $0 == "\n" }.count == 1, "\(human.stderr)")
    }

    @Test func invalidUTF8PasswordIs65() throws {
        let box = try Sandbox()
        let process = try runProcess(
            Sandbox.binary.path, ["register", "alice", "--password-stdin"], stdin: Data([0x61, 0xff, 0xfe, 0x62, 0x0a]),
            environment: ["TWOFA_DB": box.database])
        #expect(process.status == 65)
        #expect(!FileManager.default.fileExists(atPath: box.database))
    }

    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func notFoundIs4AndReadOnlyCommandsCreateNothing() throws {
        let box = try Sandbox()
        // Missing database: a command that names a user answers 4 and creates no file.
        #expect(try box.run(["code", "nobody"]).status == 4)
        #expect(try box.run(["qr", "nobody"]).status == 4)
        #expect(try box.run(["enable-2fa", "nobody", "--password-stdin"], stdin: defaultPassword + "\n").status == 4)
        #expect(try box.run(["disable", "nobody", "--force"]).status == 4)
        // login and verify answer 1 for an unknown user, as for a wrong password.
        #expect(try box.run(["login", "nobody", "--password-stdin"], stdin: defaultPassword + "\n").status == 1)
        #expect(try box.run(["verify", "nobody", "--code", "123456"]).status == 1)
        #expect(!FileManager.default.fileExists(atPath: box.database))
        #expect(!FileManager.default.fileExists(atPath: box.keyFile))

        try box.register("alice")
        let missing = try box.run(["code", "nobody", "--json"])
        #expect(missing.status == 4)
        #expect(missing.error["code"] as? String == "user_not_found")
        #expect(try box.run(["disable", "nobody", "--password-stdin"], stdin: defaultPassword + "\n").status == 4)
    }

    @Test func conflictsAre5() throws {
        let box = try Sandbox()
        try box.register("alice")
        let again = try box.run(["register", "ALICE", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(again.status == 5)
        #expect(again.error["code"] as? String == "user_exists")
        #expect(try box.run(["qr", "alice"]).status == 5)  // 2FA off: nothing to draw
        #expect(try box.run(["disable", "alice", "--force"]).status == 5)
    }

    @Test func wrongPasswordsLockTheAccount() throws {
        let box = try Sandbox()
        try box.register("alice")
        for _ in 0..<5 {
            #expect(try box.run(["login", "alice", "--password-stdin"], stdin: "wrong password 1\n").status == 1)
        }
        // Locked: even the right password is refused, without being checked.
        let locked = try box.run(["login", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(locked.status == 3)
        #expect(locked.error["code"] as? String == "locked_out")
        let retryAfter = try #require(locked.error["retry_after"] as? Int)
        #expect(retryAfter > 0 && retryAfter <= 60)
    }

    @Test func unknownUserAndWrongPasswordLookAlike() throws {
        let box = try Sandbox()
        try box.register("alice")
        let unknown = try box.run(["login", "mallory", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        let wrong = try box.run(["login", "alice", "--password-stdin", "--json"], stdin: "wrong password 1\n")
        #expect(unknown.status == 1 && wrong.status == 1)
        #expect(unknown.stderr == wrong.stderr)
    }

    @Test func helpAndVersionSucceed() throws {
        let box = try Sandbox()
        let help = try box.run(["--help"])
        #expect(help.status == 0)
        for command in ["register", "login", "enable-2fa", "verify", "disable", "qr", "code"] {
            #expect(help.stdout.contains(command))
        }
        let version = try box.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.first?.isNumber == true)
    }
}
