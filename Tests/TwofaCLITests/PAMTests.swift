import Foundation
import Testing

/// pam_twofa.so (pam/pam_twofa.c, shared/spec/pam.md) through real PAM clients: pamtester
/// against a PAM service file each test writes into /etc/pam.d (and removes), valgrind's
/// memcheck around one pamtester run, and a real sshd on 127.0.0.1 answered by the OpenSSH
/// client. They need root, pamtester and libpam0g-dev (CI installs them; elsewhere they are
/// skipped unless CI is set, where a missing tool fails them instead).
enum PAMHarness {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let inCI = ProcessInfo.processInfo.environment["CI"] != nil

    static func executable(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

    static var available: Bool {
        inCI || (getuid() == 0 && executable("/usr/bin/pamtester")
            && FileManager.default.fileExists(atPath: "/usr/include/security/pam_modules.h"))
    }

    static var valgrindAvailable: Bool { available && (inCI || executable("/usr/bin/valgrind")) }

    static var sshdAvailable: Bool {
        available && (inCI || (executable("/usr/sbin/sshd") && executable("/usr/bin/ssh")
            && executable("/usr/bin/unshare") && executable("/usr/sbin/useradd")
            && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/pexpect")))
    }

    /// The module under test: `TWOFA_PAM_MODULE` if set, else built now by `pam/build` (the
    /// README's install command) into .build/pam/pam_twofa.so. The build's output on failure.
    static let module: (path: String, failure: String?) = {
        if let path = ProcessInfo.processInfo.environment["TWOFA_PAM_MODULE"], !path.isEmpty { return (path, nil) }
        let path = packageRoot.appendingPathComponent(".build/pam/pam_twofa.so").path
        do {
            let result = try runProcess(
                "/bin/sh", [packageRoot.appendingPathComponent("pam/build").path],
                environment: ["PATH": "/usr/bin:/bin", "OUT": path])
            return (path, result.status == 0 ? nil : "pam/build: \(result.stdout)\(result.stderr)")
        } catch {
            return (path, "pam/build: \(error)")
        }
    }()

    /// The module's path, or a recorded failure.
    static func modulePath() throws -> String {
        if let failure = module.failure { Issue.record(Comment(rawValue: failure)); throw BuildFailed() }
        return module.path
    }

    struct BuildFailed: Error {}
}

/// A PAM service file /etc/pam.d/twofa-test-XXXXXXXX, removed at deinit.
final class PAMService {
    let name = "twofa-test-" + UUID().uuidString.prefix(8).lowercased()
    var path: String { "/etc/pam.d/" + name }

    /// `auth required pam_twofa.so ARGUMENTS` (after `before` lines, if any).
    init(_ arguments: String, before: [String] = []) throws {
        let module = try PAMHarness.modulePath()
        let text = (before + ["auth required \(module) \(arguments)"]).joined(separator: "\n") + "\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// What pamtester said: its exit status, and stdout and stderr together (the prompts of
/// misc_conv, PAM_ERROR_MSG text, and pamtester's verdict).
struct PAMResult {
    var status: Int32
    var output: String
    var seconds: Double
    var authenticated: Bool { status == 0 && output.contains("successfully authenticated") }
    var prompts: [String] {
        ["Password: ", "Verification code: "].filter { output.contains($0) }
    }
}

/// The verdicts pamtester prints (pam_strerror of the module's answer).
enum PAMVerdict {
    static let authError = "Authentication failure"
    static let maxTries = "Have exhausted maximum number of retries for service"
    static let userUnknown = "User not known to the underlying authentication module"
    static let unavailable = "Authentication service cannot retrieve authentication info"
}

/// pamtester SERVICE USER OPERATIONS..., the answers one a line on stdin, rhost set.
func pamtester(
    _ service: PAMService, _ user: String, _ answers: [String], operations: [String] = ["authenticate"],
    valgrind: [String] = []
) throws -> PAMResult {
    let started = Date()
    let pamtester = ["/usr/bin/pamtester", "-v", "-I", "rhost=pamtest.example", service.name, user] + operations
    let (path, arguments) = valgrind.isEmpty
        ? (pamtester[0], Array(pamtester.dropFirst())) : ("/usr/bin/valgrind", valgrind + pamtester)
    let result = try runProcess(
        path, arguments, stdin: Data(answers.map { $0 + "\n" }.joined().utf8), environment: ["PATH": "/usr/bin:/bin"])
    return PAMResult(
        status: result.status, output: result.stdout + result.stderr, seconds: Date().timeIntervalSince(started))
}

/// A sandbox with USER registered and, with `twoFactor`, 2FA on (activated with the previous
/// step's code, so the current step's code is still unused).
struct PAMAccount {
    let sandbox: Sandbox
    let user: String
    var secret = ""
    var backupCodes: [String] = []

    /// An account made by the caller in `sandbox`.
    init(sandbox: Sandbox, user: String) {
        self.sandbox = sandbox
        self.user = user
    }

    init(_ user: String = "alice", twoFactor: Bool = true, sandbox: Sandbox? = nil) throws {
        self.sandbox = try sandbox ?? Sandbox()
        self.user = user
        try self.sandbox.register(user)
        guard twoFactor else { return }
        waitForFreshStep(margin: 15)
        secret = try self.sandbox.enable(user)
        let code = try oathtool(secret: secret, at: now() - 30)
        let verified = try self.sandbox.run(["verify", user, "--code-stdin", "--json"], stdin: code + "\n")
        #expect(verified.status == 0, "activation: \(verified.stderr)")
        backupCodes = verified.json["backup_codes"] as? [String] ?? []
    }

    /// The code of the current step.
    func code() throws -> String { try oathtool(secret: secret, at: now()) }

    /// pam_twofa.so's arguments for this sandbox's database and key file, and the twofa binary.
    func arguments(_ extra: String = "", twofa: String = Sandbox.binary.path) -> String {
        "twofa=\(twofa) db=\(sandbox.database) key_file=\(sandbox.keyFile) \(extra)"
    }

    func audit() throws -> [[String: Any]] {
        let result = try sandbox.run(["audit", "--json"])
        return result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

@Suite(.serialized, .enabled(if: PAMHarness.available))
struct PAMTests {
    // MARK: the module file

    @Test func moduleLinksOnlyLibpamAndLibc() throws {
        let module = try PAMHarness.modulePath()
        let dynamic = try runProcess("/usr/bin/readelf", ["-d", module])
        #expect(dynamic.status == 0, "\(dynamic.stderr)")
        let needed = dynamic.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
            .compactMap { $0.split(separator: "[").last?.dropLast() }.map(String.init)
        #expect(needed.sorted() == ["libc.so.6", "libpam.so.0"], "NEEDED: \(needed)")
        #expect(!dynamic.stdout.contains("RPATH") && !dynamic.stdout.contains("RUNPATH"))
        let symbols = try runProcess("/usr/bin/nm", ["-D", "--defined-only", module])
        let exported = symbols.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last }.map(String.init)
        #expect(Set(exported) == [
            "pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt", "pam_sm_open_session",
            "pam_sm_close_session", "pam_sm_chauthtok",
        ])
    }

    // MARK: mode=password

    @Test func rightPasswordAndCodeAuthenticateAndAreAudited() throws {
        let account = try PAMAccount()
        let service = try PAMService(account.arguments())
        let result = try pamtester(service, "alice", [defaultPassword, try account.code()])
        #expect(result.authenticated, "\(result.output)")
        #expect(result.prompts == ["Password: ", "Verification code: "], "\(result.output)")
        let events = try account.audit()
        let logins = events.filter { $0["event"] as? String == "login" }
        let detail = "pam service=\(service.name) rhost=pamtest.example"
        #expect(logins.contains { $0["ok"] as? Bool == true && ($0["detail"] as? String ?? "").contains(detail) },
                "audit: \(events)")
    }

    /// pam.md: an email-device user is sent the code at the password step (twofa's `login`
    /// without a code), through the host's /usr/sbin/sendmail (exim4 here); the code from the
    /// mailbox then authenticates at the prompt.
    @Test(.enabled(if: RealMTA.available)) func anEmailDeviceIsSentItsCodeAtThePasswordStep() throws {
        let box = try Sandbox()
        let mailUser = "twofapam"
        try RealMTA.prepareMailbox(mailUser)
        try importActiveEmailDevice(box, user: "emma", address: mailUser + "@localhost")
        let account = PAMAccount(sandbox: box, user: "emma")
        let service = try PAMService(account.arguments())
        let first = try pamtester(service, "emma", [defaultPassword, "000000"])
        #expect(first.prompts == ["Password: ", "Verification code: "], "\(first.output)")
        #expect(!first.authenticated)
        let code = try #require(try RealMTA.code(mailUser), "no mail in \(RealMTA.mailbox(mailUser))")
        // Within 30 s of that mail no other goes; the one sent works.
        let second = try pamtester(service, "emma", [defaultPassword, code])
        #expect(second.authenticated, "\(second.output)")
    }

    @Test func wrongCodeFails() throws {
        let account = try PAMAccount()
        let service = try PAMService(account.arguments())
        let right = try account.code()
        let wrong = String(format: "%06d", (Int(right)! + 1) % 1_000_000)
        let result = try pamtester(service, "alice", [defaultPassword, wrong])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.authError), "\(result.output)")
        let failed = try account.audit().filter { $0["event"] as? String == "login" && $0["ok"] as? Bool == false }
        #expect(failed.contains { ($0["detail"] as? String ?? "").contains("pam service=\(service.name)") },
                "audit: \(failed)")
    }

