import TwofaDomain

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
            print(object.serialized)
        } else {
            let text = text()
            if !text.isEmpty { print(text, terminator: text.hasSuffix("\n") ? "" : "\n") }
        }
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
        fflush(nil)
        exit(status)
    }

    static func writeStandardError(_ text: String) {
        fflush(nil)
        writeAll(STDERR_FILENO, text)
    }

    /// write(2) until all of `text` is out (stderr is unbuffered; no stdio stream involved).
    static func writeAll(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { buffer in
                write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}

extension String {
    /// Left-aligned in a column of `width` characters.
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
