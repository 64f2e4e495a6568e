import ArgumentParser
import Glibc
import TwofaDomain
import TwofaServeOptions
import TwofaServer

/// `twofa serve`, as its own executable so `twofa` links no NIO: `twofa serve …` runs this
/// binary (installed beside it) with the same words.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "twofa serve",
        abstract: "Serve the accounts over HTTP: register, two-step login, TOTP enrolment, signed tokens.")

    @OptionGroup var store: StoreOptions

    @Flag(help: "Write the access log as JSON Lines.")
    var json = false

    @OptionGroup var options: ServeOptions

    func run() async throws {
        let configuration: ServeConfiguration
        do { configuration = try options.configuration(db: store.db, keyFile: store.keyFile, jsonLog: json) } catch {
            ServeConfiguration.say(error.message)
            throw ExitCode(error.exitCode)
        }
        let code = await TwofaServer.run(configuration)
        if code != 0 { throw ExitCode(code) }
    }
}

// `twofa-serve serve …` (as `twofa serve` runs it) or `twofa-serve …`.
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "serve" { arguments.removeFirst() }
let serve: Serve
do {
    serve = try Serve.parse(arguments)
} catch {
    // --help prints its text and exits 0; a usage error is one line and exit 64.
    if Serve.exitCode(for: error) == .success { Serve.exit(withError: error) }
    let first = Serve.message(for: error).split(separator: "\n").first.map(String.init) ?? "usage error"
    ServeConfiguration.say("\(terminalSafe(first)) (see 'twofa serve --help')")
    exit(64)
}
do {
    try await serve.run()
} catch {
    Serve.exit(withError: error)
}
