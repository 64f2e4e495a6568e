import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Register: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a user with a password; with --enable-2fa, enrol in TOTP too.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username: 1 to 64 of A-Z a-z 0-9 . _ @ + -, case-insensitive.") var user: String
    @Flag(name: .customLong("enable-2fa"), help: "Go on as enable-2fa does.") var enable2fa = false
    @OptionGroup(title: "Enrolment (with --enable-2fa)") var enrolment: EnrolmentOptions

    func run() throws {
        let accounts = try global.accounts()
        let request = enable2fa ? try enrolment.request() : nil
        let password = try global.password(for: user, confirm: true)
        let made = try accounts.register(name: user, password: password, enrolment: request)
        var json: [(String, JSON)] = [("user", .string(made.user)), ("created", .bool(true))]
        var pieces: [Output.Piece] = [.text("Registered \(made.user).")]
        if let enrolled = made.enrolment {
            let report = try enrolment.report(enrolled)
            json += report.json
            pieces = [.text("Registered \(made.user).\n")] + report.pieces
        }
        Output.result(.object(json), pieces: pieces)
    }
}
