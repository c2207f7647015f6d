// Parallel reasoning in one call: a prompt, a budget of branches and an operator; and the
// operators by the names the command line takes.

/// Operators by name.
public enum AggregationOperators {
    /// Every name `named` takes (parameters after a colon where shown).
    public static let names = ["vote", "weighted[:likelihood|mean|lowest|bottom10|tail]", "deepconf[:online[:low]]",
                               "adaptive[:RULE[:THRESHOLD[:FIRST[:WAVE]]]] (RULE: beta|dirichlet|entropy)", "best-of:ll", "best-of:verify", "tournament", "usc", "synthesize"]

    /// The operator called `name`.
    public static func named(_ name: String) throws -> any AggregationOperator {
        let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
        let option = parts.count > 1 ? parts[1] : nil
        switch (parts.first ?? "", option) {
        case ("vote", nil): return MajorityVote()
        case ("weighted", let score):
            guard let score = BranchScore(rawValue: score ?? BranchScore.likelihood.rawValue) else { break }
            return WeightedVote(score: score)
        case ("deepconf", nil): return try DeepConf.Offline()
        case ("deepconf", "online"): return try DeepConf.Online()
        case ("deepconf", "online:low"): return try DeepConf.Online(keep: DeepConf.Online.lowKeep)
        case ("adaptive", let rule): return try AdaptiveConsistency.named(rule ?? "beta")
        case ("best-of", "ll"): return BestOfLikelihood()
        case ("best-of", "verify"): return BestOfVerification()
        case ("tournament", nil): return Tournament()
        case ("usc", nil): return UniversalSelfConsistency()
        case ("synthesize", nil): return try Synthesis()
        default: break
        }
        throw AggregationError.invalidSpecification("unknown operator '\(name)' (\(names.joined(separator: ", ")))")
    }

    /// Alternatives per token that DeepConf's confidence averages (the paper's k).
    public static let confidenceAlternatives = 20
}

extension GenerationSession {
    /// A session sized for `reason`: the prompt, `budget` branches of `parameters.maxTokens`
    /// tokens, and as much again for judging and synthesis prompts that quote the branches.
    public convenience init(model: LanguageModel, parameters: GenerationParameters, promptTokens: Int, reasoningBudget budget: Int) throws {
        try self.init(model: model, parameters: parameters, promptTokens: promptTokens, branches: 2 * budget + 2)
    }

    /// A session for a synthesizer model: room for one prompt as long as the context.
    public convenience init(synthesizer model: LanguageModel, parameters: GenerationParameters) throws {
        try self.init(model: model, parameters: parameters,
                      promptTokens: parameters.contextLength ?? GenerationSession.defaultContextLength(model), branches: 1)
    }

    /// Samples up to `budget` branches of `promptTokens` and folds them into one answer with
    /// `aggregation`. The prompt is processed once and every round of branches forks it; judges
    /// run in this session (the branches' blocks are still cached), a synthesizer in its own.
    ///
    /// ```swift
    /// let session = try GenerationSession(model: model, kvBudgetBytes: 512 << 20)
    /// let prompt = try model.chatPrompt(user: question + " Put the final answer within \\boxed{}.")
    /// let result = try session.reason(question: question, promptTokens: model.tokenizer.encode(prompt), budget: 8,
    ///                                  parameters: GenerationParameters(maxTokens: 640, topLogprobs: 20),
    ///                                  aggregation: try DeepConf.Online(), extractor: AnswerExtraction.math)
    /// print(result.answer ?? "no answer", result.votes)
    /// ```
    public func reason(question: String, promptTokens: [TokenID], budget: Int, parameters: GenerationParameters,
                       aggregation: any AggregationOperator, extractor: any AnswerExtractor,
                       synthesizer: GenerationSession? = nil) throws -> Aggregate {
        let prompt = try prepare(promptTokens: promptTokens, parameters: parameters)
        defer { release(prompt) }
        let context = try AggregationContext(
            source: LiveBranches(session: self, prompt: prompt, parameters: parameters), budget: budget, extractor: extractor,
            question: question, judge: ModelJudge(session: self, promptTokens: promptTokens),
            synthesizer: synthesizer.map { ModelJudge(session: $0) })
        return try aggregation.run(context)
    }
}
