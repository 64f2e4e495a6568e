import CCrypt
import CQRencode
import CZlib

#if canImport(Glibc)
import Glibc
#endif

// libcrypt, libqrencode and zlib are opened on first use (dlopen), not by the loader at start-up:
// `twofa code`, the command scripts run most, draws no QR and hashes no password, and mapping and
// relocating three libraries it never calls was most of what its start-up cost beyond oathtool's
// (issue 10). Their headers still come in through the CCrypt, CQRencode and CZlib module maps, for
// the types and constants; the module maps no longer link the libraries, so a direct call to one
// of their functions would fail to link rather than quietly bring the library back at start-up.
//
// Each table is a `static let`: the first use opens the library and resolves its functions once,
// thread-safely (Swift's lazy globals), and later uses read the table.

/// A shared library opened by its exact soname (the ABI twofa was built against), kept open.
public struct SharedLibrary: @unchecked Sendable {  // the handle is never closed or mutated
    let soname: String
    /// The Debian package that provides it, for the message when it is missing.
    let package: String
    private let handle: UnsafeMutableRawPointer

    public init(soname: String, package: String) throws(TwofaError) {
        self.soname = soname
        self.package = package
        guard let handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL) else {
            throw Self.failure(soname, package, Self.lastError())
        }
        self.handle = handle
    }

    /// The function `name`, as the C function type `type`.
    public func function<Function>(_ name: String, as type: Function.Type) throws(TwofaError) -> Function {
        _ = dlerror()
        guard let address = dlsym(handle, name) else {
            throw Self.failure(soname, package, "it has no function \(name) (\(Self.lastError()))")
        }
        return unsafeBitCast(address, to: type)
    }

    /// 74, as a file twofa needs and cannot read: the library named, with what to install.
    static func failure(_ soname: String, _ package: String, _ reason: String) -> TwofaError {
        .file(path: soname, reason: "cannot load this shared library: \(reason); install the package \(package)")
    }

    private static func lastError() -> String {
        guard let text = dlerror() else { return "unknown error" }
        return String(cString: text)
    }
}

/// libxcrypt's reentrant calls, from libcrypt.so.1.
struct CryptLibrary: @unchecked Sendable {  // C function pointers, resolved once, never changed
    typealias CryptRN = @convention(c) (
        UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?, Int32
    ) -> UnsafeMutablePointer<CChar>?
    typealias GensaltRN = @convention(c) (
        UnsafePointer<CChar>?, UInt, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<CChar>?, Int32
    ) -> UnsafeMutablePointer<CChar>?
    typealias CheckSalt = @convention(c) (UnsafePointer<CChar>?) -> Int32

    let crypt_rn: CryptRN
    let crypt_gensalt_rn: GensaltRN
    let crypt_checksalt: CheckSalt

    static let loaded: Result<CryptLibrary, TwofaError> = Result { () throws(TwofaError) in
        let library = try SharedLibrary(soname: "libcrypt.so.1", package: "libcrypt1")
        return CryptLibrary(
            crypt_rn: try library.function("crypt_rn", as: CryptRN.self),
            crypt_gensalt_rn: try library.function("crypt_gensalt_rn", as: GensaltRN.self),
            crypt_checksalt: try library.function("crypt_checksalt", as: CheckSalt.self))
    }

    static func load() throws(TwofaError) -> CryptLibrary { try loaded.get() }

    /// For the calls whose signature cannot throw (`verify` answers a Bool): without libcrypt no
    /// answer is right. "Wrong password" would count a failure against the account and could
    /// lock it, so twofa stops instead, as it does for any other error: the message on stderr,
    /// exit 74. Callers that can throw use `load()` (or `PasswordHasher.loadLibrary()` first).
    static func loadOrExit() -> CryptLibrary {
        switch loaded {
        case .success(let library):
            return library
        case .failure(let error):
            let line = "twofa: \(terminalSafe(error.message))\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            exit(error.exitCode)
        }
    }
}

/// libqrencode's encoder, from libqrencode.so.4.
struct QRencodeLibrary: @unchecked Sendable {  // C function pointers, resolved once, never changed
    typealias EncodeString = @convention(c) (
        UnsafePointer<CChar>?, Int32, QRecLevel, QRencodeMode, Int32
    ) -> UnsafeMutablePointer<QRcode>?
    typealias Free = @convention(c) (UnsafeMutablePointer<QRcode>?) -> Void

    let QRcode_encodeString: EncodeString
    let QRcode_free: Free

    static let loaded: Result<QRencodeLibrary, TwofaError> = Result { () throws(TwofaError) in
        let library = try SharedLibrary(soname: "libqrencode.so.4", package: "libqrencode4")
        return QRencodeLibrary(
            QRcode_encodeString: try library.function("QRcode_encodeString", as: EncodeString.self),
            QRcode_free: try library.function("QRcode_free", as: Free.self))
    }

    static func load() throws(TwofaError) -> QRencodeLibrary { try loaded.get() }
}

/// zlib's one-shot compression and CRC-32, from libz.so.1.
struct ZlibLibrary: @unchecked Sendable {  // C function pointers, resolved once, never changed
    typealias CompressBound = @convention(c) (uLong) -> uLong
    typealias Compress2 = @convention(c) (
        UnsafeMutablePointer<Bytef>?, UnsafeMutablePointer<uLongf>?, UnsafePointer<Bytef>?, uLong, Int32
    ) -> Int32
    typealias CRC32 = @convention(c) (uLong, UnsafePointer<Bytef>?, uInt) -> uLong

    let compressBound: CompressBound
    let compress2: Compress2
    let crc32: CRC32

    static let loaded: Result<ZlibLibrary, TwofaError> = Result { () throws(TwofaError) in
        let library = try SharedLibrary(soname: "libz.so.1", package: "zlib1g")
        return ZlibLibrary(
            compressBound: try library.function("compressBound", as: CompressBound.self),
            compress2: try library.function("compress2", as: Compress2.self),
            crc32: try library.function("crc32", as: CRC32.self))
    }

    static func load() throws(TwofaError) -> ZlibLibrary { try loaded.get() }
}

extension PasswordHasher {
    /// Opens libcrypt now, so a missing library is a thrown error (74, naming libcrypt.so.1)
    /// rather than the stop that `verify` and `isSupported`, which cannot throw, make on first use.
    public static func loadLibrary() throws(TwofaError) {
        _ = try CryptLibrary.load()
    }
}
