import Foundation
import Testing
import TwofaDomain
import TwofaStorage

/// What an attacker would try: races, replays, guessing, reading the files, planting links.
@Suite("an attacker's suite")
struct AttackTests {
    /// Many rounds of four processes presenting the same valid code: exactly one wins each.
    @Test func racingProcessesNeverBothWin() throws {
        let box = try Sandbox()
        let rounds = 12
        var secrets: [String] = []
        for round in 0..<rounds {
            try box.register("racer\(round)")
            secrets.append(try box.enable("racer\(round)"))
        }
        waitForFreshStep(margin: 15)
        for round in 0..<rounds {
            let activation = try oathtool(secret: secrets[round], at: now() - 30)
            #expect(try box.run(["verify", "racer\(round)", "--code", activation]).status == 0)
        }
        var wonOnce = 0
        for round in 0..<rounds {
            let code = try oathtool(secret: secrets[round], at: now())
            let statuses = Statuses()
            DispatchQueue.concurrentPerform(iterations: 4) { index in
                // Half the racers log in, half verify: both paths use the code up.
                let arguments = index % 2 == 0
                    ? ["login", "racer\(round)", "--password-stdin", "--code", code]
                    : ["verify", "racer\(round)", "--code", code]
                statuses.append((try? box.run(arguments, stdin: defaultPassword + "\n"))?.status ?? -1)
            }
            let all = statuses.all
            #expect(all.filter { $0 == 0 }.count == 1, "round \(round): \(all)")
            #expect(all.filter { $0 == 1 }.count == 3, "round \(round): \(all)")
            if all.filter({ $0 == 0 }).count == 1 { wonOnce += 1 }
        }
        #expect(wonOnce == rounds)
        print("race: \(wonOnce) of \(rounds) rounds won exactly once")
    }

