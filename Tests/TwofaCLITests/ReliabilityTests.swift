import Foundation
import Testing

/// Many processes on one database, processes killed mid-write, and an old schema.
@Suite("reliability")
struct ReliabilityTests {
    /// 8 processes registering and logging in at once: no "database is locked", no lost write.
    @Test func eightProcessesAtOnce() throws {
        let box = try Sandbox()
        let workers = 8
        let perWorker = 4
        let failures = Statuses()
        let messages = Messages()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in 0..<perWorker {
                let user = "w\(worker)u\(index)"
                for arguments in [["register", user, "--password-stdin"], ["login", user, "--password-stdin"]] {
                    let result = try? box.run(arguments, stdin: defaultPassword + "\n")
                    if result?.status != 0 {
                        failures.append(result?.status ?? -1)
                        messages.append(result?.stderr ?? "did not run")
                    }
                }
            }
        }
        #expect(failures.all.isEmpty, "\(messages.all)")
        let list = try box.run(["list", "--json"])
        let users = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(users.count == workers * perWorker)
        #expect(users.allSatisfy { $0["last_login_at"] is String })
        let audit = try box.run(["audit", "--json"]).stdout.split(separator: "\n")
        #expect(audit.filter { $0.contains("\"event\":\"register\"") }.count == workers * perWorker)
        #expect(audit.filter { $0.contains("\"event\":\"login\"") }.count == workers * perWorker)
    }

    /// kill -9 at random moments during writes: the file stays sound, every acknowledged write
    /// is there, and nothing is half-done.
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func killedWritersLoseNothingAcknowledged() throws {
        let box = try Sandbox()
        try box.register("seed")
        var acknowledged: [String] = []
        var killed = 0
        for round in 0..<6 {
            var processes: [(String, Process)] = []
            for index in 0..<6 {
                let user = "r\(round)u\(index)"
                let process = Process()
                process.executableURL = Sandbox.binary
                process.arguments = index % 2 == 0
                    ? ["register", user, "--password-stdin", "--enable-2fa", "--qr", "none"]
                    : ["register", user, "--password-stdin"]
                process.environment = ["TWOFA_DB": box.database, "TWOFA_ISSUER": "Kill", "HOME": box.folder.path]
                let input = Pipe()
                process.standardInput = input
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                signal(SIGPIPE, SIG_IGN)
                try process.run()
                input.fileHandleForWriting.write(Data((defaultPassword + "\n").utf8))
                try input.fileHandleForWriting.close()
                processes.append((user, process))
            }
            // Kill half of them somewhere between start and the end of their work.
            for (index, (_, process)) in processes.enumerated() where index % 2 == round % 2 {
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.04))
                kill(process.processIdentifier, SIGKILL)
            }
            for (user, process) in processes {
                process.waitUntilExit()
                if process.terminationReason == .exit && process.terminationStatus == 0 {
                    acknowledged.append(user)
                } else if process.terminationReason == .uncaughtSignal {
                    killed += 1
                }
            }
        }
        #expect(killed > 0)
        let check = try runProcess(
            "/usr/bin/python3",
            ["-c", """
                import sqlite3, sys
                c = sqlite3.connect(sys.argv[1])
                print(c.execute('pragma integrity_check').fetchone()[0])
                print(c.execute("select count(*) from users where password_hash = ''").fetchone()[0])
                print(c.execute("select count(*) from totp where length(sealed_secret) < 29").fetchone()[0])
                print(c.execute("select count(*) from totp t left join users u on u.id = t.user_id where u.id is null").fetchone()[0])
                """, box.database])
        #expect(check.stdout == "ok\n0\n0\n0\n", "\(check.stdout) \(check.stderr)")
        for user in acknowledged {
            #expect(try box.run(["show", user]).status == 0, "acknowledged \(user) is missing")
        }
        // Every enrolment that exists is whole: its code can be computed.
        let list = try box.run(["list", "--json"])
        let users = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        for user in users where user["two_factor"] as? String == "pending" {
            #expect(try box.run(["code", user["user"] as? String ?? ""]).status == 0)
        }
        print("kill -9: \(killed) processes killed, \(acknowledged.count) acknowledged writes all present")
    }

    /// A database made by schema version 1 opens, migrates to the current version at the first
    /// write (never at a read), and keeps working: passwords, secrets, scratch codes, pending
    /// enrolments.
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func versionOneDatabaseMigrates() throws {
        let box = try Sandbox()
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        try FileManager.default.createDirectory(atPath: (box.database as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        for (name, target) in [("twofa-v1.db", box.database), ("twofa-v1.db.key", box.keyFile)] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(name), to: URL(fileURLWithPath: target))
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target)
        }
        func version() throws -> String {
            try runProcess("/usr/bin/python3", ["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma user_version').fetchone()[0])", box.database]).stdout
        }
        #expect(try version() == "1\n")
        // A read-only command reads the old schema as it is: no upgrade, no message.
        let list = try box.run(["list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stderr.isEmpty, "\(list.stderr)")
        #expect(try version() == "1\n")
        #expect(list.stdout.contains("\"alice\"") && list.stdout.contains("\"carol\""))
        // The first write upgrades, after copying the old database aside, and says so once.
        let original = try Data(contentsOf: URL(fileURLWithPath: box.database))
        let login = try box.run(["login", "bob", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(login.status == 0, "\(login.stderr)")
        #expect(try version() == "\(currentSchemaVersion)\n")
        let backup = box.database + ".v1.bak"
        #expect(login.stderr.contains("from schema version 1 to \(currentSchemaVersion)"), "\(login.stderr)")
        #expect(login.stderr.contains(backup), "\(login.stderr)")
        let copy = try runProcess("/usr/bin/python3", ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('pragma user_version').fetchone()[0], c.execute('select count(*) from users').fetchone()[0])", backup]).stdout
        #expect(copy == "1 3\n", "\(copy)")
        #expect(original.count > 0)
        let mode = try FileManager.default.attributesOfItem(atPath: backup)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try box.run(["login", "bob", "--password-stdin"], stdin: defaultPassword + "\n").stderr.isEmpty)
        #expect(try box.run(["audit", "--json"]).stdout.contains("\"upgrade\""))
        let t = now()
        #expect(try box.run(["code", "alice", "--at", String(t)]).stdout == (try oathtool(secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", at: t)) + "\n")
        let scratch = try box.run(["login", "alice", "--password-stdin", "--json", "--code", "33334444"], stdin: defaultPassword + "\n")
        #expect(scratch.json["second_factor"] as? String == "backup_code", "\(scratch.stderr)")
        #expect(try box.run(["show", "carol", "--json"]).json["two_factor"] as? String == "pending")
        #expect(try box.run(["audit", "--since", "2000-01-01T00:00:00Z", "--json"]).stdout.contains("\"register\""))
    }

    /// Bad input of every kind: a documented exit code, one line, no crash, and the database
    /// byte for byte as it was (but for failure counts and the audit log, which these leave alone).
    @Test func badInputTable() throws {
        let box = try Sandbox()
        try box.register("alice")
        let huge = String(repeating: "A", count: 1 << 20)
        let garbageFile = box.folder.appendingPathComponent("garbage.jsonl").path
        #expect(FileManager.default.createFile(atPath: garbageFile, contents: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 128) })))
        let nulFile = box.folder.appendingPathComponent("nul.jsonl").path
        try "{\"user\":\"a\\u0000b\",\"password_hash\":\"$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa.\"}\n"
            .write(toFile: nulFile, atomically: true, encoding: .utf8)
        let cases: [([String], String?, Int32)] = [
            (["register", "", "--password-stdin"], defaultPassword, 65),
            (["register", "bob", "--password-stdin"], String(repeating: "p", count: 1 << 20), 65),
            (["register", "bob", "--password-stdin"], "", 65),
            (["verify", "alice", "--code", "12345678901234567890"], nil, 65),
            (["verify", "alice", "--code", "１２３４５６"], nil, 65),
            (["code", "--uri-stdin"], "otpauth://totp/x?secret=" + huge, 65),
            (["code", "--uri-stdin"], "otpauth://totp/%ZZ?secret=JBSWY3DP", 65),
            (["code", "--secret-stdin"], huge, 65),
            (["code", "--secret-stdin", "--at", "99999999999999999999"], "JBSWY3DPEHPK3PXP", 64),
            (["code", "--secret-stdin", "--period", "0"], "JBSWY3DPEHPK3PXP", 65),
            (["qr", "--text", "x", "--format", "bmp"], nil, 64),
            (["qr", "--text", String(repeating: "x", count: 4000)], nil, 65),
            (["import", garbageFile], nil, 65),
            (["import", nulFile], nil, 65),
            (["audit", "--since", "yesterday"], nil, 65),
        ]
        for (arguments, stdin, expected) in cases {
            let before = box.snapshot()
            let result = try box.run(arguments, stdin: stdin.map { $0 + "\n" })
            #expect(result.status == expected, "\(arguments.prefix(3)): \(result.stderr.prefix(200))")
            #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(arguments.prefix(3)): \(result.stderr.prefix(300))")
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"))
            #expect(box.snapshot() == before, "\(arguments.prefix(3)) changed the database")
        }
    }
}

/// Strings gathered from several threads.
final class Messages: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []
    func append(_ value: String) { lock.withLock { values.append(value) } }
    var all: [String] { lock.withLock { values } }
}

/// The schema version this twofa writes (TwofaStorage's Schema.currentVersion).
let currentSchemaVersion = 5
