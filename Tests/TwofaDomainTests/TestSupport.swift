import Testing
@testable import TwofaDomain

/// The TwofaError a call fails with, or nil when it returns (any other error is an issue).
func caught<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T) -> TwofaError? {
    do {
        _ = try body()
        return nil
    } catch let error as TwofaError {
        return error
    } catch {
        Issue.record("not a TwofaError: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The RFC 4226 / RFC 6238 seeds, as ASCII bytes.
enum Seeds {
    static let sha1 = Array("12345678901234567890".utf8)
    static let sha256 = Array("12345678901234567890123456789012".utf8)
    static let sha512 = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)
}

/// A fixed stream of bytes, so a test can see (and repeat) what was drawn.
struct FixedRandom: RandomSource {
    let byte: UInt8
    func bytes(_ count: Int) throws(TwofaError) -> [UInt8] {
        (0..<count).map { byte &+ UInt8(truncatingIfNeeded: $0) }
    }
}

/// SplitMix64: reproducible pseudo-random bytes for round-trip tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