    /// A backup code works once: raced by four processes, one wins; replayed later, it fails.
    @Test func backupCodesWorkOnce() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice")
        waitForFreshStep()
        let activation = try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now() - 30), "--json"])
        let codes = try #require(activation.json["backup_codes"] as? [String])
        #expect(codes.count == 10)
        #expect(Set(codes).count == 10)
        for code in codes {
            // 16 characters of a 32-letter alphabet: 80 bits, in dash-separated groups.
            #expect(code.count == 19 && code.split(separator: "-").count == 4, "\(code)")
        }
        // Accepted in upper case and without dashes; the second use fails.
        let shouted = codes[0].uppercased().replacingOccurrences(of: "-", with: "")
        let first = try box.run(["login", "alice", "--password-stdin", "--json", "--code", shouted], stdin: defaultPassword + "\n")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.json["second_factor"] as? String == "backup_code")
        #expect(try box.run(["login", "alice", "--password-stdin", "--code", codes[0]], stdin: defaultPassword + "\n").status == 1)

        let statuses = Statuses()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            statuses.append((try? box.run(["verify", "alice", "--code", codes[1]]))?.status ?? -1)
        }
        #expect(statuses.all.sorted() == [0, 1, 1, 1], "\(statuses.all)")

        // disable accepts one too; a new set from backup-codes voids the old one.
        let fresh = try box.run(
            ["backup-codes", "alice", "--password-stdin", "--json", "--code", codes[2]], stdin: defaultPassword + "\n")
        #expect(fresh.status == 0, "\(fresh.stderr)")
        let newCodes = try #require(fresh.json["backup_codes"] as? [String])
        #expect(Set(newCodes).isDisjoint(with: codes))
        #expect(try box.run(["verify", "alice", "--code", codes[3]]).status == 1)
        #expect(try box.run(["disable", "alice", "--password-stdin", "--code", newCodes[0]], stdin: defaultPassword + "\n").status == 0)
        // Disabled: the codes are erased with the secret.
        #expect(try box.run(["verify", "alice", "--code", newCodes[1]]).status == 1)
    }

    /// Five wrong codes lock the account: the right code then gets exit 3; unlock clears it.
    @Test func wrongCodesLockAndUnlockClears() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice")
        waitForFreshStep(margin: 10)
        #expect(try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now() - 30)]).status == 0)
        let right = try oathtool(secret: secret, at: now())
        let wrong = wrongCodeFor(right, try oathtool(secret: secret, at: now() + 30), try oathtool(secret: secret, at: now() - 30))
        for attempt in 1...5 {
            let result = try box.run(["verify", "alice", "--code", wrong])
            #expect(result.status == 1, "attempt \(attempt)")
        }
        let locked = try box.run(["verify", "alice", "--code", right, "--json"])
        #expect(locked.status == 3)
        #expect(locked.error["code"] as? String == "locked_out")
        #expect((locked.error["retry_after"] as? Int).map { $0 > 0 && $0 <= 60 } == true)
        // Hammering while locked does not extend the lock.
        for _ in 0..<3 { _ = try box.run(["login", "alice", "--password-stdin"], stdin: "wrong password 9\n") }
        let still = try box.run(["login", "alice", "--password-stdin", "--json", "--code", right], stdin: defaultPassword + "\n")
        #expect(still.status == 3)
        #expect((still.error["retry_after"] as? Int).map { $0 <= 60 } == true)
        let human = try box.run(["login", "alice", "--password-stdin", "--code", right], stdin: defaultPassword + "\n")
        #expect(human.stderr.contains("retry in"))

        let unlocked = try box.run(["unlock", "alice", "--json"])
        #expect(unlocked.status == 0)
        #expect(unlocked.json["locked"] as? Bool == false)
        #expect(try box.run(["unlock", "nobody"]).status == 4)
        let after = try box.run(["login", "alice", "--password-stdin", "--json", "--code", right], stdin: defaultPassword + "\n")
        #expect(after.status == 0, "\(after.stderr)")
    }

    /// The secret and the backup codes are in neither the database nor its WAL, in any encoding.
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func filesHoldNoSecretInAnyEncoding() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice")
        // Hold a SQLite connection open (here, in the test process) so the WAL stays on disk
        // after each twofa process ends, and can be scanned.
        let holder = try #require(try SQLiteAccountStore.open(path: box.database, create: false))
        defer { withExtendedLifetime(holder) {} }
        waitForFreshStep()
        let activation = try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now() - 30), "--json"])
        let codes = try #require(activation.json["backup_codes"] as? [String])
        try box.run(["login", "alice", "--password-stdin", "--code", codes[0]], stdin: defaultPassword + "\n")

        let raw = Data(try Base32.decode(secret))
        var needles: [String: Data] = [
            "raw": raw, "base32": Data(secret.utf8), "base32 lower": Data(secret.lowercased().utf8),
            "hex": Data(raw.map { String(format: "%02x", $0) }.joined().utf8),
            "HEX": Data(raw.map { String(format: "%02X", $0) }.joined().utf8),
            "base64": Data(raw.base64EncodedString().utf8),
            "password": Data(defaultPassword.utf8),
        ]
        for (index, code) in codes.enumerated() {
            needles["backup \(index)"] = Data(code.utf8)
            needles["backup \(index) bare"] = Data(code.replacingOccurrences(of: "-", with: "").utf8)
            needles["backup \(index) upper"] = Data(code.replacingOccurrences(of: "-", with: "").uppercased().utf8)
        }
        var scanned = 0
        for suffix in ["", "-wal", "-shm"] {
            guard let bytes = box.fileBytes(box.database + suffix) else { continue }
            scanned += bytes.count
            for (name, needle) in needles {
                #expect(bytes.range(of: needle) == nil, "\(name) found in twofa.db\(suffix)")
            }
        }
        #expect(scanned > 0)
        #expect(box.fileBytes(box.database + "-wal").map { $0.count > 0 } == true, "no WAL to scan")

        // The audit log has the events and none of the secrets.
        let audit = try box.run(["audit", "--json"])
        for (name, needle) in needles {
            #expect(Data(audit.stdout.utf8).range(of: needle) == nil, "\(name) found in the audit log")
        }
        let events = audit.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        #expect(events.map { $0["event"] as? String ?? "" } == ["register", "enrol", "activate", "login"])
        #expect(events.allSatisfy { ($0["at"] as? String)?.hasSuffix("Z") == true && $0["user"] as? String == "alice" })
    }

    /// Planted links and loose modes are refused, with nothing changed.
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func unsafeFilesAreRefusedWithNothingChanged() throws {
        let box = try Sandbox()
        try box.register("alice")
        _ = try box.enable("alice")
        let key = box.keyFile
        let real = box.folder.appendingPathComponent("real.key").path
        try FileManager.default.moveItem(atPath: key, toPath: real)
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: real)
        var before = box.snapshot()
        let linked = try box.run(["code", "alice", "--json"])
        #expect(linked.status == 74)
        #expect((linked.error["message"] as? String)?.contains("symbolic link") == true)
        #expect(box.snapshot() == before)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.moveItem(atPath: real, toPath: key)

        for mode in [0o640, 0o604, 0o660] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: box.database)
            before = box.snapshot()
            let loose = try box.run(["login", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
            #expect(loose.status == 74, "mode \(String(mode, radix: 8))")
            #expect((loose.error["message"] as? String)?.contains("chmod 600") == true)
            #expect(box.snapshot() == before)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: box.database)

        if geteuid() == 0 {
            // Owned by another user: refused even at 0600.
            try FileManager.default.setAttributes([.ownerAccountID: 65534], ofItemAtPath: box.keyFile)
            let foreign = try box.run(["code", "alice", "--json"])
            #expect(foreign.status == 74)
            #expect((foreign.error["message"] as? String)?.contains("owned by another user") == true)
            try FileManager.default.setAttributes([.ownerAccountID: 0], ofItemAtPath: box.keyFile)
        }
        #expect(try box.run(["code", "alice"]).status == 0)
    }

    /// Nothing takes a password or secret through argv, and no message repeats one.
    @Test func credentialsNeverInArgvOrMessages() throws {
        let box = try Sandbox()
        for command in ["register", "login", "enable-2fa", "verify", "disable", "qr", "code", "backup-codes", "unlock", "audit"] {
            let help = try box.run([command, "--help"])
            #expect(help.status == 0)
            #expect(!help.stdout.contains("--password ") && !help.stdout.contains("--secret "), "\(command)")
        }
        try box.register("alice")
        let secret = try box.enable("alice")
        let wrongPassword = "Sw0rdfish-not-it"
        let failures = [
            try box.run(["login", "alice", "--password-stdin"], stdin: wrongPassword + "\n"),
            try box.run(["login", "alice", "--password-stdin", "--json"], stdin: wrongPassword + "\n"),
            try box.run(["verify", "alice", "--code", "987654"]),
            try box.run(["code", "--secret-stdin"], stdin: secret + "!"),
            try box.run(["code", "--uri-stdin"], stdin: "otpauth://totp/x?secret=\(secret)&digits=7"),
        ]
        for failure in failures {
            #expect(failure.status != 0)
            for leaked in [wrongPassword, "987654", secret] {
                #expect(!failure.stderr.contains(leaked), "\(failure.stderr)")
            }
        }
    }

    /// An unknown user's login costs what a known user's does: the dummy hash has the real
    /// hash's algorithm and cost (the setting up to the salt). Timing: benchmarks/run.
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func unknownUserPaysTheSameHashCost() throws {
        let box = try Sandbox()
        try box.register("alice")
        let stored = try storedPasswordHash(database: box.database, user: "alice")
        let dummy = PasswordHasher.default.dummySetting()
        // "$y$j9T$salt$hash": algorithm and cost are the first three fields.
        #expect(stored.split(separator: "$").prefix(2) == dummy.split(separator: "$").prefix(2))
        #expect(stored.hasPrefix("$y$"))
    }
}
