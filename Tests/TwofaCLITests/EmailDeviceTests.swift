import Foundation
import Testing

/// The email device (issue 14) through the release binary: a sendmail of the test's own keeps
/// each message, which Python's email package parses as RFC 5322.
@Suite struct EmailDeviceTests {
    /// A sendmail that keeps its standard input as mail-N and its arguments as args-N, or,
    /// with `failing`, complains on stderr and exits 75 (EX_TEMPFAIL) without reading it.
    final class Outbox {
        let folder: URL
        let script: String

        init(_ box: Sandbox, failing: Bool = false) throws {
            folder = box.folder.appendingPathComponent(failing ? "broken-outbox" : "outbox")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            script = folder.appendingPathComponent("sendmail").path
            let body = failing
                ? "echo 'sendmail: cannot connect to the relay' >&2\nexit 75\n"
                : "n=$(ls \(folder.path) | grep -c '^mail-')\ncat > \(folder.path)/mail-$n\necho \"$@\" > \(folder.path)/args-$n\n"
                    + "ls /proc/$$/fd > \(folder.path)/fds-$n\n"
            try ("#!/bin/sh\n" + body).write(toFile: script, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: script)
        }

        var environment: [String: String] { ["TWOFA_SENDMAIL": script + " -t -i", "TWOFA_MAIL_FROM": "twofa@example.org"] }

