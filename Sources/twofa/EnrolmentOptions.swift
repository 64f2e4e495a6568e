import ArgumentParser
import TwofaAccounts
import TwofaDomain

import Glibc

extension OTPAlgorithm: ExpressibleByArgument {}

/// How a QR code is printed: a text format, or none.
enum QRChoice: String, ExpressibleByArgument, CaseIterable {
    case ansi, utf8, ascii, none

    var textFormat: QRTextFormat? { QRTextFormat(rawValue: rawValue) }
}

/// ansi on a terminal, utf8 when stdout is not one or NO_COLOR is set.
func defaultQRFormat(_ context: CommandContext) -> QRTextFormat {
    context.stdoutIsTTY && context.environment("NO_COLOR") == nil ? .ansi : .utf8
}

/// An app's codes: by time (TOTP) or by counter (HOTP).
enum CodeType: String, ExpressibleByArgument, CaseIterable {
    case totp, hotp
}

/// Where the codes come from: an authenticator app, or email sent by twofa.
enum DeviceChoice: String, ExpressibleByArgument, CaseIterable {
    case app, email
}

/// The options of a new enrolment (enable-2fa, register --enable-2fa).
struct EnrolmentOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The issuer shown in the authenticator (default: $TWOFA_ISSUER, else the host name).", valueName: "name"))
    var issuer: String?

    @Option(help: "The HMAC: sha1, sha256 or sha512.")
    var algorithm: OTPAlgorithm = .sha1

    @Option(help: "Digits per code: 6 or 8.")
    var digits: Int = 6

    @Option(help: ArgumentHelp("Seconds per code: 15 to 120.", valueName: "seconds"))
    var period: Int64 = 30

    @Option(help: ArgumentHelp("An app's codes: totp (by time, the default) or hotp (by counter, RFC 4226).", valueName: "type"))
    var type: CodeType?

    @Option(help: ArgumentHelp("Where codes come from: app (the default) or email (sent to --email at each login).", valueName: "device"))
    var device: DeviceChoice?

    @Option(help: ArgumentHelp("The address an email device's codes go to.", valueName: "address"))
    var email: String?

    @Option(help: ArgumentHelp("How to draw the QR code: ansi, utf8, ascii or none (default: ansi on a terminal, else utf8).", valueName: "format"))
    var qr: QRChoice?

    @Flag(help: "Draw the light modules instead of the dark ones (utf8 and ascii, for a dark terminal without colour).")
    var invert = false

    /// The enrolment asked for. An issuer (from --issuer, $TWOFA_ISSUER or the host name) with
    /// a control or bidirectional character is refused (exit 65): it would be stored, and shown
    /// by every authenticator and QR drawing from then on.
    func request(_ context: CommandContext) throws(TwofaError) -> EnrolmentRequest {
        let issuer = issuer ?? context.environment("TWOFA_ISSUER") ?? hostName()
        try refuseUnsafeText(issuer, what: "the issuer")
        if device == .email {
            guard type == nil else { throw .usage("--type goes with an app (--device app), not with email") }
            guard let email else { throw .usage("--device email needs --email ADDRESS") }
            return EnrolmentRequest(issuer: issuer, kind: .email, email: try EmailAddress(email))
        }
        guard email == nil else { throw .usage("--email goes with --device email") }
        return EnrolmentRequest(
            issuer: issuer, parameters: TOTPParameters(algorithm: algorithm, digits: digits, period: period),
            kind: type == .hotp ? .hotp : .totp)
    }

    /// The JSON keys of an enrolment, and the text a person reads, laid out for an 80x24
    /// terminal: first what to do next and the secret in groups for typing (text, escaped by
    /// Output), the URI where it fits a line (or off a terminal, or with --qr none), and the QR
    /// code last (a drawing of ours, printed as it is), so that nothing scrolls it away. A
    /// default SHA1 enrolment takes 2 lines of text and 21 of drawing: 23, and the prompt.
    /// `registered` is the user that register has just created.
    func report(_ enrolment: Enrolment, registered: String? = nil, context: CommandContext) throws(TwofaError)
        -> (json: [(String, JSON)], pieces: [Output.Piece])
    {
        if enrolment.kind == .email {
            // No secret leaves twofa: the codes come by email.
            let sentTo = enrolment.delivery?.sentTo ?? enrolment.email?.masked ?? "-"
            let json: [(String, JSON)] = [
                ("status", .string(enrolment.status.rawValue)), ("device", .string("email")),
                ("sent_to", .string(sentTo)),
            ]
            let command = "twofa verify \(enrolment.user) --code-stdin"
            let lines = (registered.map { ["Registered \($0)."] } ?? [])
                + ["2FA by email is pending: a code was sent to \(sentTo).", "Confirm it with that code:", "  " + command]
            return (json, [.text(lines.joined(separator: "\n") + "\n")])
        }
        let uri = enrolment.uri.string
        let secret = Base32.encode(enrolment.secret)
        var json: [(String, JSON)] = [
            ("status", .string(enrolment.status.rawValue)),
            ("secret", .string(secret)),
            ("otpauth_uri", .string(uri)),
            ("algorithm", .string(enrolment.parameters.algorithm.rawValue)),
            ("digits", .int(enrolment.parameters.digits)),
        ]
        if enrolment.kind == .hotp {
            json += [("type", .string("hotp")), ("counter", .int(Int64(clamping: enrolment.counter)))]
        } else {
            json.append(("period", .int(enrolment.parameters.period)))
        }
        guard !context.json else { return (json, []) }
        let format = (qr ?? QRChoice(rawValue: defaultQRFormat(context).rawValue))?.textFormat
        let drawing = try format.map { format throws(TwofaError) in
            QRRenderer.render(try QRCode(encoding: uri), format: format, invert: invert)
        }
        let text = EnrolmentText(
            user: enrolment.user, registered: registered, secret: secret, parameters: enrolment.parameters,
            uri: uri, withQR: drawing != nil, onTerminal: context.stdoutIsTTY, hotp: enrolment.kind == .hotp)
        var pieces: [Output.Piece] = [.text(text.lines.joined(separator: "\n") + "\n")]
        if let drawing { pieces.append(.drawing(drawing)) }
        return (json, pieces)
    }
}

