import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Disable: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn 2FA off and erase the secret: the password and a code, or --force.",
        discussion: "A pending enrolment is cancelled with the password alone. --force is the operator's override for a lost device: no password or code, recorded in the audit log.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @Option(help: ArgumentHelp("A current code (prompted for on a terminal).", valueName: "code")) var code: String?
    @Flag(help: "Read the code from the next line of standard input (after the password with --password-stdin).")
    var codeStdin = false
    @Flag(help: "Turn 2FA off without the password or a code.") var force = false

    var codeInput: CodeInput { CodeInput(given: code, stdin: codeStdin) }

    func validate() throws {
        if force && codeInput.isGiven { throw ValidationError("--force takes no --code or --code-stdin") }
        try asValidationError { () throws(TwofaError) in try codeInput.validate() }
    }

    func run(in context: CommandContext) throws {
        let accounts = try global.accounts(context)
        if force {
            try accounts.forceDisableTwoFactor(name: user)
        } else {
            try accounts.disableTwoFactor(name: user, credentials: global.credentials(context, for: user, code: codeInput))
        }
        let name = try Username.normalize(user)
        context.result(
            .object([("user", .string(name)), ("two_factor", .bool(false))]),
            text: "Two-factor authentication is off for \(name)\(force ? " (forced)" : "").")
    }
}
