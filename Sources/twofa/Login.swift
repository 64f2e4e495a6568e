import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Login: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a user's password and, if 2FA is on, a code (a TOTP code or a backup code).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @Option(help: ArgumentHelp("The current code (prompted for on a terminal).", valueName: "code")) var code: String?
    @Flag(help: "Read the code from the next line of standard input (after the password with --password-stdin).")
    var codeStdin = false
    @Option(help: ArgumentHelp(
        "Where the attempt comes from, added (escaped) to its audit events; never a secret (pam_twofa passes its service and remote host).",
        valueName: "text"))
    var auditDetail: String?

    var request: LoginRequest {
        LoginRequest(global: global.plain, user: user, code: CodeInput(given: code, stdin: codeStdin), auditDetail: auditDetail)
    }

    func validate() throws { try asValidationError { () throws(TwofaError) in try request.code.validate() } }
    func run(in context: CommandContext) throws { try request.run(context) }
}

/// What `login` does, apart from reading its arguments (shared with the fast path).
struct LoginRequest: Equatable {
    var global: Global
    var user: String
    var code: CodeInput
    /// `--audit-detail`: where the attempt comes from, for the audit log.
    var auditDetail: String? = nil

    func run(_ context: CommandContext) throws(TwofaError) {
        let result = try global.accounts(context, auditDetail: auditDetail).login(name: user, credentials: global.credentials(context, for: user, code: code))
        context.result(
            .object([
                ("user", .string(result.user)), ("authenticated", .bool(true)),
                ("second_factor", result.secondFactor.map { .string($0.rawValue) } ?? .null),
            ]),
            text: "Authenticated \(result.user)" + (result.secondFactor.map { " (second factor: \($0.rawValue))." } ?? "."))
    }
}
