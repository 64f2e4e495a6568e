import Foundation
import Testing

/// The operator's commands: list, show, passwd, delete, export, import, image QR codes,
/// completions.
@Suite("operator toolkit")
struct OperatorTests {
    /// Export, then import into a new database: every login, code and backup code still works.
    @Test func exportImportRoundTripKeepsEverythingWorking() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice", extra: ["--algorithm", "sha256", "--digits", "8", "--period", "60"])
        try box.register("bob")
        try box.register("carol")
        _ = try box.enable("carol")  // left pending
        let t = now()
        let activation = try box.run(["verify", "alice", "--code", try oathtool(secret: secret, algorithm: "sha256", digits: 8, period: 60, at: t - 60), "--json"])
        #expect(activation.status == 0, "\(activation.stderr)")
        let backupCodes = try #require(activation.json["backup_codes"] as? [String])

        let exportFile = box.folder.appendingPathComponent("accounts.jsonl").path
        let exported = try box.run(["export", "--output", exportFile])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: exportFile)[.posixPermissions] as? Int == 0o600)
        let lines = try String(contentsOfFile: exportFile, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let alice = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(alice["user"] as? String == "alice")
        let totp = try #require(alice["totp"] as? [String: Any])
        #expect(totp["secret"] as? String == secret)
        #expect(totp["status"] as? String == "on")
        #expect(totp["digits"] as? Int == 8)
        #expect((alice["backup_code_hashes"] as? [String])?.count == 10)
        #expect((alice["created_at"] as? String)?.hasSuffix("Z") == true)

        let other = try Sandbox()
        let imported = try other.run(["import", exportFile, "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.json["imported"] as? Int == 3)
        #expect(try other.run(["login", "bob", "--password-stdin"], stdin: defaultPassword + "\n").status == 0)
        let code = try other.run(["code", "alice", "--at", String(t)])
        #expect(code.stdout == (try oathtool(secret: secret, algorithm: "sha256", digits: 8, period: 60, at: t)) + "\n")
        let withBackup = try other.run(["login", "alice", "--password-stdin", "--json", "--code", backupCodes[0]], stdin: defaultPassword + "\n")
        #expect(withBackup.status == 0, "\(withBackup.stderr)")
        #expect(withBackup.json["second_factor"] as? String == "backup_code")
        let list = try other.run(["list", "--json"])
        let users = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(users.map { $0["two_factor"] as? String ?? "" } == ["on", "off", "pending"])

        // Importing again: every user exists, a conflict, and nothing changes.
        let before = other.snapshot()
        #expect(try other.run(["import", exportFile]).status == 5)
        #expect(other.snapshot() == before)
        // export refuses nothing but a terminal; to a pipe it prints the lines.
        #expect(try other.run(["export"]).stdout.split(separator: "\n").count == 3)
    }

    /// Hashes from other systems log in after import and end up as yescrypt.
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func foreignHashesImportAndRehash() throws {
        let box = try Sandbox()
        let password = "correct horse battery 7"
        var hashes: [(String, String)] = []
        for method in ["sha-512", "sha-256", "bcrypt", "yescrypt", "md5crypt"] {
            let made = try runProcess("/usr/bin/mkpasswd", ["-m", method, password])
            #expect(made.status == 0, "mkpasswd \(method): \(made.stderr)")
            hashes.append((method, made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        let python = try runProcess(
            "/usr/bin/python3", ["-c", "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=5)).decode())", password])
        #expect(python.status == 0, "python bcrypt: \(python.stderr)")
        let pythonHash = python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pythonHash.hasPrefix("$2b$"))
        hashes.append(("python-bcrypt", pythonHash))
        // passlib and PHP write the same bcrypt as $2a$ and $2y$.
        hashes.append(("2a", "$2a$" + pythonHash.dropFirst(4)))
        hashes.append(("2y", "$2y$" + pythonHash.dropFirst(4)))

        var csv = "user,password_hash\n"
        for (index, (_, hash)) in hashes.enumerated() { csv += "user\(index),\"\(hash)\"\n" }
        let file = box.folder.appendingPathComponent("users.csv").path
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try box.run(["import", file, "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.json["imported"] as? Int == hashes.count)
        for (index, (method, hash)) in hashes.enumerated() {
            #expect(try storedPasswordHash(database: box.database, user: "user\(index)") == hash)
            let wrong = try box.run(["login", "user\(index)", "--password-stdin"], stdin: "not the password\n")
            #expect(wrong.status == 1, "\(method)")
            let right = try box.run(["login", "user\(index)", "--password-stdin"], stdin: password + "\n")
            #expect(right.status == 0, "\(method): \(right.stderr)")
            #expect(try storedPasswordHash(database: box.database, user: "user\(index)").hasPrefix("$y$"), "\(method)")
            #expect(try box.run(["login", "user\(index)", "--password-stdin"], stdin: password + "\n").status == 0)
        }
        let audit = try box.run(["audit", "--json", "--user", "user0"]).stdout
        #expect(audit.contains("\"event\":\"import\"") && audit.contains("\"event\":\"rehash\""))
    }

    /// One bad row: exit 65 naming the row, and nothing of the file is imported.
    @Test(arguments: [
        ("users.csv", "user,password_hash,totp_secret\nok1,$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa.,\nok2,garbage,\n", "row 3"),
        ("users.csv", "user,password_hash\nok1,$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa.\n.bad,$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa.\n", "row 3"),
        ("users.jsonl", "{\"user\":\"ok1\",\"password_hash\":\"$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa.\"}\n{\"user\":\"ok2\"}\n", "line 2"),
        ("users.jsonl", "{\"user\":\"ok1\",\"password_hash\":\"$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa.\",\"totp\":{\"secret\":\"JBSWY3DP\"}}\n", "line 1"),
        ("users.jsonl", "not json\n", "line 1"),
        ("users.txt", "{\"user\":\"ok1\",\"password_hash\":\"$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa.\",\"totp\":{\"secret\":\"JBSWY3DPEHPK3PXP\",\"digits\":7}}\n", "line 1"),
    ])
    func badRowRollsBackTheWholeFile(name: String, content: String, place: String) throws {
        let box = try Sandbox()
        try box.register("alice")
        let file = box.folder.appendingPathComponent(name).path
        try content.write(toFile: file, atomically: true, encoding: .utf8)
        let before = box.snapshot()
        let result = try box.run(["import", file, "--json"])
        #expect(result.status == 65, "\(result.stderr)")
        #expect((result.error["message"] as? String)?.hasPrefix(place) == true, "\(result.stderr)")
        #expect(box.snapshot() == before)
        #expect(try box.run(["show", "ok1"]).status == 4)
    }

    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func importConflictsDryRunAndUnreadableFiles() throws {
        let box = try Sandbox()
        try box.register("alice")
        let hash = try storedPasswordHash(database: box.database, user: "alice")
        let file = box.folder.appendingPathComponent("users.csv").path
        try "user,password_hash\nnew1,\(hash)\nALICE,\(hash)\n".write(toFile: file, atomically: true, encoding: .utf8)
        let before = box.snapshot()
        let conflict = try box.run(["import", file, "--json"])
        #expect(conflict.status == 5)
        #expect(conflict.error["code"] as? String == "user_exists")
        #expect(box.snapshot() == before)
        try "user,password_hash\nnew1,\(hash)\nnew1,\(hash)\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try box.run(["import", file]).status == 5)

        try "user,password_hash\nnew1,\(hash)\nnew2,\(hash)\n".write(toFile: file, atomically: true, encoding: .utf8)
        let dry = try box.run(["import", file, "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.json["imported"] as? Int == 0)
        #expect(box.snapshot() == before)
        // From stdin, JSON Lines by default; --format csv says otherwise.
        let fromStdin = try box.run(["import", "-", "--format", "csv", "--json"], stdin: "user,password_hash\nnew3,\(hash)\n")
        #expect(fromStdin.status == 0, "\(fromStdin.stderr)")
        #expect(fromStdin.json["imported"] as? Int == 1)
        #expect(try box.run(["login", "new3", "--password-stdin"], stdin: defaultPassword + "\n").status == 0)

        #expect(try box.run(["import", box.folder.appendingPathComponent("missing.csv").path]).status == 74)
        #expect(try box.run(["import", box.folder.path]).status == 74)
    }

    /// A google-authenticator state file: its secret and scratch codes keep working.
    @Test func googleAuthenticatorFileImports() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = "JBSWY3DPEHPK3PXP"  // 80 bits, as older google-authenticator files have
        let scratch = ["12345678", "87654321", "11223344"]
        let file = box.folder.appendingPathComponent("google_authenticator").path
        try ([secret, "\" RATE_LIMIT 3 30 1700000000", "\" WINDOW_SIZE 17", "\" DISALLOW_REUSE 56666666", "\" TOTP_AUTH"] + scratch)
            .joined(separator: "\n").appending("\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try box.run(["import", "--google-authenticator", file, "--user", "nobody"]).status == 4)
        let imported = try box.run(["import", "--google-authenticator", file, "--user", "Alice", "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.json["two_factor"] as? Bool == true)
        waitForFreshStep()
        let code = try oathtool(secret: secret, at: now())
        #expect(try box.run(["code", "alice"]).stdout == code + "\n")
        #expect(try box.run(["login", "alice", "--password-stdin"], stdin: defaultPassword + "\n").status == 2)
        let scratchLogin = try box.run(["login", "alice", "--password-stdin", "--json", "--code", scratch[1]], stdin: defaultPassword + "\n")
        #expect(scratchLogin.status == 0, "\(scratchLogin.stderr)")
        #expect(scratchLogin.json["second_factor"] as? String == "backup_code")
        #expect(try box.run(["verify", "alice", "--code", scratch[1]]).status == 1)
        #expect(try box.run(["verify", "alice", "--code", code]).status == 0)
        #expect(try box.run(["import", "--google-authenticator", file, "--user", "alice"]).status == 5)

        // Neither TOTP_AUTH nor HOTP_COUNTER, or both: not a file to guess about.
        try box.register("bob")
        for options in [["\" RATE_LIMIT 3 30"], ["\" TOTP_AUTH", "\" HOTP_COUNTER 1"]] {
            let odd = box.folder.appendingPathComponent("odd").path
            try ([secret] + options + ["12345678"]).joined(separator: "\n").appending("\n")
                .write(toFile: odd, atomically: true, encoding: .utf8)
            let refused = try box.run(["import", "--google-authenticator", odd, "--user", "bob", "--json"])
            #expect(refused.status == 65)
            #expect((refused.error["message"] as? String)?.contains("HOTP_COUNTER") == true)
        }
    }

    @Test(arguments: ["svg", "png"])
    func imageQRCodesDecode(format: String) throws {
        let box = try Sandbox()
        let uri = "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=ACME"
        let file = box.folder.appendingPathComponent("qr.\(format)").path
        let drawn = try box.run(["qr", "--text", uri, "--format", format, "--output", file])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int == 0o600)
        var image = file
        if format == "svg" {
            image = file + ".png"
            let converted = try runProcess("/usr/bin/rsvg-convert", [file, "-o", image])
            #expect(converted.status == 0, "rsvg-convert: \(converted.stderr)")
        }
        let read = try runProcess("/usr/bin/zbarimg", ["--raw", "-q", "-Sbinary", image])
        #expect(read.stdout == uri)
        #expect(try box.run(["qr", "--text", uri, "--format", format]).status == 64)
    }

    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func passwdShowListDelete() throws {
        let box = try Sandbox()
        try box.register("alice")
        let newPassword = "a brand new phrase 77"
        #expect(try box.run(["passwd", "alice", "--password-stdin"], stdin: "wrong old one 1\n\(newPassword)\n").status == 1)
        #expect(try box.run(["passwd", "alice", "--password-stdin"], stdin: "\(defaultPassword)\nshort\n").status == 65)
        let changed = try box.run(["passwd", "alice", "--password-stdin", "--json"], stdin: "\(defaultPassword)\n\(newPassword)\n")
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(changed.json["password_changed"] as? Bool == true)
        #expect(try box.run(["login", "alice", "--password-stdin"], stdin: defaultPassword + "\n").status == 1)
        #expect(try box.run(["login", "alice", "--password-stdin"], stdin: newPassword + "\n").status == 0)
        let forced = try box.run(["passwd", "alice", "--force", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try box.run(["login", "alice", "--password-stdin"], stdin: defaultPassword + "\n").status == 0)
        #expect(try box.run(["passwd", "nobody", "--force", "--password-stdin"], stdin: defaultPassword + "\n").status == 4)

        let shown = try box.run(["show", "alice", "--json"])
        #expect(shown.status == 0)
        for key in ["user", "created_at", "two_factor", "locked", "last_login_at", "backup_codes_left", "failed_attempts"] {
            #expect(shown.json[key] != nil, "\(key)")
        }
        #expect(shown.json["two_factor"] as? String == "off")
        #expect((shown.json["last_login_at"] as? String)?.hasSuffix("Z") == true)
        #expect(!shown.stdout.contains("$y$"))

        _ = try box.enable("alice")
        let deleted = try box.run(["delete", "alice", "--json"])
        #expect(deleted.json["deleted"] as? Bool == true)
        #expect(try box.run(["show", "alice"]).status == 4)
        #expect(try box.run(["delete", "alice"]).status == 4)
        let list = try box.run(["list", "--json"])
        #expect(list.stdout == "[]\n")
        let audit = try box.run(["audit", "--json", "--user", "alice"]).stdout
        for event in ["\"passwd\"", "\"delete\"", "forced by the operator"] { #expect(audit.contains(event)) }
        // Nothing of alice is left but the audit log.
        let sealedLeft = try runProcess("/usr/bin/python3", ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from totp').fetchone()[0] + c.execute('select count(*) from backup_codes').fetchone()[0])", box.database])
        #expect(sealedLeft.stdout == "0\n")
    }

    @Test func readOnlyCommandsOnMissingDatabase() throws {
        let box = try Sandbox()
        #expect(try box.run(["list", "--json"]).stdout == "[]\n")
        let audit = try box.run(["audit", "--json"])
        #expect(audit.status == 0 && audit.stdout.isEmpty)
        #expect(try box.run(["show", "alice"]).status == 4)
        #expect(try box.run(["export"]).stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: box.database))
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScripts(shell: String) throws {
        let box = try Sandbox()
        let script = try box.run(["--generate-completion-script", shell])
        #expect(script.status == 0)
        for command in ["register", "enable-2fa", "backup-codes", "import", "export", "passwd"] {
            #expect(script.stdout.contains(command), "\(shell): \(command)")
        }
        if shell == "bash" {
            let file = box.folder.appendingPathComponent("twofa.bash").path
            try script.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            let check = try runProcess("/bin/bash", ["-n", file])
            #expect(check.status == 0, "\(check.stderr)")
        }
    }
}
