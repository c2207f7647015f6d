// Answers out of free text: what a branch concluded, normalized so that equal answers compare
// equal ("1,000" = "1000", "3.0" = "3", " Paris." = "paris"). A branch whose text has no
// answer is kept but does not vote. A text cut off before its end (out of tokens or cache, or
// pruned) has concluded nothing: only an answer it marks as one (`\boxed{}`, "the answer is") on
// a line it finished counts there, not one read from where the text happens to stop (its last
// number is a step of the working).
import Braid
import Foundation

/// Finds the answer a text concludes with.
public protocol AnswerExtractor: Sendable {
    /// The normalized answer in `text`, or nil when it has none.
    func extract(from text: String) -> String?
    /// The answer of a text cut off before its end: only one the text marks as its answer.
    /// Default: as `extract(from:)`, for extractors that only take marked answers; an extractor
    /// that wraps others passes this on to theirs.
    func extract(fromUnfinished text: String) -> String?
}

extension AnswerExtractor {
    public func extract(fromUnfinished text: String) -> String? {
        extract(from: text)
    }

    /// The answer of a text that ended for `reason`: whole (`stop`) or cut off (any other reason).
    public func extract(from text: String, endedBy reason: FinishReason) -> String? {
        reason == .stop ? extract(from: text) : extract(fromUnfinished: text)
    }
}

/// The last number in the text ("… so she has 1,250.50 dollars." → "1250.5"); none in a text cut
/// off before its end.
public struct LastNumberExtractor: AnswerExtractor {
    public init() {}

    public func extract(from text: String) -> String? {
        AnswerNormalization.numbers(in: text).last
    }

    public func extract(fromUnfinished text: String) -> String? {
        nil
    }
}

/// The contents of the last non-empty `\boxed{…}` (braces may nest), as a number when it is one.
public struct BoxedExtractor: AnswerExtractor {
    public init() {}

    public func extract(from text: String) -> String? {
        var searchEnd = text.endIndex
        while let open = text.range(of: "\\boxed{", options: .backwards, range: text.startIndex..<searchEnd) {
            searchEnd = open.lowerBound
            if let contents = Self.contents(of: text, from: open.upperBound), let answer = AnswerNormalization.answer(contents) {
                return answer
            }
        }
        return nil
    }

    /// The text up to the brace that closes the one before `start`.
    private static func contents(of text: String, from start: String.Index) -> String? {
        var depth = 1
        var index = start
        while index < text.endIndex {
            switch text[index] {
            case "{": depth += 1
            case "}":
                depth -= 1
                if depth == 0 { return String(text[start..<index]) }
            default: break
            }
            index = text.index(after: index)
        }
        return nil
    }
}

/// What follows the last "answer is" / "answer:" / "#### " marker, up to the end of its line or
/// sentence, as a number when it holds one (with `numeric`, only a number counts). In a text cut
/// off before its end, a marker on the last line does not count: its answer may be cut ("is 1"
/// of "is 150").
public struct AnswerIsExtractor: AnswerExtractor {
    /// Accept only numbers (math answers: "the answer is correct" is not one).
    public let numeric: Bool

    public init(numeric: Bool = false) {
        self.numeric = numeric
    }

