import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Passwd: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a user's password: the old one and a new one (two lines with --password-stdin), or --force and the new one.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @Flag(help: "Set the password without the old one (audited).") var force = false

    func run(in context: CommandContext) throws {
        let accounts = try global.accounts(context)
        let old: (() throws(TwofaError) -> Password)? = force ? nil : { () throws(TwofaError) in
            try global.password(context, for: user, prompt: "Current password for \(user): ")
        }
        try accounts.changePassword(name: user, old: old, new: { () throws(TwofaError) in
            try global.password(
                context, for: user, confirm: true, prompt: "New password for \(user): ",
                missing: force
                    ? "--password-stdin: standard input has no line for the new password"
                    : "--password-stdin: standard input has no second line for the new password")
        })
        let name = try Username.normalize(user)
        context.result(
            .object([("user", .string(name)), ("password_changed", .bool(true))]),
            text: "Changed the password of \(name)\(force ? " (forced)" : "").")
    }
}