/// The text of an enrolment for people, in lines of at most 80 columns.
struct EnrolmentText {
    static let width = 80

    var user: String
    var registered: String?
    var secret: String
    var parameters: TOTPParameters
    var uri: String
    var withQR: Bool
    var onTerminal: Bool
    var hotp = false

    var lines: [String] {
        let command = "twofa verify \(user) --code CODE"
        var lines = Self.fill(
            registered.map { ["Registered \($0).", "Confirm 2FA with a code:", command] }
                ?? ["2FA is pending; confirm it with a code:", command])
        // The secret for typing, in groups of four: beside its lead-in if it fits, else below it.
        let lead = withQR ? "Scan the QR code, or type the secret:" : "Type the secret into an authenticator app:"
        let groups = Base32.grouped(secret).split(separator: " ").map(String.init)
        let together = Self.fill([lead] + groups)
        if together.count == 1 {
            lines += together
        } else {
            lines.append(lead)
            lines += Self.fill(groups, indent: "  ")
        }
        if hotp {
            lines.append("  (counter-based HOTP, \(parameters.algorithm.uriName), \(parameters.digits) digits)")
        } else if parameters != .default {
            lines.append("  (\(parameters.algorithm.uriName), \(parameters.digits) digits, every \(parameters.period) s)")
        }
        // The URI where a person could want it: off a terminal, without a QR code, or when it
        // fits a line (a long one would wrap over the terminal's lines; --json always has it).
        let uriLine = "URI: " + uri
        if !onTerminal || !withQR || uriLine.count <= Self.width { lines.append(uriLine) }
        return lines
    }

    /// `words` (each kept whole on one line if it fits one) joined by spaces into lines of at
    /// most `width` columns.
    static func fill(_ words: [String], indent: String = "") -> [String] {
        var lines: [String] = []
        var current = ""
        let words = words.flatMap { $0.count > width ? $0.split(separator: " ").map(String.init) : [$0] }
        for word in words {
            if current.isEmpty {
                current = indent + word
            } else if current.count + 1 + word.count <= width {
                current += " " + word
            } else {
                lines.append(current)
                current = indent + word
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}
