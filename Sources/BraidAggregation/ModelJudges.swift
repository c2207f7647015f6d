// Operators in which the model itself judges the branches or writes a new answer from them:
// self-verification (GenRM-style P("Yes")), a knock-out tournament of pairwise comparisons,
// universal self-consistency (Chen et al. 2023) and generative synthesis (the explorer and
// synthesizer pattern of A2R / SSA). Every judging prompt of a round goes through one batched
// call; verification asks its question as a follow-up turn of each branch's own conversation,
// so the prompt and the branch come from the prefix cache and only the question is computed.
import Foundation

/// A model that judges branches: a session over it and the prompt the branches continued.
public struct ModelJudge {
    /// The session (its cache holds the branches' blocks when it is the one that sampled them).
    public let session: GenerationSession
    /// The prompt the branches continued (empty for a synthesizer that only reads their text).
    public let promptTokens: [TokenID]

    public init(session: GenerationSession, promptTokens: [TokenID] = []) {
        self.session = session
        self.promptTokens = promptTokens
    }

    var model: LanguageModel { session.model }

    /// The model's chat template, or an error naming the operator that needs it.
    func chatTemplate(for operatorName: String) throws -> ChatTemplate {
        guard let template = model.chatTemplate else {
            throw AggregationError.needsModel("\(operatorName) talks to the model in its chat format, which it lacks: \(model.chatTemplateError.map { "\($0)" } ?? "none")")
        }
        return template
    }

    /// For each prompt, the probabilities of the `choices` (each by its first token) as the next
    /// token, normalized over the choices; adds the tokens computed to `context`'s count.
    func choiceProbabilities(prompts: [[TokenID]], choices: [String], context: AggregationContext) throws -> [[Double]] {
        let tokens = try choices.map { choice in
            guard let first = model.tokenizer.encode(choice, addSpecial: false, parseSpecial: false).first else {
                throw AggregationError.invalidSpecification("the choice '\(choice)' has no tokens")
            }
            return Int(first)
        }
        let (rows, computed) = try session.nextTokenLogits(prompts: prompts)
        context.spend(computed)
        return rows.map { logits in
            let chosen = tokens.map { Double(logits[$0]) }
            let top = chosen.max() ?? 0
            let weights = chosen.map { exp($0 - top) }
            let total = weights.reduce(0, +)
            return weights.map { $0 / total }
        }
    }

    /// Greedy text from the model for a user message in its chat format.
    func write(user message: String, maxTokens: Int, context: AggregationContext) throws -> (text: String, finishReason: FinishReason) {
        let prompt = try chatTemplate(for: "synthesize").prompt(user: message)
        let tokens = model.tokenizer.encode(prompt)
        let result = try session.generate(promptTokens: tokens, parameters: GenerationParameters(
            maxTokens: maxTokens, sampling: .greedy, contextLength: session.contextLength))
        context.spend(tokens.count - result.timings.reusedPromptTokens + result.tokens.count)
        return (result.text, result.finishReason)
    }
}

/// Best-of-N by self-verification: each branch's conversation goes on with "Is the answer
/// above correct?", and the branch with the highest P("Yes") (against "No") wins.
public struct BestOfVerification: AggregationOperator {
    public let name = "best-of:verify"
    /// The follow-up question.
    public let question: String

    public init(question: String = "Is the answer above correct? Reply with Yes or No.") {
        self.question = question
    }

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        let judge = try context.requireJudge(for: name)
        let followUp = judge.model.tokenizer.encode(try judge.chatTemplate(for: name).followUp(user: question))
        let prompts = candidates.map { judge.promptTokens + $0.branch.tokens + followUp }
        let yes = try judge.choiceProbabilities(prompts: prompts, choices: ["Yes", "No"], context: context).map { $0[0] }
        return BestOf.choose(name, candidates: candidates, scores: yes, context: context)
    }
}

/// A knock-out tournament: branches meet in pairs, the model says which of the two solutions is
/// correct, winners go on until one is left. Two branches with the same answer need no judge
/// (the first goes on); answered branches play before unanswered ones are considered.
public struct Tournament: AggregationOperator {
    public let name = "tournament"

