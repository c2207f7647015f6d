// Read-only memory mapping of a whole file: model weights are used in place, never copied.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file mapped read-only into memory for as long as this object lives.
public final class MappedFile: @unchecked Sendable {  // immutable after init; the mapping is read-only
    /// Start of the mapping (nil for an empty file).
    public let bytes: UnsafeRawPointer?
    /// Size of the file in bytes.
    public let count: Int
    /// The path it was opened from.
    public let path: String

    /// Maps the file at `path`; throws `GGUFError.cannotOpen` with the system's reason.
    public init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw GGUFError.cannotOpen(path: path, reason: "not a regular file") }
        count = Int(info.st_size)
        if count == 0 {
            bytes = nil
            return
        }
        let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        bytes = UnsafeRawPointer(address)
    }

    deinit {
        if let bytes { munmap(UnsafeMutableRawPointer(mutating: bytes), count) }
    }
}
