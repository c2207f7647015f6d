// Speculative generation of one chain: a drafter proposes tokens, the tree verifier checks them
// in one forward of the target, and every accepted token goes through the same checks as plain
// decoding (end of generation, stop strings, token limit), so greedy output is exactly plain
// greedy's, only produced several tokens per forward.
//
//   forward   rows                       produced
//   1         p₀ d₁ d₂ d₃ d₄             d₁ d₂ + t      (the target's own token after d₂)
//   2         t  e₁ e₂ …                 …
import Foundation

/// How a speculative generation drafts.
public enum SpeculationMethod: Sendable {
    /// A smaller model with the same vocabulary drafts `k` tokens (nil: adapts k as it goes).
    case draftModel(LanguageModel, k: Int?)
    /// Continuations of earlier occurrences of the last tokens, up to `k` tokens each.
    case ngram(k: Int)
    /// Jacobi iteration over a block of `n` tokens.
    case jacobi(n: Int)
    /// Lookahead decoding: window `w`, n-gram size `n`, at most `g` guesses per step.
    case lookahead(w: Int, n: Int, g: Int)
    /// Picks among the others (and plain decoding) by measured cost and acceptance; `draftModel`
    /// is one of its options when given.
    case auto(draftModel: LanguageModel?)

    /// Default Jacobi block and lookahead W, N, G: the narrowest trees, because on a few CPU cores
    /// every extra row of a forward costs compute. A Jacobi block of 2 is a forward of 2 rows (about
    /// the cost of one on the 1.5B); lookahead 1,2,2 is at most 4 rows, one block of the
    /// small-batch kernels: a one-token window and two pooled guesses. Measured on the three
    /// models, both beat every wider setting tried (README, "Lookahead and Jacobi").
    public static let defaultJacobiBlock = 2
    public static let defaultLookahead = (w: 1, n: 2, g: 2)

    /// Parses `draft:MODEL[:k]`, `ngram[:k]`, `jacobi[:n]`, `lookahead[:W,N,G]` or `auto[:MODEL]`;
    /// `loadModel` resolves a model argument. Throws a message naming what is wrong.
    public static func parse(_ text: String, loadModel: (String) throws -> LanguageModel) throws -> SpeculationMethod {
        var parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let method = parts.removeFirst(), argument = parts.first
        func integer(_ value: String, _ what: String) throws -> Int {
            guard let number = Int(value) else { throw BraidError.invalidParameter("--speculative \(method): \(what) must be an integer (got '\(value)')") }
            return number
        }
        let result: SpeculationMethod
        switch method {
        case "draft":
            guard var model = argument, !model.isEmpty else { throw BraidError.invalidParameter("--speculative draft needs a model: draft:MODEL[:k]") }
            var k: Int?
            if let colon = model.lastIndex(of: ":") {
                k = try integer(String(model[model.index(after: colon)...]), "k")
                model = String(model[..<colon])
            }
            result = .draftModel(try loadModel(model), k: k)
        case "ngram":
            result = .ngram(k: try argument.map { try integer($0, "k") } ?? NGramDrafter.defaultLength)
        case "jacobi":
            result = .jacobi(n: try argument.map { try integer($0, "n") } ?? defaultJacobiBlock)
        case "lookahead":
            guard let argument else { return .lookahead(w: defaultLookahead.w, n: defaultLookahead.n, g: defaultLookahead.g) }
            let values = try argument.split(separator: ",", omittingEmptySubsequences: false).map { try integer(String($0), "W,N,G") }
            guard values.count == 3 else { throw BraidError.invalidParameter("--speculative lookahead takes three numbers W,N,G (got '\(argument)')") }
            result = .lookahead(w: values[0], n: values[1], g: values[2])
        case "auto":
            result = .auto(draftModel: try argument.map(loadModel))
        default:
            throw BraidError.invalidParameter("unknown speculative method '\(method)' (known: draft:MODEL[:k], ngram[:k], jacobi[:n], lookahead[:W,N,G], auto[:MODEL])")
        }
        try result.validate()
        return result
    }

    /// Throws for parameters no drafter can take (k = 0, n < 2, W < 1, …).
    public func validate() throws {
        switch self {
        case let .draftModel(_, k): if let k, k < 1 { throw BraidError.invalidParameter("draft length k must be ≥ 1 (got \(k))") }
        case let .ngram(k): _ = try NGramDrafter(length: k)
        case let .jacobi(n): _ = try JacobiDrafter(blockLength: n)
        case let .lookahead(w, n, g): _ = try LookaheadDrafter(window: w, ngramLength: n, guesses: g)
        case .auto: break
        }
    }

