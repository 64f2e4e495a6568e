import ArgumentParser
import TwofaAccounts
import TwofaDomain

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
        // The second factor: an app (TOTP or HOTP, with its next counter) or email.
        fields.append(("device", shown.kind.map { .string($0 == .email ? "email" : "app") } ?? .null))
        fields.append(("type", shown.kind.map { .string($0.rawValue) } ?? .null))
        if let email = shown.maskedEmail { fields.append(("email", .string(email))) }
        if let counter = shown.counter { fields.append(("counter", .int(Int64(clamping: counter)))) }
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
