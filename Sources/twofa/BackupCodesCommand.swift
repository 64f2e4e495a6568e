import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct BackupCodesCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup-codes",
        abstract: "Make a new set of 10 backup codes (the password and a current code); the old set stops working.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @Option(help: ArgumentHelp("A current code (prompted for on a terminal).", valueName: "code")) var code: String?
    @Flag(help: "Read the code from the next line of standard input (after the password with --password-stdin).")
    var codeStdin = false

    var codeInput: CodeInput { CodeInput(given: code, stdin: codeStdin) }

    func validate() throws { try asValidationError { () throws(TwofaError) in try codeInput.validate() } }

    func run(in context: CommandContext) throws {
        let codes = try global.accounts(context).regenerateBackupCodes(
            name: user, credentials: global.credentials(context, for: user, code: codeInput))
        let name = try Username.normalize(user)
        context.result(
            .object([("user", .string(name)), ("backup_codes", .array(codes.map { .string($0) }))]),
            text: "New backup codes for \(name), each good once; the old ones no longer work:\n"
                + codes.map { "  " + $0 }.joined(separator: "\n"))
    }
}
