import Foundation
import Testing

/// The PostgreSQL store's own guarantees (issue 12), on the private cluster at
/// `TWOFA_TEST_POSTGRES` (`Tests/postgres/cluster start` prints it; .ci/run starts it). The
/// behaviour suites run on PostgreSQL too, with `TWOFA_TEST_STORE=postgres`.
@Suite(
    "PostgreSQL", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["TWOFA_TEST_POSTGRES"] != nil, "no PostgreSQL cluster"))
struct PostgreSQLTests {
    static let base = ProcessInfo.processInfo.environment["TWOFA_TEST_POSTGRES"] ?? ""

    /// A fresh database on the cluster, dropped at the end; and a folder for the key file.
    final class Database: @unchecked Sendable {
        let name = "twofa_pg_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let folder: URL
        var uri: String { TestStore.uri(PostgreSQLTests.base, database: name) }
        var keyFile: String { folder.appendingPathComponent("shared.key").path }

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("twofa-pg-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try TestStore.psql(PostgreSQLTests.base, "CREATE DATABASE \(name) TEMPLATE template0")
        }

        deinit {
            try? FileManager.default.removeItem(at: folder)
            try? TestStore.psql(PostgreSQLTests.base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }

        @discardableResult
        func run(_ arguments: [String], stdin: String? = nil, uri: String? = nil, keyFile: String? = nil) throws -> TwofaRun {
            var environment = ["PATH": "/usr/bin:/bin", "HOME": folder.path, "TWOFA_DB": uri ?? self.uri, "TWOFA_ISSUER": "PG"]
            environment["TWOFA_KEY_FILE"] = keyFile ?? self.keyFile
            return try runProcess(Sandbox.binary.path, arguments, stdin: stdin.map { Data($0.utf8) }, environment: environment)
        }

        func sql(_ query: String) throws -> String {
            try runProcess("/usr/bin/psql", [uri, "-At", "-v", "ON_ERROR_STOP=1", "-c", query]).stdout
        }
    }

    /// Four processes start on an empty database at once: one migrates, the others wait for
    /// its advisory lock and find the schema made; all four registrations land.
    @Test func fourProcessesMigrateAnEmptyDatabaseAtOnce() throws {
        let database = try Database()
        let statuses = Statuses()
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            let result = try? database.run(["register", "user\(index)", "--password-stdin"], stdin: defaultPassword + "\n")
            statuses.append(result?.status ?? -1)
        }
        #expect(statuses.all == [0, 0, 0, 0], "\(statuses.all)")
        #expect(try database.sql("SELECT version FROM twofa.schema_version") == "\(currentSchemaVersion)\n")
        #expect(try database.sql("SELECT count(*) FROM twofa.users") == "4\n")
    }

    /// A read-only command on an empty database creates nothing and migrates nothing.
    @Test func readsNeverMigrate() throws {
        let database = try Database()
        #expect(try database.run(["list", "--json"]).stdout == "[]\n")
        #expect(try database.run(["show", "alice"]).status == 4)
        #expect(try database.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'twofa'") == "0\n")
    }

    /// The key file has no database path to sit beside: it must be named.
    @Test func theKeyFileIsRequired() throws {
        let database = try Database()
        var environment = ["PATH": "/usr/bin:/bin", "HOME": database.folder.path, "TWOFA_DB": database.uri]
        environment["TWOFA_ISSUER"] = "PG"
        let result = try runProcess(
            Sandbox.binary.path, ["register", "alice", "--enable-2fa", "--password-stdin", "--json"],
            stdin: Data((defaultPassword + "\n").utf8), environment: environment)
        #expect(result.status == 74, "\(result.stderr)")
        #expect(result.stderr.contains("TWOFA_KEY_FILE"), "\(result.stderr)")
        // --key-file names it as TWOFA_KEY_FILE does, before or after the subcommand.
        let named = try runProcess(
            Sandbox.binary.path,
            ["--key-file", database.keyFile, "register", "alice", "--enable-2fa", "--password-stdin", "--json"],
            stdin: Data((defaultPassword + "\n").utf8), environment: environment)
        #expect(named.status == 0, "\(named.stderr)")
        let code = try runProcess(Sandbox.binary.path, ["code", "alice", "--key-file=\(database.keyFile)"], environment: environment)
        #expect(code.status == 0, "\(code.stderr)")
    }

