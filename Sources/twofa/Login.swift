import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Login: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a user's password and, if 2FA is on, a code (a TOTP code or a backup code).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @Option(help: ArgumentHelp("The current code (prompted for on a terminal).", valueName: "code")) var code: String?
    @Flag(help: "Read the code from the next line of standard input (after the password with --password-stdin).")
    var codeStdin = false

    var request: LoginRequest {
        LoginRequest(global: global.plain, user: user, code: CodeInput(given: code, stdin: codeStdin))
    }

    func validate() throws { try asValidationError { () throws(TwofaError) in try request.code.validate() } }
    func run() throws { try request.run() }
}

/// What `login` does, apart from reading its arguments (shared with the fast path).
struct LoginRequest {
    var global: Global
    var user: String
    var code: CodeInput

    func run() throws(TwofaError) {
        let result = try global.accounts().login(name: user, credentials: global.credentials(for: user, code: code))
        Output.result(
            .object([
                ("user", .string(result.user)), ("authenticated", .bool(true)),
                ("second_factor", result.secondFactor.map { .string($0.rawValue) } ?? .null),
            ]),
            text: "Authenticated \(result.user)" + (result.secondFactor.map { " (second factor: \($0.rawValue))." } ?? "."))
    }
}
