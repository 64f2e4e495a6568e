/// Text that came from outside (a file name, a CSV header, an issuer, a line of a foreign file)
/// must never reach a terminal raw: an ESC can clear the screen, retitle the window or write
/// the clipboard (OSC 52), a C1 CSI (U+009B) does the same on terminals that read 8-bit
/// controls, and a bidirectional override makes text read differently from what it is.
///
/// The unsafe characters:
/// - C0 controls U+0000–U+001F (all of them, `\n` and `\t` too), and DEL U+007F;
/// - C1 controls U+0080–U+009F;
/// - the bidirectional controls U+061C, U+200E, U+200F, U+202A–U+202E and U+2066–U+2069.
///
/// Human output shows each one escaped: `\xHH` (two lower-case hex digits) for the C0, DEL and
/// C1 controls, `\u{HHHH}` for the bidirectional ones; everything else, a backslash included,
/// is printed as it is. Where outside text would be stored it is refused instead
/// (`refuseUnsafeText`, exit 65).

/// Whether `scalar` is a control or bidirectional character that is never shown raw.
public func isTerminalUnsafe(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F: true
    case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
    default: false
    }
}

/// Whether `text` holds any character `isTerminalUnsafe` names.
public func containsUnsafeText(_ text: String) -> Bool {
    guard mayHoldUnsafeText(text) else { return false }
    return text.unicodeScalars.contains(where: isTerminalUnsafe)
}

/// `text` with every unsafe character escaped visibly (`\x1b`, `\x9b`, `\u{202e}`): safe to
/// print on a terminal. Text without any comes back as it is.
public func terminalSafe(_ text: String) -> String {
    guard containsUnsafeText(text) else { return text }
    var out = ""
    out.reserveCapacity(text.utf8.count + 16)
    for scalar in text.unicodeScalars {
        if isTerminalUnsafe(scalar) {
            out += escapedForTerminal(scalar)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// How `terminalSafe` shows one unsafe character: `\x1b` below U+0100, else `\u{202e}`.
public func escapedForTerminal(_ scalar: Unicode.Scalar) -> String {
    let hex = String(scalar.value, radix: 16)
    if scalar.value < 0x100 { return "\\x" + String(repeating: "0", count: max(0, 2 - hex.count)) + hex }
    return "\\u{" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "}"
}

/// Refuses (exit 65, `invalid_input`) text that would be stored with an unsafe character in
/// it; `what` names the text ("the issuer", "line 3: the issuer"). The message shows the first
/// such character escaped, never raw.
public func refuseUnsafeText(_ text: String, what: String) throws(TwofaError) {
    guard mayHoldUnsafeText(text), let scalar = text.unicodeScalars.first(where: isTerminalUnsafe) else { return }
    let kind = scalar.value < 0x100 ? "a control character" : "a bidirectional control character"
    throw .invalidInput("\(what) contains \(kind) (\(escapedForTerminal(scalar))), which twofa does not store")
}

/// A quick look at the UTF-8 bytes: false when `text` certainly holds no unsafe character (no
/// byte below 0x20, no DEL, and none of the lead bytes 0xC2, 0xD8, 0xE2 that begin the encodings
/// of C1 and of the bidirectional controls), so that plain text costs one pass and no copy.
func mayHoldUnsafeText(_ text: String) -> Bool {
    text.utf8.contains { byte in byte < 0x20 || byte == 0x7F || byte == 0xC2 || byte == 0xD8 || byte == 0xE2 }
}
