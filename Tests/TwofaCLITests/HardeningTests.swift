import Foundation
import Testing

/// Issue 9, security hardening: outside text never reaches a terminal raw and is refused where
/// it would be stored; codes on standard input; a process that is not dumpable; exports that
/// others cannot read; a bounded import; replay state carried by export and import.
@Suite("security hardening")
struct HardeningTests {
    static let escape = UInt8(0x1B)

    // MARK: - Terminal escape injection

    /// OSC 52 (write the clipboard) and CSI 2K (erase the line) in an option line of a
    /// google-authenticator file: refused, naming the line, and nothing is written.
    @Test func googleAuthenticatorOptionLineWithEscapesIsRefused() throws {
        let box = try Sandbox()
        try box.register("alice")
        let file = box.folder.appendingPathComponent("ga").path
        let content = "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" \u{1B}]52;c;ZXZpbA==\u{07}\u{1B}[2K RATE_LIMIT 3 30\n12345678\n"
        try Data(content.utf8).write(to: URL(fileURLWithPath: file))
        let before = box.snapshot()
        let refused = try box.run(["import", "--google-authenticator", file, "--user", "alice"])
        #expect(refused.status == 65, "\(refused.stderr)")
        #expect(refused.stderr.contains("line 3 of the google-authenticator file"), "\(refused.stderr)")
        #expect(refused.stderr.contains("\\x1b"))
        #expect(!Array(refused.stderr.utf8).contains(Self.escape))
        #expect(box.snapshot() == before)
        let shown = try box.run(["show", "alice", "--json"])
        #expect(shown.json["two_factor"] as? String == "off")
        #expect(!(try box.run(["audit"]).stdout.contains("import")))
    }

    /// A file name with an escape sequence: the error message shows it escaped; an import from
    /// such a file records the name escaped, and `audit` shows it escaped.
    @Test func importFileNameIsEscaped() throws {
        let box = try Sandbox()
        let missing = box.folder.appendingPathComponent("no\u{1B}[2Jsuch.jsonl").path
        let refused = try box.run(["import", missing])
        #expect(refused.status == 74)
        #expect(!Array(refused.stderr.utf8).contains(Self.escape), "\(refused.stderr)")
        #expect(refused.stderr.contains("no\\x1b[2Jsuch.jsonl"), "\(refused.stderr)")
        let json = try box.run(["import", missing, "--json"])
        #expect(!Array(json.stderr.utf8).contains(Self.escape))
        #expect((json.error["message"] as? String)?.contains("no\u{1B}[2Jsuch.jsonl") == true)

        let named = box.folder.appendingPathComponent("in\u{1B}]0;pwned\u{07}\u{9B}31m.jsonl").path
        let line = #"{"user":"carol","password_hash":"$1$ab$xxxxxxxxxxxxxxxxxxxxxx"}"#
        try Data((line + "\n").utf8).write(to: URL(fileURLWithPath: named))
        let imported = try box.run(["import", named])
        #expect(imported.status == 0, "\(imported.stderr)")
        let audit = try box.run(["audit"])
        #expect(audit.status == 0)
        #expect(!Array(audit.stdout.utf8).contains(Self.escape), "\(audit.stdout)")
        #expect(!audit.stdout.unicodeScalars.contains("\u{9B}"))
        #expect(audit.stdout.contains("\\x1b]0;pwned\\x07\\x9b31m.jsonl"), "\(audit.stdout)")
        let auditJSON = try box.run(["audit", "--json"])
        #expect(!Array(auditJSON.stdout.utf8).contains(Self.escape))
        #expect(!auditJSON.stdout.unicodeScalars.contains("\u{9B}"))
    }