    /// An unreachable server is 74 within the 10 s connect timeout, naming the host; the URI's
    /// password appears nowhere.
    @Test func unreachableServerIs74NamingTheHost() throws {
        let database = try Database()
        // A closed port on loopback (refused at once) and a socket folder with no server.
        let started = Date()
        for uri in [
            "postgresql://alice:s3cret-pw@127.0.0.1:1/twofa", "postgresql://alice:s3cret-pw@/twofa?host=/nonexistent-socket",
        ] {
            let result = try database.run(["list", "--json"], uri: uri)
            #expect(result.status == 74, "\(result.stderr)")
            #expect(!result.stderr.contains("s3cret-pw"), "\(result.stderr)")
            #expect(result.stderr.contains("127.0.0.1") || result.stderr.contains("/nonexistent-socket"), "\(result.stderr)")
        }
        #expect(Date().timeIntervalSince(started) < 20)
    }

    /// A password in the URI never reaches output, messages or the audit log.
    @Test func theConnectionPasswordIsNeverShown() throws {
        let database = try Database()
        _ = try database.sql("CREATE ROLE twofa_app_\(database.name.suffix(8)) LOGIN PASSWORD 'pw-in-the-uri'")
        // Trust authentication ignores the password; what matters is that twofa never repeats it.
        let uri = PostgreSQLTests.base.replacingOccurrences(of: ":///postgres?", with: "://postgres:pw-in-the-uri@/\(database.name)?")
        var outputs = ""
        for arguments in [["register", "alice", "--password-stdin", "--json"], ["login", "alice", "--password-stdin"],
                          ["login", "alice", "--password-stdin"], ["audit", "--json"], ["list"], ["export"]] {
            let result = try database.run(arguments, stdin: (arguments[0] == "login" ? "wrong password 1" : defaultPassword) + "\n", uri: uri)
            outputs += result.stdout + result.stderr
        }
        #expect(outputs.contains("alice"))
        #expect(!outputs.contains("pw-in-the-uri"), "\(outputs)")
        #expect(try !database.sql("SELECT coalesce(string_agg(detail, ' '), '') FROM twofa.audit").contains("pw-in-the-uri"))
        let wrong = try database.run(["list"], uri: uri.replacingOccurrences(of: database.name, with: "no_such_database"))
        #expect(wrong.status == 74)
        #expect(!wrong.stderr.contains("pw-in-the-uri"), "\(wrong.stderr)")
    }

