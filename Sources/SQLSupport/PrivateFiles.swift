import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Files only this process may read (a MySQL option file with a password, a CA
/// certificate for libpq), in a directory of their own: made with mkdtemp (0700),
/// each file created with O_EXCL and mode 0600, so no other user sees them at any
/// moment. The caller removes the directory when done.
public enum PrivateFiles {
    /// Making the directory or a file failed.
    public struct Failed: Error, CustomStringConvertible, Sendable {
        public let message: String
        public let retryable: Bool
        public var description: String { message }
    }

    /// The directory holding `files` (name to contents), or nil when there are none.
    public static func write(_ files: [String: String]) throws -> String? {
        guard !files.isEmpty else { return nil }
        var template = Array((NSTemporaryDirectory() + "/db-operator-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failed(message: "cannot make a private directory in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))", retryable: true)
        }
        let directory = String(cString: made)
        do {
            for (name, contents) in files {
                guard !name.isEmpty, !name.contains("/") else { throw Failed(message: "bad file name \(name)", retryable: false) }
                let path = directory + "/" + name
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw Failed(message: "cannot create \(path): \(String(cString: strerror(errno)))", retryable: true) }
                defer { close(fd) }
                let bytes = Array(contents.utf8)
                var offset = 0
                while offset < bytes.count {
                    let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    guard written > 0 else { throw Failed(message: "cannot write \(path)", retryable: true) }
                    offset += written
                }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        return directory
    }

    /// Runs `connect` with the settings' CA (if any) in a private file named `name`
    /// (its path, else nil), removed afterwards: the client libraries read CAs from
    /// files only. A file that cannot be written fails as `TLSRefused`.
    public static func withCertificateAuthority<T>(of settings: ConnectionSettings, named name: String, _ connect: (String?) throws -> T) throws -> T {
        guard let pem = settings.certificateAuthorityPEM else { return try connect(nil) }
        do {
            return try with(name, pem) { try connect($0) }
        } catch let failed as Failed {
            throw SQLError(kind: .tlsRefused, message: "cannot connect to \(settings): cannot write the CA certificate: \(failed.message)")
        }
    }

    /// Runs `body` with `contents` in a private file (its path), removed afterwards.
    public static func with<T>(_ name: String, _ contents: String, _ body: (String) throws -> T) throws -> T {
        let directory = try write([name: contents])!
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try body(directory + "/" + name)
    }
}
