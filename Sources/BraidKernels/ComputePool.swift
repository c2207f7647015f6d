// The one pool of threads that runs Braid's kernels. Matrix products in a decode step take tens
// of microseconds, so waking threads through the OS each time would cost as much as the work:
// like ggml's, workers spin briefly on a job counter before they sleep, and iterations are handed
// out through an atomic counter so a slow thread never holds the others up.
import Synchronization
import BraidCPU
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs loops over the CPU cores with the process-wide worker threads.
public struct ComputePool: Sendable {
    /// How many threads (the caller included) a loop uses at most.
    public let threadCount: Int

    /// The cores this process may run on (its CPU affinity on Linux).
    public static let coreCount: Int = {
        #if os(Linux)
        let mask = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 8)  // room for 1024 CPUs
        defer { mask.deallocate() }
        mask.initializeMemory(as: UInt8.self, repeating: 0)
        if let base = mask.baseAddress, linuxSchedGetAffinity(0, mask.count, base) == 0 {
            let count = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            if count > 0 { return count }
        }
        #endif
        return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }()

    /// A pool using `threadCount` threads (default and maximum: every core).
    public init(threadCount: Int? = nil) {
        self.threadCount = max(1, min(threadCount ?? ComputePool.coreCount, WorkerThreads.shared.workerCount + 1))
    }

    /// Calls `body(i)` for every `i` in `0..<count`, spread over the threads; returns when all are
    /// done. Iterations must touch disjoint memory. Not reentrant: `body` must not call `forEach`.
    public func forEach(_ count: Int, _ body: (Int) -> Void) {
        if threadCount <= 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        WorkerThreads.shared.run(count: count, helpers: min(threadCount, count) - 1, body)
    }
}

/// The process-wide worker threads (one fewer than the cores: the calling thread works too).
///
/// Protocol: the caller publishes `job` and `iterations`, then bumps `ticket`, whose low 16 bits
/// say how many workers help with this job (workers 0..<helpers) and whose high bits count jobs.
/// A worker reads the ticket once, so the job and the helper count it acts on always belong
/// together; helpers count themselves out through `unfinished`, which the caller waits on.
final class WorkerThreads: @unchecked Sendable {  // shared state is ordered by `ticket` (release/acquire)
    static let shared: WorkerThreads = {
        let pool = WorkerThreads()
        pool.startWorkers(ComputePool.coreCount - 1)
        return pool
    }()

    /// Workers actually running (fewer than requested if the system refused a thread).
    private(set) var workerCount = 0
    private let ticket = Atomic<Int>(0)
    private let nextIteration = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    /// The current job, written by the caller before `ticket` is bumped.
    private var job: ((Int) -> Void)?
    private var iterations = 0
    /// Serializes jobs from different calling threads.
    private let submission = Mutex(())
    /// Where idle workers sleep; heap-allocated so its address never moves.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Workers asleep or about to be (changed under `mutex`; read by callers without it).
    private let sleepers = Atomic<Int>(0)

    /// Busy spins (with a pause hint) before an idle worker starts yielding its core: up to a few
    /// hundred microseconds (a pause takes 10–150 cycles), the gaps inside a decode step.
    private static let busySpins = 4_000
    /// Spins that each `sched_yield` before an idle worker sleeps: a few milliseconds, enough to
    /// bridge the serial gaps of a forward pass and of sampling between decode steps.
    private static let spinsBeforeSleep = 20_000

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        BLAS.prepare()
    }

    private func startWorkers(_ requested: Int) {
        for index in 0..<max(0, min(requested, 0xFFFF)) {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index))
            if pthread_create(&thread, nil, { raw in
                guard let raw else { return nil }
                let context = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                context.pool.workerLoop(index: context.index)
                return nil
            }, context.toOpaque()) != 0 {
                context.release()
                break
            }
            pthread_detach(thread)
            workerCount += 1
        }
    }

    func run(count: Int, helpers: Int, _ body: (Int) -> Void) {
        let helpers = min(helpers, workerCount)
        submission.withLock { _ in
            withoutActuallyEscaping(body) { body in
                job = body
                iterations = count
                nextIteration.store(0, ordering: .relaxed)
                unfinished.store(helpers, ordering: .relaxed)
                let jobNumber = (ticket.load(ordering: .relaxed) >> 16) + 1
                // Sequentially consistent with the sleepers' count: either this sees a worker that
                // is going to sleep, or that worker sees the new ticket.
                ticket.store(jobNumber << 16 | helpers, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(wake)
                    pthread_mutex_unlock(mutex)
                }
                work(body)
                var spins = 0
                while unfinished.load(ordering: .acquiring) > 0 {
                    spins += 1
                    if spins < Self.busySpins { Self.pause() } else { sched_yield() }
                }
                job = nil
            }
        }
    }

    private func work(_ body: (Int) -> Void) {
        while true {
            let i = nextIteration.add(1, ordering: .relaxed).oldValue
            if i >= iterations { return }
            body(i)
        }
    }

    /// Works on the current job; its reference is released on return, before the worker reports
    /// done (the caller's closure must not outlive `run`).
    @inline(never)
    private func runCurrentJob() {
        guard let job else { return }
        work(job)
    }

    fileprivate func workerLoop(index: Int) {
        var seen = 0  // the ticket before any job: a worker that starts late still takes the current one
        while true {
            var current = ticket.load(ordering: .acquiring)
            var spins = 0
            while current == seen {
                spins += 1
                if spins < Self.busySpins {
                    Self.pause()
                } else if spins < Self.spinsBeforeSleep {
                    sched_yield()
                } else {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while ticket.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, mutex) }
                    sleepers.subtract(1, ordering: .relaxed)
                    pthread_mutex_unlock(mutex)
                    spins = 0
                }
                current = ticket.load(ordering: .acquiring)
            }
            seen = current
            if index < current & 0xFFFF {
                runCurrentJob()
                unfinished.subtract(1, ordering: .releasing)
            }
        }
    }
}

extension WorkerThreads {
    /// Tells the CPU this thread is spinning, so a sibling hyperthread gets the cycles.
    @inline(__always)
    static func pause() { braid_spin_pause() }
}

#if os(Linux)
/// glibc's `sched_getaffinity`, which the Glibc module hides behind `_GNU_SOURCE`.
@_silgen_name("sched_getaffinity")
private func linuxSchedGetAffinity(_ pid: Int32, _ size: Int, _ mask: UnsafeMutableRawPointer) -> Int32
#endif

/// What a worker thread starts with.
private final class WorkerContext {
    let pool: WorkerThreads
    let index: Int

    init(pool: WorkerThreads, index: Int) {
        self.pool = pool
        self.index = index
    }
}
