import TwofaDomain

/// The HTTP API's sessions, tokens and signing keys in PostgreSQL.
extension PostgreSQLAccountStore {
    public func insertSession(_ session: SessionRecord, refreshDigest: [UInt8]) throws(TwofaError) {
        try connection.run("DELETE FROM twofa.sessions WHERE expires_at <= $1", [.integer(session.createdAt)])
        try connection.run("DELETE FROM twofa.login_tokens WHERE expires_at <= $1", [.integer(session.createdAt)])
        try connection.run(
            "INSERT INTO twofa.sessions (id, user_id, methods, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            [
                .text(session.id), .integer(session.userID), .text(session.methods), .integer(session.createdAt),
                .integer(session.expiresAt),
            ])
        try connection.run(
            "INSERT INTO twofa.refresh_tokens (digest, session_id) VALUES ($1, $2)",
            [.bytes(refreshDigest), .text(session.id)])
    }

    private func sessionRecord(_ rows: PGRows) -> SessionRecord {
        SessionRecord(
            id: rows.text(0, 0), userID: rows.int64(0, 1), user: rows.text(0, 2), methods: rows.text(0, 3),
            createdAt: rows.int64(0, 4), expiresAt: rows.int64(0, 5))
    }

    public func session(id: String) throws(TwofaError) -> SessionRecord? {
        let rows = try connection.runPrepared(
            """
            SELECT s.id, s.user_id, u.name, s.methods, s.created_at, s.expires_at,
                   u.created_at, u.last_login_at, t.status
            FROM twofa.sessions s JOIN twofa.users u ON u.id = s.user_id LEFT JOIN twofa.totp t ON t.user_id = u.id
            WHERE s.id = $1
            """, [.text(id)])
        guard !rows.rows.isEmpty else { return nil }
        var record = sessionRecord(rows)
        record.account = (
            rows.int64(0, 6), rows.optionalInt64(0, 7),
            rows.optionalText(0, 8).flatMap(TwoFactorState.init(rawValue:)) ?? .off
        )
        return record
    }

    public func refreshToken(digest: [UInt8]) throws(TwofaError) -> RefreshTokenRecord? {
        let rows = try connection.run(
            """
            SELECT s.id, s.user_id, u.name, s.methods, s.created_at, s.expires_at, r.used_at
            FROM twofa.refresh_tokens r JOIN twofa.sessions s ON s.id = r.session_id
            JOIN twofa.users u ON u.id = s.user_id
            WHERE r.digest = $1
            """, [.bytes(digest)])
        guard !rows.rows.isEmpty else { return nil }
        return RefreshTokenRecord(session: sessionRecord(rows), usedAt: rows.optionalInt64(0, 6))
    }

    public func rotateRefreshToken(digest: [UInt8], next: [UInt8], sessionID: String, at time: Int64) throws(TwofaError) {
        try connection.run("UPDATE twofa.refresh_tokens SET used_at = $1 WHERE digest = $2", [.integer(time), .bytes(digest)])
        try connection.run(
            "INSERT INTO twofa.refresh_tokens (digest, session_id) VALUES ($1, $2)", [.bytes(next), .text(sessionID)])
    }

    public func deleteSession(id: String) throws(TwofaError) {
        try connection.run("DELETE FROM twofa.sessions WHERE id = $1", [.text(id)])
    }

    public func deleteSessions(userID: Int64, except: String?) throws(TwofaError) {
        try connection.run(
            "DELETE FROM twofa.sessions WHERE user_id = $1 AND ($2::text IS NULL OR id <> $2)",
            [.integer(userID), except.map { .text($0) } ?? .null])
        try connection.run("DELETE FROM twofa.login_tokens WHERE user_id = $1", [.integer(userID)])
    }

    public func insertLoginToken(digest: [UInt8], userID: Int64, expiresAt: Int64) throws(TwofaError) {
        try connection.run(
            "INSERT INTO twofa.login_tokens (digest, user_id, expires_at) VALUES ($1, $2, $3)",
            [.bytes(digest), .integer(userID), .integer(expiresAt)])
    }

    public func loginToken(digest: [UInt8]) throws(TwofaError) -> LoginTokenRecord? {
        let rows = try connection.run(
            """
            SELECT l.user_id, u.name, l.expires_at, l.failures, l.used_at
            FROM twofa.login_tokens l JOIN twofa.users u ON u.id = l.user_id WHERE l.digest = $1
            """, [.bytes(digest)])
        guard !rows.rows.isEmpty else { return nil }
        return LoginTokenRecord(
            userID: rows.int64(0, 0), user: rows.text(0, 1), expiresAt: rows.int64(0, 2),
            failures: Int(rows.int64(0, 3)), usedAt: rows.optionalInt64(0, 4))
    }

    public func updateLoginToken(digest: [UInt8], failures: Int, usedAt: Int64?) throws(TwofaError) {
        try connection.run(
            "UPDATE twofa.login_tokens SET failures = $1, used_at = $2 WHERE digest = $3",
            [.int(failures), usedAt.map { .integer($0) } ?? .null, .bytes(digest)])
    }

    public func signingKeys() throws(TwofaError) -> [SigningKeyRecord] {
        // A database still at schema 3 (read by a read-only command, which never migrates).
        guard try connection.run("SELECT to_regclass('twofa.signing_keys') IS NOT NULL").text(0, 0) == "t" else { return [] }
        let rows = try connection.run(
            "SELECT kid, sealed_key, public_key, created_at FROM twofa.signing_keys ORDER BY created_at, kid")
        return rows.rows.indices.map { index in
            SigningKeyRecord(
                kid: rows.text(index, 0), sealedPrivateKey: rows.bytes(index, 1), publicKey: rows.bytes(index, 2),
                createdAt: rows.int64(index, 3))
        }
    }

    public func insertSigningKey(_ key: SigningKeyRecord) throws(TwofaError) {
        try connection.run(
            "INSERT INTO twofa.signing_keys (kid, sealed_key, public_key, created_at) VALUES ($1, $2, $3, $4)",
            [.text(key.kid), .bytes(key.sealedPrivateKey), .bytes(key.publicKey), .integer(key.createdAt)])
    }

    public func sealedValues() throws(TwofaError) -> [SealedValue] {
        let rows = try connection.run(
            "SELECT u.id, u.name, t.sealed_secret FROM twofa.totp t JOIN twofa.users u ON u.id = t.user_id ORDER BY u.id")
        var values = rows.rows.indices.map { index in
            SealedValue(owner: .user(id: rows.int64(index, 0), name: rows.text(index, 1)), sealed: rows.bytes(index, 2))
        }
        for key in try signingKeys() {
            values.append(SealedValue(owner: .signingKey(kid: key.kid), sealed: key.sealedPrivateKey))
        }
        return values
    }

    /// One statement a value: a rotation of many thousands costs a round trip each (inside
    /// one transaction), which keeps it simple; `rekey` is rare.
    public func updateSealedValue(_ value: SealedValue) throws(TwofaError) {
        switch value.owner {
        case .user(let id, _):
            try connection.runPrepared(
                "UPDATE twofa.totp SET sealed_secret = $1 WHERE user_id = $2", [.bytes(value.sealed), .integer(id)])
        case .signingKey(let kid):
            try connection.runPrepared(
                "UPDATE twofa.signing_keys SET sealed_key = $1 WHERE kid = $2", [.bytes(value.sealed), .text(kid)])
        }
    }
}
