import TwofaDomain

/// The pieces of a result's text (`CommandContext.result(_:pieces:)`).
enum Output {
    /// A piece of a result's text: outside text to escape, or a drawing of ours to print as it is.
    enum Piece: Equatable {
        case text(String)
        case drawing(String)
    }
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
