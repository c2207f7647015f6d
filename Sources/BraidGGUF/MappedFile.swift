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

    /// Lets the pages wholly inside `byteCount` bytes at `start` (a range of this mapping) leave
    /// the process's memory: they are read from the file again if touched. For weights that were
    /// copied elsewhere (repacked), so that they are not counted twice.
    public func release(_ start: UnsafeRawPointer, byteCount: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page, end = (Int(bitPattern: start) + byteCount) / page * page
        guard end > first, let address = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(address, end - first, Int32(MADV_DONTNEED))
    }

    deinit {
        if let bytes { munmap(UnsafeMutableRawPointer(mutating: bytes), count) }
    }
}
