import TwofaDomain
import TwofaStorage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The terminal and standard input: TTY checks, no-echo prompts, and reading lines of stdin
/// without reading past them (a second line may be the next answer).
enum Terminal {
    static var stdinIsTTY: Bool { isatty(STDIN_FILENO) == 1 }
    static var stdoutIsTTY: Bool { isatty(STDOUT_FILENO) == 1 }
    static var stderrIsTTY: Bool { isatty(STDERR_FILENO) == 1 }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// One line of stdin without its `\n` or `\r\n`, at most `limit` bytes (more is refused
    /// without reading the rest into memory). Nil at end of input with nothing read.
    static func readLine(limit: Int, what: String) throws(TwofaError) -> [UInt8]? {
        var line = [UInt8]()
        var byte: UInt8 = 0
        var sawAnything = false
        while true {
            let got = read(STDIN_FILENO, &byte, 1)
            if got < 0 {
                if errno == EINTR { continue }
                throw .invalidInput("cannot read \(what) from standard input")
            }
            if got == 0 { break }
            sawAnything = true
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
            if line.count > limit + 1 {
                wipe(&line)
                throw .invalidInput("\(what) on standard input is longer than \(limit) bytes")
            }
        }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return sawAnything ? line : nil
    }

    /// All of stdin (for a secret or a URI), at most `limit` bytes.
    static func readAll(limit: Int, what: String) throws(TwofaError) -> [UInt8] {
        switch SecureFiles.readAll(STDIN_FILENO, limit: limit) {
        case .bytes(let content): return content
        case .tooLong: throw .invalidInput("\(what) on standard input is longer than \(limit) bytes")
        case .failed: throw .invalidInput("cannot read \(what) from standard input")
        }
    }

    /// Asks on the terminal with echo off, and puts echo back even on Ctrl-C.
    static func promptHidden(_ prompt: String) throws(TwofaError) -> [UInt8] {
        var saved = termios()
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else {
            throw .usage("cannot read a password from this terminal: use --password-stdin")
        }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        quiet.c_lflag |= tcflag_t(ECHONL)
        EchoGuard.arm(saved)
        defer { EchoGuard.disarm() }
        // Echo off before the prompt shows, and without flushing input: a password typed or
        // pasted as soon as the prompt appears must be neither echoed nor dropped.
        tcsetattr(STDIN_FILENO, TCSADRAIN, &quiet)
        defer { tcsetattr(STDIN_FILENO, TCSADRAIN, &saved) }
        writePrompt(prompt)
        guard let line = try readLine(limit: 4 * Password.maximumBytes, what: "the password") else {
            throw .usage("no password given")
        }
        return line
    }

    /// Asks on the terminal with echo on (a one-time code is no secret once used).
    static func prompt(_ prompt: String) throws(TwofaError) -> String? {
        writePrompt(prompt)
        guard let line = try readLine(limit: 256, what: "the code") else { return nil }
        return String(decoding: line, as: UTF8.self)
    }

    /// The prompt names a user as typed on the command line: escaped (TerminalText).
    private static func writePrompt(_ text: String) {
        Output.writeStandardError(terminalSafe(text))
    }
}

/// Restores the terminal's echo if a signal ends the process during a no-echo prompt.
private enum EchoGuard {
    nonisolated(unsafe) static var saved = termios()
    nonisolated(unsafe) static var armed = false

    static func arm(_ settings: termios) {
        saved = settings
        armed = true
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            Glibc.signal(signal) { received in
                if EchoGuard.armed { tcsetattr(STDIN_FILENO, TCSADRAIN, &EchoGuard.saved) }
                Glibc.signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    static func disarm() {
        armed = false
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { Glibc.signal(signal, SIG_DFL) }
    }
}
