import Glibc


/// The folder a private file lives in, and the files SQLite keeps beside a database: checked as
/// OpenSSH's StrictModes checks a home folder. Whoever can write the folder can replace, swap
/// or pre-create any file in it (a forged `-wal` that SQLite replays, a database swapped between
/// a check and the open by path), so a folder another user can write is refused outright
/// instead of every file in it being checked against every race.
extension SecureFiles {
    /// The folder holding `path` ("." for a bare file name).
    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    /// What is wrong with the folder holding `path`, or nil: it must be owned by this user or
    /// root, and neither group- nor world-writable (a sticky bit does not make it safe: the
    /// folder's other users can still create the names twofa has not made yet).
    public static func folderProblem(of path: String) -> String? {
        let folder = folder(of: path)
        var info = stat()
        guard stat(folder, &info) == 0 else { return nil }  // missing: it is made 0700 when needed
        let mode = String(info.st_mode & 0o7777, radix: 8)
        if info.st_mode & S_IFMT != S_IFDIR { return "\(folder) is not a folder" }
        if info.st_uid != geteuid() && info.st_uid != 0 {
            return "its folder \(folder) is owned by another user (uid \(info.st_uid)); move it to a folder of yours"
        }
        if info.st_mode & 0o022 != 0 {
            return "its folder \(folder) is writable by others (mode \(mode)); run chmod go-w on the folder, or move the file to a folder of yours"
        }
        return nil
    }

    /// Refuses a file whose folder another user could write.
    public static func checkFolder(of path: String, _ makeError: (String) -> TwofaError) throws(TwofaError) {
        if let problem = folderProblem(of: path) { throw makeError(problem) }
    }

    /// The files SQLite keeps beside a database. Each that exists must be this user's own
    /// regular file that group and others can neither read nor write (SQLite gives them the
    /// database's own mode, so 0600 or stricter).
    public static func checkCompanions(of database: String, _ makeError: (String) -> TwofaError) throws(TwofaError) {
        for suffix in ["-wal", "-shm", "-journal"] {
            let companion = database + suffix
            var info = stat()
            guard lstat(companion, &info) == 0 else {
                if errno == ENOENT { continue }
                throw makeError("cannot check \(companion) (\(describe(errno)))")
            }
            let name = "its \(suffix.dropFirst()) file \(companion)"
            if info.st_mode & S_IFMT != S_IFREG {
                throw makeError("\(name) is not a regular file; remove it")
            }
            if info.st_uid != geteuid() {
                throw makeError("\(name) is owned by another user (uid \(info.st_uid)); remove it")
            }
            if info.st_mode & 0o066 != 0 {
                let mode = String(info.st_mode & 0o777, radix: 8)
                throw makeError("\(name) is readable or writable by others (mode \(mode)); run chmod 600 on it")
            }
        }
    }

    /// The device and inode of an open file, or of a path (not following a final symlink).
    public static func identity(ofDescriptor fd: Int32) -> (UInt64, UInt64)? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    public static func identity(ofPath path: String) -> (UInt64, UInt64)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }
}
