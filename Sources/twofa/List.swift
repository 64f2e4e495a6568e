import ArgumentParser
import TwofaAccounts
import TwofaDomain

/// The keys `list` and `show` share.
func userFields(_ user: UserSummary) -> [(String, JSON)] {
    [
        ("user", .string(user.user)),
        ("created_at", .string(Timestamp.format(user.createdAt))),
        ("two_factor", .string(user.twoFactor.rawValue)),
        ("locked", .bool(user.locked)),
        ("last_login_at", user.lastLoginAt.map { .string(Timestamp.format($0)) } ?? .null),
    ]
}

struct List: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every user: created, 2FA state, locked, last login (--json: an array).")

    @OptionGroup var global: GlobalOptions

    func run(in context: CommandContext) throws {
        let users = try global.accounts(context).listUsers()
        if global.json {
            context.jsonLine(JSON.array(users.map { .object(userFields($0)) }))
            return
        }
        guard !users.isEmpty else {
            context.note("no users")
            return
        }
        // context.line escapes each line; names are escaped before measuring, so columns align.
        let width = max(4, users.map { terminalSafe($0.user).count }.max() ?? 0)
        context.line("USER".padding(width) + "  CREATED               2FA      LOCKED  LAST LOGIN")
        for user in users {
            context.line(
                terminalSafe(user.user).padding(width) + "  " + Timestamp.format(user.createdAt) + "  "
                    + user.twoFactor.rawValue.padding(7) + "  " + (user.locked ? "yes" : "no").padding(6) + "  "
                    + (user.lastLoginAt.map(Timestamp.format) ?? "never"))
        }
    }
}
