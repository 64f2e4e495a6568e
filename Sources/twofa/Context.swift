import ArgumentParser
import TwofaAccounts
import TwofaDomain

import Glibc

/// The three standard streams.
enum StandardStream {
    case input, output, error
}

/// The world outside a command: the standard streams, whether they are terminals, and the
/// environment. `SystemConsole` is the process's own; a test brings its own (InProcessTests)
/// and runs commands in-process, with stdin it chose and stdout and stderr captured.
protocol Console: AnyObject, Sendable {
    /// Writes all of `bytes` to standard output or standard error.
    func write(_ bytes: [UInt8], to stream: StandardStream)
    /// Reads from standard input into `buffer`: the count read, 0 at its end, -1 on error.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int
    func isTerminal(_ stream: StandardStream) -> Bool
    /// The environment variable `name`, nil when unset.
    func environment(_ name: String) -> String?
    /// Runs `body` with the terminal's echo off (and back on afterwards, even on a signal).
    /// Called only when standard input is a terminal.
    func withoutEcho(_ body: () throws(TwofaError) -> [UInt8]) throws(TwofaError) -> [UInt8]
}

/// Everything a command does outside itself, in one value (as swiftly's SwiftlyCoreContext
/// and TwofaAccounts' AccountsEnvironment do): its output (buffered stdout, stderr, JSON or
/// text), its input (lines of stdin, prompts), the terminal checks, the environment and the
/// clock. Commands take it as an argument; nothing below `main` exits the process: a command
/// ends with a status that `Main.run` returns, and `main` alone calls exit().
///
/// Every text for people passes through `terminalSafe` (TwofaDomain/TerminalText.swift), line
/// by line: our own texts keep their line breaks, and any control or bidirectional character
/// inside a line (from a file name, an issuer, a foreign file) is shown escaped, never raw.
/// The only raw paths are `trusted` (our own QR drawings, whose ANSI colours are ours) and
/// `jsonLine`/`rawJSON` (the JSON writer escapes those characters itself).
///
/// A command runs on one thread; the context is Sendable (unchecked) only so that the use
/// cases' `@Sendable` notice callback (AccountsEnvironment.notice) can write through it.
final class CommandContext: @unchecked Sendable {
    let console: any Console
    let clock: any UnixClock
    /// --json: results are JSON on stdout, failures a JSON object on stderr, and nothing prompts.
    var json = false
    /// stdout, buffered here and written in large pieces: no stdio, and no `print`, whose `Any`
    /// arguments cost dynamic casts that scan every protocol conformance in the binary.
    private var pending: [UInt8] = []

    init(console: any Console, clock: any UnixClock = SystemClock()) {
        self.console = console
        self.clock = clock
    }

    /// The process's own: the real standard streams, environment and clock. `main` runs with it.
    static let process = CommandContext(console: SystemConsole())

    // MARK: Output

    /// Prints a result: `object` with --json, else `text` (nothing when it is empty).
    func result(_ object: JSON, text: @autoclosure () -> String) {
        if json {
            jsonLine(object)
        } else {
            let text = text()
            if !text.isEmpty { line(text.hasSuffix("\n") ? String(text.dropLast()) : text) }
        }
    }

