import CQRencode

import Glibc

/// A QR code's module matrix, made by libqrencode at error-correction level M, case-sensitive, in the mix of modes
/// (the smallest version that holds the text).
public struct QRCode: Sendable {
    /// Modules per side, without the quiet zone.
    public let size: Int
    /// Row-major; true is a dark module.
    public let modules: [Bool]

    /// The light border every renderer draws around the code (ISO/IEC 18004 asks for 4).
    public static let quietZone = 4

    public init(encoding text: String) throws(TwofaError) {
        guard !text.isEmpty else { throw .invalidInput("nothing to encode: the text is empty") }
        guard !text.utf8.contains(0) else { throw .invalidInput("the text contains a NUL byte") }
        let qrencode = try QRencodeLibrary.load()
        guard let code = qrencode.QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else {
            if errno == ERANGE {
                throw .invalidInput("the text is too long for a QR code (\(text.utf8.count) bytes; at most 2331 at level M)")
            }
            throw .internalError("libqrencode failed (errno \(errno))")
        }
        defer { qrencode.QRcode_free(code) }
        let width = Int(code.pointee.width)
        var modules = [Bool](repeating: false, count: width * width)
        for index in 0..<(width * width) {
            modules[index] = code.pointee.data[index] & 1 == 1
        }
        self.size = width
        self.modules = modules
    }

    /// Whether the module at (x, y) is dark; coordinates include the quiet zone, so anything
    /// outside the code itself is light.
    public func isDark(x: Int, y: Int) -> Bool {
        let column = x - Self.quietZone
        let row = y - Self.quietZone
        guard column >= 0, row >= 0, column < size, row < size else { return false }
        return modules[row * size + column]
    }

    /// Modules per side with the quiet zone on both sides.
    public var sizeWithQuietZone: Int { size + 2 * Self.quietZone }
}

/// How a QR code is drawn as text.
public enum QRTextFormat: String, CaseIterable, Sendable {
    /// UTF-8 half blocks, black on white by explicit ANSI colours: scans on any terminal theme.
    case ansi
    /// The same blocks without colour; the drawn characters are the dark modules.
    case utf8
    /// `##` for a dark module, two spaces for a light one.
    case ascii
}

public enum QRRenderer {
    /// The light border of a drawing on a terminal: 2 modules, which phone scanners read on a
    /// screen (the half of ISO/IEC 18004's 4 that image files keep), so that a default SHA1
    /// enrolment, text and drawing and prompt, fits an 80x24 terminal.
    public static let terminalQuietZone = 2

    /// Draws `code` with a light border of `quietZone` modules. `invert` draws the light modules
    /// instead of the dark ones (for `utf8` and `ascii` on a dark terminal without colour);
    /// `ansi` ignores it, as its colours are explicit.
    public static func render(
        _ code: QRCode, format: QRTextFormat, invert: Bool = false, quietZone: Int = terminalQuietZone
    ) -> String {
        let margin = max(0, quietZone)
        let side = code.size + 2 * margin
        // "Drawn" is what the glyphs show: dark modules, or light ones when inverted.
        let drawn: (Int, Int) -> Bool = { x, y in
            let column = x - margin
            let row = y - margin
            let dark = column >= 0 && row >= 0 && column < code.size && row < code.size
                && code.modules[row * code.size + column]
            return format == .ansi ? dark : dark != invert
        }
        var out = ""
        switch format {
        case .ascii:
            out.reserveCapacity(side * (side * 2 + 1))
            for y in 0..<side {
                for x in 0..<side { out += drawn(x, y) ? "##" : "  " }
                out += "\n"
            }
        case .utf8, .ansi:
            // Two module rows per text line; an odd last row is paired with a light one
            // (drawn when inverted, so the quiet zone stays whole).
            let lightDrawn = format == .ansi ? false : invert
            out.reserveCapacity((side + 1) / 2 * (side * 3 + 16))
            var y = 0
            while y < side {
                if format == .ansi { out += "\u{1B}[30;47m" }
                for x in 0..<side {
                    let top = drawn(x, y)
                    let bottom = y + 1 < side ? drawn(x, y + 1) : lightDrawn
                    switch (top, bottom) {
                    case (true, true): out += "█"
                    case (true, false): out += "▀"
                    case (false, true): out += "▄"
                    case (false, false): out += " "
                    }
                }
                if format == .ansi { out += "\u{1B}[0m" }
                out += "\n"
                y += 2
            }
        }
        return out
    }
}