    /// Most paths a draft tree of this method has: each is a lane of the KV cache during
    /// verification, which needs a block of its own (to size a session's cache).
    public var maximumLanes: Int {
        switch self {
        case .draftModel, .jacobi: 1
        case .ngram: NGramDrafter.defaultCandidates
        case let .lookahead(w, _, g): w + g
        case .auto: NGramDrafter.defaultCandidates
        }
    }

    /// The method's name in reports and on the command line.
    public var name: String {
        switch self {
        case .draftModel: "draft"
        case .ngram: "ngram"
        case .jacobi: "jacobi"
        case .lookahead: "lookahead"
        case .auto: "auto"
        }
    }
}

/// What speculation did during one generation.
public struct SpeculationReport: Sendable, Codable, Equatable {
    /// The method ("draft", "ngram", "jacobi", "lookahead" or "auto").
    public var method: String
    /// Draft tokens proposed.
    public var drafted: Int
    /// Draft tokens the target accepted.
    public var accepted: Int
    /// Forward passes of the target after the prompt.
    public var targetForwards: Int
    /// Time spent drafting.
    public var draftMilliseconds: Double
    /// Time spent in verification forwards.
    public var verifyMilliseconds: Double
    /// For `auto`: forwards per drafter it chose ("none" is plain decoding).
    public var choices: [String: Int]?

    /// Tokens produced per target forward: accepted drafts plus the target's own token.
    public var meanAcceptedLength: Double { targetForwards > 0 ? Double(accepted + targetForwards) / Double(targetForwards) : 0 }
    /// Share of the drafted tokens that were accepted.
    public var acceptanceRate: Double { drafted > 0 ? Double(accepted) / Double(drafted) : 0 }

    enum CodingKeys: String, CodingKey {
        case method, drafted, accepted, choices
        case targetForwards = "target_forwards", draftMilliseconds = "draft_ms", verifyMilliseconds = "verify_ms"
    }
}

extension GenerationSession {
    /// A drafter for `method` that shares this session's threads; drafters sized by the target's
    /// forward costs (draft model, n-grams, `auto`) record and read them in `costs`.
    public func makeDrafter(_ method: SpeculationMethod, sampling: SamplingParameters = .greedy,
                            costs: ForwardCosts = ForwardCosts()) throws -> any Drafter {
        switch method {
        case let .draftModel(draft, k):
            return try DraftModelDrafter(draft: draft, target: model, pool: pool, contextLength: contextLength, fixedLength: k,
                                         sampling: sampling, costs: costs)
        case let .ngram(k):
            return try NGramDrafter(length: k, costs: costs)
        case let .jacobi(n):
            return try JacobiDrafter(blockLength: n)
        case let .lookahead(w, n, g):
            return try LookaheadDrafter(window: w, ngramLength: n, guesses: g)
        case let .auto(draft):
            // The options share one table of the target's forward costs: each sees every step.
            var options = [try makeDrafter(.ngram(k: NGramDrafter.defaultLength), sampling: sampling, costs: costs)]
            if let draft { options.append(try makeDrafter(.draftModel(draft, k: nil), sampling: sampling, costs: costs)) }
            return AutoDrafter(options: options, costs: costs)
        }
    }

    /// Generates one continuation with speculative decoding (see the file header). Greedy
    /// parameters give exactly `generate`'s tokens; with temperature > 0 the tokens follow the
    /// same distribution as plain sampling.
    public func generate(promptTokens: [TokenID], parameters: GenerationParameters = GenerationParameters(),
                         speculation method: SpeculationMethod, onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try parameters.validate()
        let drafter = try makeDrafter(method, sampling: parameters.sampling)
        return try generate(promptTokens: promptTokens, parameters: parameters, drafter: drafter, onText: onText)
    }

    /// Generates one continuation with `drafter` proposing tokens.
    public func generate(promptTokens: [TokenID], parameters: GenerationParameters = GenerationParameters(), drafter: any Drafter,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try withoutActuallyEscaping(onText) { try speculate(promptTokens: promptTokens, parameters: parameters, drafter: drafter, onText: $0) }
    }

