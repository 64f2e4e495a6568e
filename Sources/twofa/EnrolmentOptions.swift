import ArgumentParser
import TwofaAccounts
import TwofaDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension OTPAlgorithm: ExpressibleByArgument {}

/// How a QR code is printed: a text format, or none.
enum QRChoice: String, ExpressibleByArgument, CaseIterable {
    case ansi, utf8, ascii, none

    var textFormat: QRTextFormat? { QRTextFormat(rawValue: rawValue) }
}

/// ansi on a terminal, utf8 when stdout is not one or NO_COLOR is set.
func defaultQRFormat() -> QRTextFormat {
    Terminal.stdoutIsTTY && Terminal.environment("NO_COLOR") == nil ? .ansi : .utf8
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

    @Option(help: ArgumentHelp("How to draw the QR code: ansi, utf8, ascii or none (default: ansi on a terminal, else utf8).", valueName: "format"))
    var qr: QRChoice?

    @Flag(help: "Draw the light modules instead of the dark ones (utf8 and ascii, for a dark terminal without colour).")
    var invert = false

    /// The enrolment asked for. An issuer (from --issuer, $TWOFA_ISSUER or the host name) with
    /// a control or bidirectional character is refused (exit 65): it would be stored, and shown
    /// by every authenticator and QR drawing from then on.
    func request() throws(TwofaError) -> EnrolmentRequest {
        let issuer = issuer ?? Terminal.environment("TWOFA_ISSUER") ?? hostName()
        try refuseUnsafeText(issuer, what: "the issuer")
        return EnrolmentRequest(
            issuer: issuer, parameters: TOTPParameters(algorithm: algorithm, digits: digits, period: period))
    }

    /// The JSON keys of an enrolment, and the text a person reads: the QR code (a drawing of
    /// ours, printed as it is), the secret in groups for typing, the URI, and what to do next
    /// (text, escaped by Output).
    func report(_ enrolment: Enrolment) throws(TwofaError) -> (json: [(String, JSON)], pieces: [Output.Piece]) {
        let uri = enrolment.uri.string
        let secret = Base32.encode(enrolment.secret)
        let json: [(String, JSON)] = [
            ("status", .string(enrolment.status.rawValue)),
            ("secret", .string(secret)),
            ("otpauth_uri", .string(uri)),
            ("algorithm", .string(enrolment.parameters.algorithm.rawValue)),
            ("digits", .int(enrolment.parameters.digits)),
            ("period", .int(enrolment.parameters.period)),
        ]
        guard !Output.json else { return (json, []) }
        var pieces: [Output.Piece] = []
        if let format = (qr ?? QRChoice(rawValue: defaultQRFormat().rawValue))?.textFormat {
            pieces.append(.drawing(QRRenderer.render(try QRCode(encoding: uri), format: format, invert: invert)))
        }
        let p = enrolment.parameters
        let text = """
            Scan the QR code with an authenticator app, or enter the secret by hand:
              \(Base32.grouped(secret))
              (\(p.algorithm.uriName), \(p.digits) digits, every \(p.period) s; issuer \(enrolment.issuer ?? "none"))
            URI: \(uri)
            Two-factor authentication is pending: confirm it with a code,
              twofa verify \(enrolment.user) --code CODE
            """
        pieces.append(.text(text))
        return (json, pieces)
    }
}

func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "twofa" }
    let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return name.isEmpty ? "twofa" : name
}
