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

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every user: created, 2FA state, locked, last login (--json: an array).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let users = try global.accounts().listUsers()
        if global.json {
            Output.jsonLine(JSON.array(users.map { .object(userFields($0)) }))
            return
        }
        guard !users.isEmpty else {
            Output.note("no users")
            return
        }
        // Output.line escapes each line; names are escaped before measuring, so columns align.
        let width = max(4, users.map { terminalSafe($0.user).count }.max() ?? 0)
        Output.line("USER".padding(width) + "  CREATED               2FA      LOCKED  LAST LOGIN")
        for user in users {
            Output.line(
                terminalSafe(user.user).padding(width) + "  " + Timestamp.format(user.createdAt) + "  "
                    + user.twoFactor.rawValue.padding(7) + "  " + (user.locked ? "yes" : "no").padding(6) + "  "
                    + (user.lastLoginAt.map(Timestamp.format) ?? "never"))
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one user's record, without secrets.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String

    func run() throws {
        let shown = try global.accounts().showUser(name: user)
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
        Output.result(.object(fields), text: text)
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a user and every secret of theirs; the audit log keeps the event.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String

    func run() throws {
        try global.accounts().deleteUser(name: user)
        let name = user.lowercased()
        Output.result(.object([("user", .string(name)), ("deleted", .bool(true))]), text: "Deleted \(name).")
    }
}

struct Passwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a user's password: the old one and a new one (two lines with --password-stdin), or --force and the new one.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String
    @Flag(help: "Set the password without the old one (audited).") var force = false

    func run() throws {
        let accounts = try global.accounts()
        let old: (() throws(TwofaError) -> Password)? = force ? nil : { () throws(TwofaError) in
            try global.password(for: user, prompt: "Current password for \(user): ")
        }
        try accounts.changePassword(name: user, old: old, new: { () throws(TwofaError) in
            try global.password(for: user, confirm: true, prompt: "New password for \(user): ")
        })
        let name = user.lowercased()
        Output.result(
            .object([("user", .string(name)), ("password_changed", .bool(true))]),
            text: "Changed the password of \(name)\(force ? " (forced)" : "").")
    }
}
