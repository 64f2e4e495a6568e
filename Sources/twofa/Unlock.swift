import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Unlock: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Clear a user's failure count and lockout.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String

    func run() throws {
        try global.accounts().unlock(name: user)
        let name = user.lowercased()
        Output.result(
            .object([("user", .string(name)), ("locked", .bool(false))]), text: "Unlocked \(name).")
    }
}
