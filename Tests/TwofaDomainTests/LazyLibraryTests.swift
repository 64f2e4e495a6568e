import Testing
@testable import TwofaDomain

/// libcrypt, libqrencode and zlib through dlopen (Sources/TwofaDomain/SharedLibraries.swift).
@Suite("shared libraries opened on first use")
struct LazyLibraryTests {
    @Test("each library opens by its soname and has the functions twofa calls")
    func opens() throws {
        _ = try CryptLibrary.load()
        _ = try QRencodeLibrary.load()
        let zlib = try ZlibLibrary.load()
        // CRC-32 of "123456789", the standard check value.
        let check = Array("123456789".utf8).withUnsafeBufferPointer { zlib.crc32(0, $0.baseAddress, 9) }
        #expect(check == 0xCBF4_3926)
        try PasswordHasher.loadLibrary()
    }

    @Test("a library that is not there is a 74 naming it, with the package to install")
    func missing() {
        var caught: TwofaError?
        do {
            _ = try SharedLibrary(soname: "libtwofa-no-such-library.so.9", package: "twofa-test")
        } catch {
            caught = error
        }
        #expect(caught?.exitCode == 74)
        #expect(caught?.message.hasPrefix("libtwofa-no-such-library.so.9: cannot load this shared library") == true)
        #expect(caught?.message.hasSuffix("install the package twofa-test") == true)
    }

    @Test("a function the library lacks is a 74 naming both")
    func missingFunction() throws {
        let libz = try SharedLibrary(soname: "libz.so.1", package: "zlib1g")
        typealias Nothing = @convention(c) () -> Void
        var caught: TwofaError?
        do {
            _ = try libz.function("twofa_no_such_function", as: Nothing.self)
        } catch {
            caught = error
        }
        #expect(caught?.exitCode == 74)
        #expect(caught?.message.contains("libz.so.1") == true)
        #expect(caught?.message.contains("twofa_no_such_function") == true)
    }
}
