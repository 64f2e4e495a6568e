import Glibc

/// Where secrets, salts and backup codes get their randomness. Injected so tests can see what
/// was drawn; production uses the kernel's CSPRNG.
public protocol RandomSource: Sendable {
    func bytes(_ count: Int) throws(TwofaError) -> [UInt8]
}

/// getentropy(3) (the getrandom(2) system call): the kernel's CSPRNG, blocking only until its
/// pool is first initialised. It gives at most 256 bytes a call.
public struct SystemRandom: RandomSource {
    public init() {}

    public func bytes(_ count: Int) throws(TwofaError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let chunk = min(256, count - filled)
            let status = out.withUnsafeMutableBytes { buffer in
                getentropy(buffer.baseAddress.map { $0 + filled }, chunk)
            }
            guard status == 0 else { throw .internalError("getentropy failed (errno \(errno))") }
            filled += chunk
        }
        return out
    }
}