    /// A CSV header name is echoed in the error, escaped; with --json the message is JSON
    /// (the escape as \u001b), never a raw byte.
    @Test func csvHeaderIsEchoedEscaped() throws {
        let box = try Sandbox()
        let file = box.folder.appendingPathComponent("users.csv").path
        try Data("user,password_hash,\u{1B}[31mred\u{1B}[0m\ncarol,x,y\n".utf8).write(to: URL(fileURLWithPath: file))
        let refused = try box.run(["import", file])
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("unknown column '\\x1b[31mred\\x1b[0m'"), "\(refused.stderr)")
        #expect(!Array(refused.stderr.utf8).contains(Self.escape))
        let json = try box.run(["import", file, "--json"])
        #expect(json.status == 65)
        #expect(!Array(json.stderr.utf8).contains(Self.escape))
        #expect(json.stderr.contains("\\u001b[31mred"), "\(json.stderr)")
        #expect(json.error["code"] as? String == "invalid_input")
    }

    /// An issuer with a control or bidirectional character in a JSON Lines record: exit 65,
    /// naming the line, nothing imported.
    @Test func jsonLinesIssuerWithControlIsRefused() throws {
        for issuer in ["Evil\\u001b[2K", "Evil\\u009b31m", "Evil\\u202eCorp", "tab\\there"] {
            let box = try Sandbox()
            let lines = [
                #"{"user":"bob","password_hash":"$1$ab$xxxxxxxxxxxxxxxxxxxxxx"}"#,
                #"{"user":"carol","password_hash":"$1$ab$xxxxxxxxxxxxxxxxxxxxxx","totp":{"secret":"JBSWY3DPEHPK3PXP","issuer":"\#(issuer)"}}"#,
            ]
            let result = try box.run(["import", "-"], stdin: lines.joined(separator: "\n") + "\n")
            #expect(result.status == 65, "\(issuer): \(result.stderr)")
            #expect(result.stderr.contains("line 2"), "\(result.stderr)")
            #expect(result.stderr.contains("issuer"), "\(result.stderr)")
            #expect(!Array(result.stderr.utf8).contains(Self.escape))
            #expect(!FileManager.default.fileExists(atPath: box.database))
        }
    }

    /// `enable-2fa --issuer` (and `register --enable-2fa`, and $TWOFA_ISSUER) with a C1 CSI or
    /// a right-to-left override: exit 65, and no enrolment.
    @Test func enrolmentIssuerWithControlIsRefused() throws {
        let box = try Sandbox()
        try box.register("alice")
        for issuer in ["Evil\u{9B}31m", "Evil\u{202E}Corp", "Evil\u{1B}[2J"] {
            let result = try box.run(["enable-2fa", "alice", "--password-stdin", "--issuer", issuer], stdin: defaultPassword + "\n")
            #expect(result.status == 65, "\(result.stderr)")
            #expect(!containsRawControl(result.stderr), "\(result.stderr)")
            let viaRegister = try box.run(
                ["register", "bob", "--password-stdin", "--enable-2fa", "--issuer", issuer], stdin: defaultPassword + "\n")
            #expect(viaRegister.status == 65)
        }
        let fromEnvironment = try box.run(
            ["enable-2fa", "alice", "--password-stdin"], stdin: defaultPassword + "\n",
            environment: ["TWOFA_ISSUER": "Evil\u{202E}"])
        #expect(fromEnvironment.status == 65)
        #expect(try box.run(["show", "alice", "--json"]).json["two_factor"] as? String == "off")
        #expect(try box.run(["show", "bob"]).status == 4)
    }

    /// Text from the command line that an error message echoes (a username) is escaped too.
    @Test func errorMessagesAreEscaped() throws {
        let box = try Sandbox()
        let result = try box.run(["unlock", "x\u{1B}]0;title\u{07}\u{202E}"])
        #expect(result.status == 65 || result.status == 4)
        #expect(!containsRawControl(result.stderr), "\(result.stderr)")
        let unknown = try box.run(["login", "--code", "1", "--bogus\u{1B}[2J"])
        #expect(unknown.status == 64)
        #expect(!containsRawControl(unknown.stderr), "\(unknown.stderr)")
    }

    // MARK: - --code-stdin

    /// A backup code read from standard input logs in, and never appears in the process's
    /// command line (what `ps` shows).
    @Test func backupCodeOnStandardInputStaysOutOfTheProcessList() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice")
        waitForFreshStep()
        let activation = try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now()), "--json"])
        let codes = try #require(activation.json["backup_codes"] as? [String])

        let running = try Running(box: box, ["login", "alice", "--password-stdin", "--code-stdin", "--json"])
        running.write(defaultPassword + "\n")
        let cmdline = try running.commandLine()
        #expect(cmdline.contains("--code-stdin"))
        #expect(!cmdline.contains(codes[0]))
        #expect(!cmdline.contains(defaultPassword))
        running.write(codes[0] + "\n")
        let result = running.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.json["second_factor"] as? String == "backup_code")

        // Used up: the same code again fails.
        let again = try box.run(["login", "alice", "--password-stdin", "--code-stdin"], stdin: defaultPassword + "\n" + codes[0] + "\n")
        #expect(again.status == 1)
        // The full parser reads it the same way.
        let full = try box.run(["login", "alice", "--password-stdin", "--code-stdin", "--json", "--"], stdin: defaultPassword + "\n" + codes[1] + "\r\n")
        #expect(full.status == 0, "\(full.stderr)")
        // verify reads the first line; backup-codes, qr and disable the line after the password.
        #expect(try box.run(["verify", "alice", "--code-stdin"], stdin: codes[2] + "\n").status == 0)
        let renewed = try box.run(["backup-codes", "alice", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + codes[3] + "\n")
        #expect(renewed.status == 0, "\(renewed.stderr)")
        let fresh = try #require(renewed.json["backup_codes"] as? [String])
        let qr = try box.run(["qr", "alice", "--password-stdin", "--code-stdin", "--format", "ascii"], stdin: defaultPassword + "\n" + fresh[0] + "\n")
        #expect(qr.status == 0, "\(qr.stderr)")
        let disabled = try box.run(["disable", "alice", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + fresh[1] + "\n")
        #expect(disabled.status == 0, "\(disabled.stderr)")
        #expect(disabled.json["two_factor"] as? Bool == false)
    }

    /// --code and --code-stdin together are a usage error, on the fast path and the full
    /// parser alike; --code-stdin without a line for the code too.
    @Test func codeStdinUsageErrors() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice")
        waitForFreshStep()
        #expect(try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now())]).status == 0)
        for command in [
            ["login", "alice", "--password-stdin"], ["verify", "alice"], ["qr", "alice", "--password-stdin"],
            ["disable", "alice", "--password-stdin"], ["backup-codes", "alice", "--password-stdin"],
        ] {
            for tail in [[], ["--"]] {
                let both = try box.run(command + ["--code", "123456", "--code-stdin"] + tail, stdin: defaultPassword + "\n123456\n")
                #expect(both.status == 64, "\(command): \(both.stderr)")
            }
        }
        #expect(try box.run(["disable", "alice", "--force", "--code-stdin"]).status == 64)
        let noLine = try box.run(["login", "alice", "--password-stdin", "--code-stdin"], stdin: defaultPassword + "\n")
        #expect(noLine.status == 64, "\(noLine.stderr)")
        #expect(try box.run(["verify", "alice", "--code-stdin"], stdin: "").status == 64)
        #expect(try box.run(["verify", "alice", "--code-stdin"], stdin: "12x456\n").status == 65)
        let long = try box.run(["verify", "alice", "--code-stdin"], stdin: String(repeating: "1", count: 100_000) + "\n")
        #expect(long.status == 65)
        // A user without 2FA needs no code: the line is not even read.
        try box.register("bob")
        #expect(try box.run(["login", "bob", "--password-stdin", "--code-stdin"], stdin: defaultPassword + "\n").status == 0)
    }

    // MARK: - Not dumpable

    /// A non-dumpable process's /proc/PID files belong to root, whoever runs it; a dumpable
    /// one's to its own user. Run as `nobody` (through setpriv when the tests run as root), the
    /// waiting `twofa` has root's /proc files and `cat`, the control, its own.
    @Test func processIsNotDumpable() throws {
        let box = try Sandbox()
        // A copy that `nobody` may run, whatever the build folder's permissions.
        let binary = box.folder.appendingPathComponent("twofa").path
        try FileManager.default.copyItem(atPath: Sandbox.binary.path, toPath: binary)
        chmod(binary, 0o755)
        chmod(box.folder.path, 0o755)
        let asRoot = geteuid() == 0
        let runner = asRoot ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []
        let expectedOwner: uid_t = asRoot ? 65534 : getuid()

        let control = try Running(runner + ["/bin/cat"])
        try control.waitUntilWaiting(command: "cat")
        #expect(control.procOwner() == expectedOwner, "the control process's /proc files should be its own")
        _ = control.finish()

        let twofa = try Running(runner + [binary, "code", "--secret-stdin"])
        try twofa.waitUntilWaiting(command: "twofa")
        // prctl runs first thing in main; allow for a process caught just before it.
        let deadline = Date().addingTimeInterval(5)
        while twofa.procOwner() != 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(twofa.procOwner() == 0, "twofa's /proc files should be root's: it is not dumpable")
        twofa.write("JBSWY3DPEHPK3PXP\n")
        let result = twofa.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.count == 7)
    }

    // MARK: - Export to files others can read

    @Test func exportRefusesReadableStandardOutputAndHardLinks() throws {
        let box = try Sandbox()
        try box.register("alice")
        _ = try box.enable("alice")
        let shared = box.folder.appendingPathComponent("shared.jsonl").path
        #expect(FileManager.default.createFile(atPath: shared, contents: nil, attributes: [.posixPermissions: 0o644]))
        let refused = try runShell("\(quoted(Sandbox.binary.path)) export > \(quoted(shared))", box: box)
        #expect(refused.status == 74, "\(refused.stderr)")
        #expect(refused.stderr.contains("chmod 600"), "\(refused.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: shared)).isEmpty)

        let own = box.folder.appendingPathComponent("own.jsonl").path
        #expect(FileManager.default.createFile(atPath: own, contents: nil, attributes: [.posixPermissions: 0o600]))
        let written = try runShell("\(quoted(Sandbox.binary.path)) export > \(quoted(own))", box: box)
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try String(contentsOfFile: own, encoding: .utf8).contains("\"alice\""))

        // --output onto a file with a second hard link (its other name may be anywhere).
        let target = box.folder.appendingPathComponent("target.jsonl").path
        let other = box.folder.appendingPathComponent("other-name.jsonl").path
        #expect(FileManager.default.createFile(atPath: target, contents: Data("keep\n".utf8), attributes: [.posixPermissions: 0o600]))
        #expect(link(target, other) == 0)
        let linked = try box.run(["export", "--output", target])
        #expect(linked.status == 74, "\(linked.stderr)")
        #expect(linked.stderr.contains("hard link"), "\(linked.stderr)")
        #expect(try String(contentsOfFile: other, encoding: .utf8) == "keep\n")
    }

    // MARK: - Bounded import

    /// /dev/zero never ends: import stops at the documented limit, quickly, with exit 65.
    @Test func importOfAnEndlessFileStopsAtTheLimit() throws {
        let box = try Sandbox()
        let started = Date()
        let result = try box.run(["import", "/dev/zero"])
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("line 1: longer than 64 KiB"), "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(!FileManager.default.fileExists(atPath: box.database))
    }

    /// A file past the limits of a first fix (16 MiB, 100,000 accounts) imports: it is
    /// streamed, and the memory stays under 150 MB (GNU time's peak RSS of the process).
    @Test func largeImportsStreamInBoundedMemory() throws {
        let box = try Sandbox()
        let hash = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        var csv = "user,password_hash,totp_secret\n"
        csv.reserveCapacity(110 * 170_000)
        for index in 0..<170_000 { csv += "user\(index),\(hash),JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n" }
        let file = box.folder.appendingPathComponent("many.csv").path
        try csv.write(toFile: file, atomically: false, encoding: .utf8)
        #expect(csv.utf8.count > 16 << 20)
        let measured = try runProcess(
            "/usr/bin/time", ["-f", "%M", Sandbox.binary.path, "import", file, "--json"],
            environment: box.environment)
        #expect(measured.status == 0, "\(measured.stderr)")
        #expect(measured.stdout.contains("\"imported\":170000"), "\(measured.stdout)")
        let kilobytes = Int(measured.stderr.split(separator: "\n").last ?? "") ?? .max
        #expect(kilobytes < 150 * 1024, "peak RSS \(kilobytes) kB")
        // A duplicate at the very end undoes it all (one transaction).
        let again = box.folder.appendingPathComponent("again.csv").path
        try "user,password_hash\nfresh,\(hash)\nuser169999,\(hash)\n".write(toFile: again, atomically: false, encoding: .utf8)
        let conflict = try box.run(["import", again, "--json"])
        #expect(conflict.status == 5, "\(conflict.stderr)")
        #expect(try box.run(["show", "fresh"]).status == 4)
        let dry = try box.run(["import", again, "--dry-run", "--json"])
        #expect(dry.status == 5, "\(dry.stderr)")
    }

    // MARK: - Replay state in export and import

    /// A code used on the source database is refused on the imported copy.
    @Test func exportCarriesTheReplayState() throws {
        let source = try Sandbox()
        try source.register("alice")
        let secret = try source.enable("alice")
        waitForFreshStep(margin: 10)
        let t = now()
        #expect(try source.run(["verify", "alice", "--code", try oathtool(secret: secret, at: t - 30)]).status == 0)
        let code = try oathtool(secret: secret, at: t)
        let login = try source.run(["login", "alice", "--password-stdin", "--code-stdin"], stdin: defaultPassword + "\n" + code + "\n")
        #expect(login.status == 0, "\(login.stderr)")

        let exported = try source.run(["export"])
        #expect(exported.status == 0)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(exported.stdout.utf8)) as? [String: Any])
        let totp = try #require(record["totp"] as? [String: Any])
        #expect(totp["last_step"] as? Int == Int(t / 30))

        let copy = try Sandbox()
        let imported = try copy.run(["import", "-"], stdin: exported.stdout)
        #expect(imported.status == 0, "\(imported.stderr)")
        let replay = try copy.run(["login", "alice", "--password-stdin", "--code-stdin"], stdin: defaultPassword + "\n" + code + "\n")
        #expect(replay.status == 1, "\(replay.stderr)")
        // A pending enrolment has no replay state: no last_step key.
        try copy.register("bob")
        _ = try copy.enable("bob")
        let bob = try copy.run(["export"]).stdout.split(separator: "\n").first { $0.contains("\"bob\"") }
        #expect(bob.map { !$0.contains("last_step") } == true)
    }

    @Test func malformedLastStepIsRefused() throws {
        for value in ["-1", "1.5", "\"7\"", "true", "99999999999999999999"] {
            let box = try Sandbox()
            let lines = [
                #"{"user":"bob","password_hash":"$1$ab$xxxxxxxxxxxxxxxxxxxxxx"}"#,
                #"{"user":"carol","password_hash":"$1$ab$xxxxxxxxxxxxxxxxxxxxxx","totp":{"secret":"JBSWY3DPEHPK3PXP","last_step":\#(value)}}"#,
            ]
            let result = try box.run(["import", "-"], stdin: lines.joined(separator: "\n") + "\n")
            #expect(result.status == 65, "\(value): \(result.stderr)")
            #expect(result.stderr.contains("line 2"), "\(value): \(result.stderr)")
        }
        let box = try Sandbox()
        let fine = #"{"user":"carol","password_hash":"$1$ab$xxxxxxxxxxxxxxxxxxxxxx","totp":{"secret":"JBSWY3DPEHPK3PXP","last_step":0}}"#
        #expect(try box.run(["import", "-"], stdin: fine + "\n").status == 0)
    }
}

