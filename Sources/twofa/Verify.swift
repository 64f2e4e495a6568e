import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Verify: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a code; a right code for a pending enrolment turns 2FA on.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @Option(help: ArgumentHelp("The code (prompted for on a terminal).", valueName: "code")) var code: String?
    @Flag(help: "Read the code from the first line of standard input.") var codeStdin = false
    @Option(help: ArgumentHelp(
        "Where the attempt comes from, added (escaped) to its audit events; never a secret (pam_twofa passes its service and remote host).",
        valueName: "text"))
    var auditDetail: String?

    var request: VerifyRequest {
        VerifyRequest(global: global.plain, user: user, code: CodeInput(given: code, stdin: codeStdin), auditDetail: auditDetail)
    }

    func validate() throws { try asValidationError { () throws(TwofaError) in try request.code.validate() } }
    func run(in context: CommandContext) throws { try request.run(context) }
}

/// What `verify` does, apart from reading its arguments (shared with the fast path).
struct VerifyRequest: Equatable {
    var global: Global
    var user: String
    var code: CodeInput
    /// `--audit-detail`: where the attempt comes from, for the audit log.
    var auditDetail: String? = nil

    func run(_ context: CommandContext) throws(TwofaError) {
        guard let given = try global.code(context, code, for: user) else {
            throw .usage("give the code with --code or --code-stdin (standard input is not a terminal)")
        }
        let result = try global.accounts(context, auditDetail: auditDetail).verify(name: user, code: given)
        var json: [(String, JSON)] = [
            ("user", .string(result.user)), ("valid", .bool(true)), ("activated", .bool(result.activated)),
        ]
        var text = result.activated
            ? "The code is right: two-factor authentication is on for \(result.user)."
            : "The code is right."
        if let codes = result.backupCodes {
            json.append(("backup_codes", .array(codes.map { .string($0) })))
            text += "\nBackup codes, each good once; store them safely, they are not shown again:\n"
                + codes.map { "  " + $0 }.joined(separator: "\n")
        }
        context.result(.object(json), text: text)
    }
}
