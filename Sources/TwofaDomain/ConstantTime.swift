import Glibc

/// Equality whose running time depends only on the lengths, not on where the inputs differ.
@inline(never)
public func constantTimeEquals<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
where A.Element == UInt8, B.Element == UInt8 {
    var difference: UInt8 = a.count == b.count ? 0 : 1
    var left = a.makeIterator()
    var right = b.makeIterator()
    // Walk the longer input in full either way.
    for _ in 0..<max(a.count, b.count) {
        let x = left.next() ?? 0
        let y = right.next() ?? 0
        difference |= x ^ y
    }
    return difference == 0
}

/// Overwrites a buffer that held a password or a secret (explicit_bzero: the compiler may
/// not drop it as a dead store), then empties it.
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress { explicit_bzero(base, buffer.count) }
    }
    bytes.removeAll()
}
