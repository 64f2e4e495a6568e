import TwofaDomain
import TwofaStorage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where results and failures go: stdout for results, stderr for failures, as text for people
/// or, with --json, one JSON object each.
enum Output {
    nonisolated(unsafe) static var json = false

    /// Prints a result: `object` with --json, else `text` (nothing when it is empty).
    static func result(_ object: JSON, text: @autoclosure () -> String) {
        if json {
            line(object.serialized)
        } else {
            let text = text()
            if !text.isEmpty { line(text.hasSuffix("\n") ? String(text.dropLast()) : text) }
        }
    }

    /// stdout, buffered here and written with write(2): no stdio, and no `print`, whose
    /// `Any` arguments cost dynamic casts that scan every protocol conformance in the binary.
    nonisolated(unsafe) private static var pending: [UInt8] = []

    static func line(_ text: String) {
        pending.append(contentsOf: text.utf8)
        pending.append(UInt8(ascii: "\n"))
        if pending.count > 1 << 16 { flush() }
    }

    /// Text as it is, without a newline added.
    static func raw(_ text: String) {
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
        writeStandardError(text + "\n")
    }

    static func fail(_ error: TwofaError, exitCode: Int32? = nil) -> Never {
        if json {
            var fields: [(String, JSON)] = [("code", .string(error.code)), ("message", .string(error.message))]
            if let retryAfter = error.retryAfter { fields.append(("retry_after", .int(retryAfter))) }
            writeStandardError(JSON.object([("error", .object(fields))]).serialized + "\n")
        } else {
            writeStandardError("twofa: \(error.message)\n")
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
