import Crypto
import Testing
@testable import TwofaDomain

/// twofa's HMAC construction (kept for start-up time) against swift-crypto's HMAC and the RFCs.
@Suite("HMAC")
struct HMACTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    /// RFC 2202 §3 test 1 and 6 (a key longer than the block), RFC 4231 §4.2 and §4.7.
    @Test func rfcVectors() {
        #expect(OTPAlgorithm.sha1.mac(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
            == Self.hex("b617318655057264e28bc0b6fb378c8ef146be00"))
        #expect(OTPAlgorithm.sha1.mac(
            key: [UInt8](repeating: 0xaa, count: 80),
            message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
            == Self.hex("aa4ae5e15272d00e95705637ce8a3b55ed402112"))
        #expect(OTPAlgorithm.sha256.mac(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
            == Self.hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"))
        #expect(OTPAlgorithm.sha512.mac(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
            == Self.hex("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"))
        let longKey = [UInt8](repeating: 0xaa, count: 131)
        let message = Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8)
        #expect(OTPAlgorithm.sha256.mac(key: longKey, message: message)
            == Self.hex("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"))
        #expect(OTPAlgorithm.sha512.mac(key: longKey, message: message)
            == Self.hex("e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"))
    }

    /// Random keys (0 to 200 bytes, across both block sizes) and messages: the same bytes as
    /// swift-crypto's HMAC.
    @Test func agreesWithSwiftCrypto() {
        var random = SplitMix64(state: 42)
        for round in 0..<300 {
            let key = (0..<Int.random(in: 0...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let message = (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let symmetric = SymmetricKey(data: key)
            #expect(OTPAlgorithm.sha1.mac(key: key, message: message)
                == Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: symmetric)), "round \(round)")
            #expect(OTPAlgorithm.sha256.mac(key: key, message: message)
                == Array(HMAC<SHA256>.authenticationCode(for: message, using: symmetric)), "round \(round)")
            #expect(OTPAlgorithm.sha512.mac(key: key, message: message)
                == Array(HMAC<SHA512>.authenticationCode(for: message, using: symmetric)), "round \(round)")
        }
    }
}
