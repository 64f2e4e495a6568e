import Foundation
import Testing
import TwofaDomain

@testable import twofa

/// A console of the test's own: stdin it chose, stdout and stderr captured, an environment of
/// its own, and whichever streams it says are terminals.
final class CapturedConsole: Console, @unchecked Sendable {
    var input: [UInt8]
    var position = 0
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    var variables: [String: String]
    var terminals: [StandardStream]

    init(stdin: String, environment: [String: String], terminals: [StandardStream]) {
        input = Array(stdin.utf8)
        variables = environment
        self.terminals = terminals
    }

    func write(_ bytes: [UInt8], to stream: StandardStream) {
        if stream == .error { stderr += bytes } else { stdout += bytes }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, input.count - position)
        for index in 0..<count { buffer[index] = input[position + index] }
        position += count
        return count
    }

    func isTerminal(_ stream: StandardStream) -> Bool { terminals.contains(stream) }
    func environment(_ name: String) -> String? { variables[name] }
    func withoutEcho(_ body: () throws(TwofaError) -> [UInt8]) throws(TwofaError) -> [UInt8] { try body() }
}

extension Sandbox {
    /// Runs twofa in this process, through `Main.run` with a captured context: what the built
    /// binary does, but for `exit` (whose status it returns) and the process's own streams.
    @discardableResult
    func inProcess(
        _ arguments: [String], stdin: String = "", environment: [String: String] = [:],
        terminals: [StandardStream] = []
    ) -> TwofaRun {
        var variables = ["HOME": folder.path, "TWOFA_DB": database, "TWOFA_ISSUER": "Example"]
        variables.merge(environment) { $1 }
        let console = CapturedConsole(stdin: stdin, environment: variables, terminals: terminals)
        let status = Main.run(arguments, in: CommandContext(console: console))
        return TwofaRun(
            status: status, stdout: String(decoding: console.stdout, as: UTF8.self),
            stderr: String(decoding: console.stderr, as: UTF8.self))
    }
}

