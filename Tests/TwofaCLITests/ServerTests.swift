import Foundation
import Testing

/// `twofa serve` end to end: the binary under test, a real HTTP client (curl), real crypto and
/// the real store (SQLite, or PostgreSQL in the second pass). Each row of http.md's endpoint
/// table, the token rules, lockout, errors, CORS, signals and ports.
@Suite(.serialized) struct ServerTests {
    let password = defaultPassword

    /// A user registered with the CLI and signed in through the API: the token pair.
    func signIn(_ server: ServerProcess, _ user: String, password: String = defaultPassword) throws -> (access: String, refresh: String) {
        let reply = try server.call("POST", "/api/v1/auth/login", json: ["username": user, "password": password])
        #expect(reply.status == 200, "login: \(reply.text)")
        return (reply["access_token"] ?? "", reply["refresh_token"] ?? "")
    }

    /// Enrols and activates 2FA through the API; answers the secret and the backup codes.
    func enableTwoFactor(_ server: ServerProcess, token: String) throws -> (secret: String, backupCodes: [String]) {
        let setup = try server.call("POST", "/api/v1/2fa/setup", token: token)
        #expect(setup.status == 200, "setup: \(setup.text)")
        let secret = setup["secret"] ?? ""
        waitForFreshStep()
        let verify = try server.call("POST", "/api/v1/2fa/verify", json: ["code": try oathtool(secret: secret, at: now())], token: token)
        #expect(verify.status == 200 && verify.json["activated"] as? Bool == true, "verify: \(verify.text)")
        return (secret, verify.json["backup_codes"] as? [String] ?? [])
    }

