import ArgumentParser
import TwofaAccounts
import TwofaDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The options every subcommand takes, and what follows from them.
protocol GlobalSettings {
    var db: String? { get }
    var json: Bool { get }
    var passwordStdin: Bool { get }
}

/// The global options as plain values, for the fast path that skips argument parsing.
struct Global: GlobalSettings {
    var db: String?
    var json = false
    var passwordStdin = false
}

/// The options every subcommand takes, as swift-argument-parser reads them.
struct GlobalOptions: ParsableArguments, GlobalSettings {
    @Option(name: .long, help: ArgumentHelp(
        "The database file (default: $TWOFA_DB, else $XDG_DATA_HOME/twofa/twofa.db).", valueName: "path"))
    var db: String?

    @Flag(name: .long, help: "Print one JSON object for the result; never prompt.")
    var json = false

    @Flag(name: .long, help: "Read the password from the first line of standard input.")
    var passwordStdin = false

    var plain: Global { Global(db: db, json: json, passwordStdin: passwordStdin) }
}

extension GlobalSettings {
    /// --db, else $TWOFA_DB, else $XDG_DATA_HOME/twofa/twofa.db, else ~/.local/share/twofa/twofa.db.
    func databasePath() throws(TwofaError) -> String {
        if let db { return db }
        if let path = Terminal.environment("TWOFA_DB") { return path }
        if let data = Terminal.environment("XDG_DATA_HOME"), data.hasPrefix("/") { return data + "/twofa/twofa.db" }
        if let home = Terminal.environment("HOME") { return home + "/.local/share/twofa/twofa.db" }
        throw .usage("no database given: use --db PATH or set TWOFA_DB")
    }

    func accounts() throws(TwofaError) -> Accounts {
        let path = try databasePath()
        guard !path.isEmpty else { throw .usage("--db needs a path") }
        return Accounts(environment: AccountsEnvironment(
            databasePath: path, keyFilePath: Terminal.environment("TWOFA_KEY_FILE")))
    }

    /// Whether a prompt may be shown: a terminal on stdin, and not --json.
    var interactive: Bool { !json && Terminal.stdinIsTTY }

    /// The password: from stdin with --password-stdin, else a no-echo prompt on a terminal
    /// (twice with `confirm`); anything else is a usage error.
    func password(for user: String, confirm: Bool = false, prompt: String? = nil) throws(TwofaError) -> Password {
        if passwordStdin {
            guard var line = try Terminal.readLine(limit: 4 * Password.maximumBytes, what: "the password") else {
                throw .usage("--password-stdin: standard input is empty")
            }
            defer { wipe(&line) }
            return try Password(raw: line)
        }
        guard interactive else {
            throw .usage(json
                ? "--json does not prompt: give the password with --password-stdin"
                : "standard input is not a terminal: give the password with --password-stdin")
        }
        var first = try Terminal.promptHidden(prompt ?? "Password for \(user): ")
        defer { wipe(&first) }
        if confirm {
            var second = try Terminal.promptHidden("Repeat the password: ")
            defer { wipe(&second) }
            guard constantTimeEquals(first, second) else { throw .invalidPassword("the two passwords differ") }
        }
        return try Password(raw: first)
    }

    /// The code: `--code`, else a prompt on a terminal, else nil.
    func code(_ given: String?, for user: String) throws(TwofaError) -> String? {
        if let given { return given }
        guard interactive else { return nil }
        return try Terminal.prompt("Code for \(user) (authenticator or backup code): ")
    }

    func credentials(for user: String, code given: String?) -> Credentials {
        Credentials(
            password: { () throws(TwofaError) in try password(for: user) },
            code: { () throws(TwofaError) in try code(given, for: user) })
    }
}

/// Runs shared validation for swift-argument-parser, which reports a `ValidationError` as a
/// usage error (exit 64) but wraps any other error.
func asValidationError(_ check: () throws(TwofaError) -> Void) throws {
    do { try check() } catch { throw ValidationError(error.message) }
}
