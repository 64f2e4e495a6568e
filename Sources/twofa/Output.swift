import TwofaDomain
import TwofaStorage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where results and failures go: stdout for results, stderr for failures, as text for people
/// or, with --json, one JSON object each.
///
/// Every text for people passes through `terminalSafe` (TwofaDomain/TerminalText.swift), line
/// by line: our own texts keep their line breaks, and any control or bidirectional character
/// inside a line (from a file name, an issuer, a foreign file) is shown escaped, never raw.
/// The only raw paths are `trusted` (our own QR drawings, whose ANSI colours are ours) and
/// `jsonLine`/`rawJSON` (the JSON writer escapes those characters itself).
enum Output {
    nonisolated(unsafe) static var json = false

    /// Prints a result: `object` with --json, else `text` (nothing when it is empty).
    static func result(_ object: JSON, text: @autoclosure () -> String) {
        if json {
            jsonLine(object)
        } else {
            let text = text()
            if !text.isEmpty { line(text.hasSuffix("\n") ? String(text.dropLast()) : text) }
        }
    }

    /// A piece of a result's text: outside text to escape, or a drawing of ours to print as it is.
    enum Piece {
        case text(String)
        case drawing(String)
    }

    /// Prints a result whose text holds one of our QR drawings: `object` with --json, else the
    /// pieces in order, text escaped and drawings as they are.
    static func result(_ object: JSON, pieces: @autoclosure () -> [Piece]) {
        if json {
            jsonLine(object)
            return
        }
        var all = ""
        for piece in pieces() {
            switch piece {
            case .text(let text): all += terminalSafeLines(text)
            case .drawing(let drawing): all += drawing
            }
        }
        if all.hasSuffix("\n") { all.removeLast() }
        if !all.isEmpty { trusted(all + "\n") }
    }

    /// stdout, buffered here and written with write(2): no stdio, and no `print`, whose
    /// `Any` arguments cost dynamic casts that scan every protocol conformance in the binary.
    nonisolated(unsafe) private static var pending: [UInt8] = []

    /// A line for people (escaped line by line), and a newline.
    static func line(_ text: String) {
        append(terminalSafeLines(text))
        append("\n")
    }

    /// One JSON value on a line of its own (the JSON writer escapes every unsafe character).
    static func jsonLine(_ value: JSON) {
        append(value.serialized)
        append("\n")
    }

    /// Already-serialized JSON (export's lines), as it is, without a newline added.
    static func rawJSON(_ text: String) { append(text) }

    /// Text of our own, as it is (a QR drawing with its ANSI colours). Never outside text.
    static func trusted(_ text: String) { append(text) }

    private static func append(_ text: String) {
        pending.append(contentsOf: text.utf8)
        if pending.count > 1 << 16 { flush() }
    }

    static func flush() {
        guard !pending.isEmpty else { return }
        writeAll(STDOUT_FILENO, pending)
        pending.removeAll(keepingCapacity: true)
    }

    /// A line for a person on stderr (never in JSON mode, where stdout carries one object).
    static func note(_ text: String) {
        guard !json else { return }
        writeStandardError(terminalSafeLines(text) + "\n")
    }

    static func fail(_ error: TwofaError, exitCode: Int32? = nil) -> Never {
        if json {
            var fields: [(String, JSON)] = [("code", .string(error.code)), ("message", .string(error.message))]
            if let retryAfter = error.retryAfter { fields.append(("retry_after", .int(retryAfter))) }
            writeStandardError(JSON.object([("error", .object(fields))]).serialized + "\n")
        } else {
            // One line by contract: a line break in it came from outside, and is escaped too.
            writeStandardError("twofa: \(terminalSafe(error.message))\n")
        }
        finish(status: exitCode ?? error.exitCode)
    }

    static func finish(status: Int32) -> Never {
        flush()
        exit(status)
    }

    static func writeStandardError(_ text: String) {
        flush()
        writeAll(STDERR_FILENO, Array(text.utf8))
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        _ = SecureFiles.writeAll(fd, bytes)
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