    @Test func theWholeFlowAsTheREADMEShowsIt() throws {
        let box = try Sandbox()
        let server = try ServerProcess(box, ["--allow-signup", "--issuer", "Example"])
        let registered = try server.call(
            "POST", "/api/v1/auth/register", json: ["username": "Alice", "password": password])
        #expect(registered.status == 201)
        #expect(registered["user"] == "alice" && registered.json["created"] as? Bool == true)
        // 2FA off: the password alone signs in, amr pwd.
        var tokens = try signIn(server, "alice")
        let me = try server.call("GET", "/api/v1/users/me", token: tokens.access)
        #expect(me.status == 200 && me["user"] == "alice" && me["two_factor"] == "off", "\(me.text)")
        #expect(me.json["amr"] as? [String] == ["pwd"] && me["last_login_at"] != nil)
        // Enrolment: the QR image holds the same URI (zbarimg reads it), in PNG and SVG.
        let setup = try server.call("POST", "/api/v1/2fa/setup", json: ["digits": 8], token: tokens.access)
        #expect(setup.status == 200 && setup["status"] == "pending" && setup.json["digits"] as? Int == 8, "\(setup.text)")
        let png = try server.call("GET", "/api/v1/2fa/qrcode", token: tokens.access)
        #expect(png.status == 200 && png.headers["content-type"] == "image/png")
        let image = box.folder.appendingPathComponent("qr.png")
        try png.body.write(to: image)
        let scanned = try runProcess("/usr/bin/zbarimg", ["-q", "--raw", image.path])
        #expect(scanned.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == setup["otpauth_uri"])
        let svg = try server.call("GET", "/api/v1/2fa/qrcode?format=svg", token: tokens.access)
        #expect(svg.status == 200 && svg.headers["content-type"] == "image/svg+xml" && svg.text.contains("<svg"))
        #expect(png.headers["cache-control"] == "no-store")
        // A new setup replaces the pending one; the first right code activates it.
        let (secret, backupCodes) = try enableTwoFactor(server, token: tokens.access)
        #expect(backupCodes.count == 10)
        // 2FA on: the password step gives a login token, the code step the pair.
        let first = try server.call("POST", "/api/v1/auth/login", json: ["username": "alice", "password": password])
        #expect(first.status == 200 && first.json["two_factor_required"] as? Bool == true, "\(first.text)")
        #expect(first.json["access_token"] == nil)
        let loginToken = first["login_token"] ?? ""
        let noCode = try server.call("POST", "/api/v1/auth/login/2fa", json: ["login_token": loginToken])
        #expect(noCode.status == 401 && noCode.errorCode == "second_factor_required")
        waitForFreshStep()
        // The next step's code (the activation used this step's).
        let done = try server.call(
            "POST", "/api/v1/auth/login/2fa", json: ["login_token": loginToken, "code": try oathtool(secret: secret, at: now() + 30)])
        #expect(done.status == 200 && done["second_factor"] == "totp", "\(done.text)")
        tokens = (done["access_token"] ?? "", done["refresh_token"] ?? "")
        let again = try server.call("POST", "/api/v1/auth/login/2fa", json: ["login_token": loginToken, "code": "123456"])
        #expect(again.status == 401 && again.errorCode == "invalid_token", "a login token is single use")
        let me2 = try server.call("GET", "/api/v1/users/me", token: tokens.access)
        #expect(me2["two_factor"] == "on" && me2.json["amr"] as? [String] == ["pwd", "otp"])
        // Refresh: a new pair, same session and amr; the old refresh token is used up.
        let refreshed = try server.call("POST", "/api/v1/auth/refresh", json: ["refresh_token": tokens.refresh])
        #expect(refreshed.status == 200 && refreshed["refresh_token"] != tokens.refresh)
        let newAccess = refreshed["access_token"] ?? ""
        #expect(try server.call("GET", "/api/v1/users/me", token: newAccess).json["amr"] as? [String] == ["pwd", "otp"])
        // Logout ends the session: both access tokens of it stop at once.
        let logout = try server.call("POST", "/api/v1/auth/logout", token: newAccess)
        #expect(logout.status == 204 && logout.body.isEmpty)
        for token in [newAccess, tokens.access] {
            let dead = try server.call("GET", "/api/v1/users/me", token: token)
            #expect(dead.status == 401 && dead.errorCode == "invalid_token" && dead.headers["www-authenticate"] == "Bearer")
        }
        let afterLogout = try server.call("POST", "/api/v1/auth/refresh", json: ["refresh_token": refreshed["refresh_token"] ?? ""])
        #expect(afterLogout.status == 401)
        // A backup code completes a login too, once.
        let step = try server.call("POST", "/api/v1/auth/login", json: ["username": "alice", "password": password])
        let backup = try server.call(
            "POST", "/api/v1/auth/login/2fa", json: ["login_token": step["login_token"] ?? "", "code": backupCodes[0]])
        #expect(backup.status == 200 && backup["second_factor"] == "backup_code", "\(backup.text)")
        let access = backup["access_token"] ?? ""
        // New backup codes, then disable: password and a code (a backup code here).
        let codes = try server.call(
            "POST", "/api/v1/2fa/backup-codes", json: ["password": password, "code": backupCodes[1]], token: access)
        #expect(codes.status == 200 && (codes.json["backup_codes"] as? [String])?.count == 10, "\(codes.text)")
        let fresh = codes.json["backup_codes"] as? [String] ?? []
        let noCodeDisable = try server.call("POST", "/api/v1/2fa/disable", json: ["password": password], token: access)
        #expect(noCodeDisable.status == 401 && noCodeDisable.errorCode == "second_factor_required")
        let oldCode = try server.call(
            "POST", "/api/v1/2fa/disable", json: ["password": password, "code": backupCodes[2]], token: access)
        #expect(oldCode.status == 401, "the old set stopped working")
        // A second session (a new backup code), which disabling 2FA from the first ends.
        let otherStep = try server.call("POST", "/api/v1/auth/login", json: ["username": "alice", "password": password])
        let other = try server.call(
            "POST", "/api/v1/auth/login/2fa", json: ["login_token": otherStep["login_token"] ?? "", "code": fresh[1]])
        #expect(other.status == 200)
        let disabled = try server.call(
            "POST", "/api/v1/2fa/disable", json: ["password": password, "code": fresh[0]], token: access)
        #expect(disabled.status == 200 && disabled["two_factor"] == "off", "\(disabled.text)")
        #expect(try server.call("GET", "/api/v1/users/me", token: access)["two_factor"] == "off")
        #expect(try server.call("GET", "/api/v1/users/me", token: other["access_token"]).status == 401)
        let none = try server.call("GET", "/api/v1/2fa/qrcode", token: access)
        #expect(none.status == 409 && none.errorCode == "wrong_state")
        // The CLI sees what the API did: the same database.
        let shown = try box.run(["show", "alice", "--json"])
        #expect(shown.json["two_factor"] as? String == "off" || shown.json["two_factor"] as? Bool == false, "\(shown.stdout)")
        #expect(server.stop() == 0)
    }

