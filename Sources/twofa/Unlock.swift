import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Unlock: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Clear a user's failure count and lockout.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String

    func run(in context: CommandContext) throws {
        try global.accounts(context).unlock(name: user)
        let name = try Username.normalize(user)
        context.result(
            .object([("user", .string(name)), ("locked", .bool(false))]), text: "Unlocked \(name).")
    }
}
