// Answer extraction and normalization on a table of tricky strings.
import BraidAggregation
import Testing

@Suite("Answer extraction")
struct ExtractionTests {
    @Test("numbers are normalized: commas, currency, trailing zeros, negative zero")
    func numbers() {
        let table: [(String, String?)] = [
            ("1,000", "1000"), ("3.0", "3"), ("$18", "18"), ("1,250.50", "1250.5"), ("-0", "0"), ("0.50", "0.5"),
            ("-7", "-7"), (".5", "0.5"), ("1e5", nil), ("abc", nil),
        ]
        for (text, expected) in table {
            #expect(AnswerNormalization.canonicalNumber(text) == expected, "\(text)")
        }
        #expect(AnswerNormalization.numbers(in: "from 12,345 apples to 3.50 dollars and 7%") == ["12345", "3.5", "7"])
    }

    @Test("the math extractor prefers \\boxed, then 'answer is' / ####, then the last number")
    func math() {
        let table: [(String, String?)] = [
            ("So 3 + 4 = 7.\nThe final answer is \\boxed{7}. Then 9.", "7"),
            ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
            ("we get \\boxed{1,000.0} dollars", "1000"),
            ("empty \\boxed{} but \\boxed{42} earlier... \\boxed{}", "42"),
            ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
            ("The answer is $18. Next we check 20.", "18"),
            ("The answer is correct, and it took 5 steps to get 12", "12"),
            ("He has 10% left, so 90 percent", "90"),
            ("no numbers here", nil),
            ("answer: \\boxed{\\text{5 apples}}", "5"),
        ]
        for (text, expected) in table {
            #expect(AnswerExtraction.math.extract(from: text) == expected, "\(text)")
        }
    }

    @Test("a text cut off before its end has an answer only where it marks one")
    func unfinishedTexts() {
        let math = AnswerExtraction.math
        let working = "Distance running = 6 × 2 = 12 miles.\nDistance walking = 1.5 × 4 = 6"
        #expect(math.extract(from: working) == "6")
        #expect(math.extract(from: working, endedBy: .stop) == "6")
        for reason in [FinishReason.length, .kvFull, .pruned] {
            #expect(math.extract(from: working, endedBy: reason) == nil)
            #expect(math.extract(from: "So the total is \\boxed{18} miles. Let us check: 12 + 6", endedBy: reason) == "18")
            #expect(math.extract(from: "#### 18\nTo check, 12", endedBy: reason) == "18")
        }
        // A marker on the line the text was cut in may have lost the end of its answer.
        #expect(math.extract(from: "Total: 48 + 102 = 150.\nThe answer is 1", endedBy: .length) == nil)
        #expect(math.extract(from: "The answer is 150.\nLet us check: 1", endedBy: .length) == "150")
        #expect(LastNumberExtractor().extract(fromUnfinished: working) == nil)
        #expect(ChoiceExtractor().extract(from: "After all that, D") == "D")
        #expect(ChoiceExtractor().extract(fromUnfinished: "After all that, D") == nil)
        #expect(ChoiceExtractor().extract(fromUnfinished: "The answer is (B), because\nso") == "B")
        #expect(CodeBlockExtractor().extract(fromUnfinished: "```\nx = 1\n```\nand then") == "x = 1")
    }

    @Test("answer-is text answers are trimmed, case-folded and stripped of a final period")
    func textAnswers() {
        let extractor = AnswerIsExtractor()
        #expect(extractor.extract(from: "Thinking...\nThe answer is:  Paris.") == "paris")
        #expect(extractor.extract(from: "The answer is **New  York**") == "new york")
        #expect(extractor.extract(from: "nothing to see") == nil)
        #expect(AnswerIsExtractor(numeric: true).extract(from: "The answer is Paris.") == nil)
    }

    @Test("choices, code blocks and user expressions")
    func otherExtractors() throws {
        let choice = ChoiceExtractor()
        #expect(choice.extract(from: "Let me think. The answer is (c).") == "C")
        #expect(choice.extract(from: "Answer: B") == "B")
        #expect(choice.extract(from: "After all that, D") == "D")
        #expect(choice.extract(from: "An apple a day") == nil)
        // A bare lower-case letter after "answer is" is a word, not a choice.
        #expect(choice.extract(from: "The answer is a multiple of 3, so B") == "B")
        #expect(choice.extract(from: "So the answer is a.") == nil)
        #expect(choice.extract(from: "The answer: E) 12") == "E")
        #expect(choice.extract(from: "The answer is c) 12") == "C")
        #expect(choice.extract(from: "The answer is (D, since") == "D")

        let code = CodeBlockExtractor()
        #expect(code.extract(from: "first\n```python\nx = 1   \n```\nthen\n```swift\nlet y = 2\nprint(y)  \n```\n") == "let y = 2\nprint(y)")
        #expect(code.extract(from: "``` unterminated") == nil)

        let regex = try RegexExtractor(pattern: "RESULT=(\\d+)")
        #expect(regex.extract(from: "RESULT=1 and later RESULT=2,000") == "2")
        #expect(throws: AggregationError.self) { try RegexExtractor(pattern: "(unclosed") }
        #expect(throws: AggregationError.self) { try AnswerExtraction.named("letters") }
        #expect(try AnswerExtraction.named("regex:x=(\\d)").extract(from: "x=4") == "4")
    }
}