    private func speculate(promptTokens: [TokenID], parameters: GenerationParameters, drafter: any Drafter,
                           onText: @escaping (String) -> Void) throws -> GenerationResult {
        let clock = ContinuousClock()
        let prompt = try prepare(promptTokens: promptTokens, parameters: parameters)
        defer { release(prompt) }
        var sequence = try cache.fork(prompt.sequence)
        defer { cache.free(sequence) }
        var branch = LiveBranch(stream: 0, sequence: sequence, sampler: try Sampler(parameters.sampling, stream: 0),
                                history: Array(promptTokens.suffix(parameters.sampling.repetitionWindow)),
                                text: StopStringText(stopStrings: parameters.stopStrings),
                                detokenizer: StreamingDetokenizer(tokenizer: model.tokenizer),
                                finishReason: parameters.maxTokens == 0 ? .length : nil)
        let verifier = TreeVerifier(model: model, cache: cache, pool: pool)
        var report = SpeculationReport(method: drafter.name, drafted: 0, accepted: 0, targetForwards: 0, draftMilliseconds: 0,
                                       verifyMilliseconds: 0)
        let decodeStart = clock.now
        var decodedTokens = 0
        var context = promptTokens

        // Every token goes through the branch's checks in order; the first that ends it wins.
        func take(_ sampled: SampledToken) -> Bool {
            if let reason = branch.accept(sampled, parameters: parameters, tokenizer: model.tokenizer, promptLength: promptTokens.count,
                                          contextLength: contextLength, monitor: nil, onText: onText) {
                branch.finishReason = reason
                return false
            }
            context.append(sampled.chosen.token)
            return true
        }
        if branch.finishReason == nil {
            var pending = prompt.logits.withUnsafeBufferPointer { branch.sampler.sampleWithLogprobs($0, history: branch.history,
                                                                                                    alternatives: parameters.topLogprobs) }
            var running = take(pending)
            while running {
                // Drafts must fit the token limit (the forward adds one token of its own) and the context.
                let length = cache.length(of: sequence)
                let depth = min(parameters.maxTokens - branch.tokens.count, contextLength - length - 1) - 1
                let draftStart = clock.now
                let tree = depth > 0 ? try drafter.draft(context: context, maximumDepth: depth).pruned(maximumDepth: depth) : DraftTree()
                let verifyStart = clock.now
                func verify(_ tree: DraftTree) throws -> TreeVerifier.Step {
                    try verifier.verify(pending: pending.chosen.token, tree: tree, sequence: sequence, sampler: &branch.sampler,
                                        history: branch.history, alternatives: parameters.topLogprobs)
                }
                let step: TreeVerifier.Step
                do {
                    step = try verify(tree)
                } catch KVCacheError.full {
                    // No blocks for the tree's lanes: a plain step if there is room for that.
                    guard !tree.isEmpty, let plain = try? verify(DraftTree()) else {
                        branch.finishReason = .kvFull
                        break
                    }
                    step = plain
                }
                sequence = step.sequence
                var verification = step.verification
                verification.draftMilliseconds = (verifyStart - draftStart).milliseconds
                verification.forwardMilliseconds = (clock.now - verifyStart).milliseconds
                report.draftMilliseconds += verification.draftMilliseconds
                report.verifyMilliseconds += verification.forwardMilliseconds
                report.drafted += tree.count
                report.accepted += verification.acceptedTokens.count
                report.targetForwards += 1
                decodedTokens += verification.producedTokens
                for sampled in step.tokens {
                    running = take(sampled)
                    if !running { break }
                }
                pending = step.tokens[step.tokens.count - 1]
                if running { drafter.observe(verification, tree: tree, context: context) }
            }
        }
        let (released, _) = branch.text.append(branch.detokenizer.finish())
        onText(released + branch.text.finish())
        report.choices = (drafter as? AutoDrafter)?.choices
        let timings = GenerationTimings(promptMilliseconds: prompt.milliseconds, decodeMilliseconds: (clock.now - decodeStart).milliseconds,
                                        promptTokens: promptTokens.count, reusedPromptTokens: prompt.reusedTokens,
                                        decodedTokens: decodedTokens)
        return GenerationResult(promptTokens: promptTokens, tokens: branch.tokens, text: branch.text.text,
                                finishReason: branch.finishReason ?? .length, logprobs: branch.logprobs, timings: timings,
                                speculation: report)
    }
}
