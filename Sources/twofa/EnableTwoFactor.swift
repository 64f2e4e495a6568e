import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct EnableTwoFactor: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable-2fa",
        abstract: "Enrol a user in TOTP: a new secret, pending until 'verify' confirms it with a code.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @OptionGroup(title: "Enrolment") var enrolment: EnrolmentOptions

    func run(in context: CommandContext) throws {
        let accounts = try global.accounts(context)
        let enrolled = try accounts.enableTwoFactor(
            name: user, request: try enrolment.request(context),
            credentials: global.credentials(context, for: user, code: CodeInput()))
        let report = try enrolment.report(enrolled, context: context)
        context.result(.object([("user", .string(enrolled.user))] + report.json), pieces: report.pieces)
    }
}