    public init() {}

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        let judge = try context.requireJudge(for: name)
        let template = try judge.chatTemplate(for: name)
        let answered = candidates.indices.filter { candidates[$0].answer != nil }
        var round = answered.isEmpty ? Array(candidates.indices) : answered
        var wins = [Double](repeating: 0, count: candidates.count)
        while round.count > 1 {
            let pairs = stride(from: 0, to: round.count - 1, by: 2).map { (round[$0], round[$0 + 1]) }
            let judged = pairs.filter { candidates[$0.0].answer != candidates[$0.1].answer }
            let prompts = judged.map { a, b in
                judge.model.tokenizer.encode(template.prompt(user: """
                    Question: \(context.question)

                    Solution A:
                    \(candidates[a].branch.text)

                    Solution B:
                    \(candidates[b].branch.text)

                    Which solution is correct? Answer with the letter A or B only.
                    """))
            }
            let verdicts = try judge.choiceProbabilities(prompts: prompts, choices: ["A", "B"], context: context)
            var verdict = Dictionary(uniqueKeysWithValues: zip(judged.map(\.0), verdicts.map { $0[0] >= $0[1] }))
            var next: [Int] = []
            for (a, b) in pairs {
                let winner = verdict.removeValue(forKey: a) ?? true ? a : b
                wins[winner] += 1
                next.append(winner)
            }
            if round.count % 2 == 1 { next.append(round[round.count - 1]) }
            round = next
        }
        let winner = round.first
        return Aggregate(operatorName: name, answer: winner.flatMap { candidates[$0].answer }, text: winner.map { candidates[$0].branch.text } ?? "",
                         chosenStream: winner.map { candidates[$0].branch.stream }, votes: Voting.tally(candidates),
                         scores: Voting.byStream(candidates, wins), candidates: candidates, judgeTokens: context.judgeTokens)
    }
}

/// Universal self-consistency: the model reads every response and names the one most consistent
/// with the others (for free-form answers that a vote cannot compare). At most 9 responses, so
/// that each is named by one digit.
public struct UniversalSelfConsistency: AggregationOperator {
    public let name = "usc"

    public init() {}

    /// Checks the budget before any branch is sampled.
    public func run(_ context: AggregationContext) throws -> Aggregate {
        try Self.check(count: context.budget)
        return try fold(context.sample(streams: 0..<context.budget), context: context)
    }

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        let judge = try context.requireJudge(for: name)
        try Self.check(count: candidates.count)
        let responses = candidates.enumerated().map { "Response \($0.offset + 1):\n\($0.element.branch.text)" }.joined(separator: "\n\n")
        let prompt = try judge.chatTemplate(for: name).prompt(user: """
            I have generated the following responses to the question: \(context.question)

            \(responses)

            Evaluate these responses. Select the most consistent response based on majority consensus. \
            Start your answer with "The most consistent response is Response X" (without quotes).
            """) + "The most consistent response is Response "
        let probabilities = try judge.choiceProbabilities(prompts: [judge.model.tokenizer.encode(prompt)],
                                                          choices: candidates.indices.map { "\($0 + 1)" }, context: context)[0]
        return BestOf.choose(name, candidates: candidates, scores: probabilities, context: context)
    }

    private static func check(count: Int) throws {
        guard (1...9).contains(count) else { throw AggregationError.invalidSpecification("usc compares 1 to 9 responses (got \(count))") }
    }
}

/// Generative synthesis: a model (the explorers' own, or a larger one) reads the candidate
/// solutions, one per distinct answer with how many branches reached it, and writes a new final
/// solution whose answer is extracted. When it states none, the majority answer stands.
public struct Synthesis: AggregationOperator {
    public let name = "synthesize"
    /// Most tokens the synthesizer writes.
    public let maxTokens: Int

    public init(maxTokens: Int = 512) throws {
        guard maxTokens >= 1 else { throw AggregationError.invalidSpecification("synthesis needs ≥ 1 token (got \(maxTokens))") }
        self.maxTokens = maxTokens
    }

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        guard let writer = context.synthesizer ?? context.judge else {
            throw AggregationError.needsModel("synthesize needs a model to write the answer; give it a session")
        }
        let votes = Voting.tally(candidates)
        // One representative per answer: its most likely branch; without answers, every branch.
        let representatives: [(text: String, count: Int)] = votes.isEmpty
            ? candidates.map { ($0.branch.text, 1) }
            : votes.compactMap { vote in
                candidates.filter { $0.answer == vote.answer }.max { $0.branch.meanLogprob < $1.branch.meanLogprob }
                    .map { ($0.branch.text, vote.count) }
            }
        let listed = representatives.enumerated().map { i, entry in
            "Candidate \(i + 1) (reached by \(entry.count) of \(candidates.count) attempts):\n\(entry.text)"
        }.joined(separator: "\n\n")
        let (text, finishReason) = try writer.write(user: """
            Question: \(context.question)

            Several attempts at this question reached these candidate solutions; some may be wrong.

            \(listed)

            Check the candidates' reasoning, then write one correct, complete solution. \
            Put your final answer within \\boxed{}.
            """, maxTokens: maxTokens, context: context)
        let answer = context.extractor.extract(from: text, endedBy: finishReason) ?? votes.first?.answer
        return Aggregate(operatorName: name, answer: answer, text: text, chosenStream: nil, votes: votes, scores: [:],
                         candidates: candidates, judgeTokens: context.judgeTokens)
    }
}
