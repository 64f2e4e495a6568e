// swift-tools-version:6.1
//
// twofa: user accounts with passwords and TOTP two-factor authentication, in a SQLite file or a
// PostgreSQL database shared by many hosts.
//
// The layers, each one module, imports pointing down only, each declared here (CI builds with
// --explicit-target-dependency-import-check=error):
//
//   twofa (executable)   argument parsing, the terminal, exit codes; `twofa serve` runs twofa-serve
//   twofa-serve (executable) → TwofaServer   HTTP (Hummingbird 2), JWTs (jwt-kit), TLS, CORS,
//     │                        access log; a second executable so `twofa` links no NIO at all
//     └─ TwofaAccounts   use cases: register, login, enrol, verify, disable
//          └─ TwofaStorage   AccountStore: SQLite (sqlite3) and PostgreSQL (libpq, opened on
//               │                first use); schema, migrations, typed records
//               └─ TwofaDomain   base32, HOTP/TOTP, otpauth URI, crypt(3), QR codes, file formats,
//                                private files, terminal-safe text, errors
//
// The PAM module (pam/pam_twofa.c) is built by pam/build with the C compiler, not here: SwiftPM
// would link it against the Swift runtime.
//
// C libraries come in through .systemLibrary targets (libsqlite3, libxcrypt, libqrencode, zlib).
// Only SQLite is linked: libxcrypt, libqrencode and zlib are opened on first use (dlopen, in
// TwofaDomain/SharedLibraries.swift), so `twofa code` never loads them; their module maps give
// the headers alone.
import PackageDescription

let package = Package(
    name: "twofa",
    products: [
        .executable(name: "twofa", targets: ["twofa"]),
        .executable(name: "twofa-serve", targets: ["twofa-serve"]),
        .library(name: "TwofaAccounts", targets: ["TwofaAccounts"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // The server's only. Hummingbird without its default traits (swift-configuration and
        // full Foundation): less to build, nothing twofa uses.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt"),
        .systemLibrary(name: "CQRencode", path: "Sources/CQRencode"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),

        .target(
            name: "TwofaDomain",
            dependencies: [
                "CCrypt", "CQRencode", "CZlib", "CCryptoShim",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The declarations of BoringSSL's one-shot HMAC (linked from swift-crypto).
        .target(name: "CCryptoShim", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "TwofaStorage",
            dependencies: ["TwofaDomain", "CSQLite"]
        ),
        .target(
            name: "TwofaAccounts",
            dependencies: [
                "TwofaDomain", "TwofaStorage",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "twofa",
            dependencies: [
                "TwofaAccounts", "TwofaDomain", "TwofaServeOptions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["StaticRuntime"],
            linkerSettings: [
                // Release, for start-up time (measured in benchmarks/run):
                // - lld packs the binary's relative relocations (DT_RELR, glibc 2.36+): start-up
                //   relocates a few kilobytes instead of ~40,000 entries; still PIE, so ASLR stays;
                // - StaticRuntime/ holds linker scripts named libstdc++.so, libgcc_s.so and
                //   libsqlite3.so that stand for the static archives of the same Debian packages:
                //   the loader no longer maps and relocates libstdc++, nor binds the ~1,600
                //   symbols of libsqlite3 (built with BIND_NOW) at every start;
                // - no exported dynamic symbols (the Swift runtime's dladdr at start-up walks
                //   them all: 6,700 of them without this, 390 with it);
                // - --as-needed: no DT_NEEDED entry for a library nothing binds to (glibc 2.34+'s
                //   empty libpthread.so.0, which the Swift driver asks for);
                // - linker/startup-order.txt (made by linker/generate-startup-order) puts the
                //   functions `code`, `login` and `verify` run side by side at the start of .text:
                //   start-up faults in a few dense pages of code instead of scattered ones, each
                //   mapped with its neighbours (peak RSS of `code USER` 10.1 MB -> 7.6 MB). Names the
                //   list has and the binary lacks are skipped: a stale list costs locality only.
                // libcrypt, libqrencode and zlib stay shared and are opened on first use (dlopen),
                // so a command that neither hashes nor draws a QR never maps them. SQLite inside
                // the binary means a rebuild after a libsqlite3 security update (README); twofa
                // runs only its own SQL on files it has checked are the user's own, which keeps
                // that exposure low.
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                        "-L", Context.packageDirectory + "/Sources/twofa/StaticRuntime",
                        "-Xlinker", "--no-export-dynamic", "-Xlinker", "--as-needed",
                        "-Xlinker", "--symbol-ordering-file=" + Context.packageDirectory + "/linker/startup-order.txt",
                        "-Xlinker", "--no-warn-symbol-ordering",
                    ], .when(configuration: .release)),
            ]
        ),

        // The options of `twofa serve`, and the server's configuration: shared by twofa (help,
        // completions) and twofa-serve (parsing), with nothing of NIO.
        .target(
            name: "TwofaServeOptions",
            dependencies: [
                "TwofaAccounts", "TwofaDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "TwofaServer",
            dependencies: [
                "TwofaAccounts", "TwofaDomain", "TwofaServeOptions",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // The API's contract, served at /openapi.json and checked against the routes.
            resources: [.embedInCode("openapi.json")]
        ),
        .executableTarget(
            name: "twofa-serve",
            dependencies: [
                "TwofaServer", "TwofaServeOptions", "TwofaDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(
            name: "TwofaDomainTests",
            dependencies: ["TwofaDomain", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "TwofaServerTests", dependencies: ["TwofaServer"]),
        .testTarget(name: "TwofaAccountsTests", dependencies: ["TwofaAccounts", "TwofaStorage", "TwofaDomain"]),
        .testTarget(
            name: "TwofaCLITests",
            dependencies: [
                // The binaries under test when TWOFA_BIN is not set: built beside the tests.
                "twofa", "twofa-serve", "TwofaDomain", "TwofaStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // A version-1 database and its key file, opened by the migration test.
            exclude: ["Fixtures"]),
    ]
)
