import ArgumentParser
import TwofaAccounts
import TwofaDomain
import TwofaServeOptions

/// The options every subcommand takes, and what follows from them.
protocol GlobalSettings {
    var db: String? { get }
    var keyFile: String? { get }
    var json: Bool { get }
    var passwordStdin: Bool { get }
}

/// The global options as plain values, for the fast path that skips argument parsing.
struct Global: GlobalSettings, Equatable {
    var db: String?
    var json = false
    var passwordStdin = false
    var keyFile: String?
}

/// The options every subcommand takes, as swift-argument-parser reads them.
struct GlobalOptions: ParsableArguments, GlobalSettings {
    /// --db and --key-file, declared once for twofa and twofa-serve.
    @OptionGroup var store: StoreOptions
    var db: String? { store.db }
    var keyFile: String? { store.keyFile }

    @Flag(name: .long, help: "Print one JSON object for the result; never prompt.")
    var json = false

    @Flag(name: .long, help: "Read the password from the first line of standard input.")
    var passwordStdin = false

    var plain: Global { Global(db: db, json: json, passwordStdin: passwordStdin, keyFile: keyFile) }
}

extension GlobalSettings {
    /// --db, else $TWOFA_DB, else $XDG_DATA_HOME/twofa/twofa.db, else ~/.local/share/twofa/twofa.db.
    func databasePath(_ context: CommandContext) throws(TwofaError) -> String {
        if let db { return db }
        return try AccountsEnvironment.databaseLocation(given: nil, environment: context.environment)
    }

    /// The use cases, on the database and key file the options and environment name, on the
    /// context's clock, with `auditDetail` (`--audit-detail`) added to every audit event they
    /// write; what they have to say besides a result (an upgrade copied aside, an audit event a
    /// read-only database could not take) goes to stderr as a note.
    func accounts(_ context: CommandContext, auditDetail: String? = nil) throws(TwofaError) -> Accounts {
        let path = try databasePath(context)
        guard !path.isEmpty else { throw .usage("--db needs a path") }
        var environment = AccountsEnvironment(
            databasePath: path, keyFilePath: keyFile ?? context.environment("TWOFA_KEY_FILE"), clock: context.clock,
            notice: { context.note($0) }, mailer: Sendmail(command: context.environment("TWOFA_SENDMAIL")),
            mailFrom: context.environment("TWOFA_MAIL_FROM"))
        environment.auditContext = auditDetail
        return Accounts(environment: environment)
    }

    /// Whether a prompt may be shown: a terminal on stdin, and not --json.
    func interactive(_ context: CommandContext) -> Bool { !json && context.stdinIsTTY }

    /// The password: from stdin with --password-stdin, else a no-echo prompt on a terminal
    /// (twice with `confirm`); anything else is a usage error. `missing` says what is wrong
    /// when stdin has no line for it (passwd's new password is the second line).
    func password(
        _ context: CommandContext, for user: String, confirm: Bool = false, prompt: String? = nil,
        missing: String = "--password-stdin: standard input is empty"
    ) throws(TwofaError) -> Password {
        if passwordStdin {
            guard var line = try context.readLine(limit: 4 * Password.maximumBytes, what: "the password") else {
                throw .usage(missing)
            }
            defer { wipe(&line) }
            return try Password(raw: line)
        }
        guard interactive(context) else {
            throw .usage(json
                ? "--json does not prompt: give the password with --password-stdin"
                : "standard input is not a terminal: give the password with --password-stdin")
        }
        var first = try context.promptHidden(prompt ?? "Password for \(user): ")
        defer { wipe(&first) }
        if confirm {
            var second = try context.promptHidden("Repeat the password: ")
            defer { wipe(&second) }
            guard constantTimeEquals(first, second) else { throw .invalidPassword("the two passwords differ") }
        }
        return try Password(raw: first)
    }

    /// The code: `--code`, else with `--code-stdin` the next line of stdin (after the password
    /// with --password-stdin), else a prompt on a terminal, else nil.
    func code(_ context: CommandContext, _ input: CodeInput, for user: String) throws(TwofaError) -> String? {
        if let given = input.given { return given }
        if input.stdin {
            guard let line = try context.readLine(limit: CodeInput.maximumBytes, what: "the code") else {
                throw .usage(passwordStdin
                    ? "--code-stdin: standard input has no second line for the code"
                    : "--code-stdin: standard input has no line for the code")
            }
            return String(decoding: line, as: UTF8.self)
        }
        guard interactive(context) else { return nil }
        return try context.prompt("Code for \(user) (authenticator or backup code): ")
    }

    func credentials(_ context: CommandContext, for user: String, code input: CodeInput) -> Credentials {
        Credentials(
            password: { () throws(TwofaError) in try password(context, for: user) },
            code: { () throws(TwofaError) in try code(context, input, for: user) },
            prompts: !input.isGiven && interactive(context))
    }
}

/// Where a command's code comes from: `--code CODE`, or `--code-stdin` (a line of standard
/// input, so that a backup code never shows in the process list), or neither (a prompt on a
/// terminal). Both at once is a usage error.
struct CodeInput: Equatable {
    var given: String?
    var stdin = false

    /// The longest line `--code-stdin` reads (a code is 6 to 8 digits, a backup code ~20
    /// characters; spaces and dashes allowed).
    static let maximumBytes = 256

    static let none = CodeInput()

    var isGiven: Bool { given != nil || stdin }

    func validate() throws(TwofaError) {
        if given != nil && stdin { throw .usage("give --code or --code-stdin, not both") }
    }
}

/// Runs shared validation for swift-argument-parser, which reports a `ValidationError` as a
/// usage error (exit 64) but wraps any other error.
func asValidationError<T>(_ check: () throws(TwofaError) -> T) throws -> T {
    do { return try check() } catch { throw ValidationError(error.message) }
}