    /// Prints a result whose text holds one of our QR drawings: `object` with --json, else the
    /// pieces in order, text escaped and drawings as they are.
    func result(_ object: JSON, pieces: @autoclosure () -> [Output.Piece]) {
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

    /// A line for people (escaped line by line), and a newline.
    func line(_ text: String) {
        append(terminalSafeLines(text))
        append("\n")
    }

    /// One JSON value on a line of its own (the JSON writer escapes every unsafe character).
    func jsonLine(_ value: JSON) {
        append(value.serialized)
        append("\n")
    }

    /// Already-serialized JSON (export's lines), as it is, without a newline added.
    func rawJSON(_ text: String) { append(text) }

    /// Text of our own, as it is (a QR drawing with its ANSI colours). Never outside text.
    func trusted(_ text: String) { append(text) }

    private func append(_ text: String) {
        pending.append(contentsOf: text.utf8)
        if pending.count > 1 << 16 { flush() }
    }

    /// Writes what is buffered for stdout.
    func flush() {
        guard !pending.isEmpty else { return }
        console.write(pending, to: .output)
        pending.removeAll(keepingCapacity: true)
    }

    /// A line for a person on stderr (never in JSON mode, where stdout carries one object).
    func note(_ text: String) {
        guard !json else { return }
        writeStandardError(terminalSafeLines(text) + "\n")
    }

    /// stderr, after what stdout has pending (so the two interleave as they were written).
    func writeStandardError(_ text: String) {
        flush()
        console.write(Array(text.utf8), to: .error)
    }

    /// Reports a failure (one line, or the JSON error object with --json) and gives the exit
    /// status: `exitCode`, else the error's own.
    func report(_ error: TwofaError, exitCode: Int32? = nil) -> Int32 {
        if json {
            var fields: [(String, JSON)] = [("code", .string(error.code)), ("message", .string(error.message))]
            if let retryAfter = error.retryAfter { fields.append(("retry_after", .int(retryAfter))) }
            if let delivery = error.delivery { fields += delivery.jsonFields }
            writeStandardError(JSON.object([("error", .object(fields))]).serialized + "\n")
        } else {
            // One line by contract: a line break in it came from outside, and is escaped too.
            writeStandardError("twofa: \(terminalSafe(error.message))\n")
        }
        return exitCode ?? error.exitCode
    }

    // MARK: Input

    /// One line of stdin without its `\n` or `\r\n`, at most `limit` bytes (more is refused
    /// without reading the rest into memory). Nil at end of input with nothing read. Reads a
    /// byte at a time, never past the line: a second line may be the next answer.
    func readLine(limit: Int, what: String) throws(TwofaError) -> [UInt8]? {
        var line = [UInt8]()
        var byte: UInt8 = 0
        var sawAnything = false
        while true {
            let got = withUnsafeMutableBytes(of: &byte) { console.read(into: $0) }
            if got < 0 { throw .invalidInput("cannot read \(what) from standard input") }
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
    func readAll(limit: Int, what: String) throws(TwofaError) -> [UInt8] {
        var content = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: min(limit + 1, 1 << 16))
        defer { wipe(&buffer) }
        while true {
            let got = buffer.withUnsafeMutableBytes { console.read(into: $0) }
            if got < 0 { throw .invalidInput("cannot read \(what) from standard input") }
            if got == 0 { return content }
            content += buffer[0..<got]
            if content.count > limit {
                wipe(&content)
                throw .invalidInput("\(what) on standard input is longer than \(limit) bytes")
            }
        }
    }

    /// Asks on the terminal with echo off.
    func promptHidden(_ prompt: String) throws(TwofaError) -> [UInt8] {
        try console.withoutEcho { () throws(TwofaError) -> [UInt8] in
            writePrompt(prompt)
            guard let line = try readLine(limit: 4 * Password.maximumBytes, what: "the password") else {
                throw .usage("no password given")
            }
            return line
        }
    }

    /// Asks on the terminal with echo on (a one-time code is no secret once used).
    func prompt(_ prompt: String) throws(TwofaError) -> String? {
        writePrompt(prompt)
        guard let line = try readLine(limit: 256, what: "the code") else { return nil }
        return String(decoding: line, as: UTF8.self)
    }

    /// The prompt names a user as typed on the command line: escaped (TerminalText).
    private func writePrompt(_ text: String) {
        writeStandardError(terminalSafe(text))
    }

    // MARK: Terminal and environment

    var stdinIsTTY: Bool { console.isTerminal(.input) }
    var stdoutIsTTY: Bool { console.isTerminal(.output) }
    var stderrIsTTY: Bool { console.isTerminal(.error) }

    /// The environment variable `name`; unset and empty are alike.
    func environment(_ name: String) -> String? {
        guard let value = console.environment(name), !value.isEmpty else { return nil }
        return value
    }
}

/// The process's standard streams, environment and terminal.
final class SystemConsole: Console {
    func write(_ bytes: [UInt8], to stream: StandardStream) {
        _ = SecureFiles.writeAll(stream == .error ? STDERR_FILENO : STDOUT_FILENO, bytes)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let got = Glibc.read(STDIN_FILENO, buffer.baseAddress, buffer.count)
            if got < 0 && errno == EINTR { continue }
            return got
        }
    }

    func isTerminal(_ stream: StandardStream) -> Bool {
        switch stream {
        case .input: isatty(STDIN_FILENO) == 1
        case .output: isatty(STDOUT_FILENO) == 1
        case .error: isatty(STDERR_FILENO) == 1
        }
    }

    func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    func withoutEcho(_ body: () throws(TwofaError) -> [UInt8]) throws(TwofaError) -> [UInt8] {
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
        return try body()
    }
}

/// Restores the terminal's echo if a signal ends the process during a no-echo prompt. Process
/// state by nature (a signal handler can reach nothing else), used only by SystemConsole.
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

/// A command that runs with a context. `run()`, which swift-argument-parser's protocol asks
/// for, runs it with the process's own; `Main.run` passes the one it was given.
protocol ContextualCommand: ParsableCommand {
    func run(in context: CommandContext) throws
}

extension ContextualCommand {
    func run() throws { try run(in: .process) }
}
