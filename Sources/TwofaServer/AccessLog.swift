import Glibc
import Logging
import Synchronization
import TwofaDomain

/// swift-log's handler for `twofa serve`: one line a record on stderr, written whole (lines
/// from several threads never interleave). Access records (`metadata["access"]`) are laid out
/// as http.md asks, as text or JSON Lines; any other record (Hummingbird's, at warning and
/// above) is one escaped line. Nothing logged carries a password, a code, a token or a secret:
/// the access log has the method, the path without its query, the status, the duration and the
/// user the server knows, and nothing else.
struct AccessLogHandler: LogHandler {
    let json: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private static let lock = Mutex(())

    func log(event: LogEvent) {
        let metadata = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let line: String
        if case .string(let method)? = metadata["method"], case .string(let path)? = metadata["path"],
            case .string(let status)? = metadata["status"], case .string(let duration)? = metadata["duration_ms"]
        {
            var user: String?
            if case .string(let name)? = metadata["user"] { user = name }
            let at = Timestamp.format(Int64(time(nil)))
            if json {
                line = JSON.object([
                    ("at", .string(at)), ("method", .string(method)), ("path", .string(path)),
                    ("status", .int(Int(status) ?? 0)), ("duration_ms", .number(duration)),
                    ("user", user.map { .string($0) } ?? .null),
                ]).serialized
            } else {
                line = "\(at) \(terminalSafe(method)) \(terminalSafe(path)) \(status) \(duration) ms"
                    + (user.map { " user=\($0)" } ?? "")
            }
        } else {
            line = "twofa serve: \(event.level): \(terminalSafe(event.message.description))"
        }
        let bytes = Array((line + "\n").utf8)
        Self.lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