    @Test func wrongPasswordFailsWithoutAskingForTheCode() throws {
        let account = try PAMAccount()
        let service = try PAMService(account.arguments())
        let result = try pamtester(service, "alice", ["not the passphrase 42", try account.code()])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.authError), "\(result.output)")
        #expect(result.prompts == ["Password: "], "\(result.output)")
    }

    @Test func backupCodeWorksOnce() throws {
        let account = try PAMAccount()
        let backup = try #require(account.backupCodes.first)
        let service = try PAMService(account.arguments())
        let first = try pamtester(service, "alice", [defaultPassword, backup])
        #expect(first.authenticated, "\(first.output)")
        let second = try pamtester(service, "alice", [defaultPassword, backup])
        #expect(!second.authenticated)
        #expect(second.output.contains(PAMVerdict.authError), "\(second.output)")
    }

    @Test func userWithoutTwoFactorNeedsOnlyThePassword() throws {
        let account = try PAMAccount("bob", twoFactor: false)
        let service = try PAMService(account.arguments())
        let result = try pamtester(service, "bob", [defaultPassword])
        #expect(result.authenticated, "\(result.output)")
        #expect(result.prompts == ["Password: "], "\(result.output)")
        let wrong = try pamtester(service, "bob", ["not the passphrase 42"])
        #expect(!wrong.authenticated)
    }

    @Test func unknownUserFails() throws {
        let account = try PAMAccount("bob", twoFactor: false)
        let service = try PAMService(account.arguments())
        let result = try pamtester(service, "nobody-here", [defaultPassword, "123456"])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.authError), "\(result.output)")
        #expect(result.prompts == ["Password: "], "\(result.output)")
    }

    @Test func lockoutFailsWithMaxTriesAndSaysWhenToRetry() throws {
        let account = try PAMAccount()
        let service = try PAMService(account.arguments())
        for _ in 0..<5 {
            let result = try pamtester(service, "alice", ["not the passphrase 42"])
            #expect(!result.authenticated)
        }
        let locked = try pamtester(service, "alice", [defaultPassword, try account.code()])
        #expect(!locked.authenticated)
        #expect(locked.output.contains(PAMVerdict.maxTries), "\(locked.output)")
        #expect(locked.output.range(of: #"locked\. Try again in [0-9]+ seconds?\."#, options: .regularExpression) != nil,
                "\(locked.output)")
    }

    @Test func useFirstPassAndTryFirstPassTakeTheEarlierPassword() throws {
        let account = try PAMAccount()
        // pam_unix asks for the password (and fails: alice is no Unix account), leaving it as
        // PAM_AUTHTOK for pam_twofa.
        let unix = ["auth optional pam_unix.so nodelay"]
        let first = try PAMService(account.arguments("use_first_pass"), before: unix)
        let result = try pamtester(first, "alice", [defaultPassword, try account.code()])
        #expect(result.authenticated, "\(result.output)")
        #expect(result.output.components(separatedBy: "Password: ").count == 2, "one password prompt: \(result.output)")

        // try_first_pass: a first pass twofa refuses is followed by its own prompt. (A backup
        // code: this step's TOTP code is used up.)
        let backup = try #require(account.backupCodes.first)
        let tryFirst = try PAMService(account.arguments("try_first_pass"), before: unix)
        let retried = try pamtester(tryFirst, "alice", ["not the passphrase 42", defaultPassword, backup])
        #expect(retried.authenticated, "\(retried.output)")
        #expect(retried.output.components(separatedBy: "Password: ").count == 3, "two prompts: \(retried.output)")

        // use_first_pass with a wrong first pass: no second chance.
        let wrong = try pamtester(first, "alice", ["not the passphrase 42", defaultPassword])
        #expect(!wrong.authenticated)
    }

    // MARK: mode=code

    @Test func codeModeAsksOnlyForTheCode() throws {
        let account = try PAMAccount()
        let service = try PAMService(account.arguments("mode=code"))
        let right = try account.code()
        let result = try pamtester(service, "alice", [right])
        #expect(result.authenticated, "\(result.output)")
        #expect(result.prompts == ["Verification code: "], "\(result.output)")
        let events = try account.audit().filter { $0["event"] as? String == "verify" && $0["ok"] as? Bool == true }
        #expect(events.contains { ($0["detail"] as? String ?? "").contains("pam service=\(service.name)") },
                "audit: \(events)")
        // The same code again is a replay; a wrong one fails.
        let replay = try pamtester(service, "alice", [right])
        #expect(!replay.authenticated)
        let wrong = try pamtester(service, "alice", [String(format: "%06d", (Int(right)! + 7) % 1_000_000)])
        #expect(!wrong.authenticated)
        #expect(wrong.output.contains(PAMVerdict.authError), "\(wrong.output)")
    }

    @Test func codeModeWithoutNullokRefusesUsersWithoutTwoFactor() throws {
        let account = try PAMAccount("bob", twoFactor: false)
        let service = try PAMService(account.arguments("mode=code"))
        let result = try pamtester(service, "bob", ["123456"])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.authError), "\(result.output)")
        let unknown = try pamtester(service, "nobody-here", ["123456"])
        #expect(!unknown.authenticated)
    }

    @Test func codeModeWithNullokPassesUsersWithoutTwoFactorButNotUnknownOnes() throws {
        let account = try PAMAccount("bob", twoFactor: false)
        let service = try PAMService(account.arguments("mode=code nullok"))
        let result = try pamtester(service, "bob", [])
        #expect(result.authenticated, "\(result.output)")
        #expect(result.prompts.isEmpty, "\(result.output)")

        let unknown = try pamtester(service, "nobody-here", ["123456"])
        #expect(!unknown.authenticated)
        #expect(unknown.output.contains(PAMVerdict.userUnknown), "\(unknown.output)")

        // A pending enrolment is not on: it passes with nullok, and stays pending (verify
        // would have activated it and shown the backup codes to nobody).
        _ = try account.sandbox.enable("bob")
        let pending = try pamtester(service, "bob", [])
        #expect(pending.authenticated, "\(pending.output)")
        let shown = try account.sandbox.run(["show", "bob", "--json"])
        #expect(shown.json["two_factor"] as? String == "pending", "\(shown.stdout)")

        // A user whose 2FA is on still needs the code under nullok.
        let alice = try PAMAccount(sandbox: account.sandbox)
        let on = try pamtester(service, "alice", ["000000"])
        #expect(!on.authenticated)
        let right = try pamtester(service, "alice", [try alice.code()])
        #expect(right.authenticated, "\(right.output)")
    }

    // MARK: faults: none authenticates

    @Test func missingTwofaBinaryFails() throws {
        let account = try PAMAccount("bob", twoFactor: false)
        let service = try PAMService(account.arguments(twofa: account.sandbox.folder.path + "/no-such-twofa"))
        let result = try pamtester(service, "bob", [defaultPassword])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.unavailable), "\(result.output)")
    }

    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func unreadableDatabaseFails() throws {
        let account = try PAMAccount("bob", twoFactor: false)
        // A database others may read is refused by twofa (exit 74), so the attempt fails.
        chmod(account.sandbox.database, 0o644)
        let service = try PAMService(account.arguments())
        let result = try pamtester(service, "bob", [defaultPassword])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.unavailable), "\(result.output)")
    }

    @Test func crashingTwofaFails() throws {
        let sandbox = try Sandbox()
        let script = try standIn(sandbox, "crash", "kill -SEGV $$\n")
        let service = try PAMService("twofa=\(script)")
        let result = try pamtester(service, "alice", [defaultPassword, "123456"])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.unavailable), "\(result.output)")
    }

    @Test func hangingTwofaIsKilledAtTheTimeLimitAndReaped() throws {
        let sandbox = try Sandbox()
        let folder = sandbox.folder.path
        // The first run hangs (with a child of its own); the second, in the same pamtester,
        // lists pamtester's children: a zombie of the first would show there as state Z.
        let script = try standIn(sandbox, "hang", """
            if [ -e \(folder)/hung ]; then
                for s in /proc/[0-9]*/status; do
                    awk -v pp="$PPID" '/^State:/ {st = $2} /^PPid:/ {if ($2 == pp) hit = 1} END {if (hit) print FILENAME, st}' "$s" 2>/dev/null
                done > \(folder)/children
                exit 1
            fi
            echo $$ > \(folder)/hung
            sleep 300 &
            echo $! > \(folder)/sleeper
            wait

            """)
        let service = try PAMService("twofa=\(script)")
        let result = try pamtester(
            service, "alice", [defaultPassword, defaultPassword], operations: ["authenticate", "authenticate"])
        #expect(!result.authenticated)
        #expect(result.output.contains(PAMVerdict.unavailable), "\(result.output)")
        #expect(result.seconds >= 9.5 && result.seconds < 20, "took \(result.seconds) s")
        let children = (try? String(contentsOfFile: folder + "/children", encoding: .utf8)) ?? "(none)"
        #expect(!children.isEmpty && !children.contains(" Z"), "pamtester's children: \(children)")
        // Both are dead: the first run was reaped by the module (it is no zombie in the listing
        // above); the orphaned `sleep` was killed with its group and is init's to reap.
        for name in ["hung", "sleeper"] {
            let pid = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            var state = "absent"
            for _ in 0..<30 {
                state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))
                    .map { $0.split(separator: ")").last?.split(separator: " ").first.map(String.init) ?? "?" } ?? "absent"
                if state == "absent" { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(state == "absent" || (name == "sleeper" && state == "Z"), "\(name) \(pid): state \(state)")
        }
    }

    // MARK: secrets

    @Test func secretsReachTwofaOnlyOnStdin() throws {
        let sandbox = try Sandbox()
        let folder = sandbox.folder.path
        // Records argv, the environment and stdin of each run; answers "code needed" to a
        // login without --code-stdin, so that the module asks for the code too.
        let script = try standIn(sandbox, "record", """
            n=$(ls \(folder) | grep -c '[.]stdin$')
            out=\(folder)/run-$n
            tr '\\0' '\\n' < /proc/$$/cmdline > $out.argv
            tr '\\0' '\\n' < /proc/$$/environ > $out.env
            cat > $out.stdin
            case " $* " in *" --code-stdin "*) exit 0 ;; *) exit 2 ;; esac

            """)
        let password = "secret passphrase 4711"
        let code = "902 113"
        let service = try PAMService("twofa=\(script) db=/var/lib/twofa-test/twofa.db key_file=/etc/twofa-test.key")
        let result = try pamtester(service, "alice", [password, code])
        #expect(result.authenticated, "\(result.output)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".stdin") }.sorted()
        #expect(runs.count == 2, "\(runs)")
        let read = { (name: String) in (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? "" }
        #expect(read("run-0.stdin") == password + "\n")
        #expect(read("run-1.stdin") == password + "\n" + code + "\n")
        for run in ["run-0", "run-1"] {
            let argv = read(run + ".argv")
            let env = read(run + ".env")
            for secret in [password, code, "902113", "passphrase"] {
                #expect(!argv.contains(secret) && !env.contains(secret), "\(run): \(argv) \(env)")
            }
            #expect(argv.contains("--audit-detail\npam service=\(service.name) rhost=pamtest.example\n"), "\(argv)")
            #expect(argv.contains("\n--db\n/var/lib/twofa-test/twofa.db\n"), "\(argv)")
            let variables = env.split(separator: "\n").map { String($0.prefix { $0 != "=" }) }.sorted()
            #expect(variables == ["HOME", "PATH", "TWOFA_KEY_FILE"], "\(env)")
            #expect(env.contains("PATH=/usr/bin:/bin\n") && env.contains("TWOFA_KEY_FILE=/etc/twofa-test.key\n"))
        }
        // /proc/PID/cmdline of a script: the interpreter, then the script and its arguments.
        #expect(read("run-0.argv").split(separator: "\n").dropFirst().map(String.init) == [
            script, "login", "--db", "/var/lib/twofa-test/twofa.db", "--password-stdin", "--json", "--audit-detail",
            "pam service=\(service.name) rhost=pamtest.example", "alice",
        ])
    }

    // MARK: memcheck

    @Test(.enabled(if: PAMHarness.valgrindAvailable))
    func noLeakOrInvalidAccessUnderValgrind() throws {
        let account = try PAMAccount()
        let log = account.sandbox.folder.appendingPathComponent("valgrind.log").path
        let service = try PAMService(account.arguments())
        let result = try pamtester(
            service, "alice", [defaultPassword, try account.code()],
            valgrind: ["--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
                       "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=99",
                       "--child-silent-after-fork=yes", "--log-file=\(log)"])
        let report = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(result.status == 0 && result.authenticated, "\(result.output)\n\(report)")
        #expect(report.contains("ERROR SUMMARY: 0 errors"), "\(report)")
        #expect(!report.contains("pam_twofa"), "\(report)")
        // A failing attempt (wrong code) takes the other paths.
        let wrong = try pamtester(
            service, "alice", [defaultPassword, "000000"],
            valgrind: ["--leak-check=full", "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=99",
                       "--child-silent-after-fork=yes", "--log-file=\(log)"])
        let second = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(wrong.status == 1 && !wrong.authenticated, "\(wrong.output)\n\(second)")
        #expect(second.contains("ERROR SUMMARY: 0 errors"), "\(second)")
    }

    // MARK: sshd

    @Test(.enabled(if: PAMHarness.sshdAvailable))
    func sshLogsInWithPasswordAndCodeAndRefusesAWrongCode() throws {
        let user = "tfp" + UUID().uuidString.prefix(8).lowercased().filter { $0.isLetter || $0.isNumber }
        let account = try PAMAccount(user)
        let module = try PAMHarness.modulePath()
        let right = try account.code()
        let wrong = String(format: "%06d", (Int(right)! + 3) % 1_000_000)
        let work = account.sandbox.folder.appendingPathComponent("ssh").path
        let result = try runProcess(
            "/usr/bin/python3",
            [PAMHarness.packageRoot.appendingPathComponent("pam/test/ssh_login.py").path,
             "--module", module, "--twofa", Sandbox.binary.path, "--db", account.sandbox.database,
             "--key-file", account.sandbox.keyFile, "--user", user, "--workdir", work,
             "--labels", "right,replayed,wrong"],
            stdin: Data("\(defaultPassword)\n\(right)\n\(right)\n\(wrong)\n".utf8),
            environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": account.sandbox.folder.path])
        let records = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let attempts = records.filter { $0["code"] != nil }
        let context = "\(result.stdout)\n\(result.stderr)"
        #expect(result.status == 0, "\(context)")
        try #require(attempts.count == 3, "\(context)")
        #expect(attempts[0]["authenticated"] as? Bool == true, "\(context)")
        #expect(attempts[0]["prompts"] as? [String] == ["Password:", "Verification code:"], "\(context)")
        #expect(attempts[1]["authenticated"] as? Bool == false, "replayed code: \(context)")
        #expect(attempts[2]["authenticated"] as? Bool == false, "wrong code: \(context)")
        #expect((attempts[2]["transcript"] as? String ?? "").contains("Permission denied"), "\(context)")
        let events = try account.audit().filter { $0["event"] as? String == "login" }
        #expect(events.contains {
            $0["ok"] as? Bool == true && ($0["detail"] as? String ?? "").contains("pam service=sshd rhost=127.0.0.1")
        }, "audit: \(events)")
        // The account is gone again.
        #expect(try runProcess("/usr/bin/id", [user]).status != 0)
    }
}

/// An executable stand-in for twofa in the sandbox: `#!/bin/sh` and BODY.
func standIn(_ sandbox: Sandbox, _ name: String, _ body: String) throws -> String {
    let path = sandbox.folder.appendingPathComponent(name).path
    try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}