        var count: Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix("mail-") }.count
        }

        /// The newest message, parsed.
        func last() throws -> [String: Any] {
            let path = folder.appendingPathComponent("mail-\(count - 1)").path
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/parse-mail.py")
            let parsed = try runProcess("/usr/bin/python3", [script.path, path])
            #expect(parsed.status == 0, "\(parsed.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Any])
        }

        /// The code in the newest message's body.
        func lastCode() throws -> String {
            let body = try last()["body"] as? String ?? ""
            return try #require(body.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.count == 6 && $0.allSatisfy(\.isNumber) })
        }
    }

    @Test func enrolLoginAndTheMessage() throws {
        let box = try Sandbox()
        let outbox = try Outbox(box)
        try box.register("emma")
        let enrolled = try box.run(
            ["enable-2fa", "emma", "--device", "email", "--email", "emma@example.com", "--password-stdin", "--json"],
            stdin: defaultPassword + "\n", environment: outbox.environment)
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        #expect(enrolled.json["device"] as? String == "email")
        #expect(enrolled.json["sent_to"] as? String == "e***@example.com")
        #expect(enrolled.json["secret"] == nil && enrolled.json["otpauth_uri"] == nil)
        #expect(outbox.count == 1)
        let message = try outbox.last()
        #expect(message["defects"] as? [String] == [])
        #expect(message["to"] as? [String] == ["emma@example.com"])
        let headers = try #require(message["headers"] as? [String: [String]])
        #expect(headers["from"] == ["twofa@example.org"])
        #expect(headers["subject"]?.first?.contains("sign-in code") == true)
        #expect(headers["subject"]?.first?.contains(try outbox.lastCode()) == false)
        #expect(headers["message-id"]?.count == 1 && headers["mime-version"] == ["1.0"])
        #expect(message["date_parsed"] is String)
        let arguments = try String(contentsOfFile: outbox.folder.appendingPathComponent("args-0").path, encoding: .utf8)
        #expect(arguments == "-t -i\n")

        // Pending until the code that went out confirms it.
        #expect(try box.run(["show", "emma", "--json"]).json["two_factor"] as? String == "pending")
        let confirmed = try box.run(["verify", "emma", "--code-stdin", "--json"], stdin: try outbox.lastCode() + "\n")
        #expect(confirmed.status == 0 && confirmed.json["activated"] as? Bool == true, "\(confirmed.stderr)")
        let shown = try box.run(["show", "emma", "--json"])
        #expect(shown.json["device"] as? String == "email" && shown.json["email"] as? String == "e***@example.com")
        #expect(try box.run(["show", "emma"]).stdout.contains("device:            email"))

        // Within 30 s of the last mail: exit 2, nothing sent, and when the next can go.
        let soon = try box.run(["login", "emma", "--password-stdin", "--json"], stdin: defaultPassword + "\n", environment: outbox.environment)
        #expect(soon.status == 2)
        #expect(soon.error["sent_to"] as? String == "e***@example.com")
        #expect((soon.error["resend_in"] as? Int).map { (1...30).contains($0) } == true)
        #expect(outbox.count == 1)
        #expect(try box.run(["code", "emma"]).status == 5)
    }

    @Test func aLoginWithoutACodeSendsOneThatWorksOnce() throws {
        let box = try Sandbox()
        let outbox = try Outbox(box)
        try importActiveEmailDevice(box, user: "emil")

        let asked = try box.run(["login", "emil", "--password-stdin", "--json"], stdin: defaultPassword + "\n", environment: outbox.environment)
        #expect(asked.status == 2, "\(asked.stderr)")
        #expect(asked.error["code"] as? String == "second_factor_required")
        #expect(asked.error["sent_to"] as? String == "e***@example.com")
        #expect(asked.error["resend_in"] == nil)
        #expect(outbox.count == 1)
        let code = try outbox.lastCode()
        let login = try box.run(
            ["login", "emil", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + code + "\n",
            environment: outbox.environment)
        #expect(login.status == 0 && login.json["second_factor"] as? String == "email", "\(login.stderr)")
        let again = try box.run(
            ["login", "emil", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + code + "\n",
            environment: outbox.environment)
        #expect(again.status == 1)
        #expect(outbox.count == 1)
        // The code is in the database only as a keyed digest.
        if box.postgres == nil {
            let bytes = (box.fileBytes(box.database) ?? Data()) + (box.fileBytes(box.database + "-wal") ?? Data())
            #expect(bytes.range(of: Data(code.utf8)) == nil)
        }
    }

    /// A descriptor twofa was given (or opened) without close-on-exec does not reach the mail
    /// command: it gets its three standard streams and nothing of twofa's.
    @Test func theMailCommandGetsNoOtherDescriptor() throws {
        let box = try Sandbox()
        let outbox = try Outbox(box)
        try importActiveEmailDevice(box, user: "fd")
        var environment = box.environment
        environment.merge(outbox.environment) { $1 }
        let run = try runProcess(
            "/bin/sh", ["-c", "exec 7</etc/hostname; exec \"$0\" \"$@\"", Sandbox.binary.path, "login", "fd", "--password-stdin"],
            stdin: Data((defaultPassword + "\n").utf8), environment: environment)
        #expect(run.status == 2, "\(run.stderr)")
        let fds = try String(contentsOfFile: outbox.folder.appendingPathComponent("fds-0").path, encoding: .utf8)
            .split(separator: "\n").compactMap { Int($0) }
        #expect(!fds.contains(7), "\(fds)")
        #expect(fds.filter { $0 < 3 } == [0, 1, 2])
    }

    @Test func aMailThatCannotBeSentIs74AndChangesNothing() throws {
        let box = try Sandbox()
        let broken = try Outbox(box, failing: true)
        try box.register("ella")
        let refused = try box.run(
            ["enable-2fa", "ella", "--device", "email", "--email", "ella@example.com", "--password-stdin", "--json"],
            stdin: defaultPassword + "\n", environment: broken.environment)
        #expect(refused.status == 74)
        #expect(refused.error["code"] as? String == "mail_error")
        #expect((refused.error["message"] as? String)?.contains("exited with status 75 (sendmail: cannot connect to the relay)") == true)
        // The account is as it was; the audit log says why the enrolment did not stay.
        let shown = try box.run(["show", "ella", "--json"])
        #expect(shown.json["two_factor"] as? String == "off" && shown.json["device"] is NSNull)
        let audit = try box.run(["audit", "--user", "ella", "--json"]).stdout
        #expect(audit.contains("undone: the code to e***@example.com could not be sent"), "\(audit)")
        let missing = try box.run(
            ["enable-2fa", "ella", "--device", "email", "--email", "ella@example.com", "--password-stdin"],
            stdin: defaultPassword + "\n", environment: ["TWOFA_SENDMAIL": box.folder.appendingPathComponent("no-such-sendmail").path])
        #expect(missing.status == 74, "\(missing.stderr)")
        #expect(missing.stderr.hasPrefix("twofa: the code could not be sent: "))
        #expect(try box.run(["show", "ella", "--json"]).json["two_factor"] as? String == "off")
        // Options that do not go together.
        let both = try box.run(
            ["enable-2fa", "ella", "--device", "email", "--email", "ella@example.com", "--type", "hotp", "--password-stdin"],
            stdin: defaultPassword + "\n")
        #expect(both.status == 64)
        #expect(try box.run(["enable-2fa", "ella", "--device", "email", "--password-stdin"], stdin: defaultPassword + "\n").status == 64)
        #expect(try box.run(["enable-2fa", "ella", "--email", "e@example.com", "--password-stdin"], stdin: defaultPassword + "\n").status == 64)
    }

    /// The mail goes after the deciding transaction has committed: a mail command that takes
    /// its time holds up no other command (each of which needs the write lock).
    @Test func aSlowMailCommandHoldsNoLock() throws {
        let box = try Sandbox()
        let folder = box.folder.appendingPathComponent("slow")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let started = folder.appendingPathComponent("started").path
        let release = folder.appendingPathComponent("release").path
        let script = folder.appendingPathComponent("sendmail").path
        // Takes the message, says it started, and waits for the test's release (20 s at most).
        try "#!/bin/sh\ncat > /dev/null\ntouch \(started)\ni=0\nwhile [ ! -e \(release) ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: script)
        try importActiveEmailDevice(box, user: "sam")
        let login = Process()
        login.executableURL = Sandbox.binary
        login.arguments = ["login", "sam", "--password-stdin"]
        var environment = box.environment
        environment["TWOFA_SENDMAIL"] = script
        login.environment = environment
        let input = Pipe()
        login.standardInput = input
        login.standardOutput = FileHandle.nullDevice
        login.standardError = FileHandle.nullDevice
        try login.run()
        input.fileHandleForWriting.write(Data((defaultPassword + "\n").utf8))
        try input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: started) && Date() < deadline { usleep(20_000) }
        #expect(FileManager.default.fileExists(atPath: started), "the mail command never started")
        // While it waits, writes go through (each takes the write lock), at once.
        let began = Date()
        #expect(try box.run(["unlock", "sam"]).status == 0)
        try box.register("tess")
        #expect(Date().timeIntervalSince(began) < 10)
        #expect(login.isRunning, "the login ended before the writes went through")
        _ = FileManager.default.createFile(atPath: release, contents: Data())
        login.waitUntilExit()
        #expect(login.terminationStatus == 2)
    }

    @Test(.enabled(if: TestStore.isSQLite, "one server is enough"))
    func theHTTPLoginStepSendsTheCode() throws {
        let box = try Sandbox()
        let outbox = try Outbox(box)
        try importActiveEmailDevice(box, user: "erin")
        let server = try ServerProcess(box, environment: outbox.environment)
        let step = try server.call("POST", "/api/v1/auth/login", json: ["username": "erin", "password": defaultPassword])
        #expect(step.status == 200, "\(step.text)")
        #expect(step.json["two_factor_required"] as? Bool == true)
        #expect(step.json["sent_to"] as? String == "e***@example.com")
        #expect(outbox.count == 1)
        let token = try #require(step.json["login_token"] as? String)
        let done = try server.call(
            "POST", "/api/v1/auth/login/2fa", json: ["login_token": token, "code": try outbox.lastCode()])
        #expect(done.status == 200, "\(done.text)")
        #expect(done.json["second_factor"] as? String == "email")
    }

    /// Through a real MTA: Debian's exim4 (CI installs exim4-daemon-light) delivering to a local
    /// mailbox, with its sendmail's `-odi` so the delivery is done when sendmail returns.
    @Test(.enabled(if: RealMTA.available && TestStore.isSQLite, "exim4 and root"))
    func throughARealMTA() throws {
        let box = try Sandbox()
        try RealMTA.prepareMailbox()
        try importActiveEmailDevice(box, user: "mta", address: "\(RealMTA.user)@localhost")
        let sendmail = ["TWOFA_SENDMAIL": "/usr/sbin/sendmail -t -i -odi"]
        let asked = try box.run(["login", "mta", "--password-stdin", "--json"], stdin: defaultPassword + "\n", environment: sendmail)
        #expect(asked.status == 2, "\(asked.stderr)")
        #expect(asked.error["sent_to"] as? String == "t***@localhost")
        let mailbox = try String(contentsOfFile: RealMTA.mailbox(), encoding: .utf8)
        #expect(mailbox.contains("Envelope-to: \(RealMTA.user)@localhost"))
        let code = try #require(mailbox.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.count == 6 && $0.allSatisfy(\.isNumber) })
        let login = try box.run(
            ["login", "mta", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + code + "\n")
        #expect(login.status == 0 && login.json["second_factor"] as? String == "email", "\(login.stderr)")
    }
}

/// Registers `user`, then makes them anew, by export's shape, as an active email device
/// whose first mail is still to come (no enrolment mail went out, so none is too recent).
func importActiveEmailDevice(_ box: Sandbox, user: String, address: String? = nil) throws {
    try box.register(user)
    let exported = try box.run(["export"]).stdout.split(separator: "\n").map(String.init)
        .first { $0.contains(#""user":"\#(user)""#) } ?? ""
    #expect(exported.contains(#""totp":null"#))
    #expect(try box.run(["delete", user]).status == 0)
    let line = exported.replacingOccurrences(
        of: #""totp":null"#,
        with: #""totp":{"secret":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","type":"email","email":"\#(address ?? user + "@example.com")","status":"on"}"#)
    let imported = try box.run(["import", "-"], stdin: line + "\n")
    #expect(imported.status == 0, "\(imported.stderr)")
}

/// exim4 on this host, and local users to deliver to (made here, as root, if missing): one
/// for each test that reads a mailbox, as the suites run side by side.
enum RealMTA {
    static let user = "twofamail"

    static func mailbox(_ user: String = user) -> String { "/var/mail/" + user }

    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/exim4")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/useradd")
    }

    /// The user (exim delivers to none without a home) and an empty mailbox.
    static func prepareMailbox(_ user: String = user) throws {
        if try runProcess("/usr/bin/id", [user]).status != 0 {
            let made = try runProcess(
                "/usr/sbin/useradd", ["--system", "--create-home", "--home-dir", "/var/lib/" + user, "--shell", "/usr/sbin/nologin", user])
            #expect(made.status == 0, "\(made.stderr)")
        }
        try? FileManager.default.removeItem(atPath: mailbox(user))
    }

    /// The 6-digit code in the mailbox once a message is there, waiting at most `seconds` for
    /// the MTA's delivery (sendmail without -odi hands it to a delivery process of its own).
    static func code(_ user: String, within seconds: TimeInterval = 20) throws -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if let text = try? String(contentsOfFile: mailbox(user), encoding: .utf8),
                let code = text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) })
                    .first(where: { $0.count == 6 && $0.allSatisfy(\.isNumber) })
            {
                return code
            }
            usleep(20_000)
        } while Date() < deadline
        return nil
    }
}
