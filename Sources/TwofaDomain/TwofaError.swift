/// Every way a twofa operation can fail, as one enumerable set (the model is liboath's
/// `oath_rc`): each case carries what a person needs to act on it, and one table below maps it
/// to the exit code and the JSON error code that scripts branch on.
///
/// Messages never contain a password, a secret or a code: cases carry names, paths and reasons,
/// never credentials.
public enum TwofaError: Error, Equatable, Sendable {
    // 1: authentication failed. One message for every cause, so the answer reveals nothing.
    case authenticationFailed
    // 1 as well: the code was right but is used up (or an older one than the last accepted).
    case codeReused
    // 1 as well, from the HTTP API only: a missing, expired, revoked, used or malformed token.
    case invalidToken
    // 2: the password was right, 2FA is on, and no code was given (for an email device: a
    // code was sent, or one went less than 30 s ago).
    case secondFactorRequired(user: String, delivery: CodeDelivery?)
    // 3: locked out; retry after this many seconds.
    case lockedOut(user: String, retryAfter: Int64)
    // 4: the user an administrative command names does not exist.
    case userNotFound(user: String)
    // 5: conflicts.
    case userExists(user: String)
    case wrongState(user: String, reason: String)
    // 64: usage.
    case usage(String)
    // 64 as well, from the HTTP API only: a body that is not JSON (or the form), lacks a field
    // or has a field of the wrong type.
    case malformedRequest(String)
    // 65: invalid input.
    case invalidUsername(String)
    case weakPassword(String)
    case invalidPassword(String)
    case malformedCode(String)
    case invalidSecret(String)
    case invalidURI(String)
    case invalidOption(String)
    case invalidInput(String)
    // 65 as well, from the HTTP API only: a request body over the limit (413).
    case payloadTooLarge(limit: Int)
    // 70: a bug or an impossible state.
    case internalError(String)
    // 74: storage that cannot be read, written or trusted.
    case storage(path: String, reason: String)
    case keyFile(path: String, reason: String)
    case file(path: String, reason: String)
    // 74 as well: the mail command that sends a code failed (nothing was changed).
    case mail(reason: String)

    /// The one table: exit code and JSON error code of each case.
    public var exitCode: Int32 {
        switch self {
        case .authenticationFailed, .codeReused, .invalidToken: 1
        case .secondFactorRequired: 2
        case .lockedOut: 3
        case .userNotFound: 4
        case .userExists, .wrongState: 5
        case .usage, .malformedRequest: 64
        case .invalidUsername, .weakPassword, .invalidPassword, .malformedCode, .invalidSecret,
            .invalidURI, .invalidOption, .invalidInput, .payloadTooLarge:
            65
        case .internalError: 70
        case .storage, .keyFile, .file, .mail: 74
        }
    }

    public var code: String {
        switch self {
        case .authenticationFailed: "authentication_failed"
        case .codeReused: "code_reused"
        case .invalidToken: "invalid_token"
        case .secondFactorRequired: "second_factor_required"
        case .lockedOut: "locked_out"
        case .userNotFound: "user_not_found"
        case .userExists: "user_exists"
        case .wrongState: "wrong_state"
        case .usage: "usage"
        case .malformedRequest: "invalid_request"
        case .invalidUsername: "invalid_username"
        case .weakPassword: "weak_password"
        case .invalidPassword: "invalid_password"
        case .malformedCode: "malformed_code"
        case .invalidSecret: "invalid_secret"
        case .invalidURI: "invalid_uri"
        case .invalidOption: "invalid_option"
        case .invalidInput: "invalid_input"
        case .payloadTooLarge: "payload_too_large"
        case .internalError: "internal_error"
        case .storage: "storage_error"
        case .keyFile: "key_file_error"
        case .file: "file_error"
        case .mail: "mail_error"
        }
    }

    /// One line, no trailing period, fit to follow "twofa: ".
    public var message: String {
        switch self {
        case .authenticationFailed:
            "authentication failed"
        case .codeReused:
            "authentication failed: that code was used already; wait for the next one (at most 30 s for a default enrolment)"
        case .invalidToken:
            "the token is missing, expired, revoked or malformed"
        case .secondFactorRequired(let user, let delivery):
            switch delivery {
            case nil: "'\(user)' has two-factor authentication on: give a code with --code"
            case let delivery? where delivery.resendIn != nil:
                "'\(user)' gets codes by email: the last went to \(delivery.sentTo) less than \(EmailCodes.resendInterval) s ago; give that one with --code, or ask for another in \(delivery.resendIn ?? 0) s"
            case let delivery?: "'\(user)' gets codes by email: a code was sent to \(delivery.sentTo); give it with --code"
            }
        case .lockedOut(let user, let retryAfter):
            "'\(user)' is locked after too many failures: retry in \(retryAfter) s, or run 'twofa unlock \(user)'"
        case .userNotFound(let user):
            "no user '\(user)'"
        case .userExists(let user):
            "user '\(user)' exists already"
        case .wrongState(let user, let reason):
            "'\(user)': \(reason)"
        case .usage(let text), .malformedRequest(let text), .invalidUsername(let text), .weakPassword(let text),
            .invalidPassword(let text), .malformedCode(let text), .invalidSecret(let text),
            .invalidURI(let text), .invalidOption(let text), .invalidInput(let text):
            text
        case .payloadTooLarge(let limit):
            "the request body is larger than \(limit / 1024) KiB"
        case .internalError(let text):
            "internal error: \(text)"
        case .storage(let path, let reason):
            "database \(path): \(reason)"
        case .keyFile(let path, let reason):
            "key file \(path): \(reason)"
        case .file(let path, let reason):
            "\(path): \(reason)"
        case .mail(let reason):
            "the code could not be sent: \(reason); nothing was changed"
        }
    }

    /// The HTTP status of the API's answer (http.md, "Errors"): by exit code, with a malformed
    /// body 400 and a well-formed one that breaks a rule 422.
    public var httpStatus: Int {
        if case .payloadTooLarge = self { return 413 }
        return switch exitCode {
        case 1, 2: 401
        case 3: 423
        case 4: 404
        case 5: 409
        case 64: 400
        case 65: 422
        case 74: 503
        default: 500
        }
    }

    /// Where a code went, and when the next can go, for the JSON error object: `sent_to`,
    /// `resend_in`.
    public var delivery: CodeDelivery? {
        if case .secondFactorRequired(_, let delivery) = self { return delivery }
        return nil
    }

    /// Seconds until a locked account may try again, for the JSON error object.
    public var retryAfter: Int64? {
        if case .lockedOut(_, let seconds) = self { return seconds }
        return nil
    }
}

/// A code sent by email: where it went (masked), and, when none was sent now because the last
/// went less than 30 s ago, the seconds until the next may go.
public struct CodeDelivery: Equatable, Sendable {
    public var sentTo: String
    public var resendIn: Int64?

    public init(sentTo: String, resendIn: Int64? = nil) {
        self.sentTo = sentTo
        self.resendIn = resendIn
    }

    /// The keys the JSON error object and the HTTP login answer add.
    public var jsonFields: [(String, JSON)] {
        var fields: [(String, JSON)] = [("sent_to", .string(sentTo))]
        if let resendIn { fields.append(("resend_in", .int(resendIn))) }
        return fields
    }
}
