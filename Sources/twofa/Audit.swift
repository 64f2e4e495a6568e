import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Audit: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the audit log, oldest first; --json gives JSON Lines, one event a line.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Only this user's events.", valueName: "user")) var user: String?
    @Option(help: ArgumentHelp("Only events at or after this time (RFC 3339 or UNIX seconds).", valueName: "time"))
    var since: String?
    @Option(help: ArgumentHelp("Only the newest N events.", valueName: "n")) var limit: Int?

    func run(in context: CommandContext) throws {
        if let limit, limit < 1 { throw TwofaError.invalidOption(Grammar.positiveLimit) }
        var sinceTime: Int64?
        if let since {
            guard let parsed = Timestamp.parse(since) else {
                throw TwofaError.invalidOption("--since takes an RFC 3339 time (2026-11-23T10:00:00Z) or UNIX seconds")
            }
            sinceTime = parsed
        }
        let events = try global.accounts(context).auditEvents(user: user, since: sinceTime, limit: limit)
        if global.json {
            for event in events {
                context.jsonLine(JSON.object([
                    ("at", .string(Timestamp.format(event.at))), ("event", .string(event.event)),
                    ("user", event.user.map { .string($0) } ?? .null), ("ok", .bool(event.ok)),
                    ("detail", event.detail.map { .string($0) } ?? .null),
                ]))
            }
            return
        }
        // Every field escaped (TerminalText) before the columns are measured: a detail may
        // name an import file, and none of it reaches the terminal raw.
        let userWidth = events.map { terminalSafe($0.user ?? "-").count }.max() ?? 1
        for event in events {
            let user = terminalSafe(event.user ?? "-")
            let line = Timestamp.format(event.at) + "  " + (event.ok ? "ok  " : "FAIL") + "  "
                + terminalSafe(event.event).padding(12) + "  " + user.padding(userWidth) + "  "
                + terminalSafe(event.detail ?? "")
            context.line(line.trimmingASCIIWhitespace())
        }
    }
}

