import Foundation
import Testing

/// Runs the built `twofa` (beside this test bundle) as a script would: arguments, stdin,
/// environment, exit status, stdout and stderr; never a TTY.
struct TwofaRun {
    var status: Int32
    var stdout: String
    var stderr: String

    /// stdout parsed as one JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
    }

    /// The `error` object that --json prints on stderr.
    var error: [String: Any] {
        let object = (try? JSONSerialization.jsonObject(with: Data(stderr.utf8))) as? [String: Any]
        return object?["error"] as? [String: Any] ?? [:]
    }
}

/// Which store the behaviour suites run on: SQLite by default; with `TWOFA_TEST_STORE=postgres`,
/// PostgreSQL at `TWOFA_TEST_POSTGRES` (the URI `Tests/postgres/cluster start` prints), each
/// sandbox in a database of its own. Tests of SQLite's files are `.enabled(if: TestStore.isSQLite)`.
enum TestStore {
    static let postgresURI: String? = {
        let environment = ProcessInfo.processInfo.environment
        guard environment["TWOFA_TEST_STORE"] == "postgres" else { return nil }
        return environment["TWOFA_TEST_POSTGRES"]
    }()
    static var isSQLite: Bool { postgresURI == nil }

    /// The cluster's URI with another database name.
    static func uri(_ base: String, database: String) -> String {
        guard let start = base.range(of: ":///"), let end = base[start.upperBound...].firstIndex(of: "?") else {
            return base
        }
        return String(base[..<start.upperBound]) + database + String(base[end...])
    }

    static func psql(_ base: String, _ sql: String) throws {
        let result = try runProcess("/usr/bin/psql", [base, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        #expect(result.status == 0, "psql \(sql): \(result.stderr)")
    }
}

/// A scratch folder with a database path in it (or, on PostgreSQL, a database of its own),
/// removed at deinit.
final class Sandbox: @unchecked Sendable {
    let folder: URL
    /// The PostgreSQL database's URI and name, when the suites run there.
    let postgres: String?
    let postgresName: String?
    var database: String { postgres ?? folder.appendingPathComponent("data/twofa.db").path }
    var keyFile: String { postgres == nil ? database + ".key" : folder.appendingPathComponent("twofa.key").path }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("twofa-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if let base = TestStore.postgresURI {
            let name = "twofa_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            // From template0, which nobody connects to: sandboxes are made in parallel.
            try TestStore.psql(base, "CREATE DATABASE \(name) TEMPLATE template0")
            postgres = TestStore.uri(base, database: name)
            postgresName = name
        } else {
            postgres = nil
            postgresName = nil
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
        if let base = TestStore.postgresURI, let name = postgresName {
            try? TestStore.psql(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }

    /// What every twofa of this sandbox runs with: the database, and on PostgreSQL the key file
    /// (there is no path for it to sit beside).
    var environment: [String: String] {
        var environment = ["PATH": "/usr/bin:/bin", "HOME": folder.path, "TWOFA_DB": database, "TWOFA_ISSUER": "Example"]
        if postgres != nil { environment["TWOFA_KEY_FILE"] = keyFile }
        return environment
    }

    /// `TWOFA_BIN` names the binary under test (CI sets it to the release build the README
    /// installs); else the debug build beside this test bundle.
    static let binary: URL = {
        if let path = ProcessInfo.processInfo.environment["TWOFA_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var folder = exe.deletingLastPathComponent()
        // The test bundle sits in .build/<triple>/debug; so does twofa.
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("twofa")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return exe.deletingLastPathComponent().appendingPathComponent("twofa")
    }()

    /// Runs twofa with TWOFA_DB set to this sandbox's database (unless `--db` is given).
    @discardableResult
    func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> TwofaRun {
        var env = self.environment
        env.merge(environment) { $1 }
        return try runProcess(Self.binary.path, arguments, stdin: stdin.map { Data($0.utf8) }, environment: env)
    }

    /// register USER with PASSWORD; expects success.
    @discardableResult
    func register(_ user: String, password: String = defaultPassword, extra: [String] = []) throws -> TwofaRun {
        let result = try run(["register", user, "--password-stdin", "--json"] + extra, stdin: password + "\n")
        #expect(result.status == 0, "register \(user): \(result.stderr)")
        return result
    }

    /// The user's base32 secret from `enable-2fa --json`.
    func enable(_ user: String, password: String = defaultPassword, extra: [String] = []) throws -> String {
        let result = try run(["enable-2fa", user, "--password-stdin", "--json"] + extra, stdin: password + "\n")
        #expect(result.status == 0, "enable-2fa \(user): \(result.stderr)")
        return result.json["secret"] as? String ?? ""
    }

    func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// The bytes of the database and its WAL, to check that a refused command wrote nothing.
    func snapshot() -> [Data?] { [fileBytes(database), fileBytes(database + "-wal"), fileBytes(keyFile)] }
}

let defaultPassword = "a long passphrase 42"

func runProcess(_ path: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil)
    throws -> TwofaRun
{
    // A child that stops reading early (a refused 1 MB password) must not kill the tests.
    signal(SIGPIPE, SIG_IGN)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
    try? input.fileHandleForWriting.close()
    // Read both pipes to the end before waiting, so a full pipe never blocks the child.
    final class Collected: @unchecked Sendable { var data = Data() }
    let group = DispatchGroup()
    let collected = Collected()
    group.enter()
    DispatchQueue.global().async {
        collected.data = output.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let errData = errors.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let outData = collected.data
    process.waitUntilExit()
    return TwofaRun(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// oathtool's code for a base32 secret at a time (the independent implementation).
func oathtool(secret: String, algorithm: String = "sha1", digits: Int = 6, period: Int = 30, at time: Int64) throws -> String {
    let result = try runProcess(
        "/usr/bin/oathtool",
        ["--totp=\(algorithm)", "--base32", "--digits=\(digits)", "--time-step-size=\(period)s",
         "--now=@\(time)", secret])
    #expect(result.status == 0, "oathtool: \(result.stderr)")
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

/// Waits, if need be, until at least `margin` seconds remain in the current 30 s step, so a
/// code computed now is still current when the child process checks it.
func waitForFreshStep(margin: Int64 = 6) {
    let remaining = 30 - now() % 30
    if remaining < margin { Thread.sleep(forTimeInterval: Double(remaining) + 0.2) }
}

/// A line-by-line check that a drawing has the given characters per line at most.
func widestLine(_ text: String) -> Int {
    text.split(separator: "\n").map { line in
        // Drop ANSI escapes before counting.
        var count = 0
        var inEscape = false
        for scalar in line.unicodeScalars {
            if inEscape { if scalar == "m" { inEscape = false }; continue }
            if scalar == "\u{1B}" { inEscape = true; continue }
            count += 1
        }
        return count
    }.max() ?? 0
}
