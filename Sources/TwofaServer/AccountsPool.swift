import NIOPosix
import Synchronization
import TwofaAccounts
import TwofaDomain

/// The use cases, off the event loop. Each `Accounts` holds its own database connection, used
/// by one thread at a time: a lease takes one from the free list (or opens another) and gives
/// it back after the call; one that failed with a storage error is dropped (its connection
/// may be broken: a PostgreSQL failover), and the next lease opens a fresh one.
///
/// Two thread pools: password hashing (register, login, password, disable, backup codes) on
/// one, everything else (the session check of every authenticated request) on the other, so a
/// burst of logins never queues `/me` behind it.
final class AccountsPool: Sendable {
    enum Lane {
        /// crypt(3) runs here: tens of milliseconds each.
        case hashing
        /// Reads and small writes: microseconds.
        case quick
    }

    private let environment: AccountsEnvironment
    private let free = Mutex<[Accounts.Lease]>([])
    private let hashing: NIOThreadPool
    private let quick: NIOThreadPool

    init(environment: AccountsEnvironment, hashingThreads: Int, quickThreads: Int) {
        self.environment = environment
        hashing = NIOThreadPool(numberOfThreads: hashingThreads)
        quick = NIOThreadPool(numberOfThreads: quickThreads)
        hashing.start()
        quick.start()
    }

    func shutdown() async {
        try? await hashing.shutdownGracefully()
        try? await quick.shutdownGracefully()
    }

    /// Runs `body` with an `Accounts` of its own on the lane's threads.
    func run<T: Sendable>(_ lane: Lane, _ body: @escaping @Sendable (Accounts) throws(TwofaError) -> T) async throws(TwofaError)
        -> T
    {
        let pool = lane == .hashing ? hashing : quick
        let result: Result<T, TwofaError>
        do {
            result = try await pool.runIfActive { [self] in
                let lease = free.withLock { $0.popLast() } ?? Accounts.Lease(Accounts(environment: environment))
                do throws(TwofaError) {
                    let value = try body(lease.accounts)
                    free.withLock { $0.append(lease) }
                    return .success(value)
                } catch {
                    if error.exitCode != 74 { free.withLock { $0.append(lease) } }
                    return .failure(error)
                }
            }
        } catch {
            throw .storage(path: environment.databaseForMessages, reason: "the server is shutting down")
        }
        return try result.get()
    }

    /// Runs `body` once on this thread, with an `Accounts` kept for later (the start-up checks).
    func runHere<T>(_ body: (Accounts) throws(TwofaError) -> T) throws(TwofaError) -> T {
        let lease = Accounts.Lease(Accounts(environment: environment))
        let value = try body(lease.accounts)
        free.withLock { $0.append(lease) }
        return value
    }
}

extension Accounts {
    /// An `Accounts` handed between threads, one at a time (the pool's lock orders the handing).
    final class Lease: @unchecked Sendable {
        let accounts: Accounts
        init(_ accounts: Accounts) { self.accounts = accounts }
    }
}
