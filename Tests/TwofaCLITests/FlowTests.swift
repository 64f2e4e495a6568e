import Foundation
import Testing

/// The whole life of an account, run on the built binary as a provisioning script would.
@Suite("register → enable-2fa → verify → login → disable")
struct FlowTests {
    @Test func wholeFlowWithExitCodes() throws {
        let box = try Sandbox()
        let created = try box.register("Alice")
        #expect(created.json["user"] as? String == "alice")
        #expect(created.json["created"] as? Bool == true)

        // 2FA off: the password alone logs in; a --code given then is ignored.
        let plain = try box.run(["login", "alice", "--password-stdin", "--json", "--code", "000000"], stdin: defaultPassword + "\n")
        #expect(plain.status == 0)
        #expect(plain.json["second_factor"] is NSNull)

        let enrol = try box.run(["enable-2fa", "ALICE", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(enrol.status == 0, "\(enrol.stderr)")
        #expect(enrol.json["status"] as? String == "pending")
        #expect(enrol.json["algorithm"] as? String == "sha1")
        #expect(enrol.json["digits"] as? Int == 6)
        #expect(enrol.json["period"] as? Int == 30)
        let secret = try #require(enrol.json["secret"] as? String)
        #expect(secret.count == 32)  // 20 bytes
        #expect(enrol.json["otpauth_uri"] as? String == "otpauth://totp/Example:alice?secret=\(secret)&issuer=Example")

        // Pending: login still needs only the password.
        let pending = try box.run(["login", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(pending.status == 0)

        waitForFreshStep()
        let t = now()
        let previous = try oathtool(secret: secret, at: t - 30)
        let current = try oathtool(secret: secret, at: t)
        let next = try oathtool(secret: secret, at: t + 30)

        let verified = try box.run(["verify", "alice", "--code", previous, "--json"])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.json["valid"] as? Bool == true)
        #expect(verified.json["activated"] as? Bool == true)

        // On: no code is exit 2, a wrong code 1, the right code 0, the same code again 1.
        let noCode = try box.run(["login", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(noCode.status == 2)
        #expect(noCode.error["code"] as? String == "second_factor_required")
        let wrongCode = wrongCodeFor(current, next, previous)
        let wrong = try box.run(["login", "alice", "--password-stdin", "--code", wrongCode], stdin: defaultPassword + "\n")
        #expect(wrong.status == 1)
        #expect(wrong.stderr == "twofa: authentication failed\n")
        let good = try box.run(["login", "alice", "--password-stdin", "--json", "--code", current], stdin: defaultPassword + "\n")
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.json["authenticated"] as? Bool == true)
        #expect(good.json["second_factor"] as? String == "totp")
        let replay = try box.run(["login", "alice", "--password-stdin", "--code", current], stdin: defaultPassword + "\n")
        #expect(replay.status == 1)
        // An earlier step than the last accepted one is a replay too.
        let older = try box.run(["verify", "alice", "--code", previous])
        #expect(older.status == 1)

        // Wrong password with the right next code: 1, and the code is not used up.
        let wrongPassword = try box.run(["login", "alice", "--password-stdin", "--code", next], stdin: "not the password\n")
        #expect(wrongPassword.status == 1)

        // Already on: enabling again is a conflict.
        let again = try box.run(["enable-2fa", "alice", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(again.status == 5)

        // Disable needs the password and a code, and erases the enrolment.
        let disableNoCode = try box.run(["disable", "alice", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(disableNoCode.status == 2)
        let disabled = try box.run(["disable", "alice", "--password-stdin", "--json", "--code", next], stdin: defaultPassword + "\n")
        #expect(disabled.status == 0, "\(disabled.stderr)")
        #expect(disabled.json["two_factor"] as? Bool == false)
        let afterwards = try box.run(["login", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(afterwards.status == 0)
        #expect(afterwards.json["second_factor"] is NSNull)
        #expect(try box.run(["disable", "alice", "--password-stdin"], stdin: defaultPassword + "\n").status == 5)
        #expect(try box.run(["code", "alice"]).status == 5)
    }

    @Test func pendingEnrolmentCanBeRedoneAndCancelled() throws {
        let box = try Sandbox()
        try box.register("bob")
        let first = try box.enable("bob")
        let second = try box.enable("bob")
        #expect(first != second)
        // The first secret no longer verifies.
        waitForFreshStep()
        let stale = try box.run(["verify", "bob", "--code", try oathtool(secret: first, at: now())])
        let fresh = try oathtool(secret: second, at: now())
        #expect(stale.status == 1)
        // A pending enrolment is cancelled with the password alone.
        let cancelled = try box.run(["disable", "bob", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        #expect(try box.run(["verify", "bob", "--code", fresh]).status == 1)
    }

    @Test func registerWithEnable2faAndOptions() throws {
        let box = try Sandbox()
        let result = try box.run(
            ["register", "carol", "--enable-2fa", "--algorithm", "sha512", "--digits", "8", "--period", "60",
             "--issuer", "ACME Co", "--password-stdin", "--json"],
            stdin: defaultPassword + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json["created"] as? Bool == true)
        #expect(result.json["status"] as? String == "pending")
        let secret = try #require(result.json["secret"] as? String)
        #expect(secret.count == 103)  // 64 bytes
        let uri = try #require(result.json["otpauth_uri"] as? String)
        #expect(uri == "otpauth://totp/ACME%20Co:carol?secret=\(secret)&issuer=ACME%20Co&algorithm=SHA512&digits=8&period=60")
        let t = now()
        let code = try box.run(["code", "carol", "--at", String(t), "--json"])
        #expect(code.json["code"] as? String == (try oathtool(secret: secret, algorithm: "sha512", digits: 8, period: 60, at: t)))
        #expect(code.json["expires_in"] as? Int == Int(60 - t % 60))
    }

    @Test func disableForceNeedsNoCredentials() throws {
        let box = try Sandbox()
        try box.register("dave")
        let secret = try box.enable("dave")
        waitForFreshStep()
        #expect(try box.run(["verify", "dave", "--code", try oathtool(secret: secret, at: now())]).status == 0)
        let forced = try box.run(["disable", "dave", "--force", "--json"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.json["two_factor"] as? Bool == false)
        #expect(try box.run(["disable", "dave", "--force", "--code", "123456"]).status == 64)
    }

    @Test func codeOfUserMatchesOathtoolAndNeedsNoPassword() throws {
        let box = try Sandbox()
        try box.register("erin")
        let secret = try box.enable("erin", extra: ["--algorithm", "sha256"])
        #expect(secret.count == 52)  // 32 bytes
        for time: Int64 in [0, 59, 1_111_111_109, 2_000_000_000, 20_000_000_000, 253_402_300_799] {
            let mine = try box.run(["code", "erin", "--at", String(time)])
            #expect(mine.status == 0)
            #expect(mine.stdout == (try oathtool(secret: secret, algorithm: "sha256", at: time)) + "\n")
        }
    }
}

func wrongCodeFor(_ codes: String...) -> String {
    var candidate = 0
    while codes.contains(String(format: "%06d", candidate)) { candidate += 1 }
    return String(format: "%06d", candidate)
}
