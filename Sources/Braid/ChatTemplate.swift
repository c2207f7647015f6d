// Applies a model's chat template to a user message. Braid does not run Jinja: it recognizes the
// ChatML family (`<|im_start|>role\n…<|im_end|>\n`, used by SmolLM2 and Qwen2.5) in the template
// stored in `tokenizer.chat_template`, including the default system message the template inserts
// when the conversation has none, and refuses any other template with a clear error.
import Foundation

/// A chat format Braid can apply.
public struct ChatTemplate: Sendable, Equatable {
    /// The system message the template adds when the conversation has none (nil: none).
    public let defaultSystemMessage: String?

    /// Recognizes `template` (the GGUF `tokenizer.chat_template`); throws for unsupported ones.
    public init(template: String) throws {
        guard template.contains("<|im_start|>"), template.contains("<|im_end|>") else {
            throw BraidError.unsupportedChatTemplate("only ChatML templates (<|im_start|> … <|im_end|>) are supported")
        }
        // Template string literals may spell newlines as `\n`; compare on real newlines.
        let text = template.replacingOccurrences(of: "\\n", with: "\n")
        let opening = "<|im_start|>system\n"
        var found: String?
        var searchStart = text.startIndex
        while found == nil, let start = text.range(of: opening, range: searchStart..<text.endIndex) {
            searchStart = start.upperBound
            guard let end = text.range(of: "<|im_end|>", range: start.upperBound..<text.endIndex) else { break }
            let candidate = text[start.upperBound..<end.lowerBound]
            // A literal system message, not a template expression (`' + messages[0]['content'] + '`).
            if !candidate.isEmpty && !candidate.contains("'") && !candidate.contains("\"") && !candidate.contains("{") {
                found = String(candidate)
            }
        }
        defaultSystemMessage = found
    }

    /// A ChatML template with an optional default system message.
    public init(defaultSystemMessage: String?) {
        self.defaultSystemMessage = defaultSystemMessage
    }

    /// The prompt for one user turn, ending where the assistant's answer begins.
    public func prompt(user message: String, system: String? = nil) -> String {
        var prompt = ""
        if let systemMessage = system ?? defaultSystemMessage {
            prompt += "<|im_start|>system\n\(systemMessage)<|im_end|>\n"
        }
        prompt += "<|im_start|>user\n\(message)<|im_end|>\n<|im_start|>assistant\n"
        return prompt
    }

    /// What follows an assistant's answer to ask a further question in the same conversation:
    /// the answer's end, the user's turn, and the start of the next answer.
    public func followUp(user message: String) -> String {
        "<|im_end|>\n<|im_start|>user\n\(message)<|im_end|>\n<|im_start|>assistant\n"
    }
}