    /// The README's curl session, run as written (bash, curl, jq), against the server its
    /// "Start it" block starts, on the port it names.
    @Test func theREADMECurlSessionRunsAsWritten() throws {
        let readme = try String(contentsOf: DocsTests.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "### A session with curl").dropFirst().first)
        let block = try #require(section.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first)
        let start = try #require(readme.components(separatedBy: "### Start it").dropFirst().first)
        #expect(start.contains("twofa serve --allow-signup\n"))
        let box = try Sandbox()
        let server = try ServerProcess(box, ["--allow-signup"], listen: "127.0.0.1:8080")
        #expect(server.port == 8080)
        var environment = box.environment
        environment["PATH"] = Sandbox.binary.deletingLastPathComponent().path + ":/usr/bin:/bin"
        let script = box.folder.appendingPathComponent("session.sh")
        try ("set -euo pipefail\ncd " + box.folder.path + "\n" + block).write(to: script, atomically: true, encoding: .utf8)
        let result = try runProcess("/bin/bash", [script.path], environment: environment)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == #"{"user":"alice","created":true}"#, "\(lines)")
        #expect(lines.contains(#"["pwd","otp"]"#) && lines.contains("204") && lines.last == "invalid_token", "\(lines)")
        #expect(lines.contains { $0.hasPrefix("otpauth://totp/") && $0.contains(":alice?secret=") })
        #expect(lines.contains { $0.hasPrefix(#"{"valid":true,"activated":true,"backup_codes":["#) })
        let image = try runProcess("/usr/bin/zbarimg", ["-q", "--raw", box.folder.appendingPathComponent("qr.png").path])
        #expect(image.stdout.hasPrefix("otpauth://totp/"))
        #expect(server.stop() == 0)
    }

    @Test func signupRulesAndBodyErrors() throws {
        let box = try Sandbox()
        let closed = try ServerProcess(box)
        let refused = try closed.call("POST", "/api/v1/auth/register", json: ["username": "bob", "password": password])
        #expect(refused.status == 403 && refused.errorCode == "signup_closed")
        #expect(closed.stop() == 0)
        let server = try ServerProcess(box, ["--allow-signup"])
        let cases: [(String, Int, String)] = [
            ("not json", 400, "invalid_request"),
            (#"{"username": "bob"}"#, 400, "invalid_request"),
            (#"{"username": 7, "password": "x"}"#, 400, "invalid_request"),
            (#"["bob"]"#, 400, "invalid_request"),
            (#"{"username": "bob", "password": "short"}"#, 422, "weak_password"),
            (#"{"username": "-bob", "password": "a long passphrase 42"}"#, 422, "invalid_username"),
            (#"{"username": "bob", "password": "a long passphrase 42", "enable_2fa": "yes"}"#, 400, "invalid_request"),
        ]
        for (body, status, code) in cases {
            let reply = try server.call("POST", "/api/v1/auth/register", body: body, headers: ["Content-Type": "application/json"])
            #expect(reply.status == status && reply.errorCode == code, "\(body): \(reply.status) \(reply.text)")
        }
        #expect(try box.run(["list", "--json"]).stdout.contains("bob") == false, "bad bodies change nothing")
        let made = try server.call(
            "POST", "/api/v1/auth/register", json: ["username": "bob", "password": password, "enable_2fa": true])
        #expect(made.status == 201 && made["status"] == "pending" && made["otpauth_uri"]?.hasPrefix("otpauth://totp/") == true)
        let taken = try server.call("POST", "/api/v1/auth/register", json: ["username": "BOB", "password": password])
        #expect(taken.status == 409 && taken.errorCode == "user_exists")
        // The OAuth2 password form FastAPI clients send.
        let form = try server.call(
            "POST", "/api/v1/auth/login", body: "username=bob&password=a+long+passphrase+42",
            headers: ["Content-Type": "application/x-www-form-urlencoded"])
        #expect(form.status == 200 && form["access_token"] != nil, "\(form.text)")
        // Setup rules: 422 for values out of range, 400 for a wrong type.
        let access = form["access_token"] ?? ""
        let digits = try server.call("POST", "/api/v1/2fa/setup", json: ["digits": 7], token: access)
        #expect(digits.status == 422, "\(digits.text)")
        let period = try server.call("POST", "/api/v1/2fa/setup", body: #"{"period": "thirty"}"#, token: access)
        #expect(period.status == 400)
        let format = try server.call("GET", "/api/v1/2fa/qrcode?format=gif", token: access)
        #expect(format.status == 422)
        #expect(server.stop() == 0)
    }

    @Test func routingBodyLimitAndCORS() throws {
        let box = try Sandbox()
        let server = try ServerProcess(box, ["--cors-origin", "https://app.example.com"])
        let missing = try server.call("GET", "/api/v1/nothing")
        #expect(missing.status == 404 && missing.errorCode == "not_found" && missing.headers["content-type"] == "application/json")
        let wrong = try server.call("DELETE", "/api/v1/users/me")
        #expect(wrong.status == 405 && wrong.errorCode == "method_not_allowed" && wrong.headers["allow"] == "GET")
        let large = String(repeating: "x", count: 70 * 1024)
        let tooLarge = try server.call("POST", "/api/v1/auth/login", body: large, headers: ["Content-Type": "application/json"])
        #expect(tooLarge.status == 413 && tooLarge.errorCode == "payload_too_large", "\(tooLarge.text)")
        let chunked = try server.call(
            "POST", "/api/v1/auth/login", body: large,
            headers: ["Content-Type": "application/json", "Transfer-Encoding": "chunked"])
        #expect(chunked.status == 413, "without Content-Length: \(chunked.status)")
        // CORS: a preflight from the allowed origin, never '*'; nothing for another origin.
        let preflight = try server.call(
            "OPTIONS", "/api/v1/auth/login",
            headers: ["Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"])
        #expect(preflight.status == 204)
        #expect(preflight.headers["access-control-allow-origin"] == "https://app.example.com")
        #expect(preflight.headers["access-control-allow-methods"] == "GET, POST, PUT")
        #expect(preflight.headers["access-control-allow-headers"] == "Authorization, Content-Type")
        #expect(preflight.headers["vary"] == "Origin" && preflight.headers["access-control-allow-credentials"] == nil)
        let other = try server.call(
            "OPTIONS", "/api/v1/auth/login", headers: ["Origin": "https://evil.example", "Access-Control-Request-Method": "POST"])
        #expect(other.headers["access-control-allow-origin"] == nil && other.status == 405)
        let ordinary = try server.call("GET", "/healthz", headers: ["Origin": "https://app.example.com"])
        #expect(ordinary.status == 200 && ordinary.headers["access-control-allow-origin"] == "https://app.example.com")
        #expect(try server.call("GET", "/healthz", headers: ["Origin": "https://evil.example"]).headers["access-control-allow-origin"] == nil)
        #expect(server.stop() == 0)
    }

    @Test func tokenRules() throws {
        let box = try Sandbox()
        try box.register("carol")
        let server = try ServerProcess(box, ["--access-ttl", "2"])
        let tokens = try signIn(server, "carol")
        #expect(try server.call("GET", "/api/v1/users/me", token: tokens.access).status == 200)
        // Tampering: a changed payload or signature, a token without a signature, alg none.
        let parts = tokens.access.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        var payload = (try? JSONSerialization.jsonObject(with: base64URLDecode(parts[1]))) as? [String: Any] ?? [:]
        payload["sub"] = "mallory"
        let forged = parts[0] + "." + base64URLEncode(try JSONSerialization.data(withJSONObject: payload)) + "." + parts[2]
        let none = base64URLEncode(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + parts[1] + "."
        var flipped = Array(parts[2])
        flipped[5] = flipped[5] == "A" ? "B" : "A"
        for bad in [forged, none, parts[0] + "." + parts[1] + "." + String(flipped), parts[0] + "." + parts[1], "garbage", ""] {
            let reply = try server.call("GET", "/api/v1/users/me", headers: ["Authorization": "Bearer \(bad)"])
            #expect(reply.status == 401 && reply.errorCode == "invalid_token", "\(bad)")
        }
        #expect(try server.call("GET", "/api/v1/users/me").status == 401, "no token")
        // Expiry, with no leeway: refused from its exp second (waiting on the clock, not a guess).
        let exp = (payload["exp"] as? Int64) ?? Int64(payload["exp"] as? Int ?? 0)
        while now() < exp { usleep(50_000) }
        let expired = try server.call("GET", "/api/v1/users/me", token: tokens.access)
        #expect(expired.status == 401 && expired.errorCode == "invalid_token")
        // The refresh token still works; used twice, it revokes the whole session.
        let first = try server.call("POST", "/api/v1/auth/refresh", json: ["refresh_token": tokens.refresh])
        #expect(first.status == 200 && first.json["expires_in"] as? Int == 2)
        let stolen = try server.call("POST", "/api/v1/auth/refresh", json: ["refresh_token": tokens.refresh])
        #expect(stolen.status == 401 && stolen.errorCode == "invalid_token")
        let victim = try server.call("GET", "/api/v1/users/me", token: first["access_token"])
        #expect(victim.status == 401, "reuse revoked every token of the login")
        let next = try server.call("POST", "/api/v1/auth/refresh", json: ["refresh_token": first["refresh_token"] ?? ""])
        #expect(next.status == 401)
        #expect(try box.run(["audit", "--user", "carol", "--json"]).stdout.contains("revoke"))
        #expect(server.stop() == 0)
    }

    @Test func sessionsEndWithPasswordChangesDisableAndDelete() throws {
        let box = try Sandbox()
        try box.register("dave")
        let server = try ServerProcess(box)
        let a = try signIn(server, "dave")
        let b = try signIn(server, "dave")
        let wrongOld = try server.call(
            "POST", "/api/v1/auth/password", json: ["old_password": "not it at all", "new_password": "another long phrase 7"],
            token: a.access)
        #expect(wrongOld.status == 401 && wrongOld.errorCode == "authentication_failed")
        let weak = try server.call("POST", "/api/v1/auth/password", json: ["old_password": password, "new_password": "short"], token: a.access)
        #expect(weak.status == 422)
        let changed = try server.call(
            "POST", "/api/v1/auth/password", json: ["old_password": password, "new_password": "another long phrase 7"],
            token: a.access)
        #expect(changed.status == 200 && changed.json["password_changed"] as? Bool == true)
        #expect(try server.call("GET", "/api/v1/users/me", token: a.access).status == 200, "the caller's session goes on")
        #expect(try server.call("GET", "/api/v1/users/me", token: b.access).status == 401, "every other session ends")
        #expect(try server.call("POST", "/api/v1/auth/refresh", json: ["refresh_token": b.refresh]).status == 401)
        let old = try server.call("POST", "/api/v1/auth/login", json: ["username": "dave", "password": password])
        #expect(old.status == 401)
        // The operator's commands end every session at once.
        let c = try signIn(server, "dave", password: "another long phrase 7")
        #expect(try box.run(["passwd", "dave", "--force", "--password-stdin"], stdin: "third long phrase 99\n").status == 0)
        #expect(try server.call("GET", "/api/v1/users/me", token: a.access).status == 401)
        #expect(try server.call("GET", "/api/v1/users/me", token: c.access).status == 401)
        let d = try signIn(server, "dave", password: "third long phrase 99")
        _ = try enableTwoFactor(server, token: d.access)
        #expect(try box.run(["disable", "dave", "--force"]).status == 0)
        #expect(try server.call("GET", "/api/v1/users/me", token: d.access).status == 401)
        let e = try signIn(server, "dave", password: "third long phrase 99")
        #expect(try box.run(["delete", "dave"]).status == 0)
        let gone = try server.call("GET", "/api/v1/users/me", token: e.access)
        #expect(gone.status == 401 && gone.errorCode == "invalid_token")
        #expect(server.stop() == 0)
    }

    @Test func lockoutAndUnknownUsers() throws {
        let box = try Sandbox()
        try box.register("erin")
        let server = try ServerProcess(box)
        var answers: [String] = []
        for _ in 0..<5 {
            let wrong = try server.call("POST", "/api/v1/auth/login", json: ["username": "erin", "password": "wrong wrong wrong"])
            #expect(wrong.status == 401 && wrong.errorCode == "authentication_failed")
            answers.append(wrong.text)
            let unknown = try server.call("POST", "/api/v1/auth/login", json: ["username": "nobody", "password": "wrong wrong wrong"])
            #expect(unknown.status == wrong.status && unknown.text == wrong.text, "an unknown user answers as a wrong password")
        }
        for name in ["erin", "nobody"] {
            let locked = try server.call("POST", "/api/v1/auth/login", json: ["username": name, "password": password])
            #expect(locked.status == 423 && locked.errorCode == "locked_out", "\(name): \(locked.text)")
            let retry = Int(locked.headers["retry-after"] ?? "") ?? 0
            #expect(retry > 0 && retry <= 60)
            #expect(((locked.json["error"] as? [String: Any])?["retry_after"] as? Int) == retry)
        }
        #expect(try box.run(["unlock", "erin"]).status == 0)
        // The code step: wrong codes count toward the account's lockout; a locked account is
        // answered 423 before the token is looked at, and the token is dead afterwards.
        let tokens = try signIn(server, "erin")
        let (secret, _) = try enableTwoFactor(server, token: tokens.access)
        let step = try server.call("POST", "/api/v1/auth/login", json: ["username": "erin", "password": password])
        let loginToken = step["login_token"] ?? ""
        for _ in 0..<5 {
            let wrong = try server.call("POST", "/api/v1/auth/login/2fa", json: ["login_token": loginToken, "code": "000000"])
            #expect(wrong.status == 401 || wrong.status == 423)
        }
        waitForFreshStep()
        let right = try oathtool(secret: secret, at: now() + 30)
        let locked = try server.call("POST", "/api/v1/auth/login/2fa", json: ["login_token": loginToken, "code": right])
        #expect(locked.status == 423 && locked.headers["retry-after"] != nil, "\(locked.text)")
        let me = try server.call("POST", "/api/v1/2fa/verify", json: ["code": right], token: tokens.access)
        #expect(me.status == 423, "verify is refused while locked")
        #expect(try box.run(["unlock", "erin"]).status == 0)
        let dead = try server.call("POST", "/api/v1/auth/login/2fa", json: ["login_token": loginToken, "code": right])
        #expect(dead.status == 401 && dead.errorCode == "invalid_token", "5 wrong codes ended the login token")
        // A refused attempt used up no code: the same code still signs in with a new token.
        let again = try server.call("POST", "/api/v1/auth/login", json: ["username": "erin", "password": password])
        let signed = try server.call("POST", "/api/v1/auth/login/2fa", json: ["login_token": again["login_token"] ?? "", "code": right])
        #expect(signed.status == 200, "\(signed.text)")
        #expect(server.stop() == 0)
    }

    @Test func theAccessLogKeepsNoSecret() throws {
        let box = try Sandbox()
        try box.register("faye")
        let server = try ServerProcess(box, ["--json"])
        let tokens = try signIn(server, "faye")
        _ = try server.call("POST", "/api/v1/auth/login?password=\(password.replacingOccurrences(of: " ", with: "+"))", json: ["username": "faye", "password": "guess guess guess"])
        _ = try server.call("POST", "/api/v1/auth/refresh", json: ["refresh_token": tokens.refresh])
        _ = try server.call("GET", "/api/v1/users/me", token: tokens.access)
        #expect(server.stop() == 0)
        let log = server.stderr
        for secret in [password, "guess guess guess", tokens.access, tokens.refresh, "a+long+passphrase"] {
            #expect(!log.contains(secret), "the log holds \(secret)")
        }
        let lines = log.split(separator: "\n").dropFirst()
        #expect(lines.count >= 4)
        for line in lines {
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
            #expect(Set(object.keys) == ["at", "method", "path", "status", "duration_ms", "user"], "\(line)")
        }
        let failed = lines.first { $0.contains("\"status\":401") } ?? ""
        #expect(failed.contains("\"user\":null"), "a failed attempt's name is not logged: \(failed)")
        #expect(lines.contains { $0.contains("/api/v1/users/me") && $0.contains("\"user\":\"faye\"") })
    }

    @Test func signalsPortsOptionsAndStartupErrors() throws {
        let box = try Sandbox()
        let server = try ServerProcess(box)
        #expect(server.stderr.hasPrefix("twofa serve: listening on http://127.0.0.1:"))
        // A second server on the same port: exit 70, naming the address and the reason.
        let taken = try runProcess(Sandbox.binary.path, ["serve", "--listen", "127.0.0.1:\(server.port)"], environment: box.environment)
        #expect(taken.status == 70 && taken.stderr.contains("127.0.0.1:\(server.port)") && taken.stderr.contains("taken"), "\(taken.stderr)")
        // A second instance on the same database signs and verifies alike.
        let other = try ServerProcess(box, ["--allow-signup"])
        _ = try other.call("POST", "/api/v1/auth/register", json: ["username": "gus", "password": password])
        let tokens = try signIn(other, "gus")
        #expect(try server.call("GET", "/api/v1/users/me", token: tokens.access).status == 200)
        #expect(other.stop(SIGINT) == 0, "SIGINT: exit 0")
        #expect(server.stop() == 0, "SIGTERM: exit 0 after in-flight requests")
        // Every address, no TLS: a warning, and it serves all the same.
        let open = try ServerProcess(box, listen: "0.0.0.0:0")
        #expect(open.stderr.contains("warning: listening on 0.0.0.0 without TLS"), "\(open.stderr)")
        #expect(try open.call("GET", "/healthz").status == 200)
        #expect(open.stop() == 0)
        #expect(!server.stderr.contains("warning"), "no warning on loopback")
        // Bad options: 64, one line.
        for arguments in [["--listen", "nowhere"], ["--access-ttl", "0"], ["--cors-origin", "*"], ["--tls-cert", "x"], ["--bogus"]] {
            let bad = try runProcess(Sandbox.binary.path, ["serve"] + arguments, environment: box.environment)
            #expect(bad.status == 64 && bad.stderr.split(separator: "\n").count == 1, "\(arguments): \(bad.status) \(bad.stderr)")
        }
    }

    /// The server holds several connections to the SQLite file; the CLI works on it at the same
    /// time. Before the file check stopped opening (and so closing) the database, the server's
    /// second connection dropped every POSIX lock the process held on it: the next CLI command
    /// took itself for the last user of the file, checkpointed and deleted the WAL and -shm
    /// under the running server, whose reads then failed (SQLITE_IOERR_SHORT_READ, 503).
    @Test(.enabled(if: TestStore.isSQLite)) func theCLIAndTheServerShareTheFileSafely() throws {
        let box = try Sandbox()
        try box.register("kim")
        let server = try ServerProcess(box)
        let tokens = try signIn(server, "kim")
        // Logins side by side: the hashing lane opens connections of its own.
        let group = DispatchGroup()
        for _ in 0..<6 {
            group.enter()
            DispatchQueue.global().async {
                _ = try? server.call("POST", "/api/v1/auth/login", json: ["username": "kim", "password": defaultPassword])
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        // Reads side by side (wrk, 64 connections for a second): the quick lane's connections.
        let load = try runProcess(
            "/usr/bin/wrk", ["-t2", "-c64", "-d1s", "-H", "Authorization: Bearer \(tokens.access)", server.base + "/api/v1/users/me"])
        #expect(load.status == 0 && !load.stdout.contains("Non-2xx"), "\(load.stdout)")
        #expect(try server.call("GET", "/api/v1/users/me", token: tokens.access).status == 200)
        for name in ["lee", "max"] { try box.register(name) }
        #expect(try box.run(["list", "--json"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: box.database + "-wal"), "the CLI removed the server's WAL")
        #expect(FileManager.default.fileExists(atPath: box.database + "-shm"), "the CLI removed the server's -shm")
        for _ in 0..<20 {
            let me = try server.call("GET", "/api/v1/users/me", token: tokens.access)
            #expect(me.status == 200, "\(me.text)")
        }
        let made = try server.call("POST", "/api/v1/auth/login", json: ["username": "kim", "password": defaultPassword])
        #expect(made.status == 200)
        // What the server wrote, the CLI reads.
        #expect(try box.run(["audit", "--user", "kim", "--json"]).stdout.components(separatedBy: "\"event\":\"login\"").count >= 9)
        #expect(server.stop() == 0)
        #expect(!server.stderr.contains("warning"), "\(server.stderr)")
    }

    /// HTTPS with --tls-cert and --tls-key: TLS 1.2 and later only.
    @Test func servesHTTPSWithTLS12AndLater() throws {
        let box = try Sandbox()
        try box.register("ivy")
        let certificate = box.folder.appendingPathComponent("cert.pem").path
        let key = box.folder.appendingPathComponent("key.pem").path
        let made = try runProcess(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        #expect(made.status == 0, "\(made.stderr)")
        let server = try ServerProcess(box, ["--tls-cert", certificate, "--tls-key", key], scheme: "https")
        #expect(server.stderr.contains("listening on https://127.0.0.1:"))
        let login = try curl(
            "POST", server.base + "/api/v1/auth/login", body: #"{"username": "ivy", "password": "a long passphrase 42"}"#,
            headers: ["Content-Type": "application/json"], extra: ["--cacert", certificate])
        #expect(login.status == 200 && login["access_token"] != nil, "\(login.text)")
        let old = try runProcess(
            "/usr/bin/curl", ["-s", "--cacert", certificate, "--tlsv1.0", "--tls-max", "1.1", server.base + "/healthz"])
        #expect(old.status != 0, "TLS 1.1 must be refused")
        let plain = try runProcess("/usr/bin/curl", ["-s", "http://127.0.0.1:\(server.port)/healthz"])
        #expect(plain.stdout.contains("\"ok\"") == false, "no plain HTTP on the TLS port")
        #expect(server.stop() == 0)
        let missing = try runProcess(
            Sandbox.binary.path, ["serve", "--listen", "127.0.0.1:0", "--tls-cert", certificate + ".none", "--tls-key", key],
            environment: box.environment)
        #expect(missing.status == 74 && missing.stderr.contains("--tls-cert"), "\(missing.stderr)")
    }

    @Test(.enabled(if: TestStore.isSQLite)) func anUnusableDatabaseIs74() throws {
        let box = try Sandbox()
        let folder = box.folder.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        chmod(folder.path, 0o777)
        let result = try runProcess(
            Sandbox.binary.path, ["serve", "--db", folder.appendingPathComponent("t.db").path, "--listen", "127.0.0.1:0"],
            environment: box.environment)
        #expect(result.status == 74 && result.stderr.contains("writable by others"), "\(result.stderr)")
    }

    @Test func tokensVerifyInPyJWTWithTheJWKS() throws {
        let box = try Sandbox()
        try box.register("hana")
        let server = try ServerProcess(box, ["--issuer", "Example"])
        let tokens = try signIn(server, "hana")
        let script = """
            import json, sys, urllib.request, jwt
            base, token = sys.argv[1], sys.argv[2]
            keys = json.load(urllib.request.urlopen(base + "/.well-known/jwks.json"))["keys"]
            header = jwt.get_unverified_header(token)
            key = next(k for k in keys if k["kid"] == header["kid"])
            public = jwt.PyJWK(key).key
            claims = jwt.decode(token, public, algorithms=["EdDSA"], issuer="Example", options={"require": ["exp", "iat", "sub", "jti"]})
            assert header["alg"] == "EdDSA" and key["kty"] == "OKP" and key["crv"] == "Ed25519"
            print(json.dumps(claims))
            try:
                jwt.decode(token[:-4] + "AAAA", public, algorithms=["EdDSA"])
                print("tampered token verified")
            except jwt.InvalidSignatureError:
                pass
            """
        let result = try runProcess(pythonWithPyJWT, ["-c", script, server.base, tokens.access])
        #expect(result.status == 0, "\(result.stderr)")
        let claims = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(claims["sub"] as? String == "hana" && claims["iss"] as? String == "Example")
        #expect(claims["amr"] as? [String] == ["pwd"] && claims["sid"] is String && claims["jti"] is String)
        #expect(!result.stdout.contains("tampered"))
        // A token PyJWT signs with a key of its own is refused.
        let forge = """
            import sys, jwt, time
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            now = int(time.time())
            print(jwt.encode({"iss": "Example", "sub": "hana", "iat": now, "exp": now + 600, "jti": "x", "sid": sys.argv[1], "amr": ["pwd"]},
                             Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": sys.argv[2]}))
            """
        let header = (try? JSONSerialization.jsonObject(with: base64URLDecode(String(tokens.access.split(separator: ".")[0])))) as? [String: Any]
        let payload = (try? JSONSerialization.jsonObject(with: base64URLDecode(String(tokens.access.split(separator: ".")[1])))) as? [String: Any]
        let forged = try runProcess(pythonWithPyJWT, ["-c", forge, payload?["sid"] as? String ?? "", header?["kid"] as? String ?? ""])
        #expect(forged.status == 0, "\(forged.stderr)")
        let refused = try server.call("GET", "/api/v1/users/me", token: forged.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(refused.status == 401)
        #expect(server.stop() == 0)
    }

    @Test func everyDocumentedOperationIsServed() throws {
        let box = try Sandbox()
        let server = try ServerProcess(box)
        let document = try server.call("GET", "/openapi.json")
        #expect(document.status == 200 && document.json["openapi"] as? String == "3.1.0")
        let paths = document.json["paths"] as? [String: [String: Any]] ?? [:]
        #expect(paths.count == 14)
        for (path, operations) in paths {
            for method in operations.keys {
                let reply = try server.call(method.uppercased(), path)
                #expect(reply.status != 404 && reply.status != 405, "\(method) \(path): \(reply.status)")
            }
            let unlisted = ["get", "post", "put", "delete"].first { operations[$0] == nil } ?? "patch"
            #expect(try server.call(unlisted.uppercased(), path).status == 405, "\(unlisted) \(path)")
        }
        #expect(server.stop() == 0)
    }
}

/// The CPython that has PyJWT and schemathesis (pip's), else the system's.
let pythonWithPyJWT: String = {
    // scripts/test makes a virtual environment with PyJWT and schemathesis and names it here.
    if let named = ProcessInfo.processInfo.environment["TWOFA_PYTHON"], !named.isEmpty { return named }
    for candidate in ["/root/.pyenv/shims/python3", "/usr/local/bin/python3", "/usr/bin/python3"] {
        let check = try? runProcess(candidate, ["-c", "import jwt, cryptography"])
        if check?.status == 0 { return candidate }
    }
    return "/usr/bin/python3"
}()

func base64URLDecode(_ text: String) -> Data {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    return Data(base64Encoded: base64) ?? Data()
}

func base64URLEncode(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// schemathesis (PyPI) against /openapi.json, for a bounded number of examples per operation:
/// no 5xx, every status documented, every body matching its schema, the headers documented.
@Suite struct SchemathesisTests {
    static var schemathesis: String? {
        if let named = ProcessInfo.processInfo.environment["TWOFA_SCHEMATHESIS"], !named.isEmpty { return named }
        return ["/root/.pyenv/shims/schemathesis", "/usr/local/bin/schemathesis"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    @Test func theServerMatchesItsDocument() throws {
        let tool = try #require(Self.schemathesis, "schemathesis is not installed (pip install schemathesis; .ci/run does)")
        let box = try Sandbox()
        try box.register("zed")
        let server = try ServerProcess(box, ["--allow-signup"])
        let login = try server.call("POST", "/api/v1/auth/login", json: ["username": "zed", "password": defaultPassword])
        let token = login["access_token"] ?? ""
        let result = try runProcess(
            tool,
            [
                "run", server.base + "/openapi.json",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
                "--max-examples", "25", "--seed", "20261130",
                // Logging out would end the session the other operations are tested with.
                "--exclude-operation-id", "logout",
                "-H", "Authorization: Bearer \(token)",
            ],
            environment: ["PATH": "/root/.pyenv/shims:/usr/bin:/bin", "HOME": box.folder.path, "NO_COLOR": "1"])
        #expect(result.status == 0, "\(result.stdout.suffix(4000))\(result.stderr.suffix(2000))")
        #expect(result.stdout.contains("passed"))
        #expect(server.stop() == 0)
    }
}
