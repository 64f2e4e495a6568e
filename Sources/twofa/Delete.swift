import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Delete: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a user and every secret of theirs; the audit log keeps the event.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String

    func run(in context: CommandContext) throws {
        try global.accounts(context).deleteUser(name: user)
        let name = try Username.normalize(user)
        context.result(.object([("user", .string(name)), ("deleted", .bool(true))]), text: "Deleted \(name).")
    }
}
