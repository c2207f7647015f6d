// The one pool of threads that runs Braid's kernels. Matrix products in a decode step take tens
// of microseconds, so waking threads through the OS each time would cost as much as the work:
// like ggml's, workers spin briefly on a generation counter before they sleep, and iterations
// are handed out through an atomic counter so a slow thread never holds the others up.
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs loops over the CPU cores with the process-wide worker threads.
public struct ComputePool: Sendable {
    /// How many threads (the caller included) a loop uses at most.
    public let threadCount: Int

    /// The cores this process may use.
    public static var coreCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

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
final class WorkerThreads: @unchecked Sendable {  // shared state is guarded by atomics and `mutex`
    static let shared = WorkerThreads(workerCount: ComputePool.coreCount - 1)

    let workerCount: Int
    /// Bumped once per job; workers wait for it to change.
    private let generation = Atomic<Int>(0)
    /// Next iteration to hand out.
    private let nextIteration = Atomic<Int>(0)
    /// Helpers that have not finished the current job.
    private let unfinished = Atomic<Int>(0)
    /// The current job, published before `generation` is bumped.
    private var job: ((Int) -> Void)?
    private var iterations = 0
    private var helpers = 0
    /// Serializes jobs from different calling threads.
    private let submission = Mutex(())
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var sleepers = 0

    private init(workerCount: Int) {
        self.workerCount = max(0, workerCount)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        BLAS.useSingleThread()
        for index in 0..<self.workerCount {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.workerLoop(index: context.index)
                return nil
            }, context)
            pthread_detach(thread)
        }
    }

    func run(count: Int, helpers: Int, _ body: (Int) -> Void) {
        submission.withLock { _ in
            withoutActuallyEscaping(body) { body in
                job = body
                iterations = count
                self.helpers = helpers
                nextIteration.store(0, ordering: .relaxed)
                unfinished.store(helpers, ordering: .relaxed)
                generation.add(1, ordering: .releasing)
                pthread_mutex_lock(&mutex)
                if sleepers > 0 { pthread_cond_broadcast(&wake) }
                pthread_mutex_unlock(&mutex)
                work(body)
                while unfinished.load(ordering: .acquiring) > 0 { spinPause() }
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

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < 100_000 {
                    spinPause()
                    continue
                }
                pthread_mutex_lock(&mutex)
                sleepers += 1
                while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(&wake, &mutex) }
                sleepers -= 1
                pthread_mutex_unlock(&mutex)
            }
            seen = generation.load(ordering: .acquiring)
            if index < helpers {
                runCurrentJob()
                unfinished.subtract(1, ordering: .releasing)
            }
        }
    }

    @inline(__always)
    private func spinPause() {
        // `sched_yield` keeps a spinning thread from starving the one it waits for when the
        // machine has fewer free cores than threads.
        sched_yield()
    }
}

private final class WorkerContext {
    let pool: WorkerThreads
    let index: Int
    init(pool: WorkerThreads, index: Int) {
        self.pool = pool
        self.index = index
    }
}
