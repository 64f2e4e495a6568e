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

struct Show: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one user's record, without secrets.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String

    func run(in context: CommandContext) throws {
        let shown = try global.accounts(context).showUser(name: user)
        var fields = userFields(shown)
        fields.append(("backup_codes_left", .int(shown.backupCodesLeft ?? 0)))
        fields.append(("failed_attempts", .int(shown.failedAttempts)))
        fields.append(("locked_until", shown.lockedUntil.map { .string(Timestamp.format($0)) } ?? .null))
        fields.append(("password_scheme", .string(shown.passwordScheme)))
        let text = fields.map { key, value -> String in
            let shownValue: String
            switch value {
            case .string(let text): shownValue = text
            case .null: shownValue = "-"
            default: shownValue = value.serialized
            }
            return (key + ":").padding(19) + shownValue
        }.joined(separator: "\n")
        context.result(.object(fields), text: text)
    }
}

struct Delete: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a user and every secret of theirs; the audit log keeps the event.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String

    func run(in context: CommandContext) throws {
        try global.accounts(context).deleteUser(name: user)
        let name = user.lowercased()
        context.result(.object([("user", .string(name)), ("deleted", .bool(true))]), text: "Deleted \(name).")
    }
}

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
        let name = user.lowercased()
        context.result(
            .object([("user", .string(name)), ("password_changed", .bool(true))]),
            text: "Changed the password of \(name)\(force ? " (forced)" : "").")
    }
}
