import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Register: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a user with a password; with --enable-2fa, enrol in TOTP too.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username: 1 to 64 of A-Z a-z 0-9 . _ @ + -, case-insensitive.") var user: String
    @Flag(name: .customLong("enable-2fa"), help: "Go on as enable-2fa does.") var enable2fa = false
    @OptionGroup(title: "Enrolment (with --enable-2fa)") var enrolment: EnrolmentOptions

    func run(in context: CommandContext) throws {
        let accounts = try global.accounts(context)
        let request = enable2fa ? try enrolment.request(context) : nil
        let password = try global.password(context, for: user, confirm: true)
        let made = try accounts.register(name: user, password: password, enrolment: request)
        var json: [(String, JSON)] = [("user", .string(made.user)), ("created", .bool(true))]
        var pieces: [Output.Piece] = [.text("Registered \(made.user).")]
        if let enrolled = made.enrolment {
            let report = try enrolment.report(enrolled, registered: made.user, context: context)
            json += report.json
            pieces = report.pieces
        }
        context.result(.object(json), pieces: pieces)
    }
}
