import TwofaDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A JSON value with keys in the order written (a hand-written encoder of a few lines keeps
/// Foundation off the command's path).
enum JSON {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    static func int(_ value: Int) -> JSON { .int(Int64(value)) }

    var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .string(let text): JSON.quote(text, into: &out)
        case .int(let number): out += String(number)
        case .bool(let flag): out += flag ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (index, (key, value)) in pairs.enumerated() {
                if index > 0 { out += "," }
                JSON.quote(key, into: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func quote(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

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
