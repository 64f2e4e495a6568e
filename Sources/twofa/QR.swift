import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct QR: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a user's enrolment QR code again, or any text with --text.",
        discussion: "A pending enrolment is drawn freely; an active one only after the password and a current code.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The username.") var user: String?
    @Option(help: ArgumentHelp("Draw this text instead of a user's enrolment.", valueName: "text")) var text: String?
    @Option(help: ArgumentHelp("ansi, utf8 or ascii (default: ansi on a terminal, else utf8).", valueName: "format"))
    var format: QRTextFormat?
    @Flag(help: "Draw the light modules instead of the dark ones (utf8, ascii).") var invert = false
    @Option(help: ArgumentHelp("A current code, for an active enrolment.", valueName: "code")) var code: String?

    func validate() throws {
        guard (user == nil) != (text == nil) else {
            throw ValidationError(user == nil ? "give a USER or --text" : "give a USER or --text, not both")
        }
    }

    func run() throws {
        let content: String
        if let text {
            content = text
        } else {
            let name = user ?? ""
            content = try global.accounts().enrolment(name: name, credentials: global.credentials(for: name, code: code)).uri.string
        }
        let drawing = QRRenderer.render(try QRCode(encoding: content), format: format ?? defaultQRFormat(), invert: invert)
        Output.result(.object([("qr", .string(drawing)), ("text", .string(content))]), text: drawing)
    }
}

extension QRTextFormat: ExpressibleByArgument {}
