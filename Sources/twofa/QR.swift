import ArgumentParser
import TwofaAccounts
import TwofaDomain

/// Every way `qr` can draw: the text formats, and image files with --output.
enum QRFormat: String, ExpressibleByArgument, CaseIterable {
    case ansi, utf8, ascii, svg, png

    var textFormat: QRTextFormat? { QRTextFormat(rawValue: rawValue) }
}

struct QR: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a user's enrolment QR code again, or any text with --text.",
        discussion: "A pending enrolment is drawn freely; an active one only after the password and a current code. svg and png are written with --output (mode 0600: an enrolment's code holds its secret).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String?
    @Option(help: ArgumentHelp("Draw this text instead of a user's enrolment.", valueName: "text")) var text: String?
    @Option(help: ArgumentHelp("ansi, utf8, ascii, svg or png (default: ansi on a terminal, else utf8).", valueName: "format"))
    var format: QRFormat?
    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var output: String?
    @Flag(help: "Draw the light modules instead of the dark ones (utf8, ascii).") var invert = false
    @Option(help: ArgumentHelp("A current code, for an active enrolment.", valueName: "code")) var code: String?
    @Flag(help: "Read the code from the next line of standard input (after the password with --password-stdin).")
    var codeStdin = false

    var request: QRRequest {
        QRRequest(
            global: global.plain, user: user, text: text, format: format, output: output, invert: invert,
            code: CodeInput(given: code, stdin: codeStdin))
    }

    func validate() throws { try asValidationError { () throws(TwofaError) in try request.validate() } }
    func run(in context: CommandContext) throws { try request.run(context) }
}

/// What `qr` does, apart from reading its arguments (shared with the fast path).
struct QRRequest: Equatable {
    var global: Global
    var user: String?
    var text: String?
    var format: QRFormat?
    var output: String?
    var invert = false
    var code = CodeInput.none

    func validate() throws(TwofaError) {
        try code.validate()
        guard (user == nil) != (text == nil) else {
            throw .usage(user == nil ? "give a USER or --text" : "give a USER or --text, not both")
        }
        if (format == .svg || format == .png) && output == nil {
            throw .usage("--format \(format?.rawValue ?? "") writes an image file: give --output FILE")
        }
    }

    func run(_ context: CommandContext) throws(TwofaError) {
        let content: String
        if let text {
            content = text
        } else {
            let name = user ?? ""
            content = try global.accounts(context).enrolment(
                name: name, credentials: global.credentials(context, for: name, code: code)).uri.string
        }
        let qr = try QRCode(encoding: content)
        let chosen = format ?? QRFormat(rawValue: defaultQRFormat(context).rawValue) ?? .utf8
        var bytes: [UInt8]
        switch chosen {
        case .svg: bytes = Array(QRImage.svg(qr).utf8)
        case .png: bytes = try QRImage.png(qr)
        case .ansi, .utf8, .ascii:
            bytes = Array(QRRenderer.render(qr, format: chosen.textFormat ?? .utf8, invert: invert).utf8)
        }
        defer { wipe(&bytes) }
        if let output {
            try SecureFiles.writePrivate(output, content: bytes)
            context.result(
                .object([("output", .string(output)), ("format", .string(chosen.rawValue))]),
                text: "Wrote the QR code to \(output).")
        } else {
            context.result(
                .object([("qr", .string(String(decoding: bytes, as: UTF8.self))), ("text", .string(content))]),
                pieces: [.drawing(String(decoding: bytes, as: UTF8.self))])
        }
    }
}
