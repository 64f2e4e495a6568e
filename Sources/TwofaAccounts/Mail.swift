import Glibc
import TwofaDomain

/// Where codes for an email device go out. Injected: tests capture what is sent.
public protocol Mailer: Sendable {
    /// Hands one RFC 5322 message over for delivery; throws `.mail` when that fails.
    func send(_ message: [UInt8]) throws(TwofaError)
}

/// The Unix convention every MTA provides: the message piped to `sendmail -t -i`, which takes
/// the recipients from its headers. The command is `$TWOFA_SENDMAIL` split at spaces (no shell
/// is involved, so nothing in it is interpreted), else `/usr/sbin/sendmail -t -i`.
///
/// The message goes through a socket pair sent with MSG_NOSIGNAL (a command that exits
/// without reading it is a failure, never a SIGPIPE), its output is discarded, its first
/// line of complaint kept (escaped) for the error, and it has `timeLimit` seconds to finish
/// (then its whole process group is killed). It gets a few variables of the environment
/// (`passedVariables`), none of twofa's descriptors, and default signal handling.
public struct Sendmail: Mailer {
    public static let defaultCommand = "/usr/sbin/sendmail -t -i"
    public static let defaultTimeLimit: Int32 = 30
    /// Seconds the command has to take the message and exit.
    public let timeLimit: Int32
    /// The command as given; split into words only when a mail goes (every command makes
    /// a Sendmail, few send).
    public let command: String?

    public init(command: String?, timeLimit: Int32 = defaultTimeLimit) {
        self.command = command
        self.timeLimit = timeLimit
    }

    public var arguments: [String] {
        let text = (command?.isEmpty ?? true) ? Self.defaultCommand : command ?? Self.defaultCommand
        return text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    }

    /// The variables the mail command gets: what an MTA or a relay client (msmtp reads
    /// `$HOME/.msmtprc`) needs, and nothing of twofa's own (`TWOFA_DB` may hold a PostgreSQL
    /// password, `PGPASSWORD` one too).
    static let passedVariables = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR"]

    public func send(_ message: [UInt8]) throws(TwofaError) {
        let arguments = self.arguments
        guard let program = arguments.first else { throw .mail(reason: "TWOFA_SENDMAIL names no command") }
        let name = terminalSafe(program)
        var input: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &input) == 0 else {
            throw .mail(reason: "cannot make a socket for \(name) (errno \(errno))")
        }
        var errors: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &errors) == 0 else {
            close(input[0])
            close(input[1])
            throw .mail(reason: "cannot make a pipe for \(name) (errno \(errno))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[1], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        // Nothing else of this process (a server's sockets, a database) reaches the mail
        // command, whether or not it was opened close-on-exec: glibc 2.34's closefrom action,
        // looked up at run time (Swift's Glibc module does not declare it).
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        // A process group of its own (so the time limit kills whatever it started too), no
        // blocked signals and default dispositions (a server ignores SIGPIPE; the MTA should not).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = Self.passedVariables.compactMap { variable in
            getenv(variable).map { strdup(variable + "=" + String(cString: $0)) }
        } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, &attributes, &argv, &envp)
        close(input[1])
        close(errors[1])
        defer { close(errors[0]) }
        guard spawned == 0 else {
            close(input[0])
            throw .mail(reason: "cannot run \(name): \(SecureFiles.describe(spawned))")
        }
        let deadline = Self.milliseconds() + Int64(timeLimit) * 1000
        var sent = 0
        var writeFailed = false
        message.withUnsafeBytes { buffer in
            while sent < buffer.count {
                let count = Glibc.send(input[0], buffer.baseAddress.map { $0 + sent }, buffer.count - sent, Int32(MSG_NOSIGNAL))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { writeFailed = true; return }
                sent += count
            }
        }
        close(input[0])
        // Its complaint, if any, until it closes stderr; then its exit; both within the limit.
        var complaint: [UInt8] = []
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 512)
        var status: Int32 = 0
        var readingErrors = true
        while true {
            if !readingErrors {
                let reaped = waitpid(pid, &status, WNOHANG)
                if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            }
            let left = deadline - Self.milliseconds()
            guard left > 0 else { timedOut = true; break }
            var poller = pollfd(fd: errors[0], events: Int16(POLLIN), revents: 0)
            // After stderr closed, a short sleep between looks at its exit.
            let ready = readingErrors ? poll(&poller, 1, Int32(left)) : poll(nil, 0, Int32(min(left, 10)))
            if !readingErrors || ready == 0 { continue }
            if ready < 0 { if errno == EINTR { continue } else { readingErrors = false; continue } }
            let count = read(errors[0], &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { readingErrors = false; continue }
            if complaint.count < 300 { complaint += buffer[0..<min(count, 300 - complaint.count)] }
        }
        if timedOut {
            kill(-pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            throw .mail(reason: "\(name) did not finish within \(timeLimit) s")
        }
        let said = String(decoding: complaint.prefix(while: { $0 != UInt8(ascii: "\n") }), as: UTF8.self)
        let detail = said.isEmpty ? "" : " (\(terminalSafe(said)))"
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited else { throw .mail(reason: "\(name) was killed by signal \(status & 0x7f)") }
        guard code == 0 else { throw .mail(reason: "\(name) exited with status \(code)\(detail)") }
        if writeFailed { throw .mail(reason: "\(name) did not read the message\(detail)") }
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    private static let addCloseFrom: CloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            return nil
        }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()

    private static func milliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
