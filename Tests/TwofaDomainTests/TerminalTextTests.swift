import Testing
@testable import TwofaDomain

/// The one escaping function for text from outside (TerminalText.swift), its refusal for text
/// to store, and the JSON writer's escapes of the same characters.
@Suite("terminal text")
struct TerminalTextTests {
    @Test func plainTextComesBackAsItIs() {
        for text in ["", "alice", "Example Corp: ünïcödé", "日本語", "emoji 🙂 ok", "a\u{A0}b", "back\\slash", "\u{2028}"] {
            #expect(terminalSafe(text) == text)
            #expect(!containsUnsafeText(text))
        }
    }

    @Test func controlsAreEscapedVisibly() {
        #expect(terminalSafe("\u{1B}[2J") == "\\x1b[2J")
        #expect(terminalSafe("\u{1B}]52;c;ZXZpbA==\u{07}") == "\\x1b]52;c;ZXZpbA==\\x07")
        #expect(terminalSafe("a\nb\tc\rd") == "a\\x0ab\\x09c\\x0dd")
        #expect(terminalSafe("\u{0}") == "\\x00")
        #expect(terminalSafe("\u{7F}") == "\\x7f")
        // C1: CSI (U+009B) and the rest of U+0080-U+009F.
        #expect(terminalSafe("x\u{9B}31my") == "x\\x9b31my")
        #expect(terminalSafe("\u{80}\u{9F}") == "\\x80\\x9f")
        // U+00A0 and U+00FF are printable.
        #expect(terminalSafe("\u{A0}\u{FF}") == "\u{A0}\u{FF}")
    }

    @Test func bidirectionalControlsAreEscaped() {
        let cases: [(String, String)] = [
            ("\u{202A}", "\\u{202a}"), ("\u{202B}", "\\u{202b}"), ("\u{202C}", "\\u{202c}"),
            ("\u{202D}", "\\u{202d}"), ("\u{202E}", "\\u{202e}"), ("\u{2066}", "\\u{2066}"),
            ("\u{2067}", "\\u{2067}"), ("\u{2068}", "\\u{2068}"), ("\u{2069}", "\\u{2069}"),
            ("\u{200E}", "\\u{200e}"), ("\u{200F}", "\\u{200f}"), ("\u{061C}", "\\u{061c}"),
        ]
        for (raw, shown) in cases {
            #expect(terminalSafe("a" + raw + "b") == "a" + shown + "b")
            #expect(containsUnsafeText(raw))
        }
        // Neighbours that are not controls stay.
        #expect(terminalSafe("\u{2029}\u{2065}\u{206A}\u{200D}\u{061B}") == "\u{2029}\u{2065}\u{206A}\u{200D}\u{061B}")
    }

    @Test func escapedTextHoldsNoUnsafeCharacter() {
        var all = ""
        for value in Array(0...0xA0) + [0x061C, 0x200E, 0x200F] + Array(0x202A...0x202E) + Array(0x2066...0x2069) {
            if let scalar = Unicode.Scalar(UInt32(value)) { all.unicodeScalars.append(scalar) }
        }
        let shown = terminalSafe(all)
        #expect(!containsUnsafeText(shown))
        #expect(!shown.utf8.contains(0x1B))
    }

    @Test func refusingNamesTheCharacterWithoutPrintingIt() {
        let error = caught { try refuseUnsafeText("Evil\u{1B}[2K", what: "line 3: the issuer") }
        #expect(error?.exitCode == 65)
        #expect(error?.message == "line 3: the issuer contains a control character (\\x1b), which twofa does not store")
        let bidi = caught { try refuseUnsafeText("abc\u{202E}def", what: "the issuer") }
        #expect(bidi?.exitCode == 65)
        #expect(bidi?.message.contains("\\u{202e}") == true)
        #expect(bidi.map { containsUnsafeText($0.message) } == false)
        #expect(caught { try refuseUnsafeText("Example Corp", what: "the issuer") } == nil)
    }

    @Test func jsonEscapesC1AndBidiControls() {
        #expect(JSON.string("a\u{9B}b").serialized == "\"a\\u009bb\"")
        #expect(JSON.string("\u{202E}\u{2066}\u{200F}\u{061C}").serialized == "\"\\u202e\\u2066\\u200f\\u061c\"")
        #expect(JSON.string("\u{1B}\u{7F}\n").serialized == "\"\\u001b\\u007f\\n\"")
        #expect(JSON.string("é日🙂").serialized == "\"é日🙂\"")
        #expect(!containsUnsafeText(JSON.object([("k\u{85}", .string("\u{202D}x"))]).serialized))
    }
}