/// Whether `text` holds a raw C0/C1 control (other than the line break ending a message) or
/// a bidirectional control.
private func containsRawControl(_ text: String) -> Bool {
    text.unicodeScalars.contains { scalar in
        scalar != "\n" && (scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || [0x061C, 0x200E, 0x200F].contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
            || (0x2066...0x2069).contains(scalar.value))
    }
}

private func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// Runs a shell command line with the sandbox's environment (for a redirection of stdout).
private func runShell(_ command: String, box: Sandbox) throws -> TwofaRun {
    try runProcess(
        "/bin/sh", ["-c", command],
        environment: box.environment)
}

/// A child process whose standard input stays open until `finish`, to look at it while it
/// waits for a line.
private final class Running {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()

    convenience init(box: Sandbox, _ arguments: [String]) throws {
        try self.init(
            [Sandbox.binary.path] + arguments,
            environment: box.environment)
    }

    init(_ command: [String], environment: [String: String] = ["PATH": "/usr/bin:/bin"]) throws {
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func write(_ text: String) { try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }

    /// The arguments as the process list shows them (/proc/PID/cmdline, NUL-separated).
    func commandLine() throws -> String {
        try waitUntilWaiting(command: nil)
        let data = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
        return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    /// Waits until the process runs `command` (after exec) and sleeps (on its read of stdin).
    func waitUntilWaiting(command: String?) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            let state = stat.range(of: ") ").map { stat[$0.upperBound...].prefix(1) } ?? ""
            if (command == nil || comm == command) && state == "S" { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        Issue.record("process \(pid) never waited on its input")
    }

    /// The owner of /proc/PID/environ: root for a process that is not dumpable.
    func procOwner() -> uid_t? {
        var info = stat()
        guard stat("/proc/\(pid)/environ", &info) == 0 else { return nil }
        return info.st_uid
    }

    func finish() -> TwofaRun {
        try? input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return TwofaRun(
            status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self))
    }
}
