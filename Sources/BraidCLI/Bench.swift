// `braid bench`: prompt speed (pp), decode speed (tg) and the decode throughput of B sequences at
// once, each as median/min/max over repetitions, plus peak resident memory. pp and tg follow the
// definition of llama.cpp's side (shared/tools/llamacpp_reference.py `bench`), so the two engines'
// figures can be set side by side:
//
//   prompt = [BOS] + [(i·7919) mod 1000 + 100 for i in 0..<p-1]    evaluated whole: pp = p / s
//   n decode steps of one token, 100 first, then the argmax of the last logits: tg = n / s
import ArgumentParser
import Braid
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt (pp) and decode (tg) tokens/s, and batched decode throughput, as llama-bench does.",
        discussion: """
            Each figure is the median over the repetitions; the table shows median ± half the min–max \
            range, --json the median, min and max. --batch B decodes B sequences at once, one forward \
            pass of B tokens per step, after an untimed 32-token prompt per sequence; B=1 is always \
            measured as the baseline of the step-cost ratio.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: [.customShort("p"), .customLong("prompt-tokens")], parsing: .unconditional, help: "Prompt tokens.")
    var promptTokens = 512

    @Option(name: [.customShort("n"), .customLong("gen-tokens")], parsing: .unconditional, help: "Decode steps.")
    var genTokens = 128

    @Option(name: [.customShort("r"), .customLong("repetitions")], parsing: .unconditional, help: "Repetitions of each test.")
    var repetitions = 3

    @Option(parsing: .unconditionalSingleValue,
            help: "Sequences decoded at once, comma-separated or repeated (e.g. 1,2,4,8,16; default: none).")
    var batch: [String] = []

    @Option(parsing: .unconditionalSingleValue,
            help: "Branches forked from one -p prompt and decoded together, comma-separated or repeated (e.g. 1,2,4,8,16).")
    var branches: [String] = []

    @Option(parsing: .unconditionalSingleValue,
            help: "Tokens of one sequence per forward pass, as a speculative verifier runs them (e.g. 1,2,4,8,16): the cost of n tokens against 1.")
    var forwardSizes: [String] = []

    @Flag(help: "Print one JSON object.")
    var json = false

    /// Tokens per prompt-processing forward pass, as in generation and llama.cpp's n_batch.
    static let promptChunk = 512
    /// Untimed prompt tokens per sequence before a batched decode.
    static let batchedPrefix = 32

    func run() throws {
        try reportingErrors {
            let batchSizes = try Self.parsedSizes(batch, option: "--batch")
            let branchCounts = try Self.parsedSizes(branches, option: "--branches")
            let forwardCounts = try Self.parsedSizes(forwardSizes, option: "--forward-sizes")
            for (name, value) in [("-p/--prompt-tokens", promptTokens), ("-n/--gen-tokens", genTokens), ("-r/--repetitions", repetitions)]
            where value < 1 {
                throw BraidError.invalidParameter("\(name) must be ≥ 1 (got \(value))")
            }
            let (model, _) = try modelOptions.load()
            let context = model.configuration.contextLength
            if let largest = forwardCounts.last, largest >= context {
                throw BraidError.invalidParameter(
                    "--forward-sizes \(largest) tokens must fit in the model's context of \(context) tokens with a prompt before them")
            }
            guard promptTokens <= context - genTokens else {
                throw BraidError.invalidParameter(
                    "-p \(promptTokens) + -n \(genTokens) tokens must fit in the model's context of \(context) tokens")
            }
            let prefix = min(Self.batchedPrefix, promptTokens)
            for size in batchSizes { try Self.checkMemory(model: model, sequences: size, capacity: prefix + genTokens) }
            var report = try measure(model: model, batchSizes: batchSizes)
            report.forwards = try measureForwards(model: model, sizes: forwardCounts)
            if !branchCounts.isEmpty {
                let prompt = Self.prompt(count: promptTokens, model: model)
                report.branches = try BranchBench.measure(model: model, prompt: prompt, counts: branchCounts, genTokens: genTokens,
                                                          repetitions: repetitions, threads: modelOptions.threads)
                report.prefixCache = try BranchBench.measurePrefixCache(model: model, prompt: prompt, repetitions: repetitions,
                                                                        threads: modelOptions.threads)
                report.kvCacheBytes = max(report.kvCacheBytes, report.branches.map(\.kvPeakBytes).max() ?? 0)
                report.peakResidentBytes = Self.peakResidentBytes()
            }
            if json {
                try printJSON(report.json)
            } else {
                writeOut(report.table)
            }
        }
    }

    /// The values of a size-list option, deduplicated and sorted, with 1 added as the baseline;
    /// empty if none.
    private static func parsedSizes(_ values: [String], option: String) throws -> [Int] {
        var sizes = Set<Int>()
        for text in values.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let size = Int(trimmed) else { throw BraidError.invalidParameter("\(option) takes integers (got '\(trimmed)')") }
            guard size >= 1 else { throw BraidError.invalidParameter("\(option) values must be ≥ 1 (got \(size))") }
            sizes.insert(size)
        }
        if !sizes.isEmpty { sizes.insert(1) }
        return sizes.sorted()
    }

    /// Refuses a KV cache that could not fit in this machine's memory (before allocating it).
    private static func checkMemory(model: LanguageModel, sequences: Int, capacity: Int) throws {
        let c = model.configuration
        let perPosition = 2 * c.layerCount * c.kvDimension * MemoryLayout<Float>.size
        let (positions, overflow1) = sequences.multipliedReportingOverflow(by: capacity)
        let (bytes, overflow2) = positions.multipliedReportingOverflow(by: perPosition)
        let memory = ProcessInfo.processInfo.physicalMemory
        guard !overflow1, !overflow2, UInt64(bytes) <= memory else {
            throw BraidError.invalidParameter(
                "--batch \(sequences) needs a KV cache larger than this machine's \(memory / (1 << 20)) MiB of memory")
        }
    }

    /// The benchmark prompt: BOS (token 1 if the model has none), then (i·7919) mod 1000 + 100,
    /// folded into the vocabulary (a no-op for real models, needed for tiny test models).
    private static func prompt(count: Int, model: LanguageModel) -> [TokenID] {
        let vocabulary = model.configuration.vocabularySize
        let bos = model.tokenizer.bosToken ?? TokenID(min(1, vocabulary - 1))
        return [bos] + (0..<count - 1).map { TokenID(($0 * 7919 % 1000 + 100) % vocabulary) }
    }

    /// First decode token of every test.
    private static func firstDecodeToken(model: LanguageModel) -> TokenID {
        TokenID(100 % model.configuration.vocabularySize)
    }

    private func measure(model: LanguageModel, batchSizes: [Int]) throws -> BenchReport {
        let pool = ComputePool(threadCount: modelOptions.threads)
        let transformer = model.transformer
        let vocabulary = model.configuration.vocabularySize
        let tokens = Self.prompt(count: promptTokens, model: model)
        let clock = ContinuousClock()

        // pp and tg on one sequence; the cache is released before the batched caches exist.
        var promptRates: [Double] = [], decodeRates: [Double] = []
        var kvBytes = 0
        do {
            let cache = transformer.makeCache(capacity: promptTokens + genTokens)
            kvBytes = cache.byteCount
            _ = try transformer.forward(Batch(tokens: Array(tokens.prefix(Self.promptChunk)), startPosition: 0), cache: cache, pool: pool)
            for _ in 0..<repetitions {
                cache.truncate(0, to: 0)
                let start = clock.now
                var logits: [Float] = []
                for chunkStart in stride(from: 0, to: tokens.count, by: Self.promptChunk) {
                    let chunk = Array(tokens[chunkStart..<min(chunkStart + Self.promptChunk, tokens.count)])
                    logits = try transformer.forward(Batch(tokens: chunk, startPosition: chunkStart), cache: cache, pool: pool)
                }
                let promptEnd = clock.now
                var token = Self.firstDecodeToken(model: model)
                for step in 0..<genTokens {
                    logits = try transformer.forward(Batch(tokens: [token], startPosition: promptTokens + step), cache: cache, pool: pool)
                    token = Self.argmax(logits, row: 0, width: vocabulary)
                }
                let decodeEnd = clock.now
                promptRates.append(Double(promptTokens) / (promptEnd - start).seconds)
                decodeRates.append(Double(genTokens) / (decodeEnd - promptEnd).seconds)
            }
        }

        // B sequences at once: one forward pass of B tokens per step.
        var batched: [BatchedResult] = []
        let prefix = Array(tokens.prefix(Self.batchedPrefix))
        for size in batchSizes {
            let cache = transformer.makeCache(capacity: prefix.count + genTokens, sequenceCount: size)
            kvBytes = max(kvBytes, cache.byteCount)
            var prefill = Batch()
            for sequence in 0..<size {
                for (position, token) in prefix.enumerated() {
                    prefill.append(token, position: position, sequence: SequenceID(sequence), wantsLogits: false)
                }
            }
            var stepMilliseconds: [Double] = []
            for _ in 0..<repetitions {
                for sequence in 0..<size { cache.truncate(SequenceID(sequence), to: 0) }
                _ = try transformer.forward(prefill, cache: cache, pool: pool)
                var next = [TokenID](repeating: Self.firstDecodeToken(model: model), count: size)
                let start = clock.now
                for step in 0..<genTokens {
                    var decode = Batch()
                    for sequence in 0..<size { decode.append(next[sequence], position: prefix.count + step, sequence: SequenceID(sequence), wantsLogits: true) }
                    let logits = try transformer.forward(decode, cache: cache, pool: pool)
                    for sequence in 0..<size { next[sequence] = Self.argmax(logits, row: sequence, width: vocabulary) }
                }
                stepMilliseconds.append((clock.now - start).seconds * 1000 / Double(genTokens))
            }
            batched.append(BatchedResult(size: size, stepMilliseconds: Statistics(stepMilliseconds),
                                         tokensPerSecond: Statistics(stepMilliseconds.map { Double(size) * 1000 / $0 }),
                                         kvCacheBytes: cache.byteCount))
        }

        return BenchReport(
            model: URL(fileURLWithPath: model.file.path).deletingPathExtension().lastPathComponent,
            modelBytes: model.file.fileSize, threads: pool.threadCount, promptTokens: promptTokens, genTokens: genTokens,
            activationBits: KernelPath.compiledForVNNI ? model.transformer.activationPrecision.rawValue : 16,
            kvType: model.transformer.kvCacheType, repetitions: repetitions, prompt: Statistics(promptRates),
            decode: Statistics(decodeRates), batched: batched, kvCacheBytes: kvBytes, peakResidentBytes: Self.peakResidentBytes())
    }

    /// The time of one forward pass of n tokens of one sequence after a 128-token prompt, logits
    /// for every token and the row-exact kernels of speculative verification (what a verifier of
    /// n − 1 drafted tokens pays), median over repetitions of the mean of eight passes.
    private func measureForwards(model: LanguageModel, sizes: [Int]) throws -> [ForwardResult] {
        guard let largest = sizes.last else { return [] }
        let pool = ComputePool(threadCount: modelOptions.threads)
        let transformer = model.transformer
        let prefix = Self.prompt(count: min(128, model.configuration.contextLength - largest), model: model)
        let cache = transformer.makeCache(capacity: prefix.count + largest)
        _ = try transformer.forward(Batch(tokens: prefix, startPosition: 0), cache: cache, pool: pool)
        let clock = ContinuousClock()
        let passes = 8
        return try sizes.map { size in
            var batch = Batch(tokens: Array(repeating: Self.firstDecodeToken(model: model), count: size),
                              startPosition: prefix.count, allLogits: true)
            batch.rowExact = true
            var milliseconds: [Double] = []
            for _ in 0..<repetitions {
                let start = clock.now
                for _ in 0..<passes {
                    _ = try transformer.forward(batch, cache: cache, pool: pool)
                    cache.truncate(0, to: prefix.count)
                }
                milliseconds.append((clock.now - start).seconds * 1000 / Double(passes))
            }
            return ForwardResult(tokens: size, milliseconds: Statistics(milliseconds))
        }
    }

    /// Index of the largest logit of one row (the first on ties, as numpy's argmax).
    private static func argmax(_ logits: [Float], row: Int, width: Int) -> TokenID {
        var best = row * width
        for i in row * width..<(row + 1) * width where logits[i] > logits[best] { best = i }
        return TokenID(best - row * width)
    }

    /// The process's peak resident set size so far, in bytes.
    private static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return usage.ru_maxrss * 1024  // kilobytes on Linux
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
        return usage.ru_maxrss  // bytes on macOS
        #endif
    }
}

/// Median, min and max of a set of measurements.
struct Statistics {
    let median: Double
    let min: Double
    let max: Double

    /// The statistics of a non-empty set (the median of an even count averages the middle two).
    init(_ values: [Double]) {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        min = sorted.first ?? 0
        max = sorted.last ?? 0
    }

    var json: [String: Double] { ["median": median, "min": min, "max": max] }

    /// "median ± half the range".
    func formatted() -> String {
        String(format: "%.2f ± %.2f", median, (max - min) / 2)
    }
}

/// Batched decode figures for one batch size.
struct BatchedResult {
    let size: Int
    let stepMilliseconds: Statistics
    let tokensPerSecond: Statistics
    let kvCacheBytes: Int
}

/// The time of one forward pass of `tokens` tokens of one sequence.
struct ForwardResult {
    let tokens: Int
    let milliseconds: Statistics
}

/// Everything `braid bench` measured.
struct BenchReport {
    let model: String
    let modelBytes: Int
    let threads: Int
    let promptTokens: Int
    let genTokens: Int
    /// Bits per activation of the small-batch kernels: 15 or 8 (byte kernels), 16 (int16 kernels).
    let activationBits: Int
    /// How the KV caches of the run store keys and values.
    let kvType: KVCacheType
    let repetitions: Int
    let prompt: Statistics
    let decode: Statistics
    let batched: [BatchedResult]
    /// The largest KV cache of the run (one exists at a time).
    var kvCacheBytes: Int
    var peakResidentBytes: Int
    var branches: [BranchResult] = []
    var prefixCache: PrefixCacheResult?
    var forwards: [ForwardResult] = []

    /// Median step time of B=1, the baseline of the step-cost ratios.
    private var baselineStep: Double { batched.first { $0.size == 1 }?.stepMilliseconds.median ?? 0 }

    private func stepCost(_ result: BatchedResult) -> Double {
        baselineStep > 0 ? result.stepMilliseconds.median / baselineStep : 0
    }

    var json: [String: Any] {
        [
            "model": model, "model_bytes": modelBytes, "threads": threads, "build": KernelPath.targetDescription,
            "activation_bits": activationBits, "kv_type": kvType.rawValue, "p": promptTokens, "n": genTokens,
            "reps": repetitions, "prompt_tokens_per_s": prompt.json, "decode_tokens_per_s": decode.json,
            "batched": batched.map { result -> [String: Any] in
                ["batch": result.size, "tokens_per_s": result.tokensPerSecond.json, "ms_per_step": result.stepMilliseconds.json,
                 "step_cost_vs_1": stepCost(result), "kv_cache_bytes": result.kvCacheBytes]
            },
            "kv_cache_bytes": kvCacheBytes, "peak_rss_bytes": peakResidentBytes,
        ].merging(branchesJSON) { a, _ in a }.merging(forwardsJSON) { a, _ in a }
    }

    private var forwardBaseline: Double { forwards.first { $0.tokens == 1 }?.milliseconds.median ?? 0 }

    private func forwardCost(_ result: ForwardResult) -> Double {
        forwardBaseline > 0 ? result.milliseconds.median / forwardBaseline : 0
    }

    private var forwardsJSON: [String: Any] {
        guard !forwards.isEmpty else { return [:] }
        return ["forwards": forwards.map { ["tokens": $0.tokens, "ms": $0.milliseconds.json, "cost_vs_1": forwardCost($0)] as [String: Any] }]
    }

    /// The forward costs as a table.
    private var forwardTable: String {
        guard !forwards.isEmpty else { return "" }
        var text = "\n| tokens in one forward (one sequence) | ms | vs 1 token |\n|---:|---:|---:|\n"
        for result in forwards {
            text += "| \(result.tokens) | \(result.milliseconds.formatted()) | " + String(format: "%.2f |\n", forwardCost(result))
        }
        return text
    }

    private var branchBaseline: Double { branches.first { $0.branches == 1 }?.tokensPerSecond.median ?? 0 }

    private var branchesJSON: [String: Any] {
        guard let prefixCache else { return [:] }
        return ["branches": branches.map { $0.json(baseline: branchBaseline) }, "prefix_cache": prefixCache.json]
    }

    /// The branch figures as a table, and the prefix cache's time to first token.
    private var branchTable: String {
        guard let prefixCache else { return "" }
        var text = "\n| branches | aggregate decode t/s | ms/step | vs 1 branch | peak KV MiB | KV vs prompt stored once |\n"
            + "|---:|---:|---:|---:|---:|---:|\n"
        for result in branches {
            text += "| \(result.branches) | \(result.tokensPerSecond.formatted()) | \(result.stepMilliseconds.formatted()) | "
                + String(format: "%.2f | %@ | %.3f |\n", branchBaseline > 0 ? result.tokensPerSecond.median / branchBaseline : 0,
                         Self.mebibytes(result.kvPeakBytes), result.kvPeakVsSharedPrompt)
        }
        return text + String(format: "time to first token, p=%d: %.1f ms first, %.1f ms repeated (prefix cache) = %.3f×\n",
                             promptTokens, prefixCache.firstMilliseconds.median, prefixCache.repeatMilliseconds.median, prefixCache.ratio)
    }

    /// A table in llama-bench's layout, then the memory figures.
    var table: String {
        let size = Self.mebibytes(modelBytes)
        var rows = [["model", "size", "threads", "test", "t/s", "ms/step", "step cost vs B=1"]]
        rows.append([model, size, "\(threads)", "pp\(promptTokens)", prompt.formatted(), "", ""])
        rows.append([model, size, "\(threads)", "tg\(genTokens)", decode.formatted(), "", ""])
        for result in batched {
            rows.append([model, size, "\(threads)", "tg\(genTokens) B=\(result.size)", result.tokensPerSecond.formatted(),
                         result.stepMilliseconds.formatted(), String(format: "%.2f", stepCost(result))])
        }
        if batched.isEmpty { rows = rows.map { Array($0.prefix(5)) } }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        let rightAligned: Set<Int> = [1, 2, 4, 5, 6]
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: " | ") + " |\n"
        }
        let rule = line(widths.indices.map { column in
            rightAligned.contains(column) ? String(repeating: "-", count: widths[column] - 1) + ":" : String(repeating: "-", count: widths[column])
        })
        let file = Double(modelBytes), kv = Double(kvCacheBytes)
        return line(rows[0]) + rule + rows.dropFirst().map(line).joined() + "\n"
            + "peak RSS \(Self.mebibytes(peakResidentBytes)) = \(String(format: "%.2f", Double(peakResidentBytes) / (file + kv)))"
            + " × (model file \(size) + KV cache \(Self.mebibytes(kvCacheBytes))); \(repetitions) repetition\(repetitions == 1 ? "" : "s")"
            + "; build: \(KernelPath.targetDescription), \(activationBits)-bit activations, \(kvType) KV cache\n"
            + branchTable + forwardTable
    }

    private static func mebibytes(_ bytes: Int) -> String {
        String(format: "%.2f MiB", Double(bytes) / 1_048_576)
    }
}

extension Duration {
    /// The duration in seconds, at least a nanosecond (rates stay finite).
    var seconds: Double { Swift.max(milliseconds / 1000, 1e-9) }
}
