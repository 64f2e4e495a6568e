import TwofaDomain

/// The HTTP API's sessions, tokens and signing keys in the SQLite file.
extension SQLiteAccountStore {
    public func insertSession(_ session: SessionRecord, refreshDigest: [UInt8]) throws(TwofaError) {
        try connection.prepare("DELETE FROM sessions WHERE expires_at <= ?").bind(.integer(session.createdAt)).run()
        try connection.prepare("DELETE FROM login_tokens WHERE expires_at <= ?").bind(.integer(session.createdAt)).run()
        try connection.prepare(
            "INSERT INTO sessions (id, user_id, methods, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"
        ).bind(
            .text(session.id), .integer(session.userID), .text(session.methods), .integer(session.createdAt),
            .integer(session.expiresAt)
        ).run()
        try connection.prepare("INSERT INTO refresh_tokens (digest, session_id) VALUES (?, ?)")
            .bind(.blob(refreshDigest), .text(session.id)).run()
    }

    private func sessionRecord(_ statement: SQLiteStatement) -> SessionRecord {
        SessionRecord(
            id: statement.text(0), userID: statement.int64(1), user: statement.text(2), methods: statement.text(3),
            createdAt: statement.int64(4), expiresAt: statement.int64(5))
    }

    public func session(id: String) throws(TwofaError) -> SessionRecord? {
        let statement = try connection.cached("""
            SELECT s.id, s.user_id, u.name, s.methods, s.created_at, s.expires_at,
                   u.created_at, u.last_login_at, t.status
            FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN totp t ON t.user_id = u.id
            WHERE s.id = ?
            """)
        defer { statement.done() }
        try statement.bind(.text(id))
        guard try statement.step() else { return nil }
        var record = sessionRecord(statement)
        record.account = (
            statement.int64(6), statement.optionalInt64(7),
            statement.optionalText(8).flatMap(TwoFactorState.init(rawValue:)) ?? .off
        )
        return record
    }

    public func refreshToken(digest: [UInt8]) throws(TwofaError) -> RefreshTokenRecord? {
        let statement = try connection.prepare("""
            SELECT s.id, s.user_id, u.name, s.methods, s.created_at, s.expires_at, r.used_at
            FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
            WHERE r.digest = ?
            """)
        try statement.bind(.blob(digest))
        guard try statement.step() else { return nil }
        return RefreshTokenRecord(session: sessionRecord(statement), usedAt: statement.optionalInt64(6))
    }

    public func rotateRefreshToken(digest: [UInt8], next: [UInt8], sessionID: String, at time: Int64) throws(TwofaError) {
        try connection.prepare("UPDATE refresh_tokens SET used_at = ? WHERE digest = ?")
            .bind(.integer(time), .blob(digest)).run()
        try connection.prepare("INSERT INTO refresh_tokens (digest, session_id) VALUES (?, ?)")
            .bind(.blob(next), .text(sessionID)).run()
    }

    public func deleteSession(id: String) throws(TwofaError) {
        try connection.prepare("DELETE FROM sessions WHERE id = ?").bind(.text(id)).run()
    }

    public func deleteSessions(userID: Int64, except: String?) throws(TwofaError) {
        try connection.prepare("DELETE FROM sessions WHERE user_id = ? AND (?2 IS NULL OR id <> ?2)")
            .bind(.integer(userID), except.map { .text($0) }).run()
        try connection.prepare("DELETE FROM login_tokens WHERE user_id = ?").bind(.integer(userID)).run()
    }

    public func insertLoginToken(digest: [UInt8], userID: Int64, expiresAt: Int64) throws(TwofaError) {
        try connection.prepare("INSERT INTO login_tokens (digest, user_id, expires_at) VALUES (?, ?, ?)")
            .bind(.blob(digest), .integer(userID), .integer(expiresAt)).run()
    }

    public func loginToken(digest: [UInt8]) throws(TwofaError) -> LoginTokenRecord? {
        let statement = try connection.prepare("""
            SELECT l.user_id, u.name, l.expires_at, l.failures, l.used_at
            FROM login_tokens l JOIN users u ON u.id = l.user_id WHERE l.digest = ?
            """)
        try statement.bind(.blob(digest))
        guard try statement.step() else { return nil }
        return LoginTokenRecord(
            userID: statement.int64(0), user: statement.text(1), expiresAt: statement.int64(2),
            failures: Int(statement.int64(3)), usedAt: statement.optionalInt64(4))
    }

    public func updateLoginToken(digest: [UInt8], failures: Int, usedAt: Int64?) throws(TwofaError) {
        try connection.prepare("UPDATE login_tokens SET failures = ?, used_at = ? WHERE digest = ?")
            .bind(.int(failures), usedAt.map { .integer($0) }, .blob(digest)).run()
    }

    public func signingKeys() throws(TwofaError) -> [SigningKeyRecord] {
        // A database still at schema 3 (read by a read-only command, which never migrates).
        let exists = try connection.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'signing_keys'")
        guard try exists.step(), exists.int64(0) == 1 else { return [] }
        let statement = try connection.prepare(
            "SELECT kid, sealed_key, public_key, created_at FROM signing_keys ORDER BY created_at, kid")
        var keys: [SigningKeyRecord] = []
        while try statement.step() {
            keys.append(SigningKeyRecord(
                kid: statement.text(0), sealedPrivateKey: statement.blob(1), publicKey: statement.blob(2),
                createdAt: statement.int64(3)))
        }
        return keys
    }

    public func insertSigningKey(_ key: SigningKeyRecord) throws(TwofaError) {
        try connection.prepare("INSERT INTO signing_keys (kid, sealed_key, public_key, created_at) VALUES (?, ?, ?, ?)")
            .bind(.text(key.kid), .blob(key.sealedPrivateKey), .blob(key.publicKey), .integer(key.createdAt)).run()
    }

    public func sealedValues() throws(TwofaError) -> [SealedValue] {
        var values: [SealedValue] = []
        let secrets = try connection.prepare(
            "SELECT u.id, u.name, t.sealed_secret FROM totp t JOIN users u ON u.id = t.user_id ORDER BY u.id")
        while try secrets.step() {
            values.append(SealedValue(owner: .user(id: secrets.int64(0), name: secrets.text(1)), sealed: secrets.blob(2)))
        }
        for key in try signingKeys() {
            values.append(SealedValue(owner: .signingKey(kid: key.kid), sealed: key.sealedPrivateKey))
        }
        return values
    }

    public func updateSealedValue(_ value: SealedValue) throws(TwofaError) {
        switch value.owner {
        case .user(let id, _):
            try connection.prepare("UPDATE totp SET sealed_secret = ? WHERE user_id = ?")
                .bind(.blob(value.sealed), .integer(id)).run()
        case .signingKey(let kid):
            try connection.prepare("UPDATE signing_keys SET sealed_key = ? WHERE kid = ?")
                .bind(.blob(value.sealed), .text(kid)).run()
        }
    }
}
