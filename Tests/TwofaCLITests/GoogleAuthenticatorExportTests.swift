import Foundation
import Testing

/// `export --google-authenticator` (issue 14): a state file that the real
/// pam_google_authenticator.so accepts, tried through pamtester, so a host can move either way.
@Suite(.serialized, .enabled(if: GoogleAuthenticatorModule.available))
struct GoogleAuthenticatorExportTests {
    @Test func theRealModuleTakesTheCodeAndAScratchCodeAndTwofaTheOther() throws {
        let box = try Sandbox()
        try box.register("gail")
        let secret = try box.enable("gail")
        #expect(try box.run(["verify", "gail", "--code", try oathtool(secret: secret, at: now() - 30)]).status == 0)
        let file = box.folder.appendingPathComponent("google_authenticator").path
        let exported = try box.run(["export", "--google-authenticator", "gail", "--scratch-codes", "2", "--output", file, "--json"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 7 && lines[0] == secret)
        #expect(Array(lines[1...4]) == ["\" RATE_LIMIT 3 30", "\" WINDOW_SIZE 3", "\" DISALLOW_REUSE", "\" TOTP_AUTH"])
        let scratch = Array(lines[5...6])
        #expect(scratch.allSatisfy { $0.count == 8 && $0.allSatisfy(\.isNumber) })
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let service = try GoogleAuthenticatorService(secretFile: file)
        waitForFreshStep()
        let totp = try service.authenticate("gail", try oathtool(secret: secret, at: now()))
        #expect(totp.authenticated, "\(totp.output)")
        let first = try service.authenticate("gail", scratch[0])
        #expect(first.authenticated, "\(first.output)")
        let wrong = try service.authenticate("gail", "12345678")
        #expect(!wrong.authenticated)
        // The other scratch code is a backup code in twofa, once.
        let login = try box.run(["login", "gail", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + scratch[1] + "\n")
        #expect(login.status == 0 && login.json["second_factor"] as? String == "backup_code", "\(login.stderr)")
        let again = try box.run(["login", "gail", "--password-stdin", "--code-stdin"], stdin: defaultPassword + "\n" + scratch[1] + "\n")
        #expect(again.status == 1)
    }

    @Test func aHOTPEnrolmentGoesBackAsACounterFile() throws {
        let box = try Sandbox()
        try box.register("hugo")
        let secret = try box.enable("hugo", extra: ["--type", "hotp"])
        func hotp(_ counter: Int) throws -> String {
            try runProcess("/usr/bin/oathtool", ["--hotp", "-b", "-c", String(counter), secret]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try box.run(["verify", "hugo", "--code", try hotp(0)]).status == 0)
        #expect(try box.run(["verify", "hugo", "--code", try hotp(3)]).status == 0)
        let file = box.folder.appendingPathComponent("google_authenticator").path
        let exported = try box.run(["export", "--google-authenticator", "hugo", "--scratch-codes", "1", "--output", file])
        #expect(exported.status == 0, "\(exported.stderr)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.contains("\" HOTP_COUNTER 4") && !lines.contains("\" TOTP_AUTH"), "\(lines)")
        let service = try GoogleAuthenticatorService(secretFile: file)
        // The next code works there; what twofa used is behind the module's counter too (three
        // tries: the file's RATE_LIMIT 3 30; a wrong code moves the module's counter on).
        let next = try service.authenticate("hugo", try hotp(4))
        #expect(next.authenticated, "\(next.output)")
        #expect(try !service.authenticate("hugo", try hotp(3)).authenticated)
        let scratch = try service.authenticate("hugo", lines[lines.count - 1])
        #expect(scratch.authenticated, "\(scratch.output)")
    }

    @Test func whatTheFormatCannotHoldIsRefused() throws {
        let box = try Sandbox()
        try box.register("hal")
        let off = try box.run(["export", "--google-authenticator", "hal", "--output", box.folder.appendingPathComponent("x").path])
        #expect(off.status == 5, "2FA off: \(off.stderr)")
        let secret = try box.enable("hal", extra: ["--digits", "8"])
        #expect(try box.run(["verify", "hal", "--code", try oathtool(secret: secret, digits: 8, at: now() - 30)]).status == 0)
        let eight = try box.run(["export", "--google-authenticator", "hal", "--output", box.folder.appendingPathComponent("y").path])
        #expect(eight.status == 65 && eight.stderr.contains("6-digit"), "\(eight.stderr)")
        #expect(try box.run(["export", "--scratch-codes", "2"]).status == 64)
        #expect(try box.run(["export", "--google-authenticator", "hal", "--scratch-codes", "11", "--output", "/tmp/never"]).status == 65)
        #expect(!FileManager.default.fileExists(atPath: box.folder.appendingPathComponent("y").path))
    }
}

/// libpam-google-authenticator's module (CI installs it; elsewhere the tests need root and it).
enum GoogleAuthenticatorModule {
    static let path = "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so"
    static var available: Bool {
        PAMHarness.inCI || (PAMHarness.available && FileManager.default.fileExists(atPath: path))
    }
}

/// /etc/pam.d/twofa-ga-XXXXXXXX: pam_google_authenticator with one secret file, removed at deinit.
final class GoogleAuthenticatorService {
    let name = "twofa-ga-" + UUID().uuidString.prefix(8).lowercased()
    var path: String { "/etc/pam.d/" + name }

    init(secretFile: String) throws {
        try "auth required pam_google_authenticator.so secret=\(secretFile) user=root\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func authenticate(_ user: String, _ code: String) throws -> PAMResult {
        let started = Date()
        let result = try runProcess(
            "/usr/bin/pamtester", ["-v", name, user, "authenticate"], stdin: Data((code + "\n").utf8),
            environment: ["PATH": "/usr/bin:/bin"])
        return PAMResult(status: result.status, output: result.stdout + result.stderr, seconds: Date().timeIntervalSince(started))
    }
}
