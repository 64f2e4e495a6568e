import ArgumentParser
import TwofaDomain
import TwofaServeOptions

import Glibc

/// `twofa serve`: runs `twofa-serve`, installed beside `twofa`, with the same words. The server
/// is a second executable so that `twofa` links no NIO, Hummingbird or jwt-kit: every other
/// command starts as fast as before (benchmarks/run). The options are declared here too (one
/// declaration, TwofaServeOptions) for `twofa help serve` and the completion scripts.
struct Serve: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the accounts over HTTP (register, two-step login, TOTP enrolment, signed tokens).",
        discussion: "Runs twofa-serve from twofa's own folder; --json writes the access log as JSON Lines.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var options: ServeOptions

    func run(in context: CommandContext) throws {
        // Main.run hands `serve` to twofa-serve before parsing; this is for completeness.
        throw Self.launch(Array(CommandLine.arguments.dropFirst()), context: context)
    }

    /// Replaces this process with `twofa-serve` (found beside this binary) and `arguments`; on
    /// failure answers why (exit 70: twofa is installed without its server).
    static func launch(_ arguments: [String], context: CommandContext) -> TwofaError {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return .internalError("cannot find twofa's own folder (/proc/self/exe)") }
        let own = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let folder = own.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let server = folder + "/twofa-serve"
        context.flush()
        var argv: [UnsafeMutablePointer<CChar>?] = ([server] + arguments).map { strdup($0) }
        argv.append(nil)
        execv(server, argv)
        let reason = String(cString: strerror(errno))
        for pointer in argv { free(pointer) }
        return .internalError("cannot run \(terminalSafe(server)): \(reason); install twofa-serve beside twofa (see the README)")
    }
}