    private static var pattern: Regex<(Substring, Substring)> { /(?i)(?:answer\s*(?:is|:)|####)\s*:?\s*([^\n]*)/ }

    public func extract(from text: String) -> String? {
        guard let match = text.matches(of: Self.pattern).last else { return nil }
        var tail = String(match.output.1)
        // "The answer is 42. Next …": the sentence ends at a period followed by a space.
        if let end = tail.range(of: ". ") { tail = String(tail[..<end.lowerBound]) }
        if let boxed = BoxedExtractor().extract(from: tail) { return boxed }
        if numeric {
            // Only a number right after the marker ("is $18", "is: **72**", "is \\(5\\)"), not
            // one later in a sentence ("the answer is correct since 5 …").
            let start = tail.drop { " :*$\\(".contains($0) }
            guard start.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true else { return nil }
            return AnswerNormalization.numbers(in: String(start)).first
        }
        if let number = AnswerNormalization.numbers(in: tail).first { return number }
        let answer = AnswerNormalization.text(tail)
        return answer.isEmpty ? nil : answer
    }

    public func extract(fromUnfinished text: String) -> String? {
        CutText.finishedLines(of: text).flatMap(extract(from:))
    }
}

/// A multiple-choice letter A–E: "answer is (c)", "Answer: C", or a lone capital at the end (not
/// in a text cut off before its end).
public struct ChoiceExtractor: AnswerExtractor {
    public init() {}

    /// A letter after "answer is" / "answer:", with its parentheses if any.
    private static var marked: Regex<(Substring, Substring?, Substring, Substring?)> {
        /(?i:answer)\s*(?:(?i:is)|:)?\s*:?\s*(\()?([A-Ea-e])(\))?(?![A-Za-z])/
    }
    private static var lone: Regex<(Substring, Substring)> { /(?:^|[\s(])\(?([A-E])\)?[.)]?\s*$/ }

    public func extract(from text: String) -> String? {
        if let letter = Self.markedLetter(in: text) { return letter }
        if let match = text.firstMatch(of: Self.lone) { return match.output.1.uppercased() }
        return nil
    }

    public func extract(fromUnfinished text: String) -> String? {
        CutText.finishedLines(of: text).flatMap(Self.markedLetter(in:))
    }

    /// The letter of the last "answer is (X)" / "answer: X" in `text`. A lower-case letter counts
    /// only with a parenthesis ("(c)", "c)"): bare, "a" is the article ("the answer is a multiple of 3").
    private static func markedLetter(in text: String) -> String? {
        text.matches(of: marked).last { match in
            match.output.1 != nil || match.output.3 != nil || match.output.2.first?.isUppercase == true
        }.map { $0.output.2.uppercased() }
    }
}

/// The last fenced code block (``` … ```), with trailing whitespace of each line removed.
public struct CodeBlockExtractor: AnswerExtractor {
    public init() {}

    private static var pattern: Regex<(Substring, Substring)> { /```[^\n]*\n((?s).*?)```/ }

    public func extract(from text: String) -> String? {
        guard let match = text.matches(of: Self.pattern).last else { return nil }
        let lines = match.output.1.split(separator: "\n", omittingEmptySubsequences: false).map {
            String($0.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
        let code = lines.joined(separator: "\n").trimmingCharacters(in: .newlines)
        return code.isEmpty ? nil : code
    }
}

/// The first capture group (or the whole match) of a user's regular expression, last match wins.
public struct RegexExtractor: AnswerExtractor {
    /// The expression as given.
    public let pattern: String
    private let regex: NSRegularExpression

    /// Throws when `pattern` is not a valid regular expression.
    public init(pattern: String) throws {
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw AggregationError.invalidSpecification("not a valid regular expression: \(pattern)")
        }
        self.pattern = pattern
    }

    public func extract(from text: String) -> String? {
        let all = NSRange(text.startIndex..., in: text)
        guard let match = regex.matches(in: text, range: all).last else { return nil }
        let group = match.numberOfRanges > 1 && match.range(at: 1).location != NSNotFound ? 1 : 0
        guard let range = Range(match.range(at: group), in: text) else { return nil }
        return AnswerNormalization.answer(String(text[range]))
    }
}

/// Tries extractors in order and takes the first answer found.
public struct FirstAnswerExtractor: AnswerExtractor {
    /// The extractors, most specific first.
    public let extractors: [any AnswerExtractor]

    public init(_ extractors: [any AnswerExtractor]) {
        self.extractors = extractors
    }

    public func extract(from text: String) -> String? {
        extractors.lazy.compactMap { $0.extract(from: text) }.first
    }

    public func extract(fromUnfinished text: String) -> String? {
        extractors.lazy.compactMap { $0.extract(fromUnfinished: text) }.first
    }
}

/// Texts cut off before their end.
enum CutText {
    /// The text up to its last line break (nil when it has none): the lines it finished.
    static func finishedLines(of text: String) -> String? {
        text.lastIndex(of: "\n").map { String(text[..<$0]) }
    }
}

/// Extractors by the names the command line uses.
public enum AnswerExtraction {
    /// The default for math: `\boxed{}`, then "answer is"/"####", then the last number (in a
    /// finished text only).
    public static let math: any AnswerExtractor = FirstAnswerExtractor([BoxedExtractor(), AnswerIsExtractor(numeric: true), LastNumberExtractor()])

    /// `math`, `number`, `boxed`, `answer`, `choice`, `code` or `regex:PATTERN`.
    public static func named(_ name: String) throws -> any AnswerExtractor {
        if name.hasPrefix("regex:") { return try RegexExtractor(pattern: String(name.dropFirst("regex:".count))) }
        switch name {
        case "math": return math
        case "number": return LastNumberExtractor()
        case "boxed": return BoxedExtractor()
        case "answer": return AnswerIsExtractor()
        case "choice": return ChoiceExtractor()
        case "code": return CodeBlockExtractor()
        default:
            throw AggregationError.invalidSpecification("unknown extractor '\(name)' (math, number, boxed, answer, choice, code, regex:PATTERN)")
        }
    }
}

/// How answers are made comparable.
public enum AnswerNormalization {
    // A number: optional sign and currency, digits with optional thousands commas, optional
    // decimals; or a bare decimal fraction (".5").
    private static var number: Regex<Substring> { /-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\$?\.\d+/ }

    /// Every number in `text`, normalized, in order.
    public static func numbers(in text: String) -> [String] {
        text.matches(of: number).compactMap { canonicalNumber(String($0.output)) }
    }

    /// A number as one canonical string: no commas or currency sign, no trailing zeros after
    /// the point, no "-0" ("1,000.50" → "1000.5", "3.0" → "3"); nil when `text` is not a number.
    public static func canonicalNumber(_ text: String) -> String? {
        var digits = text.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "$", with: "")
        digits = digits.trimmingCharacters(in: .whitespaces)
        guard !digits.isEmpty, let value = Decimal(string: digits, locale: Locale(identifier: "en_US_POSIX")),
              digits.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) else { return nil }
        if value.isZero { return "0" }
        return NSDecimalNumber(decimal: value).stringValue
    }

    /// Free text made comparable: trimmed, case-folded, inner whitespace collapsed, a trailing
    /// period and enclosing `$…$` or quotes removed.
    public static func text(_ text: String) -> String {
        var answer = text.trimmingCharacters(in: .whitespacesAndNewlines)
        for (open, close) in [("$", "$"), ("\"", "\""), ("'", "'"), ("**", "**")] where answer.count >= 2 * open.count {
            if answer.hasPrefix(open) && answer.hasSuffix(close) { answer = String(answer.dropFirst(open.count).dropLast(close.count)) }
        }
        while answer.hasSuffix(".") { answer.removeLast() }
        return answer.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased()
    }

    /// An extracted answer: a number when the whole answer is one number (units and a percent
    /// sign around it allowed: "$18", "10%", "5 apples" → "18", "10", "5"), otherwise its text.
    public static func answer(_ raw: String) -> String? {
        let cleaned = raw.replacingOccurrences(of: "\\%", with: "%").replacingOccurrences(of: "\\$", with: "$")
        let found = numbers(in: cleaned)
        if found.count == 1 { return found[0] }
        let answer = text(cleaned)
        return answer.isEmpty ? nil : answer
    }
}

/// A malformed aggregation request.
public enum AggregationError: Error, CustomStringConvertible, Equatable {
    /// An operator, extractor or option that does not parse or is out of range.
    case invalidSpecification(String)
    /// The operator needs a model (a judge or a synthesizer) and none was given.
    case needsModel(String)

    public var description: String {
        switch self {
        case .invalidSpecification(let message): "invalid aggregation: \(message)"
        case .needsModel(let message): "aggregation needs a model: \(message)"
        }
    }
}