/// Commands run in-process with a captured context: no child process, no wall clock waits.
@Suite("commands in-process", .enabled(if: TestStore.isSQLite, "SQLite's files"))
struct InProcessTests {
    @Test func registerLoginCodeAndList() throws {
        let box = try Sandbox()
        let made = box.inProcess(["register", "Alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout == #"{"user":"alice","created":true}"# + "\n")
        #expect(made.stderr.isEmpty)

        let login = box.inProcess(["login", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(login.status == 0, "\(login.stderr)")
        #expect(login.json["authenticated"] as? Bool == true)
        #expect(login.json["second_factor"] is NSNull)

        let wrong = box.inProcess(["login", "alice", "--password-stdin"], stdin: "not the password\n")
        #expect(wrong.status == 1)
        #expect(wrong.stdout.isEmpty)
        #expect(wrong.stderr == "twofa: authentication failed\n")

        let list = box.inProcess(["list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let users = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(users.map { $0["user"] as? String } == ["alice"])
        #expect(users.first?["last_login_at"] is String)
    }

    @Test func codeMatchesOathtool() throws {
        let box = try Sandbox()
        let plain = box.inProcess(["code", "--secret-stdin", "--at", "1111111109"], stdin: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout == (try oathtool(secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", at: 1_111_111_109)) + "\n")
        let json = box.inProcess(["--json", "code", "--secret-stdin", "--at=59"], stdin: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(json.json["code"] as? String == "287082")
        #expect(json.json["expires_in"] as? Int == 1)

        box.inProcess(["register", "bob", "--password-stdin"], stdin: defaultPassword + "\n")
        let enrol = box.inProcess(["enable-2fa", "bob", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        let secret = try #require(enrol.json["secret"] as? String)
        let mine = box.inProcess(["code", "bob", "--at", "2000000000"])
        #expect(mine.status == 0, "\(mine.stderr)")
        #expect(mine.stdout == (try oathtool(secret: secret, at: 2_000_000_000)) + "\n")
        #expect(box.inProcess(["code", "nobody"]).status == 4)
    }

    @Test func usageErrors() throws {
        let box = try Sandbox()
        let dash = box.inProcess(["register", "-dash", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(dash.status == 64)
        #expect(dash.stdout.isEmpty)
        #expect(dash.error["code"] as? String == "usage")
        #expect((dash.error["message"] as? String)?.contains("'-dash'") == true)
        #expect(!FileManager.default.fileExists(atPath: box.database))

        let typo = box.inProcess(["regster", "bob"])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("unknown command 'regster'"))
        #expect(typo.stderr.contains("'register'"))

        let noPassword = box.inProcess(["register", "bob"])
        #expect(noPassword.status == 64)
        #expect(noPassword.stderr == "twofa: standard input is not a terminal: give the password with --password-stdin\n")
    }

    /// passwd reads two lines; one line is a missing new password, not an empty stdin.
    @Test func passwdWithOneLineNamesTheNewPassword() throws {
        let box = try Sandbox()
        box.inProcess(["register", "alice", "--password-stdin"], stdin: defaultPassword + "\n")
        let one = box.inProcess(["passwd", "alice", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(one.status == 64)
        #expect(one.stderr == "twofa: --password-stdin: standard input has no second line for the new password\n")
        let none = box.inProcess(["passwd", "alice", "--password-stdin", "--json"])
        #expect(none.status == 64)
        #expect(none.error["message"] as? String == "--password-stdin: standard input is empty")
        let forced = box.inProcess(["passwd", "alice", "--force", "--password-stdin"])
        #expect(forced.stderr == "twofa: --password-stdin: standard input has no line for the new password\n")
        let both = box.inProcess(
            ["passwd", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\nanother passphrase 7\n")
        #expect(both.status == 0, "\(both.stderr)")
        #expect(both.json["password_changed"] as? Bool == true)
    }

    @Test func versionAndLimit() throws {
        let box = try Sandbox()
        #expect(box.inProcess(["--version", "--json"]).stdout == #"{"version":"\#(Twofa.version)"}"# + "\n")
        #expect(box.inProcess(["--json", "--version"]).stdout == #"{"version":"\#(Twofa.version)"}"# + "\n")
        #expect(box.inProcess(["--version"]).stdout == Twofa.version + "\n")
        for (arguments, status) in [(["--limit", "-3"], 64), (["--limit=-3"], 65), (["--limit", "0"], 65)] {
            let audit = box.inProcess(["audit", "--json"] + arguments)
            #expect(audit.status == Int32(status), "\(arguments)")
            #expect(audit.error["message"] as? String == "--limit must be a positive number", "\(arguments)")
        }
        #expect(box.inProcess(["audit", "--limit", "1"]).status == 0)
    }

    /// The enrolment on an 80x24 terminal: text first, the QR code last, 23 lines in all for a
    /// default SHA1 secret (the 24th is the prompt), none wider than 80 columns; the drawing
    /// has a 2-module quiet zone and decodes to the enrolment's URI.
    @Test(arguments: ["register", "enable-2fa"])
    func enrolmentFitsAnEightyByTwentyFourTerminal(command: String) throws {
        let box = try Sandbox()
        if command == "enable-2fa" { box.inProcess(["register", "carol", "--password-stdin"], stdin: defaultPassword + "\n") }
        let arguments = command == "register" ? ["register", "carol", "--enable-2fa"] : ["enable-2fa", "carol"]
        let shown = box.inProcess(arguments + ["--password-stdin"], stdin: defaultPassword + "\n", terminals: [.output])
        #expect(shown.status == 0, "\(shown.stderr)")
        let lines = shown.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count <= 23, "\(lines.count) lines:\n\(shown.stdout)")
        #expect(widestLine(shown.stdout) <= 80)
        // Text first: the lines before the drawing have no colour; every line after is drawn.
        let firstDrawn = try #require(lines.firstIndex { $0.hasPrefix("\u{1B}[30;47m") })
        #expect(lines[firstDrawn...].allSatisfy { $0.hasPrefix("\u{1B}[30;47m") && $0.hasSuffix("\u{1B}[0m") })
        let text = lines[..<firstDrawn].joined(separator: "\n")
        #expect(text.contains("twofa verify carol --code CODE"))
        #expect(text.contains(command == "register" ? "Registered carol" : "pending"))
        // The URI (83 characters) would not fit a line: not printed on a terminal.
        #expect(!text.contains("otpauth://"))

        let secret = try #require(text.split(separator: ":").last).split(separator: " ").joined()
        #expect(secret.count == 32)
        let uri = "otpauth://totp/Example:carol?secret=\(secret)&issuer=Example"
        let drawing = lines[firstDrawn...].joined(separator: "\n") + "\n"
        let modules = rasterize(drawing, format: "ansi", inverted: false)
        // A 2-module quiet zone: the first two rows and columns are light, the third is not.
        #expect(modules.prefix(2).allSatisfy { $0.allSatisfy { !$0 } })
        #expect(modules[2].contains(true))
        #expect(modules.allSatisfy { !$0[0] && !$0[1] })
        #expect(modules.contains { $0[2] })
        #expect(try zbarimg(modules, in: box) == uri)
        #expect(box.inProcess(["verify", "carol", "--code", try oathtool(secret: secret, at: now())]).status == 0)
    }

    /// Off a terminal, and with --qr none, the URI is printed; the drawing still comes last.
    @Test func enrolmentOffATerminalHasTheURI() throws {
        let box = try Sandbox()
        let piped = box.inProcess(["register", "dave", "--enable-2fa", "--password-stdin", "--algorithm", "sha512"],
            stdin: defaultPassword + "\n")
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.contains("URI: otpauth://totp/Example:dave?secret="))
        #expect(piped.stdout.contains("(SHA512, 6 digits, every 30 s)"))
        #expect(!piped.stdout.contains("\u{1B}"))
        let lines = piped.stdout.split(separator: "\n")
        #expect(lines.last?.allSatisfy { $0 == " " } == true)  // the drawing's quiet zone
        for line in lines where !line.contains("otpauth://") { #expect(line.count <= 80, "\(line)") }

        let none = box.inProcess(["register", "erin", "--enable-2fa", "--password-stdin", "--qr", "none"],
            stdin: defaultPassword + "\n", terminals: [.output])
        #expect(none.status == 0, "\(none.stderr)")
        #expect(none.stdout.hasSuffix("&issuer=Example\n"))
        #expect(!none.stdout.contains("█"))
    }

    /// A 64-character username: every line of the enrolment text still fits 80 columns.
    @Test func longestUsernameTextFits() throws {
        let box = try Sandbox()
        let user = "u" + String(repeating: "x", count: 63)
        let shown = box.inProcess(
            ["register", user, "--enable-2fa", "--password-stdin", "--algorithm", "sha512"], stdin: defaultPassword + "\n",
            terminals: [.output])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(widestLine(shown.stdout) <= 80, "\(shown.stdout)")
    }
}
