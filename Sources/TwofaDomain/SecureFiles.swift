import Glibc


/// Files that hold secrets: opened without following symlinks, checked through the descriptor
/// (not the path, the class of CVE-2024-47191), created 0600 in folders created 0700.
public enum SecureFiles {
    /// write(2) until all of `bytes` are out; the errno that stopped it, or nil.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + written }, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                return errno
            }
            written += result
        }
        return nil
    }

    /// read(2) to the end, or until more than `limit` bytes came (then `.tooLong`).
    public enum ReadResult {
        case bytes([UInt8])
        case tooLong
        case failed(Int32)
    }

    public static func readAll(_ fd: Int32, limit: Int) -> ReadResult {
        var content = [UInt8]()
        // A regular file's size is known: one allocation of it, not a doubling array's 2x.
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size > 0 {
            content.reserveCapacity(min(Int(info.st_size), limit) + 1)
        }
        var buffer = [UInt8](repeating: 0, count: min(limit + 1, 1 << 16))
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                return .failed(errno)
            }
            if got == 0 { return .bytes(content) }
            content += buffer[0..<got]
            if content.count > limit { return .tooLong }
        }
    }

    /// What is wrong with an open file that should be private to this user, or nil.
    static func problem(withDescriptor fd: Int32) -> String? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return "cannot stat it (\(describe(errno)))" }
        if info.st_mode & S_IFMT != S_IFREG { return "it is not a regular file" }
        if info.st_uid != geteuid() { return "it is owned by another user (uid \(info.st_uid))" }
        if info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            return "it is readable or writable by others (mode \(mode)); run chmod 600 on it"
        }
        return nil
    }

    /// Whether a path exists (without following a final symlink).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Checks an existing file by its path, without opening it (a final symlink is refused, not
    /// followed), and answers its device and inode. For a SQLite database: closing any
    /// descriptor of it drops every POSIX lock this process holds on it (fcntl's rule), so a
    /// check that opened and closed the file while another connection of the same process had
    /// it open would leave that connection unprotected (a server's second connection did, and
    /// reads failed with SQLITE_IOERR_SHORT_READ). The folder check before this keeps other
    /// users from replacing the file, and the caller compares the identity after SQLite opened
    /// it (with SQLITE_OPEN_NOFOLLOW).
    @discardableResult
    public static func checkExistingWithoutOpening(
        _ path: String, _ makeError: (String) -> TwofaError
    ) throws(TwofaError) -> (UInt64, UInt64) {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw makeError(describe(errno)) }
        if info.st_mode & S_IFMT == S_IFLNK { throw makeError("it is a symbolic link; refusing to follow it") }
        if info.st_mode & S_IFMT != S_IFREG { throw makeError("it is not a regular file") }
        if info.st_uid != geteuid() { throw makeError("it is owned by another user (uid \(info.st_uid))") }
        if info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw makeError("it is readable or writable by others (mode \(mode)); run chmod 600 on it")
        }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// The whole content of a private file, or nil if it does not exist.
    public static func read(
        _ path: String, maximumBytes: Int, _ makeError: (String) -> TwofaError
    ) throws(TwofaError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw makeError(errno == ELOOP ? "it is a symbolic link; refusing to follow it" : describe(errno))
        }
        defer { close(fd) }
        if let problem = problem(withDescriptor: fd) { throw makeError(problem) }
        switch readAll(fd, limit: maximumBytes) {
        case .bytes(let content): return content
        case .tooLong: throw makeError("it is larger than \(maximumBytes) bytes")
        case .failed(let code): throw makeError("cannot read it (\(describe(code)))")
        }
    }

    /// Creates `path` with `content`, mode 0600, failing if anything is already there (so a
    /// planted symlink or file is never written through). The parent folder is created 0700.
    public static func createExclusive(
        _ path: String, content: [UInt8], _ makeError: (String) -> TwofaError
    ) throws(TwofaError) {
        try createParentDirectories(of: path, makeError)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw makeError("cannot create it (\(describe(errno)))") }
        if let code = writeAll(fd, content) {
            close(fd)
            unlink(path)
            throw makeError("cannot write it (\(describe(code)))")
        }
        guard fsync(fd) == 0, close(fd) == 0 else {
            unlink(path)
            throw makeError("cannot write it (\(describe(errno)))")
        }
    }

    /// Any readable file's content (an import file, a google-authenticator state file); "-"
    /// is standard input. Reading stops once more than `maximumBytes` came (so /dev/zero or an
    /// endless pipe ends too): that is invalid input, exit 65, with a message naming the limit.
    /// A file that cannot be opened or read is exit 74.
    public static func readAll(_ path: String, maximumBytes: Int) throws(TwofaError) -> [UInt8] {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .file(path: path, reason: "cannot read it (\(describe(errno)))") }
        defer { if fd != STDIN_FILENO { close(fd) } }
        switch readAll(fd, limit: maximumBytes) {
        case .bytes(let content): return content
        case .tooLong:
            let name = path == "-" ? "standard input" : path
            throw .invalidInput("\(name): larger than \(describeSize(maximumBytes)), the most twofa reads from one file; split it")
        case .failed(let code): throw .file(path: path, reason: "cannot read it (\(describe(code)))")
        }
    }

    /// A file to read as a stream (an import file; "-" is standard input), and its size when it
    /// is a regular file. A file that cannot be opened is exit 74.
    public static func openInput(_ path: String) throws(TwofaError) -> (descriptor: Int32, size: Int?) {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .file(path: path, reason: "cannot read it (\(describe(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .file(path: path, reason: "cannot read it (\(describe(errno)))") }
        if info.st_mode & S_IFMT == S_IFDIR {
            if fd != STDIN_FILENO { close(fd) }
            throw .file(path: path, reason: "it is a folder, not a file")
        }
        return (fd, info.st_mode & S_IFMT == S_IFREG ? Int(info.st_size) : nil)
    }

    /// "16 MiB", "64 KiB", or bytes.
    static func describeSize(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    /// Why secrets written to the open descriptor `fd` could be read by someone else, or nil:
    /// a regular file that group or others may read or write (`export > file` with the umask's
    /// 0644), or that another user owns. Pipes, terminals and devices are not judged here.
    public static func exposure(ofDescriptor fd: Int32) -> String? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return "cannot stat it (\(describe(errno)))" }
        guard info.st_mode & S_IFMT == S_IFREG else { return nil }
        if info.st_uid != geteuid() { return "it is a file owned by another user (uid \(info.st_uid))" }
        if info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            return "it is a file that group or others may read (mode \(mode)); run chmod 600 on it first, or use --output FILE"
        }
        return nil
    }

    /// Writes `content` to `path`, mode 0600, replacing a regular file of this user's but never
    /// following a symlink, nor writing a file with another hard link (whose other name may sit
    /// in a folder others can read, and keeps its own mode): for files that hold secrets (an
    /// export, an enrolment's QR code). Nothing is written when it refuses.
    public static func writePrivate(_ path: String, content: [UInt8]) throws(TwofaError) {
        let makeError = { (reason: String) in TwofaError.file(path: path, reason: reason) }
        let fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o600)
        guard fd >= 0 else {
            throw makeError(errno == ELOOP ? "it is a symbolic link; refusing to follow it" : "cannot write it (\(describe(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else {
            throw makeError("it is not a regular file of this user's")
        }
        guard info.st_nlink <= 1 else {
            throw makeError("it has \(info.st_nlink) hard links: another name could expose it; remove it or choose a new file")
        }
        guard fchmod(fd, 0o600) == 0, ftruncate(fd, 0) == 0 else { throw makeError("cannot write it (\(describe(errno)))") }
        if let code = writeAll(fd, content) { throw makeError("cannot write it (\(describe(code)))") }
    }

    /// `mkdir -p` of the folder holding `path`, each folder it makes 0700.
    public static func createParentDirectories(
        of path: String, _ makeError: (String) -> TwofaError
    ) throws(TwofaError) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let parent = String(path[..<slash])
        guard !parent.isEmpty else { return }
        var info = stat()
        if stat(parent, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw makeError("\(parent) is not a folder") }
            return
        }
        try createParentDirectories(of: parent, makeError)
        if mkdir(parent, 0o700) != 0 && errno != EEXIST {
            throw makeError("cannot create the folder \(parent) (\(describe(errno)))")
        }
    }

    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text).lowercased()
    }
}
