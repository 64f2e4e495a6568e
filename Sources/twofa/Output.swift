import TwofaDomain

/// Output for code that has no context of its own yet (Transfer.swift): the process's context
/// (`CommandContext.process`), which is `main`'s. New code writes through the context it is
/// given (Context.swift), so that it runs in-process under test.
enum Output {
    /// A piece of a result's text: outside text to escape, or a drawing of ours to print as it is.
    enum Piece: Equatable {
        case text(String)
        case drawing(String)
    }

    /// Prints a result: `object` with --json, else `text` (nothing when it is empty).
    static func result(_ object: JSON, text: @autoclosure () -> String) {
        CommandContext.process.result(object, text: text())
    }

    /// Already-serialized JSON (export's lines), as it is, without a newline added.
    static func rawJSON(_ text: String) { CommandContext.process.rawJSON(text) }

    /// stderr, after what stdout has pending.
    static func writeStandardError(_ text: String) { CommandContext.process.writeStandardError(text) }
}

/// `text` with each line escaped by `terminalSafe`, its `\n` line breaks kept: for our own
/// multi-line texts, which may carry outside text inside a line.
func terminalSafeLines(_ text: String) -> String {
    guard containsUnsafeText(text) else { return text }
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { terminalSafe(String($0)) }
        .joined(separator: "\n")
}

extension String {
    /// Left-aligned in a column of `width` characters.
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// "1 account", "2 accounts".
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
