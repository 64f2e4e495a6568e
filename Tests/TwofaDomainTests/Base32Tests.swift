import Testing
@testable import TwofaDomain

@Suite("Base32")
struct Base32Tests {
    static let rfc4648: [(String, String)] = [
        ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI"),
    ]

    @Test("RFC 4648 §10 vectors encode without padding", arguments: rfc4648)
    func encode(plain: String, encoded: String) {
        #expect(Base32.encode(Array(plain.utf8)) == encoded)
    }

    @Test("RFC 4648 §10 vectors decode, with and without padding", arguments: rfc4648)
    func decode(plain: String, encoded: String) throws {
        #expect(try Base32.decode(encoded) == Array(plain.utf8))
        let padded = encoded + String(repeating: "=", count: (8 - encoded.count % 8) % 8)
        #expect(padded.count % 8 == 0)
        #expect(try Base32.decode(padded) == Array(plain.utf8))
        #expect(try Base32.decode(encoded.lowercased()) == Array(plain.utf8))
    }

    @Test("Encoding nothing gives nothing; decoding nothing throws")
    func empty() {
        #expect(Base32.encode([]) == "")
        for text in ["", " ", "=", "========", "- -"] {
            let error = caught { try Base32.decode(text) }
            #expect(error == .invalidSecret("the secret is empty"), "\(text.debugDescription)")
            #expect(error?.exitCode == 65)
        }
    }

    @Test("Decoding forgives lower case, spaces, tabs, dashes and padding", arguments: [
        "MZXW6YQ=", "mzxw 6yq", "MZXW6YQ", "mzxw6yq=", "MzXw-6Yq", " MZXW 6YQ ", "MZXW\t6YQ", "MZXW6YQ====",
        "M-Z-X-W-6-Y-Q",
    ])
    func forgiving(text: String) throws {
        #expect(try Base32.decode(text) == Array("foob".utf8))
    }

    @Test("Decoding the RFC 6238 seed's secret")
    func rfcSeed() throws {
        #expect(Base32.encode(Seeds.sha1) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(try Base32.decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq") == Seeds.sha1)
    }

    @Test("Decoding refuses characters outside the alphabet", arguments: [
        "1", "0", "8", "9", "MZXW6YQ1", "MZXW0YQ", "MZ!W6YQ", "MZXW6YQ\n", "MZXW_6YQ", "MZXW.6YQ", "MZÄW6YQ",
        "MZXW6YQ+", "MZXW6YQ/",
    ])
    func badCharacters(text: String) {
        let error = caught { try Base32.decode(text) }
        #expect(error?.code == "invalid_secret")
        #expect(error?.exitCode == 65)
    }

    @Test("Decoding refuses characters after padding", arguments: ["MZXW6YQ=A", "MY=Y", "MZXQ====MZXQ", "=MY"])
    func afterPadding(text: String) {
        let error = caught { try Base32.decode(text) }
        #expect(error == .invalidSecret("invalid base32 secret: characters after '=' padding"))
        #expect(error?.exitCode == 65)
    }

    @Test("Decoding refuses a final group of 1, 3 or 6 characters", arguments: [
        "A", "ABC", "ABCDEF", "ABCDEFGHA", "ABCDEFGHABC", "ABCDEFGHABCDEF", "A=======", "abc",
    ])
    func impossibleLengths(text: String) {
        let error = caught { try Base32.decode(text) }
        #expect(error == .invalidSecret("invalid base32 secret: its length does not fit whole bytes"))
        #expect(error?.exitCode == 65)
    }

    @Test("Possible final group lengths decode to the right number of bytes", arguments: [
        (2, 1), (4, 2), (5, 3), (7, 4), (8, 5), (10, 6), (16, 10),
    ])
    func possibleLengths(characters: Int, bytes: Int) throws {
        #expect(try Base32.decode(String(repeating: "A", count: characters)) == [UInt8](repeating: 0, count: bytes))
        #expect(try Base32.decode(String(repeating: "7", count: characters)).count == bytes)
    }

    @Test("All-ones bytes use the last letter of the alphabet")
    func allOnes() throws {
        #expect(Base32.encode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == "77777777")
        #expect(Base32.encode([0x00, 0x00, 0x00, 0x00, 0x00]) == "AAAAAAAA")
        #expect(Base32.encode([0xFF]) == "74")
        #expect(try Base32.decode("77777777") == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    @Test("Random byte strings round-trip through encode and decode", arguments: 1...70)
    func roundTrip(length: Int) throws {
        var generator = SplitMix64(state: UInt64(length) &* 0x1234_5678_9ABC)
        for _ in 0..<8 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base32.encode(bytes)
            #expect(encoded.count == (length * 8 + 4) / 5)
            #expect(encoded.utf8.allSatisfy { Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8).contains($0) })
            #expect(try Base32.decode(encoded) == bytes)
            #expect(try Base32.decode(Base32.grouped(encoded).lowercased()) == bytes)
        }
    }

    @Test("grouped() puts a space every four characters", arguments: [
        ("", ""), ("A", "A"), ("ABCD", "ABCD"), ("ABCDE", "ABCD E"), ("ABCDEFGH", "ABCD EFGH"),
        ("ABCDEFGHIJ", "ABCD EFGH IJ"),
        ("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"),
    ])
    func grouped(encoded: String, expected: String) {
        #expect(Base32.grouped(encoded) == expected)
    }
}
