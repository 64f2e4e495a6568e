import Foundation
import Testing

/// `code`, `login`, `verify` and `qr` in their plain forms skip swift-argument-parser; a `--`
/// sends the same words through it. Both paths must answer alike.
@Suite("fast path and full parser agree")
struct FastPathTests {
    @Test func sameAnswersBothWays() throws {
        let box = try Sandbox()
        try box.register("alice")
        try box.register("bob")
        let secret = try box.enable("alice", extra: ["--algorithm", "sha512", "--digits", "8"])
        let cases: [([String], String?)] = [
            (["code", "alice", "--at", "1000000000"], nil),
            (["code", "alice", "--at=1000000000", "--json"], nil),
            (["code", "--secret-stdin", "--at", "59", "--digits", "8", "--algorithm", "sha256", "--period", "60"], "JBSWY3DPEHPK3PXP"),
            (["code", "--uri-stdin", "--json", "--at", "0"], "otpauth://totp/x?secret=\(secret)&digits=8"),
            (["code", "--secret-stdin", "--at", "253402300800"], "JBSWY3DPEHPK3PXP"),
            (["code", "--secret-stdin"], "not base32"),
            (["code", "nobody"], nil),
            (["code", "alice", "--digits", "8"], nil),
            (["code"], nil),
            (["qr", "--text", "hello", "--format", "ascii"], nil),
            (["qr", "--text", "hello", "--format", "utf8", "--invert", "--json"], nil),
            (["qr", "alice", "--format", "utf8"], nil),
            (["qr", "--text", "hello", "--format", "png"], nil),
            (["login", "bob", "--password-stdin", "--json"], defaultPassword),
            (["login", "bob", "--password-stdin"], "wrong password 99"),
            (["login", "alice", "--password-stdin", "--json", "--code", "12345"], defaultPassword),
            (["login", "nobody", "--password-stdin"], defaultPassword),
            (["verify", "alice", "--code", "00000000", "--json"], nil),
            (["verify", "alice"], nil),
        ]
        for (arguments, stdin) in cases {
            let fast = try box.run(arguments, stdin: stdin.map { $0 + "\n" })
            let full = try box.run(arguments + ["--"], stdin: stdin.map { $0 + "\n" })
            #expect(fast.status == full.status, "\(arguments)")
            #expect(fast.stdout == full.stdout, "\(arguments)")
            #expect(fast.stderr == full.stderr, "\(arguments)")
        }
        // The full parser's own answers stay its own.
        #expect(try box.run(["code", "--help"]).stdout.contains("USAGE"))
        #expect(try box.run(["code", "--at", "soon", "alice"]).status == 64)
    }
}