    /// `twofa --db A export | twofa --db B import -` between the two stores, both ways, loses
    /// nothing: passwords, secrets, backup codes, and the replay state (a used code stays used).
    @Test func exportImportBetweenTheStoresLosesNothing() throws {
        let database = try Database()
        let box = try Sandbox()
        guard box.postgres == nil else { return }  // the SQLite side is the sandbox's file
        try box.register("alice")
        let secret = try box.enable("alice")
        waitForFreshStep()
        let activation = try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now() - 30), "--json"])
        let codes = try #require(activation.json["backup_codes"] as? [String])
        let used = try oathtool(secret: secret, at: now())
        #expect(try box.run(["login", "alice", "--password-stdin", "--code", used], stdin: defaultPassword + "\n").status == 0)
        try box.register("bob")

        // SQLite to PostgreSQL, with the same key file (the secrets are re-sealed on import).
        let export = try box.run(["export"])
        #expect(export.status == 0, "\(export.stderr)")
        let imported = try database.run(["import", "-", "--json"], stdin: export.stdout)
        #expect(imported.json["imported"] as? Int == 2, "\(imported.stderr)")
        // The used code is refused there; the next works; a backup code works; bob's password.
        let reused = try database.run(["login", "alice", "--password-stdin", "--code", used, "--json"], stdin: defaultPassword + "\n")
        #expect(reused.status == 1, "\(reused.stderr)")
        #expect(reused.error["code"] as? String == "code_reused", "\(reused.stderr)")
        #expect(try database.run(["login", "alice", "--password-stdin", "--code", codes[0]], stdin: defaultPassword + "\n").status == 0)
        #expect(try database.run(["login", "bob", "--password-stdin"], stdin: defaultPassword + "\n").status == 0)
        let t = now()
        #expect(try database.run(["code", "alice", "--at", String(t)]).stdout == (try oathtool(secret: secret, at: t)) + "\n")

        // And back, into a new SQLite file: the same accounts, the used backup code gone.
        let back = try Sandbox()
        let again = try database.run(["export"])
        let reimported = try back.run(["import", "-", "--json"], stdin: again.stdout)
        #expect(reimported.json["imported"] as? Int == 2, "\(reimported.stderr)")
        #expect(try back.run(["login", "alice", "--password-stdin", "--code", codes[0]], stdin: defaultPassword + "\n").status == 1)
        #expect(try back.run(["login", "alice", "--password-stdin", "--code", codes[1]], stdin: defaultPassword + "\n").status == 0)
        #expect(try back.run(["show", "alice", "--json"]).json["backup_codes_left"] as? Int == 8)
    }

    /// A standby (read-only server) refuses writes with 74 before anything is checked, and
    /// serves reads.
    @Test func aReadOnlySessionRefusesWritesAndServesReads() throws {
        let database = try Database()
        try database.run(["register", "alice", "--password-stdin"], stdin: defaultPassword + "\n")
        let readOnly = database.uri + "&options=-c%20default_transaction_read_only%3Don"
        let list = try database.run(["list", "--json"], uri: readOnly)
        #expect(list.status == 0, "\(list.stderr)")
        let login = try database.run(["login", "alice", "--password-stdin", "--json"], stdin: "wrong password 1\n", uri: readOnly)
        #expect(login.status == 74, "\(login.stderr)")
        #expect(login.stderr.contains("read-only"), "\(login.stderr)")
        #expect(try database.sql("SELECT failed_attempts FROM twofa.users") == "0\n")
    }

    /// Failover: a primary and a synchronous streaming standby (pg_basebackup) on loopback
    /// sockets; writes acknowledged through a two-host URI with target_session_attrs=read-write;
    /// the primary stopped hard and the standby promoted; the next twofa command with the same
    /// URI reaches the new primary, and no acknowledged write is missing.
    @Test(.timeLimit(.minutes(3))) func failoverToAPromotedStandbyLosesNoAcknowledgedWrite() throws {
        let bin = try #require(
            (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted().last
                .map { "/usr/lib/postgresql/\($0)/bin" })
        let folder = "/tmp/twofa-failover-\(UUID().uuidString.prefix(8))"
        // As postgres, output to a file: a server that pg_ctl starts would otherwise hold the
        // pipes open, and reading them to the end would wait for the server to stop.
        func asPostgres(_ arguments: [String]) throws -> TwofaRun {
            let log = "\(folder)/command.log"
            // Python's subprocess closes every descriptor above 2: a started server must not
            // inherit a pipe of ours.
            let script = """
                import subprocess, sys
                with open(sys.argv[1], "w") as log:
                    sys.exit(subprocess.call(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))
                """
            let result = try runProcess("/usr/bin/python3", ["-c", script, log, "/usr/sbin/runuser", "-u", "postgres", "--"] + arguments)
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return TwofaRun(status: result.status, stdout: output, stderr: output)
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(chown(folder, postgresUID(), postgresUID()) == 0)
        defer {
            for node in ["primary", "standby"] {
                _ = try? asPostgres(["\(bin)/pg_ctl", "-D", "\(folder)/\(node)", "-m", "immediate", "stop"])
            }
            try? FileManager.default.removeItem(atPath: folder)
        }
        let initdb = try asPostgres(["\(bin)/initdb", "-D", "\(folder)/primary", "-A", "trust", "-U", "postgres", "--no-sync"])
        #expect(initdb.status == 0, "\(initdb.stderr)")
        let settings = """
            listen_addresses = ''
            unix_socket_directories = '\(folder)'
            wal_level = replica
            max_wal_senders = 4
            synchronous_standby_names = 'standby1'
            fsync = off
            """
        try (settings + "\n").write(toFile: "\(folder)/primary/postgresql.auto.conf", atomically: false, encoding: .utf8)
        #expect(chown("\(folder)/primary/postgresql.auto.conf", postgresUID(), postgresUID()) == 0)
        let startPrimary = try asPostgres(["\(bin)/pg_ctl", "-D", "\(folder)/primary", "-o", "-p 55432", "-w", "-l", "\(folder)/primary.log", "start"])
        #expect(startPrimary.status == 0, "\(startPrimary.stderr)")
        let backup = try asPostgres(["\(bin)/pg_basebackup", "-h", folder, "-p", "55432", "-U", "postgres", "-D", "\(folder)/standby", "-R", "-X", "stream"])
        #expect(backup.status == 0, "\(backup.stderr)")
        let standbyConf = "\(folder)/standby/postgresql.auto.conf"
        let auto = (try? String(contentsOfFile: standbyConf, encoding: .utf8)) ?? ""
        // The copy has the primary's settings: once promoted it must not wait for a standby.
        try (auto + "primary_conninfo = 'host=\(folder) port=55432 user=postgres application_name=standby1'\n"
            + "synchronous_standby_names = ''\n")
            .write(toFile: standbyConf, atomically: false, encoding: .utf8)
        #expect(chown(standbyConf, postgresUID(), postgresUID()) == 0)
        let startStandby = try asPostgres(["\(bin)/pg_ctl", "-D", "\(folder)/standby", "-o", "-p 55433", "-w", "-l", "\(folder)/standby.log", "start"])
        #expect(startStandby.status == 0, "\(startStandby.stderr)")

        let uri = "postgresql:///postgres?host=\(folder),\(folder)&port=55432,55433&user=postgres&target_session_attrs=read-write"
        let keyFolder = FileManager.default.temporaryDirectory.appendingPathComponent("twofa-failover-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: keyFolder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: keyFolder) }
        let environment = [
            "PATH": "/usr/bin:/bin", "HOME": keyFolder.path, "TWOFA_DB": uri,
            "TWOFA_KEY_FILE": keyFolder.appendingPathComponent("key").path, "TWOFA_ISSUER": "Failover",
        ]
        func twofa(_ arguments: [String], _ stdin: String? = nil) throws -> TwofaRun {
            try runProcess(Sandbox.binary.path, arguments, stdin: stdin.map { Data($0.utf8) }, environment: environment)
        }
        var acknowledged: [String] = []
        for index in 0..<10 {
            let result = try twofa(["register", "user\(index)", "--password-stdin", "--json"], defaultPassword + "\n")
            #expect(result.status == 0, "\(result.stderr)")
            if result.status == 0 { acknowledged.append("user\(index)") }
        }
        #expect(try twofa(["login", "user3", "--password-stdin"], defaultPassword + "\n").status == 0)

        // The primary dies without a goodbye; the standby takes over.
        let kill = try asPostgres(["\(bin)/pg_ctl", "-D", "\(folder)/primary", "-m", "immediate", "stop"])
        #expect(kill.status == 0, "\(kill.stderr)")
        let promote = try asPostgres(["\(bin)/pg_ctl", "-D", "\(folder)/standby", "-w", "promote"])
        #expect(promote.status == 0, "\(promote.stderr)")

        let list = try twofa(["list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        for name in acknowledged { #expect(list.stdout.contains("\"\(name)\""), "\(name) lost in the failover") }
        #expect(try twofa(["login", "user7", "--password-stdin"], defaultPassword + "\n").status == 0)
        #expect(try twofa(["audit", "--user", "user3", "--json"]).stdout.contains("\"login\""))
    }
}

/// The `postgres` user's uid (Debian's postgresql package makes it).
func postgresUID() -> UInt32 {
    getpwnam("postgres").map { $0.pointee.pw_uid } ?? 0
}
